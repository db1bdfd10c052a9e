//! The private-key encoders' round trips: PKCS#8 and PKCS#1 PEM, OpenSSH and PPK v2/v3, each
//! written by keypaird and read back by something else (the pkcs8/pkcs1 crates, ssh-key, and a
//! reader of the PPK format written here from PuTTY's documentation).
//!
//! Input: one selector byte (bit 0: PPK version 2 or 3; bit 1: ED25519 or RSA; the rest picks
//! one of the fixed RSA keys in `fuzz/keys/`), then for ED25519 the 32-byte seed, then the
//! comment (UTF-8, lossily). RSA keys come from a fixed pool because generating one per input
//! would take the whole time budget; what varies for them is the comment and the PPK version.
//!
//! Properties: every encoding decodes to exactly the key that was loaded, the comment comes
//! back with its control characters turned into spaces, and the PPK MAC verifies.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypaird_keys::{GeneratedKey, KeyAlgorithm, PpkVersion};
use libfuzzer_sys::fuzz_target;
use pkcs8::der::{Decode as _, SecretDocument};
use pkcs8::PrivateKeyInfo;
use ssh_key::private::KeypairData;

/// PKCS#8 v1 of an ED25519 key, up to its 32-byte seed (RFC 8410 §7 and §10.3).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_OID: &str = "1.3.101.112";
const RSA_OID: &str = "1.2.840.113549.1.1.1";

const RSA_POOL_PEMS: [&str; 3] = [
    include_str!("../keys/rsa2048-a.pk8.pem"),
    include_str!("../keys/rsa2048-b.pk8.pem"),
    include_str!("../keys/rsa3072.pk8.pem"),
];

/// What a key is, as read from its source by the independent crates.
enum Expected<'a> {
    Ed25519 { seed: [u8; 32] },
    Rsa { parts: &'a RsaParts },
}

/// Big-endian magnitudes without leading zeros.
#[derive(Debug, PartialEq, Eq)]
struct RsaParts {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    iqmp: Vec<u8>,
}

