"""keypaird_account sets the AWS variables for one test and puts back what was there before.

An inner pytest session (pytester, in this process, so it shares os.environ) runs a test with the
fixture; the outer test checks the environment before, inside (through a file the inner test
writes) and after, and that the inner session's server is gone once that session ends."""

import http.client
import json
import os

import pytest

INNER_TEST = '''
import json, os
import boto3

def test_inside(keypaird_account):
    seen = {name: os.environ.get(name) for name in (
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
        "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    seen["account"] = [keypaird_account.endpoint_url, keypaird_account.access_key_id,
                       keypaird_account.secret_access_key, keypaird_account.region]
    seen["key_pairs"] = boto3.client("ec2").describe_key_pairs()["KeyPairs"]
    with open("seen.json", "w") as out:
        json.dump(seen, out)
'''


def test_variables_are_set_for_the_test_and_restored(pytester, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "outer-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "outer-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_PROFILE", "outer-profile")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    pytester.makepyfile(test_inner=INNER_TEST)

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "seen.json").read_text())
    endpoint, access_key_id, secret, region = seen["account"]
    assert (endpoint.startswith("http://127.0.0.1:"), region) == (True, "us-east-1")
    assert seen == {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
        "account": [endpoint, access_key_id, secret, region],
        "key_pairs": [],
    }
    assert {
        name: os.environ.get(name)
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
        )
    } == {
        "AWS_ENDPOINT_URL": None,
        "AWS_ACCESS_KEY_ID": "outer-key",
        "AWS_SECRET_ACCESS_KEY": "outer-secret",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_PROFILE": "outer-profile",
    }
    # The inner session's keypaird_server stopped with that session.
    host, port = endpoint.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, int(port), timeout=5).request("GET", "/healthz")
