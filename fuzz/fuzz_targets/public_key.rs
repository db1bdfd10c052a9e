//! Public-key import under both providers' rules: OpenSSH lines, RFC 4716 blocks and base64 DER
//! (EC2), OpenSSH lines only (ECS). The input is the key text as a client would send it.
//!
//! Properties: no input panics; every accepted key has one identity (its SSH blob parses back
//! to the same key, and its OpenSSH line is imported again as the same key); ssh-key, an
//! independent parser, reads the blob as the same type and agrees on the SHA-256 fingerprint;
//! RSA sizes are within the rule's bounds; and an OpenSSH line ECS accepts is accepted by EC2
//! too, as the same key, whenever the key's type and size are ones EC2 imports.
#![no_main]

use keypaird_keys::{KeyAlgorithm, PublicKey, AWS_RSA_MAX_BITS, RSA_MIN_BITS};
use libfuzzer_sys::fuzz_target;
use ssh_key::HashAlg;

fuzz_target!(|data: &[u8]| {
    let aws = PublicKey::parse_aws_import(data);
    if let Ok(key) = &aws {
        check_identity(key);
        assert!(matches!(
            key.algorithm(),
            KeyAlgorithm::Rsa | KeyAlgorithm::Ed25519
        ));
        check_rsa_bits(key, AWS_RSA_MAX_BITS);
        assert_eq!(
            PublicKey::parse_aws_import(key.openssh_line().as_bytes()).ok(),
            Some(key.clone()),
            "EC2 reads back its own line"
        );
    }

    let Ok(text) = std::str::from_utf8(data) else {
        assert!(aws.is_err(), "EC2 accepted key text that is not UTF-8");
        return;
    };
    let Ok(key) = PublicKey::parse_aliyun_import(text) else {
        return;
    };
    check_identity(&key);
    check_rsa_bits(&key, u32::MAX);
    assert_eq!(
        PublicKey::parse_aliyun_import(&key.openssh_line()).ok(),
        Some(key.clone()),
        "ECS reads back its own line"
    );
    let ec2_imports_it = match key.algorithm() {
        KeyAlgorithm::Ed25519 => true,
        KeyAlgorithm::Rsa => key.bits() <= Some(AWS_RSA_MAX_BITS),
        KeyAlgorithm::Dsa | KeyAlgorithm::Ecdsa => false,
    };
    if ec2_imports_it {
        assert_eq!(aws.ok(), Some(key), "EC2 and ECS read one line apart");
    }
});

fn check_identity(key: &PublicKey) {
    let blob = key.ssh_public_blob();
    assert_eq!(PublicKey::from_ssh_blob(blob).ok().as_ref(), Some(key));

    let independent = ssh_key::PublicKey::from_bytes(blob).expect("ssh-key reads our blob");
    assert_eq!(independent.algorithm().as_str(), key.ssh_type());
    assert_eq!(
        independent.to_bytes().expect("ssh-key re-encodes"),
        blob,
        "the blob is already in ssh-key's canonical form"
    );
    let md5 = key.md5_fingerprint();
    assert_eq!(md5.len(), 16 * 3 - 1, "{md5}");
    if key.algorithm() != KeyAlgorithm::Rsa {
        // EC2's rule for these is the padded base64 SHA-256 that ssh-keygen prints unpadded.
        let sha256 = independent.fingerprint(HashAlg::Sha256).to_string();
        let ours = key.aws_import_fingerprint();
        assert_eq!(format!("SHA256:{}", ours.trim_end_matches('=')), sha256);
        assert!(ours.ends_with('='), "{ours}");
    }
}

fn check_rsa_bits(key: &PublicKey, max: u32) {
    match key.algorithm() {
        KeyAlgorithm::Rsa => {
            let bits = key.bits().expect("an RSA key has a size");
            assert!((RSA_MIN_BITS..=max).contains(&bits), "{bits} bits");
        }
        _ => assert_eq!(key.bits(), None),
    }
}
