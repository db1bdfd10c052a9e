"""The store seen from outside: restart persistence, SIGKILL durability, no private key material
on disk, quotas enforced atomically, uniqueness under concurrent requests, --allow-reset."""

import base64
import concurrent.futures as cf
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

from support import OTHER, TESTER, client_error, create_account, run_cli, sqlite_url


def snapshot(srv, region="us-east-1"):
    ks = srv.ec2(region).describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    raw = srv.call("DescribeKeyPairs", {}, region=region).ok("DescribeKeyPairs")
    times = {i.find("{http://ec2.amazonaws.com/doc/2016-11-15/}keyPairId").text:
             i.find("{http://ec2.amazonaws.com/doc/2016-11-15/}createTime").text
             for i in raw.els("keySet/item")}
    return sorted(((k["KeyName"], k["KeyPairId"], k["KeyFingerprint"], k["KeyType"],
                    k["PublicKey"], times[k["KeyPairId"]],
                    tuple(sorted((t["Key"], t["Value"]) for t in k.get("Tags", []))))
                   for k in ks))


def populate(srv, keys):
    ec2 = srv.ec2()
    ec2.create_key_pair(KeyName="rsa", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "Env", "Value": "prod"}]}])
    ec2.create_key_pair(KeyName="ed", KeyType="ed25519")
    ec2.create_key_pair(KeyName="ppk", KeyFormat="ppk")
    ec2.import_key_pair(KeyName="imp", PublicKeyMaterial=Path(str(keys["rsa2048"]) + ".pub").read_bytes())
    eu = srv.ec2("eu-west-1").create_key_pair(KeyName="ed", KeyType="ed25519")
    srv.ec2("eu-west-1").create_tags(Resources=[eu["KeyPairId"]], Tags=[{"Key": "r", "Value": "eu"}])


@pytest.mark.timeout(120)
def test_restart_keeps_everything(account, keypaird, keys, store):
    srv = keypaird()
    populate(srv, keys)
    before_us, before_eu = snapshot(srv), snapshot(srv, "eu-west-1")
    assert len(before_us) == 4 and len(before_eu) == 1
    srv.stop()
    srv2 = keypaird()
    assert snapshot(srv2) == before_us
    assert snapshot(srv2, "eu-west-1") == before_eu
    # Names stay taken, and the store keeps working.
    with pytest.raises(ClientError) as ei:
        srv2.ec2().create_key_pair(KeyName="rsa")
    client_error(ei, "InvalidKeyPair.Duplicate", "The keypair 'rsa' already exists.")
    srv2.ec2().delete_key_pair(KeyName="ed")
    srv2.stop()
    srv3 = keypaird()
    assert [k[0] for k in snapshot(srv3)] == ["imp", "ppk", "rsa"]


def test_sigterm_exits_promptly_with_status_0(srv):
    srv.ec2().create_key_pair(KeyName="x", KeyType="ed25519")
    srv.proc.send_signal(signal.SIGTERM)
    try:
        assert srv.proc.wait(10) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("keypaird did not exit within 10 s of SIGTERM")


@pytest.mark.timeout(120)
def test_kill9_keeps_acknowledged_writes(account, keypaird, store):
    srv = keypaird()
    ec2 = srv.ec2()
    made = {}
    for i in range(8):
        r = ec2.create_key_pair(KeyName=f"k{i}", KeyType="ed25519" if i % 2 else "rsa")
        made[r["KeyPairId"]] = (r["KeyName"], r["KeyFingerprint"])
    ec2.delete_key_pair(KeyName="k0")
    del made[[k for k, v in made.items() if v[0] == "k0"][0]]
    ec2.create_tags(Resources=list(made), Tags=[{"Key": "t", "Value": "1"}])
    srv.kill9()
    srv2 = keypaird()
    got = {k["KeyPairId"]: (k["KeyName"], k["KeyFingerprint"]) for k in srv2.describe()}
    assert got == made
    assert all(k["Tags"] == [{"Key": "t", "Value": "1"}] for k in srv2.describe())


@pytest.mark.timeout(120)
def test_kill9_under_concurrent_writes(account, keypaird, store):
    srv = keypaird()
    acked = []

    def one(i):
        try:
            r = srv.ec2().create_key_pair(KeyName=f"c{i}", KeyType="ed25519")
            return r["KeyPairId"]
        except Exception:
            return None

    with cf.ThreadPoolExecutor(4) as pool:
        futs = [pool.submit(one, i) for i in range(40)]
        for n, f in enumerate(cf.as_completed(futs)):
            if f.result():
                acked.append(f.result())
            if n == 20:
                srv.kill9()
    assert len(acked) >= 20
    srv2 = keypaird()
    ids = {k["KeyPairId"] for k in srv2.describe()}
    missing = set(acked) - ids
    assert not missing, f"acknowledged creates lost after SIGKILL: {sorted(missing)}"


