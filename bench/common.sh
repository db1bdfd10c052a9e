# Shared by bench/run.sh and bench/scale/run.sh (sourced, not run).

# Makes bench/.venv from bench/requirements.txt, reinstalling only when the requirements file
# changed since the last install. $1: the bench directory. PYTHON picks the interpreter.
bench_venv() {
  local bench=$1
  local python=${PYTHON:-python3}
  local req=$bench/requirements.txt
  local want have
  want=$(sha256sum "$req" | cut -d' ' -f1)
  have=$(cat "$bench/.venv/.requirements.sha256" 2>/dev/null || true)
  if [ ! -x "$bench/.venv/bin/python" ] || [ "$want" != "$have" ]; then
    printf '==> %s\n' "creating bench/.venv from bench/requirements.txt" >&2
    rm -rf "$bench/.venv"
    "$python" -m venv "$bench/.venv"
    "$bench/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$bench/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" > "$bench/.venv/.requirements.sha256"
  fi
}

# Waits for a server's banner and prints its URL. $1: log file, $2: pid, $3: banner regex.
# Needs a `die` function in the sourcing script.
wait_url() {
  local url=""
  for _ in $(seq 300); do
    url=$(grep -oE "$3" "$1" 2>/dev/null | grep -oE 'http://127\.0\.0\.1:[0-9]+' | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    kill -0 "$2" 2>/dev/null || die "server exited early: $(tail -5 "$1")"
    sleep 0.1
  done
  die "no banner in $1 after 30 s: $(tail -5 "$1")"
}
