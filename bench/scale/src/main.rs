//! `scale`: keypaird with 100 … 1,000,000 key pairs in one account, on SQLite and PostgreSQL,
//! side by side with moto's server at the sizes moto can take. See bench/scale/run.sh.

mod bench;
mod pg;
mod procs;
mod report;

// The shared modules, under the names the modules above use (`crate::load`, …).
use keypaird_bench_scale::{http, load, sign, workloads};

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

use bench::{say, Opts, Run, Store};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Parser)]
#[command(
    name = "scale",
    // run.sh passes its own defaults first; the caller's repeats of them win.
    args_override_self = true,
    about = "Benchmarks keypaird at 100 … 1,000,000 key pairs in one account (SQLite, PostgreSQL), \
             with moto's server as the peer."
)]
struct Cli {
    /// The keypaird binary.
    #[arg(long, value_name = "PATH")]
    keypaird: PathBuf,
    /// Sizes to grow the account to, in order. [default: 100,10000,100000,1000000]
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    sizes: Option<Vec<usize>>,
    /// Seconds per figure. [default: 4]
    #[arg(long)]
    seconds: Option<f64>,
    /// Concurrent connections (closed-loop clients) for every workload and the fill.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<Backend>,
    /// The PostgreSQL database; a fresh schema is made in it and dropped at exit.
    /// [default: $BENCH_POSTGRES, else postgres://postgres@127.0.0.1:5432/test]
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// moto's `moto_server`, measured as the peer when given.
    #[arg(long, value_name = "PATH")]
    moto: Option<PathBuf>,
    /// The largest size moto is filled to. [default: 10000]
    #[arg(long)]
    moto_max_size: Option<usize>,
    /// keypaird restarts per size for the ready time. [default: 3]
    #[arg(long)]
    restarts: Option<usize>,
    /// Also write the markdown report here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Quick check: sizes 100,5000, 1 s per figure, 1 restart, moto up to 100.
    #[arg(long)]
    smoke: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        procs::cleanup_sync();
        default_hook(info);
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("scale: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // The benchmark runs on this (the main) thread, so children's PR_SET_PDEATHSIG is tied
        // to the process's lifetime, not to a worker thread's.
        let outcome = tokio::select! {
            outcome = run(cli) => outcome,
            signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
        };
        procs::cleanup().await;
        match outcome {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!("scale: some figures are INVALID (see the report); exit status 1");
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("scale: error: {err:#}");
                if err.to_string().starts_with("interrupted") {
                    ExitCode::from(130)
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Ok(false) when some figure is invalid or a server's run stopped early.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let began = Instant::now();
    let load = load_average();
    let mut sizes = cli.sizes.clone().unwrap_or_else(|| {
        if cli.smoke {
            vec![100, 5000]
        } else {
            vec![100, 10_000, 100_000, 1_000_000]
        }
    });
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.first().is_none_or(|&s| s == 0) {
        bail!("--sizes needs at least one size above 0");
    }
    let keypaird = std::fs::canonicalize(&cli.keypaird)
        .with_context(|| format!("no keypaird at {}", cli.keypaird.display()))?;
    let opts = Opts {
        keypaird,
        sizes,
        seconds: cli.seconds.unwrap_or(if cli.smoke { 1.0 } else { 4.0 }),
        connections: cli.connections.max(1),
        restarts: cli.restarts.unwrap_or(if cli.smoke { 1 } else { 3 }),
        moto_max_size: cli
            .moto_max_size
            .unwrap_or(if cli.smoke { 100 } else { 10_000 }),
    };
    if opts.seconds.is_nan() || opts.seconds <= 0.0 {
        bail!("--seconds must be above 0");
    }
    let postgres = match cli.postgres.clone() {
        Some(url) => url,
        None => std::env::var("BENCH_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned()),
    };

    let work = std::env::temp_dir().join(format!(
        "keypaird-scale-{}-{}",
        std::process::id(),
        unix_time()
    ));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    procs::register_dir(work.clone());

    let mut runs = Vec::new();
    let mut notes = Vec::new();
    let mut pg_version = None;
    for backend in dedup(&cli.backends) {
        match backend {
            Backend::Sqlite => {
                let dir = work.join("sqlite");
                std::fs::create_dir_all(&dir)?;
                let mut run = Run::new(
                    "sqlite",
                    "keypaird on SQLite",
                    &format!(
                        "sqlite://{}/k.db (a fresh temporary directory)",
                        dir.display()
                    ),
                );
                say("keypaird on SQLite");
                let reference = work.join("sqlite-smallest");
                std::fs::create_dir_all(&reference)?;
                let stores = (Store::Sqlite(dir), Some(Store::Sqlite(reference)));
                if let Err(err) = bench::keypaird(&opts, stores.0, stores.1, &mut run, None).await {
                    eprintln!("scale: keypaird on SQLite: {err:#}");
                    run.error = Some(format!("{err:#}"));
                }
                runs.push(run);
            }
            Backend::Postgres if postgres.is_empty() => {
                notes.push("PostgreSQL skipped: BENCH_POSTGRES is empty.".to_owned());
            }
            Backend::Postgres => {
                let schema = format!("scale_{}_{}", unix_time(), std::process::id());
                let store = pg::with_schema(&postgres, &schema);
                let mut run = Run::new(
                    "postgres",
                    "keypaird on PostgreSQL",
                    &format!(
                        "{} (a fresh schema, dropped at exit)",
                        pg::with_schema(&redact(&postgres), &schema)
                    ),
                );
                let mut analyzed = Run::new(
                    "postgres-analyzed",
                    "keypaird on PostgreSQL, reads after ANALYZE",
                    "the same schema, read again at each size after ANALYZE of its tables \
                     (what autovacuum does some time after a bulk load)",
                );
                say("keypaird on PostgreSQL");
                let outcome = async {
                    pg_version = Some(
                        pg::server_version(&postgres)
                            .await
                            .context("PostgreSQL is not reachable")?,
                    );
                    let admin = pg::admin_url(&postgres);
                    procs::register_schema(admin.clone(), schema.clone());
                    let reference_schema = format!("{schema}_smallest");
                    procs::register_schema(admin.clone(), reference_schema.clone());
                    let reference = Store::Postgres {
                        url: pg::with_schema(&postgres, &reference_schema),
                        admin: admin.clone(),
                        master_key_file: work.join(format!("{reference_schema}.master-key")),
                        schema: reference_schema,
                    };
                    let store = Store::Postgres {
                        url: store,
                        admin,
                        master_key_file: work.join(format!("{schema}.master-key")),
                        schema,
                    };
                    bench::keypaird(&opts, store, Some(reference), &mut run, Some(&mut analyzed))
                        .await
                }
                .await;
                if let Err(err) = outcome {
                    eprintln!("scale: keypaird on PostgreSQL: {err:#}");
                    run.error = Some(format!("{err:#}"));
                }
                runs.push(run);
                runs.push(analyzed);
            }
        }
    }
    let mut moto_version = None;
    if let Some(moto) = &cli.moto {
        let mut run = Run::new("moto", "moto", "in memory");
        say("moto");
        moto_version = Some(moto_version_of(moto).await);
        if let Err(err) = bench::moto(&opts, moto, &mut run).await {
            eprintln!("scale: moto: {err:#}");
            run.error = Some(format!("{err:#}"));
        }
        runs.push(run);
    }

    let meta = report::Meta {
        date: time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpu_model(),
        load,
        load_after: load_average(),
        profile: profile(&opts.keypaird),
        commit: commit(&opts.keypaird).await,
        postgres: pg_version,
        moto: moto_version,
        smoke: cli.smoke,
        minutes: began.elapsed().as_secs_f64() / 60.0,
    };
    let text = report::render(&opts, &meta, &runs, &notes);
    println!("{text}");
    if let Some(out) = &cli.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
        say(&format!("written to {}", out.display()));
    }
    // The exit status is about keypaird; the peer's failures are reported, not fatal.
    Ok(runs
        .iter()
        .filter(|run| run.key != "moto")
        .all(Run::is_valid))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn dedup(backends: &[Backend]) -> Vec<Backend> {
    let mut out = Vec::new();
    for b in backends {
        if !out.contains(b) {
            out.push(*b);
        }
    }
    out
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The URL without a password, for the report.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// `release` or `debug`, from cargo's target/<profile>/ layout.
fn profile(keypaird: &std::path::Path) -> String {
    let parts: Vec<_> = keypaird
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.iter().any(|p| p == "release") {
        "release".to_owned()
    } else if parts.iter().any(|p| p == "debug") {
        "debug".to_owned()
    } else {
        "unknown (not under target/release or target/debug)".to_owned()
    }
}

/// The commit of the checkout keypaird was built in (else of the current directory, for a
/// CARGO_TARGET_DIR outside it), marked when crates/ had changes.
async fn commit(keypaird: &std::path::Path) -> String {
    for dir in [keypaird.parent(), Some(std::path::Path::new("."))]
        .into_iter()
        .flatten()
    {
        if let Some(commit) = commit_in(dir).await {
            return commit;
        }
    }
    "unknown".to_owned()
}

async fn commit_in(dir: &std::path::Path) -> Option<String> {
    let git = |args: &'static [&'static str]| {
        tokio::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).await.ok()?;
    if !head.status.success() {
        return None;
    }
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    if let Ok(status) = git(&[
        "status",
        "--porcelain",
        "--",
        ":/crates",
        ":/Cargo.toml",
        ":/Cargo.lock",
    ])
    .await
    {
        if !status.stdout.is_empty() {
            commit.push_str(" (with uncommitted changes)");
        }
    }
    Some(commit)
}

/// moto's version, from the Python next to `moto_server`.
async fn moto_version_of(moto: &std::path::Path) -> String {
    let python = moto.with_file_name("python");
    let output = tokio::process::Command::new(python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => "(version unknown)".to_owned(),
    }
}
