"""Helpers for the audit trail tests (issue 14, docs/audit.md): the `keypaird audit --json` command
line, AWS CloudTrail LookupEvents (boto3's `cloudtrail` client, raw SigV4-signed requests, the aws
CLI) and Alibaba ActionTrail LookupEvents (alibabacloud-actiontrail20200706 over V3, and
aliyun-python-sdk-actiontrail with aliyun-python-sdk-core's AcsClient over RPC v1).

Everything here encodes docs/audit.md; nothing looks at the server's source.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

import support
from aliyun_support import REQUEST_ID_RE, check_json_error_body, host_of

SENSITIVE = "<sensitiveDataRemoved>"
CT_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
CT_TARGET = CT_PREFIX + "LookupEvents"
CT_CT = "application/x-amz-json-1.1"
AT_VERSION = "2020-07-06"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CT_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# The JSON fields of one `keypaird audit --json` line (docs/audit.md, 'The command line').
AUDIT_FIELDS = {"eventId", "eventTime", "source", "accountId", "accountName", "region",
                "accessKeyId", "sourceIp", "userAgent", "eventName", "readOnly", "requestId",
                "requestParameters", "resources", "errorCode", "errorMessage"}
CT_EVENT_KEYS = {"EventId", "EventName", "ReadOnly", "AccessKeyId", "EventTime", "EventSource",
                 "Username", "Resources", "CloudTrailEvent"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime, ms: bool = False) -> str:
    t = t.astimezone(dt.timezone.utc)
    if ms:
        total = round(t.timestamp() * 1000)  # to the nearest millisecond (float epoch input)
        s = dt.datetime.fromtimestamp(total // 1000, dt.timezone.utc)
        return s.strftime("%Y-%m-%dT%H:%M:%S.") + f"{total % 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(v) -> dt.datetime:
    """An event time as the command line or an API shows it: ISO 8601 text, epoch seconds or
    milliseconds (docs/audit.md fixes the precision, milliseconds, not the spelling)."""
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc)
    if isinstance(v, (int, float)):
        secs = v / 1000 if v > 1e11 else v
        return dt.datetime.fromtimestamp(secs, dt.timezone.utc)
    assert isinstance(v, str), f"not a time: {v!r}"
    s = v.replace("Z", "+00:00")
    return dt.datetime.fromisoformat(s).astimezone(dt.timezone.utc)


def until(predicate, timeout: float = 10, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# The command line


def cli_ok(*args, env=None, timeout: float = 60) -> str:
    cp = support.run_cli([str(a) for a in args], env=env, timeout=timeout)
    assert cp.returncode == 0, (f"`keypaird {' '.join(map(str, args))}` exited {cp.returncode}\n"
                                f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    support.assert_no_panic(cp.stdout + cp.stderr)
    return cp.stdout


def account_id(store_url: str, name: str) -> str:
    out = cli_ok("accounts", "list", "--store", store_url)
    m = re.search(rf"^{re.escape(name)}\s+(\d{{12}})\s", out, re.M)
    assert m, f"account {name!r} not in `accounts list`:\n{out}"
    return m.group(1)


def version() -> str:
    out = cli_ok("--version").strip()
    m = re.search(r"(\d+\.\d+\.\d+\S*)", out)
    assert m, out
    return m.group(1)


def params_of(ev: dict) -> dict:
    """requestParameters of an audit line, as an object (the line may carry it as JSON text)."""
    p = ev["requestParameters"]
    if isinstance(p, str):
        p = json.loads(p) if p else {}
    assert isinstance(p, dict), ev
    return p


def audit(store_url: str, *args, limit: int | None = None) -> list:
    """`keypaird audit --json` lines, each checked to carry every documented field."""
    a = ["audit", "--store", store_url, "--json", *map(str, args)]
    if limit is not None:
        a += ["--limit", str(limit)]
    out = cli_ok(*a)
    evs = []
    for line in out.splitlines():
        if not line.strip():
            continue
        ev = json.loads(line)
        assert isinstance(ev, dict), line
        missing = AUDIT_FIELDS - set(ev)
        assert not missing, f"audit --json line lacks {sorted(missing)}: {line}"
        evs.append(ev)
    return evs


def api_events(store_url: str, *args, limit: int | None = None) -> list:
    """`keypaird audit --json` without the command line's own records (the fixtures' `accounts
    create` among them)."""
    return [e for e in audit(store_url, *args, limit=limit) if e["source"] != "cli"]


def audit_raw(store_url: str, *args) -> str:
    return cli_ok("audit", "--store", store_url, *map(str, args))


def kp_resources(ev: dict) -> list:
    return sorted((r["kind"], r["id"], r["name"], r.get("fingerprint") or "")
                  for r in ev["resources"])


def no_error(ev: dict):
    assert ev.get("errorCode") in (None, ""), f"unexpected errorCode: {ev}"
    assert ev.get("errorMessage") in (None, ""), f"unexpected errorMessage: {ev}"


# --------------------------------------------------------------------------------------------
# AWS CloudTrail


def cloudtrail(srv, region: str = "us-east-1", creds=None):
    _, akid, secret = creds or srv.creds
    s = boto3.session.Session(aws_access_key_id=akid, aws_secret_access_key=secret,
                              region_name=region)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=60)
    return s.client("cloudtrail", endpoint_url=srv.url, config=cfg)


def attr(key: str, value: str) -> list:
    return [{"AttributeKey": key, "AttributeValue": value}]


def ct_all(client, max_pages: int = 100, **kw) -> tuple:
    """Every page of LookupEvents: (events, page sizes)."""
    events, sizes, token = [], [], None
    for _ in range(max_pages):
        args = dict(kw)
        if token:
            args["NextToken"] = token
        r = client.lookup_events(**args)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        events += r["Events"]
        sizes.append(len(r["Events"]))
        token = r.get("NextToken")
        if not token:
            return events, sizes
    raise AssertionError("LookupEvents paging does not end")


def ct_raw(srv, body, *, creds=None, region: str = "us-east-1", target: str = CT_TARGET,
           sign_secret: str | None = None, headers: Mapping | None = None,
           signed: bool = True) -> requests.Response:
    """A raw LookupEvents (or other CloudTrail target) POST signed with botocore's SigV4 for
    `cloudtrail`."""
    _, akid, secret = creds or srv.creds
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": CT_CT, "X-Amz-Target": target, **(headers or {})}
    req = AWSRequest(method="POST", url=srv.url + "/", data=data, headers=h)
    if signed:
        SigV4Auth(Credentials(akid, sign_secret if sign_secret is not None else secret),
                  "cloudtrail", region).add_auth(req)
    p = req.prepare()
    return requests.post(p.url, headers=dict(p.headers.items()), data=p.body, timeout=60)


def ct_error(r: requests.Response, code: str) -> dict:
    """docs/audit.md: every error is HTTP 400 with {"__type": "<code>", "message": "<text>"}."""
    try:
        b = r.json()
    except ValueError:
        raise AssertionError(f"HTTP {r.status_code} body is not JSON: {r.text[:500]!r}") from None
    assert b.get("__type") == code, f"expected __type {code}, got HTTP {r.status_code} {b}"
    assert r.status_code == 400, f"{code}: expected HTTP 400, got {r.status_code}"
    assert isinstance(b.get("message"), str) and b["message"].strip(), f"{code}: no message: {b}"
    return b


def ct_client_error(excinfo, code: str):
    e = excinfo.value
    assert e.response["Error"]["Code"] == code, f"expected {code}, got {e.response['Error']}"
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response["ResponseMetadata"]
    assert e.response["Error"]["Message"].strip(), e.response
    return e


def trail_event(ev: dict) -> dict:
    """The CloudTrailEvent JSON of a LookupEvents event."""
    assert isinstance(ev["CloudTrailEvent"], str), ev
    return json.loads(ev["CloudTrailEvent"])


def ct_resources(ev: dict) -> list:
    return sorted((r["ResourceType"], r["ResourceName"]) for r in ev.get("Resources", []))


def aws_cli(srv, *args, creds=None, region: str = "us-east-1") -> subprocess.CompletedProcess:
    """The aws CLI of the venv (awscli v1), pointed at the server, with the account's
    credentials."""
    _, akid, secret = creds or srv.creds
    aws = Path(sys.executable).parent / "aws"
    assert aws.is_file(), f"no aws CLI at {aws}: the venv must install tests/requirements.txt"
    env = support.clean_env({"AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
                             "AWS_DEFAULT_REGION": region, "AWS_PAGER": ""})
    return subprocess.run([str(aws), "--endpoint-url", srv.url, "--region", region, "--output",
                           "json", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------
# EC2 changes whose replies the tests compare with the records


def ec2_create(srv, name: str, *, creds=None, region: str = "us-east-1", ua: str | None = None,
               **params) -> dict:
    """A raw CreateKeyPair (so the user agent is known); returns the reply's fields."""
    h = {"User-Agent": ua} if ua else None
    r = support.call(srv.url, "CreateKeyPair", {"KeyName": name, **params},
                     creds=creds or srv.creds, region=region, headers=h).ok("CreateKeyPair")
    return {"requestId": r.txt("requestId"), "keyName": r.txt("keyName"),
            "keyFingerprint": r.txt("keyFingerprint"), "keyPairId": r.txt("keyPairId"),
            "keyMaterial": r.txt("keyMaterial")}


