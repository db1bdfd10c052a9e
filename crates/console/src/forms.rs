//! Reading the console's forms and query strings (both `application/x-www-form-urlencoded`
//! pairs, in order, names repeated for lists).

use keypaird_inventory::Tag;
use time::OffsetDateTime;

pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The value of `name`, trimmed, or `None` when it is absent or blank.
pub fn filled<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    first(pairs, name)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

pub fn all<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

/// Tags typed one per line as `key=value` (or `key` alone, for an empty value). Blank lines are
/// skipped; the provider's rules check the rest.
pub fn tag_lines(text: &str) -> Vec<Tag> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((key, value)) => Tag {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            },
            None => Tag {
                key: line.to_owned(),
                value: String::new(),
            },
        })
        .collect()
}

/// A page cursor in a link: a row's time in milliseconds and the rest of its key (an event's
/// ID; a key pair's ID and name), the keyset the store pages by.
pub fn cursor_text(time: OffsetDateTime, rest: &str) -> String {
    let millis = time.unix_timestamp_nanos() / 1_000_000;
    format!("{millis}.{rest}")
}

/// The longest rest of a cursor: a key pair's ID and its name (255 characters at most).
const MAX_CURSOR_REST: usize = 1100;

pub fn parse_cursor(text: &str) -> Option<(OffsetDateTime, String)> {
    let (millis, id) = text.split_once('.')?;
    let millis: i128 = millis.parse().ok()?;
    if id.is_empty() || id.len() > MAX_CURSOR_REST {
        return None;
    }
    let time = OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()?;
    Some((time, id.to_owned()))
}

/// A time typed in a filter: ISO 8601 (`2026-12-03T10:00:00Z`), or the date-time an HTML
/// `datetime-local` input sends (`2026-12-03T10:00`, taken as UTC).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(time);
    }
    let with_seconds = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        format!("{text}Z")
    };
    OffsetDateTime::parse(&with_seconds, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_one_per_line() {
        let tags = tag_lines("env=prod\n\n team = core \nflag\nurl=a=b\n");
        let pairs: Vec<(&str, &str)> = tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("env", "prod"),
                ("team", "core"),
                ("flag", ""),
                ("url", "a=b")
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let time = OffsetDateTime::from_unix_timestamp_nanos(1_796_184_000_123_000_000).unwrap();
        let text = cursor_text(time, "key-0123456789abcdef0");
        assert_eq!(text, "1796184000123.key-0123456789abcdef0");
        assert_eq!(
            parse_cursor(&text),
            Some((time, "key-0123456789abcdef0".to_owned()))
        );
        assert_eq!(parse_cursor("x.key-1"), None);
        assert_eq!(parse_cursor("1796184000123."), None);
        assert_eq!(parse_cursor("99999999999999999999999999.k"), None);
    }

    #[test]
    fn filter_times_take_iso_8601_and_the_browsers_local_form() {
        let expected = OffsetDateTime::from_unix_timestamp(1_796_184_000).unwrap();
        assert_eq!(parse_time("2026-12-02T04:00:00Z"), Some(expected));
        assert_eq!(parse_time("2026-12-02T04:00"), Some(expected));
        assert_eq!(parse_time("yesterday"), None);
    }
}
