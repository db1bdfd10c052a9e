//! The schema only ever moves forward, one numbered step at a time, so a file written by any
//! earlier build opens in any later one. Steps are never edited once released: a change is a
//! new step appended to [`MIGRATIONS`].
//!
//! Several processes may open a fresh file at the same moment (the daemon and the `accounts`
//! CLI). Each step therefore runs in its own `BEGIN IMMEDIATE` transaction that first re-reads
//! whether the step is already applied: whoever takes the write lock first applies it, the
//! others wait on the busy timeout and then find nothing to do.
//!
//! Tables are STRICT so that a value of the wrong type can never be stored by a bug and later
//! surprise a reader.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use super::failure::Outcome;
use super::rows::to_millis;
use keypaird_inventory::StoreError;

/// Step `i` of this list is schema version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, access keys, key pairs and their tags.
    r#"
    CREATE TABLE accounts (
        id              TEXT NOT NULL PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE,
        key_pair_quota  INTEGER CHECK (key_pair_quota IS NULL OR key_pair_quota >= 0),
        created_at_ms   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE access_keys (
        access_key_id   TEXT NOT NULL PRIMARY KEY,
        account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        secret          TEXT,
        created_at_ms   INTEGER NOT NULL
    ) STRICT;

    CREATE INDEX access_keys_by_account ON access_keys (account_id, access_key_id);

    CREATE TABLE key_pairs (
        id                  TEXT NOT NULL PRIMARY KEY,
        account_id          TEXT NOT NULL,
        provider            TEXT NOT NULL,
        region              TEXT NOT NULL,
        name                TEXT NOT NULL,
        key_type            TEXT NOT NULL,
        fingerprint         TEXT NOT NULL,
        public_key          TEXT NOT NULL,
        created_at_ms       INTEGER NOT NULL,
        resource_group_id   TEXT NOT NULL DEFAULT '',
        UNIQUE (account_id, provider, region, name)
    ) STRICT;

    CREATE INDEX key_pairs_newest_first
        ON key_pairs (account_id, provider, region, created_at_ms DESC, id DESC);

    CREATE TABLE key_pair_tags (
        key_pair_id TEXT NOT NULL REFERENCES key_pairs (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        key         TEXT NOT NULL,
        value       TEXT NOT NULL,
        PRIMARY KEY (key_pair_id, key),
        UNIQUE (key_pair_id, position)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2: signature nonces already used (Alibaba's replay protection), until they expire.
    r#"
    CREATE TABLE request_nonces (
        access_key_id   TEXT NOT NULL,
        nonce           TEXT NOT NULL,
        expires_at_ms   INTEGER NOT NULL,
        PRIMARY KEY (access_key_id, nonce)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at_ms);
    "#,
];

/// The newest schema version this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the file up to [`latest_version`] and returns the versions it applied. Refuses a file
/// written by a newer build rather than guess at a schema it does not know.
pub(super) fn migrate(conn: &mut Connection) -> Outcome<Vec<i64>> {
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version     INTEGER NOT NULL PRIMARY KEY,
                applied_at  INTEGER NOT NULL
            ) STRICT;",
        )?;
        let newest: Option<i64> =
            tx.query_row("SELECT max(version) FROM schema_migrations", [], |row| {
                row.get(0)
            })?;
        tx.commit()?;
        if let Some(newest) = newest.filter(|&v| v > latest_version()) {
            return Err(StoreError::Internal(format!(
                "the database has schema version {newest}, newer than this build's {}",
                latest_version()
            ))
            .into());
        }
    }

    let mut applied_now = Vec::new();
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                (version, to_millis(OffsetDateTime::now_utc())?),
            )?;
            tracing::info!(version, "applied store schema migration");
            applied_now.push(version);
        }
        tx.commit()?;
    }
    Ok(applied_now)
}

/// The versions recorded as applied, oldest first.
#[cfg(test)]
pub(super) fn applied_versions(conn: &Connection) -> Outcome<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
    let versions = stmt
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(versions)
}
