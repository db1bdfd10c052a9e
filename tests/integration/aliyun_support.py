"""Helpers for the Alibaba Cloud ECS dialect: both Alibaba SDKs pointed at a running keypaird, raw
RPC v1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signers written from the reference, reply and error
envelope checks, and the outside oracles (openssl, ssh-keygen) for the keys the server hands out.

The wire contract these helpers encode is shared/reference/alibaba-ecs.md; nothing here looks at the
server's source. The signers follow the reference and were checked against what the installed SDKs
(aliyun-python-sdk-core 2.16, alibabacloud-tea-openapi 0.4) put on the wire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import importlib
import json
import re
import secrets
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

import pytest
import requests

from support import require_tool, run, type_b64, write_private

VERSION = "2014-05-26"
REGION = "cn-hangzhou"
JSON_CT = "application/json;charset=utf-8"
XML_CT = "text/xml;charset=utf-8"
FORM_CT = "application/x-www-form-urlencoded"

REQUEST_ID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
KEY_PAIR_ID_RE = re.compile(r"^ssh-[0-9a-z]+$")
CREATION_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")
MD5_FP_RE = re.compile(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")

SIG_PREFIX = "Specified signature is not matched with our calculation. server string to sign is:"

# Common parameters of an RPC v1 request (they travel in the query in "split" requests).
COMMON = ("Action", "Version", "Format", "AccessKeyId", "SignatureMethod", "SignatureVersion",
          "SignatureNonce", "Timestamp", "Signature", "SignatureType", "SecurityToken")


def msg_missing(param: str) -> str:
    return f'The input parameter "{param}" that is mandatory for processing this request is not supplied.'


def msg_invalid(param: str) -> str:
    return f'The specified parameter "{param}" is not valid.'


# The reference's error table: code -> (HTTP status, exact message, or a regex when the table only
# describes the message).
ERRORS = {
    "KeyPair.AlreadyExist": (400, "The key pair already exist."),
    "QuotaExceed.KeyPair": (403, "The key pair quota exceeds."),
    "InvalidKeyPairName.Malformed": (400, "Specified Key Pair name is not valid."),
    "InvalidPublicKeyBody.Malformed": (400, "The PublicKeyBody format is not supported."),
    "InvalidKeyPairNames.ValueNotSupported": (400, 'The specified parameter "KeyPairNames" is not valid.'),
    "InvalidKeyPairName.NotFound": (400, "The specified KeyPairName does not exist in our records."),
    "MissingParameter": (400, re.compile(
        r'^The input parameter "[^"]+" that is mandatory for processing this request is not supplied\.$')),
    "InvalidParameter": (400, re.compile(r'^The specified parameter "[^"]+" is not valid\.$')),
    "Duplicate.TagKey": (400, "The Tag.N.Key contain duplicate key."),
    "InvalidTagKey.Malformed": (400, "The specified Tag.n.Key is not valid."),
    "InvalidTagValue.Malformed": (400, "The specified Tag.n.Value is not valid."),
    "QuotaExceed.Tags": (403, re.compile(r"\b20\b")),  # "names the limit"
    "InvalidResourceId.NotFound": (404, "The specified ResourceIds are not found in our records."),
    "InvalidResourceType.NotFound": (404, "The ResourceType provided does not exist in our records."),
    "NumberExceed.ResourceIds": (400, re.compile(r"\S")),
    "NumberExceed.Tags": (400, re.compile(r"\S")),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url and method."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "SignatureDoesNotMatch": (400, re.compile("^" + re.escape(SIG_PREFIX), re.S)),
    "IncompleteSignature": (400, re.compile(r"\S")),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    # Not in the reference's table; ECS's own code for an unreadable timestamp (docs/decisions.md).
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    # Access keys with a lifecycle (issue 13): a disabled key, and a read-only key's changes.
    "InvalidAccessKeyId.Inactive": (400, "Specified access key is disabled."),
    "Forbidden.RAM": (403, "User not authorized to operate on the specified resource, or this API "
                           "doesn't support RAM."),
}


def check_code_status_message(code: str, status: int, message: str, want: str,
                              want_message: str | None = None, where: str = ""):
    """One error against the table: exact code, the table's status, and the exact message (or the
    table's pattern when it only describes the message)."""
    assert code == want, f"{where}expected {want}, got {code} (HTTP {status}): {message!r}"
    st, msg = ERRORS[want]
    assert status == st, f"{where}{want}: expected HTTP {st}, got {status}"
    if want_message is not None:
        assert message == want_message, f"{where}{want} message: expected {want_message!r}, got {message!r}"
    elif isinstance(msg, str):
        assert message == msg, f"{where}{want} message: expected {msg!r}, got {message!r}"
    else:
        assert msg.search(message or ""), f"{where}{want} message {message!r} does not match {msg.pattern!r}"


