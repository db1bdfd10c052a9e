//! Access keys with a lifecycle: several keys per account, disabled and read-only keys, the
//! credentials generation every change bumps, last use, and accounts deleted or re-quoted.

use std::sync::Arc;

use keypaird_inventory::{NewAccessKey, Provider, Store, StoreError};

use super::{at_millis, aws, base_millis, insert, key_pair, new_account, tag, ACCOUNT_A};

const NAME: &str = "team";

async fn account_with_one_key(store: &dyn Store) {
    store
        .create_account(new_account(ACCOUNT_A, NAME, "AKFIRST"), &super::audit())
        .await
        .expect("create account");
}

fn new_key(id: &str, read_only: bool, created_at_millis: i64) -> NewAccessKey {
    NewAccessKey {
        access_key_id: id.to_owned(),
        secret_access_key: format!("secret-of-{id}").into(),
        read_only,
        created_at: at_millis(created_at_millis),
    }
}

async fn generation(store: &dyn Store) -> i64 {
    store.credentials_generation().await.expect("generation")
}

pub async fn access_keys_are_added_listed_and_found(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let before = generation(&*store).await;
    let created = store
        .create_access_key(
            NAME,
            new_key("AKSECOND", true, base_millis() + 5),
            &super::audit(),
        )
        .await
        .expect("create key");
    assert_eq!(created.access_key_id, "AKSECOND");
    assert!(created.read_only && !created.disabled);
    assert!(
        generation(&*store).await > before,
        "a new key bumps the generation"
    );

    let listed = store.list_access_keys(NAME).await.expect("list");
    let summary: Vec<(&str, bool, bool, i64, bool)> = listed
        .iter()
        .map(|k| {
            (
                k.access_key_id.as_str(),
                k.disabled,
                k.read_only,
                crate::millis::to_millis(k.created_at).unwrap(),
                k.last_used_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("AKFIRST", false, false, base_millis(), false),
            ("AKSECOND", false, true, base_millis() + 5, false),
        ]
    );
    let found = store
        .find_credential("AKSECOND")
        .await
        .expect("find")
        .expect("the new key is found");
    assert_eq!(found.account.id, ACCOUNT_A);
    assert_eq!(
        found.secret_access_key.as_deref(),
        Some("secret-of-AKSECOND")
    );
    assert!(found.read_only && !found.disabled);
    let first = store.find_credential("AKFIRST").await.unwrap().unwrap();
    assert!(!first.read_only && !first.disabled);
}

pub async fn access_key_refusals_write_nothing(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let before = generation(&*store).await;
    assert_eq!(
        store
            .create_access_key(
                "nobody",
                new_key("AKNEW", false, base_millis()),
                &super::audit()
            )
            .await
            .unwrap_err(),
        StoreError::AccountNotFound("nobody".into())
    );
    assert_eq!(
        store
            .create_access_key(
                NAME,
                new_key("AKFIRST", false, base_millis()),
                &super::audit()
            )
            .await
            .unwrap_err(),
        StoreError::AccessKeyExists("AKFIRST".into())
    );
    assert_eq!(
        store.list_access_keys("nobody").await.unwrap_err(),
        StoreError::AccountNotFound("nobody".into())
    );
    assert_eq!(
        store
            .set_access_key_disabled(NAME, "AKOTHER", true, &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccessKeyNotFound("AKOTHER".into())
    );
    assert_eq!(
        store
            .delete_access_key(NAME, "AKOTHER", &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccessKeyNotFound("AKOTHER".into())
    );
    // A key of another account is not this account's to change.
    store
        .create_account(
            new_account("222222222222", "other", "AKOTHERS"),
            &super::audit(),
        )
        .await
        .unwrap();
    let after_other = generation(&*store).await;
    assert_eq!(
        store
            .set_access_key_disabled(NAME, "AKOTHERS", true, &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccessKeyNotFound("AKOTHERS".into())
    );
    assert!(
        !store
            .find_credential("AKOTHERS")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(generation(&*store).await, after_other);
    assert_eq!(store.list_access_keys(NAME).await.unwrap().len(), 1);
    assert!(before <= after_other);
}

pub async fn disable_enable_and_delete_bump_the_generation(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let g0 = generation(&*store).await;
    store
        .set_access_key_disabled(NAME, "AKFIRST", true, &super::audit())
        .await
        .expect("disable");
    let g1 = generation(&*store).await;
    assert!(g1 > g0);
    let found = store.find_credential("AKFIRST").await.unwrap().unwrap();
    assert!(found.disabled, "a disabled key is still found, as disabled");
    assert!(store.list_access_keys(NAME).await.unwrap()[0].disabled);

    store
        .set_access_key_disabled(NAME, "AKFIRST", false, &super::audit())
        .await
        .expect("enable");
    let g2 = generation(&*store).await;
    assert!(g2 > g1);
    assert!(
        !store
            .find_credential("AKFIRST")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    store
        .delete_access_key(NAME, "AKFIRST", &super::audit())
        .await
        .expect("delete");
    assert!(generation(&*store).await > g2);
    assert!(store.find_credential("AKFIRST").await.unwrap().is_none());
    assert_eq!(store.list_access_keys(NAME).await.unwrap(), vec![]);
}

pub async fn last_use_is_recorded_and_only_moves_forward(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let g0 = generation(&*store).await;
    let later = at_millis(base_millis() + 60_000);
    store
        .record_access_key_uses(&[("AKFIRST".to_owned(), later), ("AKGONE".to_owned(), later)])
        .await
        .expect("record uses");
    store
        .record_access_key_uses(&[("AKFIRST".to_owned(), at_millis(base_millis() + 1))])
        .await
        .expect("an older use");
    let keys = store.list_access_keys(NAME).await.unwrap();
    assert_eq!(keys[0].last_used_at, Some(later));
    assert_eq!(
        generation(&*store).await,
        g0,
        "recording use must not drop every node's credential cache"
    );
}

pub async fn delete_account_refuses_while_it_holds_key_pairs(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let mut held = key_pair(
        "key-0000000000000001",
        &aws(ACCOUNT_A),
        "one",
        base_millis(),
    );
    held.tags = vec![tag("k", "v")];
    insert(&*store, &held).await;
    insert(
        &*store,
        &key_pair(
            "key-0000000000000002",
            &super::scope(ACCOUNT_A, Provider::Aliyun, "cn-hangzhou"),
            "two",
            base_millis(),
        ),
    )
    .await;
    let g0 = generation(&*store).await;
    assert_eq!(
        store
            .delete_account(NAME, false, &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccountHoldsKeyPairs {
            name: NAME.into(),
            key_pairs: 2
        }
    );
    assert_eq!(generation(&*store).await, g0);
    assert!(store.find_credential("AKFIRST").await.unwrap().is_some());

    assert_eq!(
        store
            .delete_account(NAME, true, &super::audit())
            .await
            .expect("force"),
        2
    );
    assert!(generation(&*store).await > g0);
    assert!(store.find_credential("AKFIRST").await.unwrap().is_none());
    assert_eq!(store.list_accounts().await.unwrap(), vec![]);
    assert_eq!(super::all(&*store, &aws(ACCOUNT_A)).await, vec![]);
    // The name is free again, and the new account starts from an empty counter.
    store
        .create_account(new_account(ACCOUNT_A, NAME, "AKAGAIN"), &super::audit())
        .await
        .expect("recreate");
    insert(&*store, &held).await;
    let mut query = keypaird_inventory::KeyPairQuery::all(aws(ACCOUNT_A));
    query.count_total = true;
    assert_eq!(store.count_key_pairs(&query).await.unwrap(), 1);
    assert_eq!(
        store
            .delete_account("nobody", true, &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccountNotFound("nobody".into())
    );
}

pub async fn delete_account_without_key_pairs(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    assert_eq!(
        store
            .delete_account(NAME, false, &super::audit())
            .await
            .expect("delete"),
        0
    );
    assert!(store.find_credential("AKFIRST").await.unwrap().is_none());
}

pub async fn set_account_quota_is_what_credentials_carry(store: Arc<dyn Store>) {
    account_with_one_key(&*store).await;
    let g0 = generation(&*store).await;
    store
        .set_account_quota(NAME, 7, &super::audit())
        .await
        .expect("set quota");
    assert!(generation(&*store).await > g0);
    let credential = store.find_credential("AKFIRST").await.unwrap().unwrap();
    assert_eq!(credential.account.key_pair_quota, Some(7));
    assert_eq!(
        store
            .set_account_quota("nobody", 7, &super::audit())
            .await
            .unwrap_err(),
        StoreError::AccountNotFound("nobody".into())
    );
}

/// What every node's `CredentialCache` relies on: a change shows once the generation is read
/// again, however long the TTL, and last uses reach the store in one flush.
pub async fn credential_cache_follows_the_generation(store: Arc<dyn Store>) {
    use keypaird_inventory::credentials::GENERATION_CHECK_INTERVAL;
    use keypaird_inventory::CredentialCache;

    account_with_one_key(&*store).await;
    let cache = CredentialCache::new(store.clone(), std::time::Duration::from_secs(3600));
    let past_the_check = GENERATION_CHECK_INTERVAL + std::time::Duration::from_millis(100);
    let found = |cache: &CredentialCache| {
        let cache = cache.clone();
        async move { cache.find("AKFIRST").await.expect("find") }
    };
    assert!(!found(&cache).await.expect("cached now").disabled);

    store
        .set_access_key_disabled(NAME, "AKFIRST", true, &super::audit())
        .await
        .unwrap();
    tokio::time::sleep(past_the_check).await;
    assert!(found(&cache).await.expect("still found").disabled);

    store
        .set_access_key_disabled(NAME, "AKFIRST", false, &super::audit())
        .await
        .unwrap();
    tokio::time::sleep(past_the_check).await;
    assert!(!found(&cache).await.expect("enabled").disabled);

    let used_at = at_millis(base_millis() + 90_000);
    cache.note_use("AKFIRST", at_millis(base_millis() + 1));
    cache.note_use("AKFIRST", used_at);
    assert_eq!(cache.flush_uses().await.expect("flush"), 1);
    assert_eq!(cache.flush_uses().await.expect("nothing new"), 0);
    assert_eq!(
        store.list_access_keys(NAME).await.unwrap()[0].last_used_at,
        Some(used_at)
    );

    store
        .delete_access_key(NAME, "AKFIRST", &super::audit())
        .await
        .unwrap();
    tokio::time::sleep(past_the_check).await;
    assert!(found(&cache).await.is_none(), "a deleted key is forgotten");
}