def _secret_needles(material: str, fmt: str, key_type: str) -> list:
    """Byte strings that would only be in the store if private key material were written there:
    the private scalars raw, hex and base64 (at all three alignments), and the whole body."""
    if fmt == "pem":
        if key_type == "rsa":
            k = load_pem_private_key(material.encode(), None)
            n = k.private_numbers()
            secrets_ = [x.to_bytes((x.bit_length() + 7) // 8, "big") for x in (n.d, n.p, n.q)]
        else:
            k = load_ssh_private_key(material.encode(), None)
            from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
            secrets_ = [k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())]
        body = "".join(l for l in material.splitlines() if not l.startswith("-----"))
    else:
        lines = material.splitlines()
        i = [j for j, l in enumerate(lines) if l.startswith("Private-Lines:")][0]
        count = int(lines[i].split(":")[1])
        body = "".join(lines[i + 1:i + 1 + count])
        secrets_ = [base64.b64decode(body)[4:36]]  # start of the private blob (mpint d / ed25519 scalar)
    needles = [body.encode()]
    for s in secrets_:
        assert len(s) >= 32
        needles += [s, s.hex().encode(), s.hex().upper().encode()]
        for off in range(3):
            needles.append(base64.b64encode(s[off:off + 30]))
            needles.append(base64.urlsafe_b64encode(s[off:off + 30]))
    return needles


@pytest.mark.timeout(120)
def test_no_private_key_material_in_store(srv, store):
    ec2 = srv.ec2()
    made = [
        (ec2.create_key_pair(KeyName="a")["KeyMaterial"], "pem", "rsa"),
        (ec2.create_key_pair(KeyName="b", KeyType="ed25519")["KeyMaterial"], "pem", "ed25519"),
        (ec2.create_key_pair(KeyName="c", KeyFormat="ppk")["KeyMaterial"], "ppk", "rsa"),
        (ec2.create_key_pair(KeyName="d", KeyType="ed25519", KeyFormat="ppk")["KeyMaterial"], "ppk", "ed25519"),
    ]
    files = [p for p in store.parent.iterdir() if p.name.startswith(store.name)]
    assert store in files, f"no SQLite file at {store}: {list(store.parent.iterdir())}"

    def check(stage):
        blobs = {p.name: p.read_bytes() for p in store.parent.iterdir() if p.name.startswith(store.name)}
        assert sum(len(b) for b in blobs.values()) > 0
        for material, fmt, kt in made:
            for needle in _secret_needles(material, fmt, kt):
                for name, blob in blobs.items():
                    flat = blob.replace(b"\n", b"").replace(b"\r", b"")
                    assert needle not in blob and needle not in flat, (
                        f"{stage}: private key material ({kt}/{fmt}) found in {name}")

    check("while running")
    # The public keys are there (so the search is looking at the right files).
    pub = srv.describe(KeyNames=["b"], IncludePublicKey=True)[0]["PublicKey"].split()[1]
    forms = [pub.encode(), base64.b64decode(pub), base64.b64decode(pub)[-32:]]
    assert any(f in p.read_bytes() for f in forms
               for p in store.parent.iterdir() if p.name.startswith(store.name)), \
        "the ed25519 public key is not in the store files: is this the right database?"
    srv.stop()
    check("after stop")


def test_no_secrets_in_logs(srv):
    ec2 = srv.ec2()
    mats = [ec2.create_key_pair(KeyName="a")["KeyMaterial"],
            ec2.create_key_pair(KeyName="b", KeyType="ed25519", KeyFormat="ppk")["KeyMaterial"]]
    srv.call("DescribeKeyPairs", {}, creds=(None, TESTER[1], "wrong-secret")).error("SignatureDoesNotMatch")
    log = srv.wait_stderr(lambda t: t.count("CreateKeyPair") >= 2)
    out = srv.stdout() + log
    assert TESTER[2] not in out, "the account's secret appears in the server's output"
    for m in mats:
        body = [l for l in m.splitlines() if l and not l.startswith("-----") and ":" not in l]
        for line in body[3:]:
            assert line not in out, "private key material appears in the server's output"


def _new_log_lines(srv, before: int, timeout=5) -> list:
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in srv.stderr().splitlines() if l.strip()]
        if len(lines) > before or time.monotonic() > deadline:
            time.sleep(0.2)  # let a second (wrong) line show up too
            return [l for l in srv.stderr().splitlines() if l.strip()][before:]
        time.sleep(0.05)


