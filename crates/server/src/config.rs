//! Settings for `serve`, resolved once at start-up from flags, environment, an optional TOML
//! file and defaults, in that order of precedence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use keypaird_keys::PpkVersion;
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs, StoreArg};
use crate::limits::Limits;
use crate::store_url::{redact, StoreUrl};
use crate::tls::{ReloadableTls, TlsFiles};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_STORE: &str = "sqlite://./keypaird-data/keypaird.db";
pub const DEFAULT_RSA_POOL_SIZE: usize = 32;
/// Well within the minute in which `access-keys list` must show a use, at one small write
/// per node per interval.
pub const DEFAULT_LAST_USED_FLUSH_INTERVAL: Duration = Duration::from_secs(15);
/// CloudTrail's event history keeps 90 days.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    log_format: Option<LogFormat>,
    store: Option<String>,
    store_file: Option<PathBuf>,
    master_key_file: Option<PathBuf>,
    any_credentials: Option<bool>,
    allow_reset: Option<bool>,
    ppk_version: Option<u8>,
    rsa_pool_size: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default, deserialize_with = "duration")]
    last_used_flush_interval: Option<Duration>,
    audit_reads: Option<bool>,
    console: Option<bool>,
    #[serde(default, deserialize_with = "duration")]
    audit_retention: Option<Duration>,
    max_body_bytes: Option<usize>,
    // The limits (README's table). Durations are written like "10s", "500ms" or "2m".
    #[serde(default, deserialize_with = "duration")]
    header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    keep_alive_idle: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    body_read_timeout: Option<Duration>,
    min_body_rate: Option<u64>,
    #[serde(default, deserialize_with = "duration")]
    request_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    send_timeout: Option<Duration>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    /// `None`: `/metrics` is served on `listen`.
    pub metrics_listen: Option<String>,
    pub log_format: LogFormat,
    pub store: String,
    /// `None`: the store's default (beside a SQLite file; PostgreSQL requires one).
    pub master_key_file: Option<PathBuf>,
    pub any_credentials: bool,
    pub allow_reset: bool,
    pub ppk_version: PpkVersion,
    pub rsa_pool_size: usize,
    /// `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    pub last_used_flush_interval: Duration,
    pub audit_reads: bool,
    /// The web console under `/console/`.
    pub console: bool,
    pub audit_retention: Duration,
    pub limits: Limits,
}

impl ServeConfig {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let ppk_version = match args.ppk_version.or(file.ppk_version).unwrap_or(2) {
            2 => PpkVersion::V2,
            3 => PpkVersion::V3,
            other => bail!("ppk_version must be 2 or 3, not {other}"),
        };
        let limits = limits_of(&file)?;
        // A flag pair replaces the file's pair whole, so a key never meets another's certificate.
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => match (file.tls_cert, file.tls_key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => bail!("tls_cert and tls_key go together: give both or neither"),
            },
        }
        .map(|(cert, key)| TlsFiles { cert, key });
        let store = match given_store_url(&args.store)? {
            Some(url) => url,
            None => match (file.store, file.store_file) {
                (Some(_), Some(_)) => {
                    bail!("the config file has both store and store_file: keep one")
                }
                (Some(url), None) => url,
                (None, Some(path)) => read_store_file(&path)?,
                (None, None) => DEFAULT_STORE.to_owned(),
            },
        };
        let last_used_flush_interval = args
            .last_used_flush_interval
            .or(file.last_used_flush_interval)
            .unwrap_or(DEFAULT_LAST_USED_FLUSH_INTERVAL);
        if last_used_flush_interval < Duration::from_millis(100) {
            bail!("last_used_flush_interval must be at least 100ms");
        }
        let audit_retention = args
            .audit_retention
            .or(file.audit_retention)
            .unwrap_or(DEFAULT_AUDIT_RETENTION);
        if audit_retention < Duration::from_secs(1) {
            bail!("audit_retention must be at least 1s");
        }
        Ok(ServeConfig {
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            metrics_listen: args.metrics_listen.clone().or(file.metrics_listen),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            store,
            master_key_file: args.store.master_key_file.clone().or(file.master_key_file),
            any_credentials: args.any_credentials || file.any_credentials.unwrap_or(false),
            allow_reset: args.allow_reset || file.allow_reset.unwrap_or(false),
            ppk_version,
            rsa_pool_size: args
                .rsa_pool_size
                .or(file.rsa_pool_size)
                .unwrap_or(DEFAULT_RSA_POOL_SIZE),
            tls,
            last_used_flush_interval,
            audit_reads: args.audit_reads || file.audit_reads.unwrap_or(false),
            console: !args.no_console && file.console.unwrap_or(true),
            audit_retention,
            limits,
        })
    }
}

