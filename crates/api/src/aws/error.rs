//! The EC2 dialect's error table: every code keypaird answers with, its HTTP status, and the
//! wording real EC2 uses where it is on record (see reference/aws-ec2.md). Nothing else in the
//! dialect picks a status or writes an error message.

use http::StatusCode;
use keypaird_inventory::{InventoryError, KeyPairRef, NameProblem, TagProblem};

use crate::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    KeyPairDuplicate,
    KeyPairNotFound,
    KeyFormat,
    KeyPairLimitExceeded,
    MissingParameter,
    MissingAction,
    InvalidParameterValue,
    InvalidParameterCombination,
    UnknownParameter,
    InvalidAction,
    /// A `Version` that is not one of EC2's published API versions.
    NoSuchVersion,
    InvalidId,
    TagLimitExceeded,
    FilterLimitExceeded,
    InvalidPaginationToken,
    MalformedQueryString,
    DryRunOperation,
    AuthFailure,
    /// A read-only access key asked for a change.
    UnauthorizedOperation,
    SignatureDoesNotMatch,
    IncompleteSignature,
    MissingAuthenticationToken,
    RequestExpired,
    RequestEntityTooLarge,
    /// The body's framing is broken (EC2's generic "the request is not valid").
    InvalidRequest,
    RequestTimeout,
    MethodNotAllowed,
    /// EC2's throttling code: SDKs back off and retry it.
    RequestLimitExceeded,
    ServiceUnavailable,
    InternalError,
}

impl Code {
    /// The table: wire code and HTTP status.
    pub fn wire(self) -> (&'static str, StatusCode) {
        use Code::*;
        match self {
            KeyPairDuplicate => ("InvalidKeyPair.Duplicate", StatusCode::BAD_REQUEST),
            KeyPairNotFound => ("InvalidKeyPair.NotFound", StatusCode::BAD_REQUEST),
            KeyFormat => ("InvalidKey.Format", StatusCode::BAD_REQUEST),
            KeyPairLimitExceeded => ("KeyPairLimitExceeded", StatusCode::BAD_REQUEST),
            MissingParameter => ("MissingParameter", StatusCode::BAD_REQUEST),
            MissingAction => ("MissingAction", StatusCode::BAD_REQUEST),
            InvalidParameterValue => ("InvalidParameterValue", StatusCode::BAD_REQUEST),
            InvalidParameterCombination => ("InvalidParameterCombination", StatusCode::BAD_REQUEST),
            UnknownParameter => ("UnknownParameter", StatusCode::BAD_REQUEST),
            InvalidAction => ("InvalidAction", StatusCode::BAD_REQUEST),
            NoSuchVersion => ("NoSuchVersion", StatusCode::BAD_REQUEST),
            InvalidId => ("InvalidID", StatusCode::BAD_REQUEST),
            TagLimitExceeded => ("TagLimitExceeded", StatusCode::BAD_REQUEST),
            FilterLimitExceeded => ("FilterLimitExceeded", StatusCode::BAD_REQUEST),
            InvalidPaginationToken => ("InvalidPaginationToken", StatusCode::BAD_REQUEST),
            MalformedQueryString => ("MalformedQueryString", StatusCode::BAD_REQUEST),
            DryRunOperation => ("DryRunOperation", StatusCode::PRECONDITION_FAILED),
            AuthFailure => ("AuthFailure", StatusCode::UNAUTHORIZED),
            UnauthorizedOperation => ("UnauthorizedOperation", StatusCode::FORBIDDEN),
            SignatureDoesNotMatch => ("SignatureDoesNotMatch", StatusCode::FORBIDDEN),
            IncompleteSignature => ("IncompleteSignature", StatusCode::BAD_REQUEST),
            MissingAuthenticationToken => ("MissingAuthenticationToken", StatusCode::UNAUTHORIZED),
            RequestExpired => ("RequestExpired", StatusCode::BAD_REQUEST),
            RequestEntityTooLarge => ("RequestEntityTooLarge", StatusCode::PAYLOAD_TOO_LARGE),
            InvalidRequest => ("InvalidRequest", StatusCode::BAD_REQUEST),
            RequestTimeout => ("RequestTimeout", StatusCode::REQUEST_TIMEOUT),
            MethodNotAllowed => ("MethodNotAllowed", StatusCode::METHOD_NOT_ALLOWED),
            RequestLimitExceeded => ("RequestLimitExceeded", StatusCode::SERVICE_UNAVAILABLE),
            ServiceUnavailable => ("ServiceUnavailable", StatusCode::SERVICE_UNAVAILABLE),
            InternalError => ("InternalError", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: Code,
    pub message: String,
}

impl AwsError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        AwsError {
            code,
            message: message.into(),
        }
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            Code::MissingParameter,
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            Code::UnknownParameter,
            format!("The parameter {name} is not recognized"),
        )
    }

