"""Alibaba ActionTrail LookupEvents (2020-07-06) over the audit trail (docs/audit.md, 'Alibaba
ActionTrail LookupEvents'), through alibabacloud-actiontrail20200706 (the Tea SDK, V3 signatures)
and aliyun-python-sdk-actiontrail with aliyun-python-sdk-core's AcsClient (RPC v1), and raw v1
requests: every lookup attribute, times, paging and Direction PREV, every error, the exact event
object, JSON and XML, regions and tenants."""

from __future__ import annotations

import datetime as dt
import json
import time
import xml.etree.ElementTree as ET

import pytest

from aliyun_support import REQUEST_ID_RE, create, ed25519_line, import_key, v1_call
from audit_support import (AT_VERSION, SENSITIVE, UUID_RE, TrailCore, TrailTea, account_id,
                           at_resources, audit, ecs_events, iso, now, parse_time)
from support import OTHER, TESTER, sqlite_url

UA = "keypaird-audit-tests/1.0 (actiontrail)"
KP = "ACS::ECS::KeyPair"
EVENT_KEYS = {"eventId", "eventName", "eventRW", "eventSource", "eventTime", "eventType",
              "eventVersion", "acsRegion", "requestId", "requestParameters", "responseElements",
              "resourceName", "resourceType", "serviceName", "sourceIpAddress", "userAgent",
              "userIdentity"}


@pytest.fixture(params=["tea", "core"])
def trail(request, srv):
    return TrailTea(srv) if request.param == "tea" else TrailCore(srv)


def at_call(srv, params=None, *, fmt="JSON", creds=None, **kw):
    """A raw RPC v1 LookupEvents (no RegionId: the request names no region)."""
    return v1_call(srv, "LookupEvents", params or {}, version=AT_VERSION, region=None, fmt=fmt,
                   creds=creds, **kw)


def ev_ids(events) -> list:
    return [e["eventId"] for e in events]


def obj(v):
    """requestParameters / responseElements: an object (JSON text is read as one)."""
    return json.loads(v) if isinstance(v, str) else v


# ---- the exact event object ------------------------------------------------------------------


def test_create_key_pair_event_object(srv, trail, store):
    acct = account_id(sqlite_url(store), TESTER[0])
    t0 = now()
    r = v1_call(srv, "CreateKeyPair", {"KeyPairName": "deploy"}, headers={"User-Agent": UA}).ok(
        "CreateKeyPair").body
    t1 = now()
    b = trail.lookup("EventName", "CreateKeyPair")
    [ev] = b["Events"]
    assert set(ev) == EVENT_KEYS, sorted(ev)
    assert UUID_RE.match(ev["eventId"]), ev["eventId"]
    assert ev["eventName"] == "CreateKeyPair"
    assert ev["eventRW"] == "Write"
    assert ev["eventSource"] == "ecs.aliyuncs.com"
    t = parse_time(ev["eventTime"])
    assert t0.replace(microsecond=0) <= t <= t1 + dt.timedelta(seconds=1), (t0, ev["eventTime"], t1)
    assert ev["eventType"] == "ApiCall"
    assert str(ev["eventVersion"]) == "1"
    assert ev["acsRegion"] == "cn-hangzhou"
    assert ev["requestId"] == r["RequestId"]
    params = obj(ev["requestParameters"])
    assert params == {"KeyPairName": "deploy", "RegionId": "cn-hangzhou"}, params
    assert obj(ev["responseElements"]) == {**r, "PrivateKeyBody": SENSITIVE}
    assert obj(ev["responseElements"])["KeyPairFingerPrint"] == r["KeyPairFingerPrint"]
    assert at_resources(ev) == {"deploy", r["KeyPairId"]}
    assert ev["resourceType"] == KP
    assert ev["serviceName"] == "Ecs"
    assert ev["sourceIpAddress"] == "127.0.0.1"
    assert ev["userAgent"] == UA
    assert ev["userIdentity"] == {"type": "ram-user", "principalId": TESTER[1],
                                  "accessKeyId": TESTER[1], "accountId": acct,
                                  "userName": "tester"}
    assert "errorCode" not in ev and "errorMessage" not in ev


