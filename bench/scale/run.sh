#!/usr/bin/env bash
# keypaird with 100 … 1,000,000 key pairs in one account, on SQLite and PostgreSQL, with moto's
# server as the peer up to 10,000 (see bench/scale/src/main.rs for the flags).
#   - builds keypaird and the benchmark in release (SCALE_PROFILE=debug: debug builds, for a
#     quick check that the benchmark works; its numbers say nothing about keypaird's speed),
#   - makes/reuses bench/.venv from bench/requirements.txt, for moto_server,
#   - runs target/<profile>/scale, which starts and stops every server itself, prints the report
#     and writes it to bench/scale/results-latest.md. Arguments are passed on and win over the
#     ones given here (e.g. --smoke, --sizes 100,10000, --backends sqlite, --out FILE).
# PostgreSQL: BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/test; empty skips it);
# a fresh schema scale_<unix time>_<pid> is made there and dropped at exit.
# Exits non-zero if any figure is INVALID.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bench=$root/bench

profile=${SCALE_PROFILE:-release}
case $profile in
  release) build_flags=(--release) ;;
  debug) build_flags=() ;;
  *) printf 'scale: SCALE_PROFILE must be release or debug, not %s\n' "$profile" >&2; exit 2 ;;
esac

# shellcheck source=bench/common.sh
. "$bench/common.sh"
bench_venv "$bench"

# (An empty array under set -u needs the ${a[@]+…} form on bash before 4.4.)
printf '==> cargo build%s -p keypaird -p keypaird-bench-scale\n' "${build_flags[@]+ ${build_flags[*]}}" >&2
cargo build ${build_flags[@]+"${build_flags[@]}"} -q -p keypaird -p keypaird-bench-scale
target=${CARGO_TARGET_DIR:-$root/target}/$profile

exec "$target/scale" \
  --keypaird "$target/keypaird" \
  --moto "$bench/.venv/bin/moto_server" \
  --out "$bench/scale/results-latest.md" \
  "$@"
