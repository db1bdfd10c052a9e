//! The shared backend: one PostgreSQL database behind any number of keypaird nodes.
//!
//! **Connections.** tokio-postgres over a deadpool pool per node (`pool_size`, default 16).
//! Every operation takes a pooled connection, runs one statement or one transaction, and gives
//! it back. Transactions run at READ COMMITTED; each invariant is kept by an explicit lock or a
//! constraint rather than by SERIALIZABLE, so a lost race waits a few milliseconds instead of
//! failing and being retried. (Should the server still report a serialization failure or a
//! deadlock, 40001 or 40P01, the whole transaction is run again, up to three times.)
//!
//! **Invariants** (the [`Store`](keypaird_inventory::Store) trait's), and what keeps each one:
//! - Unique name per scope: the unique index `key_pairs_name_key`.
//! - Exact quotas across nodes: a counter row per scope in `key_pair_counts`, bumped by every
//!   insert and lowered by every delete in the same transaction. The insert's upsert of that
//!   row is also the lock that puts racing inserts into one scope in a line, so the count it
//!   reads is exact and O(1): no `count(*)` over the scope, no table lock, and scopes never
//!   wait for each other. The upsert is the insert's last statement, so the line moves at one
//!   round trip and a commit per insert. The key pair row goes in before it, so a duplicate name
//!   is reported as such even in a full scope. See `key_pairs.rs` for the lock order.
//! - A key pair and its tags together: one transaction writes both; tags reference their key
//!   pair `ON DELETE CASCADE`.
//! - Exact tag limits: tag writes lock the key pair rows `FOR UPDATE` first.
//! - Nonces: one `INSERT … ON CONFLICT … DO UPDATE … WHERE expired` on the primary key.
//! - First account: a table lock on `accounts` for the emptiness check and the insert.
//! - A change and its audit event together: every write inserts its event (with the resources
//!   it touched, e.g. the IDs a delete by name removed) as the last step of its transaction;
//!   a refused change rolls back before it. See `audit.rs` and `audit_sql.rs`.
//! - Durability: a write is acknowledged after COMMIT returns, i.e. after PostgreSQL's own
//!   durability guarantee (`synchronous_commit`, as the server is configured).
//!
//! **Migrations** run at connect (and by `keypaird migrate`) inside one transaction holding a
//! per-schema advisory lock; see `migrations.rs`. A schema newer than this build is refused.
//!
//! **Failing fast.** A request must never hang because PostgreSQL is away. Opening a
//! connection is bounded (TCP connect and the whole start-up, 3 s each), so is waiting for a
//! free pooled connection (3 s) and every operation as a whole ([`OPERATION_TIMEOUT`]); the
//! kernel gives up on unacknowledged data after 10 s (`tcp_user_timeout`). All of these come
//! back as `StoreError::Unavailable`, which the dialects answer with a retryable 503, as do
//! server-side outage codes (connection failures, admin shutdown 57P01, too many connections,
//! ...). A connection that timed out is discarded rather than reused.
//!
//! **Recovery** needs no restart: a pooled connection found closed when it is next taken out is
//! dropped and a new one opened (deadpool's `Fast` recycling checks `is_closed`, which a
//! shutdown or a reset connection sets). The first request after an outage may still meet a
//! dead connection the client had not noticed; it fails with `Unavailable`, and that
//! connection is then discarded too.
//!
//! **TLS and the URL.** `postgres://user:password@host:port/db?schema=NAME&sslmode=...`; see
//! `config.rs` for what is read. TLS (rustls on aws-lc-rs) is used when `sslmode` is
//! `require`, `verify-ca` or `verify-full`, and then always verifies the certificate and host
//! name against the platform's roots or `sslrootcert=PATH`; otherwise connections are plain.

mod accounts;
mod audit;
mod config;
mod failure;
mod key_pairs;
mod migrations;
mod nonces;
mod readiness;
mod rows;
mod secrets;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use keypaird_inventory::{
    AccessKeySummary, Account, AccountSummary, AuditEvent, AuditQuery, AuditResource, Credential,
    KeyPair, KeyPairQuery, KeyPairRef, NewAccessKey, NewAccount, NotReady, Scope, Store,
    StoreError, Tag, TagQuery, TagRemoval, TagRow,
};
use time::OffsetDateTime;

use crate::key_file::MasterKeyFile;
use crate::readiness::ReadinessCache;
use crate::sealing::MasterKey;
use crate::{MigrationReport, RotationReport};
use config::Settings;
use failure::{pool_error, Failure, OperationError, Outcome};