def recommend_url(code: str, request_id: str) -> str:
    return f"https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId={request_id}"


def check_json_error_body(obj, host: str):
    assert isinstance(obj, dict), obj
    assert set(obj) == {"RequestId", "HostId", "Code", "Message", "Recommend"}, (
        f"JSON error body must have exactly RequestId, HostId, Code, Message, Recommend: {obj}")
    assert REQUEST_ID_RE.match(obj["RequestId"] or ""), f"RequestId {obj['RequestId']!r} is not an uppercase UUID"
    assert obj["HostId"] == host, f"HostId must be the Host header {host!r}, got {obj['HostId']!r}"
    assert obj["Recommend"] == recommend_url(obj["Code"], obj["RequestId"]), obj["Recommend"]


def check_xml_error_root(root: ET.Element, host: str) -> dict:
    assert root.tag == "Error", f"XML error root must be <Error>, got <{root.tag}>"
    kids = [c.tag for c in root]
    assert kids == ["RequestId", "HostId", "Code", "Message", "Recommend"], (
        f"<Error> children must be RequestId, HostId, Code, Message, Recommend: {kids}")
    d = {c.tag: (c.text or "") for c in root}
    assert REQUEST_ID_RE.match(d["RequestId"]), d["RequestId"]
    assert d["HostId"] == host, f"HostId must be the Host header {host!r}, got {d['HostId']!r}"
    assert d["Recommend"] == recommend_url(d["Code"], d["RequestId"]), d["Recommend"]
    return d


# --------------------------------------------------------------------------------------------
# Replies over raw HTTP