def make_ec2_events(srv, n: int, prefix: str = "ev", region: str = "us-east-1", creds=None) -> list:
    """n CreateKeyPair (ed25519) calls, a few milliseconds apart so 'newest first' is well
    defined; returns their replies in call order."""
    c = srv.ec2(region, creds)
    out = []
    for i in range(n):
        out.append(c.create_key_pair(KeyName=f"{prefix}-{i:03d}", KeyType="ed25519"))
        time.sleep(0.003)
    return out


# --------------------------------------------------------------------------------------------
# Alibaba ActionTrail


class TrailTea:
    """alibabacloud-actiontrail20200706 (V3 signatures) pointed at keypaird over plain HTTP."""

    def __init__(self, srv, creds=None):
        from alibabacloud_actiontrail20200706.client import Client
        from alibabacloud_tea_openapi.utils_models import Config as TeaConfig
        from darabonba.runtime import RuntimeOptions
        _, akid, secret = creds or srv.creds
        self.srv = srv
        cfg = TeaConfig(access_key_id=akid, access_key_secret=secret, endpoint=host_of(srv),
                        protocol="http", region_id="cn-hangzhou", read_timeout=60000,
                        connect_timeout=5000)
        self.client = Client(cfg)
        self.runtime = RuntimeOptions(autoretry=False, max_attempts=0, read_timeout=60000,
                                      connect_timeout=5000)

    @staticmethod
    def models():
        from alibabacloud_actiontrail20200706 import models
        return models

    def request(self, key=None, value=None, **fields):
        m = self.models()
        if key is not None:
            fields["lookup_attribute"] = [m.LookupEventsRequestLookupAttribute(key=key, value=value)]
        return m.LookupEventsRequest(**fields)

    def lookup(self, key=None, value=None, **fields) -> dict:
        resp = self.client.lookup_events_with_options(self.request(key, value, **fields), self.runtime)
        assert resp.status_code == 200, resp
        assert resp.headers.get("content-type") == "application/json;charset=utf-8", resp.headers
        b = resp.body.to_map()
        assert REQUEST_ID_RE.match(b.get("RequestId", "")), b
        return b

    def all(self, key=None, value=None, max_pages: int = 100, **fields) -> tuple:
        return _all_pages(self.lookup, "next_token", key, value, max_pages, fields)

    def error(self, code: str, key=None, value=None, **fields):
        from alibabacloud_tea_openapi.exceptions import ClientException
        try:
            self.client.lookup_events_with_options(self.request(key, value, **fields), self.runtime)
        except ClientException as e:
            body = {k: v for k, v in e.data.items() if k != "statusCode"}
            check_json_error_body(body, host_of(self.srv))
            assert e.code == code, f"Tea SDK: expected {code}, got {e.code}: {body}"
            assert e.status_code == 400, f"{code}: expected HTTP 400, got {e.status_code}"
            assert body["Message"].strip(), body
            return body
        raise AssertionError(f"expected {code}, the call succeeded")


