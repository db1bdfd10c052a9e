"""keypaird-load (bench/scale, the load generator bench/run.sh measures writes with) signs like the
real SDKs do.

`keypaird-load sign` prints the request the generator would send for fixed inputs, through the
generator's own signer. For several fixed inputs each signature is computed again here by the SDK
code the clients use — botocore's SigV4Auth, aliyun-python-sdk-core's RPC v1 composer and
alibabacloud-tea-openapi's V3 `get_authorization` — with their clocks and nonces fixed, and the
two must be the same string. Then `keypaird-load run --smoke` runs every scenario against the
real keypaird, which verifies every signature (and, for ECS, records every nonce).

The binary: $KEYPAIRD_LOAD_BIN, else target/debug/keypaird-load under the repository root
(scripts/test builds it and sets the variable).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import pytest
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import support

REPO_ROOT = Path(__file__).resolve().parents[2]
EC2_FORM = "application/x-www-form-urlencoded; charset=utf-8"
ECS_VERSION = "2014-05-26"
ECS_REGION = "cn-hangzhou"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def load_binary() -> Path:
    value = os.environ.get("KEYPAIRD_LOAD_BIN")
    path = Path(value) if value else REPO_ROOT / "target" / "debug" / "keypaird-load"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"keypaird-load not found at {path}: run `cargo build -p keypaird-bench-scale` "
                    "or set KEYPAIRD_LOAD_BIN", pytrace=False)
    return path


def run_load(args, *, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(load_binary()), *map(str, args)], capture_output=True, text=True,
                          input=input, timeout=timeout, env=support.clean_env(),
                          stdin=None if input is not None else subprocess.DEVNULL)


def generator_sign(scheme: str, case: dict) -> dict:
    """`keypaird-load sign` for a case, with every input on the command line."""
    args = ["sign", "--signature", scheme, "--host", case["host"],
            "--access-key-id", case["ak"], "--secret-access-key", case["secret"],
            "--time", case["time"]]
    if "nonce" in case:
        args += ["--nonce", case["nonce"]]
    for name, value in case["params"]:
        args += ["--param", f"{name}={value}"]
    cp = run_load(args)
    assert cp.returncode == 0, f"keypaird-load sign exited {cp.returncode}: {cp.stderr}"
    return json.loads(cp.stdout)


def header(out: dict, name: str) -> str:
    values = [v for n, v in out["headers"] if n.lower() == name.lower()]
    assert len(values) == 1, f"expected one {name} header: {out['headers']}"
    return values[0]


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------------------------
# Fixed inputs: spaces, `*`, `~`, `/`, `&`, `+`, `=`, non-ASCII, names like Filter.1.Value.2

SECRET_WITH_SLASHES = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
PUBLIC_B64 = ("c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUtyS00zK0s1RzFHKzBqMk5HN2xF"
              "NkUwdlowc0IwSTZFM0Q1bTBrUzhNN2sgYmVuY2g=")

EC2_CASES = {
    "describe-one": dict(
        host="127.0.0.1:8080", ak="benchkey", secret="benchsecret", time="2026-11-22T11:55:11Z",
        params=[("Action", "DescribeKeyPairs"), ("KeyName.1", "seed-0500")]),
    "filters-odd-values": dict(
        host="127.0.0.1:41235", ak="AKIDTESTER0000000001", secret=SECRET_WITH_SLASHES,
        time="2027-02-28T23:59:59Z",
        params=[("Action", "DescribeKeyPairs"),
                ("Filter.1.Name", "tag:team"),
                ("Filter.1.Value.1", "platform & infra/core *~"),
                ("Filter.1.Value.2", "生产 环境"),
                ("Filter.2.Name", "key-name"),
                ("Filter.2.Value.1", "seed-050*"),
                ("KeyName.1", "a b+c=d")]),
    "import-tagged": dict(
        host="localhost:9", ak="AKIDOTHER00000000002", secret="s/e+c=r~e t",
        time="2026-01-01T00:00:00Z",
        params=[("Action", "ImportKeyPair"),
                ("KeyName", "w-lg1-imp-17"),
                ("PublicKeyMaterial", PUBLIC_B64),
                ("TagSpecification.1.ResourceType", "key-pair"),
                ("TagSpecification.1.Tag.1.Key", "Ünïcödé/~*"),
                ("TagSpecification.1.Tag.1.Value", "")]),
}

ECS_CASES = {
    "describe-by-name": dict(
        host="127.0.0.1:8080", ak="benchkey", secret="benchsecret", time="2026-11-22T11:55:11Z",
        nonce="5b1c2e0cfd6b4c2b8c2e0f1d2a3b4c5d",
        params=[("Action", "DescribeKeyPairs"), ("KeyPairName", "seed-0500")]),
    "describe-odd-values": dict(
        host="127.0.0.1:18931", ak="LTAI5tEXAMPLEaccessKEY", secret="EXAMPLEsecret/Key+0123456789abcdef",
        time="2027-02-28T23:59:59Z", nonce="0f8e1d2c-3b4a-5968-7766-554433221100",
        params=[("Action", "DescribeKeyPairs"),
                ("KeyPairName", "my key*~"),
                ("Tag.1.Key", "环境"),
                ("Tag.1.Value", "生产 环境 & infra/core"),
                ("Filter.1.Value.2", "a/b=c+d"),
                ("PageSize", "50")]),
    "import-tagged": dict(
        host="localhost:9", ak="STS.NUEXAMPLEtemporaryKEY", secret="s/e+c=r~e t",
        time="2026-01-01T00:00:00Z", nonce="n" * 64,
        params=[("Action", "ImportKeyPair"),
                ("KeyPairName", "lg1-eimp-3"),
                ("PublicKeyBody", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKrKM3+K5G1G+0j2NG7lE6E0vZ0sB0I6E3D5m0kS8M7k a@b/c"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "")]),
}


# --------------------------------------------------------------------------------------------
# SigV4 against botocore


@pytest.mark.parametrize("name", sorted(EC2_CASES))
def test_sigv4_matches_botocore(name):
    case = EC2_CASES[name]
    out = generator_sign("sigv4", case)
    assert (out["method"], out["target"]) == ("POST", "/")
    # The body carries exactly the parameters, then the version.
    assert parse_qsl(out["body"], keep_blank_values=True, strict_parsing=True) == [
        *case["params"], ("Version", "2016-11-15")]
    assert header(out, "Host") == case["host"]
    assert header(out, "Content-Type") == EC2_FORM
    assert header(out, "Content-Length") == str(len(out["body"].encode()))

    request = AWSRequest(method="POST", url=f"http://{case['host']}/", data=out["body"].encode(),
                         headers={"Content-Type": EC2_FORM})
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=at(case["time"])):
        SigV4Auth(Credentials(case["ak"], case["secret"]), "ec2", "us-east-1").add_auth(request)
    assert header(out, "X-Amz-Date") == request.headers["X-Amz-Date"]
    assert out["authorization"] == request.headers["Authorization"]
    assert request.headers["Authorization"].endswith("Signature=" + out["signature"])


# --------------------------------------------------------------------------------------------
# ACS v1 against aliyun-python-sdk-core


@pytest.mark.parametrize("name", sorted(ECS_CASES))
def test_acs_v1_matches_aliyunsdkcore(name):
    case = ECS_CASES[name]
    out = generator_sign("acs-v1", case)
    assert (out["method"], out["path"], out["body"]) == ("GET", "/", "")
    assert [n for n, _ in out["headers"]] == ["Host"] and header(out, "Host") == case["host"]

    # The SDK's own composer, as AcsClient calls it for a GET, with its clock and nonce fixed.
    params = dict(case["params"])
    params.update(Version=ECS_VERSION, RegionId=ECS_REGION)
    with mock.patch.object(parameter_helper, "get_iso_8061_date", return_value=case["time"]), \
            mock.patch.object(parameter_helper, "get_uuid", return_value=case["nonce"]):
        url, string_to_sign = rpc_signature_composer.get_signed_url(
            params, case["ak"], case["secret"], "JSON", "GET", {})
    sdk = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    ours = parse_qsl(out["query"], keep_blank_values=True, strict_parsing=True)
    # The same parameters (the SDK's common ones, SignatureType empty included), the same
    # signature.
    assert sorted(ours) == sorted(sdk)
    assert dict(sdk)["Signature"] == out["signature"]
    assert string_to_sign.startswith("GET&%2F&AccessKeyId%3D")


# --------------------------------------------------------------------------------------------
# ACS V3 against alibabacloud-tea-openapi


@pytest.mark.parametrize("name", sorted(ECS_CASES))
def test_acs_v3_matches_tea_openapi(name):
    case = ECS_CASES[name]
    out = generator_sign("acs-v3", case)
    assert (out["method"], out["path"], out["body"]) == ("POST", "/", "")
    action = dict(case["params"])["Action"]
    # What the Tea SDK puts in an RPC request: the action and version in headers, the other
    # parameters and RegionId in the query, the hash of the empty body.
    query = {n: v for n, v in case["params"] if n != "Action"}
    query["RegionId"] = ECS_REGION
    headers = {
        "host": case["host"],
        "x-acs-version": ECS_VERSION,
        "x-acs-action": action,
        "x-acs-date": case["time"],
        "x-acs-signature-nonce": case["nonce"],
        "accept": "application/json",
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    assert dict(parse_qsl(out["query"], keep_blank_values=True, strict_parsing=True)) == query
    sent = {n: v for n, v in out["headers"] if n.lower() not in ("authorization", "content-length")}
    assert sent == headers
    assert header(out, "Content-Length") == "0"

    request = SimpleNamespace(method="POST", pathname="/", query=query, headers=headers)
    authorization = TeaUtils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256,
                                               case["ak"], case["secret"])
    assert out["authorization"] == authorization
    assert authorization.endswith("Signature=" + out["signature"])


def test_sign_reads_the_same_inputs_from_stdin():
    case = ECS_CASES["describe-odd-values"]
    doc = {"signature": "acs-v3", "host": case["host"], "access_key_id": case["ak"],
           "secret_access_key": case["secret"], "time": case["time"], "nonce": case["nonce"],
           "params": [list(p) for p in case["params"]]}
    cp = run_load(["sign", "--stdin"], input=json.dumps(doc))
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == generator_sign("acs-v3", case)


def test_sign_refuses_acs_without_a_nonce():
    case = dict(ECS_CASES["describe-by-name"])
    del case["nonce"]
    args = ["sign", "--signature", "acs-v1", "--host", case["host"], "--access-key-id", case["ak"],
            "--secret-access-key", case["secret"], "--time", case["time"],
            "--param", "Action=DescribeKeyPairs"]
    cp = run_load(args)
    assert cp.returncode == 2 and "needs a nonce" in cp.stderr, cp


# --------------------------------------------------------------------------------------------
# Against the real keypaird, which verifies every signature

LOAD_ACCOUNT = ("load", "AKIDLOADGEN000000001", "loadgen/Secret+Key=0123456789abcdefXYZ")


@pytest.fixture
def load_srv(store, keypaird):
    name, akid, secret = LOAD_ACCOUNT
    support.create_account(support.sqlite_url(store), name, akid, secret, quota=1_000_000)
    return keypaird(creds=LOAD_ACCOUNT)


def creds_args():
    return ["--access-key-id", LOAD_ACCOUNT[1], "--secret-access-key", LOAD_ACCOUNT[2]]


@pytest.mark.timeout(240)
def test_smoke_runs_every_scenario_verified(load_srv, tmp_path):
    out = tmp_path / "smoke.json"
    cp = run_load(["run", "--smoke", "--url", load_srv.url, "--tag", "smoke", *creds_args(),
                   "--json", out], timeout=200)
    assert cp.returncode == 0, f"exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    runs = json.loads(out.read_text())
    seen = {(r["scenario"], r["signature"]) for r in runs}
    assert seen == {
        ("create-rsa", "sigv4"), ("create-ed25519", "sigv4"), ("import", "sigv4"),
        ("describe-by-name", "sigv4"), ("describe-filter", "sigv4"), ("delete", "sigv4"),
        ("mixed", "sigv4"), ("ecs-describe", "acs-v1"), ("ecs-describe", "acs-v3"),
        ("ecs-import", "acs-v1"), ("ecs-import", "acs-v3"),
    }
    for r in runs:
        assert r["requests"] > 0 and r["ok"] == r["requests"], r
        assert r["errors"] == {} and r["bad_replies"] == 0 and r["no_reply"] == 0, r
        assert r["statuses"] == {"200": r["requests"]}, r
        assert r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"], r
    # What the creates answered is stored, under the run's names, in the one account.
    created = next(r for r in runs if r["scenario"] == "create-ed25519")
    reply = load_srv.call("DescribeKeyPairs", {"Filter.1.Name": "key-name",
                                               "Filter.1.Value.1": created["names"] + "*"},
                          creds=LOAD_ACCOUNT)
    assert reply.status == 200, reply
    assert reply.text.count("<keyName>") == created["ok"]


def test_errors_are_counted_by_code_not_fatal(load_srv, tmp_path):
    out = tmp_path / "dup.json"
    args = ["run", "--url", load_srv.url, "--scenario", "import", "--connections", "2",
            "--requests", "30", "--tag", "dup", *creds_args(), "--json", out]
    first = run_load(args)
    assert first.returncode == 0, first.stderr
    assert json.loads(out.read_text())["ok"] == 30
    # The same names again: every import is refused, counted, and the run still completes.
    again = run_load(args)
    assert again.returncode == 1, again
    result = json.loads(out.read_text())
    assert result["requests"] == 30 and result["ok"] == 0
    assert result["errors"] == {"InvalidKeyPair.Duplicate": 30}
    assert result["statuses"] == {"400": 30}
    assert "ERRORS: InvalidKeyPair.Duplicate ×30" in again.stdout


def test_a_wrong_secret_stops_before_measuring(load_srv):
    cp = run_load(["run", "--url", load_srv.url, "--scenario", "create-ed25519", "--seconds", "1",
                   "--access-key-id", LOAD_ACCOUNT[1], "--secret-access-key", "not-the-secret"])
    assert cp.returncode == 2, cp
    assert "nothing was measured" in cp.stderr and "SignatureDoesNotMatch" in cp.stderr, cp.stderr


def test_ecs_scenarios_refuse_moto():
    cp = run_load(["run", "--url", "http://127.0.0.1:9", "--peer", "moto",
                   "--scenario", "ecs-describe", "--seeded", "10"])
    assert cp.returncode == 2, cp
    assert "moto's server has no ECS API" in cp.stderr, cp.stderr
