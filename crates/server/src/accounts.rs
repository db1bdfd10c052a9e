//! `keypaird accounts …`: works on the store directly, with or without a server running.

use anyhow::{bail, Context};
use std::sync::Arc;

use keypaird_inventory::{ids, NewAccount, Store, StoreError};

use crate::cli::{CreateAccountArgs, ListAccountsArgs, StoreArg};
use crate::config::store_url_of;
use crate::store_url::StoreUrl;

/// Opens the store `arg` names, with its master key.
pub async fn open_store(arg: &StoreArg) -> anyhow::Result<Arc<dyn Store>> {
    let url = StoreUrl::parse(&store_url_of(arg)?)?;
    let key_file = url.key_file(arg.master_key_file.as_deref())?;
    url.open(&key_file).await
}

pub async fn create(args: CreateAccountArgs) -> anyhow::Result<()> {
    if !is_valid_account_name(&args.name) {
        bail!("account names are 1 to 64 characters of letters, digits, '.', '_' and '-'");
    }
    let (access_key_id, secret) = match (args.access_key_id, args.secret_access_key) {
        (Some(id), Some(secret)) => {
            if !ids::is_valid_access_key_id(&id) {
                bail!("--access-key-id must be 3 to 128 characters of A-Z, a-z and 0-9");
            }
            if secret.is_empty()
                || secret.len() > 128
                || !secret.bytes().all(|b| b.is_ascii_graphic())
            {
                bail!("--secret-access-key must be 1 to 128 printable ASCII characters without spaces");
            }
            (id, secret)
        }
        _ => (ids::access_key_id(), ids::secret_access_key()),
    };
    if args.key_pair_quota == Some(0) {
        bail!("--key-pair-quota must be at least 1");
    }
    let store = open_store(&args.store).await?;
    let account = store
        .create_account(NewAccount {
            id: ids::account_id(),
            name: args.name.clone(),
            key_pair_quota: args.key_pair_quota,
            access_key_id: access_key_id.clone(),
            secret_access_key: Some(secret.as_str().into()),
            created_at: time::OffsetDateTime::now_utc(),
        })
        .await
        .map_err(|err| match err {
            StoreError::AccountExists(name) => {
                anyhow::anyhow!("an account named '{name}' already exists")
            }
            StoreError::AccessKeyExists(id) => {
                anyhow::anyhow!("the access key ID '{id}' is already in use")
            }
            other => anyhow::Error::new(other).context("cannot create the account"),
        })?;
    println!(
        "Created account '{}' (account id {}).",
        account.name, account.id
    );
    println!("export AWS_ACCESS_KEY_ID={access_key_id}");
    println!("export AWS_SECRET_ACCESS_KEY={secret}");
    Ok(())
}

pub async fn list(args: ListAccountsArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    let accounts = store
        .list_accounts()
        .await
        .context("cannot list accounts")?;
    println!(
        "{:<24} {:<14} {:<8} ACCESS KEY IDS",
        "NAME", "ACCOUNT ID", "QUOTA"
    );
    for summary in accounts {
        let quota = summary
            .account
            .key_pair_quota
            .map_or_else(|| "default".to_owned(), |q| q.to_string());
        println!(
            "{:<24} {:<14} {:<8} {}",
            summary.account.name,
            summary.account.id,
            quota,
            summary.access_key_ids.join(",")
        );
    }
    Ok(())
}

pub fn is_valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
