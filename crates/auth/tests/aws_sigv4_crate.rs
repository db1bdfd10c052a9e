//! Requests signed by the official `aws-sigv4` crate (the signer inside the AWS SDK for Rust) must
//! verify, and must stop verifying when any signed byte changes. This is the independent oracle:
//! the unit tests sign with our own canonicalisation, so they cannot catch a shared mistake.

use std::time::{Duration as StdDuration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderValue};
use keypaird_auth::sigv4::{self, SigV4Error, SigV4Form, SignedRequest};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEJr//////////wEaDKrmW+session/token==";
const NOW: OffsetDateTime = datetime!(2026-11-22 11:55:11 UTC);
const ENDPOINT: &str = "http://127.0.0.1:8080";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// What arrives at the server after the SDK signed and sent it.
struct Wire {
    method: &'static str,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Wire {
    fn req(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            service: "ec2",
        }
    }

    fn check(&self, now: OffsetDateTime) -> Result<sigv4::SigV4Auth, SigV4Error> {
        let auth = sigv4::parse(&self.req())?;
        sigv4::verify(&self.req(), &auth, SECRET, now)?;
        Ok(auth)
    }
}

struct Signing<'a> {
    method: &'static str,
    path_and_query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: SignableBody<'a>,
    raw_body: &'a [u8],
    token: Option<&'a str>,
    settings: SigningSettings,
}

impl<'a> Signing<'a> {
    fn new(method: &'static str, path_and_query: &'a str) -> Self {
        Signing {
            method,
            path_and_query,
            headers: &[],
            body: SignableBody::Bytes(&[]),
            raw_body: &[],
            token: None,
            settings: SigningSettings::default(),
        }
    }

    fn body(mut self, body: &'a [u8]) -> Self {
        self.body = SignableBody::Bytes(body);
        self.raw_body = body;
        self
    }

    fn presigned(mut self, expires: u64) -> Self {
        self.settings.signature_location = SignatureLocation::QueryParams;
        self.settings.expires_in = Some(StdDuration::from_secs(expires));
        self
    }

    /// Signs with `aws-sigv4` and returns what a server would receive.
    fn sign(self) -> Wire {
        let identity: Identity =
            Credentials::new(AKID, SECRET, self.token.map(String::from), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ec2")
            .time(SystemTime::from(NOW))
            .settings(self.settings)
            .build()
            .unwrap()
            .into();
        let uri = format!("{ENDPOINT}{}", self.path_and_query);
        let signable = SignableRequest::new(
            self.method,
            uri.as_str(),
            self.headers.iter().copied(),
            self.body,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();

        let mut request = http::Request::builder().method(self.method).uri(&uri);
        for (name, value) in self.headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);

        let mut headers = request.headers().clone();
        // The HTTP client adds Host from the URI; the signer signed it the same way.
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        Wire {
            method: self.method,
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or("").to_string(),
            headers,
            body: self.raw_body.to_vec(),
        }
    }
}

/// Flipping any one signed byte must break the signature.
fn assert_tamper_evident(wire: &Wire) {
    fn flip(s: &str, at: usize) -> String {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).unwrap()
    }
    let mismatch = |w: &Wire, what: &str| match w.check(NOW) {
        Err(SigV4Error::Mismatch(_)) => {}
        other => panic!("{what}: expected Mismatch, got {other:?}"),
    };

    // The signature itself.
    let mut w = copy(wire);
    if let Some(h) = w.headers.get("authorization") {
        let h = h.to_str().unwrap().to_string();
        let at = h.len() - 1;
        w.headers.insert(
            "authorization",
            HeaderValue::from_str(&flip(&h, at)).unwrap(),
        );
    } else {
        let at = w.query.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        w.query = flip(&w.query, at);
    }
    mismatch(&w, "signature");

    // Each body byte is covered: try first, middle and last.
    for at in [0, wire.body.len() / 2, wire.body.len().saturating_sub(1)] {
        if wire.body.is_empty() {
            break;
        }
        let mut w = copy(wire);
        w.body[at] ^= 0x01;
        mismatch(&w, &format!("body byte {at}"));
    }

