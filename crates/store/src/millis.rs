//! Both backends store instants as integer milliseconds since the epoch: the model keeps
//! millisecond precision, and an integer round-trips exactly in SQLite and PostgreSQL alike.

use keypaird_inventory::StoreError;
use time::OffsetDateTime;

const NANOS_PER_MILLI: i128 = 1_000_000;

/// Milliseconds since the epoch, rounded down, so that what is read back equals what was
/// written whenever the caller already truncated to milliseconds (as the model requires).
pub(crate) fn to_millis(at: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(NANOS_PER_MILLI))
        .map_err(|_| StoreError::Internal("timestamp out of range".into()))
}

/// `None` when the stored value is outside what a timestamp can hold (a damaged row).
pub(crate) fn from_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * NANOS_PER_MILLI).ok()
}
