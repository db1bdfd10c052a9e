//! The shared conformance suite, plus what only a file-backed store has to get right: reopening,
//! migrations, several connections (standing in for several processes) on one file, locks held
//! too long, and rows this build cannot read.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keypaird_inventory::{
    KeyPair, KeyPairQuery, KeyType, NewAccount, NotReady, NotReadyCause, Provider, Scope, Store,
    StoreError, Tag,
};
use rusqlite::Connection;
use time::OffsetDateTime;

use super::{migrations, SqliteStore};
use crate::MasterKeyFile;

/// Opens `path` with the default key file beside it, as `keypaird serve` does.
fn open(path: &Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(path, &MasterKeyFile::beside(path))
}

fn migrate(path: &Path) -> Result<crate::MigrationReport, StoreError> {
    SqliteStore::migrate(path, &MasterKeyFile::beside(path))
}

async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("keypaird.db")).expect("open");
    (Arc::new(store), dir)
}

mod conformance {
    use super::fresh_store;

    crate::store_conformance_tests!(fresh_store);
}

/// The same suite with the writer moving every audit event out of `audit_recent` after each
/// group commit, so that lookups read the moved events (the suite above reads recent ones).
mod conformance_with_events_moved {
    use super::*;

    async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keypaird.db");
        let store =
            SqliteStore::open_moving_events_at(&path, &MasterKeyFile::beside(&path), None, 1)
                .expect("open");
        (Arc::new(store), dir)
    }

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
        let store = open(&path).expect("open");
        store
            .create_account(account(), &crate::conformance::audit())
            .await
            .expect("account");
        store
            .insert_key_pair(&kp, 10, &crate::conformance::audit())
            .await
            .expect("insert");
    }
    let expected_versions: Vec<i64> = (1..=migrations::latest_version()).collect();
    assert_eq!(applied_versions(&path), expected_versions);

    for _ in 0..2 {
        let store = open(&path).expect("reopen");
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
            store
                .insert_key_pair(&kp, 10, &crate::conformance::audit())
                .await,
            Err(StoreError::DuplicateKeyPair)
        );
        assert_eq!(applied_versions(&path), expected_versions);
    }
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a").join("b").join("keypaird.db");
    let store = open(&path).expect("open");
    store.check_ready().await.expect("ready");
    assert_eq!(store.path(), path);
    assert!(path.exists());
}

#[tokio::test]
async fn connections_are_durable_and_enforce_foreign_keys() {
    let (store, _dir) = {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(&dir.path().join("keypaird.db")).expect("open");
        (store, dir)
    };
    let (journal_mode, synchronous, foreign_keys, orphan_key_refused) = store
        .write(|writer| {
            let journal_mode: String =
                writer.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
            let synchronous: i64 =
                writer.pragma_query_value(None, "synchronous", |row| row.get(0))?;
            let foreign_keys: bool =
                writer.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
            let page_size: i64 = writer.pragma_query_value(None, "page_size", |row| row.get(0))?;
            assert_eq!(page_size, super::PAGE_SIZE, "a new file's page size");
            let orphan_key = writer.execute(
                "INSERT INTO access_keys (access_key_id, account_id, secret, created_at_ms) \
                 VALUES ('AKIAORPHAN', 'no-such-account', NULL, 0)",
                [],
            );
            Ok((journal_mode, synchronous, foreign_keys, orphan_key.is_err()))
        })
        .await
        .expect("writer settings");
    assert_eq!(journal_mode, "wal");
    assert_eq!(synchronous, 2, "FULL");
    assert!(foreign_keys);
    assert!(orphan_key_refused, "an access key needs its account");
}

