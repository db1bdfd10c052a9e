//! The one compiler from the inventory's queries to SQL, for both backends. They differ only in
//! how a scope is written (SQLite keeps three columns; PostgreSQL one `scope` column, see its
//! migrations for why), in placeholders, in how a list is bound (`rarray(?)` / `= ANY($::text[])`)
//! and in the pattern operator (`GLOB` / `LIKE`); everything else — which index drives a query,
//! how filters combine, order and paging — is decided once, here.
//!
//! **Which index drives.** Without statistics (a fresh table, or SQLite, which has none unless
//! someone runs ANALYZE) a planner cannot know which condition is selective, so the compiler
//! decides, by a fixed preference: exact IDs, exact names, exact fingerprints, a tag with an
//! exact key and values, a tag key, a name prefix (as a range on the unique name index), a
//! resource group (whose index is also newest-first); and only when none applies, the scope's
//! newest-first index, walked in order (backwards for oldest first) so that a page stops early. The driving condition is
//! written in the shape its index serves (a join from the tag table, a range); every other
//! condition is checked on the rows the driver yields, by the database, as they stream.
//! Patterns no index serves (a leading wildcard) are such checks: evaluated in SQL while the
//! scope is walked, never by loading it. Each backend's tests ask the database for the plan of
//! every path and fail on a scan of the scope.

use keypaird_inventory::pattern::{prefix_upper_bound, Token, Wildcard};
use keypaird_inventory::{
    AnyOf, KeyPairFilter, KeyPairOrder, KeyPairQuery, Page, Scope, TagFilter, TagMatch, TagQuery,
};

/// Which column a lookup narrows the scope by, in a query that aliases `key_pairs` as `k`.
#[derive(Clone, Copy)]
pub(crate) enum Column {
    Name,
    Id,
}

impl Column {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Column::Name => "k.name",
            Column::Id => "k.id",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    Texts(Vec<String>),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
}

/// PostgreSQL's key of a scope, as its generated `key_pairs.scope` column computes it. Account
/// IDs and providers hold no `/`, so the text is unambiguous whatever the region.
pub(crate) fn scope_key(scope: &Scope) -> String {
    format!(
        "{}/{}/{}",
        scope.account_id,
        scope.provider.as_str(),
        scope.region
    )
}

struct Builder {
    flavor: Flavor,
    params: Vec<Param>,
}

impl Builder {
    /// Binds the scope first, so every statement starts with the same placeholders for it.
    fn new(flavor: Flavor, scope: &Scope) -> Self {
        let params = match flavor {
            Flavor::Sqlite => vec![
                Param::Text(scope.account_id.clone()),
                Param::Text(scope.provider.as_str().to_owned()),
                Param::Text(scope.region.clone()),
            ],
            Flavor::Postgres => vec![Param::Text(scope_key(scope))],
        };
        Builder { flavor, params }
    }

    /// `alias`'s row belongs to the scope.
    fn in_scope(&self, alias: &str) -> String {
        match self.flavor {
            Flavor::Sqlite => {
                format!("{alias}.account_id = ?1 AND {alias}.provider = ?2 AND {alias}.region = ?3")
            }
            Flavor::Postgres => format!("{alias}.scope = $1"),
        }
    }

    fn bind(&mut self, param: Param) -> String {
        let cast = match (&param, self.flavor) {
            (_, Flavor::Sqlite) => "",
            (Param::Text(_), Flavor::Postgres) => "::text",
            (Param::Texts(_), Flavor::Postgres) => "::text[]",
            (Param::Int(_), Flavor::Postgres) => "::int8",
        };
        self.params.push(param);
        let n = self.params.len();
        match self.flavor {
            Flavor::Sqlite => format!("?{n}"),
            Flavor::Postgres => format!("${n}{cast}"),
        }
    }

    fn text(&mut self, value: &str) -> String {
        self.bind(Param::Text(value.to_owned()))
    }

    /// `column` equals one of `values` (not empty).
    fn one_of(&mut self, column: &str, mut values: Vec<String>) -> String {
        if values.len() == 1 {
            let value = values.pop().unwrap_or_default();
            let p = self.bind(Param::Text(value));
            return format!("{column} = {p}");
        }
        let list = self.bind(Param::Texts(values));
        match self.flavor {
            Flavor::Sqlite => format!("{column} IN rarray({list})"),
            Flavor::Postgres => format!("{column} = ANY({list})"),
        }
    }

