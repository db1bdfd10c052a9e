//! The wire dialects. Each dialect turns an HTTP request into inventory calls and renders the
//! outcome the way its cloud does; none of them knows SQL or how keys are generated.
//!
//! The types here are plain `http` types, not axum's, so the dialects can be driven in tests
//! without a server.

pub mod aliyun;
pub mod audit;
mod audit_token;
pub mod aws;
pub mod cloudtrail;
pub mod paging;
pub mod params;
mod xml_text;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// A request as the dialects see it: everything already read, the body within the size limit.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// Raw query string without `?`, exactly as received (signatures cover its encoding).
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The peer's IP address as text (empty when unknown), for the audit trail.
    pub source_ip: String,
}

/// A rendered reply plus what the access log needs to know about it.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    pub log: RequestLog,
}

/// What one log line says about a request. Never holds secrets or key material.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    pub dialect: &'static str,
    /// The ID the reply carries (`requestId`, `RequestId`).
    pub request_id: String,
    /// As the client sent it (at most 64 characters): any text, so never a metric label.
    pub action: Option<String>,
    /// The access key ID the request was signed with, once read (never the secret).
    pub access_key_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub error_code: Option<&'static str>,
    /// The error was the caller's authentication failing (`error_code` says how).
    pub auth_failed: bool,
}

impl RequestLog {
    /// The action as a bounded name: one the dialect knows, `unknown` for any other text, `-`
    /// when the request was refused before its action was read. Safe as a metric label.
    pub fn known_action(&self) -> &'static str {
        let Some(action) = self.action.as_deref() else {
            return "-";
        };
        // ActionTrail's one action arrives in the ECS dialect.
        if self.dialect == "aliyun" && action == "LookupEvents" {
            return "LookupEvents";
        }
        let known: &[&'static str] = match self.dialect {
            "aws" => &aws::ACTIONS,
            "aliyun" => aliyun::ACTIONS,
            "cloudtrail" => &["LookupEvents"],
            _ => &[],
        };
        known
            .iter()
            .copied()
            .find(|name| *name == action)
            .unwrap_or("unknown")
    }
}

impl RequestLog {
    /// Marks the request as refused by authentication, with the status it is answered with: a
    /// failure of ours (the store unreachable, 5xx) is not the caller's and is not marked.
    pub(crate) fn note_auth_failure(&mut self, status: StatusCode) {
        if status.is_client_error() {
            self.auth_failed = true;
        }
    }
}

/// An access key ID as logged: IDs are at most 128 characters, and a hostile client's longer
/// text is cut rather than written whole into every line.
pub(crate) fn loggable_key_id(access_key_id: &str) -> String {
    access_key_id.chars().take(128).collect()
}

/// Why the server answered a request before any dialect read it: the request broke a limit
/// of the HTTP layer. Each dialect words and numbers these in its own error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The body is longer than the configured limit (or says so in `Content-Length`).
    BodyTooLarge { limit: usize },
    /// The body did not arrive within the time the limits allow for its size.
    BodyTimeout,
    /// The body's framing is broken (a bad chunk size, a connection closed mid-body).
    BodyMalformed,
    /// Too many requests are in flight, or too many connections are open.
    Overloaded,
    /// The request as a whole took longer than the total request time.
    RequestTimeout,
    /// Only GET and POST carry API calls.
    MethodNotAllowed,
}

/// A [`Refusal`] in the envelope of the dialect that the request's headers and query speak
/// (its body is not read).
pub fn refusal_response(refusal: Refusal, headers: &HeaderMap, query: &str) -> ApiResponse {
    match detect_dialect_without_body(headers, query) {
        Dialect::Aws => aws::refusal_response(refusal),
        Dialect::CloudTrail => cloudtrail::refusal_response(refusal),
        Dialect::Aliyun => aliyun::refusal_response(refusal, headers, query),
    }
}

/// Which cloud a request is speaking, by the markers design.md lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Aws,
    /// AWS CloudTrail's JSON protocol (`X-Amz-Target`), for LookupEvents.
    CloudTrail,
    Aliyun,
}

