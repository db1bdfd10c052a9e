//! The shared conformance suite against PostgreSQL, plus what only a shared server has to get
//! right: two nodes (two pools) racing on one schema, migrations racing from several nodes
//! starting at once, a server that is unreachable, goes away, or stops answering, TLS, and rows
//! this build cannot read.
//!
//! These tests need a server, named by `KEYPAIRD_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Without it they pass after printing a notice,
//! unless `CI` or `KEYPAIRD_REQUIRE_POSTGRES` is set: then they fail, so that CI never skips
//! them silently. (The fail-fast tests against a closed port or a silent listener need no
//! server and always run.)
//!
//! Every test works in a schema of its own, `keypaird_test_<unix seconds>_<random>`, dropped
//! when the test ends, pass or fail. Schemas a killed run left behind are dropped by a later
//! run once they are an hour old, so runs sharing one database never see each other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keypaird_inventory::{
    KeyPair, KeyPairQuery, KeyPairRef, KeyType, NewAccount, NotReady, NotReadyCause, Provider,
    Scope, Store, StoreError, Tag,
};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::Settings;
use super::{migrations, PostgresStore, OPERATION_TIMEOUT, POOL_TIMEOUT};
use crate::MasterKeyFile;

const URL_VAR: &str = "KEYPAIRD_TEST_POSTGRES_URL";

/// Schemas older than this that a test run created are leftovers of a killed run.
const STALE_AFTER: Duration = Duration::from_secs(3600);

const SCHEMA_PREFIX: &str = "keypaird_test_";

// ---- fixtures ----

fn is_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The server to test against, or `None` (after a notice) when none is configured and none is
/// required.
fn base_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if is_set("CI") || is_set("KEYPAIRD_REQUIRE_POSTGRES") => panic!(
            "{URL_VAR} is not set, but CI or KEYPAIRD_REQUIRE_POSTGRES is: the PostgreSQL \
             tests must run here. Set it, e.g. {URL_VAR}=postgres://postgres@127.0.0.1:5432/test"
        ),
        _ => {
            // Once per run, and past the test harness's capture, so that it shows even though
            // the tests pass.
            static NOTICE: std::sync::Once = std::sync::Once::new();
            NOTICE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: {URL_VAR} is not set, so the PostgreSQL store tests pass without \
                     running (e.g. {URL_VAR}=postgres://postgres@127.0.0.1:5432/test; CI always \
                     sets it)"
                );
            });
            None
        }
    }
}

/// A key file for a connection that fails before it is read.
fn never_read() -> MasterKeyFile {
    MasterKeyFile::new("/nonexistent/keypaird-test.master-key")
}

fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A plain client outside any store, for setting up and inspecting what a test needs.
/// PostgreSQL's plan of `statement` (an EXECUTE of a prepared one), one node a line.
async fn explain(client: &tokio_postgres::Client, statement: &str) -> String {
    let plan: Vec<String> = client
        .simple_query(&format!("EXPLAIN (COSTS OFF) {statement}"))
        .await
        .expect("explain")
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    plan.join("\n")
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let settings = Settings::parse(url).expect("test URL");
    let (client, connection) = settings
        .pg
        .connect(settings.connector().expect("connector"))
        .await
        .expect("raw connection to the test server");
    tokio::spawn(connection);
    client
}

/// One test's schema; dropped with everything in it when the value is.
struct TestSchema {
    base: String,
    name: String,
    /// Where the schema's master key file lives; every "node" of a test shares it.
    keys: tempfile::TempDir,
}

impl TestSchema {
    async fn new(base: &str) -> TestSchema {
        static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        SWEPT.get_or_init(|| drop_stale_schemas(base)).await;
        TestSchema {
            base: base.to_owned(),
            name: fresh_test_name(),
            keys: tempfile::tempdir().expect("key directory"),
        }
    }

    /// The key file every node of this test opens the schema with.
    fn nodes_key_file(&self) -> MasterKeyFile {
        MasterKeyFile::new(self.keys.path().join("master-key"))
    }

    /// The store URL for this schema. Pools are kept small: many tests run at once against a
    /// server whose connections are shared with other runs.
    fn url(&self) -> String {
        with_params(&self.base, &format!("schema={}&pool_size=8", self.name))
    }

    /// The store URL through another host and port (a proxy).
    fn url_via(&self, proxy: SocketAddr) -> String {
        let settings = Settings::parse(&self.base).expect("test URL");
        let user = settings.pg.get_user().unwrap_or("postgres").to_owned();
        let dbname = settings.pg.get_dbname().unwrap_or("postgres").to_owned();
        assert!(
            settings.pg.get_password().is_none(),
            "the proxy tests expect a test URL without a password"
        );
        format!(
            "postgres://{user}@{proxy}/{dbname}?schema={}&pool_size=4",
            self.name
        )
    }

    async fn client(&self) -> tokio_postgres::Client {
        raw_client(&self.url()).await
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if !execute_from_drop(&self.base, sql) {
            eprintln!(
                "could not drop the test schema {}; a later run will",
                self.name
            );
        }
    }
}

/// Runs `sql` on the test server from a `Drop`: on a thread and runtime of its own, because a
/// drop runs inside the test's runtime, possibly while a failed assertion unwinds. Returns
/// whether it succeeded.
fn execute_from_drop(base: &str, sql: String) -> bool {
    let base = base.to_owned();
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async { raw_client(&base).await.batch_execute(&sql).await })
    })
    .join();
    matches!(done, Ok(Ok(())))
}

async fn drop_stale_schemas(base: &str) {
    let client = raw_client(base).await;
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&SCHEMA_PREFIX],
        )
        .await
        .expect("list test schemas");
    for row in rows {
        let name: String = row.get(0);
        if is_stale(&name) {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

/// A fresh name for a test's schema or database: `keypaird_test_<unix seconds>_<random>`.
fn fresh_test_name() -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{SCHEMA_PREFIX}{now}_{}", &random[..12])
}

/// Whether a name [`fresh_test_name`] made is older than [`STALE_AFTER`]: left by a killed run.
fn is_stale(name: &str) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let created = name
        .strip_prefix(SCHEMA_PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<i64>().ok());
    created.is_some_and(|at| now - at > STALE_AFTER.as_secs() as i64)
}

