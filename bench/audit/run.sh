#!/usr/bin/env bash
# The audit trail's cost (issue 14), side by side, in one run (see BENCHMARKS.md, "The audit
# trail: bench/audit"):
#   writes  ImportKeyPair ed25519, CreateKeyPair ed25519 and DeleteKeyPair (bench/run.sh's rows
#           3, 4 and 10) against the pre-audit keypaird (AUDIT_BASE, default 43147ec) and this
#           tree's keypaird, alternately, AUDIT_ROUNDS rounds (default 3), each round on fresh
#           SQLite stores in $TMPDIR; then ImportKeyPair on PostgreSQL the same way (a fresh
#           schema per server and round, dropped at exit). After each round the current
#           server's trail must hold exactly one event per acknowledged write. moto gets the
#           ImportKeyPair and CreateKeyPair workloads once, as the peer.
#   lookup  one account filled through the API (ImportKeyPair ed25519, 16 connections) to
#           AUDIT_EVENTS events (default 1,000,000) and another to 100; two servers side by
#           side, and each CloudTrail LookupEvents shape measured on both alternately
#           (AUDIT_ROUNDS rounds of AUDIT_LOOKUP_SECONDS, default 3, 16 clients). moto has no
#           LookupEvents: its DescribeKeyPairs by name (1,000 key pairs) is the nearest peer.
#           With AUDIT_PG_EVENTS > 0 (default 0), the same on PostgreSQL at that size;
#           AUDIT_EVENTS=0 skips SQLite.
# Usage: bench/audit/run.sh [writes|lookup|all]   (default all)
# Settings: AUDIT_DURATION (seconds per write run, default 8), AUDIT_CONNECTIONS (default 16),
# AUDIT_POSTGRES (default postgres://postgres@127.0.0.1:5432/test; empty skips PostgreSQL),
# AUDIT_BASE_TREE (a checkout of AUDIT_BASE to build; default: a git worktree made in
# $TMPDIR), AUDIT_BASE_BIN (a pre-audit keypaird already built: no build at all).
# Every server it starts is stopped at exit; it exits non-zero if any reply was not a valid
# 2xx or a trail did not hold one event per acknowledged write. Release builds, one at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bench=$root/bench
part=${1:-all}
case $part in writes|lookup|all) ;; *) echo "usage: $0 [writes|lookup|all]" >&2; exit 2 ;; esac

