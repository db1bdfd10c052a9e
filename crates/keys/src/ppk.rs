//! Unencrypted PuTTY private key files, versions 2 and 3.
//!
//! Hand-written because the only PPK crate pulls in a pre-release of `rsa`. The layout and both
//! MACs were checked byte for byte against puttygen 0.78 (see `tests/oracles.rs`): puttygen
//! converting our PKCS#1 or OpenSSH output produces exactly the file written here.

use std::fmt::Write as _;

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::PpkVersion;

const LINE_WIDTH: usize = 64;
/// Version 2 keys its MAC with SHA-1 of this string followed by the passphrase (empty here).
const V2_MAC_KEY_SEED: &[u8] = b"putty-private-key-file-mac-key";

pub(crate) struct PpkParts<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) comment: &'a str,
    pub(crate) public_blob: &'a [u8],
    pub(crate) private_blob: &'a [u8],
}

pub(crate) fn encode(version: PpkVersion, parts: &PpkParts<'_>) -> Zeroizing<String> {
    let public_base64 = STANDARD.encode(parts.public_blob);
    let private_base64 = Zeroizing::new(STANDARD.encode(parts.private_blob));
    let header_version = match version {
        PpkVersion::V2 => 2,
        PpkVersion::V3 => 3,
    };

    // Reserved up front so the buffer holding private base64 never reallocates.
    let capacity = 256
        + parts.algorithm.len()
        + parts.comment.len()
        + public_base64.len() * 2
        + private_base64.len() * 2;
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    let reserved = out.capacity();
    let text = &mut *out;
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "PuTTY-User-Key-File-{header_version}: {}",
        parts.algorithm
    );
    text.push_str("Encryption: none\n");
    let _ = writeln!(text, "Comment: {}", parts.comment);
    push_base64_section(text, "Public-Lines", &public_base64);
    push_base64_section(text, "Private-Lines", &private_base64);
    let _ = writeln!(text, "Private-MAC: {}", hex::encode(mac(version, parts)));
    debug_assert_eq!(text.capacity(), reserved, "PPK buffer reallocated");
    out
}

fn push_base64_section(out: &mut String, label: &str, base64: &str) {
    let lines = base64.len().div_ceil(LINE_WIDTH);
    let _ = writeln!(out, "{label}: {lines}");
    for line in base64.as_bytes().chunks(LINE_WIDTH) {
        // Base64 output is ASCII, so every chunk is a whole str.
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
}

/// HMAC over the SSH `string` encodings of algorithm, encryption, comment, public blob and
/// private blob. Fed piecewise so the private blob is never copied into another buffer.
fn mac(version: PpkVersion, parts: &PpkParts<'_>) -> hmac::Tag {
    let key = match version {
        PpkVersion::V2 => {
            let mac_key = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, V2_MAC_KEY_SEED);
            hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, mac_key.as_ref())
        }
        PpkVersion::V3 => hmac::Key::new(hmac::HMAC_SHA256, &[]),
    };
    let mut context = hmac::Context::with_key(&key);
    for field in [
        parts.algorithm.as_bytes(),
        b"none",
        parts.comment.as_bytes(),
        parts.public_blob,
        parts.private_blob,
    ] {
        let length = u32::try_from(field.len()).expect("PPK fields are shorter than 4 GiB");
        context.update(&length.to_be_bytes());
        context.update(field);
    }
    context.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key puttygen 0.78 wrote (`puttygen ed -O private -C "my comment"`, with and without
    // `--ppk-param version=2`); rebuilding it from its parts must give the same bytes.
    const PUBLIC_BASE64: &str =
        "AAAAC3NzaC1lZDI1NTE5AAAAIOCjL3BFLRe4ATfOU/YdFx6gMt/lYT8MYIBCMSAwMqfb";
    const PRIVATE_BASE64: &str = "AAAAICPSKZp4h8+wJa4IsT+a+/NATrBH5piHVBA8ADaHSrOM";
    const PUTTYGEN_V3: &str = "PuTTY-User-Key-File-3: ssh-ed25519
Encryption: none
Comment: my comment
Public-Lines: 2
AAAAC3NzaC1lZDI1NTE5AAAAIOCjL3BFLRe4ATfOU/YdFx6gMt/lYT8MYIBCMSAw
Mqfb
Private-Lines: 1
AAAAICPSKZp4h8+wJa4IsT+a+/NATrBH5piHVBA8ADaHSrOM
Private-MAC: afd1d81cfbf8a023bcc8c81e03a2dc4fdeb2c9f2c9c70df23bb7f9ce94a3e1cf
";
    const PUTTYGEN_V2_MAC: &str = "d7e57bcc383690213dd72725a96e33b78a261fe9";

    fn rebuild(version: PpkVersion) -> Zeroizing<String> {
        let public_blob = STANDARD.decode(PUBLIC_BASE64).unwrap();
        let private_blob = STANDARD.decode(PRIVATE_BASE64).unwrap();
        encode(
            version,
            &PpkParts {
                algorithm: "ssh-ed25519",
                comment: "my comment",
                public_blob: &public_blob,
                private_blob: &private_blob,
            },
        )
    }

    #[test]
    fn version_3_matches_puttygen_byte_for_byte() {
        assert_eq!(rebuild(PpkVersion::V3).as_str(), PUTTYGEN_V3);
    }

    #[test]
    fn version_2_differs_only_in_header_and_sha1_mac() {
        let expected = PUTTYGEN_V3.replace("File-3", "File-2").replace(
            "afd1d81cfbf8a023bcc8c81e03a2dc4fdeb2c9f2c9c70df23bb7f9ce94a3e1cf",
            PUTTYGEN_V2_MAC,
        );
        assert_eq!(rebuild(PpkVersion::V2).as_str(), expected);
    }

    #[test]
    fn line_counts_round_up_and_lines_are_64_wide() {
        let mut out = String::new();
        push_base64_section(&mut out, "Public-Lines", &"A".repeat(129));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Public-Lines: 3");
        assert_eq!(
            lines[1..].iter().map(|line| line.len()).collect::<Vec<_>>(),
            [64, 64, 1]
        );
    }
}
