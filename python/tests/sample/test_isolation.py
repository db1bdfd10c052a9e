"""Every test's account is its own: no global reset, and safe under pytest-xdist (-n 2)."""

import json

import boto3
import pytest
from aliyunsdkecs.request.v20140526 import DescribeKeyPairsRequest, ImportKeyPairRequest

from sample_keys import ED25519_ECS_FINGERPRINT, ED25519_LINE
from test_aliyun import core_call


@pytest.mark.parametrize("round_", range(6))
def test_same_name_in_every_test(keypaird_account, round_):
    # Six tests import the same name and never delete it: sharing an account would make every
    # one after the first fail with InvalidKeyPair.Duplicate (and list more than one key pair).
    ec2 = boto3.client("ec2")
    imported = ec2.import_key_pair(KeyName="same-name", PublicKeyMaterial=ED25519_LINE.encode())
    assert [k["KeyPairId"] for k in ec2.describe_key_pairs()["KeyPairs"]] == [
        imported["KeyPairId"]
    ]
    request = ImportKeyPairRequest.ImportKeyPairRequest()
    request.set_KeyPairName("same-name")
    request.set_PublicKeyBody(ED25519_LINE)
    core_call(keypaird_account, request)
    described = core_call(keypaird_account, DescribeKeyPairsRequest.DescribeKeyPairsRequest())
    assert [
        (k["KeyPairName"], k["KeyPairFingerPrint"]) for k in described["KeyPairs"]["KeyPair"]
    ] == [("same-name", ED25519_ECS_FINGERPRINT)]


def test_two_accounts_never_see_each_other(keypaird_server, keypaird_account):
    other = keypaird_server.create_account()
    assert other.access_key_id != keypaird_account.access_key_id
    mine = boto3.client("ec2")
    theirs = boto3.client(
        "ec2",
        aws_access_key_id=other.access_key_id,
        aws_secret_access_key=other.secret_access_key,
    )
    my_key = mine.import_key_pair(KeyName="mine", PublicKeyMaterial=ED25519_LINE.encode())
    their_key = theirs.create_key_pair(KeyName="theirs", KeyType="ed25519")
    assert [k["KeyName"] for k in mine.describe_key_pairs()["KeyPairs"]] == ["mine"]
    assert [k["KeyName"] for k in theirs.describe_key_pairs()["KeyPairs"]] == ["theirs"]
    # Filtering by the other account's ID or deleting its name finds nothing to act on.
    other_id = {"Name": "key-pair-id", "Values": [their_key["KeyPairId"]]}
    assert mine.describe_key_pairs(Filters=[other_id])["KeyPairs"] == []
    theirs.delete_key_pair(KeyName="mine")
    assert [k["KeyPairId"] for k in mine.describe_key_pairs()["KeyPairs"]] == [my_key["KeyPairId"]]

    request = ImportKeyPairRequest.ImportKeyPairRequest()
    request.set_KeyPairName("theirs-ecs")
    request.set_PublicKeyBody(ED25519_LINE)
    core_call(other, request)
    mine_in_ecs = core_call(keypaird_account, DescribeKeyPairsRequest.DescribeKeyPairsRequest())
    theirs_in_ecs = core_call(other, DescribeKeyPairsRequest.DescribeKeyPairsRequest())
    assert (mine_in_ecs["TotalCount"], mine_in_ecs["KeyPairs"]["KeyPair"]) == (0, [])
    assert [k["KeyPairName"] for k in theirs_in_ecs["KeyPairs"]["KeyPair"]] == ["theirs-ecs"]
    assert json.dumps(mine_in_ecs).count("theirs") == 0
