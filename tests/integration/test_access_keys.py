"""Access keys with a lifecycle (issue 13): several keys per account, rotation, disabled and
deleted keys in both dialects, `access-keys list`, last use, revocation across two nodes on
SQLite and on PostgreSQL, read-only keys, `accounts delete` and `accounts set-quota`."""

from __future__ import annotations

import re
import time

import pytest
from botocore.exceptions import ClientError

from aliyun_support import Core, ed25519_line, items, v1_call
from pg_support import nodes, pg_schema, pg_url  # noqa: F401 - fixtures
from support import (MSG_AUTH_FAILURE, MSG_DRY_RUN, TESTER, b64, call, client_error, ec2_client,
                     run_cli, sqlite_url)

MSG_UNAUTHORIZED = "You are not authorized to perform this operation."
REVOCATION_BOUND = 2.0
LIST_HEADER = "ACCESS KEY ID            STATUS    READ-ONLY  CREATED               LAST USED"
ROW_RE = re.compile(r"^(\S+)\s+(active|disabled)\s+(yes|no)\s+"
                    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+(never|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")


def cli_ok(*args) -> str:
    cp = run_cli([str(a) for a in args])
    assert cp.returncode == 0, f"`keypaird {' '.join(map(str, args))}` exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp.stdout


def cli_refused(*args) -> str:
    cp = run_cli([str(a) for a in args])
    assert cp.returncode != 0, f"`keypaird {' '.join(map(str, args))}` should fail\n{cp.stdout}"
    assert "panicked" not in cp.stderr
    return cp.stderr


def new_key(url: str, account: str = TESTER[0], *extra) -> tuple:
    """`access-keys create`; returns (account, akid, secret) from its export lines."""
    out = cli_ok("access-keys", "create", "--account", account, "--store", url, *extra)
    akid = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", out, re.M).group(1)
    secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=(\S+)$", out, re.M).group(1)
    return (account, akid, secret)


def key_cli(url: str, verb: str, akid: str, account: str = TESTER[0]) -> str:
    return cli_ok("access-keys", verb, akid, "--account", account, "--store", url)


def listed(url: str, account: str = TESTER[0]) -> dict:
    out = cli_ok("access-keys", "list", "--account", account, "--store", url)
    lines = out.splitlines()
    assert lines[0] == LIST_HEADER
    rows = {}
    for line in lines[1:]:
        m = ROW_RE.match(line)
        assert m, f"unexpected row {line!r}"
        rows[m.group(1)] = {"status": m.group(2), "read_only": m.group(3), "created": m.group(4),
                            "last_used": m.group(5)}
    return rows


def ec2_refused(srv, creds):
    with pytest.raises(ClientError) as e:
        srv.ec2(creds=creds).describe_key_pairs()
    client_error(e, "AuthFailure", MSG_AUTH_FAILURE, 401)


def ec2_works(srv, creds) -> bool:
    try:
        srv.ec2(creds=creds).describe_key_pairs()
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AuthFailure", e.response
        return False


def until(predicate, bound: float = REVOCATION_BOUND) -> float:
    """Seconds until `predicate()` holds, polled every 20 ms; fails past `bound`."""
    start = time.monotonic()
    while not predicate():
        elapsed = time.monotonic() - start
        assert elapsed < bound, f"still not after {elapsed:.2f} s"
        time.sleep(0.02)
    return time.monotonic() - start


# ---- rotation, disabled and deleted keys -------------------------------------------------------


def test_rotation_with_boto3_and_the_alibaba_sdk(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird()
    old = TESTER
    srv.ec2(creds=old).create_key_pair(KeyName="before-rotation")
    new = new_key(url)
    # The new key works at once in both dialects and sees the same account.
    assert [k["KeyName"] for k in srv.describe(creds=new)] == ["before-rotation"]
    Core(srv, creds=new).do("CreateKeyPair", KeyPairName="made-with-new")
    # Switch, then disable the old one.
    key_cli(url, "disable", old[1])
    until(lambda: not ec2_works(srv, old))
    ec2_refused(srv, old)
    Core(srv, creds=old).error("DescribeKeyPairs", "InvalidAccessKeyId.Inactive",
                               "Specified access key is disabled.")
    assert [k["KeyName"] for k in srv.describe(creds=new)] == ["before-rotation"]
    assert Core(srv, creds=new).names() == ["made-with-new"]
    assert listed(url)[old[1]]["status"] == "disabled"
    # Enabled again, it works again.
    key_cli(url, "enable", old[1])
    until(lambda: ec2_works(srv, old))
    assert Core(srv, creds=old).names() == ["made-with-new"]
    # Deleted, it is unknown: AuthFailure in EC2, NotFound (404) in ECS.
    key_cli(url, "delete", old[1])
    until(lambda: not ec2_works(srv, old))
    ec2_refused(srv, old)
    Core(srv, creds=old).error("DescribeKeyPairs", "InvalidAccessKeyId.NotFound",
                               "Specified access key is not found.")
    assert old[1] not in listed(url)
    assert "has no access key" in cli_refused("access-keys", "enable", old[1], "--account", old[0],
                                              "--store", url)


def test_a_disabled_key_with_a_wrong_signature_is_still_a_signature_error(account, keypaird, store):
    srv = keypaird()
    key_cli(sqlite_url(store), "disable", TESTER[1])
    time.sleep(0.6)
    name, akid, secret = TESTER
    call(srv.url, "DescribeKeyPairs", creds=(name, akid, secret + "x")).error("SignatureDoesNotMatch")
    call(srv.url, "DescribeKeyPairs", creds=TESTER).error("AuthFailure", MSG_AUTH_FAILURE, 401)
    v1_call(srv, "DescribeKeyPairs", creds=(name, akid, secret + "x")).error("SignatureDoesNotMatch")
    v1_call(srv, "DescribeKeyPairs", creds=TESTER).error("InvalidAccessKeyId.Inactive")


def test_create_with_a_chosen_key_and_refusals(account, store):
    url = sqlite_url(store)
    out = cli_ok("access-keys", "create", "--account", TESTER[0], "--store", url,
                 "--access-key-id", "AKIDCHOSEN0000000003", "--secret-access-key", "chosen/secret+1")
    assert out.splitlines()[1:] == ["export AWS_ACCESS_KEY_ID=AKIDCHOSEN0000000003",
                                    "export AWS_SECRET_ACCESS_KEY=chosen/secret+1"]
    # Sealed like every secret: not in the database file or its WAL.
    for path in (store, store.with_name(store.name + "-wal")):
        if path.exists():
            assert b"chosen/secret+1" not in path.read_bytes(), path
    assert "already in use" in cli_refused("access-keys", "create", "--account", TESTER[0],
                                           "--store", url, "--access-key-id",
                                           "AKIDCHOSEN0000000003", "--secret-access-key", "x")
    assert "no account named 'nobody'" in cli_refused("access-keys", "list", "--account", "nobody",
                                                      "--store", url)
    assert "has no access key 'AKIDNOSUCHKEY'" in cli_refused(
        "access-keys", "disable", "AKIDNOSUCHKEY", "--account", TESTER[0], "--store", url)


# ---- list and last use -------------------------------------------------------------------------


def test_list_shows_every_key_and_never_a_secret(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird(extra=["--last-used-flush-interval", "200ms"])
    ro = new_key(url, TESTER[0], "--read-only")
    disabled = new_key(url)
    key_cli(url, "disable", disabled[1])
    rows = listed(url)
    assert list(rows) == [TESTER[1], ro[1], disabled[1]], "oldest first"
    assert [(r["status"], r["read_only"], r["last_used"]) for r in rows.values()] == [
        ("active", "no", "never"), ("active", "yes", "never"), ("disabled", "no", "never")]
    cp = run_cli(["access-keys", "list", "--account", TESTER[0], "--store", url])
    for secret in (TESTER[2], ro[2], disabled[2]):
        assert secret not in cp.stdout + cp.stderr
    # A use shows within the flush interval (here 200 ms), without a write per request.
    srv.ec2(creds=ro).describe_key_pairs()
    until(lambda: listed(url)[ro[1]]["last_used"] != "never", bound=5)
    assert listed(url)[TESTER[1]]["last_used"] == "never"


def test_last_use_shows_within_a_minute_by_default(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird()
    srv.ec2().describe_key_pairs()
    waited = until(lambda: listed(url)[TESTER[1]]["last_used"] != "never", bound=60)
    assert waited < 60


def test_last_use_is_flushed_when_the_server_stops(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird(extra=["--last-used-flush-interval", "1h"])
    srv.ec2().describe_key_pairs()
    assert listed(url)[TESTER[1]]["last_used"] == "never"
    assert srv.stop() == 0
    assert listed(url)[TESTER[1]]["last_used"] != "never"


# ---- revocation across two nodes ---------------------------------------------------------------


def revocation_reaches_both_nodes(url: str, a, b):
    """Both nodes have the key cached; each change must show on both within the bound."""
    extra = new_key(url)
    for srv in (a, b):
        assert ec2_works(srv, TESTER) and ec2_works(srv, extra)
    steps = [("disable", TESTER[1], False), ("enable", TESTER[1], True),
             ("delete", TESTER[1], False)]
    for verb, akid, works in steps:
        key_cli(url, verb, akid)
        for srv in (a, b):
            waited = until(lambda: ec2_works(srv, TESTER) == works)
            assert waited < REVOCATION_BOUND, f"{verb} took {waited:.2f} s on {srv.url}"
    # The account deleted with --force takes its other key with it, on both nodes.
    cli_ok("accounts", "delete", TESTER[0], "--force", "--store", url)
    for srv in (a, b):
        until(lambda: not ec2_works(srv, extra))
        ec2_refused(srv, extra)


def test_revocation_across_two_nodes_on_sqlite(account, keypaird, store):
    a, b = keypaird(), keypaird()
    revocation_reaches_both_nodes(sqlite_url(store), a, b)


def test_revocation_across_two_nodes_on_postgres(nodes, pg_url):  # noqa: F811
    cli_ok("accounts", "create", TESTER[0], "--access-key-id", TESTER[1], "--secret-access-key",
           TESTER[2], "--store", pg_url)
    a, b = nodes.start(pg_url), nodes.start(pg_url)
    revocation_reaches_both_nodes(pg_url, a, b)


# ---- read-only keys ----------------------------------------------------------------------------


def ec2_inventory(srv) -> list:
    return sorted((k["KeyName"], k["KeyPairId"], k["KeyFingerprint"],
                   sorted((t["Key"], t["Value"]) for t in k.get("Tags", [])))
                  for k in srv.describe())


def test_read_only_key_in_ec2(account, keypaird, store):
    srv = keypaird()
    kp = srv.ec2().create_key_pair(KeyName="existing", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "owner", "Value": "ops"}]}])
    before = ec2_inventory(srv)
    ro = new_key(sqlite_url(store), TESTER[0], "--read-only")
    pub = b64(ed25519_line())
    writes = {
        "CreateKeyPair": {"KeyName": "ro-new"},
        "ImportKeyPair": {"KeyName": "ro-imported", "PublicKeyMaterial": pub},
        "DeleteKeyPair": {"KeyName": "existing"},
        "CreateTags": {"ResourceId.1": kp["KeyPairId"], "Tag.1.Key": "k", "Tag.1.Value": "v"},
        "DeleteTags": {"ResourceId.1": kp["KeyPairId"], "Tag.1.Key": "owner"},
    }
    for action, params in writes.items():
        call(srv.url, action, params, creds=ro).error("UnauthorizedOperation", MSG_UNAUTHORIZED, 403)
        # DryRun answers what EC2 answers a caller without the permission.
        call(srv.url, action, {**params, "DryRun": "true"}, creds=ro).error(
            "UnauthorizedOperation", MSG_UNAUTHORIZED, 403)
    assert ec2_inventory(srv) == before
    # Reads work, and DryRun of a read is the usual DryRunOperation.
    assert [k["KeyName"] for k in srv.describe(creds=ro)] == ["existing"]
    call(srv.url, "DescribeTags", creds=ro).ok("DescribeTags")
    call(srv.url, "DescribeKeyPairs", {"DryRun": "true"}, creds=ro).error(
        "DryRunOperation", MSG_DRY_RUN)
    # Authentication comes first: a bad signature is still a signature error.
    name, akid, secret = ro
    call(srv.url, "CreateKeyPair", {"KeyName": "x"}, creds=(name, akid, secret + "x")).error(
        "SignatureDoesNotMatch")
    # The same account's full key still writes.
    srv.ec2().create_key_pair(KeyName="by-full-key")


def ecs_inventory(srv) -> list:
    return sorted((k["KeyPairName"], k["KeyPairFingerPrint"], k.get("ResourceGroupId", ""),
                   sorted((t["TagKey"], t["TagValue"]) for t in k["Tags"]["Tag"]))
                  for k in items(srv))


def test_read_only_key_in_ecs(account, keypaird, store):
    srv = keypaird()
    created = v1_call(srv, "CreateKeyPair", {"KeyPairName": "existing", "Tag.1.Key": "owner",
                                             "Tag.1.Value": "ops"}).ok("CreateKeyPair").body
    kp_id = created["KeyPairId"]
    before = ecs_inventory(srv)
    ro = new_key(sqlite_url(store), TESTER[0], "--read-only")
    writes = {
        "CreateKeyPair": {"KeyPairName": "ro-new"},
        "ImportKeyPair": {"KeyPairName": "ro-imported", "PublicKeyBody": ed25519_line()},
        "DeleteKeyPairs": {"KeyPairNames": '["existing"]'},
        "AttachKeyPair": {"KeyPairName": "existing", "InstanceIds": '["i-0000000001"]'},
        "DetachKeyPair": {"KeyPairName": "existing", "InstanceIds": '["i-0000000001"]'},
        "TagResources": {"ResourceType": "keypair", "ResourceId.1": kp_id, "Tag.1.Key": "k",
                         "Tag.1.Value": "v"},
        "UntagResources": {"ResourceType": "keypair", "ResourceId.1": kp_id, "TagKey.1": "owner"},
        "JoinResourceGroup": {"ResourceType": "keypair", "ResourceId": kp_id,
                              "ResourceGroupId": "rg-readonly"},
    }
    for action, params in writes.items():
        v1_call(srv, action, params, creds=ro).error("Forbidden.RAM")
    assert ecs_inventory(srv) == before
    # Reads work.
    assert [k["KeyPairName"] for k in items(srv, creds=ro)] == ["existing"]
    v1_call(srv, "ListTagResources", {"ResourceType": "keypair", "ResourceId.1": kp_id},
            creds=ro).ok("ListTagResources")
    v1_call(srv, "DescribeInstances", {}, creds=ro).ok("DescribeInstances")
    Core(srv, creds=ro).error("CreateKeyPair", "Forbidden.RAM", KeyPairName="sdk-ro")
    # A bad signature is still a signature error.
    name, akid, secret = ro
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "x"}, creds=(name, akid, secret + "x")).error(
        "SignatureDoesNotMatch")
    assert ecs_inventory(srv) == before


