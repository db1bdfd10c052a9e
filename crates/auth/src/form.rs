//! Query decoding shared by both signature families: each canonicalises the query from its
//! decoded pairs, and both must decode exactly alike.

use percent_encoding::percent_decode;

/// Decoded `(name, value)` pairs of a raw query string, as bytes: a lossy UTF-8 conversion here
/// would let two different requests share one canonical form.
pub(crate) fn query_pairs(raw: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(name), form_decode(value))
    })
}

/// Form decoding: `+` is a space, `%XY` a byte.
fn form_decode(s: &str) -> Vec<u8> {
    let spaced: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).collect()
}
