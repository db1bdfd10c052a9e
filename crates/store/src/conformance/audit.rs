//! The audit trail: a change and its event stand or fall together, the event names what the
//! change touched, and every lookup LookupEvents and `keypaird audit` make returns exactly the
//! events of its scope, attribute and time range, in order, page after page. Expected results
//! are written out by hand, so a backend and these tests cannot agree on a wrong answer.

use std::sync::Arc;

use keypaird_inventory::{
    AuditAttribute, AuditCursor, AuditEvent, AuditQuery, AuditResource, AuditScope, AuditSource,
    KeyPairRef, ResourceKind, Store, StoreError,
};

use super::{
    at_millis, aws, base_millis, create_accounts, insert, key_id, key_pair, strings, tag,
    ACCOUNT_A, ACCOUNT_B,
};

const REGION: &str = "us-east-1";

/// An event of `account_id` in `source`/`region` at `base_millis() + offset`, with every field
/// set to something that tells events apart; its ID is of its time and ends in `n` (in hex).
fn event(
    n: u64,
    account_id: &str,
    source: AuditSource,
    region: &str,
    action: &str,
    offset: i64,
) -> AuditEvent {
    let time = at_millis(base_millis() + offset);
    AuditEvent {
        event_id: keypaird_inventory::audit::fixture_event_id(time, n),
        time,
        source,
        account_id: account_id.to_owned(),
        account_name: format!("account-{account_id}"),
        region: region.to_owned(),
        access_key_id: format!("AK{account_id}"),
        source_ip: "192.0.2.7".to_owned(),
        user_agent: format!("agent/{n}"),
        action: action.to_owned(),
        read_only: false,
        request_id: format!("request-{n}"),
        request_parameters: format!(r#"{{"n":{n},"quote":"\"'"}}"#),
        resources: Vec::new(),
        error_code: None,
        error_message: None,
    }
}

/// The scope LookupEvents reads for `account_id` in EC2's `us-east-1`.
fn home(account_id: &str) -> AuditScope {
    AuditScope::Api {
        account_id: account_id.to_owned(),
        source: AuditSource::Ec2,
        region: REGION.to_owned(),
    }
}

/// Every event of `scope`, newest first, over a time range holding every fixture.
fn query(scope: AuditScope) -> AuditQuery {
    AuditQuery::new(
        scope,
        at_millis(base_millis() - 1_000_000),
        at_millis(base_millis() + 1_000_000_000_000),
        1000,
    )
}

fn with(scope: AuditScope, attribute: AuditAttribute) -> AuditQuery {
    AuditQuery {
        attribute: Some(attribute),
        ..query(scope)
    }
}

async fn found(store: &dyn Store, query: &AuditQuery) -> Vec<AuditEvent> {
    store
        .find_audit_events(query)
        .await
        .unwrap_or_else(|err| panic!("{query:?}: {err}"))
}

/// The request IDs of what `query` finds, in order: short to compare, and unique per fixture.
async fn found_ids(store: &dyn Store, query: &AuditQuery) -> Vec<String> {
    found(store, query)
        .await
        .into_iter()
        .map(|event| event.request_id)
        .collect()
}

fn requests(ns: &[u64]) -> Vec<String> {
    ns.iter().map(|n| format!("request-{n}")).collect()
}

/// Every event in the store, however recorded, newest first.
async fn everything(store: &dyn Store) -> Vec<AuditEvent> {
    let mut all = query(AuditScope::All);
    all.since = at_millis(0);
    all.until = at_millis(base_millis() + 1_000_000_000_000);
    all.limit = 100_000;
    found(store, &all).await
}

async fn by_event_id(store: &dyn Store, id: &str) -> Vec<AuditEvent> {
    everything(store)
        .await
        .into_iter()
        .filter(|event| event.event_id == id)
        .collect()
}

pub async fn audit_a_change_records_one_event_that_round_trips(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let before = everything(&*store).await.len();
    let mut call = event(1, ACCOUNT_A, AuditSource::Ec2, REGION, "ImportKeyPair", 7);
    call.read_only = true;
    call.error_code = Some("Client.Warning".to_owned());
    call.error_message = Some("ünïcode ‘quotes’ \\ and \"escapes\"".to_owned());
    let kp = key_pair(&key_id(1), &aws(ACCOUNT_A), "deploy", base_millis());
    store.insert_key_pair(&kp, 10, &call).await.expect("insert");

    let mut expected = call.clone();
    expected.resources = vec![AuditResource::key_pair(
        &key_id(1),
        "deploy",
        &format!("SHA256:fingerprint-of-{}", key_id(1)),
    )];
    assert_eq!(
        found(&*store, &query(home(ACCOUNT_A))).await,
        vec![expected.clone()]
    );
    assert_eq!(everything(&*store).await.len(), before + 1);
    // The time keeps its milliseconds (base_millis() ends in 123, plus 7).
    let stored = &found(&*store, &query(home(ACCOUNT_A))).await[0];
    assert_eq!(stored.time.millisecond(), 130);
    assert_eq!(stored.time, at_millis(1_700_000_000_130));

    // A second event with the optional fields empty round-trips as well.
    let plain = event(2, ACCOUNT_A, AuditSource::Ec2, REGION, "DeleteKeyPair", 8);
    store
        .delete_key_pair(&aws(ACCOUNT_A), &KeyPairRef::Id(key_id(1)), &plain)
        .await
        .expect("delete");
    let mut expected_plain = plain.clone();
    expected_plain.resources = expected.resources.clone();
    assert_eq!(
        found(&*store, &query(home(ACCOUNT_A))).await,
        vec![expected_plain, expected]
    );
}

pub async fn audit_a_refused_change_records_nothing(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    insert(
        &*store,
        &key_pair(&key_id(1), &scope, "taken", base_millis()),
    )
    .await;
    let before = everything(&*store).await;
    let refused =
        |n: u64, action: &str| event(n, ACCOUNT_A, AuditSource::Ec2, REGION, action, n as i64);

    let duplicate = refused(10, "CreateKeyPair");
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(&key_id(2), &scope, "taken", base_millis()),
                10,
                &duplicate
            )
            .await,
        Err(StoreError::DuplicateKeyPair)
    );
    let over_quota = refused(11, "CreateKeyPair");
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(&key_id(3), &scope, "new", base_millis()),
                1,
                &over_quota
            )
            .await,
        Err(StoreError::QuotaExceeded { quota: 1 })
    );
    let missing_tag_target = refused(12, "CreateTags");
    assert_eq!(
        store
            .add_tags(
                &scope,
                &[key_id(1), key_id(99)],
                &[tag("k", "v")],
                50,
                &missing_tag_target
            )
            .await,
        Err(StoreError::KeyPairNotFound(key_id(99)))
    );
    let missing_group_target = refused(13, "JoinResourceGroup");
    assert_eq!(
        store
            .set_resource_group(&scope, &key_id(98), "rg-1", &missing_group_target)
            .await,
        Err(StoreError::KeyPairNotFound(key_id(98)))
    );
    let holds_key_pairs = refused(14, "DeleteAccount");
    assert_eq!(
        store
            .delete_account(&format!("account-{ACCOUNT_A}"), false, &holds_key_pairs)
            .await,
        Err(StoreError::AccountHoldsKeyPairs {
            name: format!("account-{ACCOUNT_A}"),
            key_pairs: 1
        })
    );
    let already = refused(15, "CreateFirstAccount");
    assert_eq!(
        store
            .create_first_account(
                super::new_account(ACCOUNT_B, "second", "AKSECOND"),
                &already
            )
            .await,
        Ok(false)
    );

    assert_eq!(everything(&*store).await, before, "nothing was recorded");
    for event in [
        &duplicate,
        &over_quota,
        &missing_tag_target,
        &missing_group_target,
        &holds_key_pairs,
        &already,
    ] {
        assert_eq!(by_event_id(&*store, &event.event_id).await, vec![]);
    }
    // The refused tag write left the existing key pair's tags alone.
    assert_eq!(
        super::tags_of(&*store, &scope, &key_id(1)).await,
        Vec::<keypaird_inventory::Tag>::new()
    );
}

