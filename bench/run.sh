#!/usr/bin/env bash
# keypaird's benchmarks, side by side with moto's server in the same run (see BENCHMARKS.md).
#   - installs wrk (Debian package) if missing, makes bench/.venv from bench/requirements.txt,
#   - builds keypaird and keypaird-load (bench/scale) in release, starts keypaird and moto_server
#     on free ports of 127.0.0.1,
#   - seeds both with 1,000 key pairs, runs every workload against both, prints the table and
#     writes it to bench/results-latest.md,
#   - then measures keypaird on PostgreSQL (a fresh schema bench_<unix time>, dropped at exit) and
#     its ECS dialect, against moto's numbers of the same run.
# Replayed reads are measured with wrk; every workload that writes with keypaird-load, which signs
# each request afresh (keypaird verifies them all) and writes into one account with a quota of
# 1,000,000 key pairs; moto gets the same requests.
# Everything it starts is stopped at exit. It exits non-zero if any workload got a reply outside
# 2xx (the table still shows which one).
# Settings: BENCH_DURATION (seconds per run, default 8), BENCH_CONNECTIONS (default 16),
# BENCH_POSTGRES (the database for rows 7 and 8, default postgres://postgres@127.0.0.1:5432/test;
# empty skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=$root/bench

duration=${BENCH_DURATION:-8}
connections=${BENCH_CONNECTIONS:-16}
seed_count=1000
postgres=${BENCH_POSTGRES-postgres://postgres@127.0.0.1:5432/test}
pg_schema=""

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- wrk (apt-get update only if installing fails without it)
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
  fi
fi

# --- Python virtualenv, reinstalled only when the requirements file changes
# shellcheck source=bench/common.sh
. "$bench/common.sh"
bench_venv "$bench"
py=$bench/.venv/bin/python
kp() { timeout --kill-after=10 180 "$py" "$bench/kp.py" "$@"; }

# --- keypaird and the load generator, release builds (a no-op when up to date)
log "cargo build --release -p keypaird -p keypaird-bench-scale"
cargo build --release -q -p keypaird -p keypaird-bench-scale
bin=$root/target/release/keypaird
loadgen=$root/target/release/keypaird-load
# The one account every verifying keypaird serves (and every keypaird-load request signs for).
creds=(--access-key-id benchkey --secret-access-key benchsecret)
quota=(--key-pair-quota 1000000)

# --- servers; all stopped at exit
work=$(mktemp -d "${TMPDIR:-/tmp}/keypaird-bench.XXXXXX")
results=$work/results
mkdir -p "$results"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_schema" ]; then
    timeout 60 psql "$postgres" -qX -c "SET client_min_messages = warning" \
      -c "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null \
      || printf 'bench: could not drop the PostgreSQL schema %s\n' "$pg_schema" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one server this script started and forgets it.
stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# keypaird as in production: signatures verified, one account with a large quota (every write
# of the run goes into it).
"$bin" accounts create bench "${creds[@]}" "${quota[@]}" --store "sqlite://$work/verify/k.db" \
  >/dev/null
"$bin" serve --listen 127.0.0.1:0 --store "sqlite://$work/verify/k.db" \
  >"$work/keypaird.out" 2>"$work/keypaird.log" &
pids+=($!); kpid=$!
# keypaird with --any-credentials, for the SigV4 comparison (row 6).
"$bin" serve --any-credentials --listen 127.0.0.1:0 --store "sqlite://$work/any/k.db" \
  >"$work/anycreds.out" 2>"$work/anycreds.log" &
pids+=($!); apid=$!
"$bench/.venv/bin/moto_server" -H 127.0.0.1 -p 0 >"$work/moto.log" 2>&1 &
pids+=($!); mpid=$!

K=$(wait_url "$work/keypaird.out" "$kpid" 'keypaird listening on http://[0-9.:]+')
A=$(wait_url "$work/anycreds.out" "$apid" 'keypaird listening on http://[0-9.:]+')
M=$(wait_url "$work/moto.log" "$mpid" 'Running on http://[0-9.:]+')
log "keypaird $K (signatures verified), keypaird $A (--any-credentials), moto $M"

# Seeds seed-0000 … seed-0999 (tag team=bench) through the API, signed by keypaird-load.
seed() { # $1 url, then keypaird-load seed's options
  local url=$1
  shift
  timeout --kill-after=10 300 "$loadgen" seed --url "$url" "${creds[@]}" --count "$seed_count" "$@" \
    >&2 || die "seeding $url failed"
}
log "seeding $seed_count key pairs in each"
for url in "$K" "$A" "$M"; do seed "$url"; done
# The RSA pools (32 keys each) fill in the background right after start; let them finish so
# their thread does not share the CPU with the first measurements.
sleep 5

failed=0
# CPU time (user + system, in clock ticks) a process has used so far.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# The same for every PostgreSQL process on the machine, with the children they waited for (the
# postmaster's exited backends and autovacuum workers). A process may end between the glob and
# cat; cat then fails, which must not end the script (pipefail).
db_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk '/^[0-9]+ \(postgres\) / { sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 }
         END { print t + 0 }'
}

