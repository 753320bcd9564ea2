"""CCM stand-in: answers CRC and receives signed Account Activity events, the way CCM does behind nginx.

Like Hybrid Chat 3.x's CCM it understands only the Account Activity (AAA) format: an X Activity API envelope or
v2 user objects are refused with 400, and an unsigned or wrongly signed POST with 401 (fail closed).

The consumer secret comes from TWITTER_CONSUMER_SECRET in the env file the role writes; the file is
re-read whenever its mtime, size or inode changes, so a rotated secret takes effect at once.
"""

import hmac
import json
import os
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from xemu.crc import sign
from xemu.httpbase import Handler, Server

SECRET_VAR = 'TWITTER_CONSUMER_SECRET'
SIGNATURE_HEADER = 'x-twitter-webhooks-signature'


def parse_env_file(text):
    """KEY=VALUE lines; '#' comments, optional 'export ' and matching quotes."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        if line.startswith('export '):
            line = line[len('export '):].strip()
        key, _sep, value = line.partition('=')
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        values[key.strip()] = value
    return values


class EnvFile:
    """Caches the env file and re-reads it when it changes on disk."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self._stamp = None
        self._values = {}

    def values(self):
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        with self.lock:
            if stamp != self._stamp:
                self._values = {}
                if stamp is not None:
                    try:
                        with open(self.path, 'r', encoding='utf-8') as handle:
                            self._values = parse_env_file(handle.read())
                    except OSError:
                        self._values = {}
                self._stamp = stamp
            return dict(self._values)

    def secret(self):
        return self.values().get(SECRET_VAR) or None


AAA_EVENT_KEYS = ('direct_message_events', 'direct_message_indicate_typing_events', 'direct_message_mark_read_events',
                  'tweet_create_events', 'tweet_delete_events', 'favorite_events', 'follow_events', 'block_events',
                  'mute_events', 'user_event')
V2_ONLY_USER_KEYS = ('username', 'public_metrics', 'profile_image_url', 'created_at')


def aaa_problem(payload):
    """Why ``payload`` is not an AAA body CCM can parse (None when it is): CCM knows nothing else."""
    if not isinstance(payload, dict):
        return 'body is not a JSON object'
    if 'data' in payload:
        return 'an X Activity API (XAA) envelope ("data"); CCM reads AAA bodies only'
    if 'replay_job_status' in payload:
        return None
    keys = [k for k in AAA_EVENT_KEYS if k in payload]
    if not keys:
        return 'no AAA event key (%s)' % ', '.join(AAA_EVENT_KEYS)
    if 'user_event' not in keys and not (isinstance(payload.get('for_user_id'), str) and
                                         payload['for_user_id'].isdigit()):
        return 'for_user_id missing or not a string of digits'
    for key in keys:
        if key != 'user_event' and not isinstance(payload[key], list):
            return '%s is not a list' % key
    for event in payload.get('direct_message_events') or []:
        create = event.get('message_create') if isinstance(event, dict) else None
        if not isinstance(create, dict) or not isinstance(event.get('id'), str) or 'sender_id' not in create:
            return 'a direct_message_events entry is not a message_create event with an id'
    users = payload.get('users', {})
    if not isinstance(users, dict):
        return 'users is not an object'
    for uid, user in users.items():
        if not isinstance(user, dict) or 'data' in user or any(k in user for k in V2_ONLY_USER_KEYS):
            return 'users[%s] is not a v1.1 user object (v2 fields or a "data" wrapper)' % uid
        if 'screen_name' not in user:
            return 'users[%s] has no screen_name' % uid
    return None


