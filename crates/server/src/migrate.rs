//! `keypaird migrate`: create or upgrade the store's schema and exit, for deployments that
//! migrate before rolling out nodes. (Nodes also migrate when they start, under a lock, so
//! running it is optional.)

use crate::cli::MigrateArgs;
use crate::config::DEFAULT_STORE;
use crate::store_url::{redact, StoreUrl};

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let url = args.store.store.as_deref().unwrap_or(DEFAULT_STORE);
    let report = StoreUrl::parse(url)?.migrate().await?;
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
