"""pytest helpers: start the emulator / CCM stand-in as subprocesses on free ports, make certificates,
and run scripted in-process webhooks.

    from xemu.testing import Emulator, CcmStandIn, make_ca, issue_cert

    with Emulator(tls=True) as emu:
        emu.url, emu.ca_bundle, emu.app(), emu.user('alice_example'), emu.requests(), emu.fault(...)
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import requests
from requests_oauthlib import OAuth1

from xemu import pki
from xemu.crc import sign
from xemu.httpbase import Server
from xemu.seed import DEFAULT_SEED, load_seed, load_seed_file, normalize_seed

TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test emulators pin the end of the Account Activity API far ahead, so that suites exercising AAA keep passing on
# and after its real end (2027-01-01). Pass Emulator(aaa_end='seed') for the seed's date, or any ISO 8601 time.
PINNED_AAA_END = '2100-01-01T00:00:00Z'


def playbook_fixtures(alias):
    """tests/playbooks/conftest.py loaded as module `alias`: its make_stack fixture and Run class, for the test
    directories that run the playbooks against emulator stacks too (tests/artifact, tests/crypto_floor)."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(alias, os.path.join(top, 'tests', 'playbooks', 'conftest.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ControlError(RuntimeError):
    """A control request failed (status >= 400)."""