    /// `column` matches one of the alternatives (which may be none: then nothing matches).
    fn matches(&mut self, column: &str, any: &AnyOf) -> String {
        let mut literals = Vec::new();
        let mut patterns = Vec::new();
        for alternative in any.alternatives() {
            match alternative.as_literal() {
                Some(literal) => literals.push(literal),
                None => patterns.push(self.pattern_text(alternative)),
            }
        }
        let mut parts = Vec::new();
        if !literals.is_empty() {
            parts.push(self.one_of(column, literals));
        }
        if patterns.len() == 1 {
            let p = self.bind(Param::Text(patterns.remove(0)));
            parts.push(format!("{column} {} {p}", self.pattern_operator()));
        } else if !patterns.is_empty() {
            let list = self.bind(Param::Texts(patterns));
            parts.push(match self.flavor {
                Flavor::Sqlite => {
                    format!("EXISTS (SELECT 1 FROM rarray({list}) p WHERE {column} GLOB p.value)")
                }
                Flavor::Postgres => format!("{column} LIKE ANY({list})"),
            });
        }
        match parts.len() {
            0 => "1 = 0".to_owned(),
            1 => parts.remove(0),
            _ => format!("({})", parts.join(" OR ")),
        }
    }

    fn pattern_operator(&self) -> &'static str {
        match self.flavor {
            Flavor::Sqlite => "GLOB",
            Flavor::Postgres => "LIKE",
        }
    }

    /// The pattern in the backend's syntax: SQLite's case-sensitive GLOB (`*`, `?`, and
    /// brackets to make `*`, `?` and `[` literal) or PostgreSQL's LIKE (`%`, `_`, backslash as
    /// the escape), both matching whole characters, not bytes.
    fn pattern_text(&self, pattern: &Wildcard) -> String {
        let mut out = String::new();
        for token in pattern.tokens() {
            match (self.flavor, token) {
                (Flavor::Sqlite, Token::AnyRun) => out.push('*'),
                (Flavor::Sqlite, Token::AnyOne) => out.push('?'),
                (Flavor::Sqlite, Token::Literal(c @ ('*' | '?' | '['))) => {
                    out.push('[');
                    out.push(c);
                    out.push(']');
                }
                (Flavor::Postgres, Token::AnyRun) => out.push('%'),
                (Flavor::Postgres, Token::AnyOne) => out.push('_'),
                (Flavor::Postgres, Token::Literal(c @ ('%' | '_' | '\\'))) => {
                    out.push('\\');
                    out.push(c);
                }
                (_, Token::Literal(c)) => out.push(c),
            }
        }
        out
    }

    /// The key pair `k` holds a tag whose key and value satisfy `condition` (over `t`),
    /// checked through the tag table's primary key (SQLite's leads with the scope).
    fn has_tag_where(&self, condition: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM key_pair_tags t WHERE {} AND t.key_pair_id = k.id \
             AND {condition})",
            self.in_scope("t")
        )
    }

    /// The key pair `k` holds a tag like `tag`.
    fn has_tag(&mut self, tag: &TagMatch) -> String {
        let key = self.text(&tag.key);
        let condition = match &tag.value {
            Some(value) => format!("t.key = {key} AND {}", self.matches("t.value", value)),
            None => format!("t.key = {key}"),
        };
        self.has_tag_where(&condition)
    }

    fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// The condition that narrows a key pair query through an index, by the preference in the
