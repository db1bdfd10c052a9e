"""Signatures of the Alibaba dialect (reference: 'Signatures', 'Transport'): RPC v1 with parameters
in the query, the body or both, by GET or POST; V3 (ACS3-HMAC-SHA256) over the headers the client
signed; the server's string to sign in SignatureDoesNotMatch; +-15 minutes; nonces used once (and
remembered in the store, across a restart); unknown keys; the same access keys as the AWS dialect."""

import json

import pytest

from aliyun_support import (SIG_PREFIX, Core, V3Request, create, ed25519_line, import_key, items, names, tag_params,
                            tags_of, v1, v1_call, v1_string_to_sign, v3, v3_call)
from support import OTHER

UNKNOWN = ("nobody", "AKIDNOSUCHKEY0000000", "c2VjcmV0c2VjcmV0c2VjcmV0")


@pytest.mark.parametrize("method,where", [("GET", "query"), ("POST", "query"), ("POST", "body"),
                                          ("POST", "split")])
def test_v1_parameters_in_query_body_or_split(srv, method, where):
    name = f"t-{method}-{where}".lower()
    r = v1_call(srv, "CreateKeyPair", {"KeyPairName": name, **tag_params({"via": where})}, method=method,
                where=where).ok("CreateKeyPair")
    assert r.body["KeyPairName"] == name
    b = v1_call(srv, "DescribeKeyPairs", {"KeyPairName": name}, method=method, where=where).ok().body
    [it] = b["KeyPairs"]["KeyPair"]
    assert tags_of(it) == {"via": where}
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps([name])}, method=method, where=where).ok()
    assert names(srv) == []


def test_v1_empty_signature_type_is_signed(srv):
    """aliyun-python-sdk-core sends an empty SignatureType= and signs it."""
    req = v1(srv, "DescribeKeyPairs", signature_type=True)
    assert "SignatureType%3D%26" in req.sts
    req.send().ok()


def test_awkward_characters_in_values_sign_correctly(srv):
    """Space, +, /, *, ~, =, &, % and non-ASCII in a value: split (Terraform style), GET and V3."""
    value = "a b+c/d*e~f=g&h%i\u00e9"
    import_key(srv, "odd", ed25519_line())
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "odd", **tag_params({"k": value})},
            where="split").ok()
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "odd", **tag_params({"g": value})},
            method="GET").ok()
    v3_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "odd", **tag_params({"v3": value})}).ok()
    assert tags_of(items(srv)[0]) == {"k": value, "g": value, "v3": value}


def test_v3(srv):
    r = v3_call(srv, "ImportKeyPair", {"KeyPairName": "v3-key", "PublicKeyBody": ed25519_line("a b@c")})
    r.ok("ImportKeyPair")
    assert r.headers["Content-Type"] == "application/json;charset=utf-8"
    assert v3_call(srv, "DescribeKeyPairs", {"KeyPairName": "v3-*"}).ok().body["TotalCount"] == 1


def test_v3_verifies_over_the_headers_the_client_signed(srv):
    signed = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
              "x-acs-version"]
    v3_call(srv, "DescribeKeyPairs", {}, signed=signed).ok()
    # an unsigned header may change in transit; a signed one may not
    req = v3(srv, "DescribeKeyPairs", {}, signed=signed)
    req.headers["user-agent"] = "changed-after-signing"
    req.send().ok()
    req = v3(srv, "DescribeKeyPairs", {})
    req.headers["user-agent"] = "changed-after-signing"
    req.send().error("SignatureDoesNotMatch")


# ------------------------------------------------------------------- SignatureDoesNotMatch


@pytest.mark.parametrize("method,where", [("GET", "query"), ("POST", "query"), ("POST", "split"),
                                          ("POST", "body")])
@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_v1_wrong_secret_shows_the_string_to_sign(srv, method, where, fmt):
    r = v1_call(srv, "DescribeKeyPairs", {"KeyPairName": "x y*z"}, method=method, where=where, fmt=fmt,
                sign_secret="wrong-secret")
    r.error("SignatureDoesNotMatch", SIG_PREFIX + r.sts, fmt=fmt.lower())
    assert r.sts.startswith(f"{method}&%2F&")


