//! EC2's flattened parameter names (`Filter.1.Value.2`, `TagSpecification.1.Tag.3.Key`).
//! Each action lists the shapes it accepts, with `N` standing for a 1-based index; anything
//! else is an `UnknownParameter`, as in EC2.

use std::collections::BTreeMap;

use keypaird_inventory::pattern::Wildcard;

use crate::params::Params;

use super::error::AwsError;

/// Parameters every action accepts: the common ones, and the presigned-URL signature fields.
const COMMON: &[&str] = &[
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// An index is 1 to 99999: generous for any real list, small enough to never overflow.
fn is_index(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 5
        && !segment.starts_with('0')
        && segment.bytes().all(|b| b.is_ascii_digit())
}

/// The indexes of `name` if it has the shape `pattern`.
fn match_shape(name: &str, pattern: &str) -> Option<Vec<u32>> {
    let mut indexes = Vec::new();
    let mut names = name.split('.');
    let mut patterns = pattern.split('.');
    loop {
        match (names.next(), patterns.next()) {
            (None, None) => return Some(indexes),
            (Some(seg), Some("N")) if is_index(seg) => indexes.push(seg.parse().ok()?),
            (Some(seg), Some(p)) if seg == p && p != "N" => {}
            _ => return None,
        }
    }
}

/// Refuses any parameter that is neither common nor one of `shapes`.
pub fn check_known(params: &Params<'_>, shapes: &[&str]) -> Result<(), AwsError> {
    for (name, _) in params.iter() {
        let known = COMMON.contains(&name)
            || shapes
                .iter()
                .any(|shape| match_shape(name, shape).is_some());
        if !known {
            return Err(AwsError::unknown_parameter(name));
        }
    }
    Ok(())
}

/// Every parameter of shape `pattern` with its indexes, ordered by them.
pub fn collect<'a>(params: &'a Params<'_>, pattern: &str) -> BTreeMap<Vec<u32>, &'a str> {
    params
        .iter()
        .filter_map(|(name, value)| match_shape(name, pattern).map(|idx| (idx, value)))
        .collect()
}

/// `Name.N` as a list ordered by index.
pub fn list(params: &Params<'_>, name: &str) -> Vec<String> {
    collect(params, &format!("{name}.N"))
        .into_values()
        .map(str::to_owned)
        .collect()
}

pub fn required<'a>(params: &'a Params<'_>, name: &str) -> Result<&'a str, AwsError> {
    match params.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(AwsError::missing_parameter(name)),
    }
}

/// EC2 booleans are `true`/`false`; anything else is refused rather than guessed.
pub fn boolean(params: &Params<'_>, name: &str) -> Result<bool, AwsError> {
    match params.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(AwsError::invalid_value(
            name,
            v,
            "Expected a boolean (true or false).",
        )),
    }
}

/// A filter: a name and the values that are ORed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Most filter values one call may carry, in all its filters together: EC2's limit, as its
/// `FilterLimitExceeded` reply states it.
pub const MAX_FILTER_VALUES: usize = 200;
/// Longest filter value, in characters: EC2's limit, as its `FilterLimitExceeded` reply states
/// it. Also what keeps matching a value cheap: no stored name is longer.
pub const MAX_FILTER_VALUE_CHARS: usize = 255;
/// Most filters one call may carry. EC2 documents none; with at least one value each, 200 values
/// would allow 200, and a call that ANDs more than a few filters is not a real one.
pub const MAX_FILTERS: usize = 50;

/// Most characters after a `*` in all filter values of one call together (stars not counted,
/// nor what comes before a value's first star). SQLite's `GLOB` and PostgreSQL's `LIKE` try
/// such a tail at every offset of a name, so this bounds what a filter costs the database per
/// key pair: ten values of the longest kind, or 200 of a dozen characters (`*-web-prod-01`).
/// EC2 has no such limit (docs/decisions.md, "Request limits").
pub const MAX_WILDCARD_TAIL_CHARS: usize = 2_550;

