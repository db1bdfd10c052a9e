//! What every [`Store`] backend must do, written once and run against each backend.
//!
//! The service trusts the store for uniqueness, quotas and tag limits and never re-checks
//! them, so these tests pin down the exact behaviour the trait's documentation promises,
//! including under concurrency. A backend opts in with [`store_conformance_tests!`], which
//! turns every function below into a `#[tokio::test]` of the calling crate:
//!
//! ```text
//! async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) { ... }
//! keypaird_store::store_conformance_tests!(fresh_store);
//! ```
//!
//! Each test expects a store of its own, empty: `reset_inventory` and the account listing see
//! everything in it. The second value the factory returns is kept alive until the test ends
//! (a temporary directory, a throwaway database).
//!
//! Every test creates the accounts its key pairs belong to, so the suite holds for backends
//! that tie key pairs to accounts with a foreign key as well as for those that do not.

use std::sync::Arc;

use keypaird_inventory::{
    Account, AuditEvent, AuditSource, KeyPair, KeyPairQuery, KeyPairRef, KeyType, NewAccount,
    Provider, Scope, Store, StoreError, Tag, TagRemoval,
};
use time::OffsetDateTime;

/// Generates one `#[tokio::test]` per conformance test, each on a store from `$fresh_store`,
/// an async function returning `(Arc<dyn Store>, guard)`.
///
/// `store_conformance_tests!(optional $fresh_store)` is for backends that need a server: there
/// `$fresh_store` returns `Option<(Arc<dyn Store>, guard)>`, and a test whose factory returns
/// `None` (no server configured) passes without running. The factory decides, and should
/// refuse to return `None` in CI, so that no test is silently skipped there.
#[macro_export]
macro_rules! store_conformance_tests {
    (optional $fresh_store:path) => {
        $crate::store_conformance_tests!(@list each_optional $fresh_store);
    };
    ($fresh_store:path) => {
        $crate::store_conformance_tests!(@list each $fresh_store);
    };
    (@list $mode:ident $fresh_store:path) => {
        $crate::store_conformance_tests!(@$mode $fresh_store;
            a_fresh_store_is_ready_and_the_check_changes_no_inventory,
            key_pair_round_trips,
            created_at_round_trips_at_millisecond_precision,
            every_provider_and_key_type_round_trips,
            find_all_is_newest_first_with_id_breaking_ties,
            find_by_names_and_ids_skips_unknown_and_keeps_order,
            find_with_more_than_a_thousand_names_or_ids,
            find_is_confined_to_the_scope,
            names_are_unique_per_scope,
            refused_insert_writes_nothing,
            duplicate_name_is_reported_before_quota,
            quota_is_exact,
            concurrent_inserts_never_exceed_the_quota,
            concurrent_inserts_of_one_name_admit_exactly_one,
            delete_key_pair_by_name_and_by_id,
            deleted_key_pair_takes_its_tags,
            delete_key_pairs_by_name_counts_and_ignores_unknown,
            add_tags_overwrites_in_place_and_appends,
            add_tags_is_all_or_nothing_when_an_id_is_missing,
            add_tags_respects_the_limit,
            concurrent_add_tags_never_exceed_the_limit,
            remove_tags_by_key_and_by_value,
            remove_tags_without_removals_clears_all,
            readded_tag_goes_last,
            set_resource_group_only_in_scope,
            reset_inventory_keeps_accounts,
            create_account_and_find_credential,
            create_account_refusals_write_nothing,
            create_first_account_happens_once,
            concurrent_create_first_account_creates_one,
            list_accounts_is_ordered_by_name_with_sorted_keys,
            credential_for_any_key_creates_then_reuses,
            credential_for_any_key_returns_existing_credentials,
            credential_for_any_key_attaches_to_account_named_after_the_key,
            concurrent_credential_for_any_key_agree,
            nonce_is_fresh_once_then_a_replay,
            nonces_are_per_access_key,
            expired_nonce_is_fresh_again,
            concurrent_uses_of_a_nonce_admit_exactly_one,
            purge_removes_only_expired_nonces,
            query_each_filter_alone,
            query_wildcards_and_sql_metacharacters,
            query_filters_combined,
            query_pages_at_their_boundaries,
            tag_queries,
            counter_matches_the_rows_after_racing_writes,
            access_keys_are_added_listed_and_found,
            access_key_refusals_write_nothing,
            disable_enable_and_delete_bump_the_generation,
            last_use_is_recorded_and_only_moves_forward,
            delete_account_refuses_while_it_holds_key_pairs,
            delete_account_without_key_pairs,
            set_account_quota_is_what_credentials_carry,
            credential_cache_follows_the_generation,
            audit_a_change_records_one_event_that_round_trips,
            audit_a_refused_change_records_nothing,
            audit_deletes_record_what_they_removed,
            audit_lookups_by_each_attribute_stay_in_their_scope,
            audit_time_range_bounds_are_inclusive,
            audit_pages_follow_the_cursor_without_gaps_or_duplicates,
            audit_record_audit_events_inserts_every_event,
            audit_purge_deletes_only_older_events_in_bounded_batches,
        );
    };
    (@each $fresh_store:path; $($test:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let (store, _keep_alive) = $fresh_store().await;
                $crate::conformance::$test(store).await;
            }
        )*
    };
    (@each_optional $fresh_store:path; $($test:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some((store, _keep_alive)) = $fresh_store().await else {
                    return;
                };
                $crate::conformance::$test(store).await;
            }
        )*
    };
}

mod access_keys;
mod audit;
mod queries;
mod sealing;
pub use access_keys::*;
pub use audit::*;
pub use queries::*;
pub use sealing::*;

// ---- fixtures ----

/// An event for a write whose audit trail the test does not look at.
#[doc(hidden)]
pub fn audit() -> AuditEvent {
    AuditEvent::new(AuditSource::Ec2, "Test")
}

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";

fn at_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .expect("test instant in range")
}

/// A fixed instant with a non-zero millisecond part, so truncation bugs show.
fn base_millis() -> i64 {
    1_700_000_000_123
}

