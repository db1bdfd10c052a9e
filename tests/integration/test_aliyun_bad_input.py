"""Bad input to the Alibaba dialect over raw HTTP, signed with this suite's own v1 and V3 signers:
broken JSON arrays, wrong booleans, oversized parameters, missing or wrong common parameters,
malformed V3 Authorization headers, non-UTF-8 bytes. Each is answered with a documented 4xx in the
Alibaba error envelope (never a 5xx), nothing changes, and the server still serves afterwards.

Where the reference names no code for a case, the codes accepted are listed with the case (the
closest documented ones); the report lists what the server chose.
Non-UTF-8 bytes: the reference defines percent-encoding over UTF-8 only, so a server may refuse such
a request as a bad value or as a signature that does not match what it decoded.
"""

import hashlib
import hmac
import json
import re
import secrets
import socket
from urllib.parse import urlencode

import pytest

from aliyun_support import (FORM_CT, SIG_PREFIX, AliReply, check_json_error_body, create, ed25519_line, host_of,
                            import_key, msg_invalid, msg_missing, names, send_raw, tag_params, v1, v1_call, v3,
                            v3_call)

PUB = ed25519_line()
BIG = 200 * 1024


def still_serving(srv):
    n = "after-" + secrets.token_hex(4)
    create(srv, n)
    assert srv.alive()
    left = [x for x in names(srv) if not x.startswith("after-")]
    assert left == ["exists"], f"a refused request must change nothing: {left}"


def delete(names_value, **kw):
    return lambda srv: v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": names_value}, **kw)


def attach(ids_value, action="AttachKeyPair"):
    return lambda srv: v1_call(srv, action, {"KeyPairName": "exists", "InstanceIds": ids_value})


def common_missing(param, action="CreateKeyPair", params=None):
    return lambda srv: v1_call(srv, action, params or {"KeyPairName": "nope"}, omit=[param])


def common_value(param, value, action="CreateKeyPair"):
    return lambda srv: v1_call(srv, action, {"KeyPairName": "nope"}, extra_common={param: value})


def v3_auth(fn, **kw):
    return lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"}, authorization=fn, **kw)


def drop_part(part):
    return lambda a: re.sub(rf"{part}=[^,]*,?", "", a).rstrip(",")


def v3_raw_bytes(srv):
    """A V3 request whose query holds %FF, signed over that same percent-encoded byte."""
    _, akid, secret = srv.creds
    req = v3(srv, "CreateKeyPair", {"KeyPairName": "abZZ"})
    canonical = req.canonical.replace("KeyPairName=abZZ", "KeyPairName=ab%FF", 1)
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    req.headers["Authorization"] = re.sub(r"Signature=[0-9a-f]+", f"Signature={sig}", req.headers["Authorization"])
    url = f"http://{host_of(srv)}/?KeyPairName=ab%FF&RegionId=cn-hangzhou"
    return AliReply(send_raw("POST", url, None, req.headers), host_of(srv), sts)


VNS = {"InvalidKeyPairNames.ValueNotSupported": None}
INSTANCE_IDS = {"InvalidParameter": msg_invalid("InstanceIds")}
INCOMPLETE = {"IncompleteSignature": None}
UTF8 = {"InvalidKeyPairName.Malformed": None, "InvalidParameter": msg_invalid("KeyPairName"),
        "SignatureDoesNotMatch": None}

