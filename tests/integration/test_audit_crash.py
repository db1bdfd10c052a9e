"""A change and its record stand or fall together (docs/audit.md, 'What is recorded'): concurrent
CreateKeyPair/DeleteKeyPair calls, kill -9 of the server mid-load, a restart on the same store;
then every acknowledged change has its record, and every recorded change happened. On SQLite and
on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from audit_support import audit
from pg_support import pg_schema, pg_url  # noqa: F401 - fixtures
from support import TESTER, create_account, sqlite_url

THREADS = 6
LOAD_SECONDS = 3.0
# The kill waits for this many acknowledged creates (at most LOAD_CAP_SECONDS), so that a slow
# machine still kills the server under load rather than before it.
MIN_CREATES = 60
LOAD_CAP_SECONDS = 30.0


def load_then_kill(srv) -> tuple:
    """Creates (each followed, every other time, by a delete by name) from THREADS threads, then
    kill -9 once the load has run LOAD_SECONDS and MIN_CREATES creates are acknowledged (or
    after LOAD_CAP_SECONDS). Returns (acknowledged creates {name: keyPairId}, acknowledged
    deletes {names})."""
    lock = threading.Lock()
    creates: dict = {}
    deletes: set = set()
    stop = threading.Event()

    # Clients are made before the load starts: making one holds the GIL for a good part of a
    # second, which would otherwise eat the load's time.
    clients = [srv.ec2() for _ in range(THREADS)]

    def worker(i):
        c = clients[i]
        n = 0
        while not stop.is_set():
            name = f"w{i}-{n}"
            n += 1
            try:
                r = c.create_key_pair(KeyName=name, KeyType="ed25519")
            except Exception:  # noqa: BLE001 - the server was killed: unacknowledged
                continue
            with lock:
                creates[name] = r["KeyPairId"]
            if n % 2 == 0:
                try:
                    c.delete_key_pair(KeyName=name)
                except Exception:  # noqa: BLE001
                    continue
                with lock:
                    deletes.add(name)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    started = time.monotonic()
    while True:
        time.sleep(0.1)
        elapsed = time.monotonic() - started
        with lock:
            enough = len(creates) >= MIN_CREATES
        if elapsed >= LOAD_CAP_SECONDS or (enough and elapsed >= LOAD_SECONDS):
            break
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    with lock:
        return dict(creates), set(deletes)


def check_trail(srv2, url: str, creates: dict, deletes: set):
    evs = [e for e in audit(url, limit=1000000) if e["source"] == "ec2"
           and e.get("errorCode") in (None, "")]
    created = {}   # keyPairId -> (name, time)
    deleted = {}   # keyPairId -> (name, time)
    for e in evs:
        kps = [r for r in e["resources"] if r["kind"] == "key-pair"]
        if e["eventName"] == "CreateKeyPair":
            assert len(kps) == 1, e
            created[kps[0]["id"]] = (kps[0]["name"], e["eventTime"])
        elif e["eventName"] == "DeleteKeyPair":
            for r in kps:
                deleted[r["id"]] = (r["name"], e["eventTime"])
    assert len(creates) > 20, f"the load made too few changes to mean anything: {len(creates)}"
    # Every acknowledged change has its record.
    missing = {n: k for n, k in creates.items() if k not in created}
    assert not missing, f"acknowledged creates without a record: {sorted(missing)[:10]}"
    assert {created[k][0] for k in creates.values()} == set(creates)
    deleted_names = {n for n, _ in deleted.values()}
    assert deletes <= deleted_names, f"acknowledged deletes without a record: {sorted(deletes - deleted_names)[:10]}"
    for n in deletes:
        assert creates[n] in deleted, n
    # No record of a change that did not happen: the inventory is exactly the recorded creates
    # less the recorded deletes.
    for k in deleted:
        assert k in created, f"a DeleteKeyPair record of a key pair never recorded as created: {k}"
    inventory = {k["KeyPairId"]: k["KeyName"] for k in srv2.describe()}
    want = {k: n for k, (n, _) in created.items() if k not in deleted}
    assert inventory == want, (f"store and trail disagree: only in store {sorted(set(inventory) - set(want))[:5]}, "
                               f"only in trail {sorted(set(want) - set(inventory))[:5]}")


def test_kill_9_mid_load_sqlite(account, keypaird, store):
    srv = keypaird()
    creates, deletes = load_then_kill(srv)
    srv2 = keypaird()
    check_trail(srv2, sqlite_url(store), creates, deletes)


def test_kill_9_mid_load_postgres(keypaird, pg_url, tmp_path):
    create_account(pg_url, *TESTER)
    srv = keypaird(store_url=pg_url)
    creates, deletes = load_then_kill(srv)
    srv2 = keypaird(store_url=pg_url)
    check_trail(srv2, pg_url, creates, deletes)
