//! Unit tests for each step and each error path. Requests here are signed by a small test signer
//! built on our own canonical functions; independence comes from Alibaba's published v1 vector,
//! the hand-written canonical requests below, and `tests/acs_sdk_fixtures.rs` (requests captured
//! from the official Python SDKs).

use super::*;
use http::{HeaderMap, HeaderName, HeaderValue};
use time::macros::datetime;

const AKID: &str = "LTAI5tEXAMPLE";
const SECRET: &str = "EXAMPLEsecret/Key+0123";
const T: OffsetDateTime = datetime!(2026-11-22 11:55:11 UTC);
const TS: &str = "2026-11-22T11:55:11Z";
const NONCE: &str = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A request as the API layer would hand it over.
struct Req {
    method: &'static str,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
    params: Vec<(String, String)>,
}

impl Req {
    fn new(method: &'static str) -> Req {
        Req {
            method,
            query: String::new(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            params: Vec::new(),
        }
    }

    fn acs(&self) -> AcsRequest<'_> {
        AcsRequest {
            method: self.method,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            params: &self.params,
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }

    fn check(&self, secret: &str, now: OffsetDateTime) -> Result<AcsAuth, AcsError> {
        let auth = parse(&self.acs())?;
        verify(&self.acs(), &auth, secret, now)?;
        Ok(auth)
    }

    fn param(&mut self, name: &str, value: &str) {
        self.params.retain(|(n, _)| n != name);
        self.params.push((name.to_string(), value.to_string()));
    }

    fn remove_param(&mut self, name: &str) {
        self.params.retain(|(n, _)| n != name);
    }

    // ---- v1 ----

    /// v1 common parameters plus `extra`, signed with `secret`.
    fn v1(method: &'static str, extra: &[(&str, &str)], secret: &str) -> Req {
        let mut r = Req::new(method);
        r.params = pairs(&[
            ("AccessKeyId", AKID),
            ("Action", "DescribeKeyPairs"),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", NONCE),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("Timestamp", TS),
            ("Version", "2014-05-26"),
        ]);
        r.params.extend(pairs(extra));
        r.sign_v1(secret);
        r
    }

    fn sign_v1(&mut self, secret: &str) {
        self.remove_param("Signature");
        let sig = v1::sign(secret, &v1::string_to_sign(self.method, &self.params));
        self.params.push(("Signature".into(), sig));
    }

    // ---- V3 ----

    /// A V3 request as the Tea SDK sends it: parameters in the query, every header signed.
    fn v3(method: &'static str, query: &str, body: &[u8]) -> Req {
        let mut r = Req::new(method);
        r.query = query.to_string();
        r.body = body.to_vec();
        r.set("host", "127.0.0.1:8080");
        r.set("accept", "application/json");
        r.set("x-acs-action", "DescribeKeyPairs");
        r.set("x-acs-version", "2014-05-26");
        r.set("x-acs-date", TS);
        r.set("x-acs-signature-nonce", NONCE);
        r.set(
            "x-acs-content-sha256",
            &V3Algorithm::HmacSha256.hex_hash(body),
        );
        r.sign_v3(SECRET, V3_SIGNED);
        r
    }

    fn sign_v3(&mut self, secret: &str, signed_headers: &str) {
        self.sign_v3_with(V3Algorithm::HmacSha256, secret, signed_headers);
    }

    fn sign_v3_with(&mut self, algorithm: V3Algorithm, secret: &str, signed_headers: &str) {
        self.headers.remove(http::header::AUTHORIZATION);
        let list: Vec<String> = signed_headers.split(';').map(String::from).collect();
        let sts = v3::string_to_sign(
            algorithm,
            &v3::canonical_request(&self.acs(), &list, algorithm),
        );
        let sig = hex::encode(algorithm.sign(secret, &sts));
        self.set(
            "authorization",
            &format!(
                "{} Credential={AKID},SignedHeaders={signed_headers},Signature={sig}",
                algorithm.name()
            ),
        );
    }
}

const V3_SIGNED: &str =
    "accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

fn mismatch(r: Result<AcsAuth, AcsError>) -> String {
    match r {
        Err(AcsError::Mismatch { string_to_sign }) => string_to_sign,
        other => panic!("expected Mismatch, got {other:?}"),
    }
}

fn incomplete(r: Result<AcsAuth, AcsError>) -> String {
    match r {
        Err(AcsError::IncompleteSignature(msg)) => msg,
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

// ---------------------------------------------------------------- v1

/// The test vector in Alibaba's RPC signature documentation.
#[test]
fn v1_reference_vector() {
    let mut r = Req::new("GET");
    r.params = pairs(&[
        ("Format", "XML"),
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
        ("Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="),
    ]);
    assert_eq!(
        v1::string_to_sign("GET", &r.params),
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26\
         SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26\
         SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26\
         Version%3D2014-05-26"
    );
    let signed_at = datetime!(2016-02-23 12:46:24 UTC);
    let auth = r
        .check("testsecret", signed_at + Duration::seconds(3))
        .unwrap();
    assert_eq!(auth.scheme, Scheme::V1);
    assert_eq!(auth.access_key_id, "testid");
    assert_eq!(auth.nonce, "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
    assert_eq!(auth.timestamp, signed_at);
    assert_eq!(auth.nonce_expires_at(), datetime!(2016-02-23 13:02:24 UTC));
    assert!(auth.signed_headers().is_empty());
    // The one-character-off secret, and the one-character-off signature, both fail.
    mismatch(r.check("testsecreT", signed_at));
    r.param("Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qZ=");
    mismatch(r.check("testsecret", signed_at));
}

#[test]
fn v1_get_and_post() {
    let get = Req::v1("GET", &[("RegionId", "cn-hangzhou")], SECRET);
    get.check(SECRET, T).unwrap();
    let post = Req::v1("POST", &[("RegionId", "cn-hangzhou")], SECRET);
    post.check(SECRET, T).unwrap();
    // The method is signed: a GET's signature does not carry over to a POST.
    let mut as_post = Req::v1("GET", &[("RegionId", "cn-hangzhou")], SECRET);
    as_post.method = "POST";
    assert!(mismatch(as_post.check(SECRET, T)).starts_with("POST&%2F&AccessKeyId%3D"));
}

/// Parameters split between query and body reach the verifier merged; all of them are signed,
/// whichever half they came from, and the order they arrived in does not matter.
#[test]
fn v1_merged_query_and_body() {
    let query = "Action=CreateKeyPair&RegionId=cn-hangzhou";
    let body = "KeyPairName=my-key&Tag.1.Key=team&Tag.1.Value=a+b";
    let mut r = Req::v1("POST", &[], SECRET);
    r.remove_param("Action");
    for half in [query, body] {
        for (n, v) in form_urlencoded::parse(half.as_bytes()) {
            r.param(&n, &v);
        }
    }
    r.sign_v1(SECRET);
    let sts = v1::string_to_sign("POST", &r.params);
    assert!(sts.contains("%26KeyPairName%3Dmy-key%26RegionId%3Dcn-hangzhou%26"));
    assert!(sts.contains("%26Tag.1.Key%3Dteam%26Tag.1.Value%3Da%2520b%26Timestamp%3D"));
    r.check(SECRET, T).unwrap();
    r.params.reverse();
    r.check(SECRET, T).unwrap();
    // Dropping a body parameter, or changing it, breaks the signature.
    let mut dropped = clone(&r);
    dropped.remove_param("Tag.1.Value");
    mismatch(dropped.check(SECRET, T));
    let mut changed = clone(&r);
    changed.param("KeyPairName", "my-kez");
    mismatch(changed.check(SECRET, T));
}

fn clone(r: &Req) -> Req {
    Req {
        method: r.method,
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
        params: r.params.clone(),
    }
}

#[test]
fn v1_empty_values_and_security_token() {
    let r = Req::v1(
        "POST",
        &[("ResourceGroupId", ""), ("SecurityToken", "CAIS+/tok=")],
        SECRET,
    );
    let sts = v1::string_to_sign("POST", &r.params);
    assert!(sts.contains("%26ResourceGroupId%3D%26SecurityToken%3DCAIS%252B%252Ftok%253D%26"));
    assert!(sts.contains("%26SignatureType%3D%26SignatureVersion%3D1.0%26"));
    r.check(SECRET, T).unwrap();
    let mut changed = clone(&r);
    changed.param("SecurityToken", "CAIS+/tok");
    mismatch(changed.check(SECRET, T));
    let mut dropped = clone(&r);
    dropped.remove_param("SignatureType");
    mismatch(dropped.check(SECRET, T));
}

#[test]
fn percent_encoding_rules() {
    let enc = |s: &str| encode(s.as_bytes()).to_string();
    assert_eq!(enc("AZaz09-_.~"), "AZaz09-_.~");
    assert_eq!(enc("a b*c"), "a%20b%2Ac");
    assert_eq!(enc("+/=&%:"), "%2B%2F%3D%26%25%3A");
    assert_eq!(enc("环境"), "%E7%8E%AF%E5%A2%83");
    assert_eq!(enc("é"), "%C3%A9");

    let r = Req::v1(
        "GET",
        &[("Tag.1.Key", "环境"), ("Tag.1.Value", "a b*c~d")],
        SECRET,
    );
    let sts = v1::string_to_sign("GET", &r.params);
    assert!(
        sts.contains(
            "%26Tag.1.Key%3D%25E7%258E%25AF%25E5%25A2%2583%26Tag.1.Value%3Da%2520b%252Ac~d%26"
        ),
        "{sts}"
    );
    r.check(SECRET, T).unwrap();
}

/// Names sort in byte order of the decoded name (uppercase before lowercase, `.` before digits),
/// as Python's `sorted`, Java's `TreeMap` and Go's `url.Values` do.
#[test]
fn v1_sort_order() {
    let params = pairs(&[
        ("b", "1"),
        ("B", "2"),
        ("Tag.10.Key", "x"),
        ("Tag.1.Key", "y"),
        ("Tag.1", "z"),
        ("a", ""),
    ]);
    assert_eq!(
        v1::string_to_sign("GET", &params),
        "GET&%2F&B%3D2%26Tag.1%3Dz%26Tag.1.Key%3Dy%26Tag.10.Key%3Dx%26a%3D%26b%3D1"
    );
}

#[test]
fn v1_missing_parameters() {
    for name in [
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ] {
        let mut r = Req::v1("GET", &[], SECRET);
        r.remove_param(name);
        assert_eq!(
            parse(&r.acs()).unwrap_err(),
            AcsError::MissingParameter(name),
            "{name} absent"
        );
        r.param(name, "");
        assert_eq!(
            parse(&r.acs()).unwrap_err(),
            AcsError::MissingParameter(name),
            "{name} empty"
        );
    }
    // A request with no signature at all reports the access key first.
    let r = Req::new("GET");
    assert_eq!(
        parse(&r.acs()).unwrap_err().to_string(),
        "The input parameter \"AccessKeyId\" that is mandatory for processing this request is \
         not supplied."
    );
}

#[test]
fn v1_unsupported_method_and_version() {
    for (name, value) in [
        ("SignatureMethod", "HMAC-SHA256"),
        ("SignatureMethod", "hmac-sha1"),
        ("SignatureMethod", "SHA256withRSA"),
        ("SignatureVersion", "2.0"),
        ("SignatureVersion", "1"),
    ] {
        let mut r = Req::v1("GET", &[], SECRET);
        r.param(name, value);
        r.sign_v1(SECRET);
        let err = parse(&r.acs()).unwrap_err();
        assert_eq!(err, AcsError::InvalidParameter(name), "{name}={value}");
        assert_eq!(
            err.to_string(),
            format!("The specified parameter \"{name}\" is not valid.")
        );
    }
}

#[test]
fn v1_repeated_signature_parameter() {
    let mut r = Req::v1("GET", &[], SECRET);
    r.params.push(("Signature".into(), "x".into()));
    assert_eq!(
        parse(&r.acs()).unwrap_err(),
        AcsError::InvalidParameter("Signature")
    );
    let mut r = Req::v1("GET", &[], SECRET);
    r.params.push(("Timestamp".into(), TS.into()));
    assert_eq!(
        parse(&r.acs()).unwrap_err(),
        AcsError::InvalidParameter("Timestamp")
    );
}

#[test]
fn nonce_length() {
    let mut r = Req::v1("GET", &[], SECRET);
    r.param("SignatureNonce", &"n".repeat(MAX_NONCE_LEN));
    r.sign_v1(SECRET);
    r.check(SECRET, T).unwrap();
    r.param("SignatureNonce", &"n".repeat(MAX_NONCE_LEN + 1));
    r.sign_v1(SECRET);
    assert_eq!(
        parse(&r.acs()).unwrap_err(),
        AcsError::InvalidParameter("SignatureNonce")
    );
}

#[test]
fn timestamp_formats() {
    let ok = [
        ("2016-02-23T12:46:24Z", datetime!(2016-02-23 12:46:24 UTC)),
        (
            "2016-02-23T12:46:24.1Z",
            datetime!(2016-02-23 12:46:24.1 UTC),
        ),
        (
            "2016-02-23T12:46:24.123Z",
            datetime!(2016-02-23 12:46:24.123 UTC),
        ),
        (
            "2016-02-23T12:46:24.123456789Z",
            datetime!(2016-02-23 12:46:24.123456789 UTC),
        ),
        ("2024-02-29T23:59:59Z", datetime!(2024-02-29 23:59:59 UTC)),
    ];
    for (s, t) in ok {
        assert_eq!(parse_timestamp(s), Ok(t), "{s}");
    }
    let bad = [
        "",
        "2016-02-23",
        "2016-02-23 12:46:24Z",
        "2016-02-23T12:46:24",
        "2016-02-23T12:46:24z",
        "2016-02-23t12:46:24Z",
        "2016-02-23T12:46:24+08:00",
        "2016-02-23T12:46:24.Z",
        "2016-02-23T12:46:24.1234567890Z",
        "2016-02-23T12:46:24,123Z",
        "20160223T124624Z",
        "2016-2-23T12:46:24Z",
        "2016-02-30T12:46:24Z",
        "2023-02-29T12:46:24Z",
        "2016-13-01T12:46:24Z",
        "2016-02-23T24:00:00Z",
        "2016-02-23T12:60:00Z",
        "2016-02-23T12:46:60Z",
        "+016-02-23T12:46:24Z",
        "2016-02-23T12:46:2éZ",
        "2016-02-23T12:46:24.1éZ",
        "é016-02-23T12:46:24Z",
        "２０16-02-23T12:46:24Z",
    ];
    for s in bad {
        assert_eq!(parse_timestamp(s), Err(AcsError::TimestampFormat), "{s}");
    }
    let mut r = Req::v1("GET", &[], SECRET);
    r.param("Timestamp", "2026-11-22 11:55:11");
    assert_eq!(parse(&r.acs()).unwrap_err(), AcsError::TimestampFormat);
}

#[test]
fn clock_window_both_schemes() {
    for r in [
        Req::v1("GET", &[], SECRET),
        Req::v3("POST", "RegionId=cn-hangzhou", b""),
    ] {
        for minutes in [-15, -14, 0, 14, 15] {
            r.check(SECRET, T + Duration::minutes(minutes)).unwrap();
        }
        for minutes in [-16, 16] {
            assert_eq!(
                r.check(SECRET, T + Duration::minutes(minutes)).unwrap_err(),
                AcsError::Expired,
                "{minutes} min"
            );
        }
        assert_eq!(
            r.check(SECRET, T + MAX_SKEW + Duration::seconds(1))
                .unwrap_err(),
            AcsError::Expired
        );
        // The clock is checked before the signature: a stale request is refused whatever its
        // signature.
        assert_eq!(
            r.check("wrong", T - Duration::hours(1)).unwrap_err(),
            AcsError::Expired
        );
    }
    // Timestamps at the edges of the calendar do not overflow.
    let mut r = Req::v1("GET", &[], SECRET);
    r.param("Timestamp", "9999-12-31T23:59:59Z");
    r.sign_v1(SECRET);
    let auth = parse(&r.acs()).unwrap();
    assert_eq!(
        verify(&r.acs(), &auth, SECRET, T).unwrap_err(),
        AcsError::Expired
    );
    assert_eq!(
        auth.nonce_expires_at(),
        datetime!(9999-12-31 23:59:59.999999999 UTC)
    );
    r.param("Timestamp", "0000-01-01T00:00:00Z");
    r.sign_v1(SECRET);
    let auth = parse(&r.acs()).unwrap();
    assert_eq!(
        verify(&r.acs(), &auth, SECRET, T).unwrap_err(),
        AcsError::Expired
    );
}

#[test]
fn v1_mismatch_carries_string_to_sign() {
    let r = Req::v1("GET", &[("RegionId", "cn-hangzhou")], SECRET);
    let expected = format!(
        "GET&%2F&AccessKeyId%3D{AKID}%26Action%3DDescribeKeyPairs%26Format%3DJSON%26\
         RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D{NONCE}%26\
         SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-22T11%253A55%253A11Z%26\
         Version%3D2014-05-26"
    );
    let err = r.check("another secret", T).unwrap_err();
    assert_eq!(
        err,
        AcsError::Mismatch {
            string_to_sign: expected.clone()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Specified signature is not matched with our calculation. server string to sign \
             is:{expected}"
        )
    );
}

#[test]
fn v1_garbage_signatures() {
    for sig in [
        "x",
        "====",
        "OLeaidS1JvxuMvnyHOwuJ+uX5qY",
        "é",
        &"A".repeat(10_000),
    ] {
        let mut r = Req::v1("GET", &[], SECRET);
        r.param("Signature", sig);
        mismatch(r.check(SECRET, T));
    }
}

/// A v1 request that also carries a non-Alibaba Authorization header is still v1.
#[test]
fn v1_ignores_foreign_authorization() {
    let mut r = Req::v1("GET", &[], SECRET);
    r.set("authorization", "AWS4-HMAC-SHA256 Credential=x");
    assert!(!is_v3(&r.headers));
    assert_eq!(r.check(SECRET, T).unwrap().scheme, Scheme::V1);
}

// ---------------------------------------------------------------- V3

#[test]
fn v3_accepts_and_reports() {
    let r = Req::v3(
        "POST",
        "RegionId=cn-hangzhou&KeyPairName=my+key%2A&IncludePublicKey=True",
        b"",
    );
    assert!(is_v3(&r.headers));
    let auth = r.check(SECRET, T).unwrap();
    assert_eq!(auth.scheme, Scheme::V3);
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.nonce, NONCE);
    assert_eq!(auth.timestamp, T);
    assert_eq!(auth.signed_headers().join(";"), V3_SIGNED);
    mismatch(r.check("wrong", T));
}

/// Hand-written canonical request: the string to sign in Mismatch must be exactly its hash.
#[test]
fn v3_known_canonical_request() {
    let mut r = Req::v3(
        "POST",
        "RegionId=cn-hangzhou&KeyPairName=my+key%2A&IncludePublicKey=True&Tag.1.Value=%E7%8E%AF+~&Empty&Tag.1.Key=a%20b",
        b"",
    );
    r.set("user-agent", "  AlibabaCloud (Linux; x86_64)\t ");
    r.sign_v3(SECRET, &format!("{V3_SIGNED};user-agent"));
    let canonical = format!(
        "POST\n/\n\
         Empty=&IncludePublicKey=True&KeyPairName=my%20key%2A&RegionId=cn-hangzhou&\
         Tag.1.Key=a%20b&Tag.1.Value=%E7%8E%AF%20~\n\
         accept:application/json\n\
         host:127.0.0.1:8080\n\
         x-acs-action:DescribeKeyPairs\n\
         x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
         x-acs-date:{TS}\n\
         x-acs-signature-nonce:{NONCE}\n\
         x-acs-version:2014-05-26\n\
         user-agent:AlibabaCloud (Linux; x86_64)\n\
         \n\
         {V3_SIGNED};user-agent\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let auth = parse(&r.acs()).unwrap();
    assert_eq!(
        String::from_utf8(v3::canonical_request(
            &r.acs(),
            auth.signed_headers(),
            V3Algorithm::HmacSha256
        ))
        .unwrap(),
        canonical
    );
    let expected = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes()
        ))
    );
    r.check(SECRET, T).unwrap();
    assert_eq!(
        r.check("wrong", T).unwrap_err(),
        AcsError::Mismatch {
            string_to_sign: expected
        }
    );
}

#[test]
fn v3_canonical_query() {
    let cq = v3::canonical_query;
    assert_eq!(cq(""), "");
    assert_eq!(cq("&&"), "");
    assert_eq!(cq("b=2&a=1"), "a=1&b=2");
    // `+`, `%20` and a raw space are the same to the API layer, and so they are here.
    assert_eq!(cq("k=a+b"), "k=a%20b");
    assert_eq!(cq("k=a%20b"), "k=a%20b");
    assert_eq!(cq("k=a b"), "k=a%20b");
    assert_eq!(cq("k=%2B"), "k=%2B");
    assert_eq!(cq("k=*~%7e%2a"), "k=%2A~~%2A");
    assert_eq!(cq("flag&k="), "flag=&k=");
    assert_eq!(cq("k=a=b"), "k=a%3Db");
    assert_eq!(cq("k=%E7%8E%AF"), "k=%E7%8E%AF");
    // Invalid UTF-8 and stray `%` survive as bytes rather than being replaced.
    assert_eq!(cq("k=%FF%zz%"), "k=%FF%25zz%25");
    // Repeated names sort by value.
    assert_eq!(cq("k=2&k=1"), "k=1&k=2");
}

#[test]
fn v3_body_is_hashed_by_us() {
    let body = b"KeyPairNames=%5B%22a%22%5D&RegionId=cn-hangzhou";
    let r = Req::v3("POST", "", body);
    r.check(SECRET, T).unwrap();
    // Any change to the body breaks the signature.
    for at in [0, body.len() / 2, body.len() - 1] {
        let mut t = clone(&r);
        t.body[at] ^= 0x01;
        mismatch(t.check(SECRET, T));
    }
    let mut t = clone(&r);
    t.body.clear();
    mismatch(t.check(SECRET, T));
    // A lying x-acs-content-sha256 (here: the hash of the swapped body, not of what was signed)
    // does not help: we hash what arrived.
    let mut t = clone(&r);
    t.body = b"KeyPairNames=%5B%22b%22%5D&RegionId=cn-hangzhou".to_vec();
    let forged = V3Algorithm::HmacSha256.hex_hash(&t.body);
    t.set("x-acs-content-sha256", &forged);
    mismatch(t.check(SECRET, T));
    // And a client that signs a false hash header is refused even with the body it signed.
    let mut t = clone(&r);
    t.set(
        "x-acs-content-sha256",
        &V3Algorithm::HmacSha256.hex_hash(b"something else"),
    );
    mismatch(t.check(SECRET, T));
}

#[test]
fn v3_signed_headers_are_bound() {
    let r = Req::v3("POST", "RegionId=cn-hangzhou", b"");
    for (name, value) in [
        ("x-acs-action", "DeleteKeyPairs"),
        ("x-acs-version", "2016-11-15"),
        ("host", "127.0.0.1:8081"),
        ("accept", "application/xml"),
        ("x-acs-signature-nonce", "another-nonce"),
        ("x-acs-date", "2026-11-22T11:55:12Z"),
    ] {
        let mut t = clone(&r);
        t.set(name, value);
        mismatch(t.check(SECRET, T));
    }
    // The query is signed too.
    let mut t = clone(&r);
    t.query = "RegionId=cn-beijing".into();
    mismatch(t.check(SECRET, T));
    // The method as well.
    let mut t = clone(&r);
    t.method = "GET";
    mismatch(t.check(SECRET, T));
    // Unsigned headers may change or appear.
    let mut t = clone(&r);
    t.set("user-agent", "curl/8");
    t.set("x-sdk-client", "python/2.0.0");
    t.check(SECRET, T).unwrap();
}

#[test]
fn v3_repeated_headers_fold_with_commas() {
    let mut r = Req::v3("POST", "", b"");
    r.headers
        .append("x-extra", HeaderValue::from_static(" one "));
    r.headers.append("x-extra", HeaderValue::from_static("two"));
    r.sign_v3(SECRET, &format!("{V3_SIGNED};x-extra"));
    let auth = parse(&r.acs()).unwrap();
    let creq = v3::canonical_request(&r.acs(), auth.signed_headers(), V3Algorithm::HmacSha256);
    let creq = String::from_utf8(creq).unwrap();
    assert!(creq.contains("\nx-extra:one,two\n"), "{creq}");
    r.check(SECRET, T).unwrap();
}

#[test]
fn v3_non_utf8_header_values_are_signed_as_bytes() {
    let mut r = Req::v3("POST", "", b"");
    r.headers
        .insert("x-extra", HeaderValue::from_bytes(b"caf\xe9 \xff").unwrap());
    r.sign_v3(SECRET, &format!("{V3_SIGNED};x-extra"));
    r.check(SECRET, T).unwrap();
    r.headers
        .insert("x-extra", HeaderValue::from_bytes(b"caf\xe9 \xfe").unwrap());
    mismatch(r.check(SECRET, T));
}

/// The headers are verified in the order the client listed them, and under the names it wrote.
#[test]
fn v3_listed_order_is_what_is_verified() {
    let mut r = Req::v3("POST", "", b"");
    let reversed: Vec<&str> = V3_SIGNED.rsplit(';').collect();
    r.sign_v3(SECRET, &reversed.join(";"));
    r.check(SECRET, T).unwrap();
}

#[test]
fn v3_malformed_authorization() {
    let sig = "0".repeat(64);
    let all = V3_SIGNED;
    let cases: Vec<(String, &str)> = vec![
        (
            format!("ACS3-HMAC-SHA256 SignedHeaders={all},Signature={sig}"),
            "requires 'Credential'",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all}"),
            "requires 'Signature'",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},Signature={sig}"),
            "requires 'SignedHeaders'",
        ),
        (
            "ACS3-HMAC-SHA256".to_string(),
            "requires 'Credential', 'SignedHeaders', 'Signature'",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential=,SignedHeaders={all},Signature={sig}"),
            "requires 'Credential'",
        ),
        (
            format!("ACS3-HMAC-SM2 Credential={AKID},SignedHeaders={all},Signature={sig}"),
            "'ACS3-HMAC-SM2' is not supported; use ACS3-HMAC-SHA256 or ACS3-HMAC-SM3.",
        ),
        (
            format!("ACS3-RSA-SHA256 Credential={AKID},SignedHeaders={all},Signature={sig}"),
            "'ACS3-RSA-SHA256' is not supported",
        ),
        (
            format!("ACS3-HMAC-SHA256Credential={AKID},SignedHeaders={all},Signature={sig}"),
            "is not supported",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},Credential=x,SignedHeaders={all},Signature={sig}"),
            "more than one 'Credential'",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all},Signature={sig},garbage"),
            "'garbage' is not a key=value pair",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all},Signature=abc"),
            "64 hexadecimal digits",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all},Signature={}", "g".repeat(64)),
            "64 hexadecimal digits",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all};x-absent,Signature={sig}"),
            "'x-absent' is listed in SignedHeaders but is not in the request",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={all};;,Signature={sig}"),
            "';'-separated list",
        ),
        (
            format!("ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=bad header,Signature={sig}"),
            "';'-separated list",
        ),
        (
            format!(
                "ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=accept;x-acs-action;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature={sig}"
            ),
            "'host' must be listed in SignedHeaders",
        ),
        (
            format!(
                "ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=host;x-acs-action;x-acs-signature-nonce;x-acs-version,Signature={sig}"
            ),
            "'x-acs-date' must be listed",
        ),
        (
            format!(
                "ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=host;x-acs-action;x-acs-date;x-acs-version,Signature={sig}"
            ),
            "'x-acs-signature-nonce' must be listed",
        ),
        (
            format!(
                "ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=host;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature={sig}"
            ),
            "'x-acs-action' must be listed",
        ),
        (
            format!(
                "ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders=host;x-acs-action;x-acs-date;x-acs-signature-nonce,Signature={sig}"
            ),
            "'x-acs-version' must be listed",
        ),
    ];
    for (header, expected) in cases {
        let mut r = Req::v3("POST", "", b"");
        r.set("authorization", &header);
        let msg = incomplete(parse(&r.acs()));
        assert!(msg.contains(expected), "{header}: {msg}");
    }

    // Two Authorization headers.
    let mut r = Req::v3("POST", "", b"");
    let first = r.headers.get("authorization").unwrap().clone();
    r.headers.append("authorization", first);
    assert!(incomplete(parse(&r.acs())).contains("Only one Authorization header"));

    // Not ASCII.
    let mut r = Req::v3("POST", "", b"");
    r.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"ACS3-HMAC-SHA256 Credential=\xff").unwrap(),
    );
    assert!(incomplete(parse(&r.acs())).contains("not valid ASCII"));
}

