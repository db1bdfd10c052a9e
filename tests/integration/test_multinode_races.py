"""Guarantees under races, with real keypaird processes: on PostgreSQL two nodes share one schema
and the requests are spread over both; on SQLite one node takes them all (issue 5, guarantees 1-3).

1. Name uniqueness: 200 concurrent CreateKeyPair/ImportKeyPair with one name -> exactly one
   success, the rest InvalidKeyPair.Duplicate (EC2) / KeyPair.AlreadyExist (Alibaba).
2. Exact quotas: an account with --key-pair-quota 50, 80 concurrent creates -> exactly 50 exist
   and exactly 30 got the quota error, in each dialect's scope separately.
3. Nonces: a signed Alibaba request replayed to the other node -> SignatureNonceUsed; the same
   signed request raced to both nodes succeeds once; expired nonce records are purged.
"""

from __future__ import annotations

import collections
import time

import pytest

from aliyun_support import ed25519_line, v1, v3
from pg_support import (Backend, ali_outcome, ali_send, backend, ec2_call, ec2_outcome, nodes,  # noqa: F401
                        pg_schema, run_all, wait_until)
from support import (TESTER, assert_error_envelope, b64)

N_RACE = 200
QUOTA = 50
N_QUOTA = 80
EC2_QUOTA_MSG = f"Maximum of {QUOTA} key pairs reached in this region."
ALI_QUOTA_MSG = "The key pair quota exceeds."
QUOTA_CREDS = ("quota50", "AKIDQUOTA00000000050", "Qu0ta/Secret+Fifty0000EXAMPLEKEY50")


def start_nodes(backend: Backend, nodes, creds=TESTER, extra=()):
    return [nodes.start(backend.url, creds=creds, extra=extra) for _ in range(backend.n_nodes)]


def ec2_describe_all(srv, region="us-east-1", creds=None) -> dict:
    """name -> keyPairId from a raw DescribeKeyPairs on this node."""
    r = ec2_call(srv, "DescribeKeyPairs", {}, creds=creds, region=region).ok("DescribeKeyPairs")
    out = {}
    for item in r.els("keySet/item"):
        name = item.find("{http://ec2.amazonaws.com/doc/2016-11-15/}keyName").text
        kid = item.find("{http://ec2.amazonaws.com/doc/2016-11-15/}keyPairId").text
        assert name not in out, f"{name} listed twice by one DescribeKeyPairs"
        out[name] = kid
    return out


def ali_describe_all(srv, region="cn-hangzhou", creds=None) -> dict:
    """name -> KeyPairFingerPrint over every page of DescribeKeyPairs (v1, JSON) on this node
    (the reference's item has no KeyPairId)."""
    out, page, total = {}, 1, None
    while True:
        body = ali_send(v1(srv, "DescribeKeyPairs", {"PageSize": "50", "PageNumber": str(page)},
                           creds=creds or srv.creds, region=region)).ok("DescribeKeyPairs").body
        total = body["TotalCount"]
        batch = body["KeyPairs"]["KeyPair"]
        for k in batch:
            assert k["KeyPairName"] not in out, f"{k['KeyPairName']} listed twice"
            out[k["KeyPairName"]] = k["KeyPairFingerPrint"]
        if not batch or len(out) >= total:
            break
        page += 1
        assert page < 50
    assert len(out) == total, f"TotalCount {total} but {len(out)} listed"
    return out


# ------------------------------------------------------------------------------- 1. uniqueness


