//! One server through every size: fill, reads, writes, memory, restarts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::load::{Figure, Load, MakeCall};
use crate::procs::{self, LogTail, Server};
use crate::sign::{Dialect, Signer};
use crate::workloads::{self, Inventory, Row};

/// Fill rates are measured over at most this many of the last writes before each size.
const FILL_SEGMENT: usize = 20_000;
const KEYPAIRD_BANNER: &str = "keypaird listening on ";
const MOTO_BANNER: &str = "Running on ";
/// Requests moto answers wrongly. Each is probed once per size; measured if moto gets it right.
const MOTO_GAPS: &[(Row, &str)] = &[(
    Row::Ec2ById,
    "moto ignores `KeyPairId.N` and answers every key pair",
)];

#[derive(Clone)]
pub struct Opts {
    pub keypaird: PathBuf,
    pub sizes: Vec<usize>,
    pub seconds: f64,
    pub connections: usize,
    pub restarts: usize,
    pub moto_max_size: usize,
}

#[derive(Clone, Debug)]
pub enum Cell {
    Rate(Figure),
    Mib(f64),
    Ms(f64),
    /// Not measured: the server answers this request wrongly (a known gap, confirmed by one
    /// probe request in the same run).
    Unsupported(String),
}

impl Cell {
    pub fn invalid_reason(&self) -> Option<String> {
        match self {
            Cell::Rate(figure) if !figure.is_valid() => Some(figure.why_invalid()),
            _ => None,
        }
    }
}

/// One row measured alternately on two servers.
#[derive(Clone, Debug)]
pub struct Paired {
    pub row: Row,
    pub small: Figure,
    pub large: Figure,
}

/// Everything measured on one server.
pub struct Run {
    pub key: &'static str,
    pub label: String,
    pub store: String,
    pub sizes: Vec<(usize, BTreeMap<Row, Cell>)>,
    /// The largest size against the smallest, measured alternately in the same minutes:
    /// (row, rate on the smallest store, rate on the largest, rounds).
    pub paired: Vec<Paired>,
    pub error: Option<String>,
    pub log: Arc<Mutex<LogTail>>,
}

impl Run {
    pub fn new(key: &'static str, label: &str, store: &str) -> Self {
        Run {
            key,
            label: label.to_owned(),
            store: store.to_owned(),
            sizes: Vec::new(),
            paired: Vec::new(),
            error: None,
            log: Arc::new(Mutex::new(LogTail::default())),
        }
    }

    pub fn cell(&self, size: usize, row: Row) -> Option<&Cell> {
        self.sizes
            .iter()
            .find(|(s, _)| *s == size)
            .and_then(|(_, cells)| cells.get(&row))
    }

    pub fn is_valid(&self) -> bool {
        self.error.is_none()
            && self
                .sizes
                .iter()
                .all(|(_, cells)| cells.values().all(|c| c.invalid_reason().is_none()))
            && self
                .paired
                .iter()
                .all(|p| p.small.is_valid() && p.large.is_valid())
    }

    fn put(&mut self, size: usize, row: Row, cell: Cell) {
        if let Cell::Rate(figure) = &cell {
            log_figure(&self.label, size, row, figure);
        }
        if let Some((_, cells)) = self.sizes.iter_mut().find(|(s, _)| *s == size) {
            cells.insert(row, cell);
        } else {
            self.sizes.push((size, BTreeMap::from([(row, cell)])));
        }
    }
}

fn log_figure(server: &str, size: usize, row: Row, f: &Figure) {
    let verdict = if f.is_valid() {
        String::new()
    } else {
        format!("  INVALID: {}", f.why_invalid())
    };
    eprintln!(
        "    {server} @ {size}: {:<52} {:>9.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms{verdict}",
        row.label(),
        f.rate,
        f.p50_ms,
        f.p99_ms
    );
}

pub fn say(text: &str) {
    eprintln!("==> {text}");
}

/// A server this benchmark talks to, with its signer.
struct Target {
    addr: SocketAddr,
    signer: Arc<Signer>,
}

impl Target {
    fn new(addr: SocketAddr) -> Self {
        Target {
            addr,
            signer: Arc::new(Signer::new(&addr.to_string())),
        }
    }

