//! The Alibaba Cloud ECS dialect (API version 2014-05-26): RPC-style requests on `/`, signed
//! with ACS v1 (HMAC-SHA1 in the parameters) or V3 (ACS3-HMAC-SHA256 in headers), answered in
//! XML or JSON. Files mirror the EC2 dialect: `auth`, `shape`, `actions`, `reply` (both
//! formats from one tree) and `error` (the one error table).

pub mod actions;
pub mod actiontrail;
pub mod auth;
pub mod error;
pub mod reply;
pub mod shape;

use http::{HeaderMap, StatusCode};
use keypaird_inventory::{AuditEvent, AuditSource, CredentialCache, Inventory, Provider, Scope};
use time::OffsetDateTime;

use crate::audit::{self, AuditSettings, CallDraft, CallEnd, ParameterNames};
use crate::aws::AuthMode;
use crate::params::{Limits, Params, ParamsError};
use crate::{ApiRequest, ApiResponse, Refusal, RequestLog};
use actions::{ActionContext, Fields};
use error::{AliyunError, Code};
use reply::{Format, Node};

/// The only API version of ECS this service speaks.
pub const API_VERSION: &str = "2014-05-26";

/// ActionTrail's API version: its `LookupEvents` arrives like any ECS call.
pub const ACTIONTRAIL_API_VERSION: &str = "2020-07-06";

/// What one ECS request may hold (docs/decisions.md, "Request limits"). No SDK call comes near:
/// the largest real ones carry 20 tags or 50 `ResourceId.N`; the longest values are STS
/// security tokens, `PublicKeyBody` and `KeyPairNames` (100 names of 128 characters as a JSON
/// array, which Python's `json.dumps` writes with `\uXXXX` escapes: under 80 KB).
pub const PARAM_LIMITS: Limits = Limits {
    max_parameters: 2_000,
    max_value_bytes: 8 * 1024,
    long_values: &["PublicKeyBody", "KeyPairNames"],
    max_long_value_bytes: 128 * 1024,
};

/// Everything the dialect needs from the server, fixed at start-up.
#[derive(Clone)]
pub struct AliyunDialect {
    pub inventory: Inventory,
    pub credentials: CredentialCache,
    pub auth_mode: AuthMode,
    pub audit: AuditSettings,
}

