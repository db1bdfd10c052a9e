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
    TagValue,
    TagsInScope,
}

impl Index {
    pub(crate) fn name(self, flavor: Flavor) -> &'static str {
        match (self, flavor) {
            // SQLite's tables are clustered on (scope, name) and (scope, key pair, key).
            (Index::KeyPairId, Flavor::Sqlite) => "key_pairs_by_id",
            (Index::KeyPairId, Flavor::Postgres) => "key_pairs_pkey",
            (Index::KeyPairName, Flavor::Sqlite) => "PRIMARY KEY",
            (Index::KeyPairName, Flavor::Postgres) => "key_pairs_name_key",
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
        matches!(self, Index::NewestFirst | Index::TagsInScope)
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
            select(&all().ordered(KeyPairOrder::OldestFirst).paged(keyset_page)),
            Index::NewestFirst,
            true,
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
