//! Form and query parsing (`Params::parse`) and the indexed parameter names both dialects read
//! from it: EC2's `KeyName.N`, `Filter.N.Name` / `Filter.N.Value.M`, `Tag.N.Key` / `Tag.N.Value`,
//! ECS's `ResourceId.N`, `Tag.N.Key` / `Tag.N.Value`.
//!
//! Input: the query string, then optionally a NUL byte and the form body.
//!
//! Properties: no panic; whatever `Params::parse` accepts is exactly what a strict reference
//! decoder written here from the form rules gives (names and values percent-decoded, `+` a
//! space, every `%` followed by two hex digits, UTF-8, no empty or repeated name), and the pairs
//! re-encoded parse back to the same pairs. `Params::parse` may refuse more than the reference
//! (limits on counts and lengths are its to set), never less; so may the re-encoded form. Each indexed family the
//! dialects read agrees with a reference reading of the same names when accepted, and each
//! refusal of a malformed, missing or excess index has that cause among the names.
#![no_main]

use std::collections::{BTreeMap, HashSet};

use keypaird_api::aliyun::error::{AliyunError, Code as AliyunCode};
use keypaird_api::aliyun::shape as ecs;
use keypaird_api::aws::error::{AwsError, Code as AwsCode};
use keypaird_api::aws::shape as ec2;
use keypaird_api::params::{Limits, Params};
use keypaird_api::{aliyun, aws};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode;

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    // The server hands over the query as text (it comes from the request URI).
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let reference = reference_pairs(query, body);
    // Each dialect parses under its own limits, and reads its own indexed names.
    let dialects: [(&Limits, ShapeCheck); 2] = [
        (&aws::PARAM_LIMITS, check_ec2_shapes),
        (&aliyun::PARAM_LIMITS, check_ecs_shapes),
    ];
    for (limits, check_shapes) in dialects {
        let Ok(params) = Params::parse(query, body, limits) else {
            continue;
        };
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(Some(&pairs), reference.as_ref(), "Params::parse accepted");

        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        if let Ok(again) = Params::parse(&encoded, None, limits) {
            assert_eq!(again, params, "re-encoded: {encoded:?}");
        }
        check_shapes(&params, &pairs);
    }
});

/// The form rules read literally: `None` where `Params::parse` must refuse.
fn reference_pairs(query: &str, body: Option<&[u8]>) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for input in std::iter::once(query.as_bytes()).chain(body) {
        for piece in input
            .split(|b| *b == b'&')
            .filter(|piece| !piece.is_empty())
        {
            let mut halves = piece.splitn(2, |b| *b == b'=');
            let name = reference_component(halves.next().unwrap_or_default())?;
            let value = reference_component(halves.next().unwrap_or_default())?;
            if name.is_empty() {
                return None;
            }
            pairs.push((name, value));
        }
    }
    let mut seen = HashSet::new();
    pairs
        .iter()
        .all(|(name, _)| seen.insert(name.clone()))
        .then_some(pairs)
}

