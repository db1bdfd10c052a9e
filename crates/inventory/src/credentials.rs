//! Every request needs its caller's credential; reading it from the store each time costs a
//! round trip to a blocking thread that the request's own lookup already pays for. Credentials
//! found are kept in memory for a short while. Only hits are kept: a key created a moment ago
//! (on this node or another) is found on its first use.
//!
//! A change to a key (disable, enable, delete, an account deleted or its quota changed, on any
//! node) bumps the store's credentials generation in its own transaction. The cache reads that
//! one row at most every [`GENERATION_CHECK_INTERVAL`], on the request that finds the last
//! check too old, and forgets everything when it moved: a revocation reaches every node within
//! about that interval instead of the TTL.
//!
//! The cache also notes when each key was last used, in memory; [`CredentialCache::flush_uses`]
//! writes the batch (the server calls it periodically), so no request pays a write for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::model::Credential;
use crate::store::{Store, StoreError};

/// Beyond this many cached keys the cache starts over, which bounds memory whatever clients
/// send (only keys that exist are cached, so this is never reached by guessing).
const MAX_ENTRIES: usize = 10_000;

/// How often the store's credentials generation is read, at most.
pub const GENERATION_CHECK_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Entries {
    credentials: HashMap<String, (Credential, Instant)>,
    /// Bumped at every clear; a lookup that started in an older epoch is not kept, since it
    /// may have read the store before the change that caused the clear.
    epoch: u64,
    /// The store's generation as last read, and when a read of it was last started.
    generation: Option<i64>,
    checked_at: Option<Instant>,
}

#[derive(Clone)]
pub struct CredentialCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    entries: Arc<Mutex<Entries>>,
    /// Access key ID → the latest authenticated use not yet written to the store.
    uses: Arc<Mutex<HashMap<String, OffsetDateTime>>>,
}

impl CredentialCache {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        CredentialCache {
            store,
            ttl,
            entries: Arc::default(),
            uses: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached credential if fresh, and the epoch a store lookup would start in.
    fn cached(&self, access_key_id: &str) -> (Option<Credential>, u64) {
        let entries = self.lock();
        let found = entries
            .credentials
            .get(access_key_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(credential, _)| credential.clone());
        (found, entries.epoch)
    }

    fn remember(&self, credential: &Credential, epoch: u64) {
        let mut entries = self.lock();
        if entries.epoch != epoch {
            return;
        }
        if entries.credentials.len() >= MAX_ENTRIES {
            entries.credentials.clear();
        }
        entries.credentials.insert(
            credential.access_key_id.clone(),
            (credential.clone(), Instant::now()),
        );
    }

    fn forget_all(entries: &mut Entries) {
        entries.credentials.clear();
        entries.epoch += 1;
    }

    /// Reads the store's generation when the last read is older than the interval (one caller
    /// at a time does; the others go on meanwhile) and forgets everything if it moved. A failed
    /// read forgets everything too: without the generation, nothing cached can be trusted.
    async fn check_generation(&self) {
        {
            let mut entries = self.lock();
            let due = entries
                .checked_at
                .is_none_or(|at| at.elapsed() >= GENERATION_CHECK_INTERVAL);
            if !due {
                return;
            }
            entries.checked_at = Some(Instant::now());
        }
        let read = self.store.credentials_generation().await;
        let mut entries = self.lock();
        match read {
            Ok(generation) if entries.generation == Some(generation) => {}
            Ok(generation) => {
                Self::forget_all(&mut entries);
                entries.generation = Some(generation);
            }
            Err(_) => {
                Self::forget_all(&mut entries);
                entries.generation = None;
            }
        }
    }

    /// The credential for `access_key_id`, disabled or not.
    pub async fn find(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError> {
        self.check_generation().await;
        let (cached, epoch) = self.cached(access_key_id);
        if let Some(credential) = cached {
            return Ok(Some(credential));
        }
        let found = self.store.find_credential(access_key_id).await?;
        if let Some(credential) = &found {
            self.remember(credential, epoch);
        }
        Ok(found)
    }

    /// `Store::credential_for_any_key` through the cache.
    pub async fn for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError> {
        self.check_generation().await;
        let (cached, epoch) = self.cached(access_key_id);
        if let Some(credential) = cached {
            return Ok(credential);
        }
        let credential = self
            .store
            .credential_for_any_key(access_key_id, new_account_id)
            .await?;
        self.remember(&credential, epoch);
        Ok(credential)
    }

    /// Notes an authenticated use of `access_key_id`, in memory only.
    pub fn note_use(&self, access_key_id: &str, at: OffsetDateTime) {
        let mut uses = self.uses.lock().unwrap_or_else(|p| p.into_inner());
        // Every authenticated request comes here: a key already noted costs no allocation.
        if let Some(latest) = uses.get_mut(access_key_id) {
            *latest = (*latest).max(at);
        } else if uses.len() < MAX_ENTRIES {
            // Bounded like the cache: only keys that signed correctly get here.
            uses.insert(access_key_id.to_owned(), at);
        }
    }

    /// Writes the uses noted since the last flush, in one store write; returns how many keys.
    /// On failure the uses are kept for the next flush (newer ones win).
    pub async fn flush_uses(&self) -> Result<usize, StoreError> {
        let batch: Vec<(String, OffsetDateTime)> = {
            let mut uses = self.uses.lock().unwrap_or_else(|p| p.into_inner());
            uses.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(err) = self.store.record_access_key_uses(&batch).await {
            for (id, at) in batch {
                self.note_use(&id, at);
            }
            return Err(err);
        }
        Ok(batch.len())
    }
}
