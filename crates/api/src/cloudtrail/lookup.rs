//! A LookupEvents request read into the inventory's [`AuditQuery`], and its page tokens.

use keypaird_inventory::{
    AuditAttribute, AuditCursor, AuditEvent, AuditQuery, AuditScope, AuditSource, ResourceKind,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::error::{CloudTrailError, Code};
use crate::audit_token::{self, PageToken};
use crate::aws::auth::Caller;

pub(super) const EVENT_SOURCE: &str = "ec2.amazonaws.com";
pub(super) const RESOURCE_TYPE: &str = "AWS::EC2::KeyPair";
const MAX_RESULTS: u32 = 50;
const MAX_ATTRIBUTE_CHARS: usize = 2000;
/// CloudTrail's event history: the default start is this long before the end.
const HISTORY: Duration = Duration::days(90);

pub(super) struct Lookup {
    /// `None` when the request can match nothing (a Username, EventSource or ResourceType that
    /// no event of the scope carries, or Insights events).
    pub(super) query: Option<AuditQuery>,
    pub(super) page_size: u32,
    /// What a token must repeat: the attribute and the times as the caller gave them.
    binding: String,
}

impl Lookup {
    pub(super) fn next_token(&self, last: &AuditEvent) -> String {
        audit_token::encode(&PageToken {
            first: cursor_of(last),
            last: cursor_of(last),
            binding: self.binding.clone(),
        })
    }
}

fn cursor_of(event: &AuditEvent) -> AuditCursor {
    AuditCursor {
        time: event.time,
        event_id: event.event_id.clone(),
    }
}

pub(super) fn read(
    body: &Value,
    caller: &Caller,
    now: OffsetDateTime,
) -> Result<Lookup, CloudTrailError> {
    let object = body
        .as_object()
        .ok_or_else(|| CloudTrailError::serialization("The request body must be a JSON object."))?;
    let attribute = lookup_attribute(object.get("LookupAttributes"))?;
    let start = time_member(object.get("StartTime"), "StartTime")?;
    let end = time_member(object.get("EndTime"), "EndTime")?;
    let until = end.unwrap_or(now);
    let since = start.unwrap_or(until - HISTORY);
    if since > until {
        return Err(CloudTrailError::new(
            Code::InvalidTimeRange,
            "Start time must not be later than end time.",
        ));
    }
    let page_size = match object.get("MaxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(value) => match value.as_i64() {
            Some(n) if (1..=i64::from(MAX_RESULTS)).contains(&n) => n as u32,
            Some(_) => {
                return Err(CloudTrailError::new(
                    Code::InvalidMaxResults,
                    "MaxResults must be between 1 and 50.",
                ))
            }
            None => {
                return Err(CloudTrailError::serialization(
                    "MaxResults must be an integer.",
                ))
            }
        },
    };
    let insights = match object.get("EventCategory") {
        None | Some(Value::Null) => false,
        Some(Value::String(category)) if category == "insight" => true,
        Some(_) => {
            return Err(CloudTrailError::new(
                Code::InvalidEventCategory,
                "EventCategory must be insight.",
            ))
        }
    };
    let binding = serde_json::json!({
        "attribute": object.get("LookupAttributes"),
        "start": object.get("StartTime"),
        "end": object.get("EndTime"),
        "category": object.get("EventCategory"),
    })
    .to_string();
    let after = match object.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(
            audit_token::decode(token)
                .filter(|token| token.binding == binding)
                .ok_or_else(|| {
                    CloudTrailError::new(
                        Code::InvalidNextToken,
                        "The NextToken is not valid for this request.",
                    )
                })?
                .last,
        ),
        Some(_) => {
            return Err(CloudTrailError::serialization(
                "NextToken must be a string.",
            ))
        }
    };
    let attribute = match attribute {
        Some(Attribute::Store(attribute)) => Some(attribute),
        Some(Attribute::Everything) | None => None,
        Some(Attribute::Nothing) => return Ok(nothing(page_size, binding)),
    };
    // Username is the account's name: the same for every event of the scope.
    let other_user = username_asked(object).is_some_and(|name| name != caller.account.name);
    if insights || other_user {
        return Ok(nothing(page_size, binding));
    }
    let mut query = AuditQuery::new(
        AuditScope::Api {
            account_id: caller.account.id.clone(),
            source: AuditSource::Ec2,
            region: caller.region.clone(),
        },
        since,
        until,
        page_size + 1,
    );
    query.attribute = attribute;
    query.after = after;
    Ok(Lookup {
        query: Some(query),
        page_size,
        binding,
    })
}

