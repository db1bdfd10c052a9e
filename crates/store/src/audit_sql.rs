//! The audit trail's SQL, for both backends (each writes the same tables and indexes in its own
//! migration: SQLite's migration 7, PostgreSQL's 6): the one
//! statement each [`AuditQuery`] compiles to, the insert and the purge, and the encoding of an
//! event's resources in its `resources` column.
//!
//! **Indexes.** Every index of `audit_events` leads with the event's scope key (account, dialect
//! and region, as `audit::scope_key` writes it), then the attribute it serves, then
//! `(event_time, event_id)`: a LookupEvents page is one range of one index, walked in the
//! page's order, however many events the table holds. `ResourceName` lookups drive from
//! `audit_resources` (one row per name or ID an event touched) and join each row to its event
//! by primary key. The command line's views walk `(account_id, event_time)` or `(event_time)`;
//! retention deletes the oldest rows in bounded batches over the time indexes.

use keypaird_inventory::{
    AuditAttribute, AuditEvent, AuditQuery, AuditResource, AuditScope, ResourceKind,
};

use crate::sql::{Flavor, Param, Statement};

/// The columns [`AuditQuery`] statements select, in order, for the table aliased `e`.
pub(crate) const AUDIT_COLUMNS: &str = "e.event_id, e.event_time, e.source, e.account_id, \
     e.account_name, e.region, e.access_key_id, e.source_ip, e.user_agent, e.event_name, \
     e.read_only, e.request_id, e.request_parameters, e.resources, e.error_code, e.error_message";

fn placeholder(flavor: Flavor, n: usize, param: &Param) -> String {
    match flavor {
        Flavor::Sqlite => format!("?{n}"),
        Flavor::Postgres => match param {
            Param::Int(_) => format!("${n}::int8"),
            Param::Texts(_) => format!("${n}::text[]"),
            Param::Text(_) => format!("${n}::text"),
        },
    }
}

/// The event's row of `audit_events`, as the values of [`INSERT_EVENT_COLUMNS`], in order.
pub(crate) const INSERT_EVENT_COLUMNS: &str = "scope, event_time, event_id, account_id, \
     account_name, source, region, event_name, read_only, access_key_id, resource_kind, \
     source_ip, user_agent, request_id, request_parameters, resources, error_code, error_message";

/// The statement inserting one event row (18 values, see [`event_row`]).
pub(crate) fn insert_event_sql(flavor: Flavor) -> String {
    let placeholders: Vec<String> = (1..=18)
        .map(|n| match flavor {
            Flavor::Sqlite => format!("?{n}"),
            Flavor::Postgres => format!("${n}"),
        })
        .collect();
    format!(
        "INSERT INTO audit_events ({INSERT_EVENT_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    )
}

/// The statement inserting one lookup row of `audit_resources` (scope, name, time, ID).
pub(crate) fn insert_resource_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Sqlite => {
            "INSERT OR IGNORE INTO audit_resources (scope, resource_name, event_time, event_id) \
             VALUES (?1, ?2, ?3, ?4)"
        }
        Flavor::Postgres => {
            "INSERT INTO audit_resources (scope, resource_name, event_time, event_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        }
    }
}

/// The values of an event's row that are not plain text of the event.
pub(crate) struct EventRow {
    pub(crate) scope: String,
    pub(crate) time_ms: i64,
    pub(crate) read_only: i16,
    pub(crate) resource_kind: &'static str,
    pub(crate) resources: String,
}

pub(crate) fn event_row(event: &AuditEvent) -> Result<EventRow, keypaird_inventory::StoreError> {
    Ok(EventRow {
        scope: event.scope_key(),
        time_ms: crate::millis::to_millis(event.time)?,
        read_only: i16::from(event.read_only),
        resource_kind: event.resource_kind().map_or("", ResourceKind::as_str),
        resources: encode_resources(&event.resources),
    })
}

/// The statement deleting at most `limit` of the oldest rows of `table` older than the bound
/// parameter: a range of the table's time index, then each row by its primary key.
pub(crate) fn purge_sql(flavor: Flavor, table: &str, limit: u32) -> String {
    let key = match table {
        "audit_resources" => "scope, resource_name, event_time, event_id",
        _ => "scope, event_time, event_id",
    };
    let bound = match flavor {
        Flavor::Sqlite => "?1",
        Flavor::Postgres => "$1::int8",
    };
    format!(
        "DELETE FROM {table} WHERE ({key}) IN \
         (SELECT {key} FROM {table} WHERE event_time < {bound} \
          ORDER BY event_time, event_id LIMIT {limit})"
    )
}

/// `audit_events e`, on SQLite with the index that must drive the walk: without statistics
/// SQLite prefers the clustered primary key (scope, time) to any secondary index, and would
/// read the whole scope's time range and filter it rather than the attribute's range.
fn events_table(flavor: Flavor, index: &str) -> String {
    match flavor {
        Flavor::Sqlite => format!("audit_events e INDEXED BY {index}"),
        Flavor::Postgres => "audit_events e".to_owned(),
    }
}

