"""bench/audit's tables, from the figures of one or more runs (bench/audit/runs/<time>-<part>).

Usage: report.py RUN_DIR [RUN_DIR ...] > results.md

Merging rounds: req/s is all requests over all the rounds' time; p50 is the middle round's,
p99 the worst round's; CPU/req is all the server's CPU time over all the requests (the same for
PostgreSQL's processes).
"""
import json
import os
import sys


def load(d, name):
    path = os.path.join(d, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def valid(fig):
    return fig is not None and not fig.get("invalid") and fig.get("requests", 0) > 0 \
        and fig.get("ok") == fig.get("requests")


def merge(figs):
    figs = [f for f in figs if f is not None]
    if not figs or not all(valid(f) for f in figs):
        return None
    req = sum(f["requests"] for f in figs)
    secs = sum(f["requests"] / f["rate"] for f in figs if f["rate"] > 0)
    mid = lambda k: sorted(f[k] for f in figs)[len(figs) // 2]
    cpu = lambda k: (sum(f[k] * f["requests"] for f in figs) / req) \
        if all(f.get(k) is not None for f in figs) else None
    return {
        "requests": req,
        "rate": req / secs if secs else 0,
        "p50": mid("p50_ms"),
        "p99": max(f["p99_ms"] for f in figs),
        "cpu": cpu("server_cpu_us_per_req"),
        "db": cpu("db_cpu_us_per_req"),
        "rates": [f["rate"] for f in figs],
        "cpus": [f.get("server_cpu_us_per_req") for f in figs],
        "dbs": [f.get("db_cpu_us_per_req") for f in figs],
        "setup": figs[0].get("setup"),
    }


def n(v, digits=None):
    if v is None:
        return "—"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{digits}f}"


def ms(v):
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def rounds_of(d, prefix):
    out = []
    r = 1
    while True:
        fig = load(d, f"{prefix}_{r}")
        if fig is None:
            return out
        out.append(fig)
        r += 1


def writes(d, meta, out):
    rows = [("import", "ImportKeyPair ed25519, a new name each time"),
            ("create", "CreateKeyPair ed25519, a new name each time"),
            ("delete", "DeleteKeyPair of key pairs an untimed create run made just before")]
    out.append(f"### Writes on SQLite: pre-audit {meta['base']} against {meta['commit']}\n")
    out.append(f"{meta['rounds']} rounds of {meta['duration']} s, {meta['connections']} connections, "
               "each round on fresh SQLite stores; the two servers run side by side and take each "
               "workload in turn (the order swaps every round). CPU/req: the server process's user + "
               "system time during the run (/proc/PID/stat) over the requests.\n")
    out.append("| Workload | pre-audit req/s | p50 ms | p99 ms | CPU/req | current req/s | p50 ms | p99 ms | CPU/req | CPU/req current / pre-audit (target ≤ 1.15) | req/s current / pre-audit | moto req/s (same run) | moto CPU/req |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for key, label in rows:
        b = merge(rounds_of(d, f"{key}_base"))
        c = merge(rounds_of(d, f"{key}_cur"))
        m = load(d, f"{key}_moto")
        m = m if valid(m) else None
        if b is None or c is None:
            out.append(f"| {label} | INVALID or not run | | | | | | | | | | | |")
            continue
        ratio = c["cpu"] / b["cpu"] if b["cpu"] and c["cpu"] else None
        ratios[key] = ratio
        verdict = "" if ratio is None else (" ✓" if ratio <= 1.15 else " **missed**")
        out.append(
            f"| {label} | {n(b['rate'])} | {ms(b['p50'])} | {ms(b['p99'])} | {n(b['cpu'])} µs "
            f"| {n(c['rate'])} | {ms(c['p50'])} | {ms(c['p99'])} | {n(c['cpu'])} µs "
            f"| **{n(ratio, 2)}**{verdict} | {n(c['rate'] / b['rate'], 2)} "
            f"| {n(m['rate']) if m else '—'} | {n(m['server_cpu_us_per_req']) + ' µs' if m else '—'} |")
    out.append("")
    out.append("Per round (req/s and CPU/req, pre-audit → current):\n")
    for key, label in rows:
        bs, cs = rounds_of(d, f"{key}_base"), rounds_of(d, f"{key}_cur")
        parts = []
        for i, (b, c) in enumerate(zip(bs, cs), 1):
            parts.append(f"round {i}: {n(b.get('rate'))} → {n(c.get('rate'))} req/s, "
                         f"{n(b.get('server_cpu_us_per_req'))} → {n(c.get('server_cpu_us_per_req'))} µs")
        out.append(f"- {key}: " + "; ".join(parts))
    trails = rounds_of(d, "trail")
    if trails:
        out.append("")
        out.append("The current server's trail after each round (`keypaird audit --account bench "
                   "--action X --json`, events without an error code), against the writes "
                   "acknowledged (CreateKeyPair includes the delete run's untimed creates):\n")
        for i, t in enumerate(trails, 1):
            cells = ", ".join(f"{k} {v[1]:,} events for {v[0]:,} acknowledged"
                              + ("" if v[0] == v[1] else " **MISMATCH**") for k, v in t.items())
            out.append(f"- round {i}: {cells}")
    pgb = merge(rounds_of(d, "pgimport_base"))
    pgc = merge(rounds_of(d, "pgimport_cur"))
    if pgb or pgc or rounds_of(d, "pgimport_base"):
        info = load(d, "pg_info") or ""
        out.append("")
        out.append(f"### ImportKeyPair on PostgreSQL ({info.replace('|', ', synchronous_commit ')}): pre-audit against current\n")
        out.append("Same settings, a fresh schema per server and round. PostgreSQL CPU/req: every "
                   "`postgres` process on the machine (with its waited-for children) over the "
                   "requests; the machine is shared, so it also holds whatever else used "
                   "PostgreSQL meanwhile.\n")
        out.append("| Workload | pre-audit req/s | p50 ms | p99 ms | CPU/req | + PostgreSQL | current req/s | p50 ms | p99 ms | CPU/req | + PostgreSQL | keypaird CPU/req ratio | keypaird + PostgreSQL ratio |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        if pgb and pgc:
            r1 = pgc["cpu"] / pgb["cpu"]
            r2 = (pgc["cpu"] + pgc["db"]) / (pgb["cpu"] + pgb["db"])
            ratios["pgimport"] = r1
            ratios["pgimport_total"] = r2
            out.append(
                f"| ImportKeyPair ed25519 | {n(pgb['rate'])} | {ms(pgb['p50'])} | {ms(pgb['p99'])} "
                f"| {n(pgb['cpu'])} µs | {n(pgb['db'])} µs | {n(pgc['rate'])} | {ms(pgc['p50'])} "
                f"| {ms(pgc['p99'])} | {n(pgc['cpu'])} µs | {n(pgc['db'])} µs | **{n(r1, 2)}** "
                f"| **{n(r2, 2)}** |")
        else:
            out.append("| ImportKeyPair ed25519 | INVALID | | | | | | | | | | | |")
        bs, cs = rounds_of(d, "pgimport_base"), rounds_of(d, "pgimport_cur")
        out.append("")
        for i, (b, c) in enumerate(zip(bs, cs), 1):
            out.append(f"- round {i}: {n(b.get('rate'))} → {n(c.get('rate'))} req/s, keypaird "
                       f"{n(b.get('server_cpu_us_per_req'))} → {n(c.get('server_cpu_us_per_req'))} µs, "
                       f"PostgreSQL {n(b.get('db_cpu_us_per_req'))} → {n(c.get('db_cpu_us_per_req'))} µs")
        for i, t in enumerate(rounds_of(d, "pgtrail"), 1):
            v = t["ImportKeyPair"]
            out.append(f"- trail of round {i}: {v[1]:,} ImportKeyPair events for {v[0]:,} acknowledged"
                       + ("" if v[0] == v[1] else " **MISMATCH**"))
    out.append("")
    return ratios


SHAPES = [
    ("none", "no attribute: the first page of 50"),
    ("event-name", "`EventName=ImportKeyPair` (50)"),
    ("resource-name", "`ResourceName=<a random key pair's name>`, a different one each request (1)"),
    ("event-id", "`EventId=<a random event's ID>` (1; IDs sampled first by 2,000 ResourceName lookups)"),
    ("access-key-id", "`AccessKeyId=benchkey` (50)"),
    ("window", "`StartTime`/`EndTime`: one minute in the middle of the fill (50)"),
    ("deep-page", "a deep page: the `NextToken` after 100 pages (at 100 events: after page 1), reused (50)"),
]


def lookups(d, meta, out, kind, big_n, label):
    fb, fs = load(d, f"fill_{kind}big"), load(d, f"fill_{kind}small")
    if fb is None:
        return {}
    out.append(f"### LookupEvents on {label}: {int(big_n):,} events against 100, side by side\n")
    tb, ts = load(d, f"filltrail_{kind}big"), load(d, f"filltrail_{kind}small")
    kb = load(d, "bigstore_kb") if kind == "" else None
    fill = (f"The fill: {fb['requests']:,} ImportKeyPair ed25519 through the API, {fb['connections']} "
            f"connections, {n(fb['rate'])} req/s, p99 {ms(fb['p99_ms'])} ms, "
            f"{n(fb.get('server_cpu_us_per_req'))} µs server CPU per import"
            + ("" if valid(fb) else " — **INVALID**") + ". ")
    if tb:
        fill += f"Trail afterwards: {tb[1]:,} ImportKeyPair events for {tb[0]:,} imports acknowledged"
        fill += ("" if tb[0] == tb[1] else " **MISMATCH**") + "; "
    if ts:
        fill += f"the small store {ts[1]:,} for {ts[0]:,}. "
    if kb:
        fill += f"The 1,000,000-event SQLite store: {kb / 1024:,.0f} MiB on disk (key pairs, events, their indexes)."
    out.append(fill + "\n")
    out.append(f"Each shape: {meta['rounds']} rounds of {meta['lookup_seconds']} s with "
               f"{meta['connections']} clients on each server, alternately (the order swaps every "
               "round); every request signed afresh (SigV4, service `cloudtrail`, us-east-1) and "
               "every reply checked (HTTP 200, `Events` a list of exactly the expected count, each "
               "event with `EventId`, `EventName`, `EventTime`; the asked-for event ID or resource "
               "name). Cells: req/s (p99 ms) [server CPU per request].\n")
    out.append(f"| LookupEvents (expected events) | at 100 | at {int(big_n):,} | req/s ratio {int(big_n):,} / 100 (target ≈ 0.8 or better) | CPU/req ratio 100 / {int(big_n):,} |")
    out.append("|---|---:|---:|---:|---:|")
    ratios = {}
    for shape, text in SHAPES:
        b = merge(rounds_of(d, f"{kind}lookup_{shape}_big"))
        s = merge(rounds_of(d, f"{kind}lookup_{shape}_small"))
        if b is None or s is None:
            out.append(f"| {text} | {'INVALID or not run' if s is None else ''} | {'INVALID or not run' if b is None else ''} | | |")
            continue
        r = b["rate"] / s["rate"]
        ratios[shape] = r
        verdict = " ✓" if r >= 0.8 else " **missed**"
        cr = s["cpu"] / b["cpu"] if s["cpu"] and b["cpu"] else None
        extra = ""
        if shape == "deep-page" and b.get("setup"):
            extra = f" — measured: page {b['setup'].get('deep_page')} at {int(big_n):,}, page {s['setup'].get('deep_page')} at 100"
        cpu = lambda f: f"{n(f['cpu'])} µs" + (f" + {n(f['db'])} µs PostgreSQL" if f.get("db") is not None else "")
        out.append(f"| {text}{extra} | {n(s['rate'])} ({ms(s['p99'])}) [{cpu(s)}] "
                   f"| {n(b['rate'])} ({ms(b['p99'])}) [{cpu(b)}] | **{n(r, 2)}**{verdict} | {n(cr, 2)} |")
    out.append("")
    parts = []
    for shape, _ in SHAPES:
        bs = rounds_of(d, f"{kind}lookup_{shape}_big")
        ss = rounds_of(d, f"{kind}lookup_{shape}_small")
        if bs and ss:
            parts.append(f"- {shape}: at 100 " + ", ".join(n(f.get('rate')) for f in ss)
                         + f"; at {int(big_n):,} " + ", ".join(n(f.get('rate')) for f in bs))
    if parts:
        out.append("Per round, req/s:\n")
        out.extend(parts)
        out.append("")
    return ratios


def main():
    dirs = sys.argv[1:]
    out = ["# bench/audit: the audit trail's cost", ""]
    for d in dirs:
        meta = load(d, "meta") or {}
        out.append(f"## Run {os.path.basename(d)}\n")
        out.append(f"{meta.get('date')} on {meta.get('cpus')} × {meta.get('cpu')}; keypaird "
                   f"{meta.get('commit')}, pre-audit {meta.get('base')}; load average "
                   f"{meta.get('load')} just before the servers started (the machine is shared). "
                   "Every keypaird verifies every signature (account `bench`, access key "
                   "`benchkey`); every request is signed afresh by keypaird-load; a reply "
                   "that is not a valid 2xx fails the run.\n")
        if meta.get("part") in ("writes", "all"):
            writes(d, meta, out)
        if meta.get("part") in ("lookup", "all"):
            lookups(d, meta, out, "", meta.get("events"), "SQLite")
            if int(meta.get("pg_events") or 0) > 0:
                lookups(d, meta, out, "pg", meta.get("pg_events"), "PostgreSQL (analysed after the fill)")
            m = load(d, "moto_describe")
            out.append("**moto** does not implement CloudTrail `LookupEvents` (no row of its own). "
                       "The nearest peer read, from the same run: moto's DescribeKeyPairs of one "
                       "key by name (1,000 key pairs, keypaird-load `describe-by-name`, "
                       f"{meta.get('connections')} clients, {meta.get('lookup_seconds')} s): "
                       + (f"{n(m['rate'])} req/s, p99 {ms(m['p99_ms'])} ms, "
                          f"{n(m.get('server_cpu_us_per_req'))} µs CPU per request."
                          if valid(m) else "not measured or INVALID.") + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
