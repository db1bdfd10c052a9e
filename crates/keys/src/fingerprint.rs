//! Digest helpers shared by the provider rules.
//!
//! MD5 and SHA-1 appear only because the clouds fingerprint with them; nothing here relies on
//! their collision resistance.

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// SHA-256 of `blob` in standard base64 with `=` padding: how EC2 prints ED25519 fingerprints
/// (`ssh-keygen -l` prints the same digest unpadded, after `SHA256:`).
pub fn sha256_base64_padded(blob: &[u8]) -> String {
    STANDARD.encode(digest::digest(&digest::SHA256, blob))
}

/// MD5 of `data` as lowercase hex pairs joined by colons (`ssh-keygen -E md5` style).
pub fn md5_colon_hex(data: &[u8]) -> String {
    colon_hex(&Md5::digest(data))
}

/// SHA-1 of `data` as lowercase colon hex, as `openssl sha1 -c` prints it.
pub(crate) fn sha1_colon_hex(data: &[u8]) -> String {
    colon_hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref())
}

pub(crate) fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(':');
        }
        out.push_str(&hex::encode([*byte]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_empty_input_is_the_rfc_1321_vector() {
        assert_eq!(
            md5_colon_hex(b""),
            "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e"
        );
    }

    #[test]
    fn md5_of_abc_is_the_rfc_1321_vector() {
        assert_eq!(
            md5_colon_hex(b"abc"),
            "90:01:50:98:3c:d2:4f:b0:d6:96:3f:7d:28:e1:7f:72"
        );
    }

    #[test]
    fn sha256_of_abc_is_padded_standard_base64() {
        // FIPS 180-2 vector ba7816bf...f20015ad in base64; 32 bytes always end in one '='.
        assert_eq!(
            sha256_base64_padded(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn sha1_of_abc_is_the_fips_vector_in_colon_hex() {
        assert_eq!(
            sha1_colon_hex(b"abc"),
            "a9:99:3e:36:47:06:81:6a:ba:3e:25:71:78:50:c2:6c:9c:d0:d8:9d"
        );
    }

    #[test]
    fn colon_hex_keeps_leading_zeros_and_has_no_trailing_colon() {
        assert_eq!(colon_hex(&[0x00, 0x0a, 0xff]), "00:0a:ff");
        assert_eq!(colon_hex(&[]), "");
    }
}
