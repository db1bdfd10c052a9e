//! Account and access key statements. Like the key pair ones they run inside the caller's
//! transaction; the conflict checks come first so that a refused create writes nothing.

use std::collections::HashMap;

use keypaird_inventory::{
    AccessKeySummary, Account, AccountSummary, Credential, NewAccessKey, NewAccount, StoreError,
};
use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;

use super::failure::Outcome;
use super::rows::{account_from_row, from_millis, quota_to_column, to_millis, ACCOUNT_COLUMNS};
use super::secrets::ensure_current;
use crate::sealing::{unseal_failure, MasterKey};

fn exists(conn: &Connection, sql: &str, value: &str) -> Outcome<bool> {
    let found = conn
        .prepare_cached(sql)?
        .query_row([value], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(found)
}

fn name_taken(conn: &Connection, name: &str) -> Outcome<bool> {
    exists(conn, "SELECT 1 FROM accounts WHERE name = ?1", name)
}

fn id_taken(conn: &Connection, id: &str) -> Outcome<bool> {
    exists(conn, "SELECT 1 FROM accounts WHERE id = ?1", id)
}

fn access_key_taken(conn: &Connection, access_key_id: &str) -> Outcome<bool> {
    exists(
        conn,
        "SELECT 1 FROM access_keys WHERE access_key_id = ?1",
        access_key_id,
    )
}

/// An ID collision is reported as `AccountExists` naming the ID: the trait has no separate
/// variant, and either way the caller must pick something else.
pub(super) fn create(conn: &Connection, new: &NewAccount, master: &MasterKey) -> Outcome<Account> {
    if name_taken(conn, &new.name)? {
        return Err(StoreError::AccountExists(new.name.clone()).into());
    }
    if id_taken(conn, &new.id)? {
        return Err(StoreError::AccountExists(new.id.clone()).into());
    }
    if access_key_taken(conn, &new.access_key_id)? {
        return Err(StoreError::AccessKeyExists(new.access_key_id.clone()).into());
    }
    let sealed = match &new.secret_access_key {
        Some(secret) => {
            ensure_current(conn, master)?;
            Some(master.seal(&new.access_key_id, secret))
        }
        None => None,
    };
    let created_at_ms = to_millis(new.created_at)?;
    let account = insert_account(conn, &new.id, &new.name, new.key_pair_quota, created_at_ms)?;
    attach_access_key(
        conn,
        &new.id,
        &new.access_key_id,
        sealed.as_deref(),
        created_at_ms,
    )?;
    Ok(account)
}

/// Returns the account as a later read will: with the stored, millisecond-truncated instant.
fn insert_account(
    conn: &Connection,
    id: &str,
    name: &str,
    key_pair_quota: Option<u32>,
    created_at_ms: i64,
) -> Outcome<Account> {
    conn.prepare_cached(
        "INSERT INTO accounts (id, name, key_pair_quota, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        id,
        name,
        quota_to_column(key_pair_quota),
        created_at_ms
    ])?;
    Ok(Account {
        id: id.to_owned(),
        name: name.to_owned(),
        key_pair_quota,
        created_at: from_millis(created_at_ms)?,
    })
}

fn attach_access_key(
    conn: &Connection,
    account_id: &str,
    access_key_id: &str,
    sealed_secret: Option<&[u8]>,
    created_at_ms: i64,
) -> Outcome<()> {
    insert_access_key(
        conn,
        account_id,
        access_key_id,
        sealed_secret,
        false,
        created_at_ms,
    )
}

fn insert_access_key(
    conn: &Connection,
    account_id: &str,
    access_key_id: &str,
    sealed_secret: Option<&[u8]>,
    read_only: bool,
    created_at_ms: i64,
) -> Outcome<()> {
    conn.prepare_cached(
        "INSERT INTO access_keys \
         (access_key_id, account_id, sealed_secret, read_only, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        access_key_id,
        account_id,
        sealed_secret,
        read_only,
        created_at_ms
    ])?;
    Ok(())
}

pub(super) fn create_first(
    conn: &Connection,
    new: &NewAccount,
    master: &MasterKey,
) -> Outcome<bool> {
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM accounts)")?
        .query_row([], |row| row.get(0))?;
    if any {
        return Ok(false);
    }
    create(conn, new, master)?;
    Ok(true)
}

pub(super) fn list(conn: &Connection) -> Outcome<Vec<AccountSummary>> {
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT account_id, access_key_id FROM access_keys ORDER BY account_id, access_key_id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            keys.entry(row.get(0)?).or_default().push(row.get(1)?);
        }
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.name"
    ))?;
    let mut rows = stmt.query([])?;
    let mut summaries = Vec::new();
    while let Some(row) = rows.next()? {
        let account = account_from_row(row, 0)?;
        let access_key_ids = keys.remove(&account.id).unwrap_or_default();
        summaries.push(AccountSummary {
            account,
            access_key_ids,
        });
    }
    Ok(summaries)
}

