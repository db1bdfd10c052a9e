//! One measured run: the summary line and the JSON object bench/run.sh reads.

use keypaird_bench_scale::load::Figure;
use serde_json::json;

use crate::cpu::Usage;
use crate::scenarios::{round1, Scenario, MIXED_BLEND};
use crate::Peer;

pub struct Outcome {
    pub scenario: Scenario,
    pub url: String,
    pub peer: Peer,
    /// sigv4, acs-v1 or acs-v3
    pub signature: &'static str,
    pub connections: usize,
    /// The configured duration (None with --requests).
    pub seconds: Option<f64>,
    pub requests_limit: Option<u64>,
    pub figure: Figure,
    /// `<tag>-<short>-`: the names this run wrote start so.
    pub names: Option<String>,
    pub seeded: Option<usize>,
    pub setup: Option<serde_json::Value>,
    pub cpu: Usage,
}

impl Outcome {
    /// Every reply a valid 2xx, and at least one.
    pub fn is_clean(&self) -> bool {
        self.figure.is_valid()
    }

    fn ok(&self) -> u64 {
        self.figure.requests - self.figure.invalid
    }

    fn elapsed(&self) -> f64 {
        if self.figure.rate > 0.0 {
            self.figure.requests as f64 / self.figure.rate
        } else {
            0.0
        }
    }

    fn per_request(&self, us: Option<f64>) -> Option<f64> {
        us.filter(|_| self.figure.requests > 0)
            .map(|us| round1(us / self.figure.requests as f64))
    }

    pub fn summary(&self) -> String {
        let f = &self.figure;
        let peer = match self.peer {
            Peer::Keypaird => "keypaird",
            Peer::Moto => "moto",
        };
        let mut line = format!(
            "{:<16} {:<6} {peer} {}: {} connections, {:.1} s: {} requests ({} ok), {:.1} req/s; \
             ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
            self.scenario.name(),
            self.signature,
            self.url,
            self.connections,
            self.elapsed(),
            f.requests,
            self.ok(),
            f.rate,
            f.p50_ms,
            f.p90_ms,
            f.p99_ms,
            f.max_ms,
        );
        if let Some(us) = self.per_request(self.cpu.server_us) {
            line.push_str(&format!("; server CPU {us:.0} µs/req"));
        }
        if let Some(us) = self.per_request(self.cpu.db_us) {
            line.push_str(&format!(" + database {us:.0} µs/req"));
        }
        if f.invalid == 0 {
            line.push_str("; no errors");
        } else {
            let mut parts: Vec<String> = f
                .errors
                .iter()
                .map(|(code, n)| format!("{code} ×{n}"))
                .collect();
            if f.bad_replies() > 0 {
                parts.push(format!(
                    "2xx replies failing the check ×{}",
                    f.bad_replies()
                ));
            }
            if f.no_reply > 0 {
                parts.push(format!("no reply ×{}", f.no_reply));
            }
            line.push_str(&format!("; ERRORS: {}", parts.join(", ")));
            if let Some(reason) = &f.invalid_reason {
                line.push_str(&format!("; first: {reason}"));
            }
        }
        line
    }

    pub fn json(&self) -> serde_json::Value {
        let f = &self.figure;
        let ms = |v: f64| (v * 1000.0).round() / 1000.0;
        let statuses: serde_json::Map<String, serde_json::Value> = f
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), json!(n)))
            .collect();
        let mut out = json!({
            "scenario": self.scenario.name(),
            "peer": match self.peer { Peer::Keypaird => "keypaird", Peer::Moto => "moto" },
            "url": self.url,
            "signature": self.signature,
            "connections": self.connections,
            "seconds": self.seconds,
            "requests_limit": self.requests_limit,
            "elapsed_s": ms(self.elapsed()),
            "requests": f.requests,
            "ok": self.ok(),
            "rate": round1(f.rate),
            "p50_ms": ms(f.p50_ms),
            "p90_ms": ms(f.p90_ms),
            "p99_ms": ms(f.p99_ms),
            "max_ms": ms(f.max_ms),
            "errors": f.errors,
            "statuses": statuses,
            "bad_replies": f.bad_replies(),
            "no_reply": f.no_reply,
            "first_problem": f.invalid_reason,
            "names": self.names,
            "seeded": self.seeded,
            "setup": self.setup,
            "server_cpu_us_per_req": self.per_request(self.cpu.server_us),
            "db_cpu_us_per_req": self.per_request(self.cpu.db_us),
        });
        if self.scenario == Scenario::Mixed {
            out["blend"] = MIXED_BLEND
                .iter()
                .map(|(what, share)| ((*what).to_owned(), json!(share)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        out
    }
}