impl ServeConfig {
    /// The configuration as a config file would say it (every key, so the output can be
    /// saved and used), the store URL's password as `<redacted>`.
    fn render(&self, master_key_file: &Path) -> String {
        let text = |value: &str| toml::Value::String(value.to_owned()).to_string();
        let path = |value: &Path| text(&value.display().to_string());
        let duration = |value: Duration| text(&shown_duration(value));
        let ppk_version = match self.ppk_version {
            PpkVersion::V2 => 2,
            PpkVersion::V3 => 3,
        };
        let limits = &self.limits;
        let mut lines = vec![
            "# The configuration `keypaird serve` would run with: flags, then environment, then"
                .to_owned(),
            "# the config file, then defaults.".to_owned(),
            format!("listen = {}", text(&self.listen)),
            match &self.metrics_listen {
                Some(address) => format!("metrics_listen = {}", text(address)),
                None => "# metrics_listen: not set, /metrics on the API port".to_owned(),
            },
            format!(
                "log_format = {}",
                text(match self.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                })
            ),
            format!("store = {}", text(&redact(&self.store))),
            format!("master_key_file = {}", path(master_key_file)),
            format!("any_credentials = {}", self.any_credentials),
            format!("allow_reset = {}", self.allow_reset),
            format!("ppk_version = {ppk_version}"),
            format!("rsa_pool_size = {}", self.rsa_pool_size),
            format!(
                "last_used_flush_interval = {}",
                duration(self.last_used_flush_interval)
            ),
            format!("audit_reads = {}", self.audit_reads),
            format!("console = {}", self.console),
            format!("audit_retention = {}", duration(self.audit_retention)),
        ];
        match &self.tls {
            Some(files) => {
                lines.push(format!("tls_cert = {}", path(&files.cert)));
                lines.push(format!("tls_key = {}", path(&files.key)));
            }
            None => lines.push("# tls_cert, tls_key: not set, plain HTTP".to_owned()),
        }
        lines.extend([
            format!("max_body_bytes = {}", limits.max_body_bytes),
            format!(
                "header_read_timeout = {}",
                duration(limits.header_read_timeout)
            ),
            format!("keep_alive_idle = {}", duration(limits.keep_alive_idle)),
            format!("body_read_timeout = {}", duration(limits.body_read_timeout)),
            format!("min_body_rate = {}", limits.min_body_rate),
            format!("request_timeout = {}", duration(limits.request_timeout)),
            format!("send_timeout = {}", duration(limits.send_timeout)),
            format!("max_connections = {}", limits.max_connections),
            format!("max_in_flight = {}", limits.max_in_flight),
        ]);
        lines.join("\n") + "\n"
    }
}