class CcmHandler(Handler):
    """GET <path>?crc_token → response_token; POST <path> → verified event; /_ccm/* for tests."""

    def dispatch(self):
        parts = urlsplit(self.path)
        body = self.read_body()
        if parts.path.startswith('/_ccm/'):
            self.control(parts.path[len('/_ccm/'):].strip('/'))
            return
        entry = {'time': round(time.time(), 3), 'method': self.command, 'path': parts.path, 'query': parts.query,
                 'headers': {k: v for k, v in self.headers.items() if k.lower() != 'authorization'},
                 'client': self.client_address[0], 'status': None, 'signature_valid': None}
        if parts.path != self.server.webhook_path:
            status, result = 404, {'error': 'not found'}
        elif self.command == 'GET':
            status, result = self.crc(parts.query, entry)
        elif self.command == 'POST':
            status, result = self.event(body, entry)
        else:
            status, result = 405, {'error': 'method not allowed'}
        entry['status'] = status
        self.server.record(entry)
        self.send_body(status, result)

    def crc(self, query, entry):
        params = dict(parse_qsl(query, keep_blank_values=True))
        token = params.get('crc_token')
        if not token:
            return 400, {'error': 'crc_token missing'}
        secret = self.server.env.secret()
        if not secret:
            return 503, {'error': '%s is not set' % SECRET_VAR}
        presented = self.headers.get(SIGNATURE_HEADER)
        if presented:
            # X signs the raw query string of CRC GETs too; record whether it matched (informational).
            entry['signature_valid'] = hmac.compare_digest(presented, sign(secret, query))
        return 200, {'response_token': sign(secret, token)}

    def event(self, body, entry):
        secret = self.server.env.secret()
        presented = self.headers.get(SIGNATURE_HEADER) or ''
        # Fail closed: no secret, no header or a wrong signature all refuse the event.
        valid = bool(secret and presented) and hmac.compare_digest(presented, sign(secret, body))
        entry['signature_valid'] = valid
        if not valid:
            return 401, {'error': 'invalid signature'}
        try:
            payload = json.loads(body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            return 400, {'error': 'body is not JSON'}
        problem = aaa_problem(payload)
        if problem:
            # CCM parses the Account Activity (AAA) format only: anything else (an XAA envelope) is refused.
            entry['format_error'] = problem
            return 400, {'error': 'not an Account Activity body: %s' % problem}
        stored = 0
        users = payload.get('users') or {}
        for event in payload.get('direct_message_events') or []:
            create = event.get('message_create') or {}
            sender_id = create.get('sender_id')
            self.server.add_message({
                'id': event.get('id'),
                'for_user_id': payload.get('for_user_id'),
                'sender_id': sender_id,
                'recipient_id': (create.get('target') or {}).get('recipient_id'),
                'text': (create.get('message_data') or {}).get('text'),
                'created_timestamp': event.get('created_timestamp'),
                'sender_screen_name': (users.get(sender_id) or {}).get('screen_name'),
            })
            stored += 1
        for key in AAA_EVENT_KEYS:
            if key in payload:
                self.server.add_activity({'kind': key, 'for_user_id': payload.get('for_user_id'),
                                          'events': payload[key], 'users': users})
        return 200, {'received': stored}

    def control(self, name):
        server = self.server
        if name == 'health':
            self.send_body(200, {'status': 'ok', 'secret_loaded': bool(server.env.secret()),
                                 'path': server.webhook_path, 'env_file': server.env.path})
        elif name == 'messages' and self.command == 'GET':
            with server.lock:
                self.send_body(200, {'messages': list(server.messages)})
        elif name == 'requests' and self.command == 'GET':
            with server.lock:
                self.send_body(200, {'requests': list(server.requests)})
        elif name == 'activities' and self.command == 'GET':
            with server.lock:
                self.send_body(200, {'activities': list(server.activities)})
        elif name in ('messages', 'requests', 'activities') and self.command == 'DELETE':
            with server.lock:
                server.messages = []
                server.requests = []
                server.activities = []
            self.send_body(200, {'cleared': True})
        else:
            self.send_body(404, {'error': 'unknown control endpoint'})


class CcmServer(Server):
    """Keeps received messages and a request log (with headers, to prove what nginx forwarded)."""

    def __init__(self, address, env_file, webhook_path='/ccm/webhook/twitter', tls_cert=None, tls_key=None,
                 quiet=False):
        super().__init__(address, CcmHandler, tls_cert, tls_key, quiet=quiet)
        self.env = EnvFile(env_file)
        self.webhook_path = webhook_path
        self.lock = threading.Lock()
        self.messages = []
        self.requests = []
        self.activities = []

    def add_activity(self, activity):
        with self.lock:
            self.activities.append(activity)

    def add_message(self, message):
        with self.lock:
            self.messages.append(message)

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-1000]
