//! `keypaird-load`: closed-loop load against one server (keypaird, or moto's server for EC2),
//! every request signed afresh and every reply checked. bench/run.sh measures every workload
//! that writes with it.
//!
//! - `run`: one scenario (see [`scenarios::Scenario`]) with N keep-alive connections, opened
//!   before the clock starts, for a fixed time (or a fixed number of requests); untimed seeding
//!   and setup first. Prints a summary and, with `--json`, writes the figures as JSON. Replies
//!   outside 2xx do not stop the run: they are counted by error code and HTTP status. Exit
//!   status 0 when every reply was a valid 2xx, 1 when some were not (the report says which),
//!   2 when the run could not be made (bad arguments, the first request refused, setup failed).
//!   `run --smoke` runs every scenario for half a second with 2 connections instead.
//! - `seed`: creates N key pairs through the API (untimed) for the read scenarios.
//! - `sign`: prints, as JSON, the request the generator would send for fixed inputs (time,
//!   nonce, credentials, host, parameters), through the same signer.

mod cpu;
mod report;
mod scenarios;
mod signcmd;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use keypaird_bench_scale::sign::{EcsScheme, Signer};
use scenarios::{LookupPlan, LookupShape, Scenario, Seeds};

/// The credentials bench/run.sh gives its one account.
const DEFAULT_ACCESS_KEY_ID: &str = "benchkey";
const DEFAULT_SECRET: &str = "benchsecret";

#[derive(Debug, Parser)]
#[command(
    name = "keypaird-load",
    about = "Closed-loop load against keypaird (or moto's server), every request signed afresh \
             (SigV4; ECS with ACS v1 or V3) and every reply checked."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure one scenario (or, with --smoke, every scenario briefly).
    Run(RunArgs),
    /// Create seed key pairs through the API, untimed: <prefix>0000, <prefix>0001, … tagged
    /// team=bench (EC2 CreateKeyPair ed25519, or ECS ImportKeyPair with --ecs).
    Seed(SeedArgs),
    /// Print the signed request the generator would send for fixed inputs, as JSON.
    Sign(signcmd::SignArgs),
    /// The machine's raw RSA-2048 generation rate: keypaird's own generator
    /// (`GeneratedKey::generate_rsa2048`) on this many threads at once, no server, as JSON.
    RsaRaw(RsaRawArgs),
}

#[derive(Debug, Args)]
struct RsaRawArgs {
    /// Threads generating at once [default: the machine's cores].
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Also write the JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
}

/// Generates keys on `threads` threads until `seconds` have passed; keys per second overall.
fn rsa_raw(args: &RsaRawArgs) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(args.seconds);
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut made = 0u64;
                while std::time::Instant::now() < until {
                    keypaird_keys::GeneratedKey::generate_rsa2048().expect("RSA-2048 generation");
                    made += 1;
                }
                made
            })
        })
        .collect();
    let mut keys = 0u64;
    for worker in workers {
        keys += worker
            .join()
            .map_err(|_| anyhow::anyhow!("a generating thread panicked"))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "threads": threads,
        "keys": keys,
        "seconds": elapsed,
        "rate": keys as f64 / elapsed,
    });
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_string())?;
    }
    Ok(())
}

/// The server and how to sign for it.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The server, http://HOST:PORT.
    #[arg(long, value_name = "URL")]
    url: String,
    #[arg(long, value_name = "ID", default_value = DEFAULT_ACCESS_KEY_ID)]
    access_key_id: String,
    #[arg(long, value_name = "SECRET", default_value = DEFAULT_SECRET)]
    secret_access_key: String,
    /// How ECS requests are signed: ACS v1 (HMAC-SHA1) or V3 (ACS3-HMAC-SHA256).
    #[arg(long, value_enum, default_value_t = EcsSignature::V1)]
    ecs_signature: EcsSignature,
    /// What the server is: moto's server has no ECS API, so ECS scenarios refuse to run.
    #[arg(long, value_enum, default_value_t = Peer::Keypaird)]
    peer: Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EcsSignature {
    V1,
    V3,
}

