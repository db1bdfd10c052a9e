//! Freshly generated key pairs and every private encoding the two APIs hand out.
//!
//! The private key is kept as the PKCS#8 DER aws-lc-rs produced, in a zeroizing buffer, and each
//! encoding is derived from it on demand: PKCS#8 is also what EC2 fingerprints created RSA keys
//! with, and re-reading it costs microseconds against the ~50 ms an RSA key takes to make.
//! Intermediate buffers that hold private values are zeroizing and sized before they are filled.

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::asn1::OctetStringRef;
use der::Decode as _;
use pkcs8::{ObjectIdentifier, PrivateKeyInfo};
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair, RsaPrivateKey};
use ssh_key::public::RsaPublicKey;
use ssh_key::{LineEnding, Mpint};
use zeroize::Zeroizing;

use crate::fingerprint::{md5_colon_hex, sha1_colon_hex, sha256_base64_padded};
use crate::ppk::{self, PpkParts};
use crate::public::RSA_ENCRYPTION_OID;
use crate::wire::{mpint_len_bound, put_positive_mpint, put_string};
use crate::{KeyAlgorithm, KeyError, PpkVersion, PublicKey};

const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED25519_KEY_LEN: usize = 32;

/// A key pair made by this service. Private parts are zeroized on drop and never printed.
pub struct GeneratedKey {
    public_blob: Vec<u8>,
    secret: Secret,
}

enum Secret {
    Rsa {
        pkcs8_der: Zeroizing<Vec<u8>>,
    },
    Ed25519 {
        pkcs8_der: Zeroizing<Vec<u8>>,
        seed: Zeroizing<[u8; ED25519_KEY_LEN]>,
        public: [u8; ED25519_KEY_LEN],
    },
}

