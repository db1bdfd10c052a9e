"""Database outage (issue 5, guarantee 5): a node serving on PostgreSQL loses its database.

Requests fail fast with a retryable 503 in the dialect's shape (EC2: ServiceUnavailable in the EC2
error envelope; Alibaba: InternalError in its JSON or XML error body) instead of hanging;
/readyz says 503 while the store is unreachable and /healthz stays 200; when the database is back
the same process recovers without a restart.

The outage is made three ways: a TCP proxy between the node and PostgreSQL that is cut (listener
and every connection closed), the same proxy frozen (everything open, nothing forwarded: a
database that stopped answering), and, when the tests run as root on a machine with
pg_ctlcluster, PostgreSQL itself stopped and started again.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from aliyun_support import (check_json_error_body, check_xml_error_root, ed25519_line, v1, v3)
from pg_support import (ali_outcome, ali_send, base_url, ec2_call, ec2_outcome, nodes, pg_isready,  # noqa: F401
                        pg_proxy, pg_schema, run_all, store_url, timed, wait_until)
from support import TESTER, assert_xml_content_type, b64, create_account

FAIL_FAST = 8.0       # a request during a cut outage answers within this many seconds
FROZEN_BOUND = 15.0   # ... and within this when the database accepts but never answers
RECOVERY = 10.0       # the node serves again within this after the database is back
READY_KEPT = 1.1      # how long /readyz may answer from its last probe, and a little


def ec2_unavailable(reply, where=""):
    """503 with Code ServiceUnavailable in the EC2 error envelope."""
    assert not isinstance(reply, Exception), f"{where}: no reply: {reply!r}"
    assert reply.status == 503, f"{where}: expected 503 ServiceUnavailable, got {reply!r}"
    assert_xml_content_type(reply)
    assert reply.text.lstrip().startswith('<?xml version="1.0" encoding="UTF-8"?>'), reply.text[:200]
    root = reply.root
    assert root.tag == "Response" and [c.tag for c in root] == ["Errors", "RequestID"], reply.text
    err = root.find("Errors/Error")
    assert [c.tag for c in err] == ["Code", "Message"], reply.text
    assert err.find("Code").text == "ServiceUnavailable", f"{where}: {reply.text}"
    assert (err.find("Message").text or "").strip()
    assert (root.find("RequestID").text or "").strip()


def ali_unavailable(reply, fmt="json", where=""):
    """503 with Code InternalError in the Alibaba error body of the format asked for."""
    assert not isinstance(reply, Exception), f"{where}: no reply: {reply!r}"
    assert reply.status == 503, f"{where}: expected 503 InternalError, got {reply!r}"
    assert reply.fmt == fmt, f"{where}: expected a {fmt} error body: {reply!r}"
    if fmt == "json":
        check_json_error_body(reply.json, reply.host)
        d = reply.json
    else:
        d = check_xml_error_root(reply.root, reply.host)
    assert d["Code"] == "InternalError", f"{where}: {d}"
    assert d["Message"].strip()


def readyz(srv) -> int:
    return requests.get(srv.url + "/readyz", timeout=FROZEN_BOUND + 5).status_code


def healthz(srv) -> int:
    return requests.get(srv.url + "/healthz", timeout=5).status_code


# Every kind of request a client could be sending, each checked against its dialect's 503.
def probes(srv):
    n = [0]

    def name():
        n[0] += 1
        return f"during-{time.monotonic_ns()}-{n[0]}"

    return [
        ("ec2 DescribeKeyPairs", lambda: ec2_call(srv, "DescribeKeyPairs", {}, timeout=60), ec2_unavailable),
        ("ec2 CreateKeyPair", lambda: ec2_call(srv, "CreateKeyPair", {"KeyName": name(), "KeyType": "ed25519"},
                                               timeout=60), ec2_unavailable),
        ("ec2 ImportKeyPair", lambda: ec2_call(srv, "ImportKeyPair", {"KeyName": name(), "PublicKeyMaterial":
                                                                       b64(ed25519_line())}, timeout=60),
         ec2_unavailable),
        ("ec2 DeleteKeyPair", lambda: ec2_call(srv, "DeleteKeyPair", {"KeyName": "before"}, timeout=60),
         ec2_unavailable),
        ("aliyun v1 JSON DescribeKeyPairs", lambda: ali_send(v1(srv, "DescribeKeyPairs", {})),
         lambda r, where: ali_unavailable(r, "json", where)),
        ("aliyun v1 XML CreateKeyPair", lambda: ali_send(v1(srv, "CreateKeyPair", {"KeyPairName": name()},
                                                            fmt="XML")),
         lambda r, where: ali_unavailable(r, "xml", where)),
        ("aliyun V3 ImportKeyPair", lambda: ali_send(v3(srv, "ImportKeyPair", {
            "KeyPairName": name(), "PublicKeyBody": ed25519_line()})),
         lambda r, where: ali_unavailable(r, "json", where)),
    ]


def check_outage(srv, bound: float, attempts: int = 2):
    """Every probe, `attempts` times one after the other and then all at once, fails within
    `bound` seconds with the dialect's 503; /readyz is 503 and /healthz 200."""
    times = []
    for label, do, check in probes(srv):
        for attempt in range(attempts):
            reply, took = timed(do)
            times.append(round(took, 1))
            check(reply, f"{label} (attempt {attempt + 1})")
            assert took < bound, f"{label}: answered after {took:.1f} s (limit {bound} s)"
    # all at once, more than the pool holds
    ps = probes(srv) * 3
    t0 = time.monotonic()
    replies = run_all(lambda p: timed(p[1]), ps, workers=len(ps))
    for (label, _, check), (reply, took) in zip(ps, replies):
        check(reply, f"{label} (concurrent)")
        assert took < bound, f"{label} (concurrent): answered after {took:.1f} s (limit {bound} s)"
    assert time.monotonic() - t0 < bound + 2
    times.append(("concurrent", sorted(round(t, 1) for _, t in replies)))
    # /readyz answers from its last probe for a second (a probe is a write); then it probes.
    time.sleep(READY_KEPT)
    status, ready_took = timed(readyz, srv)
    assert status == 503, f"/readyz during the outage: {status!r}"
    assert ready_took < bound, f"/readyz answered after {ready_took:.1f} s"
    status, took = timed(healthz, srv)
    assert status == 200, f"/healthz during the outage: {status!r}"
    assert took < 2, f"/healthz answered after {took:.1f} s"
    assert srv.alive(), f"the node exited during the outage:\n{srv.stderr()[-3000:]}"
    print(f"\noutage answer times (s): {times}, /readyz {ready_took:.1f}")


