"""keypaird.Server itself: the binary it finds, signature checks, the reset endpoint, a store
that outlives the server, and what it leaves behind."""

import dataclasses
import http.client
import json
import os
import re
import subprocess
import sysconfig

import boto3
import pytest
from botocore.exceptions import ClientError

import keypaird
from sample_keys import ED25519_EC2_FINGERPRINT, ED25519_LINE


def ec2_client(account, secret=None):
    return boto3.client(
        "ec2",
        endpoint_url=account.endpoint_url,
        region_name=account.region,
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key=secret or account.secret_access_key,
    )


def post(endpoint, path):
    connection = http.client.HTTPConnection(endpoint, timeout=10)
    try:
        connection.request("POST", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_bundled_binary_is_found_and_matches_the_package(monkeypatch):
    monkeypatch.delenv("KEYPAIRD_BIN", raising=False)
    binary = keypaird.find_binary()
    assert binary == os.path.join(sysconfig.get_path("scripts"), "keypaird")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout == f"keypaird {keypaird.__version__}\n"


def test_keypaird_bin_overrides_the_bundled_binary(monkeypatch, tmp_path):
    missing = str(tmp_path / "nope")
    monkeypatch.setenv("KEYPAIRD_BIN", missing)
    with pytest.raises(keypaird.ServerError) as not_there:
        keypaird.Server().start()
    assert str(not_there.value) == f"KEYPAIRD_BIN={missing!r} is not an executable file"
    monkeypatch.setenv("KEYPAIRD_BIN", "/bin/false")
    with pytest.raises(keypaird.ServerError) as exited:
        keypaird.Server().start()
    assert str(exited.value) == "keypaird serve exited with status 1"


def test_args_must_be_a_sequence_of_flags():
    with pytest.raises(TypeError) as one_string:
        keypaird.Server(args="--rsa-pool-size 4")
    assert str(one_string.value) == (
        "args is a sequence of flags, e.g. ('--rsa-pool-size', '4'), not a string"
    )


def test_extra_serve_flags_are_passed_and_a_server_restarts():
    server = keypaird.Server(args=("--ppk-version", "3"))
    # The same name twice: the second start has a new temporary store.
    for _ in range(2):
        with server:
            account = server.create_account()
            created = ec2_client(account).create_key_pair(
                KeyName="putty", KeyType="ed25519", KeyFormat="ppk"
            )
            assert created["KeyMaterial"].startswith("PuTTY-User-Key-File-3: ssh-ed25519\n")
        assert server.returncode == 0


def test_signatures_are_checked_without_any_credentials():
    with keypaird.Server(any_credentials=False) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.endpoint_url)
        assert server.aliyun_endpoint == server.endpoint_url.removeprefix("http://")
        account = server.create_account("alice")
        assert account.name == "alice"
        assert re.fullmatch(r"[A-Z0-9]{20}", account.access_key_id), account.access_key_id
        assert account.secret_access_key not in repr(account)
        imported = ec2_client(account).import_key_pair(
            KeyName="signed", PublicKeyMaterial=ED25519_LINE.encode()
        )
        assert imported["KeyFingerprint"] == ED25519_EC2_FINGERPRINT
        with pytest.raises(ClientError) as wrong_secret:
            ec2_client(account, secret="x" * 40).describe_key_pairs()
        assert wrong_secret.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert wrong_secret.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        unknown = keypaird.Account("-", "AKIAUNKNOWNUNKNOWN00", "s", "us-east-1",
                                   server.endpoint_url, server.aliyun_endpoint)
        with pytest.raises(ClientError) as unknown_key:
            ec2_client(unknown).describe_key_pairs()
        assert unknown_key.value.response["Error"] == {
            "Code": "AuthFailure",
            "Message": "AWS was not able to validate the provided access credentials",
        }
        with pytest.raises(keypaird.ServerError) as taken:
            server.create_account("alice")
        assert str(taken.value) == (
            "keypaird accounts create alice: keypaird: error: an account named 'alice' already exists"
        )
        workdir = os.path.dirname(server.log_path)
        assert os.path.isdir(workdir)
    assert server.returncode == 0
    assert not os.path.exists(workdir), "the temporary store and log are removed on exit"
    host, port = account.aliyun_endpoint.split(":")
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, int(port), timeout=5).request("GET", "/readyz")


def test_named_accounts_with_any_credentials(keypaird_server):
    named = keypaird_server.create_account("named-one")
    assert named.name == "named-one"
    ec2_client(named).import_key_pair(KeyName="n", PublicKeyMaterial=ED25519_LINE.encode())
    assert [k["KeyName"] for k in ec2_client(named).describe_key_pairs()["KeyPairs"]] == ["n"]


def test_reset_only_when_allowed(keypaird_server):
    assert post(keypaird_server.aliyun_endpoint, "/moto-api/reset") == (404, b"")
    with keypaird.Server(allow_reset=True) as server:
        account = server.create_account()
        ec2 = ec2_client(account)
        ec2.import_key_pair(KeyName="gone", PublicKeyMaterial=ED25519_LINE.encode())
        status, body = post(server.aliyun_endpoint, "/moto-api/reset")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_a_given_store_outlives_the_server(tmp_path):
    store = f"sqlite://{tmp_path}/kept.db"
    with keypaird.Server(any_credentials=False, store=store) as first:
        assert first.store == store
        account = first.create_account("keeper")
        made = ec2_client(account).import_key_pair(
            KeyName="kept", PublicKeyMaterial=ED25519_LINE.encode()
        )
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "kept.db",
        "kept.db.master-key",
    ]
    with keypaird.Server(any_credentials=False, store=store) as second:
        moved = dataclasses.replace(
            account, endpoint_url=second.endpoint_url, aliyun_endpoint=second.aliyun_endpoint
        )
        [kept] = ec2_client(moved).describe_key_pairs()["KeyPairs"]
        assert (kept["KeyName"], kept["KeyPairId"]) == ("kept", made["KeyPairId"])
