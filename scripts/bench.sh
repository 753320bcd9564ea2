#!/usr/bin/env bash
# `make bench`: deploy.yml against the X API emulator for 1 and 20 sites (each with its own X app, a CCM stand-in,
# one private nginx), on the Account Activity API (AAA) and on the X Activity API (XAA, with the delivery bridge
# as a plain process per site). In one run and side by side for each size: the first converge, the idempotent
# rerun, and a FLOOR play of ansible.builtin.ping tasks on the same inventory, as many as the module runs a converged
# site NECESSARILY does (listed below). Writes the times, the ratios, the tasks per site and the X API calls per site
# (from the emulator's request log, against the fewest calls possible) into BENCHMARKS.md.
#
# Usage: scripts/bench.sh        (BENCH_SITES="1 20" BENCH_APIS="aaa xaa" BENCH_FORKS=10 by default)
#
# Real hosts over SSH: BENCH_INVENTORY=PATH runs the same four plays against that inventory (group ccm, as the
# playbooks use it; every host already has what deploy.yml needs) instead of starting emulator stacks.
# BENCH_API=aaa|xaa says which floor applies (default aaa), BENCH_LABEL names the run, and BENCH_STACK_DIR (a
# tools/demo_stack.py directory whose emulator the inventory uses) adds the X API calls. The result goes into its
# own section of BENCHMARKS.md (<!-- bench-hosts:start --> ... <!-- bench-hosts:end -->); the local table stays.
#   BENCH_INVENTORY=/tmp/nspawn/inventory.yml BENCH_API=xaa BENCH_LABEL="2 nspawn hosts, SSH" scripts/bench.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv="$top/.venv"
work="$top/.cache/bench"
sizes=${BENCH_SITES:-1 20}
apis=${BENCH_APIS:-aaa xaa}
forks=${BENCH_FORKS:-10}
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/.collections:$top/tools"
export ANSIBLE_HOME="$top/.ansible"
export ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=false
py="$venv/bin/python"
stack() { "$py" tools/demo_stack.py "$@"; }
now() { "$py" -c 'import time; print("%.3f" % time.monotonic())'; }

# Two floors, each a play of ping tasks on the same inventory (scripts/bench-floor.sh). Host: tasks on the CCM host
# (with the play's become); controller: tasks delegated to the controller.
#   floor (the bar, 8): the work a converged site logically needs, as issue 15 lists it: host (3): CCM's env file,
#     the certificate's state, the vhost; controller (5): argument validation, CRC preflight through nginx, webhook,
#     subscription (AAA) or subscription list (XAA), the report.
#   runs floor (4): the module runs the rerun actually does, one ping each: host (2): the look at the host (a raw
#     sh script: markers, packages, the SHA-1 of the vhost, of the certificate and key and of the bridge's files, the
#     vhost's record of the certificate check, the bridge's health), CCM's env file (which keys would change);
#     controller (2): the webhook with its CRC preflight, the subscription(s). The validation and the report run no
#     module.
floor_counts() { # api kind -> "HOST CONTROLLER"
  case "$1:$2" in
    aaa:floor|xaa:floor) echo "3 5" ;;
    aaa:runs|xaa:runs) echo "2 2" ;;
    *) echo "unknown floor $1 $2" >&2; exit 2 ;;
  esac
}

write_floor() { # api kind file
  read -r host ctrl <<<"$(floor_counts "$1" "$2")"
  scripts/bench-floor.sh "$host" "$ctrl" "$3" "The $2 floor of a converged ${1^^} site (scripts/bench.sh)"
}

if [ ! -x "$venv/bin/ansible-playbook" ]; then
  make -s deps
fi
rm -rf "$work"
mkdir -p "$work"
results="$work/results.jsonl"
current=""
trap '[ -n "$current" ] && stack down --dir "$current" --quiet >/dev/null 2>&1; true' EXIT

