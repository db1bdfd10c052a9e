//! Request signing. Every request is signed afresh: SigV4 by the official `aws-sigv4` crate for
//! EC2; for ECS, Alibaba's RPC v1 (HMAC-SHA1 over the parameters of a GET, as
//! aliyun-python-sdk-core sends it) or V3 (ACS3-HMAC-SHA256 over signed headers, as the Tea SDK
//! `alibabacloud-tea-openapi` sends it), written out here, with a new nonce each time. So
//! keypaird verifies each request exactly as it would in production.
//!
//! The time and nonce that make a signature unique come in a [`Stamp`]: [`Signer::request`]
//! takes a fresh one, [`Signer::sign`] the one it is given (what `keypaird-load sign` prints),
//! and both go through the same code.

use std::time::SystemTime;

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_lc_rs::{digest, hmac};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

pub const ACCESS_KEY_ID: &str = "scalekey";
pub const SECRET_ACCESS_KEY: &str = "scalesecret";
pub const EC2_VERSION: &str = "2016-11-15";
pub const EC2_REGION: &str = "us-east-1";
pub const ECS_VERSION: &str = "2014-05-26";
pub const ECS_REGION: &str = "cn-hangzhou";
/// `X-Amz-Target` of CloudTrail's LookupEvents (API 2013-11-01).
pub const CLOUDTRAIL_LOOKUP_TARGET: &str =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
const AMZ_JSON: &str = "application/x-amz-json-1.1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// RFC 3986 unreserved characters stay; everything else is %XY, as v1 signing wants it.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// `Timestamp` (v1) and `x-acs-date` (V3).
pub const ACS_TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

pub type Params = Vec<(&'static str, String)>;

/// Which API a request speaks; all sign with the same access key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Ec2,
    Ecs,
    /// AWS CloudTrail's JSON protocol (`LookupEvents`): the call's one parameter, `Body`, is
    /// the JSON body; SigV4 for the service `cloudtrail` in us-east-1.
    CloudTrail,
}

/// Which of Alibaba's signatures an ECS request carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EcsScheme {
    /// RPC v1: HMAC-SHA1, every parameter in the query of a GET.
    #[default]
    V1,
    /// V3: ACS3-HMAC-SHA256 in `Authorization`, the action in `x-acs-action`, a POST.
    V3,
}

/// What makes a signature unique: the signing time (to the second) and, for ECS, the nonce.
#[derive(Clone, Debug)]
pub struct Stamp {
    pub time: OffsetDateTime,
    pub nonce: String,
}

