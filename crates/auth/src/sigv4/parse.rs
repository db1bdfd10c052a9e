//! Reading the signature's parameters off the wire, before the secret is known.
//!
//! Everything that can be rejected without the secret is rejected here, with the words AWS uses,
//! so that a client misconfigured for another service or region learns why at once instead of
//! getting a bare SignatureDoesNotMatch.

use super::canonical::format_amz_date;
use super::{SigV4Auth, SigV4Error, SigV4Form, SignedRequest, ALGORITHM, MAX_EXPIRES_SECONDS};
use crate::authorization::{split_parts, AuthorizationParts, PartsError};
use crate::form::query_pairs;
use time::format_description::well_known::Rfc2822;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

pub(super) const EXPIRES_TOO_LONG: &str = "X-Amz-Expires must be less than a week (in seconds) \
    that is, the given X-Amz-Expires must be less than 604800 seconds";
const HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";
const QUERY_PARAMS_REQUIRED: &str = "AWS query-string parameters must include 'X-Amz-Algorithm', \
    'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the \
    query-string parameters.";

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::Incomplete(msg.into())
}

/// Reads the signature from the Authorization header or the presigned query parameters.
///
/// Also rejects what can be judged without the secret: a malformed credential, a scope for
/// another service, a scope date that is not the request's date, `host` left unsigned.
pub fn parse(req: &SignedRequest) -> Result<SigV4Auth, SigV4Error> {
    let mut values = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(incomplete("Only one Authorization header is allowed.")),
        (Some(v), None) => {
            let v = v
                .to_str()
                .map_err(|_| incomplete("Authorization header is not valid ASCII."))?;
            Some(v.trim()).filter(|v| !v.is_empty())
        }
    };
    let presigned = query_pairs(req.query).any(|(name, _)| *name == *b"X-Amz-Algorithm");
    match (header, presigned) {
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
             Authorization header should be specified",
        )),
        (Some(header), false) => parse_header(req, header),
        (None, true) => parse_query(req),
        (None, false) => Err(SigV4Error::Missing),
    }
}

fn parse_header(req: &SignedRequest, header: &str) -> Result<SigV4Auth, SigV4Error> {
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }
    let AuthorizationParts {
        credential,
        signed_headers,
        signature,
    } = split_parts(rest).map_err(|err| match err {
        PartsError::NotKeyValue(part) => incomplete(format!(
            "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
             header: '{header}'."
        )),
        PartsError::Duplicate(key) => incomplete(format!(
            "Authorization header has a duplicate '{key}' parameter."
        )),
    })?;

    let x_amz_date = req.headers.get("x-amz-date");
    let date = req.headers.get(http::header::DATE);
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none_or(str::is_empty) {
            missing += &format!("Authorization header requires '{name}' parameter. ");
        }
    }
    if x_amz_date.is_none() && date.is_none() {
        missing += "Authorization header requires existence of either a 'X-Amz-Date' or a \
                    'Date' header. ";
    }
    if !missing.is_empty() {
        return Err(incomplete(format!("{missing}Authorization={header}")));
    }

    // X-Amz-Date wins over Date: that is the order the SigV4 specification gives.
    let request_time = match x_amz_date {
        Some(v) => parse_amz_date(v.to_str().unwrap_or(""))?,
        None => parse_http_date(date.and_then(|v| v.to_str().ok()).unwrap_or(""))?,
    };
    build(
        SigV4Form::Header,
        credential.unwrap_or_default(),
        signed_headers.unwrap_or_default(),
        signature.unwrap_or_default(),
        request_time,
        None,
        req.service,
    )
}

