//! Secrets at rest, for every backend: what a store seals, what it refuses to open, and what
//! survives migration and rotation. These tests need more than the [`Store`] trait (reopening
//! one store with a key file, rotating it, writing rows as an older build did, and reading the
//! raw table), which a backend supplies as a [`SealingHarness`]; [`store_sealing_tests!`]
//! turns each function below into a test, like [`store_conformance_tests!`](crate::store_conformance_tests).

use std::sync::Arc;

use async_trait::async_trait;
use keypaird_inventory::{NewAccount, Store, StoreError};

use super::new_account;
use crate::{MasterKeyFile, RotationReport};

/// One store of a backend, empty, that the sealing tests may open several times.
#[async_trait]
pub trait SealingHarness: Send + Sync {
    /// Opens (the first time: creates) the store with the key in `key_file`.
    async fn open(&self, key_file: &MasterKeyFile) -> Result<Arc<dyn Store>, StoreError>;
    /// `keypaird rotate-master-key` on the store.
    async fn rotate(&self, key_file: &MasterKeyFile) -> Result<RotationReport, StoreError>;
    /// Makes the store as the last build before sealing left it: its schema, and `accounts`
    /// with their secrets in clear.
    async fn write_as_before_sealing(&self, accounts: &[NewAccount]);
    /// Every access key row as stored: (access key ID, `secret`, `sealed_secret`), by ID.
    async fn raw_access_keys(&self) -> Vec<(String, Option<String>, Option<Vec<u8>>)>;
    /// Overwrites one row's `sealed_secret`, as an attacker with the database could.
    async fn set_sealed_secret(&self, access_key_id: &str, sealed: &[u8]);
    /// A fresh path for a key file, in a directory the harness removes.
    fn key_file(&self, name: &str) -> MasterKeyFile;
}

/// Generates one `#[tokio::test]` per sealing test, each on a harness from `$fresh_harness`
/// (an async function returning `(impl SealingHarness, guard)`, or with `optional`, an
/// `Option` of it, as in [`store_conformance_tests!`](crate::store_conformance_tests)).
#[macro_export]
macro_rules! store_sealing_tests {
    (optional $fresh_harness:path) => {
        $crate::store_sealing_tests!(@list each_optional $fresh_harness);
    };
    ($fresh_harness:path) => {
        $crate::store_sealing_tests!(@list each $fresh_harness);
    };
    (@list $mode:ident $fresh_harness:path) => {
        $crate::store_conformance_tests!(@$mode $fresh_harness;
            sealing_credentials_verify_after_sealing,
            sealing_plaintext_rows_are_sealed_at_open,
            sealing_rotation_keeps_every_credential,
            sealing_wrong_or_missing_key_is_refused_at_open,
            sealing_a_node_with_the_old_key_is_told_to_restart,
            sealing_a_secret_moved_or_altered_is_refused,
        );
    };
}

/// (access key ID, secret) of the accounts most sealing tests use; the last has no secret, as
/// `--any-credentials` makes them.
fn accounts() -> Vec<NewAccount> {
    let mut any = new_account("333333333333", "any-key", "AKIDANYKEY");
    any.secret_access_key = None;
    vec![
        new_account("111111111111", "team-a", "AKIDTEAMA"),
        new_account("222222222222", "team-b", "AKIDTEAMB"),
        any,
    ]
}

async fn create_all(store: &dyn Store, accounts: &[NewAccount]) {
    for account in accounts {
        store
            .create_account(account.clone(), &super::audit())
            .await
            .expect("create account");
    }
}

/// Every account's secret, as `find_credential` returns it.
async fn secrets_found(store: &dyn Store, accounts: &[NewAccount]) -> Vec<Option<String>> {
    let mut found = Vec::new();
    for account in accounts {
        let credential = store
            .find_credential(&account.access_key_id)
            .await
            .expect("find")
            .expect("exists");
        found.push(credential.secret_access_key.as_deref().map(str::to_owned));
    }
    found
}

fn secrets_created(accounts: &[NewAccount]) -> Vec<Option<String>> {
    accounts
        .iter()
        .map(|account| account.secret_access_key.as_deref().map(str::to_owned))
        .collect()
}