/// Two stores on one file behave like the daemon and the CLI in two processes: separate
/// connections and separate in-process locks, so only SQLite's own locking keeps the quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_sharing_a_file_never_exceed_the_quota() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let stores: Vec<Arc<SqliteStore>> = (0..2)
        .map(|_| Arc::new(open(&path).expect("open")))
        .collect();
    let attempts: Vec<_> = (0..40u64)
        .map(|n| {
            let store = stores[n as usize % 2].clone();
            tokio::spawn(async move {
                store
                    .insert_key_pair(
                        &key_pair(n, &format!("k{n}")),
                        25,
                        &crate::conformance::audit(),
                    )
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
        .map(|_| Arc::new(open(&path).expect("open")))
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
            std::thread::spawn(move || open(&path).map(|_| ()))
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
    drop(open(&path).expect("open"));
    Connection::open(&path)
        .expect("raw open")
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
            [migrations::latest_version() + 1],
        )
        .expect("pretend a newer build ran");
    let err = open(&path).expect_err("must refuse");
    assert!(
        matches!(err, StoreError::Internal(ref m) if m.contains("newer")),
        "{err:?}"
    );
}

/// An audit row this build did not write (an unknown dialect, resources that are not its
/// JSON or of a kind it does not know) is reported as a corrupt store, never a panic.
#[tokio::test]
async fn unreadable_audit_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    let conn = Connection::open(&path).expect("raw open");
    let all = keypaird_inventory::AuditQuery::new(
        keypaird_inventory::AuditScope::All,
        OffsetDateTime::UNIX_EPOCH,
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(100 * 365 * 86_400),
        10,
    );
    // A damaged row is reported whether the writer has moved it out of the recent events yet
    // or not.
    for table in ["audit_recent", "audit_events"] {
        for damage in [
            "SET source = 'smoke-signals'",
            "SET resources = 'not json'",
            r#"SET resources = '[{"kind": "volume"}]'"#,
        ] {
            conn.execute_batch("DELETE FROM audit_events; DELETE FROM audit_recent")
                .expect("empty");
            store
                .record_audit_events(&crate::conformance::audit_events_naming_many(1, 1))
                .await
                .expect("record");
            if table == "audit_events" {
                super::audit::move_recent(&conn).expect("move");
            }
            let damage = format!("UPDATE {table} {damage}");
            assert_eq!(conn.execute(&damage, []).expect(&damage), 1, "{damage}");
            match store.find_audit_events(&all).await {
                Err(StoreError::Internal(_)) => {}
                other => panic!("{damage}: expected a corrupt-store error, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn unreadable_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    store
        .insert_key_pair(&key_pair(1, "odd"), 10, &crate::conformance::audit())
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

/// A fresh store, and another connection to its file holding the write lock (as another
/// process would); the lock is released when the connection is dropped or rolls back.
fn store_with_write_lock_held() -> (tempfile::TempDir, SqliteStore, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    let holder = Connection::open(&path).expect("raw open");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    (dir, store, holder)
}

/// A lock another process holds longer than the busy timeout is a transient outage, not a bug.
#[tokio::test]
async fn a_lock_held_past_the_timeout_is_unavailable() {
    let (_dir, store, holder) = store_with_write_lock_held();

    let err = store
        .insert_key_pair(&key_pair(1, "blocked"), 10, &crate::conformance::audit())
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
        .insert_key_pair(&key_pair(1, "blocked"), 10, &crate::conformance::audit())
        .await
        .expect("insert once the lock is free");
}

/// Ids are random and unique everywhere; a collision is a bug upstream, not a duplicate name.
#[tokio::test]
async fn a_reused_key_pair_id_is_not_a_duplicate_name() {
    let (store, _dir) = fresh_store().await;
    store
        .insert_key_pair(&key_pair(1, "first"), 10, &crate::conformance::audit())
        .await
        .expect("insert");
    let err = store
        .insert_key_pair(&key_pair(1, "second"), 10, &crate::conformance::audit())
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

#[tokio::test]
async fn the_observer_is_told_every_group_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = batches.clone();
    let observer: crate::GroupCommitObserver =
        Arc::new(move |writes| seen.lock().unwrap().push(writes));
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_observed(&path, &MasterKeyFile::beside(&path), Some(observer))
            .expect("open"),
    );
    let inserts = (0..20).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .insert_key_pair(
                    &key_pair(n, &format!("kp-{n}")),
                    100,
                    &crate::conformance::audit(),
                )
                .await
        })
    });
    for insert in inserts {
        insert.await.expect("task").expect("insert");
    }
    let batches = batches.lock().unwrap().clone();
    assert!(batches.iter().all(|&writes| writes >= 1), "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 20, "{batches:?}");
}

#[test]
fn migrate_applies_once_and_reports_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub").join("keypaird.db");
    let every_version: Vec<i64> = (1..=migrations::latest_version()).collect();
    let first = migrate(&path).expect("migrate");
    assert_eq!(first.applied, every_version);
    assert_eq!(first.version, migrations::latest_version());
    let again = migrate(&path).expect("migrate again");
    assert!(again.applied.is_empty());
    assert_eq!(applied_versions(&path), every_version);
    open(&path).expect("open after migrate");
}

/// A reader on a fresh, migrated file, configured as the store's own readers are (plans may
/// depend on the connection's settings). Keep the directory alive as long as the connection.
fn fresh_reader() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    drop(open(&path).expect("open"));
    let conn = super::open_reader(&path).expect("reader");
    (dir, conn)
}