fn reference_component(raw: &[u8]) -> Option<String> {
    let escapes_are_whole = raw.iter().enumerate().all(|(at, byte)| {
        *byte != b'%'
            || raw
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_are_whole {
        return None;
    }
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    String::from_utf8(percent_decode(&spaced).collect()).ok()
}

/// An index as both dialects document it: 1-based decimal digits without a leading zero.
/// A number too large for u64 saturates to `u64::MAX` ([`TOO_LARGE_TO_READ`]).
fn reference_index(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (digits && !text.starts_with('0')).then(|| text.parse().unwrap_or(TOO_LARGE_TO_READ))
}

/// An index past what the dialect's integer holds may be refused as malformed or as too many:
/// either is a 400 naming a real fault.
const TOO_LARGE_TO_READ: u64 = u64::MAX;

/// EC2 indexes are also at most five digits.
fn ec2_index(text: &str) -> Option<u64> {
    reference_index(text).filter(|_| text.len() <= 5)
}

/// A dialect's reading of its indexed parameter names, checked against the pairs parsed.
type ShapeCheck = fn(&Params, &[(String, String)]);

fn check_ec2_shapes(params: &Params, pairs: &[(String, String)]) {
    // KeyName.N, in index order.
    let mut key_names = BTreeMap::new();
    for (name, value) in pairs {
        if let Some(index) = name.strip_prefix("KeyName.").and_then(ec2_index) {
            key_names.insert(index, value.clone());
        }
    }
    assert_eq!(
        ec2::list(params, "KeyName"),
        key_names.into_values().collect::<Vec<_>>()
    );

    // Filter.N.Name and Filter.N.Value.M: values grouped under their filter, both in order.
    let mut filter_names = BTreeMap::new();
    let mut filter_values: BTreeMap<u64, BTreeMap<u64, String>> = BTreeMap::new();
    for (name, value) in pairs {
        let Some(rest) = name.strip_prefix("Filter.") else {
            continue;
        };
        if let Some(index) = rest.strip_suffix(".Name").and_then(ec2_index) {
            filter_names.insert(index, value.clone());
        } else if let Some((n, m)) = rest.split_once(".Value.") {
            if let (Some(n), Some(m)) = (ec2_index(n), ec2_index(m)) {
                filter_values.entry(n).or_default().insert(m, value.clone());
            }
        }
    }
    let orphan = filter_values.keys().find(|n| !filter_names.contains_key(n));
    match ec2::filters(params) {
        Ok(filters) => {
            assert_eq!(orphan, None, "filters accepted a value without its name");
            let read: Vec<(String, Vec<String>)> = filters
                .into_iter()
                .map(|filter| (filter.name, filter.values))
                .collect();
            let expected: Vec<(String, Vec<String>)> = filter_names
                .iter()
                .map(|(n, name)| {
                    let values = filter_values.remove(n).unwrap_or_default();
                    (name.clone(), values.into_values().collect())
                })
                .collect();
            assert_eq!(read, expected);
        }
        Err(error) => assert_missing(&error, orphan.map(|n| format!("Filter.{n}.Name"))),
    }

    // Tag.N.Key / Tag.N.Value: a value needs its key; an absent value is not an empty one.
    let (keys, values) = tag_families(pairs, ec2_index);
    let orphan = values.keys().find(|n| !keys.contains_key(n));
    match ec2::tag_pairs(params, "Tag.N") {
        Ok(read) => {
            assert_eq!(orphan, None, "tags accepted a value without its key");
            let expected: Vec<(String, Option<String>)> = keys
                .iter()
                .map(|(n, key)| (key.clone(), values.get(n).cloned()))
                .collect();
            assert_eq!(read, expected);
        }
        Err(error) => assert_missing(&error, orphan.map(|n| format!("Tag.{n}.Key"))),
    }

    // Names of no known shape are refused by name; every name read above is known.
    let known = [
        "KeyName.N",
        "Filter.N.Name",
        "Filter.N.Value.N",
        "Tag.N.Key",
        "Tag.N.Value",
    ];
    let _ = ec2::check_known(params, &known);
}

/// A `MissingParameter` refusal names the first value without its name or key, and there is
/// one. Other refusals (limits) are the dialect's to set.
fn assert_missing(error: &AwsError, expected: Option<String>) {
    if error.code == AwsCode::MissingParameter {
        let name = expected.unwrap_or_else(|| panic!("{error:?}, yet nothing is missing"));
        assert_eq!(*error, AwsError::missing_parameter(&name));
    }
}

/// `Tag.N.Key` and `Tag.N.Value` by index, for names whose index `index` accepts.
fn tag_families(
    pairs: &[(String, String)],
    index: fn(&str) -> Option<u64>,
) -> (BTreeMap<u64, String>, BTreeMap<u64, String>) {
    let (mut keys, mut values) = (BTreeMap::new(), BTreeMap::new());
    for (name, value) in pairs {
        let Some((n, field)) = name
            .strip_prefix("Tag.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let Some(n) = index(n) else { continue };
        match field {
            "Key" => keys.insert(n, value.clone()),
            "Value" => values.insert(n, value.clone()),
            _ => None,
        };
    }
    (keys, values)
}

const ECS_RESOURCE_IDS_MAX: usize = 50;

fn check_ecs_shapes(params: &Params, pairs: &[(String, String)]) {
    // ResourceId.N: a malformed index is refused, one past the maximum too; empty values drop.
    let mut ids = BTreeMap::new();
    let (mut malformed, mut too_many) = (false, false);
    for (name, value) in pairs {
        let Some(index) = name.strip_prefix("ResourceId.") else {
            continue;
        };
        match reference_index(index) {
            None => malformed = true,
            Some(n) if n > ECS_RESOURCE_IDS_MAX as u64 => {
                too_many = true;
                malformed |= n == TOO_LARGE_TO_READ;
            }
            Some(n) if !value.is_empty() => {
                ids.insert(n, value.clone());
            }
            Some(_) => {}
        }
    }
    let read = ecs::numbered(
        params,
        "ResourceId",
        ECS_RESOURCE_IDS_MAX,
        AliyunError::too_many_resource_ids,
    );
    match read {
        Ok(read) => {
            assert!(!malformed && !too_many, "ResourceId.N accepted: {read:?}");
            assert_eq!(read, ids.into_values().collect::<Vec<_>>());
        }
        // Each refusal has its cause somewhere among the names (the first one met decides).
        Err(error) => match error.code {
            AliyunCode::InvalidParameter => assert!(malformed, "{error:?}"),
            AliyunCode::TooManyResourceIds => assert!(too_many, "{error:?}"),
            _ => {}
        },
    }

    // Tag.N.Key / Tag.N.Value, N up to 20: every Tag.* name must be one of the two.
    let tag_names: Vec<&str> = pairs
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("Tag."))
        .collect();
    let well_formed = tag_names.iter().all(|rest| {
        rest.split_once('.').is_some_and(|(n, field)| {
            reference_index(n).is_some() && matches!(field, "Key" | "Value")
        })
    });
    let tag_indexes: Vec<u64> = tag_names
        .iter()
        .filter_map(|rest| rest.split_once('.').and_then(|(n, _)| reference_index(n)))
        .collect();
    let too_many = tag_indexes
        .iter()
        .any(|n| *n > ecs::MAX_TAGS_PER_REQUEST as u64);
    let unreadable = tag_indexes.contains(&TOO_LARGE_TO_READ);
    let (keys, values) = tag_families(pairs, reference_index);
    let keyless = values
        .keys()
        .any(|n| keys.get(n).is_none_or(String::is_empty))
        || keys.values().any(String::is_empty);
    match ecs::tag_pairs(params) {
        Ok(read) => {
            assert!(
                well_formed && !too_many && !keyless,
                "ECS tags accepted: {read:?}"
            );
            let expected: Vec<(String, Option<String>)> = keys
                .iter()
                .map(|(n, key)| (key.clone(), values.get(n).cloned()))
                .collect();
            assert_eq!(read, expected);
        }
        Err(error) => match error.code {
            AliyunCode::InvalidParameter => assert!(!well_formed || unreadable, "{error:?}"),
            AliyunCode::TooManyTags => assert!(too_many, "{error:?}"),
            AliyunCode::InvalidTagKey => assert!(keyless, "{error:?}"),
            _ => {}
        },
    }
}
