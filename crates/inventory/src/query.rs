//! Which key pairs (or tags) a request means, in the domain's words. Each dialect translates its
//! wire parameters (EC2 `KeyName.N` and `Filter.N`, ECS `KeyPairName`, `Tag.N`, `PageNumber`)
//! into a [`KeyPairQuery`] or a [`TagQuery`] and renders what comes back; the store compiles the
//! query into indexed SQL and returns only what was asked for. No layer above the store
//! filters, sorts or pages key pairs in memory.
//!
//! Order is one of two: key pairs newest first (ties broken by ID, descending) or oldest first
//! (the same index walked backwards); tags by key pair ID and then key. Each is an order an
//! index of every backend holds.

use time::OffsetDateTime;

use crate::model::{KeyType, Scope};
use crate::pattern::Wildcard;

/// No stored text this service filters on is longer than this many characters (names are at
/// most 255, tag keys 127, tag values 256; IDs and fingerprints are shorter), so a pattern
/// that needs more can match nothing.
const LONGEST_MATCHABLE_TEXT: usize = 512;

/// Text that matches when any of its alternatives does. No alternatives match nothing.
///
/// Alternatives that cannot match anything the store holds are dropped on construction: ones
/// needing more than [`LONGEST_MATCHABLE_TEXT`] characters, and ones with a control character
/// (no provider stores those in names or tags, and PostgreSQL cannot even hold a NUL). That
/// keeps hostile filter values from reaching the database as patterns it would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyOf(Vec<Wildcard>);

impl AnyOf {
    pub fn patterns(patterns: impl IntoIterator<Item = Wildcard>) -> Self {
        AnyOf(
            patterns
                .into_iter()
                .filter(|p| {
                    p.min_chars() <= LONGEST_MATCHABLE_TEXT && !p.has_literal(char::is_control)
                })
                .collect(),
        )
    }

    /// Exact values, with no wildcard in them.
    pub fn exactly<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::patterns(
            values
                .into_iter()
                .map(|value| Wildcard::literal(value.as_ref())),
        )
    }

    pub fn alternatives(&self) -> &[Wildcard] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values when every alternative is an exact one: what an index lookup can serve.
    pub fn literals(&self) -> Option<Vec<String>> {
        self.0.iter().map(Wildcard::as_literal).collect()
    }

    /// The reference semantics the stores' SQL must agree with.
    pub fn matches(&self, text: &str) -> bool {
        self.0.iter().any(|pattern| pattern.matches(text))
    }
}

/// A tag with exactly this key whose value matches (any value when `value` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMatch {
    pub key: String,
    pub value: Option<AnyOf>,
}

/// One condition on a key pair. A query's filters must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPairFilter {
    Id(AnyOf),
    Name(AnyOf),
    Fingerprint(AnyOf),
    /// Holds a tag like this one.
    Tag(TagMatch),
    /// Holds a tag whose key matches.
    TagKey(AnyOf),
    ResourceGroup(String),
    KeyType(KeyType),
}

/// Where a keyset page starts: after this key pair, in the query's order (the time orders
/// resume after its creation time and ID, the name orders after its name, which is unique in
/// a scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairCursor {
    pub created_at: OffsetDateTime,
    pub id: String,
    pub name: String,
}

impl KeyPairCursor {
    /// The cursor that resumes after `key_pair`.
    pub fn after(key_pair: &crate::model::KeyPair) -> Self {
        KeyPairCursor {
            created_at: key_pair.created_at,
            id: key_pair.id.clone(),
            name: key_pair.name.clone(),
        }
    }
}

/// Which way key pairs come. EC2 and ECS document no order; see docs/decisions.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyPairOrder {
    /// Newest first, ties by ID descending: ECS listings and every page.
    #[default]
    NewestFirst,
    /// Creation order, ties by ID ascending: EC2's DescribeKeyPairs, as moto lists them and
    /// suites written against moto expect.
    OldestFirst,
    /// By name, in byte order (both stores compare names as bytes): the web console's lists,
    /// read in the order of the scope's unique name index.
    NameAscending,
    NameDescending,
}

impl KeyPairOrder {
    pub fn by_name(self) -> bool {
        matches!(
            self,
            KeyPairOrder::NameAscending | KeyPairOrder::NameDescending
        )
    }

    /// The same order, the other way round.
    pub fn reversed(self) -> Self {
        match self {
            KeyPairOrder::NewestFirst => KeyPairOrder::OldestFirst,
            KeyPairOrder::OldestFirst => KeyPairOrder::NewestFirst,
            KeyPairOrder::NameAscending => KeyPairOrder::NameDescending,
            KeyPairOrder::NameDescending => KeyPairOrder::NameAscending,
        }
    }
}

