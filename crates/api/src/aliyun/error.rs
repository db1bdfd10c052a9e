//! The ECS dialect's error table: every code keypaird answers with, its HTTP status and its
//! message, as reference/alibaba-ecs.md records them. Nothing else in the dialect picks a status
//! or words an error.
//!
//! Clients retry every 5xx for minutes, so only real faults on our side are 5xx here.

use http::StatusCode;
use keypaird_inventory::{InventoryError, NameProblem, TagProblem};

use crate::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    KeyPairAlreadyExist,
    KeyPairQuotaExceeded,
    InvalidKeyPairName,
    InvalidPublicKeyBody,
    InvalidKeyPairNames,
    KeyPairNameNotFound,
    MissingParameter,
    InvalidParameter,
    DuplicateTagKey,
    InvalidTagKey,
    InvalidTagValue,
    TagQuotaExceeded,
    ResourceIdNotFound,
    ResourceTypeNotFound,
    TooManyResourceIds,
    TooManyTags,
    ActionNotFound,
    InvalidVersion,
    /// ActionTrail's LookupEvents: `MaxResults` outside 1–50.
    InvalidMaxResults,
    /// ActionTrail's LookupEvents: `StartTime` after `EndTime`.
    InvalidTimeRange,
    /// ActionTrail's LookupEvents: a `NextToken` this service did not hand out for the request.
    InvalidNextToken,
    AccessKeyIdNotFound,
    AccessKeyIdInactive,
    /// A read-only access key asked for a change.
    ForbiddenRam,
    SignatureDoesNotMatch,
    IncompleteSignature,
    TimestampFormat,
    TimestampExpired,
    SignatureNonceUsed,
    RequestTooLarge,
    RequestTimeout,
    /// Overloaded (too many requests in flight) or too slow: a temporary failure, retried.
    ServiceUnavailable,
    /// The store is unreachable: retryable. Issue 5 asks for `InternalError` in this dialect,
    /// with a 503 status so that clients and load balancers retry.
    StoreUnavailable,
    InternalError,
}