def test_one_log_line_per_request(srv):
    def logged(do):
        before = len([l for l in srv.stderr().splitlines() if l.strip()])
        do()
        new = _new_log_lines(srv, before)
        assert len(new) == 1, f"expected exactly one log line for the request, got {new}"
        line = new[0]
        assert re.search(r"\d+(\.\d+)?\s*(ms|µs|us|s)\b", line) or "latency" in line.lower(), (
            f"the line gives the latency: {line}")
        return line

    cp = run_cli(["accounts", "list", "--store", sqlite_url(srv.store_path)])
    acc_line = [l for l in cp.stdout.splitlines() if TESTER[1] in l]
    assert acc_line, cp.stdout
    # The account may be named by its name, its access key ID or its account ID.
    account_names = {TESTER[0], TESTER[1], *re.findall(r"\b\d{12}\b", acc_line[0])}
    time.sleep(0.3)  # start-up lines first
    line = logged(lambda: srv.ec2().create_key_pair(KeyName="logme", KeyType="ed25519"))
    assert "CreateKeyPair" in line and "us-east-1" in line and "200" in line, line
    assert any(a in line for a in account_names), f"the line names the account {account_names}: {line}"
    line = logged(lambda: srv.call("DescribeKeyPairs", {}, region="eu-west-1").ok("DescribeKeyPairs"))
    assert "DescribeKeyPairs" in line and "eu-west-1" in line and "200" in line, line
    line = logged(lambda: srv.call("CreateKeyPair", {"KeyName": "logme"}).error("InvalidKeyPair.Duplicate"))
    assert "CreateKeyPair" in line and "400" in line, line
    line = logged(lambda: srv.call("Bogus", {}).error("InvalidAction"))
    assert "400" in line, line


# ------------------------------------------------------------------------------- quota


@pytest.fixture
def quota_srv(store, keypaird):
    name, akid, secret = TESTER
    create_account(sqlite_url(store), name, akid, secret, quota=3)
    return keypaird()


QUOTA_MSG = "Maximum of 3 key pairs reached in this region."


def test_quota(quota_srv, keys):
    srv = quota_srv
    ec2 = srv.ec2()
    ec2.create_key_pair(KeyName="q1", KeyType="ed25519")
    ec2.create_key_pair(KeyName="q2")
    ec2.import_key_pair(KeyName="q3", PublicKeyMaterial=Path(str(keys["ed25519"]) + ".pub").read_bytes())
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="q4", KeyType="ed25519")
    client_error(ei, "KeyPairLimitExceeded", QUOTA_MSG)
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName="q4", PublicKeyMaterial=Path(str(keys["rsa2048"]) + ".pub").read_bytes())
    client_error(ei, "KeyPairLimitExceeded", QUOTA_MSG)
    assert sorted(k["KeyName"] for k in srv.describe()) == ["q1", "q2", "q3"]
    with pytest.raises(ClientError) as ei:
        ec2.describe_key_pairs(KeyNames=["q4"])
    client_error(ei, "InvalidKeyPair.NotFound")
    # The quota is per region.
    for i in range(3):
        srv.ec2("eu-west-1").create_key_pair(KeyName=f"q{i}", KeyType="ed25519")
    # Deleting frees a slot.
    ec2.delete_key_pair(KeyName="q1")
    ec2.create_key_pair(KeyName="q4", KeyType="ed25519")
    assert sorted(k["KeyName"] for k in srv.describe()) == ["q2", "q3", "q4"]


def test_quota_refusal_leaves_nothing(quota_srv):
    srv = quota_srv
    ec2 = srv.ec2()
    for i in range(3):
        ec2.create_key_pair(KeyName=f"q{i}", KeyType="ed25519")
    # A failed create must not have used a slot or left a name behind.
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="q9", KeyType="ed25519")
    client_error(ei, "KeyPairLimitExceeded", QUOTA_MSG)
    assert len(srv.describe()) == 3


def test_quota_concurrent(quota_srv):
    srv = quota_srv

    def one(i):
        try:
            srv.ec2().create_key_pair(KeyName=f"r{i}", KeyType="ed25519")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with cf.ThreadPoolExecutor(8) as pool:
        res = list(pool.map(one, range(12)))
    assert res.count("ok") == 3, res
    assert res.count("KeyPairLimitExceeded") == 9, res
    assert len(srv.describe()) == 3


def test_duplicate_concurrent(srv):
    def one(_):
        try:
            return srv.ec2().create_key_pair(KeyName="race", KeyType="ed25519")["KeyPairId"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    with cf.ThreadPoolExecutor(8) as pool:
        res = list(pool.map(one, range(10)))
    ok = [r for r in res if r.startswith("key-")]
    assert len(ok) == 1, res
    assert res.count("InvalidKeyPair.Duplicate") == 9, res
    assert [k["KeyPairId"] for k in srv.describe()] == ok


# ------------------------------------------------------------------------------- reset


def test_allow_reset(account, other_account, keypaird):
    srv = keypaird(extra=["--allow-reset"])
    srv.ec2().create_key_pair(KeyName="a", KeyType="ed25519",
                              TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "x", "Value": "y"}]}])
    srv.ec2("eu-west-1").create_key_pair(KeyName="a", KeyType="ed25519")
    srv.ec2(creds=OTHER).create_key_pair(KeyName="b", KeyType="ed25519")
    r = requests.post(srv.url + "/moto-api/reset", timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    assert srv.describe() == []
    assert srv.describe("eu-west-1") == []
    assert srv.ec2().describe_tags()["Tags"] == []
    assert srv.describe(creds=OTHER) == []
    # Accounts are not inventory: the same credentials still work, and names are free again.
    srv.ec2().create_key_pair(KeyName="a", KeyType="ed25519")
    assert [k["KeyName"] for k in srv.describe()] == ["a"]
