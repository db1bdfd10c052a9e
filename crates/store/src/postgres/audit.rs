//! Audit trail statements. `record` runs inside the transaction of the change it records, so
//! the event is committed exactly when the change is.

use std::sync::LazyLock;

use deadpool_postgres::GenericClient;
use keypaird_inventory::{AuditEvent, AuditQuery, AuditSource};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::failure::{corrupt, Outcome};
use super::key_pairs::sql_params;
use super::rows::{column, from_millis, to_millis};
use crate::audit_sql::{self, decode_resources, event_row};
use crate::sql::Flavor;

/// Built once: every change runs it.
static INSERT_EVENT: LazyLock<String> =
    LazyLock::new(audit_sql::postgres_insert_event_and_resources);

/// Inserts `event` and the lookup rows of the names and IDs it touched, in one statement.
pub(super) async fn record(client: &impl GenericClient, event: &AuditEvent) -> Outcome<()> {
    let row = event_row(event)?;
    let names = event.resource_lookup_names();
    let insert = client.prepare_cached(&INSERT_EVENT).await?;
    client
        .execute(
            &insert,
            &[
                &row.scope,
                &row.time_ms,
                &event.event_id,
                &event.account_id,
                &event.account_name,
                &event.source.as_str(),
                &event.region,
                &event.action,
                &row.read_only,
                &event.access_key_id,
                &row.resource_kind,
                &event.source_ip,
                &event.user_agent,
                &event.request_id,
                &event.request_parameters,
                &row.resources,
                &event.error_code,
                &event.error_message,
                &names,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn find(
    client: &impl GenericClient,
    query: &AuditQuery,
) -> Outcome<Vec<AuditEvent>> {
    let Some(statement) = audit_sql::select_events(Flavor::Postgres, query) else {
        return Ok(Vec::new());
    };
    let prepared = client.prepare_cached(&statement.sql).await?;
    let rows = client
        .query(&prepared, &sql_params(&statement.params))
        .await?;
    rows.iter().map(event_from_row).collect()
}

/// Deletes at most `limit` events older than `before`, with their lookup rows.
pub(super) async fn purge(
    client: &impl GenericClient,
    before: OffsetDateTime,
    limit: u32,
) -> Outcome<u64> {
    let before = to_millis(before)?;
    let limit = i64::from(limit);
    let mut events = 0;
    for sql in audit_sql::purge_statements(Flavor::Postgres) {
        events = client
            .execute(&client.prepare_cached(sql).await?, &[&before, &limit])
            .await?;
    }
    Ok(events)
}

/// Reads a row of [`audit_sql::AUDIT_COLUMNS`].
fn event_from_row(row: &Row) -> Outcome<AuditEvent> {
    let source: &str = column(row, 2, "audit_events.source")?;
    let read_only: i16 = column(row, 10, "audit_events.read_only")?;
    let resources: &str = column(row, 13, "audit_events.resources")?;
    Ok(AuditEvent {
        event_id: column(row, 0, "audit_events.event_id")?,
        time: from_millis(column(row, 1, "audit_events.event_time")?)?,
        source: AuditSource::parse(source).ok_or_else(|| corrupt("audit_events.source"))?,
        account_id: column(row, 3, "audit_events.account_id")?,
        account_name: column(row, 4, "audit_events.account_name")?,
        region: column(row, 5, "audit_events.region")?,
        access_key_id: column(row, 6, "audit_events.access_key_id")?,
        source_ip: column(row, 7, "audit_events.source_ip")?,
        user_agent: column(row, 8, "audit_events.user_agent")?,
        action: column(row, 9, "audit_events.event_name")?,
        read_only: read_only != 0,
        request_id: column(row, 11, "audit_events.request_id")?,
        request_parameters: column(row, 12, "audit_events.request_parameters")?,
        resources: decode_resources(resources).ok_or_else(|| corrupt("audit_events.resources"))?,
        error_code: column(row, 14, "audit_events.error_code")?,
        error_message: column(row, 15, "audit_events.error_message")?,
    })
}