/// The SQLite statement of a key pair query that can match.
fn select_sqlite(query: &KeyPairQuery) -> crate::sql::Statement {
    crate::sql::select_key_pairs(
        crate::sql::Flavor::Sqlite,
        query,
        super::rows::KEY_PAIR_COLUMNS,
        "",
    )
    .expect("a query that can match")
}

/// SQLite keeps no statistics unless someone runs ANALYZE, so its plans are the ones a store of
/// any size gets. Each case must be served by its index, never by a walk of the scope (see
/// `plan_cases.rs`).
#[test]
fn every_query_path_is_served_by_its_index() {
    use crate::plan_cases::cases;
    use crate::sql::Flavor;

    let (_dir, conn) = fresh_reader();
    let scope_only = "(account_id=? AND provider=? AND region=?)";
    for case in cases(Flavor::Sqlite, &scope(), &select_sqlite) {
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
        let names: Vec<&str> = case
            .indexes
            .iter()
            .map(|i| i.name(Flavor::Sqlite))
            .collect();
        assert!(
            plan.iter().any(|line| names
                .iter()
                .any(|index| line.contains(&format!("{index} (")))),
            "{}: not served by {names:?}:\n{shown}",
            case.what
        );
        for line in &plan {
            // A scan of a table (not of a subquery's few rows or of a bound list).
            let table_scan = line
                .strip_prefix("SCAN ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|scanned| ["k", "d", "t", "n"].contains(&scanned));
            let scope_walk = line.ends_with(scope_only) && !case.walks_scope_in_order();
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
    // The tags of each streamed chunk: one range of the tag table per key pair.
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::key_pairs::TAGS_OF_CHUNK
        ))
        .expect("plan")
        .query_map(
            rusqlite::params![
                "111111111111",
                "aws",
                "us-east-1",
                super::key_pairs::text_array(&["key-1".to_owned()])
            ],
            |row| row.get(3),
        )
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan rows");
    let shown = plan.join("\n");
    assert!(
        shown.contains(
            "USING PRIMARY KEY (account_id=? AND provider=? AND region=? AND key_pair_id=?)"
        ),
        "tags of a chunk:\n{shown}"
    );
}

/// Every audit trail query shape and the purge statements are served by their index: no scan
/// of either audit table, and no sort, since each is a page (or a batch) read in index order.
#[test]
fn every_audit_query_is_served_by_its_index() {
    use crate::plan_cases::audit_cases;
    use crate::sql::Flavor;

    let (_dir, conn) = fresh_reader();
    for case in audit_cases(Flavor::Sqlite) {
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
        for index in &case.indexes {
            let names = index.names(Flavor::Sqlite);
            assert!(
                plan.iter()
                    .any(|line| names.iter().any(|name| line.contains(&format!("{name} (")))),
                "{}: not served by {names:?}:\n{shown}",
                case.what
            );
        }
        for line in &plan {
            let table_scan = line
                .strip_prefix("SCAN ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|scanned| {
                    ["e", "r", "audit_events", "audit_resources"].contains(&scanned)
                });
            assert!(!table_scan, "{}: scans a table:\n{shown}", case.what);
            assert!(
                !line.contains("TEMP B-TREE"),
                "{}: sorts instead of reading in order:\n{shown}",
                case.what
            );
        }
        eprintln!("{}:\n{shown}\n", case.what);
    }
}