pub(super) fn find_credential(
    conn: &Connection,
    access_key_id: &str,
    master: &MasterKey,
) -> Outcome<Option<Credential>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT ak.access_key_id, ak.sealed_secret, ak.disabled, ak.read_only, {ACCOUNT_COLUMNS} \
         FROM access_keys ak JOIN accounts a ON a.id = ak.account_id \
         WHERE ak.access_key_id = ?1"
    ))?;
    let mut rows = stmt.query([access_key_id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let access_key_id: String = row.get(0)?;
    let sealed: Option<Vec<u8>> = row.get(1)?;
    let secret_access_key = sealed
        .map(|sealed| {
            master
                .unseal(&access_key_id, &sealed)
                .map_err(|err| unseal_failure(&access_key_id, err))
        })
        .transpose()?;
    Ok(Some(Credential {
        access_key_id,
        secret_access_key,
        disabled: row.get(2)?,
        read_only: row.get(3)?,
        account: account_from_row(row, 4)?,
    }))
}

fn find_by_name(conn: &Connection, name: &str) -> Outcome<Option<Account>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = ?1"
    ))?;
    let mut rows = stmt.query([name])?;
    match rows.next()? {
        Some(row) => Ok(Some(account_from_row(row, 0)?)),
        None => Ok(None),
    }
}

/// Runs under the write lock, so the "not found, so create" decision cannot race: a concurrent
/// first use waits for this transaction and then finds the key.
pub(super) fn credential_for_any_key(
    conn: &Connection,
    access_key_id: &str,
    new_account_id: &str,
    now: OffsetDateTime,
    master: &MasterKey,
) -> Outcome<Credential> {
    if let Some(credential) = find_credential(conn, access_key_id, master)? {
        return Ok(credential);
    }
    let now_ms = to_millis(now)?;
    let account = match find_by_name(conn, access_key_id)? {
        Some(account) => account,
        None if id_taken(conn, new_account_id)? => {
            return Err(StoreError::AccountExists(new_account_id.to_owned()).into());
        }
        None => insert_account(conn, new_account_id, access_key_id, None, now_ms)?,
    };
    attach_access_key(conn, &account.id, access_key_id, None, now_ms)?;
    Ok(Credential {
        access_key_id: access_key_id.to_owned(),
        secret_access_key: None,
        account,
        disabled: false,
        read_only: false,
    })
}

const LIST_ACCESS_KEYS: &str = "SELECT access_key_id, disabled, read_only, created_at_ms, \
     last_used_at_ms FROM access_keys WHERE account_id = ?1 ORDER BY created_at_ms, access_key_id";
const DISABLE_ACCESS_KEY: &str =
    "UPDATE access_keys SET disabled = 1 WHERE access_key_id = ?1 AND account_id = ?2";
const ENABLE_ACCESS_KEY: &str =
    "UPDATE access_keys SET disabled = 0 WHERE access_key_id = ?1 AND account_id = ?2";
const DELETE_ACCESS_KEY: &str =
    "DELETE FROM access_keys WHERE access_key_id = ?1 AND account_id = ?2";
const KEY_PAIRS_HELD: &str =
    "SELECT coalesce(sum(count), 0) FROM key_pair_counts WHERE account_id = ?1";
const DELETE_ACCOUNT_KEY_PAIRS: &str = "DELETE FROM key_pairs WHERE account_id = ?1";
const DELETE_ACCOUNT_COUNTERS: &str = "DELETE FROM key_pair_counts WHERE account_id = ?1";
const RECORD_USE: &str = "UPDATE access_keys \
     SET last_used_at_ms = max(coalesce(last_used_at_ms, ?2), ?2) WHERE access_key_id = ?1";
const GENERATION: &str = "SELECT generation FROM credentials_generation WHERE singleton = 1";
const BUMP_GENERATION: &str =
    "UPDATE credentials_generation SET generation = generation + 1 WHERE singleton = 1";

/// The access-key and account statements whose plans the tests check: each is a search of an
/// index, never a scan of a table.
#[cfg(test)]
pub(super) const PLANNED: &[&str] = &[
    LIST_ACCESS_KEYS,
    DISABLE_ACCESS_KEY,
    ENABLE_ACCESS_KEY,
    DELETE_ACCESS_KEY,
    KEY_PAIRS_HELD,
    DELETE_ACCOUNT_KEY_PAIRS,
    DELETE_ACCOUNT_COUNTERS,
    RECORD_USE,
    GENERATION,
    BUMP_GENERATION,
];

/// Every change a credential cache must not outlive bumps this, in the change's transaction.
fn bump_generation(conn: &Connection) -> Outcome<()> {
    conn.prepare_cached(BUMP_GENERATION)?.execute([])?;
    Ok(())
}

pub(super) fn generation(conn: &Connection) -> Outcome<i64> {
    let generation = conn
        .prepare_cached(GENERATION)?
        .query_row([], |row| row.get(0))?;
    Ok(generation)
}