@pytest.mark.timeout(240)
def test_ec2_one_name_200_racers(backend, nodes):
    backend.create_account(TESTER)
    srvs = start_nodes(backend, nodes)
    pubs = [ed25519_line(f"racer{i}@keypaird-test") for i in range(N_RACE)]

    def one(i):
        srv = srvs[i % len(srvs)]
        if i % 2:
            return ec2_call(srv, "CreateKeyPair", {"KeyName": "race", "KeyType": "ed25519"})
        return ec2_call(srv, "ImportKeyPair", {"KeyName": "race", "PublicKeyMaterial": b64(pubs[i])})

    replies = run_all(one, list(range(N_RACE)), workers=48)
    counts = collections.Counter(ec2_outcome(r) for r in replies)
    assert counts == {"200": 1, "400:InvalidKeyPair.Duplicate": N_RACE - 1}, counts
    [winner_i] = [i for i, r in enumerate(replies) if r.status == 200]
    winner = replies[winner_i].ok("ImportKeyPair" if winner_i % 2 == 0 else "CreateKeyPair")
    winner_id = winner.txt("keyPairId")
    for r in replies:
        if r.status != 200:
            assert_error_envelope(r)
            assert r.message == "The keypair 'race' already exists.", r.message
    for srv in srvs:
        assert ec2_describe_all(srv) == {"race": winner_id}, f"node {srv.url}"
    assert backend.tables.check_integrity() == []
    assert backend.tables.rows("SELECT count(*) FROM key_pairs WHERE name = 'race'") == [("1",)]


@pytest.mark.timeout(240)
def test_aliyun_one_name_200_racers(backend, nodes):
    backend.create_account(TESTER)
    # Creates are RSA here: keep a pool big enough that no racer waits for key generation.
    srvs = start_nodes(backend, nodes, extra=["--rsa-pool-size", "64"])
    reqs = []
    for i in range(N_RACE):
        srv = srvs[i % len(srvs)]
        if i % 2:
            reqs.append(v1(srv, "CreateKeyPair", {"KeyPairName": "race"}))
        elif i % 4 == 0:
            reqs.append(v1(srv, "ImportKeyPair", {"KeyPairName": "race",
                                                  "PublicKeyBody": ed25519_line()}))
        else:  # a quarter through V3, the Tea SDK's signature
            reqs.append(v3(srv, "ImportKeyPair", {"KeyPairName": "race",
                                                  "PublicKeyBody": ed25519_line()}))
    replies = run_all(ali_send, reqs, workers=48)
    counts = collections.Counter(ali_outcome(r) for r in replies)
    assert counts == {"200": 1, "400:KeyPair.AlreadyExist": N_RACE - 1}, counts
    [winner] = [r for r in replies if r.status == 200]
    winner_fp = winner.ok().body["KeyPairFingerPrint"]
    for r in replies:
        if r.status != 200:
            r.error("KeyPair.AlreadyExist")
    for srv in srvs:
        assert ali_describe_all(srv) == {"race": winner_fp}, f"node {srv.url}"
    assert backend.tables.check_integrity() == []
    assert backend.tables.rows("SELECT count(*) FROM key_pairs WHERE name = 'race'") == [("1",)]


# ------------------------------------------------------------------------------- 2. quotas