    pub fn invalid_value(name: &str, value: &str, why: &str) -> Self {
        Self::new(
            Code::InvalidParameterValue,
            format!(
                "Value ({}) for parameter {name} is invalid. {why}",
                shorten(value)
            ),
        )
    }

    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            Code::InvalidAction,
            format!(
                "The action {} is not valid for this web service.",
                shorten(action)
            ),
        )
    }

    pub fn no_such_version(version: &str) -> Self {
        Self::new(
            Code::NoSuchVersion,
            format!(
                "The requested version ({}) of service AmazonEC2 does not exist",
                shorten(version)
            ),
        )
    }

    pub fn key_pair_not_found(by: &KeyPairRef) -> Self {
        let message = match by {
            KeyPairRef::Name(name) => format!("The key pair '{}' does not exist", shorten(name)),
            KeyPairRef::Id(id) => format!("The key pair ID '{}' does not exist", shorten(id)),
        };
        Self::new(Code::KeyPairNotFound, message)
    }

    pub fn invalid_key_format() -> Self {
        Self::new(
            Code::KeyFormat,
            "Key is not in valid OpenSSH public key format",
        )
    }

    pub fn malformed_query() -> Self {
        Self::new(
            Code::MalformedQueryString,
            "The query string contains a syntax error.",
        )
    }

    /// Past `PARAM_LIMITS` (decisions: "Request limits"); EC2 documents no such limit.
    pub fn too_many_parameters(max: usize) -> Self {
        Self::new(
            Code::InvalidParameterValue,
            format!("The request holds more than {max} parameters."),
        )
    }

    pub fn name_too_long(max: usize) -> Self {
        Self::new(
            Code::InvalidParameterValue,
            format!("A parameter name exceeds the maximum length of {max} bytes."),
        )
    }

    /// The value is not echoed: it is long by definition.
    pub fn value_too_long(name: &str, max: usize) -> Self {
        Self::new(
            Code::InvalidParameterValue,
            format!(
                "Value for parameter {} is invalid. Length exceeds maximum of {max} bytes.",
                shorten(name)
            ),
        )
    }

    /// Real EC2's wording (seen in public bug reports of DescribeInstances and DescribeTags).
    pub fn too_many_filter_values(max: usize) -> Self {
        Self::new(
            Code::FilterLimitExceeded,
            format!("The maximum number of filter values specified on a single call is {max}"),
        )
    }

    /// Real EC2's wording, as for the number of values.
    pub fn filter_value_too_long(max: usize) -> Self {
        Self::new(
            Code::FilterLimitExceeded,
            format!("The maximum length for a filter value is {max} characters"),
        )
    }

    /// keypaird's own limit (decisions: "Request limits"), in the words of the other two.
    pub fn too_many_wildcard_tail_chars(max: usize) -> Self {
        Self::new(
            Code::FilterLimitExceeded,
            format!("The filter values hold more than {max} characters after a wildcard '*'"),
        )
    }

    /// EC2's wording for this limit is not on record; it follows the other two.
    pub fn too_many_filters(max: usize) -> Self {
        Self::new(
            Code::FilterLimitExceeded,
            format!("The maximum number of filters specified on a single call is {max}"),
        )
    }

    pub fn unauthorized_operation() -> Self {
        Self::new(
            Code::UnauthorizedOperation,
            "You are not authorized to perform this operation.",
        )
    }

    pub fn auth_failure() -> Self {
        Self::new(
            Code::AuthFailure,
            "AWS was not able to validate the provided access credentials",
        )
    }

    /// A wrong signature gets EC2's fixed wording; a specific fault (wrong service or date in
    /// the credential scope) gets its own sentence, as EC2 does.
    pub fn signature_mismatch(detail: &str) -> Self {
        if detail.is_empty() {
            Self::new(Code::SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        } else {
            Self::new(Code::SignatureDoesNotMatch, detail)
        }
    }

    /// What the HTTP layer refused before the dialect saw the request.
    pub fn refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BodyTooLarge { limit } => Self::new(
                Code::RequestEntityTooLarge,
                format!("The request body exceeds the limit of {limit} bytes."),
            ),
            Refusal::BodyMalformed => Self::new(
                Code::InvalidRequest,
                "The request body is malformed or incomplete.",
            ),
            Refusal::BodyTimeout => Self::new(
                Code::RequestTimeout,
                "The request body was not received within the time allowed.",
            ),
            Refusal::Overloaded => Self::new(Code::RequestLimitExceeded, "Request limit exceeded."),
            Refusal::RequestTimeout => Self::new(
                Code::ServiceUnavailable,
                "The request could not be completed in the time allowed. Please try again shortly.",
            ),
            Refusal::MethodNotAllowed => Self::new(
                Code::MethodNotAllowed,
                "The EC2 query API takes GET and POST requests only.",
            ),
        }
    }

    pub fn internal() -> Self {
        Self::new(
            Code::InternalError,
            "An internal error has occurred. Retry your request, but if the problem persists, contact us.",
        )
    }
}

