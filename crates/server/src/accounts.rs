//! `keypaird accounts …` and `keypaird access-keys …`: work on the store directly, with or
//! without a server running. Every change to a key or an account bumps the store's credentials
//! generation, which every running node polls, so it takes effect everywhere within a second.

use anyhow::{bail, Context};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use keypaird_inventory::{
    ids, AuditEvent, AuditSource, NewAccessKey, NewAccount, Store, StoreError,
};

use crate::cli::{
    AccessKeyArgs, AccessKeysListArgs, ChosenAccessKey, CreateAccessKeyArgs, CreateAccountArgs,
    DeleteAccountArgs, ListAccountsArgs, SetQuotaArgs, StoreArg,
};
use crate::config::store_url_of;
use crate::store_url::StoreUrl;

/// Opens the store `arg` names, with its master key.
pub async fn open_store(arg: &StoreArg) -> anyhow::Result<Arc<dyn Store>> {
    let url = StoreUrl::parse(&store_url_of(arg)?)?;
    let key_file = url.key_file(arg.master_key_file.as_deref())?;
    url.open(&key_file).await
}

/// The audit event of a command-line change: source `cli`, from `local`.
pub fn command_line_event(action: &str) -> AuditEvent {
    let mut event = AuditEvent::new(AuditSource::CommandLine, action);
    event.source_ip = "local".to_owned();
    event.user_agent = format!("keypaird-cli/{}", env!("CARGO_PKG_VERSION"));
    event.request_id = event.event_id.clone();
    event
}

/// The event of a change to the account named `name`: its ID read from the store (the
/// command line's account list is small), so `keypaird audit --account` finds it.
async fn account_event(
    store: &dyn Store,
    action: &str,
    name: &str,
    parameters: serde_json::Value,
) -> anyhow::Result<AuditEvent> {
    let mut event = command_line_event(action);
    event.account_name = name.to_owned();
    event.account_id = store
        .list_accounts()
        .await
        .context("cannot read the accounts")?
        .into_iter()
        .find(|summary| summary.account.name == name)
        .map(|summary| summary.account.id)
        .unwrap_or_default();
    event.request_parameters = parameters.to_string();
    Ok(event)
}

/// The store's refusals in the words of the command line; anything else keeps its cause.
fn explained(err: StoreError, failed: &str) -> anyhow::Error {
    match err {
        StoreError::AccountExists(name) => {
            anyhow::anyhow!("an account named '{name}' already exists")
        }
        StoreError::AccessKeyExists(id) => {
            anyhow::anyhow!("the access key ID '{id}' is already in use")
        }
        StoreError::AccountNotFound(name) => anyhow::anyhow!("there is no account named '{name}'"),
        StoreError::AccessKeyNotFound(id) => {
            anyhow::anyhow!("the account has no access key '{id}'")
        }
        StoreError::AccountHoldsKeyPairs { name, key_pairs } => anyhow::anyhow!(
            "the account '{name}' still holds {key_pairs} key pair(s); delete them first, or pass --force to delete them with the account"
        ),
        other => anyhow::Error::new(other).context(failed.to_owned()),
    }
}

/// The key the user chose, checked, or a generated one.
fn chosen_or_generated(key: ChosenAccessKey) -> anyhow::Result<(String, String)> {
    let (Some(id), Some(secret)) = (key.access_key_id, key.secret_access_key) else {
        return Ok((ids::access_key_id(), ids::secret_access_key()));
    };
    if !ids::is_valid_access_key_id(&id) {
        bail!("--access-key-id must be 3 to 128 characters of A-Z, a-z and 0-9");
    }
    if secret.is_empty() || secret.len() > 128 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("--secret-access-key must be 1 to 128 printable ASCII characters without spaces");
    }
    Ok((id, secret))
}

/// The credentials, once, as lines a shell can `eval`.
fn print_exports(access_key_id: &str, secret: &str) {
    println!("export AWS_ACCESS_KEY_ID={access_key_id}");
    println!("export AWS_SECRET_ACCESS_KEY={secret}");
}

