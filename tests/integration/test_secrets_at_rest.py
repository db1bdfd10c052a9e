"""Access-key secrets encrypted at rest (issue 11, point 4): no secret the store was given, by
`accounts create` or by the first start's default account, appears in the database files (SQLite:
the file, its -wal and -shm; PostgreSQL: the raw table), in clear, base64 or hex; the master key
file is 0600; a start with another key file, or none, fails fast with a message naming the file;
`rotate-master-key` keeps every secret working across a restart."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import time
from pathlib import Path

import pytest

from pg_support import nodes, pg_schema, pg_url, psql  # noqa: F401 (fixtures)
from support import (OTHER, TESTER, assert_no_panic, create_account, ec2_client, pg_master_key_file,
                     run_cli, sqlite_url)

KEY_FILE_RE = re.compile(r"^[0-9a-f]{64}\n$")
KEY_ID_LABEL = b"keypaird master key id v1\0"


def key_id(path: Path) -> str:
    """The ID keypaird shows for the key in `path` (the first 8 bytes of SHA-256 over its label
    and the key), computed here from the file."""
    key = bytes.fromhex(path.read_text().strip())
    return hashlib.sha256(KEY_ID_LABEL + key).hexdigest()[:16]


def encodings(secret: str) -> list[bytes]:
    """The forms a leaked secret could take in a file."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode(),
            raw.hex().upper().encode(), secret.encode("utf-16-le")]


def assert_absent(blob: bytes, secrets: list[str], where: str):
    found = [(s, form) for s in secrets for form in encodings(s) if form in blob]
    assert found == [], f"secrets found in {where}: {found}"


def sqlite_files(db: Path) -> dict[str, bytes]:
    files = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db}{suffix}")
        if p.exists():
            files[p.name] = p.read_bytes()
    return files


def generated_account(url: str, name: str) -> tuple:
    cp = create_account(url, name)
    akid = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", cp.stdout, re.M).group(1)
    secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=(\S+)$", cp.stdout, re.M).group(1)
    return (name, akid, secret)


def default_account(srv) -> tuple:
    akid = srv.wait_stdout(r"^\s*export AWS_ACCESS_KEY_ID=(\S+)\s*$")
    secret = srv.wait_stdout(r"^\s*export AWS_SECRET_ACCESS_KEY=(\S+)\s*$")
    assert akid and secret, srv.stdout()
    return ("default", akid.group(1), secret.group(1))


def use_every_account(srv, accounts: list, key_name: str | None = None) -> dict:
    """A signed create (optional) and describe with each account; name -> key names it sees."""
    seen = {}
    for name, akid, secret in accounts:
        ec2 = ec2_client(srv.url, akid, secret)
        if key_name:
            ec2.create_key_pair(KeyName=f"{key_name}-{name}", KeyType="ed25519")
        seen[name] = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
    return seen


def serve_fails(store_url: str, *extra, cwd: Path, pg_master_key: bool = True):
    started = time.monotonic()
    cp = run_cli(["serve", "--listen", "127.0.0.1:0", "--store", store_url, *extra], cwd=cwd,
                 timeout=30, pg_master_key=pg_master_key)
    elapsed = time.monotonic() - started
    assert cp.returncode != 0, cp.stdout
    assert "keypaird listening" not in cp.stdout
    assert elapsed < 10, f"a wrong key must fail at start, took {elapsed:.1f} s"
    assert_no_panic(cp.stdout + cp.stderr)
    return cp


# ------------------------------------------------------------------------------- SQLite


@pytest.mark.timeout(180)
def test_sqlite_files_hold_no_secret_and_the_key_file_is_private(keypaird, store, tmp_path):
    url = sqlite_url(store)
    srv = keypaird()  # a fresh store: the first start makes the default account
    default = default_account(srv)
    key_file = Path(f"{store}.master-key")
    assert f"master key: {key_file}" in srv.stdout().splitlines()
    create_account(url, *TESTER)
    create_account(url, *OTHER)
    generated = generated_account(url, "generated")
    accounts = [default, TESTER, OTHER, generated]
    assert use_every_account(srv, accounts, key_name="k") == {
        name: [f"k-{name}"] for name, _, _ in accounts}
    assert srv.stop() == 0

    secrets = [secret for _, _, secret in accounts]
    files = sqlite_files(store)
    assert "k.db" in files, files.keys()
    for name, blob in files.items():
        assert_absent(blob, secrets, name)

    mode = stat.S_IMODE(os.stat(key_file).st_mode)
    assert mode == 0o600, oct(mode)
    assert KEY_FILE_RE.match(key_file.read_text()), "one line of 64 hex digits"
    assert not Path(f"{key_file}.new").exists()


