"""Crash durability (issue 5, guarantee 4), on SQLite and on PostgreSQL: a load of concurrent
creates (each with tags, through TagSpecification) and deletes against a node, `kill -9` in the
middle of it, restart on the same store. Every create acknowledged with 200 exists with all its
tags, every delete acknowledged with 200 is gone, nothing half-written exists (checked through the
API and in the tables themselves), and the store opens without manual repair. On PostgreSQL a
second node keeps serving the whole time and sees the same inventory before the first comes back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from pg_support import Backend, backend, ec2_call, ec2_outcome, nodes, pg_schema, run_all  # noqa: F401 (fixtures)
from support import NS, TESTER

N_PRE = 60          # key pairs made before the load, deleted during it
N_CREATES = 300     # creates offered to the load (the kill comes long before they are all sent)
KILL_AFTER_ACKS = 60
WORKERS = 8


def tags_for(name: str, i: int) -> dict:
    return {"owner": name, "seq": str(i), "kind": "crash-test"}


def create_params(name: str, tags: dict) -> dict:
    p = {"KeyName": name, "KeyType": "ed25519", "TagSpecification.1.ResourceType": "key-pair"}
    for j, (k, v) in enumerate(tags.items(), 1):
        p[f"TagSpecification.1.Tag.{j}.Key"] = k
        p[f"TagSpecification.1.Tag.{j}.Value"] = v
    return p


def inventory(srv) -> dict:
    """name -> (keyPairId, {tag: value}) from one raw DescribeKeyPairs."""
    r = ec2_call(srv, "DescribeKeyPairs", {}, timeout=30).ok("DescribeKeyPairs")
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    out = {}
    for item in r.els("keySet/item"):
        name = item.find(q("keyName")).text
        tags = {}
        ts = item.find(q("tagSet"))
        for t in (ts if ts is not None else []):
            k, v = t.find(q("key")).text, t.find(q("value")).text or ""
            assert k not in tags, f"{name}: tag {k} listed twice"
            tags[k] = v
        assert name not in out, f"{name} listed twice"
        out[name] = (item.find(q("keyPairId")).text, tags)
    return out


@dataclass
class Op:
    kind: str           # "create" | "delete"
    name: str
    tags: dict | None
    outcome: str = "not sent"
    key_id: str | None = None
    started: float | None = None
    ended: float | None = None


def run_load_and_kill(victim, ops: list) -> float:
    """Send `ops` on WORKERS threads; SIGKILL the victim once KILL_AFTER_ACKS were acknowledged.
    Returns the moment of the kill (time.monotonic())."""
    acked = [0]
    lock = threading.Lock()
    killed = threading.Event()
    reached = threading.Event()
    kill_time = [None]

    def one(op: Op):
        if killed.is_set() and time.monotonic() - kill_time[0] > 1.0:
            return  # the node is gone: no need to send the rest
        op.started = time.monotonic()
        if op.kind == "create":
            r = ec2_call(victim, "CreateKeyPair", create_params(op.name, op.tags), timeout=20)
        else:
            r = ec2_call(victim, "DeleteKeyPair", {"KeyName": op.name}, timeout=20)
        op.ended = time.monotonic()
        op.outcome = ec2_outcome(r)
        if op.outcome == "200":
            if op.kind == "create":
                op.key_id = r.ok("CreateKeyPair").txt("keyPairId")
            else:
                r.ok("DeleteKeyPair")
            with lock:
                acked[0] += 1
                if acked[0] >= KILL_AFTER_ACKS:
                    reached.set()

    def wrapped(op):
        try:
            one(op)
        except Exception as e:  # noqa: BLE001 - no reply: unacknowledged
            op.ended = time.monotonic()
            op.outcome = f"exc:{type(e).__name__}"

    def killer():
        reached.wait(120)
        time.sleep(0.05)  # land between acknowledgements, with requests in flight
        kill_time[0] = time.monotonic()
        victim.kill9()
        killed.set()

    k = threading.Thread(target=killer, daemon=True)
    k.start()
    run_all(wrapped, ops, workers=WORKERS)
    k.join(130)
    assert killed.is_set(), "the load ended before the kill: raise N_CREATES"
    return kill_time[0]


def check_after(srv, ops: list, pre: dict, where: str):
    """Everything acknowledged is there, nothing half-written is."""
    inv = inventory(srv)
    problems = []
    expected_tags = {op.name: op.tags for op in ops if op.kind == "create"}
    expected_tags.update({n: t for n, (_, t) in pre.items()})
    attempted = {op.name for op in ops if op.outcome != "not sent"}
    for op in ops:
        if op.kind == "create" and op.outcome == "200":
            got = inv.get(op.name)
            if got is None:
                problems.append(f"acknowledged create {op.name} ({op.key_id}) is missing")
            elif got != (op.key_id, op.tags):
                problems.append(f"acknowledged create {op.name}: {got} != {(op.key_id, op.tags)}")
        if op.kind == "delete" and op.outcome == "200" and op.name in inv:
            problems.append(f"acknowledged delete of {op.name} did not stick: {inv[op.name]}")
    for name, (kid, tags) in inv.items():
        if name not in expected_tags:
            problems.append(f"unexpected key pair {name}")
            continue
        if tags != expected_tags[name]:
            problems.append(f"half-written key pair {name}: tags {tags} != {expected_tags[name]}")
        if name.startswith("c-") and name not in attempted:
            problems.append(f"{name} exists but was never sent")
        if name in pre and pre[name][0] != kid:
            problems.append(f"{name} changed id: {kid} != {pre[name][0]}")
    for name in pre:
        if name not in inv and name not in attempted:
            problems.append(f"{name} vanished without a delete being sent")
    assert not problems, f"{where}:\n" + "\n".join(problems[:40])
    return inv


def check_tables(backend: Backend, inv: dict):
    assert backend.tables.check_integrity() == [], backend.tables.check_integrity()
    acct = backend.tables.account_id(TESTER[0])
    rows = backend.tables.key_pairs_with_tags(acct)
    by_name = {name: v for (_, region, name), v in rows.items()}
    assert all(region == "us-east-1" for (_, region, _) in rows), rows.keys()
    assert by_name == inv, ("the tables differ from what DescribeKeyPairs shows:\n"
                            f"only in tables: {sorted(set(by_name) - set(inv))}\n"
                            f"only in the API: {sorted(set(inv) - set(by_name))}\n"
                            f"different: {[n for n in by_name if n in inv and by_name[n] != inv[n]][:10]}")


ROUNDS = 3  # kill, restart, load the restarted node, kill it again, ...


@pytest.mark.timeout(300)
def test_kill9_mid_load(backend, nodes):
    import requests
    backend.create_account(TESTER)
    victim = nodes.start(backend.url)
    survivor = nodes.start(backend.url) if backend.kind == "postgres" else None
    all_ops: list = []
    pre: dict = {}
    stats = []
    for rnd in range(ROUNDS):
        # Key pairs to delete during the load, made (and acknowledged) before it.
        pre_names = [f"d{rnd}-{j:02d}" for j in range(N_PRE)]
        made = run_all(lambda n: ec2_call(victim, "CreateKeyPair", create_params(n, tags_for(n, -1))),
                       pre_names, workers=8)
        for n, r in zip(pre_names, made):
            pre[n] = (r.ok("CreateKeyPair").txt("keyPairId"), tags_for(n, -1))
        check_after(victim, all_ops, pre, f"round {rnd}, before the load")

        ops, j = [], 0
        for i in range(N_CREATES):
            name = f"c{rnd}-{i:03d}"
            ops.append(Op("create", name, tags_for(name, i)))
            if i % 3 == 0 and j < N_PRE:
                ops.append(Op("delete", pre_names[j], None))
                j += 1
        kill_time = run_load_and_kill(victim, ops)
        all_ops += ops

        bad = [op for op in ops if op.outcome not in ("200", "not sent") and not op.outcome.startswith("exc:")]
        assert not bad, f"requests failed before the kill: {[(o.kind, o.name, o.outcome) for o in bad[:10]]}"
        acked = [op for op in ops if op.outcome == "200"]
        inflight = [op for op in ops if op.outcome.startswith("exc:") and op.started < kill_time]
        assert len(acked) >= KILL_AFTER_ACKS
        assert inflight, "no request was in flight when the node was killed: the kill did not land mid-load"
        assert any(op.kind == "delete" and op.outcome == "200" for op in ops), "no delete was acknowledged"

        if survivor is not None:
            # The other node never stopped: it already shows exactly what was acknowledged.
            check_after(survivor, all_ops, pre, f"round {rnd}: survivor node, before the restart")

        # Restart on the same store, no repair: it opens, is ready, and shows the truth.
        victim = nodes.start(backend.url)
        assert requests.get(victim.url + "/readyz", timeout=10).status_code == 200
        inv = check_after(victim, all_ops, pre, f"round {rnd}: restarted node")
        check_tables(backend, inv)
        unacked_present = [op.name for op in inflight if op.kind == "create" and op.name in inv]
        stats.append(f"round {rnd}: {len(acked)} acknowledged ({sum(o.kind == 'delete' for o in acked)} "
                     f"deletes), {len(inflight)} in flight at the kill "
                     f"({len(unacked_present)} unacknowledged creates committed)")

    # The store works normally after the crashes: writes and reads, on every node.
    r = ec2_call(victim, "CreateKeyPair", create_params("after", tags_for("after", 0))).ok("CreateKeyPair")
    for srv in [victim] + ([survivor] if survivor else []):
        assert inventory(srv)["after"] == (r.txt("keyPairId"), tags_for("after", 0))
    ec2_call(victim, "DeleteKeyPair", {"KeyName": "after"}).ok("DeleteKeyPair")
    for op in [o for o in all_ops if o.kind == "create" and o.outcome == "200"][:5]:
        ec2_call(victim, "CreateKeyPair", create_params(op.name, op.tags)).error("InvalidKeyPair.Duplicate")
    print(f"\n{backend.kind}: " + "; ".join(stats))
