//! Request signing. Every request is signed afresh: SigV4 by the official `aws-sigv4` crate for
//! EC2, Alibaba's RPC v1 (HMAC-SHA1) written out here for ECS, with a new nonce each time, so
//! keypaird verifies each request exactly as it would in production.

use std::time::SystemTime;

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_lc_rs::hmac;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::format_description::FormatItem;
use time::macros::format_description;

pub const ACCESS_KEY_ID: &str = "scalekey";
pub const SECRET_ACCESS_KEY: &str = "scalesecret";
const EC2_VERSION: &str = "2016-11-15";
const EC2_REGION: &str = "us-east-1";
const ECS_VERSION: &str = "2014-05-26";
const ECS_REGION: &str = "cn-hangzhou";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// RFC 3986 unreserved characters stay; everything else is %XY, as v1 signing wants it.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const ACS_TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

pub type Params = Vec<(&'static str, String)>;

/// Which API a request speaks; both sign with the same access key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Ec2,
    Ecs,
}

/// Signs requests for one server (`host` is `127.0.0.1:PORT`, part of what is signed).
pub struct Signer {
    host: String,
    identity: Identity,
    acs_key: hmac::Key,
}

impl Signer {
    pub fn new(host: &str) -> Self {
        let identity: Identity =
            Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench-scale").into();
        let acs_key = hmac::Key::new(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            format!("{SECRET_ACCESS_KEY}&").as_bytes(),
        );
        Signer {
            host: host.to_owned(),
            identity,
            acs_key,
        }
    }

    /// The whole HTTP/1.1 request, ready to write to the socket.
    pub fn request(&self, dialect: Dialect, params: &[(&'static str, String)]) -> Vec<u8> {
        match dialect {
            Dialect::Ec2 => self.ec2(params),
            Dialect::Ecs => self.ecs(params),
        }
    }

    /// `POST /` with a form body, as boto3 sends EC2 query requests.
    fn ec2(&self, params: &[(&'static str, String)]) -> Vec<u8> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            form.append_pair(name, value);
        }
        form.append_pair("Version", EC2_VERSION);
        let body = form.finish();
        let signed = self
            .sigv4(&body)
            // Signing fails only on a malformed URI or settings, both fixed here.
            .expect("SigV4 signing of a fixed-shape request");
        let mut out = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in signed {
            out.push_str(&name);
            out.push_str(": ");
            out.push_str(&value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&body);
        out.into_bytes()
    }

    /// The headers `aws-sigv4` adds (`x-amz-date`, `authorization`).
    fn sigv4(&self, body: &str) -> anyhow::Result<Vec<(String, String)>> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(EC2_REGION)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("SigV4 parameters")?
            .into();
        let uri = format!("http://{}/", self.host);
        // Host is signed from the URI, the way the SDK's HTTP client sends it.
        let headers = [("content-type", FORM)];
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

    /// `GET /?…` with every parameter in the query, as aliyun-python-sdk-core sends it.
    fn ecs(&self, params: &[(&'static str, String)]) -> Vec<u8> {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(ACS_TIMESTAMP)
            .expect("formatting a UTC timestamp");
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let common: [(&str, &str); 8] = [
            ("Version", ECS_VERSION),
            ("Format", "JSON"),
            ("RegionId", ECS_REGION),
            ("AccessKeyId", ACCESS_KEY_ID),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ];
        let pairs = params
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(common);
        let (canonical, signature) = v1_sign(&self.acs_key, pairs);
        format!(
            "GET /?{canonical}&Signature={} HTTP/1.1\r\nHost: {}\r\n\r\n",
            encode(&signature),
            self.host
        )
        .into_bytes()
    }
}

/// Alibaba RPC v1 over a GET's parameters: returns the canonical (sorted, RFC 3986) query,
/// which is also what is sent, and the base64 HMAC-SHA1 signature.
fn v1_sign<'a>(
    key: &hmac::Key,
    params: impl Iterator<Item = (&'a str, &'a str)>,
) -> (String, String) {
    let mut pairs: Vec<(String, String)> = params
        .map(|(name, value)| (encode(name), encode(value)))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("GET&%2F&{}", encode(&canonical));
    let tag = hmac::sign(key, string_to_sign.as_bytes());
    (
        canonical,
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
    )
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

    #[test]
    fn ed25519_line_shape() {
        let line = ed25519_public_line("kp-0000001");
        assert!(line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert!(line.ends_with(" kp-0000001"));
    }
}
