//! Signature parsing before the secret is known, as every unauthenticated request reaches it:
//! SigV4 (Authorization header or presigned query) and Alibaba's ACS v1 (parameters) and V3
//! (`Authorization: ACS3-HMAC-SHA256 …`), then verification with a fixed secret.
//!
//! Input, one request as text: the method on the first line, the raw query on the second,
//! `Name: value` header lines up to an empty line, then the body. The seeds are requests that
//! botocore and Alibaba's Python SDKs really signed (with the secrets below), so mutations start
//! from requests that verify.
//!
//! Properties: no panic; whatever `parse` accepts has the shape it promises (an access key, a
//! scope for ec2 with a region-like name and the request's own date, `host` signed, a nonce of
//! bounded length); at the request's own instant verification never says "expired" (unless its
//! validity window runs past year 9999), and an hour later it does, unless a presigned URL was
//! valid for that long.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use keypaird_api::params::Params;
use keypaird_auth::acs::{self, AcsError, AcsRequest, Scheme};
use keypaird_auth::sigv4::{self, SigV4Error, SigV4Form, SignedRequest};
use libfuzzer_sys::fuzz_target;
use time::{Duration, OffsetDateTime};

/// The secrets the seeds were signed with (crates/auth/tests/botocore.rs, acs_sdk_fixtures.rs).
const SIGV4_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACS_SECRET: &str = "EXAMPLEsecret/Key+0123456789abcdef";

struct Request<'a> {
    method: &'a str,
    query: &'a str,
    headers: HeaderMap,
    body: &'a [u8],
}

/// Reads the framing above; `None` for input that no HTTP server would hand over.
fn read_request(data: &[u8]) -> Option<Request<'_>> {
    let mut rest = data;
    let mut line = || -> Option<&[u8]> {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let (line, after) = rest.split_at(end);
        rest = &after[1..];
        Some(line)
    };
    let method = std::str::from_utf8(line()?).ok()?;
    let query = std::str::from_utf8(line()?).ok()?;
    let mut headers = HeaderMap::new();
    loop {
        let header = line()?;
        if header.is_empty() {
            break;
        }
        let colon = header.iter().position(|b| *b == b':')?;
        let name = HeaderName::from_bytes(&header[..colon]).ok()?;
        // As hyper does: optional whitespace around the value is not part of it.
        let value = header[colon + 1..].trim_ascii();
        headers.append(name, HeaderValue::from_bytes(value).ok()?);
    }
    Some(Request {
        method,
        query,
        headers,
        body: rest,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = read_request(data) else {
        return;
    };
    check_sigv4(&request);
    check_acs(&request);
});

/// Near the ends of year -9999 to 9999 a request's window cannot be computed, and it is
/// refused as expired even at its own instant; no real clock is there.
fn window_is_representable(t: OffsetDateTime, before: Duration, after: Duration) -> bool {
    t.checked_sub(before).is_some() && t.checked_add(after).is_some()
}

fn yyyymmdd(t: OffsetDateTime) -> String {
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

fn check_sigv4(request: &Request<'_>) {
    let signed = SignedRequest {
        method: request.method,
        path: "/",
        query: request.query,
        headers: &request.headers,
        body: request.body,
        service: sigv4::SERVICE,
    };
    let Ok(auth) = sigv4::parse(&signed) else {
        return;
    };
    assert!(!auth.access_key_id.is_empty());
    assert_eq!(auth.service, sigv4::SERVICE);
    assert!(!auth.region.is_empty() && auth.region.len() <= 64);
    assert!(auth
        .region
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    assert_eq!(auth.scope_date, yyyymmdd(auth.request_time));
    assert_eq!(
        auth.credential_scope(),
        format!("{}/{}/ec2/aws4_request", auth.scope_date, auth.region)
    );
    assert!(auth.signed_headers.iter().any(|name| name == "host"));
    assert!(auth.signed_headers.iter().all(|name| !name.is_empty()));
    assert!(!auth.signature.is_empty());
    if auth.form == SigV4Form::Header {
        assert_eq!(auth.expires_seconds, None);
    }
    assert!(auth.expires_seconds <= Some(sigv4::MAX_EXPIRES_SECONDS));

    let valid_for = match (auth.form, auth.expires_seconds) {
        (SigV4Form::Presigned, Some(seconds)) => Duration::seconds(seconds as i64),
        _ => sigv4::MAX_SKEW,
    };
    let at_once = sigv4::verify(&signed, &auth, SIGV4_SECRET, auth.request_time);
    if window_is_representable(auth.request_time, sigv4::MAX_SKEW, valid_for) {
        assert_ne!(at_once, Err(SigV4Error::Expired));
    }
    if let Some(later) = auth.request_time.checked_add(Duration::hours(1)) {
        let verdict = sigv4::verify(&signed, &auth, SIGV4_SECRET, later);
        assert_eq!(
            verdict == Err(SigV4Error::Expired),
            valid_for < Duration::hours(1),
            "{verdict:?}"
        );
    }
}

fn check_acs(request: &Request<'_>) {
    // v1 signs the merged query and form parameters as the API layer decodes them.
    let limits = &keypaird_api::aliyun::PARAM_LIMITS;
    let params = Params::parse(request.query, Some(request.body), limits)
        .or_else(|_| Params::parse(request.query, None, limits))
        .unwrap_or_default();
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let signed = AcsRequest {
        method: request.method,
        query: request.query,
        headers: &request.headers,
        body: request.body,
        params: &pairs,
    };
    let Ok(auth) = acs::parse(&signed) else {
        return;
    };
    assert_eq!(auth.scheme == Scheme::V3, acs::is_v3(&request.headers));
    assert!(!auth.access_key_id.is_empty());
    assert!(!auth.nonce.is_empty() && auth.nonce.len() <= acs::MAX_NONCE_LEN);
    if auth.scheme == Scheme::V3 {
        // Listed as the client spelled them; header names are case-insensitive.
        for always in ["host", "x-acs-date", "x-acs-signature-nonce"] {
            let listed = auth.signed_headers().iter();
            assert!(listed.clone().any(|name| name.eq_ignore_ascii_case(always)));
        }
    } else {
        assert!(auth.signed_headers().is_empty());
    }
    assert!(auth.nonce_expires_at() >= auth.timestamp);

    let at_once = acs::verify(&signed, &auth, ACS_SECRET, auth.timestamp);
    if window_is_representable(auth.timestamp, acs::MAX_SKEW, acs::MAX_SKEW) {
        assert_ne!(at_once, Err(AcsError::Expired));
    }
    if let Some(later) = auth.timestamp.checked_add(Duration::hours(1)) {
        assert_eq!(
            acs::verify(&signed, &auth, ACS_SECRET, later),
            Err(AcsError::Expired)
        );
    }
}