    fn load(&self, connections: usize, duration: Option<Duration>) -> Load {
        Load {
            addr: self.addr,
            connections,
            duration,
            signer: self.signer.clone(),
        }
    }
}

pub enum Store {
    Sqlite(PathBuf),
    Postgres {
        /// keypaird's store URL, with `?schema=`
        url: String,
        /// the same database without keypaird's parameters, for ANALYZE
        admin: String,
        schema: String,
        /// the schema's master key (PostgreSQL has no default), in the run's directory
        master_key_file: PathBuf,
    },
}

/// keypaird on a fresh store, through every size. On PostgreSQL the reads are measured twice
/// at each size: right after the fill, with no statistics (autovacuum is kept off the schema),
/// into `run`; then after ANALYZE, into `analyzed`. With a `reference` store, the largest size
/// is then measured against the smallest, alternately (see [`alternate`]).
pub async fn keypaird(
    opts: &Opts,
    store: Store,
    reference: Option<Store>,
    run: &mut Run,
    mut analyzed: Option<&mut Run>,
) -> anyhow::Result<()> {
    let keypaird = opts.keypaird.to_string_lossy().into_owned();
    let store_args = prepare(opts, &store).await?;
    let serve_args = |listen: &str| serve_args(&store_args, listen);
    let (mut server, _) = procs::start(
        "keypaird",
        &keypaird,
        &serve_args("127.0.0.1:0"),
        KEYPAIRD_BANNER,
        None,
        run.log.clone(),
    )
    .await?;
    say(&format!("{} at http://{}", run.label, server.addr));

    // The smallest size again, on a store of its own, for the alternating comparison at the
    // end: filled now, idle until then.
    let smallest = opts.sizes.first().copied().unwrap_or(0);
    let mut small = None;
    if let (Some(reference), true) = (reference, opts.sizes.len() > 1) {
        let store_args = prepare(opts, &reference).await?;
        let (small_server, _) = procs::start(
            "keypaird",
            &keypaird,
            &serve_args_for(&store_args),
            KEYPAIRD_BANNER,
            None,
            run.log.clone(),
        )
        .await?;
        let target = Target::new(small_server.addr);
        warm_up(&target).await?;
        let mut inventory = Inventory::default();
        fill(opts, &target, Dialect::Ec2, 0, smallest, &mut inventory).await?;
        fill(opts, &target, Dialect::Ecs, 0, smallest, &mut inventory).await?;
        small = Some((small_server, Arc::new(inventory)));
    }

    let mut inventory = Inventory::default();
    let mut filled = 0;
    for &size in &opts.sizes {
        let target = Target::new(server.addr);
        say(&format!("{}: filling EC2 and ECS to {size}", run.label));
        warm_up(&target).await?;
        let ec2 = fill(opts, &target, Dialect::Ec2, filled, size, &mut inventory).await?;
        run.put(size, Row::FillEc2, Cell::Rate(ec2));
        let ecs = fill(opts, &target, Dialect::Ecs, filled, size, &mut inventory).await?;
        run.put(size, Row::FillEcs, Cell::Rate(ecs));
        filled = size;

        let inv = Arc::new(std::mem::take(&mut inventory));
        let rss = reads(opts, &target, &inv, size, true, &[], server.pid, run).await?;
        run.put(size, Row::Rss, Cell::Mib(rss));
        if let (Store::Postgres { admin, schema, .. }, Some(analyzed)) =
            (&store, analyzed.as_deref_mut())
        {
            crate::pg::analyze(admin, schema).await?;
            let rss = reads(opts, &target, &inv, size, true, &[], server.pid, analyzed).await?;
            analyzed.put(size, Row::Rss, Cell::Mib(rss));
        }
        inventory = Arc::try_unwrap(inv).unwrap_or_else(|shared| (*shared).clone());
        let (created, deleted) = writes(opts, &target, size, opts.seconds).await?;
        run.put(size, Row::Ec2Create, Cell::Rate(created));
        run.put(size, Row::Ec2Delete, Cell::Rate(deleted));

        let mut ready = Vec::new();
        for _ in 0..opts.restarts {
            let status = procs::stop(server.pid, Duration::from_secs(30))
                .await
                .context("stopping keypaird for a restart")?;
            if !status.success() {
                run.log
                    .lock()
                    .unwrap()
                    .note(format!("keypaird exited with {status} after SIGTERM"));
            }
            let listen = server.addr.to_string();
            let (restarted, spawned) = procs::start(
                "keypaird",
                &keypaird,
                &serve_args(&listen),
                KEYPAIRD_BANNER,
                Some(server.addr),
                run.log.clone(),
            )
            .await?;
            server = restarted;
            ready.push(wait_ready(&server, spawned).await?);
        }
        if !ready.is_empty() {
            ready.sort_by(f64::total_cmp);
            let mid = ready.len() / 2;
            let median = if ready.len() % 2 == 0 {
                (ready[mid - 1] + ready[mid]) / 2.0
            } else {
                ready[mid]
            };
            eprintln!(
                "    {} @ {size}: ready after restart {ready:.1?} ms",
                run.label
            );
            run.put(size, Row::Ready, Cell::Ms(median));
        }
    }
    if let Some((small_server, small_inventory)) = small {
        let largest = opts.sizes.last().copied().unwrap_or(0);
        let large = (Target::new(server.addr), Arc::new(inventory), largest);
        let small_side = (Target::new(small_server.addr), small_inventory, smallest);
        run.paired = alternate(opts, &small_side, &large, &run.label).await?;
        procs::stop(small_server.pid, Duration::from_secs(30)).await?;
    }
    procs::stop(server.pid, Duration::from_secs(30)).await?;
    Ok(())
}

