//! Key pair statements. Transactions run at READ COMMITTED; what makes each write exact under
//! races between nodes is a unique index or an explicit row lock:
//!
//! - Names: the unique index on (scope, name). An insert adds its row first; a racing insert of
//!   the same name waits for it on the index and then yields.
//! - Quotas: the scope's row in `key_pair_counts`, which every insert and delete updates in its
//!   transaction. Updating it locks it, so the inserts and deletes of one scope take turns on
//!   it, and the count each one sees is exact.
//! - Tag limits: tag writes lock their key pair rows (`FOR UPDATE`, in id order).
//!
//! Deadlocks are ruled out by the order locks are taken in. Deletes lock the counter row first
//! and then the (committed) key pair rows they remove; an insert holds only its own new,
//! uncommitted row when it waits for the counter, and no delete or tag write can see that row,
//! let alone wait for it. Tag writes never take the counter.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{Client, GenericClient, Transaction};
use keypaird_inventory::{KeyPair, KeyPairQuery, KeyPairRef, Scope, StoreError, Tag, TagRemoval};
use tokio_postgres::types::ToSql;

use super::failure::{violated_constraint, Failure, Outcome};
use super::rows::{column, key_pair_from_row, to_millis, KEY_PAIR_COLUMNS, TAGS_LATERAL};
use crate::sql::{self, scope_key, Column, Count, Flavor, Param, Statement};

/// The statement's parameters as tokio-postgres takes them.
pub(super) fn sql_params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| match param {
            Param::Text(text) => text as &(dyn ToSql + Sync),
            Param::Texts(texts) => texts as &(dyn ToSql + Sync),
            Param::Int(n) => n as &(dyn ToSql + Sync),
        })
        .collect()
}

/// The statement that reads the query's page of key pairs, each with its tags (aggregated in
/// the same statement); `None` when nothing can match.
pub(super) fn select(query: &KeyPairQuery) -> Option<Statement> {
    sql::select_key_pairs(
        Flavor::Postgres,
        query,
        KEY_PAIR_COLUMNS,
        &format!(" {TAGS_LATERAL}"),
    )
}

/// The statement that reads the query's tag rows; `None` when nothing can match.
pub(super) fn select_tags(query: &keypaird_inventory::TagQuery) -> Option<Statement> {
    sql::select_tags(Flavor::Postgres, query)
}

pub(super) async fn count(client: &Client, query: &KeyPairQuery) -> Outcome<u64> {
    let counted: i64 = match sql::count_key_pairs(Flavor::Postgres, query) {
        Count::Zero => 0,
        Count::Counter => {
            let scope = &query.scope;
            let row = client
                .query_opt(
                    &client
                        .prepare_cached(
                            "SELECT count FROM key_pair_counts \
                             WHERE account_id = $1 AND provider = $2 AND region = $3",
                        )
                        .await?,
                    &[&scope.account_id, &scope.provider.as_str(), &scope.region],
                )
                .await?;
            match row {
                Some(row) => column(&row, 0, "key_pair_counts.count")?,
                None => 0,
            }
        }
        Count::Statement(statement) => {
            let row = client
                .query_one(
                    &client.prepare_cached(&statement.sql).await?,
                    &sql_params(&statement.params),
                )
                .await?;
            column(&row, 0, "key_pairs")?
        }
    };
    Ok(u64::try_from(counted).unwrap_or(0))
}

/// One key pair of the scope by name or ID, locked until the transaction ends, with its tags.
async fn lock_one(
    tx: &Transaction<'_>,
    scope: &Scope,
    column: Column,
    value: &str,
) -> Outcome<Option<KeyPair>> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(&format!(
                "SELECT {KEY_PAIR_COLUMNS} FROM key_pairs k {TAGS_LATERAL} \
                 WHERE k.scope = $1 AND {} = $2 FOR UPDATE OF k",
                column.sql()
            ))
            .await?,
            &[&scope_key(scope), &value],
        )
        .await?;
    row.as_ref().map(key_pair_from_row).transpose()
}