def wait_recovered(srv, since: float):
    """The same process serves again within RECOVERY seconds, and then steadily."""
    def ok():
        return (ec2_call(srv, "DescribeKeyPairs", {}, timeout=10).status == 200
                and readyz(srv) == 200)
    wait_until(ok, RECOVERY, interval=0.25, what="recovery after the database came back")
    took = time.monotonic() - since
    # From now on every request succeeds, in both dialects, reads and writes.
    for i in range(5):
        ec2_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs")
        ali_send(v1(srv, "DescribeKeyPairs", {})).ok()
    r = ec2_call(srv, "CreateKeyPair", {"KeyName": f"after-{time.monotonic_ns()}", "KeyType": "ed25519"})
    r.ok("CreateKeyPair")
    ali_send(v3(srv, "ImportKeyPair", {"KeyPairName": f"after-{time.monotonic_ns()}",
                                       "PublicKeyBody": ed25519_line()})).ok()
    assert readyz(srv) == 200
    assert srv.alive()
    return took


def prepare(srv):
    ec2_call(srv, "CreateKeyPair", {"KeyName": "before", "KeyType": "ed25519"}).ok("CreateKeyPair")
    ali_send(v1(srv, "ImportKeyPair", {"KeyPairName": "before", "PublicKeyBody": ed25519_line()})).ok()
    assert readyz(srv) == 200 and healthz(srv) == 200


