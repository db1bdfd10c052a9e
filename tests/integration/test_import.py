"""ImportKeyPair: accepted encodings (OpenSSH line, RFC 4716, base64 DER), sizes, refused types,
fingerprints checked against the reference's oracles, and publicKey returned as imported."""

import base64
import secrets
import struct
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import (MD5_FP_RE, MSG_KEY_FORMAT, b64, client_error, openssl_md5_spki, pem_body,
                     run, ssh_sha256_aws, type_b64)


def pub(keys, name) -> Path:
    return Path(str(keys[name]) + ".pub")


def ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def mpint(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if b[0] & 0x80:
        b = b"\0" + b
    return ssh_string(b)


def fake_rsa_line(bits: int) -> str:
    """An ssh-rsa public key with a random odd modulus of exactly `bits` bits. The server only
    parses public keys, so a real factorisation is not needed to test the size limits."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    blob = ssh_string(b"ssh-rsa") + mpint(65537) + mpint(n)
    return f"ssh-rsa {base64.b64encode(blob).decode()} fake{bits}"


@pytest.mark.parametrize("name", ["rsa1024", "rsa2048", "rsa3072", "rsa4096"])
def test_import_rsa_openssh_line(srv, ec2, keys, name):
    p = pub(keys, name)
    text = p.read_text()
    r = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=text.encode())
    assert r["KeyName"] == name
    fp = openssl_md5_spki(p)
    assert MD5_FP_RE.match(fp)
    assert r["KeyFingerprint"] == fp, f"imported RSA fingerprint {r['KeyFingerprint']} != MD5(SPKI) {fp}"
    ssh_md5 = run(["ssh-keygen", "-l", "-E", "md5", "-f", str(p)]).split()[1].removeprefix("MD5:")
    assert r["KeyFingerprint"] != ssh_md5, "must not be ssh-keygen -E md5 (that hashes the SSH blob)"
    [k] = srv.describe(KeyNames=[name], IncludePublicKey=True)
    assert k["KeyPairId"] == r["KeyPairId"]
    assert k["KeyFingerprint"] == fp
    assert k["KeyType"] == "rsa"
    assert k["PublicKey"] == text, "publicKey is the key text byte for byte as imported"


def test_import_ed25519_openssh_line(srv, ec2, keys):
    p = pub(keys, "ed25519")
    text = p.read_text()
    r = ec2.import_key_pair(KeyName="ed", PublicKeyMaterial=text.encode())
    fp = ssh_sha256_aws(p)
    assert r["KeyFingerprint"] == fp
    [k] = srv.describe(KeyNames=["ed"], IncludePublicKey=True)
    assert k["KeyType"] == "ed25519"
    assert k["KeyFingerprint"] == fp
    assert k["PublicKey"] == text


def test_import_line_without_comment_and_with_whitespace(srv, ec2, keys):
    t, b = type_b64(pub(keys, "ed25519").read_text())
    r1 = ec2.import_key_pair(KeyName="nocomment", PublicKeyMaterial=f"{t} {b}".encode())
    r2 = ec2.import_key_pair(KeyName="spaces", PublicKeyMaterial=f"\n  {t} {b} a comment  \r\n\n".encode())
    fp = ssh_sha256_aws(pub(keys, "ed25519"))
    assert r1["KeyFingerprint"] == fp == r2["KeyFingerprint"]
    [k] = srv.describe(KeyNames=["spaces"], IncludePublicKey=True)
    # Byte for byte, blank lines and CRLF included (the reply writes \r as &#13;).
    assert k["PublicKey"] == f"\n  {t} {b} a comment  \r\n\n"


@pytest.mark.parametrize("name", ["rsa2048", "ed25519"])
def test_import_rfc4716(srv, ec2, keys, name):
    p = pub(keys, name)
    block = run(["ssh-keygen", "-e", "-f", str(p)])
    assert block.startswith("---- BEGIN SSH2 PUBLIC KEY ----")
    r = ec2.import_key_pair(KeyName=f"rfc-{name}", PublicKeyMaterial=block.encode())
    fp = openssl_md5_spki(p) if name.startswith("rsa") else ssh_sha256_aws(p)
    assert r["KeyFingerprint"] == fp
    [k] = srv.describe(KeyNames=[f"rfc-{name}"], IncludePublicKey=True)
    assert k["KeyType"] == ("rsa" if name.startswith("rsa") else "ed25519")
    assert k["PublicKey"] == block


def test_import_rfc4716_with_headers_and_continuations(srv, ec2, keys):
    p = pub(keys, "rsa2048")
    _, body = type_b64(p.read_text())
    lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    block = "\r\n".join([
        "---- BEGIN SSH2 PUBLIC KEY ----",
        "Subject: tester",
        'Comment: "a very long comment that goes on and on and is continued on the \\',
        'next line with a backslash"',
        "x-private-header: whatever",
        *lines,
        "---- END SSH2 PUBLIC KEY ----",
    ]) + "\r\n"
    r = ec2.import_key_pair(KeyName="rfc-headers", PublicKeyMaterial=block.encode())
    assert r["KeyFingerprint"] == openssl_md5_spki(p)


def spki_b64(p: Path) -> str:
    return pem_body(run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", str(p)]))


def pkcs1_b64(p: Path) -> str:
    return pem_body(run(["ssh-keygen", "-e", "-m", "PEM", "-f", str(p)]))


@pytest.mark.parametrize("form", ["spki", "pkcs1"])
def test_import_base64_der(srv, ec2, keys, form):
    p = pub(keys, "rsa2048")
    text = spki_b64(p) if form == "spki" else pkcs1_b64(p)
    base64.b64decode(text, validate=True)  # the oracle really is base64 DER
    r = ec2.import_key_pair(KeyName=f"der-{form}", PublicKeyMaterial=text.encode())
    assert r["KeyFingerprint"] == openssl_md5_spki(p)
    [k] = srv.describe(KeyNames=[f"der-{form}"], IncludePublicKey=True)
    assert k["KeyType"] == "rsa"
    assert k["PublicKey"] == text


def test_same_key_under_several_names(srv, ec2, keys):
    data = pub(keys, "rsa2048").read_bytes()
    a = ec2.import_key_pair(KeyName="same1", PublicKeyMaterial=data)
    b = ec2.import_key_pair(KeyName="same2", PublicKeyMaterial=data)
    assert a["KeyFingerprint"] == b["KeyFingerprint"]
    assert a["KeyPairId"] != b["KeyPairId"]
    got = srv.describe(Filters=[{"Name": "fingerprint", "Values": [a["KeyFingerprint"]]}])
    assert sorted(k["KeyName"] for k in got) == ["same1", "same2"]


def test_import_all_encodings_give_one_fingerprint(srv, ec2, keys):
    p = pub(keys, "rsa4096")
    fp = openssl_md5_spki(p)
    variants = {
        "line": p.read_text(),
        "rfc4716": run(["ssh-keygen", "-e", "-f", str(p)]),
        "spki": spki_b64(p),
        "pkcs1": pkcs1_b64(p),
    }
    for n, text in variants.items():
        r = ec2.import_key_pair(KeyName=f"v-{n}", PublicKeyMaterial=text.encode())
        assert r["KeyFingerprint"] == fp, n


def test_import_rsa_16384_accepted(srv, ec2, tmp_path):
    line = fake_rsa_line(16384)
    p = tmp_path / "big.pub"
    p.write_text(line + "\n")
    r = ec2.import_key_pair(KeyName="big", PublicKeyMaterial=line.encode())
    assert r["KeyFingerprint"] == openssl_md5_spki(p)


@pytest.mark.parametrize("bits", [768, 1023, 16385, 16392])
def test_import_rsa_outside_size_limits_refused(srv, ec2, bits):
    # The reference accepts RSA of 1024 to 16384 bits; it names no other code for the rest, and
    # a size outside the accepted range is not a valid key: InvalidKey.Format.
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName=f"rsa{bits}", PublicKeyMaterial=fake_rsa_line(bits).encode())
    client_error(ei, "InvalidKey.Format", MSG_KEY_FORMAT)
    assert srv.describe() == []


@pytest.mark.parametrize("name", ["dsa", "ecdsa256", "ecdsa384", "cert"])
def test_refused_key_types(srv, ec2, keys, name):
    data = pub(keys, name).read_bytes()
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=data)
    client_error(ei, "InvalidKey.Format", MSG_KEY_FORMAT)
    assert srv.describe() == []


@pytest.mark.parametrize("name", ["dsa", "ecdsa256"])
def test_refused_key_types_rfc4716(srv, ec2, keys, name):
    block = run(["ssh-keygen", "-e", "-f", str(pub(keys, name))])
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=block.encode())
    client_error(ei, "InvalidKey.Format", MSG_KEY_FORMAT)


def test_refused_ecdsa_spki_der(srv, ec2, keys):
    text = pem_body(run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", str(pub(keys, "ecdsa256"))]))
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName="ec-der", PublicKeyMaterial=text.encode())
    client_error(ei, "InvalidKey.Format", MSG_KEY_FORMAT)


def _garbage(keys):
    t, body = type_b64(pub(keys, "rsa2048").read_text())
    et, ebody = type_b64(pub(keys, "ed25519").read_text())
    raw = base64.b64decode(body)
    return {
        "words": b"this is not a key",
        "empty-line": b"\n",
        "type-only": b"ssh-rsa",
        "bad-base64": b"ssh-rsa AAAA!!!notbase64 c",
        "truncated": f"ssh-rsa {base64.b64encode(raw[:len(raw) // 2]).decode()} c".encode(),
        "type-mismatch": f"ssh-ed25519 {body} c".encode(),
        "type-mismatch2": f"ssh-rsa {ebody} c".encode(),
        "trailing-junk": f"ssh-rsa {base64.b64encode(raw + b'xx').decode()} c".encode(),
        "unknown-type": f"ssh-foo {body}".encode(),
        "private-key": open(keys["ed25519"], "rb").read(),
        "random-bytes": secrets.token_bytes(300),
        "rfc4716-no-end": b"---- BEGIN SSH2 PUBLIC KEY ----\n" + body.encode() + b"\n",
        "pem-private": b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        "base64-garbage": base64.b64encode(secrets.token_bytes(200)),
    }


@pytest.mark.parametrize("case", ["words", "empty-line", "type-only", "bad-base64", "truncated",
                                  "type-mismatch", "type-mismatch2", "trailing-junk",
                                  "unknown-type", "private-key", "random-bytes", "rfc4716-no-end",
                                  "pem-private", "base64-garbage"])
def test_garbage_is_invalid_key_format(srv, ec2, keys, case):
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName=f"g-{case}", PublicKeyMaterial=_garbage(keys)[case])
    client_error(ei, "InvalidKey.Format", MSG_KEY_FORMAT)
    assert srv.describe() == []


def test_public_key_material_raw_text_accepted(srv, keys):
    """Decision: a PublicKeyMaterial that is not base64 is tried as raw key text (curl users)."""
    text = pub(keys, "ed25519").read_text().strip()
    r = srv.call("ImportKeyPair", {"KeyName": "raw", "PublicKeyMaterial": text}).ok("ImportKeyPair")
    assert r.txt("keyFingerprint") == ssh_sha256_aws(pub(keys, "ed25519"))
    # And the proper base64 form gives the same key.
    r2 = srv.call("ImportKeyPair", {"KeyName": "b64", "PublicKeyMaterial": b64(text)}).ok("ImportKeyPair")
    assert r2.txt("keyFingerprint") == r.txt("keyFingerprint")


def test_import_missing_material(srv):
    srv.call("ImportKeyPair", {"KeyName": "m"}).error(
        "MissingParameter", "The request must contain the parameter PublicKeyMaterial")


def test_import_missing_name(srv, keys):
    srv.call("ImportKeyPair", {"PublicKeyMaterial": b64(pub(keys, "ed25519").read_text())}).error(
        "MissingParameter", "The request must contain the parameter KeyName")


def test_imported_key_deleted(srv, ec2, keys):
    r = ec2.import_key_pair(KeyName="gone", PublicKeyMaterial=pub(keys, "ed25519").read_bytes())
    d = ec2.delete_key_pair(KeyName="gone")
    assert d["KeyPairId"] == r["KeyPairId"]
    assert srv.describe() == []