    // A value in the query that is not part of the signature itself.
    if let Some(at) = wire.query.find("Action=") {
        let mut w = copy(wire);
        w.query = flip(&w.query, at + "Action=".len());
        mismatch(&w, "query");
    }

    // Every signed header, one at a time.
    let auth = sigv4::parse(&wire.req()).unwrap();
    for name in &auth.signed_headers {
        let mut w = copy(wire);
        let v = w.headers[name.as_str()].to_str().unwrap().to_string();
        let at = v.len() - 1;
        let header = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        w.headers
            .insert(header, HeaderValue::from_str(&flip(&v, at)).unwrap());
        match w.check(NOW) {
            Err(SigV4Error::Mismatch(_)) => {}
            // Changing the date moves the request time, which the clock or scope may catch first.
            Err(SigV4Error::Expired | SigV4Error::Incomplete(_)) if name == "x-amz-date" => {}
            other => panic!("header {name}: expected Mismatch, got {other:?}"),
        }
    }
}

fn copy(w: &Wire) -> Wire {
    Wire {
        method: w.method,
        path: w.path.clone(),
        query: w.query.clone(),
        headers: w.headers.clone(),
        body: w.body.clone(),
    }
}

const CREATE_BODY: &[u8] = b"Action=CreateKeyPair&Version=2016-11-15&KeyName=my+key+%C3%A9t%C3%A9\
&KeyType=ed25519&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team\
&TagSpecification.1.Tag.1.Value=platform+%26+infra%2Fcore";

#[test]
fn header_form_post_with_form_body() {
    let mut s = Signing::new("POST", "/").body(CREATE_BODY);
    s.headers = &[("content-type", FORM)];
    let wire = s.sign();
    let auth = wire.check(NOW).unwrap();
    assert_eq!(auth.form, SigV4Form::Header);
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
    assert_tamper_evident(&wire);
}

/// The Java SDK v2 signs its own bookkeeping headers and the content length.
#[test]
fn header_form_with_java_sdk_style_headers_and_session_token() {
    let len = CREATE_BODY.len().to_string();
    let mut s = Signing::new("POST", "/").body(CREATE_BODY);
    let headers = [
        ("content-type", FORM),
        (
            "amz-sdk-invocation-id",
            "3d0b6e4c-9d5e-4bfb-a4c5-0e5f3a1c7e21",
        ),
        ("amz-sdk-retry", "attempt=1; max=3"),
        ("content-length", len.as_str()),
        ("user-agent", "aws-sdk-java/2.25.0"),
        ("x-spaced", "  two   inner  runs  "),
    ];
    s.headers = &headers;
    s.token = Some(TOKEN);
    let wire = s.sign();
    let auth = wire.check(NOW).unwrap();
    assert_eq!(
        auth.signed_headers,
        [
            "amz-sdk-invocation-id",
            "amz-sdk-retry",
            "content-length",
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-spaced",
        ]
    );
    assert_tamper_evident(&wire);
    // user-agent is deliberately left unsigned by the SDK: changing it is harmless.
    let mut w = copy(&wire);
    w.headers
        .insert("user-agent", HeaderValue::from_static("something/else"));
    w.check(NOW).unwrap();
}

#[test]
fn header_form_get_with_query_params() {
    let wire = Signing::new(
        "GET",
        "/?Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=a+b&KeyName.2=%C3%A9t%C3%A9\
         &Filter.1.Name=tag%3AOwner&Filter.1.Value.1=%2A&IncludePublicKey=true",
    )
    .sign();
    wire.check(NOW).unwrap();
    assert_tamper_evident(&wire);
    // '+' in the raw query is a space to the signer, as to the API layer.
    let mut w = copy(&wire);
    w.query = w.query.replace("a+b", "a%20b");
    w.check(NOW).unwrap();
    w.query = w.query.replace("a%20b", "a%2Bb");
    assert!(matches!(w.check(NOW), Err(SigV4Error::Mismatch(_))));
}

#[test]
fn header_form_with_content_sha256_header() {
    let mut s = Signing::new("POST", "/").body(CREATE_BODY);
    s.headers = &[("content-type", FORM)];
    s.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let wire = s.sign();
    let auth = wire.check(NOW).unwrap();
    assert!(auth
        .signed_headers
        .contains(&"x-amz-content-sha256".to_string()));
    assert_tamper_evident(&wire);
}

