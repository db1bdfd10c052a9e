//! The HTTP surface: one port, probes, the optional moto reset, and everything else handed to
//! the dialect the request speaks. Bodies are read here under the limits (size, time, requests
//! in flight), so no dialect ever sees an unbounded body or waits on a slow one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use keypaird_api::aliyun::AliyunDialect;
use keypaird_api::aws::AwsDialect;
use keypaird_api::cloudtrail::CloudTrailDialect;
use keypaird_api::{detect_dialect, ApiRequest, ApiResponse, Dialect, Refusal};
use keypaird_inventory::Inventory;
use tokio::sync::Semaphore;

use crate::limits::{Drop, DropCounters, Limits};
use crate::metrics::{self, Metrics};

#[derive(Clone)]
pub struct AppState {
    pub inventory: Inventory,
    pub aws: AwsDialect,
    pub cloudtrail: CloudTrailDialect,
    pub aliyun: AliyunDialect,
    pub limits: Arc<Limits>,
    /// One permit per request allowed in flight (`limits.max_in_flight`).
    pub in_flight: Arc<Semaphore>,
    pub drops: Arc<DropCounters>,
    pub metrics: Arc<Metrics>,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsOn {
    /// On the API port, beside `/healthz`.
    ApiPort,
    /// On an address of its own (`metrics_router`); the API port answers 404.
    OwnAddress,
}

/// `console`: the web console's routes under `/console/`, when it is served.
pub fn router(
    state: Arc<AppState>,
    allow_reset: bool,
    metrics_on: MetricsOn,
    console: Option<Router>,
) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    router = match metrics_on {
        MetricsOn::ApiPort => router.route("/metrics", get(serve_metrics)),
        MetricsOn::OwnAddress => router.route("/metrics", any(|| async { StatusCode::NOT_FOUND })),
    };
    // Without the flag the path does not exist at all, rather than being read as an API call.
    router = if allow_reset {
        router.route("/moto-api/reset", post(reset))
    } else {
        router.route("/moto-api/reset", any(|| async { StatusCode::NOT_FOUND }))
    };
    let router = router.fallback(dialect_request).with_state(state);
    match console {
        // Nesting hands the console `/console` and every path under it but `/console/`,
        // which the banner and the README print.
        Some(console) => router.nest("/console", console).route(
            "/console/",
            get(|| async { axum::response::Redirect::permanent("/console") }),
        ),
        None => router,
    }
}

/// `/metrics` alone, for `metrics_listen`.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(state)
}

/// Unauthenticated, like `/healthz`: nothing in it names a tenant, a key or a secret.
async fn serve_metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.inventory.store().as_ref()).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
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
    let received = Received::now(&request);
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
    let mut api_request = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: Bytes::new(),
        source_ip: received
            .source
            .map(|peer| peer.ip().to_canonical().to_string())
            .unwrap_or_default(),
    };
    let refuse = |refusal: Refusal, request: &ApiRequest| {
        refused(
            refusal,
            &request.headers,
            &request.query,
            received,
            &state.metrics,
        )
    };
    if api_request.method != Method::GET && api_request.method != Method::POST {
        return refuse(Refusal::MethodNotAllowed, &api_request);
    }
    // Taken before the body is read: bodies are only held under a permit, so the permits times
    // the body limit bound what requests can hold.
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        state.drops.count(Drop::InFlightLimit);
        return refuse(Refusal::Overloaded, &api_request);
    };
    let limits = &state.limits;
    let answered = tokio::time::timeout(limits.request_timeout, async {
        api_request.body = read_body(body, &api_request.headers, limits).await?;
        Ok(match detect_dialect(&api_request) {
            Dialect::Aws => state.aws.handle(&api_request).await,
            Dialect::CloudTrail => state.cloudtrail.handle(&api_request).await,
            Dialect::Aliyun => state.aliyun.handle(&api_request).await,
        })
    })
    .await;
    match answered {
        Ok(Ok(reply)) => {
            record(&reply, received, &state.metrics);
            into_http(reply, None)
        }
        Ok(Err(refusal)) => {
            if refusal == Refusal::BodyTimeout {
                state.drops.count(Drop::SlowBody);
            }
            refuse(refusal, &api_request)
        }
        Err(_elapsed) => {
            state.drops.count(Drop::RequestTimeout);
            refuse(Refusal::RequestTimeout, &api_request)
        }
    }
}