/// No row holds a secret in clear, and no sealed value contains one.
async fn assert_nothing_in_clear(harness: &impl SealingHarness, accounts: &[NewAccount]) {
    let rows = harness.raw_access_keys().await;
    assert_eq!(rows.len(), accounts.len());
    for (access_key_id, secret, sealed) in &rows {
        assert_eq!(secret, &None, "{access_key_id} is in clear");
        let created = accounts
            .iter()
            .find(|account| &account.access_key_id == access_key_id)
            .expect("a created access key");
        match (&created.secret_access_key, sealed) {
            (Some(plain), Some(sealed)) => assert!(
                !sealed
                    .windows(plain.len())
                    .any(|window| window == plain.as_bytes()),
                "{access_key_id}'s sealed value contains the secret"
            ),
            (None, None) => {}
            other => panic!("{access_key_id}: secret and sealed value disagree: {other:?}"),
        }
    }
}

pub async fn sealing_credentials_verify_after_sealing(harness: impl SealingHarness) {
    let key_file = harness.key_file("k.master-key");
    let accounts = accounts();
    let store = harness.open(&key_file).await.expect("open");
    create_all(&*store, &accounts).await;
    assert_eq!(
        secrets_found(&*store, &accounts).await,
        secrets_created(&accounts)
    );
    drop(store);
    assert_nothing_in_clear(&harness, &accounts).await;
    let reopened = harness.open(&key_file).await.expect("reopen");
    assert_eq!(
        secrets_found(&*reopened, &accounts).await,
        secrets_created(&accounts)
    );
}

pub async fn sealing_plaintext_rows_are_sealed_at_open(harness: impl SealingHarness) {
    let accounts = accounts();
    harness.write_as_before_sealing(&accounts).await;
    let key_file = harness.key_file("k.master-key");
    let store = harness.open(&key_file).await.expect("open seals");
    assert_eq!(
        secrets_found(&*store, &accounts).await,
        secrets_created(&accounts)
    );
    drop(store);
    assert_nothing_in_clear(&harness, &accounts).await;
    // Sealed once: opening again changes nothing.
    let sealed = harness.raw_access_keys().await;
    drop(harness.open(&key_file).await.expect("reopen"));
    assert_eq!(harness.raw_access_keys().await, sealed);
}

pub async fn sealing_rotation_keeps_every_credential(harness: impl SealingHarness) {
    let key_file = harness.key_file("k.master-key");
    let accounts = accounts();
    let store = harness.open(&key_file).await.expect("open");
    create_all(&*store, &accounts).await;
    drop(store);
    let old_key = std::fs::read(key_file.path()).expect("old key file");
    let before = harness.raw_access_keys().await;

    let report = harness.rotate(&key_file).await.expect("rotate");
    assert_ne!(report.previous, report.current);
    assert_eq!(report.resealed, 2);
    assert!(!key_file.staged_path().exists());
    assert_ne!(
        std::fs::read(key_file.path()).expect("new key file"),
        old_key
    );
    let after = harness.raw_access_keys().await;
    assert_eq!(after.len(), before.len());
    for ((id, _, sealed_before), (same_id, secret, sealed_after)) in before.iter().zip(&after) {
        assert_eq!((id, secret), (same_id, &None));
        if sealed_before.is_some() {
            assert_ne!(sealed_before, sealed_after, "{id} was not sealed again");
        }
    }

    let store = harness
        .open(&key_file)
        .await
        .expect("open with the new key");
    assert_eq!(
        secrets_found(&*store, &accounts).await,
        secrets_created(&accounts)
    );
    drop(store);

    // The old key no longer opens the store.
    let old_file = harness.key_file("old.master-key");
    std::fs::write(old_file.path(), &old_key).expect("old key copy");
    set_owner_only(old_file.path());
    let refused = harness
        .open(&old_file)
        .await
        .err()
        .expect("old key refused");
    assert!(
        refused.to_string().contains(&format!(
            "the store is sealed under master key {}",
            report.current
        )),
        "{refused}"
    );
}

