//! Key pair statements. Each function runs inside a transaction its caller opened: the write
//! path's `BEGIN IMMEDIATE` is what makes "check the name, count, insert" a single step that no
//! other connection or process can interleave with.

use std::collections::{BTreeSet, HashMap};

use keypaird_inventory::{
    KeyPair, KeyPairRef, KeyPairSelector, Scope, StoreError, Tag, TagRemoval,
};
use rusqlite::{params, params_from_iter, types::Value, Connection, OptionalExtension};

use super::failure::{is_primary_key_violation, is_unique_violation, Failure, Outcome};
use super::rows::{key_pair_from_row, to_millis, KEY_PAIR_COLUMNS};
use crate::sql::Column;

/// Names or IDs bound per statement. Far below SQLite's variable limit, and large enough that
/// any request a client can send in practice is a single query.
const VALUES_PER_QUERY: usize = 500;

const SCOPE_FILTER: &str = "k.account_id = ?1 AND k.provider = ?2 AND k.region = ?3";

fn scope_values(scope: &Scope) -> Vec<Value> {
    vec![
        Value::Text(scope.account_id.clone()),
        Value::Text(scope.provider.as_str().to_owned()),
        Value::Text(scope.region.clone()),
    ]
}

pub(super) fn find(
    conn: &Connection,
    scope: &Scope,
    selector: &KeyPairSelector,
) -> Outcome<Vec<KeyPair>> {
    let (column, wanted) = match selector {
        KeyPairSelector::All => return load(conn, scope, None),
        KeyPairSelector::Names(names) => (Column::Name, names),
        KeyPairSelector::Ids(ids) => (Column::Id, ids),
    };
    let wanted: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found = Vec::new();
    for chunk in wanted.chunks(VALUES_PER_QUERY) {
        found.extend(load(conn, scope, Some((column, chunk)))?);
    }
    if wanted.len() > VALUES_PER_QUERY {
        // Each chunk came back ordered; together they must be too, with the SQL ordering.
        found.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
    }
    Ok(found)
}

/// Key pairs of the scope, optionally narrowed, newest first, each with its tags in the order
/// they were first set. Two queries whatever the number of key pairs: one for the rows, one for
/// all their tags.
fn load(
    conn: &Connection,
    scope: &Scope,
    narrow: Option<(Column, &[&str])>,
) -> Outcome<Vec<KeyPair>> {
    let mut filter = SCOPE_FILTER.to_owned();
    let mut values = scope_values(scope);
    if let Some((column, wanted)) = narrow {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; wanted.len()].join(", ");
        filter.push_str(&format!(" AND {} IN ({placeholders})", column.sql()));
        values.extend(wanted.iter().map(|v| Value::Text((*v).to_owned())));
    }

    let mut key_pairs = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_PAIR_COLUMNS} FROM key_pairs k WHERE {filter} \
             ORDER BY k.created_at_ms DESC, k.id DESC"
        ))?;
        let mut rows = stmt.query(params_from_iter(values.iter()))?;
        let mut key_pairs = Vec::new();
        while let Some(row) = rows.next()? {
            key_pairs.push(key_pair_from_row(row)?);
        }
        key_pairs
    };
    if key_pairs.is_empty() {
        return Ok(key_pairs);
    }

    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT t.key_pair_id, t.key, t.value \
             FROM key_pair_tags t JOIN key_pairs k ON k.id = t.key_pair_id \
             WHERE {filter} ORDER BY t.key_pair_id, t.position"
        ))?;
        let mut rows = stmt.query(params_from_iter(values.iter()))?;
        while let Some(row) = rows.next()? {
            tags.entry(row.get(0)?).or_default().push(Tag {
                key: row.get(1)?,
                value: row.get(2)?,
            });
        }
    }
    for key_pair in &mut key_pairs {
        key_pair.tags = tags.remove(&key_pair.id).unwrap_or_default();
    }
    Ok(key_pairs)
}

/// Whether the scope holds a key pair whose `column` equals `value`: one indexed lookup.
fn exists_in_scope(conn: &Connection, scope: &Scope, column: Column, value: &str) -> Outcome<bool> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT 1 FROM key_pairs k WHERE {SCOPE_FILTER} AND {} = ?4",
        column.sql()
    ))?;
    let exists = stmt
        .query_row(
            params![
                scope.account_id,
                scope.provider.as_str(),
                scope.region,
                value
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    Ok(exists)
}

fn count_in_scope(conn: &Connection, scope: &Scope) -> Outcome<i64> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT count(*) FROM key_pairs k WHERE {SCOPE_FILTER}"
    ))?;
    let count = stmt.query_row(
        params![scope.account_id, scope.provider.as_str(), scope.region],
        |row| row.get(0),
    )?;
    Ok(count)
}