fn now_in_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    at_millis((now.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn scope(account_id: &str, provider: Provider, region: &str) -> Scope {
    Scope {
        account_id: account_id.to_owned(),
        provider,
        region: region.to_owned(),
    }
}

fn aws(account_id: &str) -> Scope {
    scope(account_id, Provider::Aws, "us-east-1")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs.iter().map(|(k, v)| tag(k, v)).collect()
}

fn key_id(n: u64) -> String {
    format!("key-{n:017x}")
}

fn key_pair(id: &str, scope: &Scope, name: &str, created_at_millis: i64) -> KeyPair {
    KeyPair {
        id: id.to_owned(),
        scope: scope.clone(),
        name: name.to_owned(),
        key_type: KeyType::Ed25519,
        fingerprint: format!("SHA256:fingerprint-of-{id}"),
        public_key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{id} {name}"),
        created_at: at_millis(created_at_millis),
        resource_group_id: String::new(),
        tags: Vec::new(),
    }
}

fn new_account(id: &str, name: &str, access_key_id: &str) -> NewAccount {
    NewAccount {
        id: id.to_owned(),
        name: name.to_owned(),
        key_pair_quota: None,
        access_key_id: access_key_id.to_owned(),
        secret_access_key: Some(format!("secret-of-{access_key_id}").into()),
        created_at: at_millis(base_millis()),
    }
}

async fn create_accounts(store: &dyn Store, ids: &[&str]) {
    for id in ids {
        store
            .create_account(
                new_account(id, &format!("account-{id}"), &format!("AK{id}")),
                &audit(),
            )
            .await
            .expect("create fixture account");
    }
}

async fn insert(store: &dyn Store, key_pair: &KeyPair) {
    store
        .insert_key_pair(key_pair, 5000, &audit())
        .await
        .unwrap_or_else(|err| panic!("insert {}: {err}", key_pair.id));
}

async fn find(store: &dyn Store, query: KeyPairQuery) -> Vec<KeyPair> {
    let page = store
        .find_key_pairs(&query)
        .await
        .unwrap_or_else(|err| panic!("{query:?}: {err}"));
    assert_eq!(page.total, None, "no total unless asked for");
    page.key_pairs
}

async fn all(store: &dyn Store, scope: &Scope) -> Vec<KeyPair> {
    find(store, KeyPairQuery::all(scope.clone())).await
}

async fn by_id(store: &dyn Store, scope: &Scope, id: &str) -> Option<KeyPair> {
    let mut found = find(store, KeyPairQuery::ids(scope.clone(), [id])).await;
    assert!(found.len() <= 1, "one id matched {} key pairs", found.len());
    found.pop()
}

async fn tags_of(store: &dyn Store, scope: &Scope, id: &str) -> Vec<Tag> {
    by_id(store, scope, id)
        .await
        .unwrap_or_else(|| panic!("{id} should exist"))
        .tags
}

fn ids(key_pairs: &[KeyPair]) -> Vec<&str> {
    key_pairs.iter().map(|kp| kp.id.as_str()).collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

// ---- key pairs ----

pub async fn a_fresh_store_is_ready_and_the_check_changes_no_inventory(store: Arc<dyn Store>) {
    store.check_ready().await.expect("a fresh store is ready");
    // Past the interval the outcome is kept for, so the second check writes again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    store.check_ready().await.expect("still ready");
    assert_eq!(store.list_accounts().await.expect("accounts"), vec![]);
    let mut query = KeyPairQuery::all(scope(ACCOUNT_A, Provider::Aws, "us-east-1"));
    query.count_total = true;
    let page = store.find_key_pairs(&query).await.expect("find");
    assert_eq!((page.key_pairs.len(), page.total), (0, Some(0)));
}

pub async fn key_pair_round_trips(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = scope(ACCOUNT_A, Provider::Aliyun, "cn-hangzhou");
    let mut kp = key_pair("ssh-0123456789abcdef", &scope, "my key", base_millis());
    kp.key_type = KeyType::Rsa;
    kp.fingerprint = "0b:1c:2d:3e:4f:50:61:72:83:94:a5:b6:c7:d8:e9:fa".into();
    kp.public_key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ imported comment".into();
    kp.resource_group_id = "rg-acfm2abcdefg".into();
    kp.tags = tags(&[
        ("zeta", "last-alphabetically"),
        ("环境", "生产"),
        ("empty", ""),
    ]);
    store
        .insert_key_pair(&kp, 10, &audit())
        .await
        .expect("insert");

    assert_eq!(all(&*store, &scope).await, vec![kp.clone()]);
    let by_name = find(&*store, KeyPairQuery::names(scope.clone(), ["my key"])).await;
    assert_eq!(by_name, vec![kp.clone()]);
    assert_eq!(by_id(&*store, &scope, &kp.id).await, Some(kp));
}

pub async fn created_at_round_trips_at_millisecond_precision(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let instants = [
        0,
        1,
        -1,
        base_millis(),
        (now_in_millis().unix_timestamp_nanos() / 1_000_000) as i64,
        253_402_300_799_999, // 9999-12-31T23:59:59.999Z
    ];
    for (n, millis) in instants.iter().enumerate() {
        let kp = key_pair(&key_id(n as u64), &scope, &format!("k{n}"), *millis);
        insert(&*store, &kp).await;
        let found = by_id(&*store, &scope, &kp.id).await.expect("inserted");
        assert_eq!(found.created_at, kp.created_at, "instant {millis} ms");
        assert_eq!(found.created_at.offset(), time::UtcOffset::UTC);
    }
}

pub async fn every_provider_and_key_type_round_trips(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let mut n = 0;
    for provider in [Provider::Aws, Provider::Aliyun] {
        let scope = scope(ACCOUNT_A, provider, "region-1");
        for key_type in [KeyType::Rsa, KeyType::Ed25519, KeyType::Dsa, KeyType::Ecdsa] {
            n += 1;
            let mut kp = key_pair(&key_id(n), &scope, key_type.as_str(), base_millis());
            kp.key_type = key_type;
            insert(&*store, &kp).await;
            assert_eq!(by_id(&*store, &scope, &kp.id).await, Some(kp));
        }
    }
}

pub async fn find_all_is_newest_first_with_id_breaking_ties(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let t = base_millis();
    // Inserted out of order; two share an instant and differ by id only.
    let rows = [
        (3, "c", t + 1),
        (1, "a", t),
        (5, "e", t + 1),
        (4, "d", t + 2),
        (2, "b", t - 5),
    ];
    for (n, name, millis) in rows {
        insert(&*store, &key_pair(&key_id(n), &scope, name, millis)).await;
    }
    let found = all(&*store, &scope).await;
    let expected = [key_id(4), key_id(5), key_id(3), key_id(1), key_id(2)];
    assert_eq!(
        ids(&found),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

pub async fn find_by_names_and_ids_skips_unknown_and_keeps_order(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let t = base_millis();
    for (n, name) in [(1, "a"), (2, "b"), (3, "c")] {
        insert(&*store, &key_pair(&key_id(n), &scope, name, t + n as i64)).await;
    }

    let found = find(
        &*store,
        KeyPairQuery::names(scope.clone(), ["a", "missing", "c", "a"]),
    )
    .await;
    assert_eq!(ids(&found), vec![key_id(3), key_id(1)]);

    let found = find(
        &*store,
        KeyPairQuery::ids(scope.clone(), [key_id(1), key_id(99), key_id(2), key_id(2)]),
    )
    .await;
    assert_eq!(ids(&found), vec![key_id(2), key_id(1)]);

    let none: [&str; 0] = [];
    for query in [
        KeyPairQuery::names(scope.clone(), none),
        KeyPairQuery::ids(scope.clone(), none),
    ] {
        let found = find(&*store, query.clone()).await;
        assert!(found.is_empty(), "{query:?} matched {found:?}");
    }
}

/// Clients may list many names at once; a backend that binds one parameter per name must still
/// answer, in order.
pub async fn find_with_more_than_a_thousand_names_or_ids(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let count = 1_200u64;
    let t = base_millis();
    for n in 0..count {
        let mut kp = key_pair(
            &key_id(n),
            &scope,
            &format!("name-{n:04}"),
            t + (n % 7) as i64,
        );
        kp.tags = tags(&[("n", &n.to_string())]);
        insert(&*store, &kp).await;
    }
    let expected = all(&*store, &scope).await;
    assert_eq!(expected.len(), count as usize);

    let names: Vec<String> = (0..count).rev().map(|n| format!("name-{n:04}")).collect();
    let by_names = find(&*store, KeyPairQuery::names(scope.clone(), names)).await;
    assert_eq!(by_names, expected);

    let ids: Vec<String> = (0..count).map(key_id).collect();
    let by_ids = find(&*store, KeyPairQuery::ids(scope.clone(), ids)).await;
    assert_eq!(by_ids, expected);
}

pub async fn find_is_confined_to_the_scope(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scopes = [
        aws(ACCOUNT_A),
        aws(ACCOUNT_B),
        scope(ACCOUNT_A, Provider::Aws, "eu-west-1"),
        scope(ACCOUNT_A, Provider::Aliyun, "us-east-1"),
    ];
    for (n, scope) in scopes.iter().enumerate() {
        insert(
            &*store,
            &key_pair(&key_id(n as u64), scope, "same", base_millis()),
        )
        .await;
    }
    for (n, scope) in scopes.iter().enumerate() {
        let own = key_id(n as u64);
        assert_eq!(ids(&all(&*store, scope).await), vec![own.as_str()]);
        let by_name = find(&*store, KeyPairQuery::names(scope.clone(), ["same"])).await;
        assert_eq!(ids(&by_name), vec![own.as_str()]);
        let every_id: Vec<String> = (0..scopes.len() as u64).map(key_id).collect();
        let by_ids = find(&*store, KeyPairQuery::ids(scope.clone(), every_id)).await;
        assert_eq!(ids(&by_ids), vec![own.as_str()]);
    }
}

pub async fn names_are_unique_per_scope(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let home = aws(ACCOUNT_A);
    insert(
        &*store,
        &key_pair(&key_id(1), &home, "deploy", base_millis()),
    )
    .await;

    let again = key_pair(&key_id(2), &home, "deploy", base_millis());
    assert_eq!(
        store.insert_key_pair(&again, 5000, &audit()).await,
        Err(StoreError::DuplicateKeyPair)
    );

    // The same name is free in every other scope.
    let elsewhere = [
        aws(ACCOUNT_B),
        scope(ACCOUNT_A, Provider::Aws, "eu-west-1"),
        scope(ACCOUNT_A, Provider::Aliyun, "us-east-1"),
    ];
    for (n, other) in elsewhere.iter().enumerate() {
        insert(
            &*store,
            &key_pair(&key_id(10 + n as u64), other, "deploy", base_millis()),
        )
        .await;
    }

    // Names compare exactly.
    insert(
        &*store,
        &key_pair(&key_id(3), &home, "Deploy", base_millis()),
    )
    .await;
    insert(
        &*store,
        &key_pair(&key_id(4), &home, "deploy ", base_millis()),
    )
    .await;

    // And a deleted name can be used again.
    store
        .delete_key_pair(&home, &KeyPairRef::Name("deploy".into()), &audit())
        .await
        .expect("delete")
        .expect("it existed");
    insert(&*store, &again).await;
}

pub async fn refused_insert_writes_nothing(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut original = key_pair(&key_id(1), &scope, "taken", base_millis());
    original.tags = tags(&[("keep", "me")]);
    insert(&*store, &original).await;

    let mut duplicate = key_pair(&key_id(2), &scope, "taken", base_millis() + 1);
    duplicate.tags = tags(&[("keep", "overwritten?"), ("new", "tag")]);
    assert_eq!(
        store.insert_key_pair(&duplicate, 5000, &audit()).await,
        Err(StoreError::DuplicateKeyPair)
    );

    let mut over_quota = key_pair(&key_id(3), &scope, "over", base_millis() + 2);
    over_quota.tags = tags(&[("ghost", "tag")]);
    assert_eq!(
        store.insert_key_pair(&over_quota, 1, &audit()).await,
        Err(StoreError::QuotaExceeded { quota: 1 })
    );

    assert_eq!(all(&*store, &scope).await, vec![original]);
    // Had the refused inserts left tags behind, a key pair reusing their ids would show them.
    for refused in [&duplicate, &over_quota] {
        let clean = key_pair(&refused.id, &scope, &format!("clean-{}", refused.id), 0);
        insert(&*store, &clean).await;
        assert_eq!(tags_of(&*store, &scope, &refused.id).await, vec![]);
    }
}

/// AWS reports a duplicate name even when the scope is full: a client retrying a create that
/// already succeeded must learn that, not that it is out of quota.
pub async fn duplicate_name_is_reported_before_quota(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    store
        .insert_key_pair(
            &key_pair(&key_id(1), &scope, "only", base_millis()),
            1,
            &audit(),
        )
        .await
        .expect("first insert");
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(&key_id(2), &scope, "only", base_millis()),
                1,
                &audit()
            )
            .await,
        Err(StoreError::DuplicateKeyPair)
    );
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(&key_id(3), &scope, "other", base_millis()),
                1,
                &audit()
            )
            .await,
        Err(StoreError::QuotaExceeded { quota: 1 })
    );
}

pub async fn quota_is_exact(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = aws(ACCOUNT_A);
    let kp = |n: u64| key_pair(&key_id(n), &scope, &format!("k{n}"), base_millis());

    assert_eq!(
        store.insert_key_pair(&kp(100), 0, &audit()).await,
        Err(StoreError::QuotaExceeded { quota: 0 })
    );
    for n in 1..=3 {
        store
            .insert_key_pair(&kp(n), 3, &audit())
            .await
            .expect("under quota");
    }
    assert_eq!(
        store.insert_key_pair(&kp(4), 3, &audit()).await,
        Err(StoreError::QuotaExceeded { quota: 3 })
    );
    assert_eq!(all(&*store, &scope).await.len(), 3);

    // Other scopes count separately.
    for other in [
        aws(ACCOUNT_B),
        self::scope(ACCOUNT_A, Provider::Aliyun, "us-east-1"),
    ] {
        let kp = key_pair(
            &format!("{}-{}", other.account_id, other.provider.as_str()),
            &other,
            "k1",
            0,
        );
        store
            .insert_key_pair(&kp, 1, &audit())
            .await
            .expect("other scope");
    }

    // The quota is whatever the caller passes now, and a delete frees a slot.
    store
        .insert_key_pair(&kp(4), 4, &audit())
        .await
        .expect("raised quota");
    assert_eq!(
        store.insert_key_pair(&kp(5), 4, &audit()).await,
        Err(StoreError::QuotaExceeded { quota: 4 })
    );
    store
        .delete_key_pair(&scope, &KeyPairRef::Id(key_id(1)), &audit())
        .await
        .expect("delete")
        .expect("it existed");
    store
        .insert_key_pair(&kp(5), 4, &audit())
        .await
        .expect("freed slot");
}

pub async fn concurrent_inserts_never_exceed_the_quota(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let attempts: Vec<_> = (0..40u64)
        .map(|n| {
            let store = store.clone();
            let kp = key_pair(&key_id(n), &scope, &format!("k{n}"), base_millis());
            tokio::spawn(async move { store.insert_key_pair(&kp, 25, &audit()).await })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::QuotaExceeded { quota: 25 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (25, 15));
    assert_eq!(all(&*store, &scope).await.len(), 25);
}

pub async fn concurrent_inserts_of_one_name_admit_exactly_one(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let attempts: Vec<_> = (0..30u64)
        .map(|n| {
            let store = store.clone();
            let mut kp = key_pair(&key_id(n), &scope, "contended", base_millis());
            kp.tags = tags(&[("attempt", &n.to_string())]);
            tokio::spawn(
                async move { (kp.clone(), store.insert_key_pair(&kp, 5000, &audit()).await) },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        match attempt.await.expect("task") {
            (kp, Ok(())) => winners.push(kp),
            (_, Err(StoreError::DuplicateKeyPair)) => {}
            (_, Err(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert wins");
    assert_eq!(all(&*store, &scope).await, winners);
}

pub async fn delete_key_pair_by_name_and_by_id(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = aws(ACCOUNT_A);
    let mut first = key_pair(&key_id(1), &scope, "first", base_millis());
    first.tags = tags(&[("a", "1"), ("b", "2")]);
    let second = key_pair(&key_id(2), &scope, "second", base_millis());
    insert(&*store, &first).await;
    insert(&*store, &second).await;

    // Another scope sees neither.
    for other in [
        aws(ACCOUNT_B),
        self::scope(ACCOUNT_A, Provider::Aliyun, "us-east-1"),
    ] {
        for which in [KeyPairRef::Name("first".into()), KeyPairRef::Id(key_id(1))] {
            assert_eq!(
                store.delete_key_pair(&other, &which, &audit()).await,
                Ok(None)
            );
        }
    }

    let by_name = KeyPairRef::Name("first".into());
    assert_eq!(
        store.delete_key_pair(&scope, &by_name, &audit()).await,
        Ok(Some(first))
    );
    assert_eq!(
        store.delete_key_pair(&scope, &by_name, &audit()).await,
        Ok(None)
    );

    let by_id = KeyPairRef::Id(key_id(2));
    assert_eq!(
        store.delete_key_pair(&scope, &by_id, &audit()).await,
        Ok(Some(second))
    );
    assert_eq!(
        store.delete_key_pair(&scope, &by_id, &audit()).await,
        Ok(None)
    );

    assert!(all(&*store, &scope).await.is_empty());
}

pub async fn deleted_key_pair_takes_its_tags(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut tagged = key_pair(&key_id(1), &scope, "tagged", base_millis());
    tagged.tags = tags(&[("a", "1")]);
    let mut batch = key_pair(&key_id(2), &scope, "batch", base_millis());
    batch.tags = tags(&[("b", "2")]);
    insert(&*store, &tagged).await;
    insert(&*store, &batch).await;

    store
        .delete_key_pair(&scope, &KeyPairRef::Id(key_id(1)), &audit())
        .await
        .expect("delete");
    store
        .delete_key_pairs_by_name(&scope, &strings(&["batch"]), &audit())
        .await
        .expect("batch delete");

    // New key pairs under the same ids start without tags.
    for (n, name) in [(1, "reborn-1"), (2, "reborn-2")] {
        insert(&*store, &key_pair(&key_id(n), &scope, name, base_millis())).await;
        assert_eq!(tags_of(&*store, &scope, &key_id(n)).await, vec![]);
    }
}

pub async fn delete_key_pairs_by_name_counts_and_ignores_unknown(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = aws(ACCOUNT_A);
    let other = aws(ACCOUNT_B);
    for (n, name) in [(1, "a"), (2, "b"), (3, "c")] {
        insert(&*store, &key_pair(&key_id(n), &scope, name, base_millis())).await;
    }
    insert(&*store, &key_pair(&key_id(4), &other, "a", base_millis())).await;

    assert_eq!(
        store.delete_key_pairs_by_name(&scope, &[], &audit()).await,
        Ok(0)
    );
    assert_eq!(
        store
            .delete_key_pairs_by_name(&scope, &strings(&["a", "missing", "b", "a"]), &audit())
            .await,
        Ok(2)
    );
    assert_eq!(ids(&all(&*store, &scope).await), vec![key_id(3)]);
    assert_eq!(ids(&all(&*store, &other).await), vec![key_id(4)]);
    assert_eq!(
        store
            .delete_key_pairs_by_name(&scope, &strings(&["a"]), &audit())
            .await,
        Ok(0)
    );
}

// ---- tags ----

pub async fn add_tags_overwrites_in_place_and_appends(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut first = key_pair(&key_id(1), &scope, "first", base_millis());
    first.tags = tags(&[("a", "1"), ("b", "2")]);
    insert(&*store, &first).await;
    insert(
        &*store,
        &key_pair(&key_id(2), &scope, "second", base_millis()),
    )
    .await;

    store
        .add_tags(
            &scope,
            &[key_id(1), key_id(2)],
            &tags(&[("b", "20"), ("c", "3")]),
            50,
            &audit(),
        )
        .await
        .expect("add tags");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("a", "1"), ("b", "20"), ("c", "3")])
    );
    assert_eq!(
        tags_of(&*store, &scope, &key_id(2)).await,
        tags(&[("b", "20"), ("c", "3")])
    );

    // Overwriting the first tag keeps it first.
    store
        .add_tags(&scope, &[key_id(1)], &tags(&[("a", "10")]), 50, &audit())
        .await
        .expect("overwrite");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("a", "10"), ("b", "20"), ("c", "3")])
    );

    // Nothing to add is not an error.
    store
        .add_tags(&scope, &[key_id(1)], &[], 50, &audit())
        .await
        .expect("no tags");
}

pub async fn add_tags_is_all_or_nothing_when_an_id_is_missing(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = aws(ACCOUNT_A);
    let other = aws(ACCOUNT_B);
    let mut kp = key_pair(&key_id(1), &scope, "k", base_millis());
    kp.tags = tags(&[("a", "1")]);
    insert(&*store, &kp).await;
    insert(&*store, &key_pair(&key_id(2), &other, "k", base_millis())).await;

    assert_eq!(
        store
            .add_tags(
                &scope,
                &[key_id(1), key_id(98), key_id(99)],
                &tags(&[("a", "changed"), ("b", "new")]),
                50,
                &audit(),
            )
            .await,
        Err(StoreError::KeyPairNotFound(key_id(98)))
    );
    // A key pair of another scope is as good as missing.
    assert_eq!(
        store
            .add_tags(
                &scope,
                &[key_id(1), key_id(2)],
                &tags(&[("b", "new")]),
                50,
                &audit()
            )
            .await,
        Err(StoreError::KeyPairNotFound(key_id(2)))
    );
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("a", "1")])
    );
    assert_eq!(tags_of(&*store, &other, &key_id(2)).await, vec![]);
}