#[test]
fn header_form_under_a_path_prefix_is_double_encoded() {
    let mut s = Signing::new("POST", "/ec2%20api/v1/").body(CREATE_BODY);
    s.headers = &[("content-type", FORM)];
    let wire = s.sign();
    assert_eq!(wire.path, "/ec2%20api/v1/");
    wire.check(NOW).unwrap();
    assert_tamper_evident(&wire);
}

#[test]
fn header_form_clock_window() {
    let mut s = Signing::new("POST", "/").body(CREATE_BODY);
    s.headers = &[("content-type", FORM)];
    let wire = s.sign();
    wire.check(NOW + Duration::minutes(15)).unwrap();
    assert_eq!(
        wire.check(NOW + Duration::minutes(16)).unwrap_err(),
        SigV4Error::Expired
    );
    assert_eq!(
        wire.check(NOW - Duration::minutes(16)).unwrap_err(),
        SigV4Error::Expired
    );
}

#[test]
fn presigned_get() {
    let wire = Signing::new(
        "GET",
        "/?Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=a+b&KeyName.2=%C3%A9",
    )
    .presigned(900)
    .sign();
    assert!(wire.headers.get("authorization").is_none());
    let auth = wire.check(NOW).unwrap();
    assert_eq!(auth.form, SigV4Form::Presigned);
    assert_eq!(auth.expires_seconds, Some(900));
    assert_eq!(auth.signed_headers, ["host"]);
    wire.check(NOW + Duration::seconds(900)).unwrap();
    assert_eq!(
        wire.check(NOW + Duration::seconds(901)).unwrap_err(),
        SigV4Error::Expired
    );
    assert_tamper_evident(&wire);
}

#[test]
fn presigned_with_session_token_and_extra_header() {
    let mut s = Signing::new("GET", "/?Action=DescribeKeyPairs&Version=2016-11-15").presigned(60);
    s.token = Some(TOKEN);
    s.headers = &[(
        "amz-sdk-invocation-id",
        "3d0b6e4c-9d5e-4bfb-a4c5-0e5f3a1c7e21",
    )];
    let wire = s.sign();
    assert!(wire.query.contains("X-Amz-Security-Token="));
    let auth = wire.check(NOW).unwrap();
    assert_eq!(auth.signed_headers, ["amz-sdk-invocation-id", "host"]);
    assert_tamper_evident(&wire);
    // The token is part of the canonical query: it cannot be swapped.
    let mut w = copy(&wire);
    w.query = w.query.replace("session", "sessioN");
    assert!(matches!(w.check(NOW), Err(SigV4Error::Mismatch(_))));
}

/// The SDK presigners sign the literal UNSIGNED-PAYLOAD; with no body that is accepted.
#[test]
fn presigned_unsigned_payload() {
    let mut s = Signing::new("GET", "/?Action=DescribeKeyPairs&Version=2016-11-15").presigned(60);
    s.body = SignableBody::UnsignedPayload;
    let wire = s.sign();
    wire.check(NOW).unwrap();
    assert_tamper_evident(&wire);
    // A body smuggled under it is refused (same method, so only the body differs).
    let mut w = copy(&wire);
    w.body = b"Action=DeleteKeyPair&KeyName=victim".to_vec();
    assert!(matches!(w.check(NOW), Err(SigV4Error::Mismatch(_))));
}

#[test]
fn other_secret_or_region_scope_fails() {
    let mut s = Signing::new("POST", "/").body(CREATE_BODY);
    s.headers = &[("content-type", FORM)];
    let wire = s.sign();
    let auth = sigv4::parse(&wire.req()).unwrap();
    assert!(matches!(
        sigv4::verify(&wire.req(), &auth, "another-secret", NOW),
        Err(SigV4Error::Mismatch(_))
    ));
    let mut auth = auth;
    auth.region = "eu-west-1".into();
    assert!(matches!(
        sigv4::verify(&wire.req(), &auth, SECRET, NOW),
        Err(SigV4Error::Mismatch(_))
    ));
}
