//! Parsed public keys and the two providers' import rules.
//!
//! Every accepted encoding is reduced to the SSH wire-format blob, re-encoded by ssh-key, so that
//! a key has one identity (and one fingerprint per rule) whatever text it arrived in. The
//! re-encoding is what `ssh-keygen` hashes too, so our fingerprints agree with it by construction.

use std::fmt;

use aws_lc_rs::signature::{
    ParsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED,
    ECDSA_P521_SHA512_FIXED,
};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use der::{Decode as _, Encode as _};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use ssh_key::public::{EcdsaPublicKey, KeyData, RsaPublicKey};
use ssh_key::EcdsaCurve;

use crate::fingerprint::{md5_colon_hex, sha256_base64_padded};
use crate::wire::{bit_length, put_positive_mpint, put_string, strip_leading_zeros};
use crate::{rfc4716, KeyAlgorithm, KeyError};

/// Smallest RSA modulus either provider imports.
pub const RSA_MIN_BITS: u32 = 1024;
/// Largest RSA modulus EC2 imports.
pub const AWS_RSA_MAX_BITS: u32 = 16384;
/// Largest RSA modulus ECS imports. Alibaba documents no bound; this is OpenSSH's own
/// (`SSH_RSA_MAXIMUM_MODULUS_SIZE`): sshd refuses larger keys, so they could never log in.
pub const ALIYUN_RSA_MAX_BITS: u32 = 16384;
/// Largest RSA public exponent, in bits: the bound BoringSSL and aws-lc enforce when they load
/// an RSA public key. Every real key uses 65537 (17 bits), a few old ones 3.
pub const RSA_MAX_EXPONENT_BITS: u64 = 33;

