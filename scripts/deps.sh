#!/usr/bin/env bash
# Prepare a collections path (default .collections/): this collection (a symlink to the repository) and its
# collection dependencies. Ansible Galaxy is not reachable from the build machines, so community.crypto is
# taken from the pinned `ansible` wheel on PyPI, which bundles it.
#   ANSIBLE_BUNDLE_VERSION  the `ansible` release whose community.crypto is used (default 12.3.0: 3.0.5)
#   COLLECTIONS_DIR         where to put it (default .collections; scripts/crypto-floor.sh uses .collections-floor)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$top/.venv}
ansible_wheel_version=${ANSIBLE_BUNDLE_VERSION:-12.3.0}
dir=${COLLECTIONS_DIR:-$top/.collections}
root="$dir/ansible_collections"
mkdir -p "$root/hybridchat"
if [ "$(cd "$dir/.." && pwd)" = "$top" ]; then
  ln -sfn ../../.. "$root/hybridchat/ccm"
else
  ln -sfn "$top" "$root/hybridchat/ccm"
fi
stamp="$root/community/crypto/.from-ansible-wheel"
if [ ! -f "$root/community/crypto/MANIFEST.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$ansible_wheel_version" ]; then
  rm -rf "$root/community/crypto"
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  "$venv/bin/pip" download -q --no-deps "ansible==$ansible_wheel_version" -d "$dl" 2>&1 | grep -v '^WARNING' || true
  wheel=$(ls "$dl"/ansible-*.whl)
  "$venv/bin/python" - "$wheel" "$dir" <<'PY'
import json
import sys
import zipfile

wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    members = [m for m in zf.namelist() if m.startswith("ansible_collections/community/crypto/")]
    zf.extractall(dest, members)
    version = json.loads(zf.read("ansible_collections/community/crypto/MANIFEST.json"))["collection_info"]["version"]
print("community.crypto %s extracted: %d files" % (version, len(members)))
PY
  echo "$ansible_wheel_version" > "$stamp"
fi