CASES = {
    # --- KeyPairNames: a JSON array of 1-100 names
    "names-unterminated": (delete('["exists"'), VNS),
    "names-numbers": (delete("[1,2]"), VNS),
    "names-object": (delete("{}"), VNS),
    "names-json-string": (delete('""'), VNS),
    "names-quoted-name": (delete('"exists"'), VNS),
    "names-bare": (delete("exists"), VNS),
    "names-empty-array": (delete("[]"), VNS),
    "names-null": (delete("[null]"), VNS),
    "names-nested": (delete('[["exists"]]'), VNS),
    "names-trailing-comma": (delete('["exists",]'), VNS),
    "names-101": (delete(json.dumps(["exists"] + [f"n{i}" for i in range(100)])), VNS),
    "names-200k": (delete(json.dumps([f"n{i:06d}" for i in range(BIG // 18)]), where="body"), VNS),
    # --- InstanceIds: a JSON array of up to 50 IDs
    "ids-unterminated": (attach('["i-1"'), INSTANCE_IDS),
    "ids-numbers": (attach("[1,2]"), INSTANCE_IDS),
    "ids-object": (attach("{}"), INSTANCE_IDS),
    "ids-json-string": (attach('""'), INSTANCE_IDS),
    "ids-bare": (attach("i-1"), INSTANCE_IDS),
    "ids-detach-unterminated": (attach('["i-1"', "DetachKeyPair"), INSTANCE_IDS),
    "ids-51": (attach(json.dumps([f"i-{i}" for i in range(51)])), INSTANCE_IDS),
    # --- booleans
    **{f"bool-include-{v or 'empty'}": (
        lambda srv, v=v: v1_call(srv, "DescribeKeyPairs", {"IncludePublicKey": v}),
        {"InvalidParameter": msg_invalid("IncludePublicKey")}) for v in ("yes", "1", "0", "truee", "on")},
    "bool-all-yes": (lambda srv: v1_call(srv, "UntagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                                                 "All": "yes"}),
                     {"InvalidParameter": msg_invalid("All")}),
    "bool-v3-include": (lambda srv: v3_call(srv, "DescribeKeyPairs", {"IncludePublicKey": "maybe"}),
                        {"InvalidParameter": msg_invalid("IncludePublicKey")}),
    "page-size-text": (lambda srv: v1_call(srv, "DescribeKeyPairs", {"PageSize": "ten"}),
                       {"InvalidParameter": msg_invalid("PageSize")}),
    "page-number-text": (lambda srv: v1_call(srv, "DescribeKeyPairs", {"PageNumber": "two"}),
                         {"InvalidParameter": msg_invalid("PageNumber")}),
    "page-size-huge": (lambda srv: v1_call(srv, "DescribeKeyPairs", {"PageSize": "99999999999999999999999"}),
                       {"InvalidParameter": msg_invalid("PageSize")}),
    # --- oversized
    "name-129": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": "n" * 129}),
                 {"InvalidKeyPairName.Malformed": None}),
    "name-200k-body": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": "n" * BIG}, where="body"),
                       {"InvalidKeyPairName.Malformed": None}),
    "name-200k-split": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": "n" * BIG}, where="split"),
                        {"InvalidKeyPairName.Malformed": None}),
    "public-key-200k": (lambda srv: v1_call(srv, "ImportKeyPair", {"KeyPairName": "big",
                                                                   "PublicKeyBody": "ssh-rsa " + "QUFB" * (BIG // 4)},
                                            where="body"),
                        {"InvalidPublicKeyBody.Malformed": None}),
    "tag-value-200k": (lambda srv: v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "exists",
                                                                 **tag_params({"k": "v" * BIG})}, where="body"),
                       {"InvalidTagValue.Malformed": None}),
    "tag-key-200k": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": "tk",
                                                                **tag_params({"k" * BIG: "v"})}, where="body"),
                     {"InvalidTagKey.Malformed": None}),
    "v3-public-key-20k": (lambda srv: v3_call(srv, "ImportKeyPair", {"KeyPairName": "big",
                                                                     "PublicKeyBody": "ssh-ed25519 " + "A" * 20000}),
                          {"InvalidPublicKeyBody.Malformed": None}),
    # --- common parameters missing (the rest of the request is signed correctly)
    **{f"missing-{p}": (common_missing(p), {"MissingParameter": msg_missing(p)})
       for p in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod", "Version",
                 "SignatureVersion")},
    "missing-Action": (common_missing("Action"), {"MissingParameter": msg_missing("Action")}),
    # --- common parameters with wrong values
    "signature-method-md5": (common_value("SignatureMethod", "HMAC-MD5"),
                             {"InvalidParameter": msg_invalid("SignatureMethod")}),
    "signature-version-2": (common_value("SignatureVersion", "2.0"),
                            {"InvalidParameter": msg_invalid("SignatureVersion")}),
    "timestamp-garbage": (common_value("Timestamp", "yesterday"),
                          {"InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted."}),
    "timestamp-no-zone": (common_value("Timestamp", "2026-01-01T00:00:00"),
                          {"InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted."}),
    "signature-not-base64": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": "nope"},
                                                 tamper=lambda q, b: q.__setitem__("Signature", "%%%not base64")),
                             {"SignatureDoesNotMatch": None}),
    # --- malformed V3 Authorization
    "v3-no-credential": (v3_auth(drop_part("Credential")), INCOMPLETE),
    "v3-no-signature": (v3_auth(drop_part("Signature")), INCOMPLETE),
    "v3-no-signed-headers": (v3_auth(drop_part("SignedHeaders")), INCOMPLETE),
    "v3-unknown-algorithm": (lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"},
                                                 algorithm="ACS3-HMAC-MD5"), INCOMPLETE),
    "v3-signed-headers-without-host": (
        lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"},
                            signed=["x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
                                    "x-acs-version"]), INCOMPLETE),
    "v3-algorithm-only": (v3_auth("ACS3-HMAC-SHA256"), INCOMPLETE),
    "v3-garbage": (v3_auth("ACS3-HMAC-SHA256 ,,,===;;"), INCOMPLETE),
    "v3-no-commas": (v3_auth(lambda a: a.replace(",", " ")), INCOMPLETE),
    "v3-signature-not-hex": (v3_auth(lambda a: re.sub(r"Signature=[0-9a-f]+", "Signature=zz-not-hex", a)),
                             INCOMPLETE),
    "v3-no-date": (lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"}, omit_headers=["x-acs-date"]),
                   {"MissingParameter": msg_missing("x-acs-date")}),
    "v3-no-nonce": (lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"},
                                        omit_headers=["x-acs-signature-nonce"]),
                    {"MissingParameter": msg_missing("x-acs-signature-nonce")}),
    "v3-signed-content-sha256-missing": (
        lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"}, omit_headers=["x-acs-content-sha256"],
                            signed=["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
                                    "x-acs-signature-nonce", "x-acs-version"]), INCOMPLETE),
    "v3-no-version": (lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"}, version=None),
                      {"MissingParameter": msg_missing("Version")}),
    "v3-no-action": (lambda srv: v3_call(srv, None, {"KeyPairName": "nope"}), {"MissingParameter": msg_missing("Action")}),
    "v3-date-garbage": (lambda srv: v3_call(srv, "CreateKeyPair", {"KeyPairName": "nope"}, date="yesterday"),
                        {"InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted."}),
    # --- non-UTF-8 bytes
    "utf8-query": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": b"ab\xff\xfe"}), UTF8),
    "utf8-body": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": b"ab\xc3\x28"}, where="body"), UTF8),
    "utf8-split": (lambda srv: v1_call(srv, "CreateKeyPair", {"KeyPairName": b"\xffab"}, where="split"), UTF8),
    "utf8-v3": (lambda srv: v3_raw_bytes(srv), UTF8),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(srv, case):
    import_key(srv, "exists", PUB)
    build, allowed = CASES[case]
    r = build(srv)
    # A query or body that is not UTF-8 cannot be read for its Format either: either envelope is fine.
    fmt = None if case.startswith("utf8") and case != "utf8-v3" else "json"
    r.error_in(allowed, fmt=fmt)
    if r.code == "SignatureDoesNotMatch" and not case.startswith("utf8"):
        assert r.message == SIG_PREFIX + r.sts, "the server's string to sign is the one the client signed"
    still_serving(srv)


