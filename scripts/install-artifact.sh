#!/usr/bin/env bash
# Install the built collection tarball the way README.md tells a user to, offline: a fresh virtualenv with the
# controller's Python libraries, an EMPTY collections path, `ansible-galaxy collection install --offline` of the
# community.crypto tarball first and of the hybridchat.ccm tarball second. Used by tests/artifact and scripts/hosts.sh.
# Usage: scripts/install-artifact.sh DEST [TARBALL | --build]
#   DEST/venv         the controller virtualenv (ansible-core, requests, requests-oauthlib, cryptography)
#   DEST/collections  the collections path, holding only what the two installs put there
#   DEST/offline      the two tarballs, as a user carries them to an offline controller
# TARBALL defaults to build/hybridchat-ccm-*.tar.gz (scripts/build.sh); --build builds one from the working tree
# (the git-tracked and new files, like scripts/build.sh, without its checks) into DEST/offline. community.crypto's tarball is built from the
# copy in .collections (Galaxy is not reachable here; a user gets it with `ansible-galaxy collection download`).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?usage: install-artifact.sh DEST [TARBALL | --build]}
dev_venv="$top/.venv"
crypto="$top/.collections/ansible_collections/community/crypto"
[ -f "$crypto/MANIFEST.json" ] || { echo "no community.crypto in .collections: run make deps first" >&2; exit 1; }
mkdir -p "$dest/offline" "$dest/collections" "$dest/home"
dest=$(cd "$dest" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ccm-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "${2:-}" = "--build" ]; then
  coll=$("$top/scripts/collection-copy.sh" "$work/src")
  "$dev_venv/bin/ansible-galaxy" collection build "$coll" --output-path "$work" --force >/dev/null
  tarball=$(ls "$work"/hybridchat-ccm-*.tar.gz)
else
  built=("$top"/build/hybridchat-ccm-*.tar.gz)
  tarball=${2:-${built[0]}}
fi
[ -f "$tarball" ] || { echo "no collection tarball: run scripts/build.sh first" >&2; exit 1; }

# The same versions the suite is tested with (requirements-dev.txt); the README names the libraries.
pins=()
for lib in ansible-core requests requests-oauthlib oauthlib cryptography; do
  pin=$(grep -iE "^$lib==" "$top/requirements-dev.txt" || true)
  pins+=("${pin:-$lib}")
done
if [ ! -x "$dest/venv/bin/ansible-playbook" ]; then
  python3 -m venv "$dest/venv"
  "$dest/venv/bin/pip" install -q "${pins[@]}" 2>&1 | grep -v '^WARNING' || true
fi

# community.crypto's tarball, rebuilt from the collection copy (the `ansible` wheel drops galaxy.yml).
cp -a "$crypto" "$work/crypto"
rm -f "$work/crypto/MANIFEST.json" "$work/crypto/FILES.json" "$work/crypto/.from-ansible-wheel"
"$dev_venv/bin/python" - "$crypto/MANIFEST.json" "$work/crypto/galaxy.yml" <<'PY'
import json
import sys

import yaml

info = json.load(open(sys.argv[1]))["collection_info"]
keys = ("namespace", "name", "version", "readme", "authors", "description", "license", "tags", "dependencies",
        "repository", "documentation", "homepage", "issues")
with open(sys.argv[2], "w") as handle:
    yaml.safe_dump({k: info[k] for k in keys if info.get(k) is not None}, handle)
PY
touch "$work/crypto/README.md"
"$dest/venv/bin/ansible-galaxy" collection build "$work/crypto" --output-path "$dest/offline" --force >/dev/null
cp "$tarball" "$dest/offline/"

# The README's offline install: community.crypto first, then the collection, into an empty path.
export ANSIBLE_HOME="$dest/home" ANSIBLE_COLLECTIONS_PATH="$dest/collections"
unset PYTHONPATH
cd "$dest/offline"
"$dest/venv/bin/ansible-galaxy" collection install --offline -p "$dest/collections" community-crypto-*.tar.gz >&2
"$dest/venv/bin/ansible-galaxy" collection install --offline -p "$dest/collections" "$(basename "$tarball")" >&2
echo "$dest"