async fn fresh_pg_store() -> Option<(Arc<dyn Store>, TestSchema)> {
    let base = base_url()?;
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .unwrap_or_else(|err| panic!("cannot open a PostgreSQL store for the test: {err}"));
    Some((Arc::new(store), schema))
}

mod conformance {
    use super::fresh_pg_store;

    crate::store_conformance_tests!(optional fresh_pg_store);
}

fn scope(region: &str) -> Scope {
    Scope {
        account_id: "111111111111".into(),
        provider: Provider::Aws,
        region: region.into(),
    }
}

fn key_pair(n: u64, scope: &Scope, name: &str) -> KeyPair {
    KeyPair {
        id: format!("key-{n:017x}"),
        scope: scope.clone(),
        name: name.into(),
        key_type: KeyType::Ed25519,
        fingerprint: "SHA256:x".into(),
        public_key: "ssh-ed25519 AAAA".into(),
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
        name: "team".into(),
        key_pair_quota: None,
        access_key_id: "AKIATEAM".into(),
        secret_access_key: Some("secret".into()),
        created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("instant"),
    }
}

/// The counter rows and the real number of key pairs per scope, which must always agree.
async fn counters_and_rows(client: &tokio_postgres::Client) -> Vec<(String, i64, i64)> {
    client
        .query(
            "SELECT c.region, c.count, \
                    (SELECT count(*) FROM key_pairs k WHERE k.account_id = c.account_id \
                       AND k.provider = c.provider AND k.region = c.region) \
             FROM key_pair_counts c ORDER BY c.region",
            &[],
        )
        .await
        .expect("counters")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

// ---- several nodes on one schema ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_exceed_the_quota_and_admit_one_name() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let nodes: Vec<Arc<PostgresStore>> = vec![
        Arc::new(
            PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
                .await
                .expect("node a"),
        ),
        Arc::new(
            PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
                .await
                .expect("node b"),
        ),
    ];
    nodes[0]
        .create_account(account(), &crate::conformance::audit())
        .await
        .expect("account");

    let quota_scope = scope("us-east-1");
    let attempts: Vec<_> = (0..80u64)
        .map(|n| {
            let node = nodes[(n % 2) as usize].clone();
            let kp = key_pair(n, &quota_scope, &format!("k{n}"));
            tokio::spawn(async move {
                node.insert_key_pair(&kp, 50, &crate::conformance::audit())
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::QuotaExceeded { quota: 50 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (50, 30));
    for node in &nodes {
        let found = node
            .find_key_pairs(&KeyPairQuery::all(quota_scope.clone()))
            .await
            .expect("find")
            .key_pairs;
        assert_eq!(found.len(), 50);
    }

    let name_scope = scope("eu-west-1");
    let attempts: Vec<_> = (100..160u64)
        .map(|n| {
            let node = nodes[(n % 2) as usize].clone();
            let kp = key_pair(n, &name_scope, "contended");
            tokio::spawn(async move {
                node.insert_key_pair(&kp, 5000, &crate::conformance::audit())
                    .await
            })
        })
        .collect();
    let (mut ok, mut duplicate) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::DuplicateKeyPair) => duplicate += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, duplicate), (1, 59));

    // Deletes racing with inserts on both nodes keep the counter exact.
    let churn: Vec<_> = (0..40u64)
        .map(|n| {
            let node = nodes[(n % 2) as usize].clone();
            let scope = quota_scope.clone();
            tokio::spawn(async move {
                if n % 2 == 0 {
                    node.delete_key_pair(
                        &scope,
                        &KeyPairRef::Name(format!("k{n}")),
                        &crate::conformance::audit(),
                    )
                    .await
                    .map(|_| ())
                } else {
                    let kp = key_pair(1000 + n, &scope, &format!("late{n}"));
                    match node
                        .insert_key_pair(&kp, 50, &crate::conformance::audit())
                        .await
                    {
                        Err(StoreError::QuotaExceeded { .. }) => Ok(()),
                        other => other,
                    }
                }
            })
        })
        .collect();
    for task in churn {
        task.await.expect("task").expect("churn");
    }
    let client = schema.client().await;
    for (region, counter, rows) in counters_and_rows(&client).await {
        assert_eq!(counter, rows, "counter of {region}");
        assert!(rows <= 50, "{region} holds {rows}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_nonce_use_on_two_nodes_admits_one() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let a = Arc::new(
        PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
            .await
            .expect("node a"),
    );
    let b = Arc::new(
        PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
            .await
            .expect("node b"),
    );
    let now = OffsetDateTime::now_utc();
    let expires = now + time::Duration::minutes(15);
    let attempts: Vec<_> = (0..20)
        .map(|n| {
            let node = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { node.record_nonce("AK", "once", expires, now).await })
        })
        .collect();
    let mut fresh = 0;
    for attempt in attempts {
        if attempt.await.expect("task").expect("record") {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_inserts_deletes_and_resets() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("connect");
    let client = schema.client().await;
    store
        .create_account(account(), &crate::conformance::audit())
        .await
        .expect("account");
    let (east, west) = (scope("east"), scope("west"));
    for n in 0..5 {
        store
            .insert_key_pair(
                &key_pair(n, &east, &format!("k{n}")),
                10,
                &crate::conformance::audit(),
            )
            .await
            .expect("insert");
    }
    store
        .insert_key_pair(&key_pair(9, &west, "w"), 10, &crate::conformance::audit())
        .await
        .expect("insert");
    // Refused inserts leave the counters alone.
    assert_eq!(
        store
            .insert_key_pair(&key_pair(10, &east, "k0"), 10, &crate::conformance::audit())
            .await,
        Err(StoreError::DuplicateKeyPair)
    );
    assert_eq!(
        store
            .insert_key_pair(&key_pair(11, &west, "w2"), 1, &crate::conformance::audit())
            .await,
        Err(StoreError::QuotaExceeded { quota: 1 })
    );
    assert_eq!(
        counters_and_rows(&client).await,
        vec![("east".into(), 5, 5), ("west".into(), 1, 1)]
    );

    store
        .delete_key_pair(
            &east,
            &KeyPairRef::Id(key_pair(0, &east, "").id),
            &crate::conformance::audit(),
        )
        .await
        .expect("delete")
        .expect("existed");
    assert_eq!(
        store
            .delete_key_pairs_by_name(
                &east,
                &["k1".into(), "k2".into(), "nope".into()],
                &crate::conformance::audit()
            )
            .await,
        Ok(2)
    );
    assert_eq!(
        counters_and_rows(&client).await,
        vec![("east".into(), 2, 2), ("west".into(), 1, 1)]
    );

    store.reset_inventory().await.expect("reset");
    assert_eq!(counters_and_rows(&client).await, vec![]);
    store
        .insert_key_pair(
            &key_pair(0, &east, "again"),
            1,
            &crate::conformance::audit(),
        )
        .await
        .expect("insert after reset");
    assert_eq!(
        counters_and_rows(&client).await,
        vec![("east".into(), 1, 1)]
    );
}

// ---- migrations ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = schema.url();
            let key_file = schema.nodes_key_file();
            tokio::spawn(async move { PostgresStore::connect_and_migrate(&url, &key_file).await })
        })
        .collect();
    let mut reports = Vec::new();
    for start in starts {
        let (_store, report) = start.await.expect("task").expect("connect");
        reports.push(report);
    }
    let every_version: Vec<i64> = (1..=migrations::latest_version()).collect();
    let appliers: Vec<_> = reports.iter().filter(|r| !r.applied.is_empty()).collect();
    assert_eq!(appliers.len(), 1, "{reports:?}");
    assert_eq!(appliers[0].applied, every_version);
    assert!(reports
        .iter()
        .all(|r| r.version == migrations::latest_version()));

    let client = schema.client().await;
    let versions: Vec<i64> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("versions")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, every_version);

    // `keypaird migrate` on a current schema has nothing to do.
    let again = PostgresStore::migrate(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("migrate");
    assert!(again.applied.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_this_build_is_refused() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    drop(
        PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
            .await
            .expect("first start"),
    );
    let newer = migrations::latest_version() + 1;
    schema
        .client()
        .await
        .execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, 0)",
            &[&newer],
        )
        .await
        .expect("pretend a newer build migrated");
    match PostgresStore::connect(&schema.url(), &schema.nodes_key_file()).await {
        Err(StoreError::Internal(message)) => {
            assert!(message.contains("newer than this build"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---- rows this build cannot read ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_rows_are_internal_errors_not_panics() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("connect");
    store
        .create_account(account(), &crate::conformance::audit())
        .await
        .expect("account");
    let east = scope("east");
    store
        .insert_key_pair(&key_pair(1, &east, "k"), 10, &crate::conformance::audit())
        .await
        .expect("insert");
    let client = schema.client().await;
    for damage in [
        "UPDATE key_pairs SET provider = 'bogus'",
        "UPDATE key_pairs SET key_type = 'rsa-9000'",
        "UPDATE key_pairs SET created_at_ms = 9223372036854775807",
    ] {
        client.batch_execute(damage).await.expect(damage);
        // A damaged provider takes the row out of every scope; look it up as stored.
        let found = client
            .query_one("SELECT provider FROM key_pairs", &[])
            .await
            .expect("row");
        let provider: String = found.get(0);
        if provider == "bogus" {
            let rows = store
                .find_key_pairs(&KeyPairQuery::all(east.clone()))
                .await
                .map(|page| page.key_pairs);
            assert_eq!(rows, Ok(vec![]), "a row outside every scope is invisible");
            client
                .batch_execute("UPDATE key_pairs SET provider = 'aws'")
                .await
                .expect("repair");
            continue;
        }
        match store.find_key_pairs(&KeyPairQuery::all(east.clone())).await {
            Err(StoreError::Internal(message)) => assert!(message.contains("corrupt"), "{message}"),
            other => panic!("{damage}: expected a corrupt-store error, got {other:?}"),
        }
    }
    client
        .batch_execute("UPDATE accounts SET key_pair_quota = 99999999999")
        .await
        .expect("damage the quota");
    assert!(matches!(
        store.find_credential("AKIATEAM").await,
        Err(StoreError::Internal(_))
    ));
}

/// An audit row this build did not write (an unknown dialect, resources that are not its
/// JSON or of a kind it does not know) is reported as a corrupt store, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_audit_rows_are_internal_errors_not_panics() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("connect");
    let client = schema.client().await;
    let all = keypaird_inventory::AuditQuery::new(
        keypaird_inventory::AuditScope::All,
        OffsetDateTime::UNIX_EPOCH,
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(100 * 365 * 86_400),
        10,
    );
    for damage in [
        "UPDATE audit_events SET source = 'smoke-signals'",
        "UPDATE audit_events SET resources = 'not json'",
        r#"UPDATE audit_events SET resources = '[{"kind": "volume"}]'"#,
    ] {
        client
            .batch_execute("DELETE FROM audit_events")
            .await
            .expect("empty");
        store
            .record_audit_events(&crate::conformance::audit_events_naming_many(1, 1))
            .await
            .expect("record");
        client.batch_execute(damage).await.expect(damage);
        match store.find_audit_events(&all).await {
            Err(StoreError::Internal(message)) => assert!(message.contains("corrupt"), "{message}"),
            other => panic!("{damage}: expected a corrupt-store error, got {other:?}"),
        }
    }
}

// ---- an unreachable, vanishing or silent server ----

/// Connecting to a closed port fails at once with `Unavailable`; needs no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_fast_with_unavailable() {
    let started = Instant::now();
    let result =
        PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", &never_read()).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A server that accepts connections but never answers: the pool's create timeout ends the
/// attempt; needs no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_fails_fast_with_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let started = Instant::now();
    let result =
        PostgresStore::connect(&format!("postgres://postgres@{addr}/test"), &never_read()).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < POOL_TIMEOUT + Duration::from_secs(2),
        "{elapsed:?}"
    );
    held.abort();
}

