//! The master key in the SQLite backend: which key the file is sealed under, sealing what
//! older builds stored in clear, and rotation. Access key reads and writes seal and unseal in
//! `accounts.rs`.
//!
//! Plaintext must not survive in the file once sealed: the sealing transaction runs with
//! `secure_delete` (SQLite zeroes the cells it overwrites and the pages it frees), and a
//! `TRUNCATE` checkpoint afterwards copies the new pages into the database and empties the WAL,
//! which still held the pages as older builds wrote them.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::failure::{corrupt, Outcome};
use crate::key_file::MasterKeyFile;
use crate::sealing::{reseal, stale_key, KeyId, MasterKey};
use crate::RotationReport;

pub(super) fn recorded_key_id(conn: &Connection) -> Outcome<Option<KeyId>> {
    let recorded: Option<String> = conn
        .prepare_cached("SELECT key_id FROM master_key WHERE singleton = 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    recorded
        .map(|text| KeyId::from_hex(&text).ok_or_else(|| corrupt("master_key.key_id")))
        .transpose()
}

/// Refuses a write by a process whose key is no longer the store's (rotated meanwhile by
/// another process), so nothing is ever sealed under a retired key.
pub(super) fn ensure_current(conn: &Connection, master: &MasterKey) -> Outcome<()> {
    match recorded_key_id(conn)? {
        Some(recorded) if recorded != master.id() => Err(stale_key(recorded, master.id()).into()),
        _ => Ok(()),
    }
}

/// Opens the store's key from `key_file` (made on first use), records it if the file records
/// none yet, and seals every secret still in clear, in one transaction. Returns the key and
/// how many secrets it sealed.
pub(super) fn unlock(conn: &mut Connection, key_file: &MasterKeyFile) -> Outcome<(MasterKey, u64)> {
    conn.pragma_update(None, "secure_delete", true)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded = recorded_key_id(&tx)?;
    let master = key_file.unlock(recorded)?;
    if recorded.is_none() {
        tx.execute(
            "INSERT INTO master_key (singleton, key_id) VALUES (1, ?1)",
            [master.id().to_string()],
        )?;
    }
    let plaintext: Vec<(String, zeroize::Zeroizing<String>)> = {
        let mut stmt =
            tx.prepare("SELECT access_key_id, secret FROM access_keys WHERE secret IS NOT NULL")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get(0)?, zeroize::Zeroizing::new(row.get(1)?)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (access_key_id, secret) in &plaintext {
        tx.execute(
            "UPDATE access_keys SET sealed_secret = ?2, secret = NULL WHERE access_key_id = ?1",
            rusqlite::params![access_key_id, master.seal(access_key_id, secret)],
        )?;
    }
    tx.commit()?;
    conn.pragma_update(None, "secure_delete", false)?;
    let sealed = plaintext.len() as u64;
    if sealed > 0 {
        truncate_wal(conn)?;
        tracing::info!(
            sealed,
            "sealed access key secrets stored in clear by an older build"
        );
    }
    Ok((master, sealed))
}

/// Seals every secret again under a new key, in one transaction: the new key is staged beside
/// the key file before the commit and replaces it after (see `key_file.rs` for the recovery).
pub(super) fn rotate(
    conn: &mut Connection,
    old: &MasterKey,
    key_file: &MasterKeyFile,
) -> Outcome<RotationReport> {
    let new = MasterKey::generate();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    ensure_current(&tx, old)?;
    let sealed: Vec<(String, Vec<u8>)> = {
        let mut stmt = tx.prepare(
            "SELECT access_key_id, sealed_secret FROM access_keys WHERE sealed_secret IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (access_key_id, value) in &sealed {
        tx.execute(
            "UPDATE access_keys SET sealed_secret = ?2 WHERE access_key_id = ?1",
            rusqlite::params![access_key_id, reseal(old, &new, access_key_id, value)?],
        )?;
    }
    tx.execute(
        "UPDATE master_key SET key_id = ?1 WHERE singleton = 1",
        [new.id().to_string()],
    )?;
    key_file.stage(&new)?;
    // On an error the commit may still have happened (a connection lost while committing): the
    // staged key stays, and the next open keeps whichever key the store records.
    tx.commit()?;
    key_file.install_staged()?;
    Ok(RotationReport {
        previous: old.id(),
        current: new.id(),
        resealed: sealed.len() as u64,
    })
}

/// Copies every page of the WAL into the database and empties the WAL file. Needs no other
/// connection reading at that moment, which holds at open; if one is, the WAL is emptied by a
/// later checkpoint instead, and the log says so.
fn truncate_wal(conn: &Connection) -> Outcome<()> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        tracing::warn!(
            "another connection kept the WAL from being emptied after sealing secrets; \
             the next checkpoint empties it"
        );
    }
    Ok(())
}