@pytest.mark.timeout(300)
def test_quota_exact_under_races_in_both_dialects(backend, nodes):
    backend.create_account(QUOTA_CREDS, quota=QUOTA)
    srvs = start_nodes(backend, nodes, creds=QUOTA_CREDS, extra=["--rsa-pool-size", "48"])
    # One region name for both dialects: the scopes differ by dialect alone.
    region = "us-east-1"

    # EC2: 80 racing creates (ed25519), over the nodes.
    def ec2_one(i):
        return ec2_call(srvs[i % len(srvs)], "CreateKeyPair",
                        {"KeyName": f"ec2-{i:02d}", "KeyType": "ed25519"}, region=region)

    replies = run_all(ec2_one, list(range(N_QUOTA)), workers=40)
    counts = collections.Counter(ec2_outcome(r) for r in replies)
    assert counts == {"200": QUOTA, "400:KeyPairLimitExceeded": N_QUOTA - QUOTA}, counts
    for r in replies:
        if r.status == 200:
            r.ok("CreateKeyPair")
        else:
            assert_error_envelope(r)
            assert r.message == EC2_QUOTA_MSG, r.message
    won_ec2 = {f"ec2-{i:02d}": r.txt("keyPairId") for i, r in enumerate(replies) if r.status == 200}
    for srv in srvs:
        assert ec2_describe_all(srv, region) == won_ec2, f"EC2 scope on node {srv.url}"

    # Alibaba, same account, same region name: a scope of its own, also limited to 50.
    assert ali_describe_all(srvs[0], region) == {}
    reqs = [v1(srvs[i % len(srvs)], "CreateKeyPair", {"KeyPairName": f"ali-{i:02d}"}, region=region)
            for i in range(N_QUOTA)]
    areplies = run_all(ali_send, reqs, workers=40)
    acounts = collections.Counter(ali_outcome(r) for r in areplies)
    assert acounts == {"200": QUOTA, "403:QuotaExceed.KeyPair": N_QUOTA - QUOTA}, acounts
    for r in areplies:
        if r.status != 200:
            r.error("QuotaExceed.KeyPair", ALI_QUOTA_MSG)
    won_ali = {f"ali-{i:02d}": r.ok().body["KeyPairFingerPrint"] for i, r in enumerate(areplies)
               if r.status == 200}
    for srv in srvs:
        assert ali_describe_all(srv, region) == won_ali, f"Alibaba scope on node {srv.url}"
        # and the EC2 scope did not move
        assert ec2_describe_all(srv, region) == won_ec2, f"EC2 scope on node {srv.url}"

    # Each dialect is full: one more of either is refused on every node.
    for srv in srvs:
        ec2_call(srv, "CreateKeyPair", {"KeyName": "one-more", "KeyType": "ed25519"},
                 region=region).error("KeyPairLimitExceeded", EC2_QUOTA_MSG)
        ali_send(v1(srv, "ImportKeyPair", {"KeyPairName": "one-more", "PublicKeyBody": ed25519_line()},
                    region=region)).error("QuotaExceed.KeyPair", ALI_QUOTA_MSG)

    # A delete frees exactly one slot, even when ten creates race for it over the nodes.
    victim = sorted(won_ec2)[0]
    ec2_call(srvs[-1], "DeleteKeyPair", {"KeyName": victim}, region=region).ok("DeleteKeyPair")
    replies = run_all(lambda i: ec2_call(srvs[i % len(srvs)], "CreateKeyPair",
                                         {"KeyName": f"refill-{i}", "KeyType": "ed25519"}, region=region),
                      list(range(10)), workers=10)
    counts = collections.Counter(ec2_outcome(r) for r in replies)
    assert counts == {"200": 1, "400:KeyPairLimitExceeded": 9}, counts
    for srv in srvs:
        assert len(ec2_describe_all(srv, region)) == QUOTA

    # The tables agree: 50 in each of the two scopes of this account, and nothing else.
    acct = backend.tables.account_id(QUOTA_CREDS[0])
    per_scope = backend.tables.rows(
        f"SELECT provider, region, count(*) FROM key_pairs WHERE account_id = '{acct}' "
        "GROUP BY provider, region ORDER BY provider")
    assert [(reg, n) for _, reg, n in per_scope] == [(region, str(QUOTA)), (region, str(QUOTA))], per_scope
    assert len({p for p, _, _ in per_scope}) == 2, per_scope
    assert backend.tables.check_integrity() == []


# ------------------------------------------------------------------------------- 3. nonces


