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


def make_bodies(path, count):
    with open(path, 'w', encoding='utf-8') as handle:
        for i in range(count):
            body = encode(xaa_body('dm.received', '9%011d' % i, 'bench message %d' % i))
            handle.write('%s\t%s\n' % (sign(body), body.decode('utf-8')))


def run_wrk(url, bodies, count, threads, connections, seconds):
    cmd = ['wrk', '-t%d' % threads, '-c%d' % connections, '-d%ds' % seconds, '--latency', '--timeout', '10s',
           '-s', os.path.join(TOP, 'scripts', 'bench-bridge.lua'), url, '--', bodies, str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    match = re.search(r'^WRK_RESULT (\{.*\})$', proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise SystemExit('wrk failed (%d): %s%s' % (proc.returncode, proc.stdout, proc.stderr))
    result = json.loads(match.group(1))
    result['unique_available'] = count
    return result, proc.stdout


def ok(good):
    return 'yes' if good else '**NO**'


def section(result, args, numbers):
    nginx = subprocess.run(['nginx', '-v'], capture_output=True, text=True, check=False).stderr.strip()
    wrk_version = subprocess.run(['wrk', '--version'], capture_output=True, text=True, check=False)
    wrk_version = (wrk_version.stdout + wrk_version.stderr).strip().splitlines()[0]
    lines = [
        START,
        '## Delivery bridge',
        '',
        'Written by `scripts/bench-bridge.sh` on %s UTC: `wrk` (%d threads, %d connections, %d s, after a %d s '
        'warm-up) POSTs' % (datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
                            args.threads, args.connections, args.seconds, args.warmup),
        'pre-generated, signed, unique XAA `dm.received` deliveries over TLS to a private nginx, which proxies to the',
        'bridge (`roles/ccm_twitter/files/ccm_twitter_bridge.py` under `%s`, Python %s); the bridge verifies,'
        % (args.python, numbers['python']),
        'translates, commits each event to its SQLite spool (WAL, synchronous=FULL, group commit) before answering,',
        'and forwards it, re-signed, to the CCM stand-in (`python -m xemu ccm`, AAA only, verifies every signature).',
        'nginx keeps its connections to the bridge alive (an `upstream` block with `keepalive`, as docs/bridge.md',
        'asks of the role). Everything runs on this machine (%d CPUs, shared with the load generator and, often,'
        % os.cpu_count(),
        'other work).',
        '',
        '| measure | value | bar | met |',
        '|---|---:|---:|:---:|',
        '| acknowledged deliveries per second (wrk) | %.0f | >= 500 | %s |' % (
            numbers['rate'], ok(numbers['rate'] >= 500)),
        '| p50 / p90 / p99 acknowledgement latency | %.1f / %.1f / %.1f ms | p99 <= 50 ms | %s |' % (
            result['p50_us'] / 1000, result['p90_us'] / 1000, result['p99_us'] / 1000,
            ok(result['p99_us'] <= 50000)),
        '| max latency | %.1f ms | | |' % (result['max_us'] / 1000),
        '| non-200 answers, socket errors, timeouts | %d, %d, %d | 0 | %s |' % (
            result['status_errors'], numbers['socket_errors'], result['timeouts'],
            ok(result['status_errors'] == 0 and numbers['socket_errors'] == 0)),
        '| events at CCM / stored by the bridge / acknowledged to wrk | %d / %d / %d | all, once | %s |' % (
            numbers['at_ccm'], numbers['accepted'], numbers['unique_acked'], ok(numbers['lossless'])),
        '| end to end (acknowledged until the last one is at CCM) | %.0f events/s, drained %.1f s after wrk stopped '
        '| | |' % (numbers['e2e_rate'], numbers['drain_seconds']),
        '| bridge RSS idle at start / idle after the run | %.1f / %.1f MB | <= 30 MB | %s |' % (
            numbers['rss_start'] / 1024, numbers['rss_after'] / 1024, ok(numbers['rss_after'] <= 30 * 1024)),
        '| bridge spool commits (group commit: requests per fsync) | %d commits, %.1f per commit | | |' % (
            numbers['commits'], numbers['per_commit']),
        '| CPU time per delivery: bridge (ingest + forward) / CCM stand-in | %.2f / %.2f ms | | |' % (
            numbers['cpu_ms_bridge'], numbers['cpu_ms_ccm']),
        '',
        'The load generator is closed-loop (each connection sends its next delivery when the previous one is',
        'answered), so the rate is what the chain sustains at that concurrency, and the latency includes TLS,',
        'nginx and the durable commit. Run it again with `make bench-bridge` (`BENCH_BRIDGE_SECONDS`,',
        '`BENCH_BRIDGE_CONNECTIONS`, `BENCH_BRIDGE_THREADS` to change the load).',
        '',
        '- %s, %s, load average at the end: %s' % (nginx, wrk_version, ', '.join('%.2f' % x for x in os.getloadavg())),
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
    parser.add_argument('--seconds', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--connections', type=int, default=16)
    parser.add_argument('--bodies', type=int, default=0, help='unique deliveries to generate (default: enough)')
    parser.add_argument('--python', default='/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable,
                        help='interpreter for the bridge (default: the host python3, as in production)')
    parser.add_argument('--output', default=os.path.join(TOP, 'BENCHMARKS.md'))
    args = parser.parse_args()
    work = os.path.abspath(args.workdir)
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
        time.sleep(1)
        rss_start = rss_kb(pid)

        count = args.bodies or (args.seconds + args.warmup) * 1500
        warm = os.path.join(work, 'warmup.tsv')
        bodies = os.path.join(work, 'bodies.tsv')
        print('generating %d signed deliveries' % count)
        make_bodies(bodies, count)
        with open(warm, 'w', encoding='utf-8') as handle:
            for i in range(2000):
                body = encode(xaa_body('dm.received', '8%011d' % i, 'warm-up %d' % i))
                handle.write('%s\t%s\n' % (sign(body), body.decode('utf-8')))
        if args.warmup:
            run_wrk(nginx.url, warm, 2000, args.threads, args.connections, args.warmup)
            bridge.wait_drained(timeout=120)
        before = bridge.status()
        print('running wrk for %d s' % args.seconds)
        cpu_before = {'bridge': cpu_seconds(pid), 'ccm': cpu_seconds(ccm.ready['pid'])}
        t0 = time.monotonic()
        result, output = run_wrk(nginx.url, bodies, count, args.threads, args.connections, args.seconds)
        t_wrk = time.monotonic()
        print(output)
        status = bridge.wait_drained(timeout=300)
        t_drained = time.monotonic()
        cpu_used = {'bridge': cpu_seconds(pid) - cpu_before['bridge'],
                    'ccm': cpu_seconds(ccm.ready['pid']) - cpu_before['ccm']}
        time.sleep(3)
        rss_after = rss_kb(pid)
        messages = get_json(ccm.url + '/_ccm/messages', timeout=60)['messages']
        bench_ids = collections.Counter(m['id'] for m in messages if m['id'].startswith('9'))
        acked = result['requests'] - result['status_errors']
        unique_acked = min(acked, count)
        accepted = status['counts']['accepted'] - before['counts']['accepted']
        numbers = {
            'rate': acked / (result['duration_us'] / 1e6),
            'socket_errors': result['connect_errors'] + result['read_errors'] + result['write_errors'],
            'at_ccm': sum(bench_ids.values()),
            'unique_acked': unique_acked,
            'accepted': accepted,
            # wrk counts only the answers it read before its clock stopped; the requests still in flight then
            # were stored and forwarded too, so CCM may hold a few more than wrk counted, never fewer.
            'lossless': (sum(bench_ids.values()) == len(bench_ids) == accepted and accepted >= unique_acked),
            'drain_seconds': t_drained - t_wrk,
            'e2e_rate': unique_acked / (t_drained - t0),
            'rss_start': rss_start,
            'rss_after': rss_after,
            'cpu_ms_bridge': 1000 * cpu_used['bridge'] / max(accepted, 1),
            'cpu_ms_ccm': 1000 * cpu_used['ccm'] / max(accepted, 1),
            'python': subprocess.run([args.python, '-c', 'import platform; print(platform.python_version())'],
                                     capture_output=True, text=True, check=False).stdout.strip(),
        }
        commits = status['spool_commits'] - before['spool_commits']
        numbers['commits'] = commits
        numbers['per_commit'] = (acked / commits) if commits else 0.0
        numbers['bridge_counts'] = {k: status['counts'][k] - before['counts'][k] for k in status['counts']}
        print(json.dumps(numbers, indent=2))
        text = section(result, args, numbers)
        write_section(text, args.output)
        print(text)
        return 0 if numbers['lossless'] else 1
    finally:
        for proc in reversed(started):
            proc.stop()


if __name__ == '__main__':
    sys.exit(main())
