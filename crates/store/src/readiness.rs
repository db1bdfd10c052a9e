//! What both backends share of [`Store::check_ready`](keypaird_inventory::Store::check_ready):
//! the probe is a real durable write (an fsync on SQLite, a commit on PostgreSQL), so its
//! outcome is kept for [`READY_CHECK_INTERVAL`] and probes asked for meanwhile wait for the one
//! in flight instead of starting their own. A load balancer probing in a tight loop, or many of
//! them, then costs at most one small commit a second per node, and the log at most one line a
//! second: a warning with the cause and the store's error for each failed probe, and a line
//! when the store is ready again.

use std::future::Future;
use std::time::Duration;

use keypaird_inventory::NotReady;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a probe's outcome, good or bad, answers readiness checks.
pub(crate) const READY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The last probe's outcome and when it ended.
#[derive(Default)]
pub(crate) struct ReadinessCache {
    last: Mutex<Option<(Instant, Result<(), NotReady>)>>,
}

impl ReadinessCache {
    /// The last outcome if it is recent, else the outcome of `probe`, run now. The lock is held
    /// across the probe: that is what makes concurrent callers share it. A caller that gives up
    /// (its request dropped) leaves nothing behind; the next caller probes again.
    pub(crate) async fn check<F, Fut>(&self, probe: F) -> Result<(), NotReady>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), NotReady>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < READY_CHECK_INTERVAL {
                return outcome.clone();
            }
        }
        let outcome = probe().await;
        // Here rather than per request: one line per probe, however often readiness is asked.
        match (&outcome, last.as_ref()) {
            (Err(not_ready), _) => {
                tracing::warn!(cause = %not_ready.cause, error = %not_ready.detail, "store not ready");
            }
            (Ok(()), Some((_, Err(_)))) => tracing::info!("store ready again"),
            (Ok(()), _) => {}
        }
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use keypaird_inventory::NotReadyCause;

    use super::*;

    #[tokio::test]
    async fn one_probe_answers_for_the_interval_then_another_runs() {
        let cache = Arc::new(ReadinessCache::default());
        let probes = Arc::new(AtomicU32::new(0));
        let check = |cache: Arc<ReadinessCache>, probes: Arc<AtomicU32>| async move {
            cache
                .check(|| async {
                    let n = probes.fetch_add(1, Ordering::SeqCst) + 1;
                    // Slow enough that the concurrent callers below arrive while it runs.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(NotReady::new(NotReadyCause::DiskFull, format!("probe {n}")))
                })
                .await
        };

        let concurrent: Vec<_> = (0..8)
            .map(|_| tokio::spawn(check(cache.clone(), probes.clone())))
            .collect();
        for handle in concurrent {
            let outcome = handle.await.expect("task");
            assert_eq!(
                outcome,
                Err(NotReady::new(NotReadyCause::DiskFull, "probe 1"))
            );
        }
        assert_eq!(probes.load(Ordering::SeqCst), 1);

        tokio::time::sleep(READY_CHECK_INTERVAL).await;
        let outcome = check(cache.clone(), probes.clone()).await;
        assert_eq!(
            outcome,
            Err(NotReady::new(NotReadyCause::DiskFull, "probe 2"))
        );
        assert_eq!(probes.load(Ordering::SeqCst), 2);
    }
}