impl EcsSignature {
    fn scheme(self) -> EcsScheme {
        match self {
            EcsSignature::V1 => EcsScheme::V1,
            EcsSignature::V3 => EcsScheme::V3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    Keypaird,
    Moto,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, value_enum, required_unless_present = "smoke")]
    scenario: Option<Scenario>,
    /// Keep-alive connections, each a closed-loop client.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long the measured run lasts.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Stop after this many requests instead of after --seconds.
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    requests: Option<u64>,
    /// Names every key pair the run writes: <TAG>-<scenario>-<n> (a letter, then letters and
    /// digits). [default: lg<unix time>]
    #[arg(long)]
    tag: Option<String>,
    /// Create N seed key pairs first (untimed), for the read scenarios.
    #[arg(long, value_name = "N", conflicts_with = "seeded")]
    seed: Option<usize>,
    /// N seed key pairs already exist (made by `seed` or an earlier --seed).
    #[arg(long, value_name = "N")]
    seeded: Option<usize>,
    /// The seed key pairs' name prefix.
    #[arg(long, value_name = "PREFIX", default_value = "seed-")]
    seed_prefix: String,
    /// Also write the figures here as JSON (with --smoke: an array, one per scenario).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The server's process: its CPU time during the measured run is reported per request.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Also report the CPU time of every process of this name (e.g. postgres) per request.
    #[arg(long, value_name = "NAME")]
    db_process: Option<String>,
    /// `lookup`: which LookupEvents shape.
    #[arg(long, value_enum, default_value_t = LookupShape::None)]
    lookup: LookupShape,
    /// `lookup`: the key pairs imported into the trail are <PREFIX><n> (e.g. a run's
    /// `<tag>-imp-`), n in 0..--lookup-count.
    #[arg(long, value_name = "PREFIX")]
    lookup_names: Option<String>,
    #[arg(long, value_name = "N", default_value_t = 0)]
    lookup_count: usize,
    /// `lookup --lookup window`: StartTime,EndTime in epoch seconds.
    #[arg(long, value_name = "START,END")]
    lookup_window: Option<String>,
    /// `lookup --lookup deep-page`: how many pages in the reused NextToken is.
    #[arg(long, value_name = "PAGES", default_value_t = 100)]
    lookup_deep: usize,
    /// Every scenario for 0.5 s with 2 connections (ECS ones with v1 and V3), after seeding
    /// 40 key pairs; for CI. Exit status 1 if any reply was not a valid 2xx.
    #[arg(long)]
    smoke: bool,
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// How many key pairs.
    #[arg(long, value_name = "N")]
    count: usize,
    /// Import them through ECS (cn-hangzhou) instead of creating them through EC2.
    #[arg(long)]
    ecs: bool,
    #[arg(long, value_name = "PREFIX", default_value = "seed-")]
    seed_prefix: String,
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

/// A server to talk to: where it is and how requests to it are signed.
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    pub signer: Arc<Signer>,
    pub peer: Peer,
    pub ecs_signature: EcsSignature,
}

impl Target {
    fn new(args: &TargetArgs) -> anyhow::Result<Self> {
        Target::with_ecs(args, args.ecs_signature)
    }

    fn with_ecs(args: &TargetArgs, ecs_signature: EcsSignature) -> anyhow::Result<Self> {
        let host = args
            .url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|host| !host.is_empty() && !host.contains('/'))
            .with_context(|| format!("--url must be http://HOST:PORT, not {}", args.url))?;
        let addr = host
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Target {
            url: args.url.clone(),
            addr,
            signer: Arc::new(Signer::with_credentials(
                host,
                &args.access_key_id,
                &args.secret_access_key,
                ecs_signature.scheme(),
            )),
            peer: args.peer,
            ecs_signature,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::RsaRaw(args) = &cli.command {
        return match rsa_raw(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&err),
        };
    }
    if let Command::Sign(args) = &cli.command {
        return match signcmd::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&err),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Seed(args) => seed(args).await.map(|()| true),
            Command::Sign(_) | Command::RsaRaw(_) => unreachable!("handled above"),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("keypaird-load: {err:#}");
    ExitCode::from(2)
}

pub fn say(text: &str) {
    eprintln!("==> {text}");
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let target = Target::new(&args.target)?;
    let seeds = Seeds {
        prefix: args.seed_prefix,
        count: args.count,
    };
    scenarios::seed(&target, &seeds, args.ecs, args.connections.max(1)).await
}

