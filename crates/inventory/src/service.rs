//! The operations both dialects call. Validation, key generation, fingerprint choice and
//! the mapping of store outcomes to domain errors happen here; uniqueness and quotas are left to
//! the store's transaction, which is the only place they can hold across nodes.

use std::sync::Arc;

use keypaird_keys::{GeneratedKey, KeyAlgorithm, PublicKey};
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditQuery};
use crate::error::InventoryError;
use crate::ids;
use crate::model::{KeyPair, KeyPairRef, KeyType, Provider, Scope, Tag, TagRemoval};
use crate::pool::RsaKeyPool;
use crate::query::{KeyPairPage, KeyPairQuery, TagQuery, TagRow};
use crate::rules;
use crate::store::{Store, StoreError};

/// What a caller asks to create. The provider comes from the scope.
#[derive(Debug, Clone)]
pub struct NewKeyPair {
    pub name: String,
    pub algorithm: KeyAlgorithm,
    pub tags: Vec<Tag>,
    pub resource_group_id: String,
    pub dry_run: bool,
}

/// What a caller asks to import. `public_key_text` is what is stored and returned later.
#[derive(Debug, Clone)]
pub struct ImportedKeyPair {
    pub name: String,
    pub public_key: PublicKey,
    pub public_key_text: String,
    pub tags: Vec<Tag>,
    pub resource_group_id: String,
    pub dry_run: bool,
}

/// A created key pair: the stored record and the private key, which exists only for the reply.
pub struct CreatedKeyPair {
    pub key_pair: KeyPair,
    pub private_key: GeneratedKey,
}

#[derive(Clone)]
pub struct Inventory {
    store: Arc<dyn Store>,
    rsa_pool: RsaKeyPool,
}

impl Inventory {
    pub fn new(store: Arc<dyn Store>, rsa_pool: RsaKeyPool) -> Self {
        Inventory { store, rsa_pool }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub async fn create_key_pair(
        &self,
        scope: &Scope,
        quota: u32,
        request: NewKeyPair,
        audit: &AuditEvent,
    ) -> Result<CreatedKeyPair, InventoryError> {
        check_new_key_pair(scope, &request.name, &request.tags, request.dry_run)?;
        // For RSA, a cheap indexed read spares a 50 ms key in the common duplicate case (the
        // unique index in the store still decides races). Ed25519 keys cost microseconds, less
        // than the read.
        if request.algorithm == KeyAlgorithm::Rsa {
            self.ensure_name_free(scope, &request.name).await?;
        }
        let private_key = match request.algorithm {
            KeyAlgorithm::Rsa => self.rsa_pool.take().await,
            KeyAlgorithm::Ed25519 => GeneratedKey::generate_ed25519(),
            other => {
                return Err(InventoryError::Internal(format!(
                    "cannot generate {other:?} keys"
                )))
            }
        }
        .map_err(|err| InventoryError::Internal(format!("key generation failed: {err}")))?;
        // EC2 shows a created key's public line with the key name as its comment.
        let (fingerprint, public_key) = match scope.provider {
            Provider::Aws => (
                private_key.aws_fingerprint(),
                private_key.openssh_public_line(&request.name),
            ),
            Provider::Aliyun => (
                private_key.md5_fingerprint(),
                private_key.openssh_public_line(""),
            ),
        };
        let key_pair = KeyPair {
            id: new_key_pair_id(scope.provider),
            scope: scope.clone(),
            name: request.name,
            key_type: key_type_of(private_key.algorithm()),
            fingerprint,
            public_key,
            created_at: now_millis(),
            resource_group_id: request.resource_group_id,
            tags: request.tags,
        };
        match self.insert(&key_pair, quota, audit).await {
            Ok(()) => Ok(CreatedKeyPair {
                key_pair,
                private_key,
            }),
            Err(err) => {
                if private_key.algorithm() == KeyAlgorithm::Rsa {
                    self.rsa_pool.give_back(private_key);
                }
                Err(err)
            }
        }
    }

    pub async fn import_key_pair(
        &self,
        scope: &Scope,
        quota: u32,
        request: ImportedKeyPair,
        audit: &AuditEvent,
    ) -> Result<KeyPair, InventoryError> {
        check_new_key_pair(scope, &request.name, &request.tags, request.dry_run)?;
        let fingerprint = match scope.provider {
            Provider::Aws => request.public_key.aws_import_fingerprint(),
            Provider::Aliyun => request.public_key.md5_fingerprint(),
        };
        let key_pair = KeyPair {
            id: new_key_pair_id(scope.provider),
            scope: scope.clone(),
            name: request.name,
            key_type: key_type_of(request.public_key.algorithm()),
            fingerprint,
            public_key: request.public_key_text,
            created_at: now_millis(),
            resource_group_id: request.resource_group_id,
            tags: request.tags,
        };
        self.insert(&key_pair, quota, audit).await?;
        Ok(key_pair)
    }

    /// The page of key pairs `query` selects (and their total when it asks).
    pub async fn find_key_pairs(
        &self,
        query: &KeyPairQuery,
    ) -> Result<KeyPairPage, InventoryError> {
        Ok(self.store.find_key_pairs(query).await?)
    }

    /// Every key pair `query` selects, handed to `visit` as the store reads them: for replies
    /// without a page limit, which then hold a chunk of rows at a time, not the whole result.
    pub async fn visit_key_pairs(
        &self,
        query: &KeyPairQuery,
        visit: &mut (dyn FnMut(KeyPair) + Send),
    ) -> Result<(), InventoryError> {
        Ok(self.store.visit_key_pairs(query, visit).await?)
    }

    pub async fn find_tags(&self, query: &TagQuery) -> Result<Vec<TagRow>, InventoryError> {
        Ok(self.store.find_tags(query).await?)
    }

    pub async fn visit_tags(
        &self,
        query: &TagQuery,
        visit: &mut (dyn FnMut(TagRow) + Send),
    ) -> Result<(), InventoryError> {
        Ok(self.store.visit_tags(query, visit).await?)
    }

    /// Deletes one key pair; `Ok(None)` when there was nothing to delete.
    pub async fn delete_key_pair(
        &self,
        scope: &Scope,
        key_pair: &KeyPairRef,
        dry_run: bool,
        audit: &AuditEvent,
    ) -> Result<Option<KeyPair>, InventoryError> {
        if dry_run {
            return Err(InventoryError::DryRun);
        }
        Ok(self.store.delete_key_pair(scope, key_pair, audit).await?)
    }

    /// Alibaba's batch delete: unknown names are ignored. Returns how many were deleted.
    pub async fn delete_key_pairs_by_name(
        &self,
        scope: &Scope,
        names: &[String],
        audit: &AuditEvent,
    ) -> Result<u64, InventoryError> {
        Ok(self
            .store
            .delete_key_pairs_by_name(scope, names, audit)
            .await?)
    }

    /// Moves a key pair into an Alibaba resource group.
    pub async fn set_resource_group(
        &self,
        scope: &Scope,
        key_pair_id: &str,
        resource_group_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), InventoryError> {
        Ok(self
            .store
            .set_resource_group(scope, key_pair_id, resource_group_id, audit)
            .await?)
    }

    pub async fn add_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        tags: &[Tag],
        dry_run: bool,
        audit: &AuditEvent,
    ) -> Result<(), InventoryError> {
        rules::validate_tags(scope.provider, tags)?;
        if dry_run {
            return Err(InventoryError::DryRun);
        }
        let limit = rules::max_tags_per_resource(scope.provider);
        Ok(self
            .store
            .add_tags(scope, key_pair_ids, tags, limit, audit)
            .await?)
    }