/// A TCP proxy in front of the test server that can be stopped (every connection cut, the
/// port closed), started again on the same port, or paused (connections stay open but nothing
/// is forwarded: a server that stopped answering).
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    paused: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut proxy = Proxy {
            addr: listener.local_addr().expect("addr"),
            upstream,
            paused: watch::channel(false).0,
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        let paused = self.paused.subscribe();
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let paused = paused.clone();
                connections.spawn(async move {
                    let Ok(outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        _ = pump(in_read, out_write, paused.clone()) => {}
                        _ = pump(out_read, in_write, paused) => {}
                    }
                });
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        // The aborted task may take a moment to release the port.
        for _ in 0..50 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot listen on {} again", self.addr);
    }

    fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Hold the bytes while paused: the other side sees a peer that stopped answering.
        if paused.wait_for(|p| !*p).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn upstream_of(base: &str) -> SocketAddr {
    let settings = Settings::parse(base).expect("test URL");
    let port = settings.pg.get_ports().first().copied().unwrap_or(5432);
    let host = match settings.pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let mut addresses = tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("resolve the test server");
    addresses.next().expect("an address")
}

async fn assert_unavailable_soon<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    op: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let result = op.await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what}: expected Unavailable, got {result:?}"
    );
    assert!(elapsed < limit, "{what} took {elapsed:?}");
}

