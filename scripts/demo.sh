#!/usr/bin/env bash
# `make demo`: the next month of a Hybrid Chat operator, on this machine, no X account needed. Starts the X API
# emulator, two CCM stand-ins (two sites), a private nginx on high ports and a local CA (tools/demo_stack.py), then
# runs the playbooks against inventories/demo: both sites on the Account Activity API (AAA) receive a DM;
# deploy.yml moves the first to the X Activity API (XAA) and its delivery bridge; a DM still reaches CCM once, in
# the AAA format; the FQDN changes while DMs are being sent and none is lost; the emulator's clock moves past
# 2027-01-01: the migrated site keeps receiving, the other goes silent and status.yml says so, with the command
# that fixes it. Stops what it started at the end; `make demo-clean` (scripts/demo.sh clean) removes .demo/.
# Usage: scripts/demo.sh [clean]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv="$top/.venv"
demo_dir="${CCM_DEMO_DIR:-$top/.demo}"
first_fqdn=ccm.demo.test
second_fqdn=ccm-new.demo.test
legacy_fqdn=ccm-legacy.demo.test
export CCM_DEMO_DIR="$demo_dir"
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/.collections:$top/tools"
export ANSIBLE_HOME="$top/.ansible"
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export ANSIBLE_DEPRECATION_WARNINGS=false
stack() { "$venv/bin/python" tools/demo_stack.py "$@" --dir "$demo_dir"; }

if [ "${1:-}" = clean ]; then
  if [ -x "$venv/bin/python" ] && [ -f "$demo_dir/stack.json" ]; then
    stack down --purge
  else
    rm -rf "$demo_dir"
  fi
  echo "demo files removed ($demo_dir)"
  exit 0
fi

start=$(date +%s)
step_no=0
bold='' plain=''
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() {
  step_no=$((step_no + 1))
  printf '\n%s== %d. %s%s\n' "$bold" "$step_no" "$1" "$plain"
  shift
  for line in "$@"; do printf '   %s\n' "$line"; done
}
playbook() { # ok results hidden unless SHOW_OK=1: the changes and the recap are what matter here
  ANSIBLE_DISPLAY_OK_HOSTS=$([ "${SHOW_OK:-0}" = 1 ] && echo true || echo false) \
    "$venv/bin/ansible-playbook" -i inventories/demo "$@"
}

step "Prepare this machine" \
  "A virtualenv with ansible-core and the collection's dependencies (make deps), and nginx (make system)."
if [ ! -x "$venv/bin/ansible-playbook" ] || [ ! -e "$top/.collections/ansible_collections/hybridchat/ccm" ]; then
  make -s deps
fi
command -v nginx >/dev/null || scripts/system-packages.sh
echo "   ready: $("$venv/bin/ansible-playbook" --version | head -1), $(nginx -v 2>&1), bridge on $(/usr/bin/python3 --version)"

step "Start the stand-ins for X and CCM" \
  "The X API emulator (HTTPS, its clock on today's date, AAA ending on 2027-01-01), one CCM stand-in per site" \
  "(each reads its env file and understands only the AAA format), a private nginx on high ports and a local CA." \
  "Site ccm-demo is https://$first_fqdn/, site ccm-legacy https://$legacy_fqdn/; both start on AAA."
stack down --purge --quiet >/dev/null 2>&1 || true
trap 'stack down --quiet >/dev/null 2>&1 || true' EXIT
stack up --quiet --fqdn "$first_fqdn" --fqdn "$legacy_fqdn" --extra-fqdn "$second_fqdn" --aaa-end 2027-01-01T00:00:00Z
stack show | sed 's/^/   /'

step "Deploy both sites on AAA: ansible-playbook -i inventories/demo playbooks/deploy.yml" \
  "CCM's env file, the nginx TLS vhost, X's CRC through nginx, the webhook and the AAA subscription."
