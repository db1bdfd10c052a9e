//! The schema only moves forward, one numbered step at a time; steps are never edited once
//! released, a change is a new step appended to [`MIGRATIONS`]. (The numbering is this
//! backend's own: SQLite's steps are a separate list.)
//!
//! Several nodes may start at the same moment against a fresh database. Every node therefore
//! migrates inside one transaction that first takes a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`) keyed on the schema, and only then reads which versions are
//! applied: the first node applies the missing steps and commits, which releases the lock; the
//! others wait for it, then find nothing left to do. PostgreSQL's DDL is transactional, so a
//! node that dies half-way leaves nothing half-applied. The lock is keyed per schema, so test
//! runs in different schemas of one database never wait for each other.
//!
//! Text columns use the "C" collation: names and IDs compare and sort byte by byte, exactly as
//! in SQLite, whatever the database's default collation is.

use keypaird_inventory::StoreError;
use time::OffsetDateTime;

use super::failure::Outcome;
use super::rows::{column, to_millis};
use crate::MigrationReport;

/// Advisory locks are two 32-bit keys; the first says "keypaird" ("kpd" in ASCII) so that
/// other applications' advisory locks on the same database cannot collide with ours.
pub(super) const LOCK_CLASS: i32 = 0x006b_7064;

/// Step `i` of this list is schema version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, access keys, key pairs and their tags, the per-scope key pair counters, and
    //    the record of used signature nonces.
    r#"
    CREATE TABLE accounts (
        id              text COLLATE "C" NOT NULL PRIMARY KEY,
        name            text COLLATE "C" NOT NULL,
        key_pair_quota  bigint CHECK (key_pair_quota IS NULL OR key_pair_quota >= 0),
        created_at_ms   bigint NOT NULL,
        CONSTRAINT accounts_name_key UNIQUE (name)
    );

    CREATE TABLE access_keys (
        access_key_id   text COLLATE "C" NOT NULL PRIMARY KEY,
        account_id      text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        secret          text,
        created_at_ms   bigint NOT NULL
    );

    CREATE INDEX access_keys_by_account ON access_keys (account_id, access_key_id);

    -- How many key pairs each scope holds. Every insert and delete of a key pair updates its
    -- scope's row in the same transaction, so the row is both the count (no count(*)) and the
    -- lock that serialises racing inserts into one scope, on any number of nodes.
    CREATE TABLE key_pair_counts (
        account_id  text COLLATE "C" NOT NULL,
        provider    text COLLATE "C" NOT NULL,
        region      text COLLATE "C" NOT NULL,
        count       bigint NOT NULL CHECK (count >= 0),
        PRIMARY KEY (account_id, provider, region)
    );

    CREATE TABLE key_pairs (
        id                  text COLLATE "C" NOT NULL PRIMARY KEY,
        account_id          text COLLATE "C" NOT NULL,
        provider            text COLLATE "C" NOT NULL,
        region              text COLLATE "C" NOT NULL,
        name                text COLLATE "C" NOT NULL,
        key_type            text COLLATE "C" NOT NULL,
        fingerprint         text NOT NULL,
        public_key          text NOT NULL,
        created_at_ms       bigint NOT NULL,
        resource_group_id   text COLLATE "C" NOT NULL DEFAULT '',
        CONSTRAINT key_pairs_name_key UNIQUE (account_id, provider, region, name)
    );

    CREATE INDEX key_pairs_newest_first
        ON key_pairs (account_id, provider, region, created_at_ms DESC, id DESC);

    CREATE TABLE key_pair_tags (
        key_pair_id text COLLATE "C" NOT NULL REFERENCES key_pairs (id) ON DELETE CASCADE,
        position    bigint NOT NULL,
        key         text COLLATE "C" NOT NULL,
        value       text NOT NULL,
        PRIMARY KEY (key_pair_id, key),
        UNIQUE (key_pair_id, position)
    );

    CREATE TABLE request_nonces (
        access_key_id   text COLLATE "C" NOT NULL,
        nonce           text COLLATE "C" NOT NULL,
        expires_at_ms   bigint NOT NULL,
        PRIMARY KEY (access_key_id, nonce)
    );

    CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at_ms);
    "#,
    // 2: lookups whose plans do not depend on statistics. Without them (a fresh table, or
    //    right after a bulk load) the planner multiplies a default selectivity per equality,
    //    so a scope written as three columns looks like a single row, every index of the
    //    scope looks equally good, and a lookup may walk the whole scope. One `scope` column
    //    (generated, so it cannot disagree with the three) is one equality: the planner then
    //    prefers the index that also matches the name, fingerprint or tag. Every index leads
    //    with it; tags carry their key pair's scope, so a lookup by tag is one index range.
    r#"
    ALTER TABLE key_pairs ADD COLUMN scope text COLLATE "C" NOT NULL
        GENERATED ALWAYS AS (account_id || '/' || provider || '/' || region) STORED;

    ALTER TABLE key_pairs DROP CONSTRAINT key_pairs_name_key;
    ALTER TABLE key_pairs ADD CONSTRAINT key_pairs_name_key UNIQUE (scope, name);

    DROP INDEX key_pairs_newest_first;
    CREATE INDEX key_pairs_newest_first ON key_pairs (scope, created_at_ms DESC, id DESC);
    CREATE INDEX key_pairs_by_fingerprint ON key_pairs (scope, fingerprint);
    CREATE INDEX key_pairs_by_resource_group
        ON key_pairs (scope, resource_group_id, created_at_ms DESC, id DESC);

    ALTER TABLE key_pair_tags ADD COLUMN scope text COLLATE "C";
    UPDATE key_pair_tags t SET scope = k.scope FROM key_pairs k WHERE k.id = t.key_pair_id;
    ALTER TABLE key_pair_tags ALTER COLUMN scope SET NOT NULL;

    -- Key pairs by tag (key, or key and value), within the scope.
    CREATE INDEX key_pair_tags_by_value ON key_pair_tags (scope, key, value);
    -- A scope's tags in (key pair, key) order: EC2 DescribeTags and ECS ListTagResources pages.
    CREATE INDEX key_pair_tags_in_scope ON key_pair_tags (scope, key_pair_id, key, value);
    "#,
    // 3: secrets at rest. Access-key secrets move to `sealed_secret` (AES-256-GCM under the
    //    master key, see `sealing.rs`); `secret` is emptied by the first node that opens the
    //    schema with the key (it needs the key, so it is not SQL here). `master_key` records
    //    which key the schema is sealed under, so a node with another key file is refused at
    //    start instead of failing every signature.
    r#"
    ALTER TABLE access_keys ADD COLUMN sealed_secret bytea;

    CREATE TABLE master_key (
        singleton   smallint NOT NULL PRIMARY KEY CHECK (singleton = 1),
        key_id      text NOT NULL
    );
    "#,
    // 4: the readiness probe's one row (`readiness.rs`), which every probe of every node
    //    rewrites.
    r#"
    CREATE TABLE readiness_probe (
        id              smallint NOT NULL PRIMARY KEY CHECK (id = 1),
        checked_at_ms   bigint NOT NULL
    );

    INSERT INTO readiness_probe (id, checked_at_ms) VALUES (1, 0);
    "#,
    // 5: access keys with a lifecycle: disabled, read-only, last used (flushed in batches).
    //    `credentials_generation` is one row that every change to a key or an account bumps in
    //    its own transaction; every node reads it often and drops its credential cache when
    //    it moved. Keys are listed per account in creation order.
    r#"
    ALTER TABLE access_keys ADD COLUMN disabled boolean NOT NULL DEFAULT false;
    ALTER TABLE access_keys ADD COLUMN read_only boolean NOT NULL DEFAULT false;
    ALTER TABLE access_keys ADD COLUMN last_used_at_ms bigint;

    CREATE INDEX access_keys_by_account_created
        ON access_keys (account_id, created_at_ms, access_key_id);

    CREATE TABLE credentials_generation (
        singleton   smallint NOT NULL PRIMARY KEY CHECK (singleton = 1),
        generation  bigint NOT NULL
    );

    INSERT INTO credentials_generation (singleton, generation) VALUES (1, 0);
    "#,
    // 6: the audit trail (`audit_sql.rs` says which query each index serves): the same tables
    //    and indexes as SQLite's migration 7. Times are bigint milliseconds, as everywhere.
    r#"
    CREATE TABLE audit_events (
        scope               text NOT NULL,
        event_time          bigint NOT NULL,
        event_id            text NOT NULL,
        account_id          text NOT NULL,
        account_name        text NOT NULL,
        source              text NOT NULL,
        region              text NOT NULL,
        event_name          text NOT NULL,
        read_only           smallint NOT NULL CHECK (read_only IN (0, 1)),
        access_key_id       text NOT NULL,
        resource_kind       text NOT NULL,
        source_ip           text NOT NULL,
        user_agent          text NOT NULL,
        request_id          text NOT NULL,
        request_parameters  text NOT NULL,
        resources           text NOT NULL,
        error_code          text,
        error_message       text,
        PRIMARY KEY (scope, event_time, event_id)
    );

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
        scope           text NOT NULL,
        resource_name   text NOT NULL,
        event_time      bigint NOT NULL,
        event_id        text NOT NULL,
        PRIMARY KEY (scope, resource_name, event_time, event_id)
    );

    CREATE INDEX audit_resources_by_time ON audit_resources (event_time, event_id);
    "#,
    // 7: fewer index entries per event, as SQLite's migration 8 (which says why each goes):
    //    event IDs are found in the primary key by their time, read events get a partial
    //    index, `ResourceType` walks the scope, and the purge finds lookup rows by their key.
    r#"
    DROP INDEX audit_events_by_id;
    DROP INDEX audit_events_by_read_only;
    DROP INDEX audit_events_by_resource_kind;
    DROP INDEX audit_resources_by_time;
    CREATE INDEX audit_events_reads ON audit_events (scope, event_time, event_id)
        WHERE read_only = 1;
    "#,
];

