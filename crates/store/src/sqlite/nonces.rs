//! The record of used signature nonces. One upsert decides freshness: the primary key makes two
//! racing uses of a nonce collide, and the conditional update lets an expired record be reused.

use rusqlite::Connection;
use time::OffsetDateTime;

use super::failure::Outcome;
use super::rows::to_millis;

pub(super) fn record(
    conn: &Connection,
    access_key_id: &str,
    nonce: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Outcome<bool> {
    // Kept prepared: every verified ECS request runs it.
    let changed = conn
        .prepare_cached(
            "INSERT INTO request_nonces (access_key_id, nonce, expires_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at_ms = excluded.expires_at_ms
         WHERE request_nonces.expires_at_ms < ?4",
        )?
        .execute((
            access_key_id,
            nonce,
            to_millis(expires_at)?,
            to_millis(now)?,
        ))?;
    Ok(changed == 1)
}

pub(super) fn purge_expired(conn: &Connection, now: OffsetDateTime) -> Outcome<u64> {
    let deleted = conn.execute(
        "DELETE FROM request_nonces WHERE expires_at_ms < ?1",
        [to_millis(now)?],
    )?;
    Ok(deleted as u64)
}

pub(super) fn count(conn: &Connection) -> Outcome<u64> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM request_nonces")?
        .query_row([], |row| row.get(0))?;
    Ok(count as u64)
}