# ---- accounts delete and set-quota -------------------------------------------------------------


def test_accounts_delete_refuses_an_account_with_key_pairs_unless_forced(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird()
    srv.ec2().create_key_pair(KeyName="held")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "held-too"}).ok("CreateKeyPair")
    err = cli_refused("accounts", "delete", TESTER[0], "--store", url)
    assert "the account 'tester' still holds 2 key pair(s)" in err and "--force" in err
    assert ec2_works(srv, TESTER)
    out = cli_ok("accounts", "delete", TESTER[0], "--force", "--store", url)
    assert out.strip() == "Deleted account 'tester' with its access keys and 2 key pair(s)."
    until(lambda: not ec2_works(srv, TESTER))
    assert TESTER[0] not in cli_ok("accounts", "list", "--store", url)
    assert "no account named 'tester'" in cli_refused("accounts", "delete", TESTER[0],
                                                      "--store", url)
    # An empty account needs no --force; recreated, the name starts afresh.
    cli_ok("accounts", "create", TESTER[0], "--access-key-id", TESTER[1], "--secret-access-key",
           TESTER[2], "--store", url)
    until(lambda: ec2_works(srv, TESTER))
    assert srv.describe() == []
    out = cli_ok("accounts", "delete", TESTER[0], "--store", url)
    assert out.strip() == "Deleted account 'tester' with its access keys and 0 key pair(s)."


def test_accounts_set_quota_is_enforced_on_a_running_server(account, keypaird, store):
    url = sqlite_url(store)
    srv = keypaird()
    ec2 = srv.ec2()
    ec2.create_key_pair(KeyName="one", KeyType="ed25519")
    out = cli_ok("accounts", "set-quota", TESTER[0], "2", "--store", url)
    assert out.strip() == "Account 'tester' may now hold 2 key pairs per region and dialect."
    assert re.search(r"^tester\s+\d{12}\s+2\s", cli_ok("accounts", "list", "--store", url), re.M)
    time.sleep(0.6)  # one generation check
    ec2.create_key_pair(KeyName="two", KeyType="ed25519")
    with pytest.raises(ClientError) as e:
        ec2.create_key_pair(KeyName="three", KeyType="ed25519")
    client_error(e, "KeyPairLimitExceeded")
    assert "at least 1" in cli_refused("accounts", "set-quota", TESTER[0], "0", "--store", url)
    assert "no account named 'nobody'" in cli_refused("accounts", "set-quota", "nobody", "3",
                                                      "--store", url)