/// Locks the scope's counter row, if it exists, so that no insert or delete in the scope runs
/// until this transaction ends.
async fn lock_scope(tx: &Transaction<'_>, scope: &Scope) -> Outcome<()> {
    tx.query(
        &tx.prepare_cached(
            "SELECT 1 FROM key_pair_counts \
             WHERE account_id = $1 AND provider = $2 AND region = $3 FOR UPDATE",
        )
        .await?,
        &[&scope.account_id, &scope.provider.as_str(), &scope.region],
    )
    .await?;
    Ok(())
}

/// The name is checked before the quota, as AWS does: a client retrying a create that already
/// succeeded learns about the duplicate even when the scope is full.
///
/// Order matters for speed as much as for correctness. The key pair row goes in first, with
/// `ON CONFLICT DO NOTHING` on the name's unique index: a racing insert of the same name makes
/// it wait for that one to commit, then report the duplicate. Only then is the scope's counter
/// row bumped (and locked), as the last statement before COMMIT, so inserts into one scope are
/// in line only for one round trip and the commit, not for the whole transaction. Under READ
/// COMMITTED the upsert waits for a racing holder of the counter and then works on the row it
/// committed, so the count it returns is exact; a refusal rolls the bump back.
pub(super) async fn insert(tx: &Transaction<'_>, key_pair: &KeyPair, quota: u32) -> Outcome<()> {
    let scope = &key_pair.scope;
    let provider = scope.provider.as_str();
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO key_pairs (id, account_id, provider, region, name, key_type, \
                 fingerprint, public_key, created_at_ms, resource_group_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (scope, name) DO NOTHING",
            )
            .await?,
            &[
                &key_pair.id,
                &scope.account_id,
                &provider,
                &scope.region,
                &key_pair.name,
                &key_pair.key_type.as_str(),
                &key_pair.fingerprint,
                &key_pair.public_key,
                &to_millis(key_pair.created_at)?,
                &key_pair.resource_group_id,
            ],
        )
        .await
        .map_err(|err| match violated_constraint(&err) {
            Some("key_pairs_pkey") => {
                Failure::Refused(StoreError::Internal("key pair id already in use".into()))
            }
            _ => Failure::Database(err),
        })?;
    if inserted == 0 {
        return Err(StoreError::DuplicateKeyPair.into());
    }

    if !key_pair.tags.is_empty() {
        let (keys, values) = distinct_tags(&key_pair.tags);
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO key_pair_tags (key_pair_id, scope, position, key, value) \
                 SELECT $1, $2, t.ord - 1, t.key, t.value \
                 FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t (key, value, ord)",
            )
            .await?,
            &[&key_pair.id, &scope_key(scope), &keys, &values],
        )
        .await?;
    }

    let counted = tx
        .query_one(
            &tx.prepare_cached(
                "INSERT INTO key_pair_counts AS c (account_id, provider, region, count) \
                 VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (account_id, provider, region) DO UPDATE SET count = c.count + 1 \
                 RETURNING c.count",
            )
            .await?,
            &[&scope.account_id, &provider, &scope.region],
        )
        .await?;
    let count_with_this: i64 = column(&counted, 0, "key_pair_counts.count")?;
    if count_with_this > i64::from(quota) {
        return Err(StoreError::QuotaExceeded { quota }.into());
    }
    Ok(())
}

/// Tags with each key once, at the place it first appears, holding the last value given for
/// it: what setting them one by one would leave.
fn distinct_tags(tags: &[Tag]) -> (Vec<&str>, Vec<&str>) {
    let mut keys: Vec<&str> = Vec::with_capacity(tags.len());
    let mut values: Vec<&str> = Vec::with_capacity(tags.len());
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(tags.len());
    for tag in tags {
        match seen.get(tag.key.as_str()) {
            Some(&at) => values[at] = &tag.value,
            None => {
                seen.insert(&tag.key, keys.len());
                keys.push(&tag.key);
                values.push(&tag.value);
            }
        }
    }
    (keys, values)
}

