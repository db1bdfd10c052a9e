//! The benchmark's own PostgreSQL connection: makes sure the server answers, reads its version
//! for the report, and drops the benchmark's schema at exit.

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

/// Connects to `url` (keypaird's `?schema=` and other parameters already stripped).
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio_postgres::connect(url, NoTls),
    )
    .await
    .context("PostgreSQL did not answer within 20 s")?
    .with_context(|| format!("cannot connect to {url}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// keypaird's URL without its query (schema, pool_size, sslmode…), for the plain connection.
pub fn admin_url(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// keypaird's store URL for a fresh schema in the database `url` names.
pub fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

pub async fn server_version(url: &str) -> anyhow::Result<String> {
    let client = connect(&admin_url(url)).await?;
    let row = client
        .query_one("SELECT current_setting('server_version')", &[])
        .await?;
    Ok(row.get(0))
}

/// Keeps autovacuum away from the schema's tables, so that the reads right after a fill see the
/// state a bulk load leaves: no statistics at all, however many rows.
pub async fn no_autovacuum(admin_url: &str, schema: &str) -> anyhow::Result<()> {
    for_each_table(
        admin_url,
        schema,
        "ALTER TABLE {} SET (autovacuum_enabled = false)",
    )
    .await
}

/// ANALYZE every table of `schema`: what autovacuum does some time after a bulk load.
pub async fn analyze(admin_url: &str, schema: &str) -> anyhow::Result<()> {
    for_each_table(admin_url, schema, "ANALYZE {}").await
}

/// Runs `sql`, with `{}` standing for each table of `schema`.
async fn for_each_table(admin_url: &str, schema: &str, sql: &str) -> anyhow::Result<()> {
    let client = connect(admin_url).await?;
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1",
            &[&schema],
        )
        .await?;
    for row in tables {
        let table: String = row.get(0);
        client
            .batch_execute(&sql.replace("{}", &format!("\"{schema}\".\"{table}\"")))
            .await?;
    }
    Ok(())
}
