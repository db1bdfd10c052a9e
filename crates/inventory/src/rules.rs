//! Each provider's rules for key pair names and tags. They differ enough (AWS allows any ASCII
//! up to 255; Alibaba wants a letter first and a small alphabet) that they live side by side
//! here rather than in the dialects, so a rule holds whichever way a key pair is reached.

use crate::error::{InventoryError, NameProblem, TagProblem};
use crate::model::{Provider, Tag};

pub const AWS_MAX_TAGS_PER_RESOURCE: usize = 50;
pub const ALIYUN_MAX_TAGS_PER_RESOURCE: usize = 20;
pub const ALIYUN_MAX_TAGS_PER_REQUEST: usize = 20;

pub fn max_tags_per_resource(provider: Provider) -> usize {
    match provider {
        Provider::Aws => AWS_MAX_TAGS_PER_RESOURCE,
        Provider::Aliyun => ALIYUN_MAX_TAGS_PER_RESOURCE,
    }
}

pub fn validate_key_pair_name(provider: Provider, name: &str) -> Result<(), InventoryError> {
    let problem = match provider {
        Provider::Aws => aws_name_problem(name),
        Provider::Aliyun => aliyun_name_problem(name),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(InventoryError::InvalidKeyPairName {
            name: name.to_owned(),
            problem,
        }),
    }
}

fn aws_name_problem(name: &str) -> Option<NameProblem> {
    if name.is_empty() {
        Some(NameProblem::Empty)
    } else if !name.is_ascii() {
        Some(NameProblem::NotAscii)
    } else if name.len() > 255 {
        Some(NameProblem::TooLong { max: 255 })
    } else if name.trim() != name {
        Some(NameProblem::SurroundingWhitespace)
    } else if name.chars().any(|c| c.is_ascii_control()) {
        Some(NameProblem::Malformed)
    } else {
        None
    }
}

fn aliyun_name_problem(name: &str) -> Option<NameProblem> {
    let count = name.chars().count();
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(char::is_alphabetic);
    let rest_ok = chars.all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '-'));
    if count == 0 {
        Some(NameProblem::Empty)
    } else if count > 128 {
        Some(NameProblem::TooLong { max: 128 })
    } else if count < 2
        || !starts_with_letter
        || !rest_ok
        || has_url_prefix(&name.to_ascii_lowercase())
    {
        Some(NameProblem::Malformed)
    } else {
        None
    }
}

fn has_url_prefix(lowercase: &str) -> bool {
    lowercase.starts_with("http://") || lowercase.starts_with("https://")
}

/// Validates the tags of one request: each tag on its own, then duplicates and the count.
pub fn validate_tags(provider: Provider, tags: &[Tag]) -> Result<(), InventoryError> {
    for tag in tags {
        let problem = match provider {
            Provider::Aws => aws_tag_problem(tag),
            Provider::Aliyun => aliyun_tag_problem(tag),
        };
        if let Some(problem) = problem {
            return Err(InventoryError::InvalidTag(problem));
        }
    }
    for (i, tag) in tags.iter().enumerate() {
        if tags[..i].iter().any(|earlier| earlier.key == tag.key) {
            return Err(InventoryError::InvalidTag(TagProblem::DuplicateKey(
                tag.key.clone(),
            )));
        }
    }
    let max = match provider {
        Provider::Aws => AWS_MAX_TAGS_PER_RESOURCE,
        Provider::Aliyun => ALIYUN_MAX_TAGS_PER_REQUEST,
    };
    if tags.len() > max {
        return Err(InventoryError::InvalidTag(TagProblem::TooManyInRequest {
            max,
        }));
    }
    Ok(())
}

/// Control characters cannot travel in XML replies, so no provider stores them in tags.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn aws_tag_problem(tag: &Tag) -> Option<TagProblem> {
    if tag.key.is_empty() {
        Some(TagProblem::EmptyKey)
    } else if tag.key.chars().count() > 127 {
        Some(TagProblem::KeyTooLong {
            key: tag.key.clone(),
            max: 127,
        })
    } else if tag.value.chars().count() > 256 {
        Some(TagProblem::ValueTooLong {
            key: tag.key.clone(),
            max: 256,
        })
    } else if tag.key.to_ascii_lowercase().starts_with("aws:") {
        Some(TagProblem::ReservedKey(tag.key.clone()))
    } else if has_control(&tag.key) || has_control(&tag.value) {
        Some(TagProblem::InvalidCharacters(tag.key.clone()))
    } else {
        None
    }
}

