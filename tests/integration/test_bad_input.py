"""Bad input, over raw HTTP: each case gets its documented 4xx in the EC2 error envelope (never a
5xx, never a dropped connection), and the server still serves afterwards (a create works).

Decisions where the reference names no code:
- A body over the server's size limit (10 MB here) is HTTP 413 in the EC2 error envelope.
- A 1 MB KeyName is refused either by that limit (413, envelope) or as a too-long name (400
  InvalidParameterValue), depending on where the limit is set.
- Garbage that does not parse to a known action is one of the table's codes with its status.
"""

import re
import secrets
import socket
from urllib.parse import urlencode

import pytest
import requests

from support import (ERRORS, EXTRA_ERRORS, FORM_CT, Reply, assert_documented_error, assert_error_envelope, call,
                     form)


def still_serving(srv):
    r = srv.call("CreateKeyPair", {"KeyName": "after-" + secrets.token_hex(4), "KeyType": "ed25519"})
    r.ok("CreateKeyPair")
    assert srv.alive()


def body(action="CreateKeyPair", **params):
    return urlencode(form(action, params))


def set_auth(value):
    def mutate(h):
        h["Authorization"] = value(h["Authorization"]) if callable(value) else value
    return mutate


def drop(header):
    def mutate(h):
        for k in list(h):
            if k.lower() == header.lower():
                del h[k]
    return mutate


NO_ACTION = {"InvalidAction", "MissingParameter", "MissingAction"}
BAD_NAME_BYTES = {"InvalidParameterValue", "MalformedQueryString"}