/// Pages run across the moved events and the recent ones as one trail: every event once, in
/// order, by every lookup path; and a move leaves `audit_recent` empty, its events and lookup
/// rows in `audit_events` and `audit_resources`, and an event ID still recorded only once.
#[tokio::test]
async fn lookups_read_moved_and_recent_events_as_one_trail() {
    use keypaird_inventory::{AuditAttribute, AuditCursor, AuditQuery, AuditScope, AuditSource};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    let conn = Connection::open(&path).expect("raw connection");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect(sql) };
    let events = crate::conformance::audit_events_naming_many(10, 2);
    // Events 1, 3, 5, 7 and 9 are moved; the others wait, so the two tables interleave.
    let (odd, even): (Vec<_>, Vec<_>) = events.iter().cloned().partition(|e| {
        e.request_id
            .trim_start_matches("request-")
            .parse::<u64>()
            .expect("fixture request ID")
            % 2
            == 1
    });
    store.record_audit_events(&odd).await.expect("record");
    super::audit::move_recent(&conn).expect("move");
    assert_eq!(count("SELECT count(*) FROM audit_recent"), 0);
    assert_eq!(count("SELECT count(*) FROM audit_events"), 5);
    assert_eq!(count("SELECT count(*) FROM audit_resources"), 5 * 2 * 2);
    store.record_audit_events(&even).await.expect("record");
    assert_eq!(count("SELECT count(*) FROM audit_recent"), 5);
    // An ID already moved is refused, as one still waiting is.
    assert!(store.record_audit_events(&odd[..1]).await.is_err());
    assert!(store.record_audit_events(&even[..1]).await.is_err());

    let api = AuditScope::Api {
        account_id: events[0].account_id.clone(),
        source: AuditSource::Ec2,
        region: events[0].region.clone(),
    };
    let since = OffsetDateTime::UNIX_EPOCH;
    let until = since + Duration::from_secs(100 * 365 * 86_400);
    for oldest_first in [false, true] {
        let mut expected: Vec<String> = events.iter().map(|e| e.request_id.clone()).collect();
        if !oldest_first {
            expected.reverse();
        }
        for scope in [api.clone(), AuditScope::All] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let query = AuditQuery {
                    after: after.clone(),
                    oldest_first,
                    ..AuditQuery::new(scope.clone(), since, until, 3)
                };
                let page = store.find_audit_events(&query).await.expect("page");
                assert!(page.len() <= 3);
                seen.extend(page.iter().map(|e| e.request_id.clone()));
                match page.last() {
                    Some(last) if page.len() == 3 => {
                        after = Some(AuditCursor {
                            time: last.time,
                            event_id: last.event_id.clone(),
                        })
                    }
                    _ => break,
                }
            }
            assert_eq!(seen, expected, "{scope:?}, oldest first: {oldest_first}");
        }
    }
    for event in [&events[2], &events[3]] {
        for attribute in [
            AuditAttribute::ResourceName(event.resources[1].name.clone()),
            AuditAttribute::ResourceName(event.resources[0].id.clone()),
            AuditAttribute::EventId(event.event_id.clone()),
        ] {
            let query = AuditQuery {
                attribute: Some(attribute.clone()),
                ..AuditQuery::new(api.clone(), since, until, 50)
            };
            let found = store.find_audit_events(&query).await.expect("lookup");
            assert_eq!(found, vec![event.clone()], "{attribute:?}");
        }
    }
}

/// Purging an event takes every lookup row of it, however many resources it named, although
/// the upkeep stops at the first call that deletes fewer events than its limit.
#[tokio::test]
async fn purged_events_leave_no_lookup_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    store
        .record_audit_events(&crate::conformance::audit_events_naming_many(5, 3))
        .await
        .expect("record");
    crate::conformance::purge_as_the_upkeep_does(&store, 4, 2).await;
    let conn = Connection::open(&path).expect("raw connection");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect(sql) };
    assert_eq!(count("SELECT count(*) FROM audit_events"), 2);
    assert_eq!(count("SELECT count(*) FROM audit_resources"), 2 * 3 * 2);
    assert_eq!(
        count(
            "SELECT count(*) FROM audit_resources r WHERE NOT EXISTS \
             (SELECT 1 FROM audit_events e WHERE e.event_id = r.event_id)"
        ),
        0
    );
}