pub async fn audit_deletes_record_what_they_removed(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    for (n, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        insert(&*store, &key_pair(&key_id(n), &scope, name, base_millis())).await;
    }

    let by_name = event(1, ACCOUNT_A, AuditSource::Ec2, REGION, "DeleteKeyPair", 1);
    let deleted = store
        .delete_key_pair(&scope, &KeyPairRef::Name("a".into()), &by_name)
        .await
        .expect("delete by name");
    assert_eq!(deleted.map(|kp| kp.id), Some(key_id(1)));

    let unknown = event(2, ACCOUNT_A, AuditSource::Ec2, REGION, "DeleteKeyPair", 2);
    let deleted = store
        .delete_key_pair(&scope, &KeyPairRef::Name("nope".into()), &unknown)
        .await
        .expect("delete of an unknown name");
    assert_eq!(deleted, None);

    let many = event(3, ACCOUNT_A, AuditSource::Ecs, REGION, "DeleteKeyPairs", 3);
    let count = store
        .delete_key_pairs_by_name(&scope, &strings(&["d", "ghost", "b", "d"]), &many)
        .await
        .expect("delete by names");
    assert_eq!(count, 2);

    let events = found(&*store, &query(home(ACCOUNT_A))).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_id, unknown.event_id);
    assert_eq!(events[0].resources, vec![], "nothing was deleted");
    assert_eq!(events[1].event_id, by_name.event_id);
    assert_eq!(
        events[1].resources,
        vec![AuditResource::key_pair(
            &key_id(1),
            "a",
            &format!("SHA256:fingerprint-of-{}", key_id(1))
        )]
    );

    let ecs = AuditScope::Api {
        account_id: ACCOUNT_A.to_owned(),
        source: AuditSource::Ecs,
        region: REGION.to_owned(),
    };
    let events = found(&*store, &query(ecs.clone())).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].resources,
        vec![
            AuditResource::key_pair(&key_id(2), "b", ""),
            AuditResource::key_pair(&key_id(4), "d", ""),
        ]
    );
    // Found by each deleted ID and name, never by the unknown one.
    for name in [key_id(2), key_id(4), "b".to_owned(), "d".to_owned()] {
        assert_eq!(
            found_ids(
                &*store,
                &with(ecs.clone(), AuditAttribute::ResourceName(name))
            )
            .await,
            requests(&[3])
        );
    }
    assert_eq!(
        found_ids(
            &*store,
            &with(ecs.clone(), AuditAttribute::ResourceName("ghost".into()))
        )
        .await,
        requests(&[])
    );
    assert_eq!(
        found_ids(
            &*store,
            &with(home(ACCOUNT_A), AuditAttribute::ResourceName("nope".into()))
        )
        .await,
        requests(&[])
    );
}

