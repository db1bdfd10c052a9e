//! Account and access key statements. Writes run in the caller's transaction; conflicts are
//! checked first so that a refused create writes nothing and reports the same error SQLite
//! does, and the unique indexes remain the backstop when two nodes race past the check.

use deadpool_postgres::{Client, GenericClient, Transaction};
use keypaird_inventory::{Account, AccountSummary, Credential, NewAccount, StoreError};
use time::OffsetDateTime;

use super::failure::{violated_constraint, Failure, Outcome};
use super::rows::{
    account_from_row, column, from_millis, quota_to_column, to_millis, ACCOUNT_COLUMNS,
};
use super::secrets::ensure_current;
use crate::sealing::{unseal_failure, MasterKey};

pub(super) async fn create(
    tx: &Transaction<'_>,
    new: &NewAccount,
    master: &MasterKey,
) -> Outcome<Account> {
    let taken = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = $1), \
                        EXISTS (SELECT 1 FROM accounts WHERE id = $2), \
                        EXISTS (SELECT 1 FROM access_keys WHERE access_key_id = $3)",
            )
            .await?,
            &[&new.name, &new.id, &new.access_key_id],
        )
        .await?;
    if column(&taken, 0, "accounts.name")? {
        return Err(StoreError::AccountExists(new.name.clone()).into());
    }
    if column(&taken, 1, "accounts.id")? {
        return Err(StoreError::AccountExists(new.id.clone()).into());
    }
    if column(&taken, 2, "access_keys.access_key_id")? {
        return Err(StoreError::AccessKeyExists(new.access_key_id.clone()).into());
    }
    let sealed = match &new.secret_access_key {
        Some(secret) => {
            ensure_current(tx, master).await?;
            Some(master.seal(&new.access_key_id, secret))
        }
        None => None,
    };
    let created_at_ms = to_millis(new.created_at)?;
    let conflict = |err: tokio_postgres::Error| match violated_constraint(&err) {
        Some("accounts_name_key") => StoreError::AccountExists(new.name.clone()).into(),
        Some("accounts_pkey") => StoreError::AccountExists(new.id.clone()).into(),
        Some("access_keys_pkey") => StoreError::AccessKeyExists(new.access_key_id.clone()).into(),
        _ => Failure::Database(err),
    };
    let account = insert_account(tx, &new.id, &new.name, new.key_pair_quota, created_at_ms)
        .await
        .map_err(|failure| match failure {
            Failure::Database(err) => conflict(err),
            refused => refused,
        })?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO access_keys (access_key_id, account_id, sealed_secret, created_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?,
        &[&new.access_key_id, &new.id, &sealed, &created_at_ms],
    )
    .await
    .map_err(conflict)?;
    Ok(account)
}

/// Returns the account as a later read will: with the stored, millisecond-truncated instant.
async fn insert_account(
    tx: &Transaction<'_>,
    id: &str,
    name: &str,
    key_pair_quota: Option<u32>,
    created_at_ms: i64,
) -> Outcome<Account> {
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO accounts (id, name, key_pair_quota, created_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?,
        &[&id, &name, &quota_to_column(key_pair_quota), &created_at_ms],
    )
    .await?;
    Ok(Account {
        id: id.to_owned(),
        name: name.to_owned(),
        key_pair_quota,
        created_at: from_millis(created_at_ms)?,
    })
}

/// "Only when the store holds no account" must hold against every node and against a
/// concurrent `accounts create`: the table lock (SHARE ROW EXCLUSIVE conflicts with itself and
/// with the ROW EXCLUSIVE lock every insert takes) makes the emptiness check and the insert one
/// step. It is taken once per node start, so its cost does not matter.
pub(super) async fn create_first(
    tx: &Transaction<'_>,
    new: &NewAccount,
    master: &MasterKey,
) -> Outcome<bool> {
    tx.batch_execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let any: bool = column(
        &tx.query_one("SELECT EXISTS (SELECT 1 FROM accounts)", &[])
            .await?,
        0,
        "accounts",
    )?;
    if any {
        return Ok(false);
    }
    create(tx, new, master).await?;
    Ok(true)
}

