//! Persistence for keypaird. The inventory crate owns the [`Store`](keypaird_inventory::Store)
//! trait and its invariants; this crate holds the backends that keep them and the conformance
//! suite that proves they do. SQLite is the embedded default: one file, no server, and the same
//! file can be shared by the daemon and the `keypaird accounts` CLI. PostgreSQL is for several
//! nodes sharing one inventory.
//!
//! A backend is only trusted once it passes [`conformance`]: the service never re-checks
//! uniqueness, quotas or tag limits, so a backend that gets them subtly wrong corrupts tenants'
//! inventories without any error surfacing.

mod millis;
#[cfg(test)]
mod plan_cases;
mod postgres;
mod readiness;
mod sql;
mod sqlite;

#[doc(hidden)]
pub mod conformance;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What bringing a store's schema up to date did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, oldest first; empty when the schema was already current.
    pub applied: Vec<i64>,
    /// The schema version the store is at now.
    pub version: i64,
}
