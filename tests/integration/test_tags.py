"""Tags: TagSpecification on create/import, CreateTags, DeleteTags (with and without value),
DescribeTags (filters, paging), limits (50 tags, 127/256 characters, no 'aws:' prefix)."""

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import assert_error_envelope, client_error


def spec(*pairs):
    return [{"ResourceType": "key-pair", "Tags": [{"Key": k, "Value": v} for k, v in pairs]}]


def tagdict(tags):
    return {t["Key"]: t["Value"] for t in tags}


def describe_tags(ec2, **kw):
    out = []
    token = None
    while True:
        args = dict(kw)
        if token:
            args["NextToken"] = token
        r = ec2.describe_tags(**args)
        out += r["Tags"]
        token = r.get("NextToken")
        if not token:
            return out


def test_tag_specification_on_create(srv, ec2):
    r = ec2.create_key_pair(KeyName="t", KeyType="ed25519",
                            TagSpecifications=spec(("Env", "prod"), ("Owner", "me")))
    assert tagdict(r["Tags"]) == {"Env": "prod", "Owner": "me"}
    [k] = srv.describe(KeyNames=["t"])
    assert tagdict(k["Tags"]) == {"Env": "prod", "Owner": "me"}
    tags = describe_tags(ec2, Filters=[{"Name": "resource-id", "Values": [r["KeyPairId"]]}])
    assert sorted((t["Key"], t["Value"], t["ResourceId"], t["ResourceType"]) for t in tags) == [
        ("Env", "prod", r["KeyPairId"], "key-pair"), ("Owner", "me", r["KeyPairId"], "key-pair")]


def test_tag_specification_on_import(srv, ec2, keys):
    data = Path(str(keys["ed25519"]) + ".pub").read_bytes()
    r = ec2.import_key_pair(KeyName="i", PublicKeyMaterial=data, TagSpecifications=spec(("a", "1")))
    assert tagdict(r["Tags"]) == {"a": "1"}
    [k] = srv.describe(KeyNames=["i"])
    assert tagdict(k["Tags"]) == {"a": "1"}


def test_tag_specification_wrong_resource_type(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="w", KeyType="ed25519",
                            TagSpecifications=[{"ResourceType": "instance",
                                                "Tags": [{"Key": "a", "Value": "b"}]}])
    client_error(ei, "InvalidParameterValue")
    assert srv.describe() == []


def test_create_tags_add_and_overwrite(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519", TagSpecifications=spec(("Env", "dev")))
    b = ec2.create_key_pair(KeyName="b", KeyType="ed25519")
    r = ec2.create_tags(Resources=[a["KeyPairId"], b["KeyPairId"]],
                        Tags=[{"Key": "Env", "Value": "prod"}, {"Key": "Team", "Value": "x"}])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = {k["KeyName"]: tagdict(k["Tags"]) for k in srv.describe()}
    assert got == {"a": {"Env": "prod", "Team": "x"}, "b": {"Env": "prod", "Team": "x"}}


def test_tag_keys_are_case_sensitive(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    ec2.create_tags(Resources=[a["KeyPairId"]],
                    Tags=[{"Key": "Env", "Value": "1"}, {"Key": "env", "Value": "2"}])
    [k] = srv.describe()
    assert tagdict(k["Tags"]) == {"Env": "1", "env": "2"}


def test_empty_tag_value(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "flag", "Value": ""}])
    [k] = srv.describe()
    assert tagdict(k["Tags"]) == {"flag": ""}


def test_delete_tags_without_value_deletes_any_value(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                            TagSpecifications=spec(("x", "1"), ("y", "2"), ("z", "3")))
    ec2.delete_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "x"}, {"Key": "y"}])
    [k] = srv.describe()
    assert tagdict(k["Tags"]) == {"z": "3"}


def test_delete_tags_with_value_deletes_only_matching(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                            TagSpecifications=spec(("x", "1"), ("y", "2"), ("e", ""), ("f", "v")))
    ec2.delete_tags(Resources=[a["KeyPairId"]],
                    Tags=[{"Key": "x", "Value": "1"}, {"Key": "y", "Value": "nope"},
                          {"Key": "e", "Value": ""}, {"Key": "f", "Value": ""}])
    [k] = srv.describe()
    assert tagdict(k["Tags"]) == {"y": "2", "f": "v"}


