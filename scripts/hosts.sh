#!/usr/bin/env bash
# The `hosts` stage (`make hosts`): the molecule scenario extensions/molecule/hosts on Debian 12 and 13 booted
# with systemd in systemd-nspawn containers (tools/nspawn/hosts.py), reached over SSH with sudo.
# Fails with the reason when this machine cannot boot containers (no root, no systemd-nspawn, no veth).
# Everything it starts is stopped on exit, also after a failure or an interrupt; only the root file systems
# stay cached in ~/.cache/hybridchat-ccm/rootfs (CCM_HOSTS_CACHE).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/tools${PYTHONPATH:+:$PYTHONPATH}"
export ANSIBLE_HOME="${ANSIBLE_HOME:-$top/.ansible}"
python=$top/.venv/bin/python
tool=$top/tools/nspawn/hosts.py

# The check needs only the standard library: run it with the system python3 (the venv may not be usable).
if ! python3 "$tool" check; then
  echo "hosts stage FAILED: this machine cannot boot the container hosts (see above)" >&2
  exit 1
fi
CCM_HOSTS_DIR=$(mktemp -d /tmp/ccm-hosts.XXXXXX)
export CCM_HOSTS_DIR
cleanup() {
  "$python" "$tool" down --dir "$CCM_HOSTS_DIR" --purge || true
  rm -rf "$CCM_HOSTS_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The controller as a user installs it (issue 13) ---------------------------------------------------------------
# The scenario's playbook runs (extensions/molecule/nspawn/tasks/playbook.yml) use the collection tarball built from
# this tree and installed as README.md says, offline, into a fresh virtualenv and an empty collections path
# (scripts/install-artifact.sh), not the repository; the directory goes with $CCM_HOSTS_DIR.
ccm_controller="$CCM_HOSTS_DIR/controller"
"$top/scripts/install-artifact.sh" "$ccm_controller" --build >/dev/null
export CCM_HOSTS_COLLECTIONS_PATH="$ccm_controller/collections" CCM_HOSTS_CONTROLLER_BIN="$ccm_controller/venv/bin"
# ---------------------------------------------------------------------------------------------------------------------

# The root file systems first (cached; about 90 s per release the first time on a machine).
"$python" "$top/tools/nspawn/rootfs.py" --release bookworm --release trixie >/dev/null

cd "$top/extensions"
t0=$(date +%s)
# CI shows only the end of the output: on a failure, the reasons are printed again as the last lines.
report=$(mktemp /tmp/ccm-hosts-report.XXXXXX)
export CCM_HOSTS_FAILURE_LOG=$report.up
set +e
molecule test -s hosts 2>&1 | tee "$report"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  "$python" "$top/scripts/failure_digest.py" "$report" "$CCM_HOSTS_FAILURE_LOG" >&2
  rm -f "$report" "$CCM_HOSTS_FAILURE_LOG"
  echo "hosts stage FAILED: molecule scenario hosts (rc $rc), reasons above" >&2
  exit "$rc"
fi
rm -f "$report" "$CCM_HOSTS_FAILURE_LOG"
echo "molecule scenario hosts passed in $(( $(date +%s) - t0 )) s"
