//! The persistence seam. Every backend (SQLite now, PostgreSQL later) implements [`Store`], and
//! the same conformance suite runs against each.
//!
//! Invariants a backend must keep (the service relies on them and never re-checks):
//! - `(scope, name)` is unique, enforced by a unique index, not by read-then-write.
//! - `insert_key_pair` counts and inserts in one transaction, so racing writers on any number of
//!   nodes never exceed the quota. The count is a per-scope counter row that every insert and
//!   delete updates in its own transaction: no write counts the scope.
//! - Queries are answered with indexed SQL: a lookup by name, ID, fingerprint, tag or resource
//!   group reads only the rows it returns (plus their index entries), a page reads only its
//!   page, and nothing loads a scope into memory to filter or page it.
//! - A key pair and its tags are written and deleted together: no key pair without the tags it
//!   was created with, no tag without its key pair.
//! - An acknowledged write is durable.
//! - Every change is recorded: each write method takes the call's [`AuditEvent`] and, when the
//!   change is made, inserts it (with the resources the change touched) in the change's own
//!   transaction; a change that fails records nothing. No event ever holds a secret.
//! - Readiness is proved by writing: [`Store::check_ready`] makes a real durable write through
//!   the same path as every other write, so whatever would refuse the next write (a full disk,
//!   a read-only file or server, a lock held too long, no connection) refuses it too.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditQuery};
use crate::model::{
    AccessKeySummary, Account, AccountSummary, Credential, KeyPair, KeyPairRef, NewAccessKey,
    NewAccount, Scope, Tag, TagRemoval,
};
use crate::query::{KeyPairPage, KeyPairQuery, TagQuery, TagRow};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("a key pair with this name already exists in the scope")]
    DuplicateKeyPair,
    #[error("the key pair quota of {quota} is reached")]
    QuotaExceeded { quota: u32 },
    #[error("key pair {0} not found")]
    KeyPairNotFound(String),
    #[error("resource {resource_id} would hold more than {limit} tags")]
    TagLimitExceeded { resource_id: String, limit: usize },
    #[error("an account named {0} already exists")]
    AccountExists(String),
    #[error("the access key {0} already exists")]
    AccessKeyExists(String),
    #[error("no account named {0}")]
    AccountNotFound(String),
    #[error("the account has no access key {0}")]
    AccessKeyNotFound(String),
    #[error("the account {name} still holds {key_pairs} key pairs")]
    AccountHoldsKeyPairs { name: String, key_pairs: u64 },
    /// The backend cannot be reached now; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupt store.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Why a store cannot take writes now, told from the backend's own error codes (SQLite's result
/// codes, PostgreSQL's SQLSTATEs, the client's transport errors). Readiness probes show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReadyCause {
    /// No space for the write: the disk (SQLITE_FULL, 53100), or SQLite's `max_page_count`.
    DiskFull,
    /// The file, file system or server refuses writes (SQLITE_READONLY; 25006: a standby, or
    /// `default_transaction_read_only`).
    ReadOnly,
    /// The store's privileges forbid the write (SQLITE_PERM, 42501).
    PermissionDenied,
    /// Someone else held a lock past the wait allowed (SQLITE_BUSY, 55P03).
    Locked,
    /// No answer or no connection: refused, reset, timed out, the server shutting down.
    Unreachable,
    /// The operating system reported an I/O error (SQLITE_IOERR, SQLSTATE class 58).
    Io,
    /// Anything else; the detail says what.
    Other,
}

impl NotReadyCause {
    /// The words a readiness probe answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            NotReadyCause::DiskFull => "disk full",
            NotReadyCause::ReadOnly => "read-only",
            NotReadyCause::PermissionDenied => "permission denied",
            NotReadyCause::Locked => "locked",
            NotReadyCause::Unreachable => "unreachable",
            NotReadyCause::Io => "I/O error",
            NotReadyCause::Other => "store error",
        }
    }
}

impl std::fmt::Display for NotReadyCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed readiness probe: the cause, and the backend's error (for the log; it names codes and
/// server messages, never row contents or credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{cause}: {detail}")]
pub struct NotReady {
    pub cause: NotReadyCause,
    pub detail: String,
}