impl AliyunDialect {
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let request_id = new_request_id();
        let mut log = RequestLog {
            dialect: "aliyun",
            request_id: request_id.clone(),
            ..RequestLog::default()
        };
        let params = read_params(request);
        let format = match &params {
            Ok(params) => Format::of(params.get("Format"), &request.headers),
            // Another parameter is unreadable; the format asked for may still be.
            Err(_) => Format::of(readable_format_param(request).as_deref(), &request.headers),
        };
        let mut draft = None;
        let outcome = self
            .handle_inner(request, params, &mut log, &mut draft)
            .await;
        self.record_unchanged(request, &log, draft, outcome.as_ref().err())
            .await;
        match outcome {
            Ok((action, fields)) => {
                let mut all = Vec::with_capacity(fields.len() + 1);
                all.push(("RequestId", Node::text(request_id.as_str())));
                all.extend(fields);
                ApiResponse {
                    status: StatusCode::OK,
                    content_type: format.content_type(),
                    body: reply::render(format, &format!("{action}Response"), &all),
                    log,
                }
            }
            Err(error) => error_response(&error, format, &request_id, &request.headers, log),
        }
    }

    async fn record_unchanged(
        &self,
        request: &ApiRequest,
        log: &RequestLog,
        draft: Option<AuditEvent>,
        error: Option<&AliyunError>,
    ) {
        let end = CallEnd {
            source: AuditSource::Ecs,
            request,
            log,
            draft,
            error: error.map(|e| (e.code.wire().0, e.message.as_str())),
            asked_for_read: log
                .action
                .as_deref()
                .is_some_and(|a| READ_ONLY_ACTIONS.contains(&a)),
        };
        audit::record_call_end(&self.inventory, &self.credentials, end).await;
    }

    async fn handle_inner(
        &self,
        request: &ApiRequest,
        params: Result<Params<'_>, AliyunError>,
        log: &mut RequestLog,
        draft: &mut Option<AuditEvent>,
    ) -> Result<(&'static str, Fields), AliyunError> {
        let params = params?;
        let is_v3 = auth::is_v3(&request.headers);
        // V3 carries action and version in headers; v1 in the signed parameters.
        let (action, version) = if is_v3 {
            (
                header(&request.headers, "x-acs-action"),
                header(&request.headers, "x-acs-version"),
            )
        } else {
            (params.get("Action"), params.get("Version"))
        };
        log.action = action.map(|a| a.chars().take(64).collect());
        let trail = match version {
            None | Some("") => return Err(AliyunError::missing_parameter("Version")),
            Some(API_VERSION) => false,
            Some(ACTIONTRAIL_API_VERSION) => true,
            Some(_) => return Err(AliyunError::invalid_version()),
        };
        let action = match action {
            None | Some("") => return Err(AliyunError::missing_parameter("Action")),
            Some("LookupEvents") if trail => "LookupEvents",
            Some(_) if trail => return Err(AliyunError::action_not_found()),
            Some(action) => known_action(action).ok_or_else(AliyunError::action_not_found)?,
        };

        // Read before authentication so the access log and the record of a refused call name
        // the region; a bad one is reported only once the nonce is spent, like any other
        // refusal of a signed call.
        let region = shape::required(&params, "RegionId").and_then(|region| {
            if is_plausible_region(region) {
                Ok(region)
            } else {
                Err(AliyunError::invalid_parameter("RegionId"))
            }
        });
        if let Ok(region) = region {
            log.region = Some(region.to_owned());
        }
        let (caller, nonce) = auth::authenticate(
            &self.credentials,
            self.auth_mode,
            request,
            &params,
            OffsetDateTime::now_utc(),
            log,
        )
        .await
        .map_err(|err| auth::failed(log, err))?;
        let account = caller.account;
        log.account_id = Some(account.id.clone());
        if trail {
            // A read: nothing to protect from a replay but the caller's own page.
            auth::spend(&self.inventory, nonce)
                .await
                .map_err(|err| auth::failed(log, err))?;
            let fields = actiontrail::lookup_events(
                &self.inventory,
                &account,
                &params,
                OffsetDateTime::now_utc(),
            )
            .await?;
            return Ok((action, fields));
        }
        // A read is drafted only when reads are recorded: the hot path of reads pays nothing.
        let read = READ_ONLY_ACTIONS.contains(&action);
        if action != "DescribeInstances" && (!read || self.audit.record_reads) {
            let call = CallDraft {
                source: AuditSource::Ecs,
                request,
                request_id: &log.request_id,
                action,
                read_only: read,
                account_id: &account.id,
                account_name: &account.name,
                region: log.region.as_deref().unwrap_or_default(),
                access_key_id: log.access_key_id.as_deref().unwrap_or_default(),
            };
            *draft = Some(call.event(&params, ParameterNames::AsSent));
        }
        let audit = draft.as_ref().unwrap_or_else(|| audit::unrecorded());
        // After authentication (a bad signature is still a signature error), before anything
        // is spent or changed.
        if caller.read_only && !READ_ONLY_ACTIONS.contains(&action) {
            return Err(AliyunError::forbidden_ram());
        }
        let run = async {
            let region = region?;
            let ctx = ActionContext {
                inventory: &self.inventory,
                quota: account.key_pair_quota(Provider::Aliyun),
                scope: Scope {
                    account_id: account.id.clone(),
                    provider: Provider::Aliyun,
                    region: region.to_owned(),
                },
                audit,
            };
            match action {
                "CreateKeyPair" => actions::create_key_pair(&ctx, &params).await,
                "ImportKeyPair" => actions::import_key_pair(&ctx, &params).await,
                "DescribeKeyPairs" => actions::describe_key_pairs(&ctx, &params).await,
                "DeleteKeyPairs" => actions::delete_key_pairs(&ctx, &params).await,
                "AttachKeyPair" | "DetachKeyPair" => {
                    actions::attach_or_detach_key_pair(&ctx, &params).await
                }
                "TagResources" => actions::tag_resources(&ctx, &params).await,
                "UntagResources" => actions::untag_resources(&ctx, &params).await,
                "ListTagResources" => actions::list_tag_resources(&ctx, &params).await,
                "JoinResourceGroup" => actions::join_resource_group(&ctx, &params).await,
                "DescribeInstances" => actions::describe_instances(&params),
                _ => Err(AliyunError::action_not_found()),
            }
        };
        let fields = if READ_ONLY_ACTIONS.contains(&action) {
            // A read changes nothing, so it runs while its nonce is recorded (an fsync) instead
            // of after; a nonce found spent discards what was read.
            let (spent, outcome) =
                futures_util::future::join(auth::spend(&self.inventory, nonce), run).await;
            spent.map_err(|err| auth::failed(log, err))?;
            outcome?
        } else {
            // A change happens only once its nonce is durably spent: a replay changes nothing.
            auth::spend(&self.inventory, nonce)
                .await
                .map_err(|err| auth::failed(log, err))?;
            run.await?
        };
        Ok((action, fields))
    }
}

