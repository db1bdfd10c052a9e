//! The readiness probe: an upsert of the schema's one probe row in a transaction of its own,
//! committed like any write, so it meets what the next write would: a server that refuses
//! writes (25006: a standby after a failover, or `default_transaction_read_only`), a disk the
//! server cannot extend a file on (53100), privileges taken away (42501), a lock held on the
//! table (55P03 after [`PROBE_LOCK_TIMEOUT`]), or no server at all. Every node of a schema
//! rewrites the same row; each holds its lock for one statement.

use std::time::Duration;

use deadpool_postgres::{PoolError, Transaction};
use keypaird_inventory::{NotReady, NotReadyCause, StoreError};
use time::OffsetDateTime;

use super::failure::{self, ErrorKind, Failure, OperationError, Outcome};
use super::rows::to_millis;

/// Longest the probe waits for a lock. Well below the operation timeout, so that a held lock
/// is reported as one rather than as a server that does not answer.
const PROBE_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn probe(tx: &Transaction<'_>, now: OffsetDateTime) -> Outcome<()> {
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        PROBE_LOCK_TIMEOUT.as_millis()
    ))
    .await?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO readiness_probe (id, checked_at_ms) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms",
        )
        .await?,
        &[&to_millis(now)?],
    )
    .await?;
    Ok(())
}

/// The cause behind a PostgreSQL error, from its SQLSTATE or the client's transport error.
pub(super) fn cause(err: &tokio_postgres::Error) -> NotReadyCause {
    match failure::kind(err) {
        ErrorKind::Server(db) => cause_of_sqlstate(db.code().code()),
        ErrorKind::Closed | ErrorKind::Transport => NotReadyCause::Unreachable,
        ErrorKind::Tls | ErrorKind::Client => NotReadyCause::Other,
    }
}

fn cause_of_sqlstate(code: &str) -> NotReadyCause {
    match code {
        "53100" => NotReadyCause::DiskFull,
        "25006" => NotReadyCause::ReadOnly,
        "42501" => NotReadyCause::PermissionDenied,
        "55P03" | "40P01" => NotReadyCause::Locked,
        // Too many connections is no connection for us.
        "53300" => NotReadyCause::Unreachable,
        // Connection exceptions; the server shutting down, crashed, starting, the database
        // dropped.
        _ if code.starts_with("08") || code.starts_with("57P") => NotReadyCause::Unreachable,
        // System errors external to PostgreSQL: the server's own I/O.
        _ if code.starts_with("58") => NotReadyCause::Io,
        _ => NotReadyCause::Other,
    }
}

impl OperationError for NotReady {
    fn from_pool(err: PoolError) -> Self {
        let cause = match &err {
            PoolError::Timeout(_) => NotReadyCause::Unreachable,
            PoolError::Backend(err) => cause(err),
            PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
                NotReadyCause::Other
            }
        };
        NotReady::new(cause, detail(failure::pool_error(err)))
    }

    fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::Database(err) => NotReady::new(cause(&err), failure::message(&err)),
            Failure::Refused(err) => NotReady::new(NotReadyCause::Other, detail(err)),
        }
    }

    fn timed_out(limit: Duration) -> Self {
        NotReady::new(
            NotReadyCause::Unreachable,
            detail(StoreError::timed_out(limit)),
        )
    }
}

/// The message inside a `StoreError`, without the prefix its `Display` adds.
fn detail(err: StoreError) -> String {
    match err {
        StoreError::Unavailable(message) | StoreError::Internal(message) => message,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_of_sqlstates() {
        for (code, expected) in [
            ("53100", NotReadyCause::DiskFull),
            ("25006", NotReadyCause::ReadOnly),
            ("42501", NotReadyCause::PermissionDenied),
            ("55P03", NotReadyCause::Locked),
            ("40P01", NotReadyCause::Locked),
            ("53300", NotReadyCause::Unreachable),
            ("08006", NotReadyCause::Unreachable),
            ("57P01", NotReadyCause::Unreachable),
            ("57P03", NotReadyCause::Unreachable),
            ("58030", NotReadyCause::Io),
            ("42P01", NotReadyCause::Other),
            ("53200", NotReadyCause::Other),
            ("57014", NotReadyCause::Other),
        ] {
            assert_eq!(cause_of_sqlstate(code), expected, "{code}");
        }
    }
}