/// The y-coordinates (sign bit cleared) of the ed25519 points of small order: the identity
/// (1), the point of order 2 (p − 1), the two of order 4 (0) and the four of order 8, plus the
/// non-canonical spellings p and p + 1 of 0 and 1. With either sign bit these are the eight
/// well-known low-order encodings (and their non-canonical twins); a key among them verifies
/// signatures that anyone can forge.
const ED25519_SMALL_ORDER_Y: [[u8; 32]; 7] = [
    [0; 32],
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    {
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        minus_one
    },
    {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    },
    {
        let mut p_plus_one = [0xff; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        p_plus_one
    },
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

const SEC1_UNCOMPRESSED_TAG: u8 = 0x04;
pub(crate) const RSA_ENCRYPTION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A validated SSH public key of one of the four families this service knows.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    ssh_type: &'static str,
    blob: Vec<u8>,
    rsa: Option<RsaParts>,
}

/// Unsigned big-endian RSA integers without leading zeros.
#[derive(Clone, PartialEq, Eq)]
struct RsaParts {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl PublicKey {
    /// EC2 ImportKeyPair rules. `material` is the PublicKeyMaterial parameter after its base64
    /// transport encoding has been removed, i.e. the text of the user's key file.
    pub fn parse_aws_import(material: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(material)
            .map_err(|_| KeyError::Malformed("public key material is not UTF-8 text"))?
            .trim();
        if text.is_empty() {
            return Err(KeyError::Malformed("public key material is empty"));
        }

        // RFC 4716 armour has four dashes and a space; PEM's five dashes fall through to the
        // DER branch and fail there, since EC2 does not take PEM.
        let key = if text.starts_with("---- ") {
            Self::from_ssh_blob(&rfc4716::decode_block(text)?)?
        } else if is_single_line_with_fields(text) {
            Self::from_openssh_line(text)?
        } else {
            Self::from_base64_der(text)?
        };

        match key.algorithm {
            KeyAlgorithm::Rsa => {
                key.require_rsa_bits(RSA_MIN_BITS, AWS_RSA_MAX_BITS)?;
                Ok(key)
            }
            KeyAlgorithm::Ed25519 => Ok(key),
            KeyAlgorithm::Dsa | KeyAlgorithm::Ecdsa => Err(KeyError::Unsupported(
                "only RSA and ED25519 keys can be imported".to_owned(),
            )),
        }
    }

    /// ECS ImportKeyPair rules: exactly one OpenSSH public key line.
    pub fn parse_aliyun_import(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if !is_single_line_with_fields(text) {
            return Err(KeyError::Malformed(
                "expected one OpenSSH public key line: <type> <base64> [comment]",
            ));
        }
        let key = Self::from_openssh_line(text)?;
        if key.algorithm == KeyAlgorithm::Rsa {
            key.require_rsa_bits(RSA_MIN_BITS, ALIYUN_RSA_MAX_BITS)?;
        }
        Ok(key)
    }

    /// Rebuilds a key from its SSH wire-format blob (for instance one read back from storage).
    /// Checks structure only; size limits belong to the import rules.
    pub fn from_ssh_blob(blob: &[u8]) -> Result<Self, KeyError> {
        let parsed = ssh_key::PublicKey::from_bytes(blob)
            .map_err(|_| KeyError::Malformed("not a valid SSH public key blob"))?;
        let (algorithm, ssh_type, rsa) = match parsed.key_data() {
            KeyData::Rsa(rsa) => (KeyAlgorithm::Rsa, "ssh-rsa", Some(rsa_parts(rsa)?)),
            KeyData::Ed25519(ed25519) => {
                check_ed25519_point(&ed25519.0)?;
                (KeyAlgorithm::Ed25519, "ssh-ed25519", None)
            }
            KeyData::Dsa(_) => (KeyAlgorithm::Dsa, "ssh-dss", None),
            KeyData::Ecdsa(ecdsa) => (KeyAlgorithm::Ecdsa, checked_ecdsa_type(ecdsa)?, None),
            _ => {
                return Err(KeyError::Unsupported(
                    "only RSA, ED25519, DSA and ECDSA public keys are known".to_owned(),
                ))
            }
        };
        let blob = parsed
            .to_bytes()
            .map_err(|_| KeyError::Internal("re-encoding an SSH public key failed"))?;
        Ok(Self {
            algorithm,
            ssh_type,
            blob,
            rsa,
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Bits of the RSA modulus; `None` for other families.
    pub fn bits(&self) -> Option<u32> {
        let rsa = self.rsa.as_ref()?;
        Some(u32::try_from(bit_length(&rsa.modulus)).unwrap_or(u32::MAX))
    }

    /// The SSH key type name, e.g. `ssh-rsa` or `ecdsa-sha2-nistp384`.
    pub fn ssh_type(&self) -> &'static str {
        self.ssh_type
    }

    pub fn ssh_public_blob(&self) -> &[u8] {
        &self.blob
    }

    /// `<type> <base64>`, without a comment.
    pub fn openssh_line(&self) -> String {
        format!("{} {}", self.ssh_type, STANDARD.encode(&self.blob))
    }

    /// EC2's fingerprint of an imported key. RSA: MD5 of the DER SubjectPublicKeyInfo (not of
    /// the SSH blob). Every other family: the padded base64 SHA-256 of the SSH blob, EC2's
    /// ED25519 rule (DSA and ECDSA never reach EC2; they get the same rule for completeness).
    pub fn aws_import_fingerprint(&self) -> String {
        match &self.rsa {
            Some(rsa) => md5_colon_hex(&rsa_spki_der(rsa)),
            None => sha256_base64_padded(&self.blob),
        }
    }

    /// MD5 of the SSH blob, as `ssh-keygen -l -E md5` prints it without `MD5:`; ECS's rule.
    pub fn md5_fingerprint(&self) -> String {
        md5_colon_hex(&self.blob)
    }

    /// `<type> <base64> [comment]`. The type must name the key inside the base64, and
    /// certificates are refused outright since no rule here accepts them.
    fn from_openssh_line(line: &str) -> Result<Self, KeyError> {
        let mut fields = line.split([' ', '\t']).filter(|field| !field.is_empty());
        let (Some(type_name), Some(base64_blob)) = (fields.next(), fields.next()) else {
            return Err(KeyError::Malformed("expected <type> <base64> [comment]"));
        };
        if type_name.contains("-cert-") {
            return Err(KeyError::Unsupported(
                "certificates are not accepted; import the plain public key".to_owned(),
            ));
        }
        let blob = ssh_base64_decode(base64_blob)
            .ok_or(KeyError::Malformed("the key data is not valid base64"))?;
        let key = Self::from_ssh_blob(&blob)?;
        if key.ssh_type != type_name {
            return Err(KeyError::Malformed(
                "the key type does not match the encoded key",
            ));
        }
        Ok(key)
    }

    /// Base64 of DER, SubjectPublicKeyInfo or bare PKCS#1 RSAPublicKey, possibly line-wrapped.
    fn from_base64_der(text: &str) -> Result<Self, KeyError> {
        let compact: String = text.split_ascii_whitespace().collect();
        let der = lenient_base64_decode(&compact).ok_or(KeyError::Malformed(
            "not an OpenSSH line, an RFC 4716 block or base64 DER",
        ))?;
        let rsa = rsa_public_key_from_der(&der)?;
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-rsa");
        put_positive_mpint(&mut blob, rsa.public_exponent.as_bytes());
        put_positive_mpint(&mut blob, rsa.modulus.as_bytes());
        Self::from_ssh_blob(&blob)
    }

    fn require_rsa_bits(&self, min: u32, max: u32) -> Result<(), KeyError> {
        let bits = self.bits().unwrap_or(0);
        if (min..=max).contains(&bits) {
            return Ok(());
        }
        Err(KeyError::Unsupported(format!(
            "RSA key of {bits} bits; accepted sizes are {min} to {max} bits"
        )))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("type", &self.ssh_type)
            .field("bits", &self.bits())
            .field("md5", &self.md5_fingerprint())
            .finish()
    }
}

/// OpenSSH lines are one line of at least two blank-separated fields; base64 DER never
/// contains a blank inside a line, so this tells the two apart.
fn is_single_line_with_fields(text: &str) -> bool {
    !text.contains(['\n', '\r']) && text.contains([' ', '\t'])
}

/// Standard alphabet with optional padding, because hand-edited keys lose it; trailing bits
/// must still be zero, as canonical base64 has them.
pub(crate) fn lenient_base64_decode(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// The base64 of an OpenSSH line or an RFC 4716 body, decoded as the lenient decoders of SSH
/// tooling (and moto) do: whitespace and bytes outside the base64 alphabet are skipped, so a
/// stray `\` or line break pasted into a key does not change the key. What remains must still
/// be base64 that [`lenient_base64_decode`] takes, and then a key `from_ssh_blob` takes.
pub(crate) fn ssh_base64_decode(text: &str) -> Option<Vec<u8>> {
    let alphabet_only: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    if alphabet_only.is_empty() {
        return None;
    }
    lenient_base64_decode(&alphabet_only)
}

/// ssh-key takes any two integers. A negative or even modulus cannot belong to an RSA key, nor
/// an exponent that is even, 1, or not below the modulus; an exponent of more than
/// [`RSA_MAX_EXPONENT_BITS`] bits is refused by the libraries that would use the key, and costs
/// every verification dearly.
fn rsa_parts(rsa: &RsaPublicKey) -> Result<RsaParts, KeyError> {
    const BAD_RSA: KeyError = KeyError::Malformed("not a valid RSA public key");
    let modulus = rsa
        .n
        .as_positive_bytes()
        .map(strip_leading_zeros)
        .ok_or(BAD_RSA)?;
    let exponent = rsa
        .e
        .as_positive_bytes()
        .map(strip_leading_zeros)
        .ok_or(BAD_RSA)?;
    let is_odd = |magnitude: &[u8]| magnitude.last().is_some_and(|byte| byte & 1 == 1);
    if !is_odd(modulus)
        || !is_odd(exponent)
        || exponent == [1]
        || bit_length(exponent) > RSA_MAX_EXPONENT_BITS
        || !is_below(exponent, modulus)
    {
        return Err(BAD_RSA);
    }
    Ok(RsaParts {
        modulus: modulus.to_vec(),
        exponent: exponent.to_vec(),
    })
}

/// `a < b` for unsigned big-endian magnitudes without leading zeros.
fn is_below(a: &[u8], b: &[u8]) -> bool {
    a.len() < b.len() || (a.len() == b.len() && a < b)
}

/// ssh-key checks only the length of an ed25519 key; one of small order is no key at all.
fn check_ed25519_point(point: &[u8; 32]) -> Result<(), KeyError> {
    let mut y = *point;
    y[31] &= 0x7f;
    if ED25519_SMALL_ORDER_Y.contains(&y) {
        return Err(KeyError::Malformed(
            "the ed25519 key is a point of small order",
        ));
    }
    Ok(())
}

/// ssh-key checks the curve name and point length only; OpenSSH also insists on uncompressed
/// points that lie on the curve, so we ask aws-lc to load the point.
fn checked_ecdsa_type(ecdsa: &EcdsaPublicKey) -> Result<&'static str, KeyError> {
    let (ssh_type, verification): (_, &'static dyn VerificationAlgorithm) = match ecdsa.curve() {
        EcdsaCurve::NistP256 => ("ecdsa-sha2-nistp256", &ECDSA_P256_SHA256_FIXED),
        EcdsaCurve::NistP384 => ("ecdsa-sha2-nistp384", &ECDSA_P384_SHA384_FIXED),
        EcdsaCurve::NistP521 => ("ecdsa-sha2-nistp521", &ECDSA_P521_SHA512_FIXED),
    };
    let point = ecdsa.as_sec1_bytes();
    if point.first() != Some(&SEC1_UNCOMPRESSED_TAG)
        || ParsedPublicKey::new(verification, point).is_err()
    {
        return Err(KeyError::Malformed(
            "the ECDSA point is not an uncompressed point on its curve",
        ));
    }
    Ok(ssh_type)
}

fn rsa_public_key_from_der(der: &[u8]) -> Result<pkcs1::RsaPublicKey<'_>, KeyError> {
    const NOT_RSA_DER: KeyError =
        KeyError::Malformed("not a DER SubjectPublicKeyInfo or PKCS#1 RSAPublicKey");
    let Ok(spki) = SubjectPublicKeyInfoRef::from_der(der) else {
        return pkcs1::RsaPublicKey::from_der(der).map_err(|_| NOT_RSA_DER);
    };
    if spki.algorithm.oid != RSA_ENCRYPTION_OID {
        return Err(KeyError::Unsupported(
            "DER public keys are accepted for RSA only".to_owned(),
        ));
    }
    if spki
        .algorithm
        .parameters
        .is_some_and(|parameters| parameters != AnyRef::NULL)
    {
        return Err(NOT_RSA_DER);
    }
    let pkcs1_der = spki.subject_public_key.as_bytes().ok_or(NOT_RSA_DER)?;
    pkcs1::RsaPublicKey::from_der(pkcs1_der).map_err(|_| NOT_RSA_DER)
}

/// The SubjectPublicKeyInfo `openssl pkey -pubin -outform DER` writes for an RSA key.
fn rsa_spki_der(rsa: &RsaParts) -> Vec<u8> {
    const VALID: &str = "validated RSA integers always encode";
    let pkcs1_der = pkcs1::RsaPublicKey {
        modulus: UintRef::new(&rsa.modulus).expect(VALID),
        public_exponent: UintRef::new(&rsa.exponent).expect(VALID),
    }
    .to_der()
    .expect(VALID);
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION_OID,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&pkcs1_der).expect(VALID),
    }
    .to_der()
    .expect(VALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `ssh-rsa` blob with e = 65537 and a modulus of `bits` bits (top bit and bottom bit set).
    fn rsa_blob_with_bits(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0u8; bits.div_ceil(8)];
        modulus[0] = 1 << ((bits - 1) % 8);
        *modulus.last_mut().unwrap() |= 1;
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-rsa");
        put_positive_mpint(&mut blob, &[0x01, 0x00, 0x01]);
        put_positive_mpint(&mut blob, &modulus);
        blob
    }

    fn openssh_line_of(blob: &[u8]) -> String {
        format!("ssh-rsa {} c", STANDARD.encode(blob))
    }

    // A fixed ssh-keygen ED25519 key and its fingerprints as ssh-keygen 9.2 printed them.
    const ED25519_LINE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOCjL3BFLRe4ATfOU/YdFx6gMt/lYT8MYIBCMSAwMqfb hello";
    const ED25519_MD5: &str = "15:54:1a:9a:c8:56:60:fb:6a:cb:e5:bd:72:35:cd:1a";
    const ED25519_SHA256: &str = "UmIQbWWYv9AqPsFFSsdWD5881wiy8OWxFgUvja1qzZE";

    #[test]
    fn ed25519_line_fingerprints_match_ssh_keygen() {
        let key = PublicKey::parse_aws_import(ED25519_LINE.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(key.bits(), None);
        assert_eq!(key.md5_fingerprint(), ED25519_MD5);
        assert_eq!(key.aws_import_fingerprint(), format!("{ED25519_SHA256}="));
        assert_eq!(key.openssh_line(), ED25519_LINE.trim_end_matches(" hello"));
        let aliyun = PublicKey::parse_aliyun_import(ED25519_LINE).unwrap();
        assert_eq!(aliyun.ssh_public_blob(), key.ssh_public_blob());
    }

    #[test]
    fn bytes_outside_the_base64_alphabet_are_skipped() {
        let (type_name, rest) = ED25519_LINE.split_once(' ').unwrap();
        let (base64_blob, comment) = rest.split_once(' ').unwrap();
        let (head, tail) = base64_blob.split_at(20);
        let stray = format!("{type_name} {head}\\*\u{e9}-{tail} {comment}");
        assert!(stray.contains("\\*é-"), "{stray}");
        for key in [
            PublicKey::parse_aws_import(stray.as_bytes()).unwrap(),
            PublicKey::parse_aliyun_import(&stray).unwrap(),
        ] {
            assert_eq!(key.md5_fingerprint(), ED25519_MD5);
            assert_eq!(key.openssh_line(), format!("{type_name} {base64_blob}"));
        }
        // What the skipping leaves must still be a key: one character short is not.
        let short = format!("{type_name} {head}\\{} {comment}", &tail[1..]);
        let only_junk = format!("{type_name} \\*\\ {comment}");
        for text in [short, only_junk] {
            assert!(
                matches!(
                    PublicKey::parse_aws_import(text.as_bytes()),
                    Err(KeyError::Malformed(_))
                ),
                "{text}"
            );
            assert!(PublicKey::parse_aliyun_import(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn tabs_and_surrounding_blank_lines_are_accepted() {
        let text = format!("\n\n{}\r\n", ED25519_LINE.replacen(' ', "\t", 1));
        let key = PublicKey::parse_aws_import(text.as_bytes()).unwrap();
        assert_eq!(key.md5_fingerprint(), ED25519_MD5);
    }

    #[test]
    fn rsa_size_limits_follow_each_provider() {
        for (bits, aws_ok, aliyun_ok) in [
            (1023, false, false),
            (1024, true, true),
            (16384, true, true),
            (16385, false, false),
        ] {
            let line = openssh_line_of(&rsa_blob_with_bits(bits));
            let aws = PublicKey::parse_aws_import(line.as_bytes());
            assert_eq!(aws.is_ok(), aws_ok, "AWS, {bits} bits: {aws:?}");
            if let Err(error) = aws {
                assert!(matches!(error, KeyError::Unsupported(_)));
                assert_eq!(
                    error.to_string(),
                    format!("unsupported key: RSA key of {bits} bits; accepted sizes are 1024 to 16384 bits")
                );
            }
            let aliyun = PublicKey::parse_aliyun_import(&line);
            assert_eq!(aliyun.is_ok(), aliyun_ok, "Alibaba, {bits} bits");
            match aliyun {
                Ok(key) => assert_eq!(key.bits(), Some(bits as u32)),
                Err(error) => assert_eq!(
                    error.to_string(),
                    format!("unsupported key: RSA key of {bits} bits; accepted sizes are 1024 to 16384 bits")
                ),
            }
        }
    }

    #[test]
    fn rsa_bits_ignore_the_mpint_sign_byte() {
        let key = PublicKey::from_ssh_blob(&rsa_blob_with_bits(2048)).unwrap();
        assert_eq!(key.bits(), Some(2048));
        // A 2048-bit modulus has its top bit set, so the blob carries 257 bytes for it.
        assert_eq!(key.ssh_public_blob().len(), 4 + 7 + 4 + 3 + 4 + 257);
    }

    #[test]
    fn rsa_with_even_modulus_or_bad_exponent_is_malformed() {
        let mut even_modulus = vec![0xc0u8; 128];
        even_modulus[127] = 0x02;
        for (exponent, modulus) in [
            (vec![0x01, 0x00, 0x01], even_modulus),
            (vec![0x01], vec![0xc1; 128]),
            (vec![0x01, 0x00, 0x00], vec![0xc1; 128]),
        ] {
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-rsa");
            put_positive_mpint(&mut blob, &exponent);
            put_positive_mpint(&mut blob, &modulus);
            assert!(matches!(
                PublicKey::from_ssh_blob(&blob),
                Err(KeyError::Malformed(_))
            ));
        }
    }

    fn rsa_blob(exponent: &[u8], modulus: &[u8]) -> Vec<u8> {
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-rsa");
        put_positive_mpint(&mut blob, exponent);
        put_positive_mpint(&mut blob, modulus);
        blob
    }

    #[test]
    fn rsa_exponent_must_be_below_the_modulus_and_at_most_33_bits() {
        const BAD: &str = "malformed key: not a valid RSA public key";
        let small_modulus = [0xc1, 0x01];
        for (exponent, modulus) in [
            (&small_modulus[..], &small_modulus[..]),
            (&[0xc1, 0x03][..], &small_modulus[..]),
            (&[0x01, 0x00, 0x00, 0x00, 0x00, 0x01][..], &[0xc1; 128][..]),
            (&[0x03, 0x00, 0x00, 0x00, 0x01][..], &[0xc1; 128][..]),
        ] {
            let error = PublicKey::from_ssh_blob(&rsa_blob(exponent, modulus)).unwrap_err();
            assert_eq!(error.to_string(), BAD, "e = {exponent:02x?}");
        }
        // 3, 65537 and the largest 33-bit exponent are keys; below the modulus is enough.
        for exponent in [
            &[0x03][..],
            &[0x01, 0x00, 0x01],
            &[0x01, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(PublicKey::from_ssh_blob(&rsa_blob(exponent, &[0xc1; 128])).is_ok());
        }
        assert!(PublicKey::from_ssh_blob(&rsa_blob(&[0xc1, 0x01], &[0xc1, 0x03])).is_ok());
        // Both import rules refuse such a key as malformed, whatever its size.
        let huge_exponent = rsa_blob(&[0x01; 8193], &[0xc1; 256]);
        let line = openssh_line_of(&huge_exponent);
        for error in [
            PublicKey::parse_aws_import(line.as_bytes()).unwrap_err(),
            PublicKey::parse_aliyun_import(&line).unwrap_err(),
        ] {
            assert_eq!(error.to_string(), BAD);
        }
    }

    #[test]
    fn ed25519_points_of_small_order_are_malformed() {
        // The eight well-known low-order encodings, and the non-canonical ones of the same points.
        let mut encodings: Vec<[u8; 32]> = Vec::new();
        for y in ED25519_SMALL_ORDER_Y {
            let mut negative = y;
            negative[31] |= 0x80;
            encodings.extend([y, negative]);
        }
        let mut all_zero = [0u8; 32];
        assert!(encodings.contains(&all_zero));
        all_zero[0] = 1;
        assert!(encodings.contains(&all_zero), "the identity");
        for point in encodings {
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-ed25519");
            put_string(&mut blob, &point);
            let line = format!("ssh-ed25519 {} c", STANDARD.encode(&blob));
            for error in [
                PublicKey::from_ssh_blob(&blob).unwrap_err(),
                PublicKey::parse_aws_import(line.as_bytes()).unwrap_err(),
                PublicKey::parse_aliyun_import(&line).unwrap_err(),
            ] {
                assert_eq!(
                    error.to_string(),
                    "malformed key: the ed25519 key is a point of small order",
                    "{point:02x?}"
                );
            }
        }
        // A point one bit away from one of them is an ordinary key.
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, &{
            let mut near = ED25519_SMALL_ORDER_Y[5];
            near[0] ^= 1;
            near
        });
        assert!(PublicKey::from_ssh_blob(&blob).is_ok());
    }

    #[test]
    fn type_name_must_match_the_blob() {
        let line = ED25519_LINE.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(matches!(
            PublicKey::parse_aws_import(line.as_bytes()),
            Err(KeyError::Malformed(_))
        ));
        assert!(PublicKey::parse_aliyun_import(&line).is_err());
    }

    #[test]
    fn certificates_options_and_garbage_are_refused() {
        let cert = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t user";
        assert!(matches!(
            PublicKey::parse_aws_import(cert.as_bytes()),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            PublicKey::parse_aliyun_import(cert),
            Err(KeyError::Unsupported(_))
        ));
        let with_options = format!("no-pty {ED25519_LINE}");
        assert!(PublicKey::parse_aws_import(with_options.as_bytes()).is_err());
        assert!(PublicKey::parse_aliyun_import(&with_options).is_err());
        for garbage in [
            "",
            "   ",
            "hello",
            "ssh-rsa",
            "ssh-rsa !!!!",
            "AAAA",
            "ssh-rsa AAAA",
        ] {
            assert!(
                PublicKey::parse_aws_import(garbage.as_bytes()).is_err(),
                "{garbage:?}"
            );
            assert!(
                PublicKey::parse_aliyun_import(garbage).is_err(),
                "{garbage:?}"
            );
        }
        assert!(matches!(
            PublicKey::parse_aws_import(b"ssh-rsa \xff\xfe"),
            Err(KeyError::Malformed("public key material is not UTF-8 text"))
        ));
    }

    #[test]
    fn two_lines_are_not_one_key() {
        let two = format!("{ED25519_LINE}\n{ED25519_LINE}");
        assert!(PublicKey::parse_aws_import(two.as_bytes()).is_err());
        assert!(PublicKey::parse_aliyun_import(&two).is_err());
    }

    #[test]
    fn aliyun_refuses_rfc4716_and_der() {
        let blob = rsa_blob_with_bits(2048);
        let rfc4716 = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\n{}\n---- END SSH2 PUBLIC KEY ----\n",
            STANDARD.encode(&blob)
        );
        assert!(PublicKey::parse_aws_import(rfc4716.as_bytes()).is_ok());
        assert!(PublicKey::parse_aliyun_import(&rfc4716).is_err());
        let key = PublicKey::from_ssh_blob(&blob).unwrap();
        let der = STANDARD.encode(rsa_spki_der(key.rsa.as_ref().unwrap()));
        assert!(PublicKey::parse_aws_import(der.as_bytes()).is_ok());
        assert!(PublicKey::parse_aliyun_import(&der).is_err());
    }

    #[test]
    fn der_spki_and_pkcs1_give_the_same_key_and_fingerprint() {
        let key = PublicKey::from_ssh_blob(&rsa_blob_with_bits(2048)).unwrap();
        let spki = rsa_spki_der(key.rsa.as_ref().unwrap());
        // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { 0 unused bits, PKCS#1 } }
        assert_eq!(&spki[..4], &[0x30, 0x82, 0x01, 0x22]);
        assert_eq!(
            &spki[4..24],
            &[
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00, 0x03, 0x82, 0x01, 0x0f, 0x00
            ]
        );
        let pkcs1 = &spki[24..];
        let wrapped = STANDARD.encode(&spki);
        let wrapped = wrapped
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        for text in [STANDARD.encode(&spki), wrapped, STANDARD.encode(pkcs1)] {
            let parsed = PublicKey::parse_aws_import(text.as_bytes()).unwrap();
            assert_eq!(parsed.ssh_public_blob(), key.ssh_public_blob());
            assert_eq!(parsed.aws_import_fingerprint(), md5_colon_hex(&spki));
        }
    }

    #[test]
    fn pem_armour_is_not_one_of_the_accepted_encodings() {
        let key = PublicKey::from_ssh_blob(&rsa_blob_with_bits(2048)).unwrap();
        let der = STANDARD.encode(rsa_spki_der(key.rsa.as_ref().unwrap()));
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{der}\n-----END PUBLIC KEY-----\n");
        assert!(PublicKey::parse_aws_import(der.as_bytes()).is_ok());
        assert!(matches!(
            PublicKey::parse_aws_import(pem.as_bytes()),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn der_of_a_non_rsa_key_is_unsupported() {
        // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 §10.1 example).
        let ed25519_spki = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
        assert!(matches!(
            PublicKey::parse_aws_import(ed25519_spki.as_bytes()),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn compressed_and_off_curve_ecdsa_points_are_malformed() {
        fn ecdsa_blob(point: &[u8]) -> Vec<u8> {
            let mut blob = Vec::new();
            put_string(&mut blob, b"ecdsa-sha2-nistp256");
            put_string(&mut blob, b"nistp256");
            put_string(&mut blob, point);
            blob
        }
        let mut off_curve = vec![0x04];
        off_curve.extend([0x11; 64]);
        let mut compressed = vec![0x02];
        compressed.extend([0x11; 32]);
        for point in [off_curve, compressed] {
            assert!(matches!(
                PublicKey::from_ssh_blob(&ecdsa_blob(&point)),
                Err(KeyError::Malformed(_))
            ));
        }
    }

    #[test]
    fn debug_shows_type_size_and_fingerprint() {
        let key = PublicKey::parse_aws_import(ED25519_LINE.as_bytes()).unwrap();
        assert_eq!(
            format!("{key:?}"),
            format!("PublicKey {{ type: \"ssh-ed25519\", bits: None, md5: \"{ED25519_MD5}\" }}")
        );
    }
}
