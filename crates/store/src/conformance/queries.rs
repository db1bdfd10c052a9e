//! The query paths: every filter alone and combined, wildcard escapes, paging at its
//! boundaries, counts and ordering ties, for key pairs and for tags. Expected results are
//! written out by hand (as fixture numbers), so a backend and these tests cannot agree on a
//! wrong answer.

use std::sync::Arc;

use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    AnyOf, KeyPair, KeyPairCursor, KeyPairFilter, KeyPairOrder, KeyPairQuery, KeyType, Page,
    Provider, Scope, Store, StoreError, TagCursor, TagFilter, TagMatch, TagQuery,
};

use super::{
    all, aws, base_millis, create_accounts, find, insert, key_id, key_pair, scope, tags, ACCOUNT_A,
    ACCOUNT_B,
};

/// (number, name, creation offset, key type, resource group, tags)
type Fixture = (
    u64,
    &'static str,
    i64,
    KeyType,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The fixture's key pairs. Numbers 6 and 7 share a creation time, so their order comes from
/// the ID alone. Names hold the characters SQL patterns treat specially (`%`, `_`, `[`, `\`)
/// and EC2's wildcards.
const FIXTURE: &[Fixture] = &[
    (
        1,
        "web-1",
        1,
        KeyType::Ed25519,
        "",
        &[("env", "prod"), ("team", "infra")],
    ),
    (2, "web-2", 2, KeyType::Rsa, "rg-a", &[("env", "dev")]),
    (
        3,
        "db-1",
        3,
        KeyType::Ed25519,
        "rg-a",
        &[("env", "prod"), ("owner", "x%y")],
    ),
    (4, "100%_done", 4, KeyType::Rsa, "", &[("note", "a*b")]),
    (5, "100xydone", 5, KeyType::Rsa, "", &[]),
    (6, "a*b", 6, KeyType::Ed25519, "rg-b", &[("note", "a?b")]),
    (7, "a?b", 6, KeyType::Ed25519, "", &[]),
    (8, "a\\b", 7, KeyType::Ed25519, "", &[]),
    (9, "[x]y", 8, KeyType::Ed25519, "", &[]),
    (10, "Web-3", 9, KeyType::Ed25519, "", &[("env", "Prod")]),
    (11, "wébé", 10, KeyType::Ed25519, "", &[("team", "infra")]),
    (12, "web-", 11, KeyType::Ed25519, "", &[]),
];

/// Newest first, as every key pair query orders.
const ALL: [u64; 12] = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1];

fn fingerprint(n: u64) -> String {
    format!("fp:{n:02}")
}

fn fixture_key_pair(scope: &Scope, n: u64) -> KeyPair {
    let (_, name, offset, key_type, group, pairs) = FIXTURE
        .iter()
        .find(|f| f.0 == n)
        .copied()
        .expect("fixture number");
    let mut kp = key_pair(&key_id(n), scope, name, base_millis() + offset);
    kp.key_type = key_type;
    kp.fingerprint = fingerprint(n);
    kp.resource_group_id = group.to_owned();
    kp.tags = tags(pairs);
    kp
}

/// The fixture in ACCOUNT_A's EC2 scope, and decoys in three other scopes: the same names and
/// tags (IDs 100 + n, 200 + n, 300 + n), which no query of ACCOUNT_A's scope may return.
async fn fill(store: &dyn Store) -> Scope {
    create_accounts(store, &[ACCOUNT_A, ACCOUNT_B]).await;
    let own = aws(ACCOUNT_A);
    let decoys = [
        aws(ACCOUNT_B),
        scope(ACCOUNT_A, Provider::Aws, "eu-west-1"),
        scope(ACCOUNT_A, Provider::Aliyun, "us-east-1"),
    ];
    for (f, _, _, _, _, _) in FIXTURE {
        insert(store, &fixture_key_pair(&own, *f)).await;
        for (d, decoy) in decoys.iter().enumerate() {
            let mut kp = fixture_key_pair(decoy, *f);
            kp.id = key_id(100 * (d as u64 + 1) + f);
            insert(store, &kp).await;
        }
    }
    own
}

fn numbers(key_pairs: &[KeyPair]) -> Vec<u64> {
    key_pairs
        .iter()
        .map(|kp| u64::from_str_radix(kp.id.trim_start_matches("key-"), 16).expect("a fixture ID"))
        .collect()
}

fn patterns(values: &[&str]) -> AnyOf {
    AnyOf::patterns(values.iter().map(|v| Wildcard::new(v)))
}