/// The access-key and account statements search an index; none scans a table (an account's
/// keys in creation order come from their index, unsorted).
#[test]
fn access_key_statements_search_their_index() {
    let (_dir, conn) = fresh_reader();
    for sql in super::accounts::PLANNED {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        let params = std::iter::repeat_n("x", stmt.parameter_count());
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
            .expect("plan rows")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        let shown = plan.join("\n");
        assert!(
            !plan.is_empty() && plan.iter().all(|line| line.starts_with("SEARCH ")),
            "{sql}:\n{shown}"
        );
        assert!(!shown.contains("TEMP B-TREE"), "{sql}: sorts:\n{shown}");
    }
}

/// A file written before migration 3 (schema version 2: a rowid key pair table, tags without
/// their scope, no counters) keeps every key pair, tag, tag order and count through it, and the
/// triggers it adds keep them afterwards.
#[tokio::test]
async fn migration_3_keeps_key_pairs_tags_and_counts() {
    use keypaird_inventory::{AnyOf, KeyPairFilter, KeyPairRef, TagFilter, TagMatch, TagQuery};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    {
        let mut conn = super::open_connection(&path).expect("open");
        assert_eq!(
            migrations::migrate_to(&mut conn, 2).expect("version 2"),
            vec![1, 2]
        );
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('111111111111', 'default', NULL, 0);
             INSERT INTO key_pairs (id, account_id, provider, region, name, key_type,
                                    fingerprint, public_key, created_at_ms, resource_group_id)
             VALUES ('key-00000000000000001', '111111111111', 'aws', 'us-east-1', 'first',
                     'rsa', 'aa:bb', 'ssh-rsa AAAA', 1700000000000, ''),
                    ('key-00000000000000002', '111111111111', 'aws', 'us-east-1', 'second',
                     'ed25519', 'cc', 'ssh-ed25519 AAAA', 1700000000001, 'rg-1'),
                    ('ssh-abc', '111111111111', 'aliyun', 'cn-hangzhou', 'third',
                     'rsa', 'dd', 'ssh-rsa BBBB', 1700000000002, '');
             INSERT INTO key_pair_tags (key_pair_id, position, key, value)
             VALUES ('key-00000000000000001', 0, 'b', '2'),
                    ('key-00000000000000001', 1, 'a', '1'),
                    ('ssh-abc', 0, 'env', 'prod');",
        )
        .expect("rows as version 2 wrote them");
    }
    let store = open(&path).expect("migrate to 3");
    let latest: Vec<i64> = (1..=migrations::latest_version()).collect();
    assert_eq!(applied_versions(&path), latest);

    let aws = scope();
    let aliyun = Scope {
        account_id: "111111111111".into(),
        provider: Provider::Aliyun,
        region: "cn-hangzhou".into(),
    };
    let find = |query: KeyPairQuery| {
        let store = &store;
        async move {
            let page = store.find_key_pairs(&query).await.expect("find");
            page.key_pairs
                .into_iter()
                .map(|kp| (kp.name, kp.tags))
                .collect::<Vec<_>>()
        }
    };
    let tag = |key: &str, value: &str| Tag {
        key: key.into(),
        value: value.into(),
    };
    assert_eq!(
        find(KeyPairQuery::all(aws.clone())).await,
        vec![
            ("second".to_owned(), vec![]),
            ("first".to_owned(), vec![tag("b", "2"), tag("a", "1")])
        ]
    );
    let by_fingerprint =
        KeyPairQuery::all(aws.clone()).with(KeyPairFilter::Fingerprint(AnyOf::exactly(["aa:bb"])));
    assert_eq!(find(by_fingerprint).await.len(), 1);
    let by_tag = KeyPairQuery::all(aliyun.clone()).with(KeyPairFilter::Tag(TagMatch {
        key: "env".into(),
        value: Some(AnyOf::exactly(["prod"])),
    }));
    assert_eq!(
        find(by_tag).await,
        vec![("third".to_owned(), vec![tag("env", "prod")])]
    );
    let counted = |scope: Scope| {
        let store = &store;
        async move {
            store
                .count_key_pairs(&KeyPairQuery::all(scope))
                .await
                .expect("counter")
        }
    };
    assert_eq!(
        (counted(aws.clone()).await, counted(aliyun.clone()).await),
        (2, 1)
    );
    // The migrated counter is what the quota reads.
    assert_eq!(
        store
            .insert_key_pair(&key_pair(3, "third"), 2, &crate::conformance::audit())
            .await,
        Err(StoreError::QuotaExceeded { quota: 2 })
    );
    // Deleting a migrated key pair takes its tags and its count (the new triggers).
    store
        .delete_key_pair(
            &aws,
            &KeyPairRef::Name("first".into()),
            &crate::conformance::audit(),
        )
        .await
        .expect("delete")
        .expect("it existed");
    assert_eq!(counted(aws.clone()).await, 1);
    let left = store
        .find_tags(
            &TagQuery::all(aws.clone()).with(TagFilter::KeyPairName(AnyOf::exactly(["first"]))),
        )
        .await
        .expect("tags");
    assert!(left.is_empty(), "{left:?}");
    let mut all_tags = store.find_tags(&TagQuery::all(aliyun)).await.expect("tags");
    assert_eq!(all_tags.len(), 1);
    assert_eq!(
        all_tags.pop().map(|row| row.key_pair_name),
        Some("third".into())
    );
}

