# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container hosts for the `hosts` test stage: Debian booted with systemd in systemd-nspawn, reached over SSH.

    python tools/nspawn/hosts.py check
    python tools/nspawn/hosts.py up --dir DIR --host NAME:RELEASE:FQDN[:v11] ... [--extra-fqdn NAME:FQDN ...]
    python tools/nspawn/hosts.py status --dir DIR
    python tools/nspawn/hosts.py reboot --dir DIR NAME
    python tools/nspawn/hosts.py down --dir DIR [--purge]
    python tools/nspawn/hosts.py ssh --dir DIR NAME [COMMAND...]

`up` boots every host in parallel from a copy of the cached root file system of its release (tools/nspawn/rootfs.py):
own SSH host keys, the unprivileged user `ansible` (SSH key made per run, sudo WITH a password made per host),
a veth pair addressed 10.213.N.1/24 (controller side) and 10.213.N.2/24 (host0 inside), apt reaching the Debian
mirror through tools/nspawn/proxy.py on the controller side of the veths, a CCM stand-in as the systemd unit
`ccm-standin` on 0.0.0.0:8081 and the site's certificate (local CA) in /etc/ssl/ccm/FQDN/. nginx is NOT installed.
On the controller it starts the X API emulator (HTTPS, local CA) whose CRC requests and deliveries reach FQDN:443 at
the host's veth address. It writes DIR/inventory (hosts.yml, group_vars/ccm/main.yml, host_vars/NAME/main.yml and
an ansible-vault host_vars/NAME/vault.yml whose password is in DIR/vault-password.txt, laid out like
inventories/example) and DIR/hosts.json (pids, addresses, sites).

`down` stops only what `up` recorded (by pid, checked against its command line), removes the copies and any veth
left, and with --purge the whole DIR. `up` itself tears down everything it started when it fails.
"""

import argparse
import concurrent.futures
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, TOOLS)

import rootfs  # noqa: E402  pylint: disable=wrong-import-position
from xemu import procs  # noqa: E402  pylint: disable=wrong-import-position

SUBNET = '10.213.%d.0/24'
PROXY_PORT = 3142
MIN_FREE_BYTES = 2 * 10 ** 9
USER = rootfs.USER
ENV_FILE = '/opt/hybridchat/ccm/environment_variable.env'
ENV_TEMPLATE = '# CCM environment (hosts test). Lines other than the TWITTER_* keys belong to CCM.\nCCM_PORT=8081\n'
CCM_PORT = 8081
STANDIN_FILES = ('__init__.py', 'ccm.py', 'crc.py', 'httpbase.py')
STANDIN_RUN = '''"""CCM stand-in of the hosts test stage (python3 standard library only)."""
import sys
sys.path.insert(0, '/opt/ccm-standin')
from xemu.ccm import CcmServer  # noqa: E402
server = CcmServer(('0.0.0.0', %d), sys.argv[1], '/ccm/webhook/twitter', quiet=True)
server.serve_forever()
''' % CCM_PORT
STANDIN_UNIT = '''[Unit]
Description=CCM stand-in (hybridchat.ccm hosts test)
After=network.target

[Service]
ExecStart=/usr/bin/python3 /opt/ccm-standin/run.py %s
Restart=always

[Install]
WantedBy=multi-user.target
''' % ENV_FILE


def log(message):
    print('[hosts] %s' % message, file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    kwargs.setdefault('check', True)
    kwargs.setdefault('capture_output', True)
    kwargs.setdefault('text', True)
    return subprocess.run(cmd, **kwargs)  # pylint: disable=subprocess-run-check


# -- capability check ---------------------------------------------------------------------------------
def check():
    """Why this machine cannot boot container hosts, or None when it can."""
    if os.geteuid() != 0:
        return 'the hosts stage needs root (systemd-nspawn, veth interfaces, chroot); run it as root'
    for tool in ('systemd-nspawn', 'nsenter', 'ip', 'ssh', 'ssh-keygen', 'chroot'):
        if shutil.which(tool) is None and not os.path.exists('/usr/sbin/' + tool):
            return '%s is missing: run "make system" (apt-get install systemd-container debootstrap openssh-client)' % tool
    if shutil.which('debootstrap') is None and not os.path.exists('/usr/sbin/debootstrap'):
        return 'debootstrap is missing: run "make system" (apt-get install debootstrap)'
    for where in (tempfile.gettempdir(), os.path.dirname(rootfs.CACHE.rstrip('/')) or '/'):
        if os.path.isdir(where) and shutil.disk_usage(where).free < MIN_FREE_BYTES:
            return 'only %.1f GB free in %s; the container hosts need about %.0f GB (root file systems and copies)' % (
                shutil.disk_usage(where).free / 1e9, where, MIN_FREE_BYTES / 1e9)
    name = 'hcchk%d' % (os.getpid() % 10000)
    probe = run(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', name + 'p'], check=False)
    if probe.returncode != 0:
        return 'cannot create veth interfaces here (%s); the container hosts need CAP_NET_ADMIN' % probe.stderr.strip()
    run(['ip', 'link', 'del', name], check=False)
    return None


# -- helpers --------------------------------------------------------------------------------------------
_cmdline = procs.cmdline
_alive = procs.alive


def _stop_pid(pid, marker, timeout=20.0):
    return procs.stop_pid(pid, marker, timeout=timeout, poll=0.1, settle=0.5)


def _children(pid):
    found = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task), 'r', encoding='utf-8') as handle:
                found += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return found


def _container_init(nspawn_pid):
    """The pid (on this machine) of the container's systemd: a descendant of nspawn in another pid namespace."""
    own_ns = os.readlink('/proc/self/ns/pid')
    todo = list(_children(nspawn_pid))
    while todo:
        pid = todo.pop(0)
        try:
            with open('/proc/%d/comm' % pid, 'r', encoding='utf-8') as handle:
                comm = handle.read().strip()
            if comm == 'systemd' and os.readlink('/proc/%d/ns/pid' % pid) != own_ns:
                return pid
        except OSError:
            continue
        todo += _children(pid)
    return None


