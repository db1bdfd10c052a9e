//! AWS Signature Version 4, checked on the server side for EC2's query API.
//!
//! The work is split the way Garage splits it, so each step can be tested on its own and each
//! failure maps to the error code AWS would send:
//! 1. [`parse`] reads the Authorization header or the presigned query parameters. It runs before
//!    the caller knows the secret, because the access key id it returns is how the secret is found.
//! 2. `canonical` rebuilds the canonical request and the string to sign from the request as it
//!    arrived. The server hashes the body itself: EC2 clients do not send `X-Amz-Content-SHA256`,
//!    and trusting a client-supplied hash would let a body be swapped under a valid signature.
//! 3. [`verify`] checks the clock, derives the signing key and compares in constant time.
//!
//! Where clients disagree (botocore and the Rust/Go/Java SDKs differ on `+` in a raw query and on
//! tabs in header values), we follow the SigV4 specification and the official SDKs, and decode the
//! query the same way the API layer does, so that what was signed is what gets acted on.

mod canonical;
mod parse;

pub use parse::parse;

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// The only signing algorithm SigV4 defines for HMAC.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name an EC2 request's credential scope carries (CloudTrail's is `cloudtrail`;
/// the caller names the one it expects in [`SignedRequest::service`]).
pub const SERVICE: &str = "ec2";
/// Largest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_EXPIRES_SECONDS: u64 = 604_800;
/// How far the request's clock may be from ours, either way.
pub const MAX_SKEW: Duration = Duration::minutes(15);
/// AWS's wording for [`SigV4Error::Mismatch`] when the signature itself is wrong.
pub const SIGNATURE_DOES_NOT_MATCH: &str = "The request signature we calculated does not match \
    the signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
    service documentation for details.";

/// A request as it arrived, before any decoding by the API layer.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Raw path as received, e.g. "/".
    pub path: &'a str,
    /// Raw query string as received (no '?'), may be empty.
    pub query: &'a str,
    /// Must contain `host`; over HTTP/2 the caller copies the `:authority` into it.
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// The service the credential scope must name (`ec2`, or `cloudtrail` for LookupEvents).
    pub service: &'a str,
}

/// Where the signature travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigV4Form {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// `X-Amz-Algorithm`, `X-Amz-Credential`, … `X-Amz-Signature` in the query string.
    Presigned,
}

/// What [`parse`] extracted. Holds no secret, so it is safe to log.
#[derive(Debug, Clone)]
pub struct SigV4Auth {
    pub form: SigV4Form,
    pub access_key_id: String,
    /// YYYYMMDD.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lowercase, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// Hex, as sent.
    pub signature: String,
    /// From X-Amz-Date (header or parameter), or the Date header in header form.
    pub request_time: OffsetDateTime,
    /// Presigned only, and only when the client sent `X-Amz-Expires`.
    pub expires_seconds: Option<u64>,
}

impl SigV4Auth {
    /// `<date>/<region>/<service>/aws4_request`, as it appears in the string to sign.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No Authorization header and no `X-Amz-Algorithm` parameter: 401 MissingAuthenticationToken.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// The signature is malformed or incomplete: 400 IncompleteSignature.
    #[error("{0}")]
    Incomplete(String),
    /// Outside the clock window or past the presigned expiry: 400 RequestExpired.
    #[error("Request has expired.")]
    Expired,
    /// Wrong signature or wrong credential scope: 403 SignatureDoesNotMatch.
    #[error("{0}")]
    Mismatch(String),
}

/// True when the request carries SigV4 (Authorization starting "AWS4-HMAC-SHA256" or
/// X-Amz-Algorithm in the query); used for dialect detection.
pub fn is_sigv4(req: &SignedRequest) -> bool {
    let header = req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| v.as_bytes().starts_with(ALGORITHM.as_bytes()));
    header || crate::form::query_pairs(req.query).any(|(name, _)| *name == *b"X-Amz-Algorithm")
}

