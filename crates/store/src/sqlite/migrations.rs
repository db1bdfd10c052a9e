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
    // 3: costs that do not grow with the inventory.
    //    - Both tables are rebuilt clustered on what lookups ask for (WITHOUT ROWID): a key
    //      pair on (scope, name), so a lookup by name is one B-tree descent, not an index and
    //      then the table; its tags on (scope, key pair, key), so the tags of key pairs are one
    //      range each, and a scope's tags come in (key pair, key) order with no index of their
    //      own. The tags carry their key pair's scope for that.
    //    - Tags go with their key pair through a trigger rather than a foreign key, whose
    //      cascade would need an index led by the key pair ID alone on every tag.
    //    - A counter row per scope, kept by triggers in the transaction of every insert and
    //      delete, so a quota check reads one row instead of counting the scope.
    //    - Indexes for lookups by ID, fingerprint, resource group and tag value.
    r#"
    CREATE TABLE key_pairs_clustered (
        account_id          TEXT NOT NULL,
        provider            TEXT NOT NULL,
        region              TEXT NOT NULL,
        name                TEXT NOT NULL,
        id                  TEXT NOT NULL,
        key_type            TEXT NOT NULL,
        fingerprint         TEXT NOT NULL,
        public_key          TEXT NOT NULL,
        created_at_ms       INTEGER NOT NULL,
        resource_group_id   TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (account_id, provider, region, name)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO key_pairs_clustered (account_id, provider, region, name, id, key_type,
                                     fingerprint, public_key, created_at_ms, resource_group_id)
        SELECT account_id, provider, region, name, id, key_type, fingerprint, public_key,
               created_at_ms, resource_group_id
        FROM key_pairs;

    CREATE TABLE key_pair_tags_clustered (
        account_id  TEXT NOT NULL,
        provider    TEXT NOT NULL,
        region      TEXT NOT NULL,
        key_pair_id TEXT NOT NULL,
        key         TEXT NOT NULL,
        position    INTEGER NOT NULL,
        value       TEXT NOT NULL,
        PRIMARY KEY (account_id, provider, region, key_pair_id, key)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO key_pair_tags_clustered
        SELECT k.account_id, k.provider, k.region, t.key_pair_id, t.key, t.position, t.value
        FROM key_pair_tags t JOIN key_pairs k ON k.id = t.key_pair_id;

    DROP TABLE key_pair_tags;
    DROP TABLE key_pairs;
    ALTER TABLE key_pairs_clustered RENAME TO key_pairs;
    ALTER TABLE key_pair_tags_clustered RENAME TO key_pair_tags;

    -- IDs are unique everywhere, not only in a scope.
    CREATE UNIQUE INDEX key_pairs_by_id ON key_pairs (id);
    CREATE INDEX key_pairs_newest_first
        ON key_pairs (account_id, provider, region, created_at_ms DESC, id DESC);
    CREATE INDEX key_pairs_by_fingerprint
        ON key_pairs (account_id, provider, region, fingerprint);
    CREATE INDEX key_pairs_by_resource_group
        ON key_pairs (account_id, provider, region, resource_group_id, created_at_ms DESC, id DESC);
    -- Key pairs by tag (key, or key and value), within the scope.
    CREATE INDEX key_pair_tags_by_value
        ON key_pair_tags (account_id, provider, region, key, value);

    CREATE TABLE key_pair_counts (
        account_id  TEXT NOT NULL,
        provider    TEXT NOT NULL,
        region      TEXT NOT NULL,
        count       INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (account_id, provider, region)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO key_pair_counts (account_id, provider, region, count)
        SELECT account_id, provider, region, count(*) FROM key_pairs
        GROUP BY account_id, provider, region;

    CREATE TRIGGER key_pairs_added AFTER INSERT ON key_pairs BEGIN
        INSERT INTO key_pair_counts (account_id, provider, region, count)
            VALUES (NEW.account_id, NEW.provider, NEW.region, 1)
            ON CONFLICT (account_id, provider, region) DO UPDATE SET count = count + 1;
    END;

    CREATE TRIGGER key_pairs_removed AFTER DELETE ON key_pairs BEGIN
        UPDATE key_pair_counts SET count = count - 1
            WHERE account_id = OLD.account_id AND provider = OLD.provider
              AND region = OLD.region;
        DELETE FROM key_pair_tags
            WHERE account_id = OLD.account_id AND provider = OLD.provider
              AND region = OLD.region AND key_pair_id = OLD.id;
    END;
    "#,
    // 4: secrets at rest. Access-key secrets move to `sealed_secret` (AES-256-GCM under the
    //    master key, see `sealing.rs`); `secret` is emptied by the first open with the key,
    //    which seals what older builds stored in clear (it needs the key, so it is not SQL
    //    here). `master_key` records which key the file is sealed under, so a wrong key file
    //    is refused at open instead of failing every signature.
    r#"
    ALTER TABLE access_keys ADD COLUMN sealed_secret BLOB;

    CREATE TABLE master_key (
        singleton   INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
        key_id      TEXT NOT NULL
    ) STRICT;
    "#,
    // 5: the readiness probe's one row (`readiness.rs`), rewritten by every probe.
    r#"
    CREATE TABLE readiness_probe (
        id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        checked_at_ms   INTEGER NOT NULL
    ) STRICT;

    INSERT INTO readiness_probe (id, checked_at_ms) VALUES (1, 0);
    "#,
    // 6: access keys with a lifecycle: disabled, read-only, last used (flushed in batches).
    //    `credentials_generation` is one row that every change to a key or an account bumps in
    //    its own transaction; each node reads it often and drops its credential cache when it
    //    moved. Keys are listed per account in creation order.
    r#"
    ALTER TABLE access_keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0
        CHECK (disabled IN (0, 1));
    ALTER TABLE access_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0
        CHECK (read_only IN (0, 1));
    ALTER TABLE access_keys ADD COLUMN last_used_at_ms INTEGER;

    CREATE INDEX access_keys_by_account_created
        ON access_keys (account_id, created_at_ms, access_key_id);

    CREATE TABLE credentials_generation (
        singleton   INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
        generation  INTEGER NOT NULL
    ) STRICT;

    INSERT INTO credentials_generation (singleton, generation) VALUES (1, 0);
    "#,
    // 7: the audit trail (`audit_sql.rs` says which query each index serves). Events are a
    //    rowid table, appended to at its end: a row holds a user agent and the request's
    //    parameters (up to a public key), too large to be clustered in an index B-tree without
    //    overflow pages and frequent splits, which measured at twice a write's WAL. Every index
    //    ends in (event_time, event_id), and event IDs are time-ordered, so each grows at the
    //    end of its range. PostgreSQL's migration 6 has the same indexes.
    r#"
    CREATE TABLE audit_events (
        scope               TEXT NOT NULL,
        event_time          INTEGER NOT NULL,
        event_id            TEXT NOT NULL,
        account_id          TEXT NOT NULL,
        account_name        TEXT NOT NULL,
        source              TEXT NOT NULL,
        region              TEXT NOT NULL,
        event_name          TEXT NOT NULL,
        read_only           INTEGER NOT NULL CHECK (read_only IN (0, 1)),
        access_key_id       TEXT NOT NULL,
        resource_kind       TEXT NOT NULL,
        source_ip           TEXT NOT NULL,
        user_agent          TEXT NOT NULL,
        request_id          TEXT NOT NULL,
        request_parameters  TEXT NOT NULL,
        resources           TEXT NOT NULL,
        error_code          TEXT,
        error_message       TEXT
    ) STRICT;

    CREATE INDEX audit_events_by_scope ON audit_events (scope, event_time, event_id);
    CREATE UNIQUE INDEX audit_events_by_id ON audit_events (event_id);
    CREATE INDEX audit_events_by_name
        ON audit_events (scope, event_name, event_time, event_id);
    CREATE INDEX audit_events_by_access_key
        ON audit_events (scope, access_key_id, event_time, event_id);
    CREATE INDEX audit_events_by_read_only
        ON audit_events (scope, read_only, event_time, event_id);
    CREATE INDEX audit_events_by_resource_kind
        ON audit_events (scope, resource_kind, event_time, event_id);
    CREATE INDEX audit_events_by_account ON audit_events (account_id, event_time, event_id);
    CREATE INDEX audit_events_by_time ON audit_events (event_time, event_id);

    CREATE TABLE audit_resources (
        scope           TEXT NOT NULL,
        resource_name   TEXT NOT NULL,
        event_time      INTEGER NOT NULL,
        event_id        TEXT NOT NULL,
        PRIMARY KEY (scope, resource_name, event_time, event_id)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX audit_resources_by_time ON audit_resources (event_time, event_id);
    "#,
    // 8: fewer index entries per event. Each index an event touches is a dirty page, and a
    //    WAL frame, per group commit: recording doubled a write's WAL. Four go:
    //    - by ID: event IDs are version 7 UUIDs of the event's time, so an `EventId` lookup
    //      is one millisecond of the scope's index;
    //    - by read-only flag: read events (recorded only with `--audit-reads`) get a partial
    //      index of their own, which a write never touches; `ReadOnly=false` walks the scope;
    //    - by resource kind: every event of a LookupEvents scope but refused authentications
    //      is of its dialect's one kind, so `ResourceType` walks the scope;
    //    - the lookup rows' time index: the purge finds an event's lookup rows by their key,
    //      from the names and IDs in the event's `resources` column.
    //    The scope's index becomes unique in the ID's place: an ID is of its event's time,
    //    so (scope, time, ID) is as unique as the ID was.
    r#"
    DROP INDEX audit_events_by_id;
    DROP INDEX audit_events_by_read_only;
    DROP INDEX audit_events_by_resource_kind;
    DROP INDEX audit_resources_by_time;
    DROP INDEX audit_events_by_scope;
    CREATE UNIQUE INDEX audit_events_by_scope ON audit_events (scope, event_time, event_id);
    CREATE INDEX audit_events_reads ON audit_events (scope, event_time, event_id)
        WHERE read_only = 1;
    "#,
    // 9: a change appends its event to `audit_recent`, a table without indexes, and the writer
    //    moves the recent events into `audit_events` (and their lookup rows into
    //    `audit_resources`) in batches, where hundreds of events share each index page
    //    (`audit.rs` says why). Same columns as `audit_events`.
    r#"
    CREATE TABLE audit_recent (
        scope               TEXT NOT NULL,
        event_time          INTEGER NOT NULL,
        event_id            TEXT NOT NULL,
        account_id          TEXT NOT NULL,
        account_name        TEXT NOT NULL,
        source              TEXT NOT NULL,
        region              TEXT NOT NULL,
        event_name          TEXT NOT NULL,
        read_only           INTEGER NOT NULL CHECK (read_only IN (0, 1)),
        access_key_id       TEXT NOT NULL,
        resource_kind       TEXT NOT NULL,
        source_ip           TEXT NOT NULL,
        user_agent          TEXT NOT NULL,
        request_id          TEXT NOT NULL,
        request_parameters  TEXT NOT NULL,
        resources           TEXT NOT NULL,
        error_code          TEXT,
        error_message       TEXT
    ) STRICT;

    CREATE UNIQUE INDEX audit_recent_by_scope ON audit_recent (scope, event_time, event_id);
    "#,
];

/// The newest schema version this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the file up to [`latest_version`] and returns the versions it applied. Refuses a file
/// written by a newer build rather than guess at a schema it does not know.
pub(super) fn migrate(conn: &mut Connection) -> Outcome<Vec<i64>> {
    migrate_to(conn, latest_version())
}

/// [`migrate`], stopping at `target`: for tests of one step on a store an earlier build wrote.
/// Everything pending is applied in one `BEGIN IMMEDIATE` transaction: a file is never left
/// half-upgraded, and a fresh one is made with one commit (one fsync) instead of one per step,
/// which is most of a first start's time.
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> Outcome<Vec<i64>> {
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
    if let Some(newest) = newest.filter(|&v| v > latest_version()) {
        return Err(StoreError::Internal(format!(
            "the database has schema version {newest}, newer than this build's {}",
            latest_version()
        ))
        .into());
    }

    let mut applied_now = Vec::new();
    for (index, sql) in MIGRATIONS.iter().enumerate().take(target.max(0) as usize) {
        let version = index as i64 + 1;
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
    }
    tx.commit()?;
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
