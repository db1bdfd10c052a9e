//! The embedded backend: one SQLite file in WAL mode.
//!
//! rusqlite blocks, so nothing that can take long runs on the async runtime: writes run on a
//! dedicated writer thread (`writer.rs`) that owns the only writing connection and commits
//! whatever writes are queued together (group commit), and reads of any size on tokio's blocking
//! pool. A point lookup (a credential, a few key pairs by exact name or ID: a few B-tree descents,
//! the same cost at a hundred key pairs or a million) runs on the calling task when a reader is
//! free at that moment, because the hop to a blocking thread and back costs more than the lookup
//! itself (measured in BENCHMARKS.md). Reads use a few connections of their own so that a lookup
//! never waits behind a write's fsync; WAL lets them read the last committed state meanwhile.
//!
//! Every write runs inside a `BEGIN IMMEDIATE` transaction (its own savepoint within the
//! batch): the transaction takes the database's write lock before reading anything, so the
//! checks a write makes (name free, quota not reached, key not yet known) still hold when it
//! writes. That is what keeps the invariants when a second process (the
//! `accounts` CLI, or another daemon) writes the same file; the busy timeout makes it wait for
//! the lock instead of failing at once.
//!
//! Durability: `synchronous=FULL` fsyncs the WAL at every commit, so an acknowledged write
//! survives kill -9 and power loss, not just a process crash.

mod accounts;
mod audit;
mod failure;
mod key_pairs;
mod migrations;
mod nonces;
mod readiness;
mod rows;
mod secrets;
mod writer;

#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use keypaird_inventory::{
    AccessKeySummary, Account, AccountSummary, AuditEvent, AuditQuery, AuditResource, Credential,
    KeyPair, KeyPairPage, KeyPairQuery, KeyPairRef, NewAccessKey, NewAccount, NotReady, Scope,
    Store, StoreError, Tag, TagQuery, TagRemoval, TagRow,
};
use rusqlite::config::DbConfig;
use rusqlite::Connection;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::key_file::MasterKeyFile;
use crate::readiness::ReadinessCache;
use crate::sealing::MasterKey;
use crate::sql;
use crate::{GroupCommitObserver, MigrationReport, RotationReport};
use failure::{classify, io_unavailable, Failure, Outcome};
use writer::WriteError;

/// How long a connection waits for another process's lock before reporting `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Concurrent readers. Two cores serve the daemon; more readers would only queue on the CPU.
const READERS: usize = SqliteStore::READERS;

/// Queries come in a few dozen shapes (which filters, which page); keep them all prepared.
const STATEMENT_CACHE: usize = 64;

/// Chunks of a streamed result that may wait for their consumer.
const STREAM_DEPTH: usize = 2;

/// Page size of new files, in bytes.
const PAGE_SIZE: i64 = 8192;

/// Page cache of the writing connection, in KiB. A write touches a handful of B-trees at
/// random places (IDs and fingerprints are random); with a million key pairs their inner pages
/// alone are megabytes, and every miss is a read from the file before the page can change.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// Page cache of each reading connection, in KiB (SQLite's default). Each of the readers keeps
/// its own; larger ones were measured to buy little at a million key pairs (the leaf pages a
/// lookup reads are spread over a gigabyte whatever the cache) and to take the process past
/// its memory budget (64 MiB there: 71 MiB with 4 MiB each and a 16 MiB writer's).
const READER_CACHE_KIB: i64 = 2 * 1024;