pub async fn add_tags_respects_the_limit(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut full_soon = key_pair(&key_id(1), &scope, "two-tags", base_millis());
    full_soon.tags = tags(&[("a", "1"), ("b", "2")]);
    insert(&*store, &full_soon).await;
    insert(
        &*store,
        &key_pair(&key_id(2), &scope, "no-tags", base_millis()),
    )
    .await;

    // key 2 would be fine; key 1 would end with 4 > 3, so neither changes.
    assert_eq!(
        store
            .add_tags(
                &scope,
                &[key_id(2), key_id(1)],
                &tags(&[("x", "1"), ("y", "2")]),
                3,
                &audit()
            )
            .await,
        Err(StoreError::TagLimitExceeded {
            resource_id: key_id(1),
            limit: 3
        })
    );
    assert_eq!(tags_of(&*store, &scope, &key_id(2)).await, vec![]);
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("a", "1"), ("b", "2")])
    );

    // Reaching the limit exactly is allowed, and overwriting at the limit adds nothing.
    store
        .add_tags(&scope, &[key_id(1)], &tags(&[("c", "3")]), 3, &audit())
        .await
        .expect("up to the limit");
    store
        .add_tags(
            &scope,
            &[key_id(1)],
            &tags(&[("a", "one"), ("c", "three")]),
            3,
            &audit(),
        )
        .await
        .expect("overwrite at the limit");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("a", "one"), ("b", "2"), ("c", "three")])
    );
    assert_eq!(
        store
            .add_tags(&scope, &[key_id(1)], &tags(&[("d", "4")]), 3, &audit())
            .await,
        Err(StoreError::TagLimitExceeded {
            resource_id: key_id(1),
            limit: 3
        })
    );
}

