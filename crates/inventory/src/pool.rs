//! A warm pool of RSA keys. RSA-2048 generation costs ~50 ms of CPU, so CreateKeyPair would be
//! bounded by ~35 keys/s on two cores; keys made ahead of time turn a burst of creates into
//! millisecond replies. The pool is refilled by one thread per core at the scheduler's idle
//! priority (`SCHED_IDLE`): they run only on cores nothing else wants, so an idle machine refills
//! on every core while a busy one gives requests, and keys generated on demand, all of its CPU.
//! The pool lives only in memory: its keys are zeroized on drop and never written anywhere.
//!
//! A server stops the pool before it exits ([`RsaKeyPool::stop`]): aws-lc tears down its
//! entropy source in the process's exit handlers, and a refill thread that draws on it after
//! that aborts the process (seen as a SIGABRT after a clean SIGTERM).

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keypaird_keys::{GeneratedKey, KeyError};

#[derive(Clone)]
pub struct RsaKeyPool {
    inner: Option<Arc<PoolInner>>,
    /// Keys generated on demand (the pool empty or off) run on tokio's blocking pool, at most
    /// one per core at a time: more would only queue on the CPU, and would fill the bounded
    /// blocking pool that the SQLite reads also need.
    on_demand: Arc<tokio::sync::Semaphore>,
    /// Takes served from the pool, and takes that had to generate (for the metrics).
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

/// How many takes the pool has served since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTakes {
    /// A key was ready.
    pub hits: u64,
    /// None was (or the pool is off): the key was generated on demand.
    pub misses: u64,
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
    /// Set by [`RsaKeyPool::stop`]: refill threads start no new key.
    stopping: Arc<AtomicBool>,
    /// One per refill thread, held while it generates a key: once `stop` has set `stopping`
    /// and taken each of them, no refill is inside aws-lc, nor will be.
    generating: Vec<Arc<Mutex<()>>>,
}

