# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load generator driver for scripts/bench-bridge.sh: wrk -> nginx (TLS) -> bridge -> CCM stand-in.

Starts the three processes on free loopback ports in WORKDIR, pre-generates unique signed XAA dm.received
deliveries, runs wrk with scripts/bench-bridge.lua, waits until CCM has every acknowledged event, checks that
nothing was lost or duplicated, measures the bridge's idle RSS, and writes the "Delivery bridge" section of
BENCHMARKS.md (between markers, so `make bench` can rewrite the rest of the file).
"""

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'tests', 'bridge'))
sys.path.insert(0, os.path.join(TOP, 'tools'))

from bridge_helpers import (BridgeProc, CcmProc, Nginx, bridge_config, encode, get_json, sign,  # noqa: E402
                            write_env_file, xaa_body)
from xemu.testing import issue_cert, make_ca  # noqa: E402

START = '<!-- bench-bridge:start -->'
END = '<!-- bench-bridge:end -->'


def rss_kb(pid):
    with open('/proc/%d/status' % pid, 'r', encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid, 'r', encoding='utf-8') as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def make_bodies(path, count, prefix):
    with open(path, 'w', encoding='utf-8') as handle:
        for i in range(count):
            body = encode(xaa_body('dm.received', '%s%010d' % (prefix, i), 'bench message %d' % i))
            handle.write('%s\t%s\n' % (sign(body), body.decode('utf-8')))


def run_wrk(url, bodies, count, threads, connections, seconds, delay_ms=0):
    cmd = ['wrk', '-t%d' % threads, '-c%d' % connections, '-d%ds' % seconds, '--latency', '--timeout', '10s',
           '-s', os.path.join(TOP, 'scripts', 'bench-bridge.lua'), url, '--', bodies, str(threads), str(delay_ms)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    match = re.search(r'^WRK_RESULT (\{.*\})$', proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise SystemExit('wrk failed (%d): %s%s' % (proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(match.group(1))
    result['unique_available'] = count
    return result, proc.stdout


def ok(good):
    return 'yes' if good else '**NO**'


def phase(name, bridge, ccm, url, args, connections, delay_ms, seconds, prefix):
    """One wrk run on fresh unique deliveries; every number the report needs for it."""
    count = seconds * 1500
    bodies = os.path.join(args.workdir, 'bodies-%s.tsv' % prefix)
    make_bodies(bodies, count, prefix)
    before = bridge.status()
    pid, ccm_pid = bridge.ready['pid'], ccm.ready['pid']
    cpu_before = (cpu_seconds(pid), cpu_seconds(ccm_pid))
    print('%s: wrk %d connections, %d ms pause, %d s' % (name, connections, delay_ms, seconds))
    t0 = time.monotonic()
    result, output = run_wrk(url, bodies, count, args.threads, connections, seconds, delay_ms)
    t_wrk = time.monotonic()
    print(output)
    status = bridge.wait_drained(timeout=300)
    t_drained = time.monotonic()
    cpu = (cpu_seconds(pid) - cpu_before[0], cpu_seconds(ccm_pid) - cpu_before[1])
    messages = get_json(ccm.url + '/_ccm/messages', timeout=60)['messages']
    ids = collections.Counter(m['id'] for m in messages if m['id'].startswith(prefix))
    acked = result['requests'] - result['status_errors']
    accepted = status['counts']['accepted'] - before['counts']['accepted']
    commits = status['spool_commits'] - before['spool_commits']
    return {
        'name': name, 'connections': connections, 'delay_ms': delay_ms, 'seconds': seconds, 'wrk': result,
        'rate': acked / (result['duration_us'] / 1e6),
        'socket_errors': result['connect_errors'] + result['read_errors'] + result['write_errors'],
        'at_ccm': sum(ids.values()), 'accepted': accepted, 'acked': min(acked, count),
        # wrk counts only the answers it read before its clock stopped; the requests still in flight then were
        # stored and forwarded too, so CCM may hold a few more than wrk counted, never fewer.
        'lossless': sum(ids.values()) == len(ids) == accepted and accepted >= min(acked, count),
        'drain_seconds': t_drained - t_wrk, 'e2e_rate': accepted / (t_drained - t0),
        'commits': commits, 'per_commit': accepted / commits if commits else 0.0,
        'cpu_ms_bridge': 1000 * cpu[0] / max(accepted, 1), 'cpu_ms_ccm': 1000 * cpu[1] / max(accepted, 1),
    }


def section(args, phases, numbers):
    nginx = subprocess.run(['nginx', '-v'], capture_output=True, text=True, check=False).stderr.strip()
    wrk_version = subprocess.run(['wrk', '--version'], capture_output=True, text=True, check=False)
    wrk_version = (wrk_version.stdout + wrk_version.stderr).strip().splitlines()[0]
    paced = phases[0]

    def row(label, fmt, target='', check=None):
        cells = [fmt(p) for p in phases]
        met = ok(check(paced)) if check else ''
        return '| %s | %s | %s | %s |' % (label, ' | '.join(cells), target, met)

    lines = [
        START,
        '## Delivery bridge',
        '',
        'Written by `scripts/bench-bridge.sh` on %s UTC. `wrk` (%d threads) POSTs pre-generated, signed, unique XAA'
        % (datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'), args.threads),
        '`dm.received` deliveries over TLS to a private nginx, which proxies (kept-alive `upstream`, as docs/bridge.md',
        'asks of the role) to the bridge (`roles/ccm_twitter/files/ccm_twitter_bridge.py` under `%s`, Python %s).'
        % (args.python, numbers['python']),
        'The bridge verifies each signature, translates the event, commits it to its SQLite spool (WAL,',
        'synchronous=FULL, group commit) before it answers, and forwards it, re-signed, to the CCM stand-in',
        '(`python -m xemu ccm`: AAA only, checks every signature). All on this machine (%d CPUs, shared with the'
        % os.cpu_count(),
        'load generator and other work). Two runs after a %d s warm-up: **paced** (each connection pauses before each'
        % args.warmup,
        'request: a steady rate above the bar, the run the bar is judged on) and **flat out** (closed loop, no pause:',
        'what the chain can take).',
        '',
        '| measure | %s | bar (paced run) | met |' % ' | '.join(
            '%s: %d connections, %d ms pause, %d s' % (p['name'], p['connections'], p['delay_ms'], p['seconds'])
            for p in phases),
        '|---|%s---:|:---:|' % ('---:|' * len(phases)),
        row('acknowledged deliveries per second', lambda p: '%.0f' % p['rate'], '>= 500',
            lambda p: p['rate'] >= 500),
        row('p50 / p90 / p99 acknowledgement latency', lambda p: '%.1f / %.1f / %.1f ms' % (
            p['wrk']['p50_us'] / 1000, p['wrk']['p90_us'] / 1000, p['wrk']['p99_us'] / 1000), 'p99 <= 50 ms',
            lambda p: p['wrk']['p99_us'] <= 50000),
        row('max latency', lambda p: '%.1f ms' % (p['wrk']['max_us'] / 1000)),
        row('non-200 answers, socket errors, timeouts', lambda p: '%d, %d, %d' % (
            p['wrk']['status_errors'], p['socket_errors'], p['wrk']['timeouts']), '0',
            lambda p: all(q['wrk']['status_errors'] == 0 and q['socket_errors'] == 0 for q in phases)),
        row('events at CCM / stored by the bridge / acknowledged to wrk', lambda p: '%d / %d / %d' % (
            p['at_ccm'], p['accepted'], p['acked']), 'all, once', lambda p: all(q['lossless'] for q in phases)),
        row('delivered to CCM per second (start of the run until the last one is at CCM)', lambda p: '%.0f' % (
            p['e2e_rate'])),
        row('spool backlog drained after wrk stopped', lambda p: '%.1f s' % p['drain_seconds']),
        row('group commit: requests per fsync', lambda p: '%.1f' % p['per_commit']),
        row('CPU per delivery: bridge (ingest + forward) / CCM stand-in', lambda p: '%.2f / %.2f ms' % (
            p['cpu_ms_bridge'], p['cpu_ms_ccm'])),
        '| bridge resident memory, idle: at start / after both runs | %s | <= 30 MB | %s |' % (
            ' | '.join(['%.1f / %.1f MB' % (numbers['rss_start'] / 1024, numbers['rss_after'] / 1024)] +
                       [''] * (len(phases) - 1)), ok(max(numbers['rss_start'], numbers['rss_after']) <= 30 * 1024)),
        '',
        'Run it again with `make bench-bridge` (`BENCH_BRIDGE_SECONDS` for the paced run, `BENCH_BRIDGE_CONNECTIONS`,',
        '`BENCH_BRIDGE_DELAY_MS`, `BENCH_BRIDGE_THREADS`).',
        '',
        '- %s, %s; load average (1, 5, 15 min) before: %s, at the end: %s. With a load well above the number of'
        % (nginx, wrk_version, numbers['load_before'], ', '.join('%.2f' % x for x in os.getloadavg())),
        '  CPUs, the tail latency is mostly time spent waiting for a CPU, not work (see the CPU per delivery).',
        END,
    ]
    return '\n'.join(lines) + '\n'


def write_section(text, path):
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            current = handle.read()
    except OSError:
        current = '# Benchmarks\n'
    if START in current and END in current:
        before = current[:current.index(START)]
        after = current[current.index(END) + len(END):].lstrip('\n')
        new = before + text + ('\n' + after if after else '')
    else:
        new = current.rstrip('\n') + '\n\n' + text
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(new)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--seconds', type=int, default=15, help='length of the paced run')
    parser.add_argument('--flat-seconds', type=int, default=10, help='length of the flat-out run (0: none)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--connections', type=int, default=12, help='connections of the paced run')
    parser.add_argument('--delay-ms', type=int, default=10, help='pause of each connection before each request')
    parser.add_argument('--flat-connections', type=int, default=8)
    parser.add_argument('--python', default='/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable,
                        help='interpreter for the bridge (default: the host python3, as in production)')
    parser.add_argument('--output', default=os.path.join(TOP, 'BENCHMARKS.md'))
    args = parser.parse_args()
    args.workdir = work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)  # a spool left from an earlier run would turn this one into duplicates
    os.makedirs(work)
    ca = make_ca(os.path.join(work, 'ca'))
    leaf = issue_cert(ca, ['ccm.bridge.test', '127.0.0.1'], os.path.join(work, 'leaf'))
    write_env_file(os.path.join(work, 'ccm.env'))
    started = []
    try:
        ccm = CcmProc(work, os.path.join(work, 'ccm.env'))
        started.append(ccm.start())
        # The interpreter and malloc setting production has: the host's python3, MALLOC_ARENA_MAX=2 (the unit).
        env = dict(os.environ, MALLOC_ARENA_MAX='2')
        bridge = BridgeProc(work, bridge_config(work, ccm.url, retry_min_seconds=0.2, retry_max_seconds=2),
                            python=args.python, env=env)
        started.append(bridge.start())
        nginx = Nginx(work, bridge.config['listen_port'], leaf.fullchain_path, leaf.key_path)
        started.append(nginx.start())
        pid = bridge.ready['pid']
        numbers = {'load_before': ', '.join('%.2f' % x for x in os.getloadavg()),
                   'python': subprocess.run([args.python, '-c', 'import platform; print(platform.python_version())'],
                                            capture_output=True, text=True, check=False).stdout.strip()}
        time.sleep(1)
        numbers['rss_start'] = rss_kb(pid)
        if args.warmup:
            warm = os.path.join(work, 'warmup.tsv')
            make_bodies(warm, 3000, '80')
            run_wrk(nginx.url, warm, 3000, args.threads, args.flat_connections, args.warmup)
            bridge.wait_drained(timeout=120)
        phases = [phase('paced', bridge, ccm, nginx.url, args, args.connections, args.delay_ms, args.seconds, '91')]
        if args.flat_seconds:
            phases.append(phase('flat out', bridge, ccm, nginx.url, args, args.flat_connections, 0,
                                args.flat_seconds, '92'))
        time.sleep(3)
        numbers['rss_after'] = rss_kb(pid)
        print(json.dumps({'numbers': numbers, 'phases': phases}, indent=2))
        text = section(args, phases, numbers)
        write_section(text, args.output)
        print(text)
        return 0 if all(p['lossless'] for p in phases) else 1
    finally:
        for proc in reversed(started):
            proc.stop()


if __name__ == '__main__':
    sys.exit(main())
