//! Console sessions: a cookie that carries who signed in and until when, sealed with an HMAC
//! under a key every node derives from the master key (so any node of a cluster accepts it),
//! the CSRF token each session's forms carry, and the limit on failed sign-ins.
//!
//! The cookie holds no secret: an access key ID, a random session ID and an expiry. Each
//! request still reads the access key (through the credential cache), so a key disabled or
//! deleted ends its sessions within the cache's lifetime, and its read-only flag is current.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use time::OffsetDateTime;

/// The cookie's name; its path is `/console`, so API calls never carry it.
pub const COOKIE_NAME: &str = "keypaird_console";

/// How long a session lasts from sign-in, whatever is done in it (the EC2 console's session is
/// 12 hours; a shorter day suits a key inventory).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// What a valid cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// 16 random bytes, hex: names the session in the sign-out list and its CSRF token.
    pub session_id: String,
    pub access_key_id: String,
    pub expires_at: i64,
}

/// Issues and checks cookies and CSRF tokens. Sign-out is remembered by this node until the
/// session would have expired (the cookie is also cleared in the browser that signed out).
pub struct Sessions {
    key: hmac::Key,
    signed_out: Mutex<HashMap<String, i64>>,
}

/// Signed-out sessions remembered at most; the oldest expiries are dropped first past it.
const MAX_SIGNED_OUT: usize = 100_000;

impl Sessions {
    pub fn new(key: &[u8]) -> Sessions {
        Sessions {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            signed_out: Mutex::new(HashMap::new()),
        }
    }