impl NotReady {
    pub fn new(cause: NotReadyCause, detail: impl Into<String>) -> NotReady {
        NotReady {
            cause,
            detail: detail.into(),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- accounts and access keys ----

    /// Creates an account with its first access key. Fails with `AccountExists` or
    /// `AccessKeyExists` without writing anything.
    async fn create_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<Account, StoreError>;

    /// Creates `account` only when the store holds no account at all, atomically. Returns whether
    /// it was created. Used for the `default` account on first start.
    async fn create_first_account(
        &self,
        account: NewAccount,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// All accounts with their access key IDs (never secrets), ordered by name.
    async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StoreError>;

    /// Adds an access key to the account named `account_name`: `AccountNotFound`, or
    /// `AccessKeyExists` when the ID is taken. Bumps the credentials generation.
    async fn create_access_key(
        &self,
        account_name: &str,
        key: NewAccessKey,
        audit: &AuditEvent,
    ) -> Result<AccessKeySummary, StoreError>;

    /// The account's access keys ordered by creation, then ID (never secrets).
    /// `AccountNotFound` when there is no such account.
    async fn list_access_keys(
        &self,
        account_name: &str,
    ) -> Result<Vec<AccessKeySummary>, StoreError>;

    /// Disables or enables one of the account's keys (`AccessKeyNotFound` when the account has
    /// no such key) and bumps the credentials generation in the same transaction.
    async fn set_access_key_disabled(
        &self,
        account_name: &str,
        access_key_id: &str,
        disabled: bool,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Deletes one of the account's keys, bumping the credentials generation.
    async fn delete_access_key(
        &self,
        account_name: &str,
        access_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Deletes an account with its access keys and returns how many key pairs went with it.
    /// Without `force` an account that holds key pairs is refused (`AccountHoldsKeyPairs`),
    /// told from its per-scope counter rows, never by counting key pairs. Bumps the generation.
    async fn delete_account(
        &self,
        name: &str,
        force: bool,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// Sets the account's key pair quota; bumps the generation, since credentials carry it.
    async fn set_account_quota(
        &self,
        name: &str,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// A counter that every change to an access key or an account (as a credential carries
    /// it) increases in its own transaction: one single-row read, so every node can poll it
    /// often and drop its credential cache when it moved.
    async fn credentials_generation(&self) -> Result<i64, StoreError>;

    /// Records when each access key was last used (keys that no longer exist are ignored; a
    /// time older than the one stored does not replace it). One write for a batch of uses;
    /// does not bump the generation.
    async fn record_access_key_uses(
        &self,
        uses: &[(String, OffsetDateTime)],
    ) -> Result<(), StoreError>;

    /// The credential for an access key ID, if it exists (disabled ones too). One indexed lookup.
    async fn find_credential(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError>;

    /// For `--any-credentials`: the credential for this access key ID, creating an account named
    /// after it (with no secret) on first use. Safe under concurrent first uses.
    async fn credential_for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError>;

    // ---- key pairs ----

    /// Inserts a key pair with its tags, unless the scope already holds `quota` key pairs
    /// (`QuotaExceeded`) or one with the same name (`DuplicateKeyPair`).
    async fn insert_key_pair(
        &self,
        key_pair: &KeyPair,
        quota: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Hands every key pair `query` selects to `visit`, in the query's order and page, each
    /// with its tags, as the backend reads them: a reply of any size holds a chunk of rows in
    /// memory, never the whole result. On an error some rows may already have been visited.
    async fn visit_key_pairs(
        &self,
        query: &KeyPairQuery,
        visit: &mut (dyn FnMut(KeyPair) + Send),
    ) -> Result<(), StoreError>;

    /// How many key pairs match `query`'s filters, whatever its page. Without filters this is
    /// the scope's counter row; with them, a count over the index that serves them.
    async fn count_key_pairs(&self, query: &KeyPairQuery) -> Result<u64, StoreError>;

    /// The page `query` selects, and the total when it asks for one.
    async fn find_key_pairs(&self, query: &KeyPairQuery) -> Result<KeyPairPage, StoreError> {
        let mut key_pairs = Vec::new();
        self.visit_key_pairs(query, &mut |kp| key_pairs.push(kp))
            .await?;
        let total = if query.count_total {
            Some(self.count_key_pairs(query).await?)
        } else {
            None
        };
        Ok(KeyPairPage { key_pairs, total })
    }

    /// Hands every tag row `query` selects to `visit`, in (key pair ID, key) order.
    async fn visit_tags(
        &self,
        query: &TagQuery,
        visit: &mut (dyn FnMut(TagRow) + Send),
    ) -> Result<(), StoreError>;

    async fn find_tags(&self, query: &TagQuery) -> Result<Vec<TagRow>, StoreError> {
        let mut rows = Vec::new();
        self.visit_tags(query, &mut |row| rows.push(row)).await?;
        Ok(rows)
    }

    /// Deletes one key pair and its tags; returns what was deleted, or `None` if nothing matched.
    async fn delete_key_pair(
        &self,
        scope: &Scope,
        key_pair: &KeyPairRef,
        audit: &AuditEvent,
    ) -> Result<Option<KeyPair>, StoreError>;

    /// Deletes key pairs by name (Alibaba's batch delete); unknown names are ignored. Returns how
    /// many were deleted.
    async fn delete_key_pairs_by_name(
        &self,
        scope: &Scope,
        names: &[String],
        audit: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// Sets tags (overwriting the value of an existing key) on every listed key pair, all or
    /// nothing: `KeyPairNotFound` if any ID is missing from the scope, `TagLimitExceeded` if any
    /// key pair would end with more than `limit` tags.
    async fn add_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        tags: &[Tag],
        limit: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Removes tags from every listed key pair; an empty `removals` removes all tags. Key pairs
    /// that do not exist are ignored.
    async fn remove_tags(
        &self,
        scope: &Scope,
        key_pair_ids: &[String],
        removals: &[TagRemoval],
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Sets the Alibaba resource group of a key pair. `KeyPairNotFound` if the ID is missing.
    async fn set_resource_group(
        &self,
        scope: &Scope,
        key_pair_id: &str,
        resource_group_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    // ---- the audit trail ----

    /// Records events of calls that changed nothing (refused authentications, failed calls,
    /// reads), all in one transaction.
    async fn record_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// The page of events `query` selects, in its order: one statement over the index that
    /// serves the scope and attribute, whatever the number of events.
    async fn find_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes at most `limit` events older than `before` (and their lookup rows); returns how
    /// many. The upkeep calls it until it returns less than `limit`.
    async fn purge_audit_events(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError>;

    // ---- request nonces (Alibaba signatures) ----

    /// Records that `access_key_id` used `nonce`, to be remembered until `expires_at`. Returns
    /// `true` when the nonce is fresh, `false` when an unexpired record of it already exists
    /// (a replay). An expired record of the same nonce counts as fresh and is replaced. Atomic
    /// across every node sharing the store: of two racing uses, exactly one is fresh.
    async fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes nonce records that expired before `now`; returns how many. Run periodically so
    /// the record stays bounded by the traffic of one signature window.
    async fn purge_expired_nonces(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// How many nonce records the store holds, expired ones not yet purged included: one
    /// count over the record's primary key, whose size is bounded by the traffic of one
    /// signature window. For the metrics gauge, which asks at most every few seconds.
    async fn count_nonces(&self) -> Result<u64, StoreError>;

    // ---- operations ----

    /// Empties the inventory (key pairs and tags of every account); accounts and keys stay.
    async fn reset_inventory(&self) -> Result<(), StoreError>;

    /// Whether the store can take a write now, for readiness probes: a real, durable write of
    /// a one-row probe table through the normal write path, so its failure is the one the next
    /// write would meet, with its cause. The outcome is reused for about a second
    /// (`READY_CHECK_INTERVAL` in the backends), and callers meanwhile wait for the probe in
    /// flight rather than start their own: probing in a tight loop costs at most one small
    /// commit a second. Counts nothing and touches no inventory row.
    async fn check_ready(&self) -> Result<(), NotReady>;
}
