"""CreateKeyPair, DescribeKeyPairs and DeleteKeyPair through boto3, every returned key checked with
ssh-keygen, openssl and puttygen (reference: 'Key material and fingerprints')."""

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from support import (KEY_PAIR_ID_RE, client_error, openssl_sha1_pkcs8, puttygen_private_openssh,
                     puttygen_public, ssh_pub_from_private, ssh_sha256_aws, type_b64,
                     verify_created_key, write_private)


@pytest.mark.parametrize("key_type,key_format", [
    ("rsa", "pem"), ("ed25519", "pem"), ("rsa", "ppk"), ("ed25519", "ppk")])
def test_create_key_pair_checked_by_outside_tools(srv, ec2, tmp_path, key_type, key_format):
    r = ec2.create_key_pair(KeyName=f"k-{key_type}-{key_format}", KeyType=key_type,
                            KeyFormat=key_format)
    assert r["KeyName"] == f"k-{key_type}-{key_format}"
    verify_created_key(srv, tmp_path, r, key_type, key_format)


def test_create_defaults_to_rsa_pem(srv, ec2, tmp_path):
    r = ec2.create_key_pair(KeyName="plain")
    assert r["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    verify_created_key(srv, tmp_path, r, "rsa", "pem")
    assert srv.describe(KeyNames=["plain"])[0]["KeyType"] == "rsa"


def test_every_created_key_is_distinct(srv, ec2, tmp_path):
    fps = set()
    mats = set()
    for i in range(3):
        r = ec2.create_key_pair(KeyName=f"d{i}")
        fps.add(r["KeyFingerprint"])
        mats.add(r["KeyMaterial"])
    e = ec2.create_key_pair(KeyName="d-ed", KeyType="ed25519")
    e2 = ec2.create_key_pair(KeyName="d-ed2", KeyType="ed25519")
    assert len(fps) == 3 and len(mats) == 3
    assert e["KeyFingerprint"] != e2["KeyFingerprint"]


def test_describe_fields_and_create_time(srv, ec2):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=2)
    r = ec2.create_key_pair(KeyName="t1", KeyType="ed25519")
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    [k] = srv.describe(KeyNames=["t1"])
    assert k["KeyPairId"] == r["KeyPairId"]
    assert k["KeyFingerprint"] == r["KeyFingerprint"]
    assert k["KeyType"] == "ed25519"
    assert k["Tags"] == [], "tagSet is part of every item (empty here)"
    assert "PublicKey" not in k, "publicKey is present only with IncludePublicKey=true"
    assert before <= k["CreateTime"] <= after, (k["CreateTime"], before, after)
    [k2] = srv.describe(KeyNames=["t1"], IncludePublicKey=False)
    assert "PublicKey" not in k2
    [k3] = srv.describe(KeyNames=["t1"], IncludePublicKey=True)
    assert k3["PublicKey"].startswith("ssh-ed25519 AAAA")
    assert len(k3["PublicKey"].strip().splitlines()) == 1, "one OpenSSH line"


def test_describe_all_and_by_name_and_id(srv, ec2):
    ids = {}
    for n in ("a", "b", "c"):
        ids[n] = ec2.create_key_pair(KeyName=n, KeyType="ed25519")["KeyPairId"]
    assert len(set(ids.values())) == 3
    for v in ids.values():
        assert KEY_PAIR_ID_RE.match(v), v
    allk = srv.describe()
    assert sorted(k["KeyName"] for k in allk) == ["a", "b", "c"]
    assert {k["KeyName"]: k["KeyPairId"] for k in allk} == ids
    got = srv.describe(KeyNames=["a", "c"])
    assert sorted(k["KeyName"] for k in got) == ["a", "c"]
    got = srv.describe(KeyPairIds=[ids["b"], ids["c"]])
    assert sorted(k["KeyName"] for k in got) == ["b", "c"]
    # Names and IDs together: both must match (intersection would be empty, union would not).
    got = srv.describe(KeyNames=["a"], KeyPairIds=[ids["a"]])
    assert [k["KeyName"] for k in got] == ["a"]


def test_describe_empty(srv, ec2):
    assert srv.describe() == []


def test_describe_missing_name_is_not_found(srv, ec2):
    ec2.create_key_pair(KeyName="here", KeyType="ed25519")
    with pytest.raises(ClientError) as ei:
        ec2.describe_key_pairs(KeyNames=["here", "nope"])
    client_error(ei, "InvalidKeyPair.NotFound", "The key pair 'nope' does not exist")