/// Events 1 to 4 in the home scope of account A; 5 to 7 are the same as 1 in another account,
/// another dialect and another region, later than all of them.
fn lookup_fixture() -> Vec<AuditEvent> {
    let mut e1 = event(1, ACCOUNT_A, AuditSource::Ec2, REGION, "CreateKeyPair", 1);
    e1.access_key_id = "AK1".into();
    e1.resources = vec![AuditResource::key_pair("key-web", "web", "SHA256:web")];
    let mut e2 = event(
        2,
        ACCOUNT_A,
        AuditSource::Ec2,
        REGION,
        "DescribeKeyPairs",
        2,
    );
    e2.access_key_id = "AK2".into();
    e2.read_only = true;
    let mut e3 = event(3, ACCOUNT_A, AuditSource::Ec2, REGION, "DeleteKeyPair", 3);
    e3.access_key_id = "AK1".into();
    e3.resources = vec![AuditResource::key_pair("key-db", "db", "")];
    let mut e4 = event(4, ACCOUNT_A, AuditSource::Ec2, REGION, "CreateAccessKey", 4);
    e4.access_key_id = "AK2".into();
    e4.resources = vec![AuditResource::named(ResourceKind::AccessKey, "AKNEW", "")];
    let noise = |n: u64, account: &str, source: AuditSource, region: &str| {
        let mut e = e1.clone();
        e.time = at_millis(base_millis() + n as i64 + 10);
        e.event_id = keypaird_inventory::audit::fixture_event_id(e.time, n);
        e.request_id = format!("request-{n}");
        e.account_id = account.to_owned();
        e.source = source;
        e.region = region.to_owned();
        e
    };
    vec![
        e1.clone(),
        e2,
        e3,
        e4,
        noise(5, ACCOUNT_B, AuditSource::Ec2, REGION),
        noise(6, ACCOUNT_A, AuditSource::Ecs, REGION),
        noise(7, ACCOUNT_A, AuditSource::Ec2, "eu-west-1"),
    ]
}