impl GeneratedKey {
    /// Seeds aws-lc-rs's random generator, which every key generation draws on. Its first use
    /// in a process costs about 30 ms of CPU (measured here: 32 ms, then 1 µs), which would
    /// otherwise land on the first CreateKeyPair; a server calls this once, off the request path.
    pub fn warm_up() {
        use aws_lc_rs::rand::SecureRandom as _;
        let mut byte = [0u8; 1];
        // A failing generator fails the first key generation with its own error; nothing to do here.
        let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut byte);
    }

    /// RSA 2048 with e = 65537, aws-lc-rs's defaults. Takes tens of milliseconds: keep it off
    /// async worker threads.
    pub fn generate_rsa2048() -> Result<Self, KeyError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| KeyError::Internal("RSA key generation failed"))?;
        Self::from_rsa_pair(&pair)
    }

    pub fn generate_ed25519() -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| KeyError::Internal("ED25519 key generation failed"))?;
        Self::from_ed25519_pair(&pair)
    }

    /// Loads an RSA or ED25519 private key from PKCS#8 DER (v1 or v2), as `pkcs8_pem` writes it,
    /// e.g. for keys generated ahead of time. aws-lc-rs validates the key, which limits RSA to
    /// the sizes it supports (2048 to 8192 bits).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        const REJECTED: KeyError = KeyError::Malformed("not a valid PKCS#8 RSA or ED25519 key");
        let info = PrivateKeyInfo::try_from(der).map_err(|_| REJECTED)?;
        if info.algorithm.oid == RSA_ENCRYPTION_OID {
            Self::from_rsa_pair(&RsaKeyPair::from_pkcs8(der).map_err(|_| REJECTED)?)
        } else if info.algorithm.oid == ED25519_OID {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| REJECTED)?;
            Self::from_ed25519_pair(&pair)
        } else {
            Err(KeyError::Unsupported(
                "only RSA and ED25519 private keys are loaded".to_owned(),
            ))
        }
    }

    fn from_rsa_pair(pair: &RsaKeyPair) -> Result<Self, KeyError> {
        let der = pair
            .as_der()
            .map_err(|_| KeyError::Internal("serialising an RSA key failed"))?;
        let pkcs8_der = Zeroizing::new(der.as_ref().to_vec());
        let public_blob = {
            let info = PrivateKeyInfo::try_from(pkcs8_der.as_slice()).map_err(|_| bad_own_der())?;
            let rsa = pkcs1_private_key(&info)?;
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-rsa");
            put_positive_mpint(&mut blob, rsa.public_exponent.as_bytes());
            put_positive_mpint(&mut blob, rsa.modulus.as_bytes());
            blob
        };
        Ok(Self {
            public_blob,
            secret: Secret::Rsa { pkcs8_der },
        })
    }

    fn from_ed25519_pair(pair: &Ed25519KeyPair) -> Result<Self, KeyError> {
        let document = pair
            .to_pkcs8v1()
            .map_err(|_| KeyError::Internal("serialising an ED25519 key failed"))?;
        let pkcs8_der = Zeroizing::new(document.as_ref().to_vec());
        let public: [u8; ED25519_KEY_LEN] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| bad_own_der())?;
        let seed = ed25519_seed_from_pkcs8(&pkcs8_der, &public)?;
        let mut public_blob = Vec::new();
        put_string(&mut public_blob, b"ssh-ed25519");
        put_string(&mut public_blob, &public);
        Ok(Self {
            public_blob,
            secret: Secret::Ed25519 {
                pkcs8_der,
                seed,
                public,
            },
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.secret {
            Secret::Rsa { .. } => KeyAlgorithm::Rsa,
            Secret::Ed25519 { .. } => KeyAlgorithm::Ed25519,
        }
    }

    fn ssh_type(&self) -> &'static str {
        match self.secret {
            Secret::Rsa { .. } => "ssh-rsa",
            Secret::Ed25519 { .. } => "ssh-ed25519",
        }
    }

    pub fn ssh_public_blob(&self) -> Vec<u8> {
        self.public_blob.clone()
    }

    /// The public half as a [`PublicKey`], for storing and fingerprinting alongside imports.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_ssh_blob(&self.public_blob).expect("our own public blob parses")
    }

    /// `<type> <base64>` plus ` <comment>` when the comment is not empty. Control characters in
    /// the comment become spaces so the result stays one line.
    pub fn openssh_public_line(&self, comment: &str) -> String {
        let mut line = format!("{} {}", self.ssh_type(), STANDARD.encode(&self.public_blob));
        let comment = single_line(comment);
        if !comment.is_empty() {
            line.push(' ');
            line.push_str(&comment);
        }
        line
    }

    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1), what EC2 returns for created RSA keys.
    pub fn pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let Secret::Rsa { pkcs8_der } = &self.secret else {
            return Err(KeyError::Unsupported(
                "PKCS#1 exists for RSA keys only".to_owned(),
            ));
        };
        let info = PrivateKeyInfo::try_from(pkcs8_der.as_slice()).map_err(|_| bad_own_der())?;
        pem("RSA PRIVATE KEY", info.private_key)
    }

    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8 v1), what ECS returns for created keys.
    pub fn pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        match &self.secret {
            Secret::Rsa { pkcs8_der } | Secret::Ed25519 { pkcs8_der, .. } => {
                pem("PRIVATE KEY", pkcs8_der)
            }
        }
    }

    /// `-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted; EC2's format for created ED25519 keys.
    pub fn openssh_private_pem(&self, comment: &str) -> Result<Zeroizing<String>, KeyError> {
        let keypair = match &self.secret {
            Secret::Rsa { pkcs8_der } => KeypairData::Rsa(ssh_rsa_keypair(pkcs8_der)?),
            Secret::Ed25519 { seed, public, .. } => {
                let mut bytes = Zeroizing::new([0u8; 2 * ED25519_KEY_LEN]);
                bytes[..ED25519_KEY_LEN].copy_from_slice(seed.as_slice());
                bytes[ED25519_KEY_LEN..].copy_from_slice(public);
                KeypairData::Ed25519(Ed25519Keypair::from_bytes(&bytes).map_err(|_| bad_own_der())?)
            }
        };
        ssh_key::PrivateKey::new(keypair, single_line(comment))
            .and_then(|key| key.to_openssh(LineEnding::LF))
            .map_err(|_| KeyError::Internal("encoding an OpenSSH private key failed"))
    }

    /// Unencrypted PuTTY key file. The private blob is `mpint d, p, q, iqmp` for RSA and, for
    /// ED25519, the 32-byte seed as one SSH `string` (not an mpint: puttygen keeps leading and
    /// trailing zero bytes and never adds a sign byte).
    pub fn ppk(&self, version: PpkVersion, comment: &str) -> Result<Zeroizing<String>, KeyError> {
        let private_blob = match &self.secret {
            Secret::Rsa { pkcs8_der } => {
                let info =
                    PrivateKeyInfo::try_from(pkcs8_der.as_slice()).map_err(|_| bad_own_der())?;
                let rsa = pkcs1_private_key(&info)?;
                let parts = [
                    rsa.private_exponent,
                    rsa.prime1,
                    rsa.prime2,
                    rsa.coefficient,
                ];
                let capacity = parts
                    .iter()
                    .map(|part| mpint_len_bound(part.as_bytes()))
                    .sum();
                let mut blob = Zeroizing::new(Vec::with_capacity(capacity));
                for part in parts {
                    put_positive_mpint(&mut blob, part.as_bytes());
                }
                blob
            }
            Secret::Ed25519 { seed, .. } => {
                let mut blob = Zeroizing::new(Vec::with_capacity(4 + ED25519_KEY_LEN));
                put_string(&mut blob, seed.as_slice());
                blob
            }
        };
        let comment = single_line(comment);
        Ok(ppk::encode(
            version,
            &PpkParts {
                algorithm: self.ssh_type(),
                comment: &comment,
                public_blob: &self.public_blob,
                private_blob: &private_blob,
            },
        ))
    }

    /// EC2's fingerprint of a key it created. RSA: SHA-1 of the PKCS#8 DER, colon hex.
    /// ED25519: padded base64 SHA-256 of the SSH blob.
    pub fn aws_fingerprint(&self) -> String {
        match &self.secret {
            Secret::Rsa { pkcs8_der } => sha1_colon_hex(pkcs8_der),
            Secret::Ed25519 { .. } => sha256_base64_padded(&self.public_blob),
        }
    }

    /// ECS's fingerprint: MD5 of the SSH blob, colon hex.
    pub fn md5_fingerprint(&self) -> String {
        md5_colon_hex(&self.public_blob)
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm())
            .field("md5_fingerprint", &self.md5_fingerprint())
            .finish_non_exhaustive()
    }
}