    /// A cookie value for a new session of `access_key_id`, valid from `now`.
    pub fn issue(&self, access_key_id: &str, now: OffsetDateTime) -> (String, SessionClaims) {
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id).expect("the system random number generator failed");
        let claims = SessionClaims {
            session_id: hex::encode(id),
            access_key_id: access_key_id.to_owned(),
            expires_at: now.unix_timestamp() + SESSION_LIFETIME.as_secs() as i64,
        };
        let payload = format!(
            "v1|{}|{}|{}",
            claims.session_id, claims.expires_at, claims.access_key_id
        );
        let tag = hmac::sign(&self.key, payload.as_bytes());
        let value = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
        (value, claims)
    }

    /// The claims of a cookie value this key issued, not expired at `now` and not signed out.
    pub fn check(&self, value: &str, now: OffsetDateTime) -> Option<SessionClaims> {
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &payload, &tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut fields = payload.splitn(4, '|');
        let (Some("v1"), Some(session_id), Some(expires_at), Some(access_key_id)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let expires_at: i64 = expires_at.parse().ok()?;
        if expires_at <= now.unix_timestamp() {
            return None;
        }
        if self.lock().contains_key(session_id) {
            return None;
        }
        Some(SessionClaims {
            session_id: session_id.to_owned(),
            access_key_id: access_key_id.to_owned(),
            expires_at,
        })
    }

    /// The CSRF token of a session: an HMAC of its ID, so it needs no storage and differs per
    /// session.
    pub fn csrf_token(&self, claims: &SessionClaims) -> String {
        let tag = hmac::sign(&self.key, format!("csrf|{}", claims.session_id).as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, claims: &SessionClaims, token: &str) -> bool {
        let Ok(token) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        hmac::verify(
            &self.key,
            format!("csrf|{}", claims.session_id).as_bytes(),
            &token,
        )
        .is_ok()
    }

    /// Ends a session on this node: its cookie is refused from now on.
    pub fn sign_out(&self, claims: &SessionClaims, now: OffsetDateTime) {
        let mut signed_out = self.lock();
        let now = now.unix_timestamp();
        signed_out.retain(|_, expires_at| *expires_at > now);
        if signed_out.len() >= MAX_SIGNED_OUT {
            if let Some(oldest) = signed_out
                .iter()
                .min_by_key(|(_, expires_at)| **expires_at)
                .map(|(id, _)| id.clone())
            {
                signed_out.remove(&oldest);
            }
        }
        signed_out.insert(claims.session_id.clone(), claims.expires_at);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.signed_out.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Failed sign-ins allowed per source address within [`FAILURE_WINDOW`]; past it, sign-ins from
/// that address are refused unchecked until the window's oldest failure ages out.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Addresses tracked at most: a flood from many addresses forgets the quietest first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// Failed sign-ins per source address, in a sliding window.
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl SignInLimiter {
    /// How long `source` must wait before its next sign-in is checked, if it must.
    pub fn wait_for(&self, source: IpAddr) -> Option<Duration> {
        let mut failures = self.lock();
        let recent = failures.get_mut(&source)?;
        recent.retain(|at| at.elapsed() < FAILURE_WINDOW);
        if recent.len() < MAX_FAILURES {
            return None;
        }
        let oldest = recent.iter().min()?;
        Some(FAILURE_WINDOW.saturating_sub(oldest.elapsed()))
    }

    pub fn note_failure(&self, source: IpAddr) {
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&source) {
            failures.retain(|_, recent| {
                recent.retain(|at| at.elapsed() < FAILURE_WINDOW);
                !recent.is_empty()
            });
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                failures.clear();
            }
        }
        failures.entry(source).or_default().push(Instant::now());
    }

    /// A successful sign-in clears the address's failures.
    pub fn note_success(&self, source: IpAddr) {
        self.lock().remove(&source);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Vec<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_cookie_is_accepted_until_it_expires_and_only_with_its_own_key() {
        let sessions = Sessions::new(b"one key");
        let (cookie, claims) = sessions.issue("AKIAEXAMPLE", at(0));
        assert_eq!(sessions.check(&cookie, at(60)), Some(claims.clone()));
        let lifetime = SESSION_LIFETIME.as_secs() as i64;
        assert_eq!(sessions.check(&cookie, at(lifetime - 1)), Some(claims));
        assert_eq!(sessions.check(&cookie, at(lifetime)), None);
        assert_eq!(Sessions::new(b"another key").check(&cookie, at(60)), None);
    }

    #[test]
    fn a_changed_cookie_is_refused() {
        let sessions = Sessions::new(b"k");
        let (cookie, _) = sessions.issue("AKIAEXAMPLE", at(0));
        let (payload, tag) = cookie.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(text.replace("AKIAEXAMPLE", "AKIAOTHER"));
        assert_eq!(sessions.check(&format!("{forged}.{tag}"), at(1)), None);
        assert_eq!(sessions.check("garbage", at(1)), None);
        assert_eq!(sessions.check("a.b", at(1)), None);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_sign_out_ends_the_session() {
        let sessions = Sessions::new(b"k");
        let (cookie, first) = sessions.issue("AKIAEXAMPLE", at(0));
        let (_, second) = sessions.issue("AKIAEXAMPLE", at(0));
        let token = sessions.csrf_token(&first);
        assert!(sessions.csrf_matches(&first, &token));
        assert!(!sessions.csrf_matches(&second, &token));
        assert!(!sessions.csrf_matches(&first, ""));
        sessions.sign_out(&first, at(5));
        assert_eq!(sessions.check(&cookie, at(6)), None);
    }

    #[test]
    fn failed_sign_ins_past_the_limit_wait() {
        let limiter = SignInLimiter::default();
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            limiter.note_failure(source);
        }
        assert_eq!(limiter.wait_for(source), None);
        limiter.note_failure(source);
        let wait = limiter.wait_for(source).expect("limited");
        assert!(wait > FAILURE_WINDOW - Duration::from_secs(5) && wait <= FAILURE_WINDOW);
        assert_eq!(limiter.wait_for("192.0.2.2".parse().unwrap()), None);
        limiter.note_success(source);
        assert_eq!(limiter.wait_for(source), None);
    }
}
