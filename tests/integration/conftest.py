"""Fixtures: the real keypaird binary on an ephemeral port, accounts, clients, and test keys.

- `keypaird` is a factory: keypaird(store=..., extra=[...], creds=...) starts `keypaird serve
  --listen 127.0.0.1:0 --store sqlite://<tmp>/k.db`, reads the port from the
  'keypaird listening on http://HOST:PORT' line, waits for /healthz, and stops the process
  (SIGTERM, then SIGKILL) at teardown.
- `account` creates the fixed test account (support.TESTER) with `keypaird accounts create`
  before the server starts; `srv` is a started server using that account.
- `keys` makes test keys with ssh-keygen once per session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import support
from support import OTHER, TESTER, create_account, require_tool, run, sqlite_url, start_server

# Keep the host's AWS configuration out of every client (boto3 here, the aws CLI in children).
_awsdir = Path(tempfile.mkdtemp(prefix="keypaird-aws-"))
(_awsdir / "config").write_text("")
(_awsdir / "credentials").write_text("")
for _k in list(os.environ):
    if _k in ("KEYPAIRD_BIN", "KEYPAIRD_LOAD_BIN") or _k.startswith("KEYPAIRD_TEST_"):
        continue  # the suite's own settings
    if _k.startswith("AWS_") or _k.startswith("KEYPAIRD_") or _k.lower() in (
            "http_proxy", "https_proxy", "all_proxy"):
        del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = str(_awsdir / "config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(_awsdir / "credentials")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def pytest_sessionstart(session):
    # Fail loudly, once, when a tool the oracles need is missing (no test may skip).
    missing = [f"{t} ({p})" for t, p in (("ssh-keygen", "openssh-client"), ("openssl", "openssl"),
                                         ("puttygen", "putty-tools")) if not support.shutil.which(t)]
    if missing:
        raise pytest.UsageError("missing tools: " + ", ".join(missing) +
                                " — run scripts/test, which installs them")


@pytest.fixture
def store(tmp_path) -> Path:
    """Path of the SQLite file for this test (sqlite:///abs/path/k.db)."""
    return tmp_path / "k.db"


@pytest.fixture
def keypaird(tmp_path, store):
    started = []

    def start(store_path: Path | None = None, extra=(), env=None, creds=TESTER, store_url=None,
              listen="127.0.0.1:0", workdir: Path | None = None):
        path = Path(store_path) if store_path else store
        url = store_url or sqlite_url(path)
        srv = start_server(store_url=url, store_path=path, workdir=workdir or tmp_path / "run",
                           extra=extra, env=env, creds=creds, listen=listen)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def account(store):
    """The fixed test account, created with `keypaird accounts create` before the server starts."""
    name, akid, secret = TESTER
    create_account(support.sqlite_url(store), name, akid, secret)
    return TESTER


@pytest.fixture
def other_account(store):
    name, akid, secret = OTHER
    create_account(support.sqlite_url(store), name, akid, secret)
    return OTHER


@pytest.fixture
def srv(account, keypaird):
    return keypaird()


@pytest.fixture
def ec2(srv):
    return srv.ec2()


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Keys made by ssh-keygen: name -> private key path; the public key is <path>.pub."""
    require_tool("ssh-keygen", "openssh-client")
    d = tmp_path_factory.mktemp("keys")
    spec = {
        "rsa1024": ["-t", "rsa", "-b", "1024"],
        "rsa2048": ["-t", "rsa", "-b", "2048"],
        "rsa3072": ["-t", "rsa", "-b", "3072"],
        "rsa4096": ["-t", "rsa", "-b", "4096"],
        "ed25519": ["-t", "ed25519"],
        "ed25519b": ["-t", "ed25519"],
        "dsa": ["-t", "dsa"],
        "ecdsa256": ["-t", "ecdsa", "-b", "256"],
        "ecdsa384": ["-t", "ecdsa", "-b", "384"],
        "ca": ["-t", "ed25519"],
    }
    out = {}
    for name, args in spec.items():
        p = d / name
        run(["ssh-keygen", "-q", *args, "-N", "", "-C", f"{name}@keypaird-test", "-f", str(p)])
        out[name] = p
    # An OpenSSH certificate: signed by "ca", for the ed25519 key.
    run(["ssh-keygen", "-q", "-s", str(d / "ca"), "-I", "test-cert", "-n", "root",
         str(d / "ed25519b.pub")])
    out["cert"] = d / "ed25519b-cert"  # .pub appended by users of the fixture
    return out