impl Code {
    /// The table: wire code and HTTP status.
    pub fn wire(self) -> (&'static str, StatusCode) {
        use Code::*;
        use StatusCode as S;
        match self {
            KeyPairAlreadyExist => ("KeyPair.AlreadyExist", S::BAD_REQUEST),
            KeyPairQuotaExceeded => ("QuotaExceed.KeyPair", S::FORBIDDEN),
            InvalidKeyPairName => ("InvalidKeyPairName.Malformed", S::BAD_REQUEST),
            InvalidPublicKeyBody => ("InvalidPublicKeyBody.Malformed", S::BAD_REQUEST),
            InvalidKeyPairNames => ("InvalidKeyPairNames.ValueNotSupported", S::BAD_REQUEST),
            KeyPairNameNotFound => ("InvalidKeyPairName.NotFound", S::BAD_REQUEST),
            MissingParameter => ("MissingParameter", S::BAD_REQUEST),
            InvalidParameter => ("InvalidParameter", S::BAD_REQUEST),
            DuplicateTagKey => ("Duplicate.TagKey", S::BAD_REQUEST),
            InvalidTagKey => ("InvalidTagKey.Malformed", S::BAD_REQUEST),
            InvalidTagValue => ("InvalidTagValue.Malformed", S::BAD_REQUEST),
            TagQuotaExceeded => ("QuotaExceed.Tags", S::FORBIDDEN),
            ResourceIdNotFound => ("InvalidResourceId.NotFound", S::NOT_FOUND),
            ResourceTypeNotFound => ("InvalidResourceType.NotFound", S::NOT_FOUND),
            TooManyResourceIds => ("NumberExceed.ResourceIds", S::BAD_REQUEST),
            TooManyTags => ("NumberExceed.Tags", S::BAD_REQUEST),
            ActionNotFound => ("InvalidAction.NotFound", S::NOT_FOUND),
            InvalidVersion => ("InvalidVersion", S::BAD_REQUEST),
            InvalidMaxResults => ("InvalidMaxResults", S::BAD_REQUEST),
            InvalidTimeRange => ("InvalidTimeRange", S::BAD_REQUEST),
            InvalidNextToken => ("InvalidNextToken", S::BAD_REQUEST),
            AccessKeyIdNotFound => ("InvalidAccessKeyId.NotFound", S::NOT_FOUND),
            AccessKeyIdInactive => ("InvalidAccessKeyId.Inactive", S::BAD_REQUEST),
            ForbiddenRam => ("Forbidden.RAM", S::FORBIDDEN),
            SignatureDoesNotMatch => ("SignatureDoesNotMatch", S::BAD_REQUEST),
            IncompleteSignature => ("IncompleteSignature", S::BAD_REQUEST),
            TimestampFormat => ("InvalidTimeStamp.Format", S::BAD_REQUEST),
            TimestampExpired => ("InvalidTimeStamp.Expired", S::BAD_REQUEST),
            SignatureNonceUsed => ("SignatureNonceUsed", S::BAD_REQUEST),
            RequestTooLarge => ("RequestEntityTooLarge", S::PAYLOAD_TOO_LARGE),
            RequestTimeout => ("RequestTimeout", S::REQUEST_TIMEOUT),
            ServiceUnavailable => ("ServiceUnavailable", S::SERVICE_UNAVAILABLE),
            StoreUnavailable => ("InternalError", S::SERVICE_UNAVAILABLE),
            InternalError => ("InternalError", S::INTERNAL_SERVER_ERROR),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliyunError {
    pub code: Code,
    pub message: String,
}

impl AliyunError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        AliyunError {
            code,
            message: message.into(),
        }
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            Code::MissingParameter,
            format!(
                "The input parameter \"{}\" that is mandatory for processing this request is not supplied.",
                shorten(name)
            ),
        )
    }

    pub fn invalid_parameter(name: &str) -> Self {
        Self::new(
            Code::InvalidParameter,
            format!(
                "The specified parameter \"{}\" is not valid.",
                shorten(name)
            ),
        )
    }

    pub fn key_pair_names() -> Self {
        Self::new(
            Code::InvalidKeyPairNames,
            "The specified parameter \"KeyPairNames\" is not valid.",
        )
    }

    pub fn key_pair_name_not_found() -> Self {
        Self::new(
            Code::KeyPairNameNotFound,
            "The specified KeyPairName does not exist in our records.",
        )
    }

    pub fn public_key_body() -> Self {
        Self::new(
            Code::InvalidPublicKeyBody,
            "The PublicKeyBody format is not supported.",
        )
    }

    pub fn resource_not_found() -> Self {
        Self::new(
            Code::ResourceIdNotFound,
            "The specified ResourceIds are not found in our records.",
        )
    }

    pub fn resource_type_not_found() -> Self {
        Self::new(
            Code::ResourceTypeNotFound,
            "The ResourceType provided does not exist in our records.",
        )
    }

    pub fn too_many_resource_ids(max: usize) -> Self {
        Self::new(
            Code::TooManyResourceIds,
            format!("The maximum number of ResourceIds is {max}."),
        )
    }

    pub fn too_many_tags(max: usize) -> Self {
        Self::new(
            Code::TooManyTags,
            format!("The maximum number of Tags is {max}."),
        )
    }

    /// Past `PARAM_LIMITS` (decisions: "Request limits"); ECS documents no such limit.
    pub fn too_many_parameters(max: usize) -> Self {
        Self::new(
            Code::InvalidParameter,
            format!("The request holds more than {max} parameters."),
        )
    }

    pub fn name_too_long(max: usize) -> Self {
        Self::new(
            Code::InvalidParameter,
            format!("A parameter name exceeds the maximum length of {max} bytes."),
        )
    }

