"""Every action through aliyun-python-sdk-core + aliyun-python-sdk-ecs (RPC v1, HMAC-SHA1), pointed
at keypaird with AcsClient(port=PORT) and request.set_endpoint("127.0.0.1"); JSON through the SDK's
do_action_with_exception and XML through the same client (reference: 'Actions', 'Pointing the SDKs
at keypaird')."""

import json

import pytest

from aliyun_support import (CREATION_TIME_RE, KEY_PAIR_ID_RE, MD5_FP_RE, REQUEST_ID_RE, Core, check_item_shape,
                            ed25519_line, md5_fingerprint, msg_missing, verify_created_key)


@pytest.fixture
def core(srv):
    return Core(srv)


def test_create_describe_delete(srv, core, tmp_path):
    r = core.do("CreateKeyPair", KeyPairName="core-create")
    assert set(r) == {"RequestId", "KeyPairId", "KeyPairName", "KeyPairFingerPrint", "PrivateKeyBody"}, r
    assert r["KeyPairName"] == "core-create"
    assert KEY_PAIR_ID_RE.match(r["KeyPairId"]) and MD5_FP_RE.match(r["KeyPairFingerPrint"]), r
    d = core.describe(KeyPairName="core-create", IncludePublicKey=True)
    assert (d["TotalCount"], d["PageNumber"], d["PageSize"]) == (1, 1, 50)
    [item] = d["KeyPairs"]["KeyPair"]
    check_item_shape(item, public_key=True)
    verify_created_key(tmp_path, r, item)
    assert item["Tags"] == {"Tag": []} and item["ResourceGroupId"] == ""
    out = core.do("DeleteKeyPairs", KeyPairNames=json.dumps(["core-create"]))
    assert set(out) == {"RequestId"}
    assert core.names() == []


def test_import(srv, core, keys, tmp_path):
    pub = (str(keys["rsa2048"]) + ".pub")
    line = open(pub).read().strip()
    r = core.do("ImportKeyPair", KeyPairName="core-import", PublicKeyBody=line)
    assert set(r) - {"KeyPairId"} == {"RequestId", "KeyPairName", "KeyPairFingerPrint"}, r
    if "KeyPairId" in r:
        assert KEY_PAIR_ID_RE.match(r["KeyPairId"]), r
    assert r["KeyPairName"] == "core-import"
    assert r["KeyPairFingerPrint"] == md5_fingerprint(pub)
    [item] = core.describe(KeyPairName="core-import", IncludePublicKey=True)["KeyPairs"]["KeyPair"]
    assert item["PublicKey"].split()[:2] == line.split()[:2]
    assert item["KeyPairFingerPrint"] == r["KeyPairFingerPrint"]


