"""AWS CloudTrail LookupEvents over the audit trail (docs/audit.md, 'AWS CloudTrail LookupEvents'):
boto3's `cloudtrail` client, raw SigV4-signed requests and `aws cloudtrail lookup-events`, every
lookup attribute, time ranges, paging, every error, the exact shape of an event and of its
CloudTrailEvent record, regions and tenants."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

import support
from audit_support import (CT_EVENT_KEYS, CT_PREFIX, CT_TIME_RE, SENSITIVE, UUID_RE, account_id,
                           attr, aws_cli, cloudtrail, ct_all, ct_client_error, ct_error, ct_raw,
                           ct_resources, ec2_create, iso, make_ec2_events, now, parse_time,
                           trail_event, audit)
from support import MSG_DRY_RUN, OTHER, TESTER, sqlite_url

UA = "keypaird-audit-tests/1.0 (cloudtrail)"
KP = "AWS::EC2::KeyPair"


@pytest.fixture
def ct(srv):
    return cloudtrail(srv)


def lookup(ct, **kw) -> list:
    r = ct.lookup_events(**kw)
    return r["Events"]


def ids(events) -> list:
    return [e["EventId"] for e in events]


# ---- the exact shape of an event -------------------------------------------------------------


def test_create_key_pair_event_shape(srv, ct, store):
    acct = account_id(sqlite_url(store), TESTER[0])
    t0 = now()
    rep = ec2_create(srv, "deploy", KeyType="ed25519", ua=UA)
    t1 = now()
    [ev] = lookup(ct, LookupAttributes=attr("EventName", "CreateKeyPair"))
    assert set(ev) == CT_EVENT_KEYS, sorted(ev)
    assert UUID_RE.match(ev["EventId"]), ev["EventId"]
    assert ev["EventName"] == "CreateKeyPair"
    assert ev["ReadOnly"] == "false"
    assert ev["AccessKeyId"] == TESTER[1]
    assert ev["EventSource"] == "ec2.amazonaws.com"
    assert ev["Username"] == "tester"
    t = ev["EventTime"].astimezone(dt.timezone.utc)
    assert t0.replace(microsecond=0) <= t <= t1 + dt.timedelta(milliseconds=5), (t0, t, t1)
    assert ct_resources(ev) == sorted([(KP, "deploy"), (KP, rep["keyPairId"])])

    rec = trail_event(ev)
    assert rec["eventVersion"] == "1.08"
    assert rec["userIdentity"] == {
        "type": "IAMUser", "principalId": TESTER[1], "arn": f"arn:aws:iam::{acct}:user/tester",
        "accountId": acct, "accessKeyId": TESTER[1], "userName": "tester"}
    assert CT_TIME_RE.match(rec["eventTime"]), rec["eventTime"]
    assert rec["eventTime"] == t.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rec["eventSource"] == "ec2.amazonaws.com"
    assert rec["eventName"] == "CreateKeyPair"
    assert rec["awsRegion"] == "us-east-1"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert rec["userAgent"] == UA
    assert rec["requestParameters"] == {"keyName": "deploy", "keyType": "ed25519"}
    re_ = rec["responseElements"]
    assert re_["requestId"] == rep["requestId"]
    assert re_["keyName"] == "deploy"
    assert re_["keyFingerprint"] == rep["keyFingerprint"]
    assert re_["keyPairId"] == rep["keyPairId"]
    assert re_["keyMaterial"] == SENSITIVE
    assert rec["requestID"] == rep["requestId"]
    assert rec["eventID"] == ev["EventId"]
    assert rec["readOnly"] is False
    assert rec["eventType"] == "AwsApiCall"
    assert rec["managementEvent"] is True
    assert rec["recipientAccountId"] == acct
    assert rec["eventCategory"] == "Management"
    assert "errorCode" not in rec and "errorMessage" not in rec, rec


def test_failed_duplicate_create_event(srv, ct):
    ec2_create(srv, "dup", KeyType="ed25519")
    r = srv.call("CreateKeyPair", {"KeyName": "dup", "KeyType": "ed25519"}).error(
        "InvalidKeyPair.Duplicate")
    events = lookup(ct, LookupAttributes=attr("EventName", "CreateKeyPair"))
    assert len(events) == 2, events
    failed, ok = events  # newest first
    rec = trail_event(failed)
    assert rec["errorCode"] == "Client.InvalidKeyPair.Duplicate"
    assert rec["errorMessage"] == r.message
    assert rec["responseElements"] is None
    assert rec["requestParameters"] == {"keyName": "dup", "keyType": "ed25519"}
    assert failed["ReadOnly"] == "false"
    assert "errorCode" not in trail_event(ok)


def test_dry_run_is_recorded_with_its_code(srv, ct):
    srv.call("CreateKeyPair", {"KeyName": "dry", "DryRun": "true"}).error("DryRunOperation", MSG_DRY_RUN)
    [ev] = lookup(ct, LookupAttributes=attr("EventName", "CreateKeyPair"))
    rec = trail_event(ev)
    assert rec["errorCode"] == "Client.DryRunOperation"
    assert rec["errorMessage"] == MSG_DRY_RUN
    assert rec["responseElements"] is None


def test_delete_and_tag_events(srv, ct):
    c = srv.ec2()
    kp = c.create_key_pair(KeyName="tagged", KeyType="ed25519")
    c.create_tags(Resources=[kp["KeyPairId"]], Tags=[{"Key": "env", "Value": "prod"}])
    c.delete_tags(Resources=[kp["KeyPairId"]], Tags=[{"Key": "env"}])
    c.delete_key_pair(KeyName="tagged")
    events = lookup(ct)
    assert [e["EventName"] for e in events] == ["DeleteKeyPair", "DeleteTags", "CreateTags",
                                                "CreateKeyPair"]
    want = sorted([(KP, "tagged"), (KP, kp["KeyPairId"])])
    for e in events:
        assert ct_resources(e) == want, e
        assert e["ReadOnly"] == "false"
    delete, untag, tag, _ = (trail_event(e) for e in events)
    assert delete["requestParameters"] == {"keyName": "tagged"}
    assert delete["responseElements"]["_return"] is True
    assert tag["requestParameters"] == {"resourceId.1": kp["KeyPairId"], "tag.1.key": "env",
                                        "tag.1.value": "prod"}
    assert tag["responseElements"]["_return"] is True
    assert untag["requestParameters"] == {"resourceId.1": kp["KeyPairId"], "tag.1.key": "env"}
    assert untag["responseElements"]["_return"] is True


def test_tag_specification_parameters_are_lower_camel(srv, ct):
    srv.ec2().create_key_pair(KeyName="spec", KeyType="ed25519", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "a"}]}])
    [ev] = lookup(ct)
    assert trail_event(ev)["requestParameters"] == {
        "keyName": "spec", "keyType": "ed25519", "tagSpecification.1.resourceType": "key-pair",
        "tagSpecification.1.tag.1.key": "team", "tagSpecification.1.tag.1.value": "a"}


def test_reads_are_not_shown_without_audit_reads(srv, ct):
    srv.ec2().describe_key_pairs()
    srv.call("DescribeTags").ok("DescribeTags")
    assert lookup(ct) == []
    assert lookup(ct, LookupAttributes=attr("ReadOnly", "true")) == []


def test_reads_are_shown_with_audit_reads(account, keypaird):
    srv = keypaird(extra=["--audit-reads"])
    ct = cloudtrail(srv)
    srv.ec2().create_key_pair(KeyName="r", KeyType="ed25519")
    srv.ec2().describe_key_pairs()
    [read] = lookup(ct, LookupAttributes=attr("ReadOnly", "true"))
    assert read["EventName"] == "DescribeKeyPairs"
    assert read["ReadOnly"] == "true"
    rec = trail_event(read)
    assert rec["readOnly"] is True
    assert rec["responseElements"] is None
    [write] = lookup(ct, LookupAttributes=attr("ReadOnly", "false"))
    assert write["EventName"] == "CreateKeyPair"


# ---- every lookup attribute ------------------------------------------------------------------


def test_every_lookup_attribute(srv, ct, store):
    c = srv.ec2()
    a = c.create_key_pair(KeyName="alpha", KeyType="ed25519")
    time.sleep(0.003)
    b = c.create_key_pair(KeyName="beta", KeyType="ed25519")
    time.sleep(0.003)
    c.create_tags(Resources=[a["KeyPairId"]], Tags=[{"Key": "k", "Value": "v"}])
    time.sleep(0.003)
    c.delete_key_pair(KeyName="beta")
    every = lookup(ct)
    assert [e["EventName"] for e in every] == ["DeleteKeyPair", "CreateTags", "CreateKeyPair",
                                               "CreateKeyPair"]
    del_b, tag_a, cre_b, cre_a = every

    def q(key, value):
        return ids(lookup(ct, LookupAttributes=attr(key, value)))

    assert q("EventId", cre_a["EventId"]) == [cre_a["EventId"]]
    assert q("EventId", "00000000-0000-4000-8000-000000000000") == []
    assert q("EventName", "CreateKeyPair") == ids([cre_b, cre_a])
    assert q("EventName", "DeleteKeyPair") == ids([del_b])
    assert q("EventName", "DescribeKeyPairs") == []
    assert q("ReadOnly", "false") == ids(every)
    assert q("ReadOnly", "true") == []
    assert q("Username", "tester") == ids(every)
    assert q("Username", "someone-else") == []
    assert q("ResourceType", "AWS::EC2::KeyPair") == ids(every)
    assert q("ResourceType", "AWS::EC2::Instance") == []
    assert q("ResourceName", a["KeyPairId"]) == ids([tag_a, cre_a])
    assert q("ResourceName", "beta") == ids([del_b, cre_b])
    assert q("ResourceName", b["KeyPairId"]) == ids([del_b, cre_b])
    assert q("ResourceName", "gamma") == []
    assert q("EventSource", "ec2.amazonaws.com") == ids(every)
    assert q("EventSource", "iam.amazonaws.com") == []
    assert q("AccessKeyId", TESTER[1]) == ids(every)
    assert q("AccessKeyId", "AKIDNOSUCHKEY0000000") == []
    # CreateTags names the key pair by ID; its record holds the name too, so either finds it.
    assert q("ResourceName", "alpha") == ids([tag_a, cre_a])


def test_access_key_id_attribute_separates_keys_of_one_account(srv, ct, store):
    from test_access_keys import new_key
    second = new_key(sqlite_url(store))
    srv.ec2().create_key_pair(KeyName="by-first", KeyType="ed25519")
    srv.ec2(creds=second).create_key_pair(KeyName="by-second", KeyType="ed25519")
    [e2] = lookup(ct, LookupAttributes=attr("AccessKeyId", second[1]))
    assert e2["AccessKeyId"] == second[1] and (KP, "by-second") in ct_resources(e2)
    [e1] = lookup(ct, LookupAttributes=attr("AccessKeyId", TESTER[1]))
    assert (KP, "by-first") in ct_resources(e1)
    assert trail_event(e2)["userIdentity"]["accessKeyId"] == second[1]
    assert trail_event(e2)["userIdentity"]["principalId"] == second[1]


# ---- time ranges -----------------------------------------------------------------------------


def wait_next_second():
    t = time.time()
    time.sleep(1.02 - (t - int(t)))


def test_time_ranges(srv, ct, store):
    c = srv.ec2()
    wait_next_second()
    c.create_key_pair(KeyName="t-a", KeyType="ed25519")
    wait_next_second()
    wait_next_second()
    c.create_key_pair(KeyName="t-b", KeyType="ed25519")
    wait_next_second()
    wait_next_second()
    c.create_key_pair(KeyName="t-c", KeyType="ed25519")
    ev_c, ev_b, ev_a = lookup(ct)
    tb = ev_b["EventTime"].astimezone(dt.timezone.utc)
    sec_b = tb.replace(microsecond=0)
    # boto3 sends whole epoch seconds: [floor(b), floor(b) + 1s] holds b only.
    got = lookup(ct, StartTime=sec_b, EndTime=sec_b + dt.timedelta(seconds=1))
    assert ids(got) == [ev_b["EventId"]]
    # Start and end are inclusive: a range of exactly b's time (milliseconds, as the store
    # keeps it and `keypaird audit` shows it; ISO 8601).
    [rec_b] = [e for e in audit(sqlite_url(store)) if e["eventId"] == ev_b["EventId"]]
    tb_ms = iso(parse_time(rec_b["eventTime"]), ms=True)
    r = ct_raw(srv, {"StartTime": tb_ms, "EndTime": tb_ms})
    assert r.status_code == 200, r.text
    assert [e["EventId"] for e in r.json()["Events"]] == [ev_b["EventId"]]
    # Epoch seconds in a raw body, as the SDKs send them.
    r = ct_raw(srv, {"StartTime": int(sec_b.timestamp()), "EndTime": int(sec_b.timestamp()) + 1})
    assert r.status_code == 200, r.text
    assert [e["EventId"] for e in r.json()["Events"]] == [ev_b["EventId"]]
    # Only a start: b and c; only an end: a and b.
    assert ids(lookup(ct, StartTime=sec_b)) == ids([ev_c, ev_b])
    assert ids(lookup(ct, EndTime=sec_b + dt.timedelta(seconds=1))) == ids([ev_b, ev_a])
    # A range before every event, and one after.
    ta = ev_a["EventTime"].astimezone(dt.timezone.utc).replace(microsecond=0)
    assert lookup(ct, StartTime=ta - dt.timedelta(days=1), EndTime=ta - dt.timedelta(seconds=1)) == []
    assert lookup(ct, StartTime=now() + dt.timedelta(seconds=5),
                  EndTime=now() + dt.timedelta(seconds=60)) == []
    # A start after the default end (now) is a start after the end.
    with pytest.raises(ClientError) as e:
        ct.lookup_events(StartTime=now() + dt.timedelta(minutes=5))
    ct_client_error(e, "InvalidTimeRangeException")
    # An attribute and a range together.
    assert ids(lookup(ct, LookupAttributes=attr("ResourceName", "t-b"), StartTime=sec_b,
                      EndTime=sec_b + dt.timedelta(seconds=1))) == [ev_b["EventId"]]
    assert lookup(ct, LookupAttributes=attr("ResourceName", "t-a"), StartTime=sec_b) == []


def test_default_range_is_90_days(srv, ct):
    srv.ec2().create_key_pair(KeyName="d", KeyType="ed25519")
    assert len(lookup(ct)) == 1
    # The end alone, 89 days after now: the default start (90 days before the end) is before now.
    assert len(lookup(ct, EndTime=now() + dt.timedelta(days=89))) == 1
    # 91 days after now: the default start is after the event.
    assert lookup(ct, EndTime=now() + dt.timedelta(days=91)) == []


# ---- paging ----------------------------------------------------------------------------------


@pytest.fixture
def hundred_twenty(srv):
    return make_ec2_events(srv, 120, "page")


def test_paging_through_120_events(srv, ct, hundred_twenty):
    want = [r["KeyPairId"] for r in reversed(hundred_twenty)]  # newest first
    events, sizes = ct_all(ct, MaxResults=50)
    assert sizes == [50, 50, 20]
    got = [[n for t, n in ct_resources(e) if n.startswith("key-")][0] for e in events]
    assert len(set(ids(events))) == 120, "no event twice"
    assert got == want, "all 120, newest first"
    # The default page is 50 too.
    events2, sizes2 = ct_all(ct)
    assert sizes2 == [50, 50, 20] and ids(events2) == ids(events)
    # With an attribute: only the creates, and only those.
    events3, sizes3 = ct_all(ct, MaxResults=50, LookupAttributes=attr("EventName", "CreateKeyPair"))
    assert sizes3 == [50, 50, 20] and ids(events3) == ids(events)
    # An odd page size.
    events4, sizes4 = ct_all(ct, MaxResults=7)
    assert sizes4 == [7] * 17 + [1] and ids(events4) == ids(events)


def test_boto3_paginator(srv, ct, hundred_twenty):
    pages = list(ct.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 50}))
    assert [len(p["Events"]) for p in pages] == [50, 50, 20]
    names = [[n for t, n in ct_resources(e) if not n.startswith("key-")][0]
             for p in pages for e in p["Events"]]
    assert names == [f"page-{i:03d}" for i in range(119, -1, -1)]
    full = ct.get_paginator("lookup_events").paginate().build_full_result()
    assert len(full["Events"]) == 120
    assert len({e["EventId"] for e in full["Events"]}) == 120


def test_aws_cli_auto_pagination(srv, hundred_twenty):
    cp = aws_cli(srv, "cloudtrail", "lookup-events", "--page-size", "50")
    assert cp.returncode == 0, cp.stderr
    events = json.loads(cp.stdout)["Events"]
    assert len(events) == 120 and len({e["EventId"] for e in events}) == 120
    names = [[r["ResourceName"] for r in e["Resources"] if not r["ResourceName"].startswith("key-")][0]
             for e in events]
    assert names == [f"page-{i:03d}" for i in range(119, -1, -1)]
    cp = aws_cli(srv, "cloudtrail", "lookup-events", "--lookup-attributes",
                 "AttributeKey=ResourceName,AttributeValue=page-007")
    assert cp.returncode == 0, cp.stderr
    [ev] = json.loads(cp.stdout)["Events"]
    assert ev["EventName"] == "CreateKeyPair" and ev["Username"] == "tester"
    assert json.loads(ev["CloudTrailEvent"])["requestParameters"] == {"keyName": "page-007",
                                                                     "keyType": "ed25519"}


def test_aws_cli_calls_are_recorded_with_its_user_agent(srv):
    cp = aws_cli(srv, "ec2", "create-key-pair", "--key-name", "by-cli", "--key-type", "ed25519")
    assert cp.returncode == 0, cp.stderr
    kp = json.loads(cp.stdout)
    cp = aws_cli(srv, "cloudtrail", "lookup-events")
    assert cp.returncode == 0, cp.stderr
    [ev] = json.loads(cp.stdout)["Events"]
    rec = json.loads(ev["CloudTrailEvent"])
    assert rec["userAgent"].startswith("aws-cli/1.46.3 "), rec["userAgent"]
    assert rec["responseElements"]["keyPairId"] == kp["KeyPairId"]
    assert rec["responseElements"]["keyMaterial"] == SENSITIVE
    assert sorted((r["ResourceType"], r["ResourceName"]) for r in ev["Resources"]) == sorted(
        [(KP, "by-cli"), (KP, kp["KeyPairId"])])


def test_aws_cli_max_items_and_starting_token(srv, hundred_twenty):
    cp = aws_cli(srv, "cloudtrail", "lookup-events", "--max-items", "30")
    assert cp.returncode == 0, cp.stderr
    first = json.loads(cp.stdout)
    assert len(first["Events"]) == 30 and first.get("NextToken")
    cp = aws_cli(srv, "cloudtrail", "lookup-events", "--starting-token", first["NextToken"])
    assert cp.returncode == 0, cp.stderr
    rest = json.loads(cp.stdout)["Events"]
    assert len(rest) == 90
    assert not {e["EventId"] for e in first["Events"]} & {e["EventId"] for e in rest}


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("attrs", [
    [{"AttributeKey": "EventName", "AttributeValue": "CreateKeyPair"},
     {"AttributeKey": "Username", "AttributeValue": "tester"}],
    [{"AttributeKey": "NoSuchKey", "AttributeValue": "x"}],
    [{"AttributeKey": "EventName", "AttributeValue": ""}],
    [{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}],
    [{"AttributeKey": "ResourceName", "AttributeValue": "x" * 2001}],
], ids=["two", "unknown-key", "empty-value", "readonly-maybe", "value-2001"])
def test_invalid_lookup_attributes(srv, attrs):
    ct_error(ct_raw(srv, {"LookupAttributes": attrs}), "InvalidLookupAttributesException")


def test_invalid_lookup_attributes_through_boto3(srv, ct):
    with pytest.raises(ClientError) as e:
        ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "CreateKeyPair"},
            {"AttributeKey": "Username", "AttributeValue": "tester"}])
    ct_client_error(e, "InvalidLookupAttributesException")
    with pytest.raises(ClientError) as e:
        ct.lookup_events(LookupAttributes=attr("ReadOnly", "maybe"))
    ct_client_error(e, "InvalidLookupAttributesException")


def test_value_of_2000_characters_is_valid(srv):
    r = ct_raw(srv, {"LookupAttributes": attr("ResourceName", "x" * 2000)})
    assert r.status_code == 200, r.text
    assert r.json()["Events"] == []


def test_invalid_time_range(srv, ct):
    t = now()
    with pytest.raises(ClientError) as e:
        ct.lookup_events(StartTime=t, EndTime=t - dt.timedelta(seconds=10))
    ct_client_error(e, "InvalidTimeRangeException")
    ct_error(ct_raw(srv, {"StartTime": iso(t), "EndTime": iso(t - dt.timedelta(hours=1))}),
             "InvalidTimeRangeException")


@pytest.mark.parametrize("n", [0, 51, -1, 1000])
def test_invalid_max_results(srv, n):
    ct_error(ct_raw(srv, {"MaxResults": n}), "InvalidMaxResultsException")


def test_max_results_51_through_boto3(srv, ct):
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=51)
    ct_client_error(e, "InvalidMaxResultsException")


@pytest.mark.parametrize("n", [1, 50])
def test_max_results_bounds_are_valid(srv, n):
    make_ec2_events(srv, 3, "mr")
    r = ct_raw(srv, {"MaxResults": n})
    assert r.status_code == 200, r.text
    assert len(r.json()["Events"]) == min(n, 3)


def test_invalid_next_token(srv, ct):
    make_ec2_events(srv, 5, "tok")
    for garbage in ("garbage", "AAAA", "x" * 300):
        with pytest.raises(ClientError) as e:
            ct.lookup_events(NextToken=garbage)
        ct_client_error(e, "InvalidNextTokenException")
    first = ct.lookup_events(MaxResults=2, LookupAttributes=attr("EventName", "CreateKeyPair"))
    token = first["NextToken"]
    # The same token with the same attribute goes on...
    nxt = ct.lookup_events(MaxResults=2, LookupAttributes=attr("EventName", "CreateKeyPair"),
                           NextToken=token)
    assert len(nxt["Events"]) == 2
    assert not set(ids(nxt["Events"])) & set(ids(first["Events"]))
    # ...with another attribute, or none, it is refused.
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=2, LookupAttributes=attr("Username", "tester"), NextToken=token)
    ct_client_error(e, "InvalidNextTokenException")
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=2, LookupAttributes=attr("EventName", "DeleteKeyPair"),
                         NextToken=token)
    ct_client_error(e, "InvalidNextTokenException")
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=2, NextToken=token)
    ct_client_error(e, "InvalidNextTokenException")


def test_event_category(srv, ct):
    srv.ec2().create_key_pair(KeyName="cat", KeyType="ed25519")
    assert ct.lookup_events(EventCategory="insight")["Events"] == []
    ct_error(ct_raw(srv, {"EventCategory": "management"}), "InvalidEventCategoryException")


@pytest.mark.parametrize("body", [b"[]", b"not json", b'"text"',
                                  json.dumps({"MaxResults": "ten"}).encode(),
                                  json.dumps({"LookupAttributes": "EventName"}).encode()],
                         ids=["array", "garbage", "string", "max-results-string", "attrs-string"])
def test_serialization_exception(srv, body):
    ct_error(ct_raw(srv, body), "SerializationException")


def test_unknown_operation(srv):
    ct_error(ct_raw(srv, {}, target=CT_PREFIX + "DescribeTrails"), "UnknownOperationException")
    ct_error(ct_raw(srv, {}, target=CT_PREFIX + "CreateTrail"), "UnknownOperationException")


def test_authentication_errors(srv, ct):
    srv.ec2().create_key_pair(KeyName="auth", KeyType="ed25519")
    ct_error(ct_raw(srv, {}, sign_secret=TESTER[2] + "x"), "InvalidSignatureException")
    ct_error(ct_raw(srv, {}, creds=("x", "AKIDNOSUCHKEY0000000", "s" * 40)),
             "UnrecognizedClientException")
    ct_error(ct_raw(srv, {}, signed=False), "MissingAuthenticationTokenException")
    bad = cloudtrail(srv, creds=(TESTER[0], TESTER[1], TESTER[2] + "x"))
    with pytest.raises(ClientError) as e:
        bad.lookup_events()
    ct_client_error(e, "InvalidSignatureException")


def test_disabled_key_is_unrecognized(srv, ct, store):
    from test_access_keys import key_cli, new_key
    second = new_key(sqlite_url(store))
    key_cli(sqlite_url(store), "disable", second[1])
    deadline = time.monotonic() + 5
    while True:
        r = ct_raw(srv, {}, creds=second)
        if r.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ct_error(r, "UnrecognizedClientException")


# ---- regions and tenants ---------------------------------------------------------------------


def test_region_isolation(srv):
    east, west = cloudtrail(srv, "us-east-1"), cloudtrail(srv, "us-west-2")
    srv.ec2("us-east-1").create_key_pair(KeyName="in-east", KeyType="ed25519")
    srv.ec2("us-west-2").create_key_pair(KeyName="in-west", KeyType="ed25519")
    [e] = lookup(east)
    [w] = lookup(west)
    assert (KP, "in-east") in ct_resources(e) and trail_event(e)["awsRegion"] == "us-east-1"
    assert (KP, "in-west") in ct_resources(w) and trail_event(w)["awsRegion"] == "us-west-2"
    assert lookup(east, LookupAttributes=attr("ResourceName", "in-west")) == []
    assert lookup(east, LookupAttributes=attr("EventId", w["EventId"])) == []
    assert lookup(cloudtrail(srv, "eu-west-1")) == []


def test_tenant_isolation(account, other_account, keypaird, store):
    srv = keypaird()
    a = srv.ec2().create_key_pair(KeyName="a-key", KeyType="ed25519")
    srv.ec2().delete_key_pair(KeyName="a-key")
    srv.ec2(creds=OTHER).create_key_pair(KeyName="b-key", KeyType="ed25519")
    ct_a, ct_b = cloudtrail(srv), cloudtrail(srv, creds=OTHER)
    ev_a = lookup(ct_a)
    assert [e["EventName"] for e in ev_a] == ["DeleteKeyPair", "CreateKeyPair"]
    [ev_b] = lookup(ct_b)
    assert ev_b["Username"] == "other" and (KP, "b-key") in ct_resources(ev_b)
    assert trail_event(ev_b)["recipientAccountId"] == account_id(sqlite_url(store), "other")
    for key, value in (("EventId", ev_a[0]["EventId"]), ("ResourceName", "a-key"),
                       ("ResourceName", a["KeyPairId"]), ("Username", "tester"),
                       ("AccessKeyId", TESTER[1]), ("EventName", "DeleteKeyPair")):
        assert lookup(ct_b, LookupAttributes=attr(key, value)) == [], (key, value)
    # Neither sees the other dialect's events nor the command line's.
    from aliyun_support import create as ecs_create
    ecs_create(srv, "ecs-side")
    assert [e["EventName"] for e in lookup(ct_a)] == ["DeleteKeyPair", "CreateKeyPair"]
    assert len(lookup(ct_b)) == 1


# ---- docs/decisions.md, 'Audit trail' --------------------------------------------------------


def test_failed_call_is_found_by_the_names_its_request_named(srv, ct):
    kp = srv.ec2().create_key_pair(KeyName="held", KeyType="ed25519")
    srv.call("CreateKeyPair", {"KeyName": "held"}).error("InvalidKeyPair.Duplicate")
    srv.call("CreateTags", {"ResourceId.1": "key-0123456789abcdef0", "Tag.1.Key": "k",
                            "Tag.1.Value": "v"}).error("InvalidKeyPair.NotFound")
    events = lookup(ct)
    assert [trail_event(e).get("errorCode") for e in events] == [
        "Client.InvalidKeyPair.NotFound", "Client.InvalidKeyPair.Duplicate", None]
    missing, dup, ok = events
    assert ids(lookup(ct, LookupAttributes=attr("ResourceName", "held"))) == ids([dup, ok])
    assert ids(lookup(ct, LookupAttributes=attr("ResourceName", "key-0123456789abcdef0"))) == ids([missing])
    assert ids(lookup(ct, LookupAttributes=attr("ResourceName", kp["KeyPairId"]))) == ids([ok])


def test_lookup_events_is_not_recorded_but_a_refused_one_is(account, keypaird, store):
    from audit_support import api_events
    srv = keypaird(extra=["--audit-reads"])
    ct = cloudtrail(srv)
    ct.lookup_events()
    ct.lookup_events(LookupAttributes=attr("EventName", "CreateKeyPair"))
    assert api_events(sqlite_url(store)) == []
    ct_error(ct_raw(srv, {}, sign_secret=TESTER[2] + "x"), "InvalidSignatureException")
    [ev] = api_events(sqlite_url(store))
    assert ev["eventName"] == "LookupEvents"
    assert ev["errorCode"] == "InvalidSignatureException"
    assert (ev["accountName"], ev["accessKeyId"]) == ("tester", TESTER[1])


def test_next_token_with_another_time_range(srv, ct):
    make_ec2_events(srv, 5, "rng")
    start = now() - dt.timedelta(hours=1)
    first = ct.lookup_events(MaxResults=2, StartTime=start)
    nxt = ct.lookup_events(MaxResults=2, StartTime=start, NextToken=first["NextToken"])
    assert len(nxt["Events"]) == 2
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=2, StartTime=start - dt.timedelta(hours=1),
                         NextToken=first["NextToken"])
    ct_client_error(e, "InvalidNextTokenException")