pub async fn audit_lookups_by_each_attribute_stay_in_their_scope(store: Arc<dyn Store>) {
    let fixture = lookup_fixture();
    store.record_audit_events(&fixture).await.expect("record");
    let home = || home(ACCOUNT_A);
    let cases: Vec<(AuditQuery, &[u64])> = vec![
        (query(home()), &[4, 3, 2, 1]),
        (query(self::home(ACCOUNT_B)), &[5]),
        (
            with(home(), AuditAttribute::EventId(fixture[2].event_id.clone())),
            &[3],
        ),
        // The same ID in another scope is not this scope's.
        (
            with(home(), AuditAttribute::EventId(fixture[4].event_id.clone())),
            &[],
        ),
        (
            with(home(), AuditAttribute::EventId("no-such-event".into())),
            &[],
        ),
        (
            with(home(), AuditAttribute::EventName("CreateKeyPair".into())),
            &[1],
        ),
        (
            with(home(), AuditAttribute::EventName("DeleteKeyPair".into())),
            &[3],
        ),
        (with(home(), AuditAttribute::ReadOnly(true)), &[2]),
        (with(home(), AuditAttribute::ReadOnly(false)), &[4, 3, 1]),
        (
            with(home(), AuditAttribute::AccessKeyId("AK1".into())),
            &[3, 1],
        ),
        (
            with(home(), AuditAttribute::AccessKeyId("AK2".into())),
            &[4, 2],
        ),
        (
            with(home(), AuditAttribute::ResourceName("web".into())),
            &[1],
        ),
        (
            with(home(), AuditAttribute::ResourceName("key-web".into())),
            &[1],
        ),
        (
            with(home(), AuditAttribute::ResourceName("key-db".into())),
            &[3],
        ),
        (
            with(home(), AuditAttribute::ResourceName("AKNEW".into())),
            &[4],
        ),
        (
            with(home(), AuditAttribute::ResourceName("SHA256:web".into())),
            &[],
        ),
        (
            with(home(), AuditAttribute::ResourceKind(ResourceKind::KeyPair)),
            &[3, 1],
        ),
        (
            with(
                home(),
                AuditAttribute::ResourceKind(ResourceKind::AccessKey),
            ),
            &[4],
        ),
        (
            with(home(), AuditAttribute::ResourceKind(ResourceKind::Account)),
            &[],
        ),
        (
            AuditQuery {
                oldest_first: true,
                ..query(home())
            },
            &[1, 2, 3, 4],
        ),
        (
            AuditQuery {
                limit: 2,
                ..query(home())
            },
            &[4, 3],
        ),
        (
            AuditQuery {
                limit: 2,
                oldest_first: true,
                ..with(home(), AuditAttribute::ReadOnly(false))
            },
            &[1, 3],
        ),
        (
            query(AuditScope::Account(ACCOUNT_A.into())),
            &[7, 6, 4, 3, 2, 1],
        ),
        (query(AuditScope::Account(ACCOUNT_B.into())), &[5]),
        (query(AuditScope::Account("333333333333".into())), &[]),
        (query(AuditScope::All), &[7, 6, 5, 4, 3, 2, 1]),
        (
            AuditQuery {
                oldest_first: true,
                ..query(AuditScope::All)
            },
            &[1, 2, 3, 4, 5, 6, 7],
        ),
        (
            AuditQuery {
                action: Some("CreateKeyPair".into()),
                ..query(AuditScope::Account(ACCOUNT_A.into()))
            },
            &[7, 6, 1],
        ),
        (
            AuditQuery {
                action: Some("CreateKeyPair".into()),
                ..query(AuditScope::All)
            },
            &[7, 6, 5, 1],
        ),
        (
            AuditQuery {
                action: Some("DescribeKeyPairs".into()),
                ..query(AuditScope::All)
            },
            &[2],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            found_ids(&*store, &query).await,
            requests(expected),
            "{query:?}"
        );
    }
    // Every field of every event comes back as recorded.
    let mut all = found(&*store, &query(AuditScope::All)).await;
    all.reverse();
    assert_eq!(all, fixture);
}