class TrailCore:
    """aliyun-python-sdk-actiontrail's LookupEventsRequest through AcsClient (RPC v1)."""

    def __init__(self, srv, creds=None):
        from aliyunsdkcore.client import AcsClient
        _, akid, secret = creds or srv.creds
        self.srv = srv
        self.client = AcsClient(akid, secret, "cn-hangzhou", port=srv.port, auto_retry=False,
                                max_retry_time=0, timeout=60, connect_timeout=5)

    def request(self, fmt: str = "JSON", key=None, value=None, **setters):
        from aliyunsdkactiontrail.request.v20200706.LookupEventsRequest import LookupEventsRequest
        req = LookupEventsRequest()
        assert req.get_version() == AT_VERSION, req.get_version()
        req.set_endpoint(self.srv.host)
        req.set_protocol_type("http")
        req.set_accept_format(fmt)
        if key is not None:
            req.set_LookupAttributes([{"Key": key, "Value": value}])
        for k, v in setters.items():
            getattr(req, f"set_{k}")(v)
        return req

    def raw(self, fmt: str = "JSON", key=None, value=None, **setters):
        req = self.request(fmt, key, value, **setters)
        status, headers, body, exc = self.client._implementation_of_do_action(req)
        return status, {k.lower(): v for k, v in dict(headers or {}).items()}, body, exc

    def lookup(self, key=None, value=None, **setters) -> dict:
        req = self.request("JSON", key, value, **setters)
        b = json.loads(self.client.do_action_with_exception(req))
        assert REQUEST_ID_RE.match(b.get("RequestId", "")), b
        return b

    def all(self, key=None, value=None, max_pages: int = 100, **setters) -> tuple:
        return _all_pages(self.lookup, "NextToken", key, value, max_pages, setters)

    def error(self, code: str, key=None, value=None, **setters) -> dict:
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        status, headers, body, exc = self.raw("JSON", key, value, **setters)
        assert isinstance(exc, ServerException), f"expected {code}, got {status} {exc!r} {body!r}"
        assert exc.get_error_code() == code, f"core SDK: expected {code}, got {exc.get_error_code()}: {body!r}"
        assert exc.get_http_status() == 400, f"{code}: expected HTTP 400, got {exc.get_http_status()}"
        b = json.loads(body)
        check_json_error_body(b, host_of(self.srv))
        assert b["Message"].strip(), b
        return b


def ecs_events(srv, n: int, prefix: str = "ecs-ev", creds=None, region: str = "cn-hangzhou") -> list:
    """n ImportKeyPair calls a few milliseconds apart; returns their replies in call order."""
    from aliyun_support import ed25519_line, import_key
    out = []
    for i in range(n):
        out.append(import_key(srv, f"{prefix}-{i:03d}", ed25519_line(), creds=creds, region=region))
        time.sleep(0.003)
    return out


def at_resources(ev: dict) -> set:
    return set(filter(None, (ev.get("resourceName") or "").split(";")))


def _all_pages(lookup, token_name: str, key, value, max_pages: int, arguments: dict) -> tuple:
    """Every ActionTrail page of one lookup, following NextToken (passed as `token_name`, the
    client's own spelling): the events in order, and each page's size."""
    events, sizes, token = [], [], None
    for _ in range(max_pages):
        page_arguments = dict(arguments)
        if token:
            page_arguments[token_name] = token
        body = lookup(key, value, **page_arguments)
        events += body.get("Events") or []
        sizes.append(len(body.get("Events") or []))
        token = body.get("NextToken")
        if not token:
            return events, sizes
    raise AssertionError("ActionTrail paging does not end")
