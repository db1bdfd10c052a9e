//! The readiness probe: one write job on the writer thread, committed in a group commit like
//! any other write (and fsynced, `synchronous=FULL`), so it meets what the next write would:
//! the write lock held by another process past the busy timeout (SQLITE_BUSY), a file or
//! connection that refuses writes (SQLITE_READONLY), an I/O error (SQLITE_IOERR), a disk the
//! WAL cannot grow on (SQLITE_FULL: in WAL mode every commit appends to the WAL, and the file
//! under it only grows at a checkpoint, so a full disk stops the probe when it stops writes).

use keypaird_inventory::{NotReady, NotReadyCause};
use rusqlite::{Connection, ErrorCode};
use time::OffsetDateTime;

use super::failure::{Failure, Outcome};
use super::rows::to_millis;
use super::writer::WriteError;

pub(super) fn probe(conn: &Connection, now: OffsetDateTime) -> Outcome<()> {
    conn.prepare_cached(
        "INSERT INTO readiness_probe (id, checked_at_ms) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms",
    )?
    .execute([to_millis(now)?])?;
    Ok(())
}

/// The cause behind a SQLite error, from its result code.
pub(super) fn cause(err: &rusqlite::Error) -> NotReadyCause {
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => NotReadyCause::DiskFull,
        Some(ErrorCode::ReadOnly) => NotReadyCause::ReadOnly,
        Some(ErrorCode::PermissionDenied) => NotReadyCause::PermissionDenied,
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::FileLockingProtocolFailed,
        ) => NotReadyCause::Locked,
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => NotReadyCause::Io,
        _ => NotReadyCause::Other,
    }
}

fn from_sqlite(err: &rusqlite::Error) -> NotReady {
    NotReady::new(cause(err), format!("SQLite: {err}"))
}

impl WriteError for NotReady {
    fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::Database(err) => from_sqlite(&err),
            // Not a database error: the writer thread gone, a panic, a clock out of range.
            Failure::Refused(err) => NotReady::new(NotReadyCause::Other, err.to_string()),
        }
    }

    fn from_commit(err: &rusqlite::Error) -> Self {
        from_sqlite(err)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::ffi;

    use super::*;

    fn sqlite_error(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), None)
    }

    #[test]
    fn causes_of_result_codes() {
        for (code, expected) in [
            (ffi::SQLITE_FULL, NotReadyCause::DiskFull),
            (ffi::SQLITE_READONLY, NotReadyCause::ReadOnly),
            (ffi::SQLITE_READONLY_DBMOVED, NotReadyCause::ReadOnly),
            (ffi::SQLITE_PERM, NotReadyCause::PermissionDenied),
            (ffi::SQLITE_BUSY, NotReadyCause::Locked),
            (ffi::SQLITE_BUSY_SNAPSHOT, NotReadyCause::Locked),
            (ffi::SQLITE_LOCKED, NotReadyCause::Locked),
            (ffi::SQLITE_PROTOCOL, NotReadyCause::Locked),
            (ffi::SQLITE_IOERR_WRITE, NotReadyCause::Io),
            (ffi::SQLITE_IOERR_FSYNC, NotReadyCause::Io),
            (ffi::SQLITE_CANTOPEN, NotReadyCause::Io),
            (ffi::SQLITE_CORRUPT, NotReadyCause::Other),
            (ffi::SQLITE_CONSTRAINT_CHECK, NotReadyCause::Other),
        ] {
            assert_eq!(cause(&sqlite_error(code)), expected, "{code}");
        }
        assert_eq!(
            cause(&rusqlite::Error::InvalidQuery),
            NotReadyCause::Other,
            "not a SQLite result code"
        );
    }
}