/// How much of the ordered result to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Everything (EC2's DescribeKeyPairs has no paging).
    All,
    /// `limit` key pairs after skipping `offset` (ECS `PageNumber` and `PageSize`).
    Offset { offset: u64, limit: u32 },
    /// `limit` key pairs after `after` (from the start when `None`): stays O(limit) however
    /// deep the page, and stable while key pairs come and go.
    After {
        after: Option<KeyPairCursor>,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairQuery {
    pub scope: Scope,
    pub filters: Vec<KeyPairFilter>,
    pub page: Page,
    pub order: KeyPairOrder,
    /// Also count every key pair that matches, whatever the page (ECS `TotalCount`).
    pub count_total: bool,
}

impl KeyPairQuery {
    /// Every key pair of the scope, newest first.
    pub fn all(scope: Scope) -> Self {
        KeyPairQuery {
            scope,
            filters: Vec::new(),
            page: Page::All,
            order: KeyPairOrder::NewestFirst,
            count_total: false,
        }
    }

    pub fn with(mut self, filter: KeyPairFilter) -> Self {
        self.filters.push(filter);
        self
    }

    pub fn paged(mut self, page: Page) -> Self {
        self.page = page;
        self
    }

    pub fn ordered(mut self, order: KeyPairOrder) -> Self {
        self.order = order;
        self
    }

    /// The key pairs of the scope with these exact names.
    pub fn names<S: AsRef<str>>(scope: Scope, names: impl IntoIterator<Item = S>) -> Self {
        Self::all(scope).with(KeyPairFilter::Name(AnyOf::exactly(names)))
    }

    /// The key pairs of the scope with these IDs.
    pub fn ids<S: AsRef<str>>(scope: Scope, ids: impl IntoIterator<Item = S>) -> Self {
        Self::all(scope).with(KeyPairFilter::Id(AnyOf::exactly(ids)))
    }
}

/// One page of a [`KeyPairQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairPage {
    pub key_pairs: Vec<crate::model::KeyPair>,
    /// Every match, beyond this page; `Some` only when the query asked for it.
    pub total: Option<u64>,
}

/// One condition on a tag row. A query's filters must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    KeyPairId(AnyOf),
    KeyPairName(AnyOf),
    Key(AnyOf),
    Value(AnyOf),
    /// The tag is like one of these.
    AnyOf(Vec<TagMatch>),
}

/// Where a tag page starts: after this row, in (key pair ID, key) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCursor {
    pub key_pair_id: String,
    pub key: String,
}

/// Tags of a scope's key pairs, one row per (key pair, tag), ordered by key pair ID and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagQuery {
    pub scope: Scope,
    pub filters: Vec<TagFilter>,
    pub after: Option<TagCursor>,
    /// At most this many rows; all of them when `None`.
    pub limit: Option<u32>,
}

impl TagQuery {
    pub fn all(scope: Scope) -> Self {
        TagQuery {
            scope,
            filters: Vec::new(),
            after: None,
            limit: None,
        }
    }

    pub fn with(mut self, filter: TagFilter) -> Self {
        self.filters.push(filter);
        self
    }
}

/// A tag together with the key pair that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub key_pair_id: String,
    pub key_pair_name: String,
    pub key: String,
    pub value: String,
}

impl TagRow {
    /// The cursor of a page that ends with this row.
    pub fn cursor(&self) -> TagCursor {
        TagCursor {
            key_pair_id: self.key_pair_id.clone(),
            key: self.key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatchable_alternatives_are_dropped() {
        let any = AnyOf::patterns([
            Wildcard::new("ok*"),
            Wildcard::new("nul\0inside"),
            Wildcard::new(&"x".repeat(LONGEST_MATCHABLE_TEXT + 1)),
            Wildcard::new(&format!("*{}*", "y".repeat(LONGEST_MATCHABLE_TEXT))),
        ]);
        assert_eq!(any.alternatives().len(), 2);
        assert!(any.matches("okay"));
        assert!(!AnyOf::exactly(["a\u{7}b"]).matches("a\u{7}b"));
        assert!(AnyOf::exactly(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn literals_only_when_every_alternative_is_exact() {
        assert_eq!(
            AnyOf::exactly(["a*", "b"]).literals(),
            Some(vec!["a*".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            AnyOf::patterns([Wildcard::new("a*"), Wildcard::new("b")]).literals(),
            None
        );
    }
}
