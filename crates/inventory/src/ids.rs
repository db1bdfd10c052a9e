//! Identifiers and generated credentials. All randomness comes from the operating system's
//! generator (`getrandom`), which needs no seeding in this process: making the first ID must not
//! wait for aws-lc-rs's generator to seed itself (tens of milliseconds, see `main.rs`).

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the system random number generator failed");
    bytes
}

/// Picks `len` characters uniformly from `alphabet` (rejection sampling, no modulo bias).
fn random_from(alphabet: &[u8], len: usize) -> String {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<64>() {
            if (byte as usize) < limit && out.len() < len {
                out.push(alphabet[byte as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// EC2 key pair IDs: `key-` and 17 lowercase hex digits.
pub fn aws_key_pair_id() -> String {
    format!("key-{}", &hex::encode(random_bytes::<9>())[..17])
}

/// Alibaba key pair IDs: `ssh-` and lowercase alphanumerics.
pub fn aliyun_key_pair_id() -> String {
    format!(
        "ssh-{}",
        random_from(b"abcdefghijklmnopqrstuvwxyz0123456789", 20)
    )
}

/// Twelve decimal digits, like an AWS account number.
pub fn account_id() -> String {
    random_from(b"0123456789", 12)
}

/// `AKIA` and 16 uppercase alphanumerics, the shape AWS tooling expects of an access key ID.
pub fn access_key_id() -> String {
    format!(
        "AKIA{}",
        random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    )
}

/// 40 characters from the base64 alphabet, like an AWS secret access key.
pub fn secret_access_key() -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )
}

/// Access key IDs given on the command line: 3 to 128 characters of `[A-Za-z0-9]`, so test
/// suites can use fixed ones like `testing`.
pub fn is_valid_access_key_id(id: &str) -> bool {
    (3..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_key_pair_ids_have_the_ec2_shape() {
        for _ in 0..200 {
            let id = aws_key_pair_id();
            assert_eq!(id.len(), 21, "{id}");
            assert!(id.starts_with("key-"));
            assert!(id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        assert_ne!(aws_key_pair_id(), aws_key_pair_id());
    }

    #[test]
    fn aliyun_ids_and_credentials_have_their_shapes() {
        let id = aliyun_key_pair_id();
        assert!(id.starts_with("ssh-") && id.len() == 24, "{id}");
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let account = account_id();
        assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        let akid = access_key_id();
        assert!(akid.starts_with("AKIA") && akid.len() == 20 && is_valid_access_key_id(&akid));
        assert_eq!(secret_access_key().len(), 40);
    }

    #[test]
    fn access_key_id_rule() {
        assert!(is_valid_access_key_id("testing"));
        assert!(is_valid_access_key_id("abc"));
        assert!(!is_valid_access_key_id("ab"));
        assert!(!is_valid_access_key_id(&"a".repeat(129)));
        assert!(is_valid_access_key_id(&"a".repeat(128)));
        assert!(!is_valid_access_key_id("with-dash"));
        assert!(!is_valid_access_key_id("ünïcode"));
    }
}