async fn recovers(store: &PostgresStore) -> Duration {
    let started = Instant::now();
    loop {
        if store.list_accounts().await.is_ok() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the store did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL goes away while a node serves (every connection cut, the port closed): every
/// operation fails fast with `Unavailable`; when it is back, the same store works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_fast_and_the_store_recovers() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let mut proxy = Proxy::start(upstream_of(&base).await).await;
    let store = PostgresStore::connect(&schema.url_via(proxy.addr), &schema.nodes_key_file())
        .await
        .expect("connect through the proxy");
    store
        .create_account(account(), &crate::conformance::audit())
        .await
        .expect("account");
    let east = scope("east");
    store
        .insert_key_pair(
            &key_pair(1, &east, "before"),
            10,
            &crate::conformance::audit(),
        )
        .await
        .expect("insert");

    proxy.stop();
    let fast = Duration::from_secs(2);
    let started = Instant::now();
    let readiness = store.check_ready().await;
    assert_eq!(
        readiness.map_err(|not_ready| not_ready.cause),
        Err(NotReadyCause::Unreachable)
    );
    assert!(started.elapsed() < fast, "{:?}", started.elapsed());
    assert_unavailable_soon("list accounts", fast, store.list_accounts()).await;
    assert_unavailable_soon(
        "find",
        fast,
        store.find_key_pairs(&KeyPairQuery::all(east.clone())),
    )
    .await;
    assert_unavailable_soon(
        "insert",
        fast,
        store.insert_key_pair(
            &key_pair(2, &east, "during"),
            10,
            &crate::conformance::audit(),
        ),
    )
    .await;
    assert_unavailable_soon("credential", fast, store.find_credential("AKIATEAM")).await;

    proxy.restart().await;
    let took = recovers(&store).await;
    eprintln!("recovered {took:?} after PostgreSQL came back");
    past_the_kept_outcome().await;
    assert_eq!(store.check_ready().await, Ok(()));
    store
        .insert_key_pair(
            &key_pair(3, &east, "after"),
            10,
            &crate::conformance::audit(),
        )
        .await
        .expect("insert after recovery");
    let names: Vec<String> = store
        .find_key_pairs(&KeyPairQuery::all(east.clone()))
        .await
        .expect("find")
        .key_pairs
        .into_iter()
        .map(|kp| kp.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"before".to_owned()) && names.contains(&"after".to_owned()));
}

/// PostgreSQL stops answering but keeps connections open (a frozen server, a partition): an
/// operation ends with `Unavailable` after [`OPERATION_TIMEOUT`] instead of hanging, a new
/// connection gives up after the pool's create timeout, and the store recovers once answers
/// flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out_and_the_store_recovers() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let proxy = Proxy::start(upstream_of(&base).await).await;
    let store = PostgresStore::connect(&schema.url_via(proxy.addr), &schema.nodes_key_file())
        .await
        .expect("connect through the proxy");
    store.list_accounts().await.expect("a read");

    proxy.pause(true);
    let slack = Duration::from_secs(3);
    assert_unavailable_soon(
        "a read on a pooled connection",
        OPERATION_TIMEOUT + slack,
        store.list_accounts(),
    )
    .await;
    // That connection was discarded; a new one cannot start up either.
    assert_unavailable_soon(
        "a read on a new connection",
        POOL_TIMEOUT + slack,
        store.list_accounts(),
    )
    .await;

    proxy.pause(false);
    recovers(&store).await;
    store
        .create_account(account(), &crate::conformance::audit())
        .await
        .expect("works again");
}

// ---- TLS ----