/// `Filter.N`, checked against EC2's limits before anything is copied.
pub fn filters(params: &Params<'_>) -> Result<Vec<Filter>, AwsError> {
    let names = collect(params, "Filter.N.Name");
    let values = collect(params, "Filter.N.Value.N");
    if values.len() > MAX_FILTER_VALUES {
        return Err(AwsError::too_many_filter_values(MAX_FILTER_VALUES));
    }
    if names.len() > MAX_FILTERS {
        return Err(AwsError::too_many_filters(MAX_FILTERS));
    }
    if values
        .values()
        .any(|value| value.chars().count() > MAX_FILTER_VALUE_CHARS)
    {
        return Err(AwsError::filter_value_too_long(MAX_FILTER_VALUE_CHARS));
    }
    let tails: usize = values
        .values()
        .map(|value| Wildcard::new(value).chars_after_first_star())
        .sum();
    if tails > MAX_WILDCARD_TAIL_CHARS {
        return Err(AwsError::too_many_wildcard_tail_chars(
            MAX_WILDCARD_TAIL_CHARS,
        ));
    }
    let mut filters: BTreeMap<u32, Filter> = BTreeMap::new();
    for (idx, name) in names {
        filters.insert(
            idx[0],
            Filter {
                name: name.to_owned(),
                values: Vec::new(),
            },
        );
    }
    for (idx, value) in values {
        match filters.get_mut(&idx[0]) {
            Some(filter) => filter.values.push(value.to_owned()),
            None => {
                return Err(AwsError::missing_parameter(&format!(
                    "Filter.{}.Name",
                    idx[0]
                )))
            }
        }
    }
    Ok(filters.into_values().collect())
}

/// `Prefix.N.Key` / `Prefix.N.Value` pairs; a value without a key is refused. The value is
/// `None` when absent, which DeleteTags distinguishes from an empty value.
pub fn tag_pairs(
    params: &Params<'_>,
    prefix: &str,
) -> Result<Vec<(String, Option<String>)>, AwsError> {
    let keys = collect(params, &format!("{prefix}.Key"));
    let values = collect(params, &format!("{prefix}.Value"));
    for idx in values.keys() {
        if !keys.contains_key(idx) {
            return Err(AwsError::missing_parameter(&format!(
                "{}.Key",
                expand(prefix, idx)
            )));
        }
    }
    Ok(keys
        .into_iter()
        .map(|(idx, key)| (key.to_owned(), values.get(&idx).map(|v| (*v).to_owned())))
        .collect())
}

