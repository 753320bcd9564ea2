#!/usr/bin/env bash
# Build the collection tarball, check it with galaxy-importer (in its own venv, since it pins its own
# ansible-lint), then test the extracted tarball alone (tests/artifact).
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
importer() { # tarball -> 0 when importable
  (cd "$work" && PATH="$importer_venv/bin:$PATH" "$importer_venv/bin/python" -m galaxy_importer.main "$1") >"$log" 2>&1 \
    && ! grep -q 'ERROR' "$log"
}
if ! importer "$tarball"; then
  # galaxy-importer requires `repository`, which galaxy.yml leaves out while the collection has no public
  # repository (DEVELOPING.md, "Cutting a release"). Then check everything else on a copy that names one.
  if grep -q "'repository' is required" "$log" && ! grep -q '^repository:' "$top/galaxy.yml"; then
    echo "galaxy-importer: galaxy.yml names no repository, which Galaxy and Automation Hub require to publish;" \
         "checking the rest with a stand-in repository URL"
    sed -i 's#^manifest:#repository: https://repository.invalid/hybridchat/ccm\nmanifest:#' "$coll/galaxy.yml"
    mkdir -p "$work/check"
    "$venv/bin/ansible-galaxy" collection build "$coll" --output-path "$work/check" --force >/dev/null
    importer "$work"/check/hybridchat-ccm-*.tar.gz || { cat "$log"; echo "galaxy-importer failed" >&2; exit 1; }
  else
    cat "$log"; echo "galaxy-importer failed" >&2; exit 1
  fi
fi
grep -E 'WARNING' "$log" | grep -v 'ansible-test' || true
echo "galaxy-importer: importable"
# The extracted tarball on its own: its file list, its links, ansible-lint --profile production, and the README's
# offline install into a fresh virtualenv followed by the quick start against the emulator.
mkdir -p "$top/tests/output/results"
CCM_ARTIFACT="$tarball" ANSIBLE_COLLECTIONS_PATH="$top/.collections" PYTHONPATH="$top/.collections:$top/tools" \
  ANSIBLE_HOME="$top/.ansible" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  --junitxml="$top/tests/output/results/artifact.xml" "$top/tests/artifact"