pub async fn audit_time_range_bounds_are_inclusive(store: Arc<dyn Store>) {
    let fixture = lookup_fixture();
    store.record_audit_events(&fixture).await.expect("record");
    let between = |since: i64, until: i64, query: AuditQuery| AuditQuery {
        since: at_millis(base_millis() + since),
        until: at_millis(base_millis() + until),
        ..query
    };
    let home = || home(ACCOUNT_A);
    let cases: Vec<(AuditQuery, &[u64])> = vec![
        (between(2, 3, query(home())), &[3, 2]),
        (between(2, 2, query(home())), &[2]),
        (between(5, 9, query(home())), &[]),
        (between(3, 2, query(home())), &[]),
        (
            between(
                1,
                3,
                with(home(), AuditAttribute::AccessKeyId("AK1".into())),
            ),
            &[3, 1],
        ),
        (
            between(
                2,
                3,
                with(home(), AuditAttribute::AccessKeyId("AK1".into())),
            ),
            &[3],
        ),
        (
            between(
                1,
                1,
                with(home(), AuditAttribute::ResourceName("web".into())),
            ),
            &[1],
        ),
        (
            between(
                2,
                4,
                with(home(), AuditAttribute::ResourceName("web".into())),
            ),
            &[],
        ),
        (
            between(
                3,
                3,
                with(home(), AuditAttribute::EventId(fixture[2].event_id.clone())),
            ),
            &[3],
        ),
        (
            between(
                4,
                9,
                with(home(), AuditAttribute::EventId(fixture[2].event_id.clone())),
            ),
            &[],
        ),
        (
            between(4, 16, query(AuditScope::Account(ACCOUNT_A.into()))),
            &[6, 4],
        ),
        (between(15, 17, query(AuditScope::All)), &[7, 6, 5]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            found_ids(&*store, &query).await,
            requests(expected),
            "{query:?}"
        );
    }
}

/// Pages of `page` events through everything `query` selects, each starting after the last
/// event of the one before; returns every event in the order read and the pages' sizes.
async fn page_through(
    store: &dyn Store,
    query: &AuditQuery,
    page: u32,
) -> (Vec<String>, Vec<usize>) {
    let mut query = AuditQuery {
        limit: page,
        ..query.clone()
    };
    let (mut read, mut sizes) = (Vec::new(), Vec::new());
    loop {
        let events = found(store, &query).await;
        sizes.push(events.len());
        let Some(last) = events.last() else { break };
        query.after = Some(AuditCursor {
            time: last.time,
            event_id: last.event_id.clone(),
        });
        read.extend(events.into_iter().map(|e| e.request_id));
        assert!(sizes.len() < 100, "paging does not end");
    }
    (read, sizes)
}

