//! Background upkeep that keeps the store bounded. Every node runs it; the work is idempotent,
//! so several nodes on one PostgreSQL only repeat a cheap indexed delete.

use std::sync::Arc;
use std::time::Duration;

use keypaird_inventory::{CredentialCache, Store};

/// How often expired signature nonces are deleted. A record expires 16 minutes after its
/// request's timestamp, so the table holds about the last 17 minutes of Alibaba traffic.
const NONCE_PURGE_INTERVAL: Duration = Duration::from_secs(60);

pub fn spawn_nonce_purge(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(NONCE_PURGE_INTERVAL);
        loop {
            ticks.tick().await;
            match store
                .purge_expired_nonces(time::OffsetDateTime::now_utc())
                .await
            {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "expired signature nonces deleted"),
                // A store outage is reported by the requests it fails; try again next tick.
                Err(err) => tracing::warn!(error = %err, "could not purge expired nonces"),
            }
        }
    });
}

/// Rows the audit purge deletes per transaction: a purge never holds the write lock long.
const AUDIT_PURGE_BATCH: u32 = 1000;
/// Batches per tick at most, so one tick's work stays bounded however far behind it is.
const AUDIT_PURGE_BATCHES_PER_TICK: u32 = 100;

/// Deletes audit events older than `retention`, each minute (or each tenth of the retention
/// when that is shorter), in bounded batches.
pub fn spawn_audit_purge(store: Arc<dyn Store>, retention: Duration) {
    let interval = (retention / 10).clamp(Duration::from_millis(200), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let before = time::OffsetDateTime::now_utc() - retention;
            for _ in 0..AUDIT_PURGE_BATCHES_PER_TICK {
                match store.purge_audit_events(before, AUDIT_PURGE_BATCH).await {
                    Ok(purged) if purged < u64::from(AUDIT_PURGE_BATCH) => {
                        if purged > 0 {
                            tracing::debug!(purged, "audit events past retention deleted");
                        }
                        break;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "could not delete audit events past retention");
                        break;
                    }
                }
            }
        }
    });
}

/// Writes the access keys' last use, noted in memory by every authenticated request, in one
/// store write per interval: `access-keys list` shows a use within about the interval.
pub fn spawn_last_used_flush(credentials: CredentialCache, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = credentials.flush_uses().await {
                // Kept in memory; the next tick tries again.
                tracing::warn!(error = %err, "could not record the access keys' last use");
            }
        }
    });
}

/// How long the exit waits for the last flush: an unreachable store must not hold it up.
const EXIT_FLUSH_PATIENCE: Duration = Duration::from_secs(2);

/// The uses noted since the last periodic flush, written once more as the server stops.
pub async fn flush_last_uses_at_exit(credentials: &CredentialCache) {
    match tokio::time::timeout(EXIT_FLUSH_PATIENCE, credentials.flush_uses()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "could not record the access keys' last use at exit")
        }
        Err(_) => {
            tracing::warn!(patience = ?EXIT_FLUSH_PATIENCE, "gave up recording the access keys' last use at exit")
        }
    }
}