# run_plays LABEL API SITES INVENTORY STACK_DIR: converge, rerun, floor -> one line of results.jsonl
run_plays() {
  local label=$1 api=$2 n=$3 inventory=$4 stack_dir=$5
  local floor="$work/floor-$api.yml" runs_floor="$work/runs-floor-$api.yml"
  write_floor "$api" floor "$floor"
  write_floor "$api" runs "$runs_floor"
  [ -n "$stack_dir" ] && stack api-calls --dir "$stack_dir" --clear >/dev/null
  for run in converge rerun floor runs_floor; do
    local log="$work/$label-$run.log" playbook=playbooks/deploy.yml
    [ "$run" = floor ] && playbook=$floor
    [ "$run" = runs_floor ] && playbook=$runs_floor
    local t0 t1 calls='{}'
    t0=$(now)
    if ! "$venv/bin/ansible-playbook" -i "$inventory" -f "$forks" "$playbook" >"$log" 2>&1; then
      tail -40 "$log"
      echo "$playbook failed ($label, $run): see $log" >&2
      exit 1
    fi
    t1=$(now)
    if [ -n "$stack_dir" ]; then
      calls=$(stack api-calls --dir "$stack_dir" --clear | tr -d '\n')
    fi
    "$py" - "$log" "$label" "$api" "$n" "$run" "$t0" "$t1" "$calls" >>"$results" <<'PY'
import json, re, sys
log, label, api, n, run, t0, t1, calls = sys.argv[1:]
recap = re.findall(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)',
                   open(log, encoding='utf-8').read(), re.M)
hosts = [r for r in recap if r[0] != 'localhost']
print(json.dumps({'label': label, 'api': api, 'sites': int(n), 'run': run, 'seconds': round(float(t1) - float(t0), 1),
                  'ok': sum(int(r[1]) for r in hosts) / max(len(hosts), 1),
                  'skipped': sum(int(r[4]) for r in hosts) / max(len(hosts), 1),
                  'unchanged': sum(1 for r in hosts if r[2] == '0'), 'hosts': len(hosts), 'calls': json.loads(calls)}))
PY
    echo "   $run: $("$py" -c "print(round($t1 - $t0, 1))") s"
  done
}

if [ -n "${BENCH_INVENTORY:-}" ]; then
  api=${BENCH_API:-aaa}
  label=${BENCH_LABEL:-external}
  hosts=$("$venv/bin/ansible" -i "$BENCH_INVENTORY" ccm --list-hosts | tail -n +2 | grep -c .)
  echo "== $hosts host(s) of $BENCH_INVENTORY ($label, $api)"
  run_plays "hosts" "$api" "$hosts" "$BENCH_INVENTORY" "${BENCH_STACK_DIR:-}"
  mode=hosts
else
  mode=local
  for api in $apis; do
    for n in $sizes; do
      current="$work/stack-$api-$n"
      echo "== $n site(s) on $api: starting the emulator, $n CCM stand-in(s), nginx"
      xaa=0; [ "$api" = xaa ] && xaa=$n
      stack up --dir "$current" --sites "$n" --xaa "$xaa" --quiet
      run_plays "$api-$n" "$api" "$n" "$current/inventory/hosts.yml" "$current"
      stack down --dir "$current" --quiet
      current=""
    done
  done
fi

"$py" - "$results" "$forks" "$mode" "${BENCH_LABEL:-external}" "${BENCH_INVENTORY:-}" <<'EOF'
import datetime
import json
import os
import platform
import subprocess
import sys

from ansible.release import __version__ as ansible_version

rows = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
forks, mode, label, inventory = sys.argv[2:6]
# Fewest X API calls a site can cost with nothing known in advance (account id and bearer token not in the
# inventory): first converge = user lookup + oauth2/token + webhook list + create + subscribe;
# rerun = oauth2/token + webhook list + subscription check (the account id is read back from CCM's env file).
# XAA: converge = user lookup + oauth2/token + webhook list + create + subscription list + 2 creates (dm.received,
# dm.sent) + the AAA subscription check; rerun = oauth2/token + webhook list + subscription list (AAA is not asked
# again: a marker on the host says its subscription is gone).
MINIMUM = {'aaa': {'converge': 5, 'rerun': 3}, 'xaa': {'converge': 8, 'rerun': 3}}
FLOOR = {'aaa': (3, 5), 'xaa': (3, 5)}  # host, controller: as scripts/bench.sh's floor_counts (floor)
RUNS_FLOOR = {'aaa': (2, 2), 'xaa': (2, 2)}  # (runs)
BAR = 1.3


def cpu():
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def mem_gb():
    try:
        with open('/proc/meminfo', encoding='utf-8') as handle:
            return round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return '?'


def per_site(calls, sites):
    return '%.1f' % (calls['total'] / sites) if calls.get('total') is not None else 'n/a'


