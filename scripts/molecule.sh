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
for s in "${scenarios[@]}"; do
  t0=$(date +%s)
  molecule test -s "$s"
  echo "molecule scenario $s passed in $(( $(date +%s) - t0 )) s"
done
