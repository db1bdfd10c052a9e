//! V3: `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`, an
//! HMAC-SHA256 over a canonical request in the manner of SigV4, but keyed with the raw secret
//! (no derived key, no scope) and with a fixed canonical URI. `ACS3-HMAC-SM3` is the same with
//! SM3 (GB/T 32905) for every hash: the body's, the canonical request's and the HMAC's. The Tea
//! SDKs still send the body's SM3 in `x-acs-content-sha256`, which is never trusted anyway.
//!
//! The canonical request is rebuilt from the raw query and the received body. The query is
//! decoded with the form rules the API layer uses (`+` is a space) and re-encoded per RFC 3986,
//! which makes `+`, `%20` and a literal space interchangeable, exactly as they are to the API
//! layer: the Tea SDK sends spaces as `+` on the wire but signs `%20`.

use super::{check_nonce, encode, parse_timestamp, AcsAuth, AcsError, AcsRequest, Scheme};
use crate::authorization::{split_parts, AuthorizationParts, PartsError};
use crate::form::{join_pairs, query_pairs};
use ::hmac::{KeyInit as _, Mac as _};
use aws_lc_rs::{digest, hmac};
use http::{HeaderMap, HeaderName};
use sm3::{Digest as _, Sm3};
use subtle::ConstantTimeEq;

/// The V3 signature algorithms verified here. `ACS3-RSA-SHA256` (signing with a private key
/// registered at Alibaba) has no place in a service keyed by shared secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Algorithm {
    /// `ACS3-HMAC-SHA256`, the Tea SDKs' default.
    HmacSha256,
    /// `ACS3-HMAC-SM3`, the Tea SDKs' `signatureAlgorithm` option.
    HmacSm3,
}

impl V3Algorithm {
    pub const ALL: [V3Algorithm; 2] = [V3Algorithm::HmacSha256, V3Algorithm::HmacSm3];

    /// As written in `Authorization` and on the first line of the string to sign.
    pub fn name(self) -> &'static str {
        match self {
            V3Algorithm::HmacSha256 => "ACS3-HMAC-SHA256",
            V3Algorithm::HmacSm3 => "ACS3-HMAC-SM3",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    /// Lowercase hex of the algorithm's hash of `data`.
    pub(super) fn hex_hash(self, data: &[u8]) -> String {
        match self {
            V3Algorithm::HmacSha256 => hex::encode(digest::digest(&digest::SHA256, data)),
            V3Algorithm::HmacSm3 => hex::encode(Sm3::digest(data)),
        }
    }

    /// The HMAC of `message` keyed with the raw secret; 32 bytes for both algorithms.
    pub(super) fn sign(self, secret: &str, message: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            V3Algorithm::HmacSha256 => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
                out.copy_from_slice(hmac::sign(&key, message.as_bytes()).as_ref());
            }
            V3Algorithm::HmacSm3 => {
                // HMAC takes keys of any length, so this cannot fail.
                let mut mac = ::hmac::Hmac::<Sm3>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts every key length");
                mac.update(message.as_bytes());
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }
}

const DATE: &str = "x-acs-date";
const NONCE: &str = "x-acs-signature-nonce";
/// Always signed: `host` binds the request to us, the other two are what replay protection and
/// the clock check read.
const ALWAYS_SIGNED: [&str; 3] = ["host", DATE, NONCE];
/// Signed whenever present: V3 carries the operation only in these.
const SIGNED_IF_PRESENT: [&str; 2] = ["x-acs-action", "x-acs-version"];

fn incomplete(msg: impl Into<String>) -> AcsError {
    AcsError::IncompleteSignature(msg.into())
}

pub(super) fn parse<P>(req: &AcsRequest<'_, P>) -> Result<AcsAuth, AcsError> {
    let mut values = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let header = match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .map_err(|_| incomplete("The Authorization header is not valid ASCII."))?
            .trim(),
        _ => return Err(incomplete("Only one Authorization header is allowed.")),
    };
    let (name, rest) = header.split_once(' ').unwrap_or((header, ""));
    let Some(algorithm) = V3Algorithm::from_name(name) else {
        return Err(incomplete(format!(
            "The signature algorithm '{name}' is not supported; use {} or {}.",
            V3Algorithm::HmacSha256.name(),
            V3Algorithm::HmacSm3.name()
        )));
    };
    let AuthorizationParts {
        credential,
        signed_headers,
        signature,
    } = split_parts(rest).map_err(|err| match err {
        PartsError::NotKeyValue(part) => incomplete(format!(
            "'{part}' is not a key=value pair in the Authorization header."
        )),
        PartsError::Duplicate(key) => incomplete(format!(
            "The Authorization header has more than one '{key}' parameter."
        )),
    })?;
    let mut missing = Vec::new();
    for (name, value) in [
        ("Credential", credential),
        ("SignedHeaders", signed_headers),
        ("Signature", signature),
    ] {
        if value.is_none_or(str::is_empty) {
            missing.push(format!("'{name}'"));
        }
    }
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "The Authorization header requires {}.",
            missing.join(", ")
        )));
    }
    let (credential, signed_headers, signature) = (
        credential.unwrap_or_default(),
        signed_headers.unwrap_or_default(),
        signature.unwrap_or_default(),
    );
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete(
            "The Signature in the Authorization header must be 64 hexadecimal digits.",
        ));
    }

    let date = single_header(req.headers, DATE)?;
    let nonce = single_header(req.headers, NONCE)?;
    let timestamp = parse_timestamp(date.to_str().map_err(|_| AcsError::TimestampFormat)?)?;
    let nonce = nonce
        .to_str()
        .map_err(|_| AcsError::InvalidParameter(NONCE))?;
    check_nonce(nonce, NONCE)?;

    let signed_headers = parse_signed_headers(req.headers, signed_headers)?;
    Ok(AcsAuth {
        scheme: Scheme::V3,
        v3_algorithm: Some(algorithm),
        access_key_id: credential.to_string(),
        nonce: nonce.to_string(),
        timestamp,
        signature: signature.to_string(),
        signed_headers,
    })
}