/// A [`Store`] kept in one SQLite file.
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// The key every access key secret in the file is sealed under.
    master: Arc<MasterKey>,
    /// The queue of the writer thread, which owns the only writing connection.
    writes: StdMutex<writer::JobSender>,
    /// Idle reader connections. At most [`READERS`] exist at once because a reader is only
    /// taken while holding a permit. Readers are opened on demand (one at start), and one lost
    /// to a panic is opened again the same way.
    idle_readers: StdMutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
    readiness: ReadinessCache,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Reads that run at once, each on a thread of tokio's blocking pool.
    pub const READERS: usize = 4;

    /// Opens (creating if needed) the database at `path`, brings its schema up to date, and
    /// unlocks it with the master key in `key_file` (made on first use), sealing any secret an
    /// older build stored in clear. A key file that is not the one the store was sealed under
    /// is refused. Blocks: call it at startup, before serving, or from a blocking context.
    pub fn open(path: &Path, key_file: &MasterKeyFile) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_observed(path, key_file, None)
    }

    /// [`SqliteStore::open`], with `observer` told the size of every group commit.
    pub fn open_observed(
        path: &Path,
        key_file: &MasterKeyFile,
        observer: Option<GroupCommitObserver>,
    ) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_moving_events_at(path, key_file, observer, audit::MOVE_AT)
    }

    /// [`SqliteStore::open_observed`], with the writer moving recent audit events once
    /// `move_at` wait (tests move them after every group commit, to read the moved ones).
    fn open_moving_events_at(
        path: &Path,
        key_file: &MasterKeyFile,
        observer: Option<GroupCommitObserver>,
        move_at: i64,
    ) -> Result<SqliteStore, StoreError> {
        let (mut writer_conn, applied) = open_and_migrate(path)?;
        set_cache_size(&writer_conn, WRITER_CACHE_KIB)?;
        if !applied.is_empty() {
            tracing::info!(?applied, path = %path.display(), "SQLite store schema migrated");
        }
        let (master, _sealed) = secrets::unlock(&mut writer_conn, key_file)?;
        let (writes, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                writer::run(
                    writer_conn,
                    queue,
                    observer,
                    audit::between_batches(move_at),
                )
            })
            .map_err(|err| io_unavailable("cannot start the store's writer thread", err))?;
        // One reader now (the file must be readable, and the first read should find one); the
        // others are opened by the first reads that find none idle, off the start-up path.
        let readers = vec![open_reader(path)?];
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                master: Arc::new(master),
                writes: StdMutex::new(writes),
                idle_readers: StdMutex::new(readers),
                reader_permits: Arc::new(Semaphore::new(READERS)),
                readiness: ReadinessCache::default(),
            }),
        })
    }

    /// Creates the file if needed, brings its schema up to date and seals what is in clear,
    /// without opening a store: `keypaird migrate`. Blocks.
    pub fn migrate(path: &Path, key_file: &MasterKeyFile) -> Result<MigrationReport, StoreError> {
        let (mut conn, applied) = open_and_migrate(path)?;
        secrets::unlock(&mut conn, key_file)?;
        Ok(MigrationReport {
            applied,
            version: migrations::latest_version(),
        })
    }

    /// Seals every secret in the file under a new master key, in one transaction, and puts the
    /// new key in `key_file`: `keypaird rotate-master-key`. A process still running on the old
    /// key can no longer read or write secrets; restart it. Blocks.
    pub fn rotate_master_key(
        path: &Path,
        key_file: &MasterKeyFile,
    ) -> Result<RotationReport, StoreError> {
        let (mut conn, _applied) = open_and_migrate(path)?;
        let (old, _sealed) = secrets::unlock(&mut conn, key_file)?;
        Ok(secrets::rotate(&mut conn, &old, key_file)?)
    }

    /// The database file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// A change and its audit event in one savepoint of one group commit: `op` makes the
    /// change and names the resources it touched; the event is inserted only when the change
    /// succeeds, so the two are committed (or lost) together.
    async fn write_audited<T, F>(&self, audit: &AuditEvent, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Outcome<(T, Vec<AuditResource>)> + Send + 'static,
    {
        let mut event = audit.clone();
        self.write(move |tx| {
            let (result, resources) = op(tx)?;
            event.resources.extend(resources);
            audit::record(tx, &event)?;
            Ok(result)
        })
        .await
    }

    /// Runs `op` in a `BEGIN IMMEDIATE` transaction on the writer connection and commits if it
    /// succeeds; any error rolls everything back.
    async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
    {
        self.write_answering(op).await
    }

    /// [`write`](Self::write), answering failures as `E`.
    async fn write_answering<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
    {
        let writer_gone = || {
            E::from_failure(Failure::Refused(StoreError::Internal(
                "the store's writer thread is gone".into(),
            )))
        };
        let (job, reply) = writer::Job::queue(op);
        let queued = {
            let writes = self.shared.writes.lock().unwrap_or_else(|p| p.into_inner());
            writes.send(job)
        };
        if queued.is_err() {
            return Err(writer_gone());
        }
        reply.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Runs `op` in a read transaction (one snapshot for every query it makes) on tokio's
    /// blocking pool: for reads whose cost depends on what they match.
    async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
    {
        let permit = self
            .shared
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Internal("reader pool closed".into()))?;
        let shared = self.shared.clone();
        run_blocking(move || shared.run_read(permit, None, op)).await
    }

    /// [`read`](Self::read), except that a point lookup (`point`: a few B-tree descents whatever
    /// the store's size) runs on this task when a reader is free right now, sparing the round
    /// trip to a blocking thread; otherwise it queues like any read.
    async fn read_at<T, F>(&self, point: bool, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
    {
        // Only a point lookup may take a reader here: one taken and dropped would be lost.
        match point.then(|| self.shared.free_reader_now()).flatten() {
            Some((permit, reader)) => self
                .shared
                .run_read(permit, Some(reader), op)
                .map_err(StoreError::from),
            None => self.read(op).await,
        }
    }

    /// Runs a reading `op` that produces its result in chunks, handing each chunk to `consume`
    /// on this task while `op` reads on: the channel between them holds at most
    /// [`STREAM_DEPTH`] chunks, so memory stays bounded whatever the result's size. `op` stops
    /// when its `send` returns false (the consumer is gone, say the request was dropped).
    /// A point lookup (`point`) is read on this task when a reader is free, as in
    /// [`read_at`](Self::read_at).
    async fn stream<C, F>(
        &self,
        point: bool,
        op: F,
        consume: &mut (dyn FnMut(Vec<C>) + Send),
    ) -> Result<(), StoreError>
    where
        C: Send + 'static,
        F: FnOnce(&Connection, &mut dyn FnMut(Vec<C>) -> bool) -> Outcome<()> + Send + 'static,
    {
        if let Some((permit, reader)) = point.then(|| self.shared.free_reader_now()).flatten() {
            let send = &mut |chunk| {
                consume(chunk);
                true
            };
            return self
                .shared
                .run_read(permit, Some(reader), |conn| op(conn, send))
                .map_err(StoreError::from);
        }
        let (sender, mut chunks) = tokio::sync::mpsc::channel::<Vec<C>>(STREAM_DEPTH);
        let reading =
            self.read(move |conn| op(conn, &mut |chunk| sender.blocking_send(chunk).is_ok()));
        let consuming = async {
            while let Some(chunk) = chunks.recv().await {
                consume(chunk);
            }
        };
        let (read, ()) = tokio::join!(reading, consuming);
        read
    }
}

impl Shared {
    /// A reader and its permit if one is free at this moment, without waiting.
    fn free_reader_now(&self) -> Option<(OwnedSemaphorePermit, Connection)> {
        let permit = self.reader_permits.clone().try_acquire_owned().ok()?;
        // A permit without an idle reader: that reader is not opened yet (or was lost to a
        // panic), and the queued path opens it, off this task.
        let reader = self.take_idle_reader()?;
        Some((permit, reader))
    }

    /// Runs `op` in a read transaction on `reader` (an idle one, or a new one when `None`),
    /// holding `permit`, and keeps the reader for the next read if it came out clean. A panic
    /// in `op` is an error, not the caller's crash; its reader is dropped.
    fn run_read<T>(
        &self,
        permit: OwnedSemaphorePermit,
        reader: Option<Connection>,
        op: impl FnOnce(&Connection) -> Outcome<T>,
    ) -> Outcome<T> {
        let _permit = permit;
        let reader = match reader.or_else(|| self.take_idle_reader()) {
            Some(reader) => reader,
            None => open_reader(&self.path).map_err(Failure::Refused)?,
        };
        let result = catch_unwind(AssertUnwindSafe(|| in_read_transaction(&reader, op)))
            .unwrap_or_else(|_| {
                Err(Failure::Refused(StoreError::Internal(
                    "a store read panicked".into(),
                )))
            });
        if reader.is_autocommit() {
            self.return_idle_reader(reader);
        }
        result
    }

    fn take_idle_reader(&self) -> Option<Connection> {
        self.idle_readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn return_idle_reader(&self, reader: Connection) {
        self.idle_readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(reader);
    }
}

/// `op` between `BEGIN` and `COMMIT` (or `ROLLBACK` if it fails), both kept prepared:
/// rusqlite's `transaction()` would parse them again on every read.
fn in_read_transaction<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Outcome<T>,
) -> Outcome<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = op(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn
        .prepare_cached(end)
        .and_then(|mut stmt| stmt.execute([]));
    let value = result?;
    ended?;
    Ok(value)
}

async fn run_blocking<T, F>(op: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Outcome<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(err) => Err(StoreError::Internal(format!("store task failed: {err}"))),
    }
}

