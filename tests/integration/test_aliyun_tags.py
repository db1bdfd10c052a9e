"""Tags and resource groups of the Alibaba dialect (reference: 'Validation', the Actions table):
TagResources / UntagResources (TagKey.N and All=true) / ListTagResources (with NextToken paging),
JoinResourceGroup, the tag rules (key <= 64, value <= 128, no aliyun/acs: prefix, no URLs, <= 20 per
request and per resource, no duplicate keys) and their error codes."""

import pytest

from aliyun_support import (create, ed25519_line, import_key, import_many, items, list_tags, msg_missing, names,
                            tag_params, tags_of, v1_call, v3_call)


def tag(srv, ids, tags, call=v1_call, **extra):
    p = {"ResourceType": "keypair", **{f"ResourceId.{i}": r for i, r in enumerate(ids, 1)}, **tag_params(tags),
         **extra}
    return call(srv, "TagResources", p)


def untag(srv, ids, keys=(), call=v1_call, **extra):
    p = {"ResourceType": "keypair", **{f"ResourceId.{i}": r for i, r in enumerate(ids, 1)},
         **{f"TagKey.{i}": k for i, k in enumerate(keys, 1)}, **extra}
    return call(srv, "UntagResources", p)


def tags_now(srv, name) -> dict:
    [it] = items(srv, KeyPairName=name)
    return tags_of(it)


@pytest.fixture
def k1(srv):
    import_key(srv, "k1", ed25519_line())
    return "k1"


@pytest.mark.parametrize("call", [v1_call, v3_call], ids=["v1", "v3"])
def test_tag_overwrite_untag_and_all(srv, k1, call):
    import_key(srv, "k2", ed25519_line())
    tag(srv, ["k1", "k2"], {"env": "prod", "team": "a", "empty": ""}, call).ok("TagResources")
    assert tags_now(srv, "k1") == tags_now(srv, "k2") == {"env": "prod", "team": "a", "empty": ""}
    tag(srv, ["k1"], {"env": "dev", "new": "n"}, call).ok()
    assert tags_now(srv, "k1") == {"env": "dev", "team": "a", "empty": "", "new": "n"}
    untag(srv, ["k1"], ["team", "nosuch"], call).ok("UntagResources")
    assert tags_now(srv, "k1") == {"env": "dev", "empty": "", "new": "n"}
    untag(srv, ["k1", "k2"], call=call, All="true").ok()
    assert tags_now(srv, "k1") == tags_now(srv, "k2") == {}


def test_untag_all_false_uses_tag_keys(srv, k1):
    tag(srv, ["k1"], {"a": "1", "b": "2"}).ok()
    untag(srv, ["k1"], ["a"], All="false").ok()
    assert tags_now(srv, "k1") == {"b": "2"}


def test_list_tag_resources_by_id_and_by_tag(srv):
    import_many(srv, ["l1", "l2", "l3"])
    tag(srv, ["l1", "l2"], {"env": "prod"}).ok()
    tag(srv, ["l1"], {"team": "a"}).ok()
    tag(srv, ["l3"], {"env": "dev"}).ok()
    assert sorted(list_tags(srv, ["l1"])) == [("l1", "env", "prod"), ("l1", "team", "a")]
    assert sorted(list_tags(srv, ["l1", "l3"])) == [("l1", "env", "prod"), ("l1", "team", "a"),
                                                    ("l3", "env", "dev")]
    got = list_tags(srv, **tag_params({"env": "prod"}))
    assert {r for r, _, _ in got} == {"l1", "l2"}
    assert sorted(got) == [("l1", "env", "prod"), ("l2", "env", "prod")], "the rows of the matching tag"
    everything = list_tags(srv)
    assert sorted(everything) == [("l1", "env", "prod"), ("l1", "team", "a"), ("l2", "env", "prod"),
                                  ("l3", "env", "dev")]


def test_list_tag_resources_reply_shape(srv, k1):
    tag(srv, ["k1"], {"a": "1"}).ok()
    b = v1_call(srv, "ListTagResources", {"ResourceType": "keypair", "ResourceId.1": "k1"}).ok("ListTagResources").body
    assert set(b) - {"NextToken"} == {"RequestId", "TagResources"}, b
    assert not b.get("NextToken"), "one small page: no NextToken"
    assert b["TagResources"] == {"TagResource": [
        {"ResourceId": "k1", "ResourceType": "keypair", "TagKey": "a", "TagValue": "1"}]}


