#!/usr/bin/env bash
# Run ansible-test from a temporary ansible_collections/hybridchat/ccm copy, with no
# containers and without ansible-test's download host.
# Usage: scripts/ansible-test.sh [--venv-dir DIR] [--python X.Y] sanity|units [ansible-test args...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
python_version=3.11
while [ $# -gt 0 ]; do
  case "$1" in
    --venv-dir) venv=$2; shift 2 ;;
    --python) python_version=$2; shift 2 ;;
    *) break ;;
  esac
done
command=${1:?usage: ansible-test.sh [--venv-dir DIR] [--python X.Y] sanity|units [args...]}
shift

# ansible-test bootstraps pip in each virtualenv from a get-pip script it downloads;
# put a stand-in in its cache that uses ensurepip instead (in a subprocess, so the
# machine's pip configuration is kept).
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for name in get_pip_24_2.py get_pip_25_2.py get_pip_25_3.py; do
  cat > "$cache/$name" <<'PY'
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hybridchat-ccm-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
coll=$("$top/scripts/collection-copy.sh" "$work")

# Real interpreters first on PATH: pyenv shims for versions that are not global fail.
bindir="$work/bin"
mkdir -p "$bindir"
for v in 3.11 3.12 3.13; do
  for cand in "$(command -v "python$v" 2>/dev/null || true)" "$HOME"/.pyenv/versions/"$v".*/bin/python"$v"; do
    if [ -x "$cand" ] && "$cand" -c 'import sys' >/dev/null 2>&1 && [ "$(readlink -f "$cand")" != "" ]; then
      real=$("$cand" -c 'import sys; print(sys.executable)' 2>/dev/null || true)
      [ -n "$real" ] && ln -sf "$real" "$bindir/python$v" && break
    fi
  done
done
export PATH="$venv/bin:$bindir:$PATH"

cd "$coll"
case "$command" in
  sanity)
    ansible-test sanity --venv --python "$python_version" --color no "$@" ;;
  units)
    ansible-test units --venv --python "$python_version" --color no "$@" ;;
  *)
    ansible-test "$command" "$@" ;;
esac
