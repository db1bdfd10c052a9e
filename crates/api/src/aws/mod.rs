//! The AWS EC2 dialect (API version 2016-11-15): query-protocol requests, SigV4, XML replies.
//! Files follow Garage's per-protocol split: `auth` (who is calling), `shape` (parameter names),
//! `actions` (what each action does), `xml` (replies) and `error` (the one error table).

pub mod actions;
pub mod auth;
pub mod error;
pub mod shape;
pub mod xml;

use http::StatusCode;
use keypaird_inventory::{AuditEvent, AuditSource, CredentialCache, Inventory, Provider, Scope};
use keypaird_keys::PpkVersion;
use time::OffsetDateTime;

use crate::audit::{self, AuditSettings, CallDraft, CallEnd, ParameterNames};
use crate::params::{Limits, Params, ParamsError};
use crate::{ApiRequest, ApiResponse, Refusal, RequestLog};
use actions::ActionContext;
pub use auth::AuthMode;
use error::{AwsError, Code};

pub const CONTENT_TYPE: &str = "text/xml;charset=UTF-8";

/// Every action this dialect answers (the dispatch in `handle_inner`); the others are
/// `InvalidAction` for every caller.
pub const ACTIONS: [&str; 7] = [
    "CreateKeyPair",
    "ImportKeyPair",
    "DescribeKeyPairs",
    "DeleteKeyPair",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
];

/// Every published EC2 API version, oldest first (the EC2 API reference's document history;
/// botocore still ships models from 2014-09-01 on). Key pairs exist since the first, so any of
/// them may be sent; replies are always written in 2016-11-15's shape and namespace.
#[rustfmt::skip]
pub const API_VERSIONS: [&str; 52] = [
    "2006-06-26", "2006-10-01", "2007-01-03", "2007-01-19", "2007-03-01", "2007-08-29",
    "2008-02-01", "2008-05-05", "2008-08-08", "2008-12-01", "2009-03-01", "2009-04-04",
    "2009-07-15", "2009-08-15", "2009-10-31", "2009-11-30", "2010-06-15", "2010-08-31",
    "2010-11-15", "2011-01-01", "2011-02-28", "2011-05-15", "2011-07-15", "2011-11-01",
    "2011-12-01", "2011-12-15", "2012-03-01", "2012-04-01", "2012-05-01", "2012-06-01",
    "2012-06-15", "2012-07-20", "2012-08-15", "2012-10-01", "2012-12-01", "2013-02-01",
    "2013-06-15", "2013-07-15", "2013-08-15", "2013-10-01", "2013-10-15", "2014-02-01",
    "2014-05-01", "2014-06-15", "2014-09-01", "2014-10-01", "2015-03-01", "2015-04-15",
    "2015-10-01", "2016-04-01", "2016-09-15", "2016-11-15",
];

/// What one EC2 request may hold (docs/decisions.md, "Request limits"). No SDK call comes near:
/// the largest real ones are DescribeKeyPairs with many `KeyName.N` (EC2 advises at most 1,000
/// IDs a call) plus 200 filter values, and CreateTags with 50 tags; the longest values are
/// session tokens and `PublicKeyMaterial` (a 16384-bit RSA key in RFC 4716 with headers, base64
/// once more, is under 12 KB).
pub const PARAM_LIMITS: Limits = Limits {
    max_parameters: 2_000,
    max_value_bytes: 8 * 1024,
    long_values: &["PublicKeyMaterial"],
    max_long_value_bytes: 128 * 1024,
};

/// Everything the dialect needs from the server, fixed at start-up.
#[derive(Clone)]
pub struct AwsDialect {
    pub inventory: Inventory,
    pub credentials: CredentialCache,
    pub auth_mode: AuthMode,
    pub ppk_version: PpkVersion,
    pub audit: AuditSettings,
}

