//! CloudTrail's error table: every code its LookupEvents answers with, and the HTTP status. The
//! JSON protocol writes an error as `{"__type": code, "message": text}`.

use http::StatusCode;

use crate::aws::error::{AwsError, Code as Ec2Code};
use crate::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidLookupAttributes,
    InvalidTimeRange,
    InvalidMaxResults,
    InvalidNextToken,
    InvalidEventCategory,
    /// The body is not the JSON the operation takes.
    Serialization,
    UnknownOperation,
    MissingAuthenticationToken,
    IncompleteSignature,
    /// A signature that does not match, or has expired.
    InvalidSignature,
    /// An unknown or disabled access key.
    UnrecognizedClient,
    /// The HTTP layer refused the request (size, time, method).
    Validation,
    Throttling,
    ServiceUnavailable,
    InternalFailure,
}

impl Code {
    pub fn wire(self) -> (&'static str, StatusCode) {
        use Code::*;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            InvalidLookupAttributes => ("InvalidLookupAttributesException", bad),
            InvalidTimeRange => ("InvalidTimeRangeException", bad),
            InvalidMaxResults => ("InvalidMaxResultsException", bad),
            InvalidNextToken => ("InvalidNextTokenException", bad),
            InvalidEventCategory => ("InvalidEventCategoryException", bad),
            Serialization => ("SerializationException", bad),
            UnknownOperation => ("UnknownOperationException", bad),
            MissingAuthenticationToken => ("MissingAuthenticationTokenException", bad),
            IncompleteSignature => ("IncompleteSignatureException", bad),
            InvalidSignature => ("InvalidSignatureException", bad),
            UnrecognizedClient => ("UnrecognizedClientException", bad),
            Validation => ("ValidationException", bad),
            Throttling => ("ThrottlingException", bad),
            ServiceUnavailable => (
                "ServiceUnavailableException",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            InternalFailure => ("InternalFailure", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudTrailError {
    pub code: Code,
    pub message: String,
}

impl CloudTrailError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CloudTrailError {
            code,
            message: message.into(),
        }
    }

    /// An authentication failure as the EC2 dialect's checks word it, in CloudTrail's codes.
    pub fn from_authentication(error: AwsError) -> Self {
        let code = match error.code {
            Ec2Code::MissingAuthenticationToken => Code::MissingAuthenticationToken,
            Ec2Code::IncompleteSignature => Code::IncompleteSignature,
            Ec2Code::SignatureDoesNotMatch | Ec2Code::RequestExpired => Code::InvalidSignature,
            Ec2Code::AuthFailure => {
                return Self::new(
                    Code::UnrecognizedClient,
                    "The security token included in the request is invalid.",
                )
            }
            Ec2Code::ServiceUnavailable => Code::ServiceUnavailable,
            _ => Code::InternalFailure,
        };
        Self::new(code, error.message)
    }

    pub fn from_refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BodyTooLarge { limit } => Self::new(
                Code::Validation,
                format!("The request body exceeds {limit} bytes."),
            ),
            Refusal::BodyTimeout | Refusal::RequestTimeout => {
                Self::new(Code::Validation, "The request did not arrive in time.")
            }
            Refusal::BodyMalformed => Self::new(Code::Serialization, "The body is malformed."),
            Refusal::Overloaded => Self::new(Code::Throttling, "Rate exceeded"),
            Refusal::MethodNotAllowed => Self::new(Code::Validation, "Only POST is supported."),
        }
    }

    pub fn invalid_attributes(why: impl Into<String>) -> Self {
        Self::new(Code::InvalidLookupAttributes, why)
    }

    pub fn serialization(why: impl Into<String>) -> Self {
        Self::new(Code::Serialization, why)
    }
}
