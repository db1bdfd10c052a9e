//! Closed-loop load: N connections, each sending its next freshly signed request as soon as the
//! previous reply is in and checked. Every reply is validated; one bad reply makes the figure
//! invalid. Replies outside 2xx are also counted by error code and every reply by HTTP status,
//! for callers that report errors rather than fail on them (`keypaird-load`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{Conn, Response, SendError};
use crate::sign::{Dialect, Params, Signer};

/// What a reply must show to count as valid.
#[derive(Clone, Debug)]
pub enum Check {
    /// EC2 DescribeKeyPairs: exactly `count` `<keyName>` elements, one of them `name` if given.
    Ec2Keys { count: usize, name: Option<String> },
    /// EC2 DescribeTags: exactly `count` `<resourceId>` elements.
    Ec2Tags { count: usize },
    /// ECS DescribeKeyPairs (JSON): this TotalCount and this many items, the first one `name`.
    EcsPage {
        total: usize,
        items: usize,
        name: Option<String>,
    },
    /// EC2 CreateKeyPair: a key pair ID and fingerprint, kept under `index`.
    Ec2Created { index: usize },
    /// ECS ImportKeyPair: a fingerprint, kept under `index`.
    EcsImported { index: usize },
    /// EC2 DeleteKeyPair: `<return>true</return>`.
    Ec2Deleted,
    /// CloudTrail LookupEvents (JSON): `Events` a list of exactly `count` events (None: any
    /// number up to 50), each with an `EventId`, `EventName` and `EventTime`; when given, the
    /// first event's `EventId` is `event_id` and its `Resources` name `resource`. With `index`,
    /// the first event's ID and "<events> <NextToken or nothing>" are kept under it (for
    /// untimed setups).
    CloudTrailEvents {
        count: Option<usize>,
        event_id: Option<String>,
        resource: Option<String>,
        index: Option<usize>,
    },
}

pub struct Call {
    pub dialect: Dialect,
    pub params: Params,
    pub check: Check,
}

/// Makes each worker's next call; None when a bounded job list is used up.
pub type MakeCall = Arc<dyn Fn(&mut Rng) -> Option<Call> + Send + Sync>;

/// (index, key pair ID or "", fingerprint) of each key pair a create or import made.
pub type Made = (usize, String, String);

#[derive(Clone, Debug, Default)]
pub struct Figure {
    pub requests: u64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Invalid replies and the first reason; any makes the figure INVALID. Counts every kind:
    /// replies outside 2xx, 2xx replies without what the check wants, and requests that got no
    /// reply at all.
    pub invalid: u64,
    pub invalid_reason: Option<String>,
    /// Replies outside 2xx by error code (EC2 `<Code>`, ECS `Code`, else `HTTP <status>`).
    pub errors: BTreeMap<String, u64>,
    /// Every reply by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no reply (connection refused, reset, timed out).
    pub no_reply: u64,
}

impl Figure {
    pub fn is_valid(&self) -> bool {
        self.invalid == 0 && self.requests > 0
    }

    /// Several rounds as one figure: requests over their total time; the middle round's p50
    /// and the worst p99; every invalid reply.
    pub fn merge(rounds: &[Figure]) -> Figure {
        let requests: u64 = rounds.iter().map(|f| f.requests).sum();
        let seconds: f64 = rounds
            .iter()
            .filter(|f| f.rate > 0.0)
            .map(|f| f.requests as f64 / f.rate)
            .sum();
        let middle = |of: fn(&Figure) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(of).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(0.0)
        };
        let mut merged = Figure {
            requests,
            rate: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: middle(|f| f.p50_ms),
            p90_ms: middle(|f| f.p90_ms),
            p99_ms: rounds.iter().map(|f| f.p99_ms).fold(0.0, f64::max),
            max_ms: rounds.iter().map(|f| f.max_ms).fold(0.0, f64::max),
            ..Figure::default()
        };
        for round in rounds {
            merged.add_failures(round);
        }
        merged
    }

    /// Adds `other`'s failures and status counts to these.
    fn add_failures(&mut self, other: &Figure) {
        self.invalid += other.invalid;
        if self.invalid_reason.is_none() {
            self.invalid_reason.clone_from(&other.invalid_reason);
        }
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.no_reply += other.no_reply;
    }

    /// Replies in 2xx that did not show what the check wants.
    pub fn bad_replies(&self) -> u64 {
        let errors: u64 = self.errors.values().sum();
        self.invalid.saturating_sub(errors + self.no_reply)
    }

    pub fn why_invalid(&self) -> String {
        match &self.invalid_reason {
            Some(reason) => format!("{} invalid replies; first: {reason}", self.invalid),
            None if self.requests == 0 => "no request completed".to_owned(),
            None => String::new(),
        }
    }
}