/// module comment.
enum Driver<'q> {
    /// Exact values of a column with an index of its own: the plain condition is what it
    /// serves.
    Exact(ExactColumn),
    /// Rows of the tag table with this key (and value), joined to their key pairs.
    Tag(&'q TagMatch),
    /// A name range: every name starting with `prefix`.
    NamePrefix(String),
    /// The resource group's index, which continues newest first after the group.
    ResourceGroup,
    /// The scope's newest-first index, walked in order.
    Scope,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExactColumn {
    Id,
    Name,
    Fingerprint,
}

fn exact(any: &AnyOf) -> bool {
    any.alternatives().iter().all(Wildcard::is_literal)
}

fn exact_column(filter: &KeyPairFilter) -> Option<ExactColumn> {
    match filter {
        KeyPairFilter::Id(any) if exact(any) => Some(ExactColumn::Id),
        KeyPairFilter::Name(any) if exact(any) => Some(ExactColumn::Name),
        KeyPairFilter::Fingerprint(any) if exact(any) => Some(ExactColumn::Fingerprint),
        _ => None,
    }
}

fn driver(filters: &[KeyPairFilter]) -> Driver<'_> {
    let exact_columns: Vec<ExactColumn> = filters.iter().filter_map(exact_column).collect();
    for column in [ExactColumn::Id, ExactColumn::Name, ExactColumn::Fingerprint] {
        if exact_columns.contains(&column) {
            return Driver::Exact(column);
        }
    }
    // A tag with exact values, else any tag filter by key. A key pair holds each key once, so
    // joining the rows of one key never repeats a key pair.
    let tags = || {
        filters.iter().filter_map(|f| match f {
            KeyPairFilter::Tag(tag) => Some(tag),
            _ => None,
        })
    };
    if let Some(tag) = tags()
        .find(|tag| tag.value.as_ref().is_some_and(exact))
        .or_else(|| tags().next())
    {
        return Driver::Tag(tag);
    }
    let prefix = filters.iter().find_map(|f| match f {
        KeyPairFilter::Name(any) => match any.alternatives() {
            [only] => Some(only.literal_prefix()).filter(|p| !p.is_empty()),
            _ => None,
        },
        _ => None,
    });
    if let Some(prefix) = prefix {
        return Driver::NamePrefix(prefix);
    }
    if filters
        .iter()
        .any(|f| matches!(f, KeyPairFilter::ResourceGroup(_)))
    {
        return Driver::ResourceGroup;
    }
    Driver::Scope
}

impl Driver<'_> {
    /// SQLite's `INDEXED BY` for the key pair table, so the driving index is the one used:
    /// without statistics SQLite guesses that a scope holds a handful of rows, and would rather
    /// walk the scope in the clustered primary key than look up an index and then the row.
    /// (Exact names and name ranges are the primary key itself.)
    /// A walk of the scope in name order is the primary key itself.
    fn sqlite_key_pair_index(&self, order: KeyPairOrder) -> Option<&'static str> {
        match self {
            Driver::Exact(ExactColumn::Id) | Driver::Tag(_) => Some("key_pairs_by_id"),
            Driver::Exact(ExactColumn::Fingerprint) => Some("key_pairs_by_fingerprint"),
            Driver::ResourceGroup => Some("key_pairs_by_resource_group"),
            Driver::Scope if order.by_name() => None,
            Driver::Scope => Some("key_pairs_newest_first"),
            Driver::Exact(ExactColumn::Name) | Driver::NamePrefix(_) => None,
        }
    }
}

/// The most exact names or IDs a point lookup may list: each is one descent of a unique index,
/// so such a query costs the same whatever the scope holds, and little.
pub(crate) const POINT_LOOKUP_MAX: usize = 16;

/// Whether `query` is a point lookup: driven by exact IDs or, failing those, exact names (as
/// [`driver`] picks), at most [`POINT_LOOKUP_MAX`] of them in every such filter. Its cost is a
/// few B-tree descents and the rows' tags, never a walk, so a backend may run it where a long
/// read would be unwelcome (SQLite: on the async task itself).
pub(crate) fn is_point_lookup(query: &KeyPairQuery) -> bool {
    let exact_lists = |column: ExactColumn| {
        query.filters.iter().filter_map(move |filter| match filter {
            KeyPairFilter::Id(any) if column == ExactColumn::Id && exact(any) => Some(any),
            KeyPairFilter::Name(any) if column == ExactColumn::Name && exact(any) => Some(any),
            _ => None,
        })
    };
    [ExactColumn::Id, ExactColumn::Name]
        .into_iter()
        .find(|&column| exact_lists(column).next().is_some())
        .is_some_and(|column| {
            exact_lists(column).all(|any| any.alternatives().len() <= POINT_LOOKUP_MAX)
        })
}