def test_v1_tampered_parameter(srv):
    def tamper(query, body):
        query["KeyPairName"] = "tampered"
    req = v1(srv, "CreateKeyPair", {"KeyPairName": "original"}, tamper=tamper)
    r = req.send()
    server_params = {k: v for k, v in req.query.items() if k != "Signature"}
    want = v1_string_to_sign("POST", server_params)
    assert want != req.sts
    r.error("SignatureDoesNotMatch", SIG_PREFIX + want)
    assert names(srv) == []


def test_v1_method_is_signed(srv):
    r = v1_call(srv, "DescribeKeyPairs", {}, method="POST", sign_method="GET")
    r.error("SignatureDoesNotMatch", SIG_PREFIX + r.sts.replace("GET&", "POST&", 1))


def test_core_sdk_recognises_the_server_string_to_sign(srv):
    """aliyun-python-sdk-core compares the server's string to sign with its own and, when they are
    equal, reports InvalidAccessKeySecret: proof that both sides signed the same string."""
    name, akid, secret = srv.creds
    res = Core(srv, creds=(name, akid, secret + "x")).raw("DescribeKeyPairs", "JSON", KeyPairName="k")
    body = json.loads(res.body)
    assert (res.status, body["Code"]) == (400, "SignatureDoesNotMatch"), res
    assert body["Message"] == SIG_PREFIX + res.string_to_sign
    assert res.exc.get_error_code() == "InvalidAccessKeySecret", res.exc
    assert res.exc.get_http_status() == 400


def test_v3_wrong_secret_shows_the_string_to_sign(srv):
    r = v3_call(srv, "DescribeKeyPairs", {"KeyPairName": "x y*z"}, sign_secret="wrong-secret")
    r.error("SignatureDoesNotMatch", SIG_PREFIX + r.sts)


def test_v3_tampered_query(srv):
    good = v3(srv, "DescribeKeyPairs", {"KeyPairName": "what-the-server-gets"})
    bad = v3(srv, "DescribeKeyPairs", {"KeyPairName": "what-was-signed"},
             nonce=good.headers["x-acs-signature-nonce"], date=good.headers["x-acs-date"])
    r = V3Request(srv, "POST", good.query, bad.headers, b"", "", bad.sts).send()
    r.error("SignatureDoesNotMatch", SIG_PREFIX + good.sts)


def test_v3_signature_is_over_the_body_hash(srv):
    req = v3(srv, "DescribeKeyPairs", {})
    req.headers["x-acs-content-sha256"] = "0" * 64
    req.send().error("SignatureDoesNotMatch")


# ------------------------------------------------------------------------- keys and accounts


@pytest.mark.parametrize("via", ["v1-json", "v1-xml", "v3", "core", "tea"])
def test_unknown_access_key(srv, via):
    if via == "v3":
        v3_call(srv, "DescribeKeyPairs", {}, creds=UNKNOWN).error("InvalidAccessKeyId.NotFound")
    elif via == "core":
        Core(srv, creds=UNKNOWN).error("DescribeKeyPairs", "InvalidAccessKeyId.NotFound")
    elif via == "tea":
        from aliyun_support import Tea
        Tea(srv, creds=UNKNOWN).error("DescribeKeyPairs", "InvalidAccessKeyId.NotFound")
    else:
        fmt = "JSON" if via == "v1-json" else "XML"
        v1_call(srv, "DescribeKeyPairs", {}, creds=UNKNOWN, fmt=fmt).error(
            "InvalidAccessKeyId.NotFound", fmt=fmt.lower())


def test_accounts_are_separate(other_account, srv):
    create(srv, "mine")
    assert names(srv, creds=OTHER) == []
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["mine"]'}, creds=OTHER).ok()
    assert names(srv) == ["mine"], "another account's delete does not reach this account's key"
    create(srv, "mine", creds=OTHER)
    assert names(srv, creds=OTHER) == ["mine"] and names(srv) == ["mine"]
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "mine", **tag_params({"o": "1"})},
            creds=OTHER).ok()
    assert tags_of(items(srv)[0]) == {}


def test_owner_parameters_are_accepted_and_ignored(srv):
    owner = {"OwnerId": "1234567890", "OwnerAccount": "someone", "ResourceOwnerId": "987654321",
             "ResourceOwnerAccount": "other@example.com"}
    create(srv, "owned", **owner)
    import_key(srv, "owned-i", ed25519_line(), **owner)
    assert sorted(names(srv, **owner)) == ["owned", "owned-i"]
    v3_call(srv, "DescribeKeyPairs", owner).ok()
    Core(srv).do("CreateKeyPair", KeyPairName="owned-core", OwnerId=1, ResourceOwnerAccount="x",
                 ResourceOwnerId=2)