class AliReply:
    def __init__(self, r: requests.Response, host: str, sts: str | None = None):
        self.r = r
        self.status = r.status_code
        self.headers = r.headers
        self.content = r.content
        self.text = r.text
        self.host = host
        self.sts = sts  # the string to sign the client used, when known
        self._json = None
        self._root = None

    def __repr__(self):
        return f"<AliReply {self.status} {self.headers.get('Content-Type')!r} {self.text[:1500]!r}>"

    @property
    def ctype(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def fmt(self) -> str:
        if self.ctype == JSON_CT:
            return "json"
        if self.ctype == XML_CT:
            return "xml"
        raise AssertionError(f"Content-Type must be {JSON_CT!r} or {XML_CT!r}: {self!r}")

    @property
    def json(self):
        if self._json is None:
            assert self.ctype == JSON_CT, f"expected Content-Type {JSON_CT!r}: {self!r}"
            try:
                self._json = json.loads(self.content)
            except ValueError as e:
                raise AssertionError(f"body is not JSON ({e}): {self!r}") from None
        return self._json

    @property
    def root(self) -> ET.Element:
        if self._root is None:
            assert self.ctype == XML_CT, f"expected Content-Type {XML_CT!r}: {self!r}"
            try:
                self._root = ET.fromstring(self.content)
            except ET.ParseError as e:
                raise AssertionError(f"body is not XML ({e}): {self!r}") from None
        return self._root

    # -- success
    def ok(self, action: str | None = None, fmt: str = "json") -> "AliReply":
        assert self.status == 200, f"{action}: expected 200, got {self!r}"
        assert "x-acs-retry-after" not in {k.lower() for k in self.headers}, self.headers
        if fmt == "json":
            body = self.json
            assert isinstance(body, dict), body
            assert REQUEST_ID_RE.match(str(body.get("RequestId", ""))), f"RequestId: {body}"
        else:
            root = self.root
            if action:
                assert root.tag == f"{action}Response", f"XML root must be <{action}Response>, got <{root.tag}>"
            rid = root.find("RequestId")
            assert rid is not None and REQUEST_ID_RE.match(rid.text or ""), ET.tostring(root)[:500]
        return self

    @property
    def body(self) -> dict:
        return self.json

    # -- errors
    @property
    def code(self) -> str | None:
        return self.error_fields()["Code"]

    @property
    def message(self) -> str | None:
        return self.error_fields()["Message"]

    def error_fields(self) -> dict:
        if self.fmt == "json":
            check_json_error_body(self.json, self.host)
            return self.json
        return check_xml_error_root(self.root, self.host)

    def error(self, code: str, message: str | None = None, fmt: str | None = "json") -> "AliReply":
        """The error envelope (JSON or XML, as asked), the exact code, the table's HTTP status and the
        exact message (`message`, else the table's)."""
        assert 400 <= self.status < 500, f"expected a 4xx {code}, got {self!r}"
        assert "x-acs-retry-after" not in {k.lower() for k in self.headers}, self.headers
        if fmt is not None:
            assert self.fmt == fmt, f"expected a {fmt} error body, got {self!r}"
        d = self.error_fields()
        check_code_status_message(d["Code"], self.status, d["Message"], code, message)
        return self

    def error_in(self, allowed: Mapping[str, str | None], fmt: str | None = "json") -> "AliReply":
        """A documented 4xx whose code is one of `allowed` (code -> exact message or None for the
        table's)."""
        assert 400 <= self.status < 500, f"expected a 4xx in {sorted(allowed)}, got {self!r}"
        if fmt is not None:
            assert self.fmt == fmt, f"expected a {fmt} error body, got {self!r}"
        d = self.error_fields()
        assert d["Code"] in allowed, f"code {d['Code']!r} ({d['Message']!r}) not in {sorted(allowed)}"
        check_code_status_message(d["Code"], self.status, d["Message"], d["Code"], allowed[d["Code"]])
        return self


# --------------------------------------------------------------------------------------------
# RPC v1 (HMAC-SHA1)


def pct(v) -> str:
    """RFC 3986 percent-encoding: A-Za-z0-9-_.~ stay, everything else is UTF-8 %XY (space %20)."""
    if isinstance(v, bytes):
        return quote(v, safe="-_.~")
    return quote(str(v), safe="-_.~", encoding="utf-8")


def v1_string_to_sign(method: str, params: Mapping) -> str:
    items = sorted((k, v) for k, v in params.items() if k != "Signature")
    canon = "&".join(f"{pct(k)}={pct(v)}" for k, v in items)
    return f"{method}&%2F&{pct(canon)}"


def v1_signature(string_to_sign: str, secret: str) -> str:
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def timestamp(skew: float = 0) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=skew)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_pairs(params: Mapping) -> str:
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in params.items())


def host_of(srv) -> str:
    return f"{srv.host}:{srv.port}"


_session = requests.Session()
_session.trust_env = False


def send_raw(method: str, url: str, body: bytes | None, headers: Mapping, timeout: float = 60) -> requests.Response:
    req = requests.Request(method, url, data=body if body else None, headers=dict(headers)).prepare()
    req.url = url  # exactly as built: no requoting by requests
    if body is not None and method != "GET":
        req.body = body
        req.headers["Content-Length"] = str(len(body))
    return _session.send(req, timeout=timeout, allow_redirects=False)


@dataclass
class V1Request:
    srv: object
    method: str
    query: dict
    body: dict | bytes | None
    sts: str
    headers: dict = field(default_factory=dict)

    def url(self) -> str:
        q = encode_pairs(self.query)
        return f"http://{host_of(self.srv)}/" + (f"?{q}" if q else "")

    def body_bytes(self) -> bytes | None:
        if self.body is None:
            return None
        if isinstance(self.body, bytes):
            return self.body
        return encode_pairs(self.body).encode()

    def send(self, timeout: float = 60) -> AliReply:
        h = dict(self.headers)
        b = self.body_bytes()
        if b is not None and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = FORM_CT
        r = send_raw(self.method, self.url(), b if self.method != "GET" else None, h, timeout)
        return AliReply(r, host_of(self.srv), self.sts)