/// Whether a filter can match no key pair at all (an empty list of alternatives), so the store
/// answers without asking the database.
fn matches_nothing(filter: &KeyPairFilter) -> bool {
    match filter {
        KeyPairFilter::Id(any)
        | KeyPairFilter::Name(any)
        | KeyPairFilter::Fingerprint(any)
        | KeyPairFilter::TagKey(any) => any.is_empty(),
        KeyPairFilter::Tag(tag) => tag.value.as_ref().is_some_and(AnyOf::is_empty),
        KeyPairFilter::ResourceGroup(_) | KeyPairFilter::KeyType(_) => false,
    }
}

/// Whether the index that drives these filters yields rows in `order` (walked backwards for
/// the reverse): for the time orders the scope's newest-first index, or the resource group's,
/// which continues in time order after the group; for the name orders the scope's unique name
/// index, whole or as a prefix's range.
fn yields_order(filters: &[KeyPairFilter], order: KeyPairOrder) -> bool {
    let driver = driver(filters);
    if order.by_name() {
        matches!(driver, Driver::Scope | Driver::NamePrefix(_))
    } else {
        matches!(driver, Driver::Scope | Driver::ResourceGroup)
    }
}

/// The terms of an `ORDER BY` in `order`; `unindexed` writes them as expressions no index
/// serves (SQLite's unary `+`), for matches that must be sorted.
fn order_terms(order: KeyPairOrder, unindexed: bool) -> String {
    let plus = if unindexed { "+" } else { "" };
    match order {
        KeyPairOrder::NewestFirst => format!("{plus}k.created_at_ms DESC, {plus}k.id DESC"),
        KeyPairOrder::OldestFirst => format!("{plus}k.created_at_ms ASC, {plus}k.id ASC"),
        KeyPairOrder::NameAscending => format!("{plus}k.name ASC"),
        KeyPairOrder::NameDescending => format!("{plus}k.name DESC"),
    }
}

/// `FROM … WHERE …` of a key pair query, with `k` the key pair row (and whatever
/// `extra_from` joins). `None` when nothing can match.
fn key_pair_source(b: &mut Builder, query: &KeyPairQuery, extra_from: &str) -> Option<String> {
    if query.filters.iter().any(matches_nothing) {
        return None;
    }
    let driver = driver(&query.filters);
    let key_pairs = match (b.flavor, driver.sqlite_key_pair_index(query.order)) {
        (Flavor::Sqlite, Some(index)) => format!("key_pairs k INDEXED BY {index}"),
        _ => "key_pairs k".to_owned(),
    };
    let mut conditions = Vec::new();
    let from = match &driver {
        Driver::Tag(tag) => {
            // Driven from the tag table, whose rows carry the scope: the key pair is then found
            // by its primary key. (A CROSS JOIN is SQLite's way of fixing the join order.)
            conditions.push(b.in_scope("d"));
            let key = b.text(&tag.key);
            conditions.push(format!("d.key = {key}"));
            if let Some(value) = &tag.value {
                conditions.push(b.matches("d.value", value));
            }
            conditions.push("k.id = d.key_pair_id".to_owned());
            let tags = match b.flavor {
                Flavor::Sqlite => "key_pair_tags d INDEXED BY key_pair_tags_by_value",
                Flavor::Postgres => "key_pair_tags d",
            };
            format!("{tags} CROSS JOIN {key_pairs}{extra_from}")
        }
        _ => {
            conditions.push(b.in_scope("k"));
            if let Driver::NamePrefix(prefix) = &driver {
                let low = b.text(prefix);
                conditions.push(format!("k.name >= {low}"));
                if let Some(upper) = prefix_upper_bound(prefix) {
                    let high = b.text(&upper);
                    conditions.push(format!("k.name < {high}"));
                }
            }
            format!("{key_pairs}{extra_from}")
        }
    };
    for filter in &query.filters {
        let condition = match filter {
            KeyPairFilter::Tag(tag) if matches!(driver, Driver::Tag(d) if std::ptr::eq(d, tag)) => {
                continue
            }
            KeyPairFilter::Id(any) => b.matches("k.id", any),
            KeyPairFilter::Name(any) => b.matches("k.name", any),
            KeyPairFilter::Fingerprint(any) => b.matches("k.fingerprint", any),
            KeyPairFilter::Tag(tag) => b.has_tag(tag),
            KeyPairFilter::TagKey(any) => {
                let key = b.matches("t.key", any);
                b.has_tag_where(&key)
            }
            KeyPairFilter::ResourceGroup(group) => {
                let g = b.text(group);
                format!("k.resource_group_id = {g}")
            }
            KeyPairFilter::KeyType(key_type) => {
                let t = b.text(key_type.as_str());
                format!("k.key_type = {t}")
            }
        };
        conditions.push(condition);
    }
    Some(format!("FROM {from} WHERE {}", conditions.join(" AND ")))
}

