//! Alibaba Cloud API signatures, checked on the server side: RPC v1 (HMAC-SHA1, what
//! `aliyun-python-sdk-core`, Terraform and the `aliyun` CLI send) and V3 (ACS3-HMAC-SHA256, the
//! default of the Tea SDKs such as `alibabacloud-ecs20140526`, and ACS3-HMAC-SM3, their
//! `signatureAlgorithm` option).
//!
//! # How a caller uses it
//!
//! The module knows no accounts and no storage, so the work is split in the same way as
//! [`crate::sigv4`]:
//! 1. Build an [`AcsRequest`] from the request as it arrived. For v1 the API layer also passes
//!    `params`: every query and form-body parameter, decoded and merged (refusing repeated names).
//! 2. [`parse`] picks the scheme ([`is_v3`]: an `Authorization: ACS3-…` header; otherwise v1
//!    parameters), and returns an [`AcsAuth`] with the access key id, nonce and timestamp. It
//!    runs before the secret is known, because the access key id is how the secret is found, and
//!    rejects everything that can be judged without it.
//! 3. The caller looks the secret up by [`AcsAuth::access_key_id`] (unknown: 404
//!    `InvalidAccessKeyId.NotFound`, not this module's business).
//! 4. [`verify`] checks the clock (±[`MAX_SKEW`]) and then the signature, in constant time.
//! 5. The caller records `(access_key_id, nonce)` until [`AcsAuth::nonce_expires_at`] and answers
//!    400 `SignatureNonceUsed` when it was already recorded. Recording after [`verify`] means an
//!    unauthenticated request never writes to the store; two copies of one signed request racing
//!    each other still get one success, because the store's insert is atomic. Recording before
//!    verify is equally correct for replay, only cheaper to abuse.
//!
//! # Decisions (where Alibaba's documentation leaves room)
//!
//! - **Timestamps** (`Timestamp`, `x-acs-date`) must be `yyyy-MM-ddTHH:mm:ssZ`, UTC. Fractional
//!   seconds (`…:24.123Z`, 1 to 9 digits) are accepted too: no SDK we know sends them, but the
//!   string is signed as received, never re-formatted, so accepting them costs nothing.
//!   Anything else (offsets, a space for `T`, missing `Z`) is [`AcsError::TimestampFormat`].
//! - **v1** requires `AccessKeyId`, `Signature`, `SignatureMethod=HMAC-SHA1`,
//!   `SignatureVersion=1.0`, `SignatureNonce` and `Timestamp`; an empty value counts as missing.
//!   Another method or version is [`AcsError::InvalidParameter`] (400 `InvalidParameter`), and
//!   so is one of these names given twice (the API layer refuses repeats before we see them;
//!   this is a second guard). Parameters are sorted by their decoded names in byte order, as
//!   every SDK does (Python's `sorted`, Java's `TreeMap`, Go's `url.Values.Encode`); values break
//!   ties.
//! - **V3** requires `x-acs-date` and `x-acs-signature-nonce`, once each, and requires that
//!   `host`, `x-acs-date` and `x-acs-signature-nonce` are signed, plus `x-acs-action` and
//!   `x-acs-version` whenever they are present: V3 requests carry the action and version only in
//!   those headers, so leaving them unsigned would let the operation be swapped under a valid
//!   signature. The headers are verified in the order the client listed them, whatever that order.
//! - **V3 header values** are trimmed of leading and trailing spaces and tabs, as the SDKs'
//!   `strip()` does; a header that arrived several times is folded into one value joined with
//!   `,`, in arrival order. Values are signed as bytes, so non-UTF-8 values cannot crash anything.
//! - **V3 payload**: the server hashes the body it received. `x-acs-content-sha256` is never
//!   trusted: when it is signed and lies about the body, the hash line of our canonical request
//!   differs from the client's and the result is [`AcsError::Mismatch`].
//! - **V3 canonical URI** is always `/`: the RPC API lives only there, so the router must hand
//!   only `/` to this dialect. Over HTTP/2 the caller copies `:authority` into `host`.
//! - **Nonces** longer than [`MAX_NONCE_LEN`] bytes are [`AcsError::InvalidParameter`]: the SDKs
//!   send 32 to 36 characters, and the store keeps every nonce for half an hour.
//!
//! The verifier follows the SDKs' encodings exactly; `tests/acs_sdk_fixtures.rs` checks requests
//! captured from the pinned Python SDKs, and the unit tests include Alibaba's published v1 vector.

