"""DescribeKeyPairs filters: key-pair-id, fingerprint, key-name, tag-key, tag:<key>; '*' and '?'
wildcards with backslash escapes; OR within a filter, AND across filters; case-sensitive names
and values; an unknown filter is InvalidParameterValue."""

import pytest
from botocore.exceptions import ClientError

from support import client_error


def names(srv, *filters, **kw):
    fl = [{"Name": n, "Values": list(v)} for n, v in filters]
    return sorted(k["KeyName"] for k in srv.describe(Filters=fl, **kw))


@pytest.fixture
def inv(srv, ec2):
    """A small inventory with awkward names and tags."""
    def mk(name, tags=()):
        spec = [{"ResourceType": "key-pair", "Tags": [{"Key": k, "Value": v} for k, v in tags]}] if tags else []
        return ec2.create_key_pair(KeyName=name, KeyType="ed25519", TagSpecifications=spec)

    made = {
        "web-1": mk("web-1", [("Env", "prod"), ("Role", "web")]),
        "web-12": mk("web-12", [("Env", "dev"), ("Role", "web")]),
        "db-1": mk("db-1", [("Env", "prod"), ("Role", "db")]),
        "a*b": mk("a*b", [("Owner", "x*y")]),
        "axxb": mk("axxb", [("Owner", "xzzy")]),
        "a?b": mk("a?b"),
        "a\\b": mk("a\\b", [("path", "C:\\dir")]),
        "Web-1": mk("Web-1", [("env", "PROD")]),
    }
    return made


def test_key_name_exact_and_or(srv, inv):
    assert names(srv, ("key-name", ["web-1"])) == ["web-1"]
    assert names(srv, ("key-name", ["web-1", "db-1"])) == ["db-1", "web-1"]
    assert names(srv, ("key-name", ["nothing"])) == []


def test_key_name_star(srv, inv):
    assert names(srv, ("key-name", ["web-*"])) == ["web-1", "web-12"]
    assert names(srv, ("key-name", ["*-1"])) == ["Web-1", "db-1", "web-1"]
    assert names(srv, ("key-name", ["*"])) == sorted(inv)
    assert names(srv, ("key-name", ["web-1*"])) == ["web-1", "web-12"], "* also matches none"


def test_key_name_question(srv, inv):
    assert names(srv, ("key-name", ["web-?"])) == ["web-1"]
    assert names(srv, ("key-name", ["web-??"])) == ["web-12"]
    assert names(srv, ("key-name", ["a?b"])) == ["a*b", "a?b", "a\\b"]


def test_key_name_escapes(srv, inv):
    assert names(srv, ("key-name", ["a\\*b"])) == ["a*b"]
    assert names(srv, ("key-name", ["a\\?b"])) == ["a?b"]
    assert names(srv, ("key-name", ["a\\\\b"])) == ["a\\b"]
    assert names(srv, ("key-name", ["a*b"])) == ["a*b", "a?b", "a\\b", "axxb"]


def test_key_name_case_sensitive(srv, inv):
    assert names(srv, ("key-name", ["web-1"])) == ["web-1"]
    assert names(srv, ("key-name", ["WEB-1"])) == []
    assert names(srv, ("key-name", ["W*"])) == ["Web-1"]


def test_key_pair_id(srv, inv):
    a, b = inv["web-1"]["KeyPairId"], inv["db-1"]["KeyPairId"]
    assert names(srv, ("key-pair-id", [a])) == ["web-1"]
    assert names(srv, ("key-pair-id", [a, b])) == ["db-1", "web-1"]
    assert names(srv, ("key-pair-id", ["key-*"])) == sorted(inv)
    assert names(srv, ("key-pair-id", [a[:-1] + "?"])) == ["web-1"]
    assert names(srv, ("key-pair-id", [a.upper()])) == []


def test_fingerprint(srv, inv):
    fp = inv["db-1"]["KeyFingerprint"]
    assert names(srv, ("fingerprint", [fp])) == ["db-1"]
    assert names(srv, ("fingerprint", [fp[:10] + "*"])) == ["db-1"]


def test_fingerprint_rsa(srv, ec2, inv):
    r = ec2.create_key_pair(KeyName="rsa")
    assert names(srv, ("fingerprint", [r["KeyFingerprint"]])) == ["rsa"]
    assert names(srv, ("fingerprint", [r["KeyFingerprint"].upper()])) == []


def test_tag_key(srv, inv):
    assert names(srv, ("tag-key", ["Env"])) == ["db-1", "web-1", "web-12"]
    assert names(srv, ("tag-key", ["env"])) == ["Web-1"]
    assert names(srv, ("tag-key", ["Env", "Owner"])) == ["a*b", "axxb", "db-1", "web-1", "web-12"]
    assert names(srv, ("tag-key", ["R*"])) == ["db-1", "web-1", "web-12"]
    assert names(srv, ("tag-key", ["nope"])) == []


