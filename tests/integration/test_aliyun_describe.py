"""DescribeKeyPairs over raw v1 and V3 requests (reference: 'DescribeKeyPairs item', 'Wildcard
matching', the Actions table): paging across pages, newest first, `*` wildcards, the fingerprint
filter that ignores colons and case, ResourceGroupId and Tag.N filters (ANDed), IncludePublicKey,
Tags.Tag always present, minute-precision CreationTime, unknown name -> 200 and an empty list."""

import pytest

from aliyun_support import (check_item_shape, describe, ed25519_line, import_key, import_many, items, msg_invalid,
                            names, tag_params, v1_call, v3_call)


def page(srv, number=None, size=None, via="v1", **params):
    p = dict(params)
    if number is not None:
        p["PageNumber"] = str(number)
    if size is not None:
        p["PageSize"] = str(size)
    call = v1_call if via == "v1" else v3_call
    return call(srv, "DescribeKeyPairs", p).ok("DescribeKeyPairs").body


@pytest.mark.parametrize("via", ["v1", "v3"])
def test_three_pages_newest_first(srv, via):
    made = import_many(srv, [f"pg-{i:02d}" for i in range(23)])
    newest_first = list(reversed(made))
    seen = []
    for n, want in ((1, 10), (2, 10), (3, 3)):
        b = page(srv, n, 10, via)
        assert set(b) == {"RequestId", "TotalCount", "PageNumber", "PageSize", "KeyPairs"}, b
        assert (b["TotalCount"], b["PageNumber"], b["PageSize"]) == (23, n, 10), b
        got = [k["KeyPairName"] for k in b["KeyPairs"]["KeyPair"]]
        assert len(got) == want, (n, got)
        seen += got
    assert seen == newest_first
    b = page(srv, 4, 10, via)
    assert (b["TotalCount"], b["PageNumber"], b["PageSize"], b["KeyPairs"]) == (23, 4, 10, {"KeyPair": []})


def test_default_page_size_is_ten(srv):
    import_many(srv, [f"dflt-{i:02d}" for i in range(12)])
    b = page(srv)
    assert (b["TotalCount"], b["PageNumber"], b["PageSize"]) == (12, 1, 10)
    assert len(b["KeyPairs"]["KeyPair"]) == 10
    b = page(srv, size=50)
    assert (b["PageSize"], len(b["KeyPairs"]["KeyPair"])) == (50, 12)
    b = page(srv, 2, 5)
    assert [k["KeyPairName"] for k in b["KeyPairs"]["KeyPair"]] == [f"dflt-{i:02d}" for i in (6, 5, 4, 3, 2)]


@pytest.mark.parametrize("size", ["51", "100", "0", "-1", "ten"])
def test_bad_page_size(srv, size):
    v1_call(srv, "DescribeKeyPairs", {"PageSize": size}).error("InvalidParameter", msg_invalid("PageSize"))


@pytest.mark.parametrize("number", ["0", "-1", "one"])
def test_bad_page_number(srv, number):
    v1_call(srv, "DescribeKeyPairs", {"PageNumber": number}).error("InvalidParameter", msg_invalid("PageNumber"))


WILD = ["abc", "abc-1", "x-abc", "xabcx", "other", "ab"]


@pytest.mark.parametrize("pattern,want", [
    ("*abc", {"abc", "x-abc"}),
    ("abc*", {"abc", "abc-1"}),
    ("*abc*", {"abc", "abc-1", "x-abc", "xabcx"}),
    ("abc", {"abc"}),
    ("ab", {"ab"}),
    ("x-abc", {"x-abc"}),
    ("*", set(WILD)),
    ("nosuch", set()),
    ("*nosuch*", set()),
])
def test_name_wildcards(srv, pattern, want):
    import_many(srv, WILD)
    for via in ("v1", "v3"):
        b = page(srv, size=50, via=via, KeyPairName=pattern)
        got = {k["KeyPairName"] for k in b["KeyPairs"]["KeyPair"]}
        assert got == want, f"{via} KeyPairName={pattern!r}: {sorted(got)} != {sorted(want)}"
        assert b["TotalCount"] == len(want)