mod v1;
mod v3;

pub use v3::V3Algorithm;

use percent_encoding::{percent_encode, AsciiSet, PercentEncode, NON_ALPHANUMERIC};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// How far the request's timestamp may be from our clock, either way.
pub const MAX_SKEW: Duration = Duration::minutes(15);
/// Clock difference tolerated between the nodes sharing one nonce record.
pub const NONCE_CLOCK_DRIFT: Duration = Duration::minutes(1);
/// Longest nonce accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 128;

/// Which of Alibaba's signature schemes a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC v1: `Signature` and its companions travel as request parameters; HMAC-SHA1 keyed with
    /// `secret + "&"`, base64.
    V1,
    /// V3: `Authorization: ACS3-HMAC-SHA256 …` (or `ACS3-HMAC-SM3 …`); an HMAC keyed with the
    /// secret, hex.
    V3,
}

/// A request as it arrived.
///
/// `P` is the type the API layer holds parameter names and values in (borrowed from the request
/// where it can).
#[derive(Debug, Clone, Copy)]
pub struct AcsRequest<'a, P = String> {
    /// As on the request line, e.g. "POST".
    pub method: &'a str,
    /// Raw query string, without the '?'; may be empty. V3 canonicalises it from this.
    pub query: &'a str,
    /// V3 needs `host` here (over HTTP/2, copy `:authority` into it).
    pub headers: &'a http::HeaderMap,
    /// The body as received; V3 hashes it.
    pub body: &'a [u8],
    /// For v1: every query and body parameter, already form-decoded and merged by the API layer
    /// (which refuses repeated names). v1 signs over exactly these, minus `Signature`. V3 ignores
    /// them: it signs the raw query and the body's hash, which cover the same parameters.
    pub params: &'a [(P, P)],
}

/// What [`parse`] extracted. Holds no secret, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsAuth {
    pub scheme: Scheme,
    pub access_key_id: String,
    /// `SignatureNonce` (v1) or `x-acs-signature-nonce` (V3), as sent.
    pub nonce: String,
    /// `Timestamp` (v1) or `x-acs-date` (V3).
    pub timestamp: OffsetDateTime,
    /// V3 only: which of [`V3Algorithm`] signed the request.
    pub v3_algorithm: Option<V3Algorithm>,
    /// base64 (v1) or 64 hex digits (V3), as sent.
    signature: String,
    /// V3 only: the `SignedHeaders` names, in the client's order, as listed.
    signed_headers: Vec<String>,
}

impl AcsAuth {
    /// How long this request's nonce must be remembered to refuse replays: the last instant at
    /// which it passes the clock check, plus [`NONCE_CLOCK_DRIFT`] for nodes whose clocks
    /// differ from the one that purges the record.
    pub fn nonce_expires_at(&self) -> OffsetDateTime {
        self.timestamp.saturating_add(MAX_SKEW + NONCE_CLOCK_DRIFT)
    }

    /// V3 only (empty for v1): the headers the client signed, in its order.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }
}