/// Debian's PostgreSQL serves TLS with the "snakeoil" certificate made for `localhost`. Where
/// that is so, check that `sslmode=verify-full` with that certificate as the root connects over
/// TLS, and that a wrong host name or untrusted roots are refused, quickly and as a
/// configuration error rather than an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verifies_the_server_certificate() {
    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let ssl_on: String = raw_client(&base)
        .await
        .query_one("SHOW ssl", &[])
        .await
        .expect("SHOW ssl")
        .get(0);
    let settings = Settings::parse(&base).expect("test URL");
    if ssl_on != "on"
        || !std::path::Path::new(SNAKEOIL).exists()
        || settings.pg.get_password().is_some()
    {
        eprintln!("notice: the test server does not serve TLS with {SNAKEOIL}; TLS not tested");
        return;
    }
    let user = settings.pg.get_user().unwrap_or("postgres");
    let port = settings.pg.get_ports().first().copied().unwrap_or(5432);
    let dbname = settings.pg.get_dbname().unwrap_or("postgres");
    let url = format!(
        "postgres://{user}@localhost:{port}/{dbname}?schema={}&pool_size=2&sslmode=verify-full\
         &sslrootcert={SNAKEOIL}",
        schema.name
    );
    let store = PostgresStore::connect(&url, &schema.nodes_key_file())
        .await
        .expect("TLS connect");
    let client = store.client().await.expect("client");
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert!(encrypted, "the connection is not encrypted");

    // The certificate is for "localhost": by address, the name does not match.
    let wrong_name = format!(
        "postgres://{user}@127.0.0.1:{port}/{dbname}?schema={}&sslmode=verify-full\
         &sslrootcert={SNAKEOIL}",
        schema.name
    );
    // Debian's bundle of public authorities does not hold the snakeoil certificate.
    let untrusted = format!(
        "postgres://{user}@localhost:{port}/{dbname}?schema={}&sslmode=require\
         &sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        schema.name
    );
    for url in [wrong_name, untrusted] {
        let started = Instant::now();
        match PostgresStore::connect(&url, &schema.nodes_key_file()).await {
            Err(StoreError::Internal(message)) => {
                eprintln!("refused as expected: {message}");
                assert!(message.to_lowercase().contains("certificate"), "{message}")
            }
            other => panic!("{url}: expected the certificate to be refused, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// Key pairs per scope for the plan test: 200,000 unless `KEYPAIRD_TEST_PLAN_ROWS` says (a
/// larger table is a harder test of the plans; it takes longer to load).
fn plan_rows() -> u64 {
    std::env::var("KEYPAIRD_TEST_PLAN_ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(200_000)
}

/// A literal for `EXECUTE`, so the plan asked for is the prepared statement's generic plan.
fn literal(param: &crate::sql::Param) -> String {
    use crate::sql::Param;
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    match param {
        Param::Text(text) => quote(text),
        Param::Texts(texts) => format!(
            "ARRAY[{}]::text[]",
            texts
                .iter()
                .map(|t| quote(t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Param::Int(n) => n.to_string(),
    }
}

/// Right after a bulk load, before autovacuum has analyzed anything, a planner without
/// statistics must still serve every lookup from its index: the plan of each case (see
/// `plan_cases.rs`) is asked for on 200,000 key pairs in one scope (and as many in another) with
/// no statistics, under the planner settings of the store's connections (generic plans).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_path_is_served_by_its_index_without_statistics() {
    use crate::plan_cases::cases;
    use crate::sql::Flavor;

    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("store");
    let east = scope("us-east-1");
    let client = schema.client().await;
    client
        .batch_execute(&format!(
            "ALTER TABLE key_pairs SET (autovacuum_enabled = false);
             ALTER TABLE key_pair_tags SET (autovacuum_enabled = false);
             INSERT INTO key_pairs (id, account_id, provider, region, name, key_type,
                                    fingerprint, public_key, created_at_ms, resource_group_id)
               SELECT 'key-' || lpad(to_hex(i), 17, '0'), '{account}', 'aws', 'us-east-1',
                      'kp-' || i, 'ed25519', md5(i::text), 'ssh-ed25519 AAAA', i, ''
               FROM generate_series(1, {rows}) i;
             INSERT INTO key_pairs (id, account_id, provider, region, name, key_type,
                                    fingerprint, public_key, created_at_ms, resource_group_id)
               SELECT 'key-' || lpad(to_hex(i), 17, '0'), '{account}', 'aliyun', 'us-east-1',
                      'kp-' || i, 'ed25519', md5(i::text), 'ssh-ed25519 AAAA', i, ''
               FROM generate_series({rows} + 1, 2 * {rows}) i;
             INSERT INTO key_pair_tags (key_pair_id, scope, position, key, value)
               SELECT k.id, k.scope, 0, 'id', k.name FROM key_pairs k;",
            account = east.account_id,
            rows = plan_rows(),
        ))
        .await
        .expect("bulk load");
    let analyzed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()",
            &[],
        )
        .await
        .expect("pg_stats")
        .get(0);
    assert_eq!(analyzed, 0, "the tables must have no statistics");
    for (name, value) in super::config::SESSION_SETTINGS {
        client
            .batch_execute(&format!("SET {name} = {value}"))
            .await
            .expect("the store's planner settings");
    }
    let select = |query: &KeyPairQuery| super::key_pairs::select(query).expect("can match");
    for (n, case) in cases(Flavor::Postgres, &east, &select)
        .into_iter()
        .enumerate()
    {
        let sql = &case.statement.sql;
        client
            .batch_execute(&format!("PREPARE plan_case_{n} AS {sql}"))
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", case.what));
        let args: Vec<String> = case.statement.params.iter().map(literal).collect();
        let shown = explain(
            &client,
            &format!("EXECUTE plan_case_{n}({})", args.join(", ")),
        )
        .await;
        let plan: Vec<&str> = shown.lines().collect();
        let names: Vec<&str> = case
            .indexes
            .iter()
            .map(|i| i.name(Flavor::Postgres))
            .collect();
        assert!(
            names.iter().any(|index| plan
                .iter()
                .any(|line| line.split_whitespace().any(|word| word == *index))),
            "{}: not served by {names:?}:\n{shown}",
            case.what
        );
        for line in plan {
            let scope_walk =
                line.trim().starts_with("Index Cond: (scope = $1)") && !case.walks_scope_in_order();
            assert!(
                !line.contains("Seq Scan") && !scope_walk,
                "{}: reads the whole scope:\n{shown}",
                case.what
            );
            if case.ordered {
                assert!(
                    !line.contains("Sort"),
                    "{}: sorts instead of reading in order:\n{shown}",
                    case.what
                );
            }
        }
        eprintln!("{}:\n{shown}\n", case.what);
    }
    drop(store);
}

/// Every audit query shape and the purge statements, under the store's planner settings
/// (generic plans) on a bulk-loaded trail without statistics: each is served by its index,
/// never by a sequential scan, and none sorts (each is a page, or a batch, in index order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_audit_query_is_served_by_its_index_without_statistics() {
    use crate::plan_cases::audit_cases;
    use crate::sql::Flavor;

    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("store");
    let client = schema.client().await;
    client
        .batch_execute(&format!(
            "ALTER TABLE audit_events SET (autovacuum_enabled = false);
             ALTER TABLE audit_resources SET (autovacuum_enabled = false);
             INSERT INTO audit_events (scope, event_time, event_id, account_id, account_name,
                                       source, region, event_name, read_only, access_key_id,
                                       resource_kind, source_ip, user_agent, request_id,
                                       request_parameters, resources, error_code,
                                       error_message)
               SELECT a || '/ec2/us-east-1', 1700000000000 + i, md5(a || i::text), a, 'team',
                      'ec2', 'us-east-1', (ARRAY['CreateKeyPair', 'DescribeKeyPairs',
                      'DeleteKeyPair'])[1 + i % 3], (i % 3 = 1)::int, 'AKIA' || (i % 7),
                      CASE WHEN i % 3 = 1 THEN '' ELSE 'key-pair' END, '192.0.2.1', 'agent',
                      'request', '{{}}', '[]', NULL, NULL
               FROM generate_series(1, {rows}) i,
                    unnest(ARRAY['111111111111', '222222222222']) a;
             INSERT INTO audit_resources (scope, resource_name, event_time, event_id)
               SELECT scope, 'kp-' || (event_time % 1000), event_time, event_id
               FROM audit_events WHERE resource_kind <> '';",
            rows = plan_rows() / 2,
        ))
        .await
        .expect("bulk load");
    let analyzed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()",
            &[],
        )
        .await
        .expect("pg_stats")
        .get(0);
    assert_eq!(analyzed, 0, "the tables must have no statistics");
    for (name, value) in super::config::SESSION_SETTINGS {
        client
            .batch_execute(&format!("SET {name} = {value}"))
            .await
            .expect("the store's planner settings");
    }
    let mut failures = Vec::new();
    for (n, case) in audit_cases(Flavor::Postgres).into_iter().enumerate() {
        let sql = &case.statement.sql;
        client
            .batch_execute(&format!("PREPARE audit_case_{n} AS {sql}"))
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", case.what));
        let args: Vec<String> = case.statement.params.iter().map(literal).collect();
        let shown = explain(
            &client,
            &format!("EXECUTE audit_case_{n}({})", args.join(", ")),
        )
        .await;
        let served = case.indexes.iter().all(|index| {
            let names = index.names(Flavor::Postgres);
            shown
                .lines()
                .any(|line| line.split_whitespace().any(|word| names.contains(&word)))
        });
        let scans = shown.contains("Seq Scan");
        let sorts = shown.contains("Sort");
        if !served || scans || sorts {
            failures.push(format!(
                "{}: {}{}{}\n{shown}",
                case.what,
                if served {
                    ""
                } else {
                    "not served by its index; "
                },
                if scans { "scans a table; " } else { "" },
                if sorts {
                    "sorts instead of reading in order"
                } else {
                    ""
                },
            ));
        }
        eprintln!("{}:\n{shown}\n", case.what);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    drop(store);
}

/// Purging an event takes every lookup row of it, however many resources it named, although
/// the upkeep stops at the first call that deletes fewer events than its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_events_leave_no_lookup_rows() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("store");
    store
        .record_audit_events(&crate::conformance::audit_events_naming_many(5, 3))
        .await
        .expect("record");
    crate::conformance::purge_as_the_upkeep_does(&store, 4, 2).await;
    let client = schema.client().await;
    let mut counts = Vec::new();
    for sql in [
        "SELECT count(*) FROM audit_events",
        "SELECT count(*) FROM audit_resources",
        "SELECT count(*) FROM audit_resources r WHERE NOT EXISTS \
         (SELECT 1 FROM audit_events e WHERE e.event_id = r.event_id)",
    ] {
        let count: i64 = client.query_one(sql, &[]).await.expect(sql).get(0);
        counts.push(count);
    }
    assert_eq!(counts, vec![2, 2 * 3 * 2, 0]);
}

/// A schema written before migration 2 (version 1: three scope columns, tags without their
/// scope) keeps every key pair, tag, tag order and count through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_2_keeps_key_pairs_tags_and_counts() {
    use keypaird_inventory::{AnyOf, KeyPairFilter, TagMatch};

    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    {
        let settings = Settings::parse(&schema.url()).expect("url");
        let name = settings.schema.clone();
        let pool = PostgresStore::open_pool(&settings).expect("pool");
        let mut client = pool.get().await.expect("client");
        let report = migrations::migrate_to(&mut client, name.as_deref(), 1)
            .await
            .map_err(StoreError::from)
            .expect("version 1");
        assert_eq!(report.applied, vec![1]);
        client
            .batch_execute(
                "INSERT INTO accounts VALUES ('111111111111', 'team', NULL, 0);
                 INSERT INTO key_pairs (id, account_id, provider, region, name, key_type,
                                        fingerprint, public_key, created_at_ms)
                 VALUES ('key-00000000000000001', '111111111111', 'aws', 'us-east-1', 'first',
                         'rsa', 'aa:bb', 'ssh-rsa AAAA', 1700000000000),
                        ('key-00000000000000002', '111111111111', 'aws', 'us-east-1', 'second',
                         'ed25519', 'cc', 'ssh-ed25519 AAAA', 1700000000001);
                 INSERT INTO key_pair_counts VALUES ('111111111111', 'aws', 'us-east-1', 2);
                 INSERT INTO key_pair_tags (key_pair_id, position, key, value)
                 VALUES ('key-00000000000000001', 0, 'b', '2'),
                        ('key-00000000000000001', 1, 'a', '1');",
            )
            .await
            .expect("rows as version 1 wrote them");
    }
    let (store, report) =
        PostgresStore::connect_and_migrate(&schema.url(), &schema.nodes_key_file())
            .await
            .expect("migrate to 2 and on");
    let from_2: Vec<i64> = (2..=migrations::latest_version()).collect();
    assert_eq!(report.applied, from_2);
    let east = scope("us-east-1");
    let names_and_tags = |query: KeyPairQuery| {
        let store = &store;
        async move {
            store
                .find_key_pairs(&query)
                .await
                .expect("find")
                .key_pairs
                .into_iter()
                .map(|kp| {
                    let tags: Vec<(String, String)> =
                        kp.tags.into_iter().map(|t| (t.key, t.value)).collect();
                    (kp.name, tags)
                })
                .collect::<Vec<_>>()
        }
    };
    let first = (
        "first".to_owned(),
        vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ],
    );
    assert_eq!(
        names_and_tags(KeyPairQuery::all(east.clone())).await,
        vec![("second".to_owned(), vec![]), first.clone()]
    );
    let by_tag = KeyPairQuery::all(east.clone()).with(KeyPairFilter::Tag(TagMatch {
        key: "a".into(),
        value: Some(AnyOf::exactly(["1"])),
    }));
    assert_eq!(names_and_tags(by_tag).await, vec![first]);
    assert_eq!(
        store
            .count_key_pairs(&KeyPairQuery::all(east.clone()))
            .await
            .expect("counter"),
        2
    );
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(3, &east, "third"),
                2,
                &crate::conformance::audit()
            )
            .await,
        Err(StoreError::QuotaExceeded { quota: 2 })
    );
}

