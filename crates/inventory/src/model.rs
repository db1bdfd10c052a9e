//! The inventory's nouns. Plain data: no I/O, no wire formats.

use time::OffsetDateTime;

/// Which cloud API a key pair was made through. The two providers keep separate namespaces
/// because their name rules, fingerprints and quotas differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Aws,
    Aliyun,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Aliyun => "aliyun",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aws" => Some(Provider::Aws),
            "aliyun" => Some(Provider::Aliyun),
            _ => None,
        }
    }

    /// The cloud's own default quota of key pairs per account and region.
    pub fn default_key_pair_quota(self) -> u32 {
        match self {
            Provider::Aws => 5000,
            Provider::Aliyun => 500,
        }
    }
}

/// Every key pair belongs to exactly one scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub provider: Provider,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12 decimal digits, like an AWS account number. Primary key.
    pub id: String,
    /// Unique, human-chosen.
    pub name: String,
    /// Overrides the provider default for every region and both dialects when set.
    pub key_pair_quota: Option<u32>,
    pub created_at: OffsetDateTime,
}

impl Account {
    pub fn key_pair_quota(&self, provider: Provider) -> u32 {
        self.key_pair_quota
            .unwrap_or_else(|| provider.default_key_pair_quota())
    }
}

/// An access key's secret: wiped from memory when dropped, and never shown by `Debug`, so no
/// log line or error that prints a credential can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(zeroize::Zeroizing::new(secret))
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret::from(secret.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What `accounts create` asks the store to write.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub name: String,
    pub key_pair_quota: Option<u32>,
    pub access_key_id: String,
    /// `None` only for accounts made by `--any-credentials`, whose signatures are never checked.
    pub secret_access_key: Option<Secret>,
    pub created_at: OffsetDateTime,
}

/// An access key together with the account it signs for.
#[derive(Debug, Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: Option<Secret>,
    pub account: Account,
    /// A disabled key is still found, so each dialect can tell "disabled" from "unknown".
    pub disabled: bool,
    /// May call reads (Describe*, List*) only.
    pub read_only: bool,
}

/// What `access-keys create` asks the store to add to an existing account.
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub read_only: bool,
    pub created_at: OffsetDateTime,
}

/// An access key as `access-keys list` shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeySummary {
    pub access_key_id: String,
    pub disabled: bool,
    pub read_only: bool,
    pub created_at: OffsetDateTime,
    /// The last authenticated request, as last flushed by a node (`None`: never used).
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub account: Account,
    pub access_key_ids: Vec<String>,
}

/// Algorithms a stored public key can have. AWS allows rsa and ed25519; Alibaba also imports
/// dsa and ecdsa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Rsa,
    Ed25519,
    Dsa,
    Ecdsa,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
            KeyType::Dsa => "dsa",
            KeyType::Ecdsa => "ecdsa",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(KeyType::Rsa),
            "ed25519" => Some(KeyType::Ed25519),
            "dsa" => Some(KeyType::Dsa),
            "ecdsa" => Some(KeyType::Ecdsa),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A stored key pair: public half only. Private material never reaches this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// `key-` + 17 hex (AWS) or `ssh-` + lowercase alphanumerics (Alibaba). Unique everywhere.
    pub id: String,
    pub scope: Scope,
    pub name: String,
    pub key_type: KeyType,
    pub fingerprint: String,
    /// One OpenSSH line for created keys; the imported text, trimmed, for imported ones.
    pub public_key: String,
    /// Millisecond precision, UTC.
    pub created_at: OffsetDateTime,
    /// Alibaba resource group; empty when none.
    pub resource_group_id: String,
    /// In the order they were first set.
    pub tags: Vec<Tag>,
}

/// Which key pair an operation names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPairRef {
    Name(String),
    Id(String),
}

/// A tag to remove: by key alone, or only where the value also matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRemoval {
    pub key: String,
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let credential = Credential {
            access_key_id: "AKIDSHOWN".into(),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            account: Account {
                id: "111111111111".into(),
                name: "team".into(),
                key_pair_quota: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            disabled: false,
            read_only: false,
        };
        let shown = format!("{credential:?}");
        assert!(shown.contains("AKIDSHOWN"), "{shown}");
        assert!(shown.contains("Secret(<redacted>)"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert_eq!(
            credential.secret_access_key.as_deref(),
            Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        );
    }
}