fn rsa_pool() -> &'static [(GeneratedKey, RsaParts)] {
    static POOL: OnceLock<Vec<(GeneratedKey, RsaParts)>> = OnceLock::new();
    POOL.get_or_init(|| {
        RSA_POOL_PEMS
            .iter()
            .map(|pem| {
                let (label, document) = SecretDocument::from_pem(pem).expect("fixed key PEM");
                assert_eq!(label, "PRIVATE KEY");
                let key = GeneratedKey::from_pkcs8_der(document.as_bytes()).expect("fixed key");
                let parts = rsa_parts_of_pkcs8(document.as_bytes());
                (key, parts)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = if selector & 1 == 0 {
        PpkVersion::V2
    } else {
        PpkVersion::V3
    };
    let ed25519;
    let (key, expected, comment_bytes) = if selector & 2 == 0 {
        let Some((seed, comment)) = rest.split_first_chunk::<32>() else {
            return;
        };
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(seed);
        ed25519 = GeneratedKey::from_pkcs8_der(&der).expect("every 32-byte seed is a key");
        (&ed25519, Expected::Ed25519 { seed: *seed }, comment)
    } else {
        let pool = rsa_pool();
        let (key, parts) = &pool[usize::from(selector >> 2) % pool.len()];
        (key, Expected::Rsa { parts }, rest)
    };
    let comment = String::from_utf8_lossy(comment_bytes);
    let shown_comment: String = comment
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();

    check_pkcs8_and_pkcs1(key, &expected);
    check_openssh(key, &expected, &comment, &shown_comment);
    check_ppk(key, &expected, version, &comment, &shown_comment);
    check_public_line(key, &comment, &shown_comment);
});

fn rsa_parts_of_pkcs8(der: &[u8]) -> RsaParts {
    let info = PrivateKeyInfo::from_der(der).expect("PKCS#8 DER");
    assert_eq!(info.algorithm.oid.to_string(), RSA_OID);
    let rsa = pkcs1::RsaPrivateKey::from_der(info.private_key).expect("PKCS#1 inside PKCS#8");
    rsa_parts_of_pkcs1(&rsa)
}

fn rsa_parts_of_pkcs1(rsa: &pkcs1::RsaPrivateKey<'_>) -> RsaParts {
    RsaParts {
        n: rsa.modulus.as_bytes().to_vec(),
        e: rsa.public_exponent.as_bytes().to_vec(),
        d: rsa.private_exponent.as_bytes().to_vec(),
        p: rsa.prime1.as_bytes().to_vec(),
        q: rsa.prime2.as_bytes().to_vec(),
        iqmp: rsa.coefficient.as_bytes().to_vec(),
    }
}

fn check_pkcs8_and_pkcs1(key: &GeneratedKey, expected: &Expected) {
    let pem = key.pkcs8_pem().expect("PKCS#8 PEM");
    let (label, document) = SecretDocument::from_pem(&pem).expect("our PKCS#8 PEM decodes");
    assert_eq!(label, "PRIVATE KEY");
    match expected {
        Expected::Ed25519 { seed } => {
            let info = PrivateKeyInfo::from_der(document.as_bytes()).expect("PKCS#8 DER");
            assert_eq!(info.algorithm.oid.to_string(), ED25519_OID);
            assert_eq!(info.algorithm.parameters, None);
            let mut inner = vec![0x04, 0x20];
            inner.extend_from_slice(seed);
            assert_eq!(info.private_key, inner.as_slice());
            assert!(key.pkcs1_pem().is_err(), "PKCS#1 is RSA only");
        }
        Expected::Rsa { parts } => {
            assert_eq!(&rsa_parts_of_pkcs8(document.as_bytes()), *parts);
            let pem = key.pkcs1_pem().expect("PKCS#1 PEM");
            let (label, document) = SecretDocument::from_pem(&pem).expect("our PKCS#1 PEM");
            assert_eq!(label, "RSA PRIVATE KEY");
            let rsa = pkcs1::RsaPrivateKey::from_der(document.as_bytes()).expect("PKCS#1 DER");
            assert_eq!(&rsa_parts_of_pkcs1(&rsa), *parts);
        }
    }
}

fn check_openssh(key: &GeneratedKey, expected: &Expected, comment: &str, shown_comment: &str) {
    let pem = key.openssh_private_pem(comment).expect("OpenSSH PEM");
    let parsed = ssh_key::PrivateKey::from_openssh(pem.as_bytes()).expect("ssh-key reads it");
    assert!(!parsed.is_encrypted());
    assert_eq!(parsed.comment(), shown_comment);
    assert_eq!(
        parsed.public_key().to_bytes().expect("public blob"),
        key.ssh_public_blob()
    );
    match (parsed.key_data(), expected) {
        (KeypairData::Ed25519(pair), Expected::Ed25519 { seed }) => {
            assert_eq!(&pair.private.to_bytes(), seed);
        }
        (KeypairData::Rsa(pair), Expected::Rsa { parts }) => {
            let magnitude = |m: &ssh_key::Mpint| m.as_positive_bytes().expect("positive").to_vec();
            let read = RsaParts {
                n: magnitude(&pair.public.n),
                e: magnitude(&pair.public.e),
                d: magnitude(&pair.private.d),
                p: magnitude(&pair.private.p),
                q: magnitude(&pair.private.q),
                iqmp: magnitude(&pair.private.iqmp),
            };
            assert_eq!(&read, *parts);
        }
        (other, _) => panic!("OpenSSH key of the wrong type: {:?}", other.algorithm()),
    }
}

/// The PPK file as PuTTY documents it (unencrypted: no key-derivation lines).
struct PpkFile {
    version: u8,
    algorithm: String,
    encryption: String,
    comment: String,
    public_blob: Vec<u8>,
    private_blob: Vec<u8>,
    mac: Vec<u8>,
}

fn read_ppk(text: &str) -> PpkFile {
    assert!(!text.contains('\r'), "PPK lines end in LF");
    let mut lines = PpkLines(text.split('\n'));
    let (first, algorithm) = lines.any_header();
    let version = match first.as_str() {
        "PuTTY-User-Key-File-2" => 2,
        "PuTTY-User-Key-File-3" => 3,
        other => panic!("unknown PPK header {other:?}"),
    };
    let encryption = lines.header("Encryption");
    let comment = lines.header("Comment");
    let public_blob = lines.base64_section("Public-Lines");
    let private_blob = lines.base64_section("Private-Lines");
    let mac = hex_decode(&lines.header("Private-MAC"));
    assert_eq!(lines.0.next(), Some(""), "the file ends with a newline");
    assert_eq!(lines.0.next(), None, "nothing after the MAC");
    PpkFile {
        version,
        algorithm,
        encryption,
        comment,
        public_blob,
        private_blob,
        mac,
    }
}

struct PpkLines<'a>(std::str::Split<'a, char>);

impl PpkLines<'_> {
    fn any_header(&mut self) -> (String, String) {
        let line = self.0.next().expect("another line");
        let (name, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("not a header line: {line:?}"));
        (name.to_owned(), value.to_owned())
    }

    fn header(&mut self, name: &str) -> String {
        let (found, value) = self.any_header();
        assert_eq!(found, name);
        value
    }

    fn base64_section(&mut self, name: &str) -> Vec<u8> {
        let count: usize = self.header(name).parse().expect("a line count");
        let mut text = String::new();
        for _ in 0..count {
            let line = self.0.next().expect("a base64 line");
            assert!(line.len() <= 64, "base64 lines are at most 64 columns");
            text.push_str(line);
        }
        STANDARD.decode(text).expect("base64")
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0);
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Splits an SSH `string` off the front of `blob`.
fn take_string(blob: &mut &[u8]) -> Vec<u8> {
    let (length, rest) = blob.split_first_chunk::<4>().expect("a length");
    let length = u32::from_be_bytes(*length) as usize;
    assert!(rest.len() >= length, "string runs past the blob");
    let (value, rest) = rest.split_at(length);
    *blob = rest;
    value.to_vec()
}

/// An SSH `mpint` that must be positive and minimally encoded; returns its magnitude.
fn take_positive_mpint(blob: &mut &[u8]) -> Vec<u8> {
    let bytes = take_string(blob);
    match bytes.as_slice() {
        [] => Vec::new(),
        [0, next, ..] => {
            assert!(*next >= 0x80, "needless leading zero");
            bytes[1..].to_vec()
        }
        [first, ..] => {
            assert!(*first < 0x80, "negative mpint");
            bytes
        }
    }
}

fn ssh_string(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

fn check_ppk(
    key: &GeneratedKey,
    expected: &Expected,
    version: PpkVersion,
    comment: &str,
    shown_comment: &str,
) {
    let text = key.ppk(version, comment).expect("PPK");
    let file = read_ppk(&text);
    let ssh_type = match key.algorithm() {
        KeyAlgorithm::Rsa => "ssh-rsa",
        KeyAlgorithm::Ed25519 => "ssh-ed25519",
        other => panic!("generated {other:?}"),
    };
    assert_eq!(file.version, if version == PpkVersion::V2 { 2 } else { 3 });
    assert_eq!(file.algorithm, ssh_type);
    assert_eq!(file.encryption, "none");
    assert_eq!(file.comment, shown_comment);
    assert_eq!(file.public_blob, key.ssh_public_blob());

    let mut private = file.private_blob.as_slice();
    match expected {
        Expected::Ed25519 { seed } => assert_eq!(take_string(&mut private), seed),
        Expected::Rsa { parts } => {
            assert_eq!(take_positive_mpint(&mut private), parts.d);
            assert_eq!(take_positive_mpint(&mut private), parts.p);
            assert_eq!(take_positive_mpint(&mut private), parts.q);
            assert_eq!(take_positive_mpint(&mut private), parts.iqmp);
        }
    }
    assert!(private.is_empty(), "unencrypted PPK has no padding");

    let mut mac_input = Vec::new();
    for field in [
        file.algorithm.as_bytes(),
        file.encryption.as_bytes(),
        file.comment.as_bytes(),
        &file.public_blob,
        &file.private_blob,
    ] {
        ssh_string(&mut mac_input, field);
    }
    let mac_key = match version {
        PpkVersion::V2 => {
            let seed = digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                b"putty-private-key-file-mac-key",
            );
            hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed.as_ref())
        }
        PpkVersion::V3 => hmac::Key::new(hmac::HMAC_SHA256, b""),
    };
    hmac::verify(&mac_key, &mac_input, &file.mac).expect("the PPK MAC verifies");
}

fn check_public_line(key: &GeneratedKey, comment: &str, shown_comment: &str) {
    let public = key.public_key();
    assert_eq!(public.ssh_public_blob(), key.ssh_public_blob());
    let line = key.openssh_public_line(comment);
    let bare = public.openssh_line();
    if shown_comment.is_empty() {
        assert_eq!(line, bare);
    } else {
        assert_eq!(line, format!("{bare} {shown_comment}"));
    }
    assert!(!line.contains(['\n', '\r']));
    if key.algorithm() == KeyAlgorithm::Ed25519 {
        assert_eq!(key.aws_fingerprint(), public.aws_import_fingerprint());
    }
    assert_eq!(key.md5_fingerprint(), public.md5_fingerprint());
}