# Runs wrk against server $2 (a pid, for its CPU time) with the remaining arguments, and saves
# its WRK_RESULT line as $results/$1.json; a run with any non-2xx reply (or no result at all)
# is marked invalid there and fails the bench. With measure_db=1, PostgreSQL's CPU time too.
run_wrk() {
  local name=$1 pid=$2
  shift 2
  local before db_before="" db=()
  before=$(ticks "$pid")
  [ "${measure_db:-0}" = 1 ] && db_before=$(db_ticks)
  timeout --kill-after=10 $((duration + 90)) wrk "$@" > "$work/$name.wrk" 2>&1 || true
  [ -n "$db_before" ] && db=($(( $(db_ticks) - db_before )))
  "$py" "$bench/kp.py" wrkresult "$name" "$results/$name.json" $(( $(ticks "$pid") - before )) \
    "${db[@]}" < "$work/$name.wrk" || failed=1
}

wrk_args=(-t1 -c"$connections" -d"${duration}s" --timeout 60s)

# Runs keypaird-load against server $2 (a pid, for its CPU time) with the remaining arguments
# (`keypaird-load run`'s), and saves its figures as $results/$1.json; a run with any reply that
# was not a valid 2xx (or no result at all) is marked invalid there and fails the bench. A name
# ending in _moto runs with --peer moto. With measure_db=1, PostgreSQL's CPU time too.
run_load() {
  local name=$1 url=$2 pid=$3
  shift 3
  local peer=keypaird db=()
  case $name in *_moto) peer=moto ;; esac
  [ "${measure_db:-0}" = 1 ] && db=(--db-process postgres)
  timeout --kill-after=10 $((4 * duration + 300)) "$loadgen" run --url "$url" --peer "$peer" \
    --server-pid "$pid" "${db[@]}" "${creds[@]}" --json "$work/$name.load.json" "$@" >&2 || true
  "$py" "$bench/kp.py" loadresult "$name" "$work/$name.load.json" "$results/$name.json" \
    || failed=1
}
load_args=(--connections "$connections" --seconds "$duration")
# Every write's name starts with a tag of this run (keypaird-load names: <tag>-<kind>-<n>).
tag=r$(date +%s)

# Read workloads replay one request signed with botocore (valid for 15 minutes).
# $1 name, $2 url, $3 pid, $4 label, $5 KeyName or "", $6 expected key pairs, $7 warm|cold,
# then wrk's arguments. With read_sign=sign-ecs, the request is an ECS one (v1-signed, JSON).
read_workload() {
  local name=$1 url=$2 pid=$3 server=$4 key_name=$5 expected=$6 warmup=$7
  shift 7
  local spec=$work/$name-$server.req
  kp "${read_sign:-sign}" "$url" "$spec" $key_name
  if ! kp check "$url" "$spec" "$expected" > "$work/$name-$server.check" 2>&1; then
    printf '\nbench: INVALID %s_%s: %s\n\n' "$name" "$server" "$(cat "$work/$name-$server.check")" >&2
    "$py" -c 'import json,sys; print(json.dumps({"invalid": sys.argv[1][:300]}))' \
      "$(cat "$work/$name-$server.check")" > "$results/${name}_$server.json"
    failed=1
    return
  fi
  if [ "$warmup" = warm ]; then
    BENCH_REQUEST=$spec timeout 60 wrk -t1 -c"$connections" -d1s -s "$bench/replay.lua" "$url" \
      >/dev/null 2>&1 || true
  fi
  BENCH_REQUEST=$spec run_wrk "${name}_$server" "$pid" "$@" -s "$bench/replay.lua" "$url"
}

