//! Alibaba ActionTrail's `LookupEvents` (API 2020-07-06): the ECS dialect's audit events of the
//! calling account, every region. It arrives as any ECS call does (v1 or V3 signatures, JSON or
//! XML) and is answered from `mod.rs` after authentication; docs/audit.md is the contract.

use keypaird_inventory::audit::SENSITIVE_DATA_REMOVED;
use keypaird_inventory::{
    Account, AuditAttribute, AuditCursor, AuditEvent, AuditQuery, AuditScope, AuditSource,
    Inventory, ResourceKind,
};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::actions::Fields;
use super::error::{AliyunError, Code};
use super::reply::Node;
use crate::audit_token::{self, PageToken};
use crate::params::Params;

pub const EVENT_SOURCE: &str = "ecs.aliyuncs.com";
pub const SERVICE_NAME: &str = "Ecs";
pub const RESOURCE_TYPE: &str = "ACS::ECS::KeyPair";
const MAX_RESULTS_DEFAULT: u32 = 20;
const MAX_RESULTS: u32 = 50;
/// ActionTrail's default window: this long before the end.
const DEFAULT_WINDOW: Duration = Duration::days(7);

/// The attribute keys LookupEvents takes, as `LookupAttribute.N.Key`.
enum Lookup {
    Store(AuditAttribute),
    /// Every event of the scope has this value (ServiceName `Ecs`, EventRW `All`, the
    /// caller's own user name).
    Everything,
    /// No event of the scope has it.
    Nothing,
}

pub async fn lookup_events(
    inventory: &Inventory,
    account: &Account,
    params: &Params<'_>,
    now: OffsetDateTime,
) -> Result<Fields, AliyunError> {
    let lookup = lookup_attribute(params, account)?;
    let end = time_param(params, "EndTime")?;
    let until = end.unwrap_or(now);
    let since = time_param(params, "StartTime")?.unwrap_or(until - DEFAULT_WINDOW);
    if since > until {
        return Err(AliyunError::new(
            Code::InvalidTimeRange,
            "The specified StartTime is later than the EndTime.",
        ));
    }
    let page_size = match params.get("MaxResults") {
        None | Some("") => MAX_RESULTS_DEFAULT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_RESULTS).contains(&n) => n,
            _ => {
                return Err(AliyunError::new(
                    Code::InvalidMaxResults,
                    "The specified MaxResults is invalid: it must be between 1 and 50.",
                ))
            }
        },
    };
    let previous = match params.get("Direction") {
        None | Some("") | Some("NEXT") => false,
        Some("PREV") => true,
        Some(_) => return Err(invalid("Direction", "it must be NEXT or PREV")),
    };
    // What a token must be used with again: the attribute and the times as given.
    let binding = json!({
        "key": params.get("LookupAttribute.1.Key"),
        "value": params.get("LookupAttribute.1.Value"),
        "start": params.get("StartTime"),
        "end": params.get("EndTime"),
    })
    .to_string();
    let token = match params.get("NextToken") {
        None | Some("") => None,
        Some(text) => Some(
            audit_token::decode(text)
                .filter(|token| token.binding == binding)
                .ok_or_else(|| {
                    AliyunError::new(
                        Code::InvalidNextToken,
                        "The specified NextToken is invalid.",
                    )
                })?,
        ),
    };
    let range = [
        ("StartTime", Node::text(iso(since))),
        ("EndTime", Node::text(iso(until))),
    ];
    let attribute = match lookup {
        None | Some(Lookup::Everything) => None,
        Some(Lookup::Store(attribute)) => Some(attribute),
        Some(Lookup::Nothing) => return Ok(reply(&[], None, range)),
    };
    let mut query = AuditQuery::new(
        AuditScope::Api {
            account_id: account.id.clone(),
            source: AuditSource::Ecs,
            region: String::new(),
        },
        since,
        until,
        page_size + 1,
    );
    query.attribute = attribute;
    // PREV walks towards newer events from the page the token came from, then shows them
    // newest first like every page.
    query.oldest_first = previous;
    query.after = token.map(|t| if previous { t.first } else { t.last });
    let mut events = inventory.find_audit_events(&query).await?;
    let more = events.len() > page_size as usize;
    events.truncate(page_size as usize);
    if previous {
        events.reverse();
    }
    let next = match (more, events.first(), events.last()) {
        (true, Some(first), Some(last)) => Some(audit_token::encode(&PageToken {
            first: cursor_of(first),
            last: cursor_of(last),
            binding,
        })),
        _ => None,
    };
    Ok(reply(&events, next, range))
}

