//! AWS CloudTrail's `LookupEvents` (API 2013-11-01, JSON protocol): the EC2 dialect's audit
//! events of the calling account, in the region the request is signed for. `lookup` reads the
//! request into an inventory query; `record` renders each event as CloudTrail shows it.
//! docs/audit.md is the contract.

pub mod error;
mod lookup;
mod record;

use http::StatusCode;
use keypaird_inventory::{AuditSource, CredentialCache, Inventory};
use time::OffsetDateTime;

use crate::aws::{self, AuthMode};
use crate::{audit, ApiRequest, ApiResponse, Refusal, RequestLog};
use error::{CloudTrailError, Code};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The `X-Amz-Target` prefix of every CloudTrail operation.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// The service a CloudTrail request's credential scope names.
const SIGNING_SERVICE: &str = "cloudtrail";

/// Whether `request` is a CloudTrail call (its `X-Amz-Target` names CloudTrail).
pub fn is_cloudtrail(headers: &http::HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|target| target.starts_with(TARGET_PREFIX))
}

#[derive(Clone)]
pub struct CloudTrailDialect {
    pub inventory: Inventory,
    pub credentials: CredentialCache,
    pub auth_mode: AuthMode,
}

impl CloudTrailDialect {
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut log = RequestLog {
            dialect: "cloudtrail",
            request_id: request_id.clone(),
            ..RequestLog::default()
        };
        let operation = request
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|target| target.strip_prefix(TARGET_PREFIX))
            .unwrap_or_default();
        log.action = Some(operation.chars().take(64).collect());
        match self.handle_inner(request, operation, &mut log).await {
            Ok(body) => ApiResponse {
                status: StatusCode::OK,
                content_type: CONTENT_TYPE,
                body,
                log,
            },
            Err(error) => {
                let end = audit::CallEnd {
                    source: AuditSource::Ec2,
                    request,
                    log: &log,
                    // LookupEvents itself is not recorded; a refused one is.
                    draft: None,
                    error: Some((error.code.wire().0, &error.message)),
                    asked_for_read: true,
                };
                audit::record_call_end(&self.inventory, &self.credentials, end).await;
                error_response(&error, &request_id, log)
            }
        }
    }

    async fn handle_inner(
        &self,
        request: &ApiRequest,
        operation: &str,
        log: &mut RequestLog,
    ) -> Result<String, CloudTrailError> {
        let caller = aws::auth::authenticate(
            &self.credentials,
            self.auth_mode,
            request,
            SIGNING_SERVICE,
            OffsetDateTime::now_utc(),
            log,
        )
        .await
        .map_err(|err| {
            let error = CloudTrailError::from_authentication(err);
            log.note_auth_failure(error.code.wire().1);
            error
        })?;
        log.account_id = Some(caller.account.id.clone());
        log.region = Some(caller.region.clone());
        if operation != "LookupEvents" {
            return Err(CloudTrailError::new(
                Code::UnknownOperation,
                format!(
                    "The operation {} is not supported by keypaird's CloudTrail.",
                    operation.chars().take(64).collect::<String>()
                ),
            ));
        }
        let body: serde_json::Value = if request.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&request.body).map_err(|_| {
                CloudTrailError::serialization("The request body is not valid JSON.")
            })?
        };
        let lookup = lookup::read(&body, &caller, OffsetDateTime::now_utc())?;
        let Some(query) = lookup.query.as_ref() else {
            return Ok(record::page(&[], None));
        };
        let mut events = self
            .inventory
            .find_audit_events(query)
            .await
            .map_err(|err| CloudTrailError::new(Code::ServiceUnavailable, err.to_string()))?;
        // One more than the page was asked for: whether a next page exists.
        let more = events.len() > lookup.page_size as usize;
        events.truncate(lookup.page_size as usize);
        let next = match (more, events.last()) {
            (true, Some(last)) => Some(lookup.next_token(last)),
            _ => None,
        };
        Ok(record::page(&events, next.as_deref()))
    }
}

/// A request the HTTP layer refused, in CloudTrail's envelope.
pub fn refusal_response(refusal: Refusal) -> ApiResponse {
    error_response(
        &CloudTrailError::from_refusal(refusal),
        &uuid::Uuid::new_v4().to_string(),
        RequestLog::default(),
    )
}

pub fn error_response(
    error: &CloudTrailError,
    request_id: &str,
    mut log: RequestLog,
) -> ApiResponse {
    let (code, status) = error.code.wire();
    log.dialect = "cloudtrail";
    log.error_code = Some(code);
    log.request_id = request_id.to_owned();
    let body = serde_json::json!({ "__type": code, "message": error.message }).to_string();
    ApiResponse {
        status,
        content_type: CONTENT_TYPE,
        body,
        log,
    }
}
