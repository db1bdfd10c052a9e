"""Every action through alibabacloud-ecs20140526 + alibabacloud-tea-openapi (V3 signatures,
ACS3-HMAC-SHA256, and ACS3-HMAC-SM3 where the Config asks for it), pointed at keypaird with Config(endpoint="127.0.0.1:PORT", protocol="http")
(reference: 'Actions', 'V3', 'Pointing the SDKs at keypaird'). The SDK sends no Format but
Accept: application/json, so every reply and every error is JSON."""

import re

import pytest

from aliyun_support import (KEY_PAIR_ID_RE, MD5_FP_RE, REQUEST_ID_RE, SIG_PREFIX, Tea, check_item_shape,
                            ed25519_line, md5_fingerprint, msg_invalid, msg_missing, verify_created_key)
from support import OTHER


@pytest.fixture
def tea(srv):
    return Tea(srv)


def M():
    return Tea.models()


def test_create_describe_delete(srv, tea, tmp_path):
    r = tea.call("CreateKeyPair", key_pair_name="tea-create")
    assert r.headers.get("content-type") == "application/json;charset=utf-8"
    b = r.body.to_map()
    assert set(b) == {"RequestId", "KeyPairId", "KeyPairName", "KeyPairFingerPrint", "PrivateKeyBody"}, b
    assert KEY_PAIR_ID_RE.match(b["KeyPairId"]) and MD5_FP_RE.match(b["KeyPairFingerPrint"])
    d = tea.describe(key_pair_name="tea-create", include_public_key=True)
    assert (d["TotalCount"], d["PageNumber"], d["PageSize"]) == (1, 1, 50)
    [item] = d["KeyPairs"]["KeyPair"]
    check_item_shape(item, public_key=True)
    verify_created_key(tmp_path, b, item)
    out = tea.body("DeleteKeyPairs", key_pair_names='["tea-create"]')
    assert set(out) == {"RequestId"}
    assert tea.names() == []


@pytest.mark.parametrize("kind", ["rsa2048", "ed25519", "ecdsa256", "dsa"])
def test_import(srv, tea, keys, kind):
    pub = str(keys[kind]) + ".pub"
    line = open(pub).read().strip()
    b = tea.body("ImportKeyPair", key_pair_name=f"tea-{kind}", public_key_body=line)
    assert b["KeyPairName"] == f"tea-{kind}"
    assert b["KeyPairFingerPrint"] == md5_fingerprint(pub)
    [item] = tea.describe(key_pair_name=f"tea-{kind}", include_public_key=True)["KeyPairs"]["KeyPair"]
    assert item["PublicKey"].split()[:2] == line.split()[:2]


def test_tags_resource_group_and_filters(srv, tea):
    m = M()
    tea.call("CreateKeyPair", key_pair_name="tea-a", resource_group_id="rg-tea",
             tag=[m.CreateKeyPairRequestTag(key="env", value="prod"), m.CreateKeyPairRequestTag(key="team", value="a")])
    tea.call("ImportKeyPair", key_pair_name="tea-b", public_key_body=ed25519_line(),
             tag=[m.ImportKeyPairRequestTag(key="env", value="prod")])
    tea.call("ImportKeyPair", key_pair_name="tea-c", public_key_body=ed25519_line())
    by = {k["KeyPairName"]: k for k in tea.describe()["KeyPairs"]["KeyPair"]}
    assert set(by) == {"tea-a", "tea-b", "tea-c"}
    assert by["tea-c"]["Tags"] == {"Tag": []}, "Tags.Tag is present (empty) on untagged items"
    assert by["tea-a"]["ResourceGroupId"] == "rg-tea" and by["tea-b"]["ResourceGroupId"] == ""
    env = [m.DescribeKeyPairsRequestTag(key="env", value="prod")]
    assert tea.names(tag=env) == ["tea-b", "tea-a"]
    assert tea.names(tag=env + [m.DescribeKeyPairsRequestTag(key="team", value="a")]) == ["tea-a"]
    assert tea.names(tag=env, resource_group_id="rg-tea") == ["tea-a"]
    assert tea.names(key_pair_name="tea-*") == ["tea-c", "tea-b", "tea-a"]
    assert tea.names(key_pair_name="*-b") == ["tea-b"]


def test_paging(srv, tea):
    for i in range(23):
        tea.call("ImportKeyPair", key_pair_name=f"tp{i:02d}", public_key_body=ed25519_line())
    seen = []
    for page, size in ((1, 10), (2, 10), (3, 3), (4, 0)):
        d = tea.body("DescribeKeyPairs", page_number=page, page_size=10)
        assert (d["TotalCount"], d["PageNumber"], d["PageSize"]) == (23, page, 10)
        got = [k["KeyPairName"] for k in d["KeyPairs"]["KeyPair"]]
        assert len(got) == size, (page, got)
        seen += got
    assert seen == [f"tp{i:02d}" for i in range(22, -1, -1)], "newest first, every key once"


