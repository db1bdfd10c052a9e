#!/usr/bin/env bash
# The web console's pages at CONSOLE_COUNT key pairs in one account (default 1,000,000) against
# 100, side by side in one run (BENCHMARKS.md, "The web console: bench/console"). Two release
# servers on fresh SQLite stores in $TMPDIR, each filled through the API by `keypaird-load
# seed` (EC2 CreateKeyPair ed25519, every signature verified, 16 connections); then
# measure.py signs in to each (a real session) and times each page shape CONSOLE_REQUESTS times
# (default 200), one request at a time, on one server then the other, CONSOLE_ROUNDS rounds
# (default 2). moto has no console, so there is no peer row. Every server stops at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
count=${CONSOLE_COUNT:-1000000}
requests=${CONSOLE_REQUESTS:-200}
rounds=${CONSOLE_ROUNDS:-2}
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/console: %s\n' "$*" >&2; exit 1; }
. "$root/bench/common.sh"
bench_venv "$root/bench"
py=$root/bench/.venv/bin/python

log "cargo build --release -p keypaird -p keypaird-bench-scale"
cargo build --release -q -p keypaird -p keypaird-bench-scale
bin=$root/target/release/keypaird
load=$root/target/release/keypaird-load
work=$(mktemp -d "${TMPDIR:-/tmp}/keypaird-console-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

start() {  # $1: label, $2: key pairs; sets url_$1
  local dir=$work/$1
  mkdir -p "$dir"
  "$bin" accounts create bench --access-key-id benchkey --secret-access-key benchsecret \
    --key-pair-quota "$2" \
    --store "sqlite://$dir/k.db" >/dev/null
  "$bin" serve --store "sqlite://$dir/k.db" --listen 127.0.0.1:0 --rsa-pool-size 0 \
    >"$dir/log" 2>&1 &
  pids+=($!)
  local url
  url=$(wait_url "$dir/log" "$!" 'keypaird listening on http://[0-9.:]+')
  log "filling $1 to $2 key pairs (keypaird-load seed, 16 connections)"
  local started=$SECONDS
  "$load" seed --url "$url" --access-key-id benchkey --secret-access-key benchsecret \
    --count "$2" --connections 16 >/dev/null
  log "filled $1 in $((SECONDS - started)) s"
  printf -v "url_$1" '%s' "$url"
}
start small 100
start big "$count"

results=$work/results
mkdir -p "$results"
for round in $(seq "$rounds"); do
  for label in small big; do
    n=100; [ "$label" = big ] && n=$count
    url_var=url_$label
    log "round $round: $label ($n key pairs)"
    "$py" "$root/bench/console/measure.py" --url "${!url_var}" --access-key-id benchkey \
      --secret-access-key benchsecret --prefix seed- --count "$n" --requests "$requests" \
      >"$results/$label-$round.json"
  done
done
"$py" - "$results" "$rounds" "$count" <<'PY'
import json, sys, statistics
results, rounds, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {label: [json.load(open(f"{results}/{label}-{r}.json")) for r in range(1, rounds + 1)]
        for label in ("small", "big")}
print(f"| Console page (rows), SQLite, one request at a time | at 100: median (p99) ms | at {count:,}: median (p99) ms | **median {count:,} / 100** |")
print("|---|--:|--:|--:|")
for shape in runs["small"][0]:
    med = {l: statistics.median(r[shape]["median_ms"] for r in runs[l]) for l in runs}
    p99 = {l: max(r[shape]["p99_ms"] for r in runs[l]) for l in runs}
    rows = runs["big"][0][shape]["rows"]
    print(f"| {shape} ({rows}) | {med['small']:.2f} ({p99['small']:.2f}) | {med['big']:.2f} ({p99['big']:.2f}) | **{med['big'] / med['small']:.2f}** |")
PY
