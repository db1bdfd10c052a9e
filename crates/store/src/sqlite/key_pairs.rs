//! Key pair statements. Each function runs inside a transaction its caller opened: the write
//! path's `BEGIN IMMEDIATE` is what makes "check the name, count, insert" a single step that no
//! other connection or process can interleave with.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use keypaird_inventory::{
    AuditResource, KeyPair, KeyPairQuery, KeyPairRef, Scope, StoreError, Tag, TagQuery, TagRemoval,
    TagRow,
};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Statement as Prepared};

use super::failure::{is_primary_key_violation, is_unique_violation, Failure, Outcome};
use super::rows::{key_pair_from_row, to_millis, KEY_PAIR_COLUMNS};
use crate::sql::{self, Column, Count, Flavor, Param, Statement};

/// Key pairs read before their tags are fetched and the batch is handed on: bounds the memory
/// of a reply of any size, and the tag query's list.
pub(super) const CHUNK: usize = 256;

const SCOPE_FILTER: &str = "k.account_id = ?1 AND k.provider = ?2 AND k.region = ?3";

pub(super) fn bind(stmt: &mut Prepared<'_>, params: &[Param]) -> Outcome<()> {
    for (index, param) in params.iter().enumerate() {
        let at = index + 1;
        match param {
            Param::Text(text) => stmt.raw_bind_parameter(at, text)?,
            Param::Int(n) => stmt.raw_bind_parameter(at, n)?,
            Param::Texts(texts) => stmt.raw_bind_parameter(at, text_array(texts))?,
        }
    }
    Ok(())
}

pub(super) fn text_array(texts: &[String]) -> rusqlite::vtab::array::Array {
    Rc::new(texts.iter().cloned().map(Value::Text).collect())
}

/// Runs `query` and hands its key pairs, with their tags, to `send` in chunks of [`CHUNK`];
/// stops early when `send` returns false (nobody is listening any more).
pub(super) fn visit(
    conn: &Connection,
    query: &KeyPairQuery,
    send: &mut dyn FnMut(Vec<KeyPair>) -> bool,
) -> Outcome<()> {
    let statement = sql::select_key_pairs(Flavor::Sqlite, query, KEY_PAIR_COLUMNS, "");
    stream(
        conn,
        statement,
        key_pair_from_row,
        |chunk| attach_tags(conn, &query.scope, chunk),
        send,
    )
}

/// Runs `statement` (none: nothing can match) and hands its rows, read by `read` and completed
/// chunk by chunk by `complete`, to `send`.
fn stream<T>(
    conn: &Connection,
    statement: Option<Statement>,
    mut read: impl FnMut(&rusqlite::Row<'_>) -> Outcome<T>,
    mut complete: impl FnMut(&mut [T]) -> Outcome<()>,
    send: &mut dyn FnMut(Vec<T>) -> bool,
) -> Outcome<()> {
    let Some(statement) = statement else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(&statement.sql)?;
    bind(&mut stmt, &statement.params)?;
    let mut rows = stmt.raw_query();
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(row) = rows.next()? {
        chunk.push(read(row)?);
        if chunk.len() == CHUNK {
            complete(&mut chunk)?;
            if !send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))) {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        complete(&mut chunk)?;
        send(chunk);
    }
    Ok(())
}

/// The tags of a chunk of key pairs of one scope: one range of the tag table's primary key per
/// key pair.
pub(super) const TAGS_OF_CHUNK: &str = "SELECT key_pair_id, position, key, value \
     FROM key_pair_tags \
     WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND key_pair_id IN rarray(?4)";

/// Fills in the tags of these key pairs of `scope`, in the order they were first set: one
/// query for the chunk. The table keeps a key pair's tags in key order; each key pair's few
/// tags are put in position order here, which spares the database a sort of the chunk's.
fn attach_tags(conn: &Connection, scope: &Scope, key_pairs: &mut [KeyPair]) -> Outcome<()> {
    let ids: Vec<String> = key_pairs.iter().map(|kp| kp.id.clone()).collect();
    let mut stmt = conn.prepare_cached(TAGS_OF_CHUNK)?;
    let mut rows = stmt.query(params![
        scope.account_id,
        scope.provider.as_str(),
        scope.region,
        text_array(&ids)
    ])?;
    let mut tags: HashMap<String, Vec<(i64, Tag)>> = HashMap::new();
    while let Some(row) = rows.next()? {
        tags.entry(row.get(0)?).or_default().push((
            row.get(1)?,
            Tag {
                key: row.get(2)?,
                value: row.get(3)?,
            },
        ));
    }
    for key_pair in key_pairs {
        let mut own = tags.remove(&key_pair.id).unwrap_or_default();
        own.sort_unstable_by_key(|(position, _)| *position);
        key_pair.tags = own.into_iter().map(|(_, tag)| tag).collect();
    }
    Ok(())
}