def test_attach_detach(srv, tea):
    tea.call("ImportKeyPair", key_pair_name="tea-att", public_key_body=ed25519_line())
    for action in ("AttachKeyPair", "DetachKeyPair"):
        b = tea.body(action, key_pair_name="tea-att", instance_ids='["i-a","i-b","i-c"]')
        assert (b["KeyPairName"], b["TotalCount"], b["FailCount"]) == ("tea-att", "3", "3"), b
        assert [(x["InstanceId"], x["Success"], x["Code"]) for x in b["Results"]["Result"]] == [
            ("i-a", "false", "InvalidInstanceId.NotFound"), ("i-b", "false", "InvalidInstanceId.NotFound"),
            ("i-c", "false", "InvalidInstanceId.NotFound")]
        tea.error(action, "InvalidKeyPairName.NotFound", key_pair_name="tea-nosuch", instance_ids='["i-a"]')


def test_tag_untag_list(srv, tea):
    m = M()
    for n in ("tea-t1", "tea-t2", "tea-t3"):
        tea.call("ImportKeyPair", key_pair_name=n, public_key_body=ed25519_line())
    b = tea.body("TagResources", resource_type="keypair", resource_id=["tea-t1", "tea-t2", "tea-t3"],
                 tag=[m.TagResourcesRequestTag(key="a", value="1"), m.TagResourcesRequestTag(key="b", value="2"),
                      m.TagResourcesRequestTag(key="c", value="3")])
    assert set(b) == {"RequestId"}
    # overwrite a value
    tea.call("TagResources", resource_type="keypair", resource_id=["tea-t1"],
             tag=[m.TagResourcesRequestTag(key="a", value="one")])
    tea.call("UntagResources", resource_type="keypair", resource_id=["tea-t2"], tag_key=["a", "c", "nosuch"])
    tea.call("UntagResources", resource_type="keypair", resource_id=["tea-t3"], all=True)
    lst = tea.body("ListTagResources", resource_type="keypair", resource_id=["tea-t1", "tea-t2", "tea-t3"])
    assert not lst.get("NextToken")
    got = sorted((t["ResourceId"], t["ResourceType"], t["TagKey"], t["TagValue"])
                 for t in lst["TagResources"]["TagResource"])
    assert got == [("tea-t1", "keypair", "a", "one"), ("tea-t1", "keypair", "b", "2"),
                   ("tea-t1", "keypair", "c", "3"), ("tea-t2", "keypair", "b", "2")]
    by_tag = tea.body("ListTagResources", resource_type="keypair",
                      tag=[m.ListTagResourcesRequestTag(key="b", value="2")])
    assert {t["ResourceId"] for t in by_tag["TagResources"]["TagResource"]} == {"tea-t1", "tea-t2"}
    by = {k["KeyPairName"]: k for k in tea.describe()["KeyPairs"]["KeyPair"]}
    assert by["tea-t3"]["Tags"] == {"Tag": []}
    assert sorted((t["TagKey"], t["TagValue"]) for t in by["tea-t1"]["Tags"]["Tag"]) == [
        ("a", "one"), ("b", "2"), ("c", "3")]


def test_list_tag_resources_next_token(srv, tea):
    m = M()
    made = [f"tea-np{i}" for i in range(3)]
    for n in made:
        tea.call("ImportKeyPair", key_pair_name=n, public_key_body=ed25519_line(),
                 tag=[m.ImportKeyPairRequestTag(key=f"k{j:02d}", value=f"{n}/{j}") for j in range(20)])
    rows, token, pages = [], None, 0
    while True:
        b = tea.body("ListTagResources", resource_type="keypair", next_token=token)
        rows += [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in b["TagResources"]["TagResource"]]
        pages += 1
        token = b.get("NextToken")
        if not token:
            break
    assert pages >= 2, "60 tag resources come back in more than one page"
    assert sorted(rows) == sorted((n, f"k{j:02d}", f"{n}/{j}") for n in made for j in range(20))


def test_join_resource_group(srv, tea):
    tea.call("ImportKeyPair", key_pair_name="tea-rg", public_key_body=ed25519_line())
    b = tea.body("JoinResourceGroup", resource_group_id="rg-tea2", resource_id="tea-rg", resource_type="keypair")
    assert set(b) == {"RequestId"}
    assert tea.names(resource_group_id="rg-tea2") == ["tea-rg"]
    tea.error("JoinResourceGroup", "InvalidResourceId.NotFound", resource_group_id="rg-tea2",
              resource_id="tea-nosuch", resource_type="keypair")
    tea.error("JoinResourceGroup", "InvalidResourceType.NotFound", resource_group_id="rg-tea2",
              resource_id="tea-rg", resource_type="instance")