def v1(srv, action: str | None, params: Mapping | None = None, *, creds=None, method: str = "POST",
       where: str = "query", fmt: str | None = "JSON", version: str | None = VERSION,
       region: str | None = REGION, nonce: str | None = None, skew: float = 0,
       ts: str | None = None, omit: Iterable[str] = (), sign_secret: str | None = None,
       signature_type: bool = False, extra_common: Mapping | None = None,
       tamper: Callable[[dict, dict], None] | None = None, headers: Mapping | None = None,
       sign_method: str | None = None) -> V1Request:
    """Build an RPC v1 request signed as the reference says (not sent: call .send()).

    where: "query" (every parameter in the query, empty body: what both SDKs do), "body" (all in a
    form body), "split" (common parameters in the query, business parameters in the body, as
    Terraform does). `omit` drops parameters before signing ("Signature" drops the signature
    itself). `tamper(query, body)` changes the request after signing. `sign_method` signs with
    another method than the one sent.
    """
    _, akid, secret = creds or srv.creds
    omit = set(omit)
    business = dict(params or {})
    if region is not None and "RegionId" not in business:
        business["RegionId"] = region
    common = {}
    if action is not None:
        common["Action"] = action
    if version is not None:
        common["Version"] = version
    if fmt is not None:
        common["Format"] = fmt
    common.update({
        "AccessKeyId": akid,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or str(uuid.uuid4()),
        "Timestamp": ts or timestamp(skew),
    })
    if signature_type:
        common["SignatureType"] = ""
    common.update(extra_common or {})
    for k in omit:
        common.pop(k, None)
        business.pop(k, None)
    allp = {**business, **common}
    sts = v1_string_to_sign(sign_method or method, allp)
    if "Signature" not in omit:
        common["Signature"] = v1_signature(sts, sign_secret if sign_secret is not None else secret)
    if method == "GET" or where == "query":
        query, body = {**business, **common}, None
    elif where == "body":
        query, body = {}, {**business, **common}
    elif where == "split":
        query, body = common, business
    else:
        raise ValueError(where)
    if tamper:
        tamper(query, body if body is not None else {})
    return V1Request(srv, method, query, body, sts, dict(headers or {}))


def v1_call(srv, action, params=None, **kw) -> AliReply:
    return v1(srv, action, params, **kw).send()


# --------------------------------------------------------------------------------------------
# V3 (ACS3-HMAC-SHA256)


def v3_canonical_query(query: Mapping) -> str:
    return "&".join(f"{pct(k)}={pct(query[k])}" for k in sorted(query))


@dataclass
class V3Request:
    srv: object
    method: str
    query: dict
    headers: dict
    body: bytes
    canonical: str
    sts: str

    def url(self) -> str:
        q = urlencode(self.query)  # form-encoded like the Tea SDK (space as '+')
        return f"http://{host_of(self.srv)}/" + (f"?{q}" if q else "")

    def send(self, timeout: float = 60) -> AliReply:
        r = send_raw(self.method, self.url(), self.body or None, self.headers, timeout)
        return AliReply(r, host_of(self.srv), self.sts)