pub async fn audit_pages_follow_the_cursor_without_gaps_or_duplicates(store: Arc<dyn Store>) {
    // 25 events, two to a millisecond (so the ID orders each pair), numbered so that the
    // higher number is newer; every one names key pair "shared", odd ones are reads.
    let events: Vec<AuditEvent> = (1..=25u64)
        .map(|n| {
            let mut e = event(
                n,
                ACCOUNT_A,
                AuditSource::Ec2,
                REGION,
                "CreateTags",
                (n / 2) as i64,
            );
            e.read_only = n % 2 == 1;
            e.resources = vec![AuditResource::key_pair(&format!("key-{n}"), "shared", "")];
            e
        })
        .collect();
    store
        .record_audit_events(&events[..12])
        .await
        .expect("record");
    store
        .record_audit_events(&events[12..])
        .await
        .expect("record");
    let newest_first: Vec<u64> = (1..=25).rev().collect();
    let oldest_first: Vec<u64> = (1..=25).collect();
    let odd_newest_first: Vec<u64> = (1..=25).rev().filter(|n| n % 2 == 1).collect();

    let home = || home(ACCOUNT_A);
    let cases: Vec<(AuditQuery, Vec<u64>, Vec<usize>)> = vec![
        (query(home()), newest_first.clone(), vec![10, 10, 5, 0]),
        (
            AuditQuery {
                oldest_first: true,
                ..query(home())
            },
            oldest_first.clone(),
            vec![10, 10, 5, 0],
        ),
        (
            with(home(), AuditAttribute::ResourceName("shared".into())),
            newest_first.clone(),
            vec![10, 10, 5, 0],
        ),
        (
            AuditQuery {
                oldest_first: true,
                ..with(home(), AuditAttribute::ResourceName("shared".into()))
            },
            oldest_first.clone(),
            vec![10, 10, 5, 0],
        ),
        (
            with(home(), AuditAttribute::ReadOnly(true)),
            odd_newest_first.clone(),
            vec![10, 3, 0],
        ),
        (
            with(home(), AuditAttribute::EventName("CreateTags".into())),
            newest_first.clone(),
            vec![10, 10, 5, 0],
        ),
        (
            query(AuditScope::Account(ACCOUNT_A.into())),
            newest_first.clone(),
            vec![10, 10, 5, 0],
        ),
        (
            AuditQuery {
                oldest_first: true,
                ..query(AuditScope::All)
            },
            oldest_first.clone(),
            vec![10, 10, 5, 0],
        ),
    ];
    for (query, expected, sizes) in cases {
        let (read, read_sizes) = page_through(&*store, &query, 10).await;
        assert_eq!(read, requests(&expected), "{query:?}");
        assert_eq!(read_sizes, sizes, "{query:?}");
    }

    // A cursor in the middle of a millisecond: event 14 shares its time with 15, whose ID is
    // greater; after 14 come 13, 12, 11 newest first and 15, 16, 17 oldest first.
    let after_14 = AuditQuery {
        after: Some(AuditCursor {
            time: events[13].time,
            event_id: events[13].event_id.clone(),
        }),
        limit: 3,
        ..query(home())
    };
    assert_eq!(found_ids(&*store, &after_14).await, requests(&[13, 12, 11]));
    let after_14_oldest_first = AuditQuery {
        oldest_first: true,
        ..after_14.clone()
    };
    assert_eq!(
        found_ids(&*store, &after_14_oldest_first).await,
        requests(&[15, 16, 17])
    );
    // The time range still bounds a page after a cursor: events 12 and 13 (time 6) are past
    // `until`, and newest first the page starts at 11; oldest first, `since` skips to 20.
    let until_5 = AuditQuery {
        until: at_millis(base_millis() + 5),
        ..after_14.clone()
    };
    assert_eq!(found_ids(&*store, &until_5).await, requests(&[11, 10, 9]));
    let since_10 = AuditQuery {
        since: at_millis(base_millis() + 10),
        ..after_14_oldest_first.clone()
    };
    assert_eq!(found_ids(&*store, &since_10).await, requests(&[20, 21, 22]));
    // A range that ends before the cursor's side of it holds nothing.
    let before_cursor = AuditQuery {
        since: at_millis(base_millis() + 8),
        ..after_14.clone()
    };
    assert_eq!(found_ids(&*store, &before_cursor).await, requests(&[]));
}

pub async fn audit_record_audit_events_inserts_every_event(store: Arc<dyn Store>) {
    store
        .record_audit_events(&[])
        .await
        .expect("nothing to record");
    assert_eq!(everything(&*store).await, vec![]);
    let mut failed = event(
        1,
        "",
        AuditSource::Ecs,
        "cn-hangzhou",
        "DescribeKeyPairs",
        1,
    );
    failed.access_key_id = "AKUNKNOWN".into();
    failed.account_name = String::new();
    failed.read_only = true;
    failed.error_code = Some("InvalidAccessKeyId.NotFound".into());
    failed.error_message = Some("Specified access key is not found.".into());
    let cli = event(
        2,
        ACCOUNT_A,
        AuditSource::CommandLine,
        "",
        "CreateAccount",
        2,
    );
    let mut read = event(
        3,
        ACCOUNT_B,
        AuditSource::Ec2,
        REGION,
        "DescribeKeyPairs",
        2,
    );
    read.read_only = true;
    read.resources = vec![
        AuditResource::key_pair("key-1", "one", ""),
        AuditResource::key_pair("key-2", "two", ""),
    ];
    // A console sign-in: its own source, one scope per account like the command line's.
    let mut sign_in = event(4, ACCOUNT_A, AuditSource::Console, "", "ConsoleLogin", 3);
    sign_in.resources = vec![AuditResource::access_key("AKIDCONSOLE")];
    sign_in.error_code = Some("Failed authentication".into());
    sign_in.error_message = Some("Failed authentication".into());
    let fixture = vec![failed.clone(), cli.clone(), read.clone(), sign_in.clone()];
    store.record_audit_events(&fixture).await.expect("record");
    let mut all = everything(&*store).await;
    all.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(all, fixture);
    let unknown_caller = AuditScope::Api {
        account_id: String::new(),
        source: AuditSource::Ecs,
        region: "cn-hangzhou".into(),
    };
    assert_eq!(found(&*store, &query(unknown_caller)).await, vec![failed]);
    assert_eq!(
        found(
            &*store,
            &with(home(ACCOUNT_B), AuditAttribute::ResourceName("two".into()))
        )
        .await,
        vec![read]
    );
    let console_scope = AuditScope::Api {
        account_id: ACCOUNT_A.into(),
        source: AuditSource::Console,
        region: "us-east-1".into(),
    };
    assert_eq!(found(&*store, &query(console_scope)).await, vec![sign_in]);
    // An event ID is recorded once: recording it again fails and adds nothing.
    assert!(store.record_audit_events(&[cli]).await.is_err());
    assert_eq!(everything(&*store).await.len(), 4);
}