/// Our own DER failing to parse would be a bug here, not bad input.
fn bad_own_der() -> KeyError {
    KeyError::Internal("a generated key did not re-parse")
}

fn pkcs1_private_key<'a>(info: &PrivateKeyInfo<'a>) -> Result<pkcs1::RsaPrivateKey<'a>, KeyError> {
    let rsa = pkcs1::RsaPrivateKey::try_from(info.private_key).map_err(|_| bad_own_der())?;
    if rsa.other_prime_infos.is_some() {
        return Err(KeyError::Unsupported(
            "multi-prime RSA keys are not supported".to_owned(),
        ));
    }
    Ok(rsa)
}

/// The seed sits in an OCTET STRING inside the privateKey OCTET STRING (RFC 8410 §7), in v1
/// and v2 documents alike; a v2 document's own public key must agree with the one we hold.
fn ed25519_seed_from_pkcs8(
    der: &[u8],
    public: &[u8; ED25519_KEY_LEN],
) -> Result<Zeroizing<[u8; ED25519_KEY_LEN]>, KeyError> {
    let info = PrivateKeyInfo::try_from(der).map_err(|_| bad_own_der())?;
    if info.algorithm.oid != ED25519_OID {
        return Err(bad_own_der());
    }
    if info.public_key.is_some_and(|embedded| embedded != public) {
        return Err(bad_own_der());
    }
    let inner = OctetStringRef::from_der(info.private_key).map_err(|_| bad_own_der())?;
    let mut seed = Zeroizing::new([0u8; ED25519_KEY_LEN]);
    if inner.as_bytes().len() != ED25519_KEY_LEN {
        return Err(bad_own_der());
    }
    seed.copy_from_slice(inner.as_bytes());
    Ok(seed)
}