fn name(values: &[&str]) -> KeyPairFilter {
    KeyPairFilter::Name(patterns(values))
}

fn tag(key: &str, values: Option<&[&str]>) -> TagMatch {
    TagMatch {
        key: key.to_owned(),
        value: values.map(patterns),
    }
}

/// Runs `filters` on the scope and checks the key pairs (by fixture number, in order), the
/// rows they come with, and the count.
async fn expect(store: &dyn Store, scope: &Scope, filters: Vec<KeyPairFilter>, want: &[u64]) {
    let mut query = KeyPairQuery::all(scope.clone());
    query.filters = filters;
    let found = find(store, query.clone()).await;
    assert_eq!(numbers(&found), want, "{:?}", query.filters);
    for kp in &found {
        let n = numbers(std::slice::from_ref(kp))[0];
        assert_eq!(*kp, fixture_key_pair(scope, n), "row {n} comes back whole");
    }
    let counted = store.count_key_pairs(&query).await.expect("count");
    assert_eq!(counted, want.len() as u64, "count of {:?}", query.filters);
}

pub async fn query_each_filter_alone(store: Arc<dyn Store>) {
    let s = fill(&*store).await;
    let st = &*store;
    expect(st, &s, vec![], &ALL).await;
    // Exact names; a missing one is simply absent.
    let exact = KeyPairFilter::Name(AnyOf::exactly(["web-1", "db-1", "missing"]));
    expect(st, &s, vec![exact], &[3, 1]).await;
    expect(st, &s, vec![name(&["web-*"])], &[12, 2, 1]).await;
    expect(st, &s, vec![name(&["*-1"])], &[3, 1]).await;
    expect(st, &s, vec![name(&["*"])], &ALL).await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Id(AnyOf::exactly([key_id(2), key_id(99)]))],
        &[2],
    )
    .await;
    expect(st, &s, vec![KeyPairFilter::Id(patterns(&["key-*"]))], &ALL).await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Fingerprint(AnyOf::exactly([fingerprint(3)]))],
        &[3],
    )
    .await;
    let fp = KeyPairFilter::Fingerprint(patterns(&["fp:0?"]));
    expect(st, &s, vec![fp], &[9, 8, 7, 6, 5, 4, 3, 2, 1]).await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("env", Some(&["prod"])))],
        &[3, 1],
    )
    .await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("env", Some(&["prod", "dev"])))],
        &[3, 2, 1],
    )
    .await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("env", Some(&["*rod"])))],
        &[10, 3, 1],
    )
    .await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("env", None))],
        &[10, 3, 2, 1],
    )
    .await;
    expect(st, &s, vec![KeyPairFilter::Tag(tag("ENV", None))], &[]).await;
    let note = KeyPairFilter::TagKey(AnyOf::exactly(["note"]));
    expect(st, &s, vec![note], &[6, 4]).await;
    let any_key = KeyPairFilter::TagKey(patterns(&["*"]));
    expect(st, &s, vec![any_key], &[11, 10, 6, 4, 3, 2, 1]).await;
    let o_keys = KeyPairFilter::TagKey(patterns(&["o*", "tea?"]));
    expect(st, &s, vec![o_keys], &[11, 3, 1]).await;
    let group = KeyPairFilter::ResourceGroup("rg-a".into());
    expect(st, &s, vec![group], &[3, 2]).await;
    let no_group = KeyPairFilter::ResourceGroup(String::new());
    expect(st, &s, vec![no_group], &[12, 11, 10, 9, 8, 7, 5, 4, 1]).await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::KeyType(KeyType::Rsa)],
        &[5, 4, 2],
    )
    .await;
    expect(st, &s, vec![KeyPairFilter::KeyType(KeyType::Dsa)], &[]).await;
}

