"""What the audit trail records (docs/audit.md, 'What is recorded', 'The command line'), read with
`keypaird audit --json`: a record for every kind of change in both dialects and on the command
line, failed changes and refused authentications with their error codes, reads only with
--audit-reads, and the command's filters."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time

import pytest

import support
from aliyun_support import create as ecs_create
from aliyun_support import ed25519_line, import_key, v1_call
from audit_support import (SENSITIVE, UUID_RE, account_id, api_events, audit, audit_raw, cli_ok, cloudtrail,
                           kp_resources, no_error, now, params_of, parse_time, version)
from support import MSG_DRY_RUN, OTHER, TESTER, create_account, run_cli, sqlite_url

UA = "keypaird-audit-tests/1.0 (recording)"
SIGNING = re.compile(r"^(Signature.*|AccessKeyId|AWSAccessKeyId|X-Amz-.*|SecurityToken|Timestamp|"
                     r"Expires|Action|Version|Format)$", re.I)


def lower_keys(d: dict) -> dict:
    """Parameter names compared without case: the trail keeps 'the request parameters' and
    CloudTrail lower-cases each segment's first letter; the command line's spelling is not
    fixed by docs/audit.md."""
    return {k.lower(): v for k, v in d.items()}


def check_params(ev: dict, want: dict):
    p = params_of(ev)
    bad = [k for k in p if SIGNING.match(k)]
    assert not bad, f"parameters that must not be kept: {bad} in {p}"
    assert lower_keys(p) == lower_keys(want), f"{ev['eventName']}: {p} != {want}"


def by_name(events, name) -> list:
    return [e for e in events if e["eventName"] == name]


def check_common(ev, *, acct, source, region, akid=TESTER[1], name="tester", ua=UA,
                 read_only=False, ip="127.0.0.1"):
    assert UUID_RE.match(ev["eventId"]), ev
    assert ev["source"] == source, ev
    assert ev["accountId"] == acct, ev
    assert ev["accountName"] == name, ev
    assert ev["region"] == region, ev
    assert ev["accessKeyId"] == akid, ev
    assert ev["sourceIp"] == ip, ev
    if ua is not None:
        assert ev["userAgent"] == ua, ev
    assert ev["readOnly"] is read_only, ev
    t = parse_time(ev["eventTime"])
    assert now() - dt.timedelta(minutes=5) <= t <= now() + dt.timedelta(seconds=1), ev


# ---- EC2 changes -----------------------------------------------------------------------------


def test_every_ec2_change_is_recorded(srv, store, keys):
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    h = {"User-Agent": UA}

    def call(action, params):
        return srv.call(action, params, headers=h).ok(action)

    cre = call("CreateKeyPair", {"KeyName": "c-rsa"})
    kid, fp = cre.txt("keyPairId"), cre.txt("keyFingerprint")
    pub = open(str(keys["ed25519"]) + ".pub").read().strip()
    imp = call("ImportKeyPair", {"KeyName": "i-ed", "PublicKeyMaterial": support.b64(pub)})
    iid, ifp = imp.txt("keyPairId"), imp.txt("keyFingerprint")
    tag = call("CreateTags", {"ResourceId.1": kid, "Tag.1.Key": "env", "Tag.1.Value": "prod"})
    untag = call("DeleteTags", {"ResourceId.1": kid, "Tag.1.Key": "env"})
    dele = call("DeleteKeyPair", {"KeyName": "c-rsa"})
    dele_id = call("DeleteKeyPair", {"KeyPairId": iid})

    evs = api_events(url, "--account", "tester")
    assert [e["eventName"] for e in evs] == ["DeleteKeyPair", "DeleteKeyPair", "DeleteTags",
                                             "CreateTags", "ImportKeyPair", "CreateKeyPair"]
    d_id, d_name, e_untag, e_tag, e_imp, e_cre = evs
    for e in evs:
        check_common(e, acct=acct, source="ec2", region="us-east-1")
        no_error(e)
    assert [e["requestId"] for e in evs] == [r.txt("requestId") for r in
                                             (dele_id, dele, untag, tag, imp, cre)]
    assert kp_resources(e_cre) == [("key-pair", kid, "c-rsa", fp)]
    assert kp_resources(e_imp) == [("key-pair", iid, "i-ed", ifp)]
    check_params(e_cre, {"KeyName": "c-rsa"})
    check_params(e_imp, {"KeyName": "i-ed", "PublicKeyMaterial": support.b64(pub)})
    check_params(e_tag, {"ResourceId.1": kid, "Tag.1.Key": "env", "Tag.1.Value": "prod"})
    check_params(e_untag, {"ResourceId.1": kid, "Tag.1.Key": "env"})
    check_params(d_name, {"KeyName": "c-rsa"})
    check_params(d_id, {"KeyPairId": iid})
    # DeleteKeyPair by name: the record names the deleted ID.
    assert [(k, i) for k, i, n, _ in kp_resources(d_name)] == [("key-pair", kid)], d_name
    # Each key pair touched is named by its name and its ID, whichever the call named it by.
    for e in (d_name, d_id, e_tag, e_untag):
        want = ("key-pair", kid, "c-rsa") if e is not d_id else ("key-pair", iid, "i-ed")
        assert [(k, i, n) for k, i, n, _ in kp_resources(e)] == [want], (e["eventName"], e["resources"])


def test_create_with_boto3_records_its_user_agent(srv, store):
    srv.ec2().create_key_pair(KeyName="ua", KeyType="ed25519")
    [ev] = api_events(sqlite_url(store))
    assert ev["userAgent"].startswith("Boto3/1.44.5 "), ev["userAgent"]


def test_user_agent_is_cut_at_1024_characters(srv, store):
    long_ua = "u" * 1500
    srv.call("CreateKeyPair", {"KeyName": "long-ua", "KeyType": "ed25519"},
             headers={"User-Agent": long_ua}).ok("CreateKeyPair")
    [ev] = api_events(sqlite_url(store))
    assert ev["userAgent"] == "u" * 1024


def test_x_forwarded_for_is_not_trusted(srv, store):
    srv.call("CreateKeyPair", {"KeyName": "xff", "KeyType": "ed25519"},
             headers={"X-Forwarded-For": "203.0.113.9"}).ok("CreateKeyPair")
    [ev] = api_events(sqlite_url(store))
    assert ev["sourceIp"] == "127.0.0.1"


# ---- ECS changes -----------------------------------------------------------------------------


def test_every_ecs_change_is_recorded(srv, store):
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    h = {"User-Agent": UA}

    def call(action, params):
        return v1_call(srv, action, params, headers=h).ok(action).body

    cre = call("CreateKeyPair", {"KeyPairName": "c1"})
    line = ed25519_line()
    imp = call("ImportKeyPair", {"KeyPairName": "i1", "PublicKeyBody": line})
    tag = call("TagResources", {"ResourceType": "keypair", "ResourceId.1": "c1", "Tag.1.Key": "env",
                                "Tag.1.Value": "prod"})
    untag = call("UntagResources", {"ResourceType": "keypair", "ResourceId.1": "c1", "TagKey.1": "env"})
    join = call("JoinResourceGroup", {"ResourceType": "keypair", "ResourceId": "c1",
                                      "ResourceGroupId": "rg-rec"})
    dele = call("DeleteKeyPairs", {"KeyPairNames": '["c1", "i1"]'})

    evs = api_events(url, "--account", "tester")
    assert [e["eventName"] for e in evs] == ["DeleteKeyPairs", "JoinResourceGroup", "UntagResources",
                                             "TagResources", "ImportKeyPair", "CreateKeyPair"]
    e_del, e_join, e_untag, e_tag, e_imp, e_cre = evs
    for e in evs:
        check_common(e, acct=acct, source="ecs", region="cn-hangzhou")
        no_error(e)
    assert [e["requestId"] for e in evs] == [r["RequestId"] for r in
                                             (dele, join, untag, tag, imp, cre)]
    assert kp_resources(e_cre) == [("key-pair", cre["KeyPairId"], "c1", cre["KeyPairFingerPrint"])]
    [(kind, iid, iname, ifp)] = kp_resources(e_imp)
    assert (kind, iname, ifp) == ("key-pair", "i1", imp["KeyPairFingerPrint"])
    if "KeyPairId" in imp:
        assert iid == imp["KeyPairId"]
    check_params(e_cre, {"KeyPairName": "c1", "RegionId": "cn-hangzhou"})
    check_params(e_imp, {"KeyPairName": "i1", "PublicKeyBody": line, "RegionId": "cn-hangzhou"})
    check_params(e_tag, {"ResourceType": "keypair", "ResourceId.1": "c1", "Tag.1.Key": "env",
                         "Tag.1.Value": "prod", "RegionId": "cn-hangzhou"})
    check_params(e_untag, {"ResourceType": "keypair", "ResourceId.1": "c1", "TagKey.1": "env",
                           "RegionId": "cn-hangzhou"})
    check_params(e_join, {"ResourceType": "keypair", "ResourceId": "c1",
                          "ResourceGroupId": "rg-rec", "RegionId": "cn-hangzhou"})
    check_params(e_del, {"KeyPairNames": '["c1", "i1"]', "RegionId": "cn-hangzhou"})
    # Each key pair touched is named by its name and its ID.
    assert sorted((k, i, n) for k, i, n, _ in kp_resources(e_del)) == sorted(
        [("key-pair", cre["KeyPairId"], "c1"), ("key-pair", iid, "i1")]), e_del
    for e in (e_tag, e_untag, e_join):
        assert [(k, i, n) for k, i, n, _ in kp_resources(e)] == [("key-pair", cre["KeyPairId"], "c1")], (
            e["eventName"], e["resources"])


# ---- the command line's changes --------------------------------------------------------------


def test_every_command_line_change_is_recorded(store):
    url = sqlite_url(store)
    ua = f"keypaird-cli/{version()}"
    seen: list = []

    def new_events():
        evs = audit(url)
        fresh = [e for e in evs if e["eventId"] not in {x["eventId"] for x in seen}]
        seen.extend(fresh)
        return fresh

    steps = []
    out = create_account(url, "alice", "AKIDALICE00000000001", "alicesecretalicesecretalicesecret01").stdout
    steps.append(("accounts create", new_events()))
    acct = account_id(url, "alice")
    cli_ok("accounts", "set-quota", "alice", "7", "--store", url)
    steps.append(("accounts set-quota", new_events()))
    kout = cli_ok("access-keys", "create", "--account", "alice", "--store", url)
    akid = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", kout, re.M).group(1)
    secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=(\S+)$", kout, re.M).group(1)
    steps.append(("access-keys create", new_events()))
    for verb in ("disable", "enable", "delete"):
        cli_ok("access-keys", verb, akid, "--account", "alice", "--store", url)
        steps.append((f"access-keys {verb}", new_events()))
    cli_ok("accounts", "delete", "alice", "--store", url)
    steps.append(("accounts delete", new_events()))

    names = set()
    account_ids_missing = []
    for what, evs in steps:
        assert len(evs) == 1, f"`{what}` must add exactly one record: {evs}"
        [ev] = evs
        assert ev["source"] == "cli", ev
        assert ev["sourceIp"] == "local", ev
        assert ev["userAgent"] == ua, ev
        assert ev["readOnly"] is False, ev
        assert ev["eventName"], ev
        no_error(ev)
        names.add(ev["eventName"])
        kinds = {r["kind"] for r in ev["resources"]}
        if what.startswith("accounts"):
            assert ("account", "alice") in {(r["kind"], r["name"]) for r in ev["resources"]}, ev
            if ("account", acct, "alice") not in {(r["kind"], r["id"], r["name"]) for r in ev["resources"]}:
                account_ids_missing.append((what, ev["resources"]))
        else:
            assert "access-key" in kinds, ev
            assert akid in {r["id"] for r in ev["resources"] if r["kind"] == "access-key"}, ev
        text = json.dumps(ev)
        assert secret not in text and "alicesecretalicesecretalicesecret01" not in text
    assert len(names) == 7, f"each command has its own event name: {[(w, e[0]['eventName']) for w, e in steps]}"
    # The account resource of an account change is the account: its ID and its name.
    assert not account_ids_missing, f"account resources without the account's ID {acct}: {account_ids_missing}"


def test_default_account_on_first_start_is_recorded(keypaird, store):
    srv = keypaird(creds=None)
    m_id = srv.wait_stdout(r"^\s*export AWS_ACCESS_KEY_ID=([A-Za-z0-9]{3,128})\s*$")
    m_sec = srv.wait_stdout(r"^\s*export AWS_SECRET_ACCESS_KEY=(\S+)\s*$")
    assert m_id and m_sec
    evs = audit(sqlite_url(store))
    assert len(evs) == 1, evs
    [ev] = evs
    assert ev["source"] == "cli", ev
    acct = account_id(sqlite_url(store), "default")
    assert ("account", acct, "default") in {(r["kind"], r["id"], r["name"]) for r in ev["resources"]}
    assert m_sec.group(1) not in json.dumps(ev)


# ---- failed changes --------------------------------------------------------------------------


def test_failed_ec2_changes_are_recorded(srv, store):
    from test_access_keys import new_key
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    c = srv.ec2()
    c.create_key_pair(KeyName="dup", KeyType="ed25519")
    dup = srv.call("CreateKeyPair", {"KeyName": "dup"}, headers={"User-Agent": UA}).error(
        "InvalidKeyPair.Duplicate")
    dry = srv.call("CreateKeyPair", {"KeyName": "dry", "DryRun": "true"},
                   headers={"User-Agent": UA}).error("DryRunOperation", MSG_DRY_RUN)
    bad = srv.call("ImportKeyPair", {"KeyName": "bad", "PublicKeyMaterial": support.b64("not a key")},
                   headers={"User-Agent": UA}).error("InvalidKey.Format")
    ro = new_key(url, TESTER[0], "--read-only")
    refused = srv.call("CreateKeyPair", {"KeyName": "ro"}, creds=ro, headers={"User-Agent": UA}).error(
        "UnauthorizedOperation", status=403)
    evs = [e for e in audit(url, "--account", "tester") if e["source"] == "ec2"]
    assert [e["eventName"] for e in evs] == ["CreateKeyPair", "ImportKeyPair", "CreateKeyPair",
                                             "CreateKeyPair", "CreateKeyPair"]
    e_ro, e_bad, e_dry, e_dup, _ = evs
    for e, reply, code in ((e_dup, dup, "InvalidKeyPair.Duplicate"), (e_dry, dry, "DryRunOperation"),
                           (e_bad, bad, "InvalidKey.Format"), (e_ro, refused, "UnauthorizedOperation")):
        assert e["errorCode"] == code, e
        assert e["errorMessage"] == reply.message, e
        assert e["requestId"] == reply.root.findtext("RequestID"), e
        check_common(e, acct=acct, source="ec2", region="us-east-1",
                     akid=ro[1] if e is e_ro else TESTER[1])
    check_params(e_dry, {"KeyName": "dry", "DryRun": "true"})
    assert srv.describe() and [k["KeyName"] for k in srv.describe()] == ["dup"]


def test_quota_refusal_is_recorded(account, keypaird, store):
    url = sqlite_url(store)
    cli_ok("accounts", "set-quota", TESTER[0], "1", "--store", url)
    srv = keypaird()
    srv.ec2().create_key_pair(KeyName="one", KeyType="ed25519")
    srv.call("CreateKeyPair", {"KeyName": "two", "KeyType": "ed25519"}).error("KeyPairLimitExceeded")
    [refused, ok] = [e for e in api_events(url) if e["source"] == "ec2"]
    assert refused["errorCode"] == "KeyPairLimitExceeded" and refused["eventName"] == "CreateKeyPair"
    no_error(ok)


def test_failed_ecs_changes_are_recorded(srv, store):
    from test_access_keys import new_key
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    ecs_create(srv, "dup")
    dup = v1_call(srv, "CreateKeyPair", {"KeyPairName": "dup"}, headers={"User-Agent": UA}).error(
        "KeyPair.AlreadyExist")
    bad = v1_call(srv, "ImportKeyPair", {"KeyPairName": "bad", "PublicKeyBody": "not a key"},
                  headers={"User-Agent": UA}).error("InvalidPublicKeyBody.Malformed")
    ro = new_key(url, TESTER[0], "--read-only")
    refused = v1_call(srv, "CreateKeyPair", {"KeyPairName": "ro"}, creds=ro,
                      headers={"User-Agent": UA}).error("Forbidden.RAM")
    evs = [e for e in audit(url, "--account", "tester") if e["source"] == "ecs"]
    assert [e["eventName"] for e in evs] == ["CreateKeyPair", "ImportKeyPair", "CreateKeyPair",
                                             "CreateKeyPair"]
    e_ro, e_bad, e_dup, _ = evs
    for e, reply, code in ((e_dup, dup, "KeyPair.AlreadyExist"),
                           (e_bad, bad, "InvalidPublicKeyBody.Malformed"),
                           (e_ro, refused, "Forbidden.RAM")):
        assert e["errorCode"] == code, e
        assert e["errorMessage"] == reply.message, e
        assert e["requestId"] == reply.json["RequestId"], e
        check_common(e, acct=acct, source="ecs", region="cn-hangzhou",
                     akid=ro[1] if e is e_ro else TESTER[1])


# ---- refused authentications -----------------------------------------------------------------


def test_refused_authentications_are_recorded(srv, store):
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    wrong = (TESTER[0], TESTER[1], TESTER[2] + "x")
    unknown = ("x", "AKIDNOSUCHKEY0000000", "s" * 40)
    h = {"User-Agent": UA}
    srv.call("CreateKeyPair", {"KeyName": "w"}, creds=wrong, headers=h).error("SignatureDoesNotMatch")
    time.sleep(0.003)
    srv.call("CreateKeyPair", {"KeyName": "u"}, creds=unknown, headers=h).error("AuthFailure")
    time.sleep(0.003)
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "w"}, sign_secret=TESTER[2] + "x",
            headers=h).error("SignatureDoesNotMatch")
    time.sleep(0.003)
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "u"}, creds=("x", "LTAINOSUCHKEY0000000", "s" * 30),
            headers=h).error("InvalidAccessKeyId.NotFound")
    everything = api_events(url)
    assert [(e["source"], e["errorCode"]) for e in everything] == [
        ("ecs", "InvalidAccessKeyId.NotFound"), ("ecs", "SignatureDoesNotMatch"),
        ("ec2", "AuthFailure"), ("ec2", "SignatureDoesNotMatch")]
    ecs_unknown, ecs_wrong, ec2_unknown, ec2_wrong = everything
    # A wrong signature on an existing key: the key's account sees it.
    for e, src in ((ec2_wrong, "ec2"), (ecs_wrong, "ecs")):
        check_common(e, acct=acct, source=src, region=e["region"])
        assert e["eventName"] == "CreateKeyPair"
        assert e["resources"] == []
    # An unknown key: no account.
    for e, akid in ((ec2_unknown, "AKIDNOSUCHKEY0000000"), (ecs_unknown, "LTAINOSUCHKEY0000000")):
        assert e["accountId"] in ("", None) and e["accountName"] in ("", None), e
        assert e["accessKeyId"] == akid, e
        assert e["sourceIp"] == "127.0.0.1" and e["userAgent"] == UA
    mine = api_events(url, "--account", "tester")
    assert [e["eventId"] for e in mine] == [ecs_wrong["eventId"], ec2_wrong["eventId"]]
    # The region the request was signed for (EC2) or named (ECS) is the event's.
    assert (ec2_wrong["region"], ecs_wrong["region"]) == ("us-east-1", "cn-hangzhou"), (ec2_wrong, ecs_wrong)
    # The owner sees the attempt in CloudTrail too.
    [ev] = cloudtrail(srv).lookup_events()["Events"]
    assert ev["EventId"] == ec2_wrong["eventId"]
    assert json.loads(ev["CloudTrailEvent"])["errorCode"] == "Client.SignatureDoesNotMatch"


def test_missing_authentication_is_recorded(srv, store):
    srv.call("CreateKeyPair", {"KeyName": "anon"}, signed=False).error("MissingAuthenticationToken")
    [ev] = api_events(sqlite_url(store))
    assert ev["errorCode"] == "MissingAuthenticationToken" and ev["source"] == "ec2"
    assert ev["accountId"] in ("", None)


def test_replayed_nonce_is_recorded(srv, store):
    from aliyun_support import v1
    req = v1(srv, "DescribeKeyPairs", {}, nonce="audit-replayed-nonce-0001")
    req.send().ok("DescribeKeyPairs")
    req.send().error("SignatureNonceUsed")
    [ev] = api_events(sqlite_url(store))
    assert ev["errorCode"] == "SignatureNonceUsed" and ev["accountName"] == "tester"
    assert ev["accessKeyId"] == TESTER[1]


# ---- reads -----------------------------------------------------------------------------------


def test_reads_are_not_recorded_by_default(srv, store):
    srv.ec2().describe_key_pairs()
    srv.call("DescribeTags").ok("DescribeTags")
    v1_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs")
    v1_call(srv, "ListTagResources", {"ResourceType": "keypair"}).ok("ListTagResources")
    srv.call("DescribeKeyPairs", {"KeyName.1": "nosuch"}).error("InvalidKeyPair.NotFound")
    assert api_events(sqlite_url(store)) == []


def test_reads_are_recorded_with_audit_reads(account, keypaird, store):
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    srv = keypaird(extra=["--audit-reads"])
    h = {"User-Agent": UA}
    d = srv.call("DescribeKeyPairs", {}, headers=h).ok("DescribeKeyPairs")
    srv.call("DescribeTags", {}, headers=h).ok("DescribeTags")
    nf = srv.call("DescribeKeyPairs", {"KeyName.1": "nosuch"}, headers=h).error("InvalidKeyPair.NotFound")
    v1_call(srv, "DescribeKeyPairs", {}, headers=h).ok("DescribeKeyPairs")
    v1_call(srv, "ListTagResources", {"ResourceType": "keypair"}, headers=h).ok("ListTagResources")
    evs = api_events(url)
    assert [(e["source"], e["eventName"]) for e in evs] == [
        ("ecs", "ListTagResources"), ("ecs", "DescribeKeyPairs"), ("ec2", "DescribeKeyPairs"),
        ("ec2", "DescribeTags"), ("ec2", "DescribeKeyPairs")]
    for e in evs:
        check_common(e, acct=acct, source=e["source"],
                     region="us-east-1" if e["source"] == "ec2" else "cn-hangzhou", read_only=True)
    assert evs[2]["errorCode"] == "InvalidKeyPair.NotFound"
    assert evs[2]["errorMessage"] == nf.message
    no_error(evs[4])
    assert evs[4]["requestId"] == d.txt("requestId")


# ---- the command's filters -------------------------------------------------------------------


def test_audit_filters(account, other_account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird()
    c = srv.ec2()
    for i in range(5):
        c.create_key_pair(KeyName=f"f{i}", KeyType="ed25519")
        time.sleep(0.003)
    c.delete_key_pair(KeyName="f0")
    srv.ec2(creds=OTHER).create_key_pair(KeyName="o0", KeyType="ed25519")
    mine = api_events(url, "--account", "tester")
    assert [e["eventName"] for e in mine] == ["DeleteKeyPair"] + ["CreateKeyPair"] * 5
    assert [e["accountName"] for e in api_events(url, "--account", "other")] == ["other"]
    creates = audit(url, "--account", "tester", "--action", "CreateKeyPair")
    assert [[r["name"] for r in e["resources"]] for e in creates] == [[f"f{i}"] for i in range(4, -1, -1)]
    assert [e["eventId"] for e in api_events(url, "--account", "tester", limit=2)] == [
        e["eventId"] for e in mine[:2]]
    assert audit(url, "--action", "DeleteTags") == []
    # --since / --until (ISO 8601), inclusive to the second.
    t_first = parse_time(mine[-1]["eventTime"]).replace(microsecond=0)
    later = t_first + dt.timedelta(days=1)
    assert audit(url, "--since", later.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "--until", (later + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == []
    everything = audit(url)
    want = [e["eventId"] for e in everything if parse_time(e["eventTime"]) >= t_first]
    assert [e["eventId"] for e in audit(url, "--since", t_first.strftime("%Y-%m-%dT%H:%M:%SZ"))] == want
    assert len(want) >= 7
    assert audit(url, "--until", (t_first - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == []
    # The table form names the same events.
    table = audit_raw(url, "--account", "tester")
    assert "CreateKeyPair" in table and "DeleteKeyPair" in table and "o0" not in table


def test_audit_refuses_bad_arguments(store, account):
    url = sqlite_url(store)
    for args in (["--since", "yesterday"], ["--limit", "0"], ["--limit", "abc"],
                 ["--until", "2026-13-01T00:00:00Z"]):
        cp = run_cli(["audit", "--store", url, *args])
        assert cp.returncode != 0, (args, cp.stdout)
        assert "panicked" not in cp.stderr


# ---- what a record leaves out ----------------------------------------------------------------


def test_presigned_change_keeps_no_signing_parameter(srv, store):
    import requests
    from botocore.awsrequest import AWSRequest
    from support import Reply, form, sign
    req = AWSRequest(method="GET", url=srv.url + "/",
                     params=form("CreateKeyPair", {"KeyName": "presigned", "KeyType": "ed25519"}))
    sign(req, srv.creds, "us-east-1", query=True, expires=300)
    r = Reply(requests.get(req.prepare().url, timeout=30)).ok("CreateKeyPair")
    [ev] = api_events(sqlite_url(store))
    assert ev["eventName"] == "CreateKeyPair" and ev["accessKeyId"] == TESTER[1]
    assert ev["requestId"] == r.txt("requestId")
    check_params(ev, {"KeyName": "presigned", "KeyType": "ed25519"})
    [ct] = cloudtrail(srv).lookup_events()["Events"]
    assert json.loads(ct["CloudTrailEvent"])["requestParameters"] == {"keyName": "presigned",
                                                                     "keyType": "ed25519"}


def test_v3_signed_change_keeps_no_signing_parameter(srv, store):
    from aliyun_support import Tea
    b = Tea(srv).body("CreateKeyPair", key_pair_name="v3-signed")
    [ev] = api_events(sqlite_url(store))
    assert ev["source"] == "ecs" and ev["accessKeyId"] == TESTER[1]
    assert ev["requestId"] == b["RequestId"]
    check_params(ev, {"KeyPairName": "v3-signed", "RegionId": "cn-hangzhou"})
    assert ev["userAgent"].startswith("AlibabaCloud"), ev["userAgent"]


# ---- more refused authentications ------------------------------------------------------------


def test_expired_and_disabled_keys_are_recorded(srv, store):
    from test_access_keys import key_cli, new_key
    from support import MSG_EXPIRED
    url = sqlite_url(store)
    acct = account_id(url, TESTER[0])
    srv.call("CreateKeyPair", {"KeyName": "late"}, skew=-20 * 60,
             headers={"User-Agent": UA}).error("RequestExpired", MSG_EXPIRED)
    k = new_key(url)
    key_cli(url, "disable", k[1])
    deadline = time.monotonic() + 5
    while True:
        r = srv.call("CreateKeyPair", {"KeyName": "off"}, creds=k, headers={"User-Agent": UA})
        if r.status != 200 or time.monotonic() > deadline:
            break
        srv.ec2().delete_key_pair(KeyName="off")
        time.sleep(0.1)
    r.error("AuthFailure")
    evs = api_events(url)
    refused = [e for e in evs if e["errorCode"]]
    assert [(e["errorCode"], e["accessKeyId"]) for e in refused][-1] == ("RequestExpired", TESTER[1])
    assert (refused[0]["errorCode"], refused[0]["accessKeyId"]) == ("AuthFailure", k[1])
    for e in (refused[0], refused[-1]):
        assert e["accountId"] == acct and e["accountName"] == "tester", e
        assert e["eventName"] == "CreateKeyPair" and e["source"] == "ec2"
        assert e["userAgent"] == UA and e["sourceIp"] == "127.0.0.1"


def test_audit_reads_from_the_environment(account, keypaird, store):
    srv = keypaird(env={"KEYPAIRD_AUDIT_READS": "true"})
    srv.ec2().describe_key_pairs()
    [ev] = api_events(sqlite_url(store))
    assert ev["eventName"] == "DescribeKeyPairs" and ev["readOnly"] is True
