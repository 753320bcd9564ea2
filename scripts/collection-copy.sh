#!/usr/bin/env bash
# Copy the collection (the files git tracks plus new, non-ignored ones) into
# DEST/ansible_collections/hybridchat/ccm, the real path ansible-test and
# ansible-galaxy need, and add the collection dependencies from .collections.
# Usage: scripts/collection-copy.sh DEST   (prints the collection directory)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?usage: collection-copy.sh DEST}
coll="$dest/ansible_collections/hybridchat/ccm"
rm -rf "$coll"
mkdir -p "$coll"
cd "$top"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$coll"
if [ -d "$top/.collections/ansible_collections/community" ]; then
  mkdir -p "$dest/ansible_collections"
  rm -rf "$dest/ansible_collections/community"
  cp -a "$top/.collections/ansible_collections/community" "$dest/ansible_collections/"
fi
echo "$coll"