def test_reply_fields(srv, trail):
    create(srv, "one")
    t = now()
    b = trail.lookup()
    assert REQUEST_ID_RE.match(b["RequestId"])
    assert len(b["Events"]) == 1
    assert not b.get("NextToken"), "one event: no next page"
    # The range applied: default end now, start 7 days before.
    end, start = parse_time(b["EndTime"]), parse_time(b["StartTime"])
    assert abs((end - t).total_seconds()) < 5, (b["EndTime"], t)
    assert end - start == dt.timedelta(days=7), (b["StartTime"], b["EndTime"])
    s = iso(t - dt.timedelta(hours=1))
    e = iso(t + dt.timedelta(hours=1))
    b = trail.lookup(**({"start_time": s, "end_time": e} if isinstance(trail, TrailTea)
                        else {"StartTime": s, "EndTime": e}))
    assert parse_time(b["StartTime"]) == parse_time(s) and parse_time(b["EndTime"]) == parse_time(e)
    assert len(b["Events"]) == 1


def test_failed_create_event(srv, trail):
    create(srv, "dup")
    err = v1_call(srv, "CreateKeyPair", {"KeyPairName": "dup"}).error("KeyPair.AlreadyExist")
    failed, ok = trail.lookup("EventName", "CreateKeyPair")["Events"]
    assert failed["errorCode"] == "KeyPair.AlreadyExist"
    assert failed["errorMessage"] == "The key pair already exist."
    assert failed["eventRW"] == "Write"
    assert obj(failed["requestParameters"]) == {"KeyPairName": "dup", "RegionId": "cn-hangzhou"}
    assert "errorCode" not in ok
    assert err.message == "The key pair already exist."


def test_import_delete_tag_join_events(srv, trail):
    line = ed25519_line()
    imp = import_key(srv, "imp", line)
    time.sleep(0.003)
    cre = create(srv, "tgt")
    kid = cre["KeyPairId"]
    # ECS names a key pair resource by its name (ResourceId) in the tag calls.
    v1_call(srv, "TagResources", {"ResourceType": "keypair", "ResourceId.1": "tgt",
                                  "Tag.1.Key": "env", "Tag.1.Value": "prod"}).ok("TagResources")
    time.sleep(0.003)
    v1_call(srv, "UntagResources", {"ResourceType": "keypair", "ResourceId.1": "tgt",
                                    "TagKey.1": "env"}).ok("UntagResources")
    time.sleep(0.003)
    v1_call(srv, "JoinResourceGroup", {"ResourceType": "keypair", "ResourceId": "tgt",
                                       "ResourceGroupId": "rg-audit"}).ok("JoinResourceGroup")
    time.sleep(0.003)
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["tgt"]'}).ok("DeleteKeyPairs")
    events = trail.lookup()["Events"]
    assert [e["eventName"] for e in events] == ["DeleteKeyPairs", "JoinResourceGroup",
                                                "UntagResources", "TagResources", "CreateKeyPair",
                                                "ImportKeyPair"]
    for e in events:
        assert e["resourceType"] == KP and e["eventRW"] == "Write" and e["serviceName"] == "Ecs"
    dele, join, untag, tag, _, imp_ev = events
    res = at_resources(imp_ev)
    assert "imp" in res and len(res) == 2, res
    if "KeyPairId" in imp:
        assert res == {"imp", imp["KeyPairId"]}
    assert obj(imp_ev["requestParameters"]) == {"KeyPairName": "imp", "PublicKeyBody": line,
                                                "RegionId": "cn-hangzhou"}
    assert obj(imp_ev["responseElements"]) == imp
    assert obj(tag["requestParameters"]) == {"ResourceType": "keypair", "ResourceId.1": "tgt",
                                             "Tag.1.Key": "env", "Tag.1.Value": "prod",
                                             "RegionId": "cn-hangzhou"}
    assert obj(untag["requestParameters"]) == {"ResourceType": "keypair", "ResourceId.1": "tgt",
                                               "TagKey.1": "env", "RegionId": "cn-hangzhou"}
    assert obj(join["requestParameters"]) == {"ResourceType": "keypair", "ResourceId": "tgt",
                                              "ResourceGroupId": "rg-audit",
                                              "RegionId": "cn-hangzhou"}
    assert obj(dele["requestParameters"]) == {"KeyPairNames": '["tgt"]', "RegionId": "cn-hangzhou"}
    # Each key pair touched is named by its name and its ID.
    for e in events[:5]:
        assert at_resources(e) == {"tgt", kid}, (e["eventName"], e["resourceName"])