/// A kept statement must run again without being parsed and planned again: SQLite re-prepares
/// one whose plan looked at a bound value each time it is bound anew, unless the connection
/// asks for plans that never depend on values (see `configure`). Every query path, and the
/// fixed statements of the read path, run three times on one reader with fresh values.
#[test]
fn kept_statements_are_never_prepared_again() {
    use crate::plan_cases::cases;
    use crate::sql::Flavor;
    use rusqlite::StatementStatus;

    let (_dir, conn) = fresh_reader();
    let mut statements: Vec<(String, crate::sql::Statement)> =
        cases(Flavor::Sqlite, &scope(), &select_sqlite)
            .into_iter()
            .map(|case| (case.what.to_owned(), case.statement))
            .collect();
    statements.push((
        "the tags of a chunk".to_owned(),
        crate::sql::Statement {
            sql: super::key_pairs::TAGS_OF_CHUNK.to_owned(),
            params: vec![
                crate::sql::Param::Text("111111111111".into()),
                crate::sql::Param::Text("aws".into()),
                crate::sql::Param::Text("us-east-1".into()),
                crate::sql::Param::Texts(vec!["key-1".into()]),
            ],
        },
    ));
    statements.extend(
        crate::plan_cases::audit_cases(Flavor::Sqlite)
            .into_iter()
            .filter(|case| case.statement.sql.starts_with("SELECT"))
            .map(|case| (case.what, case.statement)),
    );
    for (what, statement) in &statements {
        for round in 0..3 {
            let mut stmt = conn
                .prepare_cached(&statement.sql)
                .unwrap_or_else(|err| panic!("{what}: {err}"));
            // Fresh values each round, as each request brings.
            let params: Vec<crate::sql::Param> = statement
                .params
                .iter()
                .map(|param| match param {
                    crate::sql::Param::Text(text) => {
                        crate::sql::Param::Text(format!("{text}{round}"))
                    }
                    crate::sql::Param::Texts(texts) => crate::sql::Param::Texts(
                        texts.iter().map(|t| format!("{t}{round}")).collect(),
                    ),
                    crate::sql::Param::Int(n) => crate::sql::Param::Int(n + round),
                })
                .collect();
            super::key_pairs::bind(&mut stmt, &params).expect("bind");
            let mut rows = stmt.raw_query();
            while rows.next().expect("row").is_some() {}
            drop(rows);
            assert_eq!(
                stmt.get_status(StatementStatus::RePrepare),
                0,
                "{what}: prepared again in round {round}"
            );
        }
    }
}

// ---- readiness: a probe write that fails as the next write would ----

/// Waits out the interval a readiness outcome is kept for, so that the next check probes.
async fn past_the_kept_outcome() {
    tokio::time::sleep(crate::readiness::READY_CHECK_INTERVAL + Duration::from_millis(50)).await;
}

