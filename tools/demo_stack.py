# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start and stop the background services that `make demo`, `make bench` and the playbook tests need.

    python tools/demo_stack.py up --dir .demo [--sites N] [--v11 K] [--fqdn NAME ...] [--extra-fqdn NAME ...]
    python tools/demo_stack.py status --dir .demo
    python tools/demo_stack.py down --dir .demo [--purge]
    python tools/demo_stack.py deliver --dir .demo [--site 0] [--text "..."]
    python tools/demo_stack.py api-calls --dir .demo [--clear]

`up` makes a local CA (xemu.pki) with a certificate per FQDN, starts one CCM stand-in per site (each reads its
own env file), a private-prefix nginx on two free high ports (the role writes vhosts into DIR/nginx/conf.d),
and the X API emulator over HTTPS, whose CRC requests reach nginx through a resolve map (FQDN:443 ->
127.0.0.1:HTTPS_PORT), so webhook URLs keep X's port-less form. Site 0 uses the emulator's default app and the
HybridChatHelp account; every further site gets an X app and an account of its own. The state (pids, ports,
paths, the sites and their fake credentials) goes to DIR/stack.json, and an inventory with literal values for
every site to DIR/inventory/hosts.yml. Nothing listens on 80 or 443 and no system nginx file is touched.
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time

import requests
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from xemu import pki, procs  # noqa: E402  pylint: disable=wrong-import-position
from xemu.seed import DEFAULT_SEED, load_seed_file  # noqa: E402  pylint: disable=wrong-import-position
from xemu.testing import CcmStandIn, Emulator, free_port  # noqa: E402  pylint: disable=wrong-import-position

WEBHOOK_PATH = '/ccm/webhook/twitter'
# The bridge runs on customers' hosts with their python3 and its standard library only: so does it here.
BRIDGE_PYTHON = shutil.which('python3', path='/usr/bin:/bin') or 'python3'
BRIDGE_MARKER = 'ccm_twitter_bridge.py'
# X's end of the Account Activity API.
DEFAULT_AAA_END = '2027-01-01T00:00:00Z'
ENV_FILE_TEMPLATE = """# CCM environment (demo). Lines other than the TWITTER_* keys belong to CCM and stay untouched.
CCM_PORT=8081
CCM_LOG_LEVEL=info
"""


def _alphanum(length):
    alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
    return ''.join(secrets.choice(alphabet) for _index in range(length))


def build_seed(count):
    """The default seed, plus one app and one account for every site after the first."""
    raw = load_seed_file(DEFAULT_SEED)
    raw.setdefault('settings', {})
    sites_creds = []
    base_app = raw['apps'][0]
    base_user = next(u for u in raw['users'] if u['username'] == 'HybridChatHelp')
    sites_creds.append((base_app, base_user))
    for index in range(1, count):
        app = {
            'name': 'ccm-site%02d' % index,
            'id': str(30000000 + index),
            'consumer_key': _alphanum(25),
            'consumer_secret': _alphanum(50),
            'bearer_token': 'AAAAAAAAAAAAAAAAAAAAA' + _alphanum(80),
            'permission': 'read-write-dm',
            'environments': [{'label': 'production', 'max_webhooks': 1, 'max_subscriptions': 15}],
            'v2': {'max_webhooks': 1, 'max_subscriptions': 3},
        }
        user_id = str(1700000000000000000 + index)
        user = {
            'id': user_id,
            'username': 'ccm_site%02d' % index,
            'name': 'CCM site %d support' % index,
            'access_token': '%s-%s' % (user_id, _alphanum(31)),
            'access_secret': _alphanum(45),
            'app': app['consumer_key'],
        }
        raw['apps'].append(app)
        raw['users'].append(user)
        sites_creds.append((app, user))
    return raw, sites_creds


