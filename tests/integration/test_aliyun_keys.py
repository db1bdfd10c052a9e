"""Key material of the Alibaba dialect, checked with outside tools (reference: 'Key material and
fingerprints'): every created key is an RSA 2048 PKCS#8 PEM that openssl accepts and from which
ssh-keygen derives the public key DescribeKeyPairs returns; every fingerprint is what
`ssh-keygen -l -E md5` prints; ImportKeyPair takes rsa (1024+), dsa, ecdsa 256/384/521 and ed25519
OpenSSH lines and nothing else."""

import base64
import hashlib
import struct
from pathlib import Path

import pytest

from aliyun_support import (KEY_PAIR_ID_RE, MD5_FP_RE, create, items, keygen, md5_fingerprint,
                            names, pub_line, small_rsa_line, ssh_bits, v1_call, v3_call, verify_created_key)
from support import run, type_b64


def item_of(srv, name):
    [it] = items(srv, KeyPairName=name, IncludePublicKey="true")
    return it


@pytest.mark.parametrize("how", ["v1-json", "v1-xml", "v1-get", "v3"])
def test_created_key_checked_by_openssl_and_ssh_keygen(srv, tmp_path, how):
    name = f"made-{how}"
    if how == "v1-json":
        resp = v1_call(srv, "CreateKeyPair", {"KeyPairName": name}).ok("CreateKeyPair").body
    elif how == "v1-get":
        resp = v1_call(srv, "CreateKeyPair", {"KeyPairName": name}, method="GET").ok("CreateKeyPair").body
    elif how == "v3":
        resp = v3_call(srv, "CreateKeyPair", {"KeyPairName": name}).ok("CreateKeyPair").body
    else:
        root = v1_call(srv, "CreateKeyPair", {"KeyPairName": name}, fmt="XML").ok("CreateKeyPair", "xml").root
        resp = {c.tag: c.text for c in root}
    assert resp["KeyPairName"] == name
    verify_created_key(tmp_path, resp, item_of(srv, name))


def test_every_created_key_is_distinct(srv, tmp_path):
    seen_fp, seen_pem, seen_id = set(), set(), set()
    for i in range(4):
        r = create(srv, f"distinct-{i}")
        verify_created_key(tmp_path, r, item_of(srv, f"distinct-{i}"))
        seen_fp.add(r["KeyPairFingerPrint"])
        seen_pem.add(r["PrivateKeyBody"])
        seen_id.add(r["KeyPairId"])
    assert len(seen_fp) == len(seen_pem) == len(seen_id) == 4


def test_private_key_is_not_stored_for_describe(srv):
    r = create(srv, "no-private")
    it = item_of(srv, "no-private")
    assert "PRIVATE" not in str(it) and r["PrivateKeyBody"] not in str(it)


def wire_md5(line: str) -> str:
    """Independent fingerprint: MD5 of the base64-decoded SSH blob, lowercase hex with colons."""
    d = hashlib.md5(base64.b64decode(line.split()[1])).hexdigest()
    return ":".join(d[i:i + 2] for i in range(0, 32, 2))


IMPORTABLE = {
    "rsa1024": "ssh-rsa", "rsa2048": "ssh-rsa", "rsa3072": "ssh-rsa", "rsa4096": "ssh-rsa",
    "dsa": "ssh-dss", "ecdsa256": "ecdsa-sha2-nistp256", "ecdsa384": "ecdsa-sha2-nistp384",
    "ed25519": "ssh-ed25519",
}


@pytest.mark.parametrize("kind", sorted(IMPORTABLE) + ["ecdsa521"])
@pytest.mark.parametrize("how", ["v1", "v3"])
def test_import_each_key_type(srv, keys, tmp_path, kind, how):
    if kind == "ecdsa521":
        priv = keygen(tmp_path, "ecdsa521", "-t", "ecdsa", "-b", "521")
        want_type = "ecdsa-sha2-nistp521"
    else:
        priv = keys[kind]
        want_type = IMPORTABLE[kind]
    pubfile = Path(str(priv) + ".pub")
    line = pub_line(priv)
    assert line.split()[0] == want_type
    name = f"imp-{kind}-{how}"
    call = v1_call if how == "v1" else v3_call
    r = call(srv, "ImportKeyPair", {"KeyPairName": name, "PublicKeyBody": line}).ok("ImportKeyPair").body
    fp = md5_fingerprint(pubfile)
    assert r["KeyPairName"] == name
    assert r["KeyPairFingerPrint"] == fp == wire_md5(line), (r, fp)
    if "KeyPairId" in r:
        assert KEY_PAIR_ID_RE.match(r["KeyPairId"]), r
    it = item_of(srv, name)
    assert it["KeyPairFingerPrint"] == fp
    assert type_b64(it["PublicKey"]) == type_b64(line)
    # the returned public key is one OpenSSH line that ssh-keygen reads to the same fingerprint
    back = tmp_path / f"{name}.back.pub"
    back.write_text(it["PublicKey"].strip() + "\n")
    assert len(it["PublicKey"].strip().splitlines()) == 1
    assert md5_fingerprint(back) == fp


