//! Turning rows back into domain values. Anything the columns hold that the domain cannot
//! represent is reported as a corrupt store, never unwrapped: a hand-edited or damaged file must
//! not take the daemon down.

use keypaird_inventory::{Account, KeyPair, KeyType, Provider, Scope};
use rusqlite::Row;
use time::OffsetDateTime;

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

/// The columns [`account_from_row`] reads, in order, for a table aliased `a`.
pub(super) const ACCOUNT_COLUMNS: &str = "a.id, a.name, a.key_pair_quota, a.created_at_ms";

pub(super) fn account_from_row(row: &Row<'_>, first: usize) -> Outcome<Account> {
    let quota: Option<i64> = row.get(first + 2)?;
    let key_pair_quota = quota
        .map(u32::try_from)
        .transpose()
        .map_err(|_| corrupt("accounts.key_pair_quota"))?;
    Ok(Account {
        id: row.get(first)?,
        name: row.get(first + 1)?,
        key_pair_quota,
        created_at: from_millis(row.get(first + 3)?)?,
    })
}

/// The columns [`key_pair_from_row`] reads, in order, for a table aliased `k`.
pub(super) const KEY_PAIR_COLUMNS: &str = "k.id, k.account_id, k.provider, k.region, k.name, \
     k.key_type, k.fingerprint, k.public_key, k.created_at_ms, k.resource_group_id";

/// A key pair without its tags; they come from a second query.
pub(super) fn key_pair_from_row(row: &Row<'_>) -> Outcome<KeyPair> {
    let provider: String = row.get(2)?;
    let key_type: String = row.get(5)?;
    Ok(KeyPair {
        id: row.get(0)?,
        scope: Scope {
            account_id: row.get(1)?,
            provider: Provider::parse(&provider).ok_or_else(|| corrupt("key_pairs.provider"))?,
            region: row.get(3)?,
        },
        name: row.get(4)?,
        key_type: KeyType::parse(&key_type).ok_or_else(|| corrupt("key_pairs.key_type"))?,
        fingerprint: row.get(6)?,
        public_key: row.get(7)?,
        created_at: from_millis(row.get(8)?)?,
        resource_group_id: row.get(9)?,
        tags: Vec::new(),
    })
}