fn ssh_rsa_keypair(pkcs8_der: &[u8]) -> Result<RsaKeypair, KeyError> {
    let info = PrivateKeyInfo::try_from(pkcs8_der).map_err(|_| bad_own_der())?;
    let rsa = pkcs1_private_key(&info)?;
    Ok(RsaKeypair {
        public: RsaPublicKey {
            e: mpint(rsa.public_exponent.as_bytes())?,
            n: mpint(rsa.modulus.as_bytes())?,
        },
        private: RsaPrivateKey {
            d: mpint(rsa.private_exponent.as_bytes())?,
            iqmp: mpint(rsa.coefficient.as_bytes())?,
            p: mpint(rsa.prime1.as_bytes())?,
            q: mpint(rsa.prime2.as_bytes())?,
        },
    })
}

/// `Mpint::from_positive_bytes` grows its buffer when it adds the sign byte, leaving a stray
/// copy of the value behind; this builds the exact bytes in a zeroizing buffer instead.
fn mpint(magnitude: &[u8]) -> Result<Mpint, KeyError> {
    let mut with_sign = Zeroizing::new(Vec::with_capacity(magnitude.len() + 1));
    if magnitude.first().is_some_and(|byte| byte & 0x80 != 0) {
        with_sign.push(0);
    }
    with_sign.extend_from_slice(magnitude);
    Mpint::from_bytes(&with_sign).map_err(|_| bad_own_der())
}

fn pem(label: &str, der: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Internal("PEM encoding failed"))
}

