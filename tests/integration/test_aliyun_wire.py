"""Exact reply shapes of the Alibaba dialect (reference: 'Transport', the Actions table, 'Errors'):
Format=JSON|json|XML and the XML default, V3 answered in JSON, the Content-Type of each, the XML root
<{Action}Response>, RequestId an uppercase UUID, the exact key set of every JSON reply and the
matching XML elements."""

import xml.etree.ElementTree as ET

import pytest

from aliyun_support import (CREATION_TIME_RE, JSON_CT, KEY_PAIR_ID_RE, MD5_FP_RE, REQUEST_ID_RE, XML_CT,
                            ed25519_line, import_key, tag_params, v1_call, v3_call)

PUB = ed25519_line("wire@test")


def setup_keys(srv):
    import_key(srv, "w-tagged", PUB, ResourceGroupId="rg-w", **tag_params({"a": "1", "b": ""}))
    import_key(srv, "w-plain", ed25519_line())


# action -> (params, exact JSON keys of the reply)
ACTIONS = {
    "CreateKeyPair": ({"KeyPairName": "w-new"},
                      {"RequestId", "KeyPairId", "KeyPairName", "KeyPairFingerPrint", "PrivateKeyBody"}),
    "ImportKeyPair": ({"KeyPairName": "w-imp", "PublicKeyBody": ed25519_line()},
                      {"RequestId", "KeyPairName", "KeyPairFingerPrint"}),
    "DescribeKeyPairs": ({}, {"RequestId", "TotalCount", "PageNumber", "PageSize", "KeyPairs"}),
    "DeleteKeyPairs": ({"KeyPairNames": '["w-plain"]'}, {"RequestId"}),
    "AttachKeyPair": ({"KeyPairName": "w-plain", "InstanceIds": '["i-w1"]'},
                      {"RequestId", "KeyPairName", "TotalCount", "FailCount", "Results"}),
    "DetachKeyPair": ({"KeyPairName": "w-plain", "InstanceIds": '["i-w1"]'},
                      {"RequestId", "KeyPairName", "TotalCount", "FailCount", "Results"}),
    "TagResources": ({"ResourceType": "keypair", "ResourceId.1": "w-plain", **tag_params({"c": "3"})}, {"RequestId"}),
    "UntagResources": ({"ResourceType": "keypair", "ResourceId.1": "w-tagged", "TagKey.1": "b"}, {"RequestId"}),
    "ListTagResources": ({"ResourceType": "keypair", "ResourceId.1": "w-tagged"}, {"RequestId", "TagResources"}),
    "JoinResourceGroup": ({"ResourceGroupId": "rg-x", "ResourceId": "w-plain", "ResourceType": "keypair"},
                          {"RequestId"}),
    "DescribeInstances": ({}, {"RequestId", "Instances", "TotalCount", "PageNumber", "PageSize"}),
}
OPTIONAL = {"ImportKeyPair": {"KeyPairId"}, "ListTagResources": {"NextToken"}, "DescribeInstances": {"NextToken"}}