def test_reads_only_with_audit_reads(account, keypaird):
    srv = keypaird()
    create(srv, "r1")
    v1_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    t = TrailCore(srv)
    assert [e["eventName"] for e in t.lookup()["Events"]] == ["CreateKeyPair"]
    assert t.lookup("EventRW", "Read")["Events"] == []
    srv.stop()
    srv = keypaird(extra=["--audit-reads"])
    t = TrailCore(srv)
    v1_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    [read] = t.lookup("EventRW", "Read")["Events"]
    assert read["eventName"] == "DescribeKeyPairs" and read["eventRW"] == "Read"
    assert [e["eventName"] for e in t.lookup("EventRW", "Write")["Events"]] == ["CreateKeyPair"]
    assert [e["eventName"] for e in t.lookup("EventRW", "All")["Events"]] == [
        "DescribeKeyPairs", "CreateKeyPair"]


# ---- every lookup attribute ------------------------------------------------------------------


def test_every_lookup_attribute(srv, trail, store):
    from test_access_keys import new_key
    second = new_key(sqlite_url(store))
    a = create(srv, "alpha")
    time.sleep(0.003)
    b = create(srv, "beta", creds=second)
    time.sleep(0.003)
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["beta"]'}).ok("DeleteKeyPairs")
    every = trail.lookup()["Events"]
    assert [e["eventName"] for e in every] == ["DeleteKeyPairs", "CreateKeyPair", "CreateKeyPair"]
    del_b, imp_b, cre_a = every

    def q(key, value):
        return ev_ids(trail.lookup(key, value)["Events"])

    assert q("ServiceName", "Ecs") == ev_ids(every)
    assert q("ServiceName", "Ram") == []
    assert q("EventName", "CreateKeyPair") == ev_ids([imp_b, cre_a])
    assert q("EventName", "DeleteKeyPairs") == ev_ids([del_b])
    assert q("EventName", "TagResources") == []
    assert q("User", "tester") == ev_ids(every)
    assert q("User", "nobody") == []
    assert q("EventId", imp_b["eventId"]) == [imp_b["eventId"]]
    assert q("EventId", "00000000-0000-4000-8000-000000000000") == []
    assert q("ResourceType", KP) == ev_ids(every)
    assert q("ResourceType", "ACS::ECS::Instance") == []
    assert q("ResourceName", "alpha") == ev_ids([cre_a])
    assert q("ResourceName", a["KeyPairId"]) == ev_ids([cre_a])
    assert q("ResourceName", "beta") == ev_ids([del_b, imp_b])
    assert q("ResourceName", b["KeyPairId"]) == ev_ids([del_b, imp_b])
    assert q("ResourceName", "gamma") == []
    assert q("EventRW", "Write") == ev_ids(every)
    assert q("EventRW", "Read") == []
    assert q("EventRW", "All") == ev_ids(every)
    assert q("EventAccessKeyId", TESTER[1]) == ev_ids([del_b, cre_a])
    assert q("EventAccessKeyId", second[1]) == ev_ids([imp_b])
    assert q("EventAccessKeyId", "LTAINOSUCHKEY0000000") == []
    assert imp_b["userIdentity"]["accessKeyId"] == second[1]
    assert imp_b["userIdentity"]["principalId"] == second[1]


# ---- times -----------------------------------------------------------------------------------


def wait_next_second():
    t = time.time()
    time.sleep(1.02 - (t - int(t)))


