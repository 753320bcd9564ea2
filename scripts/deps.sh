#!/usr/bin/env bash
# Prepare .collections/: this collection (a symlink to the repository) and its
# collection dependencies. Ansible Galaxy is not reachable from the build machines,
# so community.crypto is taken from the pinned `ansible` wheel on PyPI, which bundles it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$top/.venv}
ansible_wheel_version=${ANSIBLE_BUNDLE_VERSION:-12.3.0}
root="$top/.collections/ansible_collections"
mkdir -p "$root/hybridchat"
ln -sfn ../../.. "$root/hybridchat/ccm"
if [ ! -f "$root/community/crypto/MANIFEST.json" ]; then
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  "$venv/bin/pip" download -q --no-deps "ansible==$ansible_wheel_version" -d "$dl" 2>&1 | grep -v '^WARNING' || true
  wheel=$(ls "$dl"/ansible-*.whl)
  "$venv/bin/python" - "$wheel" "$top/.collections" <<'PY'
import sys
import zipfile

wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    members = [m for m in zf.namelist() if m.startswith("ansible_collections/community/crypto/")]
    zf.extractall(dest, members)
print("community.crypto extracted: %d files" % len(members))
PY
fi
