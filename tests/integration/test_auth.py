"""SigV4 as EC2 clients send it (header and presigned forms), auth failures with their exact codes,
statuses and messages, clock skew, account and region isolation, and --any-credentials."""

import re
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from support import (MSG_AUTH_FAILURE, MSG_EXPIRED, MSG_SIGNATURE, OTHER, TESTER, Reply,
                     client_error, ec2_client, form, run_cli, send, sign, sqlite_url)

# ------------------------------------------------------------------------------- header form


def test_wrong_secret(srv):
    bad = ec2_client(srv.url, TESTER[1], TESTER[2][:-1] + "X")
    with pytest.raises(ClientError) as ei:
        bad.describe_key_pairs()
    client_error(ei, "SignatureDoesNotMatch", MSG_SIGNATURE)
    with pytest.raises(ClientError) as ei:
        bad.create_key_pair(KeyName="x")
    client_error(ei, "SignatureDoesNotMatch", MSG_SIGNATURE)
    assert srv.describe() == []


def test_unknown_access_key(srv):
    bad = ec2_client(srv.url, "AKIDNOBODY0000000000", TESTER[2])
    with pytest.raises(ClientError) as ei:
        bad.describe_key_pairs()
    client_error(ei, "AuthFailure", MSG_AUTH_FAILURE)


@pytest.mark.parametrize("skew", [-20 * 60, 20 * 60])
def test_request_expired(srv, skew):
    srv.call("CreateKeyPair", {"KeyName": "late"}, skew=skew).error("RequestExpired", MSG_EXPIRED)
    assert srv.describe() == []


@pytest.mark.parametrize("skew", [-10 * 60, 10 * 60])
def test_skew_within_fifteen_minutes_accepted(srv, skew):
    srv.call("CreateKeyPair", {"KeyName": f"s{skew}", "KeyType": "ed25519"}, skew=skew).ok("CreateKeyPair")


def test_missing_authorization(srv):
    srv.call("DescribeKeyPairs", {}, signed=False).error("MissingAuthenticationToken")


def test_java_sdk_extra_signed_headers(srv):
    """Honour whatever SignedHeaders lists (Java SDK v2 signs amz-sdk-* and content-length)."""
    body = urlencode(form("CreateKeyPair", {"KeyName": "java", "KeyType": "ed25519"})).encode()
    req = AWSRequest(method="POST", url=srv.url + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "amz-sdk-invocation-id": "5f0b8c2e-8d3c-4b7e-9a51-3c1f2d4e5a6b",
        "amz-sdk-retry": "0/0/500",
        "Content-Length": str(len(body)),
        "User-Agent": "aws-sdk-java/2.20.0",
    })
    sign(req, srv.creds)
    auth = req.headers["Authorization"]
    assert "amz-sdk-invocation-id" in auth and "content-length" in auth
    assert "X-Amz-Content-SHA256" not in req.headers
    r = Reply(send(req)).ok("CreateKeyPair")
    assert r.txt("keyName") == "java"


def test_tampered_signed_header(srv):
    def mutate(h):
        h["X-Amz-Date"] = h["X-Amz-Date"][:-3] + ("00Z" if not h["X-Amz-Date"].endswith("00Z") else "01Z")
    srv.call("DescribeKeyPairs", {}, mutate=mutate).error("SignatureDoesNotMatch", MSG_SIGNATURE)


