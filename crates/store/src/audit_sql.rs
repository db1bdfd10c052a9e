//! The audit trail's SQL, for both backends (each writes the same tables and indexes in its own
//! migration: SQLite's migration 7, PostgreSQL's 6): the one
//! statement each [`AuditQuery`] compiles to (on SQLite, with its twin over the recent events
//! of `audit_recent`), the insert and the purge, and the encoding of an event's resources in
//! its `resources` column.
//!
//! **Indexes.** Every index of `audit_events` leads with the event's scope key (account, dialect
//! and region, as `audit::scope_key` writes it), then the attribute it serves, then
//! `(event_time, event_id)`: a LookupEvents page is one range of one index, walked in the
//! page's order, however many events the table holds. Only what a scope's walk cannot answer
//! cheaply has an index (event name, access key, read events), since each index an event
//! touches costs every write a page (SQLite's migration 8 says which went and why): an
//! `EventId` is one millisecond of the scope's index, and `ReadOnly=false` and `ResourceType`
//! are the scope's walk, filtered. `ResourceName` lookups drive from `audit_resources` (one
//! row per name or ID an event touched) and join each row to its event by the scope's key.
//! The command line's views walk `(account_id, event_time)` or `(event_time)`; retention
//! deletes the oldest events in bounded batches over the time index, and their lookup rows by
//! key.

use keypaird_inventory::{
    AuditAttribute, AuditEvent, AuditQuery, AuditResource, AuditScope, ResourceKind,
};

use crate::sql::{Flavor, Param, Statement};

/// The columns [`AuditQuery`] statements select, in order (each as `alias.column`).
const AUDIT_COLUMNS: [&str; 16] = [
    "event_id",
    "event_time",
    "source",
    "account_id",
    "account_name",
    "region",
    "access_key_id",
    "source_ip",
    "user_agent",
    "event_name",
    "read_only",
    "request_id",
    "request_parameters",
    "resources",
    "error_code",
    "error_message",
];