/// Every way a request can fail authentication here. The comment on each variant names the
/// code ECS answers with; the API layer's error table owns the statuses and codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcsError {
    /// A required parameter (v1: `AccessKeyId`, `Signature`, `SignatureMethod`,
    /// `SignatureVersion`, `SignatureNonce`, `Timestamp`) or header (V3: `x-acs-date`,
    /// `x-acs-signature-nonce`) is absent or empty: 400 `MissingParameter`.
    #[error(
        "The input parameter \"{0}\" that is mandatory for processing this request is not supplied."
    )]
    MissingParameter(&'static str),
    /// `SignatureMethod` other than `HMAC-SHA1`, `SignatureVersion` other than `1.0`, a nonce
    /// over [`MAX_NONCE_LEN`] bytes or not printable ASCII (V3), or a v1 signature parameter
    /// given twice: 400 `InvalidParameter`.
    #[error("The specified parameter \"{0}\" is not valid.")]
    InvalidParameter(&'static str),
    /// A malformed V3 `Authorization` (no `Credential=`, `SignedHeaders=` or `Signature=`, an
    /// unknown algorithm, a listed header that did not arrive, `host` or `x-acs-date` left
    /// unsigned, …): 400 `IncompleteSignature`, with this text as the message.
    #[error("{0}")]
    IncompleteSignature(String),
    /// `Timestamp` / `x-acs-date` is not `yyyy-MM-ddTHH:mm:ssZ`: 400 `InvalidTimeStamp.Format`.
    #[error("Specified time stamp or date value is not well formatted.")]
    TimestampFormat,
    /// The timestamp is more than [`MAX_SKEW`] from our clock, either way: 400
    /// `InvalidTimeStamp.Expired`.
    #[error("Specified time stamp or date value is expired.")]
    Expired,
    /// The signature is not the one the secret gives: 400 `SignatureDoesNotMatch`. The message
    /// carries the server's string to sign, as ECS does, so a client can compare it with its own.
    #[error(
        "Specified signature is not matched with our calculation. server string to sign \
         is:{string_to_sign}"
    )]
    Mismatch { string_to_sign: String },
}

/// True when the request carries an `Authorization` header in Alibaba's V3 form. Any `ACS3-`
/// algorithm counts, so that an unsupported one (`ACS3-RSA-SHA256`) is told so by [`parse`] instead of being judged as a v1 request without parameters.
pub fn is_v3(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"ACS3-"))
}

/// Reads the signature of either scheme and rejects whatever can be judged without the secret.
pub fn parse<P: AsRef<str>>(req: &AcsRequest<'_, P>) -> Result<AcsAuth, AcsError> {
    if is_v3(req.headers) {
        v3::parse(req)
    } else {
        v1::parse(req)
    }
}

/// Checks the clock (±[`MAX_SKEW`]) and then the signature, comparing in constant time.
///
/// `auth` must come from [`parse`] on the same request. The clock is checked first: it is
/// cheap, and a stale request is refused whatever its signature.
pub fn verify<P: AsRef<str>>(
    req: &AcsRequest<'_, P>,
    auth: &AcsAuth,
    secret: &str,
    now: OffsetDateTime,
) -> Result<(), AcsError> {
    check_time(auth.timestamp, now)?;
    match auth.scheme {
        Scheme::V1 => v1::verify(req, auth, secret),
        Scheme::V3 => v3::verify(req, auth, secret),
    }
}

fn check_time(t: OffsetDateTime, now: OffsetDateTime) -> Result<(), AcsError> {
    match (t.checked_sub(MAX_SKEW), t.checked_add(MAX_SKEW)) {
        (Some(earliest), Some(latest)) if earliest <= now && now <= latest => Ok(()),
        _ => Err(AcsError::Expired),
    }
}

/// RFC 3986: `A-Za-z0-9-_.~` stay, everything else (UTF-8 bytes) becomes `%XY`, uppercase.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(bytes: &[u8]) -> PercentEncode<'_> {
    percent_encode(bytes, UNRESERVED)
}

/// `yyyy-MM-ddTHH:mm:ss[.f{1,9}]Z`. Checked byte by byte, so no input can make it panic.
fn parse_timestamp(s: &str) -> Result<OffsetDateTime, AcsError> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b[b.len() - 1] != b'Z' || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return Err(AcsError::TimestampFormat);
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let n = digits(20..20 + fraction.len()).ok_or(AcsError::TimestampFormat)?;
            n * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return Err(AcsError::TimestampFormat),
    };
    let field = |r| digits(r).ok_or(AcsError::TimestampFormat);
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
    let month = Month::try_from(month as u8).map_err(|_| AcsError::TimestampFormat)?;
    let date = Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| AcsError::TimestampFormat)?;
    let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos)
        .map_err(|_| AcsError::TimestampFormat)?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

fn check_nonce(nonce: &str, name: &'static str) -> Result<(), AcsError> {
    if nonce.is_empty() {
        Err(AcsError::MissingParameter(name))
    } else if nonce.len() > MAX_NONCE_LEN {
        Err(AcsError::InvalidParameter(name))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
