//! The scenarios, their untimed seeding and setup, and the measured run.
//!
//! Names: every key pair a scenario writes is `<tag>-<short>-<n>`, with `n` one counter across
//! the connections (so `--tag` makes a run's names unique), all in the one account the
//! credentials name. Seed key pairs are `<prefix><i>` (`seed-0000` …, at least four digits),
//! tagged `team=bench`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::ValueEnum;

use keypaird_bench_scale::load::{Call, Check, Figure, Load, MakeCall, Measured};
use keypaird_bench_scale::sign::{ed25519_public_line, Dialect};
use keypaird_bench_scale::workloads::{
    bounded, describe_one, ec2_create_key, ec2_delete, ec2_filter, ec2_import, ecs_import_key,
};

use crate::cpu::Meters;
use crate::report::Outcome;
use crate::{say, Peer, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// EC2 CreateKeyPair KeyType=rsa (RSA-2048), a new name each time.
    #[value(name = "create-rsa")]
    CreateRsa,
    /// EC2 CreateKeyPair KeyType=ed25519, a new name each time.
    #[value(name = "create-ed25519")]
    CreateEd25519,
    /// EC2 ImportKeyPair of one ed25519 public key, a new name each time.
    #[value(name = "import")]
    Import,
    /// EC2 DescribeKeyPairs KeyName.1 of a seed key pair picked at random.
    #[value(name = "describe-by-name")]
    DescribeByName,
    /// EC2 DescribeKeyPairs with a key-name wildcard filter matching 10 seed key pairs.
    #[value(name = "describe-filter")]
    DescribeFilter,
    /// EC2 DeleteKeyPair of key pairs created in an untimed setup run first.
    #[value(name = "delete")]
    Delete,
    /// ECS DescribeKeyPairs KeyPairName of a seed key pair (each a new nonce: a durable write).
    #[value(name = "ecs-describe")]
    EcsDescribe,
    /// ECS ImportKeyPair of one ed25519 public key, a new name each time.
    #[value(name = "ecs-import")]
    EcsImport,
    /// 70% describe-by-name, 10% describe-filter, 10% create-ed25519, 10% delete.
    #[value(name = "mixed")]
    Mixed,
    /// CloudTrail LookupEvents (JSON protocol, SigV4 for `cloudtrail`), of the shape --lookup
    /// names. keypaird only (moto has no LookupEvents); not part of --smoke.
    #[value(name = "lookup")]
    Lookup,
}

/// What a `lookup` request asks for. Every full page is 50 events (MaxResults 50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LookupShape {
    /// No attribute, no time range: the first page of 50.
    #[value(name = "none")]
    None,
    /// EventName=ImportKeyPair: a page of 50.
    #[value(name = "event-name")]
    EventName,
    /// ResourceName=<a random one of --lookup-names' key pairs>: its one event.
    #[value(name = "resource-name")]
    ResourceName,
    /// EventId=<a random event's ID>: that event. The IDs are collected first, untimed, by
    /// ResourceName lookups of up to 2,000 random key pairs of --lookup-names.
    #[value(name = "event-id")]
    EventId,
    /// AccessKeyId=<the access key signing>: a page of 50.
    #[value(name = "access-key-id")]
    AccessKeyId,
    /// StartTime/EndTime = --lookup-window: a page of 50.
    #[value(name = "window")]
    Window,
    /// The page after --lookup-deep pages (the NextToken of page N, walked first, untimed; on
    /// a smaller trail the last page with events), the same token every request; as many
    /// events as it showed then.
    #[value(name = "deep-page")]
    DeepPage,
}

impl LookupShape {
    pub fn name(self) -> &'static str {
        match self {
            LookupShape::None => "none",
            LookupShape::EventName => "event-name",
            LookupShape::ResourceName => "resource-name",
            LookupShape::EventId => "event-id",
            LookupShape::AccessKeyId => "access-key-id",
            LookupShape::Window => "window",
            LookupShape::DeepPage => "deep-page",
        }
    }
}

/// The `lookup` scenario's settings.
#[derive(Clone, Debug)]
pub struct LookupPlan {
    pub shape: LookupShape,
    /// Key pairs `<prefix><n>`, n in 0..count, each imported once (one event each).
    pub names: Option<(String, usize)>,
    /// StartTime, EndTime in epoch seconds.
    pub window: Option<(i64, i64)>,
    pub deep: usize,
    pub access_key_id: String,
}

