//! Account and access key statements. Like the key pair ones they run inside the caller's
//! transaction; the conflict checks come first so that a refused create writes nothing.

use std::collections::HashMap;

use keypaird_inventory::{Account, AccountSummary, Credential, NewAccount, StoreError};
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
    conn.prepare_cached(
        "INSERT INTO access_keys (access_key_id, account_id, sealed_secret, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        access_key_id,
        account_id,
        sealed_secret,
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
        "SELECT ak.access_key_id, ak.sealed_secret, {ACCOUNT_COLUMNS} \
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
        account: account_from_row(row, 2)?,
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
    })
}