def test_unknown_name_is_200_and_empty(srv):
    r = v1_call(srv, "DescribeKeyPairs", {"KeyPairName": "deleted-long-ago"}).ok("DescribeKeyPairs")
    assert r.status == 200
    b = r.body
    assert (b["TotalCount"], b["KeyPairs"]) == (0, {"KeyPair": []})


def test_fingerprint_filter_ignores_colons_and_case(srv):
    import_many(srv, ["fp-a", "fp-b", "fp-c"])
    by = {k["KeyPairName"]: k["KeyPairFingerPrint"] for k in items(srv)}
    fp = by["fp-b"]
    for variant in (fp, fp.upper(), fp.replace(":", ""), fp.replace(":", "").upper(),
                    fp[:8].upper() + fp[8:]):
        assert names(srv, KeyPairFingerPrint=variant) == ["fp-b"], variant
    assert names(srv, KeyPairFingerPrint="00:" * 15 + "00") == []
    # the name filter and the fingerprint filter are ANDed
    assert names(srv, KeyPairFingerPrint=fp, KeyPairName="fp-a") == []
    assert names(srv, KeyPairFingerPrint=fp, KeyPairName="fp-*") == ["fp-b"]


def test_resource_group_and_tag_filters_are_anded(srv):
    import_key(srv, "f1", ed25519_line(), ResourceGroupId="rg-1", **tag_params({"env": "prod", "team": "a"}))
    import_key(srv, "f2", ed25519_line(), ResourceGroupId="rg-2", **tag_params({"env": "prod", "team": "b"}))
    import_key(srv, "f3", ed25519_line(), ResourceGroupId="rg-1", **tag_params({"env": "dev"}))
    import_key(srv, "f4", ed25519_line())
    assert names(srv, ResourceGroupId="rg-1") == ["f3", "f1"]
    assert names(srv, ResourceGroupId="rg-2") == ["f2"]
    assert names(srv, ResourceGroupId="rg-none") == []
    assert names(srv, **tag_params({"env": "prod"})) == ["f2", "f1"]
    assert names(srv, **tag_params({"env": "prod", "team": "a"})) == ["f1"]
    assert names(srv, **tag_params({"env": "dev", "team": "a"})) == []
    assert names(srv, **tag_params({"env": "staging"})) == []
    assert names(srv, ResourceGroupId="rg-1", **tag_params({"env": "prod"})) == ["f1"]
    assert names(srv, ResourceGroupId="rg-2", **tag_params({"team": "a"})) == []
    assert names(srv, KeyPairName="f*", ResourceGroupId="rg-1", **tag_params({"env": "dev"})) == ["f3"]
    b = describe(srv, ResourceGroupId="rg-1")
    assert b["TotalCount"] == 2


@pytest.mark.parametrize("value,present", [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False),
    (None, False)])
def test_include_public_key(srv, value, present):
    line = ed25519_line("comment@host")
    import_key(srv, "pk", line)
    params = {} if value is None else {"IncludePublicKey": value}
    [it] = items(srv, **params)
    check_item_shape(it, public_key=present)
    if present:
        assert it["PublicKey"].split()[:2] == line.split()[:2]


def test_item_shape_tags_and_creation_time(srv):
    import_key(srv, "plain", ed25519_line())
    import_key(srv, "tagged", ed25519_line(), **tag_params({"k1": "v1", "k2": ""}))
    by = {k["KeyPairName"]: k for k in items(srv)}
    for it in by.values():
        check_item_shape(it, public_key=False)
    assert by["plain"]["Tags"] == {"Tag": []}, "Tags.Tag is present and empty on an untagged key"
    assert by["plain"]["ResourceGroupId"] == "", "an empty resource group is the empty string"
    assert sorted(map(lambda t: (t["TagKey"], t["TagValue"]), by["tagged"]["Tags"]["Tag"])) == [
        ("k1", "v1"), ("k2", "")]


def test_v3_and_v1_agree(srv):
    import_many(srv, ["agree-1", "agree-2"])
    a = page(srv, size=50, via="v1", IncludePublicKey="true")
    b = page(srv, size=50, via="v3", IncludePublicKey="True")
    assert a["KeyPairs"] == b["KeyPairs"] and a["TotalCount"] == b["TotalCount"] == 2