/// The blend of `mixed`: out of every 10 requests (taken in this order, one counter across the
/// connections), 7 describe-by-name, 1 describe-filter, 1 create-ed25519, 1 delete.
pub const MIXED_BLEND: [(&str, u32); 4] = [
    ("describe-by-name", 70),
    ("describe-filter", 10),
    ("create-ed25519", 10),
    ("delete", 10),
];

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::CreateRsa,
        Scenario::CreateEd25519,
        Scenario::Import,
        Scenario::DescribeByName,
        Scenario::DescribeFilter,
        Scenario::Delete,
        Scenario::EcsDescribe,
        Scenario::EcsImport,
        Scenario::Mixed,
    ];

    /// As on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::CreateRsa => "create-rsa",
            Scenario::CreateEd25519 => "create-ed25519",
            Scenario::Import => "import",
            Scenario::DescribeByName => "describe-by-name",
            Scenario::DescribeFilter => "describe-filter",
            Scenario::Delete => "delete",
            Scenario::EcsDescribe => "ecs-describe",
            Scenario::EcsImport => "ecs-import",
            Scenario::Mixed => "mixed",
            Scenario::Lookup => "lookup",
        }
    }

    pub fn is_ecs(self) -> bool {
        matches!(self, Scenario::EcsDescribe | Scenario::EcsImport)
    }

    fn needs_seeds(self) -> bool {
        // (lookup reads the events of --lookup-names, not seeds)
        matches!(
            self,
            Scenario::DescribeByName
                | Scenario::DescribeFilter
                | Scenario::EcsDescribe
                | Scenario::Mixed
        )
    }

    /// The middle part of the names it writes.
    fn short(self) -> Option<&'static str> {
        match self {
            Scenario::CreateRsa => Some("rsa"),
            Scenario::CreateEd25519 => Some("ed"),
            Scenario::Import => Some("imp"),
            Scenario::Delete => Some("del"),
            Scenario::EcsImport => Some("eimp"),
            Scenario::Mixed => Some("mix"),
            Scenario::DescribeByName
            | Scenario::DescribeFilter
            | Scenario::EcsDescribe
            | Scenario::Lookup => None,
        }
    }

    pub fn refuse_peer(self, peer: Peer) -> anyhow::Result<()> {
        if self == Scenario::Lookup && peer == Peer::Moto {
            bail!("moto's server does not implement CloudTrail LookupEvents; run lookup against keypaird");
        }
        if self.is_ecs() && peer == Peer::Moto {
            bail!(
                "{} is an Alibaba Cloud ECS scenario and moto's server has no ECS API; \
                 run it against keypaird (moto measures EC2 scenarios only)",
                self.name()
            );
        }
        Ok(())
    }
}

/// The seed key pairs of the account: `<prefix><i>` for i in 0..count, tagged team=bench.
#[derive(Clone, Debug)]
pub struct Seeds {
    pub prefix: String,
    pub count: usize,
}

impl Seeds {
    /// Digits in a name: at least 4 (seed-0000 …, as bench/run.sh has always named them).
    fn width(&self) -> usize {
        self.count.saturating_sub(1).to_string().len().max(4)
    }

    pub fn name(&self, i: usize) -> String {
        format!("{}{i:0w$}", self.prefix, w = self.width())
    }

    /// Seeds come in groups of ten consecutive numbers, each matched by one key-name wildcard.
    fn groups(&self) -> usize {
        self.count.div_ceil(10)
    }

    /// `seed-050*`: seed-0500 … seed-0509.
    fn group_pattern(&self, group: usize) -> String {
        format!("{}{group:0w$}*", self.prefix, w = self.width() - 1)
    }

    fn group_size(&self, group: usize) -> usize {
        (self.count - group * 10).min(10)
    }
}

pub struct Plan {
    pub connections: usize,
    pub seconds: f64,
    /// Stop after this many requests instead of after `seconds`.
    pub requests: Option<u64>,
    pub tag: String,
    pub seeds: Option<Seeds>,
    /// For `lookup`.
    pub lookup: Option<LookupPlan>,
}

impl Plan {
    fn duration(&self) -> Option<Duration> {
        match self.requests {
            Some(_) => None,
            None => Some(Duration::from_secs_f64(self.seconds)),
        }
    }

    fn load(&self, target: &Target) -> Load {
        load(target, self.connections, self.duration())
    }
}