def v3(srv, action: str | None, params: Mapping | None = None, *, creds=None, method: str = "POST",
       version: str | None = VERSION, region: str | None = REGION, nonce: str | None = None,
       skew: float = 0, date: str | None = None, body: bytes = b"", content_type: str | None = None,
       extra_headers: Mapping | None = None, omit_headers: Iterable[str] = (),
       signed: Iterable[str] | None = None, sign_secret: str | None = None,
       authorization: str | Callable[[str], str] | None = None,
       algorithm: str = "ACS3-HMAC-SHA256") -> V3Request:
    """Build a V3-signed request the way alibabacloud-tea-openapi does: POST, business parameters in
    the query, action and version in x-acs-* headers, every sent header signed (or `signed`)."""
    _, akid, secret = creds or srv.creds
    query = {k: (v if isinstance(v, str) else str(v)) for k, v in (params or {}).items()}
    if region is not None and "RegionId" not in query:
        query["RegionId"] = region
    h = {
        "host": host_of(srv),
        "accept": "application/json",
        "user-agent": "keypaird-tests/aliyun-v3",
        "x-acs-credentials-provider": "static_ak",
        "x-acs-date": date or timestamp(skew),
        "x-acs-signature-nonce": nonce or secrets.token_hex(16),
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if action is not None:
        h["x-acs-action"] = action
    if version is not None:
        h["x-acs-version"] = version
    if content_type:
        h["content-type"] = content_type
    h.update({k.lower(): v for k, v in (extra_headers or {}).items()})
    for k in omit_headers:
        h.pop(k.lower(), None)
    names = sorted(k.lower() for k in (signed if signed is not None else h))
    canon_headers = "".join(f"{k}:{str(h.get(k, '')).strip()}\n" for k in names)
    signed_list = ";".join(names)
    canonical = (f"{method}\n/\n{v3_canonical_query(query)}\n{canon_headers}\n{signed_list}\n"
                 f"{hashlib.sha256(body).hexdigest()}")
    sts = f"{algorithm}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    sig = hmac.new((sign_secret if sign_secret is not None else secret).encode(), sts.encode(),
                   hashlib.sha256).hexdigest()
    auth = f"{algorithm} Credential={akid},SignedHeaders={signed_list},Signature={sig}"
    if callable(authorization):
        auth = authorization(auth)
    elif authorization is not None:
        auth = authorization
    if auth is not None:
        h["Authorization"] = auth
    return V3Request(srv, method, query, h, body, canonical, sts)


def v3_call(srv, action, params=None, **kw) -> AliReply:
    return v3(srv, action, params, **kw).send()


# --------------------------------------------------------------------------------------------
# aliyun-python-sdk-core + aliyun-python-sdk-ecs (RPC v1)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass
class CoreResult:
    status: int | None
    headers: dict | None
    body: bytes | None
    exc: Exception | None
    host: str
    string_to_sign: str
    fmt: str

    def __repr__(self):
        return f"<CoreResult {self.status} {self.exc!r} {(self.body or b'')[:1500]!r}>"

    @property
    def ctype(self) -> str:
        return {k.lower(): v for k, v in (self.headers or {}).items()}.get("content-type", "")

    def ok(self) -> dict | ET.Element:
        assert self.exc is None and self.status == 200, f"expected 200, got {self!r}"
        if self.fmt == "JSON":
            assert self.ctype == JSON_CT, f"Content-Type {self.ctype!r}"
            d = json.loads(self.body)
            assert REQUEST_ID_RE.match(str(d.get("RequestId", ""))), d
            return d
        assert self.ctype == XML_CT, f"Content-Type {self.ctype!r}"
        return ET.fromstring(self.body)

    def error(self, code: str, message: str | None = None):
        """The SDK's ServerException (code, HTTP status, message, request id) and the raw body."""
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        assert isinstance(self.exc, ServerException), f"expected a ServerException {code}, got {self!r}"
        if self.fmt == "JSON":
            assert self.ctype == JSON_CT, f"Content-Type {self.ctype!r}"
            body = json.loads(self.body)
            check_json_error_body(body, self.host)
            check_code_status_message(self.exc.get_error_code(), self.exc.get_http_status(),
                                      self.exc.get_error_msg(), code, message, "core SDK: ")
            assert self.exc.get_request_id() == body["RequestId"]
        else:
            assert self.ctype == XML_CT, f"Content-Type {self.ctype!r}"
            d = check_xml_error_root(ET.fromstring(self.body), self.host)
            check_code_status_message(d["Code"], self.status, d["Message"], code, message, "core SDK XML: ")
        return self.exc