def test_unknown_format_value(srv):
    """Format outside JSON|json|XML: the reference names no code; keypaird answers in the XML
    default."""
    import_key(srv, "exists", PUB)
    r = v1_call(srv, "DescribeKeyPairs", {}, fmt="YAML")
    r.ok("DescribeKeyPairs", "xml")
    assert r.root.findtext("KeyPairs/KeyPair/KeyPairName") == "exists"


def _raw_exchange(srv, method: str, target: str, headers: dict, body: bytes):
    """Send one request on a fresh socket; return (status, headers, body, socket)."""
    s = socket.create_connection((srv.host, srv.port), timeout=30)
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    s.sendall(head.encode())
    try:
        s.sendall(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer before reading the whole body
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    raw_head, rest = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the middle of the response body"
        rest += chunk
    return status, hdrs, rest[:n], s


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["v1-body", "v1-split", "v3"])
def test_body_over_the_server_limit(srv, how):
    """A body over the server's size limit is refused with 413 (never a 5xx), the server still
    serves, and the connection is not silently dropped under a keep-alive client: either the 413
    says `Connection: close`, or the connection stays usable. (Otherwise the SDKs' pooled
    connection fails on the next call: seen as RemoteDisconnected on the request after a 413.)"""
    import_key(srv, "exists", PUB)
    big = {"KeyPairName": "big", "PublicKeyBody": "ssh-rsa " + "QUFB" * (2 * 1024 * 1024 // 4)}
    if how == "v3":
        body = "&".join(f"{k}={v}" for k, v in big.items()).encode()
        req = v3(srv, "ImportKeyPair", {}, body=body, content_type=FORM_CT)
        headers, target = {k: v for k, v in req.headers.items()}, "/?" + urlencode(req.query)
    else:
        req = v1(srv, "ImportKeyPair", big, where=how.split("-")[1])
        body, target = req.body_bytes(), "/" + req.url().split("/", 3)[3]
        headers = {"Host": host_of(srv), "Content-Type": FORM_CT}
    status, hdrs, payload, sock = _raw_exchange(srv, "POST", target, headers, body)
    assert status == 413, (status, hdrs, payload[:300])
    if how != "v1-body":  # the dialect is known from the query or the x-acs headers: Alibaba envelope
        check_json_error_body(json.loads(payload), host_of(srv))
    if "close" not in hdrs.get("connection", "").lower():
        sock.settimeout(3)
        try:
            got = sock.recv(1)
            closed = got == b""
        except socket.timeout:
            closed = False
        except ConnectionResetError:
            closed = True
        assert not closed, ("the server closed the keep-alive connection after the 413 without "
                            "sending Connection: close")
    sock.close()
    still_serving(srv)


# ----------------------------------------------------------------------- DeleteKeyPairs limits


def test_delete_up_to_100_names_ignores_unknown_ones(srv):
    made = [f"del{i}" for i in range(5)]
    for n in made:
        import_key(srv, n, ed25519_line())
    import_key(srv, "keep", ed25519_line())
    batch = made + [f"unknown{i}" for i in range(95)]
    assert len(batch) == 100
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps(batch)}).ok("DeleteKeyPairs")
    assert names(srv) == ["keep"]
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps(["keep", "keep"])}).ok()
    assert names(srv) == []
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["never-existed"]'}).ok()


