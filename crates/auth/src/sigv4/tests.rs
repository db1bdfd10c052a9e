//! Unit tests for each step and each error path. Requests here are signed by a small test signer
//! built on our own canonical functions; independence comes from the known-answer test below and
//! from the cross-checks in `tests/` against the `aws-sigv4` crate and botocore.

use super::canonical::{self, canonical_query, canonical_uri};
use super::*;
use http::{HeaderMap, HeaderName, HeaderValue};
use time::macros::datetime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const T: OffsetDateTime = datetime!(2026-11-22 11:55:11 UTC);
const BODY: &[u8] = b"Action=CreateKeyPair&Version=2016-11-15&KeyName=my+key";

struct Req {
    method: &'static str,
    path: &'static str,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn post() -> Req {
        let mut r = Req {
            method: "POST",
            path: "/",
            query: String::new(),
            headers: HeaderMap::new(),
            body: BODY.to_vec(),
        };
        r.set("host", "127.0.0.1:8080");
        r.set(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        r.set("x-amz-date", "20261122T115511Z");
        r.set("user-agent", "test/1.0");
        r
    }

    fn get(query: &str) -> Req {
        let mut r = Req::post();
        r.method = "GET";
        r.query = query.to_string();
        r.body.clear();
        r.headers.remove("content-type");
        r
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }

    fn signed(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: self.method,
            path: self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            service: "ec2",
        }
    }

    /// Signs in header form, the way botocore does, with the given credential scope.
    fn sign_header(&mut self, secret: &str, scope: &str, signed_headers: &str) {
        self.headers.remove(http::header::AUTHORIZATION);
        let auth = auth_for(SigV4Form::Header, scope, signed_headers, T);
        let sig = sign(
            &self.signed(),
            &auth,
            secret,
            &canonical::hex_sha256(&self.body),
        );
        self.set(
            "authorization",
            &format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed_headers}, \
                 Signature={sig}"
            ),
        );
    }

    /// Signs in presigned form; `extra` is appended to the query before signing.
    fn presign(&mut self, secret: &str, expires: Option<u64>, payload_hash: &str) {
        let mut q = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F20261122%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261122T115511Z&X-Amz-SignedHeaders=host"
        );
        if let Some(e) = expires {
            q += &format!("&X-Amz-Expires={e}");
        }
        if !self.query.is_empty() {
            q = format!("{}&{q}", self.query);
        }
        self.query = q;
        self.headers.remove("x-amz-date");
        let mut auth = auth_for(
            SigV4Form::Presigned,
            "20261122/us-east-1/ec2/aws4_request",
            "host",
            T,
        );
        auth.expires_seconds = expires;
        let sig = sign(&self.signed(), &auth, secret, payload_hash);
        self.query += &format!("&X-Amz-Signature={sig}");
    }
}

fn auth_for(form: SigV4Form, scope: &str, signed_headers: &str, t: OffsetDateTime) -> SigV4Auth {
    let parts: Vec<&str> = scope.split('/').collect();
    SigV4Auth {
        form,
        access_key_id: AKID.into(),
        scope_date: parts[0].into(),
        region: parts[1].into(),
        service: parts[2].into(),
        signed_headers: signed_headers.split(';').map(String::from).collect(),
        signature: String::new(),
        request_time: t,
        expires_seconds: None,
    }
}

fn sign(req: &SignedRequest, auth: &SigV4Auth, secret: &str, payload_hash: &str) -> String {
    let creq = canonical::canonical_request(req, auth, req.method, payload_hash).unwrap();
    let sts = canonical::string_to_sign(auth, &creq);
    let key = canonical::signing_key(secret, &auth.scope_date, &auth.region, &auth.service);
    hex::encode(aws_lc_rs::hmac::sign(&key, sts.as_bytes()))
}

const SCOPE: &str = "20261122/us-east-1/ec2/aws4_request";
const SIGNED: &str = "content-type;host;x-amz-date";

fn signed_post() -> Req {
    let mut r = Req::post();
    r.sign_header(SECRET, SCOPE, SIGNED);
    r
}

fn check(r: &Req, now: OffsetDateTime) -> Result<SigV4Auth, SigV4Error> {
    let auth = parse(&r.signed())?;
    verify(&r.signed(), &auth, SECRET, now)?;
    Ok(auth)
}