duration=${AUDIT_DURATION:-8}
connections=${AUDIT_CONNECTIONS:-16}
rounds=${AUDIT_ROUNDS:-3}
events=${AUDIT_EVENTS:-1000000}
pg_events=${AUDIT_PG_EVENTS:-0}
lookup_seconds=${AUDIT_LOOKUP_SECONDS:-3}
base_commit=${AUDIT_BASE:-43147ec}
postgres=${AUDIT_POSTGRES-postgres://postgres@127.0.0.1:5432/test}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/audit: %s\n' "$*" >&2; exit 1; }

. "$bench/common.sh"
bench_venv "$bench"
py=$bench/.venv/bin/python

# --- builds, one after the other
log "cargo build --release -p keypaird -p keypaird-bench-scale"
cargo build --release -q -p keypaird -p keypaird-bench-scale
bin=$root/target/release/keypaird
loadgen=$root/target/release/keypaird-load
if [ "$part" != lookup ]; then
  if [ -n "${AUDIT_BASE_BIN:-}" ]; then
    base_bin=$AUDIT_BASE_BIN
  else
    base_tree=${AUDIT_BASE_TREE:-${TMPDIR:-/tmp}/keypaird-base-$base_commit}
    if [ ! -e "$base_tree/Cargo.toml" ]; then
      git worktree add --detach "$base_tree" "$base_commit" >&2
    fi
    [ "$(git -C "$base_tree" rev-parse --short=7 HEAD)" = "${base_commit:0:7}" ] \
      || die "$base_tree is not at $base_commit"
    # The dependencies are the same builds: start from this tree's. The copied artifacts of
    # the workspace's own crates are newer than the checkout's files, so cargo would take them
    # as up to date: the checkout's sources are touched to be rebuilt.
    if [ ! -d "$base_tree/target/release" ]; then
      mkdir -p "$base_tree/target"
      cp -a "$root/target/release" "$base_tree/target/"
      find "$base_tree/crates" "$base_tree/Cargo.toml" "$base_tree/Cargo.lock" -type f \
        -exec touch {} +
    fi
    log "cargo build --release -p keypaird in $base_tree ($base_commit, before the audit trail)"
    (cd "$base_tree" && cargo build --release -q -p keypaird)
    base_bin=$base_tree/target/release/keypaird
  fi
fi
creds=(--access-key-id benchkey --secret-access-key benchsecret)

# --- everything started is stopped at exit
work=$(mktemp -d "${TMPDIR:-/tmp}/keypaird-audit.XXXXXX")
results=$work/results
mkdir -p "$results"
pids=()
schemas=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for schema in "${schemas[@]}"; do
    timeout 60 psql "$postgres" -qX -c "SET client_min_messages = warning" \
      -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 \
      || printf 'bench/audit: could not drop the PostgreSQL schema %s\n' "$schema" >&2
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0
mark_failed() { printf '\nbench/audit: FAILED: %s\n\n' "$*" >&2; failed=1; }

# Starts a verifying keypaird ($1 binary) on store $2 (made with the account bench and quota
# $3 first; $4 extra store options), no RSA pool; sets $started_pid and $started_url.
start_server() {
  local binary=$1 store=$2 quota=$3 name=$4
  shift 4
  "$binary" accounts create bench "${creds[@]}" --key-pair-quota "$quota" --store "$store" "$@" \
    >/dev/null
  "$binary" serve --rsa-pool-size 0 --listen 127.0.0.1:0 --store "$store" "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  started_pid=$!
  pids+=("$started_pid")
  started_url=$(wait_url "$work/$name.out" "$started_pid" 'keypaird listening on http://[0-9.:]+')
}
stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}
# A fresh PostgreSQL store URL (its schema dropped at exit); sets $pg_store.
new_pg_store() {
  local schema=audit_$1_$(date +%s%N | cut -c1-13)
  schemas+=("$schema")
  case $postgres in
    *\?*) pg_store="$postgres&schema=$schema" ;;
    *) pg_store="$postgres?schema=$schema" ;;
  esac
}

# keypaird-load run against $2 (pid $3), figures to $results/$1.json; the rest is run's options.
# A reply that was not a valid 2xx (or no result) fails the run.
load() {
  local name=$1 url=$2 pid=$3
  shift 3
  if ! timeout --kill-after=10 "${load_timeout:-600}" "$loadgen" run --url "$url" \
      --server-pid "$pid" "${creds[@]}" --json "$results/$name.json" "$@" >&2; then
    mark_failed "$name: not every reply was a valid 2xx (see above)"
    [ -s "$results/$name.json" ] || echo '{"invalid": true}' > "$results/$name.json"
  fi
}
field() { "$py" -c 'import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"v": v}))' "$@"; }