/// The statement that selects `columns` (over `k`, and whatever `extra_from` joins to the
/// page's rows) for the query's page, in the query's order. `None` when nothing can match.
///
/// On PostgreSQL the page of rows is chosen first, in a subquery, and only its rows are then
/// joined with `extra_from` (the tag aggregate): a deep OFFSET skips index entries, not tag
/// lookups. When an index that does not yield newest first drives, the matches must be
/// sorted; left to themselves, both planners would rather walk a newest-first index of the
/// whole scope and discard rows than sort a few. SQLite is kept from it by a unary `+`, which
/// makes the order terms expressions no index can serve; PostgreSQL by a materialized CTE,
/// which it plans on its own.
pub(crate) fn select_key_pairs(
    flavor: Flavor,
    query: &KeyPairQuery,
    columns: &str,
    extra_from: &str,
) -> Option<Statement> {
    let mut b = Builder::new(flavor, &query.scope);
    let in_order = yields_order(&query.filters, query.order);
    let mut source = key_pair_source(&mut b, query, "")?;
    if let Page::After {
        after: Some(cursor),
        ..
    } = &query.page
    {
        let beyond = match query.order {
            KeyPairOrder::NewestFirst | KeyPairOrder::NameDescending => "<",
            KeyPairOrder::OldestFirst | KeyPairOrder::NameAscending => ">",
        };
        if query.order.by_name() {
            let name = b.text(&cursor.name);
            source.push_str(&format!(" AND k.name {beyond} {name}"));
        } else {
            let at = b.bind(Param::Int(
                crate::millis::to_millis(cursor.created_at).ok()?,
            ));
            let id = b.text(&cursor.id);
            source.push_str(&format!(
                " AND (k.created_at_ms, k.id) {beyond} ({at}, {id})"
            ));
        }
    }
    // Each reverse order is its index walked backwards: no sort either way.
    let in_query_order = order_terms(query.order, false);
    // SQLite, a page by number in time order: the page's keys are read from the index alone
    // (it holds the scope, time, ID and name), so OFFSET skips index entries, and only the
    // page's rows are then read from the table.
    let sqlite_keys_first = flavor == Flavor::Sqlite
        && in_order
        && !query.order.by_name()
        && matches!(query.page, Page::Offset { .. });
    let direction = match query.order {
        KeyPairOrder::NewestFirst | KeyPairOrder::NameDescending => "DESC",
        KeyPairOrder::OldestFirst | KeyPairOrder::NameAscending => "ASC",
    };
    let (with, mut page) = match (flavor, in_order) {
        (Flavor::Sqlite, true) if sqlite_keys_first => (
            String::new(),
            format!(
                "SELECT k.account_id, k.provider, k.region, k.name, \
                 k.created_at_ms AS page_at, k.id AS page_id {source}"
            ),
        ),
        (Flavor::Sqlite, true) => (String::new(), format!("SELECT {columns} {source}")),
        (Flavor::Sqlite, false) => (
            String::new(),
            format!(
                "SELECT {columns} {source} ORDER BY {}",
                order_terms(query.order, true)
            ),
        ),
        (Flavor::Postgres, true) => (String::new(), format!("SELECT k.* {source}")),
        (Flavor::Postgres, false) => (
            format!("WITH matched AS MATERIALIZED (SELECT k.* {source}) "),
            "SELECT * FROM matched k".to_owned(),
        ),
    };
    if in_order || flavor == Flavor::Postgres {
        page.push_str(&format!(" ORDER BY {in_query_order}"));
    }
    let limit = match &query.page {
        Page::All => None,
        Page::Offset { limit, .. } | Page::After { limit, .. } => Some(i64::from(*limit)),
    };
    match (limit, flavor) {
        (Some(limit), _) => {
            let l = b.bind(Param::Int(limit));
            page.push_str(&format!(" LIMIT {l}"));
        }
        // A LIMIT that is a parameter keeps PostgreSQL's generic plan walking the ordered index
        // rather than sorting the whole scope before the first row.
        (None, Flavor::Postgres) if in_order => {
            let l = b.bind(Param::Int(i64::MAX));
            page.push_str(&format!(" LIMIT {l}"));
        }
        (None, _) => {}
    }
    if let Page::Offset { offset, .. } = &query.page {
        let o = b.bind(Param::Int(i64::try_from(*offset).unwrap_or(i64::MAX)));
        page.push_str(&format!(" OFFSET {o}"));
    }
    let sql = match flavor {
        Flavor::Sqlite if sqlite_keys_first => format!(
            "SELECT {columns} FROM ({page}) p CROSS JOIN key_pairs k \
             WHERE k.account_id = p.account_id AND k.provider = p.provider \
               AND k.region = p.region AND k.name = p.name \
             ORDER BY p.page_at {direction}, p.page_id {direction}"
        ),
        Flavor::Sqlite => page,
        Flavor::Postgres => {
            format!("{with}SELECT {columns} FROM ({page}) k{extra_from} ORDER BY {in_query_order}")
        }
    };
    Some(b.finish(sql))
}