log "(0) reference: GET /healthz on keypaird (HTTP only: no signature, store or XML)"
run_wrk healthz_keypaird "$kpid" "${wrk_args[@]}" -s "$bench/lib.lua" "$K/healthz"

log "(1) DescribeKeyPairs, one key by name, $seed_count in the account"
read_workload describe_one "$K" "$kpid" keypaird seed-0500 1 warm "${wrk_args[@]}"
read_workload describe_one "$M" "$mpid" moto seed-0500 1 warm "${wrk_args[@]}"

# The cost of SigV4 is small next to the rest, so background load on the shared machine would
# hide it in two runs made seconds apart: alternate the two servers over three rounds instead.
log "(6) keypaird verifying signatures vs --any-credentials, 3 alternating rounds"
round_args=(-t1 -c"$connections" -d"$(( (duration + 2) / 3 ))s" --timeout 60s)
for round in 1 2 3; do
  read_workload sig_verify_$round "$K" "$kpid" keypaird seed-0500 1 cold "${round_args[@]}"
  read_workload sig_any_$round "$A" "$apid" keypaird seed-0500 1 cold "${round_args[@]}"
done
kp merge "$results/sig_verify.json" "$results"/sig_verify_*_keypaird.json || failed=1
kp merge "$results/sig_any.json" "$results"/sig_any_*_keypaird.json || failed=1
# The --any-credentials keypaird has done its part.
stop_server "$apid"

# moto takes about a second per reply of 1,000 key pairs, so 16 connections would leave no
# request finished within the run: 2 connections and 10 s for both servers, no warm-up (a
# warm-up's unfinished requests would keep moto busy into the measured run).
log "(2) DescribeKeyPairs, all $seed_count key pairs"
all_args=(-t1 -c2 -d"$((duration + 2))s" --timeout 60s)
read_workload describe_all "$K" "$kpid" keypaird "" "$seed_count" cold "${all_args[@]}"
read_workload describe_all "$M" "$mpid" moto "" "$seed_count" cold "${all_args[@]}"

# Writes, every request signed afresh and verified, into the one account; moto gets the same.
log "(3) ImportKeyPair ed25519, unique names"
run_load import_keypaird "$K" "$kpid" --scenario import "${load_args[@]}" --tag "${tag}k"
run_load import_moto "$M" "$mpid" --scenario import "${load_args[@]}" --tag "${tag}m"
log "(4) CreateKeyPair ed25519, unique names"
run_load create_ed25519_keypaird "$K" "$kpid" --scenario create-ed25519 "${load_args[@]}" \
  --tag "${tag}k"
run_load create_ed25519_moto "$M" "$mpid" --scenario create-ed25519 "${load_args[@]}" \
  --tag "${tag}m"
# What was answered was stored: count each run's names on its server.
for server in keypaird moto; do
  url=$K; [ "$server" = moto ] && url=$M
  for w in import create_ed25519; do
    result=$results/${w}_$server.json
    if [ -s "$result" ] && ! grep -q '"invalid"' "$result"; then
      kp stored "$url" "$result" >/dev/null || failed=1
    fi
  done
done
log "(10) DeleteKeyPair of key pairs created just before (untimed)"
run_load delete_keypaird "$K" "$kpid" --scenario delete "${load_args[@]}" --tag "${tag}k"
run_load delete_moto "$M" "$mpid" --scenario delete "${load_args[@]}" --tag "${tag}m"
log "(11) mixed: 70% describe by name, 10% by wildcard, 10% create ed25519, 10% delete"
run_load mixed_keypaird "$K" "$kpid" --scenario mixed "${load_args[@]}" --tag "${tag}k" \
  --seeded "$seed_count"
run_load mixed_moto "$M" "$mpid" --scenario mixed "${load_args[@]}" --tag "${tag}m" \
  --seeded "$seed_count"