@pytest.mark.timeout(180)
def test_list_tag_resources_next_token_paging(srv):
    made = import_many(srv, [f"np{i}" for i in range(5)])
    for n in made:
        tag(srv, [n], {f"key{j:02d}": f"{n}-{j}" for j in range(20)}).ok()
    want = sorted((n, f"key{j:02d}", f"{n}-{j}") for n in made for j in range(20))
    pages, token, got = 0, None, []
    while True:
        p = {"ResourceType": "keypair"}
        if token:
            p["NextToken"] = token
        b = v1_call(srv, "ListTagResources", p).ok().body
        rows = b["TagResources"]["TagResource"]
        assert rows, f"page {pages + 1} is empty"
        assert len(rows) <= 50, f"a page holds at most 50 tag resources, got {len(rows)}"
        got += [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in rows]
        pages += 1
        token = b.get("NextToken")
        if not token:
            break
        assert pages < 20
    assert sorted(got) == want, "every tag exactly once across the pages"
    assert len(got) == len(set(got))
    assert pages >= 2, "100 tag entries must not come back in a single page"
    # the same through V3
    token, got3 = None, []
    while True:
        p = {"ResourceType": "keypair", **({"NextToken": token} if token else {})}
        b = v3_call(srv, "ListTagResources", p).ok().body
        got3 += [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in b["TagResources"]["TagResource"]]
        token = b.get("NextToken")
        if not token:
            break
    assert sorted(got3) == want


def test_bad_next_token(srv, k1):
    r = v1_call(srv, "ListTagResources", {"ResourceType": "keypair", "NextToken": "not-a-token!"})
    r.error("InvalidParameter", 'The specified parameter "NextToken" is not valid.')


def test_join_resource_group_moves_the_key(srv, k1):
    for call in (v1_call, v3_call):
        for rg in ("rg-a", "rg-b"):
            call(srv, "JoinResourceGroup", {"ResourceGroupId": rg, "ResourceId": "k1",
                                            "ResourceType": "keypair"}).ok("JoinResourceGroup")
            assert items(srv)[0]["ResourceGroupId"] == rg
            assert names(srv, ResourceGroupId=rg) == ["k1"]
    assert names(srv, ResourceGroupId="rg-a") == []


def test_tags_go_with_the_key(srv, k1):
    tag(srv, ["k1"], {"a": "1"}).ok()
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["k1"]'}).ok()
    assert list_tags(srv) == []
    import_key(srv, "k1", ed25519_line())
    assert tags_now(srv, "k1") == {}


# ----------------------------------------------------------------------------------- rules


@pytest.mark.parametrize("key,value,code", [
    ("k" * 64, "v" * 128, None),
    ("k", "", None),
    ("http:x", "https:y", None),
    ("k" * 65, "v", "InvalidTagKey.Malformed"),
    ("", "v", "InvalidTagKey.Malformed"),
    ("aliyun", "v", "InvalidTagKey.Malformed"),
    ("aliyunkey", "v", "InvalidTagKey.Malformed"),
    ("acs:key", "v", "InvalidTagKey.Malformed"),
    ("a http://x", "v", "InvalidTagKey.Malformed"),
    ("https://x", "v", "InvalidTagKey.Malformed"),
    ("k", "v" * 129, "InvalidTagValue.Malformed"),
    ("k", "aliyun-v", "InvalidTagValue.Malformed"),
    ("k", "acs:v", "InvalidTagValue.Malformed"),
    ("k", "see http://x", "InvalidTagValue.Malformed"),
    ("k", "https://x", "InvalidTagValue.Malformed"),
])
@pytest.mark.parametrize("where", ["TagResources", "CreateKeyPair", "ImportKeyPair"])
def test_tag_rules(srv, key, value, code, where):
    if where == "TagResources":
        import_key(srv, "base", ed25519_line())
        r = tag(srv, ["base"], [(key, value)])
        target = "base"
    elif where == "CreateKeyPair":
        r = v1_call(srv, "CreateKeyPair", {"KeyPairName": "t-made", **tag_params([(key, value)])})
        target = "t-made"
    else:
        r = v1_call(srv, "ImportKeyPair", {"KeyPairName": "t-made", "PublicKeyBody": ed25519_line(),
                                           **tag_params([(key, value)])})
        target = "t-made"
    if code is None:
        r.ok()
        assert tags_now(srv, target) == {key: value}
    else:
        r.error(code)
        if where == "TagResources":
            assert tags_now(srv, "base") == {}
        else:
            assert names(srv) == [], "a refused create/import makes nothing"


@pytest.mark.parametrize("where", ["TagResources", "CreateKeyPair", "ImportKeyPair"])
def test_duplicate_tag_key(srv, where):
    dup = [("k", "1"), ("other", "x"), ("k", "2")]
    if where == "TagResources":
        import_key(srv, "base", ed25519_line())
        tag(srv, ["base"], dup).error("Duplicate.TagKey")
        assert tags_now(srv, "base") == {}
    else:
        p = {"KeyPairName": "dupe", **tag_params(dup)}
        if where == "ImportKeyPair":
            p["PublicKeyBody"] = ed25519_line()
        v1_call(srv, where, p).error("Duplicate.TagKey")
        assert names(srv) == []