def nginx_conf(prefix, http_port):
    return """# Private-prefix nginx for the hybridchat.ccm demo and tests (tools/demo_stack.py). Not a system nginx.
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{
    worker_connections 512;
}}
http {{
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    default_type application/octet-stream;
    server_names_hash_bucket_size 128;

    # Answers when no vhost matches, and keeps nginx listening before the role writes one.
    server {{
        listen {http} default_server;
        server_name _;
        return 404;
    }}

    include {p}/conf.d/*.conf;
}}
""".format(p=prefix, http=http_port)


def nginx_cmd(prefix, *extra):
    conf = os.path.join(prefix, 'nginx.conf')
    return ['nginx', '-p', prefix + '/', '-c', conf, '-e', os.path.join(prefix, 'logs', 'error.log')] + list(extra)


def _wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _read_pid(path):
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


_alive = procs.alive
_stop_pid = procs.stop_pid


def load_stack(directory):
    path = os.path.join(directory, 'stack.json')
    if not os.path.exists(path):
        return None
    with open(path, 'r', encoding='utf-8') as handle:
        return json.load(handle)


def role_vars(stack, site):
    """Literal inventory values for one site: what inventories/demo computes from stack.json."""
    return {
        'ccm_twitter_fqdn': site['fqdn'],
        'ccm_twitter_upstream': site['upstream'],
        'ccm_twitter_env_file': site['env_file'],
        'ccm_twitter_api_version': site['api_version'],
        'ccm_twitter_environment': site['environment'],
        'ccm_twitter_username': site['username'],
        'ccm_twitter_consumer_key': site['consumer_key'],
        'ccm_twitter_consumer_secret': site['consumer_secret'],
        'ccm_twitter_access_token': site['access_token'],
        'ccm_twitter_access_secret': site['access_secret'],
        'ccm_twitter_activity_api': site['activity_api'],
        'ccm_twitter_bridge_port': site['bridge']['port'],
        'ccm_twitter_bridge_health_port': site['bridge']['health_port'],
        'ccm_twitter_bridge_program': site['bridge']['program'],
        'ccm_twitter_bridge_config_dir': site['bridge']['config_dir'],
        'ccm_twitter_bridge_state_dir': site['bridge']['state_dir'],
        'ccm_twitter_bridge_python': site['bridge']['python'],
        'ccm_twitter_bridge_restart_command': site['bridge']['restart_command'],
        'ccm_twitter_bridge_stop_command': site['bridge']['stop_command'],
    }


def group_vars(stack):
    """Settings shared by every site of a stack (same keys as inventories/demo/group_vars/ccm.yml)."""
    nginx = stack['nginx']
    return {
        'ansible_connection': 'local',
        'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        'ccm_twitter_api_url': stack['api_url'],
        'ccm_twitter_api_ca_path': stack['ca_cert'],
        'ccm_twitter_https_port': nginx['https_port'],
        'ccm_twitter_http_port': nginx['http_port'],
        'ccm_twitter_listen_ipv6': False,
        'ccm_twitter_tls_mode': 'provided',
        # Follows the FQDN, so change_fqdn.yml finds the certificate of the new name.
        'ccm_twitter_tls_cert': stack['pki_dir'] + '/{{ ccm_twitter_fqdn }}/fullchain.pem',
        'ccm_twitter_tls_key': stack['pki_dir'] + '/{{ ccm_twitter_fqdn }}/key.pem',
        'ccm_twitter_tls_dir': os.path.join(stack['dir'], 'tls'),
        'ccm_twitter_acme_webroot': os.path.join(stack['dir'], 'acme'),
        'ccm_twitter_nginx_install': False,
        'ccm_twitter_crypto_install': False,
        'ccm_twitter_nginx_manage_service': False,
        'ccm_twitter_nginx_vhost_dir': nginx['vhost_dir'],
        'ccm_twitter_nginx_test_command': nginx['test_command'],
        'ccm_twitter_nginx_reload_command': nginx['reload_command'],
        'ccm_twitter_preflight_connect_to': '127.0.0.1:%d' % nginx['https_port'],
        'ccm_twitter_preflight_ca_path': stack['ca_cert'],
        'ccm_twitter_preflight_delay': 1,
        # The emulator's end of AAA: status.yml counts the days left to the same date.
        'ccm_twitter_aaa_end': stack.get('aaa_end') or DEFAULT_AAA_END,
    }