    /// A value past `PARAM_LIMITS`: the code the parameter's own check gives a value that is
    /// too long, so the limit answers as that check would.
    pub fn value_too_long(name: &str) -> Self {
        let tag_field = name
            .strip_prefix("Tag.")
            .and_then(|rest| rest.split_once('.'))
            .map(|(_, field)| field);
        match (name, tag_field) {
            ("KeyPairName", _) => Self::invalid_key_pair_name(),
            ("PublicKeyBody", _) => Self::public_key_body(),
            ("KeyPairNames", _) => Self::key_pair_names(),
            (_, Some("Key")) => Self::invalid_tag_key(),
            (_, Some("Value")) => Self::invalid_tag_value(),
            _ => Self::invalid_parameter(name),
        }
    }

    pub fn invalid_key_pair_name() -> Self {
        Self::new(
            Code::InvalidKeyPairName,
            "Specified Key Pair name is not valid.",
        )
    }

    pub fn invalid_tag_key() -> Self {
        Self::new(Code::InvalidTagKey, "The specified Tag.n.Key is not valid.")
    }

    pub fn invalid_tag_value() -> Self {
        Self::new(
            Code::InvalidTagValue,
            "The specified Tag.n.Value is not valid.",
        )
    }

    pub fn action_not_found() -> Self {
        Self::new(
            Code::ActionNotFound,
            "Specified api is not found, please check your url and method.",
        )
    }

    pub fn invalid_version() -> Self {
        Self::new(
            Code::InvalidVersion,
            "Specified parameter Version is not valid.",
        )
    }

    pub fn access_key_inactive() -> Self {
        Self::new(
            Code::AccessKeyIdInactive,
            "Specified access key is disabled.",
        )
    }

    pub fn forbidden_ram() -> Self {
        Self::new(
            Code::ForbiddenRam,
            "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
        )
    }

    pub fn access_key_not_found() -> Self {
        Self::new(
            Code::AccessKeyIdNotFound,
            "Specified access key is not found.",
        )
    }

    /// ECS echoes the string it signed, which helps a client find its signing mistake; past
    /// [`MAX_ECHOED_STRING_TO_SIGN`] bytes it is cut, so that a hostile 256 KiB body (percent-
    /// encoded twice in a v1 string to sign) cannot turn into a reply of a megabyte.
    pub fn signature_mismatch(string_to_sign: &str) -> Self {
        let echoed = if string_to_sign.len() <= MAX_ECHOED_STRING_TO_SIGN {
            string_to_sign.to_owned()
        } else {
            let mut end = MAX_ECHOED_STRING_TO_SIGN;
            while !string_to_sign.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}...", &string_to_sign[..end])
        };
        Self::new(
            Code::SignatureDoesNotMatch,
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{echoed}"
            ),
        )
    }

    pub fn timestamp_format() -> Self {
        Self::new(
            Code::TimestampFormat,
            "Specified time stamp or date value is not well formatted.",
        )
    }

    pub fn timestamp_expired() -> Self {
        Self::new(
            Code::TimestampExpired,
            "Specified time stamp or date value is expired.",
        )
    }

    pub fn nonce_used() -> Self {
        Self::new(
            Code::SignatureNonceUsed,
            "Specified signature nonce was used already.",
        )
    }

    /// What the HTTP layer refused before the dialect saw the request.
    pub fn refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BodyTooLarge { limit } => Self::new(
                Code::RequestTooLarge,
                format!("The request body is larger than {limit} bytes."),
            ),
            Refusal::BodyMalformed => Self::new(
                Code::InvalidParameter,
                "The request body is malformed or incomplete.",
            ),
            Refusal::BodyTimeout => Self::new(
                Code::RequestTimeout,
                "The request body was not received within the time allowed.",
            ),
            Refusal::Overloaded | Refusal::RequestTimeout => Self::new(
                Code::ServiceUnavailable,
                "The request has failed due to a temporary failure of the server.",
            ),
            // Alibaba's gateway answers a method an RPC API does not take as an unknown API.
            Refusal::MethodNotAllowed => Self::action_not_found(),
        }
    }

    pub fn unavailable() -> Self {
        Self::new(
            Code::StoreUnavailable,
            "The request has failed due to a temporary failure of the server.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            Code::InternalError,
            "The request processing has failed due to some unknown error, exception or failure.",
        )
    }
}

