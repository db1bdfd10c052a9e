"""Helpers for the multi-node tests: the PostgreSQL the suite may use, a fresh schema per test,
several real keypaird processes on one store URL, direct looks at the tables (psql for PostgreSQL,
python's sqlite3 for SQLite), and a small TCP proxy that can cut or freeze the path between a
node and its database.

PostgreSQL comes from KEYPAIRD_TEST_POSTGRES_URL (CI always sets it; when CI is set and it is
missing the tests fail rather than skip). Outside CI the default is the server every machine of
this project has: postgres://postgres@127.0.0.1:5432/test. Every test gets its own schema
(`?schema=kpt_<pid>_<random>`), dropped at teardown, so runs never see each other.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

import support
from support import TESTER, require_tool, start_server

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
# Parameters keypaird reads itself; libpq (psql) does not know them.
KEYPAIRD_ONLY_PARAMS = {"schema", "pool_size"}
SCHEMA_PREFIX = "kpt_"


# --------------------------------------------------------------------------------------------
# Where PostgreSQL is


def base_url() -> str:
    url = os.environ.get("KEYPAIRD_TEST_POSTGRES_URL", "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail("KEYPAIRD_TEST_POSTGRES_URL is not set, and CI is: the multi-node tests need "
                        "a PostgreSQL (.ci/run exports postgres://postgres@127.0.0.1:5432/test)",
                        pytrace=False)
        url = DEFAULT_PG_URL
    return url


def with_params(url: str, *, host: str | None = None, port: int | None = None, **params) -> str:
    """`url` with query parameters set (None removes one) and, optionally, another host:port."""
    parts = urlsplit(url)
    q = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    q += [(k, str(v)) for k, v in params.items() if v is not None]
    netloc = parts.netloc
    if host is not None or port is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        h, _, p = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
        hostport = f"{host or h}:{port or p or 5432}"
        netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(q), parts.fragment))


def libpq_url(url: str) -> str:
    """The URL psql understands: keypaird's own parameters removed."""
    return with_params(url, **{k: None for k in KEYPAIRD_ONLY_PARAMS})


def store_url(schema: str, *, host: str | None = None, port: int | None = None,
              pool_size: int = 8) -> str:
    """The keypaird store URL for one test's schema. pool_size stays small: PostgreSQL's
    max_connections (100 here) is shared by every node of every test running at once."""
    return with_params(base_url(), host=host, port=port, schema=schema, pool_size=pool_size)


def psql(sql: str, *, schema: str | None = None, url: str | None = None, check: bool = True,
         timeout: float = 30) -> list:
    """Run SQL with psql; returns the rows as lists of strings (tab-separated, no headers).
    With `schema`, unqualified names resolve in that schema."""
    require_tool("psql", "postgresql-client")
    env = support.clean_env()
    opts = "-c lock_timeout=10s -c statement_timeout=20s"
    if schema:
        opts += f" -c search_path={schema}"
    env["PGOPTIONS"] = opts
    env["PGCONNECT_TIMEOUT"] = "5"
    cp = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t",
                         "-d", libpq_url(url or base_url()), "-c", sql],
                        capture_output=True, text=True, env=env, timeout=timeout,
                        stdin=subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise AssertionError(f"psql failed ({cp.returncode}) on {sql!r}:\n{cp.stderr}")
    return [line.split("\t") for line in cp.stdout.splitlines() if line != ""]


def pg_isready(timeout: float = 0) -> bool:
    """Whether PostgreSQL accepts connections, waiting up to `timeout` seconds."""
    parts = urlsplit(base_url())
    host, port = parts.hostname or "127.0.0.1", str(parts.port or 5432)
    deadline = time.monotonic() + timeout
    while True:
        cp = subprocess.run(["pg_isready", "-h", host, "-p", port, "-t", "2"],
                            capture_output=True, text=True, timeout=10)
        if cp.returncode == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def require_postgres():
    require_tool("psql", "postgresql-client")
    require_tool("pg_isready", "postgresql-client")
    if not pg_isready(timeout=20):
        pytest.fail(f"PostgreSQL at {libpq_url(base_url())} does not accept connections: start it "
                    f"(pg_ctlcluster $(ls /etc/postgresql) main start)", pytrace=False)


