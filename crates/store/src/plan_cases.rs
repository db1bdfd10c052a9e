//! Every indexed query path, as the statement the store would run, with the index that must
//! serve it. Each backend's tests ask its database for the plan of each case (SQLite's `EXPLAIN
//! QUERY PLAN`; PostgreSQL's generic plan on tables without statistics) and fail when the index
//! is not used, when the scope is walked instead, or when a page is sorted rather than read in
//! order.

use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    AnyOf, KeyPairCursor, KeyPairFilter, KeyPairOrder, KeyPairQuery, Page, Scope, TagFilter,
    TagMatch, TagQuery,
};

use crate::sql::{self, Count, Flavor, Statement};

/// The indexes the paths rely on, named per backend by [`PlanCase::index_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    KeyPairId,
    KeyPairName,
    Fingerprint,
    ResourceGroup,
    NewestFirst,
    /// The unique name index walked over the whole scope, in name order (the console's lists).
    NameOrder,
    TagValue,
    TagsInScope,
}

impl Index {
    pub(crate) fn name(self, flavor: Flavor) -> &'static str {
        match (self, flavor) {
            // SQLite's tables are clustered on (scope, name) and (scope, key pair, key).
            (Index::KeyPairId, Flavor::Sqlite) => "key_pairs_by_id",
            (Index::KeyPairId, Flavor::Postgres) => "key_pairs_pkey",
            (Index::KeyPairName | Index::NameOrder, Flavor::Sqlite) => "PRIMARY KEY",
            (Index::KeyPairName | Index::NameOrder, Flavor::Postgres) => "key_pairs_name_key",
            (Index::Fingerprint, _) => "key_pairs_by_fingerprint",
            (Index::ResourceGroup, _) => "key_pairs_by_resource_group",
            (Index::NewestFirst, _) => "key_pairs_newest_first",
            (Index::TagValue, _) => "key_pair_tags_by_value",
            (Index::TagsInScope, Flavor::Sqlite) => "PRIMARY KEY",
            (Index::TagsInScope, Flavor::Postgres) => "key_pair_tags_in_scope",
        }
    }

    /// Whether this index, used with only the scope's columns, is a walk of the whole scope.
    /// Legitimate only where the case is a page read in that index's order.
    pub(crate) fn is_scope_order(self) -> bool {
        matches!(
            self,
            Index::NewestFirst | Index::NameOrder | Index::TagsInScope
        )
    }
}

pub(crate) struct PlanCase {
    pub(crate) what: &'static str,
    pub(crate) statement: Statement,
    /// The index that must serve the statement: the first, or (where two conditions are both
    /// selective and either index is as good) any of them.
    pub(crate) indexes: Vec<Index>,
    /// A page: rows must come in index order, with no sort of the matches.
    pub(crate) ordered: bool,
}

impl PlanCase {
    /// Whether the walk of the scope that `index` makes is what this case is (a page in
    /// that index's order).
    pub(crate) fn walks_scope_in_order(&self) -> bool {
        self.indexes.iter().all(|index| index.is_scope_order())
    }
}

fn exact(values: &[&str]) -> AnyOf {
    AnyOf::exactly(values)
}

fn count(flavor: Flavor, query: KeyPairQuery) -> Statement {
    match sql::count_key_pairs(flavor, &query) {
        Count::Statement(statement) => statement,
        _ => panic!("a filtered count is a statement"),
    }
}