pub struct Measured {
    pub figure: Figure,
    pub made: Vec<Made>,
}

pub struct Load {
    pub addr: SocketAddr,
    pub connections: usize,
    /// None: until `make` says there is no more work.
    pub duration: Option<Duration>,
    pub signer: Arc<Signer>,
}

impl Load {
    pub async fn run(&self, make: MakeCall) -> anyhow::Result<Measured> {
        // Connections are open before the clock starts, as a long-running client's would be.
        let mut conns = Vec::with_capacity(self.connections);
        for _ in 0..self.connections {
            let mut conn = Conn::new(self.addr);
            conn.connect().await?;
            conns.push(conn);
        }
        let start = Instant::now();
        let deadline = self.duration.map(|d| start + d);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let workers: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let rng = Rng::new(seed ^ ((i as u64 + 1) << 40));
                tokio::spawn(worker(
                    conn,
                    rng,
                    deadline,
                    self.signer.clone(),
                    make.clone(),
                ))
            })
            .collect();
        let mut latencies = Vec::new();
        let mut made = Vec::new();
        let mut figure = Figure::default();
        let mut end = start;
        for worker in workers {
            let w = worker.await?;
            latencies.extend(w.latencies_us);
            made.extend(w.made);
            figure.add_failures(&w.failures);
            end = end.max(w.finished);
        }
        latencies.sort_unstable();
        figure.requests = latencies.len() as u64;
        let elapsed = end.duration_since(start).as_secs_f64();
        figure.rate = if elapsed > 0.0 {
            figure.requests as f64 / elapsed
        } else {
            0.0
        };
        figure.p50_ms = percentile(&latencies, 0.50);
        figure.p90_ms = percentile(&latencies, 0.90);
        figure.p99_ms = percentile(&latencies, 0.99);
        figure.max_ms = percentile(&latencies, 1.0);
        Ok(Measured { figure, made })
    }
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

struct WorkerResult {
    latencies_us: Vec<u32>,
    made: Vec<Made>,
    /// Only its failure and status fields are used.
    failures: Figure,
    finished: Instant,
}

async fn worker(
    mut conn: Conn,
    mut rng: Rng,
    deadline: Option<Instant>,
    signer: Arc<Signer>,
    make: MakeCall,
) -> WorkerResult {
    let mut out = WorkerResult {
        latencies_us: Vec::new(),
        made: Vec::new(),
        failures: Figure::default(),
        finished: Instant::now(),
    };
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let Some(call) = make(&mut rng) else { break };
        let started = Instant::now();
        let mut result = conn.send(&signer.request(call.dialect, &call.params)).await;
        if let Err(SendError::Stale(_)) = result {
            // Signed again: an ECS nonce must not be sent twice.
            result = conn.send(&signer.request(call.dialect, &call.params)).await;
        }
        let latency = started.elapsed();
        out.latencies_us
            .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
        let failures = &mut out.failures;
        let verdict = match result {
            Ok(reply) => {
                *failures.statuses.entry(reply.status).or_default() += 1;
                if !(200..300).contains(&reply.status) {
                    *failures.errors.entry(error_code(&reply)).or_default() += 1;
                }
                check(&call, &reply)
            }
            Err(err) => {
                failures.no_reply += 1;
                Err(format!("{}: {err}", action(&call)))
            }
        };
        match verdict {
            Ok(Some(made)) => out.made.push(made),
            Ok(None) => {}
            Err(reason) => {
                failures.invalid += 1;
                if failures.invalid_reason.is_none() {
                    failures.invalid_reason = Some(reason);
                }
            }
        }
    }
    out.finished = Instant::now();
    out
}

