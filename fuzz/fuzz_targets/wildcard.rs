//! Wildcard matching (`inventory::pattern::Wildcard`): EC2 filter globs, ECS `*` patterns and
//! literal patterns, against a reference matcher written here (dynamic programming over the
//! pattern as written, which cannot backtrack badly by construction).
//!
//! Input: a selector byte (0 EC2 glob, 1 ECS star-only, 2 literal, modulo 3), the pattern, a
//! NUL byte, the text; both UTF-8.
//!
//! Properties: `matches` agrees with the reference; a match starts with the literal prefix the
//! stores narrow their index range to, is shorter than no `min_chars`, and sorts below the
//! prefix's upper bound; a pattern without wildcards matches exactly its literal text.
#![no_main]

use keypaird_inventory::pattern::{prefix_upper_bound, Wildcard};
use libfuzzer_sys::fuzz_target;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `*`, `?` and backslash escapes.
    Glob,
    /// `*` only.
    StarOnly,
    /// No wildcards at all.
    Literal,
}

/// One element of the pattern as written.
#[derive(Clone, Copy)]
enum Element {
    Char(char),
    One,
    Run,
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(nul) = rest.iter().position(|b| *b == 0) else {
        return;
    };
    let (Ok(pattern), Ok(text)) = (
        std::str::from_utf8(&rest[..nul]),
        std::str::from_utf8(&rest[nul + 1..]),
    ) else {
        return;
    };
    let syntax = [Syntax::Glob, Syntax::StarOnly, Syntax::Literal][usize::from(selector % 3)];
    let wildcard = match syntax {
        Syntax::Glob => Wildcard::new(pattern),
        Syntax::StarOnly => Wildcard::star_only(pattern),
        Syntax::Literal => Wildcard::literal(pattern),
    };
    let elements = read_pattern(pattern, syntax);
    let text_chars: Vec<char> = text.chars().collect();

    let matched = wildcard.matches(text);
    assert_eq!(matched, reference_matches(&elements, &text_chars));

    let has_run = elements.iter().any(|e| matches!(e, Element::Run));
    let fixed = elements
        .iter()
        .filter(|e| !matches!(e, Element::Run))
        .count();
    assert_eq!(wildcard.min_chars(), fixed);
    let prefix = wildcard.literal_prefix();
    if matched {
        assert!(text.starts_with(&prefix), "{prefix:?}");
        if has_run {
            assert!(text_chars.len() >= fixed);
        } else {
            assert_eq!(text_chars.len(), fixed);
        }
        if let Some(upper) = prefix_upper_bound(&prefix) {
            assert!(text < upper.as_str(), "{upper:?}");
        }
    }
    assert_eq!(wildcard.is_literal(), wildcard.as_literal().is_some());
    if let Some(literal) = wildcard.as_literal() {
        assert_eq!(matched, text == literal);
        assert_eq!(literal, prefix);
    }
    if syntax == Syntax::Literal {
        assert_eq!(wildcard.as_literal().as_deref(), Some(pattern));
    }
});

/// The pattern's elements by its syntax's rules: in a glob a backslash makes the next
/// character literal, and a backslash at the very end stands for itself.
fn read_pattern(pattern: &str, syntax: Syntax) -> Vec<Element> {
    let mut elements = Vec::new();
    let mut escaped = false;
    for c in pattern.chars() {
        let element = match (syntax, c) {
            (Syntax::Glob, _) if escaped => {
                escaped = false;
                Element::Char(c)
            }
            (Syntax::Glob, '\\') => {
                escaped = true;
                continue;
            }
            (Syntax::Glob, '?') => Element::One,
            (Syntax::Glob | Syntax::StarOnly, '*') => Element::Run,
            _ => Element::Char(c),
        };
        elements.push(element);
    }
    if escaped {
        elements.push(Element::Char('\\'));
    }
    elements
}

/// `suffix_matches[j]`: does the rest of the pattern match `text[j..]`? Filled from the last
/// element backwards, one row per element: O(pattern × text), no recursion.
fn reference_matches(elements: &[Element], text: &[char]) -> bool {
    let n = text.len();
    let mut suffix_matches: Vec<bool> = (0..=n).map(|j| j == n).collect();
    for element in elements.iter().rev() {
        let mut row = vec![false; n + 1];
        for j in (0..=n).rev() {
            row[j] = match element {
                Element::Char(c) => j < n && text[j] == *c && suffix_matches[j + 1],
                Element::One => j < n && suffix_matches[j + 1],
                Element::Run => suffix_matches[j] || (j < n && row[j + 1]),
            };
        }
        suffix_matches = row;
    }
    suffix_matches[0]
}
