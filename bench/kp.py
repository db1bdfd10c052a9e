"""Python side of bench/run.sh: signs the requests that wrk replays, checks them, turns the
results of wrk and of keypaird-load (bench/scale, the load generator every writing row is measured
with) into the table.

Every EC2 request sent from here is signed with botocore's SigV4 signer (the code boto3 uses) and
fixed credentials, so keypaird in its default mode checks them exactly as in production. moto checks
no signature; it gets the same signed requests. ECS requests (Alibaba Cloud, moto has none) are
built here as aliyun-python-sdk-core sends them: RPC v1, every parameter in the query string of a
GET, signed with HMAC-SHA1 and the same fixed credentials.

Subcommands (all print JSON or plain text on stdout; any unexpected reply raises and exits non-zero):
  sign URL OUT [KeyName]           write a pre-signed DescribeKeyPairs request for bench/replay.lua
  sign-ecs URL OUT KeyPairName     write a v1-signed ECS DescribeKeyPairs request for replay.lua
  check URL SPEC EXPECTED          send a spec once; fail unless 200 with EXPECTED key pairs
                                   (EC2 XML, or ECS JSON with TotalCount EXPECTED too)
  ecs-replay URL                   send one signed ECS request twice to a server verifying
                                   signatures; fail unless 200, then 400 SignatureNonceUsed
  stored URL RESULT                fail unless a write run's key pairs are all stored, and no more
  wrkresult NAME OUT [TICKS [DB]]  check wrk's output (stdin) and save its result line to OUT
  loadresult NAME IN OUT           check keypaird-load's JSON (IN) and save it in wrk's shape to OUT
  merge OUT RESULT...              combine the rounds of an alternating workload
  report RESULTS_DIR OUT_MD        print the table and write it to OUT_MD
"""

import base64
import hashlib
import hmac
import json
import os
import re
import statistics
import sys
import time
import urllib.parse
import uuid

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "benchkey"
SECRET_KEY = "benchsecret"
REGION = "us-east-1"
VERSION = "2016-11-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def signed(url, params, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Returns (headers, body) of a SigV4-signed EC2 query request, as boto3 sends it."""
    body = urllib.parse.urlencode({**params, "Version": VERSION})
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(access_key, secret_key), "ec2", REGION).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urllib.parse.urlsplit(url).netloc
    return headers, body


def call(session, url, params, expect=200, access_key=ACCESS_KEY):
    headers, body = signed(url, params, access_key=access_key)
    reply = session.post(url + "/", data=body, headers=headers, timeout=60)
    if reply.status_code != expect:
        raise SystemExit(
            f"{url}: {params.get('Action')} answered {reply.status_code}: {reply.text[:500]}"
        )
    return reply


# --- ECS (Alibaba Cloud RPC, signature v1) --------------------------------------------------

ECS_VERSION = "2014-05-26"
ECS_REGION = "cn-hangzhou"


def acs_encode(text):
    """RFC 3986 percent-encoding, as the v1 signature wants it: only A-Za-z0-9-_.~ stay."""
    return urllib.parse.quote(text, safe="-_.~")