def test_create_and_import_with_tags_and_resource_group(srv, core):
    core.do("CreateKeyPair", KeyPairName="core-tagged", ResourceGroupId="rg-core1",
            Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a"}])
    core.do("ImportKeyPair", KeyPairName="core-imp-tagged", PublicKeyBody=ed25519_line(),
            ResourceGroupId="rg-core2", Tags=[{"Key": "env", "Value": "dev"}])
    by = {k["KeyPairName"]: k for k in core.describe()["KeyPairs"]["KeyPair"]}
    assert by["core-tagged"]["ResourceGroupId"] == "rg-core1"
    assert sorted((t["TagKey"], t["TagValue"]) for t in by["core-tagged"]["Tags"]["Tag"]) == [
        ("env", "prod"), ("team", "a")]
    assert by["core-imp-tagged"]["ResourceGroupId"] == "rg-core2"
    assert by["core-imp-tagged"]["Tags"]["Tag"] == [{"TagKey": "env", "TagValue": "dev"}]
    assert core.names(ResourceGroupId="rg-core1") == ["core-tagged"]
    assert core.names(Tags=[{"Key": "env", "Value": "dev"}]) == ["core-imp-tagged"]


def test_describe_paging_and_filters(srv, core):
    for i in range(12):
        core.do("ImportKeyPair", KeyPairName=f"page-{i:02d}", PublicKeyBody=ed25519_line())
    first = core.do("DescribeKeyPairs")
    assert (first["TotalCount"], first["PageNumber"], first["PageSize"]) == (12, 1, 10)
    assert [k["KeyPairName"] for k in first["KeyPairs"]["KeyPair"]] == [f"page-{i:02d}" for i in range(11, 1, -1)]
    second = core.do("DescribeKeyPairs", PageNumber=2, PageSize=10)
    assert [k["KeyPairName"] for k in second["KeyPairs"]["KeyPair"]] == ["page-01", "page-00"]
    assert core.names(KeyPairName="page-1*") == ["page-11", "page-10"]
    fp = first["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"]
    assert core.names(KeyPairFingerPrint=fp.replace(":", "").upper()) == ["page-11"]
    assert core.describe(KeyPairName="nosuch")["TotalCount"] == 0


def test_include_public_key_boolean(srv, core):
    core.do("ImportKeyPair", KeyPairName="core-pk", PublicKeyBody=ed25519_line())
    [with_pk] = core.describe(IncludePublicKey=True)["KeyPairs"]["KeyPair"]
    [without] = core.describe(IncludePublicKey=False)["KeyPairs"]["KeyPair"]
    [default] = core.describe()["KeyPairs"]["KeyPair"]
    assert with_pk["PublicKey"].startswith("ssh-ed25519 AAAA")
    assert "PublicKey" not in without and "PublicKey" not in default


def test_attach_detach(srv, core):
    core.do("ImportKeyPair", KeyPairName="core-att", PublicKeyBody=ed25519_line())
    for action in ("AttachKeyPair", "DetachKeyPair"):
        r = core.do(action, KeyPairName="core-att", InstanceIds=json.dumps(["i-one", "i-two"]))
        assert set(r) == {"RequestId", "KeyPairName", "TotalCount", "FailCount", "Results"}, r
        assert (r["KeyPairName"], r["TotalCount"], r["FailCount"]) == ("core-att", "2", "2"), r
        res = r["Results"]["Result"]
        assert [x["InstanceId"] for x in res] == ["i-one", "i-two"]
        for x in res:
            assert set(x) == {"InstanceId", "Success", "Code", "Message"}, x
            assert (x["Success"], x["Code"]) == ("false", "InvalidInstanceId.NotFound"), x
            assert isinstance(x["Message"], str) and x["Message"], x
        core.error(action, "InvalidKeyPairName.NotFound", KeyPairName="core-nosuch",
                   InstanceIds=json.dumps(["i-one"]))


def test_tag_untag_list(srv, core):
    for n in ("core-t1", "core-t2"):
        core.do("ImportKeyPair", KeyPairName=n, PublicKeyBody=ed25519_line())
    r = core.do("TagResources", ResourceType="keypair", ResourceIds=["core-t1", "core-t2"],
                Tags=[{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": ""}])
    assert set(r) == {"RequestId"}
    lst = core.do("ListTagResources", ResourceType="keypair", ResourceIds=["core-t1", "core-t2"])
    assert set(lst) - {"NextToken"} == {"RequestId", "TagResources"}, lst
    assert not lst.get("NextToken"), "a small result has no next page"
    got = sorted((t["ResourceId"], t["ResourceType"], t["TagKey"], t["TagValue"])
                 for t in lst["TagResources"]["TagResource"])
    assert got == [("core-t1", "keypair", "env", "prod"), ("core-t1", "keypair", "owner", ""),
                   ("core-t2", "keypair", "env", "prod"), ("core-t2", "keypair", "owner", "")]
    core.do("UntagResources", ResourceType="keypair", ResourceIds=["core-t1"], TagKeys=["owner"])
    core.do("UntagResources", ResourceType="keypair", ResourceIds=["core-t2"], All=True)
    lst = core.do("ListTagResources", ResourceType="keypair", ResourceIds=["core-t1", "core-t2"])
    assert [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in lst["TagResources"]["TagResource"]] == [
        ("core-t1", "env", "prod")]
    by_tag = core.do("ListTagResources", ResourceType="keypair", Tags=[{"Key": "env", "Value": "prod"}])
    assert {t["ResourceId"] for t in by_tag["TagResources"]["TagResource"]} == {"core-t1"}


def test_list_tag_resources_next_token(srv, core):
    made = [f"core-np{i}" for i in range(3)]
    for n in made:
        core.do("ImportKeyPair", KeyPairName=n, PublicKeyBody=ed25519_line(),
                Tags=[{"Key": f"k{j:02d}", "Value": f"{n}/{j}"} for j in range(20)])
    rows, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        b = core.do("ListTagResources", ResourceType="keypair", **kw)
        rows += [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in b["TagResources"]["TagResource"]]
        pages += 1
        token = b.get("NextToken")
        if not token:
            break
    assert pages >= 2, "60 tag resources come back in more than one page"
    assert sorted(rows) == sorted((n, f"k{j:02d}", f"{n}/{j}") for n in made for j in range(20))


def test_join_resource_group(srv, core):
    core.do("ImportKeyPair", KeyPairName="core-rg", PublicKeyBody=ed25519_line())
    r = core.do("JoinResourceGroup", ResourceGroupId="rg-joined", ResourceId="core-rg", ResourceType="keypair")
    assert set(r) == {"RequestId"}
    [item] = core.describe(KeyPairName="core-rg")["KeyPairs"]["KeyPair"]
    assert item["ResourceGroupId"] == "rg-joined"
    assert core.names(ResourceGroupId="rg-joined") == ["core-rg"]
    assert core.names(ResourceGroupId="rg-other") == []


def test_describe_instances_is_empty(srv, core):
    r = core.do("DescribeInstances")
    rid = r.pop("RequestId")
    assert REQUEST_ID_RE.match(rid)
    assert r == {"Instances": {"Instance": []}, "TotalCount": 0, "PageNumber": 1, "PageSize": 10}


def test_xml_replies(srv, core):
    root = core.raw("CreateKeyPair", "XML", KeyPairName="core-xml").ok()
    assert root.tag == "CreateKeyPairResponse"
    kids = {c.tag: c.text for c in root}
    assert set(kids) == {"RequestId", "KeyPairId", "KeyPairName", "KeyPairFingerPrint", "PrivateKeyBody"}
    assert kids["KeyPairName"] == "core-xml"
    assert kids["PrivateKeyBody"].startswith("-----BEGIN PRIVATE KEY-----\n")
    root = core.raw("DescribeKeyPairs", "XML", KeyPairName="core-xml").ok()
    assert root.tag == "DescribeKeyPairsResponse"
    assert root.findtext("TotalCount") == "1"
    assert root.findtext("KeyPairs/KeyPair/KeyPairName") == "core-xml"
    assert root.findtext("KeyPairs/KeyPair/KeyPairFingerPrint") == kids["KeyPairFingerPrint"]
    assert CREATION_TIME_RE.match(root.findtext("KeyPairs/KeyPair/CreationTime"))
    root = core.raw("DeleteKeyPairs", "XML", KeyPairNames='["core-xml"]').ok()
    assert root.tag == "DeleteKeyPairsResponse" and [c.tag for c in root] == ["RequestId"]


def test_errors_through_the_sdk(srv, core):
    core.do("CreateKeyPair", KeyPairName="core-dup")
    core.error("CreateKeyPair", "KeyPair.AlreadyExist", KeyPairName="core-dup")
    core.error("CreateKeyPair", "KeyPair.AlreadyExist", fmt="XML", KeyPairName="core-dup")
    core.error("ImportKeyPair", "KeyPair.AlreadyExist", KeyPairName="core-dup", PublicKeyBody=ed25519_line())
    core.error("CreateKeyPair", "InvalidKeyPairName.Malformed", KeyPairName="1abc")
    core.error("ImportKeyPair", "InvalidPublicKeyBody.Malformed", KeyPairName="core-bad", PublicKeyBody="garbage")
    core.error("DeleteKeyPairs", "InvalidKeyPairNames.ValueNotSupported", KeyPairNames="core-dup")
    core.error("CreateKeyPair", "MissingParameter", msg_missing("KeyPairName"))
    core.error("DescribeKeyPairs", "InvalidParameter", 'The specified parameter "PageSize" is not valid.',
               PageSize=51)
    core.error("TagResources", "InvalidResourceId.NotFound", ResourceType="keypair", ResourceIds=["nosuch"],
               Tags=[{"Key": "k", "Value": "v"}])
    core.error("TagResources", "InvalidResourceType.NotFound", ResourceType="instance",
               ResourceIds=["core-dup"], Tags=[{"Key": "k", "Value": "v"}])
    assert core.names() == ["core-dup"]