/// Makes the store's account and returns the flags that name the store to keypaird: its URL
/// and, for PostgreSQL (which has no default), its master key file.
async fn prepare(opts: &Opts, store: &Store) -> anyhow::Result<Vec<String>> {
    let store_args = match store {
        Store::Sqlite(dir) => vec![
            "--store".to_owned(),
            format!("sqlite://{}", dir.join("k.db").display()),
        ],
        Store::Postgres {
            url,
            master_key_file,
            ..
        } => vec![
            "--store".to_owned(),
            url.clone(),
            "--master-key-file".to_owned(),
            master_key_file.display().to_string(),
        ],
    };
    let quota = "2000000".to_owned();
    let create = tokio::process::Command::new(&opts.keypaird)
        .args(["accounts", "create", "scale", "--access-key-id"])
        .args([crate::sign::ACCESS_KEY_ID, "--secret-access-key"])
        .args([crate::sign::SECRET_ACCESS_KEY, "--key-pair-quota"])
        .arg(&quota)
        .args(&store_args)
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run keypaird accounts create")?;
    if !create.status.success() {
        bail!(
            "keypaird accounts create failed: {}",
            String::from_utf8_lossy(&create.stderr).trim()
        );
    }
    if let Store::Postgres { admin, schema, .. } = store {
        // `accounts create` has migrated the schema: its tables exist, empty.
        crate::pg::no_autovacuum(admin, schema).await?;
    }
    Ok(store_args)
}

fn serve_args(store_args: &[String], listen: &str) -> Vec<String> {
    let mut args: Vec<String> = ["serve", "--listen", listen, "--rsa-pool-size", "0"]
        .map(String::from)
        .to_vec();
    args.extend_from_slice(store_args);
    args
}

fn serve_args_for(store_args: &[String]) -> Vec<String> {
    serve_args(store_args, "127.0.0.1:0")
}

/// Rounds of each row per server in [`alternate`].
pub const ROUNDS: usize = 3;

