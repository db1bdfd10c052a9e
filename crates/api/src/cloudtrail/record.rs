//! Events as CloudTrail shows them: the LookupEvents `Event` and, inside it, the
//! `CloudTrailEvent` record (a JSON string).

use keypaird_inventory::audit::SENSITIVE_DATA_REMOVED;
use keypaird_inventory::{AuditEvent, ResourceKind};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;

use super::lookup::{EVENT_SOURCE, RESOURCE_TYPE};

/// The LookupEvents reply.
pub(super) fn page(events: &[AuditEvent], next_token: Option<&str>) -> String {
    let events: Vec<Value> = events.iter().map(lookup_event).collect();
    let mut reply = Map::new();
    reply.insert("Events".into(), Value::Array(events));
    if let Some(token) = next_token {
        reply.insert("NextToken".into(), Value::String(token.to_owned()));
    }
    Value::Object(reply).to_string()
}

fn lookup_event(event: &AuditEvent) -> Value {
    let resources: Vec<Value> = resource_names(event)
        .into_iter()
        .map(|name| json!({ "ResourceType": RESOURCE_TYPE, "ResourceName": name }))
        .collect();
    json!({
        "EventId": event.event_id,
        "EventName": event.action,
        "ReadOnly": if event.read_only { "true" } else { "false" },
        "AccessKeyId": event.access_key_id,
        "EventTime": epoch_seconds(event),
        "EventSource": EVENT_SOURCE,
        "Username": event.account_name,
        "Resources": resources,
        "CloudTrailEvent": cloudtrail_record(event).to_string(),
    })
}

/// Each key pair's name, then its ID, as far as the call named them.
fn resource_names(event: &AuditEvent) -> Vec<&str> {
    event
        .resources
        .iter()
        .filter(|r| r.kind == ResourceKind::KeyPair)
        .flat_map(|r| [r.name.as_str(), r.id.as_str()])
        .filter(|name| !name.is_empty())
        .collect()
}

/// Seconds since the epoch with the milliseconds kept, as the JSON protocol writes times.
fn epoch_seconds(event: &AuditEvent) -> Value {
    let millis = event.time.unix_timestamp_nanos() / 1_000_000;
    json!(millis as f64 / 1000.0)
}

fn cloudtrail_record(event: &AuditEvent) -> Value {
    let time = event
        .time
        .replace_nanosecond(0)
        .unwrap_or(event.time)
        .format(&Rfc3339)
        .unwrap_or_default();
    let request_parameters: Value =
        serde_json::from_str(&event.request_parameters).unwrap_or(Value::Null);
    let request_parameters = match request_parameters {
        Value::Object(map) if map.is_empty() => Value::Null,
        other => other,
    };
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": event.access_key_id,
            "arn": format!("arn:aws:iam::{}:user/{}", event.account_id, event.account_name),
            "accountId": event.account_id,
            "accessKeyId": event.access_key_id,
            "userName": event.account_name,
        },
        "eventTime": time,
        "eventSource": EVENT_SOURCE,
        "eventName": event.action,
        "awsRegion": event.region,
        "sourceIPAddress": event.source_ip,
        "userAgent": event.user_agent,
        "requestParameters": request_parameters,
        "responseElements": response_elements(event),
        "requestID": event.request_id,
        "eventID": event.event_id,
        "readOnly": event.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": event.account_id,
        "eventCategory": "Management",
    });
    if let (Some(code), Value::Object(map)) = (&event.error_code, &mut record) {
        map.insert("errorCode".into(), Value::String(format!("Client.{code}")));
        map.insert(
            "errorMessage".into(),
            Value::String(event.error_message.clone().unwrap_or_default()),
        );
    }
    record
}

/// What the reply showed, without key material; `null` for reads and failures, as CloudTrail.
fn response_elements(event: &AuditEvent) -> Value {
    if event.error_code.is_some() || event.read_only {
        return Value::Null;
    }
    let key_pair = event
        .resources
        .iter()
        .find(|r| r.kind == ResourceKind::KeyPair);
    let request_id = event.request_id.as_str();
    match (event.action.as_str(), key_pair) {
        ("CreateKeyPair", Some(kp)) => json!({
            "requestId": request_id,
            "keyName": kp.name,
            "keyFingerprint": kp.fingerprint,
            "keyPairId": kp.id,
            "keyMaterial": SENSITIVE_DATA_REMOVED,
        }),
        ("ImportKeyPair", Some(kp)) => json!({
            "requestId": request_id,
            "keyName": kp.name,
            "keyFingerprint": kp.fingerprint,
            "keyPairId": kp.id,
        }),
        ("DeleteKeyPair", Some(kp)) => json!({
            "requestId": request_id,
            "_return": true,
            "keyPairId": kp.id,
        }),
        ("DeleteKeyPair" | "CreateTags" | "DeleteTags", _) => json!({
            "requestId": request_id,
            "_return": true,
        }),
        _ => json!({ "requestId": request_id }),
    }
}