/// [`AUDIT_COLUMNS`] of the table aliased `alias`, as a select list.
pub(crate) fn audit_columns(alias: &str) -> String {
    AUDIT_COLUMNS
        .iter()
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// The statement inserting one event row into `table` (18 values, see [`event_row`]).
pub(crate) fn insert_event_sql(flavor: Flavor, table: &str) -> String {
    let placeholders: Vec<String> = (1..=18)
        .map(|n| match flavor {
            Flavor::Sqlite => format!("?{n}"),
            Flavor::Postgres => format!("${n}"),
        })
        .collect();
    format!(
        "INSERT INTO {table} ({INSERT_EVENT_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    )
}

/// PostgreSQL's one statement for an event and all its lookup rows (the names as `$19`, a
/// text array): one round trip inside the change's transaction, whatever the event touched.
pub(crate) fn postgres_insert_event_and_resources() -> String {
    format!(
        "WITH event AS ({}) \
         INSERT INTO audit_resources (scope, resource_name, event_time, event_id) \
         SELECT $1, name, $2, $3 FROM unnest($19::text[]) AS name ON CONFLICT DO NOTHING",
        insert_event_sql(Flavor::Postgres, "audit_events")
    )
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

/// The statements deleting at most `limit` (`?2`/`$2`) of the oldest events older than the
/// bound (`?1`/`$1`), with every lookup row of each: run in order in one transaction, the last
/// one's count is the number of events deleted. The batch is a range of the time index; each
/// event's lookup rows are found by their primary key, from the names and IDs its `resources`
/// column holds (the values [`AuditEvent::resource_lookup_names`] wrote), so they need no time
/// index of their own, and an event naming many resources leaves none behind.
pub(crate) fn purge_statements(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        // SQLite has one writer: the batch cannot change between the two statements.
        Flavor::Sqlite => &[
            "DELETE FROM audit_resources \
             WHERE (scope, resource_name, event_time, event_id) IN \
             (SELECT batch.scope, lookup_name.value, batch.event_time, batch.event_id \
              FROM (SELECT scope, event_time, event_id, resources \
                    FROM audit_events INDEXED BY audit_events_by_time WHERE event_time < ?1 \
                    ORDER BY event_time, event_id LIMIT ?2) AS batch, \
                   json_each(batch.resources) AS resource, \
                   json_each(json_array(resource.value ->> '$.name', \
                                        resource.value ->> '$.id')) AS lookup_name \
              WHERE lookup_name.value <> '')",
            "DELETE FROM audit_events WHERE rowid IN \
             (SELECT rowid FROM audit_events INDEXED BY audit_events_by_time \
              WHERE event_time < ?1 ORDER BY event_time, event_id LIMIT ?2)",
        ],
        // One statement, so that the events and lookup rows deleted are of the same batch
        // whatever other nodes do meanwhile. Each lookup row is looked up by its key, one
        // name at a time (LATERAL; its LIMIT, one row of a key anyway, keeps the planner from
        // flattening it into a join): without statistics the planner guesses a hundred rows
        // per JSON array and would rather hash the whole table than probe its key.
        Flavor::Postgres => &["WITH batch AS MATERIALIZED \
             (SELECT scope, event_time, event_id, resources FROM audit_events \
              WHERE event_time < $1::int8 ORDER BY event_time, event_id LIMIT $2::int8), \
             names AS MATERIALIZED \
             (SELECT b.scope, n.name, b.event_time, b.event_id \
              FROM batch b, jsonb_array_elements(b.resources::jsonb) AS r(item), \
                   LATERAL (VALUES (r.item ->> 'name'), (r.item ->> 'id')) AS n(name) \
              WHERE n.name <> ''), \
             lookups AS (DELETE FROM audit_resources WHERE ctid = ANY (ARRAY( \
              SELECT hit.ctid FROM names n CROSS JOIN LATERAL \
               (SELECT r.ctid FROM audit_resources r \
                WHERE r.scope = n.scope AND r.resource_name = n.name \
                  AND r.event_time = n.event_time AND r.event_id = n.event_id \
                LIMIT 1) AS hit))) \
             DELETE FROM audit_events e \
             WHERE (e.scope, e.event_time, e.event_id) IN \
              (SELECT scope, event_time, event_id FROM batch)"],
    }
}

/// `audit_events e`, on SQLite with the index that must drive the walk: without statistics
/// SQLite may prefer the scope's index (scope, time) to the attribute's, and would read the
/// whole scope's time range and filter it rather than the attribute's range.
fn events_table(flavor: Flavor, index: &str) -> String {
    match flavor {
        Flavor::Sqlite => format!("audit_events e INDEXED BY {index}"),
        Flavor::Postgres => "audit_events e".to_owned(),
    }
}

/// What a query's walk reads, its values already bound (as placeholders).
enum Walk {
    /// One `Api` scope, narrowed by at most one attribute.
    Scope {
        scope: String,
        by: Narrowing,
    },
    Account(String),
    All,
}

enum Narrowing {
    Nothing,
    EventAt { millis: String, id: String },
    Column { column: &'static str, value: String },
    Reads,
    Writes,
    ResourceName(String),
}

impl Walk {
    /// The indexed arm: the table (or join) it drives from, the alias its time and ID are
    /// read through, and its conditions.
    fn indexed(&self, flavor: Flavor) -> (String, &'static str, String) {
        let (index, condition) = match self {
            Walk::Scope { scope, by } => {
                let (index, narrowing) = match by {
                    Narrowing::Nothing => ("audit_events_by_scope", String::new()),
                    // The ID's own millisecond is the event's time: one point of the scope's
                    // index.
                    Narrowing::EventAt { millis, id } => (
                        "audit_events_by_scope",
                        format!(" AND e.event_time = {millis} AND e.event_id = {id}"),
                    ),
                    Narrowing::Column { column, value } => (
                        match *column {
                            "event_name" => "audit_events_by_name",
                            "access_key_id" => "audit_events_by_access_key",
                            // A scope holds its dialect's one resource kind (and refused
                            // authentications, of none): the scope's walk, filtered.
                            _ => "audit_events_by_scope",
                        },
                        format!(" AND e.{column} = {value}"),
                    ),
                    // Read events have a partial index (the literal 1 lets it serve the
                    // query); writes, most of a trail unless `--audit-reads` is on, are the
                    // scope's walk.
                    Narrowing::Reads => ("audit_events_reads", " AND e.read_only = 1".into()),
                    Narrowing::Writes => ("audit_events_by_scope", " AND e.read_only = 0".into()),
                    Narrowing::ResourceName(name) => {
                        // SQLite's CROSS JOIN keeps the lookup rows the outer loop.
                        let join = match flavor {
                            Flavor::Sqlite => "CROSS JOIN",
                            Flavor::Postgres => "JOIN",
                        };
                        return (
                            format!(
                                "audit_resources r {join} audit_events e ON e.scope = r.scope \
                                 AND e.event_time = r.event_time AND e.event_id = r.event_id"
                            ),
                            "r",
                            format!("r.scope = {scope} AND r.resource_name = {name}"),
                        );
                    }
                };
                (index, format!("e.scope = {scope}{narrowing}"))
            }
            Walk::Account(account) => (
                "audit_events_by_account",
                format!("e.account_id = {account}"),
            ),
            Walk::All => ("audit_events_by_time", "true".to_owned()),
        };
        (events_table(flavor, index), "e", condition)
    }

    /// The conditions of the walk over `audit_recent` (aliased `n`), read whole: a few hundred
    /// rows at most, whatever the trail holds.
    fn recent(&self) -> String {
        match self {
            Walk::Scope { scope, by } => {
                let narrowing = match by {
                    Narrowing::Nothing => String::new(),
                    Narrowing::EventAt { millis, id } => {
                        format!(" AND n.event_time = {millis} AND n.event_id = {id}")
                    }
                    Narrowing::Column { column, value } => format!(" AND n.{column} = {value}"),
                    Narrowing::Reads => " AND n.read_only = 1".into(),
                    Narrowing::Writes => " AND n.read_only = 0".into(),
                    Narrowing::ResourceName(name) => format!(
                        // As the lookup rows, which hold no empty name or ID.
                        " AND {name} <> '' AND EXISTS (SELECT 1 FROM json_each(n.resources) \
                         AS item WHERE item.value ->> '$.name' = {name} \
                         OR item.value ->> '$.id' = {name})"
                    ),
                };
                format!("n.scope = {scope}{narrowing}")
            }
            Walk::Account(account) => format!("n.account_id = {account}"),
            Walk::All => "true".to_owned(),
        }
    }
}

/// The one statement that answers `query` from `audit_events`, or `None` when nothing can
/// match.
///
/// A cursor narrows the walk's time range itself (to end at the cursor's time) rather than
/// being a filter on it, so that a page deep in a long trail is still one short range of the
/// index, not a walk from `until` down to the cursor.
pub(crate) fn select_events(flavor: Flavor, query: &AuditQuery) -> Option<Statement> {
    compile(flavor, query, Table::Events)
}

/// SQLite's statement of the same page from `audit_recent`, the few hundred events the writer
/// has not yet moved into `audit_events` (see `sqlite/audit.rs`), with the same parameters:
/// the store runs both in one read transaction and merges the two pages.
pub(crate) fn select_recent_events(query: &AuditQuery) -> Option<Statement> {
    compile(Flavor::Sqlite, query, Table::Recent)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Events,
    Recent,
}

fn compile(flavor: Flavor, query: &AuditQuery, table: Table) -> Option<Statement> {
    let mut params: Vec<Param> = Vec::new();
    let mut bind = |param: Param| -> String {
        params.push(param);
        let n = params.len();
        placeholder(flavor, n, &params[n - 1])
    };
    let walk = match &query.scope {
        AuditScope::Api {
            account_id,
            source,
            region,
        } => {
            let scope = bind(Param::Text(keypaird_inventory::audit::scope_key(
                account_id, *source, region,
            )));
            let mut column = |column: &'static str, value: &str| Narrowing::Column {
                column,
                value: bind(Param::Text(value.to_owned())),
            };
            let by = match &query.attribute {
                None => Narrowing::Nothing,
                Some(AuditAttribute::EventId(id)) => {
                    // Text that is not a version 7 UUID names no event.
                    let millis = keypaird_inventory::audit::event_id_millis(id)?;
                    Narrowing::EventAt {
                        millis: bind(Param::Int(millis)),
                        id: bind(Param::Text(id.clone())),
                    }
                }
                Some(AuditAttribute::EventName(name)) => column("event_name", name),
                Some(AuditAttribute::AccessKeyId(key)) => column("access_key_id", key),
                Some(AuditAttribute::ResourceKind(kind)) => column("resource_kind", kind.as_str()),
                Some(AuditAttribute::ReadOnly(true)) => Narrowing::Reads,
                Some(AuditAttribute::ReadOnly(false)) => Narrowing::Writes,
                Some(AuditAttribute::ResourceName(name)) => {
                    Narrowing::ResourceName(bind(Param::Text(name.clone())))
                }
            };
            Walk::Scope { scope, by }
        }
        AuditScope::Account(account_id) => Walk::Account(bind(Param::Text(account_id.clone()))),
        AuditScope::All => Walk::All,
    };
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
    let (order, past) = if query.oldest_first {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let cursor = cursor.map(|(time, id)| (bind(Param::Int(time)), bind(Param::Text(id))));
    let action = query
        .action
        .as_ref()
        .map(|action| bind(Param::Text(action.clone())));
    // A bound LIMIT: one statement per shape in the statement caches, and PostgreSQL's generic
    // plan walks the ordered index rather than sorting the range (it reckons a literal LIMIT
    // above its low estimate of the range's rows as reading all of them).
    let limit = bind(Param::Int(i64::from(query.limit)));
    // An event ID is unique, so its one row needs no order; asking for one would let
    // PostgreSQL's generic plan walk the scope's primary key in time order instead.
    let unordered = matches!(
        (&query.attribute, &query.scope),
        (Some(AuditAttribute::EventId(_)), AuditScope::Api { .. })
    );
    // The time range, then what the walk's index range cannot narrow, checked on each row it
    // reads: the cursor within its millisecond, and the command line's action.
    let rest = |walk: &str, event: &str| -> (String, String) {
        let mut conditions =
            format!(" AND {walk}.event_time >= {since} AND {walk}.event_time <= {until}");
        let mut residual: Vec<String> = Vec::new();
        if let Some((time, id)) = &cursor {
            // Within the range above, which ends at the cursor's time, this is
            // (event_time, event_id) past (time, id).
            residual.push(format!(
                "({walk}.event_time {past} {time} OR {walk}.event_id {past} {id})"
            ));
        }
        if let Some(action) = &action {
            residual.push(format!("{event}.event_name = {action}"));
        }
        if !residual.is_empty() {
            let residual = residual.join(" AND ");
            conditions.push_str(" AND ");
            conditions.push_str(&match flavor {
                Flavor::Sqlite => residual,
                // PostgreSQL's generic plan guesses each of these keeps one row in 200, and
                // then finds sorting the few rows it expects cheaper than walking the index in
                // order until the page is full (and sorts the whole range: every event, for
                // `keypaird audit --action`). A CASE is a condition it cannot estimate, so it
                // assumes half the rows pass, and the ordered walk wins.
                Flavor::Postgres => format!("CASE WHEN {residual} THEN true ELSE false END"),
            });
        }
        let order_by = if unordered {
            String::new()
        } else {
            format!(" ORDER BY {walk}.event_time {order}, {walk}.event_id {order}")
        };
        (conditions, order_by)
    };
    let (from, walk_alias, event_alias, condition) = match table {
        Table::Events => {
            let (from, walk_alias, condition) = walk.indexed(flavor);
            (from, walk_alias, "e", condition)
        }
        Table::Recent => ("audit_recent n".to_owned(), "n", "n", walk.recent()),
    };
    let (conditions, order_by) = rest(walk_alias, event_alias);
    let sql = format!(
        "SELECT {} FROM {from} WHERE {condition}{conditions}{order_by} LIMIT {limit}",
        audit_columns(event_alias)
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
