"""Setting up a PostgreSQL store from the command line (issue 5, "The backend"):
`keypaird migrate --store URL` on a fresh schema and again, nodes started at the same moment on a
fresh schema (migrations applied once, one default account), `keypaird accounts create/list`
against PostgreSQL, and KEYPAIRD_STORE naming a PostgreSQL store."""

from __future__ import annotations

import re
import time

import pytest

from pg_support import (Tables, cli, cli_ok, nodes, pg_schema, pg_url, psql, schema_exists,  # noqa: F401
                        store_url)
from support import TESTER, assert_no_panic, ec2_client, start_server

TABLES = {"accounts", "access_keys", "key_pairs", "key_pair_tags", "request_nonces", "schema_migrations"}


def tables_in(schema: str) -> set:
    return {r[0] for r in psql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")}


def migrations(schema: str) -> list:
    return psql("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version", schema=schema)


@pytest.mark.timeout(120)
def test_migrate_fresh_schema_then_nothing_to_do(pg_schema, pg_url):
    assert not schema_exists(pg_schema)
    first = cli_ok(["migrate", "--store", pg_url])
    assert schema_exists(pg_schema), "migrate did not create the schema named in the URL"
    assert TABLES <= tables_in(pg_schema), tables_in(pg_schema)
    applied = migrations(pg_schema)
    versions = [int(v) for v, _ in applied]
    assert versions == list(range(1, len(versions) + 1)) and versions, applied
    assert "nothing to do" not in first.stdout.lower(), first.stdout
    assert re.search(r"applied migration", first.stdout), first.stdout

    second = cli_ok(["migrate", "--store", pg_url])
    assert "nothing to do" in second.stdout.lower(), (
        f"a second migrate must report nothing to do:\n{second.stdout}{second.stderr}")
    assert f"version {versions[-1]}" in second.stdout, second.stdout
    assert migrations(pg_schema) == applied, "the second run re-applied a migration"


@pytest.mark.timeout(60)
def test_migrate_sqlite(tmp_path):
    url = f"sqlite://{tmp_path / 'm.db'}"
    first = cli_ok(["migrate", "--store", url])
    assert (tmp_path / "m.db").is_file()
    second = cli_ok(["migrate", "--store", url])
    assert "nothing to do" not in first.stdout.lower() and "nothing to do" in second.stdout.lower(), (
        first.stdout, second.stdout)
    t = Tables.for_url(url)
    assert TABLES <= {r[0] for r in t.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.timeout(60)
def test_migrate_unreachable_database_fails_plainly(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cp = cli(["migrate", "--store", store_url("kpt_never", port=port)], timeout=30)
    assert cp.returncode != 0
    assert cp.stderr.strip()
    assert_no_panic(cp.stdout + cp.stderr)


@pytest.mark.timeout(180)
def test_nodes_started_at_once_on_a_fresh_schema(pg_schema, pg_url, nodes):
    """Three nodes start at the same moment on a schema that does not exist yet: all come up,
    the migrations are applied once, and exactly one of them creates the default account."""
    assert not schema_exists(pg_schema)
    srvs = nodes.start_many(pg_url, 3, creds=None)
    for s in srvs:
        assert s.alive(), (f"a node exited (code {s.proc.returncode}):\nstdout:\n{s.stdout()}"
                           f"\nstderr:\n{s.stderr()}")
    versions = [int(v) for v, _ in migrations(pg_schema)]
    assert versions == list(range(1, len(versions) + 1)) and versions
    banners = []
    for s in srvs:
        # The banner is printed in one go, right after the listening line: wait for its end.
        assert s.wait_stdout(r"^store: ", timeout=5), s.stdout()
        time.sleep(0.2)
        m_id = re.search(r"^\s*export AWS_ACCESS_KEY_ID=(\S+)\s*$", s.stdout(), re.M)
        m_sec = re.search(r"^\s*export AWS_SECRET_ACCESS_KEY=(\S+)\s*$", s.stdout(), re.M)
        if m_id or m_sec:
            assert m_id and m_sec, s.stdout()
            banners.append((m_id.group(1), m_sec.group(1)))
    assert len(banners) == 1, f"exactly one node creates (and prints) the default account: {banners}"
    accounts = psql("SELECT name FROM accounts", schema=pg_schema)
    assert accounts == [["default"]], accounts
    akid, secret = banners[0]
    # The default account works on every node, and they share one inventory.
    c0 = ec2_client(srvs[0].url, akid, secret)
    made = c0.create_key_pair(KeyName="shared", KeyType="ed25519")
    for s in srvs:
        ks = ec2_client(s.url, akid, secret).describe_key_pairs()["KeyPairs"]
        assert [(k["KeyName"], k["KeyPairId"]) for k in ks] == [("shared", made["KeyPairId"])], s.url
    # A later migrate finds nothing to do.
    cp = cli_ok(["migrate", "--store", pg_url])
    assert "nothing to do" in cp.stdout.lower(), cp.stdout


@pytest.mark.timeout(120)
def test_accounts_on_postgres(pg_schema, pg_url, nodes):
    name, akid, secret = TESTER
    cp = cli_ok(["accounts", "create", name, "--access-key-id", akid, "--secret-access-key", secret,
                 "--key-pair-quota", "7", "--store", pg_url])
    assert akid in cp.stdout
    gen = cli_ok(["accounts", "create", "generated", "--store", pg_url])
    m = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", gen.stdout)
    assert m, gen.stdout
    listed = cli_ok(["accounts", "list", "--store", pg_url])
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {name, "generated"}, listed.stdout
    assert akid in rows[name] and re.search(r"\b7\b", rows[name]), rows[name]
    assert m.group(1) in rows["generated"]
    assert secret not in listed.stdout + listed.stderr, "accounts list must never print secrets"
    # Duplicates are refused plainly, and change nothing.
    dup = cli(["accounts", "create", name, "--store", pg_url])
    assert dup.returncode != 0 and "already exists" in dup.stderr, dup.stderr
    dup_key = cli(["accounts", "create", "third", "--access-key-id", akid, "--secret-access-key", "x",
                   "--store", pg_url])
    assert dup_key.returncode != 0 and "already in use" in dup_key.stderr, dup_key.stderr
    assert_no_panic(dup.stderr + dup_key.stderr)
    assert cli_ok(["accounts", "list", "--store", pg_url]).stdout == listed.stdout
    # The accounts live in the schema of the URL, and a node on that URL honours them.
    assert sorted(r[0] for r in psql("SELECT name FROM accounts", schema=pg_schema)) == ["generated", name]
    srv = nodes.start(pg_url, creds=TESTER)
    assert "Created the account" not in srv.stdout()
    ec2 = srv.ec2()
    for i in range(7):
        ec2.create_key_pair(KeyName=f"k{i}", KeyType="ed25519")
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="k7", KeyType="ed25519")
    assert ei.value.response["Error"]["Code"] == "KeyPairLimitExceeded"


@pytest.mark.timeout(60)
def test_keypaird_store_env_names_postgres(pg_schema, pg_url, tmp_path):
    cli_ok(["accounts", "create", TESTER[0], "--access-key-id", TESTER[1], "--secret-access-key",
            TESTER[2], "--store", pg_url])
    srv = start_server(store_url=None, store_path=None, workdir=tmp_path / "env", creds=TESTER,
                       env={"KEYPAIRD_STORE": pg_url})
    try:
        srv.ec2().create_key_pair(KeyName="via-env", KeyType="ed25519")
        assert psql("SELECT name FROM key_pairs", schema=pg_schema) == [["via-env"]]
        assert not (tmp_path / "env" / "keypaird-data").exists(), "the default SQLite store was used"
    finally:
        srv.stop()