def names_everywhere(srv):
    ec2 = {i.find("{http://ec2.amazonaws.com/doc/2016-11-15/}keyName").text
           for i in ec2_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs").els("keySet/item")}
    ali = {k["KeyPairName"] for k in
           ali_send(v1(srv, "DescribeKeyPairs", {"PageSize": "50"})).ok().body["KeyPairs"]["KeyPair"]}
    return ec2, ali


@pytest.mark.timeout(240)
def test_proxy_cut_fails_fast_and_recovers(pg_schema, pg_proxy, nodes):
    url = store_url(pg_schema, port=pg_proxy.port, pool_size=4)
    create_account(url, *TESTER)
    srv = nodes.start(url)
    prepare(srv)
    assert pg_proxy.connections() >= 1

    for round_ in range(2):  # an outage, recovery, and a second outage on the same process
        pg_proxy.cut()
        check_outage(srv, FAIL_FAST)
        pg_proxy.restore()
        took = wait_recovered(srv, time.monotonic())
        print(f"\nround {round_ + 1}: recovered {took:.1f} s after the proxy came back")
    ec2, ali = names_everywhere(srv)
    assert "before" in ec2 and "before" in ali
    assert not any(n.startswith("during-") for n in ec2 | ali), "a request refused with 503 left a key pair"


@pytest.mark.timeout(240)
def test_proxy_cut_under_load(pg_schema, pg_proxy, nodes):
    """Requests in flight when the database goes away each end, within the bound, with 200 or
    the dialect's 503; the node recovers and everything acknowledged is there."""
    import itertools
    import threading
    url = store_url(pg_schema, port=pg_proxy.port, pool_size=4)
    create_account(url, *TESTER)
    srv = nodes.start(url)
    prepare(srv)
    counter = itertools.count()
    results = []
    lock = threading.Lock()
    stop = threading.Event()
    acked = [0]
    enough = threading.Event()

    def worker(_):
        while not stop.is_set():
            i = next(counter)
            name = f"load-{i:04d}"
            if i % 2:
                kind = "ec2"
                r, took = timed(ec2_call, srv, "CreateKeyPair", {"KeyName": name, "KeyType": "ed25519"},
                                timeout=60)
            else:
                kind = "ali"
                r, took = timed(lambda: ali_send(v1(srv, "ImportKeyPair", {
                    "KeyPairName": name, "PublicKeyBody": ed25519_line()})))
            with lock:
                results.append((name, kind, r, took))
                if getattr(r, "status", None) == 200:
                    acked[0] += 1
                    if acked[0] >= 40:
                        enough.set()

    pool = threading.Thread(target=lambda: run_all(worker, list(range(8)), workers=8), daemon=True)
    pool.start()
    assert enough.wait(60), "the load did not get going"
    pg_proxy.cut()
    time.sleep(3)  # the load keeps going into the outage
    stop.set()
    pool.join(FAIL_FAST + 30)
    assert not pool.is_alive(), "requests still hanging after the load stopped"
    outcomes = collections.Counter((kind, ec2_outcome(r) if kind == "ec2" else ali_outcome(r))
                                   for _, kind, r, _ in results)
    slow = [(n, round(t, 1)) for n, _, _, t in results if t >= FAIL_FAST]
    assert not slow, f"requests that took {FAIL_FAST} s or more: {slow[:10]} ({outcomes})"
    allowed = {("ec2", "200"), ("ec2", "503:ServiceUnavailable"), ("ali", "200"), ("ali", "503:InternalError")}
    assert set(outcomes) <= allowed, outcomes
    assert outcomes[("ec2", "503:ServiceUnavailable")] > 0 and outcomes[("ali", "503:InternalError")] > 0, (
        f"the load did not reach into the outage: {outcomes}")
    for name, kind, r, _ in results:
        if r.status == 503:
            (ec2_unavailable if kind == "ec2" else ali_unavailable)(r, where=name)
    pg_proxy.restore()
    wait_recovered(srv, time.monotonic())
    ec2_names = {i.find("{http://ec2.amazonaws.com/doc/2016-11-15/}keyName").text
                 for i in ec2_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs").els("keySet/item")}
    ali_names = set()
    page = 1
    while True:
        b = ali_send(v1(srv, "DescribeKeyPairs", {"PageSize": "50", "PageNumber": str(page)})).ok().body
        ali_names |= {k["KeyPairName"] for k in b["KeyPairs"]["KeyPair"]}
        if len(ali_names) >= b["TotalCount"] or not b["KeyPairs"]["KeyPair"]:
            break
        page += 1
    lost = [name for name, kind, r, _ in results
            if r.status == 200 and name not in (ec2_names if kind == "ec2" else ali_names)]
    assert not lost, f"acknowledged creates lost across the outage: {lost}"
    print(f"\nunder load: {dict(outcomes)}")


@pytest.mark.timeout(240)
def test_proxy_frozen_never_hangs(pg_schema, pg_proxy, nodes):
    """The database stops answering without closing anything: requests still end, with the
    dialect's 503, within the node's own operation timeout, and the node recovers."""
    url = store_url(pg_schema, port=pg_proxy.port, pool_size=4)
    create_account(url, *TESTER)
    srv = nodes.start(url)
    prepare(srv)
    pg_proxy.freeze()
    try:
        check_outage(srv, FROZEN_BOUND, attempts=0)  # all at once: each stuck connection costs 10 s
    finally:
        pg_proxy.thaw()
    took = wait_recovered(srv, time.monotonic())
    print(f"\nrecovered {took:.1f} s after the proxy forwarded again")


def _cluster_version() -> str | None:
    d = Path("/etc/postgresql")
    versions = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
    return versions[-1] if versions else None


@pytest.mark.timeout(300)
def test_postgres_really_stopped(pg_schema, nodes):
    """PostgreSQL itself stopped (pg_ctlcluster ... stop, which closes every session) and
    started again; always restarted, whatever happens."""
    from urllib.parse import urlsplit
    host = urlsplit(base_url()).hostname
    version = _cluster_version()
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or not version or host not in (
            "127.0.0.1", "localhost"):
        pytest.skip("needs root, pg_ctlcluster and the PostgreSQL of this machine")
    url = store_url(pg_schema, pool_size=4)
    create_account(url, *TESTER)
    srv = nodes.start(url)
    prepare(srv)
    stopped = False
    try:
        cp = subprocess.run(["pg_ctlcluster", version, "main", "stop", "--", "-m", "fast", "-t", "30"],
                            capture_output=True, text=True, timeout=60)
        stopped = True
        assert cp.returncode == 0, f"pg_ctlcluster stop: {cp.stdout}{cp.stderr}"
        assert not pg_isready(), "PostgreSQL still answers after stop"
        check_outage(srv, FAIL_FAST)
    finally:
        if stopped or not pg_isready():
            subprocess.run(["pg_ctlcluster", version, "main", "start"], capture_output=True,
                           text=True, timeout=120)
        assert pg_isready(timeout=60), "PostgreSQL did not come back: start it by hand " \
                                       f"(pg_ctlcluster {version} main start)"
    took = wait_recovered(srv, time.monotonic())
    print(f"\nrecovered {took:.1f} s after PostgreSQL accepted connections again")
    ec2, ali = names_everywhere(srv)
    assert "before" in ec2 and "before" in ali