/// A writing connection on `path` (its directory made if needed), with the schema brought up
/// to date; also returns the versions applied.
fn open_and_migrate(path: &Path) -> Result<(Connection, Vec<i64>), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| io_unavailable("cannot create the store's directory", err))?;
    }
    let mut conn = open_connection(path)?;
    let applied = migrations::migrate(&mut conn)?;
    Ok((conn, applied))
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(classify)?;
    configure(&conn).map_err(StoreError::from)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    // Readers are never meant to write; make a slip fail loudly instead of bypassing the
    // writer's transaction discipline.
    conn.pragma_update(None, "query_only", true)
        .map_err(classify)?;
    set_cache_size(&conn, READER_CACHE_KIB)?;
    Ok(conn)
}

/// A negative `cache_size` is a size in KiB rather than a number of pages.
fn set_cache_size(conn: &Connection, kib: i64) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -kib)
        .map_err(classify)
}

fn configure(conn: &Connection) -> Outcome<()> {
    // First, so that every statement below already waits for other processes' locks.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: a statement's plan never depends on the values
    // bound to it. Without it SQLite marks a kept statement whose plan looked at a parameter
    // (an ORDER BY term, a GLOB pattern) as expired at every bind, and parses and plans it
    // again on every run, which was most of a lookup's cost. `sql.rs` already fixes each
    // plan by the query's shape, so nothing is lost.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // `rarray(?)`: lists bind as one parameter (see `sql.rs`).
    rusqlite::vtab::array::load_module(conn)?;
    // A new file gets pages of 8 KiB rather than 4: B-trees of a million rows then have half
    // the inner pages, which lets the small page caches (below) keep them; measured at a
    // million key pairs, 2 MiB caches on 8 KiB pages did as well as 4 MiB ones on 4 KiB pages,
    // in two thirds of the memory. An existing file keeps its page size (this does nothing
    // there); it must come before WAL, which fixes the page size.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // Switching a file to WAL can report SQLITE_BUSY at once, without calling the busy handler,
    // while another process opens the same fresh file; wait for it like the busy timeout would.
    let journal_mode: String = retry_while_busy(|| {
        conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
    })?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "the store's file system does not support WAL (journal mode is {journal_mode})"
        ))
        .into());
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Each write of a group commit runs in its own savepoint, and SQLite keeps a savepoint's
    // undo pages in a statement journal: a temporary file by default, written through system
    // calls (measured: more bytes per write than the WAL itself). In memory it costs none, and
    // it never needs to outlive the transaction. Temporary tables and sorts go there too; no
    // statement here sorts more than a page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let foreign_keys: bool = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
    if !foreign_keys {
        // Access keys are deleted with their account by ON DELETE CASCADE; without it they
        // would outlive it.
        return Err(StoreError::Internal("SQLite foreign keys cannot be enabled".into()).into());
    }
    Ok(())
}

