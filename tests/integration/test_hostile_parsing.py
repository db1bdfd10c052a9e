"""Work before authentication is linear and small, and every request limit answers with its
dialect's documented 4xx: at the limit accepted, one past it refused (docs/decisions.md,
"Request limits"). Also the degenerate public keys that both dialects refuse.

Limits (both dialects unless named): 2,000 parameters a request; 8,192 bytes for any decoded
name or value, 131,072 for EC2 `PublicKeyMaterial` and ECS `PublicKeyBody`/`KeyPairNames`;
EC2 filters: 200 values a call, 255 characters a value, 50 filters, 2,550 characters after
the first `*` of every value together; ECS `KeyPairName` patterns 255 characters.
"""

import base64
import secrets
import struct
import time

import requests

from aliyun_support import FORM_CT as ALI_FORM_CT
from aliyun_support import describe, ed25519_line, import_key, msg_invalid, v1_call
from support import FORM_CT, MSG_AUTH_FAILURE, Reply, call

MAX_PARAMETERS = 2000
MAX_VALUE = 8192
MAX_LONG_VALUE = 128 * 1024
TOO_MANY = f"The request holds more than {MAX_PARAMETERS} parameters."
# Parameters each signed request carries besides the ones a test adds.
EC2_COMMON = 2  # Action, Version (the signature travels in headers)
ECS_COMMON = 10  # Action, Version, Format, AccessKeyId, SignatureMethod, SignatureVersion,
#                  SignatureNonce, Timestamp, Signature, RegionId


def fifty_thousand_names(prefix: bytes) -> bytes:
    """About 250 KB: 50,000 distinct names without values, after `prefix`."""
    body = prefix + b"&".join(format(i, "x").encode() for i in range(50_000))
    assert 240_000 < len(body) < 256 * 1024, len(body)
    return body


def timed(send):
    start = time.monotonic()
    reply = send()
    return reply, time.monotonic() - start


def post(srv, body: bytes, content_type: str) -> requests.Response:
    return requests.post(srv.url + "/", data=body, headers={"Content-Type": content_type}, timeout=60)


# --------------------------------------------------------------------------------------------
# 50,000 parameters


def test_fifty_thousand_names_unsigned_are_refused_in_milliseconds(srv):
    normal, normal_s = timed(lambda: Reply(post(srv, b"Action=DescribeKeyPairs&Version=2016-11-15", FORM_CT)))
    normal.error("MissingAuthenticationToken")
    big = fifty_thousand_names(b"Action=DescribeKeyPairs&Version=2016-11-15&")
    ec2, ec2_s = timed(lambda: Reply(post(srv, big, FORM_CT)))
    # EC2 answers who is calling before what is asked: the count only spares the decoding.
    ec2.error("MissingAuthenticationToken", "Request is missing Authentication Token")
    ecs_big = fifty_thousand_names(b"Action=DescribeKeyPairs&Version=2014-05-26&Format=JSON&")
    ecs, ecs_s = timed(lambda: post(srv, ecs_big, ALI_FORM_CT))
    assert ecs.status_code == 400, ecs.text[:500]
    assert ecs.json()["Code"] == "InvalidParameter"
    assert ecs.json()["Message"] == TOO_MANY
    # The quadratic scan took 3.2 s on a release build; a debug build refuses it in milliseconds.
    assert ec2_s < 1.0 and ecs_s < 1.0, (normal_s, ec2_s, ecs_s)
    assert srv.alive()


def test_fifty_thousand_names_signed_get_the_limit(srv):
    body = fifty_thousand_names(b"Action=DescribeKeyPairs&Version=2016-11-15&")
    r, seconds = timed(lambda: call(srv.url, None, version=None, body=body, creds=srv.creds))
    r.error("InvalidParameterValue", TOO_MANY)
    assert seconds < 1.0, seconds


