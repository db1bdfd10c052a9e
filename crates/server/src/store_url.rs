//! Store URLs name the backend and where it lives: SQLite (the embedded default, one file) or
//! PostgreSQL (one database shared by several nodes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use keypaird_inventory::Store;
use keypaird_store::{
    GroupCommitObserver, MasterKeyFile, MigrationReport, PostgresStore, RotationReport, SqliteStore,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// The URL as given, passed to the PostgreSQL backend (which reads `schema`, `sslmode`,
    /// `sslrootcert` and `pool_size` itself).
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> anyhow::Result<StoreUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("the store URL '{url}' has no file path: use sqlite://./dir/keypaird.db or sqlite:///abs/path/keypaird.db");
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PostgresStore::check_url(url)
                .with_context(|| format!("unusable store URL '{}'", redact(url)))?;
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        bail!(
            "unsupported store URL '{}': use sqlite://PATH (for example sqlite://./keypaird-data/keypaird.db) or postgres://USER@HOST:PORT/DB",
            redact(url)
        )
    }

    /// The master key file: the one configured, else beside a SQLite file. PostgreSQL has no
    /// default: every node must open the schema with the same key, so the operator names it.
    pub fn key_file(&self, configured: Option<&Path>) -> anyhow::Result<MasterKeyFile> {
        match (configured, self) {
            (Some(path), _) => Ok(MasterKeyFile::new(path)),
            (None, StoreUrl::Sqlite(path)) => Ok(MasterKeyFile::beside(path)),
            (None, StoreUrl::Postgres(_)) => bail!(
                "a PostgreSQL store needs a master key file, the same on every node: pass \
                 --master-key-file FILE (or set KEYPAIRD_MASTER_KEY_FILE, or master_key_file in \
                 the config file); it is made on first start if it does not exist"
            ),
        }
    }

    /// Opens the store, bringing its schema up to date and unlocking it with the key in
    /// `key_file`. For PostgreSQL this connects, and fails within seconds when the server
    /// cannot be reached.
    pub async fn open(&self, key_file: &MasterKeyFile) -> anyhow::Result<Arc<dyn Store>> {
        self.open_observed(key_file, None).await
    }

    /// [`StoreUrl::open`], with `observer` told the size of each group commit (SQLite only:
    /// PostgreSQL commits each write on its own).
    pub async fn open_observed(
        &self,
        key_file: &MasterKeyFile,
        observer: Option<GroupCommitObserver>,
    ) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            StoreUrl::Sqlite(path) => {
                let store =
                    SqliteStore::open_observed(path, key_file, observer).with_context(|| {
                        format!("cannot open the SQLite store at {}", path.display())
                    })?;
                Ok(Arc::new(store))
            }
            StoreUrl::Postgres(url) => {
                let store = PostgresStore::connect(url, key_file)
                    .await
                    .with_context(|| {
                        format!("cannot open the PostgreSQL store at {}", redact(url))
                    })?;
                Ok(Arc::new(store))
            }
        }
    }

    /// Creates or upgrades the schema (sealing what older builds stored in clear) without
    /// opening a store for use.
    pub async fn migrate(&self, key_file: &MasterKeyFile) -> anyhow::Result<MigrationReport> {
        match self {
            StoreUrl::Sqlite(path) => SqliteStore::migrate(path, key_file)
                .with_context(|| format!("cannot migrate the SQLite store at {}", path.display())),
            StoreUrl::Postgres(url) => PostgresStore::migrate(url, key_file)
                .await
                .with_context(|| format!("cannot migrate the PostgreSQL store at {}", redact(url))),
        }
    }

    /// Seals every secret under a new master key and replaces `key_file`.
    pub async fn rotate_master_key(
        &self,
        key_file: &MasterKeyFile,
    ) -> anyhow::Result<RotationReport> {
        match self {
            StoreUrl::Sqlite(path) => {
                SqliteStore::rotate_master_key(path, key_file).with_context(|| {
                    format!(
                        "cannot rotate the master key of the SQLite store at {}",
                        path.display()
                    )
                })
            }
            StoreUrl::Postgres(url) => PostgresStore::rotate_master_key(url, key_file)
                .await
                .with_context(|| {
                    format!(
                        "cannot rotate the master key of the PostgreSQL store at {}",
                        redact(url)
                    )
                }),
        }
    }
}