/// The value of a header that must be there exactly once.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h http::HeaderValue, AcsError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Err(AcsError::MissingParameter(name)),
        (Some(_), Some(_)) => Err(incomplete(format!(
            "The {name} header may appear only once."
        ))),
        (Some(v), None) if v.is_empty() => Err(AcsError::MissingParameter(name)),
        (Some(v), None) => Ok(v),
    }
}

fn parse_signed_headers(headers: &HeaderMap, list: &str) -> Result<Vec<String>, AcsError> {
    let names: Vec<String> = list.split(';').map(str::to_string).collect();
    let mut lowercase = Vec::with_capacity(names.len());
    for name in &names {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            incomplete(format!(
                "SignedHeaders must be a ';'-separated list of header names, got '{list}'."
            ))
        })?;
        if !headers.contains_key(&parsed) {
            return Err(incomplete(format!(
                "The header '{name}' is listed in SignedHeaders but is not in the request."
            )));
        }
        lowercase.push(parsed);
    }
    let present = |h: &str| headers.contains_key(h);
    for required in ALWAYS_SIGNED
        .into_iter()
        .chain(SIGNED_IF_PRESENT.into_iter().filter(|h| present(h)))
    {
        if !lowercase.iter().any(|h| h == required) {
            return Err(incomplete(format!(
                "The header '{required}' must be listed in SignedHeaders."
            )));
        }
    }
    Ok(names)
}

/// Every parameter re-encoded per RFC 3986, sorted by encoded name then value, `k=v` joined
/// with `&`; a parameter without a value is `k=`.
pub(super) fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(raw)
        .map(|(name, value)| (encode(&name).to_string(), encode(&value).to_string()))
        .collect();
    pairs.sort_unstable();
    join_pairs(&pairs)
}

/// `name:value\n` for each signed header in the client's order; repeated headers are folded
/// with `,`, each value trimmed of spaces and tabs.
fn canonical_headers<P>(req: &AcsRequest<'_, P>, signed: &[String], out: &mut Vec<u8>) {
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        // `parse` checked that every name is a valid header name present in the request.
        let values = HeaderName::from_bytes(name.as_bytes())
            .map(|h| req.headers.get_all(h).iter().collect::<Vec<_>>())
            .unwrap_or_default();
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(trim_blanks(value.as_bytes()));
        }
        out.push(b'\n');
    }
}

/// Leading and trailing spaces and tabs removed, as the SDKs' `strip()` does.
fn trim_blanks(value: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The canonical request as bytes: header values may be any octets, not only UTF-8.
pub(super) fn canonical_request<P>(
    req: &AcsRequest<'_, P>,
    signed_headers: &[String],
    algorithm: V3Algorithm,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_bytes());
    out.extend_from_slice(b"\n/\n");
    out.extend_from_slice(canonical_query(req.query).as_bytes());
    out.push(b'\n');
    canonical_headers(req, signed_headers, &mut out);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(algorithm.hex_hash(req.body).as_bytes());
    out
}

pub(super) fn string_to_sign(algorithm: V3Algorithm, canonical_request: &[u8]) -> String {
    format!(
        "{}\n{}",
        algorithm.name(),
        algorithm.hex_hash(canonical_request)
    )
}

pub(super) fn verify<P>(
    req: &AcsRequest<'_, P>,
    auth: &AcsAuth,
    secret: &str,
) -> Result<(), AcsError> {
    let algorithm = auth.v3_algorithm.unwrap_or(V3Algorithm::HmacSha256);
    let string_to_sign = string_to_sign(
        algorithm,
        &canonical_request(req, &auth.signed_headers, algorithm),
    );
    let mut provided = [0u8; 32];
    let decoded = hex::decode_to_slice(&auth.signature, &mut provided).is_ok();
    let expected = algorithm.sign(secret, &string_to_sign);
    if decoded && bool::from(expected.ct_eq(&provided)) {
        Ok(())
    } else {
        Err(AcsError::Mismatch { string_to_sign })
    }
}
