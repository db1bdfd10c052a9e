//! Store URLs name the backend and where it lives. SQLite is the embedded default; PostgreSQL
//! is planned and refused with a clear message until it lands.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use keypaird_inventory::Store;
use keypaird_store::SqliteStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
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
            bail!("PostgreSQL stores are not supported yet: this version of keypaird stores its inventory in SQLite (use --store sqlite://PATH)");
        }
        bail!("unsupported store URL '{url}': use sqlite://PATH (for example sqlite://./keypaird-data/keypaird.db)")
    }

    pub fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            StoreUrl::Sqlite(path) => {
                let store = SqliteStore::open(path).with_context(|| {
                    format!("cannot open the SQLite store at {}", path.display())
                })?;
                Ok(Arc::new(store))
            }
        }
    }
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
    fn refuses_others_in_plain_words() {
        let pg = StoreUrl::parse("postgres://u@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            pg.contains("PostgreSQL stores are not supported yet"),
            "{pg}"
        );
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert!(StoreUrl::parse("sqlite://").is_err());
    }
}
