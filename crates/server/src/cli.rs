//! The command line. Flags win over environment variables, which win over the config file,
//! which wins over the built-in defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(
    name = "keypaird",
    version,
    about = "A self-hosted SSH key pair service that speaks the AWS EC2 key-pair API.",
    long_about = "keypaird keeps SSH key pairs and answers the key-pair actions of AWS EC2 on the wire,\nso the aws CLI, boto3 and Terraform work against it unchanged."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Manage accounts and their access keys, directly on the store (no server needed).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage an account's access keys: several per account, each active or disabled, some
    /// read-only. Changes reach every node within about a second.
    #[command(subcommand, name = "access-keys")]
    AccessKeys(AccessKeysCommand),
    /// Create or upgrade the store's schema, then exit without serving. Optional: `serve`
    /// migrates at start too, safely when several nodes start at once.
    Migrate(MigrateArgs),
    /// Seal every access key secret under a new master key and replace the key file. Stop the
    /// SQLite server first; with PostgreSQL, copy the new file to every node and restart them.
    RotateMasterKey(RotateMasterKeyArgs),
    /// Check a configuration without serving.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the audit trail, newest first: every recorded call of both dialects, and the
    /// account and access-key changes of this command line (docs/audit.md).
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this account's events.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,

    /// Only events at or after this time (ISO 8601, e.g. 2026-12-02T03:04:05Z).
    /// [default: the retention window]
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only events at or before this time (ISO 8601). [default: now]
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only this action, e.g. CreateKeyPair or DeleteAccessKey.
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,

    /// At most this many events, the newest.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: u32,

    /// One JSON object per line, with every field.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration `serve` would run with (flags, then environment, then the
    /// config file, then defaults), secrets shown as <redacted>; check that the listen address
    /// is valid and the TLS files load. Does not connect to the store. Exits 1 when invalid.
    Check(ConfigCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// Where the inventory lives: sqlite://PATH (sqlite:///abs/path.db for an absolute path),
    /// or postgres://USER[:PASSWORD]@HOST[:PORT]/DB, shared by several nodes, with optional
    /// ?schema=NAME, sslmode=require|verify-full, sslrootcert=PATH, pool_size=N.
    /// [default: sqlite://./keypaird-data/keypaird.db]
    #[arg(long, env = "KEYPAIRD_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// A file holding the store URL, instead of --store: keeps a URL with a password out of
    /// the command line and the environment (a mounted secret, for example).
    #[arg(
        long,
        env = "KEYPAIRD_STORE_FILE",
        value_name = "FILE",
        conflicts_with = "store"
    )]
    pub store_file: Option<PathBuf>,

    /// The file holding the master key that seals access key secrets in the store (one line
    /// of 64 hex digits, mode 0600); made on first start if it does not exist. Required for
    /// PostgreSQL, where every node needs the same file. [default for sqlite://PATH:
    /// PATH.master-key]
    #[arg(long, env = "KEYPAIRD_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the banner prints the real one).
    /// [default: 127.0.0.1:8787]
    #[arg(long, env = "KEYPAIRD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    #[command(flatten)]
    pub store: StoreArg,

    /// A TOML file with any of: listen, metrics_listen, log_format, store, store_file,
    /// master_key_file, any_credentials, allow_reset, ppk_version, rsa_pool_size, tls_cert,
    /// tls_key, last_used_flush_interval, and the limits (README): max_body_bytes,
    /// header_read_timeout,
    /// keep_alive_idle, body_read_timeout, min_body_rate, request_timeout, send_timeout,
    /// max_connections, max_in_flight.
    #[arg(long, env = "KEYPAIRD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Accept any access key without checking the signature; the access key ID names the
    /// account, created on first use. For test suites written against moto. Never in production.
    #[arg(long)]
    pub any_credentials: bool,

    /// Add POST /moto-api/reset, which empties the inventory (accounts stay).
    #[arg(long)]
    pub allow_reset: bool,

    /// PuTTY key file version for KeyFormat=ppk: 2 (read by every PuTTY and WinSCP) or 3.
    /// [default: 2]
    #[arg(long, value_name = "2|3")]
    pub ppk_version: Option<u8>,

    /// RSA keys generated ahead of time and kept in memory for fast CreateKeyPair; 0 disables.
    /// [default: 32]
    #[arg(long, value_name = "N")]
    pub rsa_pool_size: Option<usize>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key); reloaded on SIGHUP.
    #[arg(
        long,
        env = "KEYPAIRD_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "KEYPAIRD_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus) on this address of its own, rather than on the API
    /// port, which then answers 404 for it. [default: on the API port]
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// How log lines are written to stderr: text (key=value) or json (one object a line).
    /// [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// How often the access keys' last use, noted in memory, is written to the store, such
    /// as "15s" or "500ms". [default: 15s]
    #[arg(long, env = "KEYPAIRD_LAST_USED_FLUSH_INTERVAL", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub last_used_flush_interval: Option<std::time::Duration>,

    /// Record reads (DescribeKeyPairs, DescribeTags, ListTagResources) in the audit trail too,
    /// as CloudTrail's read-only management events. [default: changes only]
    #[arg(long, env = "KEYPAIRD_AUDIT_READS")]
    pub audit_reads: bool,

    /// Serve no web console under /console/ (its paths then answer as API requests do).
    /// [default: the console is served]
    #[arg(long, env = "KEYPAIRD_NO_CONSOLE")]
    pub no_console: bool,

    /// How long audit events are kept, such as "90d", "12h" or "30s"; older ones are deleted
    /// by the background upkeep. [default: 90d, CloudTrail's event history]
    #[arg(long, env = "KEYPAIRD_AUDIT_RETENTION", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub audit_retention: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account with one access key and print its credentials.
    Create(CreateAccountArgs),
    /// List accounts and their access key IDs (never secrets).
    List(ListAccountsArgs),
    /// Delete an account and its access keys; refused while it holds key pairs, unless --force.
    Delete(DeleteAccountArgs),
    /// Set how many key pairs the account may hold per region and dialect.
    SetQuota(SetQuotaArgs),
}

