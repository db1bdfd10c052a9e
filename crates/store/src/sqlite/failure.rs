//! SQLite reports everything as one error type; the service needs to tell "retry later" (a busy
//! lock held past the timeout, a full or failing disk) from "something is wrong with us". Domain
//! refusals (quota, duplicates) travel through the same channel as database errors inside a
//! transaction so that `?` rolls the transaction back either way.

use std::borrow::Borrow;

use keypaird_inventory::StoreError;
use rusqlite::ErrorCode;

/// Why a blocking store operation stopped: a refusal the caller must see as-is, or a database
/// error still to be classified.
#[derive(Debug)]
pub(super) enum Failure {
    Refused(StoreError),
    Database(rusqlite::Error),
}

pub(super) type Outcome<T> = Result<T, Failure>;

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Refused(err)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure::Database(err)
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(err) => err,
            Failure::Database(err) => classify(err),
        }
    }
}

/// A stored value this build cannot interpret. The message names the column, never the value:
/// row contents stay out of errors and logs.
pub(super) fn corrupt(what: &str) -> Failure {
    Failure::Refused(StoreError::Internal(format!("corrupt store: {what}")))
}

/// Takes the error or a reference to it, so it serves `map_err` and the writer's commit error,
/// which every job of a batch shares.
pub(super) fn classify(err: impl Borrow<rusqlite::Error>) -> StoreError {
    let err = err.borrow();
    match err.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::FileLockingProtocolFailed,
        ) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Internal(err.to_string()),
    }
}

/// Whether an insert failed on a UNIQUE index (as opposed to a primary key or anything else).
pub(super) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    err.sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub(super) fn is_primary_key_violation(err: &rusqlite::Error) -> bool {
    err.sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub(super) fn io_unavailable(context: &str, err: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{context}: {err}"))
}