/// Checks time (+-15 min skew, presigned expiry; X-Amz-Expires max 604800) and the signature,
/// comparing in constant time.
///
/// The clock is checked first: it is cheap, and an expired request is refused whatever its
/// signature. `auth` is expected to come from [`parse`] on the same request; its scope is
/// re-checked here so a hand-built value cannot widen what is accepted.
pub fn verify(
    req: &SignedRequest,
    auth: &SigV4Auth,
    secret_access_key: &str,
    now: OffsetDateTime,
) -> Result<(), SigV4Error> {
    parse::check_scope(auth, req.service)?;
    check_time(auth, now)?;

    let mut provided = [0u8; 32];
    if hex::decode_to_slice(&auth.signature, &mut provided).is_err() {
        return Err(SigV4Error::Mismatch(SIGNATURE_DOES_NOT_MATCH.into()));
    }

    let key = canonical::signing_key(
        secret_access_key,
        &auth.scope_date,
        &auth.region,
        &auth.service,
    );
    let payload_hashes = payload_hashes(req, auth);
    for method in methods(req, auth) {
        for payload_hash in &payload_hashes {
            let creq = canonical::canonical_request(req, auth, method, payload_hash)?;
            let sts = canonical::string_to_sign(auth, &creq);
            let expected = aws_lc_rs::hmac::sign(&key, sts.as_bytes());
            if bool::from(expected.as_ref().ct_eq(&provided)) {
                return Ok(());
            }
        }
    }
    Err(SigV4Error::Mismatch(SIGNATURE_DOES_NOT_MATCH.into()))
}

/// The methods a client could have signed for this request.
///
/// botocore's `generate_presigned_url` signs EC2 URLs with the operation's method, POST, yet the
/// URL is then opened with GET. To the EC2 query API a GET and a body-less POST with the same
/// query are the same request, so for a presigned request without a body either method is
/// accepted: the holder of the URL gains nothing the signer did not grant.
fn methods<'r>(req: &SignedRequest<'r>, auth: &SigV4Auth) -> Vec<&'r str> {
    let interchangeable = auth.form == SigV4Form::Presigned
        && req.body.is_empty()
        && matches!(req.method, "GET" | "POST");
    if interchangeable {
        vec!["GET", "POST"]
    } else {
        vec![req.method]
    }
}

fn check_time(auth: &SigV4Auth, now: OffsetDateTime) -> Result<(), SigV4Error> {
    let t = auth.request_time;
    let (earliest, latest) = match (auth.form, auth.expires_seconds) {
        (SigV4Form::Presigned, Some(expires)) => {
            if expires > MAX_EXPIRES_SECONDS {
                return Err(SigV4Error::Incomplete(parse::EXPIRES_TOO_LONG.into()));
            }
            // A presigned URL may be used until it expires, but not before it was made
            // (allowing for the same skew as header signatures).
            (
                t.checked_sub(MAX_SKEW),
                t.checked_add(Duration::seconds(expires as i64)),
            )
        }
        _ => (t.checked_sub(MAX_SKEW), t.checked_add(MAX_SKEW)),
    };
    match (earliest, latest) {
        (Some(earliest), Some(latest)) if earliest <= now && now <= latest => Ok(()),
        _ => Err(SigV4Error::Expired),
    }
}

/// The payload hashes a client could legitimately have signed for this body.
///
/// Normally just the hash of the bytes received. `UNSIGNED-PAYLOAD` is accepted only for an
/// empty body: the SDKs' presigners sign that literal, and with no body there is nothing it
/// could leave unauthenticated. A non-empty body signed as unsigned would let anyone holding a
/// presigned URL post arbitrary EC2 parameters, so it is refused.
fn payload_hashes(req: &SignedRequest, auth: &SigV4Auth) -> Vec<String> {
    let mut hashes = vec![canonical::hex_sha256(req.body)];
    if req.body.is_empty() {
        let declared_unsigned = req
            .headers
            .get("x-amz-content-sha256")
            .is_some_and(|v| v.as_bytes() == canonical::UNSIGNED_PAYLOAD.as_bytes());
        if auth.form == SigV4Form::Presigned || declared_unsigned {
            hashes.push(canonical::UNSIGNED_PAYLOAD.to_string());
        }
    }
    hashes
}

#[cfg(test)]
mod tests;