by_size = {}
for row in rows:
    by_size.setdefault((row['api'], row['sites']), {})[row['run']] = row
table = [
    '| activity API | sites | first converge | idempotent rerun | floor: the 8 necessary runs as pings '
    '| rerun / floor (bar <= %.1f) | runs floor: the rerun\'s own %d runs as pings | rerun / runs floor '
    '| tasks per site on the rerun: run + skipped | unchanged hosts on rerun | API calls per site, converge (min) '
    '| API calls per site, rerun (min) |' % (BAR, sum(RUNS_FLOOR['aaa'])),
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
]
for (api, sites), runs in sorted(by_size.items()):
    conv, rerun, floor, runs_floor = runs['converge'], runs['rerun'], runs['floor'], runs['runs_floor']
    ratio = rerun['seconds'] / floor['seconds']
    table.append('| %s | %d | %.1f s | %.1f s | %.1f s (%d) | %.2f %s | %.1f s (%d) | %.2f | %.0f + %.0f | %d/%d | %s (%d) | %s (%d) |' % (
        api.upper(), sites, conv['seconds'], rerun['seconds'], floor['seconds'], sum(FLOOR[api]), ratio,
        'yes' if ratio <= BAR else 'NO', runs_floor['seconds'], sum(RUNS_FLOOR[api]),
        rerun['seconds'] / runs_floor['seconds'], rerun['ok'], rerun['skipped'], rerun['unchanged'], sites,
        per_site(conv['calls'], sites), MINIMUM[api]['converge'], per_site(rerun['calls'], sites), MINIMUM[api]['rerun']))
growth = []
for api in sorted({api for api, _ in by_size}):
    sizes = sorted(sites for a, sites in by_size if a == api)
    if len(sizes) < 2:
        continue
    small, large = by_size[(api, sizes[0])], by_size[(api, sizes[-1])]
    rerun_growth = large['rerun']['seconds'] / small['rerun']['seconds']
    floor_growth = large['floor']['seconds'] / small['floor']['seconds']
    growth.append('- %s, %d -> %d sites: the rerun grows %.2fx, the floor %.2fx: %.2f (bar <= %.1f: %s)' % (
        api.upper(), sizes[0], sizes[-1], rerun_growth, floor_growth, rerun_growth / floor_growth, BAR,
        'yes' if rerun_growth / floor_growth <= BAR else 'NO'))
families = []
for (api, sites), runs in sorted(by_size.items()):
    for run in ('converge', 'rerun'):
        found = runs[run]['calls'].get('by_family')
        if found:
            families.append('- %s, %d site(s), %s: %s' % (api.upper(), sites, run, ', '.join(
                '`%s` %d' % (name, count) for name, count in sorted(found.items()))))
floor_text = [
    'Both floors are plays of `ansible.builtin.ping` tasks on the same inventory, written by scripts/bench-floor.sh',
    '(host pings with the play\'s become, controller pings delegated without it). **The floor** (the bar) is the work a',
    'converged site logically needs, as issue 15 lists it, one module run each: on the host CCM\'s env file, the',
    'certificate\'s state and the vhost (3); on the controller the argument validation, the CRC preflight, the webhook,',
    'the subscription (AAA) or subscription list (XAA) and the report (5). **The runs floor** is stricter: one ping for',
    'each module run this rerun really does (4): on the host one look at the host and CCM\'s env file; on the',
    'controller the webhook (with its CRC preflight) and the subscription(s).',
    '',
    'How the rerun does the eight with four module runs and a raw script: the look at the host is one',
    '`ansible.builtin.raw` `sh` script (no module to build or send; over SSH one round trip) that reads the pending',
    'markers, packages, directories, the account id in CCM\'s env file, the SHA-1 of the vhost and of the bridge\'s',
    'files, the bridge\'s health, the SHA-1 of the provided certificate and key and the vhost\'s record of their last',
    'check (their SHA-1 and the expiry): the certificate and key are read with community.crypto only when a file',
    'changed or the expiry is within `ccm_twitter_tls_renew_days`, and the vhost is written only when its SHA-1',
    'differs. The CRC preflight through nginx is `twitter_webhook`\'s `crc_preflight`: the same check as',
    '`twitter_crc_check`, in the module run that lists the webhooks. The argument validation (`validate_argument_spec`',
    'and one cross-field `assert`) and the report (`set_fact`) run on the controller without a module. The rest of the',
    'rerun is a few skipped tasks (one include for all the work a converged site does not need, the vhost, the',
    'certificate check).',
    'A ping is the lightest module there is; the env file module and the X API modules are heavier (the X API',
    'modules import `requests` and `requests-oauthlib` and wait for the emulator), and every distinct module is built',
    '(AnsiballZ) once per run while the floor builds `ping` once: this weighs most with one site.',
]
nginx = subprocess.run(['nginx', '-v'], capture_output=True, text=True, check=False).stderr.strip() or 'no local nginx'
stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')
machine = [
    '- %s, %s CPU(s), %s GB RAM, %s %s' % (cpu(), os.cpu_count(), mem_gb(), platform.system(), platform.release()),
    '- Python %s, ansible-core %s, %s' % (platform.python_version(), ansible_version, nginx),
    '- load average at the end: %s (other work on the machine slows the wall times)' % ', '.join(
        '%.2f' % x for x in os.getloadavg()),
]

