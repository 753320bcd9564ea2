# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cached Debian root file systems for the container hosts of the `hosts` test stage.

One root file system per Debian release, built once per machine with debootstrap from the Debian mirror this
machine's apt uses, kept in CACHE/rootfs/<release>-<recipe hash> and rebuilt when the recipe (packages,
post-install steps, mirror) changes. Standard library only.

    python3 tools/nspawn/rootfs.py [--release bookworm] [--release trixie]   # build (or reuse) and print paths
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

# Root's tools (chroot, useradd, debootstrap, ip) live in the sbin folders, which a CI shell may leave out of PATH.
for _sbin in ('/usr/sbin', '/sbin'):
    if _sbin not in os.environ.get('PATH', '').split(os.pathsep):
        os.environ['PATH'] = os.environ.get('PATH', '/usr/bin:/bin') + os.pathsep + _sbin
CACHE = os.environ.get('CCM_HOSTS_CACHE') or os.path.join(
    os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'hybridchat-ccm')
PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'python3', 'openssh-server', 'sudo', 'ca-certificates', 'iproute2']
USER = 'ansible'
# Shell steps run in the new root (chroot) after debootstrap. Changing them changes the recipe hash.
POST_STEPS = [
    # The unprivileged SSH user; become goes through sudo WITH a password (set per host at boot).
    'useradd --create-home --shell /bin/bash --groups sudo %s' % USER,
    # Host keys are made per host copy, never shared through the cache.
    'rm -f /etc/ssh/ssh_host_*',
    'printf "PasswordAuthentication no\\nKbdInteractiveAuthentication no\\nUseDNS no\\n"'
    ' > /etc/ssh/sshd_config.d/ccm-test.conf',
    # Each boot gets its own machine id.
    ': > /etc/machine-id',
    # The hosts tool refreshes the package lists itself at boot (what apt-daily does on a real host);
    # a timer firing during a test run would only take apt's lock away from the role.
    'ln -sf /dev/null /etc/systemd/system/apt-daily.timer',
    'ln -sf /dev/null /etc/systemd/system/apt-daily-upgrade.timer',
    'apt-get clean',
    'rm -rf /var/lib/apt/lists/*',
]
RECIPE_VERSION = 1


def debian_mirror():
    """The Debian URI of this machine's apt sources (deb822 or one-line), else deb.debian.org."""
    override = os.environ.get('CCM_HOSTS_MIRROR')
    if override:
        return override
    candidates = []
    try:
        with open('/etc/apt/sources.list.d/debian.sources', 'r', encoding='utf-8') as handle:
            candidates += re.findall(r'^URIs:\s*(\S+)', handle.read(), re.M)
    except OSError:
        pass
    try:
        with open('/etc/apt/sources.list', 'r', encoding='utf-8') as handle:
            candidates += re.findall(r'^deb\s+(?:\[[^\]]*\]\s+)?(\S+)', handle.read(), re.M)
    except OSError:
        pass
    for uri in candidates:
        if not uri.rstrip('/').endswith('-security'):
            return uri
    return 'http://deb.debian.org/debian'


def machine_http_proxy():
    """The HTTP proxy this machine's own apt uses to reach the mirror, if any: $http_proxy, else apt's
    Acquire::http::Proxy. debootstrap and the containers' apt proxy go the same way."""
    for name in ('http_proxy', 'HTTP_PROXY'):
        if os.environ.get(name):
            return os.environ[name]
    try:
        proc = subprocess.run(['apt-config', 'shell', 'PROXY', 'Acquire::http::Proxy'], capture_output=True,
                              text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^PROXY='([^']+)'", proc.stdout, re.M)
    if match and match.group(1).upper() not in ('DIRECT', 'FALSE'):
        return match.group(1)
    return None


def recipe(release):
    return {'release': release, 'variant': 'minbase', 'packages': PACKAGES, 'post': POST_STEPS,
            'mirror': debian_mirror(), 'version': RECIPE_VERSION}


def recipe_hash(release):
    text = json.dumps(recipe(release), sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]


def rootfs_path(release):
    return os.path.join(CACHE, 'rootfs', '%s-%s' % (release, recipe_hash(release)))


def _log(quiet, message):
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def ensure_rootfs(release, quiet=False):
    """The path of the cached root file system of a release, built first when missing."""
    path = rootfs_path(release)
    marker = os.path.join(path, '.ccm-rootfs.json')
    if os.path.exists(marker):
        return path
    if shutil.which('debootstrap') is None and not os.path.exists('/usr/sbin/debootstrap'):
        raise RuntimeError('debootstrap is not installed: run "make system" (apt-get install debootstrap)')
    base = os.path.dirname(path)
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, '.lock-%s' % release), 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same release
        if os.path.exists(marker):
            return path
        tmp = path + '.building'
        shutil.rmtree(tmp, ignore_errors=True)
        rec = recipe(release)
        started = time.monotonic()
        _log(quiet, 'building the %s root file system in %s (debootstrap from %s, about 90 s, once per machine)'
             % (release, path, rec['mirror']))
        cmd = ['debootstrap', '--variant=minbase', '--include=' + ','.join(PACKAGES), release, tmp, rec['mirror']]
        env = dict(os.environ, PATH=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
        if machine_http_proxy():
            env['http_proxy'] = machine_http_proxy()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            log = os.path.join(base, 'debootstrap-%s.log' % release)
            with open(log, 'w', encoding='utf-8') as handle:
                handle.write(proc.stdout + proc.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError('debootstrap of %s failed (rc %d), see %s: %s'
                               % (release, proc.returncode, log, (proc.stdout + proc.stderr)[-600:]))
        os.chmod(tmp, 0o755)  # the root directory of the system, as on any Debian host
        for step in POST_STEPS:
            subprocess.run(['chroot', tmp, '/bin/sh', '-ec', step], check=True)
        with open(os.path.join(tmp, '.ccm-rootfs.json'), 'w', encoding='utf-8') as handle:
            json.dump(dict(rec, built=time.time(), seconds=round(time.monotonic() - started, 1)), handle, indent=2)
        os.rename(tmp, path)
        # Older builds of the same release (another recipe) are dead weight now.
        for name in os.listdir(base):
            old = os.path.join(base, name)
            if name.startswith(release + '-') and old != path and os.path.isdir(old):
                shutil.rmtree(old, ignore_errors=True)
        _log(quiet, 'built %s in %.0f s' % (path, time.monotonic() - started))
    return path


def main(argv=None):
    os.umask(0o022)  # a Debian root file system, whatever umask the calling shell has
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--release', action='append', help='Debian release (default: bookworm)')
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args(argv)
    for release in args.release or ['bookworm']:
        print(ensure_rootfs(release, args.quiet))
    return 0


if __name__ == '__main__':
    sys.exit(main())
