#!/usr/bin/env bash
# Build the collection tarball and check it with galaxy-importer (in its own venv,
# since it pins its own ansible-lint).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
importer_venv="$top/.venv-importer"
out="$top/build"
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/hybridchat-ccm-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
coll=$("$top/scripts/collection-copy.sh" "$work")
"$venv/bin/ansible-galaxy" collection build "$coll" --output-path "$out" --force
tarball=$(ls "$out"/hybridchat-ccm-*.tar.gz)
echo "built $tarball ($(tar -tzf "$tarball" | wc -l) files)"
# The tarball must hold only the collection.
if tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.collections|tools|scripts|tests/output|tests/emulator|tests/playbooks|extensions/molecule|\.git)/' ; then
  echo "the tarball holds files that build_ignore should exclude" >&2
  exit 1
fi
if [ ! -x "$importer_venv/bin/python" ]; then
  python3 -m venv "$importer_venv"
  "$importer_venv/bin/pip" install -q "galaxy-importer==0.4.44" 2>&1 | grep -v '^WARNING' || true
fi
cat > "$work/galaxy-importer.cfg" <<'CFG'
[galaxy-importer]
LOG_LEVEL_MAIN = INFO
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
RUN_FLAKE8 = False
CFG
export GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg"
export ANSIBLE_LINT_OFFLINE=1
log="$out/importer.log"
(cd "$work" && PATH="$importer_venv/bin:$PATH" "$importer_venv/bin/python" -m galaxy_importer.main "$tarball") >"$log" 2>&1 || {
  cat "$log"; echo "galaxy-importer failed" >&2; exit 1; }
grep -E 'ERROR|WARNING' "$log" | grep -v 'ansible-test' || true
if grep -q 'ERROR' "$log"; then echo "galaxy-importer reported errors" >&2; exit 1; fi
grep -iE 'importer_result|Done|Finished' "$log" | tail -3 || true
echo "galaxy-importer: importable"