class Core:
    """AcsClient pointed at keypaird over plain HTTP, no retries."""

    def __init__(self, srv, creds=None, region: str = REGION):
        from aliyunsdkcore.client import AcsClient
        _, akid, secret = creds or srv.creds
        self.srv = srv
        self.region = region
        self.client = AcsClient(akid, secret, region, port=srv.port, auto_retry=False,
                                max_retry_time=0, timeout=60, connect_timeout=5)

    def request(self, action: str, fmt: str = "JSON", **setters):
        mod = importlib.import_module(f"aliyunsdkecs.request.v20140526.{action}Request")
        req = getattr(mod, f"{action}Request")()
        req.set_endpoint(self.srv.host)
        req.set_protocol_type("http")
        req.set_accept_format(fmt)
        for k, v in setters.items():
            getattr(req, f"set_{k}")(v)
        return req

    def raw(self, action: str, fmt: str = "JSON", **setters) -> CoreResult:
        req = self.request(action, fmt, **setters)
        status, headers, body, exc = self.client._implementation_of_do_action(req)
        return CoreResult(status, dict(headers or {}), body, exc, host_of(self.srv), req.string_to_sign, fmt)

    def do(self, action: str, **setters) -> dict:
        """JSON, through the SDK's own do_action_with_exception."""
        req = self.request(action, "JSON", **setters)
        return json.loads(self.client.do_action_with_exception(req))

    def error(self, action: str, code: str, message: str | None = None, fmt: str = "JSON", **setters):
        return self.raw(action, fmt, **setters).error(code, message)

    # conveniences
    def describe(self, **setters) -> dict:
        setters.setdefault("PageSize", 50)
        return self.do("DescribeKeyPairs", **setters)

    def names(self, **setters) -> list:
        return [k["KeyPairName"] for k in self.describe(**setters)["KeyPairs"]["KeyPair"]]


# --------------------------------------------------------------------------------------------
# alibabacloud-ecs20140526 + alibabacloud-tea-openapi (V3)


class Tea:
    """The Tea client pointed at keypaird over plain HTTP, no retries."""

    def __init__(self, srv, creds=None, region: str = REGION, signature_algorithm: str | None = None):
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.utils_models import Config
        from darabonba.runtime import RuntimeOptions
        _, akid, secret = creds or srv.creds
        self.srv = srv
        self.region = region
        # None: the SDK's default, ACS3-HMAC-SHA256.
        cfg = Config(access_key_id=akid, access_key_secret=secret, endpoint=host_of(srv),
                     protocol="http", region_id=region, read_timeout=60000, connect_timeout=5000,
                     signature_algorithm=signature_algorithm)
        self.client = Client(cfg)
        self.runtime = RuntimeOptions(autoretry=False, max_attempts=0, read_timeout=60000,
                                      connect_timeout=5000)

    @staticmethod
    def models():
        from alibabacloud_ecs20140526 import models
        return models

    def call(self, action: str, **fields):
        m = self.models()
        fields.setdefault("region_id", self.region)
        req = getattr(m, f"{action}Request")(**fields)
        resp = getattr(self.client, f"{snake(action)}_with_options")(req, self.runtime)
        assert resp.status_code == 200, resp
        return resp

    def body(self, action: str, **fields) -> dict:
        """The reply body as the SDK read it, as a plain dict (the SDK's own field names)."""
        resp = self.call(action, **fields)
        d = resp.body.to_map()
        assert REQUEST_ID_RE.match(d.get("RequestId", "")), d
        return d

    def error(self, action: str, code: str, message: str | None = None, **fields):
        from alibabacloud_tea_openapi.exceptions import ClientException
        with pytest.raises(Exception) as ei:
            self.call(action, **fields)
        e = ei.value
        assert isinstance(e, ClientException), f"expected a Tea ClientException {code}, got {type(e)}: {e}"
        # darabonba adds the HTTP status to the parsed body as statusCode; the rest is the server's
        assert e.data.get("statusCode") == e.status_code, e.data
        body = {k: v for k, v in e.data.items() if k != "statusCode"}
        check_json_error_body(body, host_of(self.srv))
        check_code_status_message(e.code, e.status_code, body["Message"], code, message, "Tea SDK: ")
        assert e.request_id == body["RequestId"]
        return e

    def tag(self, key, value=None):
        return self.models().CreateKeyPairRequestTag(key=key, value=value)

    def describe(self, **fields) -> dict:
        fields.setdefault("page_size", 50)
        return self.body("DescribeKeyPairs", **fields)

    def names(self, **fields) -> list:
        return [k["KeyPairName"] for k in self.describe(**fields)["KeyPairs"]["KeyPair"]]


# --------------------------------------------------------------------------------------------
# Raw conveniences (v1, JSON)


def create(srv, name: str, creds=None, region: str = REGION, **params) -> dict:
    return v1_call(srv, "CreateKeyPair", {"KeyPairName": name, **params}, creds=creds,
                   region=region).ok("CreateKeyPair").body


