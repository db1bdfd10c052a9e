//! `keypaird migrate`: create or upgrade the store's schema and exit, for deployments that
//! migrate before rolling out nodes. (Nodes also migrate when they start, under a lock, so
//! running it is optional.)

use crate::cli::{MigrateArgs, RotateMasterKeyArgs};
use crate::config::store_url_of;
use crate::store_url::{redact, StoreUrl};

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let url = &store_url_of(&args.store)?;
    let store_url = StoreUrl::parse(url)?;
    let key_file = store_url.key_file(args.store.master_key_file.as_deref())?;
    let report = store_url.migrate(&key_file).await?;
    let store = redact(url);
    if report.applied.is_empty() {
        println!(
            "{store}: schema already at version {}; nothing to do.",
            report.version
        );
    } else {
        let applied: Vec<String> = report.applied.iter().map(i64::to_string).collect();
        println!(
            "{store}: applied migration(s) {}; schema now at version {}.",
            applied.join(", "),
            report.version
        );
    }
    Ok(())
}

/// `keypaird rotate-master-key`: a new key, every secret sealed under it, the key file replaced.
pub async fn rotate_master_key(args: RotateMasterKeyArgs) -> anyhow::Result<()> {
    let url = &store_url_of(&args.store)?;
    let store_url = StoreUrl::parse(url)?;
    let key_file = store_url.key_file(args.store.master_key_file.as_deref())?;
    let report = store_url.rotate_master_key(&key_file).await?;
    println!(
        "{}: sealed {} access key secret(s) under the new master key {} (was {}); the key is in {}.",
        redact(url),
        report.resealed,
        report.current,
        report.previous,
        key_file.path().display()
    );
    if matches!(store_url, StoreUrl::Postgres(_)) {
        println!(
            "Every node still running holds the old key: copy {} to each node and restart it.",
            key_file.path().display()
        );
    }
    Ok(())
}
