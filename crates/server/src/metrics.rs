//! The Prometheus metrics served on `/metrics`. Every label value comes from a fixed set (the
//! dialects' names, their known actions, their error tables' codes, the store's operation
//! names), never from a client's text, so no request can add a series; and no value is ever a
//! secret, a key or a name a tenant chose.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use keypaird_api::RequestLog;
use keypaird_inventory::{RsaKeyPool, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The media type of what [`Metrics::render`] writes (Prometheus reads OpenMetrics).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How stale the nonce gauge may get: a scrape counts the record again only after this long,
/// so however often `/metrics` is asked the store counts at most once per interval.
const NONCE_COUNT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    action: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    dialect: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthFailureLabels {
    dialect: &'static str,
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.5 ms to about 4 s: a pool-served create or a lookup is around a millisecond, an RSA key
/// generated on demand tens of milliseconds, a store outage seconds.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// 50 µs to about 1.6 s: point lookups take tens of microseconds, a commit an fsync.
fn store_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<ActionLabels>,
    auth_failures: Family<AuthFailureLabels, Counter>,
    store_duration: HistogramFamily<OperationLabels>,
    store_errors: Family<OperationLabels, Counter>,
    group_commit_batch: Histogram,
    nonce_records: Gauge,
    /// Set once the pool exists (`watch_rsa_pool`), which is after the store has opened.
    rsa_pool: Arc<OnceLock<RsaKeyPool>>,
    /// When the nonce record was last counted; held while counting, so concurrent scrapes
    /// share one count.
    nonces_counted_at: tokio::sync::Mutex<Option<Instant>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // prometheus-client adds `_total` to counters' names.
        registry.register(
            "keypaird_requests",
            "API requests answered, by dialect, action and error code (OK when none)",
            requests.clone(),
        );
        let request_duration = HistogramFamily::new_with_constructor(request_buckets as fn() -> _);
        registry.register(
            "keypaird_request_duration_seconds",
            "Time from a request's head to its reply, by dialect and action",
            request_duration.clone(),
        );
        let auth_failures = Family::<AuthFailureLabels, Counter>::default();
        registry.register(
            "keypaird_auth_failures",
            "Requests refused by authentication, by dialect and error code",
            auth_failures.clone(),
        );
        let store_duration = HistogramFamily::new_with_constructor(store_buckets as fn() -> _);
        registry.register(
            "keypaird_store_operation_duration_seconds",
            "Time each store operation took, by operation",
            store_duration.clone(),
        );
        let store_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "keypaird_store_errors",
            "Store operations that failed on the store's side (unavailable, internal, not ready); \
             refusals such as a duplicate name or a full quota are answers, not errors",
            store_errors.clone(),
        );
        // 1 to 64 (the writer's largest batch), doubling.
        let group_commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        registry.register(
            "keypaird_group_commit_batch_size",
            "Writes made durable by one SQLite commit (PostgreSQL commits each write alone)",
            group_commit_batch.clone(),
        );
        let nonce_records = Gauge::default();
        registry.register(
            "keypaird_nonce_records",
            "Alibaba signature nonces recorded in the store (expired ones until purged), \
             counted at most every 10 s",
            nonce_records.clone(),
        );
        let rsa_pool = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(PoolCollector(rsa_pool.clone())));
        Metrics {
            registry,
            requests,
            request_duration,
            auth_failures,
            store_duration,
            store_errors,
            group_commit_batch,
            nonce_records,
            rsa_pool,
            nonces_counted_at: tokio::sync::Mutex::new(None),
        }
    }

    /// Reports `pool`'s keys and takes from now on. The pool is made only once the store is
    /// open and the port bound: its refill threads must be stopped before any exit.
    pub fn watch_rsa_pool(&self, pool: RsaKeyPool) {
        let _ = self.rsa_pool.set(pool);
    }

    /// Counts one answered API request, from what its log line says.
    pub fn observe_request(&self, log: &RequestLog, elapsed: Duration) {
        let action = log.known_action();
        let code = log.error_code.unwrap_or("OK");
        self.requests
            .get_or_create(&RequestLabels {
                dialect: log.dialect,
                action,
                code,
            })
            .inc();
        self.request_duration
            .get_or_create(&ActionLabels {
                dialect: log.dialect,
                action,
            })
            .observe(elapsed.as_secs_f64());
        if log.auth_failed {
            self.auth_failures
                .get_or_create(&AuthFailureLabels {
                    dialect: log.dialect,
                    reason: code,
                })
                .inc();
        }
    }

    pub fn observe_store(&self, operation: &'static str, elapsed: Duration, failed: bool) {
        let labels = OperationLabels { operation };
        self.store_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.store_errors.get_or_create(&labels).inc();
        }
    }

    pub fn observe_group_commit(&self, writes: usize) {
        self.group_commit_batch.observe(writes as f64);
    }

    /// The exposition text, after counting the nonce record if the last count is stale.
    pub async fn render(&self, store: &dyn Store) -> String {
        self.refresh_nonce_records(store).await;
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    async fn refresh_nonce_records(&self, store: &dyn Store) {
        let mut counted_at = self.nonces_counted_at.lock().await;
        if counted_at.is_some_and(|at| at.elapsed() < NONCE_COUNT_INTERVAL) {
            return;
        }
        match store.count_nonces().await {
            Ok(count) => {
                self.nonce_records.set(count.try_into().unwrap_or(i64::MAX));
                *counted_at = Some(Instant::now());
            }
            // The store's own metrics count the failure; the gauge keeps its last value.
            Err(err) => tracing::debug!(error = %err, "could not count the nonce record"),
        }
    }
}

/// The RSA pool's gauge and counters, read from the pool at each scrape (it keeps them itself).
struct PoolCollector(Arc<OnceLock<RsaKeyPool>>);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TakeLabels {
    result: &'static str,
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(pool) = self.0.get() else {
            return Ok(());
        };
        let keys = ConstGauge::new(pool.ready() as i64);
        keys.encode(encoder.encode_descriptor(
            "keypaird_rsa_pool_keys",
            "RSA keys generated ahead and ready in memory",
            None,
            keys.metric_type(),
        )?)?;
        let takes = pool.takes();
        let mut family = encoder.encode_descriptor(
            "keypaird_rsa_pool_takes",
            "RSA keys asked of the pool: hit when one was ready, miss when generated on demand",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, count) in [("hit", takes.hits), ("miss", takes.misses)] {
            ConstCounter::new(count).encode(family.encode_family(&TakeLabels { result })?)?;
        }
        Ok(())
    }
}
