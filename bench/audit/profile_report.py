"""bench/audit/profile.sh's comparison: perf samples of both servers as CPU µs per request.

Usage: profile_report.py WORK_DIR FREQ  (WORK_DIR holds base.txt, cur.txt, base.req, cur.req)
"""
import re
import sys

work, freq = sys.argv[1], int(sys.argv[2])


def group(dso, sym):
    s = sym.lower()
    if "kernel" in dso:
        return "kernel (system calls: fsync, write, read, network)"
    if "sqlite" in s or s.startswith(("btree", "pager", "wal", "vdbe")) or "vdbe" in s:
        return "SQLite (VDBE, B-trees, pager, WAL)"
    if "serde" in s:
        return "serde / JSON"
    if s.startswith(("mi_", "_mi_")) or "malloc" in s or "memcpy" in s or "memmove" in s \
            or "memset" in s:
        return "allocation and copies (mimalloc, memcpy)"
    if "aws_lc" in s or "sha256" in s or "hmac" in s or "ed25519" in s:
        return "crypto (aws-lc: SigV4, fingerprints)"
    return "other (keypaird, tokio, hyper, libc)"


runs = {}
for which in ("base", "cur"):
    requests, cpu = open(f"{work}/{which}.req").read().split()
    requests = int(requests)
    per = {}
    for line in open(f"{work}/{which}.txt"):
        m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if m:
            key = (m.group(3), m.group(5).strip())
            per[key] = per.get(key, 0) + int(m.group(2)) * 1e6 / freq / requests
    runs[which] = (requests, cpu, per)
names = {"base": "pre-audit 43147ec", "cur": "current"}
for which, (requests, cpu, per) in runs.items():
    print(f"{names[which]}: {requests} imports, {cpu} µs CPU per request (/proc), "
          f"{sum(per.values()):.0f} µs per request in perf samples")
groups = {}
for which, (_, _, per) in runs.items():
    for (dso, sym), us in per.items():
        g = groups.setdefault(group(dso, sym), {"base": 0.0, "cur": 0.0})
        g[which] += us
print("\ngrouped, µs per request: pre-audit, current, difference")
for g, v in sorted(groups.items(), key=lambda kv: -kv[1]["cur"]):
    print(f"  {v['base']:7.1f} {v['cur']:7.1f} {v['cur'] - v['base']:+7.1f}  {g}")
keys = set(runs["base"][2]) | set(runs["cur"][2])
delta = sorted(keys, key=lambda k: -(runs["cur"][2].get(k, 0) - runs["base"][2].get(k, 0)))
print("\nthe 30 symbols that grew most, µs per request: pre-audit, current, difference")
for k in delta[:30]:
    b, c = runs["base"][2].get(k, 0), runs["cur"][2].get(k, 0)
    print(f"  {b:7.1f} {c:7.1f} {c - b:+7.1f}  {k[0]}  {k[1][:100]}")
for which, (_, _, per) in runs.items():
    print(f"\ntop 15 symbols of {names[which]}, µs per request")
    for k, us in sorted(per.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {us:7.1f}  {k[0]}  {k[1][:100]}")