fn account_id_named(conn: &Connection, name: &str) -> Outcome<String> {
    conn.prepare_cached("SELECT id FROM accounts WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::AccountNotFound(name.to_owned()).into())
}

pub(super) fn create_access_key(
    conn: &Connection,
    account_name: &str,
    key: &NewAccessKey,
    master: &MasterKey,
) -> Outcome<AccessKeySummary> {
    let account_id = account_id_named(conn, account_name)?;
    if access_key_taken(conn, &key.access_key_id)? {
        return Err(StoreError::AccessKeyExists(key.access_key_id.clone()).into());
    }
    ensure_current(conn, master)?;
    let sealed = master.seal(&key.access_key_id, &key.secret_access_key);
    let created_at_ms = to_millis(key.created_at)?;
    insert_access_key(
        conn,
        &account_id,
        &key.access_key_id,
        Some(&sealed),
        key.read_only,
        created_at_ms,
    )?;
    bump_generation(conn)?;
    Ok(AccessKeySummary {
        access_key_id: key.access_key_id.clone(),
        disabled: false,
        read_only: key.read_only,
        created_at: from_millis(created_at_ms)?,
        last_used_at: None,
    })
}

pub(super) fn list_access_keys(
    conn: &Connection,
    account_name: &str,
) -> Outcome<Vec<AccessKeySummary>> {
    let account_id = account_id_named(conn, account_name)?;
    let mut stmt = conn.prepare_cached(LIST_ACCESS_KEYS)?;
    let mut rows = stmt.query([account_id])?;
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        let last_used: Option<i64> = row.get(4)?;
        keys.push(AccessKeySummary {
            access_key_id: row.get(0)?,
            disabled: row.get(1)?,
            read_only: row.get(2)?,
            created_at: from_millis(row.get(3)?)?,
            last_used_at: last_used.map(from_millis).transpose()?,
        });
    }
    Ok(keys)
}

/// Runs `change` (a statement on one of the account's keys, `?1` the key, `?2` the account)
/// and bumps the generation; `AccessKeyNotFound` when it touched no row.
fn change_access_key(
    conn: &Connection,
    account_name: &str,
    access_key_id: &str,
    change: &str,
) -> Outcome<()> {
    let account_id = account_id_named(conn, account_name)?;
    let changed = conn
        .prepare_cached(change)?
        .execute(params![access_key_id, account_id])?;
    if changed == 0 {
        return Err(StoreError::AccessKeyNotFound(access_key_id.to_owned()).into());
    }
    bump_generation(conn)
}

pub(super) fn set_access_key_disabled(
    conn: &Connection,
    account_name: &str,
    access_key_id: &str,
    disabled: bool,
) -> Outcome<()> {
    let change = if disabled {
        DISABLE_ACCESS_KEY
    } else {
        ENABLE_ACCESS_KEY
    };
    change_access_key(conn, account_name, access_key_id, change)
}

pub(super) fn delete_access_key(
    conn: &Connection,
    account_name: &str,
    access_key_id: &str,
) -> Outcome<()> {
    change_access_key(conn, account_name, access_key_id, DELETE_ACCESS_KEY)
}

/// The account's key pairs are told from its counter rows (one per scope it used), not by
/// counting them. With `force` they go first (their trigger takes their tags and counts), then
/// the counters, then the account, whose access keys go with it by cascade.
pub(super) fn delete_account(conn: &Connection, name: &str, force: bool) -> Outcome<u64> {
    let account_id = account_id_named(conn, name)?;
    let held: i64 = conn
        .prepare_cached(KEY_PAIRS_HELD)?
        .query_row([&account_id], |row| row.get(0))?;
    if held > 0 && !force {
        return Err(StoreError::AccountHoldsKeyPairs {
            name: name.to_owned(),
            key_pairs: held as u64,
        }
        .into());
    }
    for statement in [DELETE_ACCOUNT_KEY_PAIRS, DELETE_ACCOUNT_COUNTERS] {
        conn.prepare_cached(statement)?.execute([&account_id])?;
    }
    conn.prepare_cached("DELETE FROM accounts WHERE id = ?1")?
        .execute([&account_id])?;
    bump_generation(conn)?;
    Ok(held as u64)
}

pub(super) fn set_account_quota(conn: &Connection, name: &str, quota: u32) -> Outcome<()> {
    let changed = conn
        .prepare_cached("UPDATE accounts SET key_pair_quota = ?2 WHERE name = ?1")?
        .execute(params![name, quota])?;
    if changed == 0 {
        return Err(StoreError::AccountNotFound(name.to_owned()).into());
    }
    bump_generation(conn)
}

pub(super) fn record_uses(conn: &Connection, uses: &[(String, OffsetDateTime)]) -> Outcome<()> {
    let mut stmt = conn.prepare_cached(RECORD_USE)?;
    for (access_key_id, at) in uses {
        stmt.execute(params![access_key_id, to_millis(*at)?])?;
    }
    Ok(())
}