impl AwsDialect {
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut log = RequestLog {
            dialect: "aws",
            request_id: request_id.clone(),
            ..RequestLog::default()
        };
        let mut draft = None;
        let outcome = self
            .handle_inner(request, &request_id, &mut log, &mut draft)
            .await;
        self.record_unchanged(request, &log, draft, outcome.as_ref().err())
            .await;
        match outcome {
            Ok(body) => ApiResponse {
                status: StatusCode::OK,
                content_type: CONTENT_TYPE,
                body,
                log,
            },
            Err(error) => error_response(&error, &request_id, log),
        }
    }

    async fn record_unchanged(
        &self,
        request: &ApiRequest,
        log: &RequestLog,
        draft: Option<AuditEvent>,
        error: Option<&AwsError>,
    ) {
        let end = CallEnd {
            source: AuditSource::Ec2,
            request,
            log,
            draft,
            error: error.map(|e| (e.code.wire().0, e.message.as_str())),
            asked_for_read: log.action.as_deref().is_some_and(is_read),
        };
        audit::record_call_end(&self.inventory, &self.credentials, end).await;
    }

    async fn handle_inner(
        &self,
        request: &ApiRequest,
        request_id: &str,
        log: &mut RequestLog,
        draft: &mut Option<AuditEvent>,
    ) -> Result<String, AwsError> {
        // Parameters are read first (dialect detection and presigned auth need them), but a
        // syntax error is only reported once the caller is known, as EC2 does.
        let params = read_params(request);
        if let Ok(params) = &params {
            log.action = params.get("Action").map(|a| a.chars().take(64).collect());
            // Before authentication, as EC2 does: which versions exist is public, so nothing
            // is told to an unknown caller. A request without `Version` is taken as the
            // current one, as it always was here (curl users and older tests send none).
            if let Some(version) = params.get("Version") {
                if !API_VERSIONS.contains(&version) {
                    return Err(AwsError::no_such_version(version));
                }
            }
        }
        let caller = auth::authenticate(
            &self.credentials,
            self.auth_mode,
            request,
            keypaird_auth::sigv4::SERVICE,
            OffsetDateTime::now_utc(),
            log,
        )
        .await
        .inspect_err(|err| log.note_auth_failure(err.code.wire().1))?;
        log.account_id = Some(caller.account.id.clone());
        log.region = Some(caller.region.clone());
        let params = params?;
        let action = match params.get("Action") {
            Some(action) if !action.is_empty() => action,
            _ => {
                return Err(AwsError::new(
                    Code::MissingAction,
                    "The request must contain the parameter Action",
                ))
            }
        };
        // A read is drafted only when reads are recorded: the hot path of reads pays nothing.
        if ACTIONS.contains(&action) && (!is_read(action) || self.audit.record_reads) {
            let call = CallDraft {
                source: AuditSource::Ec2,
                request,
                request_id,
                action,
                read_only: is_read(action),
                account_id: &caller.account.id,
                account_name: &caller.account.name,
                region: &caller.region,
                access_key_id: log.access_key_id.as_deref().unwrap_or_default(),
            };
            *draft = Some(call.event(&params, ParameterNames::LowerCamel));
        }
        let audit = draft.as_ref().unwrap_or_else(|| audit::unrecorded());
        // Before the action reads its parameters, so a DryRun of a change answers this too,
        // as EC2 does for a caller without the permission.
        if caller.read_only && !is_read(action) && ACTIONS.contains(&action) {
            return Err(AwsError::unauthorized_operation());
        }
        let ctx = ActionContext {
            inventory: &self.inventory,
            quota: caller.account.key_pair_quota(Provider::Aws),
            scope: Scope {
                account_id: caller.account.id,
                provider: Provider::Aws,
                region: caller.region,
            },
            ppk_version: self.ppk_version,
            request_id,
            audit,
        };
        match action {
            "CreateKeyPair" => actions::create_key_pair(&ctx, &params).await,
            "ImportKeyPair" => actions::import_key_pair(&ctx, &params).await,
            "DescribeKeyPairs" => actions::describe_key_pairs(&ctx, &params).await,
            "DeleteKeyPair" => actions::delete_key_pair(&ctx, &params).await,
            "CreateTags" => actions::create_tags(&ctx, &params).await,
            "DeleteTags" => actions::delete_tags(&ctx, &params).await,
            "DescribeTags" => actions::describe_tags(&ctx, &params).await,
            other => Err(AwsError::invalid_action(other)),
        }
    }
}

/// What a read-only access key may call.
fn is_read(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("List")
}

/// Query parameters, plus the body's when it is a form. A body in any other format is refused:
/// silently ignoring it would turn into a confusing MissingParameter.
fn read_params(request: &ApiRequest) -> Result<Params<'_>, AwsError> {
    let body = if request.body.is_empty() {
        None
    } else {
        let content_type = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?"));
        match content_type {
            None => Some(&request.body[..]),
            Some(ct) if is_form(ct) => Some(&request.body[..]),
            Some(ct) => {
                return Err(AwsError::new(
                    Code::InvalidParameterValue,
                    format!(
                        "Unsupported Content-Type '{}': send parameters as application/x-www-form-urlencoded.",
                        ct.chars().take(100).collect::<String>()
                    ),
                ))
            }
        }
    };
    Params::parse(&request.query, body, &PARAM_LIMITS).map_err(|err| match err {
        ParamsError::Malformed | ParamsError::MalformedValue(_) => AwsError::malformed_query(),
        ParamsError::Repeated(name) => AwsError::new(
            Code::InvalidParameterValue,
            format!("The parameter {name} is given more than once."),
        ),
        ParamsError::TooMany { max } => AwsError::too_many_parameters(max),
        ParamsError::NameTooLong { max } => AwsError::name_too_long(max),
        ParamsError::ValueTooLong { name, max } => AwsError::value_too_long(&name, max),
    })
}

fn is_form(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|mime| {
        mime.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Error reply for a request that never reached the dialect (the HTTP layer refused it).
pub fn refusal_response(refusal: Refusal) -> ApiResponse {
    error_response(
        &AwsError::refusal(refusal),
        &uuid::Uuid::new_v4().to_string(),
        RequestLog::default(),
    )
}

/// Renders any error in the EC2 envelope; used by the server for errors found before dispatch
/// (body too large) too.
pub fn error_response(error: &AwsError, request_id: &str, mut log: RequestLog) -> ApiResponse {
    let (code, status) = error.code.wire();
    log.error_code = Some(code);
    log.dialect = "aws";
    log.request_id = request_id.to_owned();
    ApiResponse {
        status,
        content_type: CONTENT_TYPE,
        body: xml::error_body(error, request_id),
        log,
    }
}