/// The same workloads on two servers at once in time: for each row, [`ROUNDS`] rounds of half
/// a figure's time each, small then large, so whatever else the machine does at the time falls
/// on both alike. Sizes measured one after the other, an hour apart, differ by as much as a
/// third on this shared machine; measured like this, their ratio is what the store costs.
async fn alternate(
    opts: &Opts,
    small: &(Target, Arc<Inventory>, usize),
    large: &(Target, Arc<Inventory>, usize),
    label: &str,
) -> anyhow::Result<Vec<Paired>> {
    say(&format!(
        "{label}: {} against {}, alternately",
        large.2, small.2
    ));
    let seconds = (opts.seconds / 2.0).max(0.5);
    let duration = Some(Duration::from_secs_f64(seconds));
    let small_reads = workloads::reads(&small.1, small.2, true);
    let large_reads = workloads::reads(&large.1, large.2, true);
    let mut paired = Vec::new();
    for ((row, small_make), (_, large_make)) in small_reads.into_iter().zip(large_reads) {
        if !row.has_target() {
            continue;
        }
        let mut sides = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for (server, make, figures) in [
                (&small.0, &small_make, &mut sides.0),
                (&large.0, &large_make, &mut sides.1),
            ] {
                let load = server.load(opts.connections, duration);
                figures.push(load.run(make.clone()).await?.figure);
            }
        }
        paired.push(Paired {
            row,
            small: Figure::merge(&sides.0),
            large: Figure::merge(&sides.1),
        });
    }
    let mut creates = (Vec::new(), Vec::new());
    let mut deletes = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (target, size, into_creates, into_deletes) in [
            (&small.0, small.2, &mut creates.0, &mut deletes.0),
            (&large.0, large.2, &mut creates.1, &mut deletes.1),
        ] {
            let (created, deleted) = writes(opts, target, size, seconds).await?;
            into_creates.push(created);
            into_deletes.push(deleted);
        }
    }
    for (row, (small_figures, large_figures)) in
        [(Row::Ec2Create, creates), (Row::Ec2Delete, deletes)]
    {
        paired.push(Paired {
            row,
            small: Figure::merge(&small_figures),
            large: Figure::merge(&large_figures),
        });
    }
    for p in &paired {
        eprintln!(
            "    {label}: {:<52} {:>9.1}/s at {} vs {:>9.1}/s at {}: {:.2}",
            p.row.label(),
            p.large.rate,
            large.2,
            p.small.rate,
            small.2,
            p.large.rate / p.small.rate.max(f64::MIN_POSITIVE)
        );
    }
    Ok(paired)
}

/// moto's server, through the sizes up to `moto_max_size`, EC2 only.
/// moto serves one request at a time (one Python process, one interpreter lock), so it is driven
/// by one client: that gives it its full rate, where more clients would only queue requests
/// behind its slowest replies (at 10,000 key pairs a `tag:` filter takes seconds) until they
/// time out and spill into the next figure.
pub async fn moto(opts: &Opts, moto: &Path, run: &mut Run) -> anyhow::Result<()> {
    let opts = &Opts {
        connections: 1,
        ..opts.clone()
    };
    let args = ["-H", "127.0.0.1", "-p", "0"].map(String::from);
    let (server, _) = procs::start(
        "moto_server",
        &moto.to_string_lossy(),
        &args,
        MOTO_BANNER,
        None,
        run.log.clone(),
    )
    .await?;
    say(&format!("moto at http://{}", server.addr));
    let target = Target::new(server.addr);
    // moto loads its EC2 backend on the first request (about a second): not part of a figure.
    warm_up(&target).await?;
    let mut inventory = Inventory::default();
    let mut filled = 0;
    for &size in opts.sizes.iter().filter(|&&s| s <= opts.moto_max_size) {
        say(&format!("moto: filling EC2 to {size}"));
        let ec2 = fill(opts, &target, Dialect::Ec2, filled, size, &mut inventory).await?;
        run.put(size, Row::FillEc2, Cell::Rate(ec2));
        filled = size;
        let inv = Arc::new(std::mem::take(&mut inventory));
        let rss = reads(opts, &target, &inv, size, false, MOTO_GAPS, server.pid, run).await?;
        run.put(size, Row::Rss, Cell::Mib(rss));
        inventory = Arc::try_unwrap(inv).unwrap_or_else(|shared| (*shared).clone());
        let (created, deleted) = writes(opts, &target, size, opts.seconds).await?;
        run.put(size, Row::Ec2Create, Cell::Rate(created));
        run.put(size, Row::Ec2Delete, Cell::Rate(deleted));
    }
    procs::stop(server.pid, Duration::from_secs(30)).await?;
    Ok(())
}

/// The first call of `make`, once.
fn once(make: MakeCall) -> MakeCall {
    let done = Arc::new(AtomicBool::new(false));
    Arc::new(move |rng| {
        if done.swap(true, Ordering::Relaxed) {
            None
        } else {
            make(rng)
        }
    })
}

