"""The command line: serve's flags, env fallbacks, default paths, the start-up line and banner,
the default account, `accounts create` / `accounts list`, --help everywhere, plain errors."""

import re
import socket
import time

import pytest

from support import (LISTEN_RE, OTHER, TESTER, assert_no_panic, create_account, ec2_client,
                     run_cli, sqlite_url, start_server)

# ------------------------------------------------------------------------------- help and errors


@pytest.mark.parametrize("args,mentions", [
    ([], ["serve", "accounts", "migrate", "rotate-master-key"]),
    (["serve"], ["--listen", "--store", "--master-key-file", "--config", "--any-credentials",
                 "--allow-reset"]),
    (["migrate"], ["--store", "--master-key-file"]),
    (["rotate-master-key"], ["--store", "--master-key-file"]),
    (["accounts"], ["create", "list"]),
    (["accounts", "create"], ["--access-key-id", "--secret-access-key", "--key-pair-quota", "--store",
                              "--master-key-file"]),
    (["accounts", "list"], ["--store", "--master-key-file"]),
])
def test_help(args, mentions):
    cp = run_cli([*args, "--help"])
    assert cp.returncode == 0, cp.stderr
    for m in mentions:
        assert m in cp.stdout, f"`keypaird {' '.join(args)} --help` does not mention {m}:\n{cp.stdout}"


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["serve", "--no-such-flag"],
    ["serve", "--listen", "not-an-address", "--store", "sqlite:///tmp/keypaird-never/k.db"],
    ["accounts", "create"],
    ["accounts", "create", "x", "--key-pair-quota", "many"],
])
def test_usage_errors(args, tmp_path):
    cp = run_cli(args, cwd=tmp_path, timeout=20)
    assert cp.returncode != 0
    assert cp.stderr.strip(), "errors are explained on stderr"
    assert_no_panic(cp.stderr + cp.stdout)


def test_unreachable_postgres_fails_fast_without_leaking_the_password(tmp_path):
    started = time.monotonic()
    cp = run_cli(["serve", "--listen", "127.0.0.1:0",
                  "--store", "postgres://postgres:hunter2secret@127.0.0.1:1/test"],
                 cwd=tmp_path, timeout=20)
    elapsed = time.monotonic() - started
    assert cp.returncode != 0
    assert elapsed < 10, f"an unreachable database must fail fast, took {elapsed:.1f}s"
    assert "postgres" in cp.stderr.lower(), f"say which store failed: {cp.stderr!r}"
    assert "hunter2secret" not in cp.stderr + cp.stdout
    assert "keypaird listening" not in cp.stdout
    assert_no_panic(cp.stderr)


@pytest.mark.parametrize("url", ["mysql://x@127.0.0.1/db", "sqlite:", "not a url", "sqlite://"])
def test_bad_store_url(tmp_path, url):
    cp = run_cli(["serve", "--listen", "127.0.0.1:0", "--store", url], cwd=tmp_path, timeout=20)
    assert cp.returncode != 0, cp.stdout
    assert cp.stderr.strip()
    assert_no_panic(cp.stderr)


def test_missing_config_file(tmp_path):
    cp = run_cli(["serve", "--listen", "127.0.0.1:0", "--store", sqlite_url(tmp_path / "k.db"),
                  "--config", str(tmp_path / "nope.toml")], cwd=tmp_path, timeout=20)
    assert cp.returncode != 0
    assert "nope.toml" in cp.stderr, f"name the file that is missing: {cp.stderr!r}"
    assert_no_panic(cp.stderr)


def test_unwritable_store(tmp_path):
    cp = run_cli(["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:///proc/keypaird/k.db"],
                 cwd=tmp_path, timeout=20)
    assert cp.returncode != 0
    assert cp.stderr.strip()
    assert_no_panic(cp.stderr)


def test_port_in_use(account, keypaird, store, tmp_path):
    srv = keypaird()
    cp = run_cli(["serve", "--listen", f"127.0.0.1:{srv.port}", "--store", sqlite_url(store)],
                 cwd=tmp_path, timeout=20)
    assert cp.returncode != 0
    assert str(srv.port) in cp.stderr or "in use" in cp.stderr.lower(), cp.stderr
    assert_no_panic(cp.stderr)
    assert srv.healthz() == 200


# ------------------------------------------------------------------------------- serve