fn incomplete_msg(r: &Req) -> String {
    match parse(&r.signed()) {
        Err(SigV4Error::Incomplete(m)) => m,
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

fn mismatch_msg(r: &Req) -> String {
    match check(r, T) {
        Err(SigV4Error::Mismatch(m)) => m,
        other => panic!("expected Mismatch, got {other:?}"),
    }
}

// ---- known answer -------------------------------------------------------------------------

/// The worked example of AWS's SigV4 documentation (IAM ListUsers, 2015-08-30). Service `iam`,
/// so it exercises the inner steps directly rather than `verify`, which insists on `ec2`.
#[test]
fn aws_documentation_example() {
    let mut r = Req::get("Action=ListUsers&Version=2010-05-08");
    r.headers.clear();
    r.set(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    r.set("host", "iam.amazonaws.com");
    r.set("x-amz-date", "20150830T123600Z");
    let auth = auth_for(
        SigV4Form::Header,
        "20150830/us-east-1/iam/aws4_request",
        SIGNED,
        datetime!(2015-08-30 12:36:00 UTC),
    );
    let creq = canonical::canonical_request(&r.signed(), &auth, "GET", &canonical::hex_sha256(b""))
        .unwrap();
    assert_eq!(
        canonical::hex_sha256(&creq),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(
        sign(&r.signed(), &auth, SECRET, &canonical::hex_sha256(b"")),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

// ---- happy paths ----------------------------------------------------------------------------

#[test]
fn header_form_verifies_and_reports_scope() {
    let auth = check(&signed_post(), T).unwrap();
    assert_eq!(auth.form, SigV4Form::Header);
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.scope_date, "20261122");
    assert_eq!(auth.region, "us-east-1");
    assert_eq!(auth.service, "ec2");
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
    assert_eq!(auth.request_time, T);
    assert_eq!(auth.expires_seconds, None);
}

#[test]
fn presigned_form_verifies() {
    let mut r = Req::get("Action=DescribeKeyPairs&Version=2016-11-15");
    r.presign(SECRET, Some(300), &canonical::hex_sha256(b""));
    let auth = check(&r, T + Duration::seconds(299)).unwrap();
    assert_eq!(auth.form, SigV4Form::Presigned);
    assert_eq!(auth.expires_seconds, Some(300));
    assert_eq!(auth.signed_headers, ["host"]);
}

#[test]
fn presigned_with_unsigned_payload_verifies_only_without_body() {
    let mut r = Req::get("Action=DescribeKeyPairs&Version=2016-11-15");
    r.presign(SECRET, Some(300), "UNSIGNED-PAYLOAD");
    check(&r, T).unwrap();
    // A body smuggled under an unsigned-payload presigned URL is refused.
    r.body = b"Action=DeleteKeyPair&KeyName=k".to_vec();
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
}

#[test]
fn header_form_unsigned_payload_declared_needs_empty_body() {
    let mut r = Req::post();
    r.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    let auth = auth_for(SigV4Form::Header, SCOPE, SIGNED, T);
    let sig = sign(&r.signed(), &auth, SECRET, "UNSIGNED-PAYLOAD");
    r.set(
        "authorization",
        &format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={SIGNED}, Signature={sig}"
        ),
    );
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
    r.body.clear();
    let auth = auth_for(SigV4Form::Header, SCOPE, SIGNED, T);
    let sig = sign(&r.signed(), &auth, SECRET, "UNSIGNED-PAYLOAD");
    r.set(
        "authorization",
        &format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={SIGNED}, Signature={sig}"
        ),
    );
    check(&r, T).unwrap();
}

#[test]
fn presigned_get_and_bodyless_post_are_interchangeable() {
    // botocore presigns EC2 URLs as POST; they are then opened with GET.
    let mut r = Req::get("Action=DescribeKeyPairs&Version=2016-11-15");
    r.method = "POST";
    r.presign(SECRET, Some(300), &canonical::hex_sha256(b""));
    check(&r, T).unwrap();
    r.method = "GET";
    check(&r, T).unwrap();
    r.method = "DELETE";
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
    // Not with a body, and never in header form.
    let mut r = Req::get("Action=DescribeKeyPairs&Version=2016-11-15");
    r.body = b"a=b".to_vec();
    r.presign(SECRET, Some(300), &canonical::hex_sha256(b"a=b"));
    check(&r, T).unwrap();
    r.method = "POST";
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.sign_header(SECRET, SCOPE, "host;x-amz-date");
    r.method = "POST";
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
}

#[test]
fn presigned_without_expires_gets_the_skew_window() {
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, None, &canonical::hex_sha256(b""));
    check(&r, T + MAX_SKEW).unwrap();
    assert_eq!(
        check(&r, T + MAX_SKEW + Duration::seconds(1)).unwrap_err(),
        SigV4Error::Expired
    );
}

#[test]
fn date_header_fallback() {
    for date in [
        "Sun, 22 Nov 2026 11:55:11 -0000",
        "Sun, 22 Nov 2026 11:55:11 GMT",
    ] {
        let mut r = Req::post();
        r.headers.remove("x-amz-date");
        r.set("date", date);
        r.sign_header(SECRET, SCOPE, "content-type;date;host");
        let auth = check(&r, T).unwrap();
        assert_eq!(auth.request_time, T, "{date}");
    }
}

/// Found while writing the `auth_headers` fuzz target: a Date whose UTC instant is past the end
/// of year 9999 panicked (`to_offset`) before anything was authenticated.
#[test]
fn date_header_past_year_9999_in_utc_is_incomplete() {
    let date = "Fri, 31 Dec 9999 23:59:59 -2359";
    let mut r = Req::post();
    r.headers.remove("x-amz-date");
    r.set("date", date);
    r.sign_header(SECRET, "99991231/us-east-1/ec2/aws4_request", "date;host");
    assert_eq!(
        parse(&r.signed()).unwrap_err(),
        SigV4Error::Incomplete(format!("Date header '{date}' is not a valid HTTP date."))
    );
}

#[test]
fn query_order_and_space_spelling_do_not_matter() {
    let mut r = Req::get("Version=2016-11-15&Action=DescribeKeyPairs&KeyName.1=my+key");
    r.sign_header(SECRET, SCOPE, "host;x-amz-date");
    for q in [
        "Action=DescribeKeyPairs&KeyName.1=my%20key&Version=2016-11-15",
        "KeyName.1=my+key&Version=2016-11-15&Action=DescribeKeyPairs",
    ] {
        r.query = q.into();
        check(&r, T).unwrap();
    }
    // A literal plus is a different key name.
    r.query = "Action=DescribeKeyPairs&KeyName.1=my%2Bkey&Version=2016-11-15".into();
    assert!(matches!(check(&r, T), Err(SigV4Error::Mismatch(_))));
}

#[test]
fn repeated_header_values_are_joined() {
    let mut r = Req::post();
    r.headers
        .append("x-custom", HeaderValue::from_static("  a   b "));
    r.headers.append("x-custom", HeaderValue::from_static("c"));
    r.sign_header(SECRET, SCOPE, "content-type;host;x-amz-date;x-custom");
    check(&r, T).unwrap();
    let creq = canonical::canonical_request(&r.signed(), &parse(&r.signed()).unwrap(), "POST", "H");
    let creq = String::from_utf8(creq.unwrap()).unwrap();
    assert!(creq.contains("\nx-custom:a b,c\n"), "{creq}");
}

#[test]
fn clock_skew_boundaries() {
    let r = signed_post();
    check(&r, T + MAX_SKEW).unwrap();
    check(&r, T - MAX_SKEW).unwrap();
    assert_eq!(
        check(&r, T + MAX_SKEW + Duration::seconds(1)).unwrap_err(),
        SigV4Error::Expired
    );
    assert_eq!(
        check(&r, T - MAX_SKEW - Duration::seconds(1)).unwrap_err(),
        SigV4Error::Expired
    );
}

// ---- Missing --------------------------------------------------------------------------------

#[test]
fn missing() {
    let mut r = Req::post();
    assert!(!is_sigv4(&r.signed()));
    assert_eq!(parse(&r.signed()).unwrap_err(), SigV4Error::Missing);
    r.set("authorization", "  ");
    assert_eq!(parse(&r.signed()).unwrap_err(), SigV4Error::Missing);
}

#[test]
fn dialect_detection() {
    assert!(is_sigv4(&signed_post().signed()));
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
    assert!(is_sigv4(&r.signed()));
    let mut r = Req::post();
    r.set("authorization", "acs AK:sig");
    assert!(!is_sigv4(&r.signed()));
}

// ---- Incomplete -----------------------------------------------------------------------------

#[test]
fn header_without_parameters() {
    let mut r = Req::post();
    r.set("authorization", "AWS4-HMAC-SHA256");
    let m = incomplete_msg(&r);
    for p in ["'Credential'", "'Signature'", "'SignedHeaders'"] {
        assert!(m.contains(p), "{m}");
    }
    assert!(m.ends_with("Authorization=AWS4-HMAC-SHA256"), "{m}");
}

#[test]
fn header_missing_signature_only() {
    let mut r = Req::post();
    r.set(
        "authorization",
        &format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={SIGNED}"),
    );
    let m = incomplete_msg(&r);
    assert!(
        m.starts_with("Authorization header requires 'Signature' parameter."),
        "{m}"
    );
    assert!(!m.contains("'Credential'"), "{m}");
}

#[test]
fn header_pair_without_equals() {
    let mut r = Req::post();
    r.set(
        "authorization",
        &format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders, Signature=00"),
    );
    assert!(incomplete_msg(&r).contains("'SignedHeaders' not a valid key=value pair"));
}

#[test]
fn header_duplicate_parameter() {
    let mut r = signed_post();
    let h = r.headers["authorization"].to_str().unwrap().to_string();
    r.set("authorization", &format!("{h}, Signature=00"));
    assert!(incomplete_msg(&r).contains("duplicate 'Signature'"));
}

#[test]
fn two_authorization_headers() {
    let mut r = signed_post();
    let h = r.headers["authorization"].clone();
    r.headers.append("authorization", h);
    assert!(incomplete_msg(&r).contains("Only one Authorization header"));
}

#[test]
fn header_and_query_together() {
    let mut r = signed_post();
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256".into();
    assert!(incomplete_msg(&r).contains("Only one auth mechanism"));
}

#[test]
fn unsupported_algorithm() {
    let mut r = Req::post();
    r.set(
        "authorization",
        &format!(
            "AWS4-HMAC-SHA512 Credential={AKID}/{SCOPE}, SignedHeaders={SIGNED}, Signature=00"
        ),
    );
    assert_eq!(
        incomplete_msg(&r),
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."
    );
    let r = Req::get("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=a%2F20261122%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261122T115511Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00");
    assert!(incomplete_msg(&r).starts_with("Unsupported AWS 'algorithm'"));
}

#[test]
fn credential_with_wrong_number_of_parts() {
    let mut r = Req::post();
    r.sign_header(SECRET, "20261122/us-east-1/ec2", SIGNED);
    assert!(
        incomplete_msg(&r).starts_with("Credential must have exactly 5 slash-delimited elements")
    );
}

#[test]
fn no_date_at_all() {
    let mut r = signed_post();
    r.headers.remove("x-amz-date");
    assert!(incomplete_msg(&r)
        .contains("requires existence of either a 'X-Amz-Date' or a 'Date' header"));
}

#[test]
fn bad_date_formats() {
    for bad in [
        "2026-11-22T11:55:11Z",
        "20261122T115511",
        "20261322T115511Z",
        "20261122T256011Z",
    ] {
        let mut r = signed_post();
        r.set("x-amz-date", bad);
        assert!(
            incomplete_msg(&r).starts_with("Date must be in ISO-8601 'basic format'"),
            "{bad}"
        );
    }
    let mut r = signed_post();
    r.headers.remove("x-amz-date");
    r.set("date", "yesterday");
    assert!(incomplete_msg(&r).contains("not a valid HTTP date"));
}

#[test]
fn host_must_be_signed() {
    let mut r = Req::post();
    r.sign_header(SECRET, SCOPE, "content-type;x-amz-date");
    assert_eq!(
        incomplete_msg(&r),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn empty_signed_header_name() {
    let mut r = Req::post();
    r.set(
        "authorization",
        &format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders=host;;x-amz-date, Signature=00"),
    );
    assert!(incomplete_msg(&r).starts_with("SignedHeaders must be"));
}

#[test]
fn presigned_missing_parameter() {
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
    r.query = r.query.replace("&X-Amz-SignedHeaders=host", "");
    assert!(incomplete_msg(&r).starts_with("AWS query-string parameters must include"));
}

#[test]
fn presigned_bad_expires() {
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(604_801), &canonical::hex_sha256(b""));
    assert!(incomplete_msg(&r).starts_with("X-Amz-Expires must be less than a week"));
    for bad in ["-5", "+5", "abc", ""] {
        let mut r = Req::get("Action=DescribeKeyPairs");
        r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
        r.query = r
            .query
            .replace("X-Amz-Expires=60", &format!("X-Amz-Expires={bad}"));
        assert_eq!(
            incomplete_msg(&r),
            "X-Amz-Expires should be a number",
            "{bad}"
        );
    }
    // verify() refuses an over-long expiry even on a hand-built SigV4Auth.
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
    let mut auth = parse(&r.signed()).unwrap();
    auth.expires_seconds = Some(MAX_EXPIRES_SECONDS + 1);
    assert!(matches!(
        verify(&r.signed(), &auth, SECRET, T),
        Err(SigV4Error::Incomplete(_))
    ));
}

#[test]
fn presigned_duplicate_parameter() {
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
    r.query += "&X-Amz-Date=20261122T115511Z";
    assert!(incomplete_msg(&r).contains("appears more than once"));
}

// ---- Expired --------------------------------------------------------------------------------

#[test]
fn header_form_expired() {
    let r = signed_post();
    assert_eq!(
        check(&r, T + Duration::hours(1)).unwrap_err(),
        SigV4Error::Expired
    );
    assert_eq!(
        check(&r, T - Duration::hours(1)).unwrap_err(),
        SigV4Error::Expired
    );
}

#[test]
fn presigned_expired() {
    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(300), &canonical::hex_sha256(b""));
    check(&r, T + Duration::seconds(300)).unwrap();
    assert_eq!(
        check(&r, T + Duration::seconds(301)).unwrap_err(),
        SigV4Error::Expired
    );
    // Nor may it be used long before it was made.
    assert_eq!(
        check(&r, T - Duration::minutes(16)).unwrap_err(),
        SigV4Error::Expired
    );
}

#[test]
fn far_future_date_does_not_panic() {
    let mut r = signed_post();
    r.set("x-amz-date", "99991231T235959Z");
    r.sign_header(SECRET, "99991231/us-east-1/ec2/aws4_request", SIGNED);
    assert_eq!(check(&r, T).unwrap_err(), SigV4Error::Expired);
}

// ---- Mismatch -------------------------------------------------------------------------------

#[test]
fn wrong_secret() {
    let mut r = Req::post();
    r.sign_header("not-the-secret", SCOPE, SIGNED);
    let err = check(&r, T).unwrap_err();
    assert_eq!(err, SigV4Error::Mismatch(SIGNATURE_DOES_NOT_MATCH.into()));
    assert!(!format!("{err:?} {err}").contains(SECRET));
}

#[test]
fn secret_never_in_errors() {
    let mut r = signed_post();
    r.body.push(b'x');
    let auth = parse(&r.signed()).unwrap();
    let err = verify(&r.signed(), &auth, SECRET, T).unwrap_err();
    assert!(!format!("{err:?} {err} {auth:?}").contains(SECRET));
}

#[test]
fn wrong_scope_date() {
    let mut r = Req::post();
    r.sign_header(SECRET, "20261121/us-east-1/ec2/aws4_request", SIGNED);
    assert_eq!(
        mismatch_msg(&r),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20261121' != '20261122', from '20261122T115511Z'."
    );
}

#[test]
fn wrong_service() {
    let mut r = Req::post();
    r.sign_header(SECRET, "20261122/us-east-1/s3/aws4_request", SIGNED);
    assert_eq!(
        mismatch_msg(&r),
        "Credential should be scoped to correct service: 'ec2'. "
    );
    // Also on a hand-built SigV4Auth given straight to verify().
    let r = signed_post();
    let mut auth = parse(&r.signed()).unwrap();
    auth.service = "iam".into();
    assert!(matches!(
        verify(&r.signed(), &auth, SECRET, T),
        Err(SigV4Error::Mismatch(_))
    ));
}

#[test]
fn wrong_terminator_and_region() {
    let mut r = Req::post();
    r.sign_header(SECRET, "20261122/us-east-1/ec2/aws5_request", SIGNED);
    assert!(mismatch_msg(&r).contains("valid terminator: 'aws4_request', not 'aws5_request'"));
    let mut r = Req::post();
    r.sign_header(SECRET, "20261122/../ec2/aws4_request", SIGNED);
    assert!(mismatch_msg(&r).contains("valid region, not '..'"));
}

#[test]
fn tampered_body() {
    let mut r = signed_post();
    r.body = BODY.to_vec();
    *r.body.last_mut().unwrap() ^= 1;
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);
}

#[test]
fn tampered_query() {
    let mut r = Req::get("Action=DescribeKeyPairs&KeyName.1=a");
    r.sign_header(SECRET, SCOPE, "host;x-amz-date");
    check(&r, T).unwrap();
    r.query = "Action=DescribeKeyPairs&KeyName.1=b".into();
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);
    r.query = "Action=DescribeKeyPairs&KeyName.1=a&KeyName.2=b".into();
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);

    let mut r = Req::get("Action=DescribeKeyPairs");
    r.presign(SECRET, Some(60), &canonical::hex_sha256(b""));
    r.query = r.query.replace("DescribeKeyPairs", "DeleteKeyPair");
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);
}

