//! The account's activity: its audit events, newest first, as CloudTrail's and ActionTrail's
//! event history show them: one cloud's events at a time (EC2's by region), or the console's
//! sign-ins, filtered by action, resource and time, in keyset pages of the store's indexed walk.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use keypaird_inventory::{
    AuditAttribute, AuditCursor, AuditEvent, AuditQuery, AuditScope, AuditSource,
};
use maud::html;
use time::OffsetDateTime;

use crate::cloud::{valid_region, Cloud};
use crate::views::{self, Tab};
use crate::{forms, Console, Seen};

const PAGE_SIZE: u32 = 50;

/// Whose events a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cloud(Cloud),
    SignIns,
}

impl Source {
    fn parse(text: Option<&str>) -> Source {
        match text {
            Some("ecs") => Source::Cloud(Cloud::Ecs),
            Some("console") => Source::SignIns,
            _ => Source::Cloud(Cloud::Ec2),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Source::Cloud(cloud) => cloud.segment(),
            Source::SignIns => "console",
        }
    }

    fn audit_source(self) -> AuditSource {
        match self {
            Source::Cloud(cloud) => cloud.audit_source(),
            Source::SignIns => AuditSource::Console,
        }
    }
}

fn cursor_text(event: &AuditEvent) -> String {
    forms::cursor_text(event.time, &event.event_id)
}

fn parse_cursor(text: &str) -> Option<AuditCursor> {
    forms::parse_cursor(text).map(|(time, event_id)| AuditCursor { time, event_id })
}