/// Actions that change nothing: they may run while their nonce is being recorded, and they are
/// all a read-only access key may call.
const READ_ONLY_ACTIONS: &[&str] = &["DescribeKeyPairs", "ListTagResources", "DescribeInstances"];

/// Every action this dialect answers.
pub const ACTIONS: &[&str] = &[
    "CreateKeyPair",
    "ImportKeyPair",
    "DescribeKeyPairs",
    "DeleteKeyPairs",
    "AttachKeyPair",
    "DetachKeyPair",
    "TagResources",
    "UntagResources",
    "ListTagResources",
    "JoinResourceGroup",
    "DescribeInstances",
];

fn known_action(action: &str) -> Option<&'static str> {
    ACTIONS.iter().copied().find(|known| *known == action)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Region IDs look like `cn-hangzhou` or `ap-southeast-1`; anything else would become a
/// scope nobody can find again.
fn is_plausible_region(region: &str) -> bool {
    (1..=64).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Query parameters merged with a form body (Terraform sends business parameters in the body).
/// A body of another type cannot hold parameters in this RPC API and is left to the signature.
fn read_params(request: &ApiRequest) -> Result<Params<'_>, AliyunError> {
    let body_is_form = request.body.is_empty()
        || match request.headers.get(http::header::CONTENT_TYPE) {
            None => true,
            Some(value) => value.to_str().is_ok_and(|ct| {
                ct.split(';').next().is_some_and(|mime| {
                    mime.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            }),
        };
    let body = (body_is_form && !request.body.is_empty()).then_some(&request.body[..]);
    Params::parse(&request.query, body, &PARAM_LIMITS).map_err(|err| match err {
        ParamsError::Malformed => AliyunError::new(
            Code::InvalidParameter,
            "The request contains a parameter that is not validly percent-encoded UTF-8.",
        ),
        ParamsError::MalformedValue(name) | ParamsError::Repeated(name) => {
            AliyunError::invalid_parameter(&name)
        }
        ParamsError::TooMany { max } => AliyunError::too_many_parameters(max),
        ParamsError::NameTooLong { max } => AliyunError::name_too_long(max),
        ParamsError::ValueTooLong { name, .. } => AliyunError::value_too_long(&name),
    })
}

/// The `Format` parameter of a request whose parameters as a whole could not be read.
fn readable_format_param(request: &ApiRequest) -> Option<String> {
    request
        .query
        .as_bytes()
        .split(|b| *b == b'&')
        .chain(request.body.split(|b| *b == b'&'))
        .find_map(|pair| pair.strip_prefix(b"Format="))
        .and_then(|value| crate::params::decode_component(value).ok())
        .map(std::borrow::Cow::into_owned)
}

/// ECS request IDs are uppercase UUIDs.
fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

/// Renders any error in the ECS shape; the server uses it for errors found before dispatch
/// (body too large) too.
pub fn error_response(
    error: &AliyunError,
    format: Format,
    request_id: &str,
    headers: &HeaderMap,
    mut log: RequestLog,
) -> ApiResponse {
    let (code, status) = error.code.wire();
    log.dialect = "aliyun";
    log.error_code = Some(code);
    log.request_id = request_id.to_owned();
    let host = header(headers, "host").unwrap_or_default();
    let recommend =
        format!("https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId={request_id}");
    let fields = vec![
        ("RequestId", Node::text(request_id)),
        ("HostId", Node::text(host)),
        ("Code", Node::text(code)),
        ("Message", Node::text(error.message.as_str())),
        ("Recommend", Node::text(recommend)),
    ];
    ApiResponse {
        status,
        content_type: format.content_type(),
        body: reply::render(format, "Error", &fields),
        log,
    }
}

/// Error reply for a request that never reached the dialect (the HTTP layer refused it).
pub fn refusal_response(refusal: Refusal, headers: &HeaderMap, query: &str) -> ApiResponse {
    let format_param = Params::parse(query, None, &PARAM_LIMITS)
        .ok()
        .and_then(|p| p.get("Format").map(str::to_owned));
    let format = Format::of(format_param.as_deref(), headers);
    error_response(
        &AliyunError::refusal(refusal),
        format,
        &new_request_id(),
        headers,
        RequestLog::default(),
    )
}