def test_listening_line(srv):
    lines = srv.stdout().splitlines()
    assert any(LISTEN_RE.match(l) for l in lines), lines
    assert srv.port != 0 and srv.port != 8787
    assert srv.healthz() == 200
    srv.ec2().create_key_pair(KeyName="quiet", KeyType="ed25519")
    srv.wait_stderr(lambda t: "CreateKeyPair" in t)
    assert "CreateKeyPair" in srv.stderr(), "request logs go to stderr"
    assert "CreateKeyPair" not in srv.stdout(), "stdout carries the banner only, not request logs"


def test_env_fallbacks(tmp_path):
    db = tmp_path / "env" / "e.db"
    create_account(sqlite_url(db), *TESTER)
    srv = start_server(store_url=None, store_path=db, workdir=tmp_path / "w", listen=None, creds=TESTER,
                       env={"KEYPAIRD_LISTEN": "127.0.0.1:0", "KEYPAIRD_STORE": sqlite_url(db)})
    try:
        srv.ec2().create_key_pair(KeyName="env", KeyType="ed25519")
        assert db.exists()
        assert not (tmp_path / "w" / "keypaird-data").exists()
    finally:
        srv.stop()


def test_flags_override_env(tmp_path):
    db = tmp_path / "flag.db"
    srv = start_server(store_url=sqlite_url(db), store_path=db, workdir=tmp_path / "w",
                       env={"KEYPAIRD_LISTEN": "127.0.0.1:1", "KEYPAIRD_STORE": "postgres://nope/nope"})
    try:
        assert db.exists()
    finally:
        srv.stop()


