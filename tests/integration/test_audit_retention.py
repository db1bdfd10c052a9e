"""Retention (docs/audit.md, 'Retention'): --audit-retention (env KEYPAIRD_AUDIT_RETENTION); the
upkeep deletes older events each tenth of the retention when that is shorter than a minute; bad
values are refused at start."""

from __future__ import annotations

import subprocess
import time

import pytest

import support
from audit_support import audit, parse_time
from support import sqlite_url


def purged_after(srv, url: str, retention: float) -> None:
    srv.ec2().create_key_pair(KeyName="short-lived", KeyType="ed25519")
    evs = [e for e in audit(url) if e["eventName"] == "CreateKeyPair"]
    assert len(evs) == 1, evs
    ev = evs[0]
    born = parse_time(ev["eventTime"]).timestamp()
    # Younger than the retention: still there.
    deadline = time.time() + retention + 5
    gone_at = None
    while time.time() < deadline:
        t = time.time()
        if ev["eventId"] not in {e["eventId"] for e in audit(url)}:
            gone_at = t
            break
        time.sleep(0.1)
    assert gone_at is not None, f"the event outlived its {retention}s retention by 5s"
    assert gone_at - born >= retention - 0.2, (
        f"purged {gone_at - born:.2f}s after it was recorded, before the {retention}s retention")
    # Only events go: the key pair stays.
    assert [k["KeyName"] for k in srv.describe()] == ["short-lived"]
    # A new event is kept until it is old enough.
    srv.ec2().delete_key_pair(KeyName="short-lived")
    assert [e["eventName"] for e in audit(url) if e["source"] == "ec2"] == ["DeleteKeyPair"]


def test_retention_flag(account, keypaird, store):
    srv = keypaird(extra=["--audit-retention", "2s"])
    purged_after(srv, sqlite_url(store), 2.0)


def test_retention_env(account, keypaird, store):
    srv = keypaird(env={"KEYPAIRD_AUDIT_RETENTION": "2s"})
    purged_after(srv, sqlite_url(store), 2.0)


def test_default_retention_keeps_events(account, keypaird, store):
    srv = keypaird()
    srv.ec2().create_key_pair(KeyName="kept", KeyType="ed25519")
    time.sleep(3)
    assert [e["eventName"] for e in audit(sqlite_url(store)) if e["source"] == "ec2"] == ["CreateKeyPair"]


def serve_exit(store, extra=(), env=None) -> subprocess.CompletedProcess:
    args = [str(support.binary()), "serve", "--listen", "127.0.0.1:0", "--store", sqlite_url(store),
            *extra]
    try:
        return subprocess.run(args, capture_output=True, text=True, env=support.clean_env(env),
                              timeout=20, stdin=subprocess.DEVNULL, cwd=store.parent)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"`{' '.join(args)}` kept serving: the value must be refused at start\n"
                             f"{e.stdout}") from None


@pytest.mark.parametrize("value", ["0s", "abc", "-5s", "5x", ""])
def test_bad_retention_is_refused_at_start(account, store, value):
    cp = serve_exit(store, [f"--audit-retention={value}"])
    assert cp.returncode != 0, cp.stdout
    assert "panicked" not in cp.stderr
    assert "retention" in cp.stderr.lower(), cp.stderr
    assert "listening on" not in cp.stdout


@pytest.mark.parametrize("value", ["0s", "abc"])
def test_bad_retention_env_is_refused_at_start(account, store, value):
    cp = serve_exit(store, env={"KEYPAIRD_AUDIT_RETENTION": value})
    assert cp.returncode != 0, cp.stdout
    assert "retention" in cp.stderr.lower(), cp.stderr


def test_purge_of_more_than_one_batch(account, keypaird, store):
    """More than 1,000 old events (the purge's batch) all go."""
    import concurrent.futures as cf
    url = sqlite_url(store)
    srv = keypaird(extra=["--audit-retention", "8s"])
    srv.ec2().create_key_pair(KeyName="dup", KeyType="ed25519")

    def refused(i):
        # Failed changes are recorded too: a cheap way to a long trail.
        return srv.call("CreateKeyPair", {"KeyName": "dup", "KeyType": "ed25519"}).code

    t0 = time.time()
    with cf.ThreadPoolExecutor(4) as ex:
        codes = list(ex.map(refused, range(1100)))
    assert set(codes) == {"InvalidKeyPair.Duplicate"}
    made = time.time() - t0
    n = len([e for e in audit(url, limit=5000) if e["source"] == "ec2"])
    assert n >= 1000, f"only {n} of the 1,101 events are left {made:.1f}s after the first"
    deadline = t0 + made + 8 + 15
    left = None
    while time.time() < deadline:
        left = len([e for e in audit(url, limit=5000) if e["source"] == "ec2"])
        if left == 0:
            break
        time.sleep(0.2)
    assert left == 0, f"{left} events older than the 8s retention are left"


def test_retention_from_the_config_file(account, keypaird, store, tmp_path):
    config = tmp_path / "keypaird.toml"
    config.write_text('audit_retention = "2s"\n')
    srv = keypaird(extra=["--config", config])
    purged_after(srv, sqlite_url(store), 2.0)


def test_bad_retention_in_the_config_file_is_refused_at_start(account, store, tmp_path):
    config = tmp_path / "keypaird.toml"
    config.write_text('audit_retention = "0s"\n')
    cp = serve_exit(store, ["--config", config])
    assert cp.returncode != 0, cp.stdout
    assert "retention" in cp.stderr.lower(), cp.stderr
