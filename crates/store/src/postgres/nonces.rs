//! The record of used signature nonces. One upsert decides freshness: the primary key makes two
//! racing uses of a nonce collide (the second waits for the first to commit, on any node), and
//! the conditional update lets an expired record be reused. A replay updates nothing.

use deadpool_postgres::Client;
use time::OffsetDateTime;

use super::failure::Outcome;
use super::rows::to_millis;

pub(super) async fn record(
    client: &Client,
    access_key_id: &str,
    nonce: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Outcome<bool> {
    let changed = client
        .execute(
            &client
                .prepare_cached(
                    "INSERT INTO request_nonces AS n (access_key_id, nonce, expires_at_ms) \
                     VALUES ($1, $2, $3) \
                     ON CONFLICT (access_key_id, nonce) \
                     DO UPDATE SET expires_at_ms = excluded.expires_at_ms \
                     WHERE n.expires_at_ms < $4",
                )
                .await?,
            &[
                &access_key_id,
                &nonce,
                &to_millis(expires_at)?,
                &to_millis(now)?,
            ],
        )
        .await?;
    Ok(changed == 1)
}

pub(super) async fn purge_expired(client: &Client, now: OffsetDateTime) -> Outcome<u64> {
    let deleted = client
        .execute(
            &client
                .prepare_cached("DELETE FROM request_nonces WHERE expires_at_ms < $1")
                .await?,
            &[&to_millis(now)?],
        )
        .await?;
    Ok(deleted)
}

pub(super) async fn count(client: &Client) -> Outcome<u64> {
    let row = client
        .query_one(
            &client
                .prepare_cached("SELECT count(*) FROM request_nonces")
                .await?,
            &[],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}