def test_time_ranges(srv, trail, store):
    wait_next_second()
    create(srv, "t-a")
    wait_next_second()
    wait_next_second()
    create(srv, "t-b")
    wait_next_second()
    wait_next_second()
    create(srv, "t-c")
    ev_c, ev_b, ev_a = trail.lookup()["Events"]
    [rec_b] = [e for e in audit(sqlite_url(store)) if e["eventId"] == ev_b["eventId"]]
    sec_b = parse_time(rec_b["eventTime"]).replace(microsecond=0)
    tea = isinstance(trail, TrailTea)

    def rng(start=None, end=None):
        f = {}
        if start is not None:
            f["start_time" if tea else "StartTime"] = iso(start)
        if end is not None:
            f["end_time" if tea else "EndTime"] = iso(end)
        return ev_ids(trail.lookup(**f)["Events"])

    # Inclusive, to the second: [floor(b), floor(b) + 1s] holds b only.
    assert rng(sec_b, sec_b + dt.timedelta(seconds=1)) == [ev_b["eventId"]]
    assert rng(sec_b) == ev_ids([ev_c, ev_b])
    assert rng(None, sec_b + dt.timedelta(seconds=1)) == ev_ids([ev_b, ev_a])
    assert rng(sec_b + dt.timedelta(seconds=1), sec_b + dt.timedelta(seconds=1)) == []
    assert rng(now() + dt.timedelta(seconds=5), now() + dt.timedelta(seconds=60)) == []
    # Attribute and range together.
    f = {"start_time" if tea else "StartTime": iso(sec_b)}
    assert ev_ids(trail.lookup("ResourceName", "t-a", **f)["Events"]) == []
    assert ev_ids(trail.lookup("ResourceName", "t-c", **f)["Events"]) == [ev_c["eventId"]]


def test_default_start_is_7_days_before_the_end(srv, trail):
    create(srv, "old-enough")
    tea = isinstance(trail, TrailTea)
    k = "end_time" if tea else "EndTime"
    assert len(trail.lookup(**{k: iso(now() + dt.timedelta(days=6))})["Events"]) == 1
    assert trail.lookup(**{k: iso(now() + dt.timedelta(days=8))})["Events"] == []


# ---- paging ----------------------------------------------------------------------------------


@pytest.fixture
def hundred_twenty(srv):
    return ecs_events(srv, 120, "pg")


def test_paging_through_120_events(srv, trail, hundred_twenty):
    tea = isinstance(trail, TrailTea)
    mr = {"max_results": "50"} if tea else {"MaxResults": 50}
    events, sizes = trail.all(**mr)
    assert sizes == [50, 50, 20]
    assert len(set(ev_ids(events))) == 120
    want = [f"pg-{i:03d}" for i in range(119, -1, -1)]
    got = [[n for n in at_resources(e) if n.startswith("pg-")][0] for e in events]
    assert got == want, "all 120, newest first"
    # The default page is 20.
    events2, sizes2 = trail.all()
    assert sizes2 == [20] * 6 and ev_ids(events2) == ev_ids(events)
    # With an attribute.
    events3, sizes3 = trail.all("EventName", "ImportKeyPair", **mr)
    assert sizes3 == [50, 50, 20] and ev_ids(events3) == ev_ids(events)