pub async fn page(State(console): State<Arc<Console>>, request: Parts) -> Response {
    let seen = Seen::of(&request);
    let caller = match console.signed_in(&seen.headers).await {
        Ok(caller) => caller,
        Err(sign_in) => return sign_in,
    };
    let source = Source::parse(seen.get("source"));
    let region = forms::filled(&seen.query, "region")
        .unwrap_or(Cloud::Ec2.default_region())
        .to_owned();
    let action = forms::filled(&seen.query, "action").map(str::to_owned);
    let resource = forms::filled(&seen.query, "resource").map(str::to_owned);
    let since_text = forms::filled(&seen.query, "since")
        .unwrap_or_default()
        .to_owned();
    let until_text = forms::filled(&seen.query, "until")
        .unwrap_or_default()
        .to_owned();
    let mut problem: Option<&str> = None;
    let mut time_of = |text: &str, default: OffsetDateTime| {
        if text.is_empty() {
            return default;
        }
        forms::parse_time(text).unwrap_or_else(|| {
            problem = Some("Times are ISO 8601, such as 2026-12-03T10:00:00Z.");
            default
        })
    };
    let since = time_of(&since_text, OffsetDateTime::UNIX_EPOCH);
    let until = time_of(
        &until_text,
        OffsetDateTime::now_utc() + time::Duration::minutes(1),
    );
    if !valid_region(&region) {
        problem = Some("A region is lower-case letters, digits and hyphens.");
    }
    let after = forms::filled(&seen.query, "after").and_then(parse_cursor);
    if since > until {
        problem = Some("The start of the time range is after its end.");
    }
    // One attribute is indexed per lookup (CloudTrail's rule); a resource narrows the walk
    // more than an action, so an action given with it is checked on the resource's events.
    let (attribute, action_check) = match (&resource, &action) {
        (Some(resource), action) => (
            Some(AuditAttribute::ResourceName(resource.clone())),
            action.clone(),
        ),
        (None, Some(action)) => (Some(AuditAttribute::EventName(action.clone())), None),
        (None, None) => (None, None),
    };
    let query = AuditQuery {
        scope: AuditScope::Api {
            account_id: caller.account.id.clone(),
            source: source.audit_source(),
            region: region.clone(),
        },
        attribute,
        action: action_check,
        since,
        until,
        limit: PAGE_SIZE + 1,
        after: after.clone(),
        oldest_first: false,
    };
    let found = match problem {
        Some(problem) => Err(problem.to_owned()),
        None => console
            .inventory
            .find_audit_events(&query)
            .await
            .map_err(|err| format!("The audit trail could not be read: {err}")),
    };
    let base = {
        let mut href = format!("/console/activity?source={}", source.as_str());
        for (name, value) in [
            ("region", Some(&region)),
            ("action", action.as_ref()),
            ("resource", resource.as_ref()),
            ("since", Some(&since_text).filter(|t| !t.is_empty())),
            ("until", Some(&until_text).filter(|t| !t.is_empty())),
        ] {
            if let Some(value) = value {
                let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                href.push_str(&format!("&{name}={encoded}"));
            }
        }
        href
    };
    let status = if found.is_err() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = html! {
        form method="get" action="/console/activity" class="search" role="search" {
            label for="activity-source" { "Events of" }
            select id="activity-source" name="source" {
                option value="ec2" selected[source == Source::Cloud(Cloud::Ec2)] { "EC2 (CloudTrail), in the region" }
                option value="ecs" selected[source == Source::Cloud(Cloud::Ecs)] { "ECS (ActionTrail)" }
                option value="console" selected[source == Source::SignIns] { "Console sign-ins" }
            }
            label for="activity-region" { "Region" }
            input id="activity-region" name="region" value=(region) list="regions-ec2";
            datalist id="regions-ec2" { @for known in Cloud::Ec2.known_regions() { option value=(known) {} } }
            label for="activity-action" { "Action" }
            input id="activity-action" name="action" value=(action.as_deref().unwrap_or("")) placeholder="CreateKeyPair";
            label for="activity-resource" { "Resource" }
            input id="activity-resource" name="resource" value=(resource.as_deref().unwrap_or("")) placeholder="key pair name or ID";
            label for="activity-since" { "From" }
            input id="activity-since" name="since" value=(since_text) placeholder="2026-12-01T00:00:00Z";
            label for="activity-until" { "To" }
            input id="activity-until" name="until" value=(until_text) placeholder="now";
            button type="submit" { "Filter" }
        }
        @match &found {
            Err(problem) => div class="error" role="alert" { (problem) },
            Ok(events) => {
                @if events.is_empty() {
                    p id="no-events" { "No events match." }
                } @else {
                    table id="events" {
                        thead { tr {
                            th scope="col" { "Time" } th scope="col" { "Action" } th scope="col" { "Resources" }
                            th scope="col" { "Access key" } th scope="col" { "Source address" } th scope="col" { "Error" }
                            th scope="col" { "Request" }
                        } }
                        tbody {
                            @for event in events.iter().take(PAGE_SIZE as usize) {
                                tr {
                                    td { time datetime=(views::time_text(event.time)) { (views::time_text(event.time)) } }
                                    td class="event-name" { (event.action) }
                                    td { ul class="tags" { @for r in &event.resources { li { @if !r.name.is_empty() { (r.name) " " } code { (r.id) } } } } }
                                    td { code { (event.access_key_id) } }
                                    td { (event.source_ip) }
                                    td class="event-error" { (event.error_code.as_deref().unwrap_or("")) }
                                    td { details { summary { "Parameters" } pre { (event.request_parameters) } } }
                                }
                            }
                        }
                    }
                    nav class="pages" aria-label="Pages" {
                        @if after.is_some() { a id="first-page" href=(base) { "First page" } }
                        @if events.len() > PAGE_SIZE as usize {
                            @if let Some(last) = events.get(PAGE_SIZE as usize - 1) {
                                a id="next-page" rel="next" href=(format!("{base}&after={}", cursor_text(last))) { "Next page" }
                            }
                        }
                    }
                }
            }
        }
    };
    views::page_response(status, "Activity", Some(&caller), Tab::Activity, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_cursors_round_trip() {
        let mut event = AuditEvent::new(AuditSource::Ec2, "CreateKeyPair");
        event.time = OffsetDateTime::from_unix_timestamp_nanos(1_796_184_000_123_000_000).unwrap();
        let cursor = parse_cursor(&cursor_text(&event)).unwrap();
        assert_eq!(cursor.time, event.time);
        assert_eq!(cursor.event_id, event.event_id);
        assert_eq!(parse_cursor("nope"), None);
    }
}