pub async fn concurrent_add_tags_never_exceed_the_limit(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    insert(&*store, &key_pair(&key_id(1), &scope, "k", base_millis())).await;
    let attempts: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            let scope = scope.clone();
            tokio::spawn(async move {
                store
                    .add_tags(
                        &scope,
                        &[key_id(1)],
                        &[tag(&format!("t{n}"), "v")],
                        10,
                        &audit(),
                    )
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::TagLimitExceeded { limit: 10, .. }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (10, 10));
    assert_eq!(tags_of(&*store, &scope, &key_id(1)).await.len(), 10);
}

pub async fn remove_tags_by_key_and_by_value(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut kp = key_pair(&key_id(1), &scope, "k", base_millis());
    kp.tags = tags(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    insert(&*store, &kp).await;
    let removal = |key: &str, value: Option<&str>| TagRemoval {
        key: key.to_owned(),
        value: value.map(str::to_owned),
    };

    store
        .remove_tags(
            &scope,
            &[key_id(1)],
            &[
                removal("a", None),
                removal("b", Some("wrong")),
                removal("zz", None),
            ],
            &audit(),
        )
        .await
        .expect("remove");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("b", "2"), ("c", "3"), ("d", "4")])
    );

    store
        .remove_tags(
            &scope,
            &[key_id(1)],
            &[removal("b", Some("2")), removal("d", Some(""))],
            &audit(),
        )
        .await
        .expect("remove by value");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("c", "3"), ("d", "4")])
    );
}

