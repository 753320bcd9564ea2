#!/usr/bin/env bash
# `make test`: take a fresh clone to a passing test run. Each stage stops the run on
# failure and says which stage failed; the last line is the summary of all checks.
# Usage: scripts/test.sh [stage ...]   (default: all stages)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
venv="$top/.venv"
results="$top/tests/output/results"
rm -rf "$results"
mkdir -p "$results"
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/.collections:$top/tools"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0
export ANSIBLE_HOME="$top/.ansible"

all_stages=(setup changelog sanity units emulator bridge integration playbooks lint molecule hosts build compat)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=("${all_stages[@]}")

pytest_run() { # name, pytest args...
  local name=$1; shift
  "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$results/$name.xml" "$@"
}

stage_setup() {
  scripts/system-packages.sh && make -s venv deps
}
stage_changelog() { (cd "$top" && "$venv/bin/antsibull-changelog" lint) && touch "$results/changelog.ok"; }
stage_sanity() { scripts/ansible-test.sh sanity && touch "$results/sanity.ok"; }
stage_units() { pytest_run units tests/unit; }
stage_emulator() { pytest_run emulator tests/emulator -n 2; }
stage_bridge() { pytest_run bridge tests/bridge -n 2; }
stage_integration() {
  if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
    pytest_run integration tests/integration -n 2
  else
    echo "no integration tests yet"
  fi
}
stage_playbooks() { pytest_run playbooks tests/playbooks -n 2; }
stage_lint() { "$venv/bin/ansible-lint" --offline -q && touch "$results/lint.ok"; }
stage_molecule() { scripts/molecule.sh && touch "$results/molecule.ok"; }
stage_hosts() { pytest_run hosts tests/hosts && scripts/hosts.sh && touch "$results/hosts.ok"; }
stage_build() { scripts/build.sh && scripts/crypto-floor.sh && touch "$results/build.ok"; }
stage_compat() { scripts/compat.sh && touch "$results/compat.ok"; }

start=$(date +%s)
for stage in "${stages[@]}"; do
  echo "=== stage: $stage ==="
  t0=$(date +%s)
  if ! "stage_$stage"; then
    echo "=== FAILED stage: $stage (after $(( $(date +%s) - t0 )) s) ==="
    "$venv/bin/python" scripts/summary.py "$results" --failed-stage "$stage" 2>/dev/null || echo "total: 0 passed, 1 failed"
    exit 1
  fi
  echo "=== passed stage: $stage ($(( $(date +%s) - t0 )) s) ==="
done
echo "all stages passed in $(( $(date +%s) - start )) s: ${stages[*]}"
"$venv/bin/python" scripts/summary.py "$results"