// ---- readiness: a probe write that fails as the next write would ----

/// Waits out the interval a readiness outcome is kept for, so that the next check probes.
async fn past_the_kept_outcome() {
    tokio::time::sleep(crate::readiness::READY_CHECK_INTERVAL + Duration::from_millis(50)).await;
}

/// Checks readiness, each time past the kept outcome, until `settled` accepts the outcome or
/// 15 s have passed; returns the last outcome.
async fn readiness_once(
    store: &PostgresStore,
    settled: impl Fn(&Result<(), NotReady>) -> bool,
) -> Result<(), NotReady> {
    let started = Instant::now();
    loop {
        past_the_kept_outcome().await;
        let outcome = store.check_ready().await;
        if settled(&outcome) || started.elapsed() > Duration::from_secs(15) {
            return outcome;
        }
    }
}

/// A database of its own, for a test that changes database-wide settings; dropped, its
/// sessions ended, when the value is. Named like the test schemas, and swept the same way.
struct TestDatabase {
    base: String,
    name: String,
}

impl TestDatabase {
    async fn new(base: &str) -> TestDatabase {
        let client = raw_client(base).await;
        let existing = client
            .query(
                "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
                &[&SCHEMA_PREFIX],
            )
            .await
            .expect("list test databases");
        for row in existing {
            let name: String = row.get(0);
            if is_stale(&name) {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
        let name = fresh_test_name();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        TestDatabase {
            base: base.to_owned(),
            name,
        }
    }

    /// The store URL for this database (no schema: the database is the test's alone).
    fn url(&self) -> String {
        let (server_and_path, query) = match self.base.split_once('?') {
            Some((url, query)) => (url, Some(query)),
            None => (self.base.as_str(), None),
        };
        let (server, _database) = server_and_path
            .rsplit_once('/')
            .expect("the test URL names a database");
        let url = format!("{server}/{}", self.name);
        let url = match query {
            Some(query) => format!("{url}?{query}"),
            None => url,
        };
        with_params(&url, "pool_size=2")
    }

    /// Makes new sessions of this database read-only (`default_transaction_read_only`, as on a
    /// standby) or writable again, and ends the sessions open now, so the pool reconnects with
    /// the setting.
    async fn set_read_only(&self, read_only: bool) {
        let client = raw_client(&self.base).await;
        let setting = match read_only {
            true => "SET default_transaction_read_only = on",
            false => "RESET default_transaction_read_only",
        };
        client
            .batch_execute(&format!("ALTER DATABASE {} {setting}", self.name))
            .await
            .expect("change the database's setting");
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&self.name],
            )
            .await
            .expect("end the database's sessions");
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if !execute_from_drop(&self.base, sql) {
            eprintln!(
                "could not drop the test database {}; a later run will",
                self.name
            );
        }
    }
}