pub async fn audit_purge_deletes_only_older_events_in_bounded_batches(store: Arc<dyn Store>) {
    // Events 1..=6 a millisecond apart, each naming two key pairs (four lookup rows).
    let events: Vec<AuditEvent> = (1..=6u64)
        .map(|n| {
            let mut e = event(
                n,
                ACCOUNT_A,
                AuditSource::Ec2,
                REGION,
                "DeleteKeyPairs",
                n as i64,
            );
            e.resources = vec![
                AuditResource::key_pair(&format!("key-{n}a"), &format!("name-{n}a"), ""),
                AuditResource::key_pair(&format!("key-{n}b"), &format!("name-{n}b"), ""),
            ];
            e
        })
        .collect();
    store.record_audit_events(&events).await.expect("record");
    // Older than event 5: events 1 to 4, at most 3 a call.
    let bound = events[4].time;
    assert_eq!(store.purge_audit_events(bound, 3).await, Ok(3));
    assert_eq!(
        found_ids(&*store, &query(AuditScope::All)).await,
        requests(&[6, 5, 4])
    );
    assert_eq!(store.purge_audit_events(bound, 3).await, Ok(1));
    assert_eq!(store.purge_audit_events(bound, 3).await, Ok(0));
    assert_eq!(
        found_ids(&*store, &query(AuditScope::All)).await,
        requests(&[6, 5])
    );
    let lookup = |name: String| with(home(ACCOUNT_A), AuditAttribute::ResourceName(name));
    for n in 1..=4 {
        for name in [format!("key-{n}a"), format!("name-{n}b")] {
            assert_eq!(found_ids(&*store, &lookup(name)).await, requests(&[]));
        }
    }
    for n in 5..=6 {
        for name in [format!("key-{n}a"), format!("name-{n}b")] {
            assert_eq!(found_ids(&*store, &lookup(name)).await, requests(&[n]));
        }
    }
    // Nothing is older than the oldest event.
    assert_eq!(store.purge_audit_events(events[0].time, 100).await, Ok(0));
    assert_eq!(everything(&*store).await.len(), 2);
}

/// For the backends' own tests of what the trait cannot show: `events` events a millisecond
/// apart from `base_millis() + 1`, each naming `resources` key pairs (two lookup rows each).
#[doc(hidden)]
pub fn audit_events_naming_many(events: u64, resources: u64) -> Vec<AuditEvent> {
    (1..=events)
        .map(|n| {
            let mut e = event(
                n,
                ACCOUNT_A,
                AuditSource::Ec2,
                REGION,
                "DeleteKeyPairs",
                n as i64,
            );
            e.resources = (1..=resources)
                .map(|r| {
                    AuditResource::key_pair(&format!("key-{n}-{r}"), &format!("kp-{n}-{r}"), "")
                })
                .collect();
            e
        })
        .collect()
}

/// Purges what is older than event `keep_from` of [`audit_events_naming_many`] as the upkeep
/// does: calls of `limit` until one deletes fewer.
#[doc(hidden)]
pub async fn purge_as_the_upkeep_does(store: &dyn Store, keep_from: u64, limit: u32) {
    let before = at_millis(base_millis() + keep_from as i64);
    while store
        .purge_audit_events(before, limit)
        .await
        .expect("purge")
        >= u64::from(limit)
    {}
}
