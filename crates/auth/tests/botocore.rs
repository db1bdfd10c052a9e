//! Requests signed by real botocore (the signer inside boto3 and the aws CLI) must verify here.
//!
//! The constants below were generated once, not at test time, by
//! `python3 crates/auth/tests/fixtures/gen_botocore.py`: it patches
//! `botocore.auth.get_current_datetime` to a fixed instant, signs with fixed credentials through
//! `botocore.auth.SigV4Auth` / `SigV4QueryAuth` on a hand-made `AWSRequest` and through a real
//! boto3 EC2 client (`create_key_pair`, `generate_presigned_url`), catches the requests in a
//! before-send hook, and prints them. Host is added as urllib3 would send it. To refresh them,
//! run the script and paste its output over the `fixtures` module.
//!
//! `generate_presigned_url` signs with the operation's HTTP method, which for EC2 is POST, though
//! the URL is meant to be opened with GET.
//!
//! botocore signs every header it has at signing time except a short blacklist (user-agent,
//! expect, transfer-encoding, …); `amz-sdk-invocation-id`, `amz-sdk-request` and `Content-Length`
//! are added after signing, so they travel unsigned.

use http::{HeaderMap, HeaderName, HeaderValue};
use keypaird_auth::sigv4::{self, SigV4Auth, SigV4Error, SigV4Form, SignedRequest};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The instant botocore's clock was frozen at.
const SIGNED_AT: OffsetDateTime = datetime!(2026-11-22 11:55:11 UTC);

pub struct Fixture {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
}

#[rustfmt::skip]
mod fixtures {
    use super::Fixture;
    // botocore 1.43.11, boto3 1.43.11, clock frozen at 2026-11-22T11:55:11Z
    pub const DIRECT_HEADER: Fixture = Fixture {
        method: "POST",
        path: "/",
        query: "",
        headers: &[
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", "127.0.0.1:8080"),
            ("X-Amz-Date", "20261122T115511Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=937b2508501384e04a62a1a7731b32125f4c88a0fe2a96ae5700f772d31e247b"),
            ("Content-Length", "216"),
        ],
        body: b"Action=CreateKeyPair&Version=2016-11-15&KeyName=my+key+%C3%A9t%C3%A9&KeyType=ed25519&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=platform+%26+infra%2Fcore",
    };
    pub const DIRECT_PRESIGNED: Fixture = Fixture {
        method: "GET",
        path: "/",
        query: "Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=my%20key%20%C3%A9t%C3%A9&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261122T115511Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEEXAMPLE%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQD%2Bsession%3D%3D&X-Amz-Signature=b90b0fbd97bb292efe8966eeeb8b690319ff94501fe4297e5d3d665cbd3a6f7d",
        headers: &[
            ("Host", "127.0.0.1:8080"),
        ],
        body: b"",
    };
    pub const CLIENT_HEADER: Fixture = Fixture {
        method: "POST",
        path: "/",
        query: "",
        headers: &[
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v595 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/e,N,b,Z,D cfg/retry-mode#legacy Botocore/1.43.11"),
            ("X-Amz-Date", "20261122T115511Z"),
            ("X-Amz-Security-Token", "IQoJb3JpZ2luX2VjEEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+session=="),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=b67dc67f6ebfe4a2f2af57df6ed58d73b1aaec2095f6843bd818307fa475619a"),
            ("amz-sdk-invocation-id", "cd79d42f-80c2-4aba-85d9-b71b6a355da7"),
            ("amz-sdk-request", "attempt=1"),
            ("Content-Length", "216"),
            ("Host", "127.0.0.1:8080"),
        ],
        body: b"Action=CreateKeyPair&Version=2016-11-15&KeyName=my+key+%C3%A9t%C3%A9&KeyType=ed25519&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=platform+%26+infra%2Fcore",
    };
    pub const CLIENT_PRESIGNED: Fixture = Fixture {
        method: "GET",
        path: "/",
        query: "Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=my%20key%20%C3%A9t%C3%A9&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261122T115511Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEEXAMPLE%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQD%2Bsession%3D%3D&X-Amz-Signature=7e7574ddc277bec1dd1849b659d1724fd4d137984e55bff7c99223bbfec126ee",
        headers: &[
            ("Host", "127.0.0.1:8080"),
        ],
        body: b"",
    };
}

use fixtures::*;

struct Wire {
    method: &'static str,
    path: &'static str,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Wire {
    fn from(f: &Fixture) -> Wire {
        let mut headers = HeaderMap::new();
        for (name, value) in f.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        Wire {
            method: f.method,
            path: f.path,
            query: f.query.to_string(),
            headers,
            body: f.body.to_vec(),
        }
    }

    fn req(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: self.method,
            path: self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            service: "ec2",
        }
    }

    fn check(&self, now: OffsetDateTime) -> Result<SigV4Auth, SigV4Error> {
        let auth = sigv4::parse(&self.req())?;
        sigv4::verify(&self.req(), &auth, SECRET, now)?;
        Ok(auth)
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }
}

fn assert_mismatch(w: &Wire, what: &str) {
    match w.check(SIGNED_AT) {
        Err(SigV4Error::Mismatch(_)) => {}
        other => panic!("{what}: expected Mismatch, got {other:?}"),
    }
}