def test_delete_tags_case_sensitive_and_missing_key_ok(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519", TagSpecifications=spec(("Env", "1")))
    ec2.delete_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "env"}, {"Key": "absent"}])
    [k] = srv.describe()
    assert tagdict(k["Tags"]) == {"Env": "1"}


def test_fifty_tag_limit(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                            TagSpecifications=spec(*[(f"k{i}", str(i)) for i in range(40)]))
    ec2.create_tags(Resources=[a["KeyPairId"]],
                    Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(40, 50)])
    # Overwriting an existing key does not add a tag: still 50.
    ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "k0", "Value": "new"}])
    [k] = srv.describe()
    assert len(k["Tags"]) == 50
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "k50", "Value": "x"}])
    # The reference's table words a bad tag as InvalidParameterValue; real EC2 says
    # TagLimitExceeded. Either is an honest answer; the status must be 400 and nothing written.
    code = ei.value.response["Error"]["Code"]
    assert code in ("TagLimitExceeded", "InvalidParameterValue"), ei.value.response["Error"]
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    [k] = srv.describe()
    assert len(k["Tags"]) == 50 and "k50" not in tagdict(k["Tags"])
    assert tagdict(k["Tags"])["k0"] == "new"


def test_fifty_one_tags_on_create_refused_nothing_written(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                            TagSpecifications=spec(*[(f"k{i}", "v") for i in range(51)]))
    assert ei.value.response["Error"]["Code"] in ("TagLimitExceeded", "InvalidParameterValue")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert srv.describe() == []
    ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                        TagSpecifications=spec(*[(f"k{i}", "v") for i in range(50)]))


@pytest.mark.parametrize("key", ["aws:foo", "aws:"])
def test_aws_prefix_refused(srv, ec2, key):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": key, "Value": "x"}])
    err = client_error(ei, "InvalidParameterValue")
    assert "aws:" in err["Message"]
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="b", KeyType="ed25519", TagSpecifications=spec((key, "x")))
    client_error(ei, "InvalidParameterValue")
    assert [k["KeyName"] for k in srv.describe()] == ["a"]
    assert srv.describe()[0]["Tags"] == []


def test_aws_prefix_is_case_sensitive_prefix_only(srv, ec2):
    # 'AWS:' and 'xaws:' are not the reserved prefix (tag keys are case-sensitive).
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    ec2.create_tags(Resources=[a["KeyPairId"]],
                    Tags=[{"Key": "xaws:foo", "Value": "1"}, {"Key": "awsfoo", "Value": "2"}])
    assert tagdict(srv.describe()[0]["Tags"]) == {"xaws:foo": "1", "awsfoo": "2"}


def test_tag_lengths(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "k" * 127, "Value": "v" * 256}])
    assert tagdict(srv.describe()[0]["Tags"]) == {"k" * 127: "v" * 256}
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "k" * 128, "Value": "v"}])
    client_error(ei, "InvalidParameterValue")
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "x", "Value": "v" * 257}])
    client_error(ei, "InvalidParameterValue")
    assert tagdict(srv.describe()[0]["Tags"]) == {"k" * 127: "v" * 256}


def test_unicode_tag_round_trip(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    ec2.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "Équipe", "Value": "数据 <&> \"'"}])
    assert tagdict(srv.describe()[0]["Tags"]) == {"Équipe": "数据 <&> \"'"}