def test_delete_101_names_changes_nothing(srv):
    import_key(srv, "exists", PUB)
    r = v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps(["exists"] + [f"u{i}" for i in range(100)])})
    r.error("InvalidKeyPairNames.ValueNotSupported")
    assert names(srv) == ["exists"]


def test_delete_names_with_spaces_in_json(srv):
    """JSON whitespace is JSON: a pretty-printed array is still an array."""
    import_key(srv, "exists", PUB)
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '[ "exists" , "other" ]'}).ok()
    assert names(srv) == []


def test_never_5xx_sweep(srv):
    """A bounded sweep of odd but well-signed values on every action: never a 5xx, always the
    Alibaba error envelope when refused."""
    import_key(srv, "exists", PUB)
    odd = ["", " ", "*", "%", "null", "[]", "[\"\"]", "\u0000", "\u202e", "-1", "9" * 40, "true", "\\", "'\"",
           "<x>&amp;", "\U0001F511"]
    params_of = {
        "CreateKeyPair": ["KeyPairName", "ResourceGroupId", "Tag.1.Key", "Tag.1.Value"],
        "ImportKeyPair": ["PublicKeyBody"],
        "DescribeKeyPairs": ["KeyPairName", "KeyPairFingerPrint", "PageNumber", "PageSize", "IncludePublicKey",
                             "ResourceGroupId", "Tag.1.Key"],
        "DeleteKeyPairs": ["KeyPairNames"],
        "AttachKeyPair": ["InstanceIds"],
        "TagResources": ["ResourceId.1", "Tag.1.Key", "ResourceType"],
        "UntagResources": ["TagKey.1", "All"],
        "ListTagResources": ["NextToken", "ResourceId.1", "ResourceType"],
        "JoinResourceGroup": ["ResourceGroupId", "ResourceId"],
    }
    base = {
        "CreateKeyPair": {"KeyPairName": "sweep"}, "ImportKeyPair": {"KeyPairName": "sweep", "PublicKeyBody": PUB},
        "DescribeKeyPairs": {}, "DeleteKeyPairs": {"KeyPairNames": '["nothing"]'},
        "AttachKeyPair": {"KeyPairName": "exists", "InstanceIds": '["i-1"]'},
        "TagResources": {"ResourceType": "keypair", "ResourceId.1": "exists", **tag_params({"k": "v"})},
        "UntagResources": {"ResourceType": "keypair", "ResourceId.1": "exists", "TagKey.1": "nothing"},
        "ListTagResources": {"ResourceType": "keypair"},
        "JoinResourceGroup": {"ResourceGroupId": "rg-s", "ResourceId": "exists", "ResourceType": "keypair"},
    }
    for action, ps in params_of.items():
        for p in ps:
            for v in odd:
                r = v1_call(srv, action, {**base[action], p: v})
                assert r.status < 500, f"{action} {p}={v!r}: {r!r}"
                if r.status != 200:
                    r.error_fields()
                    assert r.fmt == "json"
                if action in ("CreateKeyPair", "ImportKeyPair") and r.status == 200:
                    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": json.dumps([r.body["KeyPairName"]])}).ok()
    assert srv.alive()
