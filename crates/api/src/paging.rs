//! Page tokens both dialects hand out for tag listings (EC2 DescribeTags, ECS
//! ListTagResources): the last row of the page, so the next page is a keyset read that stays
//! correct while tags change and costs the same however deep it is. Opaque to clients.

use base64::Engine as _;
use keypaird_inventory::TagCursor;

pub fn encode_tag_cursor(cursor: &TagCursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}\n{}", cursor.key_pair_id, cursor.key))
}

/// `None` for anything this service did not hand out; each dialect words its own error.
pub fn decode_tag_cursor(token: &str) -> Option<TagCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (key_pair_id, key) = text.split_once('\n')?;
    Some(TagCursor {
        key_pair_id: key_pair_id.to_owned(),
        key: key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let cursor = TagCursor {
            key_pair_id: "key-0123456789abcdef0".into(),
            key: "a\nkey with a newline".into(),
        };
        assert_eq!(decode_tag_cursor(&encode_tag_cursor(&cursor)), Some(cursor));
        for bad in ["not-a-token!", "", "bm8gbmV3bGluZQ"] {
            assert_eq!(decode_tag_cursor(bad), None, "{bad}");
        }
    }
}