log "(5) CreateKeyPair RSA: 20 sequential, 32 from 4 clients, then 4 clients for $duration s"
rsa() { # $1 name, $2 url, $3 pid, $4 tag letter
  run_load "rsa_seq_$1" "$2" "$3" --scenario create-rsa --connections 1 --requests 20 \
    --tag "${tag}${4}q"
  sleep 3 # let a warm pool refill (about 27 keys/s on two idle cores)
  # As many creates as the pool holds, from 4 clients: what a burst within the pool sees.
  run_load "rsa_burst_$1" "$2" "$3" --scenario create-rsa --connections 4 --requests 32 \
    --tag "${tag}${4}b"
  sleep 3
  run_load "rsa_sus_$1" "$2" "$3" --scenario create-rsa --connections 4 --seconds "$duration" \
    --tag "${tag}${4}s"
}
rsa keypaird "$K" "$kpid" k
# Stop this keypaird now: its pool thread would refill for seconds and share the CPU with moto.
stop_server "$kpid"
# The same store without a pool: what every RSA create costs once a pool is used up.
"$bin" serve --rsa-pool-size 0 --listen 127.0.0.1:0 --store "sqlite://$work/verify/k.db" \
  >"$work/nopool.out" 2>"$work/nopool.log" &
pids+=($!); npid=$!
rsa nopool "$(wait_url "$work/nopool.out" "$npid" 'keypaird listening on http://[0-9.:]+')" \
  "$npid" n
stop_server "$npid"
rsa moto "$M" "$mpid" m
# The machine's raw RSA-2048 rate in this run, no server: keypaird's own generator on every core.
# Creates beyond the pool (the no-pool row) are compared with it.
timeout 120 "$loadgen" rsa-raw --seconds "$duration" --json "$results/rsa_raw.json" >&2 || failed=1

# Marks a row that could not run as invalid. $1 result name, $2 why.
not_run() {
  printf '\nbench: INVALID %s: %s\n\n' "$1" "$2" >&2
  "$py" -c 'import json,sys; print(json.dumps({"invalid": sys.argv[1]}))' "$2" > "$results/$1.json"
}

# --- (7, 8) keypaird on PostgreSQL: a fresh schema, dropped at exit. Same requests as rows 1 and
# 3, on one keypaird verifying signatures; moto is not measured again (its rows 1 and 3 are the
# peers). No RSA pool: its thread would share the CPU with the measurements and no PostgreSQL row
# creates RSA keys.
pg_info=""
if [ -z "$postgres" ]; then
  log "(7, 8) skipped: BENCH_POSTGRES is empty"
  for r in describe_one_pg_keypaird import_pg_keypaird; do
    echo '{"invalid": "skipped: BENCH_POSTGRES is empty"}' > "$results/$r.json"
  done
elif ! pg_info=$(timeout 30 psql "$postgres" -qXAt -F '|' \
    -c "SELECT current_setting('server_version'), current_setting('synchronous_commit')" 2>&1); then
  for r in describe_one_pg_keypaird import_pg_keypaird; do
    not_run "$r" "PostgreSQL at $postgres not reachable: ${pg_info:0:200}"
  done
  pg_info=""
  failed=1
else
  pg_schema=bench_$(date +%s)
  case $postgres in
    *\?*) pg_store="$postgres&schema=$pg_schema" ;;
    *) pg_store="$postgres?schema=$pg_schema" ;;
  esac
  log "(7) DescribeKeyPairs, one key by name, on PostgreSQL (schema $pg_schema)"
  # PostgreSQL has no default master key file; the schema's is made by the first command.
  pg_key=(--master-key-file "$work/pg.master-key")
  "$bin" accounts create bench "${creds[@]}" "${quota[@]}" --store "$pg_store" "${pg_key[@]}" >/dev/null
  "$bin" serve --rsa-pool-size 0 --listen 127.0.0.1:0 --store "$pg_store" "${pg_key[@]}" \
    >"$work/pg.out" 2>"$work/pg.log" &
  pids+=($!); gpid=$!
  G=$(wait_url "$work/pg.out" "$gpid" 'keypaird listening on http://[0-9.:]+')
  seed "$G"
  # What autovacuum does within a minute of a bulk load (autovacuum_naptime): without statistics
  # on the fresh tables the planner reads the scope's 1,000 rows newest first and filters on the
  # name instead of using the name's unique index (0.6 ms of PostgreSQL CPU per lookup against
  # 0.08 ms), a state a running deployment is in for at most that minute.
  timeout 60 psql "$postgres" -qX -c "DO \$\$ DECLARE t record; BEGIN
      FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '$pg_schema' LOOP
        EXECUTE format('ANALYZE %I.%I', '$pg_schema', t.tablename);
      END LOOP; END \$\$" >&2
  measure_db=1 read_workload describe_one_pg "$G" "$gpid" keypaird seed-0500 1 warm "${wrk_args[@]}"
  # What row 9 cannot do: a keypaird verifying signatures refuses a replayed ECS request.
  kp ecs-replay "$G" >&2 || { printf '\nbench: the ECS replay check failed\n\n' >&2; failed=1; }

  log "(8) ImportKeyPair ed25519, unique names, on PostgreSQL"
  measure_db=1 run_load import_pg_keypaird "$G" "$gpid" --scenario import "${load_args[@]}" \
    --tag "${tag}g"
  result=$results/import_pg_keypaird.json
  if [ -s "$result" ] && ! grep -q '"invalid"' "$result"; then
    kp stored "$G" "$result" >/dev/null || failed=1
  fi
  stop_server "$gpid"
