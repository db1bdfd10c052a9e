"""Python side of bench/run.sh: seeds both servers, signs the requests that wrk replays, runs the
RSA latency workloads, and turns the collected results into the table.

Every EC2 request sent from here is signed with botocore's SigV4 signer (the code boto3 uses) and
fixed credentials, so keypaird in its default mode checks them exactly as in production. moto checks
no signature; it gets the same signed requests. ECS requests (Alibaba Cloud, moto has none) are
built here as aliyun-python-sdk-core sends them: RPC v1, every parameter in the query string of a
GET, signed with HMAC-SHA1 and the same fixed credentials.

Subcommands (all print JSON or plain text on stdout; any unexpected reply raises and exits non-zero):
  seed URL N                       create N ed25519 key pairs seed-0000.. (tag team=bench)
  sign URL OUT [KeyName]           write a pre-signed DescribeKeyPairs request for bench/replay.lua
  seed-ecs URL N                   import N ed25519 key pairs seed-0000.. through ECS (cn-hangzhou)
  sign-ecs URL OUT KeyPairName     write a v1-signed ECS DescribeKeyPairs request for replay.lua
  check URL SPEC EXPECTED          send a spec once; fail unless 200 with EXPECTED key pairs
                                   (EC2 XML, or ECS JSON with TotalCount EXPECTED too)
  ecs-replay URL                   send one signed ECS request twice to a server verifying
                                   signatures; fail unless 200, then 400 SignatureNonceUsed
  stored URL TAG SHORT RESULT C    fail unless a write run's key pairs were all stored
  rsa URL TAG SEQ N CONC           SEQ sequential RSA creates, then N creates from CONC clients
  wrkresult NAME OUT [TICKS [DB]]  check wrk's output (stdin) and save its result line to OUT
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
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

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


def ecs_call(session, url, params, expect=200):
    method, path, headers, body = ecs_request(url, params)
    reply = session.request(method, url + path, headers=headers, data=body, timeout=60)
    if reply.status_code != expect:
        raise SystemExit(
            f"{url}: ECS {params.get('Action')} answered {reply.status_code}: {reply.text[:500]}"
        )
    return reply


def seed_ecs(url, count):
    """ImportKeyPair of COUNT new ed25519 keys through the ECS dialect, one tag each (the EC2
    seed creates its keys; ECS CreateKeyPair makes RSA only, so these are imported)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def one(i):
        public = Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        ecs_call(
            local_session(),
            url,
            {
                "Action": "ImportKeyPair",
                "KeyPairName": f"seed-{i:04d}",
                "PublicKeyBody": f"{public} seed-{i:04d}",
                "Tag.1.Key": "team",
                "Tag.1.Value": "bench",
            },
        )

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))
    print(json.dumps({"seeded": count, "seconds": round(time.monotonic() - started, 2)}))


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


# --- seeding -------------------------------------------------------------------------------


def seed(url, count):
    def one(i):
        session = local_session()
        call(
            session,
            url,
            {
                "Action": "CreateKeyPair",
                "KeyName": f"seed-{i:04d}",
                "KeyType": "ed25519",
                "TagSpecification.1.ResourceType": "key-pair",
                "TagSpecification.1.Tag.1.Key": "team",
                "TagSpecification.1.Tag.1.Value": "bench",
            },
        )

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))
    print(json.dumps({"seeded": count, "seconds": round(time.monotonic() - started, 2)}))


_local = threading.local()


def local_session():
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


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