/// The cases for one backend; `select` is how it reads key pairs.
pub(crate) fn cases(
    flavor: Flavor,
    scope: &Scope,
    select: &dyn Fn(&KeyPairQuery) -> Statement,
) -> Vec<PlanCase> {
    let all = || KeyPairQuery::all(scope.clone());
    let tag = |key: &str, value: Option<&str>| TagMatch {
        key: key.to_owned(),
        value: value.map(|v| exact(&[v])),
    };
    let page = Page::Offset {
        offset: 0,
        limit: 50,
    };
    let keyset_page = Page::After {
        after: Some(KeyPairCursor {
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            id: "key-00000000000000001".into(),
            name: "kp-1".into(),
        }),
        limit: 50,
    };
    let case = |what, statement, index, ordered| PlanCase {
        what,
        statement,
        indexes: vec![index],
        ordered,
    };
    let mut cases = vec![
        case(
            "key pairs by name",
            select(&KeyPairQuery::names(scope.clone(), ["kp-1"])),
            Index::KeyPairName,
            false,
        ),
        case(
            "key pairs by several names",
            select(&KeyPairQuery::names(
                scope.clone(),
                ["kp-1", "kp-2", "kp-3"],
            )),
            Index::KeyPairName,
            false,
        ),
        case(
            "key pairs by ID",
            select(&KeyPairQuery::ids(scope.clone(), ["key-00000000000000001"])),
            Index::KeyPairId,
            false,
        ),
        case(
            "key pairs by fingerprint",
            select(&all().with(KeyPairFilter::Fingerprint(exact(&["aa:bb"])))),
            Index::Fingerprint,
            false,
        ),
        case(
            "key pairs by tag key and value",
            select(&all().with(KeyPairFilter::Tag(tag("id", Some("kp-1"))))),
            Index::TagValue,
            false,
        ),
        case(
            "key pairs by tag key",
            select(
                &all()
                    .with(KeyPairFilter::Tag(tag("id", None)))
                    .paged(page.clone()),
            ),
            Index::TagValue,
            false,
        ),
        case(
            "key pairs by name prefix",
            select(
                &all().with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::new(
                    "kp-12*",
                )]))),
            ),
            Index::KeyPairName,
            false,
        ),
        case(
            "key pairs by exact name and a tag",
            select(
                &KeyPairQuery::names(scope.clone(), ["kp-1"])
                    .with(KeyPairFilter::Tag(tag("id", Some("kp-1")))),
            ),
            Index::KeyPairName,
            false,
        ),
        case(
            "a page of a resource group",
            select(
                &all()
                    .with(KeyPairFilter::ResourceGroup("rg-1".into()))
                    .paged(page.clone()),
            ),
            Index::ResourceGroup,
            true,
        ),
        case(
            "the first page",
            select(&all().paged(page.clone())),
            Index::NewestFirst,
            true,
        ),
        case(
            "a page deep in the list",
            select(&all().paged(Page::Offset {
                offset: 500_000,
                limit: 50,
            })),
            Index::NewestFirst,
            true,
        ),
        case(
            "a keyset page",
            select(&all().paged(keyset_page.clone())),
            Index::NewestFirst,
            true,
        ),
        case(
            "every key pair, streamed in order",
            select(&all()),
            Index::NewestFirst,
            true,
        ),
        case(
            "every key pair, oldest first (EC2's order): the same index backwards",
            select(&all().ordered(KeyPairOrder::OldestFirst)),
            Index::NewestFirst,
            true,
        ),
        case(
            "a keyset page, oldest first",
            select(
                &all()
                    .ordered(KeyPairOrder::OldestFirst)
                    .paged(keyset_page.clone()),
            ),
            Index::NewestFirst,
            true,
        ),
        case(
            "the first page by name",
            select(
                &all()
                    .ordered(KeyPairOrder::NameAscending)
                    .paged(Page::After {
                        after: None,
                        limit: 50,
                    }),
            ),
            Index::NameOrder,
            true,
        ),
        case(
            "a keyset page by name, descending",
            select(
                &all()
                    .ordered(KeyPairOrder::NameDescending)
                    .paged(keyset_page.clone()),
            ),
            Index::NameOrder,
            true,
        ),
        case(
            "a keyset page of a name prefix, by name",
            select(
                &all()
                    .with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::new(
                        "kp-1*",
                    )])))
                    .ordered(KeyPairOrder::NameAscending)
                    .paged(keyset_page.clone()),
            ),
            Index::KeyPairName,
            // PostgreSQL's generic plan guesses a range of the name index holds few rows and
            // sorts them (docs/console.md, "Paging"); SQLite reads the range in order.
            flavor == Flavor::Sqlite,
        ),
        case(
            "count by name prefix",
            count(
                flavor,
                all().with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::new(
                    "kp-1*",
                )]))),
            ),
            Index::KeyPairName,
            false,
        ),
        case(
            "count by fingerprint",
            count(
                flavor,
                all().with(KeyPairFilter::Fingerprint(exact(&["aa:bb"]))),
            ),
            Index::Fingerprint,
            false,
        ),
        case(
            "count by tag",
            count(
                flavor,
                all().with(KeyPairFilter::Tag(tag("id", Some("kp-1")))),
            ),
            Index::TagValue,
            false,
        ),
        case(
            "tags of key pairs by ID",
            sql::select_tags(
                flavor,
                &TagQuery::all(scope.clone())
                    .with(TagFilter::KeyPairId(exact(&["key-00000000000000001"]))),
            )
            .expect("tags"),
            Index::TagsInScope,
            false,
        ),
        case(
            "tags of key pairs by name",
            sql::select_tags(
                flavor,
                &TagQuery::all(scope.clone()).with(TagFilter::KeyPairName(exact(&["kp-1"]))),
            )
            .expect("tags"),
            Index::KeyPairName,
            false,
        ),
        case(
            "tags by key and value",
            sql::select_tags(
                flavor,
                &TagQuery::all(scope.clone()).with(TagFilter::AnyOf(vec![tag("id", Some("kp-1"))])),
            )
            .expect("tags"),
            Index::TagValue,
            false,
        ),
        case(
            "a page of tags",
            sql::select_tags(
                flavor,
                &TagQuery {
                    limit: Some(51),
                    ..TagQuery::all(scope.clone())
                },
            )
            .expect("tags"),
            Index::TagsInScope,
            true,
        ),
    ];
    // Both conditions are selective, so either index serves.
    for case in &mut cases {
        if case.what == "key pairs by exact name and a tag" {
            case.indexes.push(Index::TagValue);
        }
    }
    cases
}

