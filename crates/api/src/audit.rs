//! What both dialects record of a call in the audit trail: the event drafted once the caller
//! is known (handed to the inventory with every change, which records it in the change's
//! transaction), and the events of calls that changed nothing, recorded after the reply is
//! decided (refused authentications, failed changes, and reads under `--audit-reads`).

use keypaird_inventory::{AuditEvent, AuditResource, AuditSource, Inventory};

use crate::params::Params;
use crate::{ApiRequest, RequestLog};

/// Longest user agent kept, in characters; SDKs send about 200.
const USER_AGENT_MAX_CHARS: usize = 1024;

/// Parameters that carry a signature or a token rather than what was asked: never recorded.
const UNRECORDED_PARAMETERS: &[&str] = &[
    "Action",
    "Version",
    "AWSAccessKeyId",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "Expires",
    "SecurityToken",
    "Format",
];

/// How a dialect names parameters in `requestParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterNames {
    /// CloudTrail's style: each dotted segment with its first letter in lower case
    /// (`KeyName` → `keyName`, `TagSpecification.1.Tag.1.Key` → `tagSpecification.1.tag.1.key`).
    LowerCamel,
    /// As sent (ActionTrail shows RPC parameters unchanged).
    AsSent,
}

/// What a call that is not recorded (a read without `--audit-reads`, an unknown action) hands
/// its actions: they call no change with it, and a read pays nothing to make it (no ID, no
/// clock, no allocation per request).
pub fn unrecorded() -> &'static AuditEvent {
    static UNRECORDED: std::sync::LazyLock<AuditEvent> =
        std::sync::LazyLock::new(|| AuditEvent::new(AuditSource::Ec2, ""));
    &UNRECORDED
}

/// Whether the audit trail records reads too (`--audit-reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditSettings {
    pub record_reads: bool,
}

/// The event of one authenticated call, before the inventory adds what the change touched.
pub struct CallDraft<'a> {
    pub source: AuditSource,
    pub request: &'a ApiRequest,
    pub request_id: &'a str,
    pub action: &'a str,
    pub read_only: bool,
    pub account_id: &'a str,
    pub account_name: &'a str,
    pub region: &'a str,
    pub access_key_id: &'a str,
}

impl CallDraft<'_> {
    pub fn event(&self, params: &Params<'_>, names: ParameterNames) -> AuditEvent {
        let mut event = AuditEvent::new(self.source, self.action);
        event.account_id = self.account_id.to_owned();
        event.account_name = self.account_name.to_owned();
        event.region = self.region.to_owned();
        event.access_key_id = self.access_key_id.to_owned();
        event.read_only = self.read_only;
        event.request_id = self.request_id.to_owned();
        event.request_parameters = request_parameters(params, names);
        fill_origin(&mut event, self.request);
        event
    }
}

/// Where the call came from: the peer's address and the client's user agent.
pub fn fill_origin(event: &mut AuditEvent, request: &ApiRequest) {
    event.source_ip = request.source_ip.clone();
    event.user_agent = user_agent(&request.headers);
}

/// The client's user agent as an event keeps it: at most [`USER_AGENT_MAX_CHARS`] characters.
pub fn user_agent(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
        .chars()
        .take(USER_AGENT_MAX_CHARS)
        .collect()
}

/// The event of a refused authentication: who it claimed to be (the access key ID, as logged)
/// and the error. The account is the key's when the key exists, so its owner sees the attempt.
async fn refused_authentication(
    source: AuditSource,
    read_only: bool,
    request: &ApiRequest,
    log: &RequestLog,
    credentials: &keypaird_inventory::CredentialCache,
    error_code: &str,
    error_message: &str,
) -> AuditEvent {
    let mut event = AuditEvent::new(source, log.action.as_deref().unwrap_or(""));
    event.request_id = log.request_id.clone();
    event.access_key_id = log.access_key_id.clone().unwrap_or_default();
    event.region = log.region.clone().unwrap_or_default();
    event.read_only = read_only;
    if !event.access_key_id.is_empty() {
        if let Ok(Some(credential)) = credentials.find(&event.access_key_id).await {
            event.account_id = credential.account.id.clone();
            event.account_name = credential.account.name.clone();
        }
    }
    event.error_code = Some(error_code.to_owned());
    event.error_message = Some(error_message.to_owned());
    fill_origin(&mut event, request);
    event
}

/// Marks `event` as failed with `code` and `message`, naming the key pairs its request named
/// (a change that succeeded has them from the store instead), so a lookup by name finds the
/// attempts too.
pub fn fail(event: &mut AuditEvent, code: &str, message: &str) {
    event.error_code = Some(code.to_owned());
    event.error_message = Some(message.to_owned());
    if event.resources.is_empty() {
        event.resources = requested_key_pairs(&event.request_parameters);
    }
}

