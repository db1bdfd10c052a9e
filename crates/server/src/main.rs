//! keypaird: glue between the command line, the store, the inventory and the HTTP server.
//! The work happens in the library crates; `anyhow` lives only here.

mod accounts;
mod audit_cli;
mod cli;
mod config;
mod limits;
mod maintenance;
mod metrics;
mod migrate;
mod router;
mod serving;
mod store_url;
mod timed_store;
mod tls;

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use keypaird_api::aliyun::AliyunDialect;
use keypaird_api::audit::AuditSettings;
use keypaird_api::aws::{AuthMode, AwsDialect};
use keypaird_api::cloudtrail::CloudTrailDialect;
use keypaird_inventory::{ids, CredentialCache, Inventory, NewAccount, RsaKeyPool};
use tracing_subscriber::EnvFilter;

use accounts::KeyChange;
use cli::{AccessKeysCommand, AccountsCommand, Cli, Command, ConfigCommand, LogFormat};
use config::ServeConfig;
use store_url::StoreUrl;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_e` of mimalloc v3 (libmimalloc-sys's default) (include/mimalloc.h), which
/// libmimalloc-sys does not name; the test below reads it back.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// tokio's blocking pool runs only SQLite reads (at most `SqliteStore::READERS` at once) and
/// RSA keys generated on demand (at most one per core), each limited by its own permits; the
/// bound keeps a burst from spawning hundreds of threads and leaves room so neither waits for
/// a thread the other holds. (tokio's default is 512.)
fn blocking_threads() -> usize {
    keypaird_store::SqliteStore::READERS + RsaKeyPool::on_demand_generations() + 2
}

fn main() -> std::process::ExitCode {
    // Freed memory goes back to the OS as it is freed, not when the freeing thread next
    // allocates: after a burst of large bodies, idle workers would otherwise keep it.
    // SAFETY: sets a process-wide allocator option; mimalloc documents it as safe at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    // Resolved before logging starts, since it says how to log.
    let serve_config = match &cli.command {
        Command::Serve(args) => match ServeConfig::resolve(args) {
            Ok(config) => Some(config),
            Err(err) => {
                eprintln!("keypaird: error: {err:#}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    start_logging(
        serve_config
            .as_ref()
            .map_or_else(LogFormat::default, |c| c.log_format),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads())
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keypaird: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Off the start-up path: the store opens and the port binds meanwhile. Joined before exit,
    // like every thread that draws on aws-lc (see RsaKeyPool::stop).
    let rng_warm_up = matches!(cli.command, Command::Serve(_))
        .then(|| {
            std::thread::Builder::new()
                .name("rng-warm-up".into())
                .spawn(keypaird_keys::GeneratedKey::warm_up)
                .ok()
        })
        .flatten();
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => serve(serve_config.expect("resolved before")).await,
            Command::Accounts(AccountsCommand::Create(args)) => accounts::create(args).await,
            Command::Accounts(AccountsCommand::List(args)) => accounts::list(args).await,
            Command::Accounts(AccountsCommand::Delete(args)) => accounts::delete(args).await,
            Command::Accounts(AccountsCommand::SetQuota(args)) => accounts::set_quota(args).await,
            Command::AccessKeys(AccessKeysCommand::Create(args)) => {
                accounts::create_access_key(args).await
            }
            Command::AccessKeys(AccessKeysCommand::List(args)) => {
                accounts::list_access_keys(args).await
            }
            Command::AccessKeys(AccessKeysCommand::Disable(args)) => {
                accounts::change_access_key(args, KeyChange::Disable).await
            }
            Command::AccessKeys(AccessKeysCommand::Enable(args)) => {
                accounts::change_access_key(args, KeyChange::Enable).await
            }
            Command::AccessKeys(AccessKeysCommand::Delete(args)) => {
                accounts::change_access_key(args, KeyChange::Delete).await
            }
            Command::Audit(args) => audit_cli::run(args).await,
            Command::Migrate(args) => migrate::run(args).await,
            Command::RotateMasterKey(args) => migrate::rotate_master_key(args).await,
            Command::Config(ConfigCommand::Check(args)) => {
                config::check(&args.serve).map(|effective| print!("{effective}"))
            }
        }
    });
    if let Some(warm_up) = rng_warm_up {
        let _ = warm_up.join();
    }
    // Every task and blocking thread (store connections included) ends here, before exit.
    drop(runtime);
    match outcome {
        Ok(()) => exit(0),
        Err(err) => {
            eprintln!("keypaird: error: {err:#}");
            exit(1)
        }
    }
}

/// Log lines go to stderr, filtered by `KEYPAIRD_LOG` (default `info`). JSON lines put each
/// event's fields at the top level of the object, beside `timestamp`, `level` and `message`.
fn start_logging(format: LogFormat) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("KEYPAIRD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        );
    match format {
        LogFormat::Text => subscriber
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .init(),
        LogFormat::Json => subscriber
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// How long a credential read from the store is trusted before it is read again.
const CREDENTIAL_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let store_url = StoreUrl::parse(&config.store)?;
    let key_file = store_url.key_file(config.master_key_file.as_deref())?;
    let metrics = Arc::new(metrics::Metrics::new());
    let group_commits = metrics.clone();
    let store = store_url
        .open_observed(
            &key_file,
            Some(Arc::new(move |writes| {
                group_commits.observe_group_commit(writes)
            })),
        )
        .await?;
    let store: Arc<dyn keypaird_inventory::Store> =
        Arc::new(timed_store::TimedStore::new(store, metrics.clone()));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let tls = match &config.tls {
        Some(files) => {
            let tls = Arc::new(tls::ReloadableTls::load(files.clone())?);
            tls.clone().spawn_reload_on_hangup()?;
            Some(tls)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://{address}");
    let metrics_listener = match &config.metrics_listen {
        Some(metrics_listen) => Some(
            tokio::net::TcpListener::bind(metrics_listen)
                .await
                .with_context(|| format!("cannot listen on {metrics_listen} for metrics"))?,
        ),
        None => None,
    };

    let default_account = NewAccount {
        id: ids::account_id(),
        name: "default".to_owned(),
        key_pair_quota: None,
        access_key_id: ids::access_key_id(),
        secret_access_key: Some(ids::secret_access_key().into()),
        created_at: time::OffsetDateTime::now_utc(),
    };
    let mut created_event = accounts::command_line_event("CreateAccount");
    created_event.user_agent = format!("keypaird/{} serve", env!("CARGO_PKG_VERSION"));
    created_event.account_id = default_account.id.clone();
    created_event.account_name = default_account.name.clone();
    let created_default = store
        .create_first_account(default_account.clone(), &created_event)
        .await
        .context("cannot prepare the default account")?;

    maintenance::spawn_nonce_purge(store.clone());
    maintenance::spawn_audit_purge(store.clone(), config.audit_retention);
    let credentials = CredentialCache::new(store.clone(), CREDENTIAL_CACHE_TTL);
    maintenance::spawn_last_used_flush(credentials.clone(), config.last_used_flush_interval);
    let uses_at_exit = credentials.clone();
    let rsa_pool = RsaKeyPool::new(config.rsa_pool_size);
    metrics.watch_rsa_pool(rsa_pool.clone());
    let inventory = Inventory::new(store, rsa_pool.clone());
    let auth_mode = if config.any_credentials {
        AuthMode::AnyCredentials
    } else {
        AuthMode::Verify
    };
    let audit = AuditSettings {
        record_reads: config.audit_reads,
    };
    let limits = Arc::new(fit_connections_to_descriptors(config.limits.clone()));
    let drops = Arc::new(limits::DropCounters::default());
    let state = Arc::new(router::AppState {
        inventory: inventory.clone(),
        aws: AwsDialect {
            inventory: inventory.clone(),
            credentials: credentials.clone(),
            auth_mode,
            ppk_version: config.ppk_version,
            audit,
        },
        cloudtrail: CloudTrailDialect {
            inventory: inventory.clone(),
            credentials: credentials.clone(),
            auth_mode,
        },
        aliyun: AliyunDialect {
            inventory,
            credentials,
            auth_mode,
            audit,
        },
        limits: limits.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight)),
        drops: drops.clone(),
        metrics: metrics.clone(),
    });
    let metrics_on = if metrics_listener.is_some() {
        router::MetricsOn::OwnAddress
    } else {
        router::MetricsOn::ApiPort
    };
    let console = if config.console {
        // Sessions are sealed under a key derived from the master key, so every node of a
        // cluster (which share the key file) accepts every node's sessions.
        let master_key = key_file
            .unlock(None)
            .context("cannot read the master key for the console's sessions")?;
        let console = keypaird_console::Console {
            inventory: state.inventory.clone(),
            credentials: state.aws.credentials.clone(),
            sessions: keypaird_console::Sessions::new(
                master_key
                    .derive(keypaird_console::SESSION_KEY_LABEL)
                    .as_ref(),
            ),
            sign_ins: Default::default(),
            secure_cookies: tls.is_some(),
            any_credentials: config.any_credentials,
            ppk_version: config.ppk_version,
        };
        Some(keypaird_console::router(Arc::new(console)))
    } else {
        None
    };
    let app = router::router(state.clone(), config.allow_reset, metrics_on, console);
    let metrics_endpoint = match metrics_listener {
        Some(listener) => {
            let address = listener
                .local_addr()
                .context("reading the metrics address")?;
            // An operator's port, apart from the clients': axum's own server, without the
            // API port's limits.
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, router::metrics_router(state)).await {
                    tracing::error!(error = %err, "the metrics listener stopped");
                }
            });
            format!("http://{address}/metrics")
        }
        None => format!("{endpoint}/metrics"),
    };
    limits::spawn_drop_log(drops.clone(), DROP_LOG_INTERVAL);

    print_banner(
        &config,
        &endpoint,
        key_file.path(),
        &metrics_endpoint,
        created_default.then_some(&default_account),
    );
    serving::serve(
        listener,
        app,
        limits,
        drops,
        router::refusing_router(metrics),
        tls,
        shutdown_signal(),
    )
    .await;
    maintenance::flush_last_uses_at_exit(&uses_at_exit).await;
    stop_rsa_pool(rsa_pool).await;
    tracing::info!("keypaird stopped");
    Ok(())
}

/// How long the exit waits for RSA keys still being generated: tens of milliseconds each,
/// unless other processes keep every core busy (the refills run only on idle cores).
const RSA_POOL_STOP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Set when RSA pool refills were still generating at exit: the process then ends without its
/// exit handlers (see `exit`).
static REFILLS_OUTLIVED_SERVING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Stops the RSA pool's refills before the process exits: aws-lc's exit handlers tear down
/// its entropy source, and a refill that draws on it afterwards aborts the process.
async fn stop_rsa_pool(rsa_pool: RsaKeyPool) {
    let stopped = tokio::task::spawn_blocking(move || rsa_pool.stop(RSA_POOL_STOP_PATIENCE)).await;
    if !matches!(stopped, Ok(true)) {
        tracing::info!(
            patience = ?RSA_POOL_STOP_PATIENCE,
            "RSA key pool refills still generating at exit; exiting without exit handlers"
        );
        REFILLS_OUTLIVED_SERVING.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Ends the process with `code`. When refills outlived serving, the C exit handlers are
/// skipped (`_exit`), since aws-lc's would abort a refill still generating. Nothing is lost
/// by it: the runtime, and with it the store, has been dropped, and stdout and stderr are
/// flushed here.
fn exit(code: u8) -> std::process::ExitCode {
    if REFILLS_OUTLIVED_SERVING.load(std::sync::atomic::Ordering::Acquire) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: _exit ends the process at once; no Rust state is used after it.
        unsafe { libc::_exit(i32::from(code)) }
    }
    std::process::ExitCode::from(code)
}

/// How often what the limits stopped is logged (one line per interval, not per client).
const DROP_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Descriptors kept for the store, logs and refused connections beyond `max_connections`.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft limit on open files to the hard one (a soft limit of 1,024 would let a
/// thousand idle sockets deny service), then lowers `max_connections` if it still does not fit.
fn fit_connections_to_descriptors(mut limits: limits::Limits) -> limits::Limits {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    let available = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit) != 0 {
            return limits;
        }
        if rlimit.rlim_cur < rlimit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: rlimit.rlim_max,
                rlim_max: rlimit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                rlimit = raised;
            }
        }
        rlimit.rlim_cur
    };
    let fits = available.saturating_sub(RESERVED_DESCRIPTORS) as usize;
    if limits.max_connections > fits {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files_limit = available,
            lowered_to = fits.max(1),
            "max_connections does not fit the open-files limit; lowered"
        );
        limits.max_connections = fits.max(1);
    }
    limits
}

/// Printed to stdout so scripts can read it; tests read the `listening on` line for the port.
fn print_banner(
    config: &ServeConfig,
    endpoint: &str,
    master_key_file: &std::path::Path,
    metrics_endpoint: &str,
    new_default: Option<&NewAccount>,
) {
    let (scheme, host) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "keypaird listening on {endpoint}");
    let _ = writeln!(out, "metrics: {metrics_endpoint}");
    if config.console {
        let _ = writeln!(out, "console: {endpoint}/console/");
    }
    let _ = writeln!(out, "store: {}", store_url::redact(&config.store));
    let _ = writeln!(out, "master key: {}", master_key_file.display());
    if let Some(account) = new_default {
        let _ = writeln!(
            out,
            "\nCreated the account 'default'. Its secret is shown only this once:\n\n  export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}\n  export AWS_DEFAULT_REGION=us-east-1\n\nThen try:\n\n  aws --endpoint-url {endpoint} ec2 describe-key-pairs\n\nThe same key signs Alibaba Cloud ECS requests: endpoint {host}, protocol {scheme}.\n",
            account.access_key_id,
            account.secret_access_key.as_deref().unwrap_or_default(),
        );
    } else {
        let _ = writeln!(
            out,
            "use: aws --endpoint-url {endpoint} ec2 describe-key-pairs (Alibaba SDKs: endpoint {host}, protocol {scheme})"
        );
    }
    if config.any_credentials {
        let _ = writeln!(
            out,
            "WARNING: --any-credentials is on: signatures are NOT checked and any access key is accepted. For tests only."
        );
    }
    if config.allow_reset {
        let _ = writeln!(
            out,
            "POST {endpoint}/moto-api/reset empties the inventory (--allow-reset)."
        );
    }
    let _ = out.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc v3's default purge delay is 1,000 ms; a wrong index reads another option.
        // SAFETY: reads and sets process-wide allocator options.
        unsafe {
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                1000
            );
            libmimalloc_sys::mi_option_set(super::MI_OPTION_PURGE_DELAY, 0);
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                0
            );
        }
    }
}
