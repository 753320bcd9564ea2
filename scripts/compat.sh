#!/usr/bin/env bash
# Compatibility run on the supported ansible-core releases other than 2.19 (the .venv of every other stage):
#   the oldest (2.18, Python 3.11) and the newest (2.21, Python 3.12): sanity, units, the module integration tests
#   (tests/integration) and one playbook scenario (deploy, rerun, status, remove: tests/playbooks/$COMPAT_PLAYBOOK_TEST);
#   every release in between (2.20, Python 3.12): sanity and units.
# meta/runtime.yml's requires_ansible covers exactly these releases. Each release has its own virtualenv
# (.venv-core-X.Y, rebuilt when its pins change) and the releases run in parallel; each one's output goes to
# tests/output/compat/LABEL.log and is printed when it failed. A missing interpreter fails the run (the message says
# how to install it) unless COMPAT_ALLOW_SKIP=1.
# Usage: scripts/compat.sh [LABEL ...]   (default: every release; labels: core-2.18 core-2.20 core-2.21)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results="$top/tests/output/results"
logs="$top/tests/output/compat"
mkdir -p "$results" "$logs"
playbook_test=${COMPAT_PLAYBOOK_TEST:-test_deploy_remove.py}

# label, ansible-core specifier, Python version, what runs (full: sanity units integration playbook; basic: sanity units)
releases=(
  "core-2.18 >=2.18,<2.19 3.11 full"
  "core-2.20 >=2.20,<2.21 3.12 basic"
  "core-2.21 >=2.21,<2.22 3.12 full"
)

find_python() { # version -> path of a real interpreter, or nothing
  local v=$1 cand
  for cand in "$(command -v "python$v" 2>/dev/null || true)" "$HOME"/.pyenv/versions/"$v".*/bin/python"$v"; do
    if [ -z "$cand" ] || [ ! -x "$cand" ]; then continue; fi
    "$cand" -c 'import sys, venv, ensurepip' >/dev/null 2>&1 || continue
    "$cand" -c 'import sys; print(sys.executable)'
    return 0
  done
}

# The test libraries at the versions requirements-dev.txt pins for the main .venv.
pins=$(grep -E '^(requests|requests-oauthlib|oauthlib|cryptography|pytest|pytest-xdist|PyYAML)==' "$top/requirements-dev.txt" | tr '\n' ' ')

make_venv() { # label core-spec python -> prints the venv path
  local label=$1 core=$2 py=$3 venv stamp
  venv="$top/.venv-$label"
  stamp="$venv/.stamp-$(printf '%s %s %s' "$core" "$py" "$pins" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    # shellcheck disable=SC2086  # the pins are one word each
    "$venv/bin/pip" install -q "ansible-core$core" $pins 2>&1 | grep -v '^WARNING' || true
    "$venv/bin/python" -c 'import ansible, requests_oauthlib, cryptography, pytest, xdist, yaml'
    touch "$stamp"
  fi
  echo "$venv"
}

run_release() { # label core-spec python-version scope; output to its log
  local label=$1 core=$2 pyver=$3 scope=$4 py venv t0
  t0=$(date +%s)
  py=$(find_python "$pyver" || true)
  if [ -z "$py" ]; then
    echo "Python $pyver is not installed on this machine: install it (pyenv install $pyver, or the distribution's python$pyver and python$pyver-venv) or run with COMPAT_ALLOW_SKIP=1"
    return 3
  fi
  venv=$(make_venv "$label" "$core" "$py")
  echo "$label: $("$venv/bin/ansible" --version 2>/dev/null | head -n1) on $("$venv/bin/python" --version) (venv ready after $(( $(date +%s) - t0 )) s)"
  (
    cd "$top"
    export ANSIBLE_COLLECTIONS_PATH="$top/.collections" PYTHONPATH="$top/.collections:$top/tools" ANSIBLE_HOME="$top/.ansible"
    export ANSIBLE_NOCOLOR=1 PY_COLORS=0
    pytest=("$venv/bin/python" -m pytest -q -p no:cacheprovider)
    "$top/scripts/ansible-test.sh" --venv-dir "$venv" --python "$pyver" sanity
    echo "$label: sanity passed after $(( $(date +%s) - t0 )) s"
    "${pytest[@]}" --junitxml="$results/units-$label.xml" tests/unit
    echo "$label: units passed after $(( $(date +%s) - t0 )) s"
    if [ "$scope" = full ]; then
      "${pytest[@]}" --junitxml="$results/integration-$label.xml" tests/integration
      echo "$label: integration passed after $(( $(date +%s) - t0 )) s"
      "${pytest[@]}" --junitxml="$results/playbook-$label.xml" "tests/playbooks/$playbook_test"
      echo "$label: playbook $playbook_test passed after $(( $(date +%s) - t0 )) s"
    fi
  )
}

selected=("$@")
start=$(date +%s)
pids=() labels=()
for release in "${releases[@]}"; do
  read -r label core pyver scope <<<"$release"
  if [ ${#selected[@]} -gt 0 ] && [[ " ${selected[*]} " != *" $label "* ]]; then continue; fi
  run_release "$label" "$core" "$pyver" "$scope" >"$logs/$label.log" 2>&1 &
  pids+=("$!") labels+=("$label")
done
failed=0
for i in "${!pids[@]}"; do
  label=${labels[$i]}
  rc=0
  wait "${pids[$i]}" || rc=$?
  if [ "$rc" -eq 0 ]; then
    grep -E "^$label: " "$logs/$label.log" | sed 's/^/compat /'
  elif [ "$rc" -eq 3 ] && [ "${COMPAT_ALLOW_SKIP:-0}" = 1 ]; then
    echo "compat $label: SKIPPED, $(tail -n1 "$logs/$label.log")"
  else
    echo "compat $label: FAILED (rc $rc), its log $logs/$label.log:"
    tail -n 80 "$logs/$label.log"
    failed=1
  fi
done
echo "compat: ${labels[*]} in $(( $(date +%s) - start )) s"
exit "$failed"