def test_direction_prev(srv, hundred_twenty):
    t = TrailCore(srv)
    p1 = t.lookup(MaxResults=50)
    p2 = t.lookup(MaxResults=50, NextToken=p1["NextToken"])
    p3 = t.lookup(MaxResults=50, NextToken=p2["NextToken"], Direction="NEXT")
    assert [len(p["Events"]) for p in (p1, p2, p3)] == [50, 50, 20]
    # PREV with the token page 2 came with: the newer events before page 2, that is page 1.
    back = t.lookup(MaxResults=50, NextToken=p2["NextToken"], Direction="PREV")
    assert ev_ids(back["Events"]) == ev_ids(p1["Events"])
    assert not p3.get("NextToken"), "the last page has no token"
    # PREV with the token page 1 came with: nothing is newer than page 1.
    assert t.lookup(MaxResults=50, NextToken=p1["NextToken"], Direction="PREV")["Events"] == []
    tea = TrailTea(srv)
    back_tea = tea.lookup(max_results="50", next_token=p2["NextToken"], direction="PREV")
    assert ev_ids(back_tea["Events"]) == ev_ids(p1["Events"])


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key,value,names", [
    ("NoSuchKey", "x", "LookupAttribute"),
    ("EventRW", "Maybe", "EventRW"),
    ("EventName", "", "LookupAttribute"),
])
def test_invalid_attribute(srv, trail, key, value, names):
    b = trail.error("InvalidParameter", key, value)
    assert names in b["Message"], b


def test_two_attributes_invalid(srv):
    r = at_call(srv, {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": "CreateKeyPair",
                      "LookupAttribute.2.Key": "User", "LookupAttribute.2.Value": "tester"})
    r.error_fields()
    assert r.status == 400 and r.code == "InvalidParameter", r
    assert "LookupAttribute" in r.message


@pytest.mark.parametrize("field,value", [("StartTime", "yesterday"), ("EndTime", "2026-13-45T99:00:00Z"),
                                          ("Direction", "SIDEWAYS")])
def test_invalid_time_or_direction(srv, field, value):
    t = TrailCore(srv)
    b = t.error("InvalidParameter", **{field: value})
    assert field in b["Message"], b
    tea = TrailTea(srv)
    snake = {"StartTime": "start_time", "EndTime": "end_time", "Direction": "direction"}[field]
    b = tea.error("InvalidParameter", **{snake: value})
    assert field in b["Message"], b


@pytest.mark.parametrize("n", ["0", "51", "-3", "ten"])
def test_invalid_max_results(srv, trail, n):
    if isinstance(trail, TrailTea):
        trail.error("InvalidMaxResults", max_results=n)
    else:
        trail.error("InvalidMaxResults", MaxResults=n)


def test_invalid_time_range(srv, trail):
    t = now()
    f = ({"start_time": iso(t), "end_time": iso(t - dt.timedelta(hours=1))}
         if isinstance(trail, TrailTea) else
         {"StartTime": iso(t), "EndTime": iso(t - dt.timedelta(hours=1))})
    trail.error("InvalidTimeRange", **f)


def test_invalid_next_token(srv, trail):
    f = "next_token" if isinstance(trail, TrailTea) else "NextToken"
    for garbage in ("garbage", "AAAA", "x" * 300):
        trail.error("InvalidNextToken", **{f: garbage})


def test_next_token_with_another_attribute(srv):
    ecs_events(srv, 5, "nt")
    t = TrailCore(srv)
    first = t.lookup("EventName", "ImportKeyPair", MaxResults=2)
    nxt = t.lookup("EventName", "ImportKeyPair", MaxResults=2, NextToken=first["NextToken"])
    assert len(nxt["Events"]) == 2 and not set(ev_ids(nxt["Events"])) & set(ev_ids(first["Events"]))
    t.error("InvalidNextToken", "User", "tester", MaxResults=2, NextToken=first["NextToken"])


def test_authentication_errors(srv):
    v1_call(srv, "LookupEvents", {}, version=AT_VERSION, region=None,
            sign_secret=TESTER[2] + "x").error("SignatureDoesNotMatch")
    v1_call(srv, "LookupEvents", {}, version=AT_VERSION, region=None,
            creds=("x", "LTAINOSUCHKEY0000000", "s" * 30)).error("InvalidAccessKeyId.NotFound")


# ---- JSON and XML ----------------------------------------------------------------------------