def test_unsigned_unknown_key_still_answers_auth_failure_first(srv):
    body = fifty_thousand_names(b"Action=DescribeKeyPairs&Version=2016-11-15&")
    r = call(srv.url, None, version=None, body=body, creds=("x", "AKIAUNKNOWNUNKNOWN00", "s" * 40))
    r.error("AuthFailure", MSG_AUTH_FAILURE)


# --------------------------------------------------------------------------------------------
# Parameter count, at the limit and one past


def test_ec2_parameter_count_limit(srv):
    srv.call("ImportKeyPair", {"KeyName": "only", "PublicKeyMaterial": ed25519_line()}).ok("ImportKeyPair")
    # The same name under every KeyName.N: a real (if odd) call at the limit.
    at = {f"KeyName.{i}": "only" for i in range(1, MAX_PARAMETERS - EC2_COMMON + 1)}
    r = srv.call("DescribeKeyPairs", at).ok("DescribeKeyPairs")
    assert [e.text for e in r.els("keySet/item/keyName")] == ["only"]
    past = {**at, f"KeyName.{MAX_PARAMETERS - EC2_COMMON + 1}": "only"}
    srv.call("DescribeKeyPairs", past).error("InvalidParameterValue", TOO_MANY)


def test_ecs_parameter_count_limit(srv):
    # ECS ignores parameters it does not know, so filler reaches the limit on a real call.
    at = {f"Filler{i}": "x" for i in range(MAX_PARAMETERS - ECS_COMMON)}
    assert v1_call(srv, "DescribeKeyPairs", at).ok().body["TotalCount"] == 0
    past = {**at, "OneMore": "x"}
    v1_call(srv, "DescribeKeyPairs", past).error("InvalidParameter", TOO_MANY)
    # Split between query and body, the parameters count together.
    v1_call(srv, "DescribeKeyPairs", past, where="split").error("InvalidParameter", TOO_MANY)


# --------------------------------------------------------------------------------------------
# Lengths of names and values


def key_line_of_length(length: int) -> str:
    """A valid ed25519 OpenSSH line of exactly `length` characters (the comment pads it)."""
    line = ed25519_line("c")
    return line + "x" * (length - len(line))


def test_ec2_value_length_limits(srv):
    # At the cap the value reaches the parameter's own check; past it, the cap answers.
    r = srv.call("CreateKeyPair", {"KeyName": "n" * MAX_VALUE})
    r.error("InvalidParameterValue")
    assert r.message.endswith("for parameter KeyName is invalid. Length exceeds maximum of 255 characters."), r.message
    srv.call("CreateKeyPair", {"KeyName": "n" * (MAX_VALUE + 1)}).error(
        "InvalidParameterValue", f"Value for parameter KeyName is invalid. Length exceeds maximum of {MAX_VALUE} bytes.")
    srv.call("DescribeKeyPairs", {"n" * MAX_VALUE: "x"}).error("UnknownParameter")
    srv.call("DescribeKeyPairs", {"n" * (MAX_VALUE + 1): "x"}).error(
        "InvalidParameterValue", f"A parameter name exceeds the maximum length of {MAX_VALUE} bytes.")
    # PublicKeyMaterial as key text (the curl-friendly form), a key with a long comment.
    at = key_line_of_length(MAX_LONG_VALUE)
    srv.call("ImportKeyPair", {"KeyName": "long-comment", "PublicKeyMaterial": at}).ok("ImportKeyPair")
    srv.call("ImportKeyPair", {"KeyName": "too-long", "PublicKeyMaterial": at + "x"}).error(
        "InvalidParameterValue",
        f"Value for parameter PublicKeyMaterial is invalid. Length exceeds maximum of {MAX_LONG_VALUE} bytes.")
    assert [k["KeyName"] for k in srv.describe()] == ["long-comment"]


