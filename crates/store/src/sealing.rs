//! Secrets at rest. Every access-key secret the store keeps is sealed with AES-256-GCM under a
//! master key that lives outside the database (see `key_file.rs`), so a copied database file
//! or backup holds no working credential.
//!
//! A sealed value is `version (1) || key id (8) || nonce (12) || ciphertext || tag (16)`:
//! - the key ID (the first 8 bytes of SHA-256 over a label and the key) says which master key
//!   sealed it, so a wrong or stale key is reported as such instead of as corruption;
//! - the nonce is 96 random bits from the OS, fresh for every seal. Random nonces are safe far
//!   beyond what this store writes (one per access key created or rotated, against the 2^32
//!   seals per key NIST SP 800-38D allows for random nonces);
//! - the additional data is a label and the access key ID, so a sealed secret copied into
//!   another access key's row does not open there.
//!
//! The API is per access key row on purpose: `seal(access_key_id, secret)` and
//! `unseal(access_key_id, sealed)`, nothing else to get wrong.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest;
use keypaird_inventory::{Secret, StoreError};
use zeroize::Zeroizing;

/// Bytes of a master key.
pub const MASTER_KEY_LEN: usize = 32;

/// The only layout so far; a new one gets a new byte, and old values stay readable.
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Domain separation: the key ID is a hash of the key under a label of its own, so it reveals
/// nothing usable about the key, and the additional data names what was sealed.
const KEY_ID_LABEL: &[u8] = b"keypaird master key id v1\0";
const SECRET_AAD_LABEL: &[u8] = b"keypaird access key secret v1\0";

/// Names a master key without revealing it; shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// Parses the 16 hex digits [`Display`](fmt::Display) writes.
    pub fn from_hex(text: &str) -> Option<KeyId> {
        let mut bytes = [0u8; KEY_ID_LEN];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(KeyId(bytes))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a sealed value did not open. None of them carries the secret or the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsealError {
    /// Sealed under another master key than this one (a wrong key file, or a node still
    /// holding the key from before a rotation).
    OtherKey { sealed_under: KeyId, have: KeyId },
    /// The right key, but the value does not authenticate: altered, or moved from another
    /// access key's row.
    Forged,
    /// Not a sealed value this build knows (too short, or an unknown version byte).
    Malformed,
}

impl fmt::Display for UnsealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsealError::OtherKey { sealed_under, have } => write!(
                f,
                "sealed under master key {sealed_under}, but this process holds {have}"
            ),
            UnsealError::Forged => f.write_str("does not authenticate (altered or moved)"),
            UnsealError::Malformed => f.write_str("is not a sealed value this build can read"),
        }
    }
}

impl std::error::Error for UnsealError {}