/// One signed request that matches nothing.
async fn warm_up(target: &Target) -> anyhow::Result<()> {
    let make: MakeCall =
        Arc::new(|_| Some(workloads::ec2_filter("key-name", "warm-up".into(), 0, None)));
    let figure = target.load(1, None).run(once(make)).await?.figure;
    if !figure.is_valid() {
        bail!("the first request failed: {}", figure.why_invalid());
    }
    Ok(())
}

/// Creates (EC2) or imports (ECS) key pairs `from..to`; the last min(to − from, 20,000) of them
/// are timed. Every ID and fingerprint answered goes into `inventory`.
async fn fill(
    opts: &Opts,
    target: &Target,
    dialect: Dialect,
    from: usize,
    to: usize,
    inventory: &mut Inventory,
) -> anyhow::Result<Figure> {
    let timed_from = to - (to - from).min(FILL_SEGMENT);
    match dialect {
        Dialect::Ec2 => inventory.ec2.resize(to, Default::default()),
        Dialect::Ecs => inventory.ecs.resize(to, Default::default()),
        Dialect::CloudTrail => bail!("the scale fill has no CloudTrail dialect"),
    }
    let mut figure = Figure::default();
    for range in [from..timed_from, timed_from..to] {
        if range.is_empty() {
            continue;
        }
        let (make, _) = workloads::bounded(range.collect(), move |i| match dialect {
            Dialect::Ec2 => workloads::ec2_create(workloads::name(i), i),
            Dialect::Ecs => workloads::ecs_import(workloads::name(i), i),
            Dialect::CloudTrail => unreachable!("refused above"),
        });
        let measured = target.load(opts.connections, None).run(make).await?;
        if !measured.figure.is_valid() {
            bail!(
                "filling {dialect:?} to {to} failed: {}",
                measured.figure.why_invalid()
            );
        }
        for (i, id, fp) in measured.made {
            match dialect {
                Dialect::Ec2 => inventory.ec2[i] = (id, fp),
                Dialect::Ecs => inventory.ecs[i] = fp,
                Dialect::CloudTrail => unreachable!("refused above"),
            }
        }
        figure = measured.figure;
    }
    Ok(figure)
}

/// Every read workload for `seconds`; returns the largest RSS seen meanwhile, in MiB. A row in
/// `gaps` is first probed with one request, and marked unsupported if that reply is wrong.
#[allow(clippy::too_many_arguments)]
async fn reads(
    opts: &Opts,
    target: &Target,
    inventory: &Arc<Inventory>,
    size: usize,
    ecs: bool,
    gaps: &[(Row, &str)],
    pid: u32,
    run: &mut Run,
) -> anyhow::Result<f64> {
    let duration = Some(Duration::from_secs_f64(opts.seconds));
    let sampler = RssSampler::start(pid);
    for (row, make) in workloads::reads(inventory, size, ecs) {
        if let Some((_, gap)) = gaps.iter().find(|(r, _)| *r == row) {
            let probe = target.load(1, None).run(once(make.clone())).await?.figure;
            if !probe.is_valid() {
                eprintln!(
                    "    {} @ {size}: {}: not measured: {gap}",
                    run.label,
                    row.label()
                );
                run.put(size, row, Cell::Unsupported((*gap).to_owned()));
                continue;
            }
        }
        let measured = target.load(opts.connections, duration).run(make).await?;
        run.put(size, row, Cell::Rate(measured.figure));
    }
    let rss = sampler.stop().await?;
    // Apart from the rows above, whose RSS is the one under load: a reply of every key pair
    // holds its whole XML, so its memory is its own figure.
    let sampler = RssSampler::start(pid);
    let all = target
        .load(1, duration)
        .run(workloads::describe_all(size))
        .await?;
    run.put(size, Row::Ec2DescribeAll, Cell::Rate(all.figure));
    run.put(size, Row::DescribeAllRss, Cell::Mib(sampler.stop().await?));
    Ok(rss)
}