def import_key(srv, name: str, pub: str, creds=None, region: str = REGION, **params) -> dict:
    return v1_call(srv, "ImportKeyPair", {"KeyPairName": name, "PublicKeyBody": pub, **params},
                   creds=creds, region=region).ok("ImportKeyPair").body


def describe(srv, creds=None, region: str = REGION, **params) -> dict:
    params.setdefault("PageSize", "50")
    return v1_call(srv, "DescribeKeyPairs", params, creds=creds, region=region).ok("DescribeKeyPairs").body


def items(srv, creds=None, region: str = REGION, **params) -> list:
    return describe(srv, creds, region, **params)["KeyPairs"]["KeyPair"]


def names(srv, creds=None, region: str = REGION, **params) -> list:
    return [k["KeyPairName"] for k in items(srv, creds, region, **params)]


def tags_of(item: dict) -> dict:
    return {t["TagKey"]: t["TagValue"] for t in item["Tags"]["Tag"]}


def tag_params(tags: Mapping | Iterable, prefix: str = "Tag") -> dict:
    pairs = tags.items() if isinstance(tags, Mapping) else tags
    out = {}
    for i, (k, v) in enumerate(pairs, 1):
        out[f"{prefix}.{i}.Key"] = k
        if v is not None:
            out[f"{prefix}.{i}.Value"] = v
    return out


def list_tags(srv, ids: Iterable[str] = (), creds=None, region: str = REGION, **params) -> list:
    """Every TagResource over all NextToken pages: [(ResourceId, TagKey, TagValue)]."""
    out, token, pages = [], None, 0
    while True:
        p = {"ResourceType": "keypair", **{f"ResourceId.{i}": r for i, r in enumerate(ids, 1)}, **params}
        if token:
            p["NextToken"] = token
        b = v1_call(srv, "ListTagResources", p, creds=creds, region=region).ok("ListTagResources").body
        for t in b["TagResources"]["TagResource"]:
            assert t["ResourceType"] == "keypair", t
            out.append((t["ResourceId"], t["TagKey"], t["TagValue"]))
        pages += 1
        token = b.get("NextToken")
        if not token:
            return out
        assert pages < 100, "NextToken paging does not end"


# --------------------------------------------------------------------------------------------
# Keys and oracles


def md5_fingerprint(pub_file: Path) -> str:
    """`ssh-keygen -l -E md5 -f key.pub` without the MD5: prefix."""
    require_tool("ssh-keygen", "openssh-client")
    out = run(["ssh-keygen", "-l", "-E", "md5", "-f", str(pub_file)])
    m = re.search(r"MD5:((?:[0-9a-f]{2}:){15}[0-9a-f]{2})", out)
    assert m, out
    return m.group(1)


def ssh_bits(pub_file: Path) -> int:
    return int(run(["ssh-keygen", "-l", "-f", str(pub_file)]).split()[0])


def keygen(tmp: Path, name: str, *args: str) -> Path:
    """ssh-keygen a key; returns the private key path (public at <path>.pub)."""
    p = tmp / name
    run(["ssh-keygen", "-q", *args, "-N", "", "-C", f"{name}@keypaird-test", "-f", str(p)])
    return p


def pub_line(path: Path) -> str:
    return Path(str(path) + ".pub").read_text().strip()


def _ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _mpint(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 8) // 8, "big")  # a leading zero byte when the top bit is set
    return _ssh_string(b)