CASES = {
    # --- garbage bodies (signed: the signature is right, the content is not)
    "binary-garbage": dict(body=secrets.token_bytes(4096)),
    "garbage-with-equals": dict(body=b"=&&==&Action&=Version&%%%"),
    "empty-body": dict(body=b"", allowed=NO_ACTION),
    "no-action": dict(body=b"Version=2016-11-15&KeyName=x", allowed=NO_ACTION),
    "json-body": dict(body=b'{"Action": "CreateKeyPair", "KeyName": "json", "Version": "2016-11-15"}',
                      headers={"Content-Type": "application/json"}, allowed=NO_ACTION | {"InvalidParameterValue"}),
    "xml-body": dict(body=b"<CreateKeyPair><KeyName>x</KeyName></CreateKeyPair>",
                     headers={"Content-Type": "text/xml"}, allowed=NO_ACTION | {"InvalidParameterValue"}),
    # --- encoding
    "invalid-utf8-name": dict(body=b"Action=CreateKeyPair&Version=2016-11-15&KeyName=%C3%28",
                              allowed=BAD_NAME_BYTES),
    "raw-invalid-utf8-name": dict(body=b"Action=CreateKeyPair&Version=2016-11-15&KeyName=\xff\xfe",
                                  allowed=BAD_NAME_BYTES),
    "lone-ff": dict(body=b"Action=CreateKeyPair&Version=2016-11-15&KeyName=%ff",
                    allowed=BAD_NAME_BYTES),
    "bad-percent-action": dict(body=b"Action=Create%zzKeyPair&Version=2016-11-15&KeyName=x",
                               allowed={"InvalidAction", "MalformedQueryString"}),
    "bad-percent-truncated": dict(body=b"Action=CreateKeyPair%&Version=2016-11-15&KeyName=x",
                                  allowed={"InvalidAction", "MalformedQueryString"}),
    # --- parameters
    "unknown-action": dict(params=("Frobnicate", {}), allowed={"InvalidAction"},
                           message="The action Frobnicate is not valid for this web service."),
    "unknown-parameter": dict(params=("DescribeKeyPairs", {"Colour": "red"}), allowed={"UnknownParameter"},
                              message="The parameter Colour is not recognized"),
    "missing-key-name": dict(params=("CreateKeyPair", {"KeyType": "rsa"}), allowed={"MissingParameter"},
                             message="The request must contain the parameter KeyName"),
    "name-256": dict(params=("CreateKeyPair", {"KeyName": "n" * 256}), allowed={"InvalidParameterValue"}),
    "filter-index-zero": dict(params=("DescribeKeyPairs", {"Filter.0.Name": "key-name", "Filter.0.Value.0": "x"}),
                              allowed={"InvalidParameterValue", "UnknownParameter"}),
    "filter-without-name": dict(params=("DescribeKeyPairs", {"Filter.1.Value.1": "x"}),
                                allowed={"InvalidParameterValue", "MissingParameter"}),
    "public-key-huge": dict(params=("ImportKeyPair", {"KeyName": "h", "PublicKeyMaterial": "QUFB" * 50000}),
                            allowed={"InvalidKey.Format", "InvalidParameterValue"}),
    "max-results-text": dict(params=("DescribeTags", {"MaxResults": "lots"}), allowed={"InvalidParameterValue"}),
    "dry-run-text": dict(params=("DescribeKeyPairs", {"DryRun": "yes please"}), allowed={"InvalidParameterValue"}),
    # --- broken Authorization headers
    "auth-missing": dict(params=("DescribeKeyPairs", {}), mutate=drop("Authorization"),
                         allowed={"MissingAuthenticationToken"}),
    "auth-empty": dict(params=("DescribeKeyPairs", {}), mutate=set_auth(""),
                       allowed={"MissingAuthenticationToken", "IncompleteSignature"}),
    "auth-no-signature": dict(params=("DescribeKeyPairs", {}),
                              mutate=set_auth(lambda a: re.sub(r",\s*Signature=[0-9a-f]+", "", a)),
                              allowed={"IncompleteSignature"}),
    "auth-no-credential": dict(params=("DescribeKeyPairs", {}),
                               mutate=set_auth(lambda a: re.sub(r"Credential=[^,]+,\s*", "", a)),
                               allowed={"IncompleteSignature"}),
    "auth-no-signed-headers": dict(params=("DescribeKeyPairs", {}),
                                   mutate=set_auth(lambda a: re.sub(r"SignedHeaders=[^,]+,\s*", "", a)),
                                   allowed={"IncompleteSignature"}),
    "auth-bad-algorithm": dict(params=("DescribeKeyPairs", {}),
                               mutate=set_auth(lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
                               allowed={"IncompleteSignature"}),
    "auth-short-scope": dict(params=("DescribeKeyPairs", {}),
                             mutate=set_auth(lambda a: re.sub(r"(Credential=[^/]+)/[^,]+", r"\1/20260101/us-east-1", a)),
                             allowed={"IncompleteSignature"}),
    "auth-bad-scope-date": dict(params=("DescribeKeyPairs", {}),
                                mutate=set_auth(lambda a: re.sub(r"(Credential=[^/]+)/\d{8}/", r"\1/notadate/", a)),
                                allowed={"IncompleteSignature", "SignatureDoesNotMatch"}),
    "auth-scope-date-mismatch": dict(params=("DescribeKeyPairs", {}),
                                     mutate=set_auth(lambda a: re.sub(r"(Credential=[^/]+)/\d{8}/", r"\1/20000101/", a)),
                                     allowed={"IncompleteSignature", "SignatureDoesNotMatch", "RequestExpired"}),
    "auth-garbage": dict(params=("DescribeKeyPairs", {}), mutate=set_auth("garbage ,,,=== ;; AWS4"),
                         allowed={"IncompleteSignature", "MissingAuthenticationToken"}),
    "auth-short-signature": dict(params=("DescribeKeyPairs", {}),
                                 mutate=set_auth(lambda a: re.sub(r"Signature=[0-9a-f]+", "Signature=abc", a)),
                                 allowed={"IncompleteSignature", "SignatureDoesNotMatch"}),
    "date-missing": dict(params=("DescribeKeyPairs", {}), mutate=drop("X-Amz-Date"),
                         allowed={"IncompleteSignature"}),
    "date-garbage": dict(params=("DescribeKeyPairs", {}),
                         mutate=lambda h: h.__setitem__("X-Amz-Date", "yesterday"),
                         allowed={"IncompleteSignature"}),
    "date-ancient": dict(params=("DescribeKeyPairs", {}), skew=-10 * 365 * 86400,
                         allowed={"RequestExpired"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(srv, case):
    c = CASES[case]
    kw = dict(creds=srv.creds)
    if "body" in c:
        r = call(srv.url, None, version=None, body=c["body"], headers=c.get("headers"), **kw)
    else:
        action, params = c["params"]
        r = call(srv.url, action, params, mutate=c.get("mutate"), skew=c.get("skew", 0), **kw)
    assert_documented_error(r, c.get("allowed"))
    if c.get("message"):
        assert r.message == c["message"], r.message
    still_serving(srv)
    assert all(k["KeyName"].startswith("after-") for k in srv.describe()), (
        f"a refused request must not create anything: {srv.describe()}")


@pytest.mark.timeout(120)
def test_ten_megabyte_body(srv):
    big = body("CreateKeyPair", KeyName="big", Padding="x" * (10 * 1024 * 1024))
    r = call(srv.url, None, version=None, body=big, creds=srv.creds, timeout=90)
    assert r.status == 413, f"a 10 MB body must be refused with 413, got {r.status}: {r.text[:300]!r}"
    assert_error_envelope(r)
    still_serving(srv)


@pytest.mark.timeout(120)
def test_one_megabyte_key_name(srv):
    r = call(srv.url, "CreateKeyPair", {"KeyName": "n" * (1024 * 1024)}, creds=srv.creds, timeout=90)
    if r.status == 413:
        assert_error_envelope(r)
    else:
        r.error("InvalidParameterValue")
    still_serving(srv)
    assert [k["KeyName"] for k in srv.describe() if not k["KeyName"].startswith("after-")] == []


def test_ten_megabyte_unsigned_body(srv):
    """The size limit applies before any signature work: an unsigned 10 MB body is refused too."""
    r = requests.post(srv.url + "/", data=b"Action=CreateKeyPair&KeyName=" + b"x" * (10 * 1024 * 1024),
                      headers={"Content-Type": FORM_CT}, timeout=90)
    rep = Reply(r)
    if rep.status == 413:
        assert_error_envelope(rep)
    else:
        rep.error("MissingAuthenticationToken")
    still_serving(srv)


def test_truncated_request_and_slow_client_do_not_wedge(srv):
    """A client that sends half a request and goes away must not take the server down."""
    for _ in range(3):
        s = socket.create_connection((srv.host, srv.port), timeout=5)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM_CT.encode() +
                  b"\r\nContent-Length: 1000\r\n\r\nAction=Crea")
        s.close()
    s = socket.create_connection((srv.host, srv.port), timeout=5)
    s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    try:
        data = s.recv(1024)
    except (ConnectionResetError, socket.timeout):
        data = b""
    s.close()
    assert not data.startswith(b"HTTP/1.1 5"), data
    still_serving(srv)


def test_never_5xx_sweep(srv):
    """A bounded sweep of odd but well-signed requests: none may be a 5xx."""
    weird = ["", "=", "&", "%", "%%", "Action", "Action=", "Action=&Action=CreateKeyPair",
             "Action=CreateKeyPair&Action=DeleteKeyPair&KeyName=x",
             "Action=DescribeKeyPairs&KeyName.1=&KeyName.2=",
             "Action=DescribeKeyPairs&KeyPairId.1=key-",
             "Action=DescribeKeyPairs&Filter.1.Name=tag:&Filter.1.Value.1=",
             "Action=DescribeKeyPairs&Filter.1.Name=key-name&Filter.1.Value.1=\\",
             "Action=DescribeKeyPairs&Filter.1.Name=key-name&Filter.1.Value.1=%5C%5C%5C",
             "Action=DescribeKeyPairs&Filter.a.Name=key-name",
             "Action=DescribeKeyPairs&Filter.-1.Name=key-name",
             "Action=CreateTags&ResourceId.1=key-zz&Tag.1.Key=a",
             "Action=CreateTags&ResourceId.1=i-0123&Tag.1.Key=a",
             "Action=DeleteTags&ResourceId.1=&Tag.1.Key=",
             "Action=DescribeTags&MaxResults=99999999999999999999999",
             "Action=DescribeTags&NextToken=%00%01",
             "Action=CreateKeyPair&KeyName=x&TagSpecification.1.Tag.1.Key=a",
             "Action=CreateKeyPair&KeyName=x&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Value=v",
             "Action=ImportKeyPair&KeyName=x&PublicKeyMaterial=",
             "Action=ImportKeyPair&KeyName=x&PublicKeyMaterial=%3D%3D%3D%3D",
             "Action=DeleteKeyPair&KeyPairId=",
             "Action=DeleteKeyPair&KeyName=a&KeyPairId=key-00000000000000000"]
    for b in weird:
        r = call(srv.url, None, version=None, body=b + "&Version=2016-11-15", creds=srv.creds)
        assert r.status < 500, f"{b!r} -> {r.status} {r.text[:300]!r}"
        if r.status != 200:
            assert_error_envelope(r)
            assert_documented_error(r, set(ERRORS) | set(EXTRA_ERRORS))
    still_serving(srv)