def test_describe_instances_is_empty(srv, tea):
    r = tea.call("DescribeInstances")
    b = r.body.to_map()
    assert REQUEST_ID_RE.match(b.pop("RequestId"))
    assert b == {"Instances": {"Instance": []}, "TotalCount": 0, "PageNumber": 1, "PageSize": 10}


def test_errors_through_the_sdk(srv, tea):
    tea.call("ImportKeyPair", key_pair_name="tea-dup", public_key_body=ed25519_line())
    tea.error("CreateKeyPair", "KeyPair.AlreadyExist", key_pair_name="tea-dup")
    tea.error("CreateKeyPair", "InvalidKeyPairName.Malformed", key_pair_name="a")
    tea.error("ImportKeyPair", "InvalidPublicKeyBody.Malformed", key_pair_name="tea-x", public_key_body="ssh-rsa AAAA")
    tea.error("DeleteKeyPairs", "InvalidKeyPairNames.ValueNotSupported", key_pair_names="tea-dup")
    tea.error("CreateKeyPair", "MissingParameter", msg_missing("KeyPairName"))
    tea.error("DescribeKeyPairs", "MissingParameter", msg_missing("RegionId"), region_id=None)
    tea.error("DescribeKeyPairs", "InvalidParameter", msg_invalid("PageSize"), page_size=51)
    m = M()
    tea.error("TagResources", "Duplicate.TagKey", resource_type="keypair", resource_id=["tea-dup"],
              tag=[m.TagResourcesRequestTag(key="k", value="1"), m.TagResourcesRequestTag(key="k", value="2")])
    tea.error("TagResources", "InvalidTagKey.Malformed", resource_type="keypair", resource_id=["tea-dup"],
              tag=[m.TagResourcesRequestTag(key="aliyun-k", value="1")])
    tea.error("TagResources", "InvalidTagValue.Malformed", resource_type="keypair", resource_id=["tea-dup"],
              tag=[m.TagResourcesRequestTag(key="k", value="acs:v")])
    assert tea.names() == ["tea-dup"]


def test_wrong_secret_and_unknown_key(srv, tea):
    name, akid, secret = srv.creds
    bad = Tea(srv, creds=(name, akid, secret[:-1] + ("A" if secret[-1] != "A" else "B")))
    e = bad.error("DescribeKeyPairs", "SignatureDoesNotMatch")
    sts = e.data["Message"][len(SIG_PREFIX):]
    assert re.fullmatch(r"ACS3-HMAC-SHA256\n[0-9a-f]{64}", sts), (
        f"the server's V3 string to sign must follow the message prefix: {e.data['Message']!r}")
    unknown = Tea(srv, creds=("x", "AKIDUNKNOWN000000000", "secret"))
    unknown.error("DescribeKeyPairs", "InvalidAccessKeyId.NotFound")
    assert tea.names() == []


def test_other_account_sees_nothing(other_account, srv, tea):
    tea.call("ImportKeyPair", key_pair_name="tea-mine", public_key_body=ed25519_line())
    other = Tea(srv, creds=OTHER)
    assert other.names() == []
    other.call("ImportKeyPair", key_pair_name="tea-mine", public_key_body=ed25519_line())
    assert other.names() == ["tea-mine"] and tea.names() == ["tea-mine"]
    assert other.describe()["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"] != \
        tea.describe()["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"]


def test_sm3_signatures(srv, tea, tmp_path):
    """signature_algorithm="ACS3-HMAC-SM3": every hash of V3 is SM3; the same calls work, and the
    public key text comes back exactly as it was sent."""
    sm3 = Tea(srv, signature_algorithm="ACS3-HMAC-SM3")
    created = sm3.body("CreateKeyPair", key_pair_name="sm3-create")
    sent = ed25519_line() + "\n"
    imported = sm3.body("ImportKeyPair", key_pair_name="sm3-import", public_key_body=sent)
    assert imported["KeyPairName"] == "sm3-import"
    by = {k["KeyPairName"]: k for k in sm3.describe(include_public_key=True)["KeyPairs"]["KeyPair"]}
    assert set(by) == {"sm3-create", "sm3-import"}
    assert by["sm3-import"]["PublicKey"] == sent
    verify_created_key(tmp_path, created, by["sm3-create"])
    assert tea.names() == ["sm3-import", "sm3-create"], "SHA-256 and SM3 callers see one account"
    assert set(sm3.body("DeleteKeyPairs", key_pair_names='["sm3-create", "sm3-import"]')) == {"RequestId"}
    assert sm3.names() == []

    name, akid, secret = srv.creds
    bad = Tea(srv, creds=(name, akid, secret[:-1] + ("A" if secret[-1] != "A" else "B")),
              signature_algorithm="ACS3-HMAC-SM3")
    e = bad.error("DescribeKeyPairs", "SignatureDoesNotMatch")
    sts = e.data["Message"][len(SIG_PREFIX):]
    assert re.fullmatch(r"ACS3-HMAC-SM3\n[0-9a-f]{64}", sts), e.data["Message"]