pub async fn query_wildcards_and_sql_metacharacters(store: Arc<dyn Store>) {
    let s = fill(&*store).await;
    let st = &*store;
    // `%` and `_` are plain characters, in literals and in patterns alike.
    expect(st, &s, vec![name(&["100%_done"])], &[4]).await;
    expect(st, &s, vec![name(&["100?_done"])], &[4]).await;
    expect(st, &s, vec![name(&["100__done"])], &[]).await;
    expect(st, &s, vec![name(&["100%%done"])], &[]).await;
    expect(st, &s, vec![name(&["100*"])], &[5, 4]).await;
    expect(st, &s, vec![name(&["*%*"])], &[4]).await;
    // EC2's own wildcards, and the backslash that makes them literal.
    expect(st, &s, vec![name(&["a?b"])], &[8, 7, 6]).await;
    expect(st, &s, vec![name(&[r"a\*b"])], &[6]).await;
    expect(st, &s, vec![name(&[r"a\?b"])], &[7]).await;
    expect(st, &s, vec![name(&[r"a\\b"])], &[8]).await;
    expect(st, &s, vec![name(&[r"a\\*"])], &[8]).await;
    // Brackets are GLOB's character classes; here they are text.
    expect(st, &s, vec![name(&["[x]*"])], &[9]).await;
    expect(st, &s, vec![name(&["[x]y"])], &[9]).await;
    expect(st, &s, vec![name(&["[xyz]y"])], &[]).await;
    // `?` is one character, not one byte; matching is case-sensitive.
    expect(st, &s, vec![name(&["w?b?"])], &[12, 11]).await;
    expect(st, &s, vec![name(&["wé*"])], &[11]).await;
    expect(st, &s, vec![name(&["WEB-*"])], &[]).await;
    expect(st, &s, vec![name(&["Web*"])], &[10]).await;
    // Several alternatives: literal and patterns ORed.
    let mixed = KeyPairFilter::Name(AnyOf::patterns([
        Wildcard::literal("db-1"),
        Wildcard::new("a?b"),
        Wildcard::new("*done"),
    ]));
    expect(st, &s, vec![mixed], &[8, 7, 6, 5, 4, 3]).await;
    // Tag values: a literal `x_y` is not `x%y`; patterns on values.
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("owner", Some(&["x%y"])))],
        &[3],
    )
    .await;
    let literal_underscore = KeyPairFilter::Tag(TagMatch {
        key: "owner".into(),
        value: Some(AnyOf::exactly(["x_y"])),
    });
    expect(st, &s, vec![literal_underscore], &[]).await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("note", Some(&["a?b"])))],
        &[6, 4],
    )
    .await;
    expect(
        st,
        &s,
        vec![KeyPairFilter::Tag(tag("note", Some(&[r"a\*b"])))],
        &[4],
    )
    .await;
    // Alternatives that can match nothing stored (a control character, far too long).
    let hopeless = KeyPairFilter::Name(patterns(&["web\0*", &"w".repeat(600)]));
    expect(st, &s, vec![hopeless], &[]).await;
    let none = KeyPairFilter::Name(AnyOf::exactly(Vec::<String>::new()));
    expect(st, &s, vec![none], &[]).await;
}

pub async fn query_filters_combined(store: Arc<dyn Store>) {
    let s = fill(&*store).await;
    let st = &*store;
    let prod = || KeyPairFilter::Tag(tag("env", Some(&["prod"])));
    expect(st, &s, vec![name(&["web*"]), prod()], &[1]).await;
    expect(
        st,
        &s,
        vec![
            KeyPairFilter::Tag(tag("team", Some(&["infra"]))),
            name(&["w*"]),
        ],
        &[11, 1],
    )
    .await;
    let web_2 = KeyPairFilter::Name(AnyOf::exactly(["web-2"]));
    expect(st, &s, vec![web_2, prod()], &[]).await;
    let group = KeyPairFilter::ResourceGroup("rg-a".into());
    expect(st, &s, vec![group.clone(), prod()], &[3]).await;
    let rsa = KeyPairFilter::KeyType(KeyType::Rsa);
    expect(st, &s, vec![group, rsa.clone()], &[2]).await;
    let fp = KeyPairFilter::Fingerprint(patterns(&["fp:0?"]));
    expect(st, &s, vec![fp, rsa, name(&["*done"])], &[5, 4]).await;
    // Two tag conditions: both must hold, on different keys.
    expect(
        st,
        &s,
        vec![prod(), KeyPairFilter::Tag(tag("team", None))],
        &[1],
    )
    .await;
    // The same kind of filter twice: both hold (EC2 ANDs filters, even of one name).
    expect(st, &s, vec![name(&["web*"]), name(&["*1"])], &[1]).await;
    let ids = KeyPairFilter::Id(AnyOf::exactly([key_id(1), key_id(3), key_id(12)]));
    let names = KeyPairFilter::Name(AnyOf::exactly(["web-1", "web-"]));
    expect(st, &s, vec![ids, names], &[12, 1]).await;
    let tag_key = KeyPairFilter::TagKey(AnyOf::exactly(["owner"]));
    expect(st, &s, vec![tag_key, prod()], &[3]).await;
}

