//! Persistence for keypaird. The inventory crate owns the [`Store`](keypaird_inventory::Store)
//! trait and its invariants; this crate holds the backends that keep them and the conformance
//! suite that proves they do. SQLite is the embedded default: one file, no server, and the same
//! file can be shared by the daemon and the `keypaird accounts` CLI. PostgreSQL is for several
//! nodes sharing one inventory.
//!
//! A backend is only trusted once it passes [`conformance`]: the service never re-checks
//! uniqueness, quotas or tag limits, so a backend that gets them subtly wrong corrupts tenants'
//! inventories without any error surfacing.

mod audit_sql;
mod key_file;
mod millis;
#[cfg(test)]
mod plan_cases;
mod postgres;
mod readiness;
mod sealing;
mod sql;
mod sqlite;

#[doc(hidden)]
pub mod conformance;

pub use key_file::MasterKeyFile;
pub use postgres::PostgresStore;
pub use sealing::{KeyId, MasterKey, UnsealError};
pub use sqlite::SqliteStore;

/// Told the number of writes each group commit made durable together (SQLite's writer; the
/// PostgreSQL backend commits each write on its own and has no batches). Called on the writer
/// thread after every commit attempt, so it must be quick: a metric, not I/O. The hook keeps
/// this crate free of whoever counts (the server's metrics).
pub type GroupCommitObserver = std::sync::Arc<dyn Fn(usize) + Send + Sync>;

/// What bringing a store's schema up to date did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, oldest first; empty when the schema was already current.
    pub applied: Vec<i64>,
    /// The schema version the store is at now.
    pub version: i64,
}

/// What `rotate-master-key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The key the store was sealed under.
    pub previous: KeyId,
    /// The key it is sealed under now, in the key file.
    pub current: KeyId,
    /// Access key secrets sealed again under the new key.
    pub resealed: u64,
}