impl Stamp {
    /// Now, and a new random nonce (32 hex digits, as the SDKs send).
    pub fn fresh() -> Self {
        Stamp {
            time: OffsetDateTime::now_utc(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// A signed request as it goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: &'static str,
    /// The request target: `/`, or `/?` and the query.
    pub target: String,
    /// In the order they are sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The signature alone (SigV4 and V3: hex; v1: base64), as it appears in the request.
    pub signature: String,
}

impl SignedRequest {
    /// The whole HTTP/1.1 request, ready to write to the socket.
    pub fn to_http1(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out.into_bytes()
    }
}

/// Signs requests for one server (`host` is `127.0.0.1:PORT`, part of what is signed).
pub struct Signer {
    host: String,
    access_key_id: String,
    secret: String,
    identity: Identity,
    v1_key: hmac::Key,
    ecs: EcsScheme,
}

impl Signer {
    /// The `scale` benchmark's fixed credentials, ECS with v1.
    pub fn new(host: &str) -> Self {
        Signer::with_credentials(host, ACCESS_KEY_ID, SECRET_ACCESS_KEY, EcsScheme::V1)
    }

    pub fn with_credentials(host: &str, access_key_id: &str, secret: &str, ecs: EcsScheme) -> Self {
        let identity: Identity =
            Credentials::new(access_key_id, secret, None, None, "keypaird-bench").into();
        let v1_key = hmac::Key::new(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            format!("{secret}&").as_bytes(),
        );
        Signer {
            host: host.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret: secret.to_owned(),
            identity,
            v1_key,
            ecs,
        }
    }

    pub fn ecs_scheme(&self) -> EcsScheme {
        self.ecs
    }

    /// The request signed now, with a new nonce, ready to write to the socket.
    pub fn request(&self, dialect: Dialect, params: &[(&'static str, String)]) -> Vec<u8> {
        self.sign(dialect, params, &Stamp::fresh()).to_http1()
    }

    /// The request signed at `stamp`'s time with its nonce. `params` holds the action's
    /// parameters (with `Action`); the signer adds the version and the dialect's common ones.
    pub fn sign<N: AsRef<str>, V: AsRef<str>>(
        &self,
        dialect: Dialect,
        params: &[(N, V)],
        stamp: &Stamp,
    ) -> SignedRequest {
        let params = params.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
        match (dialect, self.ecs) {
            (Dialect::Ec2, _) => self.ec2(params, stamp),
            (Dialect::CloudTrail, _) => self.cloudtrail(params, stamp),
            (Dialect::Ecs, EcsScheme::V1) => self.ecs_v1(params, stamp),
            (Dialect::Ecs, EcsScheme::V3) => self.ecs_v3(params, stamp),
        }
    }

    /// `POST /` with a form body, as boto3 sends EC2 query requests.
    fn ec2<'a>(
        &self,
        params: impl Iterator<Item = (&'a str, &'a str)>,
        stamp: &Stamp,
    ) -> SignedRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            form.append_pair(name, value);
        }
        form.append_pair("Version", EC2_VERSION);
        let body = form.finish();
        self.signed_post(body, stamp, "ec2", &[("Content-Type", FORM)])
    }

    /// `POST /` with the JSON body (the `Body` parameter) and `X-Amz-Target` of LookupEvents,
    /// signed for `cloudtrail` (both headers signed, as the SDKs sign them).
    fn cloudtrail<'a>(
        &self,
        mut params: impl Iterator<Item = (&'a str, &'a str)>,
        stamp: &Stamp,
    ) -> SignedRequest {
        let body = params
            .find(|(name, _)| *name == "Body")
            .map_or("{}", |(_, body)| body)
            .to_owned();
        self.signed_post(
            body,
            stamp,
            "cloudtrail",
            &[
                ("Content-Type", AMZ_JSON),
                ("X-Amz-Target", CLOUDTRAIL_LOOKUP_TARGET),
            ],
        )
    }

    /// `POST /` of `body` with `headers` (all signed, as the SDKs sign them), signed with SigV4
    /// for `service`: Host, `headers`, Content-Length, then the signature's headers.
    fn signed_post(
        &self,
        body: String,
        stamp: &Stamp,
        service: &str,
        headers: &[(&str, &str)],
    ) -> SignedRequest {
        let lower: Vec<(String, &str)> = headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), *value))
            .collect();
        let to_sign: Vec<(&str, &str)> = lower.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let signed = self
            .sigv4(&body, stamp.time.into(), service, &to_sign)
            // Signing fails only on a malformed URI or settings, both fixed here.
            .expect("SigV4 signing of a fixed-shape request");
        let mut all = vec![("Host".to_owned(), self.host.clone())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        all.push(("Content-Length".to_owned(), body.len().to_string()));
        all.extend(signed);
        let signature = all
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| value.rsplit_once("Signature="))
            .map(|(_, signature)| signature.to_owned())
            .unwrap_or_default();
        SignedRequest {
            method: "POST",
            target: "/".to_owned(),
            headers: all,
            body,
            signature,
        }
    }

    /// The headers `aws-sigv4` adds (`x-amz-date`, `authorization`) for `service` in us-east-1,
    /// signing `headers` (and Host, from the URI).
    fn sigv4(
        &self,
        body: &str,
        time: SystemTime,
        service: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(EC2_REGION)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .context("SigV4 parameters")?
            .into();
        let uri = format!("http://{}/", self.host);
        // Host is signed from the URI, the way the SDK's HTTP client sends it.
        let signable = SignableRequest::new(
            "POST",
            uri.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .context("SigV4 request")?;
        let (instructions, _) = sign(signable, &params).context("SigV4")?.into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }

    /// `GET /?…` with every parameter in the query, as aliyun-python-sdk-core sends it (its
    /// common parameters, `SignatureType` empty included).
    fn ecs_v1<'a>(
        &self,
        params: impl Iterator<Item = (&'a str, &'a str)>,
        stamp: &Stamp,
    ) -> SignedRequest {
        let timestamp = acs_timestamp(stamp.time);
        let common: [(&str, &str); 9] = [
            ("Version", ECS_VERSION),
            ("Format", "JSON"),
            ("RegionId", ECS_REGION),
            ("AccessKeyId", &self.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &stamp.nonce),
            ("Timestamp", &timestamp),
        ];
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        for (name, value) in params {
            pairs.push((name, value));
        }
        pairs.extend(common);
        let (canonical, signature) = v1_sign(&self.v1_key, pairs.into_iter());
        SignedRequest {
            method: "GET",
            target: format!("/?{canonical}&Signature={}", encode(&signature)),
            headers: vec![("Host".to_owned(), self.host.clone())],
            body: String::new(),
            signature,
        }
    }

    /// `POST /?…` with the parameters in the query and an empty body, the action and version
    /// in `x-acs-*` headers and every header signed, as the Tea SDK sends RPC calls.
    fn ecs_v3<'a>(
        &self,
        params: impl Iterator<Item = (&'a str, &'a str)>,
        stamp: &Stamp,
    ) -> SignedRequest {
        let mut action = "";
        let query: Vec<(&str, &str)> = params
            .filter(|&(name, value)| {
                let is_action = name == "Action";
                if is_action {
                    action = value;
                }
                !is_action
            })
            .chain([("RegionId", ECS_REGION)])
            .collect();
        let query = canonical_query(query.into_iter());
        let date = acs_timestamp(stamp.time);
        let empty_body = hex_sha256(b"");
        // Sorted by name, as the SDK signs them.
        let signed: [(&str, &str); 7] = [
            ("accept", "application/json"),
            ("host", &self.host),
            ("x-acs-action", action),
            ("x-acs-content-sha256", &empty_body),
            ("x-acs-date", &date),
            ("x-acs-signature-nonce", &stamp.nonce),
            ("x-acs-version", ECS_VERSION),
        ];
        let canonical = v3_canonical_request("POST", &query, &signed, &empty_body);
        let signature = v3_signature(&self.secret, &canonical);
        let names: Vec<&str> = signed.iter().map(|(name, _)| *name).collect();
        let mut headers: Vec<(String, String)> = signed
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        headers.push((
            "Authorization".to_owned(),
            format!(
                "{V3_ALGORITHM} Credential={},SignedHeaders={},Signature={signature}",
                self.access_key_id,
                names.join(";")
            ),
        ));
        headers.push(("Content-Length".to_owned(), "0".to_owned()));
        SignedRequest {
            method: "POST",
            target: format!("/?{query}"),
            headers,
            body: String::new(),
            signature,
        }
    }
}