/// The key pairs a request's parameters name, in either dialect's names: a key pair's name
/// (`keyName`, `KeyPairName`, each of `KeyPairNames`), its ID (`keyPairId`, `KeyPairId`), or a
/// tagged resource (`resourceId.N`, `ResourceId.N`).
fn requested_key_pairs(request_parameters: &str) -> Vec<AuditResource> {
    let Ok(serde_json::Value::Object(parameters)) = serde_json::from_str(request_parameters) else {
        return Vec::new();
    };
    let mut resources = Vec::new();
    for (name, value) in &parameters {
        let Some(value) = value.as_str() else {
            continue;
        };
        let base = name.split('.').next().unwrap_or_default();
        match base {
            "keyName" | "KeyPairName" => resources.push(AuditResource::key_pair("", value, "")),
            "keyPairId" | "KeyPairId" | "resourceId" | "ResourceId" => {
                resources.push(AuditResource::key_pair(value, "", ""))
            }
            "KeyPairNames" => {
                let names: Vec<String> = serde_json::from_str(value).unwrap_or_default();
                resources.extend(names.iter().map(|n| AuditResource::key_pair("", n, "")));
            }
            _ => {}
        }
    }
    resources.truncate(MAX_REQUESTED_RESOURCES);
    resources
}

/// Key pairs named by a failed request that its record keeps, at most (DeleteKeyPairs takes 100).
const MAX_REQUESTED_RESOURCES: usize = 100;

/// How a call ended, for [`record_call_end`].
pub struct CallEnd<'a> {
    pub source: AuditSource,
    pub request: &'a ApiRequest,
    pub log: &'a RequestLog,
    /// The call's event, when the caller was known and the call is one that is recorded.
    pub draft: Option<AuditEvent>,
    /// The code and message the call was answered with, when it failed.
    pub error: Option<(&'a str, &'a str)>,
    /// The call asked for a read (a refused one has no draft to say so).
    pub asked_for_read: bool,
}

/// Records what the store did not record with a change: a refused authentication, a failed
/// call, or a read (drafted only under `--audit-reads`). A change that succeeded was recorded
/// in its own transaction.
pub async fn record_call_end(
    inventory: &Inventory,
    credentials: &keypaird_inventory::CredentialCache,
    end: CallEnd<'_>,
) {
    let event = match (end.draft, end.error) {
        (_, Some((code, message))) if end.log.auth_failed => {
            refused_authentication(
                end.source,
                end.asked_for_read,
                end.request,
                end.log,
                credentials,
                code,
                message,
            )
            .await
        }
        (Some(mut event), Some((code, message))) => {
            fail(&mut event, code, message);
            event
        }
        (Some(event), None) if event.read_only => event,
        _ => return,
    };
    record_unchanged(inventory, event).await;
}

/// Records an event of a call that changed nothing. The reply does not wait on the outcome's
/// kind: a store that cannot take it is logged, and the caller still gets the reply its call
/// earned (a refused signature stays a 4xx).
async fn record_unchanged(inventory: &Inventory, event: AuditEvent) {
    if let Err(err) = inventory.record_events(std::slice::from_ref(&event)).await {
        tracing::warn!(
            error = %err,
            event_name = event.action.as_str(),
            request_id = event.request_id.as_str(),
            "the audit trail could not record a call"
        );
    }
}

/// The call's parameters as a JSON object, without those that carry a signature.
fn request_parameters(params: &Params<'_>, names: ParameterNames) -> String {
    let mut object = serde_json::Map::new();
    for (name, value) in params.iter() {
        if UNRECORDED_PARAMETERS.contains(&name) || name.starts_with("X-Amz-") {
            continue;
        }
        let name = match names {
            ParameterNames::AsSent => name.to_owned(),
            ParameterNames::LowerCamel => lower_camel(name),
        };
        object.insert(name, serde_json::Value::String(value.to_owned()));
    }
    serde_json::Value::Object(object).to_string()
}

fn lower_camel(name: &str) -> String {
    name.split('.')
        .map(|segment| {
            let mut chars = segment.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Limits;

    const LIMITS: Limits = Limits {
        max_parameters: 100,
        max_value_bytes: 1024,
        long_values: &[],
        max_long_value_bytes: 1024,
    };

    #[test]
    fn parameters_are_recorded_without_signatures_in_the_dialects_names() {
        let query = "Action=CreateKeyPair&Version=2016-11-15&KeyName=a%22b\
                     &TagSpecification.1.Tag.1.Key=env&X-Amz-Signature=ff\
                     &X-Amz-Security-Token=tok&Signature=s&SignatureNonce=n&AccessKeyId=AK";
        let params = Params::parse(query, None, &LIMITS).unwrap();
        assert_eq!(
            request_parameters(&params, ParameterNames::LowerCamel),
            r#"{"keyName":"a\"b","tagSpecification.1.tag.1.key":"env"}"#
        );
        assert_eq!(
            request_parameters(&params, ParameterNames::AsSent),
            r#"{"KeyName":"a\"b","TagSpecification.1.Tag.1.Key":"env"}"#
        );
    }

    #[test]
    fn a_failed_call_names_the_key_pairs_its_request_named() {
        let mut event = AuditEvent::new(AuditSource::Ecs, "DeleteKeyPairs");
        event.request_parameters =
            r#"{"KeyPairNames":"[\"a\",\"b\"]","RegionId":"cn-hangzhou"}"#.to_owned();
        fail(&mut event, "InvalidParameter", "no");
        let names: Vec<&str> = event.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(event.error_code.as_deref(), Some("InvalidParameter"));

        let mut event = AuditEvent::new(AuditSource::Ec2, "CreateTags");
        event.request_parameters =
            r#"{"keyName":"k","resourceId.1":"key-1","tag.1.key":"env"}"#.to_owned();
        fail(&mut event, "InvalidID", "no");
        let named: Vec<(&str, &str)> = event
            .resources
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(named, [("", "k"), ("key-1", "")]);
    }
}