fn reply(events: &[AuditEvent], next: Option<String>, range: [(&'static str, Node); 2]) -> Fields {
    let events: Vec<Value> = events.iter().map(event_object).collect();
    let mut fields: Fields = vec![("Events", Node::Json(Value::Array(events)))];
    if let Some(token) = next {
        fields.push(("NextToken", Node::text(token)));
    }
    fields.extend(range);
    fields
}

fn cursor_of(event: &AuditEvent) -> AuditCursor {
    AuditCursor {
        time: event.time,
        event_id: event.event_id.clone(),
    }
}

fn invalid(name: &str, why: &str) -> AliyunError {
    AliyunError::new(
        Code::InvalidParameter,
        format!("The specified parameter {name} is not valid: {why}."),
    )
}

fn lookup_attribute(params: &Params<'_>, account: &Account) -> Result<Option<Lookup>, AliyunError> {
    let key = params.get("LookupAttribute.1.Key");
    let value = params.get("LookupAttribute.1.Value");
    let extra = params.iter().any(|(name, _)| {
        name.starts_with("LookupAttribute.") && !name.starts_with("LookupAttribute.1.")
    });
    if extra {
        return Err(invalid(
            "LookupAttribute",
            "at most one lookup attribute is allowed",
        ));
    }
    let (key, value) = match (key, value) {
        (None, None) => return Ok(None),
        (Some(key), Some(value)) if !value.is_empty() => (key, value),
        _ => {
            return Err(invalid(
                "LookupAttribute.1",
                "a lookup attribute needs a Key and a non-empty Value",
            ))
        }
    };
    let owned = value.to_owned();
    Ok(Some(match key {
        "EventName" => Lookup::Store(AuditAttribute::EventName(owned)),
        "EventId" => Lookup::Store(AuditAttribute::EventId(owned)),
        "EventAccessKeyId" => Lookup::Store(AuditAttribute::AccessKeyId(owned)),
        "ResourceName" => Lookup::Store(AuditAttribute::ResourceName(owned)),
        "ResourceType" if value == RESOURCE_TYPE => {
            Lookup::Store(AuditAttribute::ResourceKind(ResourceKind::KeyPair))
        }
        "ResourceType" => Lookup::Nothing,
        "ServiceName" if value == SERVICE_NAME => Lookup::Everything,
        "ServiceName" => Lookup::Nothing,
        "User" if value == account.name => Lookup::Everything,
        "User" => Lookup::Nothing,
        "EventRW" => match value {
            "Read" => Lookup::Store(AuditAttribute::ReadOnly(true)),
            "Write" => Lookup::Store(AuditAttribute::ReadOnly(false)),
            "All" => Lookup::Everything,
            _ => return Err(invalid("EventRW", "it must be Read, Write or All")),
        },
        _ => return Err(invalid("LookupAttribute.1.Key", "the key is not supported")),
    }))
}

fn time_param(params: &Params<'_>, name: &str) -> Result<Option<OffsetDateTime>, AliyunError> {
    match params.get(name) {
        None | Some("") => Ok(None),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map(Some)
            .map_err(|_| {
                invalid(
                    name,
                    "it must be an ISO 8601 time such as 2026-12-02T03:04:05Z",
                )
            }),
    }
}

fn iso(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// One event as ActionTrail shows it.
fn event_object(event: &AuditEvent) -> Value {
    let request_parameters: Value =
        serde_json::from_str(&event.request_parameters).unwrap_or_else(|_| json!({}));
    let names: Vec<&str> = event
        .resources
        .iter()
        .filter(|r| r.kind == ResourceKind::KeyPair)
        .flat_map(|r| [r.name.as_str(), r.id.as_str()])
        .filter(|name| !name.is_empty())
        .collect();
    let mut object = Map::new();
    let mut put = |name: &str, value: Value| {
        object.insert(name.to_owned(), value);
    };
    put("eventId", json!(event.event_id));
    put("eventName", json!(event.action));
    put(
        "eventRW",
        json!(if event.read_only { "Read" } else { "Write" }),
    );
    put("eventSource", json!(EVENT_SOURCE));
    put("eventTime", json!(iso(event.time)));
    put("eventType", json!("ApiCall"));
    put("eventVersion", json!("1"));
    put("acsRegion", json!(event.region));
    put("requestId", json!(event.request_id));
    put("requestParameters", request_parameters);
    put("responseElements", response_elements(event));
    put("resourceName", json!(names.join(";")));
    put("resourceType", json!(RESOURCE_TYPE));
    put("serviceName", json!(SERVICE_NAME));
    put("sourceIpAddress", json!(event.source_ip));
    put("userAgent", json!(event.user_agent));
    put(
        "userIdentity",
        json!({
            "type": "ram-user",
            "principalId": event.access_key_id,
            "accountId": event.account_id,
            "accessKeyId": event.access_key_id,
            "userName": event.account_name,
        }),
    );
    if let Some(code) = &event.error_code {
        put("errorCode", json!(code));
        put(
            "errorMessage",
            json!(event.error_message.clone().unwrap_or_default()),
        );
    }
    Value::Object(object)
}

/// What the reply showed, with the private key replaced; just the request ID for reads and
/// failures.
fn response_elements(event: &AuditEvent) -> Value {
    let request_id = event.request_id.as_str();
    let key_pair = event
        .resources
        .iter()
        .find(|r| r.kind == ResourceKind::KeyPair);
    if event.error_code.is_some() || event.read_only {
        return json!({ "RequestId": request_id });
    }
    match (event.action.as_str(), key_pair) {
        ("CreateKeyPair", Some(kp)) => json!({
            "RequestId": request_id,
            "KeyPairName": kp.name,
            "KeyPairId": kp.id,
            "KeyPairFingerPrint": kp.fingerprint,
            "PrivateKeyBody": SENSITIVE_DATA_REMOVED,
        }),
        ("ImportKeyPair", Some(kp)) => json!({
            "RequestId": request_id,
            "KeyPairName": kp.name,
            "KeyPairId": kp.id,
            "KeyPairFingerPrint": kp.fingerprint,
        }),
        _ => json!({ "RequestId": request_id }),
    }
}
