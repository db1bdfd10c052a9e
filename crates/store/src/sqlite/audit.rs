//! Audit trail statements. `record` runs inside the transaction (savepoint) of the change it
//! records, so the event is committed exactly when the change is.

use std::sync::LazyLock;

use keypaird_inventory::{AuditEvent, AuditQuery, AuditSource};
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

use super::failure::{corrupt, Outcome};
use super::key_pairs::bind;
use super::rows::{from_millis, to_millis};
use crate::audit_sql::{self, decode_resources, event_row};
use crate::sql::Flavor;

/// Built once: every change runs it.
static INSERT_EVENT: LazyLock<String> =
    LazyLock::new(|| audit_sql::insert_event_sql(Flavor::Sqlite));

/// Inserts `event` and the lookup rows of the names and IDs it touched.
pub(super) fn record(conn: &Connection, event: &AuditEvent) -> Outcome<()> {
    let row = event_row(event)?;
    conn.prepare_cached(&INSERT_EVENT)?.execute(params![
        row.scope,
        row.time_ms,
        event.event_id,
        event.account_id,
        event.account_name,
        event.source.as_str(),
        event.region,
        event.action,
        row.read_only,
        event.access_key_id,
        row.resource_kind,
        event.source_ip,
        event.user_agent,
        event.request_id,
        event.request_parameters,
        row.resources,
        event.error_code,
        event.error_message,
    ])?;
    let mut lookup = conn.prepare_cached(audit_sql::SQLITE_INSERT_RESOURCE)?;
    for name in event.resource_lookup_names() {
        lookup.execute(params![row.scope, name, row.time_ms, event.event_id])?;
    }
    Ok(())
}

pub(super) fn find(conn: &Connection, query: &AuditQuery) -> Outcome<Vec<AuditEvent>> {
    let Some(statement) = audit_sql::select_events(Flavor::Sqlite, query) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(&statement.sql)?;
    bind(&mut stmt, &statement.params)?;
    let mut rows = stmt.raw_query();
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

/// Deletes at most `limit` events older than `before`, with their lookup rows.
pub(super) fn purge(conn: &Connection, before: OffsetDateTime, limit: u32) -> Outcome<u64> {
    let before = to_millis(before)?;
    let mut events = 0;
    for sql in audit_sql::purge_statements(Flavor::Sqlite) {
        events = conn
            .prepare_cached(sql)?
            .execute(params![before, i64::from(limit)])?;
    }
    Ok(events as u64)
}

/// Reads a row of [`audit_sql::AUDIT_COLUMNS`].
fn event_from_row(row: &Row<'_>) -> Outcome<AuditEvent> {
    let source: String = row.get(2)?;
    let read_only: i64 = row.get(10)?;
    let resources: String = row.get(13)?;
    Ok(AuditEvent {
        event_id: row.get(0)?,
        time: from_millis(row.get(1)?)?,
        source: AuditSource::parse(&source).ok_or_else(|| corrupt("audit_events.source"))?,
        account_id: row.get(3)?,
        account_name: row.get(4)?,
        region: row.get(5)?,
        access_key_id: row.get(6)?,
        source_ip: row.get(7)?,
        user_agent: row.get(8)?,
        action: row.get(9)?,
        read_only: read_only != 0,
        request_id: row.get(11)?,
        request_parameters: row.get(12)?,
        resources: decode_resources(&resources).ok_or_else(|| corrupt("audit_events.resources"))?,
        error_code: row.get(14)?,
        error_message: row.get(15)?,
    })
}
