//! Reading the RFC 4716 "SSH2 public key" block that `ssh-keygen -e` and PuTTYgen export.
//!
//! Hand-written because ssh-key does not read it. Only the key blob is extracted: headers
//! (including `Comment:`) are checked for shape and then dropped, since nothing downstream keys
//! off them. Any line ending is accepted because these blocks travel through Windows tools.

use crate::public::ssh_base64_decode;
use crate::KeyError;

pub(crate) const BEGIN_MARKER: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
const END_MARKER: &str = "---- END SSH2 PUBLIC KEY ----";
const MAX_HEADER_TAG_LEN: usize = 64;

/// Returns the SSH wire-format public key blob inside an RFC 4716 block.
pub(crate) fn decode_block(text: &str) -> Result<Vec<u8>, KeyError> {
    const NOT_RFC4716: KeyError = KeyError::Malformed("not a valid RFC 4716 public key block");

    let unified = text.replace("\r\n", "\n");
    let mut lines = unified.split(['\n', '\r']).map(str::trim);

    if lines.by_ref().find(|line| !line.is_empty()) != Some(BEGIN_MARKER) {
        return Err(NOT_RFC4716);
    }

    let mut body = String::new();
    let mut in_headers = true;
    let mut continues_header = false;
    let mut ended = false;
    for line in lines.by_ref() {
        if continues_header {
            continues_header = line.ends_with('\\');
            continue;
        }
        if line == END_MARKER {
            ended = true;
            break;
        }
        if line.is_empty() {
            continue;
        }
        if in_headers {
            if let Some((tag, _value)) = line.split_once(':') {
                if !is_header_tag(tag) {
                    return Err(NOT_RFC4716);
                }
                continues_header = line.ends_with('\\');
                continue;
            }
            in_headers = false;
        }
        // A header after the body is out of place; any other byte outside the base64
        // alphabet is skipped when the body is decoded.
        if line.contains(':') {
            return Err(NOT_RFC4716);
        }
        body.push_str(line);
    }

    if !ended || continues_header || body.is_empty() || lines.any(|line| !line.is_empty()) {
        return Err(NOT_RFC4716);
    }
    ssh_base64_decode(&body).ok_or(NOT_RFC4716)
}

/// RFC 4716 §3.3: 1 to 64 printable US-ASCII characters other than colon and space.
fn is_header_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_HEADER_TAG_LEN
        && tag
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    // "ssh-ed25519" blob with a public key of 32 bytes 0x00..0x1f.
    const BLOB_B64: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";

    fn expected_blob() -> Vec<u8> {
        let mut blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20".to_vec();
        blob.extend(0u8..32);
        blob
    }

    #[test]
    fn reads_a_block_with_a_continued_comment_and_crlf() {
        let text = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\r\nComment: \"a very long comment that \\\r\ncontinues here\"\r\nx-Private: yes\r\n{}\r\n{}\r\n---- END SSH2 PUBLIC KEY ----\r\n",
            &BLOB_B64[..40],
            &BLOB_B64[40..]
        );
        assert_eq!(decode_block(&text).unwrap(), expected_blob());
    }

    #[test]
    fn continuation_lines_may_look_like_base64_or_headers() {
        let text = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: abc\\\nAAAA\\\nSubject: x\n{BLOB_B64}\n---- END SSH2 PUBLIC KEY ----"
        );
        assert_eq!(decode_block(&text).unwrap(), expected_blob());
    }

    #[test]
    fn reads_bare_cr_line_endings_and_no_headers() {
        let text = format!("{BEGIN_MARKER}\r{BLOB_B64}\r{END_MARKER}\r");
        assert_eq!(decode_block(&text).unwrap(), expected_blob());
    }

    #[test]
    fn skips_bytes_outside_the_base64_alphabet_in_the_body() {
        let text = format!(
            "{BEGIN_MARKER}\n{}\\ *\n\u{e9}{}\n{END_MARKER}\n",
            &BLOB_B64[..40],
            &BLOB_B64[40..]
        );
        assert_eq!(decode_block(&text).unwrap(), expected_blob());
        let only_junk = format!("{BEGIN_MARKER}\n\\*\\\n{END_MARKER}\n");
        assert!(matches!(
            decode_block(&only_junk),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_missing_end_marker() {
        let text = format!("{BEGIN_MARKER}\n{BLOB_B64}\n");
        assert!(matches!(decode_block(&text), Err(KeyError::Malformed(_))));
    }

    #[test]
    fn rejects_text_after_the_end_marker() {
        let text = format!("{BEGIN_MARKER}\n{BLOB_B64}\n{END_MARKER}\nssh-rsa AAAA\n");
        assert!(matches!(decode_block(&text), Err(KeyError::Malformed(_))));
    }

    #[test]
    fn rejects_headers_after_the_body_and_bad_tags() {
        let late_header = format!("{BEGIN_MARKER}\n{BLOB_B64}\nComment: x\n{END_MARKER}\n");
        assert!(decode_block(&late_header).is_err());
        let spaced_tag = format!("{BEGIN_MARKER}\nMy Comment: x\n{BLOB_B64}\n{END_MARKER}\n");
        assert!(decode_block(&spaced_tag).is_err());
        let long_tag = format!(
            "{BEGIN_MARKER}\n{}: x\n{BLOB_B64}\n{END_MARKER}\n",
            "x".repeat(65)
        );
        assert!(decode_block(&long_tag).is_err());
    }

    #[test]
    fn rejects_an_empty_body_and_a_dangling_continuation() {
        assert!(decode_block(&format!("{BEGIN_MARKER}\n{END_MARKER}\n")).is_err());
        let dangling = format!("{BEGIN_MARKER}\nComment: x\\\n{END_MARKER}\n");
        assert!(decode_block(&dangling).is_err());
    }

    #[test]
    fn rejects_a_wrong_begin_line() {
        let text = format!("---- BEGIN SSH2 PRIVATE KEY ----\n{BLOB_B64}\n{END_MARKER}\n");
        assert!(decode_block(&text).is_err());
    }
}
