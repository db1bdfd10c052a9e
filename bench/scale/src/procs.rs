//! The servers this benchmark starts, and everything it must undo at exit: child processes,
//! temporary directories, the PostgreSQL schema. All of it is registered here so that a normal
//! end, an error and Ctrl-C clean up the same way.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

struct Registry {
    children: Vec<(u32, Child)>,
    dirs: Vec<PathBuf>,
    /// (server URL without keypaird's parameters, schema name)
    schemas: Vec<(String, String)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    children: Vec::new(),
    dirs: Vec::new(),
    schemas: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn register_dir(dir: PathBuf) {
    registry().dirs.push(dir);
}

pub fn register_schema(admin_url: String, schema: String) {
    registry().schemas.push((admin_url, schema));
}

/// What a child wrote to stderr: the last lines (for error messages) and the warnings and
/// errors among all of them (for the report).
#[derive(Default)]
pub struct LogTail {
    pub last: VecDeque<String>,
    pub lines: u64,
    pub warnings: u64,
    pub errors: u64,
    pub first_problems: Vec<String>,
}

impl LogTail {
    fn push(&mut self, line: String) {
        self.lines += 1;
        // keypaird's compact tracing format puts the level right after the timestamp.
        let head: String = line.chars().take(60).collect();
        let is_warn = head.contains(" WARN ");
        let is_error = head.contains(" ERROR ");
        if is_warn {
            self.warnings += 1;
        }
        if is_error {
            self.errors += 1;
        }
        if (is_warn || is_error) && self.first_problems.len() < 5 {
            self.first_problems.push(line.chars().take(400).collect());
        }
        if self.last.len() == 20 {
            self.last.pop_front();
        }
        self.last.push_back(line);
    }

    /// Something the benchmark saw about the server (not a line it wrote), for the report.
    pub fn note(&mut self, what: String) {
        self.warnings += 1;
        if self.first_problems.len() < 5 {
            self.first_problems
                .push(format!("[seen by the benchmark] {what}"));
        }
    }

    pub fn last_lines(&self) -> String {
        self.last.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A running server: its pid (to signal it and read /proc) and where it listens.
pub struct Server {
    pub name: String,
    pub pid: u32,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<LogTail>>,
}

/// Starts `program args…` with stdout and stderr read by background tasks; a line containing
/// `banner` followed by `http://127.0.0.1:PORT` gives the address, unless `fixed` already says it.
pub async fn start(
    name: &str,
    program: &str,
    args: &[String],
    banner: &str,
    fixed: Option<SocketAddr>,
    log: Arc<Mutex<LogTail>>,
) -> anyhow::Result<(Server, Instant)> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent's state.
    // A child dies with the thread that spawned it (the main thread here): a benchmark killed
    // with SIGKILL still leaves no server behind.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let pid = child.id().context("child without a pid")?;
    let (tx, mut rx) = watch::channel(None::<SocketAddr>);
    let tx = Arc::new(tx);
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    tokio::spawn(read_lines(stdout, banner.to_owned(), tx.clone(), None));
    tokio::spawn(read_lines(stderr, banner.to_owned(), tx, Some(log.clone())));
    registry().children.push((pid, child));

    let addr = match fixed {
        Some(addr) => addr,
        None => {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(addr) = *rx.borrow() {
                    break addr;
                }
                if !alive(pid) {
                    bail!(
                        "{name} exited before printing its address:\n{}",
                        log.lock().unwrap().last_lines()
                    );
                }
                if Instant::now() > deadline {
                    bail!("{name} printed no address within 60 s");
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
            }
        }
    };
    Ok((
        Server {
            name: name.to_owned(),
            pid,
            addr,
            log,
        },
        spawned,
    ))
}

async fn read_lines(
    stream: impl AsyncRead + Unpin,
    banner: String,
    tx: Arc<watch::Sender<Option<SocketAddr>>>,
    log: Option<Arc<Mutex<LogTail>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut raw = Vec::new();
    // Read to the end whatever the bytes: a pipe left unread would block the server's writes.
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw).trim_end().to_owned();
        if let Some(at) = line.find(&banner) {
            let rest = &line[at + banner.len()..];
            if let Some(addr) = rest
                .strip_prefix("http://")
                .and_then(|r| r.split(|c: char| c == '/' || c.is_whitespace()).next())
                .and_then(|a| a.parse().ok())
            {
                let _ = tx.send(Some(addr));
            }
        }
        if let Some(log) = &log {
            log.lock().unwrap().push(line);
        }
    }
}

/// Whether the process still runs (a zombie, exited but not yet waited for, does not).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]),
            Some(b'Z') | Some(b'X')
        ),
        Err(_) => false,
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// SIGTERM, then wait for the exit (SIGKILL after `grace`). Returns the exit status.
pub async fn stop(pid: u32, grace: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let child = {
        let mut reg = registry();
        let at = reg
            .children
            .iter()
            .position(|(p, _)| *p == pid)
            .context("not a child of this benchmark")?;
        reg.children.remove(at).1
    };
    terminate(child, grace).await
}

async fn terminate(mut child: Child, grace: Duration) -> anyhow::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own unreaped child: the pid cannot have been reused.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            child.kill().await?;
            bail!("did not stop within {} s of SIGTERM", grace.as_secs())
        }
    }
}

/// Undoes everything registered: stops children, drops schemas, removes directories.
pub async fn cleanup() {
    let (children, schemas, dirs) = {
        let mut reg = registry();
        (
            std::mem::take(&mut reg.children),
            std::mem::take(&mut reg.schemas),
            std::mem::take(&mut reg.dirs),
        )
    };
    for (_, child) in children {
        let _ = terminate(child, Duration::from_secs(10)).await;
    }
    for (url, schema) in schemas {
        if let Err(err) = drop_schema(&url, &schema).await {
            eprintln!("scale: could not drop the PostgreSQL schema {schema}: {err:#}");
        }
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Tried for up to 30 s: a database restarting meanwhile must not leave the schema behind.
async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let sql =
        format!("SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outcome = async {
            crate::pg::connect(url)
                .await?
                .batch_execute(&sql)
                .await
                .map_err(anyhow::Error::from)
        };
        match outcome.await {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() > deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// What can be undone without an async runtime, for a panic: kill children, remove directories.
pub fn cleanup_sync() {
    if let Ok(mut reg) = REGISTRY.try_lock() {
        for (pid, _) in &reg.children {
            // SAFETY: as in `terminate`; these children have not been waited for.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
        for dir in std::mem::take(&mut reg.dirs) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