impl From<InventoryError> for AliyunError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::InvalidKeyPairName { problem, .. } => match problem {
                NameProblem::Empty => AliyunError::missing_parameter("KeyPairName"),
                _ => AliyunError::invalid_key_pair_name(),
            },
            InventoryError::KeyPairExists { .. } => {
                AliyunError::new(Code::KeyPairAlreadyExist, "The key pair already exist.")
            }
            InventoryError::KeyPairNotFound(_) => AliyunError::resource_not_found(),
            InventoryError::QuotaExceeded { .. } => {
                AliyunError::new(Code::KeyPairQuotaExceeded, "The key pair quota exceeds.")
            }
            InventoryError::InvalidPublicKey(_) => AliyunError::public_key_body(),
            InventoryError::InvalidTag(problem) => match problem {
                TagProblem::DuplicateKey(_) => AliyunError::new(
                    Code::DuplicateTagKey,
                    "The Tag.N.Key contain duplicate key.",
                ),
                TagProblem::TooManyInRequest { max } => AliyunError::too_many_tags(max),
                TagProblem::EmptyKey
                | TagProblem::KeyTooLong { .. }
                | TagProblem::ReservedKey(_)
                | TagProblem::InvalidCharacters(_) => AliyunError::invalid_tag_key(),
                TagProblem::ValueTooLong { .. } | TagProblem::ReservedValue(_) => {
                    AliyunError::invalid_tag_value()
                }
            },
            InventoryError::TagLimitExceeded { limit, .. } => AliyunError::new(
                Code::TagQuotaExceeded,
                format!("The maximum number of tags on a resource is {limit}."),
            ),
            // The ECS dialect has no dry run; reaching this is a bug.
            InventoryError::DryRun => AliyunError::internal(),
            InventoryError::Unavailable(_) => AliyunError::unavailable(),
            InventoryError::Internal(_) => AliyunError::internal(),
        }
    }
}

/// Error messages echo client input; a 1 MB parameter must not become a 1 MB error.
/// Far above any real request's string to sign (an ImportKeyPair of a 16384-bit RSA key signs
/// about 6 KB).
const MAX_ECHOED_STRING_TO_SIGN: usize = 16 * 1024;

fn shorten(value: &str) -> String {
    const MAX: usize = 128;
    match value.char_indices().nth(MAX) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}...", &value[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str =
        "Specified signature is not matched with our calculation. server string to sign is:";

    #[test]
    fn a_real_string_to_sign_is_echoed_whole() {
        let sts = "POST&%2F&AccessKeyId%3Dtesting%26Action%3DDescribeKeyPairs";
        assert_eq!(
            AliyunError::signature_mismatch(sts).message,
            format!("{PREFIX}{sts}")
        );
        let at_the_cap = "a".repeat(MAX_ECHOED_STRING_TO_SIGN);
        assert_eq!(
            AliyunError::signature_mismatch(&at_the_cap).message,
            format!("{PREFIX}{at_the_cap}")
        );
    }

    #[test]
    fn a_huge_string_to_sign_is_cut_at_a_character_boundary() {
        // 'é' is two bytes: the cap falls inside one, so the cut steps back to its start.
        let huge = format!("x{}", "é".repeat(200_000));
        let message = AliyunError::signature_mismatch(&huge).message;
        let echoed = message.strip_prefix(PREFIX).expect("prefix");
        assert_eq!(echoed.len(), MAX_ECHOED_STRING_TO_SIGN - 1 + 3);
        assert!(echoed.ends_with("é..."));
        assert!(echoed.starts_with("xé"));
    }
}
