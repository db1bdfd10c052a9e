"""The HTTP layer's limits against the real binary: slow clients dropped within the configured
time while others are served, each limit at the limit (accepted) and one past it (its error in
the dialect's envelope), methods other than GET and POST refused, and broken bodies answered
400 rather than 413.

Every server here runs with short limits from a config file, so each test takes seconds.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest

import aliyun_support as ali
from support import FORM_CT, form

LIMITS = """
header_read_timeout = "1s"
keep_alive_idle = "2s"
body_read_timeout = "1s"
min_body_rate = 1000
request_timeout = "30s"
send_timeout = "2s"
max_connections = 4
max_in_flight = 2
max_body_bytes = 4096
"""


@pytest.fixture
def limited(account, keypaird, tmp_path):
    config = tmp_path / "limits.toml"
    config.write_text(LIMITS)
    return keypaird(extra=["--config", str(config)])


def connect(srv, timeout=10) -> socket.socket:
    s = socket.create_connection((srv.host, srv.port), timeout=timeout)
    return s


def read_reply(s: socket.socket) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 reply with a Content-Length body, read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a reply head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def closed_within(s: socket.socket, seconds: float) -> float:
    """Waits for the server to close `s`; returns how long it took."""
    started = time.monotonic()
    s.settimeout(seconds)
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            return time.monotonic() - started
        if not chunk:
            return time.monotonic() - started


def ec2_error(body: bytes) -> tuple[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Response" and [c.tag for c in root] == ["Errors", "RequestID"], body
    return root.findtext("Errors/Error/Code"), root.findtext("Errors/Error/Message")


def ecs_error(body: bytes) -> tuple[str, str]:
    doc = json.loads(body)
    assert set(doc) == {"RequestId", "HostId", "Code", "Message", "Recommend"}, doc
    return doc["Code"], doc["Message"]


def dialect_error(dialect: str, body: bytes) -> tuple[str, str]:
    return ec2_error(body) if dialect == "aws" else ecs_error(body)


def drip(s: socket.socket, data: bytes, every: float) -> threading.Event:
    """Sends `data` on `s` every `every` seconds from a thread until the returned event is set or
    the server closes the connection: a slow client."""
    stop = threading.Event()

    def send():
        while not stop.is_set():
            try:
                s.sendall(data)
            except OSError:
                return
            time.sleep(every)

    threading.Thread(target=send, daemon=True).start()
    return stop


ECS_QUERY = "Version=2014-05-26&Format=JSON&Action=DescribeKeyPairs"


def test_a_slow_header_is_dropped_while_others_are_served(limited):
    slow = connect(limited)
    slow.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    stop = drip(slow, b"X-Drip: y\r\n", 0.3)
    # Served meanwhile: a signed call works while the slow client drips.
    limited.call("DescribeKeyPairs").ok("DescribeKeyPairs")
    took = closed_within(slow, 10)
    stop.set()
    waited = time.monotonic() - started
    assert 0.9 <= waited <= 3.0, f"header_read_timeout is 1s; the slow head was dropped after {waited:.1f}s"
    assert took <= 3.0


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_time_and_not_before(limited):
    s = connect(limited)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_reply(s)[0] == 200
    time.sleep(1.2)  # inside keep_alive_idle (2s), and longer than the header timeout (1s)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = read_reply(s)
    assert (status, body) == (200, b"ok\n"), "a connection reused within keep_alive_idle must work"
    took = closed_within(s, 10)
    assert 1.5 <= took <= 4.0, f"keep_alive_idle is 2s; closed after {took:.1f}s"


def test_an_idle_http2_connection_is_closed_after_the_idle_time(limited):
    s = connect(limited)
    # The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    took = closed_within(s, 10)
    assert 1.5 <= took <= 4.0, f"keep_alive_idle is 2s; the HTTP/2 connection closed after {took:.1f}s"


@pytest.mark.parametrize("dialect", ["aws", "aliyun"])
def test_a_slow_body_gets_408_in_the_dialect_envelope(limited, dialect):
    query = "" if dialect == "aws" else "?" + ECS_QUERY
    s = connect(limited)
    s.sendall(f"POST /{query} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
              f"Content-Length: 3000\r\n\r\nKeyName=".encode())
    started = time.monotonic()
    stop = drip(s, b"a", 0.2)
    status, headers, body = read_reply(s)
    stop.set()
    took = time.monotonic() - started
    # 1s of grace, then 1,000 bytes a second: 5 bytes a second falls behind at once.
    assert 0.9 <= took <= 3.0, f"answered after {took:.1f}s"
    assert status == 408
    assert headers["connection"] == "close"
    assert dialect_error(dialect, body) == (
        "RequestTimeout", "The request body was not received within the time allowed.")
    s.close()
    # The drop is logged once for the interval, with its reason.
    logged = limited.wait_stderr(lambda t: "slow_body=" in t, timeout=15)
    assert "slow_body=1 (total 1)" in logged, logged[-2000:]


def test_a_body_keeping_the_minimum_rate_is_read(limited):
    """1,500 bytes at ~2,000 bytes a second: within grace plus rate, answered by the dialect."""
    _, akid, _ = limited.creds
    s = connect(limited)
    payload = ("Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=" + "k" * 1450).encode()
    s.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
              f"Content-Length: {len(payload)}\r\n\r\n".encode())
    for i in range(0, len(payload), 100):
        s.sendall(payload[i:i + 100])
        time.sleep(0.05)
    status, _, body = read_reply(s)
    # Unsigned: the dialect read it all and asked for a signature.
    assert (status, ec2_error(body)[0]) == (401, "MissingAuthenticationToken")


@pytest.mark.parametrize("dialect", ["aws", "aliyun"])
def test_the_body_size_limit_at_the_limit_and_one_past(limited, dialect):
    def body_of(size: int) -> bytes:
        if dialect == "aws":
            head = urlencode(form("DescribeKeyPairs", {})) + "&KeyName.1="
        else:
            head = "RegionId=cn-hangzhou&KeyPairName="
        return (head + "n" * (size - len(head))).encode()

    query = "" if dialect == "aws" else "?" + ECS_QUERY
    for size, want in ((4096, None), (4097, 413)):
        s = connect(limited)
        body = body_of(size)
        assert len(body) == size
        s.sendall(f"POST /{query} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
                  f"Content-Length: {size}\r\n\r\n".encode() + body)
        status, headers, reply = read_reply(s)
        s.close()
        if want is None:
            # Read whole and handed to the dialect, which wants a signature.
            code = dialect_error(dialect, reply)[0]
            assert status in (400, 401, 404) and code != "RequestEntityTooLarge", (status, reply)
        else:
            assert status == 413 and headers["connection"] == "close"
            code, message = dialect_error(dialect, reply)
            assert code == "RequestEntityTooLarge"
            assert "4096 bytes" in message


def test_requests_in_flight_beyond_the_limit_get_503_at_once(limited):
    holders = []
    for _ in range(2):  # max_in_flight = 2: two bodies being read hold both permits
        s = connect(limited)
        s.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
                  f"Content-Length: 100\r\n\r\nA".encode())
        holders.append(s)
    time.sleep(0.3)
    # EC2: its throttling code, which SDKs back off on.
    r = ali.send_raw("POST", limited.url + "/", b"Action=DescribeKeyPairs",
                     {"Content-Type": FORM_CT}, timeout=5)
    assert r.status_code == 503 and r.headers["Connection"] == "close"
    assert ec2_error(r.content) == ("RequestLimitExceeded", "Request limit exceeded.")
    r = ali.send_raw("GET", limited.url + "/?" + ECS_QUERY, None, {}, timeout=5)
    assert r.status_code == 503
    assert ecs_error(r.content) == (
        "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
    # Probes are not API calls and are never shed.
    assert limited.healthz() == 200
    for s in holders:
        s.close()
    time.sleep(0.3)
    # At the limit again (permits returned): served.
    limited.call("DescribeKeyPairs").ok("DescribeKeyPairs")
    logged = limited.wait_stderr(lambda t: "in_flight_limit=" in t, timeout=15)
    assert "in_flight_limit=2 (total 2)" in logged, logged[-2000:]


def hold_connections(srv, count: int, within: float = 10) -> list[socket.socket]:
    """Opens `count` connections, each served once and kept open. The readiness probe's own
    connection holds a permit until the server has seen it close, which on a loaded machine can
    lag the probe; so a 503 here means "not yet" and the whole set is retried until `within`."""
    deadline = time.monotonic() + within
    while True:
        held = [connect(srv) for _ in range(count)]
        statuses = []
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            statuses.append(read_reply(s)[0])
        if statuses == [200] * count:
            return held
        for s in held:
            s.close()
        assert time.monotonic() < deadline, f"never served {count} connections: {statuses}"
        time.sleep(0.2)


def test_connections_beyond_the_limit_get_503_and_are_closed(limited):
    held = hold_connections(limited, 4)  # max_connections = 4
    extra = connect(limited)
    extra.sendall(f"GET /?{ECS_QUERY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers, body = read_reply(extra)
    assert status == 503 and headers["connection"] == "close"
    assert ecs_error(body)[0] == "ServiceUnavailable"
    assert closed_within(extra, 5) <= 5
    held.pop().close()
    # Room again once the server has seen that close: a new connection is served.
    deadline = time.monotonic() + 10
    reply = limited.call("DescribeKeyPairs")
    while reply.status == 503 and time.monotonic() < deadline:
        time.sleep(0.2)
        reply = limited.call("DescribeKeyPairs")
    reply.ok("DescribeKeyPairs")
    for s in held:
        s.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_signed_requests_with_other_methods_are_refused_and_change_nothing(srv, method):
    r = srv.call("CreateKeyPair", {"KeyName": f"via-{method.lower()}", "KeyType": "ed25519"},
                 method=method)
    assert r.status == 405 and r.headers["Allow"] == "GET, POST", r
    assert ec2_error(r.content) == ("MethodNotAllowed",
                                    "The EC2 query API takes GET and POST requests only.")
    req = ali.v1(srv, "CreateKeyPair", {"KeyPairName": f"ecs-{method.lower()}"}, method=method)
    reply = req.send()
    reply.error("InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.")
    assert [k["KeyName"] for k in srv.describe()] == []
    listed = ali.v1_call(srv, "DescribeKeyPairs").ok().body["KeyPairs"]["KeyPair"]
    assert listed == []


@pytest.mark.parametrize("dialect", ["aws", "aliyun"])
def test_a_malformed_chunk_is_400_not_413(srv, dialect):
    query = "" if dialect == "aws" else "?" + ECS_QUERY
    s = connect(srv)
    s.sendall(f"POST /{query} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
              "Transfer-Encoding: chunked\r\n\r\n5\r\nAct=1\r\nzz\r\n".encode())
    status, headers, body = read_reply(s)
    assert status == 400 and headers["connection"] == "close"
    if dialect == "aws":
        assert ec2_error(body) == ("InvalidRequest", "The request body is malformed or incomplete.")
    else:
        assert ecs_error(body) == ("InvalidParameter", "The request body is malformed or incomplete.")


def test_the_request_time_limit_answers_503(account, keypaird, tmp_path):
    config = tmp_path / "limits.toml"
    config.write_text('body_read_timeout = "20s"\nrequest_timeout = "1s"\n')
    srv = keypaird(extra=["--config", str(config)])
    s = connect(srv)
    s.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM_CT}\r\n"
              "Content-Length: 50\r\n\r\nAction=".encode())
    started = time.monotonic()
    status, _, body = read_reply(s)
    took = time.monotonic() - started
    assert 0.9 <= took <= 3.0, took
    assert status == 503
    assert ec2_error(body) == (
        "ServiceUnavailable",
        "The request could not be completed in the time allowed. Please try again shortly.")


def test_a_thousand_slow_clients_are_one_log_line_per_interval(limited):
    socks = []
    for _ in range(3):
        s = connect(limited)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        socks.append(s)
    for s in socks:
        assert closed_within(s, 10) <= 4
    logged = limited.wait_stderr(lambda t: "slow_header=" in t, timeout=15)
    assert re.search(r"slow_header=3 \(total 3\)", logged), logged[-2000:]
    lines = [line for line in limited.stderr().splitlines() if "dropped or refused" in line]
    assert len(lines) == 1, lines


@pytest.mark.parametrize("bad, message", [
    ('header_read_timeout = "50ms"', "header_read_timeout must be at least 100ms"),
    ('keep_alive_idle = "soon"', "is not a duration"),
    ("max_in_flight = 0", "max_in_flight must be at least 1"),
    ("max_body_bytes = 100", "max_body_bytes must be at least 4096"),
])
def test_bad_limits_are_refused_at_start(tmp_path, bad, message):
    import subprocess
    import support
    config = tmp_path / "bad.toml"
    config.write_text(bad + "\n")
    done = subprocess.run([str(support.binary()), "serve", "--listen", "127.0.0.1:0", "--store",
                           support.sqlite_url(tmp_path / "k.db"), "--config", str(config)],
                          capture_output=True, text=True, timeout=30, env=support.clean_env())
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
