//! The key pair inventory: domain types, rules and the service the wire dialects call.
//! It knows nothing of XML, JSON, HTTP or signatures.

pub mod audit;
pub mod credentials;
pub mod error;
pub mod ids;
pub mod model;
pub mod pattern;
pub mod pool;
pub mod query;
pub mod rules;
pub mod service;
pub mod store;

pub use audit::{
    AuditAttribute, AuditCursor, AuditEvent, AuditQuery, AuditResource, AuditScope, AuditSource,
    ResourceKind,
};
pub use credentials::CredentialCache;
pub use error::{InventoryError, NameProblem, TagProblem};
pub use model::*;
pub use pool::{PoolTakes, RsaKeyPool};
pub use query::*;
pub use service::{CreatedKeyPair, ImportedKeyPair, Inventory, NewKeyPair};
pub use store::{NotReady, NotReadyCause, Store, StoreError};
