"""The audit trail on PostgreSQL (its own statements, crates/store's audit SQL): recording, both
LookupEvents APIs' attributes and paging, `keypaird audit` and retention, on a fresh schema."""

from __future__ import annotations

import time

import pytest

from aliyun_support import create as ecs_create
from audit_support import (TrailCore, TrailTea, account_id, api_events, attr, audit, cloudtrail,
                           ct_all, ct_resources, ecs_events, make_ec2_events, parse_time)
from pg_support import pg_schema, pg_url  # noqa: F401 - fixtures
from support import OTHER, TESTER, create_account

KP = "AWS::EC2::KeyPair"


@pytest.fixture
def pg_srv(keypaird, pg_url):
    create_account(pg_url, *TESTER)
    create_account(pg_url, *OTHER)
    return keypaird(store_url=pg_url)


def test_cloudtrail_on_postgres(pg_srv, pg_url):
    srv = pg_srv
    made = make_ec2_events(srv, 120, "pg")
    c = srv.ec2()
    c.create_tags(Resources=[made[0]["KeyPairId"]], Tags=[{"Key": "k", "Value": "v"}])
    c.delete_key_pair(KeyName="pg-001")
    ct = cloudtrail(srv)
    events, sizes = ct_all(ct, MaxResults=50)
    assert sizes == [50, 50, 22]
    assert len({e["EventId"] for e in events}) == 122
    assert [e["EventName"] for e in events[:2]] == ["DeleteKeyPair", "CreateTags"]
    names = [[n for _, n in ct_resources(e) if n.startswith("pg-")][0] for e in events[2:]]
    assert names == [f"pg-{i:03d}" for i in range(119, -1, -1)]

    def q(key, value):
        return [e["EventId"] for e in ct_all(ct, LookupAttributes=attr(key, value))[0]]

    assert q("EventName", "DeleteKeyPair") == [events[0]["EventId"]]
    assert q("EventId", events[5]["EventId"]) == [events[5]["EventId"]]
    assert q("ResourceName", made[1]["KeyPairId"]) == [events[0]["EventId"], events[-2]["EventId"]]
    assert q("ResourceName", "pg-001") == [events[0]["EventId"], events[-2]["EventId"]]
    assert q("ResourceName", made[0]["KeyPairId"]) == [events[1]["EventId"], events[-1]["EventId"]]
    assert len(q("Username", "tester")) == 122
    assert len(q("AccessKeyId", TESTER[1])) == 122
    assert len(q("ReadOnly", "false")) == 122
    assert q("ReadOnly", "true") == []
    assert len(q("ResourceType", KP)) == 122
    assert len(q("EventSource", "ec2.amazonaws.com")) == 122
    # Paging with an attribute.
    ev2, sizes2 = ct_all(ct, MaxResults=50, LookupAttributes=attr("EventName", "CreateKeyPair"))
    assert sizes2 == [50, 50, 20]
    assert [e["EventId"] for e in ev2] == [e["EventId"] for e in events[2:]]
    # Another tenant sees none of it.
    assert ct_all(cloudtrail(srv, creds=OTHER))[0] == []
    assert ct_all(cloudtrail(srv, creds=OTHER), LookupAttributes=attr("ResourceName", "pg-001"))[0] == []


def test_actiontrail_on_postgres(pg_srv):
    srv = pg_srv
    ecs_events(srv, 120, "at")
    for t in (TrailCore(srv), TrailTea(srv)):
        mr = {"max_results": "50"} if isinstance(t, TrailTea) else {"MaxResults": 50}
        events, sizes = t.all(**mr)
        assert sizes == [50, 50, 20]
        names = [[n for n in (e["resourceName"] or "").split(";") if n.startswith("at-")][0]
                 for e in events]
        assert names == [f"at-{i:03d}" for i in range(119, -1, -1)]
        assert [e["eventId"] for e in t.all("ResourceName", "at-042")[0]] == [events[77]["eventId"]]
        assert len(t.all("User", "tester", **mr)[0]) == 120
        assert t.all("User", "other")[0] == []
    core = TrailCore(srv)
    p1 = core.lookup(MaxResults=50)
    p2 = core.lookup(MaxResults=50, NextToken=p1["NextToken"])
    back = core.lookup(MaxResults=50, NextToken=p2["NextToken"], Direction="PREV")
    assert [e["eventId"] for e in back["Events"]] == [e["eventId"] for e in p1["Events"]]
    assert TrailCore(srv, creds=OTHER).lookup()["Events"] == []


def test_recording_and_audit_cli_on_postgres(pg_srv, pg_url):
    srv = pg_srv
    acct = account_id(pg_url, "tester")
    kp = srv.ec2().create_key_pair(KeyName="one", KeyType="ed25519")
    srv.call("CreateKeyPair", {"KeyName": "one"}).error("InvalidKeyPair.Duplicate")
    e = ecs_create(srv, "two")
    srv.ec2(creds=OTHER).create_key_pair(KeyName="theirs", KeyType="ed25519")
    mine = api_events(pg_url, "--account", "tester")
    assert [(x["source"], x["eventName"], x["errorCode"] or None) for x in mine] == [
        ("ecs", "CreateKeyPair", None), ("ec2", "CreateKeyPair", "InvalidKeyPair.Duplicate"),
        ("ec2", "CreateKeyPair", None)]
    assert {x["accountId"] for x in mine} == {acct}
    assert [(r["kind"], r["id"], r["name"], r["fingerprint"]) for r in mine[2]["resources"]] == [
        ("key-pair", kp["KeyPairId"], "one", kp["KeyFingerprint"])]
    assert [(r["id"], r["name"], r["fingerprint"]) for r in mine[0]["resources"]] == [
        (e["KeyPairId"], "two", e["KeyPairFingerPrint"])]
    assert [x["eventId"] for x in api_events(pg_url, "--account", "tester", limit=1)] == [mine[0]["eventId"]]
    assert len(api_events(pg_url, "--action", "CreateKeyPair")) == 4
    cli = [x for x in audit(pg_url) if x["source"] == "cli"]
    assert len(cli) == 2 and {x["sourceIp"] for x in cli} == {"local"}


def test_retention_on_postgres(keypaird, pg_url):
    create_account(pg_url, *TESTER)
    srv = keypaird(store_url=pg_url, extra=["--audit-retention", "2s"])
    srv.ec2().create_key_pair(KeyName="brief", KeyType="ed25519")
    [ev] = api_events(pg_url)
    born = parse_time(ev["eventTime"]).timestamp()
    deadline = time.time() + 2 + 6
    gone = None
    while time.time() < deadline:
        if not api_events(pg_url):
            gone = time.time()
            break
        time.sleep(0.1)
    assert gone is not None, "the event outlived its 2s retention by 6s"
    assert gone - born >= 1.8, f"purged {gone - born:.2f}s after it was recorded"
    assert [k["KeyName"] for k in srv.describe()] == ["brief"]