fn nothing(page_size: u32, binding: String) -> Lookup {
    Lookup {
        query: None,
        page_size,
        binding,
    }
}

enum Attribute {
    Store(AuditAttribute),
    /// A value every event of the scope has (its event source).
    Everything,
    /// A value no event of the scope has.
    Nothing,
}

/// The `Username` the request looks up, if that is its attribute (answered by the caller's
/// account name, not the store).
fn username_asked(object: &serde_json::Map<String, Value>) -> Option<&str> {
    let attribute = object.get("LookupAttributes")?.as_array()?.first()?;
    (attribute.get("AttributeKey")?.as_str()? == "Username")
        .then(|| attribute.get("AttributeValue")?.as_str())
        .flatten()
}

fn lookup_attribute(value: Option<&Value>) -> Result<Option<Attribute>, CloudTrailError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(CloudTrailError::serialization(
                "LookupAttributes must be a list.",
            ))
        }
    };
    let attribute = match list.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => {
            return Err(CloudTrailError::invalid_attributes(
                "You cannot specify more than one lookup attribute.",
            ))
        }
    };
    let text = |name: &str| -> Result<&str, CloudTrailError> {
        match attribute.get(name) {
            Some(Value::String(text)) => Ok(text),
            None | Some(Value::Null) => Err(CloudTrailError::invalid_attributes(format!(
                "The lookup attribute must have an {name}."
            ))),
            Some(_) => Err(CloudTrailError::serialization(format!(
                "{name} must be a string."
            ))),
        }
    };
    let key = text("AttributeKey")?;
    let value = text("AttributeValue")?;
    if value.is_empty() || value.chars().count() > MAX_ATTRIBUTE_CHARS {
        return Err(CloudTrailError::invalid_attributes(
            "AttributeValue must be between 1 and 2000 characters.",
        ));
    }
    let owned = value.to_owned();
    Ok(Some(match key {
        "EventId" => Attribute::Store(AuditAttribute::EventId(owned)),
        "EventName" => Attribute::Store(AuditAttribute::EventName(owned)),
        "AccessKeyId" => Attribute::Store(AuditAttribute::AccessKeyId(owned)),
        "ResourceName" => Attribute::Store(AuditAttribute::ResourceName(owned)),
        "ReadOnly" => match value {
            "true" => Attribute::Store(AuditAttribute::ReadOnly(true)),
            "false" => Attribute::Store(AuditAttribute::ReadOnly(false)),
            _ => {
                return Err(CloudTrailError::invalid_attributes(
                    "ReadOnly must be true or false.",
                ))
            }
        },
        "ResourceType" if value == RESOURCE_TYPE => {
            Attribute::Store(AuditAttribute::ResourceKind(ResourceKind::KeyPair))
        }
        "EventSource" if value == EVENT_SOURCE => Attribute::Everything,
        // Checked against the account's name once the query is built.
        "Username" => Attribute::Everything,
        "ResourceType" | "EventSource" => Attribute::Nothing,
        other => {
            return Err(CloudTrailError::invalid_attributes(format!(
                "{} is not a valid AttributeKey.",
                other.chars().take(64).collect::<String>()
            )))
        }
    }))
}

/// A time as the SDKs send it (epoch seconds, possibly fractional) or as ISO 8601 text.
fn time_member(
    value: Option<&Value>,
    name: &str,
) -> Result<Option<OffsetDateTime>, CloudTrailError> {
    let invalid = || {
        CloudTrailError::new(
            Code::InvalidTimeRange,
            format!("{name} is not a valid time."),
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => {
            let seconds = number.as_f64().ok_or_else(invalid)?;
            if !seconds.is_finite() || seconds.abs() > 1.0e11 {
                return Err(invalid());
            }
            let nanos = (seconds * 1.0e9).round() as i128;
            OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .map(Some)
                .map_err(|_| invalid())
        }
        Some(Value::String(text)) => OffsetDateTime::parse(text, &Rfc3339)
            .map(Some)
            .map_err(|_| invalid()),
        Some(_) => Err(CloudTrailError::serialization(format!(
            "{name} must be a timestamp."
        ))),
    }
}