def stored(url, tag, short, result_path, connections):
    """After a write run: the key pairs the server stored must be the ones wrk counted as
    answered, plus at most one in flight per connection when the run stopped. The names are
    looked up in every account write.lua used (one per 4,000 requests, thread 1)."""
    with open(result_path) as f:
        answered = json.load(f)["requests"]
    in_flight = int(connections)
    prefix = f"w-{tag}-{short}-"
    names = set()
    session = requests.Session()
    for n in range((answered + in_flight) // 4000 + 1):
        reply = call(
            session,
            url,
            {"Action": "DescribeKeyPairs", "Filter.1.Name": "key-name",
             "Filter.1.Value.1": prefix + "*"},
            access_key=f"BW{tag}{short}T1A{n}",
        )
        names.update(
            name for name in re.findall(r"<keyName>([^<]*)</keyName>", reply.text)
            if name.startswith(prefix)
        )
    if not answered <= len(names) <= answered + in_flight:
        raise SystemExit(
            f"{url}: {len(names)} key pairs {prefix}* stored, but wrk counted {answered} "
            f"answered (with {in_flight} connections)"
        )
    print(json.dumps({"answered": answered, "stored": len(names)}))


# --- RSA creates ----------------------------------------------------------------------------


def rsa_create(session, url, name):
    headers, body = signed(url, {"Action": "CreateKeyPair", "KeyName": name})
    started = time.perf_counter()
    reply = session.post(url + "/", data=body, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    if reply.status_code != 200 or "BEGIN RSA PRIVATE KEY" not in reply.text:
        raise SystemExit(f"{url}: RSA create answered {reply.status_code}: {reply.text[:500]}")
    return elapsed, time.perf_counter()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def rsa(url, tag, sequential, sustained, concurrency):
    session = requests.Session()
    seq = [rsa_create(session, url, f"rsa-{tag}-seq-{i}")[0] for i in range(sequential)]
    time.sleep(3)  # let a warm pool refill before the sustained run

    def worker(w):
        s = requests.Session()
        return [
            rsa_create(s, url, f"rsa-{tag}-sus-{w}-{i}")
            for i in range(w, sustained, concurrency)
        ]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = [item for part in pool.map(worker, range(concurrency)) for item in part]
    wall = time.perf_counter() - started
    latencies = [lat for lat, _ in done]
    finished = sorted(end for _, end in done)
    # The steady rate after the first 50 creates: by then a 32-key pool is used up.
    tail = finished[50:]
    steady = (len(tail) - 1) / (tail[-1] - tail[0]) if len(tail) > 1 else None
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    print(
        json.dumps(
            {
                "seq_n": sequential,
                "seq_p50_ms": ms(statistics.median(seq)),
                "seq_p90_ms": ms(percentile(seq, 90)),
                "sus_n": sustained,
                "sus_conc": concurrency,
                "sus_rate": round(sustained / wall, 1),
                "sus_steady_rate": round(steady, 1) if steady else None,
                "sus_p50_ms": ms(statistics.median(latencies)),
                "sus_p90_ms": ms(percentile(latencies, 90)),
                "sus_p99_ms": ms(percentile(latencies, 99)),
                "sus_fast": sum(1 for lat in latencies if lat < 0.025),
            }
        )
    )


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
    if problems:
        result["invalid"] = "; ".join(problems)
    with open(out, "w") as f:
        json.dump(result, f)
    if problems:
        print(f"\nbench: INVALID {name}: {result['invalid']}\n", file=sys.stderr)
        raise SystemExit(1)
    cpu = result.get("cpu_us_per_req")
    print(
        f"    {name:<26} {fmt_rps(result['rps']):>10} req/s   p50 {ms(result['p50_us']):>8} ms"
        f"   p99 {ms(result['p99_us']):>8} ms   server CPU/req {'-' if cpu is None else us(cpu)}"
        + (f" + PostgreSQL {us(result['db_cpu_us_per_req'])}"
           if "db_cpu_us_per_req" in result else "")
        + f"   ({result['requests']:,} requests)",
        file=sys.stderr,
    )


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


def new_parts_tables(results, meta):
    """Rows 7-9: keypaird on PostgreSQL and the ECS dialect, each against moto's numbers of the
    same run (rows 1 and 3), then against keypaird's own rows on SQLite / EC2."""
    rows = [
        ("7", "DescribeKeyPairs, one key by name (1,000 in the account), on PostgreSQL",
         "describe_one_pg", "describe_one", "row 1"),
        ("8", "ImportKeyPair ed25519, unique names, on PostgreSQL †",
         "import_pg", "import", "row 3"),
        ("9", "ECS DescribeKeyPairs, one key by name (1,000 in the account), SQLite ‡",
         "ecs_describe_one", "describe_one", "row 1, **moto, EC2 equivalent**"),
    ]
    pg = meta.get("postgres") or []
    lines = [
        "",
        "Rows 7–9, measured after rows 0–6 with the same wrk settings: keypaird on "
        + (f"PostgreSQL {pg[0].split()[0]} on the same machine (TCP to 127.0.0.1, "
           f"synchronous_commit {pg[1]}, keypaird's default pool of 16 connections, a fresh "
           "schema, analysed after seeding)"
           if len(pg) >= 2 else "PostgreSQL (not reached)")
        + ", and keypaird's ECS dialect.",
        "",
        "| # | Workload | keypaird req/s | p50 ms | p99 ms | CPU/req | PostgreSQL CPU/req "
        "| moto peer (same run) | moto req/s | p50 ms | p99 ms | CPU/req | req/s ratio "
        "| CPU/req ratio |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for number, title, key, peer, peer_label in rows:
        k = load(results, f"{key}_keypaird")
        m = load(results, f"{peer}_moto")
        uk, um = usable(k), usable(m)
        db = uk and uk.get("db_cpu_us_per_req")
        kcpu = uk and uk.get("cpu_us_per_req")
        total = kcpu + db if kcpu is not None and db is not None else kcpu
        lines.append(
            f"| {number} | {title} | " + " | ".join(wrk_cells(k))
            + f" | {'—' if db is None else us(db)} | {peer_label} | "
            + " | ".join(wrk_cells(m))
            + f" | {ratio(uk and uk['rps'], um and um['rps'])}"
            + f" | {ratio(um and um.get('cpu_us_per_req'), total)} |"
        )

    def total_cpu(r):
        if r is None or r.get("cpu_us_per_req") is None:
            return None
        return r["cpu_us_per_req"] + (r.get("db_cpu_us_per_req") or 0)

    baselines = [
        ("7", "describe_one_pg_keypaird", "row 1: the same on SQLite", "describe_one_keypaird"),
        ("8", "import_pg_keypaird", "row 3: the same on SQLite", "import_keypaird"),
        ("9", "ecs_describe_one_keypaird",
         "row 6, `--any-credentials`: EC2 DescribeKeyPairs of one key, SQLite", "sig_any"),
    ]
    lines += [
        "",
        "| # | keypaird against itself (same run) | req/s | CPU/req (+ PostgreSQL) | baseline "
        "| req/s | CPU/req | req/s vs baseline | CPU/req vs baseline |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for number, key, label, base_key in baselines:
        r, b = usable(load(results, key)), usable(load(results, base_key))
        if not r or not b:
            lines.append(f"| {number} | | failed | | {label} | | | n/a | n/a |")
            continue
        this_cpu, base_cpu = total_cpu(r), total_cpu(b)
        lines.append(
            f"| {number} | {'PostgreSQL' if number != '9' else 'ECS'} | {fmt_rps(r['rps'])} "
            f"| {us(this_cpu)} | {label} | {fmt_rps(b['rps'])} | {us(base_cpu)} "
            f"| {r['rps'] / b['rps']:.2f} | {this_cpu / base_cpu:.2f} |"
        )
    return lines


def report(results, out_md):
    meta = load(results, "meta")
    lines = [
        f"Run {meta['date']} on {meta['cpus']} × {meta['cpu_model']}; keypaird {meta['commit']}, "
        f"moto {meta['moto']}; wrk `{meta['wrk_args']}` unless said otherwise; load average "
        f"{' '.join(meta['load'])} just before the servers started (the machine is shared).",
        "",
        "| # | Workload | keypaird req/s | p50 ms | p99 ms | CPU/req | moto req/s | p50 ms "
        "| p99 ms | CPU/req | req/s ratio | CPU/req ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    h = load(results, "healthz_keypaird")
    if h:
        lines.append(
            "| 0 | reference: GET /healthz, keypaird only (HTTP, no signature, store or XML) | "
            + " | ".join(wrk_cells(h)) + " | — | — | — | — | — | — |"
        )
    workloads = [
        ("1", "DescribeKeyPairs, one key by name (1,000 in the account)", "describe_one"),
        ("2", "DescribeKeyPairs, all 1,000 key pairs (2 connections, 2 s longer)", "describe_all"),
        ("3", "ImportKeyPair ed25519, unique names †", "import"),
        ("4", "CreateKeyPair ed25519, unique names †", "create_ed25519"),
    ]
    for number, title, key in workloads:
        k = load(results, f"{key}_keypaird")
        m = load(results, f"{key}_moto")
        uk, um = usable(k), usable(m)
        lines.append(
            f"| {number} | {title} | "
            + " | ".join(wrk_cells(k) + wrk_cells(m))
            + f" | {ratio(uk and uk['rps'], um and um['rps'])}"
            + f" | {ratio(um and um.get('cpu_us_per_req'), uk and uk.get('cpu_us_per_req'))} |"
        )

    lines += new_parts_tables(results, meta)

    rk, rn, rm = (load(results, f"rsa_{s}") for s in ("keypaird", "nopool", "moto"))
    lines += [
        "",
        "| # | CreateKeyPair RSA-2048 | keypaird, warm pool (32) | keypaird, no pool "
        "| moto | ratio (warm pool / moto) |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def rsa_row(title, field, unit, higher_is_better=False, with_ratio=True):
        a, n, b = (r and r.get(field) for r in (rk, rn, rm))
        cell = lambda v: "failed" if v is None else f"{v:,} {unit}".strip()  # noqa: E731
        r = ratio(a, b) if higher_is_better else ratio(b, a)
        if not with_ratio:
            r = "—"
        return f"| 5 | {title} | {cell(a)} | {cell(n)} | {cell(b)} | {r} |"

    lines += [
        rsa_row("20 sequential creates, one client: median", "seq_p50_ms", "ms"),
        rsa_row("20 sequential creates, one client: p90", "seq_p90_ms", "ms"),
        rsa_row("150 creates from 4 clients: creates/s", "sus_rate", "/s", True),
        rsa_row("150 creates from 4 clients: creates/s after the first 50", "sus_steady_rate",
                "/s", True),
        rsa_row("150 creates from 4 clients: latency median", "sus_p50_ms", "ms"),
        rsa_row("150 creates from 4 clients: latency p90", "sus_p90_ms", "ms"),
        rsa_row("150 creates from 4 clients: latency p99", "sus_p99_ms", "ms"),
        rsa_row("150 creates from 4 clients: replies in under 25 ms", "sus_fast", "of 150",
                with_ratio=False),
    ]

    v, a = usable(load(results, "sig_verify")), usable(load(results, "sig_any"))
    lines += [
        "",
        "| # | keypaird DescribeKeyPairs, one key (3 alternating rounds) | signatures verified "
        "| --any-credentials | verified / unverified |",
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
        "server process's user + system CPU time during the run divided by the requests wrk "
        "counted.",
        "† Writes with a unique name per request: keypaird runs with `--any-credentials` (moto "
        "checks no signature either). Reads are signed with fixed credentials, and keypaird "
        "verifies them.",
    ]
    lines.append(
        "‡ ECS replays one v1-signed request, so keypaird runs with `--any-credentials` (no "
        "signature, clock or nonce check); verifying, it refuses every replay with "
        "SignatureNonceUsed. moto has no ECS: its peer is its EC2 DescribeKeyPairs of one key "
        "(row 1), the same work."
    )
    lines.append(
        "Rows 7–9 were measured after rows 0–6; their moto columns repeat moto's rows 1 and 3 "
        "of this run (moto was not measured again). PostgreSQL CPU/req is the CPU time of every "
        "`postgres` process on the machine during the run divided by the requests; the CPU/req "
        "ratio of rows 7 and 8 is moto over keypaird plus PostgreSQL."
    )
    for key in ("describe_one", "describe_all", "import", "create_ed25519", "describe_one_pg",
                "import_pg", "ecs_describe_one"):
        for server in ("keypaird", "moto"):
            r = usable(load(results, f"{key}_{server}"))
            if r and (r["socket_errors"] or r["timeouts"]):
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
    if command == "seed":
        seed(args[0], int(args[1]))
    elif command == "sign":
        sign_spec(args[0], args[1], args[2] if len(args) > 2 else None)
    elif command == "seed-ecs":
        seed_ecs(args[0], int(args[1]))
    elif command == "sign-ecs":
        sign_ecs_spec(*args)
    elif command == "ecs-replay":
        ecs_replay(*args)
    elif command == "check":
        check(*args)
    elif command == "stored":
        stored(*args)
    elif command == "rsa":
        rsa(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif command == "wrkresult":
        wrk_result(*args)
    elif command == "merge":
        merge(*args)
    elif command == "report":
        report(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