/// `keypaird config check`: the effective configuration, or why it is not valid. Checks what
/// can be checked without the store: the listen address, the store URL's syntax, the master
/// key file's setting, and that the TLS pair loads.
pub fn check(args: &ServeArgs) -> anyhow::Result<String> {
    let config = ServeConfig::resolve(args)?;
    let addresses = [
        ("listen", Some(&config.listen)),
        ("metrics_listen", config.metrics_listen.as_ref()),
    ];
    for (setting, address) in addresses {
        let Some(address) = address else { continue };
        std::net::ToSocketAddrs::to_socket_addrs(address.as_str()).with_context(|| {
            format!(
                "the {setting} address '{address}' is not valid: use HOST:PORT, for example 127.0.0.1:8787"
            )
        })?;
    }
    let key_file = StoreUrl::parse(&config.store)?.key_file(config.master_key_file.as_deref())?;
    if let Some(files) = &config.tls {
        ReloadableTls::load(files.clone())?;
    }
    Ok(config.render(key_file.path()))
}

/// The store URL a command was given: `--store`/`KEYPAIRD_STORE`, else what the file of
/// `--store-file`/`KEYPAIRD_STORE_FILE` holds.
pub fn given_store_url(arg: &StoreArg) -> anyhow::Result<Option<String>> {
    match (&arg.store, &arg.store_file) {
        (Some(url), _) => Ok(Some(url.clone())),
        (None, Some(path)) => read_store_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The store URL of a command without a config file (accounts, migrate): given, or the default.
pub fn store_url_of(arg: &StoreArg) -> anyhow::Result<String> {
    Ok(given_store_url(arg)?.unwrap_or_else(|| DEFAULT_STORE.to_owned()))
}

/// A store URL kept in a file (one line; surrounding whitespace and the newline ignored).
fn read_store_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the store file {}", path.display()))?;
    let url = text.trim();
    if url.is_empty() || url.contains('\n') {
        bail!(
            "the store file {} must hold one store URL, on one line",
            path.display()
        );
    }
    Ok(url.to_owned())
}

/// A duration as a config file writes it: whole days as `90d` (humantime would say
/// `2months 29days 2h 52m 48s`, its months being 30.44 days), anything else by humantime.
fn shown_duration(value: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    if value.subsec_nanos() == 0 && value.as_secs() >= DAY && value.as_secs().is_multiple_of(DAY) {
        format!("{}d", value.as_secs() / DAY)
    } else {
        humantime::format_duration(value).to_string()
    }
}

/// A duration as people write it ("10s", "1m30s", "90d"), by humantime.
fn duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|err| serde::de::Error::custom(format!("'{text}' is not a duration: {err}")))
}

fn limits_of(file: &FileConfig) -> anyhow::Result<Limits> {
    let default = Limits::default();
    let limits = Limits {
        header_read_timeout: file
            .header_read_timeout
            .unwrap_or(default.header_read_timeout),
        keep_alive_idle: file.keep_alive_idle.unwrap_or(default.keep_alive_idle),
        body_read_timeout: file.body_read_timeout.unwrap_or(default.body_read_timeout),
        min_body_rate: file.min_body_rate.unwrap_or(default.min_body_rate),
        request_timeout: file.request_timeout.unwrap_or(default.request_timeout),
        send_timeout: file.send_timeout.unwrap_or(default.send_timeout),
        max_connections: file.max_connections.unwrap_or(default.max_connections),
        max_in_flight: file.max_in_flight.unwrap_or(default.max_in_flight),
        max_body_bytes: file.max_body_bytes.unwrap_or(default.max_body_bytes),
    };
    if limits.max_body_bytes < 4096 {
        bail!("max_body_bytes must be at least 4096");
    }
    for (name, value) in [
        ("header_read_timeout", limits.header_read_timeout),
        ("keep_alive_idle", limits.keep_alive_idle),
        ("body_read_timeout", limits.body_read_timeout),
        ("request_timeout", limits.request_timeout),
        ("send_timeout", limits.send_timeout),
    ] {
        if value < Duration::from_millis(100) {
            bail!("{name} must be at least 100ms");
        }
    }
    for (name, value) in [
        ("min_body_rate", limits.min_body_rate as usize),
        ("max_connections", limits.max_connections),
        ("max_in_flight", limits.max_in_flight),
    ] {
        if value == 0 {
            bail!("{name} must be at least 1");
        }
    }
    Ok(limits)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("the config file {} is not valid", path.display()))
}
