//! RPC v1: HMAC-SHA1 over the sorted, percent-encoded request parameters.
//!
//! The parameters signed are the ones the API layer decoded and will act on (`params`), not a
//! re-reading of the raw request: that way the bytes we authenticate and the parameters we act on
//! cannot drift apart, and a request whose parameters are split between the query and a form body
//! (Terraform puts business parameters in the body) is signed over the merged set, as every SDK
//! computes it.

use super::{check_nonce, encode, parse_timestamp, AcsAuth, AcsError, AcsRequest, Scheme};
use aws_lc_rs::hmac;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The parameters `parse` reads, in the order their absence is reported.
const ACCESS_KEY_ID: usize = 0;
const SIGNATURE: usize = 1;
const SIGNATURE_METHOD: usize = 2;
const SIGNATURE_VERSION: usize = 3;
const SIGNATURE_NONCE: usize = 4;
const TIMESTAMP: usize = 5;
const NAMES: [&str; 6] = [
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
];

pub(super) fn parse<P: AsRef<str>>(req: &AcsRequest<'_, P>) -> Result<AcsAuth, AcsError> {
    let mut found: [Option<&str>; 6] = [None; 6];
    for (name, value) in req.params {
        if let Some(i) = NAMES.iter().position(|n| *n == name.as_ref()) {
            if found[i].replace(value.as_ref()).is_some() {
                return Err(AcsError::InvalidParameter(NAMES[i]));
            }
        }
    }
    let required = |i: usize| match found[i] {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(AcsError::MissingParameter(NAMES[i])),
    };
    let access_key_id = required(ACCESS_KEY_ID)?;
    let signature = required(SIGNATURE)?;
    if required(SIGNATURE_METHOD)? != "HMAC-SHA1" {
        return Err(AcsError::InvalidParameter(NAMES[SIGNATURE_METHOD]));
    }
    if required(SIGNATURE_VERSION)? != "1.0" {
        return Err(AcsError::InvalidParameter(NAMES[SIGNATURE_VERSION]));
    }
    let nonce = found[SIGNATURE_NONCE].unwrap_or_default();
    check_nonce(nonce, NAMES[SIGNATURE_NONCE])?;
    let timestamp = parse_timestamp(required(TIMESTAMP)?)?;
    Ok(AcsAuth {
        scheme: Scheme::V1,
        v3_algorithm: None,
        access_key_id: access_key_id.to_string(),
        nonce: nonce.to_string(),
        timestamp,
        signature: signature.to_string(),
        signed_headers: Vec::new(),
    })
}

/// `METHOD&%2F&` + percent-encoding of the sorted `name=value` pairs joined with `&`, every name
/// and value percent-encoded first (so `=`, `&` and `%` end up encoded twice).
pub(super) fn string_to_sign<P: AsRef<str>>(method: &str, params: &[(P, P)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .filter(|(name, _)| *name != "Signature")
        .collect();
    pairs.sort_unstable();
    // Written once and encoded once more: no per-pair strings (a large body would be copied
    // several times over).
    let mut joined = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            joined.push('&');
        }
        joined.extend(encode(name.as_bytes()));
        joined.push('=');
        joined.extend(encode(value.as_bytes()));
    }
    let mut out = String::with_capacity(method.len() + 5 + joined.len() * 3 / 2);
    out.push_str(method);
    out.push_str("&%2F&");
    out.extend(encode(joined.as_bytes()));
    out
}

/// base64 of HMAC-SHA1 keyed with `secret + "&"`.
pub(super) fn sign(secret: &str, string_to_sign: &str) -> String {
    let key_bytes = Zeroizing::new(format!("{secret}&"));
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key_bytes.as_bytes());
    let tag = hmac::sign(&key, string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

pub(super) fn verify<P: AsRef<str>>(
    req: &AcsRequest<'_, P>,
    auth: &AcsAuth,
    secret: &str,
) -> Result<(), AcsError> {
    let string_to_sign = string_to_sign(req.method, req.params);
    let expected = sign(secret, &string_to_sign);
    // Both sides are base64 text: comparing the text avoids a lenient decoder accepting
    // several spellings of one signature. Only the length can leak, and it is public.
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(AcsError::Mismatch { string_to_sign })
    }
}
