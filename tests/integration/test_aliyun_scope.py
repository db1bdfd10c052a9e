"""Key pairs of the Alibaba dialect live in the provider `aliyun` scope of the same store and the same
accounts (reference and issue 4: same port, same binary, same access keys): a key made through the
AWS dialect (boto3) is not listed here and the other way round, the same name may exist in both, and
regions are separate."""

import json

from aliyun_support import Core, Tea, create, ed25519_line, import_key, items, names, v1_call, v3_call


def test_aws_and_aliyun_keys_do_not_see_each_other(srv, ec2):
    aws = ec2.create_key_pair(KeyName="shared", KeyType="ed25519")
    for region in ("us-east-1", "cn-hangzhou"):
        assert names(srv, region=region) == [], f"an AWS key must not show in Alibaba {region}"
        assert v3_call(srv, "DescribeKeyPairs", {}, region=region).ok().body["TotalCount"] == 0
    # the same name is free in the aliyun scope, even in the region of the same name
    ali = create(srv, "shared", region="us-east-1")
    assert ali["KeyPairFingerPrint"] != aws["KeyFingerprint"]
    [it] = items(srv, region="us-east-1")
    assert it["KeyPairFingerPrint"] == ali["KeyPairFingerPrint"]
    aws_keys = ec2.describe_key_pairs()["KeyPairs"]
    assert [(k["KeyName"], k["KeyPairId"]) for k in aws_keys] == [("shared", aws["KeyPairId"])]
    # deleting on one side leaves the other alone
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["shared"]'}, region="us-east-1").ok()
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["shared"]
    create(srv, "shared", region="us-east-1")
    ec2.delete_key_pair(KeyName="shared")
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert names(srv, region="us-east-1") == ["shared"]


def test_aliyun_key_not_listed_by_aws(srv, ec2):
    import_key(srv, "ali-only", ed25519_line(), region="us-east-1")
    Core(srv, region="us-east-1").do("CreateKeyPair", KeyPairName="ali-core")
    Tea(srv, region="us-east-1").call("CreateKeyPair", key_pair_name="ali-tea")
    assert sorted(names(srv, region="us-east-1")) == ["ali-core", "ali-only", "ali-tea"]
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    # and an AWS import of the same public key under the same name is a different key pair
    ec2.import_key_pair(KeyName="ali-only", PublicKeyMaterial=ed25519_line().encode())
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["ali-only"]
    assert sorted(names(srv, region="us-east-1")) == ["ali-core", "ali-only", "ali-tea"]


def test_aws_tags_and_aliyun_tags_are_separate(srv, ec2):
    r = ec2.create_key_pair(KeyName="both", KeyType="ed25519",
                            TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "side", "Value": "aws"}]}])
    import_key(srv, "both", ed25519_line(), region="us-east-1", **{"Tag.1.Key": "side", "Tag.1.Value": "ali"})
    [it] = items(srv, region="us-east-1")
    assert it["Tags"]["Tag"] == [{"TagKey": "side", "TagValue": "ali"}]
    [k] = ec2.describe_key_pairs(KeyPairIds=[r["KeyPairId"]])["KeyPairs"]
    assert k["Tags"] == [{"Key": "side", "Value": "aws"}]


def test_regions_are_separate(srv):
    create(srv, "regional", region="cn-hangzhou")
    assert names(srv, region="cn-beijing") == []
    create(srv, "regional", region="cn-beijing")
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps(["regional"])}, region="cn-beijing").ok()
    assert names(srv, region="cn-hangzhou") == ["regional"]
    assert names(srv, region="cn-beijing") == []
    v1_call(srv, "AttachKeyPair", {"KeyPairName": "regional", "InstanceIds": '["i-1"]'},
            region="cn-beijing").error("InvalidKeyPairName.NotFound")


def test_keys_survive_a_restart(account, keypaird, store):
    srv = keypaird()
    made = create(srv, "durable", ResourceGroupId="rg-d", **{"Tag.1.Key": "k", "Tag.1.Value": "v"})
    srv.stop()
    srv2 = keypaird(store)
    [it] = items(srv2, IncludePublicKey="true")
    assert (it["KeyPairName"], it["KeyPairFingerPrint"], it["ResourceGroupId"]) == (
        "durable", made["KeyPairFingerPrint"], "rg-d")
    assert it["Tags"]["Tag"] == [{"TagKey": "k", "TagValue": "v"}]
