//! Signing in with an access key ID and its secret, and out. Each attempt that is checked is
//! recorded in the audit trail as CloudTrail records console sign-ins (`ConsoleLogin`, with
//! `Failed authentication` for a wrong key or secret), under the console's own source; attempts
//! past the failure limit are refused unchecked.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keypaird_inventory::{AuditEvent, AuditResource, AuditSource, Credential};
use maud::html;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::session::{COOKIE_NAME, SESSION_LIFETIME};
use crate::views::{self, Tab};
use crate::{check_csrf, forms, read_form, Console, Seen};

/// The message of every refused sign-in: it does not say whether the key exists.
const FAILED: &str = "Failed authentication";

/// The event name CloudTrail gives console sign-ins.
pub const SIGN_IN_EVENT: &str = "ConsoleLogin";

/// `/console/`: the key pairs page when signed in, the sign-in page otherwise.
pub async fn home(State(console): State<Arc<Console>>, request: Request) -> Response {
    match console.caller(request.headers()).await {
        Some(_) => Redirect::to("/console/ec2/key-pairs").into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

pub async fn form(State(console): State<Arc<Console>>, request: Request) -> Response {
    if console.caller(request.headers()).await.is_some() {
        return Redirect::to("/console/ec2/key-pairs").into_response();
    }
    sign_in_page(StatusCode::OK, None, "")
}

fn sign_in_page(status: StatusCode, error: Option<&str>, access_key_id: &str) -> Response {
    let body = html! {
        p { "Sign in with an access key of your keypaird account, as you would configure the aws CLI or an Alibaba SDK." }
        @if let Some(error) = error {
            div class="error" role="alert" id="sign-in-error" { (error) }
        }
        form method="post" action="/console/sign-in" class="stack" {
            label for="access_key_id" { "Access key ID" }
            input id="access_key_id" name="access_key_id" value=(access_key_id) required
                autocomplete="username" spellcheck="false" autofocus;
            label for="secret_access_key" { "Secret access key" }
            input id="secret_access_key" name="secret_access_key" type="password" required
                autocomplete="current-password";
            button type="submit" class="primary" { "Sign in" }
        }
    };
    views::page_response(status, "Sign in", None, Tab::None, body)
}

pub async fn submit(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let seen = Seen::of(&parts);
    // Login CSRF: a sign-in posted from another site is refused before anything is checked.
    if fetched_cross_site(&seen.headers) {
        return views::message_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "Sign-in forms are only accepted from the console's own pages.",
        );
    }
    if let Some(wait) = console.sign_ins.wait_for(seen.source_ip) {
        tracing::warn!(source = %seen.source_ip, "console sign-in refused: too many failures");
        let mut response = sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins from your address. Try again in {} s.",
                wait.as_secs().max(1)
            )),
            "",
        );
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let access_key_id = forms::filled(&form, "access_key_id").unwrap_or_default();
    let secret = forms::first(&form, "secret_access_key").unwrap_or_default();
    let found = check_credentials(&console, access_key_id, secret).await;
    let mut event = sign_in_event(&seen, access_key_id, found.as_ref());
    let response = match found {
        Some(credential) if !credential.disabled => {
            console.sign_ins.note_success(seen.source_ip);
            let (cookie, _) = console
                .sessions
                .issue(access_key_id, OffsetDateTime::now_utc());
            let mut response = Redirect::to("/console/ec2/key-pairs").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie_header(
                &console,
                &cookie,
                SESSION_LIFETIME.as_secs(),
            )) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        _ => {
            console.sign_ins.note_failure(seen.source_ip);
            event.error_code = Some(FAILED.to_owned());
            event.error_message = Some(FAILED.to_owned());
            sign_in_page(StatusCode::UNAUTHORIZED, Some(FAILED), access_key_id)
        }
    };
    if let Err(err) = console.inventory.record_events(&[event]).await {
        tracing::warn!(error = %err, "the audit trail could not record a console sign-in");
    }
    response
}

/// The access key `access_key_id` when `secret` is its secret (compared in constant time; an
/// unknown key costs the same compare), or any well-formed key under `--any-credentials`.
async fn check_credentials(
    console: &Console,
    access_key_id: &str,
    secret: &str,
) -> Option<Credential> {
    if access_key_id.is_empty() || access_key_id.len() > 128 {
        return None;
    }
    if console.any_credentials {
        if !keypaird_inventory::ids::is_valid_access_key_id(access_key_id) {
            return None;
        }
        return console
            .credentials
            .for_any_key(access_key_id, &keypaird_inventory::ids::account_id())
            .await
            .ok();
    }
    let credential = console.credentials.find(access_key_id).await.ok().flatten();
    let expected = credential
        .as_ref()
        .and_then(|c| c.secret_access_key.as_ref())
        .map(|s| s.expose().as_bytes().to_vec())
        .unwrap_or_else(|| vec![0u8; 40]);
    let matches: bool = expected.ct_eq(secret.as_bytes()).into();
    let credential = credential?;
    (matches && credential.secret_access_key.is_some()).then_some(credential)
}

/// `Sec-Fetch-Site: cross-site` (sent by every current browser), or an `Origin` that is not
/// this host.
fn fetched_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site == "cross-site" || site == "same-site" {
            return true;
        }
    }
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    origin != "null" && origin_host != host
}

/// The session cookie's `Set-Cookie` value; `max_age` 0 clears it.
fn cookie_header(console: &Console, value: &str, max_age: u64) -> String {
    let secure = if console.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE_NAME}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

fn sign_in_event(seen: &Seen, access_key_id: &str, found: Option<&Credential>) -> AuditEvent {
    let mut event = AuditEvent::new(AuditSource::Console, SIGN_IN_EVENT);
    event.access_key_id = access_key_id.chars().take(128).collect();
    event.source_ip = seen.source_ip.to_string();
    event.user_agent = keypaird_api::audit::user_agent(&seen.headers);
    event.request_id = uuid::Uuid::new_v4().to_string();
    if let Some(credential) = found {
        event.account_id = credential.account.id.clone();
        event.account_name = credential.account.name.clone();
        event.resources = vec![AuditResource::access_key(&credential.access_key_id)];
    }
    event
}

/// Ends the session on this node and clears the cookie. Needs the session's CSRF token, so
/// another site cannot sign a user out.
pub async fn sign_out(State(console): State<Arc<Console>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let form = match read_form(request.into_body()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let Some(caller) = console.caller(&headers).await else {
        return Redirect::to("/console/sign-in").into_response();
    };
    if let Err(refused) = check_csrf(&console, &caller, &form) {
        return refused;
    }
    console
        .sessions
        .sign_out(&caller.claims, OffsetDateTime::now_utc());
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie_header(&console, "", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