fn aliyun_tag_problem(tag: &Tag) -> Option<TagProblem> {
    let reserved = |s: &str| {
        s.starts_with("aliyun")
            || s.starts_with("acs:")
            || s.contains("http://")
            || s.contains("https://")
    };
    if tag.key.is_empty() {
        Some(TagProblem::EmptyKey)
    } else if tag.key.chars().count() > 64 {
        Some(TagProblem::KeyTooLong {
            key: tag.key.clone(),
            max: 64,
        })
    } else if reserved(&tag.key) {
        Some(TagProblem::ReservedKey(tag.key.clone()))
    } else if tag.value.chars().count() > 128 {
        Some(TagProblem::ValueTooLong {
            key: tag.key.clone(),
            max: 128,
        })
    } else if reserved(&tag.value) {
        Some(TagProblem::ReservedValue(tag.key.clone()))
    } else if has_control(&tag.key) {
        Some(TagProblem::ReservedKey(tag.key.clone()))
    } else if has_control(&tag.value) {
        Some(TagProblem::ReservedValue(tag.key.clone()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_problem(provider: Provider, name: &str) -> Option<NameProblem> {
        match validate_key_pair_name(provider, name) {
            Ok(()) => None,
            Err(InventoryError::InvalidKeyPairName { problem, .. }) => Some(problem),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn aws_names() {
        assert_eq!(name_problem(Provider::Aws, "my key (prod) #1!"), None);
        assert_eq!(name_problem(Provider::Aws, &"k".repeat(255)), None);
        assert_eq!(
            name_problem(Provider::Aws, &"k".repeat(256)),
            Some(NameProblem::TooLong { max: 255 })
        );
        assert_eq!(name_problem(Provider::Aws, ""), Some(NameProblem::Empty));
        assert_eq!(
            name_problem(Provider::Aws, "ключ"),
            Some(NameProblem::NotAscii)
        );
        assert_eq!(
            name_problem(Provider::Aws, " lead"),
            Some(NameProblem::SurroundingWhitespace)
        );
        assert_eq!(
            name_problem(Provider::Aws, "trail "),
            Some(NameProblem::SurroundingWhitespace)
        );
        assert_eq!(
            name_problem(Provider::Aws, "a\u{1}b"),
            Some(NameProblem::Malformed)
        );
    }

    #[test]
    fn aliyun_names() {
        for ok in ["ab", "FinanceJoshuaV23", "k:a_b-c", "密钥对", "Ähh-1"] {
            assert_eq!(name_problem(Provider::Aliyun, ok), None, "{ok}");
        }
        assert_eq!(name_problem(Provider::Aliyun, &"k".repeat(128)), None);
        assert_eq!(
            name_problem(Provider::Aliyun, &"k".repeat(129)),
            Some(NameProblem::TooLong { max: 128 })
        );
        for bad in [
            "a",
            "1abc",
            "-abc",
            "ab c",
            "ab.c",
            "ab/c",
            "http://x",
            "https://x",
        ] {
            assert_eq!(
                name_problem(Provider::Aliyun, bad),
                Some(NameProblem::Malformed),
                "{bad}"
            );
        }
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    fn tag_problem(provider: Provider, tags: &[Tag]) -> Option<TagProblem> {
        match validate_tags(provider, tags) {
            Ok(()) => None,
            Err(InventoryError::InvalidTag(problem)) => Some(problem),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn aws_tags() {
        assert_eq!(tag_problem(Provider::Aws, &[tag("Name", "")]), None);
        assert_eq!(
            tag_problem(Provider::Aws, &[tag(&"k".repeat(127), &"v".repeat(256))]),
            None
        );
        assert!(matches!(
            tag_problem(Provider::Aws, &[tag(&"k".repeat(128), "")]),
            Some(TagProblem::KeyTooLong { max: 127, .. })
        ));
        assert!(matches!(
            tag_problem(Provider::Aws, &[tag("k", &"v".repeat(257))]),
            Some(TagProblem::ValueTooLong { max: 256, .. })
        ));
        assert_eq!(
            tag_problem(Provider::Aws, &[tag("aws:owner", "x")]),
            Some(TagProblem::ReservedKey("aws:owner".into()))
        );
        assert_eq!(
            tag_problem(Provider::Aws, &[tag("", "x")]),
            Some(TagProblem::EmptyKey)
        );
        assert_eq!(
            tag_problem(Provider::Aws, &[tag("k", "a\u{7}")]),
            Some(TagProblem::InvalidCharacters("k".into()))
        );
        assert_eq!(
            tag_problem(Provider::Aws, &[tag("a", "1"), tag("a", "2")]),
            Some(TagProblem::DuplicateKey("a".into()))
        );
        // Keys are case-sensitive: these are two tags.
        assert_eq!(
            tag_problem(Provider::Aws, &[tag("a", "1"), tag("A", "2")]),
            None
        );
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "")).collect();
        assert_eq!(
            tag_problem(Provider::Aws, &many),
            Some(TagProblem::TooManyInRequest { max: 50 })
        );
    }

    #[test]
    fn aliyun_tags() {
        assert_eq!(
            tag_problem(Provider::Aliyun, &[tag("FinanceDept", "")]),
            None
        );
        assert!(matches!(
            tag_problem(Provider::Aliyun, &[tag(&"k".repeat(65), "")]),
            Some(TagProblem::KeyTooLong { max: 64, .. })
        ));
        assert!(matches!(
            tag_problem(Provider::Aliyun, &[tag("k", &"v".repeat(129))]),
            Some(TagProblem::ValueTooLong { max: 128, .. })
        ));
        for key in ["aliyunx", "acs:x", "see http://x", "https://x"] {
            assert_eq!(
                tag_problem(Provider::Aliyun, &[tag(key, "")]),
                Some(TagProblem::ReservedKey(key.into())),
                "{key}"
            );
        }
        assert_eq!(
            tag_problem(Provider::Aliyun, &[tag("k", "aliyun-v")]),
            Some(TagProblem::ReservedValue("k".into()))
        );
        let many: Vec<Tag> = (0..21).map(|i| tag(&format!("k{i}"), "")).collect();
        assert_eq!(
            tag_problem(Provider::Aliyun, &many),
            Some(TagProblem::TooManyInRequest { max: 20 })
        );
    }
}