def test_tampered_body(srv):
    body = urlencode(form("CreateKeyPair", {"KeyName": "aaa"})).encode()
    req = AWSRequest(method="POST", url=srv.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    sign(req, srv.creds)
    req.data = body.replace(b"aaa", b"bbb")
    Reply(send(req)).error("SignatureDoesNotMatch", MSG_SIGNATURE)
    assert srv.describe() == []


def test_tampered_signature(srv):
    def mutate(h):
        h["Authorization"] = re.sub(r"Signature=[0-9a-f]{64}", "Signature=" + "0" * 64, h["Authorization"])
    srv.call("DescribeKeyPairs", {}, mutate=mutate).error("SignatureDoesNotMatch", MSG_SIGNATURE)


def test_region_from_credential_scope(srv):
    srv.call("CreateKeyPair", {"KeyName": "eu", "KeyType": "ed25519"}, region="eu-west-1").ok("CreateKeyPair")
    assert [k["KeyName"] for k in srv.describe("eu-west-1")] == ["eu"]
    assert srv.describe("us-east-1") == []


# ------------------------------------------------------------------------------- presigned


def presigned_url(srv, action, params, *, creds=None, region="us-east-1", expires=300, skew=0):
    req = AWSRequest(method="GET", url=srv.url + "/", params=form(action, params))
    sign(req, creds or srv.creds, region, query=True, expires=expires, skew=skew)
    return req.prepare().url


def test_presigned_by_boto3(srv, ec2):
    ec2.create_key_pair(KeyName="p1", KeyType="ed25519")
    url = ec2.generate_presigned_url("describe_key_pairs", Params={"KeyNames": ["p1"]}, ExpiresIn=300)
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and "X-Amz-Signature" in q
    r = Reply(requests.get(url, timeout=30)).ok("DescribeKeyPairs")
    assert [e.text for e in r.els("keySet/item/keyName")] == ["p1"]


def test_presigned_with_urllib(srv):
    url = presigned_url(srv, "CreateKeyPair", {"KeyName": "p2", "KeyType": "ed25519"})
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    assert "<keyName>p2</keyName>" in body
    assert [k["KeyName"] for k in srv.describe()] == ["p2"]


def test_presigned_with_requests(srv):
    url = presigned_url(srv, "DescribeKeyPairs", {})
    Reply(requests.get(url, timeout=30)).ok("DescribeKeyPairs")


def _with_query(url, **changes):
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True)
    q = [(k, changes.get(k, v)) for k, v in q]
    return urlunsplit(parts._replace(query=urlencode(q)))


def test_presigned_tampered(srv):
    url = presigned_url(srv, "CreateKeyPair", {"KeyName": "p3", "KeyType": "ed25519"})
    Reply(requests.get(_with_query(url, KeyName="p4"), timeout=30)).error("SignatureDoesNotMatch", MSG_SIGNATURE)
    Reply(requests.get(_with_query(url, **{"X-Amz-Expires": "3000"}), timeout=30)).error(
        "SignatureDoesNotMatch", MSG_SIGNATURE)
    assert srv.describe() == []


def test_presigned_wrong_secret(srv):
    url = presigned_url(srv, "DescribeKeyPairs", {}, creds=(None, TESTER[1], "wrong"))
    Reply(requests.get(url, timeout=30)).error("SignatureDoesNotMatch", MSG_SIGNATURE)


def test_presigned_unknown_key(srv):
    url = presigned_url(srv, "DescribeKeyPairs", {}, creds=(None, "AKIDNOBODY0000000000", "x"))
    Reply(requests.get(url, timeout=30)).error("AuthFailure", MSG_AUTH_FAILURE)


def test_presigned_expired(srv):
    url = presigned_url(srv, "CreateKeyPair", {"KeyName": "p5"}, expires=60, skew=-20 * 60)
    Reply(requests.get(url, timeout=30)).error("RequestExpired", MSG_EXPIRED)
    assert srv.describe() == []


def test_presigned_region(srv):
    url = presigned_url(srv, "CreateKeyPair", {"KeyName": "p6", "KeyType": "ed25519"}, region="ap-south-1")
    Reply(requests.get(url, timeout=30)).ok("CreateKeyPair")
    assert [k["KeyName"] for k in srv.describe("ap-south-1")] == ["p6"]
    assert srv.describe() == []


# ------------------------------------------------------------------------------- isolation


def test_account_isolation(account, other_account, keypaird):
    srv = keypaird()
    a = srv.ec2(creds=TESTER)
    b = srv.ec2(creds=OTHER)
    ka = a.create_key_pair(KeyName="same", KeyType="ed25519",
                           TagSpecifications=[{"ResourceType": "key-pair",
                                               "Tags": [{"Key": "o", "Value": "a"}]}])
    kb = b.create_key_pair(KeyName="same", KeyType="ed25519")
    b.create_key_pair(KeyName="only-b", KeyType="ed25519")
    assert ka["KeyPairId"] != kb["KeyPairId"]
    assert [k["KeyPairId"] for k in a.describe_key_pairs()["KeyPairs"]] == [ka["KeyPairId"]]
    assert sorted(k["KeyName"] for k in b.describe_key_pairs()["KeyPairs"]) == ["only-b", "same"]
    with pytest.raises(ClientError) as ei:
        a.describe_key_pairs(KeyNames=["only-b"])
    client_error(ei, "InvalidKeyPair.NotFound", "The key pair 'only-b' does not exist")
    with pytest.raises(ClientError) as ei:
        a.describe_key_pairs(KeyPairIds=[kb["KeyPairId"]])
    client_error(ei, "InvalidKeyPair.NotFound", f"The key pair ID '{kb['KeyPairId']}' does not exist")
    assert a.describe_key_pairs(Filters=[{"Name": "key-pair-id", "Values": [kb["KeyPairId"]]}])["KeyPairs"] == []
    # Deleting another account's key by ID is deleting a key that does not exist here.
    r = a.delete_key_pair(KeyPairId=kb["KeyPairId"])
    assert r["Return"] is True and "KeyPairId" not in r
    assert kb["KeyPairId"] in [k["KeyPairId"] for k in b.describe_key_pairs()["KeyPairs"]]
    # Tags of another account are neither visible nor writable.
    with pytest.raises(ClientError) as ei:
        a.create_tags(Resources=[kb["KeyPairId"]], Tags=[{"Key": "x", "Value": "y"}])
    client_error(ei, "InvalidKeyPair.NotFound")
    assert b.describe_tags()["Tags"] == []
    assert [t["ResourceId"] for t in a.describe_tags()["Tags"]] == [ka["KeyPairId"]]