/// The IDs in request order without repeats.
fn distinct(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

pub(super) async fn delete_one(
    tx: &Transaction<'_>,
    scope: &Scope,
    which: &KeyPairRef,
) -> Outcome<Option<KeyPair>> {
    let (column, value) = match which {
        KeyPairRef::Name(name) => (Column::Name, name),
        KeyPairRef::Id(id) => (Column::Id, id),
    };
    lock_scope(tx, scope).await?;
    // Locking the row too keeps its tags still until it is gone, so what is returned is exactly
    // what was deleted.
    let Some(key_pair) = lock_one(tx, scope, column, value).await? else {
        return Ok(None);
    };
    // Tags go with it through ON DELETE CASCADE.
    tx.execute(
        &tx.prepare_cached(
            "WITH gone AS (DELETE FROM key_pairs WHERE id = $1 \
                           RETURNING account_id, provider, region) \
             UPDATE key_pair_counts c SET count = c.count - 1 FROM gone \
             WHERE c.account_id = gone.account_id AND c.provider = gone.provider \
               AND c.region = gone.region",
        )
        .await?,
        &[&key_pair.id],
    )
    .await?;
    Ok(Some(key_pair))
}

/// Deletes the named key pairs of the scope; returns the (ID, name) of each one deleted.
pub(super) async fn delete_by_names(
    tx: &Transaction<'_>,
    scope: &Scope,
    names: &[String],
) -> Outcome<Vec<(String, String)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    lock_scope(tx, scope).await?;
    let rows = tx
        .query(
            &tx.prepare_cached(
                "WITH gone AS (DELETE FROM key_pairs k WHERE k.scope = $5 AND k.name = ANY($4) \
                               RETURNING k.id, k.name), \
                      counted AS (UPDATE key_pair_counts c \
                                  SET count = c.count - (SELECT count(*) FROM gone) \
                                  WHERE c.account_id = $1 AND c.provider = $2 \
                                    AND c.region = $3 AND EXISTS (SELECT 1 FROM gone)) \
                 SELECT id, name FROM gone ORDER BY name COLLATE \"C\"",
            )
            .await?,
            &[
                &scope.account_id,
                &scope.provider.as_str(),
                &scope.region,
                &names,
                &scope_key(scope),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                column(row, 0, "key_pairs.id")?,
                column(row, 1, "key_pairs.name")?,
            ))
        })
        .collect()
}

/// Locks the scope's key pairs among `ids` (in id order, so that two writers naming the same
/// key pairs in different orders cannot deadlock) and returns the IDs found.
async fn lock_key_pairs(
    tx: &Transaction<'_>,
    scope: &Scope,
    ids: &[&str],
) -> Outcome<HashSet<String>> {
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT k.id FROM key_pairs k WHERE k.scope = $1 AND k.id = ANY($2) \
                 ORDER BY k.id FOR UPDATE",
            )
            .await?,
            &[&scope_key(scope), &ids],
        )
        .await?;
    rows.iter()
        .map(|row| column(row, 0, "key_pairs.id"))
        .collect()
}

