//! The master key in the PostgreSQL backend: which key the schema is sealed under, sealing what
//! older builds stored in clear, and rotation. Access key reads and writes seal and unseal in
//! `accounts.rs`.
//!
//! Every step that reads or changes the recorded key runs in one transaction holding a
//! per-schema advisory lock, like migrations, so nodes starting at once agree on one key (the
//! first one records its key; any other key is then refused) and a rotation never races a
//! start. Unlike SQLite, PostgreSQL keeps the rows an UPDATE replaced until they are vacuumed,
//! so after sealing plaintext the table is rewritten (`VACUUM FULL`, a small table); its WAL
//! and any earlier backups still hold what older builds wrote, which README's "Secrets at rest"
//! says how to deal with.

use deadpool_postgres::{Client, GenericClient, Transaction};
use zeroize::Zeroizing;

use super::failure::{corrupt, Outcome};
use super::migrations::LOCK_CLASS;
use super::rows::column;
use crate::key_file::MasterKeyFile;
use crate::sealing::{reseal, stale_key, KeyId, MasterKey};
use crate::RotationReport;

async fn lock(tx: &Transaction<'_>, schema: Option<&str>) -> Outcome<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext('keypaird-master-key:' \
         || coalesce($2::text, current_schema()::text, '')))",
        &[&LOCK_CLASS, &schema],
    )
    .await?;
    Ok(())
}

pub(super) async fn recorded_key_id(client: &impl GenericClient) -> Outcome<Option<KeyId>> {
    let row = client
        .query_opt(
            &client
                .prepare_cached("SELECT key_id FROM master_key WHERE singleton = 1")
                .await?,
            &[],
        )
        .await?;
    row.map(|row| {
        let text: &str = column(&row, 0, "master_key.key_id")?;
        KeyId::from_hex(text).ok_or_else(|| corrupt("master_key.key_id"))
    })
    .transpose()
}

/// Refuses a write by a node whose key is no longer the schema's (rotated since it started),
/// so nothing is ever sealed under a retired key.
pub(super) async fn ensure_current(tx: &Transaction<'_>, master: &MasterKey) -> Outcome<()> {
    match recorded_key_id(tx).await? {
        Some(recorded) if recorded != master.id() => Err(stale_key(recorded, master.id()).into()),
        _ => Ok(()),
    }
}

/// Opens the schema's key from `key_file` (made on first use), records it if the schema
/// records none yet, and seals every secret still in clear, in one transaction.
pub(super) async fn unlock(
    client: &mut Client,
    schema: Option<&str>,
    key_file: &MasterKeyFile,
) -> Outcome<MasterKey> {
    let tx = client.transaction().await?;
    lock(&tx, schema).await?;
    let recorded = recorded_key_id(&tx).await?;
    let master = key_file.unlock(recorded)?;
    if recorded.is_none() {
        tx.execute(
            "INSERT INTO master_key (singleton, key_id) VALUES (1, $1)",
            &[&master.id().to_string()],
        )
        .await?;
    }
    let rows = tx
        .query(
            "SELECT access_key_id, secret FROM access_keys WHERE secret IS NOT NULL FOR UPDATE",
            &[],
        )
        .await?;
    for row in &rows {
        let access_key_id: &str = column(row, 0, "access_keys.access_key_id")?;
        let secret = Zeroizing::new(column::<String>(row, 1, "access_keys.secret")?);
        tx.execute(
            "UPDATE access_keys SET sealed_secret = $2, secret = NULL WHERE access_key_id = $1",
            &[&access_key_id, &master.seal(access_key_id, &secret)],
        )
        .await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        tracing::info!(
            sealed = rows.len(),
            "sealed access key secrets stored in clear by an older build"
        );
        // The replaced rows, still holding the plaintext, go with the table's old file.
        if let Err(err) = client.batch_execute("VACUUM FULL access_keys").await {
            tracing::warn!(
                error = %err,
                "could not rewrite access_keys after sealing: replaced rows keep the old \
                 plaintext until the table is vacuumed (run VACUUM FULL access_keys)"
            );
        }
    }
    Ok(master)
}

/// Seals every secret again under a new key, in one transaction: the new key is staged beside
/// the key file before the commit and replaces it after (see `key_file.rs` for the recovery).
pub(super) async fn rotate(
    client: &mut Client,
    schema: Option<&str>,
    old: &MasterKey,
    key_file: &MasterKeyFile,
) -> Outcome<RotationReport> {
    let new = MasterKey::generate();
    let tx = client.transaction().await?;
    lock(&tx, schema).await?;
    ensure_current(&tx, old).await?;
    let rows = tx
        .query(
            "SELECT access_key_id, sealed_secret FROM access_keys \
             WHERE sealed_secret IS NOT NULL FOR UPDATE",
            &[],
        )
        .await?;
    for row in &rows {
        let access_key_id: &str = column(row, 0, "access_keys.access_key_id")?;
        let sealed: &[u8] = column(row, 1, "access_keys.sealed_secret")?;
        tx.execute(
            "UPDATE access_keys SET sealed_secret = $2 WHERE access_key_id = $1",
            &[&access_key_id, &reseal(old, &new, access_key_id, sealed)?],
        )
        .await?;
    }
    tx.execute(
        "UPDATE master_key SET key_id = $1 WHERE singleton = 1",
        &[&new.id().to_string()],
    )
    .await?;
    key_file.stage(&new)?;
    // On an error the commit may still have happened (a connection lost while committing): the
    // staged key stays, and the next open keeps whichever key the store records.
    tx.commit().await?;
    key_file.install_staged()?;
    Ok(RotationReport {
        previous: old.id(),
        current: new.id(),
        resealed: rows.len() as u64,
    })
}