/// The URL with any password replaced by `<redacted>`, for banners, logs, errors and `config check`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:<redacted>@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let mut redacted = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=<redacted>")
                }
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_paths() {
        assert_eq!(
            StoreUrl::parse("sqlite://./keypaird-data/keypaird.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("./keypaird-data/keypaird.db"))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///abs/k.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/abs/k.db"))
        );
    }

    #[test]
    fn parses_postgres_urls() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u:secret@h:6543/db?schema=tenant_a&sslmode=disable",
            "postgres://u@h/db?sslmode=verify-full",
        ] {
            assert_eq!(
                StoreUrl::parse(url).unwrap(),
                StoreUrl::Postgres(url.to_owned())
            );
        }
    }

    #[test]
    fn refuses_others_in_plain_words() {
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert!(StoreUrl::parse("sqlite://").is_err());
        let bad = StoreUrl::parse("postgres://u:secret@h/db?schema=Bad-Name").unwrap_err();
        let message = format!("{bad:#}");
        assert!(
            message.contains("schema must be a lowercase identifier"),
            "{message}"
        );
        assert!(!message.contains("secret"), "{message}");
        let unknown = format!(
            "{:#}",
            StoreUrl::parse("postgres://u@h/db?bogus=1").unwrap_err()
        );
        assert!(unknown.contains("bogus"), "{unknown}");
        let missing_ca = format!(
            "{:#}",
            StoreUrl::parse("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent/ca.pem")
                .unwrap_err()
        );
        assert!(missing_ca.contains("/nonexistent/ca.pem"), "{missing_ca}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:s3cret@h:5432/db?schema=x"),
            "postgres://u:<redacted>@h:5432/db?schema=x"
        );
        assert_eq!(
            redact("postgresql://h/db?user=u&password=s3cret&sslmode=require"),
            "postgresql://h/db?user=u&password=<redacted>&sslmode=require"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("sqlite://./keypaird-data/keypaird.db"),
            "sqlite://./keypaird-data/keypaird.db"
        );
    }

    #[test]
    fn key_file_defaults_beside_sqlite_and_is_required_for_postgres() {
        let sqlite = StoreUrl::parse("sqlite:///srv/k/keypaird.db").unwrap();
        assert_eq!(
            sqlite.key_file(None).unwrap(),
            MasterKeyFile::new("/srv/k/keypaird.db.master-key")
        );
        assert_eq!(
            sqlite.key_file(Some(Path::new("/etc/k.key"))).unwrap(),
            MasterKeyFile::new("/etc/k.key")
        );
        let postgres = StoreUrl::parse("postgres://u@h/db").unwrap();
        assert_eq!(
            postgres.key_file(Some(Path::new("/etc/k.key"))).unwrap(),
            MasterKeyFile::new("/etc/k.key")
        );
        assert_eq!(
            postgres.key_file(None).unwrap_err().to_string(),
            "a PostgreSQL store needs a master key file, the same on every node: pass \
             --master-key-file FILE (or set KEYPAIRD_MASTER_KEY_FILE, or master_key_file in the \
             config file); it is made on first start if it does not exist"
        );
    }

    #[tokio::test]
    async fn unreachable_postgres_fails_fast_with_a_clear_error() {
        let started = std::time::Instant::now();
        let err = StoreUrl::parse("postgres://postgres:pw@127.0.0.1:1/test")
            .unwrap()
            .open(&MasterKeyFile::new("/nonexistent/never-read.master-key"))
            .await
            .err()
            .expect("nothing listens on port 1");
        let message = format!("{err:#}");
        assert!(message.contains("store unavailable"), "{message}");
        assert!(!message.contains(":pw@"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