def _peer(srvs, i):
    """The node a request is replayed to: the other node on PostgreSQL, the same on SQLite."""
    return srvs[(i + 1) % len(srvs)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_v1_nonce_replayed_to_the_other_node(backend, nodes, fmt):
    backend.create_account(TESTER)
    srvs = start_nodes(backend, nodes)
    a, b = srvs[0], _peer(srvs, 0)
    # A read.
    req = v1(a, "DescribeKeyPairs", {}, fmt=fmt)
    ali_send(req).ok("DescribeKeyPairs", fmt.lower())
    ali_send(req, to=b).error("SignatureNonceUsed", fmt=fmt.lower())
    ali_send(req, to=a).error("SignatureNonceUsed", fmt=fmt.lower())
    # A write: the replay makes nothing, and is refused as a replay, not as a duplicate name.
    req = v1(a, "ImportKeyPair", {"KeyPairName": "once", "PublicKeyBody": ed25519_line()}, fmt=fmt)
    ali_send(req).ok("ImportKeyPair", fmt.lower())
    ali_send(v1(a, "DeleteKeyPairs", {"KeyPairNames": '["once"]'})).ok()
    ali_send(req, to=b).error("SignatureNonceUsed", fmt=fmt.lower())
    for srv in srvs:
        assert ali_describe_all(srv) == {}
    # The same nonce on another request, signed afresh, is refused too.
    nonce = req.query.get("SignatureNonce")
    assert nonce
    ali_send(v1(b, "DescribeKeyPairs", {}, nonce=nonce)).error("SignatureNonceUsed")


@pytest.mark.timeout(120)
def test_v3_nonce_replayed_to_the_other_node(backend, nodes):
    backend.create_account(TESTER)
    srvs = start_nodes(backend, nodes)
    a, b = srvs[0], _peer(srvs, 0)
    req = v3(a, "ImportKeyPair", {"KeyPairName": "v3-once", "PublicKeyBody": ed25519_line()})
    made = ali_send(req).ok().body
    ali_send(req, to=b).error("SignatureNonceUsed")
    ali_send(req, to=a).error("SignatureNonceUsed")
    for srv in srvs:
        assert ali_describe_all(srv) == {"v3-once": made["KeyPairFingerPrint"]}
    # The nonce, with a fresh signature over a different request, to the other node.
    nonce = req.headers["x-acs-signature-nonce"]
    ali_send(v3(b, "DescribeKeyPairs", {}, nonce=nonce)).error("SignatureNonceUsed")


@pytest.mark.timeout(120)
def test_one_signed_request_raced_to_every_node_succeeds_once(backend, nodes):
    backend.create_account(TESTER)
    srvs = start_nodes(backend, nodes)
    v1req = v1(srvs[0], "ImportKeyPair", {"KeyPairName": "raced-v1", "PublicKeyBody": ed25519_line()})
    v3req = v3(srvs[0], "ImportKeyPair", {"KeyPairName": "raced-v3", "PublicKeyBody": ed25519_line()})
    for req in (v1req, v3req):
        replies = run_all(lambda i: ali_send(req, to=srvs[i % len(srvs)]), list(range(40)), workers=40)
        counts = collections.Counter(ali_outcome(r) for r in replies)
        assert counts == {"200": 1, "400:SignatureNonceUsed": 39}, counts
        for r in replies:
            if r.status != 200:
                r.error("SignatureNonceUsed")
    for srv in srvs:
        assert sorted(ali_describe_all(srv)) == ["raced-v1", "raced-v3"]


@pytest.mark.timeout(120)
def test_expired_nonces_are_purged(backend, nodes):
    """The nonce record stays bounded: a node deletes expired records (at start and then every
    minute), never live ones."""
    backend.create_account(TESTER)
    first = nodes.start(backend.url)
    live = v1(first, "DescribeKeyPairs", {})
    ali_send(live).ok()
    now_ms = int(time.time() * 1000)
    expired = [(f"AKIDEXPIRED{i:04d}", f"old-{i}", now_ms - 60_000 - i) for i in range(25)]
    future = [("AKIDFUTURE0000000001", "not-yet", now_ms + 3_600_000)]
    values = ", ".join(f"('{a}', '{n}', {t})" for a, n, t in expired + future)
    sql = f"INSERT INTO request_nonces (access_key_id, nonce, expires_at_ms) VALUES {values}"
    if backend.kind == "sqlite":
        first.stop()
        import sqlite3
        con = sqlite3.connect(str(backend.tables.sqlite_path), timeout=10)
        with con:
            con.execute(sql)
        con.close()
    else:
        from pg_support import psql
        psql(sql, schema=backend.tables.schema)
    count = "SELECT count(*) FROM request_nonces"
    assert int(backend.tables.scalar(count)) == len(expired) + len(future) + 1
    second = nodes.start(backend.url)  # on PostgreSQL, next to the first node
    wait_until(lambda: int(backend.tables.scalar(count)) == 2, timeout=20,
               what="expired nonce records purged")
    left = sorted(backend.tables.rows("SELECT nonce FROM request_nonces"))
    assert left == sorted([(live.query["SignatureNonce"],), ("not-yet",)]), left
    # The live record still protects its request, on every node.
    ali_send(live, to=second).error("SignatureNonceUsed")
