"""/readyz proves that the store takes a write (issue 11): 200 `ready\\n` on a fresh store; 503
`store unavailable: <cause>\\n` while the store cannot write, with a warn line that names the
cause and the store's own error; and 200 again once the cause is gone, with no restart.

Every cause is provoked from outside the process, for real:
- SQLite, disk full: the store on a small tmpfs that a filler file then fills. Mounting needs
  root (CI runs as root; .ci/run starts PostgreSQL with pg_ctlcluster); without it the test
  fails and says so.
- SQLite, locked: another process holds the write lock (BEGIN IMMEDIATE) past the busy timeout.
- PostgreSQL, read-only: `ALTER DATABASE ... SET default_transaction_read_only = on` (what a
  standby's sessions look like) on a database of the test's own, its sessions ended so that
  the node reconnects under the setting.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from pg_support import base_url, psql, require_postgres, wait_until, with_params
from support import assert_no_panic

# The probe's outcome is kept for a second; SQLite's busy timeout is 5 s.
SETTLE = 20.0
READY = (200, "ready\n")


def readyz(srv) -> tuple:
    r = requests.get(srv.url + "/readyz", timeout=15)
    return r.status_code, r.text


def not_ready(cause: str) -> tuple:
    return 503, f"store unavailable: {cause}\n"


def warn_lines(srv) -> list:
    return [line for line in srv.stderr().splitlines() if "store not ready" in line]


def assert_logged(srv, cause: str, error: str):
    """A warn line for the failed probe, naming the cause and the store's error."""
    lines = warn_lines(srv)
    assert lines, f"no 'store not ready' line in the log:\n{srv.stderr()}"
    assert all("WARN" in line for line in lines), lines
    assert any(f"cause={cause}" in line and f"error={error}" in line for line in lines), lines


def assert_hammering_costs_one_probe_a_second(srv, answer: tuple):
    """40 checks as fast as they come all get the same answer, and add a log line (a probe)
    at most once a second, not once a request."""
    before = len(warn_lines(srv))
    started = time.monotonic()
    answers = [readyz(srv) for _ in range(40)]
    elapsed = time.monotonic() - started
    assert answers == [answer] * 40
    added = len(warn_lines(srv)) - before
    assert added <= int(elapsed) + 1, f"{added} lines in {elapsed:.1f} s"


# --------------------------------------------------------------------------------------------
# SQLite


def test_a_fresh_sqlite_store_is_ready(keypaird):
    srv = keypaird()
    assert readyz(srv) == READY
    assert warn_lines(srv) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs of the test's own, unmounted at teardown (after the servers stop: this
    fixture is set up before `keypaird`, so torn down after it)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs to fill (this test needs root, as CI has): {cp.stderr}",
                    pytrace=False)
    yield mountpoint
    subprocess.run(["umount", "--lazy", str(mountpoint)], capture_output=True)


def fill(disk: Path) -> Path:
    """Writes a file until the file system has no space left; returns its path."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(64 * 1024))
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC
        try:
            while True:
                f.write(bytes(512))
        except OSError as e:
            assert e.errno == 28, e
    return filler


def test_a_full_disk_is_not_ready_until_there_is_room(small_disk, keypaird):
    srv = keypaird(store_path=small_disk / "k.db")
    assert readyz(srv) == READY

    filler = fill(small_disk)
    wait_until(lambda: readyz(srv) == not_ready("disk full"), SETTLE, interval=0.3,
               what="/readyz reporting the full disk")
    assert_logged(srv, "disk full", "SQLite: database or disk is full")
    assert_hammering_costs_one_probe_a_second(srv, not_ready("disk full"))

    filler.unlink()
    wait_until(lambda: readyz(srv) == READY, SETTLE, interval=0.3, what="/readyz ready again")
    assert "store ready again" in srv.wait_stderr(lambda text: "store ready again" in text)
    assert srv.alive()
    assert_no_panic(srv.stderr())


def test_a_lock_held_past_the_busy_timeout_is_not_ready_until_released(store, keypaird):
    srv = keypaird()
    assert readyz(srv) == READY

    holder = sqlite3.connect(store, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(1.1)  # past the outcome kept from the check above
        started = time.monotonic()
        assert readyz(srv) == not_ready("locked")
        waited = time.monotonic() - started
        assert 4.5 < waited < 10, f"/readyz answered after {waited:.1f} s"
        assert_logged(srv, "locked", "SQLite: database is locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: readyz(srv) == READY, SETTLE, interval=0.3, what="/readyz ready again")


# --------------------------------------------------------------------------------------------
# PostgreSQL

DATABASE_PREFIX = "kpt_ready_"


def drop_database(name: str):
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)


@pytest.fixture
def pg_database():
    """A database of the test's own (a database-wide setting is changed), dropped at teardown;
    ones a killed run left (their pid gone) are dropped first."""
    require_postgres()
    for (name,) in psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{DATABASE_PREFIX}%'"):
        m = re.fullmatch(DATABASE_PREFIX + r"(\d+)_[0-9a-f]+", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            drop_database(name)
    name = f"{DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    psql(f'CREATE DATABASE "{name}"')
    yield name
    drop_database(name)


def database_url(name: str) -> str:
    parts = urlsplit(base_url())
    return with_params(urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, "")),
                       pool_size=2)


def set_read_only(database: str, on: bool):
    """New sessions of `database` read-only (or not), and its open sessions ended, so the node's
    pool reconnects under the setting."""
    setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    psql(f'ALTER DATABASE "{database}" {setting}')
    psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}'")


def test_a_fresh_postgres_store_is_ready(pg_database, keypaird):
    srv = keypaird(store_url=database_url(pg_database))
    assert readyz(srv) == READY
    assert warn_lines(srv) == []


def test_a_read_only_database_is_not_ready_until_it_takes_writes(pg_database, keypaird):
    srv = keypaird(store_url=database_url(pg_database))
    assert readyz(srv) == READY

    set_read_only(pg_database, True)
    # The first check may meet a session that was just ended ("unreachable"); then read-only.
    wait_until(lambda: readyz(srv) == not_ready("read-only"), SETTLE, interval=0.3,
               what="/readyz reporting the read-only database")
    assert_logged(srv, "read-only", "PostgreSQL 25006: cannot execute INSERT in a read-only transaction")

    set_read_only(pg_database, False)
    wait_until(lambda: readyz(srv) == READY, SETTLE, interval=0.3, what="/readyz ready again")
    assert_no_panic(srv.stderr())