/// Runs `op` again while it fails with SQLITE_BUSY, for at most [`BUSY_TIMEOUT`].
fn retry_while_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match op() {
            Err(err)
                if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<Account, StoreError> {
        let master = self.shared.master.clone();
        self.write_audited(audit, move |tx| {
            let created = accounts::create(tx, &account, &master)?;
            let resource = AuditResource::account(&created.id, &created.name);
            Ok((created, vec![resource]))
        })
        .await
    }

    async fn create_first_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let master = self.shared.master.clone();
        let mut event = audit.clone();
        self.write(move |tx| {
            let created = accounts::create_first(tx, &account, &master)?;
            // Nothing is recorded when an account already existed: nothing changed.
            if created {
                event
                    .resources
                    .push(AuditResource::account(&account.id, &account.name));
                audit::record(tx, &event)?;
            }
            Ok(created)
        })
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        self.read(accounts::list).await
    }

    async fn create_access_key(
        &self,
        account_name: &str,
        key: NewAccessKey,
        audit: &AuditEvent,
    ) -> Result<AccessKeySummary, StoreError> {
        let account_name = account_name.to_owned();
        let master = self.shared.master.clone();
        self.write_audited(audit, move |tx| {
            let created = accounts::create_access_key(tx, &account_name, &key, &master)?;
            let resource = AuditResource::access_key(&created.access_key_id);
            Ok((created, vec![resource]))
        })
        .await
    }

    async fn list_access_keys(
        &self,
        account_name: &str,
    ) -> Result<Vec<AccessKeySummary>, StoreError> {
        let account_name = account_name.to_owned();
        self.read(move |conn| accounts::list_access_keys(conn, &account_name))
            .await
    }

    async fn set_access_key_disabled(
        &self,
        account_name: &str,
        access_key_id: &str,
        disabled: bool,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (account_name, access_key_id) = (account_name.to_owned(), access_key_id.to_owned());
        self.write_audited(audit, move |tx| {
            accounts::set_access_key_disabled(tx, &account_name, &access_key_id, disabled)?;
            Ok(((), vec![AuditResource::access_key(&access_key_id)]))
        })
        .await
    }

    async fn delete_access_key(
        &self,
        account_name: &str,
        access_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (account_name, access_key_id) = (account_name.to_owned(), access_key_id.to_owned());
        self.write_audited(audit, move |tx| {
            accounts::delete_access_key(tx, &account_name, &access_key_id)?;
            Ok(((), vec![AuditResource::access_key(&access_key_id)]))
        })
        .await
    }

    async fn delete_account(
        &self,
        name: &str,
        force: bool,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let name = name.to_owned();
        let account_id = audit.account_id.clone();
        self.write_audited(audit, move |tx| {
            let deleted = accounts::delete_account(tx, &name, force)?;
            Ok((deleted, vec![AuditResource::account(&account_id, &name)]))
        })
        .await
    }

    async fn set_account_quota(
        &self,
        name: &str,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        let account_id = audit.account_id.clone();
        self.write_audited(audit, move |tx| {
            accounts::set_account_quota(tx, &name, quota)?;
            Ok(((), vec![AuditResource::account(&account_id, &name)]))
        })
        .await
    }

    async fn credentials_generation(&self) -> Result<i64, StoreError> {
        self.read_at(true, accounts::generation).await
    }

    async fn record_access_key_uses(
        &self,
        uses: &[(String, OffsetDateTime)],
    ) -> Result<(), StoreError> {
        let uses = uses.to_vec();
        self.write(move |tx| accounts::record_uses(tx, &uses)).await
    }

    async fn find_credential(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError> {
        let access_key_id = access_key_id.to_owned();
        let master = self.shared.master.clone();
        self.read_at(true, move |conn| {
            accounts::find_credential(conn, &access_key_id, &master)
        })
        .await
    }

    async fn credential_for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError> {
        // The common case, a key already seen, must not queue behind writes.
        if let Some(credential) = self.find_credential(access_key_id).await? {
            return Ok(credential);
        }
        let access_key_id = access_key_id.to_owned();
        let new_account_id = new_account_id.to_owned();
        let now = OffsetDateTime::now_utc();
        let master = self.shared.master.clone();
        self.write(move |tx| {
            accounts::credential_for_any_key(tx, &access_key_id, &new_account_id, now, &master)
        })
        .await
    }

    async fn insert_key_pair(
        &self,
        key_pair: &KeyPair,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let key_pair = key_pair.clone();
        self.write_audited(audit, move |tx| {
            key_pairs::insert(tx, &key_pair, quota)?;
            Ok(((), vec![AuditResource::of_key_pair(&key_pair)]))
        })
        .await
    }

    async fn visit_key_pairs(
        &self,
        query: &KeyPairQuery,
        visit: &mut (dyn FnMut(KeyPair) + Send),
    ) -> Result<(), StoreError> {
        let point = sql::is_point_lookup(query);
        let query = query.clone();
        self.stream(
            point,
            move |conn, send| key_pairs::visit(conn, &query, send),
            &mut |chunk| chunk.into_iter().for_each(&mut *visit),
        )
        .await
    }

    async fn count_key_pairs(&self, query: &KeyPairQuery) -> Result<u64, StoreError> {
        let point = sql::is_point_lookup(query);
        let query = query.clone();
        self.read_at(point, move |conn| key_pairs::count(conn, &query))
            .await
    }

    /// One read for the page and its total, so both come from one snapshot.
    async fn find_key_pairs(&self, query: &KeyPairQuery) -> Result<KeyPairPage, StoreError> {
        let point = sql::is_point_lookup(query);
        let query = query.clone();
        let op = move |conn: &Connection| {
            let mut found = Vec::new();
            key_pairs::visit(conn, &query, &mut |chunk| {
                found.extend(chunk);
                true
            })?;
            let total = match query.count_total {
                true => Some(key_pairs::count(conn, &query)?),
                false => None,
            };
            Ok(KeyPairPage {
                key_pairs: found,
                total,
            })
        };
        self.read_at(point, op).await
    }

    async fn visit_tags(
        &self,
        query: &TagQuery,
        visit: &mut (dyn FnMut(TagRow) + Send),
    ) -> Result<(), StoreError> {
        let query = query.clone();
        self.stream(
            false,
            move |conn, send| key_pairs::visit_tags(conn, &query, send),
            &mut |chunk| chunk.into_iter().for_each(&mut *visit),
        )
        .await
    }

    async fn delete_key_pair(
        &self,
        scope: &Scope,
        key_pair: &KeyPairRef,
        audit: &AuditEvent,
    ) -> Result<Option<KeyPair>, StoreError> {
        let scope = scope.clone();
        let key_pair = key_pair.clone();
        self.write_audited(audit, move |tx| {
            let deleted = key_pairs::delete_one(tx, &scope, &key_pair)?;
            let resources = deleted.iter().map(AuditResource::of_key_pair).collect();
            Ok((deleted, resources))
        })
        .await
    }

    async fn delete_key_pairs_by_name(
        &self,
        scope: &Scope,
        names: &[String],
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let scope = scope.clone();
        let names = names.to_vec();
        self.write_audited(audit, move |tx| {
            let deleted = key_pairs::delete_by_names(tx, &scope, &names)?;
            let resources = deleted
                .iter()
                .map(|(id, name)| AuditResource::key_pair(id, name, ""))
                .collect();
            Ok((deleted.len() as u64, resources))
        })
        .await
    }

    async fn add_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        tags: &[Tag],
        limit: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let scope = scope.clone();
        let key_pair_ids = key_pair_ids.to_vec();
        let tags = tags.to_vec();
        self.write_audited(audit, move |tx| {
            key_pairs::add_tags(tx, &scope, &key_pair_ids, &tags, limit)?;
            Ok(((), key_pairs::named_resources(tx, &scope, &key_pair_ids)?))
        })
        .await
    }

    async fn remove_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        removals: &[TagRemoval],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let scope = scope.clone();
        let key_pair_ids = key_pair_ids.to_vec();
        let removals = removals.to_vec();
        self.write_audited(audit, move |tx| {
            key_pairs::remove_tags(tx, &scope, &key_pair_ids, &removals)?;
            Ok(((), key_pairs::named_resources(tx, &scope, &key_pair_ids)?))
        })
        .await
    }

    async fn set_resource_group(
        &self,
        scope: &Scope,
        key_pair_id: &str,
        resource_group_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let scope = scope.clone();
        let key_pair_id = key_pair_id.to_owned();
        let resource_group_id = resource_group_id.to_owned();
        self.write_audited(audit, move |tx| {
            key_pairs::set_resource_group(tx, &scope, &key_pair_id, &resource_group_id)?;
            Ok(((), key_pairs::named_resources(tx, &scope, &[key_pair_id])?))
        })
        .await
    }

    async fn record_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.write(move |tx| events.iter().try_for_each(|event| audit::record(tx, event)))
            .await
    }

    async fn find_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let query = query.clone();
        self.read(move |conn| audit::find(conn, &query)).await
    }

    async fn purge_audit_events(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |tx| audit::purge(tx, before, limit)).await
    }

    async fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let access_key_id = access_key_id.to_owned();
        let nonce = nonce.to_owned();
        self.write(move |tx| nonces::record(tx, &access_key_id, &nonce, expires_at, now))
            .await
    }

    async fn purge_expired_nonces(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.write(move |tx| nonces::purge_expired(tx, now)).await
    }

    async fn count_nonces(&self) -> Result<u64, StoreError> {
        self.read(nonces::count).await
    }

    async fn reset_inventory(&self) -> Result<(), StoreError> {
        self.write(key_pairs::reset).await
    }

    async fn check_ready(&self) -> Result<(), NotReady> {
        self.shared
            .readiness
            .check(|| {
                let now = OffsetDateTime::now_utc();
                self.write_answering(move |tx| readiness::probe(tx, now))
            })
            .await
    }
}
