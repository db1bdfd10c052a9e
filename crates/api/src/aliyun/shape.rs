//! Reading ECS parameters: required values, booleans in any case, page numbers, the numbered
//! `Tag.N.Key`/`ResourceId.N` families, and the JSON arrays some actions take as one string.
//! Unknown parameters are ignored, as ECS does (the SDKs send `OwnerId` and friends).

use std::collections::BTreeMap;

use keypaird_inventory::Tag;

use super::error::AliyunError;
use crate::params::Params;

/// Most tags one request may carry, and the highest `N` of `Tag.N`.
pub const MAX_TAGS_PER_REQUEST: usize = 20;

/// A value that must be present and non-empty.
pub fn required<'a>(params: &'a Params<'_>, name: &str) -> Result<&'a str, AliyunError> {
    match params.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(AliyunError::missing_parameter(name)),
    }
}

/// An optional value; empty counts as absent, as the SDKs send empty optional fields.
pub fn optional<'a>(params: &'a Params<'_>, name: &str) -> Option<&'a str> {
    params.get(name).filter(|value| !value.is_empty())
}

/// `true`/`false` in any case (the Python SDKs send `True`).
pub fn boolean(params: &Params<'_>, name: &str) -> Result<Option<bool>, AliyunError> {
    match optional(params, name) {
        None => Ok(None),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(AliyunError::invalid_parameter(name)),
    }
}

/// A whole number in `1..=max`, or `default` when absent.
pub fn bounded_number(
    params: &Params<'_>,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, AliyunError> {
    match optional(params, name) {
        None => Ok(default),
        Some(value) => value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| AliyunError::invalid_parameter(name)),
    }
}

/// `{prefix}.N` values in order of `N`, for `N` in `1..=max`. A higher `N` is
/// `too_many`; a malformed `N` is `InvalidParameter`.
pub fn numbered(
    params: &Params<'_>,
    prefix: &str,
    max: usize,
    too_many: fn(usize) -> AliyunError,
) -> Result<Vec<String>, AliyunError> {
    let mut found = BTreeMap::new();
    for (name, value) in params.iter() {
        let Some(index) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            continue;
        };
        let n = parse_index(name, index)?;
        if n > max {
            return Err(too_many(max));
        }
        if !value.is_empty() {
            found.insert(n, value.to_owned());
        }
    }
    Ok(found.into_values().collect())
}

/// `Tag.N.Key` / `Tag.N.Value` pairs in order of `N`. The value is `None` when only the key
/// was sent (a filter then matches any value).
pub fn tag_pairs(params: &Params<'_>) -> Result<Vec<(String, Option<String>)>, AliyunError> {
    let mut found: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    for (name, value) in params.iter() {
        let Some(rest) = name.strip_prefix("Tag.") else {
            continue;
        };
        let (index, field) = rest
            .split_once('.')
            .ok_or_else(|| AliyunError::invalid_parameter(name))?;
        let n = parse_index(name, index)?;
        if n > MAX_TAGS_PER_REQUEST {
            return Err(AliyunError::too_many_tags(MAX_TAGS_PER_REQUEST));
        }
        let entry = found.entry(n).or_default();
        match field {
            "Key" => entry.0 = Some(value.to_owned()),
            "Value" => entry.1 = Some(value.to_owned()),
            _ => return Err(AliyunError::invalid_parameter(name)),
        }
    }
    found
        .into_values()
        .map(|(key, value)| match key {
            Some(key) if !key.is_empty() => Ok((key, value)),
            // A value without its key names no tag.
            _ => Err(AliyunError::invalid_tag_key()),
        })
        .collect()
}

/// Tags to set: a missing value is the empty value.
pub fn tags(params: &Params<'_>) -> Result<Vec<Tag>, AliyunError> {
    Ok(tag_pairs(params)?
        .into_iter()
        .map(|(key, value)| Tag {
            key,
            value: value.unwrap_or_default(),
        })
        .collect())
}

/// A parameter that carries a JSON array of strings, e.g. `KeyPairNames=["a","b"]`.
/// `None` when it is not one.
pub fn json_string_array(value: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(value).ok()
}