#[test]
fn v3_action_and_version_need_signing_only_when_present() {
    let mut r = Req::v3("POST", "Action=DescribeKeyPairs", b"");
    r.headers.remove("x-acs-action");
    r.headers.remove("x-acs-version");
    r.sign_v3(
        SECRET,
        "host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce",
    );
    r.check(SECRET, T).unwrap();
}

#[test]
fn v3_date_and_nonce_headers() {
    for name in ["x-acs-date", "x-acs-signature-nonce"] {
        let mut r = Req::v3("POST", "", b"");
        r.headers.remove(name);
        assert_eq!(
            parse(&r.acs()).unwrap_err(),
            AcsError::MissingParameter(name)
        );
        let mut r = Req::v3("POST", "", b"");
        r.set(name, "");
        assert!(matches!(
            parse(&r.acs()).unwrap_err(),
            AcsError::MissingParameter(_)
        ));
        let mut r = Req::v3("POST", "", b"");
        r.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static("again"),
        );
        assert!(incomplete(parse(&r.acs())).contains("may appear only once"));
    }
    for bad in [
        "2026-11-22 11:55:11",
        "Sun, 22 Nov 2026 11:55:11 GMT",
        "20261122T115511Z",
    ] {
        let mut r = Req::v3("POST", "", b"");
        r.set("x-acs-date", bad);
        assert_eq!(parse(&r.acs()).unwrap_err(), AcsError::TimestampFormat);
    }
    let mut r = Req::v3("POST", "", b"");
    r.headers
        .insert("x-acs-date", HeaderValue::from_bytes(b"2026-\xff").unwrap());
    assert_eq!(parse(&r.acs()).unwrap_err(), AcsError::TimestampFormat);

    let mut r = Req::v3("POST", "", b"");
    r.headers.insert(
        "x-acs-signature-nonce",
        HeaderValue::from_bytes(b"n\xffonce").unwrap(),
    );
    assert_eq!(
        parse(&r.acs()).unwrap_err(),
        AcsError::InvalidParameter("x-acs-signature-nonce")
    );
    let mut r = Req::v3("POST", "", b"");
    r.set("x-acs-signature-nonce", &"n".repeat(MAX_NONCE_LEN + 1));
    assert_eq!(
        parse(&r.acs()).unwrap_err(),
        AcsError::InvalidParameter("x-acs-signature-nonce")
    );
}

