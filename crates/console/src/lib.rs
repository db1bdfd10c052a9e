//! keypaird's web console, under `/console/` on the API port: the EC2 console's Key pairs page
//! and the ECS console's SSH key pairs page, their actions, and the account's activity from the
//! audit trail. Pages are rendered on the server (maud); the little JavaScript there is
//! (copying, reading a file into the import form, "select all") is served by keypaird itself,
//! under a Content-Security-Policy that allows nothing else.
//!
//! The console calls the inventory, never the HTTP API: its changes keep the APIs' rules, their
//! errors are the dialect's own error table's, and each is recorded in the audit trail under the
//! dialect it changed (so CloudTrail's and ActionTrail's LookupEvents show them).

// Helpers return `Result<_, Response>` so a handler can answer a refusal with `?`-like early
// returns; a response is what every handler returns anyway, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod activity;
mod cloud;
mod forms;
mod key_pairs;
pub mod session;
mod sign_in;
mod views;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use keypaird_inventory::{Account, CredentialCache, Inventory};

pub use session::Sessions;

/// What the console needs from the server.
pub struct Console {
    pub inventory: Inventory,
    pub credentials: CredentialCache,
    pub sessions: Sessions,
    pub sign_ins: session::SignInLimiter,
    /// Cookies get `Secure` when the port speaks TLS.
    pub secure_cookies: bool,
    /// `--any-credentials`: the console signs in any well-formed access key, as the API does.
    pub any_credentials: bool,
    /// The PPK version CreateKeyPair writes (`--ppk-version`).
    pub ppk_version: keypaird_keys::PpkVersion,
}

/// The label the session key is derived under from the master key.
pub const SESSION_KEY_LABEL: &[u8] = b"keypaird console sessions v1";

/// The longest form body a console page sends: an imported public key (16 KiB at most, as the
/// APIs allow) and its fields.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// How long a form body may take to arrive.
const FORM_TIMEOUT: Duration = Duration::from_secs(10);

/// The console's routes, to nest under `/console` in the server's router (so its 404 page
/// answers every unknown path under it).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(sign_in::home))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/static/{file}", get(views::asset))
        .route("/activity", get(activity::page))
        .route("/{cloud}/key-pairs", get(key_pairs::list))
        .route("/{cloud}/key-pairs/{id}", get(key_pairs::detail))
        .route(
            "/{cloud}/create",
            get(key_pairs::create_form).post(key_pairs::create),
        )
        .route(
            "/{cloud}/import",
            get(key_pairs::import_form).post(key_pairs::import),
        )
        .route(
            "/{cloud}/delete",
            get(key_pairs::delete_confirm).post(key_pairs::delete),
        )
        .route("/{cloud}/tags", post(key_pairs::edit_tags))
        .route("/{cloud}/resource-group", post(key_pairs::move_to_group))
        .fallback(views::not_found_handler)
        .with_state(console)
        .layer(axum::middleware::from_fn(security_headers))
}

/// Every console response: nothing from another origin, no framing, no sniffing, no referrer,
/// and no caching of pages that show an account's keys.
async fn security_headers(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The signed-in caller of a request.
#[derive(Clone)]
pub(crate) struct Caller {
    pub account: Account,
    pub access_key_id: String,
    pub read_only: bool,
    pub claims: session::SessionClaims,
    pub csrf: String,
}

/// What a handler reads of a request besides its body.
pub(crate) struct Seen {
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub source_ip: IpAddr,
}

impl Seen {
    pub fn of(request: &axum::http::request::Parts) -> Seen {
        let query = request
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let source_ip = request
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip().to_canonical())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Seen {
            headers: request.headers.clone(),
            query,
            source_ip,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        forms::first(&self.query, name)
    }
}

impl Console {
    /// The caller of a request with a valid session cookie, if it has one.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let cookie = session_cookie(headers)?;
        let claims = self
            .sessions
            .check(cookie, time::OffsetDateTime::now_utc())?;
        let (account, read_only) = if self.any_credentials {
            let credential = self
                .credentials
                .for_any_key(
                    &claims.access_key_id,
                    &keypaird_inventory::ids::account_id(),
                )
                .await
                .ok()?;
            (credential.account, false)
        } else {
            let credential = self.credentials.find(&claims.access_key_id).await.ok()??;
            if credential.disabled {
                return None;
            }
            (credential.account, credential.read_only)
        };
        let csrf = self.sessions.csrf_token(&claims);
        Some(Caller {
            account,
            access_key_id: claims.access_key_id.clone(),
            read_only,
            claims,
            csrf,
        })
    }

    /// The caller, or the sign-in page's address to go to.
    pub(crate) async fn signed_in(&self, headers: &HeaderMap) -> Result<Caller, Response> {
        self.caller(headers)
            .await
            .ok_or_else(|| Redirect::to("/console/sign-in").into_response())
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == session::COOKIE_NAME)
        .map(|(_, value)| value)
}

/// A form body, read under the console's size and time limits.
pub(crate) async fn read_form(body: Body) -> Result<Vec<(String, String)>, Response> {
    let bytes =
        tokio::time::timeout(FORM_TIMEOUT, axum::body::to_bytes(body, MAX_FORM_BYTES)).await;
    match bytes {
        Ok(Ok(bytes)) => Ok(form_urlencoded::parse(&bytes).into_owned().collect()),
        Ok(Err(_)) => Err(views::message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "The form was larger than the console accepts (64 KiB).",
        )),
        Err(_elapsed) => Err(views::message_page(
            StatusCode::REQUEST_TIMEOUT,
            "Request timed out",
            "The form took too long to arrive.",
        )),
    }
}

/// A change's guard: a signed-in caller whose form carries the session's CSRF token and whose
/// key may write. Refusals are pages with the status the APIs would give.
pub(crate) async fn authorize_change(
    console: &Console,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Caller, Response> {
    let Some(caller) = console.caller(headers).await else {
        return Err(views::message_page(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your session has ended. Sign in again to make changes.",
        ));
    };
    check_csrf(console, &caller, form)?;
    if caller.read_only {
        return Err(views::message_page(
            StatusCode::FORBIDDEN,
            "Read-only access key",
            "This access key may only read: the console makes no changes with it.",
        ));
    }
    Ok(caller)
}

/// Whether `form` carries the caller's session's CSRF token; the refusal page when it does not.
pub(crate) fn check_csrf(
    console: &Console,
    caller: &Caller,
    form: &[(String, String)],
) -> Result<(), Response> {
    let token = forms::first(form, "csrf").unwrap_or_default();
    if console.sessions.csrf_matches(&caller.claims, token) {
        Ok(())
    } else {
        Err(views::message_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form did not carry this session's token (CSRF check failed). Reload the page and try again.",
        ))
    }
}
