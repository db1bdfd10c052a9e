//! The wire dialects. Each dialect turns an HTTP request into inventory calls and renders the
//! outcome the way its cloud does; none of them knows SQL or how keys are generated.
//!
//! The types here are plain `http` types, not axum's, so the dialects can be driven in tests
//! without a server.

pub mod aws;
pub mod params;

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
    pub action: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub error_code: Option<&'static str>,
}

/// Which cloud a request is speaking, by the markers design.md lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Aws,
}

/// Picks the dialect of a request. Anything unrecognisable is answered as AWS, the dialect most
/// clients of this service speak, so a stray request gets an AWS error envelope.
pub fn detect_dialect(_request: &ApiRequest) -> Dialect {
    Dialect::Aws
}
