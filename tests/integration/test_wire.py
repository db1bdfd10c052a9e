"""Exact wire shapes, read from raw HTTP signed with botocore's SigV4Auth: root element and
namespace, requestId first, children of each reply, <keySet/>, IDs, createTime, Content-Type,
the error envelope, GET and POST, merged query and body, '+' for space."""

import datetime as dt
import re
from pathlib import Path

import pytest
import requests

from support import (CREATE_TIME_RE, ED_FP_RE, KEY_PAIR_ID_RE, NS, RSA_FP_RE, b64, local)


def kids(el):
    return [local(c.tag) for c in el]


def test_create_key_pair_reply(srv):
    r = srv.call("CreateKeyPair", {"KeyName": "w1"}).ok("CreateKeyPair")
    assert f'xmlns="{NS}"' in r.text
    # No tagSet without tags, as EC2's create-key-pair example shows (DescribeKeyPairs keeps one).
    assert sorted(kids(r.root)) == sorted(
        ["requestId", "keyPairId", "keyName", "keyFingerprint", "keyMaterial"])
    assert KEY_PAIR_ID_RE.match(r.txt("keyPairId")), r.txt("keyPairId")
    assert r.txt("keyName") == "w1"
    assert RSA_FP_RE.match(r.txt("keyFingerprint"))
    assert r.txt("keyMaterial").startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "tagSet" not in r.text


def test_create_key_pair_with_tags_reply(srv):
    r = srv.call("CreateKeyPair", {
        "KeyName": "w2", "KeyType": "ed25519",
        "TagSpecification.1.ResourceType": "key-pair",
        "TagSpecification.1.Tag.1.Key": "Env", "TagSpecification.1.Tag.1.Value": "prod",
        "TagSpecification.1.Tag.2.Key": "Team", "TagSpecification.1.Tag.2.Value": "",
    }).ok("CreateKeyPair")
    assert ED_FP_RE.match(r.txt("keyFingerprint"))
    items = r.els("tagSet/item")
    assert [kids(i) for i in items] == [["key", "value"], ["key", "value"]]
    assert sorted((i.find(f"{{{NS}}}key").text, i.find(f"{{{NS}}}value").text or "") for i in items) == [
        ("Env", "prod"), ("Team", "")]


def test_import_key_pair_reply(srv, keys):
    text = Path(str(keys["ed25519"]) + ".pub").read_text()
    r = srv.call("ImportKeyPair", {"KeyName": "w3", "PublicKeyMaterial": b64(text)}).ok("ImportKeyPair")
    assert sorted(kids(r.root)) == sorted(
        ["requestId", "keyPairId", "keyName", "keyFingerprint"])
    assert KEY_PAIR_ID_RE.match(r.txt("keyPairId"))
    # The key text comes back exactly as imported, its trailing newline included.
    assert text.endswith("\n")
    r = srv.call("DescribeKeyPairs", {"KeyName.1": "w3", "IncludePublicKey": "true"}).ok("DescribeKeyPairs")
    assert r.txt("keySet/item/publicKey") == text