/// How to count a query's matches.
pub(crate) enum Count {
    /// Nothing can match.
    Zero,
    /// No filters: the scope's counter row.
    Counter,
    Statement(Statement),
}

pub(crate) fn count_key_pairs(flavor: Flavor, query: &KeyPairQuery) -> Count {
    if query.filters.is_empty() {
        return Count::Counter;
    }
    let mut b = Builder::new(flavor, &query.scope);
    match key_pair_source(&mut b, query, "") {
        None => Count::Zero,
        Some(source) => Count::Statement(b.finish(format!("SELECT count(*) {source}"))),
    }
}

fn tag_matches_nothing(filter: &TagFilter) -> bool {
    match filter {
        TagFilter::KeyPairId(any)
        | TagFilter::KeyPairName(any)
        | TagFilter::Key(any)
        | TagFilter::Value(any) => any.is_empty(),
        TagFilter::AnyOf(tags) => tags
            .iter()
            .all(|tag| tag.value.as_ref().is_some_and(AnyOf::is_empty)),
    }
}

/// Tag rows (`t`) with their key pair (`k`): key pair ID, name, key, value, in (ID, key)
/// order. Rows are narrowed by the key pair IDs or names when exact, else by the tag index on
/// (key, value); otherwise the scope's tags are walked in order.
pub(crate) fn select_tags(flavor: Flavor, query: &TagQuery) -> Option<Statement> {
    if query.filters.iter().any(tag_matches_nothing) {
        return None;
    }
    let mut b = Builder::new(flavor, &query.scope);
    let mut conditions = vec![b.in_scope("t"), "k.id = t.key_pair_id".to_owned()];
    for filter in &query.filters {
        let condition = match filter {
            TagFilter::KeyPairId(any) => b.matches("t.key_pair_id", any),
            TagFilter::KeyPairName(any) => {
                // Resolved through the unique name index, so the tags come by key pair ID.
                let scope = b.in_scope("n");
                let names = b.matches("n.name", any);
                format!("t.key_pair_id IN (SELECT n.id FROM key_pairs n WHERE {scope} AND {names})")
            }
            TagFilter::Key(any) => b.matches("t.key", any),
            TagFilter::Value(any) => b.matches("t.value", any),
            TagFilter::AnyOf(tags) => {
                let each: Vec<String> = tags
                    .iter()
                    .map(|tag| {
                        let key = b.text(&tag.key);
                        match &tag.value {
                            Some(value) => {
                                format!("(t.key = {key} AND {})", b.matches("t.value", value))
                            }
                            None => format!("t.key = {key}"),
                        }
                    })
                    .collect();
                format!("({})", each.join(" OR "))
            }
        };
        conditions.push(condition);
    }
    if let Some(after) = &query.after {
        let id = b.text(&after.key_pair_id);
        let key = b.text(&after.key);
        conditions.push(format!("(t.key_pair_id, t.key) > ({id}, {key})"));
    }
    // SQLite: the key pair by its ID index (see `Driver::sqlite_key_pair_index`).
    let key_pairs = match flavor {
        Flavor::Sqlite => "key_pairs k INDEXED BY key_pairs_by_id",
        Flavor::Postgres => "key_pairs k",
    };
    let mut sql = format!(
        "SELECT t.key_pair_id, k.name, t.key, t.value \
         FROM key_pair_tags t CROSS JOIN {key_pairs} WHERE {} ORDER BY t.key_pair_id, t.key",
        conditions.join(" AND ")
    );
    let limit = match (query.limit, flavor) {
        (Some(limit), _) => Some(i64::from(limit)),
        (None, Flavor::Postgres) => Some(i64::MAX),
        (None, Flavor::Sqlite) => None,
    };
    if let Some(limit) = limit {
        let l = b.bind(Param::Int(limit));
        sql.push_str(&format!(" LIMIT {l}"));
    }
    Some(b.finish(sql))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keypaird_inventory::{Provider, TagMatch};

    fn scope() -> Scope {
        Scope {
            account_id: "111111111111".into(),
            provider: Provider::Aws,
            region: "us-east-1".into(),
        }
    }

    fn sql(flavor: Flavor, query: &KeyPairQuery) -> Statement {
        select_key_pairs(flavor, query, "k.id", "").expect("can match")
    }

    #[test]
    fn patterns_are_escaped_for_each_backend() {
        let b = Builder::new(Flavor::Sqlite, &scope());
        assert_eq!(b.pattern_text(&Wildcard::new(r"a\*b?[%_*")), "a[*]b?[[]%_*");
        let b = Builder::new(Flavor::Postgres, &scope());
        assert_eq!(
            b.pattern_text(&Wildcard::new(r"a\*b?%_\\*")),
            r"a*b_\%\_\\%"
        );
    }

    #[test]
    fn exact_names_drive_and_a_prefix_becomes_a_range() {
        let names = KeyPairQuery::names(scope(), ["a", "b"]);
        let s = sql(Flavor::Sqlite, &names);
        assert!(s.sql.contains("k.name IN rarray(?4)"), "{}", s.sql);
        let prefix =
            KeyPairQuery::all(scope()).with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::new(
                "web-*",
            )])));
        let s = sql(Flavor::Postgres, &prefix);
        assert!(
            s.sql.contains("k.name >= $2::text AND k.name < $3::text"),
            "{}",
            s.sql
        );
        assert_eq!(s.params[1], Param::Text("web-".into()));
        assert_eq!(s.params[2], Param::Text("web.".into()));
    }

    #[test]
    fn a_tag_with_values_drives_from_the_tag_table() {
        let query = KeyPairQuery::all(scope())
            .with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::new("*x")])))
            .with(KeyPairFilter::Tag(TagMatch {
                key: "team".into(),
                value: Some(AnyOf::exactly(["infra"])),
            }));
        let s = sql(Flavor::Sqlite, &query);
        assert!(
            s.sql.starts_with(
                "SELECT k.id FROM key_pair_tags d INDEXED BY key_pair_tags_by_value \
                 CROSS JOIN key_pairs k INDEXED BY key_pairs_by_id WHERE d.account_id = ?1"
            ),
            "{}",
            s.sql
        );
        assert!(
            !s.sql.contains("EXISTS"),
            "the driving tag is not checked twice"
        );
    }

    #[test]
    fn nothing_to_match_needs_no_statement() {
        let query = KeyPairQuery::all(scope())
            .with(KeyPairFilter::Name(AnyOf::exactly(Vec::<String>::new())));
        assert!(select_key_pairs(Flavor::Sqlite, &query, "k.id", "").is_none());
        assert!(matches!(
            count_key_pairs(Flavor::Sqlite, &query),
            Count::Zero
        ));
        assert!(matches!(
            count_key_pairs(Flavor::Sqlite, &KeyPairQuery::all(scope())),
            Count::Counter
        ));
    }
}