def test_ecs_value_length_limits(srv):
    assert v1_call(srv, "DescribeKeyPairs", {"Padding": "p" * MAX_VALUE}).ok().body["TotalCount"] == 0
    v1_call(srv, "DescribeKeyPairs", {"Padding": "p" * (MAX_VALUE + 1)}).error(
        "InvalidParameter", msg_invalid("Padding"))
    # Past the cap a parameter answers with its own code, as its check would for a long value.
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "n" * (MAX_VALUE + 1)}).error("InvalidKeyPairName.Malformed")
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "x",
                                  "Tag.1.Key": "k", "Tag.1.Value": "v" * (MAX_VALUE + 1)},
            where="body").error("InvalidTagValue.Malformed")
    at = key_line_of_length(MAX_LONG_VALUE)
    v1_call(srv, "ImportKeyPair", {"KeyPairName": "long-comment", "PublicKeyBody": at}, where="body").ok("ImportKeyPair")
    v1_call(srv, "ImportKeyPair", {"KeyPairName": "too-long", "PublicKeyBody": at + "x"},
            where="body").error("InvalidPublicKeyBody.Malformed")
    assert [k["KeyPairName"] for k in describe(srv)["KeyPairs"]["KeyPair"]] == ["long-comment"]


# --------------------------------------------------------------------------------------------
# Filters and patterns


def filters(n_filters: int, n_values: int, value: str) -> dict:
    params = {f"Filter.{f}.Name": "key-name" for f in range(1, n_filters + 1)}
    for f in range(1, n_filters + 1):
        params[f"Filter.{f}.Value.1"] = value
    for v in range(2, n_values - n_filters + 2):
        params[f"Filter.1.Value.{v}"] = value
    return params


def test_ec2_filter_limits(srv):
    srv.call("ImportKeyPair", {"KeyName": "k" * 200, "PublicKeyMaterial": ed25519_line()}).ok("ImportKeyPair")
    pattern = "k" * 254 + "*"
    r = srv.call("DescribeKeyPairs", filters(1, 200, pattern)).ok("DescribeKeyPairs")
    assert r.els("keySet/item") == []
    srv.call("DescribeKeyPairs", filters(1, 201, pattern)).error(
        "FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200", status=400)
    # Values of all filters count together.
    srv.call("DescribeKeyPairs", filters(2, 201, "k*")).error(
        "FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200", status=400)
    r = srv.call("DescribeKeyPairs", filters(1, 1, "k" * 199 + "*")).ok("DescribeKeyPairs")
    assert len(r.els("keySet/item")) == 1
    srv.call("DescribeKeyPairs", filters(1, 1, "k" * 256)).error(
        "FilterLimitExceeded", "The maximum length for a filter value is 255 characters", status=400)
    r = srv.call("DescribeKeyPairs", filters(50, 50, "k*")).ok("DescribeKeyPairs")
    assert len(r.els("keySet/item")) == 1
    srv.call("DescribeKeyPairs", filters(51, 51, "k*")).error(
        "FilterLimitExceeded", "The maximum number of filters specified on a single call is 50", status=400)
    # What follows a value's first `*`, summed over the call, is at most 2,550 characters.
    tails = {**filters(1, 10, "*" + "k" * 254), "Filter.1.Value.11": "*" + "k" * 9 + "x"}
    r = srv.call("DescribeKeyPairs", tails).ok("DescribeKeyPairs")
    assert r.els("keySet/item") == []
    srv.call("DescribeKeyPairs", {**tails, "Filter.1.Value.12": "*k"}).error(
        "FilterLimitExceeded", "The filter values hold more than 2550 characters after a wildcard '*'", status=400)
    # DescribeTags reads its filters the same way.
    srv.call("DescribeTags", {"Filter.1.Name": "key", **{f"Filter.1.Value.{v}": "x" for v in range(1, 202)}}).error(
        "FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200", status=400)


