//! What can go wrong in the inventory, in domain words. Each dialect maps these to its own codes,
//! statuses and messages in its own error table.

use crate::model::KeyPairRef;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong {
        max: usize,
    },
    NotAscii,
    SurroundingWhitespace,
    /// Breaks the provider's alphabet or shape rules.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagProblem {
    EmptyKey,
    KeyTooLong {
        key: String,
        max: usize,
    },
    ValueTooLong {
        key: String,
        max: usize,
    },
    /// A reserved prefix (`aws:`, `aliyun`, `acs:`) or a URL in the key.
    ReservedKey(String),
    /// A reserved prefix or a URL in the value of the named key.
    ReservedValue(String),
    DuplicateKey(String),
    /// Control characters in the key or value of the named key.
    InvalidCharacters(String),
    TooManyInRequest {
        max: usize,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    #[error("invalid key pair name: {problem:?}")]
    InvalidKeyPairName { name: String, problem: NameProblem },
    #[error("the key pair {name} already exists")]
    KeyPairExists { name: String },
    #[error("key pair not found: {0:?}")]
    KeyPairNotFound(KeyPairRef),
    #[error("the key pair quota of {quota} is reached")]
    QuotaExceeded { quota: u32 },
    /// The public key could not be parsed or is of a type the provider refuses. The detail is
    /// for logs; it never holds key material beyond what the client sent.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    #[error("invalid tag: {0:?}")]
    InvalidTag(TagProblem),
    #[error("{resource_id} would hold more than {limit} tags")]
    TagLimitExceeded { resource_id: String, limit: usize },
    /// Everything was valid, and the caller asked not to act.
    #[error("dry run: the request would have succeeded")]
    DryRun,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for InventoryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::QuotaExceeded { quota } => InventoryError::QuotaExceeded { quota },
            StoreError::KeyPairNotFound(id) => InventoryError::KeyPairNotFound(KeyPairRef::Id(id)),
            StoreError::TagLimitExceeded { resource_id, limit } => {
                InventoryError::TagLimitExceeded { resource_id, limit }
            }
            StoreError::Unavailable(msg) => InventoryError::Unavailable(msg),
            // A duplicate surfaces only where the caller knows the name; see the service.
            other => InventoryError::Internal(other.to_string()),
        }
    }
}
