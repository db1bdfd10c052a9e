"""Prometheus metrics on /metrics and the request log line, text and JSON.

A known workload in both dialects, then one scrape whose series are asserted exactly: every
request counter, every histogram's _count, the auth failures, the store operations, the group
commits, the RSA pool and the nonce record; and nothing a tenant sent or holds (secrets, key
material, names, IDs, a hostile action name) anywhere in the scrape.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

import aliyun_support as ali
from pg_support import nodes, pg_schema, pg_url  # noqa: F401 - fixtures
from support import TESTER, create_account

HOSTILE_ACTION = "Evil" + "x" * 50

# Store operations that write (through SQLite's writer thread, so in a group commit).
WRITE_OPERATIONS = {
    "create_account", "create_first_account", "credential_for_any_key", "insert_key_pair",
    "delete_key_pair", "delete_key_pairs_by_name", "add_tags", "remove_tags",
    "set_resource_group", "record_nonce", "purge_expired_nonces", "reset_inventory",
    "check_ready", "create_access_key", "set_access_key_disabled", "delete_access_key",
    "delete_account", "set_account_quota", "record_access_key_uses", "record_audit_events",
    "purge_audit_events",
}

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict:
    """{(name, frozenset of (label, value)): float} for every sample of the scrape."""
    samples = {}
    lines = text.splitlines()
    assert lines[-1] == "# EOF", "an OpenMetrics scrape ends with # EOF"
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        key = (name, frozenset(LABEL_RE.findall(labels or "")))
        assert key not in samples, f"sample given twice: {line}"
        samples[key] = float(value)
    return samples


def series(samples: dict, name: str, drop=()) -> dict:
    """{labels as a sorted tuple (without `drop`): value} of one metric's samples."""
    return {tuple(sorted((k, v) for k, v in labels if k not in drop)): value
            for (n, labels), value in samples.items() if n == name}


def scrape(url: str) -> tuple[str, dict]:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/openmetrics-text"), r.headers
    return r.text, parse_exposition(r.text)


def ec2_error_code(reply) -> str:
    return reply.root.find("Errors/Error/Code").text


def run_workload(srv):
    """The workload the scrape is checked against; returns what must never appear in it."""
    ec2 = srv.ec2()
    created = [ec2.create_key_pair(KeyName="metrics-rsa")]  # RSA: one take from the pool
    created += [ec2.create_key_pair(KeyName=f"metrics-ed-{n}", KeyType="ed25519") for n in range(2)]
    for _ in range(2):
        ec2.describe_key_pairs()
    missing = srv.call("DeleteKeyPair", {})  # neither KeyName nor KeyPairId
    assert missing.status == 400 and ec2_error_code(missing) == "MissingParameter", missing
    forged = srv.call("DescribeKeyPairs", creds=(TESTER[0], TESTER[1], "not-the-secret"))
    assert forged.status == 403 and ec2_error_code(forged) == "SignatureDoesNotMatch", forged
    hostile = srv.call(HOSTILE_ACTION)
    assert ec2_error_code(hostile) == "InvalidAction", hostile
    put = requests.put(srv.url + "/", timeout=10)  # refused before any action is read
    assert put.status_code == 405, put.text

    ecs = [ali.v1_call(srv, "CreateKeyPair", {"KeyPairName": f"metrics-ecs-{n}"}).ok()
           for n in range(2)]
    ali.v1_call(srv, "DescribeKeyPairs").ok()
    ali.v1_call(srv, "DeleteKeyPairs", {"KeyPairNames": '["metrics-ecs-0"]'}).ok()

    never = [TESTER[1], TESTER[2], HOSTILE_ACTION, "metrics-rsa", "metrics-ed", "metrics-ecs"]
    for c in created:
        never += [c["KeyPairId"], c["KeyFingerprint"], c["ResponseMetadata"]["RequestId"]]
        never += [l for l in c["KeyMaterial"].splitlines()[1:-1] if len(l) > 16]
    for c in ecs:
        never += [c.body["KeyPairFingerPrint"], c.body["RequestId"]]
        never += [l for l in c.body["PrivateKeyBody"].splitlines()[1:-1] if len(l) > 16]
    return never