/// The 32-byte key every secret in one store is sealed under.
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_LEN]>,
    id: KeyId,
    aead: LessSafeKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A new key from the OS's random number generator.
    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(bytes.as_mut()).expect("the system random number generator failed");
        MasterKey::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Zeroizing<[u8; MASTER_KEY_LEN]>) -> MasterKey {
        let mut hash = digest::Context::new(&digest::SHA256);
        hash.update(KEY_ID_LABEL);
        hash.update(bytes.as_ref());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&hash.finish().as_ref()[..KEY_ID_LEN]);
        let aead = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes.as_ref()).expect("32 bytes is an AES-256 key"),
        );
        MasterKey {
            bytes,
            id: KeyId(id),
            aead,
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// A key for another purpose, named by `label`: HMAC-SHA256 of the label under this key,
    /// which reveals nothing of it. Every node with the same key file derives the same key (the
    /// web console's sessions are accepted on any node of a cluster).
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.bytes.as_ref());
        let mut derived = Zeroizing::new([0u8; 32]);
        derived.copy_from_slice(aws_lc_rs::hmac::sign(&key, label).as_ref());
        derived
    }

    /// The raw key, for writing the key file.
    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    /// Seals the secret of access key `access_key_id`.
    pub fn seal(&self, access_key_id: &str, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the system random number generator failed");
        let mut sealed = Vec::with_capacity(HEADER_LEN + secret.len() + TAG_LEN);
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.id.0);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(secret.as_bytes());
        let aad = secret_aad(access_key_id);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut sealed[HEADER_LEN..],
            )
            .expect("AES-GCM seals any input shorter than 64 GiB");
        sealed.extend_from_slice(tag.as_ref());
        sealed
    }

    /// Opens what [`seal`](Self::seal) made for the same access key ID.
    pub fn unseal(&self, access_key_id: &str, sealed: &[u8]) -> Result<Secret, UnsealError> {
        let sealed_under = sealed_key_id(sealed)?;
        if sealed_under != self.id {
            return Err(UnsealError::OtherKey {
                sealed_under,
                have: self.id,
            });
        }
        if sealed.len() < HEADER_LEN + TAG_LEN {
            return Err(UnsealError::Malformed);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KEY_ID_LEN..HEADER_LEN])
            .map_err(|_| UnsealError::Malformed)?;
        let mut buffer = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let aad = secret_aad(access_key_id);
        let plain_len = self
            .aead
            .open_in_place(nonce, Aad::from(&aad), &mut buffer)
            .map_err(|_| UnsealError::Forged)?
            .len();
        buffer.truncate(plain_len);
        // What was sealed was a `&str`; anything else authenticated only if it was forged
        // with the key, which is as good as any other forgery.
        let text = String::from_utf8(std::mem::take(&mut *buffer)).map_err(|err| {
            drop(Zeroizing::new(err.into_bytes()));
            UnsealError::Forged
        })?;
        Ok(Secret::from(text))
    }
}

/// Which key sealed `sealed`, read from its header without opening it.
pub fn sealed_key_id(sealed: &[u8]) -> Result<KeyId, UnsealError> {
    if sealed.len() < HEADER_LEN || sealed[0] != VERSION {
        return Err(UnsealError::Malformed);
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&sealed[1..1 + KEY_ID_LEN]);
    Ok(KeyId(id))
}

/// What a backend reports for a sealed secret it cannot open. A value under another key means
/// this process holds a stale key (the store was rotated since it started): retrying on a node
/// with the new key works, so it is `Unavailable`, with the remedy in the message.
pub(crate) fn unseal_failure(access_key_id: &str, err: UnsealError) -> StoreError {
    match err {
        UnsealError::OtherKey { sealed_under, have } => stale_key(sealed_under, have),
        other => StoreError::Internal(format!(
            "corrupt store: the sealed secret of access key {access_key_id} {other}"
        )),
    }
}

/// The store is sealed under `recorded`, and this process holds `have`.
pub(crate) fn stale_key(recorded: KeyId, have: KeyId) -> StoreError {
    StoreError::Unavailable(format!(
        "the store is sealed under master key {recorded}, but this process holds {have}: the \
         master key was rotated since it started; restart it with the new key file"
    ))
}

/// `sealed` (under `old`) sealed again under `new`, for a rotation.
pub(crate) fn reseal(
    old: &MasterKey,
    new: &MasterKey,
    access_key_id: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let secret = old
        .unseal(access_key_id, sealed)
        .map_err(|err| unseal_failure(access_key_id, err))?;
    Ok(new.seal(access_key_id, &secret))
}