/// All or nothing: every ID is checked before anything is written, and the limit after
/// writing; any refusal abandons the transaction. The key pair rows stay locked from the check
/// to the commit, so two racing calls cannot both squeeze under the limit.
pub(super) async fn add_tags(
    tx: &Transaction<'_>,
    scope: &Scope,
    key_pair_ids: &[String],
    tags: &[Tag],
    limit: usize,
) -> Outcome<()> {
    let ids = distinct(key_pair_ids);
    if ids.is_empty() {
        return Ok(());
    }
    let found = lock_key_pairs(tx, scope, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.contains(**id)) {
        return Err(StoreError::KeyPairNotFound((*missing).to_owned()).into());
    }
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = distinct_tags(tags);
    // A new key goes after every tag the key pair has ever kept (positions may leave gaps,
    // only their order matters); an existing key keeps its place and takes the new value.
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO key_pair_tags (key_pair_id, scope, position, key, value) \
             SELECT k.id, $4, \
                    coalesce((SELECT max(p.position) + 1 FROM key_pair_tags p \
                              WHERE p.key_pair_id = k.id), 0) + t.ord - 1, \
                    t.key, t.value \
             FROM unnest($1::text[]) AS k (id) \
             CROSS JOIN unnest($2::text[], $3::text[]) WITH ORDINALITY AS t (key, value, ord) \
             ON CONFLICT (key_pair_id, key) DO UPDATE SET value = excluded.value",
        )
        .await?,
        &[&ids, &keys, &values, &scope_key(scope)],
    )
    .await?;
    let counts: HashMap<String, i64> = tx
        .query(
            &tx.prepare_cached(
                "SELECT key_pair_id, count(*) FROM key_pair_tags \
                 WHERE key_pair_id = ANY($1) GROUP BY key_pair_id",
            )
            .await?,
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                column(row, 0, "key_pair_tags.key_pair_id")?,
                column(row, 1, "key_pair_tags")?,
            ))
        })
        .collect::<Outcome<_>>()?;
    let limit_i64 = i64::try_from(limit).unwrap_or(i64::MAX);
    if let Some(over) = ids
        .iter()
        .find(|id| counts.get(**id).copied().unwrap_or(0) > limit_i64)
    {
        return Err(StoreError::TagLimitExceeded {
            resource_id: (*over).to_owned(),
            limit,
        }
        .into());
    }
    Ok(())
}

/// One statement: tags carry their key pair's scope, so IDs outside it or missing match no row.
pub(super) async fn remove_tags(
    client: &impl GenericClient,
    scope: &Scope,
    key_pair_ids: &[String],
    removals: &[TagRemoval],
) -> Outcome<()> {
    if key_pair_ids.is_empty() {
        return Ok(());
    }
    let scope = scope_key(scope);
    if removals.is_empty() {
        client
            .execute(
                &client
                    .prepare_cached(
                        "DELETE FROM key_pair_tags t \
                         WHERE t.scope = $1 AND t.key_pair_id = ANY($2)",
                    )
                    .await?,
                &[&scope, &key_pair_ids],
            )
            .await?;
        return Ok(());
    }
    let keys: Vec<&str> = removals.iter().map(|r| r.key.as_str()).collect();
    let values: Vec<Option<&str>> = removals.iter().map(|r| r.value.as_deref()).collect();
    client
        .execute(
            &client
                .prepare_cached(
                    "DELETE FROM key_pair_tags t \
                     USING unnest($3::text[], $4::text[]) AS r (key, value) \
                     WHERE t.scope = $1 AND t.key_pair_id = ANY($2) \
                       AND t.key = r.key AND (r.value IS NULL OR t.value = r.value)",
                )
                .await?,
            &[&scope, &key_pair_ids, &keys, &values],
        )
        .await?;
    Ok(())
}

pub(super) async fn set_resource_group(
    client: &impl GenericClient,
    scope: &Scope,
    key_pair_id: &str,
    resource_group_id: &str,
) -> Outcome<()> {
    let updated = client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE key_pairs SET resource_group_id = $3 WHERE scope = $1 AND id = $2",
                )
                .await?,
            &[&scope_key(scope), &key_pair_id, &resource_group_id],
        )
        .await?;
    if updated == 0 {
        return Err(StoreError::KeyPairNotFound(key_pair_id.to_owned()).into());
    }
    Ok(())
}

/// TRUNCATE takes an exclusive lock on the three tables, so it waits for every write in flight
/// and no insert can slip between emptying the key pairs and zeroing their counters.
pub(super) async fn reset(client: &Client) -> Outcome<()> {
    client
        .batch_execute("TRUNCATE key_pair_tags, key_pairs, key_pair_counts")
        .await?;
    Ok(())
}
