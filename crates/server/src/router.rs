//! The HTTP surface: one port, probes, the optional moto reset, and everything else handed to
//! the dialect the request speaks. Bodies are read here under a size limit so no dialect ever
//! sees an unbounded body.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use keypaird_api::aliyun::{self, AliyunDialect};
use keypaird_api::aws::{error::AwsError, AwsDialect};
use keypaird_api::{
    detect_dialect, detect_dialect_without_body, ApiRequest, ApiResponse, Dialect, RequestLog,
};
use keypaird_inventory::Inventory;

#[derive(Clone)]
pub struct AppState {
    pub inventory: Inventory,
    pub aws: AwsDialect,
    pub aliyun: AliyunDialect,
    pub max_body_bytes: usize,
}

pub fn router(state: Arc<AppState>, allow_reset: bool) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    // Without the flag the path does not exist at all, rather than being read as an API call.
    router = if allow_reset {
        router.route("/moto-api/reset", post(reset))
    } else {
        router.route("/moto-api/reset", any(|| async { StatusCode::NOT_FOUND }))
    };
    router.fallback(dialect_request).with_state(state)
}

/// Liveness only: the process answers. Store trouble shows in /readyz.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store takes a write (a probe write, at most one a second); otherwise 503 with
/// the cause. The store logs each failed probe with its error, once, not each request.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.inventory.store().check_ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) => {
            let body = format!("store unavailable: {}\n", err.cause);
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    match state.inventory.store().reset_inventory().await {
        Ok(()) => {
            tracing::info!("inventory reset through /moto-api/reset");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"status\": \"ok\"}",
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "reset failed");
            (StatusCode::SERVICE_UNAVAILABLE, "reset failed\n").into_response()
        }
    }
}

async fn dialect_request(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    // HTTP/2 carries the host as `:authority`; signatures sign it as `host`.
    if !headers.contains_key(header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(value) = header::HeaderValue::from_str(authority.as_str()) {
                headers.insert(header::HOST, value);
            }
        }
    }
    let reply = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(body) => {
            let api_request = ApiRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or("").to_owned(),
                headers,
                body,
            };
            match detect_dialect(&api_request) {
                Dialect::Aws => state.aws.handle(&api_request).await,
                Dialect::Aliyun => state.aliyun.handle(&api_request).await,
            }
        }
        // Too large, or the client went away mid-body: either way the client's fault.
        Err(_) => {
            let query = parts.uri.query().unwrap_or("");
            match detect_dialect_without_body(&headers, query) {
                Dialect::Aws => keypaird_api::aws::error_response(
                    &AwsError::too_large(state.max_body_bytes),
                    &uuid::Uuid::new_v4().to_string(),
                    RequestLog::default(),
                ),
                Dialect::Aliyun => {
                    aliyun::too_large_response(&headers, query, state.max_body_bytes)
                }
            }
        }
    };
    log_request(&reply, started);
    into_http(reply)
}

fn log_request(reply: &ApiResponse, started: Instant) {
    let log = &reply.log;
    tracing::info!(
        dialect = log.dialect,
        action = log.action.as_deref().unwrap_or("-"),
        account = log.account_id.as_deref().unwrap_or("-"),
        region = log.region.as_deref().unwrap_or("-"),
        status = reply.status.as_u16(),
        error = log.error_code.unwrap_or("-"),
        latency_ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
}

fn into_http(reply: ApiResponse) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(reply.content_type),
    );
    // The unread rest of a refused body is still on the wire, so the connection cannot be
    // reused; saying so keeps keep-alive clients from sending their next request into it.
    if reply.status == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}