fn secret_aad(access_key_id: &str) -> Vec<u8> {
    [SECRET_AAD_LABEL, access_key_id.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> MasterKey {
        MasterKey::from_bytes(Zeroizing::new([fill; MASTER_KEY_LEN]))
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn round_trips_and_hides_the_secret() {
        let master = key(7);
        let sealed = master.seal("AKIDONE", SECRET);
        assert_eq!(sealed.len(), HEADER_LEN + SECRET.len() + TAG_LEN);
        assert_eq!(sealed[0], VERSION);
        assert_eq!(sealed_key_id(&sealed), Ok(master.id()));
        assert!(!sealed
            .windows(SECRET.len())
            .any(|window| window == SECRET.as_bytes()));
        assert_eq!(
            master.unseal("AKIDONE", &sealed).expect("opens").expose(),
            SECRET
        );
    }

    #[test]
    fn derived_keys_are_hmac_sha256_of_the_label() {
        // Python: hmac.new(bytes([7] * 32), label, hashlib.sha256).hexdigest()
        let label = b"keypaird console sessions v1";
        assert_eq!(
            hex::encode(key(7).derive(label).as_ref()),
            "cc378852bc75373beec6b431e198a8edafca03b0a1f59de7e64a1e249f7c0b12"
        );
        assert_eq!(
            hex::encode(key(8).derive(label).as_ref()),
            "f703137d0acc6ea603423a13d238fe4178f6d68dd5174d8e9fe8f58e2cc44294"
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let master = key(7);
        let first = master.seal("AKIDONE", SECRET);
        let second = master.seal("AKIDONE", SECRET);
        assert_ne!(
            first[1 + KEY_ID_LEN..HEADER_LEN],
            second[1 + KEY_ID_LEN..HEADER_LEN]
        );
        assert_ne!(first, second);
    }

    #[test]
    fn key_ids_are_stable_and_distinct() {
        assert_eq!(key(1).id(), key(1).id());
        assert_ne!(key(1).id(), key(2).id());
        assert_ne!(MasterKey::generate().id(), MasterKey::generate().id());
        let id = key(1).id();
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(KeyId::from_hex(&id.to_string()), Some(id));
        assert_eq!(KeyId::from_hex("not hex at all!!"), None);
        assert_eq!(KeyId::from_hex("abcd"), None);
    }

    #[test]
    fn a_wrong_key_is_named_not_mistaken_for_corruption() {
        let sealed = key(1).seal("AKIDONE", SECRET);
        assert_eq!(
            key(2).unseal("AKIDONE", &sealed).map(|s| s.to_string()),
            Err(UnsealError::OtherKey {
                sealed_under: key(1).id(),
                have: key(2).id(),
            })
        );
    }

    #[test]
    fn a_secret_moved_to_another_access_key_does_not_open() {
        let master = key(1);
        let sealed = master.seal("AKIDONE", SECRET);
        assert_eq!(
            master.unseal("AKIDTWO", &sealed).map(|s| s.to_string()),
            Err(UnsealError::Forged)
        );
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let master = key(1);
        let sealed = master.seal("AKIDONE", SECRET);
        for at in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[at] ^= 0x01;
            let expected = match at {
                0 => UnsealError::Malformed,
                1..=KEY_ID_LEN => UnsealError::OtherKey {
                    sealed_under: sealed_key_id(&altered).expect("header intact"),
                    have: master.id(),
                },
                _ => UnsealError::Forged,
            };
            assert_eq!(
                master.unseal("AKIDONE", &altered).map(|s| s.to_string()),
                Err(expected),
                "byte {at}"
            );
        }
    }

    #[test]
    fn truncated_values_are_malformed_or_forged() {
        let master = key(1);
        let sealed = master.seal("AKIDONE", SECRET);
        // Shorter than a header, or a header without a whole tag.
        for len in 0..HEADER_LEN + TAG_LEN {
            assert_eq!(
                master
                    .unseal("AKIDONE", &sealed[..len])
                    .map(|s| s.to_string()),
                Err(UnsealError::Malformed),
                "{len} bytes"
            );
        }
        assert_eq!(
            master
                .unseal("AKIDONE", &sealed[..sealed.len() - 1])
                .map(|s| s.to_string()),
            Err(UnsealError::Forged)
        );
    }

    #[test]
    fn debug_shows_the_key_id_only() {
        let master = key(0xab);
        let shown = format!("{master:?}");
        assert_eq!(shown, format!("MasterKey({})", master.id()));
        assert!(!shown.contains("abab"), "{shown}");
    }
}