fn action(call: &Call) -> String {
    let get = |name: &str| {
        call.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut what = format!("{:?} {}", call.dialect, get("Action"));
    for (name, value) in &call.params {
        if !matches!(*name, "Action" | "PublicKeyBody" | "PublicKeyMaterial") {
            what.push_str(&format!(" {name}={value}"));
        }
    }
    what
}

/// Ok(Some) carries what a create or import made.
fn check(call: &Call, reply: &Response) -> Result<Option<Made>, String> {
    let fail = |why: &str| {
        let body: String = reply.text().chars().take(300).collect();
        Err(format!(
            "{}: {why} (HTTP {}: {body})",
            action(call),
            reply.status
        ))
    };
    if reply.status != 200 {
        return fail("status is not 200");
    }
    let text = reply.text();
    match &call.check {
        Check::Ec2Keys { count, name } => {
            let found = text.matches("<keyName>").count();
            if found != *count {
                return fail(&format!("{found} key pairs, expected {count}"));
            }
            if let Some(name) = name {
                if !text.contains(&format!("<keyName>{name}</keyName>")) {
                    return fail(&format!("{name} is not in the reply"));
                }
            }
        }
        Check::Ec2Tags { count } => {
            let found = text.matches("<resourceId>").count();
            if found != *count {
                return fail(&format!("{found} tags, expected {count}"));
            }
        }
        Check::EcsPage { total, items, name } => {
            let json: serde_json::Value = match serde_json::from_str(text) {
                Ok(json) => json,
                Err(_) => return fail("not JSON"),
            };
            let got_total = json["TotalCount"].as_u64();
            let list = json["KeyPairs"]["KeyPair"].as_array();
            let got_items = list.map_or(0, Vec::len);
            if got_total != Some(*total as u64) || got_items != *items {
                return fail(&format!(
                    "TotalCount {got_total:?} with {got_items} items, expected {total} with {items}"
                ));
            }
            if let Some(name) = name {
                let first = list.and_then(|l| l.first()).map(|k| &k["KeyPairName"]);
                if first.and_then(|n| n.as_str()) != Some(name.as_str()) {
                    return fail(&format!("{name} is not the key pair answered"));
                }
            }
        }
        Check::Ec2Created { index } => {
            let (Some(id), Some(fp)) = (
                xml_value(text, "keyPairId"),
                xml_value(text, "keyFingerprint"),
            ) else {
                return fail("no keyPairId or keyFingerprint");
            };
            return Ok(Some((*index, id.to_owned(), fp.to_owned())));
        }
        Check::EcsImported { index } => {
            let json: serde_json::Value = match serde_json::from_str(text) {
                Ok(json) => json,
                Err(_) => return fail("not JSON"),
            };
            let Some(fp) = json["KeyPairFingerPrint"].as_str() else {
                return fail("no KeyPairFingerPrint");
            };
            return Ok(Some((*index, String::new(), fp.to_owned())));
        }
        Check::Ec2Deleted => {
            if !text.contains("<return>true</return>") {
                return fail("no <return>true</return>");
            }
        }
        Check::CloudTrailEvents {
            count,
            event_id,
            resource,
            index,
        } => {
            let json: serde_json::Value = match serde_json::from_str(text) {
                Ok(json) => json,
                Err(_) => return fail("not JSON"),
            };
            let Some(events) = json["Events"].as_array() else {
                return fail("no Events list");
            };
            match count {
                Some(count) if events.len() != *count => {
                    return fail(&format!("{} events, expected {count}", events.len()));
                }
                None if events.len() > 50 => {
                    return fail(&format!("{} events in one page", events.len()));
                }
                _ => {}
            }
            let shaped = events.iter().all(|e| {
                e["EventId"].is_string() && e["EventName"].is_string() && !e["EventTime"].is_null()
            });
            if !shaped {
                return fail("an event without EventId, EventName or EventTime");
            }
            let first = events.first();
            if let Some(id) = event_id {
                if first.and_then(|e| e["EventId"].as_str()) != Some(id.as_str()) {
                    return fail(&format!("event {id} is not the one answered"));
                }
            }
            if let Some(name) = resource {
                let named = first
                    .and_then(|e| e["Resources"].as_array())
                    .is_some_and(|r| r.iter().any(|r| r["ResourceName"] == name.as_str()));
                if !named {
                    return fail(&format!("{name} is not among the event's resources"));
                }
            }
            if let Some(index) = index {
                let id = first
                    .and_then(|e| e["EventId"].as_str())
                    .unwrap_or_default();
                let token = json["NextToken"].as_str().unwrap_or_default();
                let page = format!("{} {token}", events.len());
                return Ok(Some((*index, id.to_owned(), page)));
            }
        }
    }
    Ok(None)
}

/// The error code of a reply outside 2xx: ECS's JSON `Code`, EC2's (and ECS XML's) `<Code>`,
/// else `HTTP <status>`.
pub fn error_code(reply: &Response) -> String {
    let text = reply.text();
    let code = if text.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|json| {
                // CloudTrail's JSON protocol names its error `__type`.
                json["Code"]
                    .as_str()
                    .or_else(|| json["__type"].as_str())
                    .map(str::to_owned)
            })
    } else {
        xml_value(text, "Code").map(str::to_owned)
    };
    code.filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("HTTP {}", reply.status))
}

/// The text of the first `<tag>…</tag>`.
pub fn xml_value<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find("</")?;
    Some(&xml[start..start + len])
}

/// splitmix64: uniform enough for picking targets, and no dependency for it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n ≤ a few million, so the modulo bias is negligible).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