@pytest.mark.parametrize("how", ["Format=JSON", "Format=json", "V3"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_json_reply_keys(srv, action, how):
    setup_keys(srv)
    params, keys = ACTIONS[action]
    if how == "V3":
        r = v3_call(srv, action, params)
    else:
        r = v1_call(srv, action, params, fmt=how.split("=")[1])
    r.ok(action)
    assert r.headers["Content-Type"] == JSON_CT
    b = r.body
    assert keys <= set(b) <= keys | OPTIONAL.get(action, set()), f"{action}: {sorted(b)} != {sorted(keys)}"
    assert REQUEST_ID_RE.match(b["RequestId"])
    if action == "DescribeInstances":
        assert {k: v for k, v in b.items() if k not in ("RequestId", "NextToken")} == {
            "Instances": {"Instance": []}, "TotalCount": 0, "PageNumber": 1, "PageSize": 10}
        assert not b.get("NextToken")


def xml_of(srv, action, params, fmt):
    r = v1_call(srv, action, params, fmt=fmt)
    r.ok(action, "xml")
    assert r.headers["Content-Type"] == XML_CT
    return r.root


@pytest.mark.parametrize("fmt", ["XML", None])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_xml_reply_root_and_children(srv, action, fmt):
    setup_keys(srv)
    params, keys = ACTIONS[action]
    root = xml_of(srv, action, params, fmt)
    assert root.tag == f"{action}Response"
    kids = [c.tag for c in root]
    assert len(kids) == len(set(kids)), f"repeated top-level elements: {kids}"
    assert keys <= set(kids) <= keys | OPTIONAL.get(action, set()), f"{action}: {kids}"
    assert REQUEST_ID_RE.match(root.findtext("RequestId"))


def test_xml_create(srv):
    root = xml_of(srv, "CreateKeyPair", {"KeyPairName": "x-create"}, "XML")
    assert root.findtext("KeyPairName") == "x-create"
    assert KEY_PAIR_ID_RE.match(root.findtext("KeyPairId"))
    assert MD5_FP_RE.match(root.findtext("KeyPairFingerPrint"))
    pem = root.findtext("PrivateKeyBody")
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n") and pem.rstrip().endswith("-----END PRIVATE KEY-----")


def test_xml_describe_items(srv):
    setup_keys(srv)
    root = xml_of(srv, "DescribeKeyPairs", {"IncludePublicKey": "true"}, None)
    assert (root.findtext("TotalCount"), root.findtext("PageNumber"), root.findtext("PageSize")) == ("2", "1", "10")
    kps = root.find("KeyPairs")
    assert [c.tag for c in kps] == ["KeyPair", "KeyPair"]
    by = {kp.findtext("KeyPairName"): kp for kp in kps}
    assert list(by) == ["w-plain", "w-tagged"], "newest first"
    for name, kp in by.items():
        tags = {c.tag for c in kp}
        assert {"KeyPairName", "KeyPairFingerPrint", "CreationTime", "ResourceGroupId", "Tags",
                "PublicKey"} <= tags <= {"KeyPairName", "KeyPairFingerPrint", "CreationTime", "ResourceGroupId",
                                         "Tags", "PublicKey", "KeyPairId"}, (name, tags)
        assert CREATION_TIME_RE.match(kp.findtext("CreationTime"))
    assert by["w-tagged"].findtext("ResourceGroupId") == "rg-w"
    assert by["w-plain"].findtext("ResourceGroupId") == ""
    assert by["w-tagged"].findtext("PublicKey").split()[:2] == PUB.split()[:2]
    tag_els = by["w-tagged"].find("Tags")
    assert [c.tag for c in tag_els] == ["Tag", "Tag"]
    assert sorted((t.findtext("TagKey"), t.findtext("TagValue")) for t in tag_els) == [("a", "1"), ("b", "")]
    assert list(by["w-plain"].find("Tags")) == [], "an untagged key has an empty <Tags/>"
    root = xml_of(srv, "DescribeKeyPairs", {}, "XML")
    assert all(kp.find("PublicKey") is None for kp in root.find("KeyPairs"))


def test_xml_attach_results(srv):
    setup_keys(srv)
    root = xml_of(srv, "AttachKeyPair", {"KeyPairName": "w-plain", "InstanceIds": '["i-1","i-2"]'}, "XML")
    assert (root.findtext("KeyPairName"), root.findtext("TotalCount"), root.findtext("FailCount")) == (
        "w-plain", "2", "2")
    results = root.find("Results")
    assert [c.tag for c in results] == ["Result", "Result"]
    for res, iid in zip(results, ("i-1", "i-2")):
        assert {c.tag for c in res} == {"InstanceId", "Success", "Code", "Message"}
        assert (res.findtext("InstanceId"), res.findtext("Success"), res.findtext("Code")) == (
            iid, "false", "InvalidInstanceId.NotFound")


def test_xml_list_tag_resources(srv):
    setup_keys(srv)
    root = xml_of(srv, "ListTagResources", {"ResourceType": "keypair", "ResourceId.1": "w-tagged"}, "XML")
    trs = root.find("TagResources")
    assert [c.tag for c in trs] == ["TagResource", "TagResource"]
    got = sorted(tuple(tr.findtext(k) for k in ("ResourceId", "ResourceType", "TagKey", "TagValue")) for tr in trs)
    assert got == [("w-tagged", "keypair", "a", "1"), ("w-tagged", "keypair", "b", "")]


def test_xml_escaping(srv):
    value = "<&>\"'"
    import_key(srv, "esc", ed25519_line(), **tag_params({"k": value}))
    root = xml_of(srv, "DescribeKeyPairs", {}, "XML")
    assert root.findtext("KeyPairs/KeyPair/Tags/Tag/TagValue") == value
    b = v1_call(srv, "DescribeKeyPairs", {}).ok().body
    assert b["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"][0]["TagValue"] == value


def test_json_numbers_and_strings(srv):
    """Counts of DescribeKeyPairs are JSON numbers; those of Attach/Detach are strings (the SDK
    models type them so)."""
    setup_keys(srv)
    b = v1_call(srv, "DescribeKeyPairs", {"PageSize": "5"}).ok().body
    assert (b["TotalCount"], b["PageNumber"], b["PageSize"]) == (2, 1, 5)
    assert all(type(b[k]) is int for k in ("TotalCount", "PageNumber", "PageSize"))
    a = v1_call(srv, "AttachKeyPair", {"KeyPairName": "w-plain", "InstanceIds": '["i-1"]'}).ok().body
    assert (a["TotalCount"], a["FailCount"]) == ("1", "1")
    assert a["Results"]["Result"][0]["Success"] == "false"


def test_v3_errors_are_json_and_v1_errors_follow_format(srv):
    v3_call(srv, "CreateKeyPair", {}).error("MissingParameter", fmt="json")
    v1_call(srv, "CreateKeyPair", {}, fmt="JSON").error("MissingParameter", fmt="json")
    v1_call(srv, "CreateKeyPair", {}, fmt="json").error("MissingParameter", fmt="json")
    v1_call(srv, "CreateKeyPair", {}, fmt="XML").error("MissingParameter", fmt="xml")
    v1_call(srv, "CreateKeyPair", {}, fmt=None).error("MissingParameter", fmt="xml")


def test_error_envelope_host_id_is_the_host_header(srv):
    r = v1_call(srv, "CreateKeyPair", {}, headers={"Host": "keypaird.example:8443"})
    r.host = "keypaird.example:8443"
    r.error("MissingParameter")
    r = v1_call(srv, "CreateKeyPair", {}, fmt="XML", headers={"Host": "ecs.cn-hangzhou.aliyuncs.com"})
    r.host = "ecs.cn-hangzhou.aliyuncs.com"
    r.error("MissingParameter", fmt="xml")


def test_no_retry_after_header_on_errors(srv):
    for r in (v1_call(srv, "CreateKeyPair", {}), v3_call(srv, "LaunchRockets", {}),
              v1_call(srv, "DescribeKeyPairs", {}, sign_secret="nope")):
        assert r.status >= 400
        assert not any(k.lower() == "x-acs-retry-after" for k in r.headers), r.headers


def test_xml_is_well_formed_utf8(srv):
    import_key(srv, "ключ", ed25519_line(), **tag_params({"k": "值"}))
    r = v1_call(srv, "DescribeKeyPairs", {}, fmt="XML").ok("DescribeKeyPairs", "xml")
    root = ET.fromstring(r.content)
    assert root.findtext("KeyPairs/KeyPair/KeyPairName") == "ключ"
    assert root.findtext("KeyPairs/KeyPair/Tags/Tag/TagValue") == "值"