/// The one statement that answers `query`, or `None` when nothing can match.
///
/// A cursor narrows the walk's time range itself (to end at the cursor's time) rather than
/// being a filter on it, so that a page deep in a long trail is still one short range of the
/// index, not a walk from `until` down to the cursor.
pub(crate) fn select_events(flavor: Flavor, query: &AuditQuery) -> Option<Statement> {
    let mut params: Vec<Param> = Vec::new();
    let mut bind = |param: Param| -> String {
        params.push(param);
        let n = params.len();
        placeholder(flavor, n, &params[n - 1])
    };
    let mut conditions: Vec<String> = Vec::new();
    // The table the walk drives from, and its alias for the time and ID columns.
    let mut from = "audit_events e".to_owned();
    let mut walk = "e";
    match &query.scope {
        AuditScope::Api {
            account_id,
            source,
            region,
        } => {
            let scope = bind(Param::Text(keypaird_inventory::audit::scope_key(
                account_id, *source, region,
            )));
            match &query.attribute {
                None => conditions.push(format!("e.scope = {scope}")),
                Some(AuditAttribute::EventId(id)) => {
                    let id = bind(Param::Text(id.clone()));
                    from = events_table(flavor, "audit_events_by_id");
                    conditions.push(format!("e.event_id = {id}"));
                    conditions.push(format!("e.scope = {scope}"));
                }
                Some(AuditAttribute::EventName(name)) => {
                    let name = bind(Param::Text(name.clone()));
                    from = events_table(flavor, "audit_events_by_name");
                    conditions.push(format!("e.scope = {scope} AND e.event_name = {name}"));
                }
                Some(AuditAttribute::AccessKeyId(key)) => {
                    let key = bind(Param::Text(key.clone()));
                    from = events_table(flavor, "audit_events_by_access_key");
                    conditions.push(format!("e.scope = {scope} AND e.access_key_id = {key}"));
                }
                Some(AuditAttribute::ReadOnly(read_only)) => {
                    from = events_table(flavor, "audit_events_by_read_only");
                    conditions.push(format!(
                        "e.scope = {scope} AND e.read_only = {}",
                        i16::from(*read_only)
                    ));
                }
                Some(AuditAttribute::ResourceKind(kind)) => {
                    let kind = bind(Param::Text(kind.as_str().to_owned()));
                    from = events_table(flavor, "audit_events_by_resource_kind");
                    conditions.push(format!("e.scope = {scope} AND e.resource_kind = {kind}"));
                }
                Some(AuditAttribute::ResourceName(name)) => {
                    let name = bind(Param::Text(name.clone()));
                    // SQLite's CROSS JOIN keeps the lookup rows the outer loop.
                    let join = match flavor {
                        Flavor::Sqlite => "CROSS JOIN",
                        Flavor::Postgres => "JOIN",
                    };
                    from = format!(
                        "audit_resources r {join} audit_events e \
                         ON e.scope = r.scope AND e.event_time = r.event_time \
                         AND e.event_id = r.event_id"
                    );
                    walk = "r";
                    conditions.push(format!("r.scope = {scope} AND r.resource_name = {name}"));
                }
            }
        }
        AuditScope::Account(account_id) => {
            let account = bind(Param::Text(account_id.clone()));
            from = events_table(flavor, "audit_events_by_account");
            conditions.push(format!("e.account_id = {account}"));
        }
        AuditScope::All => from = events_table(flavor, "audit_events_by_time"),
    }
    let mut since = crate::millis::to_millis(query.since).ok()?;
    let mut until = crate::millis::to_millis(query.until).ok()?;
    let cursor = match &query.after {
        Some(cursor) => {
            let time = crate::millis::to_millis(cursor.time).ok()?;
            // The walk resumes at the cursor's millisecond: nothing past it is read again.
            if query.oldest_first {
                since = since.max(time);
            } else {
                until = until.min(time);
            }
            Some((time, cursor.event_id.clone()))
        }
        None => None,
    };
    let since = bind(Param::Int(since));
    let until = bind(Param::Int(until));
    conditions.push(format!(
        "{walk}.event_time >= {since} AND {walk}.event_time <= {until}"
    ));
    let (order, past) = if query.oldest_first {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    if let Some((time, id)) = cursor {
        // Within the range above, which ends at the cursor's time, this is
        // (event_time, event_id) past (time, id).
        let time = bind(Param::Int(time));
        let id = bind(Param::Text(id));
        conditions.push(format!(
            "({walk}.event_time {past} {time} OR {walk}.event_id {past} {id})"
        ));
    }
    if let Some(action) = &query.action {
        let action = bind(Param::Text(action.clone()));
        conditions.push(format!("e.event_name = {action}"));
    }
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM {from} WHERE {} \
         ORDER BY {walk}.event_time {order}, {walk}.event_id {order} LIMIT {}",
        conditions.join(" AND "),
        query.limit
    );
    Some(Statement { sql, params })
}

/// An event's resources as its `resources` column holds them: a JSON array of objects.
pub(crate) fn encode_resources(resources: &[AuditResource]) -> String {
    let list: Vec<serde_json::Value> = resources
        .iter()
        .map(|r| {
            serde_json::json!({
                "kind": r.kind.as_str(),
                "id": r.id,
                "name": r.name,
                "fingerprint": r.fingerprint,
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// The inverse of [`encode_resources`]; `None` for text it did not write.
pub(crate) fn decode_resources(text: &str) -> Option<Vec<AuditResource>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = |item: &serde_json::Value, name: &str| -> Option<String> {
        Some(item.get(name)?.as_str()?.to_owned())
    };
    value
        .as_array()?
        .iter()
        .map(|item| {
            Some(AuditResource {
                kind: ResourceKind::parse(item.get("kind")?.as_str()?)?,
                id: field(item, "id")?,
                name: field(item, "name")?,
                fingerprint: field(item, "fingerprint")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_through_their_column() {
        let resources = vec![
            AuditResource::key_pair("key-1", "a\"b\\c\u{7}", "ab:cd"),
            AuditResource::named(ResourceKind::AccessKey, "AKIA1", ""),
        ];
        let text = encode_resources(&resources);
        assert_eq!(decode_resources(&text), Some(resources));
        assert_eq!(decode_resources("not json"), None);
        assert_eq!(decode_resources(r#"[{"kind":"?"}]"#), None);
    }
}