pub(super) async fn list(client: &Client) -> Outcome<Vec<AccountSummary>> {
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS}, \
                     coalesce((SELECT array_agg(ak.access_key_id ORDER BY ak.access_key_id) \
                               FROM access_keys ak WHERE ak.account_id = a.id), '{{}}') \
                     FROM accounts a ORDER BY a.name"
                ))
                .await?,
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(AccountSummary {
                account: account_from_row(row, 0)?,
                access_key_ids: column(row, 4, "access_keys.access_key_id")?,
            })
        })
        .collect()
}

pub(super) async fn find_credential(
    client: &impl GenericClient,
    access_key_id: &str,
    master: &MasterKey,
) -> Outcome<Option<Credential>> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT ak.access_key_id, ak.sealed_secret, {ACCOUNT_COLUMNS} \
             FROM access_keys ak JOIN accounts a ON a.id = ak.account_id \
             WHERE ak.access_key_id = $1"
        ))
        .await?;
    let Some(row) = client.query_opt(&statement, &[&access_key_id]).await? else {
        return Ok(None);
    };
    let access_key_id: String = column(&row, 0, "access_keys.access_key_id")?;
    let sealed: Option<&[u8]> = column(&row, 1, "access_keys.sealed_secret")?;
    let secret_access_key = sealed
        .map(|sealed| {
            master
                .unseal(&access_key_id, sealed)
                .map_err(|err| unseal_failure(&access_key_id, err))
        })
        .transpose()?;
    Ok(Some(Credential {
        access_key_id,
        secret_access_key,
        account: account_from_row(&row, 2)?,
    }))
}

/// Safe under concurrent first uses on any number of nodes, without a lock: every insert is
/// `ON CONFLICT DO NOTHING`, which under READ COMMITTED waits for a racing insert of the same
/// name or key to commit and then yields to it, and every read after it is a new statement that
/// sees what the winner committed. So all racers end up returning the winner's account.
pub(super) async fn credential_for_any_key(
    tx: &Transaction<'_>,
    access_key_id: &str,
    new_account_id: &str,
    now: OffsetDateTime,
    master: &MasterKey,
) -> Outcome<Credential> {
    if let Some(credential) = find_credential(tx, access_key_id, master).await? {
        return Ok(credential);
    }
    let now_ms = to_millis(now)?;
    let inserted_account = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO accounts (id, name, key_pair_quota, created_at_ms) \
                 VALUES ($1, $2, NULL, $3) ON CONFLICT DO NOTHING",
            )
            .await?,
            &[&new_account_id, &access_key_id, &now_ms],
        )
        .await?
        == 1;
    // The account named after the key: ours, a racer's, or one that existed already.
    let account = tx
        .query_opt(
            &tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = $1"
            ))
            .await?,
            &[&access_key_id],
        )
        .await?;
    let Some(account) = account else {
        // Nothing is named after the key, so the insert yielded on the ID.
        return Err(StoreError::AccountExists(new_account_id.to_owned()).into());
    };
    let account = account_from_row(&account, 0)?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO access_keys (access_key_id, account_id, secret, created_at_ms) \
             VALUES ($1, $2, NULL, $3) ON CONFLICT (access_key_id) DO NOTHING",
        )
        .await?,
        &[&access_key_id, &account.id, &now_ms],
    )
    .await?;
    let Some(credential) = find_credential(tx, access_key_id, master).await? else {
        return Err(
            StoreError::Internal("an access key vanished while being attached".into()).into(),
        );
    };
    if inserted_account && credential.account.id != new_account_id {
        // A concurrent `accounts create` took the key for another account meanwhile; the
        // account made for it would be an orphan.
        tx.execute("DELETE FROM accounts WHERE id = $1", &[&new_account_id])
            .await?;
    }
    Ok(credential)
}
