#!/usr/bin/env python3
"""Memory under large bodies: N concurrent requests, each with a body just under 256 KiB, against
one running server; reports the server's resident memory before, at its peak (VmHWM, reset
before the burst) and after, sampled every 0.25 s for a while.

Each request is a SigV4-signed DescribeKeyPairs (botocore signs it, the server verifies it) with
one long filter value (`--shape filter`, answered 200 by keypaird) or one long KeyName.1
(`--shape name`, answered 400: the name is too long), the two cases the issue measured.

    memory.py --url http://127.0.0.1:PORT --pid PID --akid A --secret S [--clients 1000]

Prints one JSON object; bench/hostile/run.sh turns it into BENCHMARKS.md's row.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def signed_request(url: str, akid: str, secret: str, shape: str, size: int) -> bytes:
    params = {"Action": "DescribeKeyPairs", "Version": "2016-11-15"}
    if shape == "filter":
        params.update({"Filter.1.Name": "key-name", "Filter.1.Value.1": ""})
        key = "Filter.1.Value.1"
    else:
        params["KeyName.1"] = ""
        key = "KeyName.1"
    head = len(urlencode(params))
    params[key] = "a" * (size - head)
    body = urlencode(params).encode()
    assert len(body) == size, (len(body), size)
    req = AWSRequest(method="POST", url=url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(akid, secret), "ec2", "us-east-1").add_auth(req)
    p = req.prepare()
    host = urlsplit(url).netloc
    lines = [f"POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in p.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(reply: bytes) -> int:
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--akid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256 * 1024 - 512)
    ap.add_argument("--shape", choices=["filter", "name"], default="filter")
    ap.add_argument("--after", type=float, default=10.0, help="seconds to sample after the burst")
    args = ap.parse_args()

    requests = [signed_request(args.url, args.akid, args.secret, args.shape, args.size)
                for _ in range(args.clients)]
    host, port = urlsplit(args.url).hostname, urlsplit(args.url).port
    before = rss_kib(args.pid)
    reset_peak(args.pid)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    go = threading.Barrier(args.clients + 1)

    def client(raw: bytes) -> None:
        s = socket.create_connection((host, port), timeout=120)
        go.wait()
        reply = b""
        try:
            s.sendall(raw)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass  # a refused body may close the connection while we are still sending
        finally:
            s.close()
        with lock:
            code = status_of(reply)
            statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=client, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    go.wait()
    started = time.monotonic()
    peak_seen = 0
    while any(t.is_alive() for t in threads):
        peak_seen = max(peak_seen, rss_kib(args.pid))
        time.sleep(0.05)
    burst_s = time.monotonic() - started
    peak = max(peak_seen, rss_kib(args.pid, "VmHWM"))
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.after:
        samples.append((round(time.monotonic() - t0, 2), rss_kib(args.pid)))
        time.sleep(0.25)
    below_64 = next((t for t, kib in samples if kib < 64 * 1024), None)
    print(json.dumps({
        "clients": args.clients, "body_bytes": args.size, "shape": args.shape,
        "statuses": statuses, "burst_s": round(burst_s, 2),
        "rss_before_mib": round(before / 1024, 1), "rss_peak_mib": round(peak / 1024, 1),
        "rss_after_mib": round(samples[-1][1] / 1024, 1),
        "seconds_until_below_64_mib": below_64,
    }))


if __name__ == "__main__":
    main()
