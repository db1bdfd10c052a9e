//! Outside oracles: ssh-keygen, openssl and puttygen judge our parsing, encodings and
//! fingerprints, on keys the tools made and on keys we made.
//!
//! The tools are the ground truth users will check us against, so these tests never skip: a
//! missing tool fails the run with the command that installs it.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypaird_keys::{
    sha256_base64_padded, GeneratedKey, KeyAlgorithm, KeyError, PpkVersion, PublicKey,
};
use tempfile::TempDir;

const INSTALL_HINT: &str =
    "install the oracle tools: apt-get install -y putty-tools openssh-client openssl";

// ---------------------------------------------------------------------------------------------
// Running the tools

fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                panic!("`{program}` is not installed; {INSTALL_HINT}")
            }
            panic!("cannot start `{program}`: {error}")
        });
    if let Some(input) = stdin {
        // Inputs are a few kilobytes, well under a pipe buffer, so writing before reading
        // cannot deadlock.
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs a tool that must succeed and returns its stdout.
fn ok(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let output = run(program, args, stdin);
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn ok_text(program: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
    String::from_utf8(ok(program, args, stdin)).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn write_file(dir: &TempDir, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    // ssh-keygen refuses private keys that others can read.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `(bits, fingerprint)` from `ssh-keygen -l -E <hash>`, the fingerprint with its `MD5:` or
/// `SHA256:` prefix removed.
fn ssh_keygen_fingerprint(public_path: &Path, hash: &str) -> (u32, String) {
    let text = ok_text(
        "ssh-keygen",
        &["-l", "-E", hash, "-f", path_str(public_path)],
        None,
    );
    let mut fields = text.split_whitespace();
    let bits = fields.next().unwrap().parse().unwrap();
    let fingerprint = fields.next().unwrap();
    let (_, fingerprint) = fingerprint.split_once(':').unwrap();
    (bits, fingerprint.to_owned())
}

/// `openssl <md5|sha1> -c` of `data`: lowercase colon hex.
fn openssl_digest(algorithm: &str, data: &[u8]) -> String {
    let text = ok_text("openssl", &[algorithm, "-c"], Some(data));
    text.trim().split_once("= ").unwrap().1.to_owned()
}

/// `type base64` of the public key a tool derived; comments dropped.
fn type_and_base64(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn ssh_keygen_derived_public(private_path: &Path) -> String {
    ok_text("ssh-keygen", &["-y", "-f", path_str(private_path)], None)
}

/// Signs with the key in `private_path` and verifies against `public_line`. `ssh-keygen -y` on an
/// OpenSSH-format file only echoes the public half stored beside the private one; a signature
/// proves the private half belongs to that public key.
fn assert_signs_for(dir: &TempDir, private_path: &Path, public_line: &str) {
    const MESSAGE: &[u8] = b"keypaird oracle message\n";
    const NAMESPACE: &str = "keypaird-oracle";
    let message_path = write_file(dir, "message", MESSAGE);
    let signature_path = dir.path().join("message.sig");
    let _ = std::fs::remove_file(&signature_path);
    ok(
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-f",
            path_str(private_path),
            "-n",
            NAMESPACE,
            path_str(&message_path),
        ],
        None,
    );
    let signers = format!("oracle {}\n", type_and_base64(public_line));
    let signers_path = write_file(dir, "allowed_signers", signers.as_bytes());
    ok(
        "ssh-keygen",
        &[
            "-Y",
            "verify",
            "-f",
            path_str(&signers_path),
            "-I",
            "oracle",
            "-n",
            NAMESPACE,
            "-s",
            path_str(&signature_path),
        ],
        Some(MESSAGE),
    );
}

fn wrap_64(text: &str) -> String {
    text.as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Keys the tools made

/// Generates a key with ssh-keygen and checks every import path and fingerprint against the
/// tools. `aws_accepts` is whether EC2's import rule takes this key type.
fn check_ssh_keygen_key(key_type: &str, bits: Option<u32>, aws_accepts: bool) {
    let dir = TempDir::new().unwrap();
    let private_path = dir.path().join("key");
    let public_path = dir.path().join("key.pub");
    let bits_arg = bits.map(|bits| bits.to_string());
    let mut args = vec!["-q", "-t", key_type, "-N", "", "-C", "oracle@example", "-f"];
    args.push(path_str(&private_path));
    if let Some(bits) = &bits_arg {
        args.extend(["-b", bits]);
    }
    ok("ssh-keygen", &args, None);
    let line = std::fs::read_to_string(&public_path).unwrap();
    let context = format!("{key_type} {bits:?}");

    // Alibaba takes every type ssh-keygen makes; its fingerprint is ssh-keygen's MD5.
    let aliyun = PublicKey::parse_aliyun_import(&line).unwrap();
    let (tool_bits, tool_md5) = ssh_keygen_fingerprint(&public_path, "md5");
    let (_, tool_sha256) = ssh_keygen_fingerprint(&public_path, "sha256");
    assert_eq!(aliyun.md5_fingerprint(), tool_md5, "{context}");
    assert_eq!(aliyun.openssh_line(), type_and_base64(&line), "{context}");
    assert_eq!(
        sha256_base64_padded(aliyun.ssh_public_blob()),
        format!("{tool_sha256}="),
        "{context}"
    );
    let expected_algorithm = match key_type {
        "rsa" => KeyAlgorithm::Rsa,
        "ed25519" => KeyAlgorithm::Ed25519,
        "dsa" => KeyAlgorithm::Dsa,
        "ecdsa" => KeyAlgorithm::Ecdsa,
        other => unreachable!("{other}"),
    };
    assert_eq!(aliyun.algorithm(), expected_algorithm, "{context}");
    if expected_algorithm == KeyAlgorithm::Rsa {
        assert_eq!(aliyun.bits(), Some(tool_bits), "{context}");
    } else {
        assert_eq!(aliyun.bits(), None, "{context}");
    }

    // RFC 4716 as ssh-keygen and puttygen export it, also with CRLF line endings.
    let keygen_rfc4716 = ok_text("ssh-keygen", &["-e", "-f", path_str(&public_path)], None);
    let puttygen_rfc4716 = ok_text("puttygen", &[path_str(&private_path), "-O", "public"], None);
    assert!(puttygen_rfc4716.starts_with("---- BEGIN SSH2 PUBLIC KEY ----\n"));
    assert!(
        puttygen_rfc4716.contains("Comment: "),
        "puttygen writes a Comment header"
    );
    // A header continued onto a line that looks like base64: ssh-keygen -i must read the same
    // key out of it that we do. (ssh-keygen mishandles continuation lines that contain ": ",
    // which RFC 4716 allows; the unit tests cover those.)
    let continued_rfc4716 = keygen_rfc4716.replacen(
        "Comment: ",
        "Comment: \"first part \\\nAAAAB3NzaC1yc2E\"\nx-Tag: ",
        1,
    );
    let continued_path = write_file(&dir, "continued.rfc4716", continued_rfc4716.as_bytes());
    let imported = ok_text("ssh-keygen", &["-i", "-f", path_str(&continued_path)], None);
    assert_eq!(
        type_and_base64(&imported),
        type_and_base64(&line),
        "{context}"
    );
    let rfc4716_texts = [
        keygen_rfc4716.clone(),
        keygen_rfc4716.replace('\n', "\r\n"),
        puttygen_rfc4716.clone(),
        continued_rfc4716,
    ];
    assert!(
        PublicKey::parse_aliyun_import(&keygen_rfc4716).is_err(),
        "{context}"
    );

    let aws = PublicKey::parse_aws_import(line.as_bytes());
    if !aws_accepts {
        assert!(
            matches!(aws, Err(KeyError::Unsupported(_))),
            "{context}: {aws:?}"
        );
        for text in &rfc4716_texts {
            let parsed = PublicKey::parse_aws_import(text.as_bytes());
            assert!(
                matches!(parsed, Err(KeyError::Unsupported(_))),
                "{context}: {parsed:?}"
            );
        }
        return;
    }

    let aws = aws.unwrap();
    assert_eq!(aws.ssh_public_blob(), aliyun.ssh_public_blob(), "{context}");
    for text in &rfc4716_texts {
        let parsed = PublicKey::parse_aws_import(text.as_bytes()).unwrap();
        assert_eq!(
            parsed.ssh_public_blob(),
            aliyun.ssh_public_blob(),
            "{context}: {text}"
        );
    }

    if expected_algorithm == KeyAlgorithm::Ed25519 {
        assert_eq!(
            aws.aws_import_fingerprint(),
            format!("{tool_sha256}="),
            "{context}"
        );
        return;
    }

    // Imported RSA: MD5 of the DER SubjectPublicKeyInfo, by the recipe in the reference.
    let spki_pem = ok(
        "ssh-keygen",
        &["-e", "-m", "PKCS8", "-f", path_str(&public_path)],
        None,
    );
    let spki_der = ok(
        "openssl",
        &["pkey", "-pubin", "-outform", "DER"],
        Some(&spki_pem),
    );
    let expected = openssl_digest("md5", &spki_der);
    assert_eq!(aws.aws_import_fingerprint(), expected, "{context}");
    assert_ne!(
        aws.aws_import_fingerprint(),
        aws.md5_fingerprint(),
        "{context}"
    );

    let pkcs1_der = ok(
        "openssl",
        &["rsa", "-pubin", "-RSAPublicKey_out", "-outform", "DER"],
        Some(&spki_pem),
    );
    let spki_base64 = STANDARD.encode(&spki_der);
    for text in [
        spki_base64.clone(),
        wrap_64(&spki_base64),
        STANDARD.encode(&pkcs1_der),
    ] {
        let parsed = PublicKey::parse_aws_import(text.as_bytes()).unwrap();
        assert_eq!(
            parsed.ssh_public_blob(),
            aws.ssh_public_blob(),
            "{context}: {text}"
        );
        assert_eq!(parsed.aws_import_fingerprint(), expected, "{context}");
        assert!(PublicKey::parse_aliyun_import(&text).is_err(), "{context}");
    }
}

#[test]
fn ssh_keygen_rsa_1024() {
    check_ssh_keygen_key("rsa", Some(1024), true);
}

#[test]
fn ssh_keygen_rsa_2048() {
    check_ssh_keygen_key("rsa", Some(2048), true);
}

#[test]
fn ssh_keygen_rsa_3072() {
    check_ssh_keygen_key("rsa", Some(3072), true);
}

#[test]
fn ssh_keygen_rsa_4096() {
    check_ssh_keygen_key("rsa", Some(4096), true);
}

#[test]
fn ssh_keygen_ed25519() {
    check_ssh_keygen_key("ed25519", None, true);
}

#[test]
fn ssh_keygen_dsa_is_aliyun_only() {
    check_ssh_keygen_key("dsa", None, false);
}

#[test]
fn ssh_keygen_ecdsa_is_aliyun_only() {
    for bits in [256, 384, 521] {
        check_ssh_keygen_key("ecdsa", Some(bits), false);
    }
}

#[test]
fn certificates_are_refused_by_both_providers() {
    let dir = TempDir::new().unwrap();
    let ca = dir.path().join("ca");
    ok(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", path_str(&ca)],
        None,
    );
    for (key_type, bits) in [("rsa", "2048"), ("ed25519", "256")] {
        let user = dir.path().join(key_type);
        ok(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                key_type,
                "-b",
                bits,
                "-N",
                "",
                "-f",
                path_str(&user),
            ],
            None,
        );
        let user_public = format!("{}.pub", path_str(&user));
        ok(
            "ssh-keygen",
            &[
                "-q",
                "-s",
                path_str(&ca),
                "-I",
                "id",
                "-n",
                "u",
                &user_public,
            ],
            None,
        );
        let certificate =
            std::fs::read_to_string(dir.path().join(format!("{key_type}-cert.pub"))).unwrap();
        assert!(
            certificate.contains("-cert-v01@openssh.com "),
            "{certificate}"
        );
        let aws = PublicKey::parse_aws_import(certificate.as_bytes());
        assert!(matches!(aws, Err(KeyError::Unsupported(_))), "{aws:?}");
        let aliyun = PublicKey::parse_aliyun_import(&certificate);
        assert!(
            matches!(aliyun, Err(KeyError::Unsupported(_))),
            "{aliyun:?}"
        );
    }
}

#[test]
fn openssl_rsa_1023_is_refused_and_1024_accepted_as_der() {
    let dir = TempDir::new().unwrap();
    for (bits, accepted) in [("1023", false), ("1024", true)] {
        let private = dir.path().join(format!("rsa{bits}.pem"));
        ok(
            "openssl",
            &["genrsa", "-out", path_str(&private), bits],
            None,
        );
        let der = ok(
            "openssl",
            &[
                "rsa",
                "-in",
                path_str(&private),
                "-pubout",
                "-outform",
                "DER",
            ],
            None,
        );
        let parsed = PublicKey::parse_aws_import(STANDARD.encode(&der).as_bytes());
        if accepted {
            let key = parsed.unwrap();
            assert_eq!(key.bits(), Some(1024));
            assert_eq!(key.aws_import_fingerprint(), openssl_digest("md5", &der));
        } else {
            let error = parsed.unwrap_err();
            assert!(matches!(error, KeyError::Unsupported(_)));
            assert_eq!(
                error.to_string(),
                "unsupported key: RSA key of 1023 bits; accepted sizes are 1024 to 16384 bits"
            );
        }
    }
}

/// RSA blob with e = 65537 and an odd modulus of exactly `bits` bits, built by hand so the
/// boundary can be tested without generating a 16385-bit key.
fn hand_made_rsa_line(bits: usize) -> String {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut modulus = vec![0xa5u8; bits.div_ceil(8)];
    modulus[0] = 1 << ((bits - 1) % 8);
    *modulus.last_mut().unwrap() |= 1;
    if modulus[0] & 0x80 != 0 {
        modulus.insert(0, 0);
    }
    let mut blob = Vec::new();
    put(&mut blob, b"ssh-rsa");
    put(&mut blob, &[0x01, 0x00, 0x01]);
    put(&mut blob, &modulus);
    format!("ssh-rsa {} boundary", STANDARD.encode(blob))
}

#[test]
fn rsa_size_boundaries_agree_with_openssh() {
    let dir = TempDir::new().unwrap();
    for (bits, aws_accepts) in [(1023, false), (1024, true), (16384, true), (16385, false)] {
        let line = hand_made_rsa_line(bits);
        let path = write_file(&dir, &format!("rsa{bits}.pub"), line.as_bytes());
        // OpenSSH's own limits are 1024..=16384 bits too.
        let tool = run(
            "ssh-keygen",
            &["-l", "-E", "md5", "-f", path_str(&path)],
            None,
        );
        assert_eq!(
            tool.status.success(),
            aws_accepts,
            "ssh-keygen on {bits} bits"
        );
        let aws = PublicKey::parse_aws_import(line.as_bytes());
        assert_eq!(aws.is_ok(), aws_accepts, "{bits} bits: {aws:?}");
        if aws_accepts {
            let key = aws.unwrap();
            let (tool_bits, tool_md5) = ssh_keygen_fingerprint(&path, "md5");
            assert_eq!(key.bits(), Some(tool_bits));
            assert_eq!(key.md5_fingerprint(), tool_md5);
        } else {
            assert!(matches!(aws, Err(KeyError::Unsupported(_))));
        }
        // ECS documents no bound and takes OpenSSH's, which is EC2's.
        assert_eq!(
            PublicKey::parse_aliyun_import(&line).is_ok(),
            aws_accepts,
            "{bits}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Keys we made

const COMMENT: &str = "oracle comment";

fn check_generated_key(key: &GeneratedKey) {
    let dir = TempDir::new().unwrap();
    let line = key.openssh_public_line(COMMENT);
    assert_eq!(
        line,
        format!("{} {COMMENT}", key.public_key().openssh_line())
    );
    let expected_public = type_and_base64(&line);
    let public_path = write_file(&dir, "key.pub", format!("{line}\n").as_bytes());

    let (bits, tool_md5) = ssh_keygen_fingerprint(&public_path, "md5");
    let (_, tool_sha256) = ssh_keygen_fingerprint(&public_path, "sha256");
    assert_eq!(key.md5_fingerprint(), tool_md5);

    let pkcs8_path = write_file(&dir, "pkcs8.pem", key.pkcs8_pem().unwrap().as_bytes());
    ok(
        "openssl",
        &["pkey", "-in", path_str(&pkcs8_path), "-noout"],
        None,
    );
    let openssh_path = write_file(
        &dir,
        "openssh",
        key.openssh_private_pem(COMMENT).unwrap().as_bytes(),
    );
    assert!(std::fs::read_to_string(&openssh_path)
        .unwrap()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    let derived = ssh_keygen_derived_public(&openssh_path);
    assert_eq!(derived.trim_end(), line, "ssh-keygen -y keeps our comment");
    assert_signs_for(&dir, &openssh_path, &line);

    let puttygen_source = match key.algorithm() {
        KeyAlgorithm::Rsa => {
            assert_eq!(bits, 2048);
            let pkcs1 = key.pkcs1_pem().unwrap();
            assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
            let pkcs1_path = write_file(&dir, "pkcs1.pem", pkcs1.as_bytes());
            let check = ok_text(
                "openssl",
                &["rsa", "-in", path_str(&pkcs1_path), "-check", "-noout"],
                None,
            );
            assert_eq!(check, "RSA key ok\n");
            for private_path in [&pkcs1_path, &pkcs8_path] {
                let der = ok(
                    "openssl",
                    &[
                        "pkcs8",
                        "-in",
                        path_str(private_path),
                        "-topk8",
                        "-nocrypt",
                        "-outform",
                        "DER",
                    ],
                    None,
                );
                assert_eq!(key.aws_fingerprint(), openssl_digest("sha1", &der));
                assert_eq!(
                    type_and_base64(&ssh_keygen_derived_public(private_path)),
                    expected_public
                );
            }
            // Imported back through EC2's rule, the key gets the SubjectPublicKeyInfo MD5.
            let spki_pem = ok(
                "ssh-keygen",
                &["-e", "-m", "PKCS8", "-f", path_str(&public_path)],
                None,
            );
            let spki_der = ok(
                "openssl",
                &["pkey", "-pubin", "-outform", "DER"],
                Some(&spki_pem),
            );
            let imported = PublicKey::parse_aws_import(line.as_bytes()).unwrap();
            assert_eq!(
                imported.aws_import_fingerprint(),
                openssl_digest("md5", &spki_der)
            );
            pkcs1_path
        }
        KeyAlgorithm::Ed25519 => {
            assert_eq!(key.aws_fingerprint(), format!("{tool_sha256}="));
            assert!(matches!(key.pkcs1_pem(), Err(KeyError::Unsupported(_))));
            // The PKCS#8 document holds the same key: openssl derives the same public half.
            let spki = ok(
                "openssl",
                &[
                    "pkey",
                    "-in",
                    path_str(&pkcs8_path),
                    "-pubout",
                    "-outform",
                    "DER",
                ],
                None,
            );
            assert_eq!(spki[spki.len() - 32..], key.ssh_public_blob()[19..]);
            openssh_path
        }
        other => unreachable!("we never generate {other:?}"),
    };

    for (version, number) in [(PpkVersion::V2, "2"), (PpkVersion::V3, "3")] {
        let ppk = key.ppk(version, COMMENT).unwrap();
        assert!(ppk.starts_with(&format!("PuTTY-User-Key-File-{number}: ")));
        let ppk_path = write_file(&dir, &format!("v{number}.ppk"), ppk.as_bytes());

        let public = ok_text(
            "puttygen",
            &[path_str(&ppk_path), "-O", "public-openssh"],
            None,
        );
        assert_eq!(
            public.trim_end(),
            line,
            "PPK v{number} public key and comment"
        );
        let sha_line = ok_text(
            "puttygen",
            &[path_str(&ppk_path), "-O", "fingerprint"],
            None,
        );
        assert!(
            sha_line.contains(&format!("SHA256:{tool_sha256}")),
            "{sha_line}"
        );
        let md5_line = ok_text(
            "puttygen",
            &[path_str(&ppk_path), "-E", "md5", "-O", "fingerprint"],
            None,
        );
        assert!(md5_line.contains(&tool_md5), "{md5_line}");

        // puttygen converts our PPK back into OpenSSH private keys that ssh-keygen accepts.
        let new_format = dir.path().join(format!("v{number}-openssh"));
        ok(
            "puttygen",
            &[
                path_str(&ppk_path),
                "-O",
                "private-openssh-new",
                "-o",
                path_str(&new_format),
            ],
            None,
        );
        assert_eq!(
            type_and_base64(&ssh_keygen_derived_public(&new_format)),
            expected_public
        );
        assert_signs_for(&dir, &new_format, &line);
        if key.algorithm() == KeyAlgorithm::Rsa {
            // The PKCS#1 form carries every CRT value, so openssl -check proves that puttygen
            // read d, p, q and iqmp the way we meant them.
            let pem_format = dir.path().join(format!("v{number}-pem"));
            ok(
                "puttygen",
                &[
                    path_str(&ppk_path),
                    "-O",
                    "private-openssh",
                    "-o",
                    path_str(&pem_format),
                ],
                None,
            );
            let check = ok_text(
                "openssl",
                &["rsa", "-in", path_str(&pem_format), "-check", "-noout"],
                None,
            );
            assert_eq!(check, "RSA key ok\n");
            assert_eq!(
                type_and_base64(&ssh_keygen_derived_public(&pem_format)),
                expected_public
            );
        }

        // And puttygen, converting our PKCS#1 or OpenSSH file itself, writes the same bytes.
        let theirs = dir.path().join(format!("puttygen-v{number}.ppk"));
        ok(
            "puttygen",
            &[
                path_str(&puttygen_source),
                "-O",
                "private",
                "-C",
                COMMENT,
                "--ppk-param",
                &format!("version={number}"),
                "-o",
                path_str(&theirs),
            ],
            None,
        );
        assert_eq!(
            std::fs::read_to_string(&theirs).unwrap(),
            *ppk,
            "PPK v{number}"
        );
    }
}

#[test]
fn generated_rsa_keys_satisfy_openssl_ssh_keygen_and_puttygen() {
    for _ in 0..3 {
        check_generated_key(&GeneratedKey::generate_rsa2048().unwrap());
    }
}

#[test]
fn generated_ed25519_keys_satisfy_openssl_ssh_keygen_and_puttygen() {
    for _ in 0..8 {
        check_generated_key(&GeneratedKey::generate_ed25519().unwrap());
    }
}