def write_inventory(stack):
    """DIR/inventory/hosts.yml: group ccm with one host per site, every value literal."""
    inv_dir = os.path.join(stack['dir'], 'inventory')
    os.makedirs(inv_dir, exist_ok=True)
    hosts = {site['name']: role_vars(stack, site) for site in stack['sites']}
    inventory = {'ccm': {'hosts': hosts, 'vars': group_vars(stack)}}
    path = os.path.join(inv_dir, 'hosts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('---\n# Written by tools/demo_stack.py for the stack in %s (fake credentials).\n' % stack['dir'])
        yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=True, width=200)
    return path


def _save(stack):
    path = os.path.join(stack['dir'], 'stack.json')
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(stack, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def cmd_up(args):
    directory = os.path.abspath(args.dir)
    old = load_stack(directory)
    if old and any(s['alive'] for s in services(old) if not s.get('optional')):
        print('a stack is already running in %s; run "down" first' % directory, file=sys.stderr)
        return 1
    if shutil.which('nginx') is None:
        print('nginx is not installed: run "make system" (apt-get install nginx)', file=sys.stderr)
        return 1
    count = args.sites
    fqdns = list(args.fqdn or [])
    if fqdns and len(fqdns) != count:
        count = len(fqdns)
    if not fqdns:
        fqdns = ['site%02d.ccm.test' % i for i in range(count)]
    v11 = set(range(count - args.v11, count)) if args.v11 else set()
    os.makedirs(directory, exist_ok=True)

    # A local CA; a certificate for the emulator's API address and one for every FQDN the demo may use.
    pki_dir = os.path.join(directory, 'pki')
    ca = pki.make_ca(os.path.join(pki_dir, 'ca'), 'hybridchat.ccm demo CA', days=400)
    api_leaf = pki.issue_cert(ca, ['127.0.0.1', 'localhost'], os.path.join(pki_dir, 'api'), days=397)
    all_fqdns = fqdns + [f for f in (args.extra_fqdn or []) if f not in fqdns]
    for fqdn in all_fqdns:
        pki.issue_cert(ca, [fqdn], os.path.join(pki_dir, fqdn), days=397)

    raw_seed, creds = build_seed(count)
    if args.max_webhooks:
        for app in raw_seed['apps']:
            app.setdefault('v2', {})['max_webhooks'] = args.max_webhooks
    http_port, https_port = free_port(), free_port()
    while https_port == http_port:
        https_port = free_port()

    stack = {'dir': directory, 'pki_dir': pki_dir, 'ca_cert': ca.cert_path, 'sites': [], 'ccm': [],
             'aaa_end': args.aaa_end or DEFAULT_AAA_END,
             'extra_fqdns': [f for f in all_fqdns if f not in fqdns], 'started': time.time()}

    # nginx with a private prefix: pid, logs and the five temp paths under DIR/nginx.
    prefix = os.path.join(directory, 'nginx')
    for sub in ('conf.d', 'logs', 'tmp'):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    with open(os.path.join(prefix, 'nginx.conf'), 'w', encoding='utf-8') as handle:
        handle.write(nginx_conf(prefix, http_port))
    stack['nginx'] = {
        'prefix': prefix, 'http_port': http_port, 'https_port': https_port,
        'vhost_dir': os.path.join(prefix, 'conf.d'), 'pid_file': os.path.join(prefix, 'nginx.pid'),
        'test_command': ' '.join(nginx_cmd(prefix, '-t', '-q')),
        'reload_command': ' '.join(nginx_cmd(prefix, '-s', 'reload')),
    }
    _save(stack)
    result = subprocess.run(nginx_cmd(prefix), capture_output=True, text=True, check=False)
    if result.returncode != 0 or not _wait_port(http_port):
        print('nginx did not start: %s%s' % (result.stdout, result.stderr), file=sys.stderr)
        return 1
    stack['nginx']['pid'] = _read_pid(stack['nginx']['pid_file'])

    # One CCM stand-in per site, each reading the env file the role writes for that site.
    for index, fqdn in enumerate(fqdns):
        app, user = creds[index]
        site_dir = os.path.join(directory, 'sites', fqdn)
        os.makedirs(site_dir, exist_ok=True)
        env_file = os.path.join(site_dir, 'ccm.env')
        if not os.path.exists(env_file):
            with open(env_file, 'w', encoding='utf-8') as handle:
                handle.write(ENV_FILE_TEMPLATE)
            os.chmod(env_file, 0o600)
        ccm = CcmStandIn(env_file, workdir=site_dir).start()
        bridge_dir = os.path.join(site_dir, 'bridge')
        bridge_cmd = '%s %s bridge --dir %s --site %d' % (sys.executable, os.path.abspath(__file__), directory, index)
        stack['ccm'].append({'pid': ccm.proc.pid, 'url': ccm.url, 'log': ccm.log_path})
        stack['sites'].append({
            'name': 'site%02d' % index,
            'fqdn': fqdn,
            'webhook_url': 'https://%s%s' % (fqdn, WEBHOOK_PATH),
            'upstream': ccm.url,
            'ccm_url': ccm.url,
            'env_file': env_file,
            'api_version': '1.1' if index in v11 else '2',
            'environment': 'production' if index in v11 else '',
            'username': user['username'],
            'account_id': user['id'],
            'consumer_key': app['consumer_key'],
            'consumer_secret': app['consumer_secret'],
            'bearer_token': app['bearer_token'],
            'access_token': user['access_token'],
            'access_secret': user['access_secret'],
            'activity_api': 'xaa' if index < args.xaa and index not in v11 else 'aaa',
            # The bridge runs as a plain process here (no systemd): the role starts it with restart_command.
            'bridge': {
                'port': free_port(), 'health_port': free_port(),
                'program': os.path.join(bridge_dir, 'bin', 'ccm_twitter_bridge.py'),
                'config_dir': os.path.join(bridge_dir, 'etc'), 'state_dir': os.path.join(bridge_dir, 'state'),
                'python': BRIDGE_PYTHON, 'log': os.path.join(bridge_dir, 'bridge.log'),
                'pid_file': os.path.join(bridge_dir, 'bridge.pid'),
                'restart_command': bridge_cmd + ' --restart', 'stop_command': bridge_cmd + ' --stop',
            },
        })
        _save(stack)

    # The X API emulator over HTTPS; its CRC requests and deliveries reach nginx through the resolve map.
    resolve = {'%s:443' % fqdn: '127.0.0.1:%d' % https_port for fqdn in all_fqdns}
    emulator = Emulator(seed=raw_seed, tls=api_leaf, crc_ca_bundle=ca.cert_path, resolve=resolve,
                        workdir=os.path.join(directory, 'emulator'), aaa_end=stack['aaa_end']).start()
    stack['emulator'] = {'pid': emulator.proc.pid, 'url': emulator.url, 'log': emulator.log_path}
    stack['api_url'] = emulator.url
    _save(stack)
    stack['inventory'] = write_inventory(stack)
    _save(stack)
    if not args.quiet:
        print('X API emulator  %s (CA %s)' % (emulator.url, ca.cert_path))
        print('nginx           https 127.0.0.1:%d, http 127.0.0.1:%d, vhosts in %s'
              % (https_port, http_port, stack['nginx']['vhost_dir']))
        for site, ccm in zip(stack['sites'], stack['ccm']):
            print('site %-10s https://%s%s -> CCM stand-in %s (env %s, X API v%s)'
                  % (site['name'], site['fqdn'], WEBHOOK_PATH, ccm['url'], site['env_file'], site['api_version']))
        print('state           %s' % os.path.join(directory, 'stack.json'))
    return 0


def services(stack):
    """Every background service of a stack with its pid and whether it still runs."""
    found = []
    nginx = stack.get('nginx') or {}
    if nginx:
        pid = _read_pid(nginx.get('pid_file', '')) or nginx.get('pid')
        found.append({'name': 'nginx', 'pid': pid, 'alive': _alive(pid, 'nginx'), 'marker': 'nginx'})
    for index, ccm in enumerate(stack.get('ccm') or []):
        found.append({'name': 'ccm-stand-in[%d]' % index, 'pid': ccm['pid'], 'alive': _alive(ccm['pid'], 'xemu'),
                      'marker': 'xemu'})
    for site in stack.get('sites') or []:
        pid = _read_pid((site.get('bridge') or {}).get('pid_file', ''))
        if pid:
            found.append({'name': 'bridge[%s]' % site['name'], 'pid': pid, 'alive': _alive(pid, BRIDGE_MARKER),
                          'marker': BRIDGE_MARKER, 'optional': True})
    emu = stack.get('emulator') or {}
    if emu:
        found.append({'name': 'x-api-emulator', 'pid': emu['pid'], 'alive': _alive(emu['pid'], 'xemu'),
                      'marker': 'xemu'})
    return found


def cmd_status(args):
    stack = load_stack(os.path.abspath(args.dir))
    if not stack:
        print('no stack in %s' % args.dir)
        return 1
    found = services(stack)
    for service in found:
        print('%-16s pid %-8s %s' % (service['name'], service['pid'], 'running' if service['alive'] else 'stopped'))
    return 0 if found and all(s['alive'] for s in found if not s.get('optional')) else 1


def cmd_down(args):
    directory = os.path.abspath(args.dir)
    stack = load_stack(directory)
    stopped = []
    if stack:
        nginx = stack.get('nginx') or {}
        if nginx and _alive(_read_pid(nginx.get('pid_file', '')) or nginx.get('pid'), 'nginx'):
            subprocess.run(nginx_cmd(nginx['prefix'], '-s', 'stop'), capture_output=True, check=False)
            stopped.append('nginx')
        for service in services(stack):
            if _stop_pid(service['pid'], service['marker']):
                stopped.append(service['name'])
        os.remove(os.path.join(directory, 'stack.json'))
    if args.purge:
        shutil.rmtree(directory, ignore_errors=True)
    if not args.quiet:
        print('stopped: %s' % (', '.join(dict.fromkeys(stopped)) or 'nothing was running'))
    return 0


def _control(stack, method, name, body=None):
    response = requests.request(method, stack['api_url'] + '/_emulator/' + name, json=body, timeout=30,
                                verify=stack['ca_cert'])
    response.raise_for_status()
    return response.json()


def cmd_deliver(args):
    """X sends a signed DM event to the site's webhook; print what the CCM stand-in received."""
    stack = load_stack(os.path.abspath(args.dir))
    site = stack['sites'][args.site]
    url = 'https://%s%s' % (args.fqdn or site['fqdn'], WEBHOOK_PATH)
    result = _control(stack, 'POST', 'deliver', {'url': url, 'text': args.text, 'consumer_key': site['consumer_key'],
                                                 'for_user_id': site['account_id']})
    messages = requests.get(stack['ccm'][args.site]['url'] + '/_ccm/messages', timeout=10).json()['messages']
    print(json.dumps({'delivered_to': url, 'status': result.get('status'), 'ccm_messages': messages}, indent=2))
    return 0 if result.get('status') == 200 and messages else 1


def _env_keys(path):
    values = {}
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            for line in handle:
                key, sep, value = line.strip().partition('=')
                if sep and key.startswith('TWITTER_'):
                    values[key] = value
    except OSError:
        pass
    return values


def cmd_show(args):
    """What X (the emulator) and CCM's env file now hold for every site."""
    stack = load_stack(os.path.abspath(args.dir))
    state = _control(stack, 'GET', 'state')
    for site in stack['sites']:
        env = _env_keys(site['env_file'])
        keys = sorted(env)
        hooks = [h for h in state['webhooks'] if h['consumer_key'] == site['consumer_key']
                 and (h.get('env') or '') == site['environment']]
        print('site %s (%s, X API v%s, %s)'
              % (site['name'], site['username'], site['api_version'], site.get('activity_api', 'aaa').upper()))
        print('  env file %s: %s, TWITTER_ACCOUNT_ID=%s'
              % (site['env_file'], ', '.join(k + '=***' for k in keys if k != 'TWITTER_ACCOUNT_ID') or 'no TWITTER_* keys',
                 env.get('TWITTER_ACCOUNT_ID', '-')))
        if not hooks:
            print('  X has no webhook for this app%s' % (' and environment' if site['environment'] else ''))
        for hook in hooks:
            print('  X webhook id=%s url=%s valid=%s subscribed=%s'
                  % (hook['id'], hook['url'], hook['valid'], site['account_id'] in hook['subscriptions']))
        xaa = [s for s in state.get('activity_subscriptions') or [] if s['app'] == site['consumer_key']
               and s['filter'].get('user_id') == site['account_id']]
        for sub in xaa:
            print('  X Activity API subscription %s %s on webhook %s, tag %s'
                  % (sub['subscription_id'], sub['event_type'], sub.get('webhook_id') or '-', sub.get('tag') or '-'))
    return 0


def cmd_api_calls(args):
    """The emulator's request counts (X API calls only); --clear empties the log afterwards."""
    stack = load_stack(os.path.abspath(args.dir))
    log = _control(stack, 'GET', 'requests')
    print(json.dumps(log['counts'], indent=2, sort_keys=True))
    if args.clear:
        _control(stack, 'DELETE', 'requests')
    return 0


def cmd_bridge(args):
    """Restart or stop a site's bridge as a plain process (the role's ccm_twitter_bridge_restart/stop_command)."""
    stack = load_stack(os.path.abspath(args.dir))
    bridge = stack['sites'][args.site]['bridge']
    _stop_pid(_read_pid(bridge['pid_file']), BRIDGE_MARKER)
    if args.stop:
        if os.path.exists(bridge['pid_file']):
            os.remove(bridge['pid_file'])
        return 0
    config = os.path.join(bridge['config_dir'], 'config.json')
    with open(bridge['log'], 'ab') as log:
        proc = subprocess.Popen([bridge['python'], bridge['program'], '--config', config],  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    with open(bridge['pid_file'], 'w', encoding='utf-8') as handle:
        handle.write('%d\n' % proc.pid)
    if not _wait_port(bridge['health_port'], timeout=15) or proc.poll() is not None:
        print('the bridge did not start, see %s' % bridge['log'], file=sys.stderr)
        return 1
    return 0


def cmd_set_api(args):
    """Switch a site between AAA and XAA, as an operator edits host_vars (stack.json and the generated inventory)."""
    directory = os.path.abspath(args.dir)
    stack = load_stack(directory)
    stack['sites'][args.site]['activity_api'] = args.api
    _save(stack)
    write_inventory(stack)
    if not args.quiet:
        print('site %s: ccm_twitter_activity_api=%s' % (stack['sites'][args.site]['name'], args.api))
    return 0


def cmd_set_fqdn(args):
    """After change_fqdn.yml: the site's new name, as an operator edits host_vars (stack.json and the inventory)."""
    directory = os.path.abspath(args.dir)
    stack = load_stack(directory)
    site = stack['sites'][args.site]
    site['fqdn'] = args.fqdn
    site['webhook_url'] = 'https://%s%s' % (args.fqdn, WEBHOOK_PATH)
    _save(stack)
    write_inventory(stack)
    return 0


def cmd_dm(args):
    """A DM to a site's account happens on X (fan-out to every AAA and XAA subscriber); print what CCM got."""
    stack = load_stack(os.path.abspath(args.dir))
    site = stack['sites'][args.site]
    result = _control(stack, 'POST', 'deliver', {'recipient_id': site['account_id'], 'text': args.text})
    deadline = time.monotonic() + args.wait
    while True:
        messages = requests.get(stack['ccm'][args.site]['url'] + '/_ccm/messages', timeout=10).json()['messages']
        copies = [m for m in messages if m.get('text') == args.text]
        if copies or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    mine = [r for r in (result.get('aaa') or []) + (result.get('xaa') or [])
            if r.get('for_user_id', site['account_id']) == site['account_id']]
    via = [r.get('event_type') or 'AAA' if r.get('product') == 'xaa' else 'AAA' for r in mine]
    print('X delivered it via %s%s; CCM received it %d time(s)%s'
          % (', '.join(via) or 'nothing', ' (AAA has ended)' if result.get('aaa_ended') else '', len(copies),
             ', in the AAA format (for_user_id %s)' % copies[0].get('for_user_id') if copies else ''))
    return 0 if len(copies) == args.expect else 1


def cmd_clock(args):
    """Move the emulator's calendar (the end of AAA follows it)."""
    stack = load_stack(os.path.abspath(args.dir))
    body = {'real': True} if args.now == 'real' else {'now': args.now}
    print(json.dumps(_control(stack, 'POST', 'clock', body), sort_keys=True))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)

    def add(name, func, help_text):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument('--dir', required=True, help='state directory (stack.json, nginx prefix, certificates)')
        cmd.add_argument('--quiet', action='store_true')
        cmd.set_defaults(func=func)
        return cmd

    up = add('up', cmd_up, 'start the CA, nginx, the CCM stand-ins and the emulator')
    up.add_argument('--sites', type=int, default=1, help='number of sites (default 1)')
    up.add_argument('--v11', type=int, default=0, help='the last K sites use the v1.1 API (environment production)')
    up.add_argument('--fqdn', action='append', help='FQDN of a site (repeatable; default siteNN.ccm.test)')
    up.add_argument('--extra-fqdn', action='append', help='another FQDN with a certificate and a resolve entry')
    up.add_argument('--aaa-end', help="end of the Account Activity API on the emulator's clock (ISO 8601; "
                    "default X's 2027-01-01T00:00:00Z)")
    up.add_argument('--max-webhooks', type=int, default=0, help="v2 webhook quota of every app (default: the seed's 1)")
    up.add_argument('--xaa', type=int, default=0,
                    help='the first K v2 sites use the X Activity API and the bridge (the others: AAA)')
    add('status', cmd_status, 'show which services run (exit 1 when one is stopped)')
    down = add('down', cmd_down, 'stop every service of the stack')
    down.add_argument('--purge', action='store_true', help='also remove the state directory')
    deliver = add('deliver', cmd_deliver, 'send a signed test DM through nginx to a site')
    deliver.add_argument('--site', type=int, default=0)
    deliver.add_argument('--fqdn', help='deliver to this FQDN instead of the site\'s own')
    deliver.add_argument('--text', default='Hello from the hybridchat.ccm demo')
    add('show', cmd_show, 'print what X and the env files hold for every site')
    set_fqdn = add('set-fqdn', cmd_set_fqdn, "record a site's new FQDN after change_fqdn.yml")
    set_fqdn.add_argument('--site', type=int, default=0)
    set_fqdn.add_argument('fqdn')
    set_api = add('set-api', cmd_set_api, "switch a site's ccm_twitter_activity_api")
    set_api.add_argument('--site', type=int, default=0)
    set_api.add_argument('api', choices=['xaa', 'aaa'])
    dm = add('dm', cmd_dm, "a DM to a site's account on X (fan-out); exit 1 unless CCM got it --expect times")
    dm.add_argument('--site', type=int, default=0)
    dm.add_argument('--text', required=True)
    dm.add_argument('--expect', type=int, default=1)
    dm.add_argument('--wait', type=float, default=10.0)
    clock = add('clock', cmd_clock, "set the emulator's calendar: ISO 8601 time, or 'real'")
    clock.add_argument('now')
    bridge = add('bridge', cmd_bridge, "restart (or stop) a site's bridge process")
    bridge.add_argument('--site', type=int, default=0)
    what = bridge.add_mutually_exclusive_group(required=True)
    what.add_argument('--restart', action='store_true')
    what.add_argument('--stop', action='store_true')
    calls = add('api-calls', cmd_api_calls, 'print the X API call counts of the emulator')
    calls.add_argument('--clear', action='store_true')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