def test_ecs_name_pattern_limit(srv):
    import_key(srv, "k" + "a" * 127, ed25519_line())
    assert describe(srv, KeyPairName="*" + "a" * 253 + "*")["TotalCount"] == 0
    assert describe(srv, KeyPairName="k" + "*" * 254)["TotalCount"] == 1
    v1_call(srv, "DescribeKeyPairs", {"KeyPairName": "*" + "a" * 254 + "*"}).error("InvalidKeyPairName.Malformed")


# --------------------------------------------------------------------------------------------
# Degenerate public keys


def ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def mpint(n: int) -> bytes:
    return ssh_string(n.to_bytes((n.bit_length() + 8) // 8, "big"))


def ed25519_of(point: bytes) -> str:
    return "ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(point)).decode() + " c"


def rsa_of(e: int, n: int) -> str:
    return "ssh-rsa " + base64.b64encode(ssh_string(b"ssh-rsa") + mpint(e) + mpint(n)).decode() + " c"


def odd_modulus(bits: int) -> int:
    return secrets.randbits(bits) | (1 << (bits - 1)) | 1


def degenerate_keys() -> dict:
    n = odd_modulus(2048)
    order_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    return {
        "ed25519-all-zero": ed25519_of(bytes(32)),
        "ed25519-identity": ed25519_of(b"\x01" + bytes(31)),
        "ed25519-order-8": ed25519_of(order_8),
        "rsa-exponent-is-modulus": rsa_of(n, n),
        "rsa-exponent-65536-bits": rsa_of((1 << 65535) | 1, n),
        "rsa-exponent-34-bits": rsa_of((1 << 33) | 1, n),
        "rsa-exponent-even": rsa_of(65536, n),
        "rsa-exponent-1": rsa_of(1, n),
    }


def test_ec2_refuses_degenerate_keys(srv):
    for name, line in degenerate_keys().items():
        for material in (line, base64.b64encode(line.encode()).decode()):
            srv.call("ImportKeyPair", {"KeyName": name, "PublicKeyMaterial": material}).error(
                "InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    # The largest exponent accepted is 33 bits.
    srv.call("ImportKeyPair", {"KeyName": "e33", "PublicKeyMaterial": rsa_of((1 << 33) - 1, odd_modulus(2048))}).ok(
        "ImportKeyPair")
    assert [k["KeyName"] for k in srv.describe()] == ["e33"]


def test_ecs_refuses_degenerate_keys_and_caps_rsa_size(srv):
    lines = {**degenerate_keys(), "rsa-16385-bits": rsa_of(65537, odd_modulus(16385))}
    for name, line in lines.items():
        v1_call(srv, "ImportKeyPair", {"KeyPairName": "k" + name.replace("-", ""), "PublicKeyBody": line},
                where="body").error("InvalidPublicKeyBody.Malformed", "The PublicKeyBody format is not supported.")
    import_key(srv, "rsa16384", rsa_of(65537, odd_modulus(16384)))
    assert [k["KeyPairName"] for k in describe(srv)["KeyPairs"]["KeyPair"]] == ["rsa16384"]


def test_ec2_repeated_tag_specifications_are_refused_in_one_look(srv):
    many = {f"TagSpecification.{i}.ResourceType": "key-pair" for i in range(1, 1001)}
    r, seconds = timed(lambda: srv.call("CreateKeyPair", {"KeyName": "spec", **many}))
    r.error("InvalidParameterValue",
            "The same resource type may not be specified more than once in tag specifications.")
    assert seconds < 1.0, seconds
    srv.call("CreateKeyPair", {"KeyName": "spec", "TagSpecification.1.ResourceType": "x" * 300}).error(
        "InvalidParameterValue", f"'{'x' * 64}' is not a valid taggable resource type for this operation.")
    srv.call("CreateKeyPair", {"KeyName": "spec", "TagSpecification.1.ResourceType": "key-pair",
                               "TagSpecification.1.Tag.1.Key": "k"}).ok("CreateKeyPair")
