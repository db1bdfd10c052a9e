//! Rebuilding what the client signed: canonical request, string to sign, signing key.
//!
//! The request is rebuilt from its raw form rather than from anything the API layer decoded, but
//! decoded by the same rules (`+` is a space, as in HTML forms) so that the bytes we authenticate
//! and the parameters we act on cannot drift apart. The canonical query then re-encodes every
//! name and value, which makes `%20`, `+` and a literal space in the raw query interchangeable,
//! just as they are to the API layer.

use super::{SigV4Auth, SigV4Error, SignedRequest, ALGORITHM, SIGNATURE_DOES_NOT_MATCH};
use crate::form::{join_pairs, query_pairs};
use aws_lc_rs::{digest, hmac};
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub(super) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SigV4 keeps only the RFC 3986 unreserved characters; everything else becomes `%XX`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// All parameters, each re-encoded and sorted by encoded name then value. A presigned request's
/// own `X-Amz-Signature` is left out: it cannot sign itself.
pub(super) fn canonical_query(raw: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(raw)
        .filter(|(name, _)| !(presigned && **name == *b"X-Amz-Signature"))
        .map(|(n, v)| {
            (
                percent_encode(&n, UNRESERVED).to_string(),
                percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    join_pairs(&pairs)
}

/// For every service but S3 the client encodes its already-encoded path once more, after
/// removing `.`/`..` and empty segments. The raw path we receive is the once-encoded form.
pub(super) fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/.."].iter().any(|s| raw_path.ends_with(s));
    if trailing && !path.ends_with('/') {
        path.push('/');
    }
    percent_encode(path.as_bytes(), PATH).to_string()
}

/// `name:value\n` for each signed header, in the client's order. Repeated headers are joined
/// with `,`; values are trimmed of spaces and inner runs of spaces collapse to one.
fn canonical_headers(req: &SignedRequest, signed: &[String]) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::new();
    for name in signed {
        let mut values = req.headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            // The client signed a header that did not arrive: the signature cannot match.
            return Err(SigV4Error::Mismatch(SIGNATURE_DOES_NOT_MATCH.into()));
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            trim_all(value.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    Ok(out)
}

fn trim_all(value: &[u8], out: &mut Vec<u8>) {
    let mut words = value.split(|&b| b == b' ').filter(|w| !w.is_empty());
    if let Some(first) = words.next() {
        out.extend_from_slice(first);
        for word in words {
            out.push(b' ');
            out.extend_from_slice(word);
        }
    }
}

/// The canonical request as bytes: header values may be any octets, not only UTF-8.
pub(super) fn canonical_request(
    req: &SignedRequest,
    auth: &SigV4Auth,
    method: &str,
    payload_hash: &str,
) -> Result<Vec<u8>, SigV4Error> {
    let presigned = auth.form == super::SigV4Form::Presigned;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, presigned).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&canonical_headers(req, &auth.signed_headers)?);
    out.push(b'\n');
    out.extend_from_slice(auth.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

pub(super) fn string_to_sign(auth: &SigV4Auth, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        format_amz_date(auth.request_time),
        auth.credential_scope(),
        hex_sha256(canonical_request)
    )
}

pub(super) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let seed = Zeroizing::new(format!("AWS4{secret}"));
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes());
    for part in [date, region, service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

pub(super) fn hex_sha256(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

pub(super) fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
