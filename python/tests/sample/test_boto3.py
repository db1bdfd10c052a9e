"""EC2 through boto3, configured by nothing but the environment keypaird_account sets."""

import re

import boto3
import pytest
from botocore.exceptions import ClientError

from sample_keys import (
    ED25519_EC2_FINGERPRINT,
    ED25519_LINE,
    RSA_EC2_FINGERPRINT,
    RSA_LINE,
    ec2_ed25519_fingerprint,
    openssh_private_key_public_blob,
)

KEY_PAIR_ID = re.compile(r"^key-[0-9a-f]{17}$")


def test_create_describe_delete(keypaird_account):
    ec2 = boto3.client("ec2")
    created = ec2.create_key_pair(KeyName="sample-created", KeyType="ed25519")
    assert created["KeyName"] == "sample-created"
    assert KEY_PAIR_ID.match(created["KeyPairId"]), created["KeyPairId"]
    blob = openssh_private_key_public_blob(created["KeyMaterial"])
    assert created["KeyFingerprint"] == ec2_ed25519_fingerprint(blob)
    [described] = ec2.describe_key_pairs()["KeyPairs"]
    assert (
        described["KeyName"],
        described["KeyPairId"],
        described["KeyFingerprint"],
        described["KeyType"],
    ) == ("sample-created", created["KeyPairId"], created["KeyFingerprint"], "ed25519")
    ec2.delete_key_pair(KeyPairId=created["KeyPairId"])
    assert ec2.describe_key_pairs()["KeyPairs"] == []


@pytest.mark.parametrize(
    "line, key_type, fingerprint",
    [(ED25519_LINE, "ed25519", ED25519_EC2_FINGERPRINT), (RSA_LINE, "rsa", RSA_EC2_FINGERPRINT)],
    ids=["ed25519", "rsa"],
)
def test_import_describe_delete(keypaird_account, line, key_type, fingerprint):
    ec2 = boto3.client("ec2")
    imported = ec2.import_key_pair(KeyName="sample-imported", PublicKeyMaterial=line.encode())
    assert imported["KeyName"] == "sample-imported"
    assert imported["KeyFingerprint"] == fingerprint
    [described] = ec2.describe_key_pairs(KeyNames=["sample-imported"], IncludePublicKey=True)[
        "KeyPairs"
    ]
    assert (
        described["KeyPairId"],
        described["KeyFingerprint"],
        described["KeyType"],
        described["PublicKey"],
    ) == (imported["KeyPairId"], fingerprint, key_type, line)
    with pytest.raises(ClientError) as duplicate:
        ec2.import_key_pair(KeyName="sample-imported", PublicKeyMaterial=line.encode())
    assert duplicate.value.response["Error"] == {
        "Code": "InvalidKeyPair.Duplicate",
        "Message": "The keypair 'sample-imported' already exists.",
    }
    assert duplicate.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ec2.delete_key_pair(KeyName="sample-imported")
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_explicit_client_arguments(keypaird_account):
    # The same account, for code that passes everything explicitly instead of reading the
    # environment.
    ec2 = boto3.client(
        "ec2",
        endpoint_url=keypaird_account.endpoint_url,
        region_name=keypaird_account.region,
        aws_access_key_id=keypaird_account.access_key_id,
        aws_secret_access_key=keypaird_account.secret_access_key,
    )
    imported = ec2.import_key_pair(KeyName="explicit", PublicKeyMaterial=ED25519_LINE.encode())
    assert [k["KeyPairId"] for k in boto3.client("ec2").describe_key_pairs()["KeyPairs"]] == [
        imported["KeyPairId"]
    ]