def test_region_isolation(srv):
    us, eu = srv.ec2("us-east-1"), srv.ec2("eu-west-1")
    k1 = us.create_key_pair(KeyName="r", KeyType="ed25519")
    k2 = eu.create_key_pair(KeyName="r", KeyType="ed25519")
    assert k1["KeyPairId"] != k2["KeyPairId"]
    assert [k["KeyPairId"] for k in srv.describe("us-east-1")] == [k1["KeyPairId"]]
    assert [k["KeyPairId"] for k in srv.describe("eu-west-1")] == [k2["KeyPairId"]]
    with pytest.raises(ClientError) as ei:
        us.describe_key_pairs(KeyPairIds=[k2["KeyPairId"]])
    client_error(ei, "InvalidKeyPair.NotFound")
    us.delete_key_pair(KeyName="r")
    assert srv.describe("us-east-1") == []
    assert [k["KeyPairId"] for k in srv.describe("eu-west-1")] == [k2["KeyPairId"]]


# ------------------------------------------------------------------------------- --any-credentials


def test_any_credentials(keypaird, store):
    srv = keypaird(extra=["--any-credentials"], creds=("testing", "testing", "testing"))
    out = (srv.stdout() + srv.stderr()).lower()
    assert re.search(r"any[- ]credentials|any access key|not (checked|verified)|unverified|unchecked", out), (
        f"the banner must say plainly that signatures are not checked:\n{srv.stdout()}\n{srv.stderr()}")
    t = srv.ec2()
    k = t.create_key_pair(KeyName="k", KeyType="ed25519")
    assert [x["KeyName"] for x in t.describe_key_pairs()["KeyPairs"]] == ["k"]
    # Any secret, any signature: still accepted, and still the account named by the key ID.
    t2 = ec2_client(srv.url, "testing", "some-other-secret")
    assert [x["KeyPairId"] for x in t2.describe_key_pairs()["KeyPairs"]] == [k["KeyPairId"]]

    def mutate(h):
        h["Authorization"] = re.sub(r"Signature=[0-9a-f]{64}", "Signature=" + "0" * 64, h["Authorization"])
    srv.call("DescribeKeyPairs", {}, mutate=mutate).ok("DescribeKeyPairs")
    # Another access key ID is another account.
    o = ec2_client(srv.url, "someoneelse", "whatever")
    assert o.describe_key_pairs()["KeyPairs"] == []
    o.create_key_pair(KeyName="k", KeyType="ed25519")
    assert len(t.describe_key_pairs()["KeyPairs"]) == 1
    cp = run_cli(["accounts", "list", "--store", sqlite_url(store)])
    assert cp.returncode == 0, cp.stderr
    assert "testing" in cp.stdout and "someoneelse" in cp.stdout


def test_without_any_credentials_testing_is_refused(srv):
    bad = ec2_client(srv.url, "testing", "testing")
    with pytest.raises(ClientError) as ei:
        bad.describe_key_pairs()
    client_error(ei, "AuthFailure", MSG_AUTH_FAILURE)


def test_presigned_awkward_characters(srv):
    name = "p q/r~s*t+u=v&w%x:y"
    url = presigned_url(srv, "CreateKeyPair", {"KeyName": name, "KeyType": "ed25519",
                                               "TagSpecification.1.ResourceType": "key-pair",
                                               "TagSpecification.1.Tag.1.Key": "é ~",
                                               "TagSpecification.1.Tag.1.Value": "ü/+"})
    r = Reply(requests.get(url, timeout=30)).ok("CreateKeyPair")
    assert r.txt("keyName") == name
    [k] = srv.describe(KeyNames=[name])
    assert k["Tags"] == [{"Key": "é ~", "Value": "ü/+"}]