/// A database whose sessions are read-only (as a standby's are, or with
/// `default_transaction_read_only`): the probe fails with 25006, as every write does; once
/// the database takes writes again, the same store is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_is_not_ready_until_it_takes_writes_again() {
    let Some(base) = base_url() else { return };
    let database = TestDatabase::new(&base).await;
    let keys = tempfile::tempdir().expect("key directory");
    let store = PostgresStore::connect(
        &database.url(),
        &MasterKeyFile::new(keys.path().join("master-key")),
    )
    .await
    .expect("connect");
    assert_eq!(store.check_ready().await, Ok(()));

    database.set_read_only(true).await;
    // The first probe may still meet a session that was just ended.
    let outcome = readiness_once(&store, |outcome| {
        outcome
            .as_ref()
            .is_err_and(|not_ready| not_ready.cause != NotReadyCause::Unreachable)
    })
    .await;
    let read_only = "PostgreSQL 25006: cannot execute INSERT in a read-only transaction";
    assert_eq!(
        outcome,
        Err(NotReady::new(NotReadyCause::ReadOnly, read_only))
    );
    assert_eq!(
        store
            .insert_key_pair(
                &key_pair(1, &scope("east"), "refused"),
                10,
                &crate::conformance::audit()
            )
            .await,
        Err(StoreError::Unavailable(read_only.into()))
    );

    database.set_read_only(false).await;
    let outcome = readiness_once(&store, Result::is_ok).await;
    assert_eq!(outcome, Ok(()));
    store
        .insert_key_pair(
            &key_pair(2, &scope("east"), "taken"),
            10,
            &crate::conformance::audit(),
        )
        .await
        .expect("an insert once the database takes writes");
}

