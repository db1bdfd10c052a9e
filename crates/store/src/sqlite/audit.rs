//! Audit trail statements. `record` runs inside the transaction (savepoint) of the change it
//! records, so the event is committed exactly when the change is.
//!
//! **Recent events.** A change appends its event to `audit_recent`, a rowid table with one
//! small unique index: a row at the end of two B-trees. Entering `audit_events`'s indexes and the lookup
//! rows of `audit_resources` there and then cost each write a page of every index and two pages
//! at random places of `audit_resources` (name and ID order), in every group commit, measured
//! at over half again a write's CPU. The writer thread instead moves the recent events into
//! `audit_events` in batches ([`move_recent`]), in a transaction of their own, where a batch
//! of hundreds of events shares each index page. Queries read both tables in one read transaction
//! ([`find`]), so an event is found from the moment its change commits.

use std::sync::LazyLock;
use std::time::Duration;

use keypaird_inventory::{AuditEvent, AuditQuery, AuditSource};
use rusqlite::{params, Connection, OptionalExtension, Row};
use time::OffsetDateTime;

use super::failure::{corrupt, Outcome};
use super::key_pairs::bind;
use super::rows::{from_millis, to_millis};
use crate::audit_sql::{self, decode_resources, event_row, INSERT_EVENT_COLUMNS};
use crate::sql::Flavor;

/// Built once: every change runs it.
static INSERT_EVENT: LazyLock<String> =
    LazyLock::new(|| audit_sql::insert_event_sql(Flavor::Sqlite, "audit_recent"));

/// Recent events the writer lets gather before it moves them: the most a query reads of
/// `audit_recent` beyond one group commit's. A larger batch shares index pages among more
/// events; every query reads this many rows more.
pub(super) const MOVE_AT: i64 = 256;

/// How long an event waits in `audit_recent` at most when writes stop coming.
pub(super) const MOVE_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The three statements of a move, in one transaction: the lookup rows of every name and ID
/// the recent events touched (in key order, so that neighbours share a page), the events, and
/// the emptied table. SQLite has one writer, so nothing enters `audit_recent` between them.
static MOVE_RECENT: LazyLock<[String; 3]> = LazyLock::new(|| {
    [
        "INSERT OR IGNORE INTO audit_resources (scope, resource_name, event_time, event_id) \
         SELECT n.scope, lookup_name.value, n.event_time, n.event_id \
         FROM audit_recent n, json_each(n.resources) AS resource, \
              json_each(json_array(resource.value ->> '$.name', \
                                   resource.value ->> '$.id')) AS lookup_name \
         WHERE lookup_name.value <> '' ORDER BY 1, 2, 3, 4"
            .to_owned(),
        format!(
            "INSERT OR IGNORE INTO audit_events ({INSERT_EVENT_COLUMNS}) \
             SELECT {INSERT_EVENT_COLUMNS} FROM audit_recent ORDER BY rowid"
        ),
        // No WHERE: SQLite frees the table's pages whole instead of deleting row by row.
        "DELETE FROM audit_recent".to_owned(),
    ]
});

/// Appends `event` to the recent events (see the module's comment). An event ID is recorded
/// once: `audit_recent`'s unique index refuses one waiting there, and this looks for one
/// already moved (a point of the scope's index, read, not written).
pub(super) fn record(conn: &Connection, event: &AuditEvent) -> Outcome<()> {
    let row = event_row(event)?;
    let moved_already = conn
        .prepare_cached(
            "SELECT 1 FROM audit_events WHERE scope = ?1 AND event_time = ?2 AND event_id = ?3",
        )?
        .query_row(params![row.scope, row.time_ms, event.event_id], |_| Ok(()))
        .optional()?
        .is_some();
    if moved_already {
        return Err(keypaird_inventory::StoreError::Internal(format!(
            "audit event {} is already recorded",
            event.event_id
        ))
        .into());
    }
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
    Ok(())
}

/// How many events wait in `audit_recent`, near enough: its largest rowid, which is one B-tree
/// descent, not a count (the table restarts at rowid 1 once emptied).
pub(super) fn recent_events(conn: &Connection) -> rusqlite::Result<i64> {
    let newest: Option<i64> = conn
        .prepare_cached("SELECT max(rowid) FROM audit_recent")?
        .query_row([], |row| row.get(0))
        .optional()?
        .flatten();
    Ok(newest.unwrap_or(0))
}

/// The writer's work between group commits: moving the recent events once `move_at` of them
/// wait ([`MOVE_AT`] but in tests), or any after [`MOVE_AFTER_IDLE`] without writes. A move
/// that fails (a full disk, a lock held by another process) is logged and tried again at the
/// next pause; the events stay found meanwhile.
pub(super) fn between_batches(move_at: i64) -> super::writer::BetweenBatches {
    super::writer::BetweenBatches {
        idle_after: MOVE_AFTER_IDLE,
        run: Box::new(move |conn, pause| {
            let due = match pause {
                super::writer::Pause::AfterBatch => move_at,
                super::writer::Pause::Idle => 1,
            };
            let moved = recent_events(conn).and_then(|waiting| {
                if waiting >= due {
                    move_recent(conn)
                } else {
                    Ok(())
                }
            });
            if let Err(err) = moved {
                tracing::warn!(error = %err, "the audit trail's recent events were not moved yet");
            }
        }),
    }
}

/// Moves every recent event into `audit_events` and `audit_resources`, in one transaction of
/// its own.
pub(super) fn move_recent(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let moved = move_recent_within(conn)
        .and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(drop));
    if moved.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    moved
}

/// The page `query` asks for: the indexed walk of `audit_events` and the same page of the
/// recent events, merged in the page's order. Reads run in one read transaction
/// (`in_read_transaction`): one snapshot, in which a moved event is in exactly one of the two
/// tables.
pub(super) fn find(conn: &Connection, query: &AuditQuery) -> Outcome<Vec<AuditEvent>> {
    let (Some(indexed), Some(recent)) = (
        audit_sql::select_events(Flavor::Sqlite, query),
        audit_sql::select_recent_events(query),
    ) else {
        return Ok(Vec::new());
    };
    let mut events = read_events(conn, &indexed)?;
    events.extend(read_events(conn, &recent)?);
    events.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
    if !query.oldest_first {
        events.reverse();
    }
    events.truncate(query.limit as usize);
    Ok(events)
}

fn read_events(conn: &Connection, statement: &crate::sql::Statement) -> Outcome<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&statement.sql)?;
    bind(&mut stmt, &statement.params)?;
    let mut rows = stmt.raw_query();
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

/// [`move_recent`]'s statements, inside a transaction the caller holds.
fn move_recent_within(conn: &Connection) -> rusqlite::Result<()> {
    MOVE_RECENT
        .iter()
        .try_for_each(|sql| conn.prepare_cached(sql)?.execute([]).map(drop))
}

/// Deletes at most `limit` events older than `before`, with their lookup rows.
pub(super) fn purge(conn: &Connection, before: OffsetDateTime, limit: u32) -> Outcome<u64> {
    let before = to_millis(before)?;
    // The oldest events may not have been moved yet (a retention shorter than the writer's
    // pause): move them first, in the purge's transaction.
    move_recent_within(conn)?;
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