/// Signatures are hex, and case does not matter to the comparison.
#[test]
fn v3_uppercase_hex_signature() {
    let mut r = Req::v3("POST", "", b"");
    let auth = r.headers["authorization"].to_str().unwrap().to_string();
    let (head, sig) = auth.rsplit_once("Signature=").unwrap();
    r.set(
        "authorization",
        &format!("{head}Signature={}", sig.to_uppercase()),
    );
    r.check(SECRET, T).unwrap();
}

/// Garbage of every shape gives an error, never a panic.
#[test]
fn never_panics() {
    let long = "x".repeat(100_000);
    let authorizations = [
        "ACS3-".to_string(),
        "ACS3-HMAC-SHA256 ".to_string(),
        "ACS3-HMAC-SHA256 ,,,,".to_string(),
        "ACS3-HMAC-SHA256 ====".to_string(),
        "ACS3-HMAC-SHA256 Credential==,SignedHeaders==;=,Signature==".to_string(),
        format!("ACS3-HMAC-SHA256 Credential={long},SignedHeaders={long},Signature={long}"),
        format!("ACS3-HMAC-SHA256 {long}"),
    ];
    for a in &authorizations {
        let mut r = Req::v3("POST", &format!("{long}=%&%%=+"), long.as_bytes());
        r.set("authorization", a);
        assert!(parse(&r.acs()).is_err(), "{}", &a[..a.len().min(60)]);
    }
    let mut r = Req::new("POST");
    r.params = pairs(&[
        ("AccessKeyId", &long),
        ("Signature", "é"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "n"),
        ("Timestamp", "2026-11-22T11:55:1é"),
    ]);
    assert_eq!(parse(&r.acs()).unwrap_err(), AcsError::TimestampFormat);
    r.param("Timestamp", TS);
    mismatch(r.check(SECRET, T));
}

