//! RFC 4251 `string` and `mpint` encoding for the structures ssh-key does not build for us
//! (public blobs of generated keys, PPK private blobs and MAC input).
//!
//! Callers that pass private values write into a buffer with enough capacity reserved up front:
//! a `Vec` that has to grow leaves an unzeroized copy of its old contents behind.

/// Appends `uint32 length || bytes`.
pub(crate) fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).expect("SSH strings are shorter than 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a non-negative integer given as unsigned big-endian bytes, in minimal `mpint` form:
/// leading zero bytes dropped, one zero byte added back when the top bit is set.
pub(crate) fn put_positive_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let magnitude = strip_leading_zeros(magnitude);
    let sign_pad = usize::from(magnitude.first().is_some_and(|byte| byte & 0x80 != 0));
    let length =
        u32::try_from(magnitude.len() + sign_pad).expect("SSH mpints are shorter than 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    if sign_pad == 1 {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

/// Upper bound of the bytes `put_positive_mpint` writes, for reserving capacity.
pub(crate) fn mpint_len_bound(magnitude: &[u8]) -> usize {
    4 + 1 + magnitude.len()
}

pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first_nonzero = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first_nonzero..]
}

/// Number of significant bits in an unsigned big-endian integer.
pub(crate) fn bit_length(magnitude: &[u8]) -> u64 {
    let magnitude = strip_leading_zeros(magnitude);
    match magnitude.first() {
        None => 0,
        Some(top) => (magnitude.len() as u64 - 1) * 8 + u64::from(8 - top.leading_zeros()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_is_length_prefixed() {
        let mut out = Vec::new();
        put_string(&mut out, b"ssh-rsa");
        assert_eq!(out, b"\x00\x00\x00\x07ssh-rsa");
    }

    #[test]
    fn mpint_follows_the_rfc_4251_examples() {
        let cases: [(&[u8], &[u8]); 4] = [
            (&[], &[0, 0, 0, 0]),
            (&[0x00, 0x00], &[0, 0, 0, 0]),
            (
                &[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
                &[0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
            ),
            (&[0x00, 0x80], &[0, 0, 0, 2, 0x00, 0x80]),
        ];
        for (magnitude, expected) in cases {
            let mut out = Vec::new();
            put_positive_mpint(&mut out, magnitude);
            assert_eq!(out, expected, "magnitude {magnitude:02x?}");
            assert!(out.len() <= mpint_len_bound(magnitude));
        }
    }

    #[test]
    fn bit_length_ignores_leading_zero_bytes() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x7f, 0xff]), 15);
        let mut modulus_2048 = vec![0u8; 257];
        modulus_2048[1] = 0xc1;
        assert_eq!(bit_length(&modulus_2048), 2048);
    }
}
