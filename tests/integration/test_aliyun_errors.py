"""Every error code of the reference's table (reference: 'Errors', 'Validation'), each with its exact
HTTP status, Code and Message, in the JSON envelope (Format=JSON, and every V3 request) and the XML
one (Format=XML and no Format at all): RequestId (uppercase UUID), HostId (the Host header), Code,
Message, Recommend. A refused request changes nothing."""

import json

import pytest

from aliyun_support import (ERRORS, Core, Tea, create, ed25519_line, import_key, msg_invalid, msg_missing, names, tag_params,
                            v1_call, v3_call)
from support import create_account, sqlite_url

PUB = ed25519_line()

# name -> (action, params, code, exact message or None for the table's)
CASES = {
    "already-exist-create": ("CreateKeyPair", {"KeyPairName": "exists"}, "KeyPair.AlreadyExist", None),
    "already-exist-import": ("ImportKeyPair", {"KeyPairName": "exists", "PublicKeyBody": PUB},
                             "KeyPair.AlreadyExist", None),
    "name-malformed-short": ("CreateKeyPair", {"KeyPairName": "a"}, "InvalidKeyPairName.Malformed", None),
    "name-malformed-import": ("ImportKeyPair", {"KeyPairName": "1abc", "PublicKeyBody": PUB},
                              "InvalidKeyPairName.Malformed", None),
    "public-key-malformed": ("ImportKeyPair", {"KeyPairName": "pk", "PublicKeyBody": "ssh-rsa garbage"},
                             "InvalidPublicKeyBody.Malformed", None),
    "names-bare": ("DeleteKeyPairs", {"KeyPairNames": "exists"}, "InvalidKeyPairNames.ValueNotSupported", None),
    "attach-unknown": ("AttachKeyPair", {"KeyPairName": "nosuch", "InstanceIds": '["i-1"]'},
                       "InvalidKeyPairName.NotFound", None),
    "detach-unknown": ("DetachKeyPair", {"KeyPairName": "nosuch", "InstanceIds": '["i-1"]'},
                       "InvalidKeyPairName.NotFound", None),
    "missing-name": ("CreateKeyPair", {}, "MissingParameter", msg_missing("KeyPairName")),
    "missing-region": ("DescribeKeyPairs", {"RegionId": None}, "MissingParameter", msg_missing("RegionId")),
    "page-size-51": ("DescribeKeyPairs", {"PageSize": "51"}, "InvalidParameter", msg_invalid("PageSize")),
    "bad-boolean": ("DescribeKeyPairs", {"IncludePublicKey": "yes"}, "InvalidParameter",
                    msg_invalid("IncludePublicKey")),
    "duplicate-tag-key": ("TagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                           **tag_params([("k", "1"), ("k", "2")])}, "Duplicate.TagKey", None),
    "tag-key-malformed": ("TagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                           **tag_params({"acs:k": "1"})}, "InvalidTagKey.Malformed", None),
    "tag-value-malformed": ("TagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                             **tag_params({"k": "v" * 129})}, "InvalidTagValue.Malformed", None),
    "resource-id-not-found": ("TagResources", {"ResourceType": "keypair", "ResourceId.1": "nosuch",
                                               **tag_params({"k": "1"})}, "InvalidResourceId.NotFound", None),
    "resource-type-not-found": ("ListTagResources", {"ResourceType": "instance"},
                                "InvalidResourceType.NotFound", None),
    "number-exceed-tags": ("TagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                            **tag_params({f"k{i}": "v" for i in range(21)})},
                           "NumberExceed.Tags", None),
    "number-exceed-ids": ("TagResources", {"ResourceType": "keypair", **tag_params({"k": "v"}),
                                           **{f"ResourceId.{i}": "exists" for i in range(1, 52)}},
                          "NumberExceed.ResourceIds", None),
    "invalid-action": ("LaunchRockets", {}, "InvalidAction.NotFound", None),
    "invalid-version-aws": ("DescribeKeyPairs", {"__version": "2016-11-15"}, "InvalidVersion", None),
    "invalid-version-garbage": ("DescribeKeyPairs", {"__version": "latest"}, "InvalidVersion", None),
    "unknown-access-key": ("DescribeKeyPairs", {"__creds": ("x", "AKIDNOSUCH0000000000", "s3cr3t")},
                           "InvalidAccessKeyId.NotFound", None),
    "wrong-secret": ("DescribeKeyPairs", {"__sign_secret": "not-the-secret"}, "SignatureDoesNotMatch", None),
    "expired": ("DescribeKeyPairs", {"__skew": -3600}, "InvalidTimeStamp.Expired", None),
}

# "JSON": Format=JSON; "json": Format=json; "XML": Format=XML; "default": no Format (XML);
# "V3": a V3-signed request (JSON).
MODES = {"JSON": "json", "json": "json", "XML": "xml", "default": "xml", "V3": "json"}


def send(srv, action, params, mode):
    p = dict(params)
    kw = {}
    region = "cn-hangzhou"
    if "RegionId" in p and p["RegionId"] is None:
        del p["RegionId"]
        region = None
    for k in [k for k in p if k.startswith("__")]:
        v = p.pop(k)
        key = k[2:]
        if key == "version":
            kw["version"] = v
        elif key == "creds":
            kw["creds"] = v
        elif key == "sign_secret":
            kw["sign_secret"] = v
        elif key == "skew":
            kw["skew"] = v
    if mode == "V3":
        return v3_call(srv, action, p, region=region, **kw)
    fmt = None if mode == "default" else mode
    return v1_call(srv, action, p, region=region, fmt=fmt, **kw)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_error_table(srv, case, mode):
    import_key(srv, "exists", PUB)
    action, params, code, message = CASES[case]
    r = send(srv, action, params, mode)
    r.error(code, message, fmt=MODES[mode])
    if code == "SignatureDoesNotMatch":
        assert r.message == "Specified signature is not matched with our calculation. server string to sign is:" + r.sts
    assert names(srv) == ["exists"], "a refused request changes nothing"


def test_every_table_code_is_exercised():
    covered = {c for _, _, c, _ in CASES.values()}
    elsewhere = {"QuotaExceed.KeyPair": "test_quota_*", "QuotaExceed.Tags": "test_aliyun_tags",
                 "IncompleteSignature": "test_aliyun_bad_input", "SignatureNonceUsed": "test_aliyun_auth",
                 "InvalidTimeStamp.Format": "test_aliyun_bad_input",
                 "InvalidAccessKeyId.Inactive": "test_access_keys", "Forbidden.RAM": "test_access_keys"}
    assert set(ERRORS) == covered | set(elsewhere), sorted(set(ERRORS) - covered - set(elsewhere))


def test_request_ids_are_fresh(srv):
    ids = {v1_call(srv, "CreateKeyPair", {}).error("MissingParameter").json["RequestId"] for _ in range(3)}
    ids |= {v1_call(srv, "DescribeKeyPairs", {}).ok().body["RequestId"] for _ in range(3)}
    assert len(ids) == 6


# --------------------------------------------------------------------------- MissingParameter

REQUIRED_OK = {
    "CreateKeyPair": {"KeyPairName": "r-new"},
    "ImportKeyPair": {"KeyPairName": "r-new", "PublicKeyBody": PUB},
    "DescribeKeyPairs": {},
    "DeleteKeyPairs": {"KeyPairNames": '["exists"]'},
    "AttachKeyPair": {"KeyPairName": "exists", "InstanceIds": '["i-1"]'},
    "DetachKeyPair": {"KeyPairName": "exists", "InstanceIds": '["i-1"]'},
    "TagResources": {"ResourceType": "keypair", "ResourceId.1": "exists", **tag_params({"k": "v"})},
    "UntagResources": {"ResourceType": "keypair", "ResourceId.1": "exists", "TagKey.1": "k"},
    "ListTagResources": {"ResourceType": "keypair"},
    "JoinResourceGroup": {"ResourceGroupId": "rg-1", "ResourceId": "exists", "ResourceType": "keypair"},
    "DescribeInstances": {},
}


@pytest.mark.parametrize("via", ["v1", "v3"])
@pytest.mark.parametrize("action", sorted(REQUIRED_OK))
def test_region_id_is_required_on_every_action(srv, action, via):
    import_key(srv, "exists", PUB)
    call = v1_call if via == "v1" else v3_call
    call(srv, action, REQUIRED_OK[action], region=None).error("MissingParameter", msg_missing("RegionId"))
    assert names(srv) == ["exists"]
    # and with RegionId the same request is fine
    call(srv, action, REQUIRED_OK[action]).ok(action)


# (action, parameter left out, the names the message may give it)
MISSING = [
    ("CreateKeyPair", "KeyPairName", ["KeyPairName"]),
    ("ImportKeyPair", "KeyPairName", ["KeyPairName"]),
    ("ImportKeyPair", "PublicKeyBody", ["PublicKeyBody"]),
    ("DeleteKeyPairs", "KeyPairNames", ["KeyPairNames"]),
    ("AttachKeyPair", "KeyPairName", ["KeyPairName"]),
    ("AttachKeyPair", "InstanceIds", ["InstanceIds"]),
    ("DetachKeyPair", "KeyPairName", ["KeyPairName"]),
    ("DetachKeyPair", "InstanceIds", ["InstanceIds"]),
    ("TagResources", "ResourceType", ["ResourceType"]),
    ("TagResources", "ResourceId.1", ["ResourceId.1"]),
    ("TagResources", "Tag.1.Key", ["Tag.1.Key"]),
    ("UntagResources", "ResourceType", ["ResourceType"]),
    ("UntagResources", "ResourceId.1", ["ResourceId.1"]),
    ("UntagResources", "TagKey.1", ["TagKey.1"]),
    ("ListTagResources", "ResourceType", ["ResourceType"]),
    ("JoinResourceGroup", "ResourceGroupId", ["ResourceGroupId"]),
    ("JoinResourceGroup", "ResourceId", ["ResourceId"]),
    ("JoinResourceGroup", "ResourceType", ["ResourceType"]),
]


@pytest.mark.parametrize("action,left_out,named", MISSING, ids=[f"{a}-{p}" for a, p, _ in MISSING])
def test_missing_parameter(srv, action, left_out, named):
    import_key(srv, "exists", PUB)
    p = {k: v for k, v in REQUIRED_OK[action].items() if k != left_out}
    if left_out == "Tag.1.Key":
        p.pop("Tag.1.Value", None)
    r = v1_call(srv, action, p)
    r.error("MissingParameter", None)
    assert r.message in {msg_missing(n) for n in named}, r.message
    assert names(srv) == ["exists"]


@pytest.mark.parametrize("action,param", [("CreateKeyPair", "KeyPairName"), ("ImportKeyPair", "PublicKeyBody"),
                                          ("DeleteKeyPairs", "KeyPairNames")])
def test_empty_required_parameter(srv, action, param):
    """An empty required value counts as missing."""
    import_key(srv, "exists", PUB)
    p = dict(REQUIRED_OK[action])
    p[param] = ""
    v1_call(srv, action, p).error("MissingParameter", msg_missing(param))
    assert names(srv) == ["exists"]


# ----------------------------------------------------------------------------- names

BAD_NAMES = {
    "one-char": "a", "129-chars": "a" * 129, "129-unicode": "é" * 129, "digit-first": "1abc",
    "underscore-first": "_abc", "hyphen-first": "-abc", "colon-first": ":abc", "http": "http://x",
    "https": "https://example.com", "space": "a b", "dot": "a.b", "slash": "a/b", "at": "a@b",
    "star": "a*b", "plus": "a+b", "tab": "ab\t", "nbsp": "ab\u00a0", "cjk-punct": "键对。",
    "emoji": "key\U0001F511",
}
GOOD_NAMES = {
    "two-chars": "ab", "128-chars": "a" * 128, "128-unicode": "é" * 128, "all-classes": "A1:_-z",
    "cyrillic": "ключ-1", "accented": "clé", "cjk": "键对", "capital-accent": "Éa", "http-colon": "http:x",
    "greek": "κλειδί_2",
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
@pytest.mark.parametrize("action", ["CreateKeyPair", "ImportKeyPair"])
def test_bad_key_pair_names(srv, case, action):
    p = {"KeyPairName": BAD_NAMES[case]}
    if action == "ImportKeyPair":
        p["PublicKeyBody"] = PUB
    v1_call(srv, action, p).error("InvalidKeyPairName.Malformed")
    assert names(srv) == []


@pytest.mark.parametrize("case", sorted(GOOD_NAMES))
def test_good_key_pair_names(srv, case):
    name = GOOD_NAMES[case]
    r = create(srv, name)
    assert r["KeyPairName"] == name
    assert names(srv, KeyPairName=name) == [name]
    v1_call(srv, "CreateKeyPair", {"KeyPairName": name}).error("KeyPair.AlreadyExist")
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps([name])}).ok()
    assert name not in names(srv)


# ----------------------------------------------------------------------------- quota


def quota_server(keypaird, store, quota):
    from support import TESTER
    name, akid, secret = TESTER
    create_account(sqlite_url(store), name, akid, secret, quota=quota)
    return keypaird()


@pytest.mark.parametrize("via", ["v1-json", "v1-xml", "v3", "core", "tea"])
def test_quota_exceeded(keypaird, store, via):
    srv = quota_server(keypaird, store, 3)
    create(srv, "q1")
    import_key(srv, "q2", ed25519_line())
    create(srv, "q3")
    if via == "core":
        c = Core(srv)
        c.error("CreateKeyPair", "QuotaExceed.KeyPair", KeyPairName="q4")
        c.error("ImportKeyPair", "QuotaExceed.KeyPair", fmt="XML", KeyPairName="q4", PublicKeyBody=PUB)
        tries, fmt = [], "json"
    elif via == "tea":
        t = Tea(srv)
        t.error("CreateKeyPair", "QuotaExceed.KeyPair", key_pair_name="q4")
        t.error("ImportKeyPair", "QuotaExceed.KeyPair", key_pair_name="q4", public_key_body=PUB)
        tries, fmt = [], "json"
    elif via == "v3":
        tries = [v3_call(srv, "CreateKeyPair", {"KeyPairName": "q4"}),
                 v3_call(srv, "ImportKeyPair", {"KeyPairName": "q4", "PublicKeyBody": PUB})]
        fmt = "json"
    else:
        f = "JSON" if via == "v1-json" else "XML"
        tries = [v1_call(srv, "CreateKeyPair", {"KeyPairName": "q4"}, fmt=f),
                 v1_call(srv, "ImportKeyPair", {"KeyPairName": "q4", "PublicKeyBody": PUB}, fmt=f)]
        fmt = f.lower()
    for r in tries:
        r.error("QuotaExceed.KeyPair", fmt=fmt)
    assert sorted(names(srv)) == ["q1", "q2", "q3"]
    # the quota is per region
    create(srv, "q4", region="cn-beijing")
    # deleting one frees a slot
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["q1"]'}).ok()
    create(srv, "q5")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "q6"}).error("QuotaExceed.KeyPair")


@pytest.mark.timeout(600)
def test_default_quota_is_500_per_region(srv):
    for i in range(500):
        v1_call(srv, "ImportKeyPair", {"KeyPairName": f"m{i:03d}", "PublicKeyBody": ed25519_line()}).ok()
    v1_call(srv, "ImportKeyPair", {"KeyPairName": "m500", "PublicKeyBody": PUB}).error("QuotaExceed.KeyPair")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "m500"}).error("QuotaExceed.KeyPair")
    assert v1_call(srv, "DescribeKeyPairs", {}).ok().body["TotalCount"] == 500
    v1_call(srv, "ImportKeyPair", {"KeyPairName": "m000", "PublicKeyBody": PUB}, region="cn-shanghai").ok()
