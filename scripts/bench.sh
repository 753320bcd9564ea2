#!/usr/bin/env bash
# `make bench`: deploy.yml against the X API emulator for 1 and 20 sites (each with its own X app, a CCM stand-in,
# one private nginx), on the Account Activity API (AAA) and on the X Activity API (XAA, with the delivery bridge
# as a plain process per site): wall time of the first converge and of the idempotent rerun, and X API calls per
# site from the emulator's request log against the fewest calls possible. Writes the table into BENCHMARKS.md.
# Usage: scripts/bench.sh            (BENCH_SITES="1 20" BENCH_APIS="aaa xaa" BENCH_FORKS=10 by default)
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

if [ ! -x "$venv/bin/ansible-playbook" ]; then
  make -s deps
fi
rm -rf "$work"
mkdir -p "$work"
results="$work/results.jsonl"
current=""
trap '[ -n "$current" ] && stack down --dir "$current" --quiet >/dev/null 2>&1; true' EXIT

for api in $apis; do
for n in $sizes; do
  current="$work/stack-$api-$n"
  echo "== $n site(s) on $api: starting the emulator, $n CCM stand-in(s), nginx"
  xaa=0; [ "$api" = xaa ] && xaa=$n
  stack up --dir "$current" --sites "$n" --xaa "$xaa" --quiet
  stack api-calls --dir "$current" --clear >/dev/null
  inventory="$current/inventory/hosts.yml"
  for run in converge rerun; do
    log="$work/deploy-$api-$n-$run.log"
    t0=$(now)
    if ! "$venv/bin/ansible-playbook" -i "$inventory" -f "$forks" playbooks/deploy.yml >"$log" 2>&1; then
      tail -40 "$log"
      echo "deploy.yml failed ($n sites on $api, $run): see $log" >&2
      exit 1
    fi
    t1=$(now)
    calls=$(stack api-calls --dir "$current" --clear)
    changed=$(grep -cE '^site[0-9]+ +: .* changed=0 ' "$log" || true)
    printf '{"api": "%s", "sites": %s, "run": "%s", "seconds": %s, "hosts_unchanged": %s, "calls": %s}\n' \
      "$api" "$n" "$run" "$("$py" -c "print(round($t1 - $t0, 1))")" "$changed" "$(printf '%s' "$calls" | tr -d '\n')" \
      >>"$results"
    echo "   $run: $("$py" -c "print(round($t1 - $t0, 1))") s"
  done
  stack down --dir "$current" --quiet
  current=""
done
done

"$py" - "$results" "$forks" <<'EOF'
import datetime
import json
import os
import platform
import subprocess
import sys

from ansible.release import __version__ as ansible_version

rows = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
forks = sys.argv[2]
# Fewest X API calls a site can cost with nothing known in advance (account id and bearer token not in the
# inventory): first converge = user lookup + oauth2/token + webhook list + create + subscribe;
# rerun = oauth2/token + webhook list + subscription check (the account id is read back from CCM's env file).
# XAA: converge = user lookup + oauth2/token + webhook list + create + subscription list + 2 creates (dm.received,
# dm.sent) + the AAA subscription check; rerun = oauth2/token + webhook list + subscription list (AAA is not asked
# again: a marker on the host says its subscription is gone).
MINIMUM = {'aaa': {'converge': 5, 'rerun': 3}, 'xaa': {'converge': 8, 'rerun': 3}}


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


nginx = subprocess.run(['nginx', '-v'], capture_output=True, text=True, check=False).stderr.strip()
lines = [
    '# Benchmarks',
    '',
    'Written by `make bench` (scripts/bench.sh) on %s UTC. `deploy.yml` runs against the X API emulator; every site'
    % datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
    'has its own X app (v2), CCM stand-in and vhost in one private-prefix nginx, all on this machine, with'
    ' `--forks %s`.' % forks,
    'API calls are counted from the emulator\'s request log; the minimum is what a site must cost when neither the',
    'account id nor a bearer token is in the inventory (converge: user lookup, `oauth2/token`, webhook list, create,',
    'subscribe; rerun: `oauth2/token`, webhook list, subscription check, since the account id is read back from',
    'CCM\'s env file next to the same access token).',
    '',
    '| activity API | sites | first converge | idempotent rerun | unchanged hosts on rerun | API calls per site, converge (min) | API calls per site, rerun (min) |',
    '|---|---:|---:|---:|---:|---:|---:|',
]
by_size = {}
for row in rows:
    by_size.setdefault((row.get('api', 'aaa'), row['sites']), {})[row['run']] = row
for (api, sites), runs in sorted(by_size.items()):
    conv, rerun = runs['converge'], runs['rerun']
    lines.append('| %s | %d | %.1f s | %.1f s | %d/%d | %.1f (%d) | %.1f (%d) |' % (
        api.upper(), sites, conv['seconds'], rerun['seconds'], rerun['hosts_unchanged'], sites,
        conv['calls']['total'] / sites, MINIMUM[api]['converge'], rerun['calls']['total'] / sites,
        MINIMUM[api]['rerun']))
lines += ['', 'Calls by endpoint family (all sites together):', '']
for (api, sites), runs in sorted(by_size.items()):
    for run in ('converge', 'rerun'):
        families = runs[run]['calls']['by_family']
        lines.append('- %s, %d site(s), %s: %s' % (api.upper(), sites, run, ', '.join(
            '`%s` %d' % (name, count) for name, count in sorted(families.items()))))
lines += ['', 'On XAA a rerun reads the subscription list with the OAuth 1.0a user context (X\'s specification allows it),',
          'so it costs what AAA costs; the converge fetches the app-only bearer token once per module that writes.']
lines += [
    '',
    'The wall time is Ansible working through about 35 tasks per site on the controller (CPU bound with few cores);',
    'the emulator answers in milliseconds, the real X API adds its latency to each of the calls above.',
    '',
    'Setting `ccm_twitter_account_id` and `ccm_twitter_bearer_token` in the inventory saves the user lookup of the',
    'first run and the token call on every run. On the one-webhook tiers the webhook endpoints allow 15 requests per 15 minutes per app',
    '(v1.1); see README.md, "Rate limits and quotas".',
    '',
    '## Machine',
    '',
    '- %s, %s CPU(s), %s GB RAM, %s %s' % (cpu(), os.cpu_count(), mem_gb(), platform.system(), platform.release()),
    '- Python %s, ansible-core %s, %s' % (platform.python_version(), ansible_version, nginx),
    '- load average at the end: %s (other work on the machine slows the wall times)' % ', '.join(
        '%.2f' % x for x in os.getloadavg()),
    '',
]
# Sections other scripts write (between <!-- NAME:start --> and <!-- NAME:end -->) are kept as they are.
kept = ''
try:
    with open('BENCHMARKS.md', encoding='utf-8') as handle:
        old = handle.read()
    start = old.find('<!-- bench-bridge:start -->')
    if start >= 0:
        kept = '\n' + old[start:].rstrip('\n') + '\n'
except OSError:
    pass
with open('BENCHMARKS.md', 'w', encoding='utf-8') as handle:
    handle.write('\n'.join(lines) + kept)
print('\n'.join(lines))
EOF
