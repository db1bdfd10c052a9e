#!/usr/bin/env bash
# Where a write's CPU goes, with and without the audit trail: a flat `perf record` (no call
# graphs: the release build has no frame pointers or debug info) of the pre-audit keypaird and
# of the current one, each on a fresh SQLite store, during keypaird-load's ImportKeyPair run
# (16 connections, PROFILE_SECONDS, default 8), one after the other. Prints, for each, the
# requests and the top symbols as CPU µs per request (samples × sample period / requests), and
# the symbols grouped (SQLite, JSON, kernel, …), to bench/audit/profile-latest.txt.
# Usage: bench/audit/profile.sh BASE_KEYPAIRD   (the pre-audit binary; see run.sh)
# Needs perf (linux-perf) and root or perf_event_paranoid <= 1; builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
base_bin=${1:?usage: $0 BASE_KEYPAIRD}
bin=$root/target/release/keypaird
loadgen=$root/target/release/keypaird-load
seconds=${PROFILE_SECONDS:-8}
freq=999
. "$root/bench/common.sh"
die() { printf 'bench/audit/profile: %s\n' "$*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/keypaird-profile.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
out=$root/bench/audit/profile-latest.txt
{
  echo "bench/audit/profile.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) × $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "keypaird-load run --scenario import --connections 16 --seconds $seconds; perf record -F $freq -p <server> (flat)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out"
for which in base cur; do
  b=$bin; [ "$which" = base ] && b=$base_bin
  store=sqlite://$work/$which/k.db
  "$b" accounts create bench --access-key-id benchkey --secret-access-key benchsecret \
    --key-pair-quota 1000000 --store "$store" >/dev/null
  "$b" serve --rsa-pool-size 0 --listen 127.0.0.1:0 --store "$store" \
    >"$work/$which.out" 2>"$work/$which.log" &
  pid=$!; pids+=("$pid")
  url=$(wait_url "$work/$which.out" "$pid" 'keypaird listening on http://[0-9.:]+')
  timeout $((seconds + 60)) perf record -q -F "$freq" -p "$pid" -o "$work/$which.perf" \
    -- sleep $((seconds + 3)) 2>/dev/null &
  perf_pid=$!
  sleep 1
  io_before=$(awk '/^(wchar|syscw|write_bytes):/ { printf "%s ", $2 }' "/proc/$pid/io")
  timeout $((seconds + 60)) "$loadgen" run --url "$url" --server-pid "$pid" --scenario import \
    --connections 16 --seconds "$seconds" --tag "p$which" --json "$work/$which.json" >&2 \
    || die "$which: not every reply was a valid 2xx"
  io_after=$(awk '/^(wchar|syscw|write_bytes):/ { printf "%s ", $2 }' "/proc/$pid/io")
  wait "$perf_pid" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  requests=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$work/$which.json")
  cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_cpu_us_per_req"])' "$work/$which.json")
  perf report -i "$work/$which.perf" --stdio --no-children --sort dso,sym -F overhead,sample,dso,sym \
    2>/dev/null | grep -v '^#' | grep -v '^$' > "$work/$which.txt" || true
  echo "$requests $cpu" > "$work/$which.req"
  # Bytes written through write(2)/pwrite(2) (wchar), write calls (syscw) and bytes sent to the
  # disk (write_bytes), per request, from /proc/PID/io (wchar also counts the replies sent).
  read -r w0 c0 b0 <<< "$io_before"
  read -r w1 c1 b1 <<< "$io_after"
  python3 -c 'import sys; r=int(sys.argv[1]); w,c,b=(int(x) for x in sys.argv[2:5]); print(f"{sys.argv[5]}: per request, {w/r:,.0f} bytes written by system calls (wchar, replies included), {c/r:.2f} write calls (syscw), {b/r:,.0f} bytes to the disk (write_bytes)")' \
    "$requests" $((w1 - w0)) $((c1 - c0)) $((b1 - b0)) "$which" >> "$work/io.txt"
done
python3 "$root/bench/audit/profile_report.py" "$work" "$freq" >> "$out"
{ echo; echo "I/O from /proc/PID/io during the run (base: pre-audit, cur: current):"; cat "$work/io.txt"; } >> "$out"
cat "$out"
