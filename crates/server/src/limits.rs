//! The limits every connection and request is held to, and the counters of clients they stopped.
//! Defaults are in the README's table; each is a setting of the config file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// From the first byte of a request head to its last.
    pub header_read_timeout: Duration,
    /// How long a connection may sit between requests with nothing sent.
    pub keep_alive_idle: Duration,
    /// The grace a body gets before the minimum rate applies to it.
    pub body_read_timeout: Duration,
    /// Bytes per second a body must keep up after the grace: once `n` bytes are in, the next
    /// must arrive within `body_read_timeout + n / min_body_rate` of the body's start.
    pub min_body_rate: u64,
    /// From the request head to the reply being ready, body included.
    pub request_timeout: Duration,
    /// How long writing a reply may stall because the client does not read it.
    pub send_timeout: Duration,
    pub max_connections: usize,
    /// Requests being read or answered at once; beyond it, 503 at once. With `max_body_bytes`
    /// this bounds the memory bodies can hold.
    pub max_in_flight: usize,
    pub max_body_bytes: usize,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(10),
            min_body_rate: 16 * 1024,
            request_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_in_flight: 256,
            // Far above any real request (a 16384-bit RSA import with 50 tags is ~40 KB), far
            // below anything that would hurt.
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl Limits {
    /// How long after its start a body may have delivered only `bytes` bytes.
    pub fn body_allowance(&self, bytes: usize) -> Duration {
        let at_min_rate = bytes as f64 / self.min_body_rate.max(1) as f64;
        self.body_read_timeout + Duration::from_secs_f64(at_min_rate)
    }

    /// Connections accepted beyond `max_connections` are answered 503 and closed, held to
    /// these much shorter times so that they cannot pile up.
    pub fn for_refused_connection(&self) -> Limits {
        let short = Duration::from_secs(2);
        Limits {
            header_read_timeout: self.header_read_timeout.min(short),
            keep_alive_idle: self.keep_alive_idle.min(short),
            send_timeout: self.send_timeout.min(short),
            ..self.clone()
        }
    }
}

/// Why the server stopped listening to a client or refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// A request head not complete within `header_read_timeout`.
    SlowHeader,
    /// A body slower than `body_read_timeout` plus the minimum rate (answered 408).
    SlowBody,
    /// A reply the client did not read for `send_timeout`.
    SlowReader,
    /// A request not answered within `request_timeout` (answered 503).
    RequestTimeout,
    /// Accepted beyond `max_connections` (answered 503, or closed at once far beyond it).
    ConnectionLimit,
    /// Refused beyond `max_in_flight` (answered 503).
    InFlightLimit,
    /// accept(2) failed, usually out of file descriptors.
    AcceptError,
    /// A TLS handshake that failed (plain HTTP on the TLS port, no shared cipher, a client
    /// that does not trust the certificate) or did not end within `header_read_timeout`.
    TlsHandshake,
}

const DROPS: [(Drop, &str); 8] = [
    (Drop::SlowHeader, "slow_header"),
    (Drop::SlowBody, "slow_body"),
    (Drop::SlowReader, "slow_reader"),
    (Drop::RequestTimeout, "request_timeout"),
    (Drop::ConnectionLimit, "connection_limit"),
    (Drop::InFlightLimit, "in_flight_limit"),
    (Drop::AcceptError, "accept_error"),
    (Drop::TlsHandshake, "tls_handshake"),
];

/// Counts of clients dropped or refused, by reason, since start.
#[derive(Debug, Default)]
pub struct DropCounters {
    counts: [AtomicU64; DROPS.len()],
}

impl DropCounters {
    pub fn count(&self, drop: Drop) {
        self.counts[drop as usize].fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn get(&self, drop: Drop) -> u64 {
        self.counts[drop as usize].load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> [u64; DROPS.len()] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// Logs what the limits stopped once per `interval`, not once per client: a thousand slow
/// sockets are one line, not a thousand.
pub fn spawn_drop_log(counters: Arc<DropCounters>, interval: Duration) {
    tokio::spawn(async move {
        let mut last = counters.snapshot();
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = counters.snapshot();
            if now == last {
                continue;
            }
            let summary: Vec<String> = DROPS
                .iter()
                .enumerate()
                .filter(|(i, _)| now[*i] != last[*i])
                .map(|(i, (_, name))| format!("{name}={} (total {})", now[i] - last[i], now[i]))
                .collect();
            tracing::warn!(
                interval_s = interval.as_secs(),
                dropped = summary.join(" "),
                "clients dropped or refused by the limits"
            );
            last = now;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_gets_its_grace_plus_its_size_at_the_minimum_rate() {
        let limits = Limits {
            body_read_timeout: Duration::from_secs(10),
            min_body_rate: 1024,
            ..Limits::default()
        };
        assert_eq!(limits.body_allowance(0), Duration::from_secs(10));
        assert_eq!(limits.body_allowance(256 * 1024), Duration::from_secs(266));
    }

    #[test]
    fn counters_count_each_reason_apart() {
        let counters = DropCounters::default();
        counters.count(Drop::SlowHeader);
        counters.count(Drop::SlowHeader);
        counters.count(Drop::InFlightLimit);
        assert_eq!(counters.get(Drop::SlowHeader), 2);
        assert_eq!(counters.get(Drop::InFlightLimit), 1);
        assert_eq!(counters.get(Drop::SlowBody), 0);
        assert_eq!(DROPS[Drop::AcceptError as usize].0, Drop::AcceptError);
    }

    #[test]
    fn refused_connections_get_short_times() {
        let refused = Limits::default().for_refused_connection();
        assert_eq!(refused.header_read_timeout, Duration::from_secs(2));
        assert_eq!(refused.keep_alive_idle, Duration::from_secs(2));
        assert_eq!(refused.max_in_flight, Limits::default().max_in_flight);
    }
}