/// Writes the concrete name of a pattern for messages: `Tag.N` with `[3]` is `Tag.3`.
fn expand(pattern: &str, indexes: &[u32]) -> String {
    let mut indexes = indexes.iter();
    pattern
        .split('.')
        .map(|seg| match seg {
            "N" => indexes.next().map(u32::to_string).unwrap_or_default(),
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params<'_> {
        Params::parse(q, None, &crate::params::tests::ROOMY).unwrap()
    }

    #[test]
    fn shapes_match_indexes() {
        assert_eq!(match_shape("KeyName.3", "KeyName.N"), Some(vec![3]));
        assert_eq!(
            match_shape(
                "TagSpecification.1.Tag.12.Key",
                "TagSpecification.N.Tag.N.Key"
            ),
            Some(vec![1, 12])
        );
        assert_eq!(match_shape("KeyName.0", "KeyName.N"), None);
        assert_eq!(match_shape("KeyName.01", "KeyName.N"), None);
        assert_eq!(match_shape("KeyName.x", "KeyName.N"), None);
        assert_eq!(match_shape("KeyName", "KeyName.N"), None);
        assert_eq!(match_shape("KeyName.1.2", "KeyName.N"), None);
        assert_eq!(match_shape("KeyName.999999", "KeyName.N"), None);
        assert_eq!(match_shape("keyname.1", "KeyName.N"), None);
    }

    #[test]
    fn unknown_parameters_are_named() {
        let p = params("Action=X&KeyName.1=a&Bogus=1");
        assert_eq!(
            check_known(&p, &["KeyName.N"]),
            Err(AwsError::unknown_parameter("Bogus"))
        );
        assert_eq!(
            check_known(&params("Action=X&KeyName.2=a"), &["KeyName.N"]),
            Ok(())
        );
    }

    #[test]
    fn lists_and_filters_follow_index_order() {
        let p = params("KeyName.10=c&KeyName.2=b&KeyName.1=a&Filter.2.Name=tag-key&Filter.2.Value.1=x&Filter.1.Name=key-name&Filter.1.Value.2=q&Filter.1.Value.1=p");
        assert_eq!(list(&p, "KeyName"), vec!["a", "b", "c"]);
        assert_eq!(
            filters(&p).unwrap(),
            vec![
                Filter {
                    name: "key-name".into(),
                    values: vec!["p".into(), "q".into()]
                },
                Filter {
                    name: "tag-key".into(),
                    values: vec!["x".into()]
                },
            ]
        );
        assert_eq!(
            filters(&params("Filter.1.Value.1=p")),
            Err(AwsError::missing_parameter("Filter.1.Name"))
        );
    }

    /// `Filter.1.Name=key-name` with `values` values, each `value`.
    fn filter_query(filters: usize, values: usize, value: &str) -> String {
        let mut q = String::new();
        for f in 1..=filters {
            q.push_str(&format!("Filter.{f}.Name=key-name&"));
        }
        for v in 1..=values {
            q.push_str(&format!("Filter.1.Value.{v}={value}&"));
        }
        q
    }

    #[test]
    fn filters_are_held_to_ec2s_limits() {
        let at_limits = filter_query(50, 200, &"é".repeat(255));
        let parsed = filters(&params(&at_limits)).unwrap();
        assert_eq!(parsed.len(), 50);
        assert_eq!(parsed[0].values.len(), 200);
        assert_eq!(
            filters(&params(&filter_query(1, 201, "x"))),
            Err(AwsError::new(
                super::super::error::Code::FilterLimitExceeded,
                "The maximum number of filter values specified on a single call is 200"
            ))
        );
        assert_eq!(
            filters(&params(&filter_query(51, 51, "x"))),
            Err(AwsError::too_many_filters(50))
        );
        assert_eq!(
            filters(&params(&filter_query(1, 1, &"é".repeat(256)))),
            Err(AwsError::new(
                super::super::error::Code::FilterLimitExceeded,
                "The maximum length for a filter value is 255 characters"
            ))
        );
        // Ten values of 254 characters after a leading star, and a few more characters, are the
        // most wildcard tails one call may hold; trailing stars and anchored prefixes are free.
        let tail = |n: usize| format!("*{}", "a".repeat(n));
        let mut q = filter_query(1, 10, &tail(254));
        q.push_str(&format!(
            "Filter.1.Value.11={}&Filter.1.Value.12=web-*&",
            tail(10)
        ));
        assert_eq!(filters(&params(&q)).unwrap()[0].values.len(), 12);
        q.push_str("Filter.1.Value.13=*a");
        assert_eq!(
            filters(&params(&q)),
            Err(AwsError::new(
                super::super::error::Code::FilterLimitExceeded,
                "The filter values hold more than 2550 characters after a wildcard '*'"
            ))
        );
        // Values of several filters count together.
        let mut two = filter_query(2, 100, "x");
        for v in 1..=101 {
            two.push_str(&format!("Filter.2.Value.{v}=y&"));
        }
        assert_eq!(
            filters(&params(&two)),
            Err(AwsError::too_many_filter_values(200))
        );
    }

    #[test]
    fn tag_pairs_keep_absent_values_apart() {
        let p = params("Tag.1.Key=a&Tag.2.Key=b&Tag.2.Value=&Tag.3.Key=c&Tag.3.Value=v");
        assert_eq!(
            tag_pairs(&p, "Tag.N").unwrap(),
            vec![
                ("a".into(), None),
                ("b".into(), Some(String::new())),
                ("c".into(), Some("v".into()))
            ]
        );
        assert_eq!(
            tag_pairs(&params("Tag.4.Value=v"), "Tag.N"),
            Err(AwsError::missing_parameter("Tag.4.Key"))
        );
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(boolean(&params("DryRun=true"), "DryRun"), Ok(true));
        assert_eq!(boolean(&params("DryRun=False"), "DryRun"), Ok(false));
        assert_eq!(boolean(&params(""), "DryRun"), Ok(false));
        assert!(boolean(&params("DryRun=yes"), "DryRun").is_err());
    }
}
