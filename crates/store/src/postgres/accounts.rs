//! Account and access key statements. Writes run in the caller's transaction; conflicts are
//! checked first so that a refused create writes nothing and reports the same error SQLite
//! does, and the unique indexes remain the backstop when two nodes race past the check.

use deadpool_postgres::{Client, GenericClient, Transaction};
use keypaird_inventory::{
    AccessKeySummary, Account, AccountSummary, Credential, NewAccessKey, NewAccount, Provider,
    Scope, StoreError,
};
use time::OffsetDateTime;

use super::failure::{corrupt, violated_constraint, Failure, Outcome};
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
            "SELECT ak.access_key_id, ak.sealed_secret, ak.disabled, ak.read_only, \
                    {ACCOUNT_COLUMNS} \
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
        disabled: column(&row, 2, "access_keys.disabled")?,
        read_only: column(&row, 3, "access_keys.read_only")?,
        account: account_from_row(&row, 4)?,
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

const LIST_ACCESS_KEYS: &str = "SELECT a.id, ak.access_key_id, ak.disabled, ak.read_only, \
     ak.created_at_ms, ak.last_used_at_ms \
     FROM accounts a LEFT JOIN access_keys ak ON ak.account_id = a.id \
     WHERE a.name = $1 ORDER BY ak.created_at_ms, ak.access_key_id";
const LOCK_ACCOUNT_NAMED: &str = "SELECT id FROM accounts WHERE name = $1 FOR UPDATE";
const DISABLE_ACCESS_KEY: &str =
    "UPDATE access_keys SET disabled = true WHERE access_key_id = $1 AND account_id = $2";
const ENABLE_ACCESS_KEY: &str =
    "UPDATE access_keys SET disabled = false WHERE access_key_id = $1 AND account_id = $2";
const DELETE_ACCESS_KEY: &str =
    "DELETE FROM access_keys WHERE access_key_id = $1 AND account_id = $2";
const LOCK_ACCOUNT_COUNTERS: &str =
    "SELECT provider, region, count FROM key_pair_counts WHERE account_id = $1 FOR UPDATE";
const DELETE_SCOPE_KEY_PAIRS: &str = "DELETE FROM key_pairs WHERE scope = $1";
const DELETE_ACCOUNT_COUNTERS: &str = "DELETE FROM key_pair_counts WHERE account_id = $1";
const DELETE_ACCOUNT: &str = "DELETE FROM accounts WHERE id = $1";
const SET_QUOTA: &str = "UPDATE accounts SET key_pair_quota = $2 WHERE name = $1";
const RECORD_USE: &str = "UPDATE access_keys \
     SET last_used_at_ms = greatest(last_used_at_ms, $2) WHERE access_key_id = $1";
const GENERATION: &str = "SELECT generation FROM credentials_generation WHERE singleton = 1";
const BUMP_GENERATION: &str =
    "UPDATE credentials_generation SET generation = generation + 1 WHERE singleton = 1";

/// The access-key and account statements whose plans the tests check, each with arguments
/// for `EXECUTE`: none may scan a table.
#[cfg(test)]
pub(super) const PLANNED: &[(&str, &str)] = &[
    (LIST_ACCESS_KEYS, "'team'"),
    (LOCK_ACCOUNT_NAMED, "'team'"),
    (DISABLE_ACCESS_KEY, "'AK', '1'"),
    (ENABLE_ACCESS_KEY, "'AK', '1'"),
    (DELETE_ACCESS_KEY, "'AK', '1'"),
    (LOCK_ACCOUNT_COUNTERS, "'1'"),
    (DELETE_SCOPE_KEY_PAIRS, "'1/aws/us-east-1'"),
    (DELETE_ACCOUNT_COUNTERS, "'1'"),
    (DELETE_ACCOUNT, "'1'"),
    (SET_QUOTA, "'team', 5"),
    (RECORD_USE, "'AK', 5"),
    (GENERATION, ""),
    (BUMP_GENERATION, ""),
];

/// Every change a credential cache must not outlive bumps this, in the change's transaction.
async fn bump_generation(tx: &Transaction<'_>) -> Outcome<()> {
    tx.execute(&tx.prepare_cached(BUMP_GENERATION).await?, &[])
        .await?;
    Ok(())
}

pub(super) async fn generation(client: &impl GenericClient) -> Outcome<i64> {
    let row = client
        .query_one(&client.prepare_cached(GENERATION).await?, &[])
        .await?;
    column(&row, 0, "credentials_generation.generation")
}

/// The account's ID, its row locked until the transaction ends: a key or a deletion then
/// waits for any other change to the same account.
async fn lock_account_named(tx: &Transaction<'_>, name: &str) -> Outcome<String> {
    let row = tx
        .query_opt(&tx.prepare_cached(LOCK_ACCOUNT_NAMED).await?, &[&name])
        .await?
        .ok_or_else(|| StoreError::AccountNotFound(name.to_owned()))?;
    column(&row, 0, "accounts.id")
}

pub(super) async fn create_access_key(
    tx: &Transaction<'_>,
    account_name: &str,
    key: &NewAccessKey,
    master: &MasterKey,
) -> Outcome<AccessKeySummary> {
    let account_id = lock_account_named(tx, account_name).await?;
    ensure_current(tx, master).await?;
    let sealed = master.seal(&key.access_key_id, &key.secret_access_key);
    let created_at_ms = to_millis(key.created_at)?;
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO access_keys \
                 (access_key_id, account_id, sealed_secret, read_only, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (access_key_id) DO NOTHING",
            )
            .await?,
            &[
                &key.access_key_id,
                &account_id,
                &sealed,
                &key.read_only,
                &created_at_ms,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::AccessKeyExists(key.access_key_id.clone()).into());
    }
    bump_generation(tx).await?;
    Ok(AccessKeySummary {
        access_key_id: key.access_key_id.clone(),
        disabled: false,
        read_only: key.read_only,
        created_at: from_millis(created_at_ms)?,
        last_used_at: None,
    })
}

