#!/usr/bin/env bash
# Compatibility run: sanity and unit tests on the newest ansible-core (2.21, Python 3.12/3.13)
# and on the oldest supported one (2.18, Python 3.11), when those interpreters exist here.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
find_python() { # version -> path of a real interpreter, or nothing
  local v=$1 cand
  for cand in "$(command -v "python$v" 2>/dev/null || true)" "$HOME"/.pyenv/versions/"$v".*/bin/python"$v"; do
    if [ -z "$cand" ] || [ ! -x "$cand" ]; then continue; fi
    "$cand" -c 'import sys, venv, ensurepip' >/dev/null 2>&1 || continue
    "$cand" -c 'import sys; print(sys.executable)'
    return 0
  done
}
run_one() { # label core-spec python-version
  local label=$1 core=$2 pyver=$3 py venv
  py=$(find_python "$pyver" || true)
  if [ -z "$py" ]; then
    echo "compat $label: SKIPPED, Python $pyver is not installed on this machine"
    return 0
  fi
  venv="$top/.venv-$label"
  if [ ! -f "$venv/.stamp-$core" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q "ansible-core$core" requests requests-oauthlib cryptography pytest PyYAML 2>&1 | grep -v '^WARNING' || true
    touch "$venv/.stamp-$core"
  fi
  version=$("$venv/bin/ansible" --version)
  echo "compat $label: ${version%%$'\n'*} on $("$venv/bin/python" --version)"
  "$top/scripts/ansible-test.sh" --venv-dir "$venv" --python "$pyver" sanity
  (cd "$top" && PYTHONPATH="$top/.collections:$top/tools" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
     --junitxml="$top/tests/output/results/units-$label.xml" tests/unit)
}
run_one core-2.21 '>=2.21,<2.22' 3.12
run_one core-2.18 '>=2.18,<2.19' 3.11