pub async fn sealing_wrong_or_missing_key_is_refused_at_open(harness: impl SealingHarness) {
    let key_file = harness.key_file("k.master-key");
    let store = harness.open(&key_file).await.expect("open");
    create_all(&*store, &accounts()).await;
    drop(store);
    let recorded = key_file.unlock(None).expect("the key").id();

    let other = harness.key_file("other.master-key");
    let other_id = other.unlock(None).expect("another key").id();
    let wrong = harness.open(&other).await.err().expect("wrong key refused");
    assert_eq!(
        wrong,
        StoreError::Internal(format!(
            "wrong master key: the store is sealed under master key {recorded}, but {} holds \
             key {other_id}; start with the key file the store was sealed under \
             (--master-key-file)",
            other.path().display()
        ))
    );

    let missing = harness.key_file("missing.master-key");
    let refused = harness.open(&missing).await.err().expect("no key refused");
    assert_eq!(
        refused,
        StoreError::Internal(format!(
            "missing master key: the store is sealed under master key {recorded}, but {} does \
             not exist; start with the key file the store was sealed under (--master-key-file)",
            missing.path().display()
        ))
    );
    assert!(
        !missing.path().exists(),
        "a store with a key must not make another"
    );
}

pub async fn sealing_a_node_with_the_old_key_is_told_to_restart(harness: impl SealingHarness) {
    let key_file = harness.key_file("k.master-key");
    let accounts = accounts();
    let stale = harness.open(&key_file).await.expect("open");
    create_all(&*stale, &accounts).await;
    let report = harness.rotate(&key_file).await.expect("rotate");
    let expected = StoreError::Unavailable(format!(
        "the store is sealed under master key {}, but this process holds {}: the master key \
         was rotated since it started; restart it with the new key file",
        report.current, report.previous
    ));
    let read = stale.find_credential("AKIDTEAMA").await;
    assert_eq!(read.map(|found| found.is_some()), Err(expected.clone()));
    let write = stale
        .create_account(
            new_account("444444444444", "late", "AKIDLATE"),
            &super::audit(),
        )
        .await;
    assert_eq!(write, Err(expected));
    let fresh = harness
        .open(&key_file)
        .await
        .expect("open with the new key");
    assert_eq!(
        secrets_found(&*fresh, &accounts).await,
        secrets_created(&accounts)
    );
    assert_eq!(
        fresh.find_credential("AKIDLATE").await.map(|c| c.is_some()),
        Ok(false)
    );
}

pub async fn sealing_a_secret_moved_or_altered_is_refused(harness: impl SealingHarness) {
    let key_file = harness.key_file("k.master-key");
    let store = harness.open(&key_file).await.expect("open");
    create_all(&*store, &accounts()).await;
    drop(store);
    let rows = harness.raw_access_keys().await;
    let sealed_of = |id: &str| {
        rows.iter()
            .find(|(row_id, _, _)| row_id == id)
            .and_then(|(_, _, sealed)| sealed.clone())
            .expect("sealed")
    };
    // Team A's sealed secret copied into team B's row does not open as team B's.
    harness
        .set_sealed_secret("AKIDTEAMB", &sealed_of("AKIDTEAMA"))
        .await;
    let store = harness.open(&key_file).await.expect("reopen");
    assert_eq!(
        store
            .find_credential("AKIDTEAMB")
            .await
            .map(|found| found.is_some()),
        Err(StoreError::Internal(
            "corrupt store: the sealed secret of access key AKIDTEAMB does not authenticate \
             (altered or moved)"
                .into()
        ))
    );
    let mut altered = sealed_of("AKIDTEAMA");
    let last = altered.len() - 1;
    altered[last] ^= 0x80;
    harness.set_sealed_secret("AKIDTEAMA", &altered).await;
    let store = harness.open(&key_file).await.expect("reopen");
    assert_eq!(
        store
            .find_credential("AKIDTEAMA")
            .await
            .map(|found| found.is_some()),
        Err(StoreError::Internal(
            "corrupt store: the sealed secret of access key AKIDTEAMA does not authenticate \
             (altered or moved)"
                .into()
        ))
    );
}

fn set_owner_only(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}
