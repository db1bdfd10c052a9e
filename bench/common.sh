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