pub async fn remove_tags_without_removals_clears_all(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = aws(ACCOUNT_A);
    let other = aws(ACCOUNT_B);
    for (n, scope) in [(1, &scope), (2, &scope), (3, &scope), (4, &other)] {
        let mut kp = key_pair(&key_id(n), scope, &format!("k{n}"), base_millis());
        kp.tags = tags(&[("a", "1"), ("b", "2")]);
        insert(&*store, &kp).await;
    }

    // Unknown ids and ids of other scopes are skipped, not refused.
    store
        .remove_tags(
            &scope,
            &[key_id(1), key_id(99), key_id(4), key_id(2)],
            &[],
            &audit(),
        )
        .await
        .expect("remove all");
    assert_eq!(tags_of(&*store, &scope, &key_id(1)).await, vec![]);
    assert_eq!(tags_of(&*store, &scope, &key_id(2)).await, vec![]);
    assert_eq!(tags_of(&*store, &scope, &key_id(3)).await.len(), 2);
    assert_eq!(tags_of(&*store, &other, &key_id(4)).await.len(), 2);
}

pub async fn readded_tag_goes_last(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    let mut kp = key_pair(&key_id(1), &scope, "k", base_millis());
    kp.tags = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
    insert(&*store, &kp).await;

    let remove_a = [TagRemoval {
        key: "a".into(),
        value: None,
    }];
    store
        .remove_tags(&scope, &[key_id(1)], &remove_a, &audit())
        .await
        .expect("remove");
    store
        .add_tags(&scope, &[key_id(1)], &tags(&[("a", "again")]), 50, &audit())
        .await
        .expect("add");
    assert_eq!(
        tags_of(&*store, &scope, &key_id(1)).await,
        tags(&[("b", "2"), ("c", "3"), ("a", "again")])
    );
}

