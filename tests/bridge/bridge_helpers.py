# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers and fixtures for the delivery bridge (roles/ccm_twitter/files/ccm_twitter_bridge.py): the program as a module,
real processes (bridge, CCM stand-in, nginx with TLS) on free loopback ports, and X-like signed payloads."""

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRIDGE = os.path.join(TOP, 'roles', 'ccm_twitter', 'files', 'ccm_twitter_bridge.py')
TOOLS = os.path.join(TOP, 'tools')
# Long and unlike anything else in the output, so a leak is easy to find.
SECRET = 'bridge-test-consumer-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0'
ACCOUNT = '1111111111111111111'
OTHER = '2222222222222222222'
WEBHOOK_PATH = '/ccm/webhook/twitter'


def load_bridge_module():
    spec = importlib.util.spec_from_file_location('ccm_twitter_bridge', BRIDGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def bridge_mod():
    return load_bridge_module()


def sign(body, secret=SECRET):
    if isinstance(body, str):
        body = body.encode('utf-8')
    return 'sha256=' + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(doc):
    return json.dumps(doc, separators=(',', ':')).encode('utf-8')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def dm_object(dm_id, sender, recipient, text, created_ms='1784928224372'):
    return {'type': 'message_create', 'id': str(dm_id), 'created_timestamp': str(created_ms),
            'message_create': {'target': {'recipient_id': recipient}, 'sender_id': sender,
                               'message_data': {'text': text, 'entities': {'hashtags': [], 'symbols': [],
                                                                           'user_mentions': [], 'urls': []}}}}


def v2_user(uid, username):
    return {'id': uid, 'username': username, 'name': username.title(), 'profile_image_url':
            'https://pbs.twimg.com/profile_images/%s_normal.jpg' % uid, 'protected': False, 'verified': False,
            'verified_type': 'none', 'created_at': '2026-04-20T19:55:59.000Z', 'description': 'about ' + username,
            'location': 'Boulder, CO', 'url': 'https://t.co/x',
            'public_metrics': {'followers_count': 97, 'following_count': 1, 'tweet_count': 50, 'listed_count': 2,
                               'like_count': 7}}


def xaa_event(event_type, dm_id, text, for_user=ACCOUNT, other=OTHER):
    """An XAA delivery item as xaa.md 2.2 shows it (dm.received: other -> account; dm.sent: account -> other)."""
    sender, recipient = (other, for_user) if event_type == 'dm.received' else (for_user, other)
    return {'event_uuid': '-%d' % (abs(hash((event_type, dm_id))) % 10 ** 18), 'filter': {'user_id': for_user},
            'event_type': event_type, 'tag': 'hybridchat-ccm',
            'payload': {'direct_message_events': [dm_object(dm_id, sender, recipient, text)],
                        'users': {other: {'data': v2_user(other, 'otheruser')},
                                  for_user: {'data': v2_user(for_user, 'exampleuser')}}}}


def xaa_body(event_type, dm_id, text, **kwargs):
    return {'data': xaa_event(event_type, dm_id, text, **kwargs)}


def aaa_body(dm_id, text, for_user=ACCOUNT, sender=OTHER):
    recipient = for_user if sender != for_user else OTHER
    return {'for_user_id': for_user, 'direct_message_events': [dm_object(dm_id, sender, recipient, text)],
            'users': {uid: {'id': uid, 'created_timestamp': '1422556069340', 'name': 'User', 'screen_name': 'u' + uid[-4:],
                            'protected': False, 'verified': False, 'followers_count': 1, 'friends_count': 2,
                            'statuses_count': 3, 'profile_image_url_https': 'https://abs.twimg.com/x.png'}
                      for uid in sorted({sender, recipient})}}


def _wait_file(path, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, 'r', encoding='utf-8') as handle:
                return json.load(handle)
        if proc.poll() is not None:
            raise RuntimeError('process exited with %s before it was ready' % proc.returncode)
        time.sleep(0.02)
    raise RuntimeError('process not ready after %.0f s' % timeout)


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec - loopback test URL
        return json.loads(response.read().decode('utf-8'))


class Proc:
    """A child process with a ready file; stopped (TERM, then KILL) by the fixture that made it."""

    def __init__(self, cmd, directory, name, env=None):
        self.cmd = cmd
        self.dir = directory
        self.name = name
        self.env = env
        self.proc = None
        self.ready = None
        self.log_path = os.path.join(directory, '%s.log' % name)
        self.ready_path = os.path.join(directory, '%s.ready.json' % name)

    def start(self):
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        log = open(self.log_path, 'ab')  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(self.cmd + ['--ready-file', self.ready_path], stdout=log, stderr=log,
                                     env=self.env, cwd=self.dir)
        log.close()
        self.ready = _wait_file(self.ready_path, self.proc)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self):
        with open(self.log_path, 'r', encoding='utf-8', errors='replace') as handle:
            return handle.read()


class BridgeProc(Proc):
    def __init__(self, directory, config, python=None, name='bridge', env=None):
        self.config_path = os.path.join(directory, '%s.json' % name)
        with open(self.config_path, 'w', encoding='utf-8') as handle:
            json.dump(config, handle)
        self.config = config
        super().__init__([python or sys.executable, BRIDGE, '--config', self.config_path], directory, name, env=env)

    @property
    def url(self):
        return 'http://127.0.0.1:%d%s' % (self.ready['port'], WEBHOOK_PATH)

    def status(self):
        return get_json('http://127.0.0.1:%d/health' % self.ready['status_port'])

    def wait_drained(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status['spool_depth'] == 0:
                return status
            time.sleep(0.05)
        raise AssertionError('spool not drained: %s' % self.status())


class CcmProc(Proc):
    def __init__(self, directory, env_file, port=0, name='ccm'):
        env = dict(os.environ)
        env['PYTHONPATH'] = TOOLS + os.pathsep + env.get('PYTHONPATH', '')
        super().__init__([sys.executable, '-m', 'xemu', 'ccm', '--env-file', env_file, '--port', str(port),
                          '--quiet'], directory, name, env=env)

    @property
    def url(self):
        return self.ready['url']

    def messages(self):
        return get_json(self.url + '/_ccm/messages')['messages']

    def activities(self):
        return get_json(self.url + '/_ccm/activities')['activities']

    def requests(self):
        return get_json(self.url + '/_ccm/requests')['requests']


def write_env_file(path, secret=SECRET):
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('# CCM env file (written by the role)\nexport TWITTER_CONSUMER_SECRET="%s"\n'
                     'TWITTER_CONSUMER_KEY=abc\n' % secret)
    os.chmod(path, 0o600)
    return path


NGINX_CONF = """worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    client_max_body_size {max_body};
    # In memory: the workers (user nobody) cannot write into the test's private temp directory.
    client_body_buffer_size {max_body};
    # Kept-alive connections to the bridge (docs/bridge.md asks the role for the same upstream block).
    upstream ccm_twitter_bridge {{
        server 127.0.0.1:{bridge_port};
        keepalive 16;
    }}
    # Modelled on roles/ccm_twitter/templates/vhost.conf.j2 (https server), proxying to the bridge.
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name ccm.bridge.test;
        server_tokens off;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:MozSSL:1m;
        location = {path} {{
            proxy_pass http://ccm_twitter_bridge;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_redirect off;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_connect_timeout 5s;
            proxy_read_timeout 30s;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, directory, bridge_port, cert, key, max_body='2m'):
        self.prefix = os.path.join(directory, 'nginx')
        os.makedirs(os.path.join(self.prefix, 'tmp'), exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.prefix, 'nginx.conf')
        with open(self.conf, 'w', encoding='utf-8') as handle:
            handle.write(NGINX_CONF.format(p=self.prefix, port=self.port, cert=cert, key=key, path=WEBHOOK_PATH,
                                           bridge_port=bridge_port, max_body=max_body))
        self.cmd = ['nginx', '-p', self.prefix + '/', '-c', self.conf, '-e', os.path.join(self.prefix, 'error.log')]

    def start(self):
        subprocess.run(self.cmd, check=True, capture_output=True, timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError('nginx did not listen on %d' % self.port)

    def stop(self):
        subprocess.run(self.cmd + ['-s', 'stop'], check=False, capture_output=True, timeout=20)

    @property
    def url(self):
        return 'https://127.0.0.1:%d%s' % (self.port, WEBHOOK_PATH)


def bridge_config(directory, upstream, **extra):
    config = {'listen_port': free_port(), 'status_port': free_port(), 'upstream': upstream,
              'state_dir': os.path.join(directory, 'state'), 'secret_env_file': os.path.join(directory, 'ccm.env'),
              'retry_min_seconds': 0.05, 'retry_max_seconds': 0.5}
    config.update(extra)
    return config


@pytest.fixture
def procs():
    """Register processes to stop at the end of the test, in reverse order."""
    started = []
    yield started
    for proc in reversed(started):
        try:
            proc.stop()
        except Exception:  # pylint: disable=broad-except
            pass


@pytest.fixture
def pki(tmp_path):
    sys.path.insert(0, TOOLS)
    from xemu.testing import issue_cert, make_ca  # pylint: disable=import-outside-toplevel
    ca = make_ca(str(tmp_path / 'ca'))
    leaf = issue_cert(ca, ['ccm.bridge.test', '127.0.0.1'], str(tmp_path / 'leaf'))
    return ca, leaf


def need_nginx():
    if shutil.which('nginx') is None:
        pytest.fail('nginx is not installed: run "make system"')
