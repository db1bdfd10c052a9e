#!/usr/bin/env bash
# Hostile clients, measured against the release build with moto's server as the peer in the same
# run (BENCHMARKS.md, "Hostile clients"):
#   - memory: 1,000 concurrent SigV4-signed requests with bodies just under 256 KiB (a long
#     filter value, then a long KeyName.1), resident memory before, at its peak and after;
#   - the 50,000-parameter unsigned body against both;
#   - the worst parsing and filters the limits allow (bench/hostile/worst_parse.py: keypaird on
#     SQLite and PostgreSQL; it uses the test virtualenv .venv that scripts/test makes).
# Everything it starts is stopped at exit; it writes the table to bench/hostile/results-latest.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bench=$root/bench
hostile=$bench/hostile
# shellcheck source=../common.sh
source "$bench/common.sh"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/hostile: %s\n' "$*" >&2; exit 1; }

clients=${HOSTILE_CLIENTS:-1000}
bench_venv "$bench"
py=$bench/.venv/bin/python
log "cargo build --release -p keypaird"
cargo build --release -q -p keypaird
bin=$root/target/release/keypaird

# 1,000 client sockets plus the server's own: more than a 1,024 soft limit.
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/keypaird-hostile.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

akid=AKIDHOSTILEBENCH0001
secret=hostile/bench+secret0000000000000000001
"$bin" accounts create bench --access-key-id "$akid" --secret-access-key "$secret" \
  --store "sqlite://$work/k.db" >/dev/null
"$bin" serve --listen 127.0.0.1:0 --store "sqlite://$work/k.db" >"$work/keypaird.out" \
  2>"$work/keypaird.log" &
pids+=($!); kpid=$!
"$bench/.venv/bin/moto_server" -H 127.0.0.1 -p 0 >"$work/moto.log" 2>&1 &
pids+=($!); mpid=$!
K=$(wait_url "$work/keypaird.out" "$kpid" 'keypaird listening on http://[0-9.:]+')
M=$(wait_url "$work/moto.log" "$mpid" 'Running on http://[0-9.:]+')
# moto_server forks nothing; its pid is the process that holds the memory.
sleep 3 # the RSA pool fills right after start

rows=()
for shape in filter name; do
  for target in keypaird moto; do
    if [ "$target" = keypaird ]; then url=$K; pid=$kpid; else url=$M; pid=$mpid; fi
    log "memory: $clients x 256 KiB ($shape) against $target"
    out=$("$py" "$hostile/memory.py" --url "$url" --pid "$pid" --akid "$akid" --secret "$secret" \
      --clients "$clients" --shape "$shape" --after 5)
    rows+=("$target $shape $out")
  done
done

{
  echo "# Hostile clients: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, release build"
  echo
  echo "| Server | Body | Replies | Burst | RSS before | RSS peak | RSS 5 s after | Below 64 MiB after |"
  echo "|---|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    read -r target shape json <<<"$row"
    "$py" - "$target" "$shape" "$json" <<'EOF'
import json, sys
target, shape, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
replies = ", ".join(f"{n}× {code}" for code, n in sorted(r["statuses"].items()))
below = r["seconds_until_below_64_mib"]
print(f"| {target} | {r['clients']} × {r['body_bytes']} B, long {'Filter.1.Value.1' if shape == 'filter' else 'KeyName.1'} "
      f"| {replies} | {r['burst_s']} s | {r['rss_before_mib']} MiB | {r['rss_peak_mib']} MiB "
      f"| {r['rss_after_mib']} MiB | {'at once' if below == 0.0 else (f'{below} s' if below is not None else 'no')} |")
EOF
  done
} >"$work/table.md"

# The 50,000-name unsigned body against both servers of this run.
log "50,000 distinct parameter names, unsigned, against keypaird and moto"
"$py" - "$K" "$M" >>"$work/table.md" <<'PY'
import statistics, sys, time
import requests
import itertools, string
# 50,000 distinct three-character names, no values: 200,040 bytes, under the 256 KiB body limit.
names = ("".join(t) for t in itertools.product(string.ascii_letters + string.digits, repeat=3))
body = "Action=DescribeKeyPairs&Version=2016-11-15&" + "&".join(itertools.islice(names, 50_000))
print("\n| 50,000 names, unsigned (EC2) | Reply | Median of 5 |\n|---|---|---|")
for name, url in (("keypaird", sys.argv[1]), ("moto", sys.argv[2])):
    took, status = [], None
    for _ in range(5):
        t = time.monotonic()
        r = requests.post(url + "/", data=body, timeout=120,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        took.append(time.monotonic() - t)
        status = r.status_code
    print(f"| {name} | {status} | {statistics.median(took) * 1000:.1f} ms |")
PY

# The worst parsing and filters the limits allow, on both stores (keypaird only: moto has no
# such limits to measure, and answers the same requests without checking a signature).
log "worst-case parsing and filters (bench/hostile/worst_parse.py)"
echo >>"$work/table.md"
KEYPAIRD_BIN=$bin "$root/.venv/bin/python" "$hostile/worst_parse.py" --runs 5 >>"$work/table.md"

cat "$work/table.md"
cp "$work/table.md" "$hostile/results-latest.md"