def check_workload_scrape(text: str, samples: dict, never: list, *, group_commits: bool):
    assert series(samples, "keypaird_requests_total") == {
        (("action", "CreateKeyPair"), ("code", "OK"), ("dialect", "aws")): 3,
        (("action", "DescribeKeyPairs"), ("code", "OK"), ("dialect", "aws")): 2,
        (("action", "DeleteKeyPair"), ("code", "MissingParameter"), ("dialect", "aws")): 1,
        (("action", "DescribeKeyPairs"), ("code", "SignatureDoesNotMatch"), ("dialect", "aws")): 1,
        (("action", "unknown"), ("code", "InvalidAction"), ("dialect", "aws")): 1,
        (("action", "-"), ("code", "MethodNotAllowed"), ("dialect", "aws")): 1,
        (("action", "CreateKeyPair"), ("code", "OK"), ("dialect", "aliyun")): 2,
        (("action", "DescribeKeyPairs"), ("code", "OK"), ("dialect", "aliyun")): 1,
        (("action", "DeleteKeyPairs"), ("code", "OK"), ("dialect", "aliyun")): 1,
    }
    durations = series(samples, "keypaird_request_duration_seconds_count")
    assert durations == {
        (("action", "CreateKeyPair"), ("dialect", "aws")): 3,
        (("action", "DescribeKeyPairs"), ("dialect", "aws")): 3,
        (("action", "DeleteKeyPair"), ("dialect", "aws")): 1,
        (("action", "unknown"), ("dialect", "aws")): 1,
        (("action", "-"), ("dialect", "aws")): 1,
        (("action", "CreateKeyPair"), ("dialect", "aliyun")): 2,
        (("action", "DescribeKeyPairs"), ("dialect", "aliyun")): 1,
        (("action", "DeleteKeyPairs"), ("dialect", "aliyun")): 1,
    }
    # Every request lands in the +Inf bucket of its histogram.
    inf = series(samples, "keypaird_request_duration_seconds_bucket")
    assert {k: v for k, v in inf.items() if ("le", "+Inf") in k} == {
        tuple(sorted(k + (("le", "+Inf"),))): v for k, v in durations.items()}

    # The hostile action was signed, and the PUT was refused before authentication.
    assert series(samples, "keypaird_auth_failures_total") == {
        (("dialect", "aws"), ("reason", "SignatureDoesNotMatch")): 1,
    }

    store_ops = {dict(k)["operation"]: v
                 for k, v in series(samples, "keypaird_store_operation_duration_seconds_count").items()}
    assert store_ops["insert_key_pair"] == 5  # 3 EC2 creates, 2 ECS creates
    assert store_ops["delete_key_pairs_by_name"] == 1
    assert store_ops["record_nonce"] == 4  # every verified ECS request spends its nonce
    assert store_ops["count_nonces"] == 1  # this scrape counted the record
    assert "delete_key_pair" not in store_ops  # the failing delete never reached the store
    # Recorded on their own: the failed delete and the refused signature (a change is recorded
    # in its own write, an unknown action and a refused method are not calls to record).
    assert store_ops["record_audit_events"] == 2
    assert series(samples, "keypaird_store_errors_total") == {}

    commits = samples[("keypaird_group_commit_batch_size_count", frozenset())]
    committed = samples[("keypaird_group_commit_batch_size_sum", frozenset())]
    if group_commits:
        # Every write went through one group commit or another, and nothing else did.
        writes = sum(v for op, v in store_ops.items() if op in WRITE_OPERATIONS)
        assert committed == writes, (committed, store_ops)
        assert 1 <= commits <= writes
    else:
        assert (commits, committed) == (0, 0)

    assert samples[("keypaird_nonce_records", frozenset())] == 4
    takes = series(samples, "keypaird_rsa_pool_takes_total")
    assert set(takes) == {(("result", "hit"),), (("result", "miss"),)}
    assert sum(takes.values()) == 3  # one EC2 RSA create, two ECS creates (always RSA)
    assert samples[("keypaird_rsa_pool_keys", frozenset())] >= 0

    for secret in never:
        assert secret not in text, f"{secret!r} appears in the scrape"


def test_a_scrape_counts_the_workload_exactly(srv):
    never = run_workload(srv)
    text, samples = scrape(srv.url + "/metrics")
    check_workload_scrape(text, samples, never, group_commits=True)


def test_on_postgresql_the_same_workload_counts_the_same(tmp_path, pg_url, nodes):
    create_account(pg_url, *TESTER)
    srv = nodes.start(pg_url, creds=TESTER)
    never = run_workload(srv)
    text, samples = scrape(srv.url + "/metrics")
    # PostgreSQL commits each write on its own: no group commit is observed.
    check_workload_scrape(text, samples, never, group_commits=False)


def test_a_second_scrape_sees_later_requests(srv):
    _, before = scrape(srv.url + "/metrics")
    assert series(before, "keypaird_requests_total") == {}
    srv.ec2().describe_key_pairs()
    _, after = scrape(srv.url + "/metrics")
    assert series(after, "keypaird_requests_total") == {
        (("action", "DescribeKeyPairs"), ("code", "OK"), ("dialect", "aws")): 1}


