//! EC2 filter values are glob patterns: `*` matches any run (also empty), `?` exactly one
//! character, and a backslash makes the next character literal. Matching is case-sensitive.
//!
//! The store evaluates these patterns itself (as SQL `GLOB` or `LIKE`, with the literal prefix
//! as an index range), so a pattern exposes its tokens; [`Wildcard::matches`] is the reference
//! the backends are tested against.

/// A compiled filter value: its literal text once, as UTF-8, and where its wildcards stand in
/// it. A request may hold hundreds of patterns, so a pattern costs about a byte per character
/// (a token per character would be eight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    literals: String,
    /// Each wildcard with the byte offset in `literals` it comes before, in pattern order.
    wildcards: Vec<(u32, Token)>,
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
        let mut built = Builder::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            built.push(match c {
                '\\' => Token::Literal(chars.next().unwrap_or('\\')),
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                other => Token::Literal(other),
            });
        }
        built.finish()
    }

    /// ECS name filters: only `*` is special; `?` and backslash are plain characters.
    pub fn star_only(pattern: &str) -> Self {
        let mut built = Builder::with_capacity(pattern.len());
        for c in pattern.chars() {
            built.push(if c == '*' {
                Token::AnyRun
            } else {
                Token::Literal(c)
            });
        }
        built.finish()
    }

    /// A pattern that matches exactly `text`, whatever characters it holds.
    pub fn literal(text: &str) -> Self {
        Wildcard {
            literals: text.to_owned(),
            wildcards: Vec::new(),
        }
    }

    /// The pattern's elements in order.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        let mut wildcards = self.wildcards.iter().peekable();
        let mut literals = self.literals.char_indices().peekable();
        std::iter::from_fn(move || {
            let next_literal = literals.peek().map(|(at, _)| *at);
            match (wildcards.peek(), next_literal) {
                (Some((at, _)), Some(literal_at)) if *at as usize > literal_at => {
                    literals.next().map(|(_, c)| Token::Literal(c))
                }
                (Some(_), _) => wildcards.next().map(|(_, token)| *token),
                (None, _) => literals.next().map(|(_, c)| Token::Literal(c)),
            }
        })
    }

    /// The literal characters every match starts with (empty when the pattern starts with a
    /// wildcard): the index range a store can narrow a scan to.
    pub fn literal_prefix(&self) -> String {
        let end = self
            .wildcards
            .first()
            .map_or(self.literals.len(), |(at, _)| *at as usize);
        self.literals[..end].to_owned()
    }

    /// The fewest characters a matching text has.
    pub fn min_chars(&self) -> usize {
        self.literals.chars().count() + self.count_any_one(0)
    }

    /// Whether any literal character of the pattern satisfies `test`.
    pub fn has_literal(&self, test: impl FnMut(char) -> bool) -> bool {
        self.literals.chars().any(test)
    }

    /// The characters that follow the first `*` (other stars not counted): what a database tries
    /// at every offset of a text, so a pattern costs it about this many steps per character of
    /// the text it is matched against. Before the first star, matching is anchored and linear.
    pub fn chars_after_first_star(&self) -> usize {
        let Some(first) = self.wildcards.iter().position(|(_, t)| *t == Token::AnyRun) else {
            return 0;
        };
        let at = self.wildcards[first].0 as usize;
        self.literals[at..].chars().count() + self.count_any_one(first + 1)
    }

    fn count_any_one(&self, from: usize) -> usize {
        self.wildcards[from..]
            .iter()
            .filter(|(_, t)| *t == Token::AnyOne)
            .count()
    }

    /// Whether the pattern has no wildcard: [`as_literal`](Self::as_literal) without building it.
    pub fn is_literal(&self) -> bool {
        self.wildcards.is_empty()
    }

    /// The literal text when the pattern has no wildcard, so callers can use an index.
    pub fn as_literal(&self) -> Option<String> {
        self.is_literal().then(|| self.literals.clone())
    }

    /// Greedy matching with one backtrack point: O(pattern × text) in the worst case, never
    /// exponential, whatever a client sends.
    pub fn matches(&self, text: &str) -> bool {
        let tokens: Vec<Token> = self.tokens().collect();
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
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
        tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

/// Builds a [`Wildcard`] token by token.
struct Builder(Wildcard);

impl Builder {
    fn with_capacity(bytes: usize) -> Self {
        Builder(Wildcard {
            literals: String::with_capacity(bytes),
            wildcards: Vec::new(),
        })
    }

    fn push(&mut self, token: Token) {
        let w = &mut self.0;
        // Patterns are far shorter than 4 GiB (a request's values are capped at kilobytes).
        let at = u32::try_from(w.literals.len()).unwrap_or(u32::MAX);
        match token {
            Token::Literal(c) => w.literals.push(c),
            // Consecutive stars mean the same as one; collapsing keeps matching linear.
            Token::AnyRun if w.wildcards.last() == Some(&(at, Token::AnyRun)) => {}
            wildcard => w.wildcards.push((at, wildcard)),
        }
    }

    fn finish(mut self) -> Wildcard {
        self.0.literals.shrink_to_fit();
        self.0
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
            Wildcard::new("a?*").tokens().collect::<Vec<_>>(),
            [Token::Literal('a'), Token::AnyOne, Token::AnyRun]
        );
        assert_eq!(
            Wildcard::new(r"*?é\**b?").tokens().collect::<Vec<_>>(),
            [
                Token::AnyRun,
                Token::AnyOne,
                Token::Literal('é'),
                Token::Literal('*'),
                Token::AnyRun,
                Token::Literal('b'),
                Token::AnyOne
            ]
        );
        assert_eq!(Wildcard::new("a**?**b").tokens().count(), 5);
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