def _used_subnets():
    out = run(['ip', '-4', '-o', 'addr', 'show'], check=False).stdout
    used = set()
    for addr in re.findall(r'inet (\d+\.\d+\.\d+\.\d+)/', out):
        net = ipaddress.ip_network(addr + '/24', strict=False)
        used.add(str(net))
    links = run(['ip', '-o', 'link', 'show'], check=False).stdout
    for number in re.findall(r'\d+: ve-hc(\d+)[@:]', links):
        used.add(SUBNET % int(number))
    return used


def _wait(predicate, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def _tcp_open(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def _nsenter(cpid, *cmd, check=True, timeout=120):
    return run(['nsenter', '-t', str(cpid), '-m', '-u', '-i', '-n', '-p', '--'] + list(cmd), check=check,
               timeout=timeout)


def _write(path, text, mode=0o644, uid=None, gid=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, gid)


def _passwd_entry(root, user):
    with open(os.path.join(root, 'etc', 'passwd'), 'r', encoding='utf-8') as handle:
        for line in handle:
            fields = line.split(':')
            if fields[0] == user:
                return int(fields[2]), int(fields[3]), fields[5]
    raise RuntimeError('user %s missing in %s' % (user, root))


def load_state(directory):
    path = os.path.join(directory, 'hosts.json')
    if not os.path.exists(path):
        return None
    with open(path, 'r', encoding='utf-8') as handle:
        return json.load(handle)


_STATE_LOCK = threading.Lock()


def save_state(state):
    """Write DIR/hosts.json atomically (the boot threads save it concurrently)."""
    path = os.path.join(state['dir'], 'hosts.json')
    with _STATE_LOCK:
        with open(path + '.tmp', 'w', encoding='utf-8') as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(path + '.tmp', path)


# -- one host -------------------------------------------------------------------------------------------
def prepare_root(state, host, pki_dir):
    """Copy the cached root file system and make it this host's: keys, user, network, proxy, stand-in, certs."""
    root = host['root']
    started = time.monotonic()
    run(['cp', '-a', '--reflink=auto', host['rootfs'], root])
    os.remove(os.path.join(root, '.ccm-rootfs.json'))
    _write(os.path.join(root, 'etc', 'hostname'), host['name'] + '\n')
    with open(os.path.join(root, 'etc', 'hosts'), 'a', encoding='utf-8') as handle:
        handle.write('127.0.1.1 %s\n' % host['name'])
    # New SSH host keys for this copy; the controller trusts exactly these.
    run(['ssh-keygen', '-A', '-f', root])
    keys = []
    for name in sorted(os.listdir(os.path.join(root, 'etc', 'ssh'))):
        if name.startswith('ssh_host_') and name.endswith('.pub'):
            with open(os.path.join(root, 'etc', 'ssh', name), 'r', encoding='utf-8') as handle:
                fields = handle.read().split()
            keys.append('%s %s %s' % (host['address'], fields[0], fields[1]))
    host['known_hosts'] = keys
    # The unprivileged user: the run's SSH key, and a sudo password of its own.
    uid, gid, home = _passwd_entry(root, USER)
    with open(state['ssh_key'] + '.pub', 'r', encoding='utf-8') as handle:
        pub = handle.read()
    ssh_dir = os.path.join(root, home.lstrip('/'), '.ssh')
    os.makedirs(ssh_dir, exist_ok=True)
    os.chown(ssh_dir, uid, gid)
    os.chmod(ssh_dir, 0o700)
    _write(os.path.join(ssh_dir, 'authorized_keys'), pub, 0o600, uid, gid)
    run(['chroot', root, 'chpasswd'], input='%s:%s\n' % (USER, host['become_password']))
    # A test-only tweak: a unit that hangs on stop delays the teardown by 10 s at most, not 90 s.
    _write(os.path.join(root, 'etc', 'systemd', 'system.conf.d', 'ccm-hosts-test.conf'),
           '[Manager]\nDefaultTimeoutStopSec=10s\n')
    # apt reaches the Debian mirror through the proxy on the controller side of the veth.
    # Retries for a mirror hiccup; no Valid-Until check, so a snapshot mirror (an old, signed Release) works too.
    _write(os.path.join(root, 'etc', 'apt', 'apt.conf.d', '01ccm-hosts-proxy'),
           'Acquire::http::Proxy "http://%s:%d/";\nAcquire::Retries "3";\nAcquire::Check-Valid-Until "false";\n'
           % (host['gateway'], PROXY_PORT))
    # apt inside speaks plain HTTP to the proxy, which fetches over HTTPS where the mirror needs it.
    _plain_http_sources(root)
    # CCM stand-in: reads the env file the role writes, listens where nginx's upstream points.
    standin = os.path.join(root, 'opt', 'ccm-standin')
    for name in STANDIN_FILES:
        os.makedirs(os.path.join(standin, 'xemu'), exist_ok=True)
        shutil.copy(os.path.join(TOOLS, 'xemu', name), os.path.join(standin, 'xemu', name))
    _write(os.path.join(standin, 'run.py'), STANDIN_RUN)
    _write(os.path.join(root, ENV_FILE.lstrip('/')), ENV_TEMPLATE, 0o600)
    _write(os.path.join(root, 'etc', 'systemd', 'system', 'ccm-standin.service'), STANDIN_UNIT)
    wants = os.path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants')
    os.makedirs(wants, exist_ok=True)
    os.symlink('/etc/systemd/system/ccm-standin.service', os.path.join(wants, 'ccm-standin.service'))
    # The site's certificate and key, put there beforehand as ccm_twitter_tls_mode=provided expects.
    for fqdn in [host['fqdn']] + host['extra_fqdns']:
        dest = os.path.join(root, 'etc', 'ssl', 'ccm', fqdn)
        os.makedirs(dest, mode=0o755, exist_ok=True)
        shutil.copy(os.path.join(pki_dir, fqdn, 'fullchain.pem'), os.path.join(dest, 'fullchain.pem'))
        os.chmod(os.path.join(dest, 'fullchain.pem'), 0o644)
        shutil.copy(os.path.join(pki_dir, fqdn, 'key.pem'), os.path.join(dest, 'key.pem'))
        os.chmod(os.path.join(dest, 'key.pem'), 0o600)
    host['prepare_seconds'] = round(time.monotonic() - started, 1)


def _plain_http_sources(root):
    for path in (os.path.join(root, 'etc', 'apt', 'sources.list'),
                 os.path.join(root, 'etc', 'apt', 'sources.list.d', 'debian.sources')):
        if os.path.exists(path):
            with open(path, 'r', encoding='utf-8') as handle:
                text = handle.read()
            if 'https://' in text:
                _write(path, text.replace('https://', 'http://'))


def nspawn_flags():
    """How to run systemd-nspawn here. Without a systemd of its own (a container or a minimal VM) the container
    keeps the caller's cgroup (--keep-unit) and is not registered; where systemd runs, nspawn asks it for a
    scope of its own instead (--keep-unit would need a delegated cgroup)."""
    if os.path.isdir('/run/systemd/system'):
        return ['--register=no']
    return ['--register=no', '--keep-unit']


def _console_tail(host, state, lines=8):
    try:
        with open(os.path.join(state['dir'], 'logs', host['name'] + '.console.log'), 'r', encoding='utf-8',
                  errors='replace') as handle:
            return [line.rstrip() for line in handle.readlines()[-lines:]]
    except OSError:
        return []


def boot(state, host):
    """Boot the copy, address both veth ends, wait for systemd and sshd; refresh apt's lists later."""
    started = time.monotonic()
    console = open(os.path.join(state['dir'], 'logs', host['name'] + '.console.log'), 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    cmd = ['systemd-nspawn', '-D', host['root'], '-b'] + nspawn_flags()
    cmd += ['--network-veth', '-M', host['machine'], '--console=read-only']
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                            start_new_session=True)
    console.close()
    host['pid'] = proc.pid
    save_state(state)
    cpid = _wait(lambda: _container_init(proc.pid) if proc.poll() is None else -1, 30)
    if not cpid or cpid == -1:
        raise RuntimeError('%s: systemd-nspawn did not start a container (%s): %s'
                           % (host['name'], ' '.join(cmd), ' | '.join(_console_tail(host, state))))
    host['init_pid'] = cpid
    veth = _wait(lambda: host['veth'] if run(['ip', 'link', 'show', host['veth']], check=False).returncode == 0
                 else None, 15)
    if not veth:
        raise RuntimeError('%s: no veth %s appeared' % (host['name'], host['veth']))
    run(['ip', 'addr', 'add', host['gateway'] + '/24', 'dev', veth])
    run(['ip', 'link', 'set', veth, 'up'])
    _nsenter(cpid, 'ip', 'addr', 'add', host['address'] + '/24', 'dev', 'host0')
    _nsenter(cpid, 'ip', 'link', 'set', 'host0', 'up')
    status = None

    def _booted():
        nonlocal status
        status = _nsenter(cpid, 'systemctl', 'is-system-running', check=False).stdout.strip()
        return status in ('running', 'degraded')

    if not _wait(_booted, 90, 0.5):
        raise RuntimeError('%s: systemd did not finish booting (is-system-running: %s): %s'
                           % (host['name'], status, ' | '.join(_console_tail(host, state))))
    if status == 'degraded':
        failed = _nsenter(cpid, 'systemctl', '--failed', '--no-legend', '--plain', check=False).stdout.strip()
        log('%s booted degraded: %s' % (host['name'], failed.replace('\n', '; ')))
    if not _wait(lambda: _tcp_open(host['address'], 22), 30):
        raise RuntimeError('%s: sshd does not answer on %s:22' % (host['name'], host['address']))
    host['boot_seconds'] = round(time.monotonic() - started, 1)


def apt_update(host, attempts=3):
    """What apt-daily does on a real host; a mirror in the middle of a sync fails once and then works."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        proc = _nsenter(host['init_pid'], 'apt-get', 'update', '-qq', check=False, timeout=300)
        if proc.returncode == 0:
            break
        log('%s: apt-get update failed (attempt %d of %d): %s'
            % (host['name'], attempt, attempts, proc.stderr.strip()[-300:]))
        if attempt == attempts:
            raise RuntimeError('%s: apt-get update through the proxy failed: %s' % (host['name'], proc.stderr[-800:]))
        time.sleep(5 * attempt)
    host['apt_update_seconds'] = round(time.monotonic() - started, 1)


def ssh_command(state, host, *command):
    return ['ssh', '-i', state['ssh_key'], '-o', 'UserKnownHostsFile=' + state['known_hosts'],
            '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
            '-o', 'ConnectTimeout=10', '%s@%s' % (USER, host['address'])] + list(command)


# -- inventory -------------------------------------------------------------------------------------------
def write_inventory(state):
    """DIR/inventory laid out like inventories/example: hosts.yml, group_vars/ccm/main.yml, host_vars/NAME/main.yml
    and host_vars/NAME/vault.yml (ansible-vault, password in DIR/vault-password.txt)."""
    import yaml  # pylint: disable=import-outside-toplevel
    inv = os.path.join(state['dir'], 'inventory')
    os.makedirs(os.path.join(inv, 'group_vars', 'ccm'), exist_ok=True)
    os.makedirs(os.path.join(inv, 'host_vars'), exist_ok=True)
    children = {'ccm_v2': {'hosts': {}}, 'ccm_v11': {'hosts': {}}}
    for host in state['hosts']:
        group = 'ccm_v11' if host['api_version'] == '1.1' else 'ccm_v2'
        children[group]['hosts'][host['name']] = {'ansible_host': host['address']}
    children = {k: v for k, v in children.items() if v['hosts']}

    def dump(path, header, data):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('---\n# %s\n# Written by tools/nspawn/hosts.py for %s (fake credentials).\n'
                         % (header, state['dir']))
            yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False, width=200)
        os.chmod(path, 0o600)

    dump(os.path.join(inv, 'hosts.yml'), 'Container hosts booted with systemd-nspawn.', {'ccm': {'children': children}})
    ca = state['ca_cert']
    dump(os.path.join(inv, 'group_vars', 'ccm', 'main.yml'), 'Settings shared by every site.', {
        # Over SSH as an unprivileged user; the playbooks escalate through sudo themselves.
        'ansible_user': USER,
        'ansible_ssh_private_key_file': state['ssh_key'],
        'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'
                                   % state['known_hosts'],
        'ccm_twitter_env_file': ENV_FILE,
        'ccm_twitter_env_file_owner': 'root',
        'ccm_twitter_env_file_group': 'root',
        'ccm_twitter_ccm_restart_command': 'systemctl restart ccm-standin',
        'ccm_twitter_upstream': 'http://127.0.0.1:%d' % CCM_PORT,
        'ccm_twitter_tls_mode': 'provided',
        'ccm_twitter_tls_cert': '/etc/ssl/ccm/{{ ccm_twitter_fqdn }}/fullchain.pem',
        'ccm_twitter_tls_key': '/etc/ssl/ccm/{{ ccm_twitter_fqdn }}/key.pem',
        'ccm_twitter_api_url': state['api_url'],
        'ccm_twitter_api_ca_path': ca,
        'ccm_twitter_api_delegate_to': 'localhost',
        'ccm_twitter_preflight_ca_path': ca,
        'ccm_twitter_preflight_delay': 1,
        'ccm_twitter_exclusive': False,
    })
    # Secrets in an ansible-vault file per host, as inventories/example keeps them; the runs pass
    # --vault-password-file DIR/vault-password.txt where the README shows --ask-vault-pass.
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    vault_password = secrets.token_urlsafe(24)
    _write(state['vault_password_file'], vault_password + '\n', 0o600)
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(vault_password.encode('utf-8')))])
    for host in state['hosts']:
        site = host['site']
        host_dir = os.path.join(inv, 'host_vars', host['name'])
        os.makedirs(host_dir, exist_ok=True)
        dump(os.path.join(host_dir, 'main.yml'), 'Site %s (Debian %s); secrets in vault.yml.' % (host['name'], host['release']), {
            'ansible_become_password': '{{ vault_ansible_become_password }}',
            'ccm_twitter_fqdn': host['fqdn'],
            'ccm_twitter_username': site['username'],
            'ccm_twitter_api_version': host['api_version'],
            'ccm_twitter_environment': 'production' if host['api_version'] == '1.1' else '',
            'ccm_twitter_consumer_key': '{{ vault_ccm_twitter_consumer_key }}',
            'ccm_twitter_consumer_secret': '{{ vault_ccm_twitter_consumer_secret }}',
            'ccm_twitter_access_token': '{{ vault_ccm_twitter_access_token }}',
            'ccm_twitter_access_secret': '{{ vault_ccm_twitter_access_secret }}',
            # Before DNS points at the host: the CRC preflight goes to its veth address.
            'ccm_twitter_preflight_connect_to': '%s:443' % host['address'],
        })
        plain = yaml.safe_dump({
            'vault_ansible_become_password': host['become_password'],
            'vault_ccm_twitter_consumer_key': site['consumer_key'],
            'vault_ccm_twitter_consumer_secret': site['consumer_secret'],
            'vault_ccm_twitter_access_token': site['access_token'],
            'vault_ccm_twitter_access_secret': site['access_secret'],
        }, default_flow_style=False)
        _write(os.path.join(host_dir, 'vault.yml'), vault.encrypt(plain).decode('ascii'), 0o600)
    return inv


# -- up / down ---------------------------------------------------------------------------------------------
def parse_hosts(specs, extras):
    hosts = []
    for spec in specs:
        parts = spec.split(':')
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ('v11', 'v2')):
            raise SystemExit('--host %s: expected NAME:RELEASE:FQDN[:v11]' % spec)
        if not re.match(r'^[a-z][a-z0-9-]{0,30}$', parts[0]):
            raise SystemExit('--host %s: the name must be lower-case letters, digits and dashes' % spec)
        hosts.append({'name': parts[0], 'release': parts[1], 'fqdn': parts[2].lower(),
                      'api_version': '1.1' if len(parts) == 4 and parts[3] == 'v11' else '2', 'extra_fqdns': []})
    for extra in extras or []:
        name, _sep, fqdn = extra.partition(':')
        match = [h for h in hosts if h['name'] == name]
        if not match or not fqdn:
            raise SystemExit('--extra-fqdn %s: expected NAME:FQDN for a NAME given with --host' % extra)
        match[0]['extra_fqdns'].append(fqdn.lower())
    return hosts


def machines_dir(directory):
    """Where the copies of the root file systems live: next to the cache, on the file system where debootstrap
    already ran programs (a /tmp mounted noexec could not boot them), one folder per run directory."""
    key = hashlib.sha256(os.path.abspath(directory).encode('utf-8')).hexdigest()[:12]
    return os.path.join(rootfs.CACHE, 'machines', key)


def cmd_up(args):
    reason = check()
    if reason:
        print('hosts: cannot boot container hosts on this machine: %s' % reason, file=sys.stderr)
        return 2
    directory = os.path.abspath(args.dir)
    old = load_state(directory)
    if old and any(_alive(h.get('pid'), 'systemd-nspawn') for h in old['hosts']):
        print('hosts are already running from %s: run "down" first' % directory, file=sys.stderr)
        return 1
    hosts = parse_hosts(args.host, args.extra_fqdn)
    if not hosts:
        raise SystemExit('give at least one --host NAME:RELEASE:FQDN')
    started = time.monotonic()
    attempts = 2  # a second, clean attempt after a failure that may be passing (mirror, boot race)
    for attempt in range(1, attempts + 1):
        os.makedirs(os.path.join(directory, 'logs'), exist_ok=True)
        os.chmod(directory, 0o700)
        state = {'dir': directory, 'hosts': parse_hosts(args.host, args.extra_fqdn), 'started': time.time(),
                 'timings': {}, 'attempt': attempt, 'machines': machines_dir(directory)}
        os.makedirs(state['machines'], mode=0o700, exist_ok=True)
        save_state(state)
        try:
            _up(state, args)
            break
        except BaseException as exc:  # also KeyboardInterrupt: leave nothing behind
            log('up failed (attempt %d of %d): %s; tearing down what was started' % (attempt, attempts, exc))
            report_failure(state, exc)
            down(state)
            if not isinstance(exc, (RuntimeError, subprocess.CalledProcessError, OSError)):
                raise
            if attempt == attempts:
                print('hosts: %s' % (exc.stderr if getattr(exc, 'stderr', None) else exc), file=sys.stderr)
                return 1
    state['timings']['up'] = round(time.monotonic() - started, 1)
    save_state(state)
    if not args.quiet:
        for host in state['hosts']:
            print('%-10s Debian %-9s %s  https://%s  boot %.1f s' % (host['name'], host['release'], host['address'],
                                                                     host['fqdn'], host.get('boot_seconds', 0)))
        print('inventory  %s' % state['inventory'])
        print('emulator   %s' % state['api_url'])
        print('up in %.0f s' % state['timings']['up'])
    return 0


def report_failure(state, exc):
    """Append what went wrong, with the evidence, to $CCM_HOSTS_FAILURE_LOG (scripts/hosts.sh prints it last)."""
    path = os.environ.get('CCM_HOSTS_FAILURE_LOG')
    if not path:
        return
    lines = ['hosts up, attempt %s: %s: %s' % (state.get('attempt'), type(exc).__name__,
                                               str(getattr(exc, 'stderr', None) or exc).strip()[-600:])]
    if isinstance(exc, subprocess.CalledProcessError):
        lines.append('  command: %s' % ' '.join(str(c) for c in exc.cmd))
    for host in state.get('hosts', []):
        tail = _console_tail(host, state, 4)
        if tail:
            lines.append('  %s console: %s' % (host['name'], ' | '.join(tail)[-400:]))
    proxy_log = (state.get('proxy') or {}).get('log')
    if proxy_log and os.path.exists(proxy_log):
        with open(proxy_log, 'r', encoding='utf-8', errors='replace') as handle:
            lines.append('  proxy: %s' % ' | '.join(handle.read().splitlines()[-4:])[-400:])
    usage = shutil.disk_usage(state['dir'])
    lines.append('  free disk at %s: %.1f GB; systemd on this machine: %s' % (
        state['dir'], usage.free / 1e9, os.path.isdir('/run/systemd/system')))
    with open(path, 'a', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')


def _up(state, args):  # pylint: disable=too-many-locals,too-many-statements
    directory = state['dir']
    hosts = state['hosts']
    t0 = time.monotonic()
    # Root file systems (cached; built in parallel per release the first time).
    releases = sorted({h['release'] for h in hosts})
    with concurrent.futures.ThreadPoolExecutor(len(releases)) as pool:
        paths = dict(zip(releases, pool.map(rootfs.ensure_rootfs, releases)))
    state['timings']['rootfs'] = round(time.monotonic() - t0, 1)
    # Addresses, names, secrets. Held until the veths are addressed, so two runs never pick the same subnet.
    lock = open(os.path.join(rootfs.CACHE, '.subnets.lock'), 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = _used_subnets()
        free = [n for n in range(11, 250) if SUBNET % n not in used]
        if len(free) < len(hosts):
            raise RuntimeError('no free 10.213.N.0/24 subnets left')
        for host, number in zip(hosts, free):
            host.update({'rootfs': paths[host['release']], 'subnet': number, 'machine': 'hc%d' % number,
                         'veth': 've-hc%d' % number, 'gateway': '10.213.%d.1' % number,
                         'address': '10.213.%d.2' % number, 'root': os.path.join(state['machines'], host['name']),
                         'become_password': secrets.token_urlsafe(24)})
        ssh_dir = os.path.join(directory, 'ssh')
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        state['ssh_key'] = os.path.join(ssh_dir, 'id_ed25519')
        state['known_hosts'] = os.path.join(ssh_dir, 'known_hosts')
        state['vault_password_file'] = os.path.join(directory, 'vault-password.txt')
        if not os.path.exists(state['ssh_key']):
            run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'hybridchat-ccm-hosts', '-f', state['ssh_key']])
        save_state(state)

        # Certificates from a local CA: the emulator's API address and every site FQDN.
        from xemu import pki  # pylint: disable=import-outside-toplevel
        pki_dir = os.path.join(directory, 'pki')
        ca = pki.make_ca(os.path.join(pki_dir, 'ca'), 'hybridchat.ccm hosts test CA', days=120)
        api_leaf = pki.issue_cert(ca, ['127.0.0.1', 'localhost'], os.path.join(pki_dir, 'api'), days=90)
        for host in hosts:
            for fqdn in [host['fqdn']] + host['extra_fqdns']:
                pki.issue_cert(ca, [fqdn], os.path.join(pki_dir, fqdn), days=90)
        state['ca_cert'] = ca.cert_path

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(lambda h: prepare_root(state, h, pki_dir), hosts))
        state['timings']['copy'] = round(time.monotonic() - t0, 1)
        with open(state['known_hosts'], 'w', encoding='utf-8') as handle:
            handle.write(''.join(line + '\n' for h in hosts for line in h['known_hosts']))
        save_state(state)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(lambda h: boot(state, h), hosts))
        state['timings']['boot'] = round(time.monotonic() - t0, 1)
    finally:
        lock.close()
    save_state(state)

    # apt's proxy, on the controller side of every veth only.
    # (scheme://host of the mirror: the proxy fetches with the mirror's own scheme)
    mirror_hosts = sorted({re.sub(r'^([a-z]+://[^/:]+).*$', r'\1', rootfs.debian_mirror())})
    proxy_log = open(os.path.join(directory, 'logs', 'proxy.log'), 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    cmd = [sys.executable, os.path.join(HERE, 'proxy.py')]
    for host in hosts:
        cmd += ['--listen', '%s:%d' % (host['gateway'], PROXY_PORT)]
    for name in mirror_hosts:
        cmd += ['--allow', name]
    if rootfs.machine_http_proxy():
        cmd += ['--upstream-proxy', rootfs.machine_http_proxy()]
    proxy = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=proxy_log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                             start_new_session=True)
    proxy_log.close()
    state['proxy'] = {'pid': proxy.pid, 'log': proxy_log.name}
    save_state(state)
    if not _wait(lambda: proxy.poll() is not None or _tcp_open(hosts[0]['gateway'], PROXY_PORT), 10) \
            or proxy.poll() is not None:
        raise RuntimeError('the apt proxy did not start (see %s)' % proxy_log.name)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(apt_update, hosts))
    state['timings']['apt_update'] = round(time.monotonic() - t0, 1)

    # X API emulator on the controller; its CRCs and deliveries reach FQDN:443 at the host's veth address.
    from demo_stack import build_seed  # pylint: disable=import-outside-toplevel
    from xemu.testing import Emulator  # pylint: disable=import-outside-toplevel
    raw_seed, creds = build_seed(len(hosts))
    # Room for two webhooks per app: change_fqdn.yml on an XAA site then registers the new webhook, moves the
    # subscriptions with PUT and deletes the old one. (With one webhook it needs the bridge's standby stream to X,
    # which these hosts cannot reach: the emulator listens on the controller's loopback. tests/playbooks covers it.)
    for app, _user in creds:
        app.setdefault('v2', {})['max_webhooks'] = 2
    for host, (app, user) in zip(hosts, creds):
        host['site'] = {'username': user['username'], 'account_id': user['id'], 'consumer_key': app['consumer_key'],
                        'consumer_secret': app['consumer_secret'], 'access_token': user['access_token'],
                        'access_secret': user['access_secret']}
    resolve = {'%s:443' % fqdn: '%s:443' % h['address'] for h in hosts for fqdn in [h['fqdn']] + h['extra_fqdns']}
    emulator = Emulator(seed=raw_seed, tls=api_leaf, crc_ca_bundle=ca.cert_path, resolve=resolve,
                        workdir=os.path.join(directory, 'emulator')).start()
    state['emulator'] = {'pid': emulator.proc.pid, 'log': emulator.log_path}
    state['api_url'] = emulator.url
    state['inventory'] = write_inventory(state)
    save_state(state)

    # Smoke test: the SSH login works with the run's key and the host keys made for this run.
    for host in hosts:
        proc = run(ssh_command(state, host, 'true'), check=False, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError('%s: ssh %s@%s failed: %s' % (host['name'], USER, host['address'], proc.stderr.strip()))
    del args


def down(state, purge=False):
    stopped = []
    emu = state.get('emulator') or {}
    if _stop_pid(emu.get('pid'), 'xemu', 5):
        stopped.append('emulator')
    proxy = state.get('proxy') or {}
    if _stop_pid(proxy.get('pid'), 'proxy.py', 5):
        stopped.append('proxy')

    def _stop_host(host):
        # TERM makes systemd-nspawn shut the container down cleanly (a few seconds).
        if _stop_pid(host.get('pid'), 'systemd-nspawn', 30):
            stopped.append(host['name'])
        if host.get('veth') and run(['ip', 'link', 'show', host['veth']], check=False).returncode == 0:
            run(['ip', 'link', 'del', host['veth']], check=False)

    hosts = [h for h in state.get('hosts', []) if h.get('pid') or h.get('veth')]
    if hosts:
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(_stop_host, hosts))
    # systemd-nspawn's own bookkeeping in /run: the lock file of each copy (inode-DEV:INO), then the
    # directories when nothing else uses them.
    for host in hosts:
        try:
            stat = os.stat(host['root'])
            os.remove('/run/systemd/nspawn/locks/inode-%d:%d' % (stat.st_dev, stat.st_ino))
        except (OSError, KeyError):
            pass
    for path in ['/run/systemd/nspawn/propagate/' + h['machine'] for h in hosts if h.get('machine')] + [
            '/run/systemd/nspawn/propagate', '/run/systemd/nspawn/locks', '/run/systemd/nspawn']:
        try:
            os.rmdir(path)
        except OSError:
            pass
    machines = state.get('machines') or os.path.join(state['dir'], 'machines')
    with open('/proc/self/mountinfo', 'r', encoding='utf-8') as handle:
        mounted = [line.split()[4] for line in handle if line.split()[4].startswith(machines + '/')]
    if mounted:
        log('not removing %s: still mounted: %s' % (machines, ', '.join(mounted)))
    else:
        shutil.rmtree(machines, ignore_errors=True)
        if purge:
            shutil.rmtree(state['dir'], ignore_errors=True)
    log('stopped: %s' % (', '.join(stopped) or 'nothing was running'))
    return 0


def cmd_down(args):
    directory = os.path.abspath(args.dir)
    state = load_state(directory)
    if state is None:
        if args.purge and os.path.isdir(machines_dir(directory)):
            shutil.rmtree(machines_dir(directory), ignore_errors=True)
        if args.purge and os.path.isdir(os.path.join(directory, 'machines')):
            shutil.rmtree(directory, ignore_errors=True)
        log('no hosts recorded in %s' % directory)
        return 0
    return down(state, args.purge)


def cmd_reboot(args):
    """Power a host off (TERM to its nspawn) and boot the same root file system again: a reboot."""
    state = load_state(os.path.abspath(args.dir))
    host = next((h for h in (state or {}).get('hosts', []) if h['name'] == args.name), None)
    if host is None:
        print('no host %s in %s' % (args.name, args.dir), file=sys.stderr)
        return 1
    started = time.monotonic()
    if not _stop_pid(host.get('pid'), 'systemd-nspawn', 30):
        print('%s was not running' % args.name, file=sys.stderr)
        return 1
    _wait(lambda: run(['ip', 'link', 'show', host['veth']], check=False).returncode != 0, 10)
    try:
        boot(state, host)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print('hosts: %s did not come back: %s' % (args.name, getattr(exc, 'stderr', None) or exc), file=sys.stderr)
        return 1
    save_state(state)
    print('%s rebooted in %.1f s' % (args.name, time.monotonic() - started))
    return 0


def cmd_status(args):
    state = load_state(os.path.abspath(args.dir))
    if not state:
        print('no hosts in %s' % args.dir)
        return 1
    ok = True
    for host in state['hosts']:
        alive = _alive(host.get('pid'), 'systemd-nspawn')
        ok = ok and alive
        print('%-10s %-9s %-14s pid %-8s %s' % (
            host['name'], host['release'], host.get('address'), host.get('pid'), 'running' if alive else 'stopped'))
    return 0 if ok else 1


def cmd_ssh(args):
    state = load_state(os.path.abspath(args.dir))
    host = next((h for h in (state or {}).get('hosts', []) if h['name'] == args.name), None)
    if host is None:
        print('no host %s in %s' % (args.name, args.dir), file=sys.stderr)
        return 1
    cmd = ssh_command(state, host, *args.command)
    if args.print:
        print(' '.join(shlex.quote(c) for c in cmd))
        return 0
    os.execvp(cmd[0], cmd)
    return 1


def cmd_check(_args):
    reason = check()
    if reason:
        print('hosts: cannot boot container hosts on this machine: %s' % reason, file=sys.stderr)
        return 2
    print('this machine can boot container hosts (systemd-nspawn %s)'
          % run(['systemd-nspawn', '--version']).stdout.split()[1])
    return 0


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('check', help='can this machine boot container hosts?').set_defaults(func=cmd_check)
    up = sub.add_parser('up', help='boot the hosts, the proxy and the emulator; write the inventory')
    up.add_argument('--dir', required=True)
    up.add_argument('--host', action='append', required=True, metavar='NAME:RELEASE:FQDN[:v11]')
    up.add_argument('--extra-fqdn', action='append', metavar='NAME:FQDN',
                    help='another certificate on host NAME and a resolve entry (for change_fqdn.yml)')
    up.add_argument('--quiet', action='store_true')
    up.set_defaults(func=cmd_up)
    down_p = sub.add_parser('down', help='stop what up started and remove the host copies')
    down_p.add_argument('--dir', required=True)
    down_p.add_argument('--purge', action='store_true', help='also remove DIR')
    down_p.set_defaults(func=cmd_down)
    status = sub.add_parser('status', help='which hosts run')
    status.add_argument('--dir', required=True)
    status.set_defaults(func=cmd_status)
    reboot = sub.add_parser('reboot', help='power a host off and boot it again')
    reboot.add_argument('--dir', required=True)
    reboot.add_argument('name')
    reboot.set_defaults(func=cmd_reboot)
    ssh = sub.add_parser('ssh', help='ssh to a host as the unprivileged user')
    ssh.add_argument('--dir', required=True)
    ssh.add_argument('--print', action='store_true', help='print the ssh command instead of running it')
    ssh.add_argument('name')
    ssh.add_argument('command', nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    return parser


def main(argv=None):
    # The hosts are Debian systems: their files get the modes a normal install gives them, whatever umask the
    # shell that runs the tests has (077 would lock the unprivileged SSH user out of /).
    os.umask(0o022)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