@pytest.mark.timeout(180)
def test_sqlite_wrong_missing_or_open_key_file_fails_fast(keypaird, store, account, tmp_path):
    url = sqlite_url(store)
    srv = keypaird()
    srv.ec2().describe_key_pairs()
    assert srv.stop() == 0
    key_file = Path(f"{store}.master-key")
    sealed_under = key_id(key_file)

    other = tmp_path / "other.master-key"
    other.write_text(os.urandom(32).hex() + "\n")
    other.chmod(0o600)
    cp = serve_fails(url, "--master-key-file", other, cwd=tmp_path)
    assert (f"wrong master key: the store is sealed under master key {sealed_under}, but {other} "
            f"holds key {key_id(other)}; start with the key file the store was sealed under "
            f"(--master-key-file)") in cp.stderr, cp.stderr

    missing = tmp_path / "missing.master-key"
    cp = serve_fails(url, "--master-key-file", missing, cwd=tmp_path)
    assert (f"missing master key: the store is sealed under master key {sealed_under}, but "
            f"{missing} does not exist") in cp.stderr, cp.stderr
    assert not missing.exists(), "a store that has a key must not get a new one"

    key_file.chmod(0o644)
    cp = serve_fails(url, cwd=tmp_path)
    assert (f"the master key file {key_file} is accessible to group or others (mode 0644): run "
            f"`chmod 600 {key_file}`") in cp.stderr, cp.stderr
    key_file.chmod(0o600)


@pytest.mark.timeout(180)
def test_env_and_config_file_name_the_key_file(keypaird, store, tmp_path):
    url = sqlite_url(store)
    chosen = tmp_path / "keys" / "chosen.master-key"
    env_srv = keypaird(env={"KEYPAIRD_MASTER_KEY_FILE": str(chosen)})
    assert f"master key: {chosen}" in env_srv.stdout().splitlines()
    default = default_account(env_srv)
    assert env_srv.stop() == 0
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o600
    assert not Path(f"{store}.master-key").exists()

    config = tmp_path / "keypaird.toml"
    config.write_text(f'master_key_file = "{chosen}"\n')
    srv = keypaird(extra=["--config", config])
    assert f"master key: {chosen}" in srv.stdout().splitlines()
    assert use_every_account(srv, [default]) == {"default": []}
    assert srv.stop() == 0

    # A flag wins over the environment, which wins over the file.
    wrong = tmp_path / "wrong.master-key"
    cp = serve_fails(url, "--config", config, "--master-key-file", wrong, cwd=tmp_path)
    assert f"but {wrong} does not exist" in cp.stderr, cp.stderr
    cp = run_cli(["serve", "--listen", "127.0.0.1:0", "--store", url, "--config", config],
                 env={"KEYPAIRD_MASTER_KEY_FILE": str(wrong)}, cwd=tmp_path, timeout=30)
    assert cp.returncode != 0 and f"but {wrong} does not exist" in cp.stderr, cp.stderr