/// An audit trail statement and the indexes that must all serve it (for a query, the one its
/// walk drives from: `audit_events`'s, or `audit_resources`'s for `ResourceName`). Every
/// audit case is a page, or a batch taken in time order: none may sort.
pub(crate) struct AuditPlanCase {
    pub(crate) what: String,
    pub(crate) statement: Statement,
    pub(crate) indexes: Vec<AuditIndex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditIndex {
    /// The primary key of `audit_events`: (scope, event_time, event_id).
    EventsInScope,
    /// One event by its scope, time and ID: the scope's index, or on PostgreSQL (which has
    /// no statistics to choose by) equally the time index, both a point of their key.
    EventAtItsTime,
    ByName,
    ByAccessKey,
    /// The partial index of read events.
    Reads,
    ByAccount,
    ByTime,
    /// The primary key of `audit_resources`: (scope, resource_name, event_time, event_id).
    ResourcesByName,
}

impl AuditIndex {
    /// The indexes that serve the case, any one of them.
    pub(crate) fn names(self, flavor: Flavor) -> Vec<&'static str> {
        let name = match (self, flavor) {
            (AuditIndex::EventAtItsTime, Flavor::Sqlite) => "audit_events_by_scope",
            (AuditIndex::EventAtItsTime, Flavor::Postgres) => {
                return vec!["audit_events_pkey", "audit_events_by_time"];
            }
            (AuditIndex::EventsInScope, Flavor::Sqlite) => "audit_events_by_scope",
            (AuditIndex::EventsInScope, Flavor::Postgres) => "audit_events_pkey",
            (AuditIndex::ByName, _) => "audit_events_by_name",
            (AuditIndex::ByAccessKey, _) => "audit_events_by_access_key",
            (AuditIndex::Reads, _) => "audit_events_reads",
            (AuditIndex::ByAccount, _) => "audit_events_by_account",
            (AuditIndex::ByTime, _) => "audit_events_by_time",
            (AuditIndex::ResourcesByName, Flavor::Sqlite) => "PRIMARY KEY",
            (AuditIndex::ResourcesByName, Flavor::Postgres) => "audit_resources_pkey",
        };
        vec![name]
    }
}

