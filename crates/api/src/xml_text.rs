//! Text content for both dialects' XML replies.

use std::borrow::Cow;

use quick_xml::escape::partial_escape;

/// Escapes `&`, `<` and `>` (neither cloud escapes quotes in text), writes `\r` as `&#13;` so
/// that a parser hands it back instead of folding `\r\n` into `\n` (imported key text must come
/// back byte for byte), and replaces the characters XML 1.0 cannot carry at all, which a client
/// may have sent in a filter or a parameter echoed back.
pub(crate) fn xml_text(text: &str) -> Cow<'_, str> {
    let representable = |c: char| !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    let escaped = if text.chars().all(representable) {
        partial_escape(text)
    } else {
        let cleaned: String = text
            .chars()
            .map(|c| if representable(c) { c } else { '\u{fffd}' })
            .collect();
        Cow::Owned(partial_escape(&cleaned).into_owned())
    };
    if escaped.contains('\r') {
        Cow::Owned(escaped.replace('\r', "&#13;"))
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_keeps_quotes_and_carriage_returns_survive() {
        assert_eq!(xml_text("a<b>&\"'"), "a&lt;b&gt;&amp;\"'");
        assert_eq!(xml_text("line\r\nnext\n"), "line&#13;\nnext\n");
        assert_eq!(xml_text("a\u{1}b\tc"), "a\u{fffd}b\tc");
        assert!(matches!(xml_text("plain"), Cow::Borrowed("plain")));
    }
}
