#!/usr/bin/env bash
# Run every molecule scenario in extensions/molecule on localhost (no containers; not hosts*, see scripts/hosts.sh).
# Usage: scripts/molecule.sh [scenario ...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/tools${PYTHONPATH:+:$PYTHONPATH}"
cd "$top/extensions"
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for f in molecule/*/molecule.yml; do
    [ -e "$f" ] || continue
    d=${f%/molecule.yml}; d=${d#molecule/}
    # hosts*: container hosts, run by the `hosts` stage (scripts/hosts.sh).
    case "$d" in hosts*) continue ;; esac
    scenarios+=("$d")
  done
fi
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "no molecule scenarios yet"
  exit 0
fi
report=$(mktemp /tmp/ccm-molecule-report.XXXXXX)
trap 'rm -f "$report"' EXIT
for s in "${scenarios[@]}"; do
  t0=$(date +%s)
  set +e
  molecule test -s "$s" 2>&1 | tee "$report"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    # CI shows only the end of the output: the reasons again, last.
    "$top/.venv/bin/python" "$top/scripts/failure_digest.py" "$report" >&2
    echo "molecule scenario $s FAILED (rc $rc), reasons above" >&2
    exit "$rc"
  fi
  echo "molecule scenario $s passed in $(( $(date +%s) - t0 )) s"
done