try:
    with open('BENCHMARKS.md', encoding='utf-8') as handle:
        old = handle.read()
except OSError:
    old = ''


def section(text, name):
    start, end = text.find('<!-- %s:start -->' % name), text.find('<!-- %s:end -->' % name)
    if start < 0 or end < 0:
        return ''
    return text[start:end + len('<!-- %s:end -->' % name)]


if mode == 'hosts':
    block = ['<!-- bench-hosts:start -->', '## Real hosts', '',
             'Written by `BENCH_INVENTORY=... scripts/bench.sh` on %s UTC: %s (`%s`), `--forks %s`.' % (
                 stamp, label, inventory, forks), ''] + table + [''] + growth + families + [''] + floor_text + [
        '', 'Controller:', ''] + machine + ['<!-- bench-hosts:end -->']
    kept_hosts = '\n'.join(block)
    head = old.split('<!-- bench-hosts:start -->')[0].split('<!-- bench-bridge:start -->')[0].rstrip('\n')
    out = head + '\n\n' + kept_hosts + '\n'
    bridge = section(old, 'bench-bridge')
    if bridge:
        out += '\n' + bridge + '\n'
    with open('BENCHMARKS.md', 'w', encoding='utf-8') as handle:
        handle.write(out)
    print('\n'.join(block))
    sys.exit(0)

lines = [
    '# Benchmarks',
    '',
    'Written by `make bench` (scripts/bench.sh) on %s UTC. `deploy.yml` runs against the X API emulator; every site' % stamp,
    'has its own X app (v2), CCM stand-in and vhost in one private-prefix nginx, all on this machine, with'
    ' `--forks %s`.' % forks,
    'In one run and side by side for each size: the first converge, the idempotent rerun and the two floors.',
    '',
] + table + [''] + growth + [''] + floor_text + [
    '',
    'API calls are counted from the emulator\'s request log; the minimum is what a site must cost when neither the',
    'account id nor a bearer token is in the inventory (converge: user lookup, `oauth2/token`, webhook list, create,',
    'subscribe; rerun: `oauth2/token`, webhook list, subscription check, since the account id is read back from',
    'CCM\'s env file next to the same access token). Calls by endpoint family (all sites together):',
    '',
] + families + [
    '',
    'On XAA a rerun reads the subscription list with the OAuth 1.0a user context (X\'s specification allows it),',
    'so it costs what AAA costs; the converge fetches the app-only bearer token once per module that writes.',
    '',
    'Setting `ccm_twitter_account_id` and `ccm_twitter_bearer_token` in the inventory saves the user lookup of the',
    'first run and the token call on every run. On the one-webhook tiers the webhook endpoints allow 15 requests per 15 minutes per app',
    '(v1.1); see README.md, "Rate limits and quotas".',
    '',
    'Real hosts over SSH (each task a round trip): `make bench-hosts` boots Debian hosts in systemd-nspawn and writes',
    'its own section below (`BENCH_INVENTORY=INVENTORY BENCH_API=aaa|xaa scripts/bench.sh` runs the same four plays',
    'against an inventory of your own).',
    '',
    '## Machine',
    '',
] + machine + ['']
out = '\n'.join(lines)
for name in ('bench-hosts', 'bench-bridge'):
    kept = section(old, name)
    if kept:
        out += '\n' + kept + '\n'
with open('BENCHMARKS.md', 'w', encoding='utf-8') as handle:
    handle.write(out)
print('\n'.join(lines))
EOF