/// Picks the dialect of a request by design.md's markers: CloudTrail when its `X-Amz-Target`
/// names it; Alibaba when it carries `Version=2014-05-26` (or ActionTrail's `2020-07-06`),
/// `SignatureMethod=HMAC-SHA1`, an `x-acs-version`/`x-acs-action` header or
/// an `ACS3-HMAC-SHA256` authorization. Anything else is answered as AWS, the dialect most
/// clients of this service speak, so a stray request gets an AWS error envelope.
///
/// The parameters are looked at in the query and, when the body is a form, in the body too
/// (Terraform sends some there). A body that is not a form is not parsed here.
pub fn detect_dialect(request: &ApiRequest) -> Dialect {
    if cloudtrail::is_cloudtrail(&request.headers) {
        return Dialect::CloudTrail;
    }
    if is_aliyun_headers(&request.headers) {
        return Dialect::Aliyun;
    }
    let body = request.body.as_ref();
    if has_aliyun_marker(request.query.as_bytes()) || has_aliyun_marker(body) {
        Dialect::Aliyun
    } else {
        Dialect::Aws
    }
}

/// The part of [`detect_dialect`] that needs no body: for requests whose body was refused.
pub fn detect_dialect_without_body(headers: &HeaderMap, query: &str) -> Dialect {
    if cloudtrail::is_cloudtrail(headers) {
        Dialect::CloudTrail
    } else if is_aliyun_headers(headers) || has_aliyun_marker(query.as_bytes()) {
        Dialect::Aliyun
    } else {
        Dialect::Aws
    }
}

fn is_aliyun_headers(headers: &HeaderMap) -> bool {
    headers.contains_key("x-acs-version")
        || headers.contains_key("x-acs-action")
        || headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("ACS3-"))
}

/// Looks for the Alibaba markers among form pairs; malformed pairs are no marker (the dialect
/// that handles the request reports them).
fn has_aliyun_marker(form: &[u8]) -> bool {
    form.split(|b| *b == b'&').any(|pair| {
        let Some(eq) = pair.iter().position(|b| *b == b'=') else {
            return false;
        };
        // Only the two marker names' values are decoded: this runs on every request, and a
        // large body of other parameters must not be decoded twice.
        let wanted: &[&str] = match &pair[..eq] {
            b"Version" => &[aliyun::API_VERSION, aliyun::ACTIONTRAIL_API_VERSION],
            b"SignatureMethod" => &["HMAC-SHA1"],
            _ => return false,
        };
        params::decode_component(&pair[eq + 1..]).is_ok_and(|value| wanted.contains(&&*value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_action_is_one_of_the_dialects_names_or_a_placeholder() {
        let log = |dialect, action: Option<&str>| RequestLog {
            dialect,
            action: action.map(str::to_owned),
            ..RequestLog::default()
        };
        assert_eq!(
            log("aws", Some("CreateKeyPair")).known_action(),
            "CreateKeyPair"
        );
        assert_eq!(
            log("aliyun", Some("DeleteKeyPairs")).known_action(),
            "DeleteKeyPairs"
        );
        // Another dialect's action, any other text, and none at all.
        assert_eq!(log("aws", Some("DeleteKeyPairs")).known_action(), "unknown");
        assert_eq!(
            log("aliyun", Some("createkeypair")).known_action(),
            "unknown"
        );
        assert_eq!(log("aws", None).known_action(), "-");
    }

    fn request(query: &str, headers: &[(&'static str, &str)], body: &str) -> ApiRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        ApiRequest {
            method: Method::POST,
            path: "/".into(),
            query: query.into(),
            headers: map,
            body: Bytes::from(body.to_owned()),
            source_ip: String::new(),
        }
    }

    #[test]
    fn alibaba_markers_select_the_alibaba_dialect() {
        let aliyun = [
            request("Action=CreateKeyPair&Version=2014-05-26", &[], ""),
            request("SignatureMethod=HMAC-SHA1&Version=2099-01-01", &[], ""),
            request("", &[], "Format=JSON&Version=2014-05-26"),
            request(
                "RegionId=cn-hangzhou",
                &[("x-acs-version", "2014-05-26")],
                "",
            ),
            request("", &[("x-acs-action", "DescribeKeyPairs")], ""),
            request(
                "",
                &[(
                    "authorization",
                    "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=0",
                )],
                "",
            ),
        ];
        for r in &aliyun {
            assert_eq!(detect_dialect(r), Dialect::Aliyun, "{r:?}");
        }
    }

    #[test]
    fn everything_else_is_aws() {
        let aws = [
            request("Action=DescribeKeyPairs&Version=2016-11-15", &[], ""),
            request("", &[], ""),
            request("Version=2014-05-26x", &[], ""),
            request("XVersion=2014-05-26", &[], ""),
            request(
                "",
                &[(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=0",
                )],
                "Action=X",
            ),
        ];
        for r in &aws {
            assert_eq!(detect_dialect(r), Dialect::Aws, "{r:?}");
        }
        assert_eq!(
            detect_dialect_without_body(&HeaderMap::new(), "Version=2014-05-26"),
            Dialect::Aliyun
        );
    }
}