@pytest.mark.timeout(180)
def test_sqlite_rotation_keeps_every_secret_working(keypaird, store, tmp_path):
    url = sqlite_url(store)
    srv = keypaird()
    default = default_account(srv)
    create_account(url, *TESTER)
    generated = generated_account(url, "generated")
    accounts = [default, TESTER, generated]
    use_every_account(srv, accounts, key_name="before")
    assert srv.stop() == 0
    key_file = Path(f"{store}.master-key")
    old_key, old_id = key_file.read_text(), key_id(key_file)

    cp = run_cli(["rotate-master-key", "--store", url], cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    new_id = key_id(key_file)
    assert new_id != old_id
    assert cp.stdout == (f"{url}: sealed 3 access key secret(s) under the new master key {new_id} "
                         f"(was {old_id}); the key is in {key_file}.\n")
    assert key_file.read_text() != old_key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert not Path(f"{key_file}.new").exists()

    srv = keypaird()
    assert use_every_account(srv, accounts) == {
        name: [f"before-{name}"] for name, _, _ in accounts}
    assert srv.stop() == 0
    for name, blob in sqlite_files(store).items():
        assert_absent(blob, [secret for _, _, secret in accounts], name)

    # The old key opens nothing any more.
    old = tmp_path / "old.master-key"
    old.write_text(old_key)
    old.chmod(0o600)
    cp = serve_fails(url, "--master-key-file", old, cwd=tmp_path)
    assert f"the store is sealed under master key {new_id}, but {old} holds key {old_id}" \
        in cp.stderr, cp.stderr


def test_rotation_interrupted_after_its_commit_is_finished_at_the_next_start(keypaird, store,
                                                                            account, tmp_path):
    """A rotation that committed but crashed before renaming <file>.new over <file>: the store
    records the new key, which only <file>.new holds; the next start finishes the rename."""
    url = sqlite_url(store)
    srv = keypaird()
    srv.ec2().create_key_pair(KeyName="kept", KeyType="ed25519")
    assert srv.stop() == 0
    key_file = Path(f"{store}.master-key")
    before = key_file.read_text()
    assert run_cli(["rotate-master-key", "--store", url], cwd=tmp_path).returncode == 0
    # Put the file system back as it was between the commit and the rename.
    staged = Path(f"{key_file}.new")
    key_file.rename(staged)
    key_file.write_text(before)
    key_file.chmod(0o600)

    srv = keypaird()
    assert [k["KeyName"] for k in srv.ec2().describe_key_pairs()["KeyPairs"]] == ["kept"]
    assert not staged.exists()
    assert key_file.read_text() != before
    assert "finished a master key rotation that committed" in srv.stderr()


# ------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.timeout(240)
def test_postgres_table_holds_no_secret_and_rotation_keeps_them(pg_schema, pg_url, nodes, tmp_path):
    key_file = pg_master_key_file(pg_url)
    create_account(pg_url, *TESTER)
    generated = generated_account(pg_url, "generated")
    a, b = nodes.start(pg_url, creds=TESTER), nodes.start(pg_url, creds=TESTER)
    accounts = [TESTER, generated]
    assert use_every_account(a, accounts, key_name="pg") == {
        name: [f"pg-{name}"] for name, _, _ in accounts}
    assert use_every_account(b, accounts) == {name: [f"pg-{name}"] for name, _, _ in accounts}
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    secrets = [secret for _, _, secret in accounts]
    raw = psql("SELECT access_key_id, coalesce(secret, '<null>'), encode(sealed_secret, 'hex'), "
               "translate(encode(sealed_secret, 'base64'), E'\\n', '') FROM access_keys "
               "ORDER BY access_key_id",
               schema=pg_schema)
    assert sorted(r[0] for r in raw) == sorted([TESTER[1], generated[1]])
    assert [r[1] for r in raw] == ["<null>", "<null>"]
    assert_absent("\n".join("\t".join(r) for r in raw).encode(), secrets, "access_keys")
    whole = psql("SELECT a::text FROM access_keys a", schema=pg_schema)
    assert_absent("\n".join(r[0] for r in whole).encode(), secrets, "access_keys rows as text")
    assert psql("SELECT key_id FROM master_key", schema=pg_schema) == [[key_id(key_file)]]

    old_id = key_id(key_file)
    cp = run_cli(["rotate-master-key", "--store", pg_url], cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    new_id = key_id(key_file)
    assert new_id != old_id
    assert f"sealed 2 access key secret(s) under the new master key {new_id} (was {old_id})" \
        in cp.stdout, cp.stdout
    assert (f"Every node still running holds the old key: copy {key_file} to each node and "
            f"restart it.") in cp.stdout, cp.stdout
    assert psql("SELECT key_id FROM master_key", schema=pg_schema) == [[new_id]]

    assert a.stop() == 0 and b.stop() == 0
    c = nodes.start(pg_url, creds=TESTER)
    assert use_every_account(c, accounts) == {name: [f"pg-{name}"] for name, _, _ in accounts}


def test_postgres_without_a_key_file_is_refused_naming_the_flag(pg_url, tmp_path):
    cp = serve_fails(pg_url, cwd=tmp_path, pg_master_key=False)
    assert ("a PostgreSQL store needs a master key file, the same on every node: pass "
            "--master-key-file FILE (or set KEYPAIRD_MASTER_KEY_FILE, or master_key_file in the "
            "config file)") in cp.stderr, cp.stderr
    cp = run_cli(["accounts", "create", "x", "--store", pg_url], cwd=tmp_path, pg_master_key=False)
    assert cp.returncode != 0 and "--master-key-file" in cp.stderr, cp.stderr
