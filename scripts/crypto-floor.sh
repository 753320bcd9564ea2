#!/usr/bin/env bash
# The oldest community.crypto galaxy.yml accepts (its `dependencies` floor), tested: a second collections path,
# .collections-floor/, holds this collection and community.crypto from the `ansible` wheel that bundles the floor
# version, and tests/crypto_floor runs the playbooks against it: a provided and a self-signed certificate, a rerun,
# status.yml (every community.crypto module the role and the playbooks use, except ACME's).
# The newest community.crypto is the one of .collections/ (scripts/deps.sh), used by every other stage.
# Usage: scripts/crypto-floor.sh   (a part of the build stage; 160 s at load 12 on 2 cores, most of it ansible-playbook)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$top/.venv}
# ansible 7.5.0 bundles community.crypto 2.12.0, the first release with get_certificate's asn1_base64.
floor_ansible=${CRYPTO_FLOOR_ANSIBLE:-7.5.0}
dir="$top/.collections-floor"
floor=$(sed -n "s/^  community.crypto: *'>=\([0-9.]*\)'.*/\1/p" "$top/galaxy.yml")
[ -n "$floor" ] || { echo "galaxy.yml: no community.crypto '>=X.Y.Z' dependency found" >&2; exit 1; }
VENV=$venv ANSIBLE_BUNDLE_VERSION=$floor_ansible COLLECTIONS_DIR=$dir "$top/scripts/deps.sh"
have=$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$dir/ansible_collections/community/crypto/MANIFEST.json")
if [ "$have" != "$floor" ]; then
  echo "ansible $floor_ansible bundles community.crypto $have, but galaxy.yml's floor is $floor:" \
       "set CRYPTO_FLOOR_ANSIBLE in scripts/crypto-floor.sh to the ansible release that bundles $floor" >&2
  exit 1
fi
# Ansible itself must resolve community.crypto to the floor copy, not to the newest one: no collections from
# sys.path (PYTHONPATH holds .collections in the test stages).
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False
seen=$(ANSIBLE_COLLECTIONS_PATH="$dir" ANSIBLE_HOME="$top/.ansible" "$venv/bin/ansible-galaxy" collection list \
  community.crypto 2>/dev/null | awk '$1 == "community.crypto" {print $2}')
if [ "$seen" != "$floor" ]; then
  echo "ansible-galaxy sees community.crypto '$seen' in $dir, expected $floor" >&2
  exit 1
fi
echo "community.crypto floor $have (from ansible $floor_ansible) in $dir"
mkdir -p "$top/tests/output/results"
cd "$top"
CCM_TEST_COLLECTIONS_PATH="$dir" ANSIBLE_COLLECTIONS_PATH="$dir" \
  PYTHONPATH="$dir:$top/tools" ANSIBLE_HOME="$top/.ansible" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$top/tests/output/results/crypto-floor.xml" \
  tests/crypto_floor