fn load(target: &Target, connections: usize, duration: Option<Duration>) -> Load {
    Load {
        addr: target.addr,
        connections,
        duration,
        signer: target.signer.clone(),
    }
}

/// Creates (EC2) or imports (ECS) the seed key pairs; fails unless every one was stored.
pub async fn seed(
    target: &Target,
    seeds: &Seeds,
    ecs: bool,
    connections: usize,
) -> anyhow::Result<()> {
    if seeds.count == 0 {
        return Ok(());
    }
    let dialect = if ecs { "ECS" } else { "EC2" };
    say(&format!(
        "seeding {} key pairs {} … {} through {dialect} at {}",
        seeds.count,
        seeds.name(0),
        seeds.name(seeds.count - 1),
        target.url
    ));
    let names = seeds.clone();
    let (make, _) = bounded((0..seeds.count).collect(), move |i| {
        let name = names.name(i);
        let tag = Some(("team", "bench".to_owned()));
        if ecs {
            let line = ed25519_public_line(&name);
            ecs_import_key(name, line, tag, i)
        } else {
            ec2_create_key(name, "ed25519", tag, i)
        }
    });
    let started = Instant::now();
    let figure = load(target, connections, None).run(make).await?.figure;
    if !figure.is_valid() {
        bail!("seeding failed: {}", figure.why_invalid());
    }
    say(&format!(
        "seeded {} in {:.1} s",
        seeds.count,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Seeding and setup (untimed), then the measured run.
pub async fn measure(
    target: &Target,
    scenario: Scenario,
    plan: &Plan,
    meters: &Meters,
) -> anyhow::Result<Outcome> {
    scenario.refuse_peer(target.peer)?;
    let seeds = match (&plan.seeds, scenario.needs_seeds()) {
        (Some(seeds), true) if seeds.count > 0 => Some(seeds.clone()),
        (_, true) => bail!(
            "{} reads seed key pairs: give --seed N (or --seeded N when they exist)",
            scenario.name()
        ),
        (_, false) => None,
    };
    warm_up(target, scenario.is_ecs()).await?;
    let names = scenario
        .short()
        .map(|short| format!("{}-{short}-", plan.tag));
    let prefix = names.clone().unwrap_or_default();
    let name = move |i: usize| format!("{prefix}{i}");
    let mut setup = None;
    let make: MakeCall = match scenario {
        Scenario::CreateRsa => numbered(move |i| ec2_create_key(name(i), "rsa", None, i)),
        Scenario::CreateEd25519 => numbered(move |i| ec2_create_key(name(i), "ed25519", None, i)),
        Scenario::Import => {
            let line = ed25519_public_line("keypaird-load");
            numbered(move |i| ec2_import(name(i), &line, i))
        }
        Scenario::EcsImport => {
            let line = ed25519_public_line("keypaird-load");
            numbered(move |i| ecs_import_key(name(i), line.clone(), None, i))
        }
        Scenario::DescribeByName => {
            let seeds = seeds.context("seeds")?;
            Arc::new(move |rng| {
                let name = seeds.name(rng.below(seeds.count));
                Some(describe_one(Dialect::Ec2, "KeyName.1", name.clone(), name))
            })
        }
        Scenario::DescribeFilter => {
            let seeds = seeds.context("seeds")?;
            Arc::new(move |rng| Some(group_filter(&seeds, rng.below(seeds.groups()))))
        }
        Scenario::EcsDescribe => {
            let seeds = seeds.context("seeds")?;
            Arc::new(move |rng| {
                let name = seeds.name(rng.below(seeds.count));
                Some(describe_one(
                    Dialect::Ecs,
                    "KeyPairName",
                    name.clone(),
                    name,
                ))
            })
        }
        Scenario::Delete => {
            // As many key pairs as create-ed25519 makes in the same time (or --requests of
            // them), untimed; the deletes then stop when those are gone or the time is up.
            say(&format!(
                "delete: creating the key pairs to delete ({})",
                match plan.requests {
                    Some(n) => format!("{n} of them"),
                    None => format!("for {} s", plan.seconds),
                }
            ));
            let create_name = name.clone();
            let make = numbered(move |i| ec2_create_key(create_name(i), "ed25519", None, i));
            let created = plan.load(target).run(limited(make, plan.requests)).await?;
            setup = Some(setup_json("create-ed25519", &created));
            let mut made: Vec<usize> = created.made.iter().map(|(i, _, _)| *i).collect();
            made.sort_unstable();
            let (make, _) = bounded(made, move |i| ec2_delete(name(i)));
            make
        }
        Scenario::Mixed => {
            let seeds = seeds.context("seeds")?;
            let (make, pool) = mixed(target, plan, seeds, &name).await?;
            setup = Some(serde_json::json!({ "pool_created": pool }));
            make
        }
        Scenario::Lookup => {
            let lookup = plan.lookup.clone().context("lookup needs --lookup SHAPE")?;
            let (make, about) = lookup_calls(target, plan, &lookup).await?;
            setup = Some(about);
            make
        }
    };
    let make = limited(make, plan.requests);
    let before = meters.read();
    let measured = plan.load(target).run(make).await?;
    let usage = meters.usage_since(&before);
    Ok(Outcome {
        scenario,
        url: target.url.clone(),
        peer: target.peer,
        signature: signature_label(scenario, target),
        connections: plan.connections,
        seconds: plan.requests.is_none().then_some(plan.seconds),
        requests_limit: plan.requests,
        figure: measured.figure,
        names,
        seeded: plan.seeds.as_ref().map(|s| s.count),
        setup,
        cpu: usage,
    })
}

fn signature_label(scenario: Scenario, target: &Target) -> &'static str {
    match (scenario.is_ecs(), target.ecs_signature) {
        (false, _) => "sigv4",
        (true, crate::EcsSignature::V1) => "acs-v1",
        (true, crate::EcsSignature::V3) => "acs-v3",
    }
}

fn setup_json(what: &str, run: &Measured) -> serde_json::Value {
    serde_json::json!({
        "scenario": what,
        "requests": run.figure.requests,
        "created": run.made.len(),
        "rate": round1(run.figure.rate),
    })
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// DescribeKeyPairs of one group of ten seeds, by a key-name wildcard.
fn group_filter(seeds: &Seeds, group: usize) -> Call {
    ec2_filter(
        "key-name",
        seeds.group_pattern(group),
        seeds.group_size(group),
        Some(seeds.name(group * 10)),
    )
}

/// `mixed`: request k (one counter across the connections) is, by k mod 10, a describe of a
/// random seed by name (0–6), a describe of a random group of ten seeds by key-name wildcard
/// (7), a create of `<tag>-mix-<k/10>` (8) or a delete (9). The j-th delete takes the j-th
/// name of a pool created first (untimed, 8 per connection), then the creates of this run in
/// order: the one it deletes was created at least 10 × pool requests earlier, long answered.
/// Returns the MakeCall and the pool's size.
async fn mixed(
    target: &Target,
    plan: &Plan,
    seeds: Seeds,
    name: &(impl Fn(usize) -> String + Clone + Send + Sync + 'static),
) -> anyhow::Result<(MakeCall, usize)> {
    let pool = (8 * plan.connections).max(16);
    let pool_name = {
        let tag = plan.tag.clone();
        move |i: usize| format!("{tag}-mixpool-{i}")
    };
    let (make, _) = bounded((0..pool).collect(), {
        let pool_name = pool_name.clone();
        move |i| ec2_create_key(pool_name(i), "ed25519", None, i)
    });
    let created = load(target, plan.connections, None).run(make).await?;
    if created.made.len() != pool {
        bail!(
            "mixed: creating the pool of {pool} key pairs to delete failed: {}",
            created.figure.why_invalid()
        );
    }
    let next = Arc::new(AtomicUsize::new(0));
    let name = name.clone();
    let make: MakeCall = Arc::new(move |rng| {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let j = k / 10;
        Some(match k % 10 {
            0..=6 => {
                let name = seeds.name(rng.below(seeds.count));
                describe_one(Dialect::Ec2, "KeyName.1", name.clone(), name)
            }
            7 => group_filter(&seeds, rng.below(seeds.groups())),
            8 => ec2_create_key(name(j), "ed25519", None, j),
            _ if j < pool => ec2_delete(pool_name(j)),
            _ => ec2_delete(name(j - pool)),
        })
    });
    Ok((make, pool))
}

/// A LookupEvents body: at most one attribute, an optional time range and token, 50 a page.
fn lookup_body(
    attribute: Option<(&str, &str)>,
    window: Option<(i64, i64)>,
    token: Option<&str>,
) -> String {
    let mut body = serde_json::json!({ "MaxResults": 50 });
    if let Some((key, value)) = attribute {
        body["LookupAttributes"] =
            serde_json::json!([{ "AttributeKey": key, "AttributeValue": value }]);
    }
    if let Some((start, end)) = window {
        body["StartTime"] = start.into();
        body["EndTime"] = end.into();
    }
    if let Some(token) = token {
        body["NextToken"] = token.into();
    }
    body.to_string()
}

fn lookup_call(body: String, check: Check) -> Call {
    Call {
        dialect: Dialect::CloudTrail,
        params: vec![("Action", "LookupEvents".into()), ("Body", body)],
        check,
    }
}

fn events(count: Option<usize>, index: Option<usize>) -> Check {
    Check::CloudTrailEvents {
        count,
        event_id: None,
        resource: None,
        index,
    }
}

/// One untimed LookupEvents: (events, first event's ID, NextToken or "").
async fn lookup_once(target: &Target, body: String) -> anyhow::Result<(usize, String, String)> {
    let (make, _) = bounded(vec![0], move |i| {
        lookup_call(body.clone(), events(None, Some(i)))
    });
    let run = load(target, 1, None).run(make).await?;
    if !run.figure.is_valid() {
        bail!("lookup setup failed: {}", run.figure.why_invalid());
    }
    let (_, id, page) = run.made.into_iter().next().context("no reply")?;
    let (n, token) = page.split_once(' ').context("page")?;
    Ok((n.parse()?, id, token.to_owned()))
}

/// The `lookup` scenario's calls (after its untimed setup) and what the setup found.
async fn lookup_calls(
    target: &Target,
    plan: &Plan,
    lookup: &LookupPlan,
) -> anyhow::Result<(MakeCall, serde_json::Value)> {
    let names = || {
        lookup
            .names
            .clone()
            .filter(|(_, count)| *count > 0)
            .context("this lookup shape needs --lookup-names PREFIX --lookup-count N")
    };
    let full = Some(50);
    let mut about = serde_json::json!({ "lookup": lookup.shape.name() });
    let make: MakeCall = match lookup.shape {
        LookupShape::None => {
            let body = lookup_body(None, None, None);
            Arc::new(move |_| Some(lookup_call(body.clone(), events(full, None))))
        }
        LookupShape::EventName => {
            let body = lookup_body(Some(("EventName", "ImportKeyPair")), None, None);
            Arc::new(move |_| Some(lookup_call(body.clone(), events(full, None))))
        }
        LookupShape::AccessKeyId => {
            let body = lookup_body(Some(("AccessKeyId", &lookup.access_key_id)), None, None);
            Arc::new(move |_| Some(lookup_call(body.clone(), events(full, None))))
        }
        LookupShape::Window => {
            let window = lookup
                .window
                .context("window needs --lookup-window START,END (epoch seconds)")?;
            about["window"] = serde_json::json!([window.0, window.1]);
            let body = lookup_body(None, Some(window), None);
            Arc::new(move |_| Some(lookup_call(body.clone(), events(full, None))))
        }
        LookupShape::ResourceName => {
            let (prefix, count) = names()?;
            Arc::new(move |rng| {
                let name = format!("{prefix}{}", rng.below(count));
                let body = lookup_body(Some(("ResourceName", &name)), None, None);
                Some(lookup_call(
                    body,
                    Check::CloudTrailEvents {
                        count: Some(1),
                        event_id: None,
                        resource: Some(name),
                        index: None,
                    },
                ))
            })
        }
        LookupShape::EventId => {
            let (prefix, count) = names()?;
            let sample = count.min(2000);
            let mut rng = keypaird_bench_scale::load::Rng::new(0x005e_ed0f_e7e7);
            let picks: Vec<usize> = (0..sample).map(|_| rng.below(count)).collect();
            let (make, _) = bounded(picks, move |i| {
                let name = format!("{prefix}{i}");
                let body = lookup_body(Some(("ResourceName", &name)), None, None);
                lookup_call(
                    body,
                    Check::CloudTrailEvents {
                        count: Some(1),
                        event_id: None,
                        resource: Some(name),
                        index: Some(i),
                    },
                )
            });
            let run = load(target, plan.connections, None).run(make).await?;
            if !run.figure.is_valid() {
                bail!("collecting event IDs failed: {}", run.figure.why_invalid());
            }
            let ids: Vec<String> = run.made.into_iter().map(|(_, id, _)| id).collect();
            about["event_ids_sampled"] = ids.len().into();
            let ids = Arc::new(ids);
            Arc::new(move |rng| {
                let id = ids[rng.below(ids.len())].clone();
                let body = lookup_body(Some(("EventId", &id)), None, None);
                Some(lookup_call(
                    body,
                    Check::CloudTrailEvents {
                        count: Some(1),
                        event_id: Some(id),
                        resource: None,
                        index: None,
                    },
                ))
            })
        }
        LookupShape::DeepPage => {
            let mut token: Option<String> = None;
            let mut reuse: Option<(String, usize)> = None;
            let mut pages = 0;
            for page in 1..=lookup.deep.max(1) + 1 {
                let (n, _, next) =
                    lookup_once(target, lookup_body(None, None, token.as_deref())).await?;
                pages = page;
                if let (Some(used), true) = (&token, n > 0) {
                    reuse = Some((used.clone(), n));
                }
                if next.is_empty() {
                    break;
                }
                token = Some(next);
            }
            let (token, n) = reuse.context("the trail has a single page: no token to reuse")?;
            about["deep_page"] = pages.into();
            about["deep_page_events"] = n.into();
            let body = lookup_body(None, None, Some(&token));
            Arc::new(move |_| Some(lookup_call(body.clone(), events(Some(n), None))))
        }
    };
    Ok((make, about))
}

/// Calls named by one counter across the connections: 0, 1, 2, …
fn numbered(make: impl Fn(usize) -> Call + Send + Sync + 'static) -> MakeCall {
    let next = AtomicUsize::new(0);
    Arc::new(move |_| Some(make(next.fetch_add(1, Ordering::Relaxed))))
}

/// At most `limit` calls of `make`, when a limit is given.
fn limited(make: MakeCall, limit: Option<u64>) -> MakeCall {
    let Some(limit) = limit else { return make };
    let issued = Arc::new(AtomicU64::new(0));
    Arc::new(move |rng| {
        if issued.fetch_add(1, Ordering::Relaxed) < limit {
            make(rng)
        } else {
            None
        }
    })
}

/// One request that matches nothing, untimed: moto loads its EC2 backend on the first one,
/// and wrong credentials or a wrong server show here, before anything is measured.
async fn warm_up(target: &Target, ecs: bool) -> anyhow::Result<()> {
    let (make, _) = bounded(vec![ecs], warm_up_call);
    let figure: Figure = load(target, 1, None).run(make).await?.figure;
    if !figure.is_valid() {
        bail!(
            "the first request to {} failed, nothing was measured: {}",
            target.url,
            figure.why_invalid()
        );
    }
    Ok(())
}

fn warm_up_call(ecs: bool) -> Call {
    const NOTHING: &str = "keypaird-load-warm-up";
    if !ecs {
        return ec2_filter("key-name", NOTHING.into(), 0, None);
    }
    Call {
        dialect: Dialect::Ecs,
        params: vec![
            ("Action", "DescribeKeyPairs".into()),
            ("KeyPairName", NOTHING.into()),
        ],
        check: Check::EcsPage {
            total: 0,
            items: 0,
            name: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_names_and_groups() {
        let seeds = Seeds {
            prefix: "seed-".into(),
            count: 1000,
        };
        assert_eq!(seeds.name(5), "seed-0005");
        assert_eq!(seeds.name(999), "seed-0999");
        assert_eq!(seeds.groups(), 100);
        assert_eq!(seeds.group_pattern(50), "seed-050*");
        assert_eq!(seeds.group_size(99), 10);
        let odd = Seeds {
            prefix: "s-".into(),
            count: 12_345,
        };
        assert_eq!(odd.name(7), "s-00007");
        assert_eq!(odd.group_pattern(1234), "s-1234*");
        assert_eq!(odd.groups(), 1235);
        assert_eq!(odd.group_size(1234), 5);
    }

    #[test]
    fn names_of_scenarios() {
        for scenario in Scenario::ALL {
            let parsed = Scenario::from_str(scenario.name(), false).unwrap();
            assert_eq!(parsed, scenario);
        }
        assert_eq!(
            Scenario::from_str("lookup", false).unwrap(),
            Scenario::Lookup
        );
        let blend: u32 = MIXED_BLEND.iter().map(|(_, share)| share).sum();
        assert_eq!(blend, 100);
    }
}