def banner_metrics_url(srv) -> str:
    m = srv.wait_stdout(r"^metrics: (http://\S+/metrics)$")
    assert m, srv.stdout()
    return m.group(1)


@pytest.mark.parametrize("given_by", ["flag", "config file"])
def test_metrics_listen_serves_metrics_on_its_own_port(given_by, tmp_path, account, keypaird):
    if given_by == "flag":
        srv = keypaird(extra=["--metrics-listen", "127.0.0.1:0"])
    else:
        config = tmp_path / "keypaird.toml"
        config.write_text('metrics_listen = "127.0.0.1:0"\n')
        srv = keypaird(extra=["--config", config])
    url = banner_metrics_url(srv)
    assert not url.startswith(srv.url + "/"), url
    srv.ec2().describe_key_pairs()
    main = requests.get(srv.url + "/metrics", timeout=10)
    assert main.status_code == 404, main.text
    assert "keypaird_" not in main.text
    _, samples = scrape(url)
    assert series(samples, "keypaird_requests_total") == {
        (("action", "DescribeKeyPairs"), ("code", "OK"), ("dialect", "aws")): 1}
    # The metrics port serves nothing else.
    assert requests.get(url.replace("/metrics", "/healthz"), timeout=10).status_code == 404


def test_by_default_metrics_are_on_the_api_port(srv):
    assert banner_metrics_url(srv) == srv.url + "/metrics"


def request_lines(srv, want: int) -> list[dict]:
    """The JSON request lines of the log, once `want` of them are there."""
    def parsed(text):
        out = []
        for line in text.splitlines():
            obj = json.loads(line)  # every line is one JSON object
            if obj.get("message") == "request":
                out.append(obj)
        return out
    srv.wait_stderr(lambda text: len(parsed(text)) >= want)
    return parsed(srv.stderr())


def check_json_line(line: dict, *, request_id: str, dialect: str, action: str, status: int,
                    error: str, access_key_id: str = TESTER[1]):
    assert line["request_id"] == request_id, line
    assert line["access_key_id"] == access_key_id, line
    host, port = line["source"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0, line
    assert line["dialect"] == dialect, line
    assert line["action"] == action, line
    assert line["status"] == status, line
    assert line["error"] == error, line
    assert isinstance(line["latency_ms"], (int, float)) and 0 <= line["latency_ms"] < 60_000, line
    assert line["level"] == "INFO" and line["timestamp"], line


def test_json_request_lines_carry_every_field(tmp_path, account, keypaird):
    config = tmp_path / "keypaird.toml"
    config.write_text('log_format = "json"\n')
    srv = keypaird(extra=["--config", config])
    created = srv.call("CreateKeyPair", {"KeyName": "logged", "KeyType": "ed25519"})
    assert created.status == 200, created
    aws_id = created.txt("requestId")
    forged = srv.call("DescribeKeyPairs", creds=(TESTER[0], TESTER[1], "not-the-secret"))
    forged_id = forged.root.find("RequestID").text
    ecs = ali.v1_call(srv, "DescribeKeyPairs").ok()
    ecs_id = ecs.body["RequestId"]

    lines = {line["request_id"]: line for line in request_lines(srv, 3)}
    check_json_line(lines[aws_id], request_id=aws_id, dialect="aws", action="CreateKeyPair",
                    status=200, error="-")
    assert lines[aws_id]["region"] == "us-east-1"
    check_json_line(lines[forged_id], request_id=forged_id, dialect="aws",
                    action="DescribeKeyPairs", status=403, error="SignatureDoesNotMatch")
    check_json_line(lines[ecs_id], request_id=ecs_id, dialect="aliyun", action="DescribeKeyPairs",
                    status=200, error="-")
    assert lines[ecs_id]["region"] == ali.REGION
    assert TESTER[2] not in srv.stderr()


def test_text_request_lines_carry_the_same_fields(srv):
    created = srv.call("CreateKeyPair", {"KeyName": "logged", "KeyType": "ed25519"})
    request_id = created.txt("requestId")
    text = srv.wait_stderr(lambda t: request_id in t)
    line = next(l for l in text.splitlines() if request_id in l)
    for field in (f'request_id="{request_id}"', f'access_key_id="{TESTER[1]}"', 'dialect="aws"',
                  'action="CreateKeyPair"', "status=200", 'error="-"'):
        assert field in line, (field, line)
    assert re.search(r"source=127\.0\.0\.1:\d+", line), line
    assert re.search(r"latency_ms=\d+(\.\d+)?", line), line
    assert TESTER[2] not in text