pub async fn create(args: CreateAccountArgs) -> anyhow::Result<()> {
    if !is_valid_account_name(&args.name) {
        bail!("account names are 1 to 64 characters of letters, digits, '.', '_' and '-'");
    }
    let (access_key_id, secret) = chosen_or_generated(args.key)?;
    if args.key_pair_quota == Some(0) {
        bail!("--key-pair-quota must be at least 1");
    }
    let store = open_store(&args.store).await?;
    let account_id = ids::account_id();
    let mut event = command_line_event("CreateAccount");
    event.account_id = account_id.clone();
    event.account_name = args.name.clone();
    event.request_parameters = serde_json::json!({
        "accountName": args.name,
        "keyPairQuota": args.key_pair_quota,
        "accessKeyId": access_key_id,
    })
    .to_string();
    let account = store
        .create_account(
            NewAccount {
                id: account_id,
                name: args.name.clone(),
                key_pair_quota: args.key_pair_quota,
                access_key_id: access_key_id.clone(),
                secret_access_key: Some(secret.as_str().into()),
                created_at: OffsetDateTime::now_utc(),
            },
            &event,
        )
        .await
        .map_err(|err| explained(err, "cannot create the account"))?;
    println!(
        "Created account '{}' (account id {}).",
        account.name, account.id
    );
    print_exports(&access_key_id, &secret);
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

pub async fn delete(args: DeleteAccountArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    let parameters = serde_json::json!({ "accountName": args.name, "force": args.force });
    let event = account_event(store.as_ref(), "DeleteAccount", &args.name, parameters).await?;
    let key_pairs = store
        .delete_account(&args.name, args.force, &event)
        .await
        .map_err(|err| explained(err, "cannot delete the account"))?;
    println!(
        "Deleted account '{}' with its access keys and {key_pairs} key pair(s).",
        args.name
    );
    Ok(())
}

pub async fn set_quota(args: SetQuotaArgs) -> anyhow::Result<()> {
    if args.quota == 0 {
        bail!("the quota must be at least 1");
    }
    let store = open_store(&args.store).await?;
    let parameters = serde_json::json!({ "accountName": args.name, "keyPairQuota": args.quota });
    let event = account_event(store.as_ref(), "SetAccountQuota", &args.name, parameters).await?;
    store
        .set_account_quota(&args.name, args.quota, &event)
        .await
        .map_err(|err| explained(err, "cannot set the quota"))?;
    println!(
        "Account '{}' may now hold {} key pairs per region and dialect.",
        args.name, args.quota
    );
    Ok(())
}

pub async fn create_access_key(args: CreateAccessKeyArgs) -> anyhow::Result<()> {
    let (access_key_id, secret) = chosen_or_generated(args.key)?;
    let store = open_store(&args.store).await?;
    let parameters = serde_json::json!({
        "accountName": args.account,
        "accessKeyId": access_key_id,
        "readOnly": args.read_only,
    });
    let event = account_event(store.as_ref(), "CreateAccessKey", &args.account, parameters).await?;
    let created = store
        .create_access_key(
            &args.account,
            NewAccessKey {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret.as_str().into(),
                read_only: args.read_only,
                created_at: OffsetDateTime::now_utc(),
            },
            &event,
        )
        .await
        .map_err(|err| explained(err, "cannot create the access key"))?;
    let kind = if created.read_only { "read-only " } else { "" };
    println!(
        "Created {kind}access key {} for account '{}'.",
        created.access_key_id, args.account
    );
    print_exports(&access_key_id, &secret);
    Ok(())
}

pub async fn list_access_keys(args: AccessKeysListArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    let keys = store
        .list_access_keys(&args.account)
        .await
        .map_err(|err| explained(err, "cannot list the access keys"))?;
    println!(
        "{:<24} {:<9} {:<10} {:<21} LAST USED",
        "ACCESS KEY ID", "STATUS", "READ-ONLY", "CREATED"
    );
    for key in keys {
        println!(
            "{:<24} {:<9} {:<10} {:<21} {}",
            key.access_key_id,
            if key.disabled { "disabled" } else { "active" },
            if key.read_only { "yes" } else { "no" },
            shown_time(key.created_at),
            key.last_used_at
                .map_or_else(|| "never".to_owned(), shown_time),
        );
    }
    Ok(())
}

/// RFC 3339 in UTC, to the second.
fn shown_time(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `access-keys disable`, `enable` and `delete`: one change to one key of the account.
pub enum KeyChange {
    Disable,
    Enable,
    Delete,
}

pub async fn change_access_key(args: AccessKeyArgs, change: KeyChange) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    let (account, id) = (args.account.as_str(), args.access_key_id.as_str());
    let action = match change {
        KeyChange::Disable => "DisableAccessKey",
        KeyChange::Enable => "EnableAccessKey",
        KeyChange::Delete => "DeleteAccessKey",
    };
    let parameters = serde_json::json!({ "accountName": account, "accessKeyId": id });
    let event = account_event(store.as_ref(), action, account, parameters).await?;
    let (done, changed) = match change {
        KeyChange::Disable => (
            "Disabled",
            store
                .set_access_key_disabled(account, id, true, &event)
                .await,
        ),
        KeyChange::Enable => (
            "Enabled",
            store
                .set_access_key_disabled(account, id, false, &event)
                .await,
        ),
        KeyChange::Delete => (
            "Deleted",
            store.delete_access_key(account, id, &event).await,
        ),
    };
    changed.map_err(|err| explained(err, "cannot change the access key"))?;
    println!("{done} access key {id} of account '{account}'.");
    Ok(())
}

pub fn is_valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