pub async fn set_resource_group_only_in_scope(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let scope = scope(ACCOUNT_A, Provider::Aliyun, "cn-hangzhou");
    let kp = key_pair("ssh-abc", &scope, "k", base_millis());
    insert(&*store, &kp).await;

    store
        .set_resource_group(&scope, "ssh-abc", "rg-one", &audit())
        .await
        .expect("set");
    assert_eq!(
        by_id(&*store, &scope, "ssh-abc")
            .await
            .expect("exists")
            .resource_group_id,
        "rg-one"
    );
    // Setting the same group again still finds the key pair.
    store
        .set_resource_group(&scope, "ssh-abc", "rg-one", &audit())
        .await
        .expect("set again");

    assert_eq!(
        store
            .set_resource_group(&scope, "ssh-missing", "rg-two", &audit())
            .await,
        Err(StoreError::KeyPairNotFound("ssh-missing".into()))
    );
    let other = self::scope(ACCOUNT_B, Provider::Aliyun, "cn-hangzhou");
    assert_eq!(
        store
            .set_resource_group(&other, "ssh-abc", "rg-two", &audit())
            .await,
        Err(StoreError::KeyPairNotFound("ssh-abc".into()))
    );
    assert_eq!(
        by_id(&*store, &scope, "ssh-abc")
            .await
            .expect("exists")
            .resource_group_id,
        "rg-one"
    );
}

// ---- operations ----

pub async fn reset_inventory_keeps_accounts(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let accounts_before = store.list_accounts().await.expect("list");
    let scopes = [
        aws(ACCOUNT_A),
        aws(ACCOUNT_B),
        scope(ACCOUNT_A, Provider::Aliyun, "x"),
    ];
    for (n, scope) in scopes.iter().enumerate() {
        let mut kp = key_pair(&key_id(n as u64), scope, "k", base_millis());
        kp.tags = tags(&[("a", "1")]);
        insert(&*store, &kp).await;
    }

    store.reset_inventory().await.expect("reset");

    for scope in &scopes {
        assert!(all(&*store, scope).await.is_empty());
    }
    assert_eq!(store.list_accounts().await.expect("list"), accounts_before);
    let credential = store
        .find_credential(&format!("AK{ACCOUNT_A}"))
        .await
        .expect("find")
        .expect("key survives a reset");
    assert_eq!(credential.account.id, ACCOUNT_A);

    // Names and ids are free again, with no tags left over.
    let kp = key_pair(&key_id(0), &scopes[0], "k", base_millis());
    store
        .insert_key_pair(&kp, 1, &audit())
        .await
        .expect("insert after reset");
    assert_eq!(by_id(&*store, &scopes[0], &key_id(0)).await, Some(kp));
}