def test_describe_missing_id_is_not_found(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.describe_key_pairs(KeyPairIds=["key-0123456789abcdef0"])
    client_error(ei, "InvalidKeyPair.NotFound",
                 "The key pair ID 'key-0123456789abcdef0' does not exist")


def test_delete_by_name_and_by_id(srv, ec2):
    a = ec2.create_key_pair(KeyName="del-a", KeyType="ed25519")
    b = ec2.create_key_pair(KeyName="del-b", KeyType="ed25519")
    r = ec2.delete_key_pair(KeyName="del-a")
    assert r["Return"] is True
    assert r["KeyPairId"] == a["KeyPairId"]
    r = ec2.delete_key_pair(KeyPairId=b["KeyPairId"])
    assert r["Return"] is True
    assert r["KeyPairId"] == b["KeyPairId"]
    assert srv.describe() == []
    with pytest.raises(ClientError) as ei:
        ec2.describe_key_pairs(KeyNames=["del-a"])
    client_error(ei, "InvalidKeyPair.NotFound", "The key pair 'del-a' does not exist")


def test_delete_missing_succeeds_without_id(srv, ec2):
    r = ec2.delete_key_pair(KeyName="never-was")
    assert r["Return"] is True
    assert "KeyPairId" not in r
    r = ec2.delete_key_pair(KeyPairId="key-0123456789abcdef0")
    assert r["Return"] is True
    assert "KeyPairId" not in r


def test_name_can_be_reused_after_delete(srv, ec2):
    a = ec2.create_key_pair(KeyName="again", KeyType="ed25519")
    ec2.delete_key_pair(KeyName="again")
    b = ec2.create_key_pair(KeyName="again", KeyType="ed25519")
    assert a["KeyPairId"] != b["KeyPairId"]
    assert [k["KeyPairId"] for k in srv.describe()] == [b["KeyPairId"]]


def test_duplicate_name(srv, ec2, keys):
    ec2.create_key_pair(KeyName="dup", KeyType="ed25519")
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="dup")
    client_error(ei, "InvalidKeyPair.Duplicate", "The keypair 'dup' already exists.")
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName="dup",
                            PublicKeyMaterial=open(str(keys["ed25519"]) + ".pub", "rb").read())
    client_error(ei, "InvalidKeyPair.Duplicate", "The keypair 'dup' already exists.")
    assert len(srv.describe()) == 1


def test_names_are_case_sensitive(srv, ec2):
    ec2.create_key_pair(KeyName="Case", KeyType="ed25519")
    ec2.create_key_pair(KeyName="case", KeyType="ed25519")
    assert sorted(k["KeyName"] for k in srv.describe()) == ["Case", "case"]


@pytest.mark.parametrize("name", [
    "x",
    "a" * 255,
    "with space inside",
    "punct !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "utf8-looking=%C3%A9&Action=DeleteKeyPair",
])
def test_name_round_trip(srv, ec2, name):
    r = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    assert r["KeyName"] == name
    [k] = srv.describe(KeyNames=[name])
    assert k["KeyName"] == name
    assert k["KeyPairId"] == r["KeyPairId"]
    d = ec2.delete_key_pair(KeyName=name)
    assert d["KeyPairId"] == r["KeyPairId"]


def test_rsa_fingerprint_is_pkcs8_sha1_not_public(srv, ec2, tmp_path):
    """moto gets this wrong (hashes the public SPKI): the reference wants SHA-1 of private PKCS#8."""
    r = ec2.create_key_pair(KeyName="fp")
    pem = write_private(tmp_path / "fp.pem", r["KeyMaterial"])
    assert r["KeyFingerprint"] == openssl_sha1_pkcs8(pem)
    assert ssh_pub_from_private(pem)[0] == "ssh-rsa"


def test_created_ed25519_is_not_colon_hex(srv, ec2):
    r = ec2.create_key_pair(KeyName="edfp", KeyType="ed25519")
    fp = r["KeyFingerprint"]
    assert ":" not in fp and len(fp) == 44 and fp.endswith("=") and not fp.startswith("SHA256:")


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_ppk_version_3_loads_in_puttygen(keypaird, account, tmp_path, key_type):
    """The reference: PPK v3 is a server setting, and both versions must load in puttygen."""
    srv = keypaird(extra=["--ppk-version", "3"])
    r = srv.ec2().create_key_pair(KeyName="v3", KeyType=key_type, KeyFormat="ppk")
    want = {"rsa": "ssh-rsa", "ed25519": "ssh-ed25519"}[key_type]
    assert r["KeyMaterial"].splitlines()[0] == f"PuTTY-User-Key-File-3: {want}"
    ppk = write_private(tmp_path / "v3.ppk", r["KeyMaterial"])
    pub = puttygen_public(ppk)
    [k] = srv.describe(KeyNames=["v3"], IncludePublicKey=True)
    assert type_b64(k["PublicKey"]) == pub
    if key_type == "rsa":
        assert r["KeyFingerprint"] == openssl_sha1_pkcs8(puttygen_private_openssh(ppk))
    else:
        pubfile = tmp_path / "v3.pub"
        pubfile.write_text(" ".join(pub) + "\n")
        assert r["KeyFingerprint"] == ssh_sha256_aws(pubfile)
