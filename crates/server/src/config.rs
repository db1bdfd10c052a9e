//! Settings for `serve`, resolved once at start-up from flags, environment, an optional TOML
//! file and defaults, in that order of precedence.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use keypaird_keys::PpkVersion;
use serde::Deserialize;

use crate::cli::ServeArgs;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_STORE: &str = "sqlite://./keypaird-data/keypaird.db";
pub const DEFAULT_RSA_POOL_SIZE: usize = 32;
/// Far above any real request (a 16384-bit RSA import with 50 tags is ~40 KB), far below
/// anything that would hurt.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

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
    max_body_bytes: Option<usize>,
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
    pub max_body_bytes: usize,
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
        let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 4096 {
            bail!("max_body_bytes must be at least 4096");
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
            max_body_bytes,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("the config file {} is not valid", path.display()))
}