/// Longest wait for a pooled connection when all are busy, and longest time to open a new one
/// (TCP, TLS, authentication).
const POOL_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest a single store operation may take, lock waits included. Far above any real
/// operation (milliseconds), it only ends those stuck on a server that stopped answering.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Migrations may wait for another node's migration to finish, and a step may rewrite a
/// table: adding the generated `scope` column to a million key pairs and rebuilding their
/// indexes takes tens of seconds here. Connecting is still bounded by [`POOL_TIMEOUT`], so an
/// unreachable server is reported as fast as ever.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Runs of one transaction when the server reports a lost race (40001, 40P01).
const ATTEMPTS: u32 = 3;

/// A [`Store`] kept in a PostgreSQL database, shareable by several nodes.
pub struct PostgresStore {
    pool: Pool,
    schema: Option<String>,
    readiness: ReadinessCache,
    /// The key every access key secret in the schema is sealed under; every node needs the
    /// same one.
    master: MasterKey,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` (an expression of type `Outcome<T>` using the pooled connection `$client`)
/// within [`OPERATION_TIMEOUT`], running it again when PostgreSQL reports a lost race. A
/// connection whose operation timed out is detached from the pool and closed. Failures are
/// answered as `StoreError`, or as the [`OperationError`] named after `as`.
macro_rules! on_connection {
    ($store:expr, $client:ident => $body:expr) => {
        on_connection!($store, as StoreError, $client => $body)
    };
    ($store:expr, as $error:ty, $client:ident => $body:expr) => {{
        let mut attempt = 1u32;
        loop {
            #[allow(unused_mut)]
            let mut $client = match $store.pool.get().await {
                Ok(client) => client,
                Err(err) => break Err(<$error as OperationError>::from_pool(err)),
            };
            let outcome = ::tokio::time::timeout(OPERATION_TIMEOUT, async {
                let outcome: Outcome<_> = $body;
                outcome
            })
            .await;
            match outcome {
                Ok(Ok(value)) => break Ok(value),
                Ok(Err(failure)) if failure.is_retryable() && attempt < ATTEMPTS => {
                    attempt += 1;
                }
                Ok(Err(failure)) => break Err(<$error as OperationError>::from_failure(failure)),
                Err(_elapsed) => {
                    drop(Object::take($client));
                    break Err(<$error as OperationError>::timed_out(OPERATION_TIMEOUT));
                }
            }
        }
    }};
}

/// Like [`on_connection!`], with `$tx` a transaction that is committed when `$body` succeeds
/// and rolled back when it fails.
macro_rules! in_transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        in_transaction!($store, as StoreError, $tx => $body)
    };
    ($store:expr, as $error:ty, $tx:ident => $body:expr) => {
        on_connection!($store, as $error, client => async {
            let $tx = client.transaction().await?;
            let value = $body?;
            $tx.commit().await?;
            Ok::<_, Failure>(value)
        }
        .await)
    };
}

impl PostgresStore {
    /// Connects to the database the URL names, brings its schema up to date (waiting for any
    /// other node doing the same), unlocks it with the master key in `key_file` (made when the
    /// schema records no key yet and the file does not exist), and returns the store. Fails
    /// with `Unavailable` within a few seconds when PostgreSQL cannot be reached, and with
    /// `Internal` for a URL or schema this build cannot use, or a key file that is not the one
    /// the schema was sealed under.
    pub async fn connect(url: &str, key_file: &MasterKeyFile) -> Result<PostgresStore, StoreError> {
        Ok(Self::connect_and_migrate(url, key_file).await?.0)
    }

    /// [`connect`](Self::connect), also saying which migrations it applied.
    pub async fn connect_and_migrate(
        url: &str,
        key_file: &MasterKeyFile,
    ) -> Result<(PostgresStore, MigrationReport), StoreError> {
        let settings = Settings::parse(url)?;
        let pool = Self::open_pool(&settings)?;
        let report = apply_migrations(&pool, settings.schema.as_deref()).await?;
        if !report.applied.is_empty() {
            tracing::info!(
                applied = ?report.applied,
                version = report.version,
                "PostgreSQL store schema migrated"
            );
        }
        let master = unlock(&pool, settings.schema.as_deref(), key_file).await?;
        let store = PostgresStore {
            pool,
            schema: settings.schema,
            readiness: ReadinessCache::default(),
            master,
        };
        Ok((store, report))
    }

    /// Applies pending migrations and disconnects: `keypaird migrate`.
    pub async fn migrate(
        url: &str,
        key_file: &MasterKeyFile,
    ) -> Result<MigrationReport, StoreError> {
        let (store, report) = Self::connect_and_migrate(url, key_file).await?;
        store.pool.close();
        Ok(report)
    }

    /// Seals every secret in the schema under a new master key, in one transaction, puts the
    /// new key in `key_file`, and disconnects: `keypaird rotate-master-key`. Nodes still
    /// running on the old key can no longer read or write secrets; each needs the new key file
    /// and a restart.
    pub async fn rotate_master_key(
        url: &str,
        key_file: &MasterKeyFile,
    ) -> Result<RotationReport, StoreError> {
        let (store, _report) = Self::connect_and_migrate(url, key_file).await?;
        let mut client = store.client().await?;
        let rotated = tokio::time::timeout(
            MIGRATION_TIMEOUT,
            secrets::rotate(&mut client, store.schema(), &store.master, key_file),
        )
        .await;
        drop(client);
        store.pool.close();
        match rotated {
            Ok(outcome) => outcome.map_err(StoreError::from),
            Err(_elapsed) => Err(StoreError::Unavailable(format!(
                "rotating the master key did not finish within {} s",
                MIGRATION_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Checks a store URL without connecting: everything [`connect`](Self::connect) would
    /// refuse before reaching the server (syntax, unknown parameters, a bad schema name, an
    /// unreadable `sslrootcert`).
    pub fn check_url(url: &str) -> Result<(), StoreError> {
        Settings::parse(url)?.connector().map(drop)
    }

    /// The schema the URL named, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    fn open_pool(settings: &Settings) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            settings.pg.clone(),
            settings.connector()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|err| StoreError::Internal(format!("cannot build the PostgreSQL pool: {err}")))
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs one read statement and hands its rows to `each` as they arrive from the server, so
    /// a result of any size is never held whole. Unlike [`on_connection!`] it is not retried
    /// (rows may already have been handed on), and the time limit applies to each wait for the
    /// server, not to the whole stream: a long reply is fine, a stalled one is not.
    async fn stream_rows(
        &self,
        statement: &crate::sql::Statement,
        each: &mut (dyn FnMut(&tokio_postgres::Row) -> Outcome<()> + Send),
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let streamed: Result<Outcome<()>, tokio::time::error::Elapsed> = async {
            let prepared = match tokio::time::timeout(
                OPERATION_TIMEOUT,
                client.prepare_cached(&statement.sql),
            )
            .await?
            {
                Ok(prepared) => prepared,
                Err(err) => return Ok(Err(err.into())),
            };
            let params = key_pairs::sql_params(&statement.params);
            let rows =
                match tokio::time::timeout(OPERATION_TIMEOUT, client.query_raw(&prepared, params))
                    .await?
                {
                    Ok(rows) => rows,
                    Err(err) => return Ok(Err(err.into())),
                };
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = tokio::time::timeout(OPERATION_TIMEOUT, rows.next()).await? {
                let handled = match row {
                    Ok(row) => each(&row),
                    Err(err) => Err(err.into()),
                };
                if let Err(failure) = handled {
                    return Ok(Err(failure));
                }
            }
            Ok(Ok(()))
        }
        .await;
        match streamed {
            Ok(outcome) => outcome.map_err(StoreError::from),
            Err(_elapsed) => {
                drop(Object::take(client));
                Err(StoreError::Unavailable(format!(
                    "PostgreSQL did not answer within {} s",
                    OPERATION_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

async fn apply_migrations(
    pool: &Pool,
    schema: Option<&str>,
) -> Result<MigrationReport, StoreError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    match tokio::time::timeout(MIGRATION_TIMEOUT, migrations::migrate(&mut client, schema)).await {
        Ok(outcome) => outcome.map_err(StoreError::from),
        Err(_elapsed) => {
            drop(Object::take(client));
            Err(StoreError::Unavailable(format!(
                "migrating the PostgreSQL schema did not finish within {} s",
                MIGRATION_TIMEOUT.as_secs()
            )))
        }
    }
}

/// The schema's master key, with what older builds stored in clear sealed under it. Bounded
/// like a migration: it may wait for another node's, and seals every plaintext row at once.
async fn unlock(
    pool: &Pool,
    schema: Option<&str>,
    key_file: &MasterKeyFile,
) -> Result<MasterKey, StoreError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    match tokio::time::timeout(
        MIGRATION_TIMEOUT,
        secrets::unlock(&mut client, schema, key_file),
    )
    .await
    {
        Ok(outcome) => outcome.map_err(StoreError::from),
        Err(_elapsed) => {
            drop(Object::take(client));
            Err(StoreError::Unavailable(format!(
                "unlocking the PostgreSQL store did not finish within {} s",
                MIGRATION_TIMEOUT.as_secs()
            )))
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<Account, StoreError> {
        in_transaction!(self, tx => async {
            let created = accounts::create(&tx, &account, &self.master).await?;
            let resource = AuditResource::account(&created.id, &created.name);
            record(&tx, audit, vec![resource]).await?;
            Ok::<_, Failure>(created)
        }
        .await)
    }

    async fn create_first_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, tx => async {
            let created = accounts::create_first(&tx, &account, &self.master).await?;
            // Nothing is recorded when an account already existed: nothing changed.
            if created {
                let resource = AuditResource::account(&account.id, &account.name);
                record(&tx, audit, vec![resource]).await?;
            }
            Ok::<_, Failure>(created)
        }
        .await)
    }

    async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        on_connection!(self, client => accounts::list(&client).await)
    }

    async fn create_access_key(
        &self,
        account_name: &str,
        key: NewAccessKey,
        audit: &AuditEvent,
    ) -> Result<AccessKeySummary, StoreError> {
        in_transaction!(self, tx => async {
            let created =
                accounts::create_access_key(&tx, account_name, &key, &self.master).await?;
            let resource = AuditResource::access_key(&created.access_key_id);
            record(&tx, audit, vec![resource]).await?;
            Ok::<_, Failure>(created)
        }
        .await)
    }

    async fn list_access_keys(
        &self,
        account_name: &str,
    ) -> Result<Vec<AccessKeySummary>, StoreError> {
        on_connection!(self, client => accounts::list_access_keys(&client, account_name).await)
    }

    async fn set_access_key_disabled(
        &self,
        account_name: &str,
        access_key_id: &str,
        disabled: bool,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            accounts::set_access_key_disabled(&tx, account_name, access_key_id, disabled).await?;
            record(&tx, audit, vec![AuditResource::access_key(access_key_id)]).await
        }
        .await)
    }

    async fn delete_access_key(
        &self,
        account_name: &str,
        access_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            accounts::delete_access_key(&tx, account_name, access_key_id).await?;
            record(&tx, audit, vec![AuditResource::access_key(access_key_id)]).await
        }
        .await)
    }

    async fn delete_account(
        &self,
        name: &str,
        force: bool,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        in_transaction!(self, tx => async {
            let deleted = accounts::delete_account(&tx, name, force).await?;
            record(&tx, audit, vec![AuditResource::account("", name)]).await?;
            Ok::<_, Failure>(deleted)
        }
        .await)
    }

    async fn set_account_quota(
        &self,
        name: &str,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            accounts::set_account_quota(&tx, name, quota).await?;
            record(&tx, audit, vec![AuditResource::account("", name)]).await
        }
        .await)
    }

    async fn credentials_generation(&self) -> Result<i64, StoreError> {
        on_connection!(self, client => accounts::generation(&client).await)
    }

    async fn record_access_key_uses(
        &self,
        uses: &[(String, OffsetDateTime)],
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => accounts::record_uses(&tx, uses).await)
    }

    async fn find_credential(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError> {
        on_connection!(self, client => {
            accounts::find_credential(&client, access_key_id, &self.master).await
        })
    }

    async fn credential_for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError> {
        // The common case, a key already seen, is one read.
        if let Some(credential) = self.find_credential(access_key_id).await? {
            return Ok(credential);
        }
        let now = OffsetDateTime::now_utc();
        in_transaction!(self, tx => {
            accounts::credential_for_any_key(&tx, access_key_id, new_account_id, now, &self.master)
                .await
        })
    }

    async fn insert_key_pair(
        &self,
        key_pair: &KeyPair,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            key_pairs::insert(&tx, key_pair, quota).await?;
            record(&tx, audit, vec![AuditResource::of_key_pair(key_pair)]).await
        }
        .await)
    }

    async fn visit_key_pairs(
        &self,
        query: &KeyPairQuery,
        visit: &mut (dyn FnMut(KeyPair) + Send),
    ) -> Result<(), StoreError> {
        let Some(statement) = key_pairs::select(query) else {
            return Ok(());
        };
        self.stream_rows(&statement, &mut |row| {
            visit(rows::key_pair_from_row(row)?);
            Ok(())
        })
        .await
    }

    async fn count_key_pairs(&self, query: &KeyPairQuery) -> Result<u64, StoreError> {
        on_connection!(self, client => key_pairs::count(&client, query).await)
    }

    async fn visit_tags(
        &self,
        query: &TagQuery,
        visit: &mut (dyn FnMut(TagRow) + Send),
    ) -> Result<(), StoreError> {
        let Some(statement) = key_pairs::select_tags(query) else {
            return Ok(());
        };
        self.stream_rows(&statement, &mut |row| {
            visit(TagRow {
                key_pair_id: rows::column(row, 0, "key_pair_tags.key_pair_id")?,
                key_pair_name: rows::column(row, 1, "key_pairs.name")?,
                key: rows::column(row, 2, "key_pair_tags.key")?,
                value: rows::column(row, 3, "key_pair_tags.value")?,
            });
            Ok(())
        })
        .await
    }

    async fn delete_key_pair(
        &self,
        scope: &Scope,
        key_pair: &KeyPairRef,
        audit: &AuditEvent,
    ) -> Result<Option<KeyPair>, StoreError> {
        in_transaction!(self, tx => async {
            let deleted = key_pairs::delete_one(&tx, scope, key_pair).await?;
            let resources = deleted.iter().map(AuditResource::of_key_pair).collect();
            record(&tx, audit, resources).await?;
            Ok::<_, Failure>(deleted)
        }
        .await)
    }

    async fn delete_key_pairs_by_name(
        &self,
        scope: &Scope,
        names: &[String],
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        in_transaction!(self, tx => async {
            let deleted = key_pairs::delete_by_names(&tx, scope, names).await?;
            let resources = deleted
                .iter()
                .map(|(id, name)| AuditResource::key_pair(id, name, ""))
                .collect();
            record(&tx, audit, resources).await?;
            Ok::<_, Failure>(deleted.len() as u64)
        }
        .await)
    }

    async fn add_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        tags: &[Tag],
        limit: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            key_pairs::add_tags(&tx, scope, key_pair_ids, tags, limit).await?;
            record(&tx, audit, AuditResource::key_pair_ids(key_pair_ids)).await
        }
        .await)
    }

    async fn remove_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        removals: &[TagRemoval],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            key_pairs::remove_tags(&tx, scope, key_pair_ids, removals).await?;
            record(&tx, audit, AuditResource::key_pair_ids(key_pair_ids)).await
        }
        .await)
    }

    async fn set_resource_group(
        &self,
        scope: &Scope,
        key_pair_id: &str,
        resource_group_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        in_transaction!(self, tx => async {
            key_pairs::set_resource_group(&tx, scope, key_pair_id, resource_group_id).await?;
            let resources = AuditResource::key_pair_ids(&[key_pair_id.to_owned()]);
            record(&tx, audit, resources).await
        }
        .await)
    }

    async fn record_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        in_transaction!(self, tx => async {
            for event in events {
                audit::record(&tx, event).await?;
            }
            Ok::<_, Failure>(())
        }
        .await)
    }

    async fn find_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        on_connection!(self, client => audit::find(&client, query).await)
    }

    async fn purge_audit_events(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        in_transaction!(self, tx => audit::purge(&tx, before, limit).await)
    }

    async fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_connection!(self, client => {
            nonces::record(&client, access_key_id, nonce, expires_at, now).await
        })
    }

    async fn purge_expired_nonces(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        on_connection!(self, client => nonces::purge_expired(&client, now).await)
    }

    async fn count_nonces(&self) -> Result<u64, StoreError> {
        on_connection!(self, client => nonces::count(&client).await)
    }

    async fn reset_inventory(&self) -> Result<(), StoreError> {
        on_connection!(self, client => key_pairs::reset(&client).await)
    }

    async fn check_ready(&self) -> Result<(), NotReady> {
        self.readiness
            .check(|| async {
                let now = OffsetDateTime::now_utc();
                in_transaction!(self, as NotReady, tx => readiness::probe(&tx, now).await)
            })
            .await
    }
}

/// Records `audit` in the change's transaction, with the resources the change touched.
async fn record(
    tx: &deadpool_postgres::Transaction<'_>,
    audit: &AuditEvent,
    resources: Vec<AuditResource>,
) -> Outcome<()> {
    let mut event = audit.clone();
    event.resources.extend(resources);
    audit::record(tx, &event).await
}