/// The newest schema version this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to [`latest_version`], creating `schema` first when one was named and
/// does not exist yet. Refuses a schema written by a newer build rather than guess at tables it
/// does not know.
pub(super) async fn migrate(
    client: &mut deadpool_postgres::Client,
    schema: Option<&str>,
) -> Outcome<MigrationReport> {
    migrate_to(client, schema, latest_version()).await
}

/// [`migrate`], stopping at `target`: for tests of one step on a schema an earlier build wrote.
pub(super) async fn migrate_to(
    client: &mut deadpool_postgres::Client,
    schema: Option<&str>,
    target: i64,
) -> Outcome<MigrationReport> {
    let tx = client.transaction().await?;
    // IF NOT EXISTS on a current schema would log a NOTICE at every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext('keypaird-migrate:' \
         || coalesce($2::text, current_schema()::text, '')))",
        &[&LOCK_CLASS, &schema],
    )
    .await?;
    if let Some(schema) = schema {
        // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
        // database even when the schema exists, which a least-privilege role may lack.
        let exists: bool = column(
            &tx.query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .await?,
            0,
            "pg_namespace",
        )?;
        if !exists {
            // The name was checked to be a plain lowercase identifier when the URL was parsed.
            tx.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                .await?;
        }
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version         bigint NOT NULL PRIMARY KEY,
            applied_at_ms   bigint NOT NULL
        )",
    )
    .await?;
    let newest: Option<i64> = column(
        &tx.query_one("SELECT max(version) FROM schema_migrations", &[])
            .await?,
        0,
        "schema_migrations.version",
    )?;
    let newest = newest.unwrap_or(0);
    if newest > latest_version() {
        return Err(StoreError::Internal(format!(
            "the database has schema version {newest}, newer than this build's {}: \
             run a keypaird at least as new as the one that migrated it",
            latest_version()
        ))
        .into());
    }
    let mut applied = Vec::new();
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= newest || version > target {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
            &[&version, &to_millis(OffsetDateTime::now_utc())?],
        )
        .await?;
        tracing::info!(version, "applied store schema migration");
        applied.push(version);
    }
    tx.commit().await?;
    Ok(MigrationReport {
        applied,
        version: latest_version(),
    })
}