fn parse_query(req: &SignedRequest) -> Result<SigV4Auth, SigV4Error> {
    const NAMES: [&str; 6] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Expires",
    ];
    let mut found: [Option<String>; 6] = Default::default();
    for (name, value) in query_pairs(req.query) {
        let Some(i) = NAMES.iter().position(|n| n.as_bytes() == &*name) else {
            continue;
        };
        let value = String::from_utf8(value.into_owned())
            .map_err(|_| incomplete(format!("{} is not valid UTF-8.", NAMES[i])))?;
        if found[i].replace(value).is_some() {
            return Err(incomplete(format!(
                "The query-string parameter {} appears more than once.",
                NAMES[i]
            )));
        }
    }
    let [Some(algorithm), Some(credential), Some(date), Some(signed_headers), Some(signature), expires] =
        found
    else {
        return Err(incomplete(QUERY_PARAMS_REQUIRED));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }
    // Absent X-Amz-Expires is tolerated: the request then gets the ordinary clock window.
    let expires = match expires {
        None => None,
        Some(e) => {
            let secs = e
                .parse::<u64>()
                .ok()
                .filter(|_| e.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| incomplete("X-Amz-Expires should be a number"))?;
            if secs > MAX_EXPIRES_SECONDS {
                return Err(incomplete(EXPIRES_TOO_LONG));
            }
            Some(secs)
        }
    };
    let request_time = parse_amz_date(&date)?;
    build(
        SigV4Form::Presigned,
        &credential,
        &signed_headers,
        &signature,
        request_time,
        expires,
        req.service,
    )
}

fn build(
    form: SigV4Form,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    request_time: OffsetDateTime,
    expires_seconds: Option<u64>,
    expected_service: &str,
) -> Result<SigV4Auth, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts[..] else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if access_key_id.is_empty() {
        return Err(incomplete(format!(
            "Credential must name an access key, got '{credential}'"
        )));
    }
    if terminator != "aws4_request" {
        return Err(SigV4Error::Mismatch(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'."
        )));
    }
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_string).collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(incomplete(format!(
            "SignedHeaders must be a ';'-separated list of header names, got '{}'.",
            signed_headers.join(";")
        )));
    }
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete(HOST_NOT_SIGNED));
    }
    if signature.is_empty() {
        return Err(incomplete("The request signature is empty."));
    }
    let auth = SigV4Auth {
        form,
        access_key_id: access_key_id.to_string(),
        scope_date: scope_date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_string(),
        request_time,
        expires_seconds,
    };
    check_scope(&auth, expected_service)?;
    Ok(auth)
}

/// The credential scope checks AWS reports as SignatureDoesNotMatch.
pub(super) fn check_scope(auth: &SigV4Auth, service: &str) -> Result<(), SigV4Error> {
    if auth.service != service {
        return Err(SigV4Error::Mismatch(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    // The region becomes a storage namespace, so only region-like names pass.
    let region_ok = !auth.region.is_empty()
        && auth.region.len() <= 64
        && auth
            .region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !region_ok {
        return Err(SigV4Error::Mismatch(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )));
    }
    let amz_date = format_amz_date(auth.request_time);
    if auth.scope_date != amz_date[..8] {
        return Err(SigV4Error::Mismatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.scope_date,
            &amz_date[..8]
        )));
    }
    Ok(())
}

/// Strict `YYYYMMDDTHHMMSSZ`: strict so that formatting the parsed time gives back exactly the
/// string the client put in its string to sign.
fn parse_amz_date(s: &str) -> Result<OffsetDateTime, SigV4Error> {
    let bad = || {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        ))
    };
    let b = s.as_bytes();
    let digits_at = |r: std::ops::Range<usize>| b[r.clone()].iter().all(u8::is_ascii_digit);
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits_at(0..8) || !digits_at(9..15) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u16>().map_err(|_| bad());
    let month = Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
    let date =
        Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8).map_err(|_| bad())?;
    let time =
        Time::from_hms(n(9..11)? as u8, n(11..13)? as u8, n(13..15)? as u8).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// The `Date` header, for clients that sign it instead of X-Amz-Date. botocore writes
/// `-0000` as the zone and HTTP writes `GMT`; both mean UTC.
fn parse_http_date(s: &str) -> Result<OffsetDateTime, SigV4Error> {
    let s = s.trim();
    let numeric = match s.strip_suffix(" GMT").or_else(|| s.strip_suffix(" UTC")) {
        Some(prefix) => format!("{prefix} +0000"),
        None => s.replace(" -0000", " +0000"),
    };
    OffsetDateTime::parse(&numeric, &Rfc2822)
        .ok()
        // An offset can carry the instant past year 9999, where `to_offset` would panic.
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
        .ok_or_else(|| incomplete(format!("Date header '{s}' is not a valid HTTP date.")))
}