/// The name is checked before the quota, as AWS does: a client retrying a create that already
/// succeeded learns about the duplicate even when the scope is full.
pub(super) fn insert(conn: &Connection, key_pair: &KeyPair, quota: u32) -> Outcome<()> {
    let scope = &key_pair.scope;
    if exists_in_scope(conn, scope, Column::Name, &key_pair.name)? {
        return Err(StoreError::DuplicateKeyPair.into());
    }
    if count_in_scope(conn, scope)? >= i64::from(quota) {
        return Err(StoreError::QuotaExceeded { quota }.into());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO key_pairs (id, account_id, provider, region, name, key_type, fingerprint, \
         public_key, created_at_ms, resource_group_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    stmt.execute(params![
        key_pair.id,
        scope.account_id,
        scope.provider.as_str(),
        scope.region,
        key_pair.name,
        key_pair.key_type.as_str(),
        key_pair.fingerprint,
        key_pair.public_key,
        to_millis(key_pair.created_at)?,
        key_pair.resource_group_id,
    ])
    .map_err(|err| {
        if is_unique_violation(&err) {
            Failure::Refused(StoreError::DuplicateKeyPair)
        } else if is_primary_key_violation(&err) {
            Failure::Refused(StoreError::Internal("key pair id already in use".into()))
        } else {
            Failure::Database(err)
        }
    })?;
    for tag in &key_pair.tags {
        set_tag(conn, &key_pair.id, tag)?;
    }
    Ok(())
}

/// Overwrites the value of an existing key in place; a new key goes after every tag the key
/// pair has ever kept, so tags list in the order they were first set.
fn set_tag(conn: &Connection, key_pair_id: &str, tag: &Tag) -> Outcome<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO key_pair_tags (key_pair_id, position, key, value) \
         VALUES (?1, (SELECT coalesce(max(position) + 1, 0) FROM key_pair_tags \
                      WHERE key_pair_id = ?1), ?2, ?3) \
         ON CONFLICT (key_pair_id, key) DO UPDATE SET value = excluded.value",
    )?;
    stmt.execute(params![key_pair_id, tag.key, tag.value])?;
    Ok(())
}

fn tag_count(conn: &Connection, key_pair_id: &str) -> Outcome<usize> {
    let mut stmt =
        conn.prepare_cached("SELECT count(*) FROM key_pair_tags WHERE key_pair_id = ?1")?;
    let count: i64 = stmt.query_row([key_pair_id], |row| row.get(0))?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

pub(super) fn delete_one(
    conn: &Connection,
    scope: &Scope,
    which: &KeyPairRef,
) -> Outcome<Option<KeyPair>> {
    let (column, value) = match which {
        KeyPairRef::Name(name) => (Column::Name, name.as_str()),
        KeyPairRef::Id(id) => (Column::Id, id.as_str()),
    };
    let Some(key_pair) = load(conn, scope, Some((column, &[value])))?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    // Tags go with it through ON DELETE CASCADE.
    conn.prepare_cached("DELETE FROM key_pairs WHERE id = ?1")?
        .execute([&key_pair.id])?;
    Ok(Some(key_pair))
}

pub(super) fn delete_by_names(conn: &Connection, scope: &Scope, names: &[String]) -> Outcome<u64> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM key_pairs \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND name = ?4",
    )?;
    let mut deleted = 0u64;
    for name in names.iter().collect::<BTreeSet<_>>() {
        deleted += stmt.execute(params![
            scope.account_id,
            scope.provider.as_str(),
            scope.region,
            name
        ])? as u64;
    }
    Ok(deleted)
}

/// All or nothing: every ID is checked before anything is written, and the limit is checked
/// after writing; any refusal rolls the caller's transaction back.
pub(super) fn add_tags(
    conn: &Connection,
    scope: &Scope,
    key_pair_ids: &[String],
    tags: &[Tag],
    limit: usize,
) -> Outcome<()> {
    for id in key_pair_ids {
        if !exists_in_scope(conn, scope, Column::Id, id)? {
            return Err(StoreError::KeyPairNotFound(id.clone()).into());
        }
    }
    for id in key_pair_ids {
        for tag in tags {
            set_tag(conn, id, tag)?;
        }
        if tag_count(conn, id)? > limit {
            return Err(StoreError::TagLimitExceeded {
                resource_id: id.clone(),
                limit,
            }
            .into());
        }
    }
    Ok(())
}

pub(super) fn remove_tags(
    conn: &Connection,
    scope: &Scope,
    key_pair_ids: &[String],
    removals: &[TagRemoval],
) -> Outcome<()> {
    let mut remove_all = conn.prepare_cached("DELETE FROM key_pair_tags WHERE key_pair_id = ?1")?;
    let mut remove_one = conn.prepare_cached(
        "DELETE FROM key_pair_tags \
         WHERE key_pair_id = ?1 AND key = ?2 AND (?3 IS NULL OR value = ?3)",
    )?;
    for id in key_pair_ids {
        if !exists_in_scope(conn, scope, Column::Id, id)? {
            continue;
        }
        if removals.is_empty() {
            remove_all.execute([id])?;
        }
        for removal in removals {
            remove_one.execute(params![id, removal.key, removal.value])?;
        }
    }
    Ok(())
}

pub(super) fn set_resource_group(
    conn: &Connection,
    scope: &Scope,
    key_pair_id: &str,
    resource_group_id: &str,
) -> Outcome<()> {
    let updated = conn
        .prepare_cached(
            "UPDATE key_pairs SET resource_group_id = ?5 \
             WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND id = ?4",
        )?
        .execute(params![
            scope.account_id,
            scope.provider.as_str(),
            scope.region,
            key_pair_id,
            resource_group_id
        ])?;
    if updated == 0 {
        return Err(StoreError::KeyPairNotFound(key_pair_id.to_owned()).into());
    }
    Ok(())
}

pub(super) fn reset(conn: &Connection) -> Outcome<()> {
    conn.execute_batch("DELETE FROM key_pair_tags; DELETE FROM key_pairs;")?;
    Ok(())
}
