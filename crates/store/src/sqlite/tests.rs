//! The shared conformance suite, plus what only a file-backed store has to get right: reopening,
//! migrations, several connections (standing in for several processes) on one file, locks held
//! too long, and rows this build cannot read.

use std::path::Path;
use std::sync::Arc;

use keypaird_inventory::{
    KeyPair, KeyPairQuery, KeyType, NewAccount, Provider, Scope, Store, StoreError, Tag,
};
use rusqlite::Connection;
use time::OffsetDateTime;

use super::{migrations, SqliteStore};

async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("keypaird.db")).expect("open");
    (Arc::new(store), dir)
}

mod conformance {
    use super::fresh_store;

    crate::store_conformance_tests!(fresh_store);
}

fn scope() -> Scope {
    Scope {
        account_id: "111111111111".into(),
        provider: Provider::Aws,
        region: "us-east-1".into(),
    }
}

fn key_pair(n: u64, name: &str) -> KeyPair {
    KeyPair {
        id: format!("key-{n:017x}"),
        scope: scope(),
        name: name.into(),
        key_type: KeyType::Rsa,
        fingerprint: "aa:bb".into(),
        public_key: "ssh-rsa AAAA".into(),
        created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("instant"),
        resource_group_id: String::new(),
        tags: vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
    }
}

fn account() -> NewAccount {
    NewAccount {
        id: "111111111111".into(),
        name: "default".into(),
        key_pair_quota: Some(3),
        access_key_id: "AKIADEFAULT".into(),
        secret_access_key: Some("secret".into()),
        created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("instant"),
    }
}

fn applied_versions(path: &Path) -> Vec<i64> {
    let conn = Connection::open(path).expect("raw open");
    migrations::applied_versions(&conn).expect("versions")
}

#[tokio::test]
async fn reopening_keeps_everything_and_migrates_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let kp = key_pair(1, "kept");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_account(account()).await.expect("account");
        store.insert_key_pair(&kp, 10).await.expect("insert");
    }
    let expected_versions: Vec<i64> = (1..=migrations::latest_version()).collect();
    assert_eq!(applied_versions(&path), expected_versions);

    for _ in 0..2 {
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(
            store
                .find_key_pairs(&KeyPairQuery::all(scope()))
                .await
                .map(|page| page.key_pairs),
            Ok(vec![kp.clone()])
        );
        let credential = store
            .find_credential("AKIADEFAULT")
            .await
            .expect("find")
            .expect("kept");
        assert_eq!(credential.account.key_pair_quota, Some(3));
        assert_eq!(
            store.insert_key_pair(&kp, 10).await,
            Err(StoreError::DuplicateKeyPair)
        );
        assert_eq!(applied_versions(&path), expected_versions);
    }
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a").join("b").join("keypaird.db");
    let store = SqliteStore::open(&path).expect("open");
    store.ping().await.expect("ping");
    assert_eq!(store.path(), path);
    assert!(path.exists());
}

#[tokio::test]
async fn connections_are_durable_and_enforce_foreign_keys() {
    let (store, _dir) = {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("keypaird.db")).expect("open");
        (store, dir)
    };
    let (journal_mode, synchronous, foreign_keys, orphan_tag_refused) = store
        .write(|writer| {
            let journal_mode: String =
                writer.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
            let synchronous: i64 =
                writer.pragma_query_value(None, "synchronous", |row| row.get(0))?;
            let foreign_keys: bool =
                writer.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
            let orphan_tag = writer.execute(
                "INSERT INTO key_pair_tags (key_pair_id, position, key, value) VALUES ('nope', 0, 'k', 'v')",
                [],
            );
            Ok((journal_mode, synchronous, foreign_keys, orphan_tag.is_err()))
        })
        .await
        .expect("writer settings");
    assert_eq!(journal_mode, "wal");
    assert_eq!(synchronous, 2, "FULL");
    assert!(foreign_keys);
    assert!(orphan_tag_refused, "a tag needs its key pair");
}

