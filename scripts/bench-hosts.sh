#!/usr/bin/env bash
# `make bench-hosts`: deploy.yml over SSH + sudo on Debian 12 hosts booted with systemd in systemd-nspawn
# (tools/nspawn/hosts.py, root needed), side by side in one run with a floor play of `ansible.builtin.ping` tasks
# on the same hosts: the first converge (nginx from apt), the idempotent rerun, the floor, the tasks executed and
# skipped per site and the X API calls per site. Writes the section between <!-- bench-hosts:start/end --> of
# BENCHMARKS.md (scripts/bench.sh keeps it).
# Usage: scripts/bench-hosts.sh   (BENCH_HOSTS_SITES="1 4", BENCH_FORKS=10)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PATH="$top/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$top/.collections"
export PYTHONPATH="$top/.collections:$top/tools"
export ANSIBLE_HOME="$top/.ansible"
export ANSIBLE_CONFIG="$top/extensions/molecule/nspawn/ansible.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=false
py="$top/.venv/bin/python"
tool="$top/tools/nspawn/hosts.py"
sizes=${BENCH_HOSTS_SITES:-1 4}
forks=${BENCH_FORKS:-10}
python3 "$tool" check
work=$(mktemp -d /tmp/ccm-bench-hosts.XXXXXX)
current=""
trap '[ -n "$current" ] && "$py" "$tool" down --dir "$current" --purge >/dev/null 2>&1; rm -rf "$work"' EXIT
results="$work/results.jsonl"
now() { "$py" -c 'import time; print("%.3f" % time.monotonic())'; }
# The two floors of scripts/bench.sh (floor_counts there): the floor, the 8 module runs a converged site logically
# needs (3 on the host with sudo, each an SSH round trip like the role's, 5 on the controller), and the runs floor,
# the 4 module runs the rerun really does (2 on the host, 2 on the controller).
scripts/bench-floor.sh 3 5 "$work/floor.yml" "The floor of a converged XAA site (scripts/bench-hosts.sh)"
scripts/bench-floor.sh 2 2 "$work/runs_floor.yml" "The runs floor of a converged XAA site (scripts/bench-hosts.sh)"

api_calls() { # dir [--clear]: X API calls recorded by the emulator (JSON counts)
  "$py" - "$1" "${2:-}" <<'PY'
import json, sys
import requests
state = json.load(open(sys.argv[1] + '/hosts.json'))
url = state['api_url'] + '/_emulator/requests'
counts = requests.get(url, verify=state['ca_cert'], timeout=30).json()['counts']
if sys.argv[2] == '--clear':
    requests.delete(url, verify=state['ca_cert'], timeout=30).raise_for_status()
print(json.dumps(counts))
PY
}

for n in $sizes; do
  current="$work/hosts-$n"
  specs=()
  for i in $(seq 1 "$n"); do specs+=("--host=bench$i:bookworm:chat$i.bench.test"); done
  echo "== $n Debian 12 host(s): booting"
  "$py" "$tool" up --dir "$current" "${specs[@]}" --quiet
  api_calls "$current" --clear >/dev/null
  for run in converge rerun floor runs_floor; do
    log="$work/$run-$n.log"
    playbook=hybridchat.ccm.deploy
    [ "$run" = floor ] && playbook="$work/floor.yml"
    [ "$run" = runs_floor ] && playbook="$work/runs_floor.yml"
    t0=$(now)
    if ! ansible-playbook -i "$current/inventory" --vault-password-file "$current/vault-password.txt" -f "$forks" \
        "$playbook" >"$log" 2>&1; then
      tail -40 "$log"
      echo "$run failed on $n host(s): see above" >&2
      exit 1
    fi
    t1=$(now)
    calls=$(api_calls "$current" --clear)
    "$py" - "$log" "$run" "$n" "$t0" "$t1" "$calls" >>"$results" <<'PY'