// ---- accounts ----

pub async fn create_account_and_find_credential(store: Arc<dyn Store>) {
    let mut new = new_account(ACCOUNT_A, "team-a", "AKIAEXAMPLE");
    new.key_pair_quota = Some(7);
    // Sub-millisecond precision is dropped, consistently.
    new.created_at = at_millis(base_millis()) + time::Duration::microseconds(456);
    let account = store
        .create_account(new.clone(), &audit())
        .await
        .expect("create");
    let expected = Account {
        id: ACCOUNT_A.into(),
        name: "team-a".into(),
        key_pair_quota: Some(7),
        created_at: at_millis(base_millis()),
    };
    assert_eq!(account, expected);

    let credential = store
        .find_credential("AKIAEXAMPLE")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(credential.access_key_id, "AKIAEXAMPLE");
    assert_eq!(
        credential.secret_access_key.as_deref(),
        Some("secret-of-AKIAEXAMPLE")
    );
    assert_eq!(credential.account, expected);

    // A quota left unset stays unset.
    store
        .create_account(new_account(ACCOUNT_B, "team-b", "AKIBEXAMPLE"), &audit())
        .await
        .expect("create");
    let credential = store
        .find_credential("AKIBEXAMPLE")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(credential.account.key_pair_quota, None);

    assert!(store
        .find_credential("AKIAUNKNOWN")
        .await
        .expect("find")
        .is_none());
    // Lookups are exact.
    assert!(store
        .find_credential("akiaexample")
        .await
        .expect("find")
        .is_none());
}

pub async fn create_account_refusals_write_nothing(store: Arc<dyn Store>) {
    store
        .create_account(new_account(ACCOUNT_A, "team-a", "AKIAFIRST"), &audit())
        .await
        .expect("create");
    let before = store.list_accounts().await.expect("list");

    assert_eq!(
        store
            .create_account(new_account(ACCOUNT_B, "team-a", "AKIASECOND"), &audit())
            .await,
        Err(StoreError::AccountExists("team-a".into()))
    );
    assert!(store
        .find_credential("AKIASECOND")
        .await
        .expect("find")
        .is_none());

    assert_eq!(
        store
            .create_account(new_account(ACCOUNT_B, "team-b", "AKIAFIRST"), &audit())
            .await,
        Err(StoreError::AccessKeyExists("AKIAFIRST".into()))
    );
    let credential = store
        .find_credential("AKIAFIRST")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(credential.account.id, ACCOUNT_A);

    assert!(matches!(
        store
            .create_account(new_account(ACCOUNT_A, "team-c", "AKIATHIRD"), &audit())
            .await,
        Err(StoreError::AccountExists(_))
    ));
    assert!(store
        .find_credential("AKIATHIRD")
        .await
        .expect("find")
        .is_none());

    assert_eq!(store.list_accounts().await.expect("list"), before);
}

pub async fn create_first_account_happens_once(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .create_first_account(new_account(ACCOUNT_A, "default", "AKIADEFAULT"), &audit())
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .create_first_account(new_account(ACCOUNT_B, "other", "AKIAOTHER"), &audit())
            .await,
        Ok(false)
    );
    let accounts = store.list_accounts().await.expect("list");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account.name, "default");
    assert_eq!(accounts[0].access_key_ids, vec!["AKIADEFAULT".to_owned()]);
    assert!(store
        .find_credential("AKIAOTHER")
        .await
        .expect("find")
        .is_none());
}

pub async fn concurrent_create_first_account_creates_one(store: Arc<dyn Store>) {
    let attempts: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            let new = new_account(
                &format!("{n:012}"),
                &format!("default-{n}"),
                &format!("AKIA{n}"),
            );
            tokio::spawn(async move { store.create_first_account(new, &audit()).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        if attempt.await.expect("task").expect("no error") {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.list_accounts().await.expect("list").len(), 1);
}

pub async fn list_accounts_is_ordered_by_name_with_sorted_keys(store: Arc<dyn Store>) {
    assert_eq!(store.list_accounts().await, Ok(vec![]));
    for (id, name, key) in [
        ("300000000000", "charlie", "AKIC"),
        ("100000000000", "alpha", "AKIZ"),
        ("200000000000", "bravo", "AKIB"),
    ] {
        store
            .create_account(new_account(id, name, key), &audit())
            .await
            .expect("create");
    }
    // An account named after a key gets that key attached on its first any-key use.
    store
        .create_account(new_account("400000000000", "AKIA", "AKIY"), &audit())
        .await
        .expect("create");
    store
        .credential_for_any_key("AKIA", "999999999999")
        .await
        .expect("attach");

    let listed = store.list_accounts().await.expect("list");
    let summary: Vec<(&str, &str, Vec<&str>)> = listed
        .iter()
        .map(|s| {
            (
                s.account.name.as_str(),
                s.account.id.as_str(),
                s.access_key_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("AKIA", "400000000000", vec!["AKIA", "AKIY"]),
            ("alpha", "100000000000", vec!["AKIZ"]),
            ("bravo", "200000000000", vec!["AKIB"]),
            ("charlie", "300000000000", vec!["AKIC"]),
        ]
    );
    assert_eq!(listed[1].account.created_at, at_millis(base_millis()));
}

pub async fn credential_for_any_key_creates_then_reuses(store: Arc<dyn Store>) {
    let before = now_in_millis();
    let first = store
        .credential_for_any_key("AKIANYKEY", "123456789012")
        .await
        .expect("first use");
    assert_eq!(first.access_key_id, "AKIANYKEY");
    assert_eq!(first.secret_access_key, None);
    assert_eq!(first.account.id, "123456789012");
    assert_eq!(first.account.name, "AKIANYKEY");
    assert_eq!(first.account.key_pair_quota, None);
    assert!(first.account.created_at >= before - time::Duration::seconds(1));

    let again = store
        .credential_for_any_key("AKIANYKEY", "999999999999")
        .await
        .expect("second use");
    assert_eq!(again.account, first.account);
    assert_eq!(again.secret_access_key, None);

    let found = store
        .find_credential("AKIANYKEY")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.account, first.account);
    assert_eq!(found.secret_access_key, None);

    let listed = store.list_accounts().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].access_key_ids, vec!["AKIANYKEY".to_owned()]);
}

