//! PostgreSQL reports trouble in three shapes: a SQLSTATE from the server, a transport error
//! from the client (refused, reset, closed, timed out), and pool errors (no connection could be
//! had in time). The service only needs to know "retry later" (`Unavailable`, a 503) from
//! "something is wrong with us" (`Internal`, a 500). Domain refusals (quota, duplicates) travel
//! through the same channel as database errors inside a transaction, so that `?` abandons the
//! transaction either way.
//!
//! Messages carry the SQLSTATE and the server's message, never its `DETAIL`, which may quote row
//! contents.

use std::error::Error as _;
use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};
use keypaird_inventory::StoreError;
use tokio_postgres::error::SqlState;

/// Why a store operation stopped: a refusal the caller must see as-is, or a database error
/// still to be classified.
#[derive(Debug)]
pub(super) enum Failure {
    Refused(StoreError),
    Database(tokio_postgres::Error),
}

pub(super) type Outcome<T> = Result<T, Failure>;

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Refused(err)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(err: tokio_postgres::Error) -> Self {
        Failure::Database(err)
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(err) => err,
            Failure::Database(err) => classify(&err),
        }
    }
}

impl Failure {
    /// Whether the server rolled the whole transaction back because it lost a race
    /// (serialization failure or deadlock), so running it again is safe and may succeed.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Failure::Database(err) => matches!(
                err.code(),
                Some(&SqlState::T_R_SERIALIZATION_FAILURE | &SqlState::T_R_DEADLOCK_DETECTED)
            ),
            Failure::Refused(_) => false,
        }
    }
}

/// A stored value this build cannot interpret. The message names the column, never the value.
pub(super) fn corrupt(what: &str) -> Failure {
    Failure::Refused(StoreError::Internal(format!("corrupt store: {what}")))
}

/// The unique or primary key constraint an insert violated, if that is what happened.
pub(super) fn violated_constraint(err: &tokio_postgres::Error) -> Option<&str> {
    let db = err.as_db_error()?;
    if *db.code() == SqlState::UNIQUE_VIOLATION {
        db.constraint()
    } else {
        None
    }
}

/// What the client reported, in the shapes both classifications (the operation's
/// [`StoreError`], the readiness probe's cause) tell apart.
pub(super) enum ErrorKind<'a> {
    /// The server answered with an error and its SQLSTATE.
    Server(&'a tokio_postgres::error::DbError),
    /// The connection is closed.
    Closed,
    /// A certificate the server presents that we do not trust: a configuration problem, not
    /// an outage, and retrying will not help.
    Tls,
    /// Refused, reset, timed out: the network or the server went away.
    Transport,
    /// Anything else the client refused (a value it cannot encode or decode, say).
    Client,
}

pub(super) fn kind(err: &tokio_postgres::Error) -> ErrorKind<'_> {
    if let Some(db) = err.as_db_error() {
        return ErrorKind::Server(db);
    }
    if err.is_closed() {
        return ErrorKind::Closed;
    }
    match io_cause(err) {
        Some(io) if tls_cause(io).is_some() => ErrorKind::Tls,
        Some(_) => ErrorKind::Transport,
        None => ErrorKind::Client,
    }
}

/// How an error is told: the SQLSTATE and the server's message, or the client error with its
/// causes.
pub(super) fn message(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("PostgreSQL {}: {}", db.code().code(), db.message()),
        None => describe(err),
    }
}

pub(super) fn classify(err: &tokio_postgres::Error) -> StoreError {
    let message = message(err);
    match kind(err) {
        ErrorKind::Server(db) if is_transient(db.code().code()) => StoreError::Unavailable(message),
        ErrorKind::Closed | ErrorKind::Transport => StoreError::Unavailable(message),
        ErrorKind::Server(_) | ErrorKind::Tls | ErrorKind::Client => StoreError::Internal(message),
    }
}

/// What a caller of an operation on a pooled connection is answered with when it fails: a
/// [`StoreError`] for every operation; the readiness probe's verdict (`readiness.rs`) for the
/// probe, which needs the cause behind the code that a `StoreError` no longer carries.
pub(super) trait OperationError {
    /// No connection could be had.
    fn from_pool(err: PoolError) -> Self;
    fn from_failure(failure: Failure) -> Self;
    /// The operation did not finish within `limit`.
    fn timed_out(limit: Duration) -> Self;
}

impl OperationError for StoreError {
    fn from_pool(err: PoolError) -> Self {
        pool_error(err)
    }

    fn from_failure(failure: Failure) -> Self {
        failure.into()
    }

    fn timed_out(limit: Duration) -> Self {
        StoreError::Unavailable(format!(
            "PostgreSQL did not answer within {} s",
            limit.as_secs()
        ))
    }
}

/// SQLSTATEs that mean "the server cannot serve this now": connection exceptions (08), lack of
/// resources such as too many connections (53), operator intervention such as a shutdown or
/// a cancelled statement (57), a lock not available (55P03), a lost race the retries did not
/// win (40001, 40P01), and a read-only server after a failover (25006).
fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || matches!(code, "55P03" | "40001" | "40P01" | "25006")
}

fn io_cause(err: &tokio_postgres::Error) -> Option<&std::io::Error> {
    err.source()?.downcast_ref::<std::io::Error>()
}

fn tls_cause(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// The client error with its causes, e.g. "error connecting to server: Connection refused".
pub(super) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

/// No connection could be had: the pool waited, or connecting failed or took too long.
pub(super) fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Timeout(TimeoutType::Wait) => {
            StoreError::Unavailable("timed out waiting for a free PostgreSQL connection".into())
        }
        PoolError::Timeout(TimeoutType::Create) => {
            StoreError::Unavailable("timed out connecting to PostgreSQL".into())
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            StoreError::Unavailable("timed out checking a PostgreSQL connection".into())
        }
        // Refused, reset or timed out is an outage; a server that turns us away for a reason
        // retrying cannot fix (bad password, unknown database, untrusted certificate) is not.
        PoolError::Backend(err) => classify(&err),
        PoolError::Closed => StoreError::Internal("the PostgreSQL pool is closed".into()),
        PoolError::NoRuntimeSpecified => {
            StoreError::Internal("the PostgreSQL pool has no async runtime".into())
        }
        PoolError::PostCreateHook(err) => {
            StoreError::Internal(format!("PostgreSQL connection set-up failed: {err}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes() {
        for code in [
            "08006", "08001", "57P01", "57P03", "53300", "40001", "40P01", "55P03",
        ] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "28P01", "3D000", "22P02"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
