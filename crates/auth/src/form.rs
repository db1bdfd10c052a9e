//! Query decoding shared by both signature families: each canonicalises the query from its
//! decoded pairs, and both must decode exactly alike.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Decoded `(name, value)` pairs of a raw query string, as bytes: a lossy UTF-8 conversion here
/// would let two different requests share one canonical form. Borrowed when nothing is escaped.
pub(crate) fn query_pairs(raw: &str) -> impl Iterator<Item = (Cow<'_, [u8]>, Cow<'_, [u8]>)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(name), form_decode(value))
    })
}

/// Form decoding: `+` is a space, `%XY` a byte.
fn form_decode(s: &str) -> Cow<'_, [u8]> {
    if !s.bytes().any(|b| b == b'+') {
        return percent_decode(s.as_bytes()).into();
    }
    let spaced: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    Cow::Owned(percent_decode(&spaced).collect())
}

/// Canonical `name=value` pairs joined with `&`, written once into one string.
pub(crate) fn join_pairs(pairs: &[(String, String)]) -> String {
    let len = pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}
