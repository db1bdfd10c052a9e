//! EC2 filter values are glob patterns: `*` matches any run (also empty), `?` exactly one
//! character, and a backslash makes the next character literal. Matching is case-sensitive.
//!
//! The store evaluates these patterns itself (as SQL `GLOB` or `LIKE`, with the literal prefix
//! as an index range), so a pattern exposes its tokens; [`Wildcard::matches`] is the reference
//! the backends are tested against.

/// A compiled filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    tokens: Vec<Token>,
}

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Literal(char),
    /// Exactly one character.
    AnyOne,
    /// Any run of characters, also none.
    AnyRun,
}

impl Wildcard {
    pub fn new(pattern: &str) -> Self {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let token = match c {
                '\\' => Token::Literal(chars.next().unwrap_or('\\')),
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                other => Token::Literal(other),
            };
            // Consecutive stars mean the same as one; collapsing keeps matching linear.
            if token == Token::AnyRun && tokens.last() == Some(&Token::AnyRun) {
                continue;
            }
            tokens.push(token);
        }
        Wildcard { tokens }
    }

    /// ECS name filters: only `*` is special; `?` and backslash are plain characters.
    pub fn star_only(pattern: &str) -> Self {
        let mut tokens: Vec<Token> = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let token = if c == '*' {
                Token::AnyRun
            } else {
                Token::Literal(c)
            };
            if token == Token::AnyRun && tokens.last() == Some(&Token::AnyRun) {
                continue;
            }
            tokens.push(token);
        }
        Wildcard { tokens }
    }

    /// A pattern that matches exactly `text`, whatever characters it holds.
    pub fn literal(text: &str) -> Self {
        Wildcard {
            tokens: text.chars().map(Token::Literal).collect(),
        }
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The literal characters every match starts with (empty when the pattern starts with a
    /// wildcard): the index range a store can narrow a scan to.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// The fewest characters a matching text has.
    pub fn min_chars(&self) -> usize {
        self.tokens.iter().filter(|t| **t != Token::AnyRun).count()
    }

    /// Whether any literal character of the pattern satisfies `test`.
    pub fn has_literal(&self, mut test: impl FnMut(char) -> bool) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Literal(c) if test(*c)))
    }

    /// The characters that follow the first `*` (other stars not counted): what a database tries
    /// at every offset of a text, so a pattern costs it about this many steps per character of
    /// the text it is matched against. Before the first star, matching is anchored and linear.
    pub fn chars_after_first_star(&self) -> usize {
        self.tokens
            .iter()
            .skip_while(|t| **t != Token::AnyRun)
            .filter(|t| **t != Token::AnyRun)
            .count()
    }

    /// Whether the pattern has no wildcard: [`as_literal`](Self::as_literal) without building it.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// The literal text when the pattern has no wildcard, so callers can use an index.
    pub fn as_literal(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Greedy matching with one backtrack point: O(pattern × text) in the worst case, never
    /// exponential, whatever a client sends.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Token::AnyOne) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        backtrack = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

/// The smallest text greater than every text that starts with `prefix`, in code point order
/// (which is also the byte order of UTF-8): `prefix` with its last character replaced by the
/// next one. `None` when no such text exists (an empty prefix, or only U+10FFFF).
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{prefix_upper_bound, Token, Wildcard};

    fn m(p: &str, t: &str) -> bool {
        Wildcard::new(p).matches(t)
    }

    #[test]
    fn star_only_patterns_treat_question_marks_and_backslashes_literally() {
        let w = Wildcard::star_only("a?b\\*");
        assert!(w.matches("a?b\\"));
        assert!(w.matches("a?b\\tail"));
        assert!(!w.matches("axb\\"));
        assert_eq!(Wildcard::star_only("*web*").as_literal(), None);
        assert_eq!(
            Wildcard::star_only("web?").as_literal(),
            Some("web?".into())
        );
        assert!(Wildcard::star_only("*prod").matches("app-prod"));
        assert!(!Wildcard::star_only("*prod").matches("prod-app"));
    }

    #[test]
    fn is_literal_agrees_with_as_literal() {
        for (pattern, literal) in [
            (Wildcard::new("web-1"), true),
            (Wildcard::new(r"a\*b"), true),
            (Wildcard::new("a*"), false),
            (Wildcard::new("?eb"), false),
            (Wildcard::star_only("a?b"), true),
            (Wildcard::star_only("a*"), false),
        ] {
            assert_eq!(pattern.is_literal(), literal, "{pattern:?}");
            assert_eq!(pattern.as_literal().is_some(), literal, "{pattern:?}");
        }
    }

    #[test]
    fn literals_are_exact_and_case_sensitive() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "ABC"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ab"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("web-*", "web-"));
        assert!(m("web-*", "web-prod"));
        assert!(!m("web-*", "db-web-prod"));
        assert!(m("*prod", "web-prod"));
        assert!(m("*-*-*", "a-b-c"));
        assert!(!m("*-*-*", "a-b"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
    }

    #[test]
    fn question_mark_matches_exactly_one() {
        assert!(m("k?y", "key"));
        assert!(!m("k?y", "ky"));
        assert!(!m("k?y", "keey"));
        assert!(m("???", "äöü"));
    }

    #[test]
    fn backslash_escapes_wildcards() {
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "aXb"));
        assert!(m(r"a\?b", "a?b"));
        assert!(!m(r"a\?b", "aXb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(m(r"trailing\", r"trailing\"));
    }

    #[test]
    fn literal_extraction() {
        assert_eq!(Wildcard::new("abc").as_literal().as_deref(), Some("abc"));
        assert_eq!(Wildcard::new(r"a\*c").as_literal().as_deref(), Some("a*c"));
        assert_eq!(Wildcard::new("a*c").as_literal(), None);
        assert_eq!(Wildcard::new("a?c").as_literal(), None);
    }

    #[test]
    fn literal_patterns_keep_wildcard_characters_as_text() {
        let w = Wildcard::literal(r"a*b?c\");
        assert!(w.matches(r"a*b?c\"));
        assert!(!w.matches("aXb?c\\"));
        assert_eq!(w.as_literal().as_deref(), Some(r"a*b?c\"));
    }

    #[test]
    fn prefixes_and_lengths() {
        assert_eq!(Wildcard::new("web-*").literal_prefix(), "web-");
        assert_eq!(Wildcard::new(r"a\*b?c").literal_prefix(), "a*b");
        assert_eq!(Wildcard::new("*web").literal_prefix(), "");
        assert_eq!(Wildcard::new("a*b?c").min_chars(), 4);
        assert_eq!(Wildcard::new("***").min_chars(), 0);
        assert_eq!(
            Wildcard::new("a?*").tokens(),
            &[Token::Literal('a'), Token::AnyOne, Token::AnyRun]
        );
    }

    #[test]
    fn prefix_upper_bound_is_the_next_text_after_every_extension() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound(""), None);
        let upper = prefix_upper_bound("kp-12").unwrap();
        for inside in ["kp-12", "kp-12\u{10FFFF}\u{10FFFF}", "kp-12~~~"] {
            assert!(inside >= "kp-12" && inside < upper.as_str(), "{inside}");
        }
        assert!("kp-13" >= upper.as_str());
    }

    #[test]
    fn chars_after_the_first_star_are_what_unanchored_matching_costs() {
        assert_eq!(Wildcard::new("web-*").chars_after_first_star(), 0);
        assert_eq!(Wildcard::new("exact").chars_after_first_star(), 0);
        assert_eq!(Wildcard::new("a?c").chars_after_first_star(), 0);
        assert_eq!(Wildcard::new("*prod").chars_after_first_star(), 4);
        assert_eq!(Wildcard::new("ab*c?d**e*").chars_after_first_star(), 4);
        assert_eq!(Wildcard::new(r"a\*b*cd").chars_after_first_star(), 2);
        assert_eq!(Wildcard::star_only("x*?\\").chars_after_first_star(), 2);
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!m(&pattern, &text));
    }
}