pub(super) async fn list_access_keys(
    client: &Client,
    account_name: &str,
) -> Outcome<Vec<AccessKeySummary>> {
    let rows = client
        .query(
            &client.prepare_cached(LIST_ACCESS_KEYS).await?,
            &[&account_name],
        )
        .await?;
    if rows.is_empty() {
        return Err(StoreError::AccountNotFound(account_name.to_owned()).into());
    }
    let mut keys = Vec::new();
    for row in &rows {
        let Some(access_key_id) = column::<Option<String>>(row, 1, "access_keys.access_key_id")?
        else {
            continue; // The account has no key: the outer join's one row.
        };
        let last_used: Option<i64> = column(row, 5, "access_keys.last_used_at_ms")?;
        keys.push(AccessKeySummary {
            access_key_id,
            disabled: column(row, 2, "access_keys.disabled")?,
            read_only: column(row, 3, "access_keys.read_only")?,
            created_at: from_millis(column(row, 4, "access_keys.created_at_ms")?)?,
            last_used_at: last_used.map(from_millis).transpose()?,
        });
    }
    Ok(keys)
}

/// Runs `change` (a statement on one of the account's keys, `$1` the key, `$2` the account)
/// and bumps the generation; `AccessKeyNotFound` when it touched no row.
async fn change_access_key(
    tx: &Transaction<'_>,
    account_name: &str,
    access_key_id: &str,
    change: &str,
) -> Outcome<()> {
    let account_id = lock_account_named(tx, account_name).await?;
    let changed = tx
        .execute(
            &tx.prepare_cached(change).await?,
            &[&access_key_id, &account_id],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::AccessKeyNotFound(access_key_id.to_owned()).into());
    }
    bump_generation(tx).await
}

pub(super) async fn set_access_key_disabled(
    tx: &Transaction<'_>,
    account_name: &str,
    access_key_id: &str,
    disabled: bool,
) -> Outcome<()> {
    let change = if disabled {
        DISABLE_ACCESS_KEY
    } else {
        ENABLE_ACCESS_KEY
    };
    change_access_key(tx, account_name, access_key_id, change).await
}

pub(super) async fn delete_access_key(
    tx: &Transaction<'_>,
    account_name: &str,
    access_key_id: &str,
) -> Outcome<()> {
    change_access_key(tx, account_name, access_key_id, DELETE_ACCESS_KEY).await
}

/// The account's key pairs are told from its counter rows (one per scope it used, locked
/// here so no insert into them races the deletion), never by counting them. Key pairs are
/// deleted scope by scope, as every key pair index leads with the scope; their tags go by
/// cascade, the access keys with the account.
pub(super) async fn delete_account(tx: &Transaction<'_>, name: &str, force: bool) -> Outcome<u64> {
    let account_id = lock_account_named(tx, name).await?;
    let counters = tx
        .query(
            &tx.prepare_cached(LOCK_ACCOUNT_COUNTERS).await?,
            &[&account_id],
        )
        .await?;
    let mut held = 0i64;
    let mut scopes = Vec::with_capacity(counters.len());
    for row in &counters {
        let provider: &str = column(row, 0, "key_pair_counts.provider")?;
        held += column::<i64>(row, 2, "key_pair_counts.count")?;
        scopes.push(crate::sql::scope_key(&Scope {
            account_id: account_id.clone(),
            provider: Provider::parse(provider)
                .ok_or_else(|| corrupt("key_pair_counts.provider"))?,
            region: column(row, 1, "key_pair_counts.region")?,
        }));
    }
    if held > 0 && !force {
        return Err(StoreError::AccountHoldsKeyPairs {
            name: name.to_owned(),
            key_pairs: held as u64,
        }
        .into());
    }
    // One range of the (scope, name) index per scope the account used: a handful of regions.
    let delete_scope = tx.prepare_cached(DELETE_SCOPE_KEY_PAIRS).await?;
    for scope in &scopes {
        tx.execute(&delete_scope, &[scope]).await?;
    }
    for statement in [DELETE_ACCOUNT_COUNTERS, DELETE_ACCOUNT] {
        tx.execute(&tx.prepare_cached(statement).await?, &[&account_id])
            .await?;
    }
    bump_generation(tx).await?;
    Ok(held as u64)
}

pub(super) async fn set_account_quota(tx: &Transaction<'_>, name: &str, quota: u32) -> Outcome<()> {
    let changed = tx
        .execute(
            &tx.prepare_cached(SET_QUOTA).await?,
            &[&name, &i64::from(quota)],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::AccountNotFound(name.to_owned()).into());
    }
    bump_generation(tx).await
}

/// One primary-key update per key, all in the caller's transaction (one commit per flush). A
/// join with the batch unnested would be one statement, but a plan without statistics hashes
/// it against the whole table.
pub(super) async fn record_uses(
    tx: &Transaction<'_>,
    uses: &[(String, OffsetDateTime)],
) -> Outcome<()> {
    let record = tx.prepare_cached(RECORD_USE).await?;
    for (access_key_id, at) in uses {
        tx.execute(&record, &[access_key_id, &to_millis(*at)?])
            .await?;
    }
    Ok(())
}