pub(super) fn count(conn: &Connection, query: &KeyPairQuery) -> Outcome<u64> {
    let counted: i64 = match sql::count_key_pairs(Flavor::Sqlite, query) {
        Count::Zero => 0,
        Count::Counter => scope_count(conn, &query.scope)?,
        Count::Statement(statement) => {
            let mut stmt = conn.prepare_cached(&statement.sql)?;
            bind(&mut stmt, &statement.params)?;
            let mut rows = stmt.raw_query();
            match rows.next()? {
                Some(row) => row.get(0)?,
                None => 0,
            }
        }
    };
    Ok(u64::try_from(counted).unwrap_or(0))
}

/// The scope's counter row, which the triggers of migration 3 keep equal to its key pairs.
fn scope_count(conn: &Connection, scope: &Scope) -> Outcome<i64> {
    let count = conn
        .prepare_cached(
            "SELECT count FROM key_pair_counts \
             WHERE account_id = ?1 AND provider = ?2 AND region = ?3",
        )?
        .query_row(
            params![scope.account_id, scope.provider.as_str(), scope.region],
            |row| row.get(0),
        )
        .optional()?;
    Ok(count.unwrap_or(0))
}

/// Like [`visit`], for tag rows.
pub(super) fn visit_tags(
    conn: &Connection,
    query: &TagQuery,
    send: &mut dyn FnMut(Vec<TagRow>) -> bool,
) -> Outcome<()> {
    let read = |row: &rusqlite::Row<'_>| -> Outcome<TagRow> {
        Ok(TagRow {
            key_pair_id: row.get(0)?,
            key_pair_name: row.get(1)?,
            key: row.get(2)?,
            value: row.get(3)?,
        })
    };
    let statement = sql::select_tags(Flavor::Sqlite, query);
    stream(conn, statement, read, |_| Ok(()), send)
}

/// Key pairs of the scope whose `column` is one of `wanted`, with their tags.
fn load(
    conn: &Connection,
    scope: &Scope,
    column: Column,
    wanted: &[&str],
) -> Outcome<Vec<KeyPair>> {
    let query = match column {
        Column::Name => KeyPairQuery::names(scope.clone(), wanted),
        Column::Id => KeyPairQuery::ids(scope.clone(), wanted),
    };
    let mut found = Vec::new();
    visit(conn, &query, &mut |chunk| {
        found.extend(chunk);
        true
    })?;
    Ok(found)
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

/// The name is checked before the quota, as AWS does: a client retrying a create that already
/// succeeded learns about the duplicate even when the scope is full.
pub(super) fn insert(conn: &Connection, key_pair: &KeyPair, quota: u32) -> Outcome<()> {
    let scope = &key_pair.scope;
    if exists_in_scope(conn, scope, Column::Name, &key_pair.name)? {
        return Err(StoreError::DuplicateKeyPair.into());
    }
    // The counter row, not a count: O(1) whatever the scope holds. The insert's trigger bumps
    // it within this transaction.
    if scope_count(conn, scope)? >= i64::from(quota) {
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
        // The primary key is (scope, name); IDs have a unique index of their own.
        if is_primary_key_violation(&err) {
            Failure::Refused(StoreError::DuplicateKeyPair)
        } else if is_unique_violation(&err) {
            Failure::Refused(StoreError::Internal("key pair id already in use".into()))
        } else {
            Failure::Database(err)
        }
    })?;
    for tag in &key_pair.tags {
        set_tag(conn, scope, &key_pair.id, tag)?;
    }
    Ok(())
}

