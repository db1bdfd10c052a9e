"""ECS through both Alibaba SDKs: aliyun-python-sdk-core (RPC v1 signatures) and the Tea SDK
alibabacloud-ecs20140526 (V3 signatures), pointed at keypaird_account.aliyun_endpoint."""

import base64
import json

from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526 import (
    DeleteKeyPairsRequest,
    DescribeKeyPairsRequest,
    ImportKeyPairRequest,
)
from alibabacloud_ecs20140526 import models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.models import Config
from cryptography.hazmat.primitives import serialization

from sample_keys import (
    ED25519_ECS_FINGERPRINT,
    ED25519_LINE,
    RSA_ECS_FINGERPRINT,
    RSA_LINE,
    md5_colon_hex,
)


def core_call(account, request):
    host, port = account.aliyun_endpoint.split(":")
    client = AcsClient(
        account.access_key_id, account.secret_access_key, account.region, port=int(port)
    )
    request.set_endpoint(host)
    request.set_protocol_type("http")
    request.set_accept_format("json")
    return json.loads(client.do_action_with_exception(request))


def tea_client(account):
    return EcsClient(
        Config(
            endpoint=account.aliyun_endpoint,
            protocol="http",
            region_id=account.region,
            access_key_id=account.access_key_id,
            access_key_secret=account.secret_access_key,
        )
    )


def test_core_sdk_import_describe_delete(keypaird_account):
    request = ImportKeyPairRequest.ImportKeyPairRequest()
    request.set_KeyPairName("core-imported")
    request.set_PublicKeyBody(ED25519_LINE)
    imported = core_call(keypaird_account, request)
    assert (imported["KeyPairName"], imported["KeyPairFingerPrint"]) == (
        "core-imported",
        ED25519_ECS_FINGERPRINT,
    )
    request = DescribeKeyPairsRequest.DescribeKeyPairsRequest()
    request.set_KeyPairName("core-*")
    described = core_call(keypaird_account, request)
    assert described["TotalCount"] == 1
    assert [
        (k["KeyPairName"], k["KeyPairFingerPrint"]) for k in described["KeyPairs"]["KeyPair"]
    ] == [("core-imported", ED25519_ECS_FINGERPRINT)]
    request = DeleteKeyPairsRequest.DeleteKeyPairsRequest()
    request.set_KeyPairNames(json.dumps(["core-imported"]))
    core_call(keypaird_account, request)
    assert core_call(keypaird_account, DescribeKeyPairsRequest.DescribeKeyPairsRequest())[
        "TotalCount"
    ] == 0


def test_tea_sdk_import_create_describe_delete(keypaird_account):
    ecs = tea_client(keypaird_account)
    region = keypaird_account.region
    imported = ecs.import_key_pair(
        models.ImportKeyPairRequest(
            region_id=region, key_pair_name="tea-imported", public_key_body=RSA_LINE
        )
    ).body
    assert (imported.key_pair_name, imported.key_pair_finger_print) == (
        "tea-imported",
        RSA_ECS_FINGERPRINT,
    )
    created = ecs.create_key_pair(
        models.CreateKeyPairRequest(region_id=region, key_pair_name="tea-created")
    ).body
    # ECS hands out an RSA key as PKCS#8 PEM; its fingerprint is the MD5 of its SSH blob.
    private_key = serialization.load_pem_private_key(created.private_key_body.encode(), None)
    ssh_line = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(ssh_line.split()[1])
    assert created.key_pair_finger_print == md5_colon_hex(blob)
    page = ecs.describe_key_pairs(
        models.DescribeKeyPairsRequest(region_id=region, page_size=50)
    ).body
    assert page.total_count == 2
    assert [(k.key_pair_name, k.key_pair_finger_print) for k in page.key_pairs.key_pair] == [
        ("tea-created", created.key_pair_finger_print),
        ("tea-imported", RSA_ECS_FINGERPRINT),
    ]
    ecs.delete_key_pairs(
        models.DeleteKeyPairsRequest(
            region_id=region, key_pair_names=json.dumps(["tea-imported", "tea-created"])
        )
    )
    page = ecs.describe_key_pairs(models.DescribeKeyPairsRequest(region_id=region)).body
    assert (page.total_count, page.key_pairs.key_pair) == (0, [])
