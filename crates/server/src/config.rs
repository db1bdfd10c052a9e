//! Settings for `serve`, resolved once at start-up from flags, environment, an optional TOML
//! file and defaults, in that order of precedence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use keypaird_keys::PpkVersion;
use serde::Deserialize;

use crate::cli::ServeArgs;
use crate::limits::Limits;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_STORE: &str = "sqlite://./keypaird-data/keypaird.db";
pub const DEFAULT_RSA_POOL_SIZE: usize = 32;
/// Well within the minute in which `access-keys list` must show a use, at one small write
/// per node per interval.
pub const DEFAULT_LAST_USED_FLUSH_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    store: Option<String>,
    master_key_file: Option<PathBuf>,
    any_credentials: Option<bool>,
    allow_reset: Option<bool>,
    ppk_version: Option<u8>,
    rsa_pool_size: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    last_used_flush_interval: Option<Duration>,
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
    pub store: String,
    /// `None`: the store's default (beside a SQLite file; PostgreSQL requires one).
    pub master_key_file: Option<PathBuf>,
    pub any_credentials: bool,
    pub allow_reset: bool,
    pub ppk_version: PpkVersion,
    pub rsa_pool_size: usize,
    pub last_used_flush_interval: Duration,
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
        let last_used_flush_interval = args
            .last_used_flush_interval
            .or(file.last_used_flush_interval)
            .unwrap_or(DEFAULT_LAST_USED_FLUSH_INTERVAL);
        if last_used_flush_interval < Duration::from_millis(100) {
            bail!("last_used_flush_interval must be at least 100ms");
        }
        Ok(ServeConfig {
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            store: args
                .store
                .store
                .clone()
                .or(file.store)
                .unwrap_or_else(|| DEFAULT_STORE.to_owned()),
            master_key_file: args.store.master_key_file.clone().or(file.master_key_file),
            any_credentials: args.any_credentials || file.any_credentials.unwrap_or(false),
            allow_reset: args.allow_reset || file.allow_reset.unwrap_or(false),
            ppk_version,
            rsa_pool_size: args
                .rsa_pool_size
                .or(file.rsa_pool_size)
                .unwrap_or(DEFAULT_RSA_POOL_SIZE),
            last_used_flush_interval,
            limits,
        })
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