import json, re, sys
log, run, n, t0, t1, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
text = open(log, encoding='utf-8').read()
# Tasks of the first host from the recap: ok (changed ones included) and skipped.
first = re.search(r'^bench1\s+: ok=(\d+)\s+changed=\d+\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)', text, re.M)
executed, skipped = (int(first.group(1)), int(first.group(2))) if first else (0, 0)
recap = re.findall(r'^(bench\d+)\s+: ok=(\d+)\s+changed=(\d+)', text, re.M)
print(json.dumps({'run': run, 'sites': n, 'seconds': round(t1 - t0, 1), 'executed': executed, 'skipped': skipped,
                  'unchanged': sum(1 for r in recap if r[2] == '0'), 'calls': json.loads(calls)}))
PY
    echo "   $run: $(tail -1 "$results")"
  done
  "$py" "$tool" down --dir "$current" --purge >/dev/null
  current=""
done

"$py" - "$results" "$forks" <<'PY'
import datetime, json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
forks = sys.argv[2]
by = {}
for row in rows:
    by.setdefault(row['sites'], {})[row['run']] = row
sizes = sorted(by)
out = ['<!-- bench-hosts:start -->', '## On real hosts over SSH (`make bench-hosts`)', '',
       'Written by scripts/bench-hosts.sh on %s UTC: Debian 12 booted with systemd in systemd-nspawn, reached over SSH'
       % datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
       'as an unprivileged user with sudo (a password), `--forks %s`, Ansible defaults (no pipelining), XAA sites'
       ' with the bridge as a systemd service. The two floors are those of the table above (8 pings: 3 on the host'
       % forks,
       'with `become`, 5 on the controller; runs floor, 4 pings: 2 and 2), on the same hosts in the same run.', '',
       '| sites | first converge | idempotent rerun | floor (8 pings) | rerun / floor (bar <= 1.3) | runs floor (4 pings) '
       '| rerun / runs floor | tasks per site on rerun: executed (skipped) | unchanged on rerun '
       '| X API calls per site, rerun |',
       '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
for n in sizes:
    r = by[n]
    ratio = r['rerun']['seconds'] / r['floor']['seconds']
    out.append('| %d | %.1f s | %.1f s | %.1f s | %.2f %s | %.1f s | %.2f | %d (%d) | %d/%d | %.1f |' % (
        n, r['converge']['seconds'], r['rerun']['seconds'], r['floor']['seconds'], ratio, 'yes' if ratio <= 1.3 else 'NO',
        r['runs_floor']['seconds'], r['rerun']['seconds'] / r['runs_floor']['seconds'],
        r['rerun']['executed'], r['rerun']['skipped'],
        r['rerun']['unchanged'], n, r['rerun']['calls'].get('total', 0) / n))
if len(sizes) > 1:
    a, b = sizes[0], sizes[-1]
    growth = by[b]['rerun']['seconds'] / by[a]['rerun']['seconds']
    fgrowth = by[b]['floor']['seconds'] / by[a]['floor']['seconds']
    out += ['', 'Growing from %d to %d sites: rerun x%.2f, floor x%.2f (ratio %.2f).' % (a, b, growth, fgrowth,
                                                                                       growth / fgrowth)]
out += ['', 'Load average at the end: %s.' % ', '.join('%.2f' % x for x in os.getloadavg()), '<!-- bench-hosts:end -->']
section = '\n'.join(out) + '\n'
print(section)
try:
    old = open('BENCHMARKS.md', encoding='utf-8').read()
except OSError:
    old = ''
start, end = old.find('<!-- bench-hosts:start -->'), old.find('<!-- bench-hosts:end -->')
if start >= 0 and end > start:
    new = old[:start] + section + old[end + len('<!-- bench-hosts:end -->'):].lstrip('\n')
else:
    new = old.rstrip('\n') + '\n\n' + section
open('BENCHMARKS.md', 'w', encoding='utf-8').write(new)
PY