/// The largest VmRSS of a process, sampled every 100 ms until stopped.
struct RssSampler {
    max_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let max_kib = Arc::new(AtomicU64::new(procs::rss_kib(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (max_kib, stop) = (max_kib.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if let Some(kib) = procs::rss_kib(pid) {
                        max_kib.fetch_max(kib, Ordering::Relaxed);
                    }
                }
            })
        };
        RssSampler {
            max_kib,
            stop,
            task,
        }
    }

    /// The maximum, in MiB.
    async fn stop(self) -> anyhow::Result<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?;
        Ok(self.max_kib.load(Ordering::Relaxed) as f64 / 1024.0)
    }
}

/// Creates with new names for `seconds`, deletes of those for up to `seconds`, then the rest of
/// them deleted untimed, so the account holds exactly `size` key pairs again. Returns the
/// create and delete figures.
async fn writes(
    opts: &Opts,
    target: &Target,
    size: usize,
    seconds: f64,
) -> anyhow::Result<(Figure, Figure)> {
    let duration = Some(Duration::from_secs_f64(seconds));
    let extra = move |i: usize| format!("x{size}-{i:07}");
    let counter = Arc::new(AtomicU64::new(0));
    let make: MakeCall = {
        let counter = counter.clone();
        Arc::new(move |_| {
            let i = counter.fetch_add(1, Ordering::Relaxed) as usize;
            Some(workloads::ec2_create(extra(i), i))
        })
    };
    let created = target.load(opts.connections, duration).run(make).await?;
    let mut names: Vec<(usize, String)> = created
        .made
        .iter()
        .map(|(i, _, _)| (*i, extra(*i)))
        .collect();
    names.sort();
    let names: Vec<String> = names.into_iter().map(|(_, n)| n).collect();

    let (make, taken) = workloads::bounded(names.clone(), workloads::ec2_delete);
    let deleted = target.load(opts.connections, duration).run(make).await?;
    let taken = taken.load(Ordering::Relaxed).min(names.len());

    let (make, _) = workloads::bounded(names[taken..].to_vec(), workloads::ec2_delete);
    let rest = target.load(opts.connections, None).run(make).await?;
    if !rest.figure.is_valid() && !names[taken..].is_empty() {
        bail!(
            "deleting the extra key pairs: {}",
            rest.figure.why_invalid()
        );
    }
    // Whatever a failed reply may still have stored goes too: the next size starts exact.
    let leftovers = list_names(target, &format!("x{size}-*")).await?;
    if !leftovers.is_empty() {
        let count = leftovers.len();
        let (make, _) = workloads::bounded(leftovers, workloads::ec2_delete);
        target.load(opts.connections, None).run(make).await?;
        let still = list_names(target, &format!("x{size}-*")).await?;
        if !still.is_empty() {
            bail!("{} extra key pairs remain after deleting them", still.len());
        }
        eprintln!("    deleted {count} extra key pairs left by failed replies");
    }
    Ok((created.figure, deleted.figure))
}

/// Names of the key pairs whose name matches `pattern` (an EC2 `key-name` filter).
async fn list_names(target: &Target, pattern: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = crate::http::Conn::new(target.addr);
    let call = workloads::ec2_filter("key-name", pattern.to_owned(), 0, None);
    let reply = conn
        .send(&target.signer.request(call.dialect, &call.params))
        .await
        .map_err(|err| anyhow::anyhow!("listing {pattern}: {err}"))?;
    if reply.status != 200 {
        bail!("listing {pattern}: HTTP {}: {}", reply.status, reply.text());
    }
    Ok(reply
        .text()
        .split("<keyName>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</keyName>").map(|(n, _)| n.to_owned()))
        .collect())
}

/// Polls `GET /readyz` every 2 ms from spawn; the ms until the first 200.
async fn wait_ready(server: &Server, spawned: Instant) -> anyhow::Result<f64> {
    let deadline = spawned + Duration::from_secs(60);
    loop {
        if crate::http::get_status(server.addr, "/readyz").await == Some(200) {
            return Ok(spawned.elapsed().as_secs_f64() * 1000.0);
        }
        if !procs::alive(server.pid) {
            bail!(
                "{} exited after a restart:\n{}",
                server.name,
                server.log.lock().unwrap().last_lines()
            );
        }
        if Instant::now() > deadline {
            bail!("{} not ready 60 s after a restart", server.name);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