fn single_line(comment: &str) -> String {
    comment
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsBigEndian as _;
    use std::sync::OnceLock;

    fn rsa_key() -> &'static GeneratedKey {
        static KEY: OnceLock<GeneratedKey> = OnceLock::new();
        KEY.get_or_init(|| GeneratedKey::generate_rsa2048().unwrap())
    }

    fn ed25519_key() -> &'static GeneratedKey {
        static KEY: OnceLock<GeneratedKey> = OnceLock::new();
        KEY.get_or_init(|| GeneratedKey::generate_ed25519().unwrap())
    }

    #[test]
    fn generated_key_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GeneratedKey>();
    }

    #[test]
    fn rsa_is_2048_bits_with_exponent_65537() {
        let key = rsa_key();
        assert_eq!(key.algorithm(), KeyAlgorithm::Rsa);
        let public = key.public_key();
        assert_eq!(public.bits(), Some(2048));
        // "ssh-rsa", e = 0x010001, then a 2048-bit modulus with its sign byte.
        let blob = key.ssh_public_blob();
        assert_eq!(
            &blob[..18],
            b"\x00\x00\x00\x07ssh-rsa\x00\x00\x00\x03\x01\x00\x01"
        );
        assert_eq!(&blob[18..23], &[0x00, 0x00, 0x01, 0x01, 0x00]);
        assert_eq!(blob.len(), 18 + 4 + 257);
    }

    #[test]
    fn rsa_pems_have_the_expected_armour_and_64_column_lines() {
        let key = rsa_key();
        for (pem, label) in [
            (key.pkcs1_pem().unwrap(), "RSA PRIVATE KEY"),
            (key.pkcs8_pem().unwrap(), "PRIVATE KEY"),
        ] {
            assert!(pem.starts_with(&format!("-----BEGIN {label}-----\n")));
            assert!(pem.ends_with(&format!("\n-----END {label}-----\n")));
            assert!(!pem.contains('\r'));
            let body: Vec<&str> = pem
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect();
            assert!(body[..body.len() - 1].iter().all(|line| line.len() == 64));
        }
    }

    #[test]
    fn rsa_fingerprints_hash_the_right_bytes() {
        let key = rsa_key();
        let Secret::Rsa { pkcs8_der } = &key.secret else {
            unreachable!()
        };
        assert_eq!(key.aws_fingerprint(), sha1_colon_hex(pkcs8_der));
        assert_eq!(key.aws_fingerprint().len(), 20 * 3 - 1);
        assert_eq!(key.md5_fingerprint(), md5_colon_hex(&key.ssh_public_blob()));
        assert_eq!(key.md5_fingerprint(), key.public_key().md5_fingerprint());
    }

    #[test]
    fn ed25519_fingerprints_and_public_line() {
        let key = ed25519_key();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        let blob = key.ssh_public_blob();
        assert_eq!(blob.len(), 4 + 11 + 4 + 32);
        assert_eq!(key.aws_fingerprint(), sha256_base64_padded(&blob));
        assert_eq!(key.aws_fingerprint().len(), 44);
        assert!(key.aws_fingerprint().ends_with('='));
        assert_eq!(
            key.aws_fingerprint(),
            key.public_key().aws_import_fingerprint()
        );
        let line = key.openssh_public_line("");
        assert_eq!(line, key.public_key().openssh_line());
        assert_eq!(line.split(' ').count(), 2);
        assert_eq!(key.openssh_public_line("a\nb"), format!("{line} a b"));
    }

    #[test]
    fn pkcs1_is_refused_for_ed25519() {
        assert!(matches!(
            ed25519_key().pkcs1_pem(),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn ed25519_seed_is_the_same_from_pkcs8_v1_and_v2() {
        let pair = Ed25519KeyPair::generate().unwrap();
        let public: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        let v1 = pair.to_pkcs8v1().unwrap();
        let v2 = pair.to_pkcs8().unwrap();
        assert_ne!(
            v1.as_ref(),
            v2.as_ref(),
            "aws-lc-rs's default PKCS#8 carries the public key"
        );
        let from_v1 = ed25519_seed_from_pkcs8(v1.as_ref(), &public).unwrap();
        let from_v2 = ed25519_seed_from_pkcs8(v2.as_ref(), &public).unwrap();
        assert_eq!(*from_v1, *from_v2);
        let seed = pair.seed().unwrap();
        let seed_bytes = seed.as_be_bytes().unwrap();
        assert_eq!(from_v1.as_slice(), seed_bytes.as_ref());
        // A v2 document whose public key is not ours is refused.
        assert!(ed25519_seed_from_pkcs8(v2.as_ref(), &[0u8; 32]).is_err());
    }

    #[test]
    fn pkcs8_round_trips_through_from_pkcs8_der() {
        for key in [rsa_key(), ed25519_key()] {
            let pem = key.pkcs8_pem().unwrap();
            let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).unwrap();
            assert_eq!(label, "PRIVATE KEY");
            let reloaded = GeneratedKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(reloaded.ssh_public_blob(), key.ssh_public_blob());
            assert_eq!(reloaded.aws_fingerprint(), key.aws_fingerprint());
            assert_eq!(*reloaded.pkcs8_pem().unwrap(), *pem);
        }
        assert!(matches!(
            GeneratedKey::from_pkcs8_der(b"\x30\x00"),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn openssh_private_keys_parse_back_to_the_same_public_key() {
        for key in [rsa_key(), ed25519_key()] {
            let pem = key.openssh_private_pem("c").unwrap();
            assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
            let parsed = ssh_key::PrivateKey::from_openssh(pem.as_bytes()).unwrap();
            assert_eq!(parsed.comment(), "c");
            assert_eq!(
                parsed.public_key().to_bytes().unwrap(),
                key.ssh_public_blob()
            );
        }
    }

    #[test]
    fn ppk_headers_and_line_counts() {
        let key = ed25519_key();
        let text = key.ppk(PpkVersion::default(), "line\r\nbreak").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "PuTTY-User-Key-File-2: ssh-ed25519");
        assert_eq!(lines[1], "Encryption: none");
        assert_eq!(lines[2], "Comment: line  break");
        assert_eq!(lines[3], "Public-Lines: 2");
        assert_eq!(lines[6], "Private-Lines: 1");
        assert_eq!(STANDARD.decode(lines[7]).unwrap().len(), 4 + 32);
        assert!(lines[8].starts_with("Private-MAC: "));
        assert_eq!(lines[8].len(), "Private-MAC: ".len() + 40);
        let v3 = key.ppk(PpkVersion::V3, "").unwrap();
        assert!(v3.starts_with("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: \n"));
        assert_eq!(v3.lines().last().unwrap().len(), "Private-MAC: ".len() + 64);
    }

    #[test]
    fn debug_output_carries_no_private_material() {
        for key in [rsa_key(), ed25519_key()] {
            let debug = format!("{key:?}");
            assert_eq!(
                debug,
                format!(
                    "GeneratedKey {{ algorithm: {:?}, md5_fingerprint: {:?}, .. }}",
                    key.algorithm(),
                    key.md5_fingerprint()
                )
            );
        }
    }
}
