#!/usr/bin/env python3
"""The most expensive parsing and pattern matching a client can ask for within keypaird's request
limits, on SQLite and PostgreSQL: seconds per reply, median of several, against a plain describe.

    KEYPAIRD_BIN=target/release/keypaird /work/main/.venv/bin/python bench/hostile/worst_parse.py
    (KEYPAIRD_TEST_POSTGRES_URL picks the PostgreSQL, default postgres://postgres@127.0.0.1:5432/test;
    --runs N, --names N, --sqlite-only)

Each store gets NAMES key pairs (default 100, EC2 names of 255 characters, ECS names of 128, all
but the last character `a`), then, signed, in each dialect:
- plain: DescribeKeyPairs with no filter (the baseline);
- EC2 `*aaa…ab`: 10 filter values of 255 characters (the longest a value may be), each `*`
  then 253 `a` then `b`, which fill the 2,550 characters allowed after a `*`: every name is
  compared at every offset; and 200 values (the most a call may carry) of 13 characters;
- EC2 `*a*a…*b`: 19 values alternating `*` and `a`, ending in `b`;
- EC2 `?…?*b`: 200 values of 253 `?`, `*`, `b`;
- EC2 200 values of `*aaa…ab`, which the tail limit refuses (what refusing costs);
- ECS `*aaa…ab`: one KeyPairName of 255 characters (the longest taken), as above;
- the 50,000-name unsigned body, both dialects.
Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))

import requests  # noqa: E402

import support  # noqa: E402
from aliyun_support import ed25519_line, v1_call  # noqa: E402
from support import TESTER, call, create_account, sqlite_url, start_server  # noqa: E402

def ec2_filter(value: str, count: int) -> dict:
    params = {"Filter.1.Name": "key-name"}
    params.update({f"Filter.1.Value.{i}": value for i in range(1, count + 1)})
    return params


# The worst the limits let through: 200 values (EC2's limit) of 255 characters (EC2's limit),
# at most 2,550 characters after the first `*` of all values together (keypaird's).
LONG_TAIL = "*" + "a" * 253 + "b"
ALTERNATING = "*a" * 127 + "b"
CASES = {
    "EC2 plain DescribeKeyPairs": ("ec2", {}, 200),
    "EC2 10 × `*` + 253 `a` + `b`": ("ec2", ec2_filter(LONG_TAIL, 10), 200),
    "EC2 200 × `*` + 11 `a` + `b`": ("ec2", ec2_filter("*" + "a" * 11 + "b", 200), 200),
    "EC2 19 × `*a*a…*b` (255)": ("ec2", ec2_filter(ALTERNATING, 19), 200),
    "EC2 200 × 253 `?` + `*b`": ("ec2", ec2_filter("?" * 253 + "*b", 200), 200),
    "EC2 200 × `*` + 253 `a` + `b` (refused)": ("ec2", ec2_filter(LONG_TAIL, 200), 400),
    "ECS plain DescribeKeyPairs": ("ecs", {}, 200),
    "ECS KeyPairName `*` + 253 `a` + `b`": ("ecs", {"KeyPairName": LONG_TAIL}, 200),
    "ECS KeyPairName `*a*a…*b` (255)": ("ecs", {"KeyPairName": ALTERNATING}, 200),
}


def seed(srv, names: int):
    for i in range(names):
        suffix = f"{i:04d}"
        ec2_name = "a" * (255 - len(suffix)) + suffix
        r = srv.call("ImportKeyPair", {"KeyName": ec2_name, "PublicKeyMaterial": ed25519_line()})
        assert r.status == 200, r
        ecs_name = "k" + "a" * (127 - len(suffix)) + suffix
        assert v1_call(srv, "ImportKeyPair", {"KeyPairName": ecs_name, "PublicKeyBody": ed25519_line()}).status == 200


def run_case(srv, dialect: str, params: dict, status: int):
    if dialect == "ec2":
        r = srv.call("DescribeKeyPairs", params)
    else:
        r = v1_call(srv, "DescribeKeyPairs", {"PageSize": "50", **params})
    assert r.status == status, r


def fifty_thousand(srv, version: str):
    body = f"Action=DescribeKeyPairs&Version={version}&Format=JSON&".encode() + \
        b"&".join(format(i, "x").encode() for i in range(50_000))
    r = requests.post(srv.url + "/", data=body, timeout=60,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 401), r.text[:300]


def timed(fn, runs: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(store: str, store_url: str, workdir: Path, names: int, runs: int) -> dict:
    create_account(store_url, TESTER[0], TESTER[1], TESTER[2])
    srv = start_server(store_url=store_url, store_path=None, workdir=workdir, creds=TESTER)
    try:
        seed(srv, names)
        out = {label: timed(lambda: run_case(srv, d, p, st), runs) for label, (d, p, st) in CASES.items()}
        out["EC2 unsigned 50,000 names"] = timed(lambda: fifty_thousand(srv, "2016-11-15"), runs)
        out["ECS unsigned 50,000 names"] = timed(lambda: fifty_thousand(srv, "2014-05-26"), runs)
        return out
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--names", type=int, default=100)
    ap.add_argument("--sqlite-only", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="kp-hostile-") as tmp:
        tmp = Path(tmp)
        results["SQLite"] = measure("sqlite", sqlite_url(tmp / "k.db"), tmp / "sqlite", args.names, args.runs)
        if not args.sqlite_only:
            base = os.environ.get("KEYPAIRD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
            schema = "kph_" + secrets.token_hex(4)
            sep = "&" if "?" in base else "?"
            try:
                results["PostgreSQL"] = measure("postgres", f"{base}{sep}schema={schema}", tmp / "pg",
                                                args.names, args.runs)
            finally:
                subprocess.run(["psql", base, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                               capture_output=True)
    stores = list(results)
    print(f"binary: {support.binary()}; {args.names} names; median of {args.runs}")
    print("| Request | " + " | ".join(stores) + " |")
    print("|---|" + "---:|" * len(stores))
    for label in results[stores[0]]:
        print(f"| {label} | " + " | ".join(f"{results[s][label] * 1000:.1f} ms" for s in stores) + " |")


if __name__ == "__main__":
    main()