def test_xml_format(srv):
    ecs_events(srv, 3, "xml")
    j = at_call(srv, {"MaxResults": "2"}).ok(None, "json").json
    x = at_call(srv, {"MaxResults": "2"}, fmt="XML").ok("LookupEvents", "xml").root
    assert x.tag == "LookupEventsResponse"
    assert REQUEST_ID_RE.match(x.findtext("RequestId") or "")
    assert [e.text for e in x.iter("eventId")] == ev_ids(j["Events"])
    assert [e.text for e in x.iter("eventName")] == ["ImportKeyPair"] * 2
    assert [e.text for e in x.iter("serviceName")] == ["Ecs"] * 2
    assert [e.text for e in x.iter("resourceType")] == [KP] * 2
    assert x.findtext("NextToken"), ET.tostring(x)[:500]
    assert x.findtext("StartTime") and x.findtext("EndTime")
    # The core SDK's XML too.
    t = TrailCore(srv)
    status, headers, body, exc = t.raw("XML", MaxResults=2)
    assert exc is None and status == 200, (status, body)
    assert headers.get("content-type") == "text/xml;charset=utf-8"
    root = ET.fromstring(body)
    assert root.tag == "LookupEventsResponse"
    assert [e.text for e in root.iter("eventId")] == ev_ids(j["Events"])


def test_xml_error(srv):
    r = at_call(srv, {"MaxResults": "0"}, fmt="XML")
    d = r.error_fields()
    assert r.status == 400 and r.fmt == "xml" and d["Code"] == "InvalidMaxResults", r


# ---- regions and tenants ---------------------------------------------------------------------


def test_every_region_is_shown(srv, trail):
    create(srv, "in-hz", region="cn-hangzhou")
    time.sleep(0.003)
    create(srv, "in-bj", region="cn-beijing")
    bj, hz = trail.lookup()["Events"]
    assert bj["acsRegion"] == "cn-beijing" and "in-bj" in at_resources(bj)
    assert hz["acsRegion"] == "cn-hangzhou" and "in-hz" in at_resources(hz)
    assert obj(bj["requestParameters"])["RegionId"] == "cn-beijing"


def test_tenant_isolation(account, other_account, keypaird, store):
    srv = keypaird()
    a = create(srv, "a-key")
    v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["a-key"]'}).ok("DeleteKeyPairs")
    create(srv, "b-key", creds=OTHER)
    for cls in (TrailCore, TrailTea):
        ta, tb = cls(srv), cls(srv, creds=OTHER)
        ev_a = ta.lookup()["Events"]
        assert [e["eventName"] for e in ev_a] == ["DeleteKeyPairs", "CreateKeyPair"]
        [ev_b] = tb.lookup()["Events"]
        assert ev_b["userIdentity"]["userName"] == "other"
        assert ev_b["userIdentity"]["accountId"] == account_id(sqlite_url(store), "other")
        for key, value in (("EventId", ev_a[0]["eventId"]), ("ResourceName", "a-key"),
                           ("ResourceName", a["KeyPairId"]), ("User", "tester"),
                           ("EventAccessKeyId", TESTER[1]), ("EventName", "DeleteKeyPairs")):
            assert tb.lookup(key, value)["Events"] == [], (cls.__name__, key, value)
    # EC2 events are not ActionTrail's.
    srv.ec2().create_key_pair(KeyName="ec2-side", KeyType="ed25519")
    assert len(TrailCore(srv).lookup()["Events"]) == 2


# ---- docs/decisions.md, 'Audit trail' --------------------------------------------------------


def test_failed_call_is_found_by_the_names_its_request_named(srv, trail):
    kp = create(srv, "held")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "held"}).error("KeyPair.AlreadyExist")
    events = trail.lookup()["Events"]
    assert [e.get("errorCode") for e in events] == ["KeyPair.AlreadyExist", None]
    dup, ok = events
    assert ev_ids(trail.lookup("ResourceName", "held")["Events"]) == ev_ids([dup, ok])
    assert ev_ids(trail.lookup("ResourceName", kp["KeyPairId"])["Events"]) == ev_ids([ok])


def test_lookup_events_is_not_recorded(account, keypaird, store):
    from audit_support import api_events
    srv = keypaird(extra=["--audit-reads"])
    TrailCore(srv).lookup()
    TrailTea(srv).lookup()
    assert api_events(sqlite_url(store)) == []
