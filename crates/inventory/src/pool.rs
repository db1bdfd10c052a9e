//! A warm pool of RSA keys. RSA-2048 generation costs ~50 ms of CPU, so CreateKeyPair would be
//! bounded by ~35 keys/s on two cores; keys made ahead of time by one background thread turn a
//! burst of creates into millisecond replies. The pool lives only in memory: its keys are
//! zeroized on drop and never written anywhere.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use keypaird_keys::{GeneratedKey, KeyError};

#[derive(Clone)]
pub struct RsaKeyPool {
    inner: Option<Arc<PoolInner>>,
    /// Keys generated on demand (the pool empty or off) run on tokio's blocking pool, at most
    /// one per core at a time: more would only queue on the CPU, and would fill the bounded
    /// blocking pool that the SQLite reads also need.
    on_demand: Arc<tokio::sync::Semaphore>,
}

impl RsaKeyPool {
    /// How many RSA keys may be generated on demand at once (one per core).
    pub fn on_demand_generations() -> usize {
        thread::available_parallelism().map_or(2, |n| n.get())
    }
}

struct PoolInner {
    ready: Mutex<Receiver<GeneratedKey>>,
    refill: SyncSender<GeneratedKey>,
    /// Keys sent and not yet taken. The channel keeps no count of its own; a take may briefly
    /// run ahead of the producer's increment, hence signed.
    ready_keys: Arc<AtomicIsize>,
}

impl RsaKeyPool {
    /// A pool holding up to `capacity` keys, filled by one background thread.
    /// One thread, not one per core, so a refill never takes the whole machine from requests.
    /// `capacity == 0` disables the pool: every create generates its own key.
    pub fn new(capacity: usize) -> Self {
        let on_demand = Arc::new(tokio::sync::Semaphore::new(Self::on_demand_generations()));
        if capacity == 0 {
            return RsaKeyPool {
                inner: None,
                on_demand,
            };
        }
        let (sender, receiver) = sync_channel(capacity);
        let producer = sender.clone();
        let ready_keys = Arc::new(AtomicIsize::new(0));
        let produced = ready_keys.clone();
        thread::Builder::new()
            .name("rsa-key-pool".into())
            .spawn(move || loop {
                match GeneratedKey::generate_rsa2048() {
                    // Blocks while the pool is full; ends when the pool is dropped.
                    Ok(key) => {
                        if producer.send(key).is_err() {
                            return;
                        }
                        produced.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "RSA key generation failed in the pool");
                        thread::sleep(std::time::Duration::from_secs(1));
                    }
                }
            })
            .expect("spawning the RSA key pool thread");
        RsaKeyPool {
            inner: Some(Arc::new(PoolInner {
                ready: Mutex::new(receiver),
                refill: sender,
                ready_keys,
            })),
            on_demand,
        }
    }

    /// A key from the pool when one is ready, otherwise a fresh one generated on a blocking
    /// thread so the async runtime keeps serving.
    pub async fn take(&self) -> Result<GeneratedKey, KeyError> {
        if let Some(key) = self.try_take() {
            return Ok(key);
        }
        // The semaphore is never closed, so acquiring only waits.
        let _turn = self.on_demand.acquire().await;
        tokio::task::spawn_blocking(GeneratedKey::generate_rsa2048)
            .await
            .unwrap_or_else(|join| panic!("RSA generation thread failed: {join}"))
    }

    fn try_take(&self) -> Option<GeneratedKey> {
        let inner = self.inner.as_ref()?;
        let receiver = inner.ready.lock().unwrap_or_else(|p| p.into_inner());
        let key = receiver.try_recv().ok()?;
        inner.ready_keys.fetch_sub(1, Ordering::Relaxed);
        Some(key)
    }

    /// Returns a key that was never shown to anyone (its create failed) so it is not wasted.
    pub fn give_back(&self, key: GeneratedKey) {
        if let Some(inner) = &self.inner {
            // A full pool simply drops (and zeroizes) the key.
            if inner.refill.try_send(key).is_ok() {
                inner.ready_keys.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many keys are ready now, for the readiness log line and benchmarks.
    pub fn ready(&self) -> usize {
        self.inner.as_ref().map_or(0, |inner| {
            inner.ready_keys.load(Ordering::Relaxed).max(0) as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keypaird_keys::KeyAlgorithm;
    use std::time::{Duration, Instant};

    fn wait_for_ready(pool: &RsaKeyPool, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while pool.ready() < count {
            assert!(Instant::now() < deadline, "the pool never filled");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test]
    async fn fills_serves_and_takes_keys_back() {
        let pool = RsaKeyPool::new(2);
        wait_for_ready(&pool, 2);
        let first = pool.take().await.unwrap();
        assert_eq!(first.algorithm(), KeyAlgorithm::Rsa);
        let second = pool.take().await.unwrap();
        assert_ne!(first.md5_fingerprint(), second.md5_fingerprint());
        // Once drained, a take still succeeds by generating on a blocking thread.
        let third = pool.take().await.unwrap();
        assert_eq!(third.algorithm(), KeyAlgorithm::Rsa);
        wait_for_ready(&pool, 2);
        // A full pool drops what is given back (the producer is parked, so this is exact).
        pool.give_back(second);
        pool.give_back(first);
        assert_eq!(pool.ready(), 2);
    }

    #[tokio::test]
    async fn disabled_pool_generates_on_demand() {
        let pool = RsaKeyPool::new(0);
        assert_eq!(pool.ready(), 0);
        let key = pool.take().await.unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Rsa);
        pool.give_back(key);
        assert_eq!(pool.ready(), 0);
    }
}
