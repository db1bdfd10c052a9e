//! Every request needs its caller's credential; reading it from the store each time costs a
//! round trip to a blocking thread that the request's own lookup already pays for. Credentials
//! found are kept in memory for a short while. Only hits are kept: a key created a moment ago
//! (on this node or another) is found on its first use. Nothing here changes a credential
//! after creation, so the only staleness is the TTL bound on a future revocation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::Credential;
use crate::store::{Store, StoreError};

/// Beyond this many cached keys the cache starts over, which bounds memory whatever clients
/// send (only keys that exist are cached, so this is never reached by guessing).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub struct CredentialCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (Credential, Instant)>>>,
}

impl CredentialCache {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        CredentialCache {
            store,
            ttl,
            entries: Arc::default(),
        }
    }

    fn cached(&self, access_key_id: &str) -> Option<Credential> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(access_key_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(credential, _)| credential.clone())
    }

    fn remember(&self, credential: &Credential) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            credential.access_key_id.clone(),
            (credential.clone(), Instant::now()),
        );
    }

    pub async fn find(&self, access_key_id: &str) -> Result<Option<Credential>, StoreError> {
        if let Some(credential) = self.cached(access_key_id) {
            return Ok(Some(credential));
        }
        let found = self.store.find_credential(access_key_id).await?;
        if let Some(credential) = &found {
            self.remember(credential);
        }
        Ok(found)
    }

    /// `Store::credential_for_any_key` through the cache.
    pub async fn for_any_key(
        &self,
        access_key_id: &str,
        new_account_id: &str,
    ) -> Result<Credential, StoreError> {
        if let Some(credential) = self.cached(access_key_id) {
            return Ok(credential);
        }
        let credential = self
            .store
            .credential_for_any_key(access_key_id, new_account_id)
            .await?;
        self.remember(&credential);
        Ok(credential)
    }
}