async fn page_of(store: &dyn Store, query: KeyPairQuery) -> Vec<u64> {
    numbers(&find(store, query).await)
}

pub async fn query_pages_at_their_boundaries(store: Arc<dyn Store>) {
    let s = fill(&*store).await;
    let st = &*store;
    let offset = |offset, limit| KeyPairQuery::all(s.clone()).paged(Page::Offset { offset, limit });
    assert_eq!(page_of(st, offset(0, 1)).await, vec![12]);
    assert_eq!(page_of(st, offset(11, 1)).await, vec![1], "the last");
    assert_eq!(
        page_of(st, offset(12, 1)).await,
        Vec::<u64>::new(),
        "past the end"
    );
    assert_eq!(page_of(st, offset(1000, 50)).await, Vec::<u64>::new());
    assert_eq!(
        page_of(st, offset(0, 50)).await,
        ALL.to_vec(),
        "the maximum page"
    );
    assert_eq!(page_of(st, offset(0, 0)).await, Vec::<u64>::new());
    assert_eq!(
        page_of(st, offset(5, 2)).await,
        vec![7, 6],
        "a tie, ordered by ID"
    );
    assert_eq!(
        page_of(st, offset(10, 5)).await,
        vec![2, 1],
        "a short last page"
    );
    let a_b = |skip, limit| offset(skip, limit).with(name(&["a?b"]));
    assert_eq!(page_of(st, a_b(1, 1)).await, vec![7]);
    assert_eq!(page_of(st, a_b(2, 5)).await, vec![6]);

    // Counts ignore the page; without filters they come from the scope's counter.
    let mut counted = a_b(2, 1);
    counted.count_total = true;
    let page = st.find_key_pairs(&counted).await.expect("page");
    assert_eq!((numbers(&page.key_pairs), page.total), (vec![6], Some(3)));
    let mut everything = offset(3, 2);
    everything.count_total = true;
    let page = st.find_key_pairs(&everything).await.expect("page");
    assert_eq!(
        (numbers(&page.key_pairs), page.total),
        (vec![9, 8], Some(12))
    );

    // Keyset pages: stable across ties, and empty after the last key pair.
    let kps = all(st, &s).await;
    let cursor = |n: u64| {
        let kp = kps
            .iter()
            .find(|kp| kp.id == key_id(n))
            .expect("fixture key pair");
        KeyPairCursor::after(kp)
    };
    let after = |after, limit| KeyPairQuery::all(s.clone()).paged(Page::After { after, limit });
    assert_eq!(page_of(st, after(None, 5)).await, vec![12, 11, 10, 9, 8]);
    assert_eq!(
        page_of(st, after(Some(cursor(8)), 5)).await,
        vec![7, 6, 5, 4, 3]
    );
    assert_eq!(
        page_of(st, after(Some(cursor(7)), 1)).await,
        vec![6],
        "past a tie"
    );
    assert_eq!(page_of(st, after(Some(cursor(3)), 5)).await, vec![2, 1]);
    assert_eq!(
        page_of(st, after(Some(cursor(1)), 5)).await,
        Vec::<u64>::new()
    );
    let filtered = after(Some(cursor(12)), 2).with(KeyPairFilter::Tag(tag("env", None)));
    assert_eq!(page_of(st, filtered).await, vec![10, 3]);

    // Oldest first: the same pages from the other end, ties by ID ascending.
    let oldest = |cursor, limit| after(cursor, limit).ordered(KeyPairOrder::OldestFirst);
    assert_eq!(page_of(st, oldest(None, 5)).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        page_of(st, oldest(Some(cursor(6)), 2)).await,
        vec![7, 8],
        "past a tie"
    );
    assert_eq!(page_of(st, oldest(Some(cursor(11)), 5)).await, vec![12]);
    assert_eq!(
        page_of(st, oldest(Some(cursor(12)), 5)).await,
        Vec::<u64>::new()
    );
    let filtered = oldest(Some(cursor(1)), 2).with(KeyPairFilter::Tag(tag("env", None)));
    assert_eq!(page_of(st, filtered).await, vec![2, 3]);
    let by_number = offset(3, 2).ordered(KeyPairOrder::OldestFirst);
    assert_eq!(page_of(st, by_number).await, vec![4, 5]);
    let in_group = KeyPairQuery::all(s.clone())
        .ordered(KeyPairOrder::OldestFirst)
        .with(KeyPairFilter::ResourceGroup("rg-a".into()));
    assert_eq!(page_of(st, in_group).await, vec![2, 3]);

    // By name, in byte order both ways ("100%_done" < "100xydone" < "Web-3" < "[x]y" < "a*b" <
    // "a?b" < "a\\b" < "db-1" < "web-" < "web-1" < "web-2" < "wébé"), resuming after a name.
    let by_name = |order, cursor, limit| after(cursor, limit).ordered(order);
    let ascending = KeyPairOrder::NameAscending;
    let descending = KeyPairOrder::NameDescending;
    assert_eq!(
        page_of(st, by_name(ascending, None, 5)).await,
        vec![4, 5, 10, 9, 6]
    );
    assert_eq!(
        page_of(st, by_name(ascending, Some(cursor(6)), 5)).await,
        vec![7, 8, 3, 12, 1]
    );
    assert_eq!(
        page_of(st, by_name(ascending, Some(cursor(1)), 5)).await,
        vec![2, 11]
    );
    assert_eq!(
        page_of(st, by_name(descending, None, 3)).await,
        vec![11, 2, 1]
    );
    assert_eq!(
        page_of(st, by_name(descending, Some(cursor(12)), 3)).await,
        vec![3, 8, 7]
    );
    let web = KeyPairFilter::Name(AnyOf::patterns([Wildcard::new("web-*")]));
    assert_eq!(
        page_of(st, by_name(ascending, None, 2).with(web.clone())).await,
        vec![12, 1]
    );
    assert_eq!(
        page_of(st, by_name(ascending, Some(cursor(1)), 2).with(web)).await,
        vec![2]
    );
    let tagged = by_name(ascending, None, 3).with(KeyPairFilter::Tag(tag("env", None)));
    assert_eq!(page_of(st, tagged).await, vec![10, 3, 1]);
    let mut every_oldest: Vec<u64> = ALL.to_vec();
    every_oldest.reverse();
    assert_eq!(
        page_of(
            st,
            KeyPairQuery::all(s.clone()).ordered(KeyPairOrder::OldestFirst)
        )
        .await,
        every_oldest
    );
}

