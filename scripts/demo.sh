#!/usr/bin/env bash
# `make demo`: the whole job on this machine, no X account needed. Starts the X API emulator, a CCM stand-in,
# a private nginx on high ports and a local CA (tools/demo_stack.py), then runs the playbooks against
# inventories/demo: deploy, deploy again (no change), a signed test DM through nginx to CCM, an FQDN change and
# a status report. Stops what it started at the end; `make demo-clean` (scripts/demo.sh clean) removes .demo/.
# Usage: scripts/demo.sh [clean]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv="$top/.venv"
demo_dir="${CCM_DEMO_DIR:-$top/.demo}"
first_fqdn=ccm.demo.test
second_fqdn=ccm-new.demo.test
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
echo "   ready: $("$venv/bin/ansible-playbook" --version | head -1), $(nginx -v 2>&1)"

step "Start the stand-ins for X and CCM" \
  "The X API emulator (HTTPS), a CCM stand-in that reads its env file, a private nginx on high ports" \
  "(prefix $demo_dir/nginx, no system file touched) and a local CA with certificates for" \
  "$first_fqdn and $second_fqdn. X reaches https://$first_fqdn/ through the emulator's resolve map."
stack down --purge --quiet >/dev/null 2>&1 || true
trap 'stack down --quiet >/dev/null 2>&1 || true' EXIT
stack up --fqdn "$first_fqdn" --extra-fqdn "$second_fqdn"

step "Deploy: ansible-playbook -i inventories/demo playbooks/deploy.yml" \
  "Writes the five TWITTER_* keys into CCM's env file, the nginx TLS vhost for $first_fqdn, sends X's CRC" \
  "challenge through nginx (preflight), registers the webhook and subscribes the account."
playbook playbooks/deploy.yml
echo "   What X and CCM hold now:"
stack show | sed 's/^/   /'

step "Deploy again: the second run must change nothing" \
  "Every step checks before it acts; the X part costs one webhook list and one subscription check."
out=$(playbook playbooks/deploy.yml 2>&1) || { echo "$out"; exit 1; }
recap=$(printf '%s\n' "$out" | grep -E '^ccm-demo +:')
echo "   $recap"
if ! printf '%s\n' "$recap" | grep -q 'changed=0 '; then
  echo "$out"
  echo "the second run changed something: it is not idempotent" >&2
  exit 1
fi

step "Deliver a test DM" \
  "The emulator signs a direct-message event with the app's consumer secret and POSTs it to" \
  "https://$first_fqdn/ccm/webhook/twitter; nginx passes it to the CCM stand-in, which checks the signature."
stack deliver --text "Hello from the hybridchat.ccm demo" | sed 's/^/   /'

step "Move to a new FQDN: playbooks/change_fqdn.yml -e new_fqdn=$second_fqdn" \
  "New vhost and certificate first, CRC preflight against the new name, then the webhook is replaced" \
  "(the quota allows one: old deleted, new registered; the old one comes back if that fails)," \
  "the account is subscribed again and the old vhost removed."
playbook playbooks/change_fqdn.yml -e "new_fqdn=$second_fqdn"
stack show | sed 's/^/   /'
stack deliver --fqdn "$second_fqdn" --text "Hello again, at the new name" >/dev/null
echo "   a test DM to https://$second_fqdn/ccm/webhook/twitter arrived at the CCM stand-in"

step "Status: playbooks/status.yml" \
  "One line per site: FQDN, account, webhook id and URL, valid, subscribed, live CRC, certificate days left." \
  "(A real inventory would now say ccm_twitter_fqdn: $second_fqdn; here -e sets it.)"
out=$(SHOW_OK=1 playbook playbooks/status.yml -e "ccm_twitter_fqdn=$second_fqdn" 2>&1) || { echo "$out"; exit 1; }
printf '%s\n' "$out" | sed -n '/TASK \[Show every site\]/,/^$/p' | grep -E '^ +"(OK|FAIL) '

step "Stop the stand-ins" "Their files stay in $demo_dir; make demo-clean removes them."
trap - EXIT
stack down
echo
echo "demo passed in $(( $(date +%s) - start )) s"