fn not_ready(cause: NotReadyCause, detail: &str) -> Result<(), NotReady> {
    Err(NotReady::new(cause, detail))
}

/// A writing connection that refuses writes (`query_only`, SQLite's own read-only switch, here
/// on the writer's connection) fails the probe with SQLITE_READONLY, as it fails every write.
/// (The switch cannot be turned back through the writer, whose every batch now fails to
/// begin; recovery is shown for a lock below, and for a full disk, for real on a small tmpfs,
/// in tests/integration/test_readiness.py.)
#[tokio::test]
async fn a_writer_that_refuses_writes_is_read_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("keypaird.db")).expect("open");
    assert_eq!(store.check_ready().await, Ok(()));

    store
        .write(|conn| Ok(conn.pragma_update(None, "query_only", true)?))
        .await
        .expect("refuse writes from now on");
    past_the_kept_outcome().await;
    assert_eq!(
        store.check_ready().await,
        not_ready(
            NotReadyCause::ReadOnly,
            "SQLite: attempt to write a readonly database"
        )
    );
    assert_eq!(
        store
            .insert_key_pair(&key_pair(1, "refused"), 10, &crate::conformance::audit())
            .await,
        Err(StoreError::Internal(
            "attempt to write a readonly database".into()
        ))
    );
}

/// Another process holding the write lock past the busy timeout: the probe waits for it like
/// any write, then reports the lock.
#[tokio::test]
async fn a_lock_held_past_the_timeout_is_not_ready() {
    let (_dir, store, holder) = store_with_write_lock_held();

    let started = std::time::Instant::now();
    let outcome = store.check_ready().await;
    let waited = started.elapsed();
    assert_eq!(
        outcome,
        not_ready(NotReadyCause::Locked, "SQLite: database is locked")
    );
    assert!(
        (super::BUSY_TIMEOUT..super::BUSY_TIMEOUT + Duration::from_secs(2)).contains(&waited),
        "waited {waited:?}"
    );

    holder.execute_batch("ROLLBACK").expect("release");
    past_the_kept_outcome().await;
    assert_eq!(store.check_ready().await, Ok(()));
}

/// The probe rewrites its one row, and nothing else: probing leaves that row, with the time
/// of the last probe, and an inventory that is as it was.
#[tokio::test]
async fn probing_rewrites_one_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keypaird.db");
    let store = open(&path).expect("open");
    let probe_rows = || {
        let conn = Connection::open(&path).expect("raw open");
        let rows: Vec<(i64, i64)> = conn
            .prepare("SELECT id, checked_at_ms FROM readiness_probe")
            .expect("prepare")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    };
    assert_eq!(probe_rows(), vec![(1, 0)], "the row the migration wrote");

    let mut checked = Vec::new();
    for _ in 0..2 {
        let before = crate::millis::to_millis(OffsetDateTime::now_utc()).expect("now");
        store.check_ready().await.expect("ready");
        let after = crate::millis::to_millis(OffsetDateTime::now_utc()).expect("now");
        let rows = probe_rows();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, 1);
        assert!((before..=after).contains(&rows[0].1), "{rows:?}");
        checked.push(rows[0].1);
        past_the_kept_outcome().await;
    }
    assert!(checked[1] > checked[0], "{checked:?}");
    assert_eq!(
        store
            .find_key_pairs(&KeyPairQuery::all(scope()))
            .await
            .expect("find")
            .key_pairs,
        vec![]
    );
}

// ---- secrets at rest ----

/// One SQLite file for the sealing tests of the conformance suite.
struct SealingFile {
    dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl SealingFile {
    fn new() -> SealingFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keypaird.db");
        SealingFile { dir, path }
    }

    fn raw(&self) -> Connection {
        Connection::open(&self.path).expect("raw open")
    }
}