def small_rsa_line(bits: int) -> str:
    """An ssh-rsa line with a `bits`-bit modulus (ssh-keygen and cryptography refuse to make these)."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    blob = _ssh_string(b"ssh-rsa") + _mpint(65537) + _mpint(n)
    return f"ssh-rsa {base64.b64encode(blob).decode()} small{bits}@keypaird-test"


def verify_created_key(tmp: Path, resp: dict, item: dict) -> dict:
    """Check a CreateKeyPair reply with openssl and ssh-keygen against the DescribeKeyPairs item
    (IncludePublicKey=true) of the same key."""
    require_tool("openssl", "openssl")
    pem = resp["PrivateKeyBody"]
    name = resp["KeyPairName"]
    assert KEY_PAIR_ID_RE.match(resp["KeyPairId"]), resp["KeyPairId"]
    lines = pem.strip().splitlines()
    assert lines[0] == "-----BEGIN PRIVATE KEY-----", f"PrivateKeyBody must be PKCS#8 PEM: {lines[0]!r}"
    assert lines[-1] == "-----END PRIVATE KEY-----", lines[-1]
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] + "-" + resp["KeyPairId"]
    keyfile = write_private(tmp / f"{stem}.pem", pem if pem.endswith("\n") else pem + "\n")
    text = run(["openssl", "pkey", "-in", str(keyfile), "-noout", "-text"])
    assert re.search(r"Private-Key: \(2048 bit", text), f"openssl pkey: not a 2048-bit key:\n{text[:300]}"
    assert "modulus:" in text and "publicExponent:" in text, "openssl pkey: not an RSA key"
    asn1 = run(["openssl", "asn1parse", "-in", str(keyfile)])
    assert ":rsaEncryption" in asn1, f"PKCS#8 AlgorithmIdentifier must be rsaEncryption:\n{asn1[:500]}"
    assert "RSA key ok" in run(["openssl", "rsa", "-check", "-noout", "-in", str(keyfile)])
    pub = type_b64(run(["ssh-keygen", "-y", "-f", str(keyfile)]))
    assert pub[0] == "ssh-rsa", pub
    pubfile = tmp / f"{stem}.pub"
    pubfile.write_text(f"{pub[0]} {pub[1]}\n")
    assert ssh_bits(pubfile) == 2048
    fp = md5_fingerprint(pubfile)
    assert resp["KeyPairFingerPrint"] == fp, (
        f"CreateKeyPair fingerprint {resp['KeyPairFingerPrint']} != ssh-keygen -E md5 {fp}")
    assert item["KeyPairName"] == name
    assert item["KeyPairFingerPrint"] == fp
    assert type_b64(item["PublicKey"]) == pub, (
        f"DescribeKeyPairs PublicKey {item['PublicKey']!r} != key derived from the private key {pub}")
    return {"pub": pub, "fingerprint": fp, "keyfile": keyfile, "pubfile": pubfile}


def check_creation_time(value: str, slack_minutes: int = 2):
    assert CREATION_TIME_RE.match(value), f"CreationTime {value!r} is not yyyy-MM-ddTHH:mmZ"
    t = dt.datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    assert now - dt.timedelta(minutes=slack_minutes) <= t <= now + dt.timedelta(minutes=1), (value, now)


ITEM_KEYS = {"KeyPairName", "KeyPairFingerPrint", "CreationTime", "ResourceGroupId", "Tags"}


def check_item_shape(item: dict, public_key: bool):
    keys = set(item) - {"KeyPairId"}  # KeyPairId tolerated as an extra; the reference's item omits it
    want = ITEM_KEYS | ({"PublicKey"} if public_key else set())
    assert keys == want, f"DescribeKeyPairs item keys {sorted(item)} != {sorted(want)}"
    assert isinstance(item["Tags"], dict) and set(item["Tags"]) == {"Tag"}, item["Tags"]
    assert isinstance(item["Tags"]["Tag"], list), item["Tags"]
    for t in item["Tags"]["Tag"]:
        assert set(t) == {"TagKey", "TagValue"}, t
    assert isinstance(item["ResourceGroupId"], str)
    assert MD5_FP_RE.match(item["KeyPairFingerPrint"]), item["KeyPairFingerPrint"]
    check_creation_time(item["CreationTime"])




def ed25519_line(comment: str = "gen@keypaird-test") -> str:
    """A fresh ssh-ed25519 public key line (made in-process: fast enough for dozens of keys)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    k = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{k} {comment}"


def import_many(srv, names: Iterable[str], creds=None, region: str = REGION, **params) -> list:
    """Import one fresh ed25519 key per name, in order; returns the names."""
    out = []
    for n in names:
        import_key(srv, n, ed25519_line(), creds=creds, region=region, **params)
        out.append(n)
        # "Newest first" is by creation time to the millisecond (ties by random ID): keep the
        # creation times of consecutive imports apart so the expected order is well defined.
        time.sleep(0.002)
    return out