impl From<InventoryError> for AwsError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::InvalidKeyPairName { name, problem } => {
                let why = match problem {
                    NameProblem::Empty => return AwsError::missing_parameter("KeyName"),
                    NameProblem::TooLong { max } => {
                        format!("Length exceeds maximum of {max} characters.")
                    }
                    NameProblem::NotAscii => {
                        "Character sets beyond ASCII are not supported.".to_owned()
                    }
                    NameProblem::SurroundingWhitespace => {
                        "Leading or trailing whitespace is not allowed.".to_owned()
                    }
                    NameProblem::Malformed => "The name contains invalid characters.".to_owned(),
                };
                AwsError::invalid_value("KeyName", &name, &why)
            }
            InventoryError::KeyPairExists { name } => AwsError::new(
                Code::KeyPairDuplicate,
                format!("The keypair '{}' already exists.", shorten(&name)),
            ),
            InventoryError::KeyPairNotFound(by) => AwsError::key_pair_not_found(&by),
            InventoryError::QuotaExceeded { quota } => AwsError::new(
                Code::KeyPairLimitExceeded,
                format!("Maximum of {quota} key pairs reached in this region."),
            ),
            InventoryError::InvalidPublicKey(_) => AwsError::invalid_key_format(),
            InventoryError::InvalidTag(problem) => AwsError::new(
                Code::InvalidParameterValue,
                match problem {
                    TagProblem::EmptyKey => "Tag keys must not be empty.".to_owned(),
                    TagProblem::KeyTooLong { key, max } => format!(
                        "Tag key exceeds the maximum length of {max} characters: '{}'.",
                        shorten(&key)
                    ),
                    TagProblem::ValueTooLong { key, max } => format!(
                        "Tag value exceeds the maximum length of {max} characters for tag key '{}'.",
                        shorten(&key)
                    ),
                    TagProblem::ReservedKey(key) => format!(
                        "Tag keys starting with 'aws:' are reserved for internal use: '{}'.",
                        shorten(&key)
                    ),
                    TagProblem::ReservedValue(key) => {
                        format!("The value of tag '{}' is not allowed.", shorten(&key))
                    }
                    TagProblem::InvalidCharacters(key) => format!(
                        "Tag '{}' contains control characters, which are not allowed.",
                        shorten(&key)
                    ),
                    TagProblem::DuplicateKey(key) => {
                        format!("Duplicate tag key '{}' in the request.", shorten(&key))
                    }
                    TagProblem::TooManyInRequest { max } => {
                        format!("The request holds more than {max} tags.")
                    }
                },
            ),
            InventoryError::TagLimitExceeded { .. } => AwsError::new(
                Code::TagLimitExceeded,
                "The maximum number of Tags for a resource has been reached.",
            ),
            InventoryError::DryRun => AwsError::new(
                Code::DryRunOperation,
                "Request would have succeeded, but DryRun flag is set.",
            ),
            InventoryError::Unavailable(_) => AwsError::new(
                Code::ServiceUnavailable,
                "The service is unavailable. Please try again shortly.",
            ),
            InventoryError::Internal(_) => AwsError::internal(),
        }
    }
}

/// Error messages echo client input; a 1 MB parameter must not become a 1 MB error.
fn shorten(value: &str) -> String {
    const MAX: usize = 256;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &value[..end])
}