/// Overwrites the value of an existing key in place; a new key goes after every tag the key
/// pair has ever kept, so tags list in the order they were first set.
fn set_tag(conn: &Connection, scope: &Scope, key_pair_id: &str, tag: &Tag) -> Outcome<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO key_pair_tags \
             (key_pair_id, account_id, provider, region, position, key, value) \
         VALUES (?1, ?2, ?3, ?4, \
                 (SELECT coalesce(max(position) + 1, 0) FROM key_pair_tags \
                  WHERE account_id = ?2 AND provider = ?3 AND region = ?4 \
                    AND key_pair_id = ?1), ?5, ?6) \
         ON CONFLICT (account_id, provider, region, key_pair_id, key) \
         DO UPDATE SET value = excluded.value",
    )?;
    stmt.execute(params![
        key_pair_id,
        scope.account_id,
        scope.provider.as_str(),
        scope.region,
        tag.key,
        tag.value
    ])?;
    Ok(())
}

fn tag_count(conn: &Connection, scope: &Scope, key_pair_id: &str) -> Outcome<usize> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM key_pair_tags \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND key_pair_id = ?4",
    )?;
    let count: i64 = stmt.query_row(
        params![
            scope.account_id,
            scope.provider.as_str(),
            scope.region,
            key_pair_id
        ],
        |row| row.get(0),
    )?;
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
    let Some(key_pair) = load(conn, scope, column, &[value])?.into_iter().next() else {
        return Ok(None);
    };
    // Its tags and its count go with it, through the delete trigger.
    conn.prepare_cached("DELETE FROM key_pairs WHERE id = ?1")?
        .execute([&key_pair.id])?;
    Ok(Some(key_pair))
}

/// Deletes the named key pairs of the scope; returns the (ID, name) of each one deleted.
pub(super) fn delete_by_names(
    conn: &Connection,
    scope: &Scope,
    names: &[String],
) -> Outcome<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM key_pairs \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND name = ?4 \
         RETURNING id, name",
    )?;
    let mut deleted = Vec::new();
    for name in names.iter().collect::<BTreeSet<_>>() {
        let mut rows = stmt.query(params![
            scope.account_id,
            scope.provider.as_str(),
            scope.region,
            name
        ])?;
        while let Some(row) = rows.next()? {
            deleted.push((row.get(0)?, row.get(1)?));
        }
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
            set_tag(conn, scope, id, tag)?;
        }
        if tag_count(conn, scope, id)? > limit {
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
    // Tags carry their key pair's scope: IDs outside it or missing match no row.
    let mut remove_all = conn.prepare_cached(
        "DELETE FROM key_pair_tags \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND key_pair_id = ?4",
    )?;
    let mut remove_one = conn.prepare_cached(
        "DELETE FROM key_pair_tags \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND key_pair_id = ?4 \
           AND key = ?5 AND (?6 IS NULL OR value = ?6)",
    )?;
    let (account, provider, region) = (&scope.account_id, scope.provider.as_str(), &scope.region);
    for id in key_pair_ids {
        if removals.is_empty() {
            remove_all.execute(params![account, provider, region, id])?;
        }
        for removal in removals {
            remove_one.execute(params![
                account,
                provider,
                region,
                id,
                removal.key,
                removal.value
            ])?;
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

/// The audit resources of key pairs a change named by ID: each with its name when the scope
/// holds it (one lookup of the ID index for all), in the order given.
pub(super) fn named_resources(
    conn: &Connection,
    scope: &Scope,
    key_pair_ids: &[String],
) -> Outcome<Vec<AuditResource>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM key_pairs \
         WHERE account_id = ?1 AND provider = ?2 AND region = ?3 AND id IN rarray(?4)",
    )?;
    let mut rows = stmt.query(params![
        scope.account_id,
        scope.provider.as_str(),
        scope.region,
        text_array(key_pair_ids)
    ])?;
    let mut names: HashMap<String, String> = HashMap::new();
    while let Some(row) = rows.next()? {
        names.insert(row.get(0)?, row.get(1)?);
    }
    Ok(key_pair_ids
        .iter()
        .map(|id| {
            let name = names.get(id).map_or("", String::as_str);
            AuditResource::key_pair(id, name, "")
        })
        .collect())
}

pub(super) fn reset(conn: &Connection) -> Outcome<()> {
    // Tags first, so the delete trigger of each key pair finds none left to delete.
    conn.execute_batch(
        "DELETE FROM key_pair_tags; DELETE FROM key_pairs; DELETE FROM key_pair_counts;",
    )?;
    Ok(())
}