/// Ok(false) when some reply was not a valid 2xx.
async fn run(args: RunArgs) -> anyhow::Result<bool> {
    if args.seconds.is_nan() || args.seconds <= 0.0 {
        bail!("--seconds must be above 0");
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let tag = match &args.tag {
        Some(tag) => tag.clone(),
        None => format!(
            "lg{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ),
    };
    let tag_ok = tag.len() <= 40
        && tag.starts_with(|c: char| c.is_ascii_alphabetic())
        && tag.chars().all(|c| c.is_ascii_alphanumeric());
    if !tag_ok {
        bail!("--tag must be a letter then letters and digits, at most 40: {tag:?}");
    }
    let cpu = cpu::Meters {
        server_pid: args.server_pid,
        db_process: args.db_process.clone(),
    };
    if args.smoke {
        return smoke(&args, &tag, &cpu).await;
    }
    let scenario = args.scenario.context("--scenario is required")?;
    let target = Target::new(&args.target)?;
    let seeds = match (args.seed, args.seeded) {
        (Some(count), _) => {
            let seeds = Seeds {
                prefix: args.seed_prefix.clone(),
                count,
            };
            scenario.refuse_peer(target.peer)?;
            scenarios::seed(&target, &seeds, scenario.is_ecs(), args.connections).await?;
            Some(seeds)
        }
        (None, Some(count)) => Some(Seeds {
            prefix: args.seed_prefix.clone(),
            count,
        }),
        (None, None) => None,
    };
    let window = match &args.lookup_window {
        Some(text) => {
            let (start, end) = text
                .split_once(',')
                .context("--lookup-window is START,END")?;
            Some((start.trim().parse()?, end.trim().parse()?))
        }
        None => None,
    };
    let lookup = (scenario == Scenario::Lookup).then(|| LookupPlan {
        shape: args.lookup,
        names: args
            .lookup_names
            .clone()
            .map(|prefix| (prefix, args.lookup_count)),
        window,
        deep: args.lookup_deep,
        access_key_id: args.target.access_key_id.clone(),
    });
    let plan = scenarios::Plan {
        connections: args.connections,
        seconds: args.seconds,
        requests: args.requests,
        tag,
        seeds,
        lookup,
    };
    let outcome = scenarios::measure(&target, scenario, &plan, &cpu).await?;
    println!("{}", outcome.summary());
    if let Some(path) = &args.json {
        write_json(path, &outcome.json())?;
    }
    Ok(outcome.is_clean())
}

/// Every scenario briefly against one server; Ok(false) if any had a failure.
async fn smoke(args: &RunArgs, tag: &str, cpu: &cpu::Meters) -> anyhow::Result<bool> {
    let target = Target::new(&args.target)?;
    let seeds = Seeds {
        prefix: format!("{tag}-seed-"),
        count: 40,
    };
    let keypaird = target.peer == Peer::Keypaird;
    say(&format!("smoke: seeding {} key pairs", seeds.count));
    scenarios::seed(&target, &seeds, false, 2).await?;
    if keypaird {
        scenarios::seed(&target, &seeds, true, 2).await?;
    }
    let plan = |n: usize| scenarios::Plan {
        connections: 2,
        seconds: 0.5,
        requests: None,
        tag: format!("{tag}s{n}"),
        seeds: Some(seeds.clone()),
        lookup: None,
    };
    let mut outcomes = Vec::new();
    let mut runs: Vec<(Scenario, EcsSignature)> = Vec::new();
    for scenario in Scenario::ALL {
        if !scenario.is_ecs() {
            runs.push((scenario, args.target.ecs_signature));
        } else if keypaird {
            runs.push((scenario, EcsSignature::V1));
            runs.push((scenario, EcsSignature::V3));
        }
    }
    for (n, (scenario, ecs)) in runs.into_iter().enumerate() {
        let target = Target::with_ecs(&args.target, ecs)?;
        let outcome = scenarios::measure(&target, scenario, &plan(n), cpu).await?;
        println!("{}", outcome.summary());
        outcomes.push(outcome);
    }
    if !keypaird {
        say("smoke: ECS scenarios skipped (moto's server has no ECS API)");
    }
    if let Some(path) = &args.json {
        let all: Vec<serde_json::Value> = outcomes.iter().map(report::Outcome::json).collect();
        write_json(path, &serde_json::Value::Array(all))?;
    }
    Ok(outcomes.iter().all(report::Outcome::is_clean))
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
