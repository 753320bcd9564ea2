#!/usr/bin/env bash
# Compatibility run on the supported ansible-core releases other than 2.19 (the .venv of every other stage):
#   the oldest (2.18, Python 3.11) and the newest (2.21, Python 3.12): sanity, units, the module integration tests
#   (tests/integration) and one playbook scenario (deploy, rerun, status, remove: tests/playbooks/$COMPAT_PLAYBOOK_TEST);
#   every release in between (2.20, Python 3.12): sanity and units.
# meta/runtime.yml's requires_ansible covers exactly these releases. Each release has its own virtualenv
# (.venv-core-X.Y, rebuilt when its pins change); every release's static checks (sanity, units) and live tests
# (integration, playbook) are jobs, COMPAT_JOBS (default: the CPUs) at a time, each with its log in
# tests/output/compat/LABEL-KIND.log, printed when it failed. A missing interpreter fails the run (the message says how to install it) unless COMPAT_ALLOW_SKIP=1.
# Usage: scripts/compat.sh [LABEL ...]   (default: every release; labels: core-2.18 core-2.20 core-2.21)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results="$top/tests/output/results"
logs="$top/tests/output/compat"
mkdir -p "$results" "$logs"
rm -f "$logs"/*.log
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

make_venv() { # label core-spec python -> prints the venv path (last line)
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

venv_of() { # label core-spec python-version -> the venv path; status 3 when the interpreter is missing
  local label=$1 core=$2 pyver=$3 py
  py=$(find_python "$pyver" || true)
  if [ -z "$py" ]; then
    echo "Python $pyver is not installed on this machine: install it (pyenv install $pyver, or the distribution's python$pyver and python$pyver-venv) or run with COMPAT_ALLOW_SKIP=1"
    return 3
  fi
  make_venv "$label" "$core" "$py"
}

# One job: "static" (sanity, units) or "live" (integration tests, the playbook scenario), in its own log.
run_job() { # label venv python-version kind
  local label=$1 venv=$2 pyver=$3 kind=$4 t0
  t0=$(date +%s)
  cd "$top"
  export ANSIBLE_COLLECTIONS_PATH="$top/.collections" PYTHONPATH="$top/.collections:$top/tools" ANSIBLE_HOME="$top/.ansible"
  export ANSIBLE_NOCOLOR=1 PY_COLORS=0
  local pytest=("$venv/bin/python" -m pytest -q -p no:cacheprovider)
  if [ "$kind" = static ]; then
    "$top/scripts/ansible-test.sh" --venv-dir "$venv" --python "$pyver" sanity
    echo "$label: sanity passed in $(( $(date +%s) - t0 )) s"
    "${pytest[@]}" --junitxml="$results/units-$label.xml" tests/unit
    echo "$label: units passed after $(( $(date +%s) - t0 )) s"
  else
    "${pytest[@]}" --junitxml="$results/integration-$label.xml" tests/integration
    echo "$label: integration passed in $(( $(date +%s) - t0 )) s"
    "${pytest[@]}" --junitxml="$results/playbook-$label.xml" "tests/playbooks/$playbook_test"
    echo "$label: playbook $playbook_test passed after $(( $(date +%s) - t0 )) s"
  fi
}

selected=("$@")
start=$(date +%s)
failed=0
# The virtualenvs first (in parallel; cached), then the jobs.
vpids=() vlabels=()
for release in "${releases[@]}"; do
  read -r label core pyver scope <<<"$release"
  if [ ${#selected[@]} -gt 0 ] && [[ " ${selected[*]} " != *" $label "* ]]; then continue; fi
  venv_of "$label" "$core" "$pyver" >"$logs/$label-venv.log" 2>&1 &
  vpids+=("$!") vlabels+=("$label $core $pyver $scope")
done
# The jobs, the live ones first (they take longest), at most COMPAT_JOBS (default: the number of CPUs) at a time:
# more would only slow every playbook down on a busy machine, past the tests' own timeouts.
jobs_list=()
for i in "${!vpids[@]}"; do
  read -r label core pyver scope <<<"${vlabels[$i]}"
  rc=0
  wait "${vpids[$i]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 3 ] && [ "${COMPAT_ALLOW_SKIP:-0}" = 1 ]; then
      echo "compat $label: SKIPPED, $(tail -n1 "$logs/$label-venv.log")"
    else
      echo "compat $label: FAILED to prepare its virtualenv: $(tail -n 20 "$logs/$label-venv.log")"
      failed=1
    fi
    continue
  fi
  venv=$(tail -n1 "$logs/$label-venv.log")
  echo "compat $label: ansible-core $("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)') on $("$venv/bin/python" --version) (venv ready after $(( $(date +%s) - start )) s)"
  if [ "$scope" = full ]; then jobs_list=("$label $venv $pyver live" "${jobs_list[@]}"); fi
  jobs_list+=("$label $venv $pyver static")
done
max_jobs=${COMPAT_JOBS:-$(nproc 2>/dev/null || echo 2)}
declare -A job_of=()
jnames=()
finish_one() { # wait for any running job and report it
  local pid rc=0 name
  wait -n -p pid || rc=$?
  name=${job_of[$pid]}
  unset "job_of[$pid]"
  if [ "$rc" -eq 0 ]; then
    grep -E "^core-[0-9.]+: " "$logs/$name.log" | sed 's/^/compat /' || true
  else
    echo "compat $name: FAILED (rc $rc), its log $logs/$name.log:"
    tail -n 80 "$logs/$name.log"
    failed=1
  fi
}
for job in "${jobs_list[@]}"; do
  read -r label venv pyver kind <<<"$job"
  while [ "${#job_of[@]}" -ge "$max_jobs" ]; do finish_one; done
  run_job "$label" "$venv" "$pyver" "$kind" >"$logs/$label-$kind.log" 2>&1 &
  job_of[$!]="$label-$kind"
  jnames+=("$label-$kind")
done
while [ "${#job_of[@]}" -gt 0 ]; do finish_one; done
echo "compat: ${jnames[*]} in $(( $(date +%s) - start )) s"
exit "$failed"