#[derive(Debug, Args)]
pub struct DeleteAccountArgs {
    pub name: String,

    /// Delete the account's key pairs too.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct SetQuotaArgs {
    pub name: String,

    /// Key pairs allowed per region and dialect (at least 1).
    pub quota: u32,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub enum AccessKeysCommand {
    /// Add an access key to the account and print its credentials (the secret only now).
    Create(CreateAccessKeyArgs),
    /// List the account's access keys: ID, status, read-only, created, last used (never secrets).
    List(AccessKeysListArgs),
    /// Refuse the key from now on (it can be enabled again).
    Disable(AccessKeyArgs),
    /// Accept a disabled key again.
    Enable(AccessKeyArgs),
    /// Delete the key for good.
    Delete(AccessKeyArgs),
}

/// `--access-key-id` with `--secret-access-key`, or neither for generated ones.
#[derive(Debug, Args)]
pub struct ChosenAccessKey {
    /// Use this access key ID (3 to 128 characters of A-Z, a-z, 0-9) instead of a generated one.
    #[arg(long, value_name = "ID", requires = "secret_access_key")]
    pub access_key_id: Option<String>,

    /// The secret for --access-key-id.
    #[arg(long, value_name = "SECRET", requires = "access_key_id")]
    pub secret_access_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateAccessKeyArgs {
    /// The account's name.
    #[arg(long, value_name = "NAME")]
    pub account: String,

    #[command(flatten)]
    pub key: ChosenAccessKey,

    /// The key may call reads only (Describe*, List*).
    #[arg(long)]
    pub read_only: bool,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct AccessKeysListArgs {
    #[arg(long, value_name = "NAME")]
    pub account: String,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct AccessKeyArgs {
    /// The access key ID.
    pub access_key_id: String,

    #[arg(long, value_name = "NAME")]
    pub account: String,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct CreateAccountArgs {
    /// The account's name, unique in the store.
    pub name: String,

    #[command(flatten)]
    pub key: ChosenAccessKey,

    /// Key pairs allowed per region and dialect for this account, instead of each cloud's
    /// default (5000 for AWS).
    #[arg(long, value_name = "N")]
    pub key_pair_quota: Option<u32>,

    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ListAccountsArgs {
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct RotateMasterKeyArgs {
    #[command(flatten)]
    pub store: StoreArg,
}
