//! Turning rows back into domain values. Every column is read with `try_get` and every value the
//! domain cannot represent is reported as a corrupt store, never unwrapped: a hand-edited or
//! damaged database must not take a node down.
//!
//! Instants are stored as bigint milliseconds since the epoch, as in SQLite: the model keeps
//! millisecond precision, and an integer round-trips exactly where `timestamptz` (microseconds,
//! a limited range) would need conversions of its own.

use keypaird_inventory::{Account, KeyPair, KeyType, Provider, Scope, Tag};
use time::OffsetDateTime;
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use super::failure::{corrupt, Outcome};

pub(super) fn to_millis(at: OffsetDateTime) -> Outcome<i64> {
    Ok(crate::millis::to_millis(at)?)
}

pub(super) fn from_millis(millis: i64) -> Outcome<OffsetDateTime> {
    crate::millis::from_millis(millis).ok_or_else(|| corrupt("timestamp out of range"))
}

pub(super) fn quota_to_column(quota: Option<u32>) -> Option<i64> {
    quota.map(i64::from)
}

/// One column, or a corrupt-store error naming it (a NULL or a type this build did not write).
pub(super) fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize, what: &str) -> Outcome<T> {
    row.try_get(index).map_err(|_| corrupt(what))
}

/// The columns [`account_from_row`] reads, in order, for a table aliased `a`.
pub(super) const ACCOUNT_COLUMNS: &str = "a.id, a.name, a.key_pair_quota, a.created_at_ms";

pub(super) fn account_from_row(row: &Row, first: usize) -> Outcome<Account> {
    let quota: Option<i64> = column(row, first + 2, "accounts.key_pair_quota")?;
    let key_pair_quota = quota
        .map(u32::try_from)
        .transpose()
        .map_err(|_| corrupt("accounts.key_pair_quota"))?;
    Ok(Account {
        id: column(row, first, "accounts.id")?,
        name: column(row, first + 1, "accounts.name")?,
        key_pair_quota,
        created_at: from_millis(column(row, first + 3, "accounts.created_at_ms")?)?,
    })
}

/// The columns [`key_pair_from_row`] reads, in order, for `key_pairs k` joined laterally with
/// its tags as `t (keys, tag_values)`.
pub(super) const KEY_PAIR_COLUMNS: &str = "k.id, k.account_id, k.provider, k.region, k.name, \
     k.key_type, k.fingerprint, k.public_key, k.created_at_ms, k.resource_group_id, \
     t.keys, t.tag_values";

/// Aggregates a key pair's tags in the order they were first set; one row per key pair (NULL
/// arrays when it has none), so a lookup stays one statement.
pub(super) const TAGS_LATERAL: &str = "CROSS JOIN LATERAL ( \
     SELECT array_agg(tg.key ORDER BY tg.position) AS keys, \
            array_agg(tg.value ORDER BY tg.position) AS tag_values \
     FROM key_pair_tags tg WHERE tg.key_pair_id = k.id) t";

pub(super) fn key_pair_from_row(row: &Row) -> Outcome<KeyPair> {
    let provider: &str = column(row, 2, "key_pairs.provider")?;
    let key_type: &str = column(row, 5, "key_pairs.key_type")?;
    let keys: Option<Vec<String>> = column(row, 10, "key_pair_tags.key")?;
    let values: Option<Vec<String>> = column(row, 11, "key_pair_tags.value")?;
    let keys = keys.unwrap_or_default();
    let values = values.unwrap_or_default();
    if keys.len() != values.len() {
        return Err(corrupt("key_pair_tags"));
    }
    Ok(KeyPair {
        id: column(row, 0, "key_pairs.id")?,
        scope: Scope {
            account_id: column(row, 1, "key_pairs.account_id")?,
            provider: Provider::parse(provider).ok_or_else(|| corrupt("key_pairs.provider"))?,
            region: column(row, 3, "key_pairs.region")?,
        },
        name: column(row, 4, "key_pairs.name")?,
        key_type: KeyType::parse(key_type).ok_or_else(|| corrupt("key_pairs.key_type"))?,
        fingerprint: column(row, 6, "key_pairs.fingerprint")?,
        public_key: column(row, 7, "key_pairs.public_key")?,
        created_at: from_millis(column(row, 8, "key_pairs.created_at_ms")?)?,
        resource_group_id: column(row, 9, "key_pairs.resource_group_id")?,
        tags: keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| Tag { key, value })
            .collect(),
    })
}