def test_default_store_and_listen(tmp_path):
    """With no flags and no env: sqlite://./keypaird-data/keypaird.db in the working directory,
    and 127.0.0.1:8787."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 8787))
    except OSError:
        pytest.fail("port 8787 is busy on this machine: the default-listen test needs it free")
    finally:
        s.close()
    srv = start_server(store_url=None, store_path=None, workdir=tmp_path, listen=None)
    try:
        assert srv.port == 8787
        assert (tmp_path / "keypaird-data" / "keypaird.db").is_file()
    finally:
        srv.stop()


def test_relative_sqlite_url(tmp_path):
    srv = start_server(store_url="sqlite://./rel/here.db", store_path=None, workdir=tmp_path)
    try:
        assert (tmp_path / "rel" / "here.db").is_file()
    finally:
        srv.stop()


# ------------------------------------------------------------------------------- default account


def test_first_start_creates_default_account(keypaird, store, tmp_path):
    srv = keypaird(creds=None)
    m_id = srv.wait_stdout(r"^\s*export AWS_ACCESS_KEY_ID=([A-Za-z0-9]{3,128})\s*$")
    m_sec = srv.wait_stdout(r"^\s*export AWS_SECRET_ACCESS_KEY=(\S+)\s*$")
    m_reg = srv.wait_stdout(r"^\s*export AWS_DEFAULT_REGION=us-east-1\s*$")
    m_cli = srv.wait_stdout(r"aws --endpoint-url http://127\.0\.0\.1:(\d+)")
    assert m_id and m_sec and m_reg and m_cli, f"credentials banner missing:\n{srv.stdout()}"
    assert int(m_cli.group(1)) == srv.port
    akid, secret = m_id.group(1), m_sec.group(1)
    assert secret not in srv.stderr(), "the secret goes to stdout once, never to the logs"
    c = ec2_client(srv.url, akid, secret)
    c.create_key_pair(KeyName="mine", KeyType="ed25519")
    assert [k["KeyName"] for k in c.describe_key_pairs()["KeyPairs"]] == ["mine"]
    cp = run_cli(["accounts", "list", "--store", sqlite_url(store)])
    assert cp.returncode == 0 and "default" in cp.stdout and akid in cp.stdout, cp.stdout
    assert secret not in cp.stdout + cp.stderr
    srv.stop()
    srv2 = keypaird(creds=None)
    time.sleep(0.5)
    out = srv2.stdout() + srv2.stderr()
    assert secret not in out, "a second start must not print the secret again"
    assert "AWS_SECRET_ACCESS_KEY=" not in out
    c2 = ec2_client(srv2.url, akid, secret)
    assert [k["KeyName"] for k in c2.describe_key_pairs()["KeyPairs"]] == ["mine"]


# ------------------------------------------------------------------------------- accounts


def parse_creds(text: str):
    akid = (re.search(r"AWS_ACCESS_KEY_ID=([A-Za-z0-9]+)", text) or
            re.search(r"access[ _-]?key[ _-]?id\W+([A-Za-z0-9]{3,128})\b", text, re.I))
    sec = (re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", text) or
           re.search(r"secret[ _-]?(?:access[ _-]?)?key\W+(\S+)", text, re.I))
    assert akid and sec, f"`accounts create` must print the access key ID and the secret:\n{text}"
    return akid.group(1), sec.group(1)


def test_accounts_create_generated_credentials(keypaird, store):
    cp = create_account(sqlite_url(store), "gen")
    akid, secret = parse_creds(cp.stdout)
    assert 3 <= len(akid) <= 128 and akid.isalnum()
    assert len(secret) >= 20
    srv = keypaird(creds=("gen", akid, secret))
    srv.ec2().create_key_pair(KeyName="g", KeyType="ed25519")
    cp2 = create_account(sqlite_url(store), "gen2")
    akid2, secret2 = parse_creds(cp2.stdout)
    assert akid2 != akid and secret2 != secret


def test_accounts_create_fixed_credentials_and_list(store):
    cp = create_account(sqlite_url(store), *TESTER)
    assert TESTER[1] in cp.stdout and TESTER[2] in cp.stdout
    create_account(sqlite_url(store), *OTHER)
    cp = run_cli(["accounts", "list", "--store", sqlite_url(store)])
    assert cp.returncode == 0, cp.stderr
    for name, akid, secret in (TESTER, OTHER):
        assert name in cp.stdout and akid in cp.stdout
        assert secret not in cp.stdout and secret not in cp.stderr, "accounts list never shows secrets"


def test_accounts_create_while_serving(account, keypaird, store):
    srv = keypaird()
    srv.ec2().create_key_pair(KeyName="first", KeyType="ed25519")
    cp = create_account(sqlite_url(store), *OTHER)
    assert cp.returncode == 0
    o = srv.ec2(creds=OTHER)
    o.create_key_pair(KeyName="second", KeyType="ed25519")
    assert [k["KeyName"] for k in o.describe_key_pairs()["KeyPairs"]] == ["second"]
    cp = run_cli(["accounts", "list", "--store", sqlite_url(store)])
    assert cp.returncode == 0 and OTHER[1] in cp.stdout and TESTER[1] in cp.stdout


@pytest.mark.parametrize("akid", ["ab", "has-dash", "has space", "x" * 129, "ünï"])
def test_accounts_create_bad_access_key_id(store, akid):
    cp = run_cli(["accounts", "create", "bad", "--access-key-id", akid, "--secret-access-key", "s" * 40,
                  "--store", sqlite_url(store)])
    assert cp.returncode != 0, cp.stdout
    assert cp.stderr.strip()
    assert_no_panic(cp.stderr)


def test_accounts_create_edges_of_access_key_id(store):
    create_account(sqlite_url(store), "short", "abc", "s" * 40)
    create_account(sqlite_url(store), "long", "A" * 128, "t" * 40)


def test_accounts_create_duplicate(store):
    create_account(sqlite_url(store), *TESTER)
    cp = run_cli(["accounts", "create", TESTER[0], "--store", sqlite_url(store)])
    assert cp.returncode != 0 and cp.stderr.strip()
    assert_no_panic(cp.stderr)
    cp = run_cli(["accounts", "create", "another", "--access-key-id", TESTER[1],
                  "--secret-access-key", "x" * 40, "--store", sqlite_url(store)])
    assert cp.returncode != 0 and cp.stderr.strip(), "an access key ID belongs to one account"
    assert_no_panic(cp.stderr)


def test_accounts_id_without_secret_refused(store):
    cp = run_cli(["accounts", "create", "half", "--access-key-id", "AKIDHALF0001", "--store", sqlite_url(store)])
    assert cp.returncode != 0 and cp.stderr.strip()


def test_accounts_list_env_store(store):
    create_account(sqlite_url(store), *TESTER)
    cp = run_cli(["accounts", "list"], env={"KEYPAIRD_STORE": sqlite_url(store)})
    assert cp.returncode == 0 and TESTER[1] in cp.stdout, cp.stdout + cp.stderr