/// Every audit query shape (each scope, each attribute, with and without a cursor, both
/// orders, with the command line's action filter) and the purge statements.
pub(crate) fn audit_cases(flavor: Flavor) -> Vec<AuditPlanCase> {
    use keypaird_inventory::{
        AuditAttribute, AuditCursor, AuditQuery, AuditScope, AuditSource, ResourceKind,
    };

    let since = time::OffsetDateTime::UNIX_EPOCH;
    let until = since + time::Duration::days(365 * 60);
    let api = AuditScope::Api {
        account_id: "111111111111".into(),
        source: AuditSource::Ec2,
        region: "us-east-1".into(),
    };
    let shapes: Vec<(&str, AuditScope, Option<AuditAttribute>, AuditIndex)> = vec![
        ("scope", api.clone(), None, AuditIndex::EventsInScope),
        (
            "event ID",
            api.clone(),
            Some(AuditAttribute::EventId(
                "01a234ab-bd00-7000-8000-000000000001".into(),
            )),
            AuditIndex::EventAtItsTime,
        ),
        (
            "event name",
            api.clone(),
            Some(AuditAttribute::EventName("CreateKeyPair".into())),
            AuditIndex::ByName,
        ),
        (
            "read-only",
            api.clone(),
            Some(AuditAttribute::ReadOnly(true)),
            AuditIndex::Reads,
        ),
        (
            "not read-only",
            api.clone(),
            Some(AuditAttribute::ReadOnly(false)),
            AuditIndex::EventsInScope,
        ),
        (
            "access key",
            api.clone(),
            Some(AuditAttribute::AccessKeyId("AKIA1".into())),
            AuditIndex::ByAccessKey,
        ),
        (
            "resource name",
            api.clone(),
            Some(AuditAttribute::ResourceName("kp-1".into())),
            AuditIndex::ResourcesByName,
        ),
        (
            "resource kind",
            api.clone(),
            Some(AuditAttribute::ResourceKind(ResourceKind::KeyPair)),
            AuditIndex::EventsInScope,
        ),
        (
            "account",
            AuditScope::Account("111111111111".into()),
            None,
            AuditIndex::ByAccount,
        ),
        ("everything", AuditScope::All, None, AuditIndex::ByTime),
    ];
    let mut cases = Vec::new();
    for (what, scope, attribute, index) in shapes {
        for oldest_first in [false, true] {
            for cursor in [false, true] {
                let actions: &[Option<&str>] = match scope {
                    AuditScope::Api { .. } => &[None],
                    _ => &[None, Some("CreateKeyPair")],
                };
                for action in actions {
                    let query = AuditQuery {
                        attribute: attribute.clone(),
                        action: action.map(str::to_owned),
                        after: cursor.then(|| AuditCursor {
                            time: since + time::Duration::days(365 * 30),
                            event_id: "00000000-0000-4000-8000-000000000001".into(),
                        }),
                        oldest_first,
                        ..AuditQuery::new(scope.clone(), since, until, 50)
                    };
                    let statement = crate::audit_sql::select_events(flavor, &query)
                        .expect("an audit query that can match");
                    cases.push(AuditPlanCase {
                        what: format!(
                            "audit events by {what}{}{}{}",
                            if oldest_first { ", oldest first" } else { "" },
                            if cursor { ", after a cursor" } else { "" },
                            if action.is_some() { ", one action" } else { "" },
                        ),
                        statement,
                        indexes: vec![index],
                    });
                }
            }
        }
    }
    for (n, sql) in crate::audit_sql::purge_statements(flavor)
        .iter()
        .enumerate()
    {
        // Each statement takes its batch from the time index; the one deleting lookup rows
        // finds each by its primary key.
        let mut indexes = vec![AuditIndex::ByTime];
        if sql.contains("DELETE FROM audit_resources") {
            indexes.push(AuditIndex::ResourcesByName);
        }
        cases.push(AuditPlanCase {
            what: format!("purge statement {}", n + 1),
            statement: Statement {
                sql: (*sql).to_owned(),
                params: vec![
                    crate::sql::Param::Int(1_700_000_000_000),
                    crate::sql::Param::Int(1000),
                ],
            },
            indexes,
        });
    }
    cases
}