/// SM3 (GB/T 32905-2016) test vectors from the standard's appendix A, then an HMAC-SM3 checked
/// against Python's `hmac` over the Tea SDK's own SM3 (`alibabacloud_tea_openapi.sm3.Sm3`).
#[test]
fn sm3_hash_and_hmac_vectors() {
    let sm3 = V3Algorithm::HmacSm3;
    assert_eq!(
        sm3.hex_hash(b"abc"),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(
        sm3.hex_hash(&b"abcd".repeat(16)),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    assert_eq!(
        sm3.hex_hash(b""),
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    );
    assert_eq!(
        hex::encode(sm3.sign("key", "The quick brown fox jumps over the lazy dog")),
        HMAC_SM3_FOX
    );
}

#[test]
fn v3_sm3_round_trip_and_algorithms_are_not_interchangeable() {
    let mut r = Req::v3(
        "POST",
        "RegionId=cn-hangzhou",
        b"KeyPairNames=%5B%22a%22%5D",
    );
    r.set(
        "x-acs-content-sha256",
        &V3Algorithm::HmacSm3.hex_hash(&r.body),
    );
    r.sign_v3_with(V3Algorithm::HmacSm3, SECRET, V3_SIGNED);
    let auth = r.check(SECRET, T).unwrap();
    assert_eq!(auth.v3_algorithm, Some(V3Algorithm::HmacSm3));
    // The string to sign we report names SM3 and hashes with it.
    let expected_sts = v3::string_to_sign(
        V3Algorithm::HmacSm3,
        &v3::canonical_request(
            &r.acs(),
            &V3_SIGNED.split(';').map(String::from).collect::<Vec<_>>(),
            V3Algorithm::HmacSm3,
        ),
    );
    assert!(expected_sts.starts_with("ACS3-HMAC-SM3\n"));
    assert_eq!(
        r.check("another secret", T).unwrap_err(),
        AcsError::Mismatch {
            string_to_sign: expected_sts
        }
    );
    // An SM3 signature presented as SHA-256 (and the reverse) does not verify.
    let sm3_authorization = r.headers["authorization"].to_str().unwrap().to_owned();
    r.set(
        "authorization",
        &sm3_authorization.replacen("ACS3-HMAC-SM3", "ACS3-HMAC-SHA256", 1),
    );
    mismatch(r.check(SECRET, T));
    r.sign_v3_with(V3Algorithm::HmacSha256, SECRET, V3_SIGNED);
    let sha_authorization = r.headers["authorization"].to_str().unwrap().to_owned();
    r.check(SECRET, T).unwrap();
    r.set(
        "authorization",
        &sha_authorization.replacen("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", 1),
    );
    mismatch(r.check(SECRET, T));
}

/// `hmac.new(b"key", b"The quick brown fox jumps over the lazy dog", Sm3).hexdigest()` with the
/// Tea SDK's `Sm3` (alibabacloud-tea-openapi 0.4.6).
const HMAC_SM3_FOX: &str = "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398";