impl RsaKeyPool {
    /// A pool holding up to `capacity` keys, filled by one idle-priority thread per core.
    /// `capacity == 0` disables the pool: every create generates its own key.
    pub fn new(capacity: usize) -> Self {
        let on_demand = Arc::new(tokio::sync::Semaphore::new(Self::on_demand_generations()));
        if capacity == 0 {
            return RsaKeyPool {
                inner: None,
                on_demand,
                hits: Arc::default(),
                misses: Arc::default(),
            };
        }
        let (sender, receiver) = sync_channel(capacity);
        let ready_keys = Arc::new(AtomicIsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut generating = Vec::new();
        for refill in 0..Self::on_demand_generations() {
            let producer = sender.clone();
            let produced = ready_keys.clone();
            let stopping = stopping.clone();
            let turn = Arc::new(Mutex::new(()));
            generating.push(turn.clone());
            thread::Builder::new()
                .name(format!("rsa-key-pool-{refill}"))
                .spawn(move || {
                    run_only_when_idle();
                    loop {
                        let generated = {
                            let _generating = turn.lock().unwrap_or_else(|p| p.into_inner());
                            if stopping.load(Ordering::Acquire) {
                                return;
                            }
                            GeneratedKey::generate_rsa2048()
                        };
                        match generated {
                            // Blocks while the pool is full; ends when the pool is dropped.
                            Ok(key) => {
                                if producer.send(key).is_err() {
                                    return;
                                }
                                produced.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(err) => {
                                tracing::error!(error = %err, "RSA key generation failed in the pool");
                                thread::sleep(Duration::from_secs(1));
                            }
                        }
                    }
                })
                .expect("spawning an RSA key pool thread");
        }
        RsaKeyPool {
            inner: Some(Arc::new(PoolInner {
                ready: Mutex::new(receiver),
                refill: sender,
                ready_keys,
                stopping,
                generating,
            })),
            on_demand,
            hits: Arc::default(),
            misses: Arc::default(),
        }
    }

    /// A key from the pool when one is ready, otherwise a fresh one generated on a blocking
    /// thread so the async runtime keeps serving.
    pub async fn take(&self) -> Result<GeneratedKey, KeyError> {
        if let Some(key) = self.try_take() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(key);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
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

    /// Stops the refill threads and waits, at most `patience`, for the keys they are
    /// generating: call it before the process exits (see the module's note). Returns whether
    /// no refill is generating any more (a refill blocked on a full pool is not). Blocks: call
    /// it off the async workers.
    pub fn stop(&self, patience: Duration) -> bool {
        let Some(inner) = &self.inner else {
            return true;
        };
        inner.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + patience;
        inner.generating.iter().all(|turn| loop {
            match turn.try_lock() {
                Ok(_) | Err(std::sync::TryLockError::Poisoned(_)) => break true,
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    break false
                }
                Err(std::sync::TryLockError::WouldBlock) => thread::sleep(Duration::from_millis(2)),
            }
        })
    }

    /// How many takes found a key ready, and how many generated one.
    pub fn takes(&self) -> PoolTakes {
        PoolTakes {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// How many keys are ready now, for the readiness log line, benchmarks and metrics.
    pub fn ready(&self) -> usize {
        self.inner.as_ref().map_or(0, |inner| {
            inner.ready_keys.load(Ordering::Relaxed).max(0) as usize
        })
    }
}

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it gets a core only when no other
/// thread wants it, so a refill never delays a request. Elsewhere, or where it is refused, the
/// thread keeps its priority (the pool still works, refills then share the CPU).
fn run_only_when_idle() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for SCHED_IDLE.
        let refused = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0;
        if refused {
            tracing::debug!("the RSA pool's refill thread keeps its priority (SCHED_IDLE refused)");
        }
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
    async fn takes_are_counted_as_hits_and_misses() {
        let off = RsaKeyPool::new(0);
        off.take().await.unwrap();
        off.take().await.unwrap();
        assert_eq!(off.takes(), PoolTakes { hits: 0, misses: 2 });
        let pool = RsaKeyPool::new(1);
        wait_for_ready(&pool, 1);
        pool.take().await.unwrap();
        assert_eq!(pool.takes(), PoolTakes { hits: 1, misses: 0 });
        assert!(pool.stop(Duration::from_secs(30)));
    }

    /// Many takes at once, from a pool several threads refill and beyond its size: every key
    /// handed out is a different key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_hands_out_one_key_twice() {
        let pool = RsaKeyPool::new(4);
        wait_for_ready(&pool, 4);
        let takes: Vec<_> = (0..24)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.take().await.unwrap().md5_fingerprint() })
            })
            .collect();
        let mut fingerprints = std::collections::HashSet::new();
        for take in takes {
            assert!(
                fingerprints.insert(take.await.unwrap()),
                "a key was handed out twice"
            );
        }
        assert_eq!(fingerprints.len(), 24);
    }

    /// Once `stop` returns, no refill is generating and none starts again, so the exit's
    /// aws-lc teardown meets no refill (see the module's note).
    #[test]
    fn stop_waits_out_generations_and_starts_no_more() {
        // Larger than the test can fill: refills never rest on a full pool.
        let pool = RsaKeyPool::new(10_000);
        wait_for_ready(&pool, 1);
        assert!(pool.stop(Duration::from_secs(30)));
        let inner = pool.inner.as_ref().expect("a pool");
        // A key finished just before the stop may still be landing in the pool.
        thread::sleep(Duration::from_millis(100));
        let ready = pool.ready();
        for _ in 0..50 {
            for turn in &inner.generating {
                assert!(turn.try_lock().is_ok(), "a refill is generating after stop");
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(pool.ready(), ready, "a refill made a key after stop");
        // A pool without refills stops at once.
        assert!(RsaKeyPool::new(0).stop(Duration::ZERO));
    }

    /// The refill threads (one per core) run in SCHED_IDLE, so they never take a core from a
    /// request: read back from the kernel's view of this process's threads.
    #[cfg(target_os = "linux")]
    #[test]
    fn refill_threads_run_at_idle_priority() {
        let pool = RsaKeyPool::new(1);
        wait_for_ready(&pool, 1);
        let mut policies = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if name.trim_end().starts_with("rsa-key-pool-") {
                let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                // Fields after the command's closing parenthesis; `policy` is field 41.
                let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
                policies.push(after.split_whitespace().nth(41 - 3).map(str::to_owned));
            }
        }
        // Other tests' pools may be alive in this process too; each has as many threads.
        assert!(
            policies.len() >= RsaKeyPool::on_demand_generations(),
            "{policies:?}"
        );
        let idle = libc::SCHED_IDLE.to_string();
        assert!(
            policies.iter().all(|p| p.as_deref() == Some(idle.as_str())),
            "{policies:?}"
        );
        drop(pool);
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