fn acs_timestamp(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(ACS_TIMESTAMP)
        .expect("formatting a UTC timestamp")
}

/// Every pair RFC 3986-encoded, sorted by encoded name then value, `name=value` joined with
/// `&`: the canonical query of both v1 and V3.
fn canonical_query<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .map(|(name, value)| (encode(name), encode(value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Alibaba RPC v1 over a GET's parameters: returns the canonical (sorted, RFC 3986) query,
/// which is also what is sent, and the base64 HMAC-SHA1 signature.
fn v1_sign<'a>(
    key: &hmac::Key,
    params: impl Iterator<Item = (&'a str, &'a str)>,
) -> (String, String) {
    let canonical = canonical_query(params);
    let string_to_sign = format!("GET&%2F&{}", encode(&canonical));
    let tag = hmac::sign(key, string_to_sign.as_bytes());
    (
        canonical,
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
    )
}

/// V3's canonical request: method, the fixed URI `/`, the canonical query, `name:value` of
/// each signed header (lowercase names, in the order given), the `;`-joined names, and the
/// payload's hex SHA-256.
fn v3_canonical_request(
    method: &str,
    canonical_query: &str,
    signed_headers: &[(&str, &str)],
    payload_sha256: &str,
) -> String {
    let mut out = format!("{method}\n/\n{canonical_query}\n");
    for (name, value) in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = signed_headers.iter().map(|(name, _)| *name).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(payload_sha256);
    out
}

/// Hex HMAC-SHA256, keyed with the raw secret, of `ACS3-HMAC-SHA256\n` + hex SHA-256 of the
/// canonical request.
fn v3_signature(secret: &str, canonical_request: &str) -> String {
    let string_to_sign = format!(
        "{V3_ALGORITHM}\n{}",
        hex_sha256(canonical_request.as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, string_to_sign.as_bytes()))
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// A fresh `ssh-ed25519 AAAA… comment` line, for ECS ImportKeyPair.
pub fn ed25519_public_line(comment: &str) -> String {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let key = Ed25519KeyPair::generate().expect("Ed25519 key generation");
    let public = key.public_key().as_ref();
    // The SSH wire blob (RFC 8709): string "ssh-ed25519", string key.
    let mut blob = Vec::with_capacity(51);
    for part in [b"ssh-ed25519".as_slice(), public] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Alibaba's published v1 test vector (see /work/shared/reference/alibaba-ecs.md).
    #[test]
    fn acs_v1_test_vector() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"testsecret&");
        let (_, signature) = v1_sign(&key, params.into_iter());
        assert_eq!(signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    /// A request the Tea SDK (alibabacloud-tea-openapi 0.4.6) signed, captured on the wire
    /// (crates/auth/tests/acs_sdk_fixtures.rs, `TEA_V3_DESCRIBE`): the same canonical request
    /// and signature from these functions.
    #[test]
    fn acs_v3_tea_sdk_request() {
        let query = canonical_query(
            [
                ("IncludePublicKey", "True"),
                ("KeyPairName", "my key*"),
                ("PageSize", "50"),
                ("RegionId", "cn-hangzhou"),
            ]
            .into_iter(),
        );
        assert_eq!(
            query,
            "IncludePublicKey=True&KeyPairName=my%20key%2A&PageSize=50&RegionId=cn-hangzhou"
        );
        let empty = hex_sha256(b"");
        let headers = [
            ("accept", "application/json"),
            ("host", "127.0.0.1:18931"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            ),
            ("x-acs-action", "DescribeKeyPairs"),
            ("x-acs-content-sha256", &empty),
            ("x-acs-credentials-provider", "static_ak"),
            ("x-acs-date", "2026-11-22T11:55:11Z"),
            ("x-acs-signature-nonce", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
            ("x-acs-version", "2014-05-26"),
        ];
        let canonical = v3_canonical_request("POST", &query, &headers, &empty);
        assert_eq!(
            canonical,
            "POST\n/\nIncludePublicKey=True&KeyPairName=my%20key%2A&PageSize=50&RegionId=cn-hangzhou\n\
             accept:application/json\nhost:127.0.0.1:18931\n\
             user-agent:AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n\
             x-acs-action:DescribeKeyPairs\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-credentials-provider:static_ak\nx-acs-date:2026-11-22T11:55:11Z\n\
             x-acs-signature-nonce:9f8e7d6c5b4a39281706f5e4d3c2b1a0\nx-acs-version:2014-05-26\n\n\
             accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;\
             x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            v3_signature("EXAMPLEsecret/Key+0123456789abcdef", &canonical),
            SDK_V3_DESCRIBE_SIGNATURE
        );
    }

    /// The Signature in `TEA_V3_DESCRIBE`'s Authorization header.
    const SDK_V3_DESCRIBE_SIGNATURE: &str =
        "6f12b784f7e7f1635f2a676a387203a25f9b0e08d7fa6db98babd32424e3b333";

    fn stamp() -> Stamp {
        Stamp {
            time: datetime!(2026-11-22 11:55:11 UTC),
            nonce: "5b1c2e0cfd6b4c2b8c2e0f1d2a3b4c5d".to_owned(),
        }
    }

    fn signer(ecs: EcsScheme) -> Signer {
        Signer::with_credentials("127.0.0.1:8080", "AKID", "secret", ecs)
    }

    /// The one header of this name (any case).
    fn header<'a>(signed: &'a SignedRequest, name: &str) -> Option<&'a str> {
        let mut values = signed
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let value = values.next();
        assert_eq!(values.next(), None, "{name} twice");
        value
    }

    #[test]
    fn v3_request_shape() {
        let signer = signer(EcsScheme::V3);
        let params = [("Action", "DescribeKeyPairs"), ("KeyPairName", "a b/é")];
        let signed = signer.sign(Dialect::Ecs, &params, &stamp());
        assert_eq!(
            (signed.method, signed.target.as_str()),
            ("POST", "/?KeyPairName=a%20b%2F%C3%A9&RegionId=cn-hangzhou")
        );
        assert_eq!(header(&signed, "x-acs-action"), Some("DescribeKeyPairs"));
        assert_eq!(header(&signed, "x-acs-date"), Some("2026-11-22T11:55:11Z"));
        assert_eq!(
            header(&signed, "x-acs-signature-nonce"),
            Some("5b1c2e0cfd6b4c2b8c2e0f1d2a3b4c5d")
        );
        let authorization = header(&signed, "Authorization").unwrap();
        assert_eq!(
            authorization,
            format!(
                "ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=accept;host;x-acs-action;\
                 x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
                 Signature={}",
                signed.signature
            )
        );
        assert_eq!(signed.signature.len(), 64);
        // The same stamp signs the same request; another nonce another one.
        assert_eq!(signer.sign(Dialect::Ecs, &params, &stamp()), signed);
        let other = Stamp {
            nonce: "another".to_owned(),
            ..stamp()
        };
        assert_ne!(
            signer.sign(Dialect::Ecs, &params, &other).signature,
            signed.signature
        );
    }

    #[test]
    fn v1_request_shape() {
        let params = [("Action", "DescribeKeyPairs"), ("KeyPairName", "k*~")];
        let signed = signer(EcsScheme::V1).sign(Dialect::Ecs, &params, &stamp());
        assert_eq!(signed.method, "GET");
        assert_eq!(
            signed.target,
            format!(
                "/?AccessKeyId=AKID&Action=DescribeKeyPairs&Format=JSON&KeyPairName=k%2A~&\
                 RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1&\
                 SignatureNonce=5b1c2e0cfd6b4c2b8c2e0f1d2a3b4c5d&SignatureType=&\
                 SignatureVersion=1.0&Timestamp=2026-11-22T11%3A55%3A11Z&Version=2014-05-26&\
                 Signature={}",
                encode(&signed.signature)
            )
        );
    }

    #[test]
    fn sigv4_takes_the_stamps_time() {
        let signed =
            signer(EcsScheme::V1).sign(Dialect::Ec2, &[("Action", "DescribeKeyPairs")], &stamp());
        assert_eq!(signed.body, "Action=DescribeKeyPairs&Version=2016-11-15");
        assert_eq!(header(&signed, "x-amz-date"), Some("20261122T115511Z"));
        assert_eq!(header(&signed, "Host"), Some("127.0.0.1:8080"));
        let authorization = header(&signed, "authorization").unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{authorization}"
        );
        assert!(authorization.ends_with(&signed.signature));
        assert_eq!(signed.signature.len(), 64);
    }

    #[test]
    fn ed25519_line_shape() {
        let line = ed25519_public_line("kp-0000001");
        assert!(line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert!(line.ends_with(" kp-0000001"));
    }
}