def test_import_without_comment_and_with_long_comment(srv, keys):
    t, b = type_b64(pub_line(keys["ed25519"]))
    import_line = f"{t} {b}"
    r = v1_call(srv, "ImportKeyPair", {"KeyPairName": "nocomment", "PublicKeyBody": import_line}).ok().body
    assert r["KeyPairFingerPrint"] == wire_md5(import_line)
    t2, b2 = type_b64(pub_line(keys["ecdsa384"]))
    r = v1_call(srv, "ImportKeyPair", {"KeyPairName": "longcomment",
                                        "PublicKeyBody": f"{t2} {b2} user name with spaces@host"}).ok().body
    assert r["KeyPairFingerPrint"] == wire_md5(f"{t2} {b2}")


def _blob(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def bad_public_keys(keys, tmp_path) -> dict:
    ed = pub_line(keys["ed25519"])
    rsa = pub_line(keys["rsa2048"])
    cert = Path(str(keys["cert"]) + ".pub").read_text().strip()
    rfc4716 = run(["ssh-keygen", "-e", "-f", str(keys["ed25519"]) + ".pub"])
    short_ed = "ssh-ed25519 " + base64.b64encode(_blob(b"ssh-ed25519", b"\x01" * 31)).decode()
    mismatched = "ssh-ed25519 " + rsa.split()[1]
    sk = "sk-ssh-ed25519@openssh.com " + base64.b64encode(
        _blob(b"sk-ssh-ed25519@openssh.com", b"\x02" * 32, b"ssh:")).decode()
    return {
        "garbage": "garbage",
        "type-only": "ssh-rsa",
        "empty-blob": "ssh-rsa AAAA",
        "not-base64": "ssh-ed25519 !!!!not-base64!!!!",
        "truncated": ed.split()[0] + " " + ed.split()[1][:30],
        "rsa-768": small_rsa_line(768),
        "rsa-512": small_rsa_line(512),
        "short-ed25519": short_ed,
        "type-mismatch": mismatched,
        "unknown-type": "ssh-foo " + ed.split()[1],
        "certificate": cert,
        "security-key": sk,
        "private-key": Path(keys["ed25519"]).read_text(),
        "rfc4716-block": rfc4716,
        "base64-of-line": base64.b64encode(ed.encode()).decode(),
        "two-keys": ed + "\n" + rsa,
    }


BAD_KINDS = ["garbage", "type-only", "empty-blob", "not-base64", "truncated", "rsa-768", "rsa-512",
             "short-ed25519", "type-mismatch", "unknown-type", "certificate", "security-key", "private-key",
             "rfc4716-block", "base64-of-line", "two-keys"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_import_refuses(srv, keys, tmp_path, kind):
    body = bad_public_keys(keys, tmp_path)[kind]
    v1_call(srv, "ImportKeyPair", {"KeyPairName": "bad-key", "PublicKeyBody": body}).error(
        "InvalidPublicKeyBody.Malformed")
    assert names(srv) == []


def test_small_rsa_lines_are_what_they_claim():
    """The crafted 768/512-bit lines above are well-formed RSA keys of that size (ssh-keygen will not
    read them, cryptography will), so their refusal is about the size alone."""
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key
    for bits in (768, 512, 1024):
        assert load_ssh_public_key(small_rsa_line(bits).encode()).key_size == bits


def test_import_crafted_rsa_1024_accepted(srv):
    """The same construction at 1024 bits is accepted: the floor is exactly 1024."""
    line = small_rsa_line(1024)
    r = v1_call(srv, "ImportKeyPair", {"KeyPairName": "crafted1024", "PublicKeyBody": line}).ok().body
    assert r["KeyPairFingerPrint"] == wire_md5(line)


def test_fingerprint_format(srv, keys):
    r = v1_call(srv, "ImportKeyPair", {"KeyPairName": "fmt", "PublicKeyBody": pub_line(keys["rsa3072"])}).ok().body
    assert MD5_FP_RE.match(r["KeyPairFingerPrint"]), "MD5: 16 bytes, lowercase hex with colons"
    assert ssh_bits(Path(str(keys["rsa3072"]) + ".pub")) == 3072