/// A session holding the probe row's lock: the probe gives up after its lock timeout and
/// reports the lock, well before the operation timeout; released, the store is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_on_the_probe_row_is_not_ready_until_released() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("connect");
    assert_eq!(store.check_ready().await, Ok(()));

    let holder = schema.client().await;
    holder
        .batch_execute("BEGIN; SELECT * FROM readiness_probe FOR UPDATE")
        .await
        .expect("lock the probe row");
    past_the_kept_outcome().await;
    let started = Instant::now();
    let outcome = store.check_ready().await;
    let waited = started.elapsed();
    assert_eq!(
        outcome,
        Err(NotReady::new(
            NotReadyCause::Locked,
            "PostgreSQL 55P03: canceling statement due to lock timeout"
        ))
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(4)).contains(&waited),
        "waited {waited:?}"
    );

    holder.batch_execute("ROLLBACK").await.expect("release");
    past_the_kept_outcome().await;
    assert_eq!(store.check_ready().await, Ok(()));
}

// ---- secrets at rest ----

#[async_trait::async_trait]
impl crate::conformance::SealingHarness for TestSchema {
    async fn open(&self, key_file: &MasterKeyFile) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(
            PostgresStore::connect(&self.url(), key_file).await?,
        ))
    }

    async fn rotate(&self, key_file: &MasterKeyFile) -> Result<crate::RotationReport, StoreError> {
        PostgresStore::rotate_master_key(&self.url(), key_file).await
    }

    async fn write_as_before_sealing(&self, accounts: &[NewAccount]) {
        let settings = Settings::parse(&self.url()).expect("url");
        let pool = PostgresStore::open_pool(&settings).expect("pool");
        let mut client = pool.get().await.expect("client");
        migrations::migrate_to(&mut client, settings.schema.as_deref(), 2)
            .await
            .map_err(StoreError::from)
            .expect("version 2");
        for account in accounts {
            client
                .execute(
                    "INSERT INTO accounts (id, name, key_pair_quota, created_at_ms) \
                     VALUES ($1, $2, NULL, 0)",
                    &[&account.id, &account.name],
                )
                .await
                .expect("account as version 2 wrote it");
            client
                .execute(
                    "INSERT INTO access_keys (access_key_id, account_id, secret, created_at_ms) \
                     VALUES ($1, $2, $3, 0)",
                    &[
                        &account.access_key_id,
                        &account.id,
                        &account.secret_access_key.as_deref(),
                    ],
                )
                .await
                .expect("access key as version 2 wrote it");
        }
    }

    async fn raw_access_keys(&self) -> Vec<(String, Option<String>, Option<Vec<u8>>)> {
        self.client()
            .await
            .query(
                "SELECT access_key_id, secret, sealed_secret FROM access_keys \
                 ORDER BY access_key_id",
                &[],
            )
            .await
            .expect("access keys")
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    }

    async fn set_sealed_secret(&self, access_key_id: &str, sealed: &[u8]) {
        let changed = self
            .client()
            .await
            .execute(
                "UPDATE access_keys SET sealed_secret = $2 WHERE access_key_id = $1",
                &[&access_key_id, &sealed],
            )
            .await
            .expect("update");
        assert_eq!(changed, 1);
    }

    fn key_file(&self, name: &str) -> MasterKeyFile {
        MasterKeyFile::new(self.keys.path().join(name))
    }
}

/// PostgreSQL keeps the rows an UPDATE replaced (here: with the secrets in clear) until the
/// table is vacuumed; sealing rewrites the table, so its old file, and those rows, are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_plaintext_rewrites_the_table() {
    use crate::conformance::SealingHarness;

    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    schema.write_as_before_sealing(&[account()]).await;
    let client = schema.client().await;
    let file_of_access_keys = || async {
        let row = client
            .query_one("SELECT pg_relation_filenode('access_keys')::bigint", &[])
            .await
            .expect("filenode");
        row.get::<_, i64>(0)
    };
    let before = file_of_access_keys().await;
    let key_file = SealingHarness::key_file(&schema, "k.master-key");
    drop(schema.open(&key_file).await.expect("open seals"));
    assert_ne!(file_of_access_keys().await, before);
    // Nothing to seal on the next open: the table is left as it is.
    let sealed = file_of_access_keys().await;
    drop(schema.open(&key_file).await.expect("reopen"));
    assert_eq!(file_of_access_keys().await, sealed);
}

async fn fresh_pg_schema() -> Option<(TestSchema, ())> {
    let base = base_url()?;
    Some((TestSchema::new(&base).await, ()))
}

mod sealing {
    use super::fresh_pg_schema;

    crate::store_sealing_tests!(optional fresh_pg_schema);
}

/// The access-key and account statements never scan a table, under the store's planner
/// settings (generic plans) and without statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_key_statements_use_their_index() {
    let Some(base) = base_url() else { return };
    let schema = TestSchema::new(&base).await;
    let _store = PostgresStore::connect(&schema.url(), &schema.nodes_key_file())
        .await
        .expect("store");
    let client = schema.client().await;
    for (name, value) in super::config::SESSION_SETTINGS {
        client
            .batch_execute(&format!("SET {name} = {value}"))
            .await
            .expect("the store's planner settings");
    }
    for (n, (sql, args)) in super::accounts::PLANNED.iter().enumerate() {
        client
            .batch_execute(&format!("PREPARE access_key_case_{n} AS {sql}"))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        let execute = match args.is_empty() {
            true => format!("EXECUTE access_key_case_{n}"),
            false => format!("EXECUTE access_key_case_{n}({args})"),
        };
        let shown = explain(&client, &execute).await;
        assert!(
            shown.contains("Index") && !shown.contains("Seq Scan"),
            "{sql}:\n{shown}"
        );
    }
}