#[test]
fn unsigned_header_may_change_signed_header_may_not() {
    let mut r = signed_post();
    r.set("user-agent", "something else entirely");
    r.set("x-forwarded-for", "10.0.0.1");
    check(&r, T).unwrap();
    r.set("content-type", "text/plain");
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);
}

#[test]
fn signed_header_absent() {
    let mut r = signed_post();
    r.headers.remove("content-type");
    assert_eq!(mismatch_msg(&r), SIGNATURE_DOES_NOT_MATCH);
}

#[test]
fn malformed_signature_hex() {
    let r = signed_post();
    let mut auth = parse(&r.signed()).unwrap();
    for bad in ["zz", "00", &"0".repeat(66)] {
        auth.signature = bad.to_string();
        assert!(matches!(
            verify(&r.signed(), &auth, SECRET, T),
            Err(SigV4Error::Mismatch(_))
        ));
    }
}

// ---- canonical pieces -----------------------------------------------------------------------

#[test]
fn canonical_uri_double_encodes_and_normalises() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
    assert_eq!(canonical_uri("/foo/../bar//baz/"), "/bar/baz/");
    assert_eq!(canonical_uri("/a/./b/.."), "/a/");
    assert_eq!(canonical_uri("/~user/a:b"), "/~user/a%3Ab");
}

#[test]
fn canonical_query_rules() {
    assert_eq!(canonical_query("", false), "");
    assert_eq!(canonical_query("b=2&a=1&a=0", false), "a=0&a=1&b=2");
    assert_eq!(canonical_query("k=a+b", false), "k=a%20b");
    assert_eq!(canonical_query("k=a%2Bb", false), "k=a%2Bb");
    assert_eq!(canonical_query("flag&&x=", false), "flag=&x=");
    assert_eq!(
        canonical_query("k=%c3%a9&e=\u{e9}", false),
        "e=%C3%A9&k=%C3%A9"
    );
    assert_eq!(canonical_query("t=%7E~-_.*", false), "t=~~-_.%2A");
    // Sorted after decoding and re-encoding: "%41" is "A", and "A-B" sorts before "A.B".
    assert_eq!(
        canonical_query("A.B=1&A-B=2&%41=3", false),
        "A=3&A-B=2&A.B=1"
    );
    assert_eq!(
        canonical_query("X-Amz-Signature=ff&a=1", true),
        "a=1",
        "presigned drops its own signature"
    );
    assert_eq!(
        canonical_query("X-Amz-Signature=ff&a=1", false),
        "X-Amz-Signature=ff&a=1"
    );
}
