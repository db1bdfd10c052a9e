//! The console's page frame, shared pieces, and its two static assets (embedded in the binary).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cloud::{Cloud, CloudError};
use crate::Caller;

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");
const ICON: &str = include_str!("../assets/favicon.svg");

/// Which tab of the top navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    KeyPairs(Cloud),
    Activity,
    None,
}

/// A whole page: the navigation (when signed in), the title and `body`.
pub fn page(title: &str, caller: Option<&Caller>, tab: Tab, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · keypaird console" }
                link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "keypaird" }
                    @if let Some(caller) = caller {
                        nav aria-label="Sections" {
                            ul {
                                (tab_link("/console/ec2/key-pairs", "EC2 key pairs", tab == Tab::KeyPairs(Cloud::Ec2)))
                                (tab_link("/console/ecs/key-pairs", "ECS key pairs", tab == Tab::KeyPairs(Cloud::Ecs)))
                                (tab_link("/console/activity", "Activity", tab == Tab::Activity))
                            }
                        }
                        div class="who" {
                            span { "Account " strong { (caller.account.name) } " (" (caller.account.id) ")" }
                            span class="key" { "Key " code { (caller.access_key_id) } }
                            @if caller.read_only {
                                span class="badge" id="read-only-badge" { "read-only" }
                            }
                            form method="post" action="/console/sign-out" class="inline" {
                                input type="hidden" name="csrf" value=(caller.csrf);
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn tab_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        li {
            @if current {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    }
}

/// An error as the cloud's API answers it: its code and message.
pub fn error_box(error: &CloudError) -> Markup {
    html! {
        div class="error" role="alert" {
            strong class="code" { (error.code) } ": " span class="message" { (error.message) }
        }
    }
}

pub fn notice(text: &str) -> Markup {
    html! { div class="notice" role="status" { (text) } }
}

/// A page with only a heading and a sentence, at `status`.
pub fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = html! {
        p { (text) }
        p { a href="/console/" { "Back to the console" } }
    };
    page_response(status, title, None, Tab::None, body)
}

/// A whole page as the reply, at `status`.
pub fn page_response(
    status: StatusCode,
    title: &str,
    caller: Option<&Caller>,
    tab: Tab,
    body: Markup,
) -> Response {
    (status, html_response(page(title, caller, tab, body))).into_response()
}

pub fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no console page at this address.",
    )
}

pub async fn not_found_handler() -> Response {
    not_found()
}

pub fn html_response(markup: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// `/console/static/{file}`: the stylesheet, the script and the icon, cacheable for an hour.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, text) = match file.as_str() {
        "console.css" => ("text/css; charset=utf-8", STYLESHEET),
        "console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "favicon.svg" => ("image/svg+xml", ICON),
        _ => return not_found(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        text,
    )
        .into_response()
}

/// A time as the page shows it: ISO 8601 UTC to the second.
pub fn time_text(time: OffsetDateTime) -> String {
    time.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The region selector of a cloud's pages: a GET form back to `action`.
pub fn region_selector(cloud: Cloud, region: &str, action: &str) -> Markup {
    let list_id = format!("regions-{}", cloud.segment());
    html! {
        form method="get" action=(action) class="region" {
            label for="region" { "Region" }
            input id="region" name="region" value=(region) list=(list_id) required
                pattern="[a-z0-9-]{1,32}" autocomplete="off";
            datalist id=(list_id) {
                @for known in cloud.known_regions() { option value=(known) {} }
            }
            button type="submit" { "Switch region" }
        }
    }
}

/// The CSRF field every change's form carries.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.csrf); }
}