def test_twenty_tags_per_request(srv):
    import_key(srv, "base", ed25519_line())
    twenty = {f"t{i:02d}": str(i) for i in range(20)}
    tag(srv, ["base"], twenty).ok()
    assert tags_now(srv, "base") == twenty
    twenty_one = {f"u{i:02d}": str(i) for i in range(21)}
    import_key(srv, "base2", ed25519_line())
    tag(srv, ["base2"], twenty_one).error("NumberExceed.Tags")
    assert tags_now(srv, "base2") == {}
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "many", **tag_params(twenty_one)}).error("NumberExceed.Tags")
    assert "many" not in names(srv)
    untag(srv, ["base"], [f"t{i:02d}" for i in range(21)]).error("NumberExceed.Tags")
    assert tags_now(srv, "base") == twenty


def test_twenty_tags_per_resource(srv):
    twenty = {f"t{i:02d}": str(i) for i in range(20)}
    import_key(srv, "full", ed25519_line(), **tag_params(twenty))
    assert tags_now(srv, "full") == twenty
    r = tag(srv, ["full"], {"one-more": "x"}).error("QuotaExceed.Tags")
    assert "20" in r.message
    assert tags_now(srv, "full") == twenty
    # overwriting an existing key keeps the count at 20: allowed
    tag(srv, ["full"], {"t00": "changed"}).ok()
    assert tags_now(srv, "full")["t00"] == "changed"
    # 10 + 11 new keys over two requests
    import_key(srv, "half", ed25519_line(), **tag_params({f"h{i}": "" for i in range(10)}))
    tag(srv, ["half"], {f"n{i}": "" for i in range(10)}).ok()
    tag(srv, ["half"], {"last": ""}).error("QuotaExceed.Tags")
    assert len(tags_now(srv, "half")) == 20


@pytest.mark.timeout(180)
def test_fifty_resource_ids_per_request(srv):
    made = import_many(srv, [f"r{i:02d}" for i in range(51)])
    tag(srv, made[:50], {"batch": "yes"}).ok()
    assert len(list_tags(srv, **tag_params({"batch": "yes"}))) == 50
    tag(srv, made, {"batch2": "yes"}).error("NumberExceed.ResourceIds")
    untag(srv, made, ["batch"]).error("NumberExceed.ResourceIds")
    assert list_tags(srv, **tag_params({"batch2": "yes"})) == []
    r = v1_call(srv, "ListTagResources", {"ResourceType": "keypair",
                                          **{f"ResourceId.{i}": n for i, n in enumerate(made, 1)}})
    r.error("NumberExceed.ResourceIds")


@pytest.mark.parametrize("action", ["TagResources", "UntagResources", "JoinResourceGroup"])
def test_unknown_resource_id(srv, k1, action):
    if action == "TagResources":
        r = tag(srv, ["nosuch"], {"a": "1"})
    elif action == "UntagResources":
        r = untag(srv, ["nosuch"], ["a"])
    else:
        r = v1_call(srv, action, {"ResourceGroupId": "rg-x", "ResourceId": "nosuch", "ResourceType": "keypair"})
    r.error("InvalidResourceId.NotFound")


def test_unknown_resource_id_among_known_ones(srv, k1):
    tag(srv, ["k1", "nosuch"], {"a": "1"}).error("InvalidResourceId.NotFound")


def test_key_in_another_region_is_not_found(srv, k1):
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "k1", **tag_params({"a": "1"})},
            region="cn-beijing").error("InvalidResourceId.NotFound")


@pytest.mark.parametrize("rtype", ["instance", "disk", "key_pair", ""])
@pytest.mark.parametrize("action", ["TagResources", "UntagResources", "ListTagResources", "JoinResourceGroup"])
def test_unknown_resource_type(srv, k1, action, rtype):
    p = {"ResourceType": rtype}
    if action == "TagResources":
        p.update({"ResourceId.1": "k1", **tag_params({"a": "1"})})
    elif action == "UntagResources":
        p.update({"ResourceId.1": "k1", "TagKey.1": "a"})
    elif action == "JoinResourceGroup":
        p.update({"ResourceId": "k1", "ResourceGroupId": "rg-x"})
    r = v1_call(srv, action, p)
    if rtype == "":
        r.error("MissingParameter", msg_missing("ResourceType"))
    else:
        r.error("InvalidResourceType.NotFound")
    assert tags_now(srv, "k1") == {} and items(srv)[0]["ResourceGroupId"] == ""


def test_create_with_tags_then_untag_all(srv):
    r = create(srv, "made-tagged", **tag_params({"a": "1", "b": "2"}), ResourceGroupId="rg-made")
    assert r["KeyPairName"] == "made-tagged"
    assert tags_now(srv, "made-tagged") == {"a": "1", "b": "2"}
    assert items(srv)[0]["ResourceGroupId"] == "rg-made"
    untag(srv, ["made-tagged"], All="True").ok()
    assert tags_now(srv, "made-tagged") == {}