/// Two stores on one file behave like the daemon and the CLI in two processes: separate
/// connections and separate in-process locks, so only SQLite's own locking keeps the quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_sharing_a_file_never_exceed_the_quota() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let stores: Vec<Arc<SqliteStore>> = (0..2)
        .map(|_| Arc::new(SqliteStore::open(&path).expect("open")))
        .collect();
    let attempts: Vec<_> = (0..40u64)
        .map(|n| {
            let store = stores[n as usize % 2].clone();
            tokio::spawn(async move {
                store
                    .insert_key_pair(&key_pair(n, &format!("k{n}")), 25)
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::QuotaExceeded { quota: 25 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (25, 15));
    for store in &stores {
        let all = store
            .find_key_pairs(&KeyPairQuery::all(scope()))
            .await
            .expect("find")
            .key_pairs;
        assert_eq!(all.len(), 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_sharing_a_file_agree_on_any_key_accounts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let stores: Vec<Arc<SqliteStore>> = (0..2)
        .map(|_| Arc::new(SqliteStore::open(&path).expect("open")))
        .collect();
    let attempts: Vec<_> = (0..16)
        .map(|n| {
            let store = stores[n % 2].clone();
            tokio::spawn(async move {
                store
                    .credential_for_any_key("AKIASHARED", &format!("{n:012}"))
                    .await
            })
        })
        .collect();
    let mut account_ids = Vec::new();
    for attempt in attempts {
        account_ids.push(attempt.await.expect("task").expect("credential").account.id);
    }
    account_ids.dedup();
    assert_eq!(account_ids.len(), 1);
}

#[test]
fn concurrent_opens_of_a_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
        })
        .collect();
    for opener in openers {
        opener.join().expect("thread").expect("open");
    }
    let expected_versions: Vec<i64> = (1..=migrations::latest_version()).collect();
    assert_eq!(applied_versions(&path), expected_versions);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    drop(SqliteStore::open(&path).expect("open"));
    Connection::open(&path)
        .expect("raw open")
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
            [migrations::latest_version() + 1],
        )
        .expect("pretend a newer build ran");
    let err = SqliteStore::open(&path).expect_err("must refuse");
    assert!(
        matches!(err, StoreError::Internal(ref m) if m.contains("newer")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreadable_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = SqliteStore::open(&path).expect("open");
    store
        .insert_key_pair(&key_pair(1, "odd"), 10)
        .await
        .expect("insert");
    Connection::open(&path)
        .expect("raw open")
        .execute("UPDATE key_pairs SET key_type = 'rot13'", [])
        .expect("damage the row");
    let err = store
        .find_key_pairs(&KeyPairQuery::all(scope()))
        .await
        .expect_err("must not read");
    assert!(
        matches!(err, StoreError::Internal(ref m) if !m.contains("rot13")),
        "{err:?}"
    );
}

/// A lock another process holds longer than the busy timeout is a transient outage, not a bug.
#[tokio::test]
async fn a_lock_held_past_the_timeout_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = SqliteStore::open(&path).expect("open");
    let holder = Connection::open(&path).expect("raw open");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    let err = store
        .insert_key_pair(&key_pair(1, "blocked"), 10)
        .await
        .expect_err("lock is held");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // Reads still go through: WAL readers do not wait for writers.
    store
        .find_key_pairs(&KeyPairQuery::all(scope()))
        .await
        .expect("read while locked");

    holder.execute_batch("ROLLBACK").expect("release");
    store
        .insert_key_pair(&key_pair(1, "blocked"), 10)
        .await
        .expect("insert once the lock is free");
}

/// Ids are random and unique everywhere; a collision is a bug upstream, not a duplicate name.
#[tokio::test]
async fn a_reused_key_pair_id_is_not_a_duplicate_name() {
    let (store, _dir) = fresh_store().await;
    store
        .insert_key_pair(&key_pair(1, "first"), 10)
        .await
        .expect("insert");
    let err = store
        .insert_key_pair(&key_pair(1, "second"), 10)
        .await
        .expect_err("id is taken");
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    let names: Vec<String> = store
        .find_key_pairs(&KeyPairQuery::all(scope()))
        .await
        .expect("find")
        .key_pairs
        .into_iter()
        .map(|kp| kp.name)
        .collect();
    assert_eq!(names, vec!["first".to_owned()]);
}

#[test]
fn migrate_applies_once_and_reports_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub").join("keypaird.db");
    let every_version: Vec<i64> = (1..=migrations::latest_version()).collect();
    let first = SqliteStore::migrate(&path).expect("migrate");
    assert_eq!(first.applied, every_version);
    assert_eq!(first.version, migrations::latest_version());
    let again = SqliteStore::migrate(&path).expect("migrate again");
    assert!(again.applied.is_empty());
    assert_eq!(applied_versions(&path), every_version);
    SqliteStore::open(&path).expect("open after migrate");
}

/// SQLite keeps no statistics unless someone runs ANALYZE, so its plans are the ones a store of
/// any size gets. Each case must be served by its index, never by a walk of the scope (see
/// `plan_cases.rs`).
#[test]
fn every_query_path_is_served_by_its_index() {
    use crate::plan_cases::cases;
    use crate::sql::Flavor;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("connection");
    rusqlite::vtab::array::load_module(&conn).expect("rarray");
    let scope_only = "(account_id=? AND provider=? AND region=?)";
    let select = |query: &KeyPairQuery| {
        crate::sql::select_key_pairs(Flavor::Sqlite, query, super::rows::KEY_PAIR_COLUMNS, "")
            .expect("a query that can match")
    };
    for case in cases(Flavor::Sqlite, &scope(), &select) {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", case.statement.sql))
            .unwrap_or_else(|err| panic!("{}: {err}", case.what));
        super::key_pairs::bind(&mut stmt, &case.statement.params).expect("bind");
        let mut rows = stmt.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().expect("plan row") {
            plan.push(row.get::<_, String>(3).expect("detail"));
        }
        let shown = plan.join("\n");
        let index = case.index.name(Flavor::Sqlite);
        assert!(
            plan.iter()
                .any(|line| line.contains(&format!("INDEX {index} ("))),
            "{}: not served by {index}:\n{shown}",
            case.what
        );
        for line in &plan {
            let table_scan = line.starts_with("SCAN ") && !line.contains("VIRTUAL TABLE");
            let scope_walk = line.ends_with(scope_only) && !case.index.is_scope_order();
            assert!(
                !table_scan && !scope_walk,
                "{}: reads the whole scope:\n{shown}",
                case.what
            );
            if case.ordered {
                assert!(
                    !line.contains("TEMP B-TREE FOR ORDER BY"),
                    "{}: sorts instead of reading in order:\n{shown}",
                    case.what
                );
            }
        }
        eprintln!("{}:\n{shown}\n", case.what);
    }
    // The tags of each streamed chunk: by key pair, already in position order.
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::key_pairs::TAGS_OF_CHUNK
        ))
        .expect("plan")
        .query_map([super::key_pairs::text_array(&["key-1".to_owned()])], |row| {
            row.get(3)
        })
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan rows");
    let shown = plan.join("\n");
    assert!(
        shown.contains("USING INDEX sqlite_autoindex_key_pair_tags_2 (key_pair_id=?)")
            && !shown.contains("TEMP B-TREE"),
        "tags of a chunk:\n{shown}"
    );
}