/// Flips one byte of the body, of an operation parameter in the query, and of the signature.
fn assert_tamper_evident(f: &Fixture) {
    if !f.body.is_empty() {
        for at in [0, f.body.len() / 2, f.body.len() - 1] {
            let mut w = Wire::from(f);
            w.body[at] ^= 0x01;
            assert_mismatch(&w, &format!("body byte {at}"));
        }
    }
    if !f.query.is_empty() {
        let mut w = Wire::from(f);
        w.query = w.query.replacen("DescribeKeyPairs", "DescribeKeyPairz", 1);
        assert_mismatch(&w, "query");
        let mut w = Wire::from(f);
        w.query = w.query.replacen("my%20key", "my%20kez", 1);
        assert_mismatch(&w, "query value");
    }
    let mut w = Wire::from(f);
    let flip = |s: &str| {
        let (head, last) = s.split_at(s.len() - 1);
        format!("{head}{}", if last == "0" { "1" } else { "0" })
    };
    if let Some(h) = w.headers.get("authorization") {
        let h = flip(h.to_str().unwrap());
        w.set("authorization", &h);
    } else {
        w.query = flip(&w.query);
    }
    assert_mismatch(&w, "signature");
}

#[test]
fn sigv4auth_header_form() {
    let auth = Wire::from(&DIRECT_HEADER).check(SIGNED_AT).unwrap();
    assert_eq!(auth.form, SigV4Form::Header);
    assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
    assert_eq!(auth.region, "us-east-1");
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
    assert_tamper_evident(&DIRECT_HEADER);
}

#[test]
fn sigv4queryauth_presigned_form() {
    let auth = Wire::from(&DIRECT_PRESIGNED).check(SIGNED_AT).unwrap();
    assert_eq!(auth.form, SigV4Form::Presigned);
    assert_eq!(auth.expires_seconds, Some(300));
    assert_eq!(auth.signed_headers, ["host"]);
    assert_tamper_evident(&DIRECT_PRESIGNED);
}

#[test]
fn boto3_client_create_key_pair() {
    let auth = Wire::from(&CLIENT_HEADER).check(SIGNED_AT).unwrap();
    assert_eq!(
        auth.signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
    assert_tamper_evident(&CLIENT_HEADER);

    // What botocore leaves unsigned may change in transit; what it signs may not.
    let mut w = Wire::from(&CLIENT_HEADER);
    w.set("user-agent", "curl/8");
    w.set("amz-sdk-request", "attempt=2; max=5");
    w.set(
        "amz-sdk-invocation-id",
        "00000000-0000-0000-0000-000000000000",
    );
    w.check(SIGNED_AT).unwrap();
    let mut w = Wire::from(&CLIENT_HEADER);
    w.set("x-amz-security-token", "another-token");
    assert_mismatch(&w, "session token");
    let mut w = Wire::from(&CLIENT_HEADER);
    w.set("host", "127.0.0.1:8081");
    assert_mismatch(&w, "host");
}

/// botocore signs this URL with EC2's operation method, POST, although it will be opened with
/// GET (as the fixture records it). Both must work.
#[test]
fn boto3_client_generate_presigned_url() {
    let auth = Wire::from(&CLIENT_PRESIGNED).check(SIGNED_AT).unwrap();
    let mut as_post = Wire::from(&CLIENT_PRESIGNED);
    as_post.method = "POST";
    as_post.check(SIGNED_AT).unwrap();
    assert_eq!(auth.expires_seconds, Some(600));
    assert_tamper_evident(&CLIENT_PRESIGNED);
    // The session token travels in the query and is signed there.
    let mut w = Wire::from(&CLIENT_PRESIGNED);
    w.query = w.query.replacen("session%3D%3D", "session%3D", 1);
    assert_mismatch(&w, "session token");
}

#[test]
fn clock_rules() {
    for f in [&DIRECT_HEADER, &CLIENT_HEADER] {
        let w = Wire::from(f);
        w.check(SIGNED_AT + Duration::minutes(15)).unwrap();
        w.check(SIGNED_AT - Duration::minutes(15)).unwrap();
        assert_eq!(
            w.check(SIGNED_AT + Duration::minutes(16)).unwrap_err(),
            SigV4Error::Expired
        );
        assert_eq!(
            w.check(SIGNED_AT - Duration::minutes(16)).unwrap_err(),
            SigV4Error::Expired
        );
    }
    for (f, expires) in [(&DIRECT_PRESIGNED, 300), (&CLIENT_PRESIGNED, 600)] {
        let w = Wire::from(f);
        w.check(SIGNED_AT + Duration::seconds(expires)).unwrap();
        assert_eq!(
            w.check(SIGNED_AT + Duration::seconds(expires + 1))
                .unwrap_err(),
            SigV4Error::Expired
        );
    }
}

#[test]
fn wrong_secret() {
    for f in [
        &DIRECT_HEADER,
        &DIRECT_PRESIGNED,
        &CLIENT_HEADER,
        &CLIENT_PRESIGNED,
    ] {
        let w = Wire::from(f);
        let auth = sigv4::parse(&w.req()).unwrap();
        assert!(matches!(
            sigv4::verify(
                &w.req(),
                &auth,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX",
                SIGNED_AT
            ),
            Err(SigV4Error::Mismatch(_))
        ));
    }
}