def test_tag_value(srv, inv):
    assert names(srv, ("tag:Env", ["prod"])) == ["db-1", "web-1"]
    assert names(srv, ("tag:Env", ["prod", "dev"])) == ["db-1", "web-1", "web-12"]
    assert names(srv, ("tag:Env", ["PROD"])) == []
    assert names(srv, ("tag:env", ["PROD"])) == ["Web-1"]
    assert names(srv, ("tag:Env", ["p*"])) == ["db-1", "web-1"]
    assert names(srv, ("tag:Env", ["?ev"])) == ["web-12"]
    assert names(srv, ("tag:Owner", ["x*y"])) == ["a*b", "axxb"]
    assert names(srv, ("tag:Owner", ["x\\*y"])) == ["a*b"]
    assert names(srv, ("tag:path", ["C:\\\\dir"])) == ["a\\b"]
    assert names(srv, ("tag:Nope", ["*"])) == []


def test_and_across_filters(srv, inv):
    assert names(srv, ("tag:Env", ["prod"]), ("tag:Role", ["web"])) == ["web-1"]
    assert names(srv, ("key-name", ["web-*"]), ("tag:Env", ["dev"])) == ["web-12"]
    assert names(srv, ("key-name", ["db-*"]), ("tag:Env", ["dev"])) == []
    assert names(srv, ("tag-key", ["Role"]), ("key-pair-id", [inv["db-1"]["KeyPairId"]])) == ["db-1"]


def test_filters_with_key_names(srv, inv):
    assert names(srv, ("tag:Env", ["prod"]), KeyNames=["web-1", "web-12"]) == ["web-1"]


@pytest.mark.parametrize("bad", ["colour", "Key-Name", "keyname", "tag-value"])
def test_unknown_filter(srv, inv, bad):
    with pytest.raises(ClientError) as ei:
        srv.describe(Filters=[{"Name": bad, "Values": ["x"]}])
    err = client_error(ei, "InvalidParameterValue")
    assert bad in err["Message"], f"the message must name the bad filter: {err['Message']!r}"


def test_empty_result_is_empty_keyset(srv, inv):
    r = srv.call("DescribeKeyPairs", {"Filter.1.Name": "key-name", "Filter.1.Value.1": "zzz"})
    r.ok("DescribeKeyPairs")
    assert "<keySet/>" in r.text, r.text


def test_raw_filter_encoding(srv, inv):
    """The flattened form: Filter.N.Name + Filter.N.Value.M (1-based)."""
    r = srv.call("DescribeKeyPairs", {
        "Filter.1.Name": "key-name", "Filter.1.Value.1": "web-1", "Filter.1.Value.2": "db-1",
        "Filter.2.Name": "tag:Env", "Filter.2.Value.1": "prod",
    }).ok("DescribeKeyPairs")
    assert sorted(e.text for e in r.els("keySet/item/keyName")) == ["db-1", "web-1"]


def test_describe_lists_oldest_first_whatever_drives_the_query(srv, ec2, inv):
    """EC2 documents no order; keypaird lists in creation order, as moto does and as suites
    written against moto assert. The same order whichever index serves the filter."""
    created = list(inv)  # the fixture's creation order
    ids = [inv[name]["KeyPairId"] for name in created]
    assert [k["KeyName"] for k in srv.describe()] == created
    in_order = lambda *names: [n for n in created if n in names]  # noqa: E731
    cases = [
        ([{"Name": "tag-key", "Values": ["Env"]}], in_order("web-1", "web-12", "db-1")),
        ([{"Name": "tag:Role", "Values": ["web", "db"]}], in_order("web-1", "web-12", "db-1")),
        ([{"Name": "key-name", "Values": ["a*"]}], in_order("a*b", "axxb", "a?b", "a\\b")),
        ([{"Name": "key-name", "Values": ["*1"]}], in_order("web-1", "db-1", "Web-1")),
        ([{"Name": "key-pair-id", "Values": ids[::-1][:3]}], created[-3:]),
    ]
    for filters, expected in cases:
        assert [k["KeyName"] for k in srv.describe(Filters=filters)] == expected, filters
    # Names and IDs asked for in any order come back in creation order too.
    assert [k["KeyName"] for k in ec2.describe_key_pairs(
        KeyNames=["Web-1", "web-1", "db-1"])["KeyPairs"]] == in_order("web-1", "db-1", "Web-1")
    assert [k["KeyPairId"] for k in ec2.describe_key_pairs(
        KeyPairIds=ids[::-1])["KeyPairs"]] == ids