def schema_exists(schema: str) -> bool:
    return psql(f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'") == [["1"]]


def drop_schema(schema: str):
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", schema), schema
    psql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', check=False)


def drop_stale_schemas():
    """Schemas left by runs whose process is gone (a run killed before its teardown)."""
    rows = psql(f"SELECT nspname FROM pg_namespace WHERE nspname LIKE '{SCHEMA_PREFIX}%'", check=False)
    for (name,) in rows:
        m = re.fullmatch(SCHEMA_PREFIX + r"(\d+)_[0-9a-f]+", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            drop_schema(name)


_stale_dropped = False


@pytest.fixture
def pg_schema():
    """A schema name no one has used; dropped (with everything in it) at teardown. keypaird
    creates it on its first migration."""
    global _stale_dropped
    require_postgres()
    if not _stale_dropped:
        drop_stale_schemas()
        _stale_dropped = True
    name = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    assert not schema_exists(name)
    yield name
    if pg_isready(timeout=30):
        drop_schema(name)


@pytest.fixture
def pg_url(pg_schema) -> str:
    return store_url(pg_schema)


# --------------------------------------------------------------------------------------------
# Nodes


class Nodes:
    """Starts keypaird processes (each in its own working directory) and stops them all at the
    end of the test."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.started: list = []
        self._n = 0
        self._lock = threading.Lock()
        self._release = threading.Event()

    def start(self, url: str, *, extra: Iterable[str] = (), creds=TESTER, env=None,
              store_path: Path | None = None, timeout: float = 60) -> support.Server:
        with self._lock:
            self._n += 1
            workdir = self.tmp / f"node{self._n}"
        srv = start_server(store_url=url, store_path=store_path, workdir=workdir, extra=list(extra),
                           env=env, creds=creds, timeout=timeout)
        with self._lock:
            self.started.append(srv)
        return srv

    def start_many(self, url: str, n: int, **kw) -> list:
        """`n` nodes on one store URL, started at the same moment.

        Each is started from a thread of its own that lives until stop_all: support.start_server
        sets PR_SET_PDEATHSIG, which fires when the *thread* that forked the child ends."""
        results: list = [None] * n
        ready = threading.Barrier(n + 1)

        def spawn(i):
            try:
                results[i] = self.start(url, **kw)
            except BaseException as e:  # noqa: BLE001 - pytest.fail raises Failed
                results[i] = e
            try:
                ready.wait(120)
            except threading.BrokenBarrierError:
                pass
            self._release.wait()

        for i in range(n):
            threading.Thread(target=spawn, args=(i,), daemon=True).start()
        ready.wait(120)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results

    def stop_all(self):
        for srv in self.started:
            try:
                srv.stop(5)
            except Exception:
                srv.kill9()
        self._release.set()


@pytest.fixture
def nodes(tmp_path):
    ns = Nodes(tmp_path)
    yield ns
    ns.stop_all()


def cli(args: Iterable[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return support.run_cli(list(args), timeout=timeout)


def cli_ok(args: Iterable[str], timeout: float = 60) -> subprocess.CompletedProcess:
    args = list(args)
    cp = cli(args, timeout)
    assert cp.returncode == 0, (f"`keypaird {' '.join(map(str, args))}` exited {cp.returncode}\n"
                                f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    support.assert_no_panic(cp.stdout + cp.stderr)
    return cp


# --------------------------------------------------------------------------------------------
# The tables, read directly (names from the migrations of both backends:
# accounts, access_keys, key_pairs, key_pair_tags, request_nonces, schema_migrations)


class Tables:
    """Read-only SQL over one store, whichever backend."""

    def __init__(self, url: str, schema: str | None = None, sqlite_path: Path | None = None):
        self.url = url
        self.schema = schema
        self.sqlite_path = sqlite_path

    @classmethod
    def for_url(cls, url: str) -> "Tables":
        if url.startswith("sqlite://"):
            return cls(url, sqlite_path=Path(url[len("sqlite://"):]))
        schema = dict(parse_qsl(urlsplit(url).query)).get("schema")
        assert schema, f"tests always name a schema: {url}"
        return cls(url, schema=schema)

    def rows(self, sql: str) -> list:
        """Rows as tuples of strings (None for NULL on SQLite; psql prints NULL as '')."""
        if self.sqlite_path is not None:
            con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=10)
            try:
                return [tuple(None if v is None else str(v) for v in r) for r in con.execute(sql)]
            finally:
                con.close()
        return [tuple(r) for r in psql(sql, schema=self.schema)]

    def scalar(self, sql: str) -> str:
        rows = self.rows(sql)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def account_id(self, name: str) -> str:
        return self.scalar(f"SELECT id FROM accounts WHERE name = '{name}'")

    def check_integrity(self) -> list:
        """Problems a half-written store would show; [] when there are none."""
        problems = []
        orphans = self.rows("SELECT t.key_pair_id, t.key FROM key_pair_tags t "
                            "LEFT JOIN key_pairs k ON k.id = t.key_pair_id WHERE k.id IS NULL")
        if orphans:
            problems.append(f"tag rows without their key pair: {orphans[:10]}")
        dup_pos = self.rows("SELECT key_pair_id, position, count(*) FROM key_pair_tags "
                            "GROUP BY key_pair_id, position HAVING count(*) > 1")
        if dup_pos:
            problems.append(f"tag positions used twice: {dup_pos[:10]}")
        dup_names = self.rows("SELECT account_id, provider, region, name, count(*) FROM key_pairs "
                              "GROUP BY account_id, provider, region, name HAVING count(*) > 1")
        if dup_names:
            problems.append(f"names held twice in one scope: {dup_names[:10]}")
        if self.sqlite_path is not None:
            ic = self.rows("PRAGMA integrity_check")
            if ic != [("ok",)]:
                problems.append(f"PRAGMA integrity_check: {ic[:10]}")
            fk = self.rows("PRAGMA foreign_key_check")
            if fk:
                problems.append(f"PRAGMA foreign_key_check: {fk[:10]}")
        else:
            # The per-scope counters must equal what the scope really holds.
            bad = self.rows(
                "SELECT coalesce(c.account_id, k.account_id), coalesce(c.provider, k.provider), "
                "coalesce(c.region, k.region), coalesce(c.count, 0), coalesce(k.n, 0) "
                "FROM key_pair_counts c FULL JOIN (SELECT account_id, provider, region, count(*) AS n "
                "FROM key_pairs GROUP BY account_id, provider, region) k "
                "USING (account_id, provider, region) WHERE coalesce(c.count, 0) <> coalesce(k.n, 0)")
            if bad:
                problems.append(f"key_pair_counts differ from the key pairs held "
                                f"(account, provider, region, counter, real): {bad[:10]}")
        return problems

    def key_pairs_with_tags(self, account_id: str) -> dict:
        """name -> (id, provider, region, {tag key: value}) for one account."""
        out = {}
        for kid, provider, region, name in self.rows(
                f"SELECT id, provider, region, name FROM key_pairs WHERE account_id = '{account_id}'"):
            out[(provider, region, name)] = (kid, {})
        by_id = {v[0]: v[1] for v in out.values()}
        for kid, key, value in self.rows(
                "SELECT t.key_pair_id, t.key, t.value FROM key_pair_tags t JOIN key_pairs k "
                f"ON k.id = t.key_pair_id WHERE k.account_id = '{account_id}'"):
            by_id[kid][key] = value
        return out


# --------------------------------------------------------------------------------------------
# A TCP proxy between a node and PostgreSQL


class TcpProxy:
    """127.0.0.1:<port> -> upstream, one thread per direction per connection.

    cut():     close the listener and every connection (new connections are refused).
    restore(): listen again on the same port.
    freeze():  keep everything open but forward nothing (a database that stopped answering);
               thaw() forwards again.
    """

    def __init__(self, upstream: tuple):
        self.upstream = upstream
        self.port = 0
        self._lock = threading.Lock()
        self._socks: set = set()
        self._listener: socket.socket | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self._generation = 0
        self.accepted = 0
        self.restore()

    # -- control
    def restore(self):
        with self._lock:
            assert self._listener is None, "already listening"
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 10
            while True:
                try:
                    s.bind(("127.0.0.1", self.port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            s.listen(128)
            self.port = s.getsockname()[1]
            self._listener = s
            self._generation += 1
            gen = self._generation
        threading.Thread(target=self._accept, args=(s, gen), daemon=True).start()

    def cut(self):
        with self._lock:
            lst, self._listener = self._listener, None
            socks, self._socks = self._socks, set()
            self._generation += 1
        if lst is not None:
            _kill_socket(lst)
        for s in socks:
            _kill_socket(s)

    def freeze(self):
        self._flowing.clear()

    def thaw(self):
        self._flowing.set()

    def close(self):
        self.thaw()
        self.cut()

    def connections(self) -> int:
        with self._lock:
            return len(self._socks) // 2

    # -- work
    def _accept(self, lst: socket.socket, gen: int):
        while True:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            with self._lock:
                if gen != self._generation:
                    _kill_socket(c)
                    return
                self._socks.add(c)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c, gen), daemon=True).start()

    def _wait_flowing(self, gen: int) -> bool:
        while not self._flowing.wait(0.1):
            if gen != self._generation:
                return False
        return gen == self._generation

    def _serve(self, c: socket.socket, gen: int):
        if not self._wait_flowing(gen):
            _kill_socket(c)
            return
        try:
            u = socket.create_connection(self.upstream, timeout=5)
            u.settimeout(None)
        except OSError:
            _kill_socket(c)
            return
        with self._lock:
            if gen != self._generation:
                _kill_socket(u)
                _kill_socket(c)
                return
            self._socks.add(u)
        for src, dst in ((c, u), (u, c)):
            threading.Thread(target=self._pump, args=(src, dst, gen), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, gen: int):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self._wait_flowing(gen):
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._socks.discard(src)
            self._socks.discard(dst)
        _kill_socket(src)
        _kill_socket(dst)


def _kill_socket(s: socket.socket):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


@pytest.fixture
def pg_proxy():
    """A TcpProxy in front of the test PostgreSQL."""
    require_postgres()
    parts = urlsplit(base_url())
    p = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield p
    p.close()


# --------------------------------------------------------------------------------------------
# Small things


def timed(fn, *a, **kw):
    """(result or exception, seconds)."""
    t = time.monotonic()
    try:
        out = fn(*a, **kw)
    except Exception as e:  # noqa: BLE001 - the caller asserts on it
        out = e
    return out, time.monotonic() - t


def wait_until(pred, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r})")


# --------------------------------------------------------------------------------------------
# Which store a test runs on


class Backend:
    """One store for a test: PostgreSQL (a fresh schema, two nodes) or SQLite (one file, one
    node: SQLite is the single-node backend)."""

    def __init__(self, kind: str, url: str):
        self.kind = kind
        self.url = url
        self.tables = Tables.for_url(url)
        self.n_nodes = 2 if kind == "postgres" else 1

    def __repr__(self):
        return f"<Backend {self.kind} {self.url}>"

    def create_account(self, creds, quota: int | None = None):
        name, akid, secret = creds
        return support.create_account(self.url, name, akid, secret, quota=quota)


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", support.sqlite_url(tmp_path / "k.db"))
    schema = request.getfixturevalue("pg_schema")
    return Backend("postgres", store_url(schema))


# --------------------------------------------------------------------------------------------
# Requests from many threads, and what came back


def ec2_call(srv, action: str, params: Mapping | None = None, *, creds=None, region="us-east-1",
             timeout: float = 60) -> support.Reply:
    return support.call(srv.url, action, params, creds=creds or srv.creds, region=region,
                        timeout=timeout)


def ec2_outcome(reply) -> str:
    """'200', '<status>:<EC2 error code>', or 'exc:<exception type>' for a request that got no
    reply at all."""
    if isinstance(reply, Exception):
        return f"exc:{type(reply).__name__}"
    if reply.status == 200:
        return "200"
    try:
        return f"{reply.status}:{reply.code}"
    except AssertionError:
        return f"{reply.status}:<not XML: {reply.text[:80]!r}>"


_tls = threading.local()


def _session():
    import requests
    s = getattr(_tls, "session", None)
    if s is None:
        s = requests.Session()
        s.trust_env = False
        _tls.session = s
    return s


def ali_send(req, to=None, timeout: float = 60):
    """Send a built Alibaba request (aliyun_support.V1Request or V3Request) from any thread, to
    the node it was signed for or to `to`, with exactly the same bytes: the same path, query,
    headers (Host included) and body."""
    import requests
    from aliyun_support import FORM_CT, AliReply, V1Request, encode_pairs, host_of
    target = host_of(to or req.srv)
    signed_host = host_of(req.srv)
    if isinstance(req, V1Request):
        q = encode_pairs(req.query)
        url = f"http://{target}/" + (f"?{q}" if q else "")
        body = req.body_bytes()
        headers = {"Host": signed_host, **req.headers}
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = FORM_CT
        method = req.method
        if method == "GET":
            body = None
    else:
        q = urlencode(req.query)
        url = f"http://{target}/" + (f"?{q}" if q else "")
        body = req.body or None
        headers = dict(req.headers)
        method = req.method
    prepared = requests.Request(method, url, data=body, headers=headers).prepare()
    prepared.url = url
    if body is not None:
        prepared.body = body
        prepared.headers["Content-Length"] = str(len(body))
    r = _session().send(prepared, timeout=timeout, allow_redirects=False)
    return AliReply(r, signed_host)


def ali_outcome(reply) -> str:
    """'200', '<status>:<Alibaba error code>' or 'exc:<exception type>'."""
    if isinstance(reply, Exception):
        return f"exc:{type(reply).__name__}"
    if reply.status == 200:
        return "200"
    try:
        return f"{reply.status}:{reply.error_fields()['Code']}"
    except AssertionError:
        return f"{reply.status}:<unreadable: {reply.text[:80]!r}>"


def run_all(fn, items: list, workers: int = 32) -> list:
    """fn(item) for every item on `workers` threads, released together; results in order.
    An exception is returned in place of the result."""
    barrier = threading.Barrier(min(workers, len(items)))

    def one(pair):
        i, item = pair
        if i < barrier.parties:
            try:
                barrier.wait(30)
            except threading.BrokenBarrierError:
                pass
        try:
            return fn(item)
        except Exception as e:  # noqa: BLE001 - counted by the caller
            return e

    with cf.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, enumerate(items)))