def ecs_request(url, params):
    """Returns (method, path, headers, body) of a v1-signed ECS request, as aliyun-python-sdk-core
    sends it: all parameters in the query string of a GET, JSON replies, a fresh nonce. The
    signature is a real HMAC-SHA1 over the sorted parameters with the fixed secret (a server
    with --any-credentials does not check it; one verifying signatures does)."""
    signed = {
        **params,
        "Version": ECS_VERSION,
        "Format": "JSON",
        "RegionId": ECS_REGION,
        "AccessKeyId": ACCESS_KEY,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    canonical = "&".join(
        f"{acs_encode(name)}={acs_encode(value)}" for name, value in sorted(signed.items())
    )
    string_to_sign = "GET&%2F&" + acs_encode(canonical)
    digest = hmac.new((SECRET_KEY + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    signed["Signature"] = base64.b64encode(digest).decode()
    query = "&".join(f"{acs_encode(name)}={acs_encode(value)}" for name, value in signed.items())
    return "GET", "/?" + query, {"Host": urllib.parse.urlsplit(url).netloc}, ""


def write_spec(out, method, path, headers, body):
    with open(out, "w", newline="") as f:
        f.write(f"{method}\n{path}\n")
        for name, value in headers.items():
            f.write(f"{name}: {value}\n")
        f.write("\n")
        f.write(body)


def sign_ecs_spec(url, out, key_pair_name):
    """Writes one ECS DescribeKeyPairs of KEY_PAIR_NAME for bench/replay.lua. Replaying it works
    only against --any-credentials: a server verifying signatures spends the nonce on the first
    request and refuses every replay with SignatureNonceUsed (see `ecs-replay`)."""
    write_spec(out, *ecs_request(url, {"Action": "DescribeKeyPairs", "KeyPairName": key_pair_name}))


def ecs_replay(url):
    """One signed ECS request sent twice to a server verifying signatures: the first must be
    answered, the replay refused. Also checks this module's v1 signer against keypaird's."""
    method, path, headers, body = ecs_request(url, {"Action": "DescribeKeyPairs"})
    replies = [
        requests.request(method, url + path, headers=headers, data=body, timeout=60)
        for _ in range(2)
    ]
    first, replay = replies
    if first.status_code != 200 or replay.status_code != 400 or (
        '"SignatureNonceUsed"' not in replay.text
    ):
        raise SystemExit(
            f"{url}: a signed ECS request answered {first.status_code} ({first.text[:200]}), "
            f"its replay {replay.status_code} ({replay.text[:300]}); expected 200, then 400 "
            "SignatureNonceUsed"
        )
    print(json.dumps({"first": first.status_code, "replay": replay.status_code,
                      "code": "SignatureNonceUsed"}))


# --- requests replayed by wrk ---------------------------------------------------------------


def sign_spec(url, out, key_name=None):
    """Writes the request for bench/replay.lua: method, path, headers, a blank line, the body."""
    params = {"Action": "DescribeKeyPairs"}
    if key_name:
        params["KeyName.1"] = key_name
    headers, body = signed(url, params)
    write_spec(out, "POST", "/", headers, body)


def read_spec(path):
    with open(path, newline="") as f:
        text = f.read()
    head, body = text.split("\n\n", 1)
    lines = head.split("\n")
    headers = dict(line.split(": ", 1) for line in lines[2:])
    return lines[0], lines[1], headers, body


def check(url, spec, expected):
    method, path, headers, body = read_spec(spec)
    reply = requests.request(method, url + path, headers=headers, data=body, timeout=60)
    if reply.text.lstrip().startswith("{"):  # ECS, Format=JSON (errors are JSON too)
        try:
            doc = reply.json()
            found = len(doc["KeyPairs"]["KeyPair"])
            total = doc["TotalCount"]
        except (ValueError, KeyError, TypeError):
            found = total = None
    else:  # EC2 XML
        found = total = reply.text.count("<keyName>")
    if reply.status_code != 200 or found != int(expected) or total != int(expected):
        raise SystemExit(
            f"{url}: replayed request answered {reply.status_code} with {found} key pairs "
            f"(total {total}; expected 200 and {expected}): {reply.text[:500]}"
        )
    print(json.dumps({"status": 200, "key_pairs": found, "reply_bytes": len(reply.content)}))


def stored(url, result_path):
    """After a write run of keypaird-load: the key pairs stored under the run's names (its
    "names" prefix, in the one account) must be exactly the ones it counted as answered. The
    generator waits for every request it sent, so none is in flight when the run ends."""
    with open(result_path) as f:
        result = json.load(f)
    answered, prefix = result["ok"], result["names"]
    reply = call(requests.Session(), url, {
        "Action": "DescribeKeyPairs", "Filter.1.Name": "key-name",
        "Filter.1.Value.1": prefix + "*"})
    names = {
        name for name in re.findall(r"<keyName>([^<]*)</keyName>", reply.text)
        if name.startswith(prefix)
    }
    if len(names) != answered:
        raise SystemExit(
            f"{url}: {len(names)} key pairs {prefix}* stored, but keypaird-load counted "
            f"{answered} answered"
        )
    print(json.dumps({"answered": answered, "stored": len(names)}))


# --- wrk results ----------------------------------------------------------------------------


def wrk_result(name, out, cpu_ticks=None, db_ticks=None):
    """Reads wrk's output on stdin, saves its WRK_RESULT line (see lib.lua) to OUT, with the
    server's CPU time per request when CPU_TICKS (used by the server during the run) is given,
    and the database's (every PostgreSQL process on the machine) when DB_TICKS is.
    A run with a reply outside 2xx, or with more than 1% socket errors and timeouts, is saved
    as invalid and exits non-zero."""
    text = sys.stdin.read()
    lines = [line for line in text.splitlines() if line.startswith("WRK_RESULT ")]
    if not lines:
        result, problems = {}, ["wrk printed no result: " + text.strip()[-300:]]
    else:
        result = json.loads(lines[-1][len("WRK_RESULT "):])
        problems = []
        bad = max(result["non2xx"], result["status_errors"])
        if bad:
            problems.append(f"{bad} non-2xx replies, the first: {result['first_bad'][:200]!r}")
        if not result["requests"]:
            problems.append("no request completed")
        elif result["socket_errors"] + result["timeouts"] > 0.01 * result["requests"]:
            problems.append(
                f"{result['socket_errors']} socket errors, {result['timeouts']} timeouts"
            )
        if cpu_ticks is not None:
            result["cpu_us"] = int(cpu_ticks) * 1e6 / os.sysconf("SC_CLK_TCK")
            if result["requests"]:
                result["cpu_us_per_req"] = result["cpu_us"] / result["requests"]
        if db_ticks is not None:
            result["db_cpu_us"] = int(db_ticks) * 1e6 / os.sysconf("SC_CLK_TCK")
            if result["requests"]:
                result["db_cpu_us_per_req"] = result["db_cpu_us"] / result["requests"]
    save_result(name, out, result, problems)


def save_result(name, out, result, problems):
    """Saves a result to OUT, marked invalid (and exiting non-zero) when there are problems;
    else prints its summary line."""
    if problems:
        result["invalid"] = "; ".join(problems)
    with open(out, "w") as f:
        json.dump(result, f)
    if problems:
        print(f"\nbench: INVALID {name}: {result['invalid']}\n", file=sys.stderr)
        raise SystemExit(1)
    print_result(name, result)


def print_result(name, result):
    cpu = result.get("cpu_us_per_req")
    print(
        f"    {name:<26} {fmt_rps(result['rps']):>10} req/s   p50 {ms(result['p50_us']):>8} ms"
        f"   p99 {ms(result['p99_us']):>8} ms   server CPU/req {'-' if cpu is None else us(cpu)}"
        + (f" + PostgreSQL {us(result['db_cpu_us_per_req'])}"
           if "db_cpu_us_per_req" in result else "")
        + f"   ({result['requests']:,} requests)",
        file=sys.stderr,
    )


def load_result(name, load_json, out):
    """Reads keypaird-load's JSON (`run --json`) and saves it to OUT in the shape of a wrk result
    (rps, p50_us, …, cpu_us_per_req), with how it was measured. A run with any reply that was not
    a valid 2xx (counted by error code), or with no request at all, is saved as invalid and exits
    non-zero."""
    try:
        with open(load_json) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        r, problems = None, [f"keypaird-load wrote no result ({e}); see its output above"]
    result = {}
    if r is not None:
        us_ = lambda v: v * 1000  # noqa: E731
        result = {
            "measured_by": "keypaird-load",
            "scenario": r["scenario"],
            "signature": r["signature"],
            "peer": r["peer"],
            "connections": r["connections"],
            "requests": r["requests"],
            "ok": r["ok"],
            "names": r["names"],
            "duration_us": r["elapsed_s"] * 1e6,
            "rps": r["rate"],
            "p50_us": us_(r["p50_ms"]),
            "p90_us": us_(r["p90_ms"]),
            "p99_us": us_(r["p99_ms"]),
            "max_us": us_(r["max_ms"]),
            "errors": r["errors"],
            "setup": r["setup"],
        }
        if r["server_cpu_us_per_req"] is not None:
            result["cpu_us_per_req"] = r["server_cpu_us_per_req"]
        if r["db_cpu_us_per_req"] is not None:
            result["db_cpu_us_per_req"] = r["db_cpu_us_per_req"]
        problems = []
        if not r["requests"]:
            problems.append("no request completed")
        elif r["ok"] != r["requests"]:
            parts = [f"{code} ×{n}" for code, n in sorted(r["errors"].items())]
            if r["bad_replies"]:
                parts.append(f"2xx failing the check ×{r['bad_replies']}")
            if r["no_reply"]:
                parts.append(f"no reply ×{r['no_reply']}")
            problems.append(f"{r['requests'] - r['ok']} failed replies ({', '.join(parts)}), "
                            f"the first: {(r['first_problem'] or '')[:200]!r}")
    save_result(name, out, result, problems)


def merge(out, *paths):
    """Combines the rounds of one alternating workload: totals for requests, time and CPU;
    the median round for the latency percentiles."""
    rounds = [json.load(open(p)) for p in paths]
    bad = [r["invalid"] for r in rounds if "invalid" in r]
    if bad:
        raise SystemExit(f"invalid rounds: {bad}")
    requests_ = sum(r["requests"] for r in rounds)
    duration = sum(r["duration_us"] for r in rounds)
    cpu = sum(r["cpu_us"] for r in rounds)
    merged = {
        "rounds": len(rounds),
        "requests": requests_,
        "duration_us": duration,
        "rps": requests_ / (duration / 1e6),
        "p50_us": statistics.median(r["p50_us"] for r in rounds),
        "p99_us": statistics.median(r["p99_us"] for r in rounds),
        "cpu_us": cpu,
        "cpu_us_per_req": cpu / requests_,
        "rps_rounds": [round(r["rps"]) for r in rounds],
    }
    json.dump(merged, open(out, "w"))


# --- the report -----------------------------------------------------------------------------


def fmt_rps(v):
    return f"{v:,.0f}" if v >= 10 else f"{v:.1f}"


def ms(v_us):
    v = v_us / 1000
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def us(v):
    return f"{v / 1000:,.1f} ms" if v >= 10_000 else f"{v:,.0f} µs"


def load(results, name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def usable(result):
    return result if result and "invalid" not in result else None


def ratio(a, b):
    if not a or not b:
        return "n/a"
    r = a / b
    return f"**{r:.1f}×**" if r < 100 else f"**{r:,.0f}×**"


def wrk_cells(result):
    if result is None:
        return ["failed", "", "", ""]
    if "invalid" in result:
        return ["invalid: " + result["invalid"][:80], "", "", ""]
    cpu = result.get("cpu_us_per_req")
    return [
        fmt_rps(result["rps"]),
        ms(result["p50_us"]),
        ms(result["p99_us"]),
        "" if cpu is None else us(cpu),
    ]


# How each row was measured, as its "How" cell says it.
HOW_HTTP = "wrk; no signature"
HOW_REPLAY = "wrk replays 1 request signed by botocore (SigV4); verified"
HOW_LOAD = "keypaird-load: SigV4 (aws-sigv4) per request; verified; 1 account"
HOW_ANY = "wrk replays 1 ACS v1 request; `--any-credentials`: not verified"
HOW_ECS_V1 = "keypaird-load: ACS v1 per request, new nonce each; verified; 1 account"
HOW_ECS_V3 = "keypaird-load: ACS V3 per request, new nonce each; verified; 1 account"


def total_cpu(r):
    if r is None or r.get("cpu_us_per_req") is None:
        return None
    return r["cpu_us_per_req"] + (r.get("db_cpu_us_per_req") or 0)


def new_parts_tables(results, meta):
    """Rows 7-9 and 12-13: keypaird on PostgreSQL and the ECS dialect, each against moto's
    numbers of the same run (rows 1 and 3), then against keypaird's own rows on SQLite / EC2."""
    rows = [
        ("7", "DescribeKeyPairs, one key by name (1,000 in the account), on PostgreSQL",
         HOW_REPLAY, "describe_one_pg", "describe_one", "row 1"),
        ("8", "ImportKeyPair ed25519, unique names, on PostgreSQL",
         HOW_LOAD, "import_pg", "import", "row 3"),
        ("9", "ECS DescribeKeyPairs, one key by name (1,000 in the account), SQLite ‡",
         HOW_ANY, "ecs_describe_one", "describe_one", "row 1, **moto, EC2 equivalent**"),
        ("12", "ECS DescribeKeyPairs, one key by name (1,000 in the account), SQLite, verified",
         HOW_ECS_V1, "ecs_describe_v1", "describe_one", "row 1, **moto, EC2 equivalent**"),
        ("13", "the same, signed with ACS V3",
         HOW_ECS_V3, "ecs_describe_v3", "describe_one", "row 1, **moto, EC2 equivalent**"),
    ]
    pg = meta.get("postgres") or []
    lines = [
        "",
        "Rows 7–9, 12 and 13, measured after rows 0–6, 10 and 11 with the same settings: keypaird on "
        + (f"PostgreSQL {pg[0].split()[0]} on the same machine (TCP to 127.0.0.1, "
           f"synchronous_commit {pg[1]}, keypaird's default pool of 16 connections, a fresh "
           "schema, analysed after seeding)"
           if len(pg) >= 2 else "PostgreSQL (not reached)")
        + ", and keypaird's ECS dialect.",
        "",
        "| # | Workload | How (keypaird) | keypaird req/s | p50 ms | p99 ms | CPU/req "
        "| PostgreSQL CPU/req | moto peer (same run) | moto req/s | p50 ms | p99 ms | CPU/req "
        "| req/s ratio | CPU/req ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for number, title, how, key, peer, peer_label in rows:
        k = load(results, f"{key}_keypaird")
        m = load(results, f"{peer}_moto")
        uk, um = usable(k), usable(m)
        db = uk and uk.get("db_cpu_us_per_req")
        lines.append(
            f"| {number} | {title} | {how} | " + " | ".join(wrk_cells(k))
            + f" | {'—' if db is None else us(db)} | {peer_label} | "
            + " | ".join(wrk_cells(m))
            + f" | {ratio(uk and uk['rps'], um and um['rps'])}"
            + f" | {ratio(um and um.get('cpu_us_per_req'), total_cpu(uk))} |"
        )

    baselines = [
        ("7", "PostgreSQL", "describe_one_pg_keypaird", "row 1: the same on SQLite",
         "describe_one_keypaird"),
        ("8", "PostgreSQL", "import_pg_keypaird", "row 3: the same on SQLite", "import_keypaird"),
        ("9", "ECS", "ecs_describe_one_keypaird",
         "row 6, `--any-credentials`: EC2 DescribeKeyPairs of one key, SQLite", "sig_any"),
        ("12", "ECS, verified (v1)", "ecs_describe_v1_keypaird",
         "row 9: the same read replayed, `--any-credentials` (no signature, no nonce)",
         "ecs_describe_one_keypaird"),
        ("13", "ECS, verified (V3)", "ecs_describe_v3_keypaird", "row 12: signed with ACS v1",
         "ecs_describe_v1_keypaird"),
    ]
    lines += [
        "",
        "| # | keypaird against itself (same run) | req/s | CPU/req (+ PostgreSQL) | baseline "
        "| req/s | CPU/req | req/s vs baseline | CPU/req vs baseline |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for number, what, key, label, base_key in baselines:
        r, b = usable(load(results, key)), usable(load(results, base_key))
        if not r or not b:
            lines.append(f"| {number} | {what} | failed | | {label} | | | n/a | n/a |")
            continue
        this_cpu, base_cpu = total_cpu(r), total_cpu(b)
        cpu_ratio = f"{this_cpu / base_cpu:.2f}" if this_cpu and base_cpu else "n/a"
        lines.append(
            f"| {number} | {what} | {fmt_rps(r['rps'])} "
            f"| {'—' if this_cpu is None else us(this_cpu)} | {label} | {fmt_rps(b['rps'])} "
            f"| {'—' if base_cpu is None else us(base_cpu)} "
            f"| {r['rps'] / b['rps']:.2f} | {cpu_ratio} |"
        )
    return lines


def report(results, out_md):
    meta = load(results, "meta")
    lines = [
        f"Run {meta['date']} on {meta['cpus']} × {meta['cpu_model']}; keypaird {meta['commit']}, "
        f"moto {meta['moto']}; wrk `{meta['wrk_args']}` and keypaird-load with "
        f"{meta['connections']} connections for {meta['duration']} s unless said otherwise; "
        f"load average {' '.join(meta['load'])} just before the servers started (the machine is "
        "shared).",
        "",
        "| # | Workload | How (keypaird; moto gets the same requests) | keypaird req/s | p50 ms "
        "| p99 ms | CPU/req | moto req/s | p50 ms | p99 ms | CPU/req | req/s ratio "
        "| CPU/req ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    h = load(results, "healthz_keypaird")
    if h:
        lines.append(
            "| 0 | reference: GET /healthz, keypaird only (HTTP, no signature, store or XML) | "
            f"{HOW_HTTP} | " + " | ".join(wrk_cells(h)) + " | — | — | — | — | — | — |"
        )
    workloads = [
        ("1", "DescribeKeyPairs, one key by name (1,000 in the account)", HOW_REPLAY,
         "describe_one"),
        ("2", "DescribeKeyPairs, all 1,000 key pairs (2 connections, 2 s longer)", HOW_REPLAY,
         "describe_all"),
        ("3", "ImportKeyPair ed25519, unique names", HOW_LOAD, "import"),
        ("4", "CreateKeyPair ed25519, unique names", HOW_LOAD, "create_ed25519"),
        ("10", "DeleteKeyPair of key pairs created just before (untimed, as many as row 4's "
         "creates in the same time)", HOW_LOAD, "delete"),
        ("11", "Mixed: 70% DescribeKeyPairs of one seed key by name, 10% of 10 by key-name "
         "wildcard, 10% CreateKeyPair ed25519, 10% DeleteKeyPair", HOW_LOAD, "mixed"),
    ]
    for number, title, how, key in workloads:
        k = load(results, f"{key}_keypaird")
        m = load(results, f"{key}_moto")
        uk, um = usable(k), usable(m)
        lines.append(
            f"| {number} | {title} | {how} | "
            + " | ".join(wrk_cells(k) + wrk_cells(m))
            + f" | {ratio(uk and uk['rps'], um and um['rps'])}"
            + f" | {ratio(um and um.get('cpu_us_per_req'), uk and uk.get('cpu_us_per_req'))} |"
        )

    lines += new_parts_tables(results, meta)

    runs = {(kind, server): load(results, f"rsa_{kind}_{server}")
            for kind in ("seq", "burst", "sus") for server in ("keypaird", "nopool", "moto")}
    sustained = usable(runs[("sus", "keypaird")]) or {}
    lines += [
        "",
        "| # | CreateKeyPair RSA-2048 (" + HOW_LOAD + ") | keypaird, warm pool (32) "
        "| keypaird, no pool | moto | ratio (warm pool / moto) |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def rsa_row(title, kind, field, higher_is_better=False):
        cells = []
        for server in ("keypaird", "nopool", "moto"):
            r = runs[(kind, server)]
            if r is None or "invalid" in r:
                cells.append(None if r is None else "invalid")
            else:
                cells.append(r[field])
        shown = ["failed" if v is None else v if isinstance(v, str)
                 else fmt_rps(v) + " /s" if field == "rps" else ms(v) + " ms" for v in cells]
        numbers = [v if isinstance(v, (int, float)) else None for v in cells]
        r = (ratio(numbers[0], numbers[2]) if higher_is_better
             else ratio(numbers[2], numbers[0]))
        return f"| 5 | {title} | {shown[0]} | {shown[1]} | {shown[2]} | {r} |"

    clients = sustained.get("connections", 4)
    lines += [
        rsa_row("20 sequential creates, one client: median", "seq", "p50_us"),
        rsa_row("20 sequential creates, one client: p90", "seq", "p90_us"),
        rsa_row("32 creates (the pool's size) from 4 clients: latency median", "burst", "p50_us"),
        rsa_row("32 creates (the pool's size) from 4 clients: latency p90", "burst", "p90_us"),
        rsa_row(f"{clients} clients for {meta['duration']} s: creates/s", "sus", "rps", True),
        rsa_row(f"{clients} clients for {meta['duration']} s: latency median", "sus", "p50_us"),
        rsa_row(f"{clients} clients for {meta['duration']} s: latency p90", "sus", "p90_us"),
        rsa_row(f"{clients} clients for {meta['duration']} s: latency p99", "sus", "p99_us"),
        rsa_row(f"{clients} clients for {meta['duration']} s: latency max", "sus", "max_us"),
    ]

    raw = load(results, "rsa_raw")
    nopool = usable(runs[("sus", "nopool")])
    if raw and "rate" in raw and nopool:
        lines += [
            f"| 5 | raw RSA-2048 generation, {raw['threads']} threads, no server "
            f"(`keypaird-load rsa-raw`, same run) | — | {fmt_rps(raw['rate'])} /s | — "
            f"| no pool / raw: **{nopool['rps'] / raw['rate']:.2f}** |",
        ]

    v, a = usable(load(results, "sig_verify")), usable(load(results, "sig_any"))
    lines += [
        "",
        "| # | keypaird DescribeKeyPairs, one key (3 alternating rounds; " + HOW_REPLAY
        + ", or not with `--any-credentials`) | signatures verified | --any-credentials "
        "| verified / unverified |",
        "|---|---|---:|---:|---:|",
    ]
    if v and a:
        lines += [
            f"| 6 | req/s (rounds: {', '.join(map(str, v['rps_rounds']))} vs "
            f"{', '.join(map(str, a['rps_rounds']))}) | {fmt_rps(v['rps'])} "
            f"| {fmt_rps(a['rps'])} | {v['rps'] / a['rps']:.2f} |",
            f"| 6 | p50 ms (median round) | {ms(v['p50_us'])} | {ms(a['p50_us'])} "
            f"| {v['p50_us'] / a['p50_us']:.2f} |",
            f"| 6 | p99 ms (median round) | {ms(v['p99_us'])} | {ms(a['p99_us'])} "
            f"| {v['p99_us'] / a['p99_us']:.2f} |",
            f"| 6 | server CPU per request | {us(v['cpu_us_per_req'])} "
            f"| {us(a['cpu_us_per_req'])} | {v['cpu_us_per_req'] / a['cpu_us_per_req']:.2f} |",
        ]
    else:
        lines.append("| 6 | SigV4 cost | failed | failed | n/a |")

    lines += [
        "",
        "Ratios are keypaird over moto for req/s and creates/s, and moto over keypaird for "
        "latencies and CPU per request: above 1 means keypaird is better. CPU/req is the "
        "server process's user + system CPU time during the measured run divided by the "
        "requests counted.",
        "How: *wrk replays* one request signed ahead of time (a SigV4 signature is valid for 15 "
        "minutes) and keypaird verifies it. *keypaird-load* (bench/scale, `keypaird-load run`) "
        "opens its keep-alive connections before the clock starts, signs every request afresh "
        "(EC2 with SigV4 by the `aws-sigv4` crate; ECS with ACS v1 or V3 and a new nonce, which "
        "keypaird records in the store: a durable write per request), checks every reply (HTTP "
        "200 and the expected element: keyFingerprint, the keyName count, the ECS JSON), and "
        "writes into one account created with a quota of 1,000,000 key pairs; any reply that "
        "is not a valid 2xx is counted by error code and makes its row invalid. Every row "
        "writing key pairs is measured by keypaird-load, and the key pairs rows 3, 4 and 8 "
        "stored are counted afterwards. moto gets the same signed requests and checks no "
        "signature.",
        "Row 10 deletes the key pairs an untimed create run of the same length made just "
        "before, and ends early when they are gone. Row 11 takes its requests in a fixed "
        "order, one counter across the connections (7 reads by name, 1 wildcard read, 1 "
        "create, 1 delete of a key pair created earlier), over the 1,000 seed key pairs.",
    ]
    lines.append(
        "‡ ECS replays one v1-signed request, so keypaird runs with `--any-credentials` (no "
        "signature, clock or nonce check); verifying, it refuses every replay with "
        "SignatureNonceUsed. Rows 12 and 13 are the same read signed afresh and verified. moto "
        "has no ECS: its peer is its EC2 DescribeKeyPairs of one key (row 1), the same work."
    )
    lines.append(
        "Rows 7–9, 12 and 13 were measured after the others; their moto columns repeat moto's "
        "rows 1 and 3 of this run (moto was not measured again). PostgreSQL CPU/req is the CPU "
        "time of every `postgres` process on the machine during the run divided by the "
        "requests; the CPU/req ratio of rows 7 and 8 is moto over keypaird plus PostgreSQL."
    )
    for key in ("describe_one", "describe_all", "describe_one_pg", "ecs_describe_one"):
        for server in ("keypaird", "moto"):
            r = usable(load(results, f"{key}_{server}"))
            if r and (r.get("socket_errors") or r.get("timeouts")):
                lines.append(
                    f"- {key} on {server}: {r['socket_errors']} socket errors and "
                    f"{r['timeouts']} timeouts reported by wrk (every reply that came was 2xx)."
                )

    text = "\n".join(lines)
    print(text)
    with open(out_md, "w") as f:
        f.write("# Latest benchmark run\n\nWritten by `bench/run.sh`; see BENCHMARKS.md.\n\n")
        f.write(text + "\n")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "sign":
        sign_spec(args[0], args[1], args[2] if len(args) > 2 else None)
    elif command == "sign-ecs":
        sign_ecs_spec(*args)
    elif command == "ecs-replay":
        ecs_replay(*args)
    elif command == "check":
        check(*args)
    elif command == "stored":
        stored(*args)
    elif command == "wrkresult":
        wrk_result(*args)
    elif command == "loadresult":
        load_result(*args)
    elif command == "merge":
        merge(*args)
    elif command == "report":
        report(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