fi

# --- (9) the ECS dialect: DescribeKeyPairs of one key by name, one v1-signed request replayed.
# A replay passes only with --any-credentials (no signature, clock or nonce check). The account is
# made first, with its large quota, so that 1,000 key pairs fit (ECS's own is 500); under
# --any-credentials a known access key still names its account.
ecs_seed_count=$seed_count
log "(9) ECS DescribeKeyPairs, one key by name, $ecs_seed_count in the account (SQLite)"
"$bin" accounts create bench "${creds[@]}" "${quota[@]}" --store "sqlite://$work/ecs/k.db" \
  >/dev/null
"$bin" serve --any-credentials --rsa-pool-size 0 --listen 127.0.0.1:0 \
  --store "sqlite://$work/ecs/k.db" >"$work/ecs.out" 2>"$work/ecs.log" &
pids+=($!); epid=$!
E=$(wait_url "$work/ecs.out" "$epid" 'keypaird listening on http://[0-9.:]+')
seed "$E" --ecs
read_sign=sign-ecs read_workload ecs_describe_one "$E" "$epid" keypaird seed-0500 1 warm \
  "${wrk_args[@]}"
stop_server "$epid"

# --- (12, 13) the same read verified: every request signed afresh with a new nonce, which
# keypaird records in the store (a durable write per read), on the same store.
log "(12, 13) ECS DescribeKeyPairs, one key by name, verified: ACS v1, then V3"
"$bin" serve --rsa-pool-size 0 --listen 127.0.0.1:0 --store "sqlite://$work/ecs/k.db" \
  >"$work/ecsv.out" 2>"$work/ecsv.log" &
pids+=($!); vpid=$!
V=$(wait_url "$work/ecsv.out" "$vpid" 'keypaird listening on http://[0-9.:]+')
run_load ecs_describe_v1_keypaird "$V" "$vpid" --scenario ecs-describe --ecs-signature v1 \
  "${load_args[@]}" --seeded "$ecs_seed_count"
run_load ecs_describe_v3_keypaird "$V" "$vpid" --scenario ecs-describe --ecs-signature v3 \
  "${load_args[@]}" --seeded "$ecs_seed_count"
stop_server "$vpid"

# --- the report
"$py" - "$results/meta.json" "$root" "${wrk_args[*]}" "$load_before" "$pg_info" "$connections" \
  "$duration" <<'EOF'
import json, subprocess, sys
from importlib.metadata import version
out, root, wrk_args, load, pg, connections, duration = sys.argv[1:8]
run = lambda *cmd: subprocess.run(cmd, cwd=root, capture_output=True, text=True).stdout.strip()
model = next((l.split(":", 1)[1].strip() for l in run("lscpu").splitlines()
              if l.startswith("Model name")), "unknown CPU")
commit = run("git", "rev-parse", "--short", "HEAD")
if run("git", "status", "--porcelain", "--", "crates", "bench/scale", "Cargo.toml", "Cargo.lock"):
    commit += " (with uncommitted changes)"
json.dump({
    "date": run("date", "-u", "+%Y-%m-%d %H:%M UTC"),
    "cpus": run("nproc"),
    "cpu_model": model,
    "commit": commit,
    "moto": version("moto"),
    "wrk_args": wrk_args,
    "connections": connections,
    "duration": duration,
    "load": load.split(),
    "postgres": pg.split("|") if pg else [],
}, open(out, "w"))
EOF
echo
"$py" "$bench/kp.py" report "$results" "$bench/results-latest.md"
echo
log "written to bench/results-latest.md"
if [ "$failed" -ne 0 ]; then
  die "some workloads are INVALID (see above and the table); the numbers are not usable"
fi