def test_describe_key_pairs_reply(srv):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    c = srv.call("CreateKeyPair", {"KeyName": "w4", "KeyType": "ed25519"}).ok("CreateKeyPair")
    r = srv.call("DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    assert kids(r.root) == ["requestId", "keySet"]
    [item] = r.els("keySet/item")
    assert sorted(kids(item)) == sorted(
        ["keyPairId", "keyType", "tagSet", "createTime", "keyName", "keyFingerprint"])
    get = lambda n: item.find(f"{{{NS}}}{n}").text
    assert get("keyPairId") == c.txt("keyPairId")
    assert get("keyType") == "ed25519"
    assert get("keyName") == "w4"
    assert get("keyFingerprint") == c.txt("keyFingerprint")
    ct = get("createTime")
    assert CREATE_TIME_RE.match(ct), f"createTime must be YYYY-MM-DDTHH:MM:SS.mmmZ, got {ct!r}"
    t = dt.datetime.strptime(ct, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    assert before <= t <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2), ct
    r = srv.call("DescribeKeyPairs", {"IncludePublicKey": "true"}).ok("DescribeKeyPairs")
    [item] = r.els("keySet/item")
    assert sorted(kids(item)) == sorted(
        ["keyPairId", "keyType", "tagSet", "publicKey", "createTime", "keyName", "keyFingerprint"])
    assert item.find(f"{{{NS}}}publicKey").text.startswith("ssh-ed25519 ")


def test_empty_key_set(srv):
    r = srv.call("DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    assert "<keySet/>" in r.text, r.text
    assert r.els("keySet/item") == []


def test_delete_key_pair_reply(srv):
    c = srv.call("CreateKeyPair", {"KeyName": "w5", "KeyType": "ed25519"}).ok("CreateKeyPair")
    r = srv.call("DeleteKeyPair", {"KeyName": "w5"}).ok("DeleteKeyPair")
    assert sorted(kids(r.root)) == ["keyPairId", "requestId", "return"]
    assert r.txt("return") == "true"
    assert r.txt("keyPairId") == c.txt("keyPairId")
    r = srv.call("DeleteKeyPair", {"KeyName": "w5"}).ok("DeleteKeyPair")
    assert sorted(kids(r.root)) == ["requestId", "return"]
    assert r.txt("return") == "true"


def test_tags_replies(srv):
    c = srv.call("CreateKeyPair", {"KeyName": "w6", "KeyType": "ed25519"}).ok("CreateKeyPair")
    kid = c.txt("keyPairId")
    r = srv.call("CreateTags", {"ResourceId.1": kid, "Tag.1.Key": "a", "Tag.1.Value": "1"}).ok("CreateTags")
    assert kids(r.root) == ["requestId", "return"] and r.txt("return") == "true"
    r = srv.call("DescribeTags", {}).ok("DescribeTags")
    assert kids(r.root)[0] == "requestId" and "tagSet" in kids(r.root)
    [item] = r.els("tagSet/item")
    assert sorted(kids(item)) == ["key", "resourceId", "resourceType", "value"]
    assert [item.find(f"{{{NS}}}{n}").text for n in ("resourceId", "resourceType", "key", "value")] == [
        kid, "key-pair", "a", "1"]
    r = srv.call("DeleteTags", {"ResourceId.1": kid, "Tag.1.Key": "a"}).ok("DeleteTags")
    assert kids(r.root) == ["requestId", "return"] and r.txt("return") == "true"
    r = srv.call("DescribeTags", {}).ok("DescribeTags")
    assert "<tagSet/>" in r.text


def test_error_envelope_exact(srv):
    srv.call("CreateKeyPair", {"KeyName": "k"}).ok("CreateKeyPair")
    r = srv.call("CreateKeyPair", {"KeyName": "k"}).error(
        "InvalidKeyPair.Duplicate", "The keypair 'k' already exists.")
    body = re.sub(r"<RequestID>[^<]*</RequestID>", "<RequestID>X</RequestID>", r.text.strip())
    body = re.sub(r"^<\?xml[^>]*\?>\s*", "", body)
    assert body == ("<Response><Errors><Error><Code>InvalidKeyPair.Duplicate</Code><Message>"
                    "The keypair &apos;k&apos; already exists.</Message></Error></Errors>"
                    "<RequestID>X</RequestID></Response>") or body == (
                    "<Response><Errors><Error><Code>InvalidKeyPair.Duplicate</Code><Message>"
                    "The keypair 'k' already exists.</Message></Error></Errors>"
                    "<RequestID>X</RequestID></Response>"), r.text


def test_xml_escaping_of_names(srv):
    name = "<&>\"'"
    r = srv.call("CreateKeyPair", {"KeyName": name, "KeyType": "ed25519"}).ok("CreateKeyPair")
    assert r.txt("keyName") == name
    r = srv.call("CreateKeyPair", {"KeyName": name, "KeyType": "ed25519"})
    r.error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")


def test_request_ids_unique(srv):
    ids = {srv.call("DescribeKeyPairs", {}).ok("DescribeKeyPairs").txt("requestId") for _ in range(5)}
    assert len(ids) == 5


def test_get_with_query(srv):
    r = srv.call("CreateKeyPair", {"KeyName": "g", "KeyType": "ed25519"}, method="GET").ok("CreateKeyPair")
    assert r.txt("keyName") == "g"
    r = srv.call("DescribeKeyPairs", {"KeyName.1": "g"}, method="GET").ok("DescribeKeyPairs")
    assert [e.text for e in r.els("keySet/item/keyName")] == ["g"]


def test_query_and_body_are_merged(srv):
    from botocore.awsrequest import AWSRequest
    from support import FORM_CT, Reply, send, sign
    req = AWSRequest(method="POST", url=srv.url + "/?Action=CreateKeyPair&Version=2016-11-15",
                     data=b"KeyName=merged&KeyType=ed25519", headers={"Content-Type": FORM_CT})
    sign(req, srv.creds)
    r = Reply(send(req)).ok("CreateKeyPair")
    assert r.txt("keyName") == "merged"


def test_plus_and_percent_twenty_are_space(srv):
    srv.call(None, body="Action=CreateKeyPair&Version=2016-11-15&KeyType=ed25519&KeyName=my+key",
             version=None).ok("CreateKeyPair")
    srv.call(None, body="Action=CreateKeyPair&Version=2016-11-15&KeyType=ed25519&KeyName=my%20key2",
             version=None).ok("CreateKeyPair")
    r = srv.call("DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    assert sorted(e.text for e in r.els("keySet/item/keyName")) == ["my key", "my key2"]


def test_percent_encoded_utf8_tag(srv):
    c = srv.call("CreateKeyPair", {"KeyName": "u", "KeyType": "ed25519"}).ok("CreateKeyPair")
    srv.call(None, version=None,
             body=f"Action=CreateTags&Version=2016-11-15&ResourceId.1={c.txt('keyPairId')}"
                  "&Tag.1.Key=caf%C3%A9&Tag.1.Value=%E2%9C%93").ok("CreateTags")
    r = srv.call("DescribeTags", {}).ok("DescribeTags")
    assert r.txt("tagSet/item/key") == "café" and r.txt("tagSet/item/value") == "✓"


def test_healthz(srv):
    r = requests.get(srv.url + "/healthz", timeout=5)
    assert r.status_code == 200


def test_reset_absent_without_flag(srv):
    r = requests.post(srv.url + "/moto-api/reset", timeout=5)
    assert r.status_code == 404


AWKWARD = "a b/c~d*e+f=g&h%i:j,k;l@m!n'o(p)q$r"


def test_get_canonical_query_encoding(srv):
    """SigV4's canonical query string: every reserved character, spaces, and UTF-8 tag values."""
    r = srv.call("CreateKeyPair", {"KeyName": AWKWARD, "KeyType": "ed25519",
                                   "TagSpecification.1.ResourceType": "key-pair",
                                   "TagSpecification.1.Tag.1.Key": "ключ ~*",
                                   "TagSpecification.1.Tag.1.Value": "välue/+="},
                 method="GET").ok("CreateKeyPair")
    assert r.txt("keyName") == AWKWARD
    r = srv.call("DescribeKeyPairs", {"KeyName.1": AWKWARD}, method="GET").ok("DescribeKeyPairs")
    assert r.txt("keySet/item/tagSet/item/key") == "ключ ~*"
    assert r.txt("keySet/item/tagSet/item/value") == "välue/+="


@pytest.mark.parametrize("ct", ["application/x-www-form-urlencoded",
                                "application/x-www-form-urlencoded; charset=UTF-8",
                                "application/x-www-form-urlencoded;charset=utf-8"])
def test_form_content_type_variants(srv, ct):
    r = srv.call("CreateKeyPair", {"KeyName": "ct", "KeyType": "ed25519"},
                 headers={"Content-Type": ct}).ok("CreateKeyPair")
    assert r.txt("keyName") == "ct"


@pytest.mark.parametrize("version", ["1999-01-01", "2016-11-16", "2014-05-26x"])
def test_unknown_version_is_no_such_version(srv, version):
    r = srv.call("DescribeKeyPairs", {}, version=version)
    r.error("NoSuchVersion", f"The requested version ({version}) of service AmazonEC2 does not exist")


@pytest.mark.parametrize("version", ["2016-11-15", "2016-09-15", "2014-09-01", "2006-06-26", None])
def test_published_versions_and_none_are_served(srv, version):
    srv.call("DescribeKeyPairs", {}, version=version).ok("DescribeKeyPairs")


def test_unknown_version_is_refused_before_authentication(srv):
    """EC2 checks the version first: a bad signature does not hide it."""
    r = srv.call("DescribeKeyPairs", {}, version="1999-01-01", creds=("nobody", "AKIDNOBODY0000000000", "wrong"))
    r.error("NoSuchVersion", "The requested version (1999-01-01) of service AmazonEC2 does not exist")
