//! The `NextToken` both trails' LookupEvents hand out: the first and last event of the page
//! (a keyset position, so a page costs the same however deep it is) and the request's
//! attribute and times, which the next call must repeat. Opaque to clients.

use base64::Engine as _;
use keypaird_inventory::AuditCursor;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    /// The page's newest event (where `PREV` continues from).
    pub first: AuditCursor,
    /// The page's oldest event (where `NEXT` continues from).
    pub last: AuditCursor,
    /// What the request that made the page asked for, as text.
    pub binding: String,
}

pub fn encode(token: &PageToken) -> String {
    let cursor = |c: &AuditCursor| json!([millis(c), c.event_id]);
    let text = json!({
        "f": cursor(&token.first),
        "l": cursor(&token.last),
        "b": token.binding,
    })
    .to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// `None` for anything this service did not hand out.
pub fn decode(token: &str) -> Option<PageToken> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let cursor = |v: &Value| -> Option<AuditCursor> {
        let [time, id] = v.as_array()?.as_slice() else {
            return None;
        };
        let nanos = i128::from(time.as_i64()?) * 1_000_000;
        Some(AuditCursor {
            time: time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?,
            event_id: id.as_str()?.to_owned(),
        })
    };
    Some(PageToken {
        first: cursor(value.get("f")?)?,
        last: cursor(value.get("l")?)?,
        binding: value.get("b")?.as_str()?.to_owned(),
    })
}

fn millis(cursor: &AuditCursor) -> i64 {
    i64::try_from(cursor.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let at = |ms: i64| AuditCursor {
            time: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap(),
            event_id: format!("id-{ms}"),
        };
        let token = PageToken {
            first: at(1_764_000_000_123),
            last: at(1_764_000_000_001),
            binding: "{\"attribute\":null}".into(),
        };
        assert_eq!(decode(&encode(&token)), Some(token));
        for bad in ["", "garbage!", "e30", "W10"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