#[async_trait::async_trait]
impl crate::conformance::SealingHarness for SealingFile {
    async fn open(&self, key_file: &MasterKeyFile) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(SqliteStore::open(&self.path, key_file)?))
    }

    async fn rotate(&self, key_file: &MasterKeyFile) -> Result<crate::RotationReport, StoreError> {
        SqliteStore::rotate_master_key(&self.path, key_file)
    }

    async fn write_as_before_sealing(&self, accounts: &[NewAccount]) {
        let mut conn = super::open_connection(&self.path).expect("open");
        migrations::migrate_to(&mut conn, 3).expect("version 3");
        for account in accounts {
            conn.execute(
                "INSERT INTO accounts (id, name, key_pair_quota, created_at_ms) \
                 VALUES (?1, ?2, NULL, 0)",
                [&account.id, &account.name],
            )
            .expect("account as version 3 wrote it");
            conn.execute(
                "INSERT INTO access_keys (access_key_id, account_id, secret, created_at_ms) \
                 VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![
                    account.access_key_id,
                    account.id,
                    account.secret_access_key.as_deref()
                ],
            )
            .expect("access key as version 3 wrote it");
        }
    }

    async fn raw_access_keys(&self) -> Vec<(String, Option<String>, Option<Vec<u8>>)> {
        let conn = self.raw();
        let mut stmt = conn
            .prepare(
                "SELECT access_key_id, secret, sealed_secret FROM access_keys \
                 ORDER BY access_key_id",
            )
            .expect("prepare");
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    async fn set_sealed_secret(&self, access_key_id: &str, sealed: &[u8]) {
        let changed = self
            .raw()
            .execute(
                "UPDATE access_keys SET sealed_secret = ?2 WHERE access_key_id = ?1",
                rusqlite::params![access_key_id, sealed],
            )
            .expect("update");
        assert_eq!(changed, 1);
    }

    fn key_file(&self, name: &str) -> MasterKeyFile {
        MasterKeyFile::new(self.dir.path().join(name))
    }
}

async fn fresh_sealing_file() -> (SealingFile, ()) {
    (SealingFile::new(), ())
}

mod sealing {
    use super::fresh_sealing_file;

    crate::store_sealing_tests!(fresh_sealing_file);
}

/// Every byte of the database, its WAL and its shared-memory file.
fn raw_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("database file");
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(more) = std::fs::read(std::path::PathBuf::from(name)) {
            bytes.extend(more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Secrets an older build stored in clear are gone from every file once sealed: not in the
/// table's page (zeroed by `secure_delete`), not in the WAL that held the page as it was (the
/// checkpoint empties it), whether or not the store is still open.
#[tokio::test]
async fn sealed_plaintext_leaves_no_trace_in_the_files() {
    use crate::conformance::SealingHarness;

    let file = SealingFile::new();
    let secrets: Vec<String> = (0..20)
        .map(|n| format!("PlainSecret{n:02}wJalrXUtnFEMIK7MDENGbPxRfiCY"))
        .collect();
    let accounts: Vec<NewAccount> = secrets
        .iter()
        .enumerate()
        .map(|(n, secret)| NewAccount {
            id: format!("{n:012}"),
            name: format!("account-{n}"),
            key_pair_quota: None,
            access_key_id: format!("AKIDPLAIN{n:02}"),
            secret_access_key: Some(secret.as_str().into()),
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("instant"),
        })
        .collect();
    file.write_as_before_sealing(&accounts).await;
    let before = raw_bytes(&file.path);
    assert!(
        secrets.iter().all(|secret| contains(&before, secret)),
        "the older build's rows must be in the files for this test to mean anything"
    );

    let key_file = file.key_file("k.master-key");
    let store = SqliteStore::open(&file.path, &key_file).expect("open seals");
    for account in &accounts {
        let credential = store
            .find_credential(&account.access_key_id)
            .await
            .expect("find")
            .expect("exists");
        assert_eq!(
            credential.secret_access_key, account.secret_access_key,
            "{}",
            account.access_key_id
        );
    }
    let left_in = |bytes: Vec<u8>| -> Vec<String> {
        secrets
            .iter()
            .filter(|secret| contains(&bytes, secret))
            .cloned()
            .collect()
    };
    // While the store is open (the WAL still exists, as under a running server) and after.
    assert_eq!(left_in(raw_bytes(&file.path)), Vec::<String>::new());
    drop(store);
    assert_eq!(left_in(raw_bytes(&file.path)), Vec::<String>::new());
}