# ------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize("minutes,ok", [(-14, True), (14, True), (-16, False), (16, False),
                                        (-24 * 60, False), (365 * 24 * 60, False)])
@pytest.mark.parametrize("via", ["v1", "v3"])
def test_timestamp_window(srv, via, minutes, ok):
    call = v1_call if via == "v1" else v3_call
    r = call(srv, "ImportKeyPair", {"KeyPairName": "ts", "PublicKeyBody": ed25519_line()}, skew=minutes * 60)
    if ok:
        r.ok("ImportKeyPair")
        assert names(srv) == ["ts"]
    else:
        r.error("InvalidTimeStamp.Expired")
        assert names(srv) == []


# ------------------------------------------------------------------------------ nonces


@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_v1_replay_is_refused(srv, fmt):
    req = v1(srv, "DescribeKeyPairs", {}, fmt=fmt)
    req.send().ok("DescribeKeyPairs", fmt.lower())
    req.send().error("SignatureNonceUsed", fmt=fmt.lower())
    req.send().error("SignatureNonceUsed", fmt=fmt.lower())


def test_v1_replayed_create_makes_nothing(srv):
    req = v1(srv, "CreateKeyPair", {"KeyPairName": "once"})
    first = req.send().ok().body
    create(srv, "other")
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["once"]'}).ok()
    req.send().error("SignatureNonceUsed")
    assert names(srv) == ["other"]
    assert first["KeyPairName"] == "once"


def test_v1_nonce_reused_on_another_request(srv):
    nonce = "fixed-nonce-0001"
    v1_call(srv, "DescribeKeyPairs", {}, nonce=nonce).ok()
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "sneaky"}, nonce=nonce).error("SignatureNonceUsed")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "sneaky"}, nonce=nonce, method="GET").error("SignatureNonceUsed")
    assert names(srv) == []


def test_v3_replay_is_refused(srv):
    req = v3(srv, "DescribeKeyPairs", {})
    req.send().ok()
    req.send().error("SignatureNonceUsed")
    nonce = req.headers["x-acs-signature-nonce"]
    v3_call(srv, "ImportKeyPair", {"KeyPairName": "sneaky", "PublicKeyBody": ed25519_line()},
            nonce=nonce).error("SignatureNonceUsed")
    assert names(srv) == []


@pytest.mark.parametrize("action", ["DescribeKeyPairs", "DeleteKeyPairs"])
def test_a_signed_call_refused_for_its_region_still_spends_its_nonce(srv, action):
    # A read runs beside its nonce's record, a change after it: both spend the nonce.
    req = v1(srv, action, {}, region="no such region!")
    req.send().error("InvalidParameter")
    req.send().error("SignatureNonceUsed")
    assert names(srv) == []


def test_a_refused_action_is_logged_with_its_region(srv):
    v1_call(srv, "DeleteKeyPairs", {}).error("MissingParameter")
    line = 'action="DeleteKeyPairs"'
    text = srv.wait_stderr(lambda t: line in t)
    logged = [l for l in text.splitlines() if line in l]
    assert len(logged) == 1, logged
    assert 'region="cn-hangzhou"' in logged[0] and 'error="MissingParameter"' in logged[0], logged


def test_nonce_survives_a_restart(account, keypaird, store):
    srv = keypaird()
    req1 = v1(srv, "DescribeKeyPairs", {})
    req1.send().ok()
    req3 = v3(srv, "DescribeKeyPairs", {})
    req3.send().ok()
    srv.stop()
    srv2 = keypaird(store)
    req1.srv = srv2
    req1.send().error("SignatureNonceUsed")
    # the V3 request names its host in a signed header: rebuild it for the new port, same nonce
    again = v3(srv2, "DescribeKeyPairs", {}, nonce=req3.headers["x-acs-signature-nonce"],
               date=req3.headers["x-acs-date"])
    again.send().error("SignatureNonceUsed")


def test_sdk_calls_each_use_a_fresh_nonce(srv):
    c = Core(srv)
    for i in range(5):
        c.do("DescribeKeyPairs")
    from aliyun_support import Tea
    t = Tea(srv)
    for i in range(5):
        t.call("DescribeKeyPairs")