/// Reads a body into one buffer, sized from `Content-Length` when it is given, under the size
/// limit and within the time the limits allow for its size.
async fn read_body(
    body: Body,
    headers: &header::HeaderMap,
    limits: &Limits,
) -> Result<Bytes, Refusal> {
    let too_large = Refusal::BodyTooLarge {
        limit: limits.max_body_bytes,
    };
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(value) => {
            let length = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(Refusal::BodyMalformed)?;
            if length > limits.max_body_bytes as u64 {
                return Err(too_large);
            }
            Some(length as usize)
        }
    };
    let started = tokio::time::Instant::now();
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    let mut frames = body.into_data_stream();
    loop {
        // The minimum rate: each byte received buys 1/min_body_rate s more, after the grace.
        let deadline = started + limits.body_allowance(buffer.len());
        match tokio::time::timeout_at(deadline, frames.next()).await {
            Err(_elapsed) => return Err(Refusal::BodyTimeout),
            Ok(None) => return Ok(buffer.freeze()),
            Ok(Some(Ok(chunk))) => {
                if buffer.len() + chunk.len() > limits.max_body_bytes {
                    return Err(too_large);
                }
                buffer.extend_from_slice(&chunk);
            }
            // A bad chunk size, or the client gone mid-body: its framing, not our fault.
            Ok(Some(Err(_))) => return Err(Refusal::BodyMalformed),
        }
    }
}

/// Every request on a connection accepted beyond `max_connections` gets a 503 in its dialect's
/// envelope, and the connection is closed.
pub fn refusing_router(metrics: Arc<Metrics>) -> Router {
    Router::new().fallback(|request: Request| async move {
        let query = request.uri().query().unwrap_or("");
        refused(
            Refusal::Overloaded,
            request.headers(),
            query,
            Received::now(&request),
            &metrics,
        )
    })
}

/// What the HTTP layer refused, in the envelope of the dialect the headers and query speak,
/// logged like any request.
fn refused(
    refusal: Refusal,
    headers: &header::HeaderMap,
    query: &str,
    received: Received,
    metrics: &Metrics,
) -> Response {
    let reply = keypaird_api::refusal_response(refusal, headers, query);
    record(&reply, received, metrics);
    into_http(reply, Some(refusal))
}

/// When a request arrived, and from where (the accept loop puts the peer's address in).
#[derive(Clone, Copy)]
struct Received {
    started: Instant,
    source: Option<SocketAddr>,
}

impl Received {
    fn now(request: &Request) -> Received {
        Received {
            started: Instant::now(),
            source: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| *peer),
        }
    }
}

/// One access log line and the request's metrics, for every API request however it ended.
fn record(reply: &ApiResponse, received: Received, metrics: &Metrics) {
    let elapsed = received.started.elapsed();
    metrics.observe_request(&reply.log, elapsed);
    let log = &reply.log;
    // Rounded to 10 µs: a number in JSON, `latency_ms=1.23` in text.
    let latency_ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    tracing::info!(
        request_id = log.request_id.as_str(),
        source = received.source.map(tracing::field::display),
        access_key_id = log.access_key_id.as_deref().unwrap_or("-"),
        dialect = log.dialect,
        action = log.action.as_deref().unwrap_or("-"),
        account = log.account_id.as_deref().unwrap_or("-"),
        region = log.region.as_deref().unwrap_or("-"),
        status = reply.status.as_u16(),
        error = log.error_code.unwrap_or("-"),
        latency_ms,
        "request"
    );
}

/// `refused` names what the HTTP layer refused, if it did: those replies close the connection.
fn into_http(reply: ApiResponse, refused: Option<Refusal>) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(reply.content_type),
    );
    if refused == Some(Refusal::MethodNotAllowed) {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    }
    // The unread rest of a refused body is still on the wire, so the connection cannot be
    // reused; saying so keeps keep-alive clients from sending their next request into it.
    if refused.is_some() {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}