def free_port(host='127.0.0.1'):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listening(port, host='127.0.0.1'):
    """Whether something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def make_ca(tmpdir):
    """A test CA in ``tmpdir``/ca (``.cert_path``, ``.key_path``)."""
    return pki.make_ca(os.path.join(str(tmpdir), 'ca'))


def issue_cert(ca, names, tmpdir):
    """A leaf certificate for ``names`` (``.cert_path``, ``.key_path``, ``.fullchain_path``)."""
    if isinstance(names, str):
        names = [names]
    safe = names[0].replace('*', '_').replace(':', '_')
    return pki.issue_cert(ca, names, os.path.join(str(tmpdir), 'leaf-' + safe))


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers['Authorization'] = 'Bearer ' + self.token
        return request


class _Process:
    """A ``python -m xemu ...`` subprocess that reports readiness through a ready file."""

    def __init__(self, workdir=None, start_timeout=20):
        self._own_workdir = workdir is None
        self.workdir = str(workdir) if workdir else tempfile.mkdtemp(prefix='xemu-')
        os.makedirs(self.workdir, exist_ok=True)
        self.start_timeout = start_timeout
        self.proc = None
        self.url = None
        self.ca_bundle = None
        self.log_path = None

    def _tls(self, tls, names):
        """tls: None/False → plain HTTP; True → own CA + cert for names; a pki.Leaf; or (cert, key)."""
        if not tls:
            return None, None
        if tls is True:
            # A directory per instance: several servers may share one workdir.
            tls_dir = os.path.join(self.workdir, 'tls-%d' % id(self))
            ca = make_ca(tls_dir)
            self.ca_bundle = ca.cert_path
            leaf = issue_cert(ca, names, tls_dir)
            return leaf.fullchain_path, leaf.key_path
        if isinstance(tls, pki.Leaf):
            return tls.fullchain_path, tls.key_path
        return tls[0], tls[1]

    def _spawn(self, name, args):
        ready = os.path.join(self.workdir, '%s-%d.ready' % (name, id(self)))
        self.log_path = os.path.join(self.workdir, '%s-%d.log' % (name, id(self)))
        env = dict(os.environ)
        env['PYTHONPATH'] = TOOLS_DIR + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
        with open(self.log_path, 'w', encoding='utf-8') as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, '-m', 'xemu'] + args + ['--ready-file', ready], stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=self.workdir)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                with open(ready, 'r', encoding='utf-8') as handle:
                    self.url = json.load(handle)['url']
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError('xemu %s did not start: %s' % (name, self.log()))

    def log(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ''
        with open(self.log_path, 'r', encoding='utf-8', errors='replace') as handle:
            return handle.read()[-4000:]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        raise NotImplementedError

    def _request(self, method, path, body=None):
        # Control calls are plumbing: verify with our own CA when we made one, else skip verification
        # (a caller-supplied leaf may not name 127.0.0.1).
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            response = requests.request(method, self.url + path, json=body, timeout=30,
                                        verify=self.ca_bundle or False)
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 400:
            raise ControlError('%s %s -> %d %s' % (method, path, response.status_code, data))
        return data


class Emulator(_Process):
    """The X API emulator in a subprocess.

    seed: None (bundled default), a path, or a dict (raw seed). settings: merged into seed settings.
    aaa_end: the end of AAA (default PINNED_AAA_END, 2100; 'seed' keeps the seed's, 2027-01-01 by default).
    tls: see _Process._tls (True makes a CA + a cert for 127.0.0.1/localhost; ``.ca_bundle`` verifies it).
    crc_ca_bundle: CA used for CRC/deliveries. resolve: {"host:443": "127.0.0.1:PORT"} or curl-style list.
    """

    def __init__(self, seed=None, tls=None, crc_ca_bundle=None, resolve=None, settings=None, workdir=None,
                 host='127.0.0.1', start_timeout=20, aaa_end=PINNED_AAA_END):
        super().__init__(workdir, start_timeout)
        if isinstance(seed, dict):
            raw = seed
        else:
            raw = load_seed_file(str(seed) if seed else DEFAULT_SEED)
        if aaa_end and aaa_end != 'seed':
            # Tests of AAA behaviour pin the end of AAA so they do not depend on today's date.
            settings = dict(settings or {}, aaa_end=aaa_end)
        if settings:
            raw = dict(raw)
            raw['settings'] = dict(raw.get('settings') or {}, **settings)
        self.raw_seed = raw
        self.seed = normalize_seed(raw)
        self.tls = tls
        self.crc_ca_bundle = crc_ca_bundle
        self.resolve = resolve
        self.host = host

    def start(self):
        seed_path = os.path.join(self.workdir, 'seed-%d.json' % id(self))
        with open(seed_path, 'w', encoding='utf-8') as handle:
            json.dump(self.raw_seed, handle)
        args = ['api', '--seed', seed_path, '--host', self.host, '--port', '0', '--quiet']
        cert, key = self._tls(self.tls, ['127.0.0.1', 'localhost'])
        if cert:
            args += ['--tls-cert', cert, '--tls-key', key]
        if self.crc_ca_bundle:
            args += ['--crc-ca-bundle', str(self.crc_ca_bundle)]
        resolve = self.resolve or {}
        if isinstance(resolve, dict):
            resolve = ['%s:%s' % (k, v) for k, v in resolve.items()]
        for entry in resolve:
            args += ['--resolve', entry]
        return self._spawn('api', args)

    # -- credentials from the seed ---------------------------------------------------------------
    def app(self, name=None):
        apps = self.seed['apps']
        return next(a for a in apps if a['name'] == name) if name else apps[0]

    def user(self, username=None):
        users = self.seed['users']
        return next(u for u in users if u['username'] == username) if username else users[0]

    def oauth1(self, username=None, app=None):
        """A requests-oauthlib OAuth1 signer for a seeded user (HMAC-SHA1, header auth)."""
        app = app if isinstance(app, dict) else self.app(app)
        user = self.user(username)
        return OAuth1(app['consumer_key'], app['consumer_secret'], user['access_token'], user['access_secret'])

    def bearer(self, app=None):
        app = app if isinstance(app, dict) else self.app(app)
        return BearerAuth(app['bearer_token'])

    def oauth2_user(self, username=None):
        """Bearer auth with the seeded OAuth 2.0 user-context token of ``username`` (seed oauth2_user_tokens)."""
        user = self.user(username)
        token = next(t for t in self.seed['oauth2_user_tokens'] if t['user_id'] == user['id'])
        return BearerAuth(token['access_token'])

    def session(self):
        """A requests session that trusts ``ca_bundle``. trust_env is off because REQUESTS_CA_BUNDLE in the
        environment would otherwise silently replace session.verify."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle or True
        return session

    # -- control interface -------------------------------------------------------------------------
    def control(self, method, name, body=None):
        return self._request(method, '/_emulator/' + name, body)

    def reset(self, seed=None):
        return self.control('POST', 'reset', seed)

    def state(self):
        return self.control('GET', 'state')

    def requests(self):
        return self.control('GET', 'requests')

    def clear_requests(self):
        return self.control('DELETE', 'requests')

    def fault(self, path_regex='.*', method=None, count=1, status=None, body=None, headers=None, delay=0, drop=False):
        spec = {'path_regex': path_regex, 'method': method, 'count': count, 'status': status, 'body': body,
                'headers': headers or {}, 'delay': delay, 'drop': drop}
        return self.control('POST', 'faults', spec)

    def clear_faults(self):
        return self.control('DELETE', 'faults')

    def config(self, **kwargs):
        return self.control('POST', 'config', kwargs)

    def invalidate(self, webhook_id):
        return self.control('POST', 'webhooks/%s/invalidate' % webhook_id)

    def crc(self, webhook_id):
        """Run the periodic CRC now; the result sets the webhook's valid flag."""
        return self.control('POST', 'webhooks/%s/crc' % webhook_id)

    def deliver(self, webhook_id=None, url=None, text='Hello World!', sender_id=None, **kwargs):
        body = dict(kwargs, text=text)
        if webhook_id:
            body['webhook_id'] = webhook_id
        if url:
            body['url'] = url
        if sender_id:
            body['sender_id'] = sender_id
        return self.control('POST', 'deliver', body)

    def deliver_read(self, sender_id, recipient_id, last_read_event_id=None, **kwargs):
        """``sender_id`` read the DMs of ``recipient_id`` (dm.read / direct_message_mark_read_events)."""
        body = dict(kwargs, sender_id=sender_id, recipient_id=recipient_id)
        if last_read_event_id:
            body['last_read_event_id'] = last_read_event_id
        return self.control('POST', 'deliver_read', body)

    def deliver_typing(self, sender_id, recipient_id, **kwargs):
        """``sender_id`` is typing to ``recipient_id`` (dm.indicate_typing / ..._indicate_typing_events)."""
        return self.control('POST', 'deliver_typing', dict(kwargs, sender_id=sender_id, recipient_id=recipient_id))

    def deliveries(self):
        return self.control('GET', 'deliveries')

    def clock(self, now=None, advance=None, real=False):
        body = {}
        if now is not None:
            body['now'] = now
        if advance is not None:
            body['advance'] = advance
        if real:
            body['real'] = True
        return self.control('POST', 'clock', body) if body else self.control('GET', 'clock')

    def replay_jobs(self):
        return self.control('GET', 'replay_jobs')

    def rate_limits(self, family, remaining=None, reset=None, limit=None, consumer_key=None):
        return self.control('POST', 'rate_limits', {'family': family, 'remaining': remaining, 'reset': reset,
                                                    'limit': limit, 'consumer_key': consumer_key})


class CcmStandIn(_Process):
    """The CCM stand-in in a subprocess. ``webhook_url`` is its full webhook URL (with port)."""

    def __init__(self, env_file, tls=None, path='/ccm/webhook/twitter', workdir=None, host='127.0.0.1',
                 names=None, ca_bundle=None, start_timeout=20):
        super().__init__(workdir, start_timeout)
        self.ca_bundle = str(ca_bundle) if ca_bundle else None
        self.env_file = str(env_file)
        self.tls = tls
        self.path = path
        self.host = host
        self.names = names or ['127.0.0.1', 'localhost']

    def start(self):
        args = ['ccm', '--env-file', self.env_file, '--path', self.path, '--host', self.host, '--port', '0',
                '--quiet']
        cert, key = self._tls(self.tls, self.names)
        if cert:
            args += ['--tls-cert', cert, '--tls-key', key]
        return self._spawn('ccm', args)

    @property
    def port(self):
        return urlsplit(self.url).port

    @property
    def webhook_url(self):
        return self.url + self.path

    def messages(self):
        return self._request('GET', '/_ccm/messages')['messages']

    def requests(self):
        return self._request('GET', '/_ccm/requests')['requests']

    def clear(self):
        return self._request('DELETE', '/_ccm/messages')

    def health(self):
        return self._request('GET', '/_ccm/health')


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        return

    def do_GET(self):
        hook = self.server.hook
        hook.hits.append(self.path)
        mode = hook.mode
        if mode == 'slow':
            time.sleep(hook.delay)
        if mode == 'redirect':
            self._send(302, b'', {'Location': 'https://example.com/elsewhere'})
            return
        if mode == 'status':
            self._send(hook.status, b'{"error":"nope"}', {'Content-Type': 'application/json'})
            return
        token = dict(parse_qsl(urlsplit(self.path).query)).get('crc_token', '')
        if mode == 'wrong_token':
            token += 'x'
        if mode == 'not_json':
            self._send(200, sign(hook.secret, token).encode(), {'Content-Type': 'text/plain'})
            return
        body = json.dumps({'response_token': sign(hook.secret, token)}).encode()
        self._send(200, body, {'Content-Type': 'application/json'})

    def do_POST(self):
        hook = self.server.hook
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        signature = self.headers.get('x-twitter-webhooks-signature') or ''
        hook.posts.append({'path': self.path, 'body': body, 'signature': signature,
                           'signature_valid': signature == sign(hook.secret, body),
                           'json': json.loads(body.decode('utf-8')) if body else None})
        status = hook.post_status
        self._send(status, b'{}', {'Content-Type': 'application/json'})

    def _send(self, status, body, headers):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ScriptedWebhook:
    """An in-process HTTPS webhook whose CRC behaviour is set by ``mode``:
    ok, wrong_token, not_json, status (answers ``status``), redirect (302), slow (sleeps ``delay`` then ok).
    Event POSTs are recorded in ``posts`` and answered with ``post_status`` (200)."""

    def __init__(self, secret, leaf, mode='ok', status=500, delay=1.0):
        self.secret = secret
        self.mode = mode
        self.status = status
        self.delay = delay
        self.hits = []
        # Event POSTs: {path, body, signature, signature_valid, json}; answered with post_status.
        self.posts = []
        self.post_status = 200
        self.server = Server(('127.0.0.1', 0), _ScriptedHandler, leaf.fullchain_path, leaf.key_path, quiet=True)
        self.server.hook = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)

    @property
    def port(self):
        return self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


__all__ = ['Emulator', 'CcmStandIn', 'ScriptedWebhook', 'ControlError', 'BearerAuth', 'make_ca', 'issue_cert',
           'free_port', 'load_seed']