# The current server's trail must hold one event per acknowledged write of the round: $1 store
# (and its options after), checked against the results of round $2.
check_trail() {
  local round=$1 store=$2 kind=$3
  shift 3
  local want_import want_create want_delete got_import got_create got_delete
  want_import=$(field "$results/${kind}import_cur_$round.json" 'v.get("ok", -1)')
  want_create=$(field "$results/${kind}create_cur_$round.json" 'v.get("ok", -1)')
  want_delete=$(field "$results/${kind}delete_cur_$round.json" 'v.get("ok", -1)')
  # The delete run's untimed setup created its key pairs first: CreateKeyPair events too.
  want_create=$(( want_create + $(field "$results/${kind}delete_cur_$round.json" \
    '(v.get("setup") or {}).get("created", 0)') ))
  count() {
    local action=$1
    shift
    timeout 300 "$bin" audit --store "$store" "$@" --account bench --action "$action" --json \
      --limit 100000000 | grep -c '"errorCode":null' || true
  }
  got_import=$(count ImportKeyPair "$@")
  got_create=$(count CreateKeyPair "$@")
  got_delete=$(count DeleteKeyPair "$@")
  printf '{"ImportKeyPair": [%s, %s], "CreateKeyPair": [%s, %s], "DeleteKeyPair": [%s, %s]}\n' \
    "$want_import" "$got_import" "$want_create" "$got_create" "$want_delete" "$got_delete" \
    > "$results/${kind}trail_$round.json"
  log "trail of round $round ($kind${kind:+ }current): ImportKeyPair $got_import events for $want_import acknowledged, CreateKeyPair $got_create for $want_create, DeleteKeyPair $got_delete for $want_delete"
  if [ "$want_import" != "$got_import" ] || [ "$want_create" != "$got_create" ] \
      || [ "$want_delete" != "$got_delete" ]; then
    mark_failed "round $round: the trail does not hold one event per acknowledged write"
  fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
tag=a$(date +%s)
wargs=(--connections "$connections" --seconds "$duration")

if [ "$part" != lookup ]; then
  # --- writes on SQLite: both servers up, each workload on one then the other; the order of
  # the two servers swaps every round so that drift on the shared machine cancels out.
  for round in $(seq "$rounds"); do
    log "writes, SQLite, round $round of $rounds (fresh stores)"
    start_server "$base_bin" "sqlite://$work/base-$round/k.db" 1000000 "base-$round"
    bpid=$started_pid; B=$started_url
    start_server "$bin" "sqlite://$work/cur-$round/k.db" 1000000 "cur-$round"
    cpid=$started_pid; C=$started_url
    order=(base cur); [ $((round % 2)) = 0 ] && order=(cur base)
    for w in import create delete; do
      scenario=$w; [ "$w" = create ] && scenario=create-ed25519
      for s in "${order[@]}"; do
        url=$B; pid=$bpid; [ "$s" = cur ] && { url=$C; pid=$cpid; }
        load "${w}_${s}_$round" "$url" "$pid" --scenario "$scenario" "${wargs[@]}" \
          --tag "${tag}${s}${round}"
      done
    done
    check_trail "$round" "sqlite://$work/cur-$round/k.db" ""
    stop_server "$bpid"; stop_server "$cpid"
    rm -rf "$work/base-$round" "$work/cur-$round"
  done

  # --- moto, the peer: the same ImportKeyPair and CreateKeyPair once.
  "$bench/.venv/bin/moto_server" -H 127.0.0.1 -p 0 >"$work/moto.log" 2>&1 &
  mpid=$!; pids+=("$mpid")
  M=$(wait_url "$work/moto.log" "$mpid" 'Running on http://[0-9.:]+')
  log "moto $M: ImportKeyPair, CreateKeyPair"
  load import_moto "$M" "$mpid" --peer moto --scenario import "${wargs[@]}" --tag "${tag}m"
  load create_moto "$M" "$mpid" --peer moto --scenario create-ed25519 "${wargs[@]}" \
    --tag "${tag}m"
  stop_server "$mpid"

  # --- ImportKeyPair on PostgreSQL, alternately, a fresh schema per server and round; the
  # CPU of every postgres process on the machine is counted too.
  if [ -n "$postgres" ] && timeout 30 psql "$postgres" -qXAt -c 'SELECT 1' >/dev/null 2>&1; then
    pg_info=$(timeout 30 psql "$postgres" -qXAt -F '|' \
      -c "SELECT current_setting('server_version'), current_setting('synchronous_commit')")
    echo "\"$pg_info\"" > "$results/pg_info.json"
    for round in $(seq "$rounds"); do
      log "ImportKeyPair, PostgreSQL, round $round of $rounds (fresh schemas)"
      new_pg_store base
      start_server "$base_bin" "$pg_store" 1000000 "pgbase-$round" \
        --master-key-file "$work/pgbase-$round.key"
      bpid=$started_pid; B=$started_url
      new_pg_store cur
      cur_store=$pg_store
      start_server "$bin" "$pg_store" 1000000 "pgcur-$round" --master-key-file "$work/pgcur-$round.key"
      cpid=$started_pid; C=$started_url
      order=(base cur); [ $((round % 2)) = 0 ] && order=(cur base)
      for s in "${order[@]}"; do
        url=$B; pid=$bpid; [ "$s" = cur ] && { url=$C; pid=$cpid; }
        load "pgimport_${s}_$round" "$url" "$pid" --scenario import "${wargs[@]}" \
          --db-process postgres --tag "${tag}g${s}${round}"
      done
      want=$(field "$results/pgimport_cur_$round.json" 'v.get("ok", -1)')
      got=$(timeout 300 "$bin" audit --store "$cur_store" --master-key-file "$work/pgcur-$round.key" \
        --account bench --action ImportKeyPair --json --limit 100000000 | grep -c '"errorCode":null' || true)
      echo "{\"ImportKeyPair\": [$want, $got]}" > "$results/pgtrail_$round.json"
      log "trail of round $round (PostgreSQL, current): ImportKeyPair $got events for $want acknowledged"
      [ "$want" = "$got" ] || mark_failed "PostgreSQL round $round: the trail does not hold one event per acknowledged write"
      stop_server "$bpid"; stop_server "$cpid"
    done
  else
    log "PostgreSQL skipped (AUDIT_POSTGRES empty or not reachable)"
  fi
fi

if [ "$part" != writes ]; then
  shapes=(none event-name resource-name event-id access-key-id window deep-page)
  # Starts a keypaird on store $1 (its options after $3) and fills one account through the API
  # to $2 events (names f$3-imp-<n>); the figures go to $results/fill_$3.json, the fill's start
  # and end (epoch seconds) to fillspan_$3.json. Sets $fill_pid and $fill_url.
  fill() {
    local store=$1 count=$2 label=$3
    shift 3
    start_server "$bin" "$store" 2000000 "lookup-$label" "$@"
    fill_pid=$started_pid; fill_url=$started_url
    local t0 t1
    t0=$(date +%s)
    log "filling $label to $count events (ImportKeyPair ed25519, $connections connections)"
    load_timeout=3600 load "fill_$label" "$fill_url" "$fill_pid" --scenario import \
      --connections "$connections" --requests "$count" --tag "f$label"
    t1=$(date +%s)
    echo "[$t0, $t1]" > "$results/fillspan_$label.json"
  }
  # Measures every shape on the two servers, alternately: $1 the backend's prefix ("" or pg),
  # $2 and $3 the big and the small server as url:pid, $4 and $5 their sizes.
  lookups() {
    local kind=$1 big=$2 small=$3 big_n=$4 small_n=$5
    local span_b span_s mid
    span_b=$(cat "$results/fillspan_${kind}big.json")
    span_s=$(cat "$results/fillspan_${kind}small.json")
    for shape in "${shapes[@]}"; do
      for round in $(seq "$rounds"); do
        order=(big small); [ $((round % 2)) = 0 ] && order=(small big)
        for s in "${order[@]}"; do
          local spec=$big n=$big_n span=$span_b
          [ "$s" = small ] && { spec=$small; n=$small_n; span=$span_s; }
          local url=${spec%:*} pid=${spec##*:}
          local extra=(--lookup-names "f${kind}${s}-imp-" --lookup-count "$n")
          if [ "$shape" = window ]; then
            # One minute in the middle of the fill (the small fill lasts well under a minute:
            # its minute holds all of it).
            mid=$("$py" -c 'import json,sys; a,b=json.loads(sys.argv[1]); print((a+b)//2)' "$span")
            extra+=(--lookup-window "$((mid - 30)),$((mid + 30))")
          fi
          # On PostgreSQL, its processes' CPU too.
          [ "$kind" = pg ] && extra+=(--db-process postgres)
          load "${kind}lookup_${shape}_${s}_$round" "$url" "$pid" --scenario lookup \
            --lookup "$shape" "${extra[@]}" --connections "$connections" \
            --seconds "$lookup_seconds"
        done
      done
    done
  }

  if [ "$events" -gt 0 ]; then
  log "LookupEvents, SQLite: $events events against 100"
  fill "sqlite://$work/big/k.db" "$events" big
  bpid=$fill_pid; B=$fill_url
  fill "sqlite://$work/small/k.db" 100 small
  spid=$fill_pid; S=$fill_url
  # The trail holds what was acknowledged: one ImportKeyPair event per import.
  for s in big small; do
    n=$(sqlite3 "file:$work/$s/k.db?mode=ro" \
      "SELECT (SELECT count(*) FROM audit_events WHERE account_name = 'bench' AND event_name = 'ImportKeyPair' AND error_code IS NULL) + (SELECT count(*) FROM audit_recent WHERE account_name = 'bench' AND event_name = 'ImportKeyPair' AND error_code IS NULL)")
    want=$(field "$results/fill_$s.json" 'v.get("ok", -1)')
    echo "[$want, $n]" > "$results/filltrail_$s.json"
    log "$s: $n ImportKeyPair events for $want acknowledged imports"
    [ "$n" = "$want" ] || mark_failed "$s: the trail does not hold one event per import"
  done
  du -sk "$work/big" | cut -f1 > "$results/bigstore_kb.json"
  lookups "" "$B:$bpid" "$S:$spid" "$events" 100
  stop_server "$spid"; stop_server "$bpid"
  rm -rf "$work/big" "$work/small"
  fi

  if [ "$pg_events" -gt 0 ] && [ -n "$postgres" ]; then
    log "LookupEvents, PostgreSQL: $pg_events events against 100"
    new_pg_store lbig
    big_schema=${schemas[-1]}
    fill "$pg_store" "$pg_events" pgbig --master-key-file "$work/pgbig.key"
    bpid=$fill_pid; B=$fill_url
    new_pg_store lsmall
    small_schema=${schemas[-1]}
    fill "$pg_store" 100 pgsmall --master-key-file "$work/pgsmall.key"
    spid=$fill_pid; S=$fill_url
    for s in big small; do
      schema=$big_schema; [ "$s" = small ] && schema=$small_schema
      n=$(timeout 300 psql "$postgres" -qXAt -c "SELECT count(*) FROM $schema.audit_events
        WHERE account_name = 'bench' AND event_name = 'ImportKeyPair' AND error_code IS NULL")
      want=$(field "$results/fill_pg$s.json" 'v.get("ok", -1)')
      echo "[$want, $n]" > "$results/filltrail_pg$s.json"
      log "pg$s: $n ImportKeyPair events for $want acknowledged imports"
      [ "$n" = "$want" ] || mark_failed "pg$s: the trail does not hold one event per import"
    done
    # What autovacuum does within a minute of a bulk load: statistics.
    for schema in "${schemas[@]}"; do
      case $schema in audit_lbig_*|audit_lsmall_*)
        timeout 600 psql "$postgres" -qX -c "DO \$\$ DECLARE t record; BEGIN
          FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '$schema' LOOP
            EXECUTE format('ANALYZE %I.%I', '$schema', t.tablename);
          END LOOP; END \$\$" >&2 ;;
      esac
    done
    lookups pg "$B:$bpid" "$S:$spid" "$pg_events" 100
    stop_server "$spid"; stop_server "$bpid"
  fi

  # moto has no LookupEvents; its DescribeKeyPairs of one key by name is the nearest read.
  "$bench/.venv/bin/moto_server" -H 127.0.0.1 -p 0 >"$work/moto2.log" 2>&1 &
  mpid=$!; pids+=("$mpid")
  M=$(wait_url "$work/moto2.log" "$mpid" 'Running on http://[0-9.:]+')
  log "moto $M: DescribeKeyPairs by name, 1,000 key pairs (the nearest peer read)"
  load moto_describe "$M" "$mpid" --peer moto --scenario describe-by-name --seed 1000 \
    --connections "$connections" --seconds "$lookup_seconds"
  stop_server "$mpid"
fi

# --- the report
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain -- crates bench/scale Cargo.toml Cargo.lock)" ]; then
  commit="$commit (with uncommitted changes)"
fi
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
"$py" -c 'import json,sys; json.dump(dict(zip(["date","commit","base","cpus","cpu","load","connections","duration","rounds","events","pg_events","lookup_seconds","part"], sys.argv[1:])), open(sys.argv[-1], "w"))' \
  "$started_at" "$commit" "$base_commit" "$(nproc)" "$model" "$load_before" "$connections" \
  "$duration" "$rounds" "$events" "$pg_events" "$lookup_seconds" "$part" "$results/meta.json"
mkdir -p "$bench/audit/runs"
suffix=$part
[ "$part" = lookup ] && [ "$events" = 0 ] && suffix=lookup-pg
keep=$bench/audit/runs/$(date -u +%Y%m%dT%H%M%S)-$suffix
cp -r "$results" "$keep"
# results-latest.md: this run, or with one part, the latest run of each part.
if [ "$part" = all ]; then
  report_dirs=("$keep")
else
  report_dirs=()
  for p in writes lookup lookup-pg; do
    d=$(ls -d "$bench/audit/runs/"*-"$p" 2>/dev/null | tail -1 || true)
    [ -n "$d" ] && report_dirs+=("$d")
  done
fi
"$py" "$bench/audit/report.py" "${report_dirs[@]}" > "$bench/audit/results-latest.md"
log "figures kept in ${keep#"$root"/}; tables in bench/audit/results-latest.md"
[ "$failed" = 0 ] || die "some runs FAILED (see above): the numbers are not usable"
