//! A [`Store`] around the real one that times every operation and counts the store's failures
//! for the metrics, the same way for every backend, without the backends knowing.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use keypaird_inventory::{
    AccessKeySummary, Account, AccountSummary, AuditEvent, AuditQuery, Credential, KeyPair,
    KeyPairPage, KeyPairQuery, KeyPairRef, NewAccessKey, NewAccount, NotReady, Scope, Store,
    StoreError, Tag, TagQuery, TagRemoval, TagRow,
};
use time::OffsetDateTime;

use crate::metrics::Metrics;

pub struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> TimedStore {
        TimedStore { inner, metrics }
    }

    async fn timed<T, E: StoreFault>(
        &self,
        operation: &'static str,
        run: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let outcome = run.await;
        let failed = outcome.as_ref().is_err_and(StoreFault::is_fault);
        self.metrics
            .observe_store(operation, started.elapsed(), failed);
        outcome
    }
}

/// Whether an error is the store failing, rather than its answer to the request (a duplicate
/// name, a full quota, a key pair not found).
trait StoreFault {
    fn is_fault(&self) -> bool;
}

impl StoreFault for StoreError {
    fn is_fault(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Internal(_))
    }
}

impl StoreFault for NotReady {
    fn is_fault(&self) -> bool {
        true
    }
}

#[async_trait]
impl Store for TimedStore {
    async fn create_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<Account, StoreError> {
        self.timed("create_account", self.inner.create_account(account, audit))
            .await
    }

    async fn create_first_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.timed(
            "create_first_account",
            self.inner.create_first_account(account, audit),
        )
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        self.timed("list_accounts", self.inner.list_accounts())
            .await
    }

    async fn create_access_key(
        &self,
        account_name: &str,
        key: NewAccessKey,
        audit: &AuditEvent,
    ) -> Result<AccessKeySummary, StoreError> {
        self.timed(
            "create_access_key",
            self.inner.create_access_key(account_name, key, audit),
        )
        .await
    }

    async fn list_access_keys(
        &self,
        account_name: &str,
    ) -> Result<Vec<AccessKeySummary>, StoreError> {
        self.timed(
            "list_access_keys",
            self.inner.list_access_keys(account_name),
        )
        .await
    }

    async fn set_access_key_disabled(
        &self,
        account_name: &str,
        access_key_id: &str,
        disabled: bool,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "set_access_key_disabled",
            self.inner
                .set_access_key_disabled(account_name, access_key_id, disabled, audit),
        )
        .await
    }

    async fn delete_access_key(
        &self,
        account_name: &str,
        access_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "delete_access_key",
            self.inner
                .delete_access_key(account_name, access_key_id, audit),
        )
        .await
    }

    async fn delete_account(
        &self,
        name: &str,
        force: bool,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        self.timed(
            "delete_account",
            self.inner.delete_account(name, force, audit),
        )
        .await
    }

    async fn set_account_quota(
        &self,
        name: &str,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "set_account_quota",
            self.inner.set_account_quota(name, quota, audit),
        )
        .await
    }

    async fn credentials_generation(&self) -> Result<i64, StoreError> {
        self.timed(
            "credentials_generation",
            self.inner.credentials_generation(),
        )
        .await
    }

    async fn record_access_key_uses(
        &self,
        uses: &[(String, OffsetDateTime)],
    ) -> Result<(), StoreError> {
        self.timed(
            "record_access_key_uses",
            self.inner.record_access_key_uses(uses),
        )
        .await
    }

    async fn find_credential(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError> {
        self.timed("find_credential", self.inner.find_credential(access_key_id))
            .await
    }

    async fn credential_for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError> {
        self.timed(
            "credential_for_any_key",
            self.inner
                .credential_for_any_key(access_key_id, new_account_id),
        )
        .await
    }

    async fn insert_key_pair(
        &self,
        key_pair: &KeyPair,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "insert_key_pair",
            self.inner.insert_key_pair(key_pair, quota, audit),
        )
        .await
    }

    async fn visit_key_pairs(
        &self,
        query: &KeyPairQuery,
        visit: &mut (dyn FnMut(KeyPair) + Send),
    ) -> Result<(), StoreError> {
        self.timed("visit_key_pairs", self.inner.visit_key_pairs(query, visit))
            .await
    }

    async fn count_key_pairs(&self, query: &KeyPairQuery) -> Result<u64, StoreError> {
        self.timed("count_key_pairs", self.inner.count_key_pairs(query))
            .await
    }

    // Forwarded, not left to the trait's default: a backend may answer it in one read.
    async fn find_key_pairs(&self, query: &KeyPairQuery) -> Result<KeyPairPage, StoreError> {
        self.timed("find_key_pairs", self.inner.find_key_pairs(query))
            .await
    }

    async fn visit_tags(
        &self,
        query: &TagQuery,
        visit: &mut (dyn FnMut(TagRow) + Send),
    ) -> Result<(), StoreError> {
        self.timed("visit_tags", self.inner.visit_tags(query, visit))
            .await
    }

    async fn find_tags(&self, query: &TagQuery) -> Result<Vec<TagRow>, StoreError> {
        self.timed("find_tags", self.inner.find_tags(query)).await
    }

    async fn delete_key_pair(
        &self,
        scope: &Scope,
        key_pair: &KeyPairRef,
        audit: &AuditEvent,
    ) -> Result<Option<KeyPair>, StoreError> {
        self.timed(
            "delete_key_pair",
            self.inner.delete_key_pair(scope, key_pair, audit),
        )
        .await
    }

    async fn delete_key_pairs_by_name(
        &self,
        scope: &Scope,
        names: &[String],
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        self.timed(
            "delete_key_pairs_by_name",
            self.inner.delete_key_pairs_by_name(scope, names, audit),
        )
        .await
    }

    async fn add_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        tags: &[Tag],
        limit: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "add_tags",
            self.inner.add_tags(scope, key_pair_ids, tags, limit, audit),
        )
        .await
    }

    async fn remove_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        removals: &[TagRemoval],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "remove_tags",
            self.inner.remove_tags(scope, key_pair_ids, removals, audit),
        )
        .await
    }

    async fn set_resource_group(
        &self,
        scope: &Scope,
        key_pair_id: &str,
        resource_group_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.timed(
            "set_resource_group",
            self.inner
                .set_resource_group(scope, key_pair_id, resource_group_id, audit),
        )
        .await
    }

    async fn record_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.timed(
            "record_audit_events",
            self.inner.record_audit_events(events),
        )
        .await
    }

    async fn find_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.timed("find_audit_events", self.inner.find_audit_events(query))
            .await
    }

    async fn purge_audit_events(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.timed(
            "purge_audit_events",
            self.inner.purge_audit_events(before, limit),
        )
        .await
    }

    async fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.timed(
            "record_nonce",
            self.inner
                .record_nonce(access_key_id, nonce, expires_at, now),
        )
        .await
    }

    async fn purge_expired_nonces(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.timed("purge_expired_nonces", self.inner.purge_expired_nonces(now))
            .await
    }

    async fn count_nonces(&self) -> Result<u64, StoreError> {
        self.timed("count_nonces", self.inner.count_nonces()).await
    }

    async fn reset_inventory(&self) -> Result<(), StoreError> {
        self.timed("reset_inventory", self.inner.reset_inventory())
            .await
    }

    async fn check_ready(&self) -> Result<(), NotReady> {
        self.timed("check_ready", self.inner.check_ready()).await
    }
}