def test_create_tags_unknown_key_pair_id(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    client_error(ei, "InvalidKeyPair.NotFound",
                 "The key pair ID 'key-0123456789abcdef0' does not exist")


def test_create_tags_missing_resource(srv):
    r = srv.call("CreateTags", {"Tag.1.Key": "a", "Tag.1.Value": "b"})
    r.error("MissingParameter")
    assert "ResourceId" in r.message


def test_tags_removed_with_key_pair(srv, ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519", TagSpecifications=spec(("x", "1")))
    ec2.delete_key_pair(KeyName="a")
    assert describe_tags(ec2) == []
    b = ec2.create_key_pair(KeyName="a", KeyType="ed25519")
    assert srv.describe()[0]["Tags"] == []
    assert b["KeyPairId"] != a["KeyPairId"]


def _three(ec2):
    a = ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                            TagSpecifications=spec(("Env", "prod"), ("Team", "red")))["KeyPairId"]
    b = ec2.create_key_pair(KeyName="b", KeyType="ed25519",
                            TagSpecifications=spec(("Env", "dev"), ("Cost", "12")))["KeyPairId"]
    c = ec2.create_key_pair(KeyName="c", KeyType="ed25519")["KeyPairId"]
    return a, b, c


def keyset(tags):
    return sorted((t["ResourceId"], t["Key"], t["Value"]) for t in tags)


def test_describe_tags_all_and_filters(srv, ec2):
    a, b, c = _three(ec2)
    allt = describe_tags(ec2)
    assert keyset(allt) == sorted([(a, "Env", "prod"), (a, "Team", "red"),
                                   (b, "Env", "dev"), (b, "Cost", "12")])
    assert all(t["ResourceType"] == "key-pair" for t in allt)
    assert keyset(describe_tags(ec2, Filters=[{"Name": "resource-id", "Values": [b]}])) == sorted(
        [(b, "Env", "dev"), (b, "Cost", "12")])
    assert keyset(describe_tags(ec2, Filters=[{"Name": "key", "Values": ["Env"]}])) == sorted(
        [(a, "Env", "prod"), (b, "Env", "dev")])
    assert keyset(describe_tags(ec2, Filters=[{"Name": "value", "Values": ["prod", "12"]}])) == sorted(
        [(a, "Env", "prod"), (b, "Cost", "12")])
    assert keyset(describe_tags(ec2, Filters=[{"Name": "key", "Values": ["Env"]},
                                              {"Name": "value", "Values": ["dev"]}])) == [(b, "Env", "dev")]
    assert len(describe_tags(ec2, Filters=[{"Name": "resource-type", "Values": ["key-pair"]}])) == 4
    assert describe_tags(ec2, Filters=[{"Name": "resource-type", "Values": ["instance"]}]) == []
    # tag:<key> selects resources having that tag value and lists their matching tags.
    got = describe_tags(ec2, Filters=[{"Name": "tag:Env", "Values": ["prod"]}])
    assert {t["ResourceId"] for t in got} == {a}
    # Wildcards
    assert keyset(describe_tags(ec2, Filters=[{"Name": "key", "Values": ["T*"]}])) == [(a, "Team", "red")]
    assert keyset(describe_tags(ec2, Filters=[{"Name": "value", "Values": ["d?v"]}])) == [(b, "Env", "dev")]
    assert describe_tags(ec2, Filters=[{"Name": "key", "Values": ["env"]}]) == []  # case-sensitive


def test_describe_tags_unknown_filter(srv, ec2):
    _three(ec2)
    with pytest.raises(ClientError) as ei:
        ec2.describe_tags(Filters=[{"Name": "colour", "Values": ["x"]}])
    err = client_error(ei, "InvalidParameterValue")
    assert "colour" in err["Message"]


def test_describe_tags_paging(srv, ec2):
    ec2.create_key_pair(KeyName="a", KeyType="ed25519",
                        TagSpecifications=spec(*[(f"k{i:02}", str(i)) for i in range(12)]))
    r1 = ec2.describe_tags(MaxResults=5)
    assert len(r1["Tags"]) == 5 and r1.get("NextToken")
    r2 = ec2.describe_tags(MaxResults=5, NextToken=r1["NextToken"])
    assert len(r2["Tags"]) == 5 and r2.get("NextToken")
    r3 = ec2.describe_tags(MaxResults=5, NextToken=r2["NextToken"])
    assert len(r3["Tags"]) == 2 and not r3.get("NextToken")
    keys_seen = [t["Key"] for t in r1["Tags"] + r2["Tags"] + r3["Tags"]]
    assert sorted(keys_seen) == [f"k{i:02}" for i in range(12)], "no tag twice, none missing"
    r = ec2.describe_tags(MaxResults=1000)
    assert len(r["Tags"]) == 12 and not r.get("NextToken")


@pytest.mark.parametrize("n", [4, 1001, 0])
def test_describe_tags_max_results_range(srv, n):
    r = srv.call("DescribeTags", {"MaxResults": str(n)})
    r.error("InvalidParameterValue")


def test_describe_tags_bad_next_token(srv, ec2):
    _three(ec2)
    r = srv.call("DescribeTags", {"MaxResults": "5", "NextToken": "garbage!!"})
    assert_error_envelope(r)
    assert r.code in ("InvalidParameterValue", "InvalidPaginationToken") and r.status == 400, r