    pub async fn remove_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        removals: &[TagRemoval],
        dry_run: bool,
        audit: &AuditEvent,
    ) -> Result<(), InventoryError> {
        if dry_run {
            return Err(InventoryError::DryRun);
        }
        Ok(self
            .store
            .remove_tags(scope, key_pair_ids, removals, audit)
            .await?)
    }

    /// Records calls that changed nothing (refused, failed, or reads under `--audit-reads`).
    pub async fn record_events(&self, events: &[AuditEvent]) -> Result<(), InventoryError> {
        Ok(self.store.record_audit_events(events).await?)
    }

    pub async fn find_audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, InventoryError> {
        Ok(self.store.find_audit_events(query).await?)
    }

    async fn ensure_name_free(&self, scope: &Scope, name: &str) -> Result<(), InventoryError> {
        let existing = self
            .store
            .count_key_pairs(&KeyPairQuery::names(scope.clone(), [name]))
            .await?;
        if existing == 0 {
            Ok(())
        } else {
            Err(InventoryError::KeyPairExists {
                name: name.to_owned(),
            })
        }
    }

    async fn insert(
        &self,
        key_pair: &KeyPair,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), InventoryError> {
        match self.store.insert_key_pair(key_pair, quota, audit).await {
            Ok(()) => Ok(()),
            Err(StoreError::DuplicateKeyPair) => Err(InventoryError::KeyPairExists {
                name: key_pair.name.clone(),
            }),
            Err(other) => Err(other.into()),
        }
    }
}

/// What every new key pair must pass before anything is generated or written; a dry run stops
/// here, with nothing changed.
fn check_new_key_pair(
    scope: &Scope,
    name: &str,
    tags: &[Tag],
    dry_run: bool,
) -> Result<(), InventoryError> {
    rules::validate_key_pair_name(scope.provider, name)?;
    rules::validate_tags(scope.provider, tags)?;
    if dry_run {
        return Err(InventoryError::DryRun);
    }
    Ok(())
}

fn new_key_pair_id(provider: Provider) -> String {
    match provider {
        Provider::Aws => ids::aws_key_pair_id(),
        Provider::Aliyun => ids::aliyun_key_pair_id(),
    }
}

fn key_type_of(algorithm: KeyAlgorithm) -> KeyType {
    match algorithm {
        KeyAlgorithm::Rsa => KeyType::Rsa,
        KeyAlgorithm::Ed25519 => KeyType::Ed25519,
        KeyAlgorithm::Dsa => KeyType::Dsa,
        KeyAlgorithm::Ecdsa => KeyType::Ecdsa,
    }
}

/// Creation times are kept at millisecond precision, the finest either API shows, so what is
/// returned at creation equals what a later describe returns.
pub fn now_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}