async fn tag_rows(store: &dyn Store, query: TagQuery) -> Vec<(u64, String, String)> {
    store
        .find_tags(&query)
        .await
        .unwrap_or_else(|err| panic!("{query:?}: {err}"))
        .into_iter()
        .map(|row| {
            let n = u64::from_str_radix(row.key_pair_id.trim_start_matches("key-"), 16)
                .expect("a fixture ID");
            let (_, name, ..) = FIXTURE.iter().find(|f| f.0 == n).expect("fixture");
            assert_eq!(row.key_pair_name, *name, "the row names its key pair");
            (n, row.key, row.value)
        })
        .collect()
}

fn rows(expected: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
    expected
        .iter()
        .map(|(n, k, v)| (*n, (*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub async fn tag_queries(store: Arc<dyn Store>) {
    let s = fill(&*store).await;
    let st = &*store;
    let every = rows(&[
        (1, "env", "prod"),
        (1, "team", "infra"),
        (2, "env", "dev"),
        (3, "env", "prod"),
        (3, "owner", "x%y"),
        (4, "note", "a*b"),
        (6, "note", "a?b"),
        (10, "env", "Prod"),
        (11, "team", "infra"),
    ]);
    let q = || TagQuery::all(s.clone());
    assert_eq!(tag_rows(st, q()).await, every, "(key pair ID, key) order");
    let ids = TagFilter::KeyPairId(AnyOf::exactly([key_id(2), key_id(3), key_id(5)]));
    assert_eq!(
        tag_rows(st, q().with(ids)).await,
        rows(&[(2, "env", "dev"), (3, "env", "prod"), (3, "owner", "x%y")])
    );
    let id_pattern = TagFilter::KeyPairId(patterns(&["key-*"]));
    assert_eq!(tag_rows(st, q().with(id_pattern)).await, every);
    let names = TagFilter::KeyPairName(AnyOf::exactly(["web-1", "db-1", "missing"]));
    assert_eq!(
        tag_rows(st, q().with(names)).await,
        rows(&[
            (1, "env", "prod"),
            (1, "team", "infra"),
            (3, "env", "prod"),
            (3, "owner", "x%y")
        ])
    );
    let env = TagFilter::Key(AnyOf::exactly(["env"]));
    assert_eq!(
        tag_rows(st, q().with(env.clone())).await,
        rows(&[
            (1, "env", "prod"),
            (2, "env", "dev"),
            (3, "env", "prod"),
            (10, "env", "Prod")
        ])
    );
    let rod = TagFilter::Value(patterns(&["*rod"]));
    assert_eq!(
        tag_rows(st, q().with(env).with(rod)).await,
        rows(&[(1, "env", "prod"), (3, "env", "prod"), (10, "env", "Prod")])
    );
    let a_b = TagFilter::Value(patterns(&["a?b"]));
    assert_eq!(
        tag_rows(st, q().with(a_b)).await,
        rows(&[(4, "note", "a*b"), (6, "note", "a?b")])
    );
    let literal_star = TagFilter::Value(AnyOf::exactly(["a*b"]));
    assert_eq!(
        tag_rows(st, q().with(literal_star)).await,
        rows(&[(4, "note", "a*b")])
    );
    let either = TagFilter::AnyOf(vec![
        TagMatch {
            key: "env".into(),
            value: Some(AnyOf::exactly(["prod"])),
        },
        tag("team", None),
    ]);
    assert_eq!(
        tag_rows(st, q().with(either)).await,
        rows(&[
            (1, "env", "prod"),
            (1, "team", "infra"),
            (3, "env", "prod"),
            (11, "team", "infra")
        ])
    );
    let nothing = TagFilter::Key(AnyOf::exactly(Vec::<String>::new()));
    assert_eq!(tag_rows(st, q().with(nothing)).await, rows(&[]));

    // Pages: a limit, and a cursor that resumes after the last row returned.
    let mut first = q();
    first.limit = Some(1);
    assert_eq!(tag_rows(st, first).await, every[..1].to_vec());
    let mut resumed = q();
    resumed.after = Some(TagCursor {
        key_pair_id: key_id(1),
        key: "env".into(),
    });
    resumed.limit = Some(3);
    assert_eq!(tag_rows(st, resumed).await, every[1..4].to_vec());
    let mut past_the_end = q();
    past_the_end.after = Some(TagCursor {
        key_pair_id: key_id(11),
        key: "team".into(),
    });
    assert_eq!(tag_rows(st, past_the_end).await, rows(&[]));
}

/// The per-scope counter that quotas and unfiltered counts read must equal the real number of
/// key pairs after any mix of concurrent inserts and deletes.
pub async fn counter_matches_the_rows_after_racing_writes(store: Arc<dyn Store>) {
    create_accounts(&*store, &[ACCOUNT_A]).await;
    let scope = aws(ACCOUNT_A);
    for n in 0..40u64 {
        insert(
            &*store,
            &key_pair(&key_id(n), &scope, &format!("k{n}"), base_millis()),
        )
        .await;
    }
    let tasks: Vec<_> = (0..120u64)
        .map(|n| {
            let store = store.clone();
            let scope = scope.clone();
            tokio::spawn(async move {
                match n % 3 {
                    // Deletes of existing key pairs, by name and by the batch call.
                    0 => {
                        let which = keypaird_inventory::KeyPairRef::Name(format!("k{}", n / 3));
                        store
                            .delete_key_pair(&scope, &which, &super::audit())
                            .await
                            .map(drop)
                    }
                    1 => store
                        .delete_key_pairs_by_name(
                            &scope,
                            &[format!("k{}", n / 3 + 1)],
                            &super::audit(),
                        )
                        .await
                        .map(drop),
                    // New key pairs, a few of them refused by the quota or as duplicates.
                    _ => {
                        let kp = key_pair(
                            &key_id(1000 + n),
                            &scope,
                            &format!("new{}", n % 30),
                            base_millis(),
                        );
                        match store.insert_key_pair(&kp, 60, &super::audit()).await {
                            Err(
                                StoreError::DuplicateKeyPair | StoreError::QuotaExceeded { .. },
                            ) => Ok(()),
                            other => other,
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("write");
    }
    let rows = all(&*store, &scope).await.len() as u64;
    let counter = store
        .count_key_pairs(&KeyPairQuery::all(scope.clone()))
        .await
        .expect("counter");
    // A filter that matches everything makes the backend count rows instead.
    let counted = store
        .count_key_pairs(&KeyPairQuery::all(scope.clone()).with(name(&["*"])))
        .await
        .expect("count");
    assert_eq!((counter, counted), (rows, rows));
    assert!(rows > 0 && rows < 70, "the race left {rows} key pairs");
    store.reset_inventory().await.expect("reset");
    let after_reset = store
        .count_key_pairs(&KeyPairQuery::all(scope.clone()))
        .await
        .expect("counter");
    assert_eq!(after_reset, 0);
}