pub async fn credential_for_any_key_returns_existing_credentials(store: Arc<dyn Store>) {
    let account = store
        .create_account(new_account(ACCOUNT_A, "team-a", "AKIAREAL"), &audit())
        .await
        .expect("create");
    let credential = store
        .credential_for_any_key("AKIAREAL", ACCOUNT_B)
        .await
        .expect("existing key");
    assert_eq!(credential.account, account);
    assert_eq!(
        credential.secret_access_key.as_deref(),
        Some("secret-of-AKIAREAL")
    );
    assert_eq!(store.list_accounts().await.expect("list").len(), 1);
}

pub async fn credential_for_any_key_attaches_to_account_named_after_the_key(store: Arc<dyn Store>) {
    let account = store
        .create_account(new_account(ACCOUNT_A, "AKIANAMED", "AKIAOTHER"), &audit())
        .await
        .expect("create");
    let credential = store
        .credential_for_any_key("AKIANAMED", ACCOUNT_B)
        .await
        .expect("attach");
    assert_eq!(credential.account, account);
    assert_eq!(credential.secret_access_key, None);

    let listed = store.list_accounts().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].access_key_ids,
        strings(&["AKIANAMED", "AKIAOTHER"])
    );
    // The account's own key keeps its secret.
    let own = store
        .find_credential("AKIAOTHER")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        own.secret_access_key.as_deref(),
        Some("secret-of-AKIAOTHER")
    );
}

pub async fn concurrent_credential_for_any_key_agree(store: Arc<dyn Store>) {
    let attempts: Vec<_> = (0..32)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .credential_for_any_key("AKIARACE", &format!("{n:012}"))
                    .await
            })
        })
        .collect();
    let mut accounts = Vec::new();
    for attempt in attempts {
        accounts.push(
            attempt
                .await
                .expect("task")
                .expect("every first use succeeds")
                .account,
        );
    }
    assert!(
        accounts.windows(2).all(|pair| pair[0] == pair[1]),
        "all first uses see one account"
    );
    let listed = store.list_accounts().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].account, accounts[0]);
}

// ---- request nonces ----

fn minutes_after(start: OffsetDateTime, minutes: i64) -> OffsetDateTime {
    start + time::Duration::minutes(minutes)
}

pub async fn nonce_is_fresh_once_then_a_replay(store: Arc<dyn Store>) {
    let now = at_millis(base_millis());
    let expires = minutes_after(now, 30);
    assert!(store
        .record_nonce("AK1", "n-1", expires, now)
        .await
        .expect("record"));
    assert!(!store
        .record_nonce("AK1", "n-1", expires, now)
        .await
        .expect("replay"));
    // Still a replay one minute before expiry.
    let later = minutes_after(now, 29);
    assert!(!store
        .record_nonce("AK1", "n-1", minutes_after(later, 30), later)
        .await
        .expect("replay"));
    assert!(store
        .record_nonce("AK1", "n-2", expires, now)
        .await
        .expect("other nonce"));
}

pub async fn nonces_are_per_access_key(store: Arc<dyn Store>) {
    let now = at_millis(base_millis());
    let expires = minutes_after(now, 30);
    assert!(store
        .record_nonce("AK1", "shared", expires, now)
        .await
        .expect("record"));
    assert!(store
        .record_nonce("AK2", "shared", expires, now)
        .await
        .expect("other key"));
    assert!(!store
        .record_nonce("AK2", "shared", expires, now)
        .await
        .expect("replay"));
}

pub async fn expired_nonce_is_fresh_again(store: Arc<dyn Store>) {
    let now = at_millis(base_millis());
    assert!(store
        .record_nonce("AK1", "n", minutes_after(now, 30), now)
        .await
        .expect("record"));
    let after_expiry = minutes_after(now, 31);
    assert!(store
        .record_nonce("AK1", "n", minutes_after(after_expiry, 30), after_expiry)
        .await
        .expect("reuse after expiry"));
    // The renewed record holds again for its new window.
    let soon = minutes_after(after_expiry, 1);
    assert!(!store
        .record_nonce("AK1", "n", minutes_after(soon, 30), soon)
        .await
        .expect("replay of the renewed record"));
}

pub async fn concurrent_uses_of_a_nonce_admit_exactly_one(store: Arc<dyn Store>) {
    let now = at_millis(base_millis());
    let expires = minutes_after(now, 30);
    let attempts = (0..32).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.record_nonce("AK1", "raced", expires, now).await })
    });
    let mut fresh = 0;
    for attempt in attempts {
        if attempt.await.expect("task").expect("record") {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

pub async fn purge_removes_only_expired_nonces(store: Arc<dyn Store>) {
    let now = at_millis(base_millis());
    for n in 0..5 {
        let nonce = format!("old-{n}");
        assert!(store
            .record_nonce("AK1", &nonce, minutes_after(now, 1), now)
            .await
            .expect("record"));
    }
    assert!(store
        .record_nonce("AK1", "young", minutes_after(now, 30), now)
        .await
        .expect("record"));

    assert_eq!(store.count_nonces().await.expect("count"), 6);
    let later = minutes_after(now, 2);
    assert_eq!(store.purge_expired_nonces(later).await.expect("purge"), 5);
    assert_eq!(store.count_nonces().await.expect("count after"), 1);
    assert_eq!(
        store
            .purge_expired_nonces(later)
            .await
            .expect("purge again"),
        0
    );
    // The unexpired record survived the purge.
    assert!(!store
        .record_nonce("AK1", "young", minutes_after(later, 30), later)
        .await
        .expect("replay"));
}