/// Decimal digits only: `usize::from_str` also takes a sign, which would make `Tag.+1.Key` a
/// second spelling of `Tag.1.Key`, silently overwriting it.
fn parse_index(name: &str, index: &str) -> Result<usize, AliyunError> {
    let digits_only = index.bytes().all(|b| b.is_ascii_digit());
    index
        .parse::<usize>()
        .ok()
        .filter(|n| digits_only && *n >= 1 && !index.starts_with('0'))
        .ok_or_else(|| AliyunError::invalid_parameter(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aliyun::error::Code;

    fn params(query: &str) -> Params<'_> {
        Params::parse(query, None, &crate::params::tests::ROOMY).unwrap()
    }

    #[test]
    fn booleans_in_any_case() {
        let p = params("A=True&B=false&C=TRUE&D=yes&E=");
        assert_eq!(boolean(&p, "A"), Ok(Some(true)));
        assert_eq!(boolean(&p, "B"), Ok(Some(false)));
        assert_eq!(boolean(&p, "C"), Ok(Some(true)));
        assert_eq!(boolean(&p, "D").unwrap_err().code, Code::InvalidParameter);
        assert_eq!(boolean(&p, "E"), Ok(None));
        assert_eq!(boolean(&p, "F"), Ok(None));
    }

    #[test]
    fn bounded_numbers() {
        let p = params("PageSize=50&Big=51&Zero=0&Neg=-1&Word=ten");
        assert_eq!(bounded_number(&p, "PageSize", 10, 50), Ok(50));
        assert_eq!(bounded_number(&p, "Absent", 10, 50), Ok(10));
        for bad in ["Big", "Zero", "Neg", "Word"] {
            assert_eq!(
                bounded_number(&p, bad, 10, 50).unwrap_err(),
                AliyunError::invalid_parameter(bad)
            );
        }
    }

    #[test]
    fn tags_in_index_order_with_optional_values() {
        let p = params("Tag.2.Key=b&Tag.1.Key=a&Tag.1.Value=1&Tag.10.Key=c&Tag.10.Value=");
        assert_eq!(
            tag_pairs(&p).unwrap(),
            vec![
                ("a".to_owned(), Some("1".to_owned())),
                ("b".to_owned(), None),
                ("c".to_owned(), Some(String::new())),
            ]
        );
        assert_eq!(
            tags(&p).unwrap()[1],
            Tag {
                key: "b".into(),
                value: String::new()
            }
        );
    }

    #[test]
    fn tag_shape_errors() {
        assert_eq!(
            tag_pairs(&params("Tag.21.Key=a")).unwrap_err().code,
            Code::TooManyTags
        );
        assert_eq!(
            tag_pairs(&params("Tag.1.Value=v")).unwrap_err().code,
            Code::InvalidTagKey
        );
        for bad in [
            "Tag.0.Key=a",
            "Tag.x.Key=a",
            "Tag.1.Other=a",
            "Tag.1=a",
            "Tag.01.Key=a",
        ] {
            assert_eq!(
                tag_pairs(&params(bad)).unwrap_err().code,
                Code::InvalidParameter,
                "{bad}"
            );
        }
    }

    /// Found by the `params` fuzz target's reference reading of indexed names.
    #[test]
    fn an_index_with_a_sign_is_invalid() {
        let p = params("ResourceId.%2B5=a");
        assert_eq!(
            numbered(&p, "ResourceId", 50, AliyunError::too_many_resource_ids),
            Err(AliyunError::invalid_parameter("ResourceId.+5"))
        );
        for query in ["Tag.%2B1.Key=a", "Tag.1.Key=a&Tag.%2B1.Key=b"] {
            assert_eq!(
                tag_pairs(&params(query)),
                Err(AliyunError::invalid_parameter("Tag.+1.Key")),
                "{query}"
            );
        }
    }

    #[test]
    fn numbered_values() {
        let p = params("ResourceId.2=b&ResourceId.1=a&Other=x");
        assert_eq!(
            numbered(&p, "ResourceId", 50, AliyunError::too_many_resource_ids).unwrap(),
            vec!["a", "b"]
        );
        let p = params("ResourceId.51=a");
        assert_eq!(
            numbered(&p, "ResourceId", 50, AliyunError::too_many_resource_ids)
                .unwrap_err()
                .code,
            Code::TooManyResourceIds
        );
    }

    #[test]
    fn json_arrays_of_strings_only() {
        assert_eq!(
            json_string_array(r#"["a", "b"]"#),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        for bad in [r#"["a""#, "[1,2]", "{}", "\"a\"", "a", ""] {
            assert_eq!(json_string_array(bad), None, "{bad}");
        }
    }
}