playbook playbooks/deploy.yml
stack dm --site 0 --text "Hello on AAA" | sed 's/^/   /'

step "Move ccm-demo to the X Activity API: one deploy" \
  "host_vars: ccm_twitter_activity_api: xaa. The bridge starts and must be healthy, nginx sends the webhook to it," \
  "the XAA subscriptions (dm.received, dm.sent) are added while AAA still delivers, then the AAA one is removed."
stack set-api --site 0 xaa
playbook playbooks/deploy.yml --limit ccm-demo
stack show | sed 's/^/   /'
stack dm --site 0 --text "Hello on XAA, through the bridge" | sed 's/^/   /'

step "Move ccm-demo to $second_fqdn while DMs keep coming: playbooks/change_fqdn.yml" \
  "The app allows one webhook: the bridge's standby stream (X's activity stream) covers the moment with no" \
  "webhook, the subscriptions move to the new webhook with PUT, then a replay of the window; CCM drops nothing."
(
  for i in $(seq 1 400); do
    stack dm --site 0 --text "DM $i during the FQDN change" --wait 0 --expect 0 >/dev/null 2>&1 || true
    echo "$i" > "$demo_dir/dms-sent"
    [ -e "$demo_dir/stop-dms" ] && break
    sleep 0.3
  done
) &
sender=$!
rm -f "$demo_dir/stop-dms"
playbook playbooks/change_fqdn.yml --limit ccm-demo -e "ccm_twitter_new_fqdn=$second_fqdn"
touch "$demo_dir/stop-dms"; wait "$sender" || true
sent=$(cat "$demo_dir/dms-sent")
"$venv/bin/python" - "$demo_dir" "$sent" <<'PY' | sed 's/^/   /'
import collections, json, sys, time, requests
stack = json.load(open(sys.argv[1] + '/stack.json'))
want = {'DM %d during the FQDN change' % i for i in range(1, int(sys.argv[2]) + 1)}
deadline = time.time() + 60
while True:
    got = collections.Counter(m['text'] for m in requests.get(stack['ccm'][0]['url'] + '/_ccm/messages', timeout=10).json()['messages'])
    if want <= set(got) or time.time() > deadline:
        break
    time.sleep(0.5)
missing, twice = sorted(want - set(got)), sorted(t for t in want if got[t] > 1)
print('%d DMs sent during the change: %d reached CCM once, %d missing, %d twice' % (len(want), len(want) - len(missing) - len(twice), len(missing), len(twice)))
sys.exit(1 if missing or twice else 0)
PY
stack set-fqdn --site 0 "$second_fqdn"

step "2 January 2027: the emulator's clock moves past the end of AAA" \
  "X delivers nothing through AAA any more. ccm-demo (XAA) keeps receiving; ccm-legacy (still AAA) goes silent."
stack clock 2027-01-02T00:00:00Z >/dev/null
stack dm --site 0 --text "Happy new year from ccm-demo's customer" | sed 's/^/   ccm-demo:   /'
stack dm --site 1 --text "Happy new year from ccm-legacy's customer" --expect 0 --wait 3 | sed 's/^/   ccm-legacy: /'

step "Status: playbooks/status.yml says which site is lost and how to fix it" \
  "(-e ccm_status_now follows the emulator's calendar; a real run uses today's date.)"
out=$(SHOW_OK=1 playbook playbooks/status.yml -e ccm_status_now=2027-01-02T00:00:00Z 2>&1) && {
  echo "$out"; echo "status.yml should have failed for ccm-legacy" >&2; exit 1; }
printf '%s\n' "$out" | sed -n '/TASK \[Show every site\]/,/^$/p' | grep -E '^ +"(OK|WARN|FAIL) ' | sed 's/^ *"/   /; s/",\?$//'

step "Stop the stand-ins" "Their files stay in $demo_dir; make demo-clean removes them."
trap - EXIT
stack down
echo
echo "demo passed in $(( $(date +%s) - start )) s"
