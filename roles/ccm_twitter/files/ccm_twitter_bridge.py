# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ccm-twitter-bridge: X webhook deliveries (AAA or XAA) -> CCM, in the AAA format, exactly once, nothing lost.

Runs on the CCM host between nginx and CCM, with the host's python3 (3.9+) and its standard library only.

* CRC: answers X's ``GET ?crc_token=`` itself (HMAC-SHA256 with the consumer secret), for tokens of a strict
  shape only, so the endpoint cannot be used to sign arbitrary text.
* Every POST: size limit, then ``x-twitter-webhooks-signature`` (constant time) before the body is parsed.
* XAA ``dm.received``/``dm.sent``/``dm.indicate_typing``/``dm.read`` become AAA bodies; AAA bodies pass through;
  ``replay_job_status`` is recorded; other events are acknowledged and dropped.
* Deduplicated by DM event id (per subscribed account), on disk; every event is committed to SQLite (WAL,
  synchronous=FULL, group commit) before X gets its 200, then a single forwarder thread POSTs it to CCM, re-signed,
  in arrival order, retrying while CCM is down, also after a restart.
* A separate loopback status listener answers JSON health; logs go to stderr (journald). Nothing that is
  logged or written contains the consumer secret or the bearer token.
* Optional standby channel: ``GET /2/activity/stream`` with the app's bearer token feeds the same spool.

Usage: ccm_twitter_bridge.py --config /etc/ccm-twitter-bridge/config.json [--check-config] [--ready-file F]
"""

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import queue
import re
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, urlencode

VERSION = '1.0.0'
SIGNATURE_HEADER = 'x-twitter-webhooks-signature'
CRC_TOKEN_RE = re.compile(r'\A[A-Za-z0-9+/=_-]{16,128}\Z')
ISO_RE = re.compile(r'\A(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\Z')
LOG = logging.getLogger('ccm-twitter-bridge')

DEFAULTS = {
    'listen_host': '127.0.0.1',
    'listen_port': 8181,
    'status_host': '127.0.0.1',
    'status_port': 8182,
    'webhook_path': '/ccm/webhook/twitter',
    'upstream': 'http://127.0.0.1:8080',
    'upstream_path': None,
    'upstream_ca_file': None,
    'upstream_timeout': 10.0,
    'upstream_host': None,
    'state_dir': '/var/lib/ccm-twitter-bridge',
    'secret_env_file': None,
    'secret_env_var': 'TWITTER_CONSUMER_SECRET',
    'secret_file': None,
    'max_body_bytes': 1048576,
    'max_age_days': 7.0,
    'dedupe_hours': 72.0,
    'retry_min_seconds': 0.2,
    'retry_max_seconds': 10.0,
    'refused_attempts': 5,
    'log_level': 'info',
    'stream': None,
}
STREAM_DEFAULTS = {
    'enabled': True,
    'api_base': 'https://api.x.com',
    'bearer_token_file': None,
    'user_id': None,
    'backfill_minutes': 5,
    'ca_file': None,
    'retry_min_seconds': 1.0,
    'retry_max_seconds': 60.0,
    'read_timeout': 90.0,
}
AAA_DM_KEY = 'direct_message_events'
AAA_TYPING_KEY = 'direct_message_indicate_typing_events'
AAA_READ_KEY = 'direct_message_mark_read_events'
XAA_KINDS = {'dm.received': AAA_DM_KEY, 'dm.sent': AAA_DM_KEY,
             'dm.indicate_typing': AAA_TYPING_KEY, 'dm.read': AAA_READ_KEY}
COUNTERS = ('received', 'accepted', 'duplicates', 'forwarded', 'dropped_max_age', 'dropped_refused_by_ccm',
            'ignored', 'untranslatable', 'rejected_signature', 'rejected_size', 'rejected_malformed',
            'rejected_crc', 'crc_answered', 'replay_status', 'forward_failures', 'stream_events',
            'stream_reconnects', 'store_errors')
REJECTED = ('rejected_signature', 'rejected_size', 'rejected_malformed', 'rejected_crc')


class ConfigError(Exception):
    """Bad configuration: the message says what to fix."""


# --------------------------------------------------------------------------------------------------------------
# Configuration and secrets
# --------------------------------------------------------------------------------------------------------------

def _is_loopback(host):
    return host in ('localhost', '::1') or host.startswith('127.')


def _expand(path):
    """``${CREDENTIALS_DIRECTORY}`` (systemd LoadCredential=) and other environment variables in paths."""
    if path is None:
        return None
    expanded = os.path.expandvars(str(path))
    if '$' in expanded:
        raise ConfigError('path %r names an environment variable that is not set (systemd LoadCredential= sets '
                          '$CREDENTIALS_DIRECTORY)' % path)
    return expanded


def _number(config, key, minimum, integer=False):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError('%s must be a%s number, got %r' % (key, 'n integer' if integer else '', value))
    if value < minimum:
        raise ConfigError('%s must be at least %s, got %r' % (key, minimum, value))
    return value


def load_config(path):
    """Read and validate the JSON config; every problem is a ConfigError naming the key to fix."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise ConfigError('cannot read config %s: %s' % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ConfigError('config %s is not valid JSON: %s' % (path, exc))
    if not isinstance(raw, dict):
        raise ConfigError('config %s must be a JSON object' % path)
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError('unknown config key(s) %s; known keys: %s' % (', '.join(unknown), ', '.join(sorted(DEFAULTS))))
    config = dict(DEFAULTS)
    config.update(raw)
    for key in ('listen_host', 'status_host'):
        if not isinstance(config[key], str) or not _is_loopback(config[key]):
            raise ConfigError('%s must be a loopback address (127.0.0.1 or ::1), got %r' % (key, config[key]))
    for key in ('listen_port', 'status_port'):
        port = _number(config, key, 0, integer=True)
        if port > 65535:
            raise ConfigError('%s must be a TCP port (0-65535), got %r' % (key, port))
    if config['listen_port'] and config['listen_port'] == config['status_port'] \
            and config['listen_host'] == config['status_host']:
        raise ConfigError('status_port must differ from listen_port')
    for key in ('webhook_path',):
        if not isinstance(config[key], str) or not config[key].startswith('/'):
            raise ConfigError('%s must be an absolute URL path such as /ccm/webhook/twitter' % key)
    if config['upstream_path'] is None:
        config['upstream_path'] = config['webhook_path']
    if not isinstance(config['upstream_path'], str) or not config['upstream_path'].startswith('/'):
        raise ConfigError('upstream_path must be an absolute URL path')
    upstream = urlsplit(str(config['upstream']))
    if upstream.scheme not in ('http', 'https') or not upstream.hostname or upstream.path not in ('', '/') \
            or upstream.query:
        raise ConfigError('upstream must be CCM\'s base URL, scheme://host:port with no path, such as '
                          'http://127.0.0.1:8080 (got %r)' % config['upstream'])
    _number(config, 'upstream_timeout', 0.1)
    if config['upstream_host'] is not None and (not isinstance(config['upstream_host'], str) or
                                                not re.match(r'\A[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?\Z',
                                                             config['upstream_host'])):
        raise ConfigError('upstream_host must be a host name (the public FQDN CCM used to see), got %r'
                          % config['upstream_host'])
    _number(config, 'max_body_bytes', 1024, integer=True)
    _number(config, 'max_age_days', 0.0001)
    if _number(config, 'dedupe_hours', 0) < 48:
        raise ConfigError('dedupe_hours must be at least 48 (X retries and replays within 24-48 h)')
    _number(config, 'retry_min_seconds', 0.01)
    _number(config, 'retry_max_seconds', config['retry_min_seconds'])
    _number(config, 'refused_attempts', 1, integer=True)
    if str(config['log_level']).upper() not in ('DEBUG', 'INFO', 'WARNING', 'ERROR'):
        raise ConfigError('log_level must be one of debug, info, warning, error')
    if not isinstance(config['state_dir'], str) or not config['state_dir']:
        raise ConfigError('state_dir must be a directory path')
    config['state_dir'] = _expand(config['state_dir'])
    if bool(config['secret_env_file']) == bool(config['secret_file']):
        raise ConfigError('set exactly one of secret_env_file (CCM\'s env file with %s=...) and secret_file '
                          '(a 0600 file holding only the consumer secret)' % config['secret_env_var'])
    config['secret_env_file'] = _expand(config['secret_env_file'])
    config['secret_file'] = _expand(config['secret_file'])
    config['upstream_ca_file'] = _expand(config['upstream_ca_file'])
    config['stream'] = _stream_config(config['stream'])
    return config


def _stream_config(raw):
    if raw is None or raw is False:
        return None
    if not isinstance(raw, dict):
        raise ConfigError('stream must be an object (or null to disable the standby channel)')
    unknown = sorted(set(raw) - set(STREAM_DEFAULTS))
    if unknown:
        raise ConfigError('unknown stream key(s) %s; known keys: %s'
                          % (', '.join(unknown), ', '.join(sorted(STREAM_DEFAULTS))))
    stream = dict(STREAM_DEFAULTS)
    stream.update(raw)
    if not stream['enabled']:
        return None
    base = urlsplit(str(stream['api_base']))
    if base.scheme not in ('http', 'https') or not base.hostname:
        raise ConfigError('stream.api_base must be a URL such as https://api.x.com')
    if not stream['bearer_token_file']:
        raise ConfigError('stream.bearer_token_file is required (a 0600 file with the app\'s bearer token)')
    stream['bearer_token_file'] = _expand(stream['bearer_token_file'])
    stream['ca_file'] = _expand(stream['ca_file'])
    if not isinstance(stream['user_id'], str) or not re.match(r'\A[0-9]{1,19}\Z', stream['user_id']):
        raise ConfigError('stream.user_id must be the account id as a string of 1-19 digits')
    backfill = stream['backfill_minutes']
    if isinstance(backfill, bool) or not isinstance(backfill, int) or not 0 <= backfill <= 5:
        raise ConfigError('stream.backfill_minutes must be an integer from 0 to 5')
    for key in ('retry_min_seconds', 'retry_max_seconds', 'read_timeout'):
        _number(stream, key, 0.01)
    return stream


def parse_env_file(text):
    """KEY=VALUE lines as CCM reads them: '#' comments, optional 'export ', matching quotes stripped."""
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


def in_credentials_directory(path):
    """Whether path is one of systemd's credentials for this service (LoadCredential=)."""
    creds = os.environ.get('CREDENTIALS_DIRECTORY')
    if not creds:
        return False
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(creds)


def read_private_file(path, what):
    """Contents of a file that must not be readable by group or others.

    systemd 256 and newer hand credentials over as mode 0440, owned by root and the service's own group, in a
    private file system that only the service sees: there the group bit is the service itself, so only 'others'
    counts (seen on Debian 13; Debian 12's systemd 252 gives 0400)."""
    forbidden = 0o007 if in_credentials_directory(path) else 0o077
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & forbidden:
                raise ConfigError('%s %s is readable by group or others (mode %o): chmod 600 it'
                                  % (what, path, mode & 0o777))
            return handle.read()
    except OSError as exc:
        raise ConfigError('cannot read %s %s: %s' % (what, path, exc.strerror or exc))


class Secret:
    """The consumer secret, re-read when its file changes (checked at most once a second) or on SIGHUP."""

    def __init__(self, env_file=None, secret_file=None, env_var='TWITTER_CONSUMER_SECRET'):
        self.env_file = env_file
        self.secret_file = secret_file
        self.env_var = env_var
        self.path = env_file or secret_file
        self.lock = threading.Lock()
        self._value = None
        self._stamp = None
        self._checked = 0.0

    def _stat(self):
        try:
            stat = os.stat(self.path)
            return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            return None

    def load(self):
        """Read now; raise ConfigError when there is no usable secret."""
        text = read_private_file(self.path, 'secret file' if self.secret_file else 'env file')
        if self.env_file:
            value = parse_env_file(text).get(self.env_var, '')
            if not value:
                raise ConfigError('%s is not set in %s' % (self.env_var, self.path))
        else:
            value = text.strip()
            if not value or '\n' in value:
                raise ConfigError('secret file %s must hold the consumer secret on one line' % self.path)
        with self.lock:
            self._value = value.encode('utf-8')
            self._stamp = self._stat()
            self._checked = time.monotonic()
        return True

    def reload(self, reason):
        try:
            self.load()
            LOG.info('consumer secret re-read from %s (%s)', self.path, reason)
        except ConfigError as exc:
            LOG.error('consumer secret not re-read, keeping the previous one: %s', exc)

    def get(self):
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                self.reload('file changed')
        return self._value

    def sign(self, message):
        key = self.get()
        if key is None:
            return None
        if isinstance(message, str):
            message = message.encode('utf-8')
        return 'sha256=' + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode('ascii')


def check_signature(secret, body, presented):
    """True when ``presented`` is sha256=base64(HMAC-SHA256(secret, body)); constant time; fails closed."""
    if not presented or not isinstance(presented, str):
        return False
    expected = secret.sign(body)
    if expected is None:
        return False
    try:
        return hmac.compare_digest(presented.strip().encode('ascii'), expected.encode('ascii'))
    except UnicodeEncodeError:
        return False


def valid_crc_token(token):
    return isinstance(token, str) and CRC_TOKEN_RE.match(token) is not None


# --------------------------------------------------------------------------------------------------------------
# Translation XAA -> AAA
# --------------------------------------------------------------------------------------------------------------

def iso_to_epoch_ms(value):
    """'2026-04-20T19:55:59.000Z' -> '1776714959000' (string, like AAA); None when not ISO-8601."""
    if not isinstance(value, str):
        return None
    match = ISO_RE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ''
    zone = match.group(8) or 'Z'
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    days = _days_from_civil(year, month, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    if zone != 'Z':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    millis = int((fraction[1:] + '000')[:3]) if fraction else 0
    return str(seconds * 1000 + millis)


def _days_from_civil(year, month, day):
    # Howard Hinnant's algorithm: no datetime/timezone surprises, works on every Python.
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def v1_user(user):
    """An XAA (v2) user, bare or wrapped in {"data": ...}, as the AAA (v1.1) user object CCM reads."""
    if isinstance(user, dict) and isinstance(user.get('data'), dict):
        user = user['data']
    if not isinstance(user, dict):
        return {}
    out = {}
    if 'id' in user:
        out['id'] = str(user['id'])
    created = iso_to_epoch_ms(user.get('created_at'))
    if created is not None:
        out['created_timestamp'] = created
    for key in ('name',):
        if key in user:
            out[key] = user[key]
    if 'username' in user:
        out['screen_name'] = user['username']
    for key in ('location', 'description', 'url', 'protected', 'verified'):
        if key in user:
            out[key] = user[key]
    metrics = user.get('public_metrics') if isinstance(user.get('public_metrics'), dict) else {}
    for v2_key, v1_key in (('followers_count', 'followers_count'), ('following_count', 'friends_count'),
                           ('tweet_count', 'statuses_count'), ('listed_count', 'listed_count'),
                           ('like_count', 'favourites_count')):
        if v2_key in metrics:
            out[v1_key] = metrics[v2_key]
    if 'profile_image_url' in user:
        out['profile_image_url_https'] = user['profile_image_url']
    return out


def _users_map(payload, event):
    users = payload.get('users')
    if not isinstance(users, dict):
        users = {}
        includes = payload.get('includes') if isinstance(payload.get('includes'), dict) else \
            event.get('includes') if isinstance(event.get('includes'), dict) else {}
        for user in includes.get('users') or []:
            if isinstance(user, dict) and 'id' in user:
                users[str(user['id'])] = user
    return {str(uid): v1_user(user) for uid, user in users.items()}


def _event_key(kind, for_user_id, event):
    """Dedupe key: the DM id per subscribed account; typing/read events by their content."""
    if kind == AAA_DM_KEY:
        event_id = event.get('id') if isinstance(event, dict) else None
        if event_id in (None, ''):
            return 'dm-body:%s:%s' % (for_user_id, _digest(event))
        return 'dm:%s:%s' % (for_user_id, event_id)
    target = event.get('target') if isinstance(event.get('target'), dict) else {}
    parts = [kind, for_user_id, event.get('created_timestamp'), event.get('sender_id'), target.get('recipient_id'),
             event.get('last_read_event_id')]
    return '%s:%s:%s' % ('typing' if kind == AAA_TYPING_KEY else 'read', for_user_id,
                         _digest([str(p) for p in parts]))


def _digest(value):
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, separators=(',', ':')).encode()
    return hashlib.sha256(data).hexdigest()[:40]


def _typing_or_read_events(kind, payload, event):
    """XAA typing/read payloads are not documented by X: take the AAA list when present, else build one event."""
    listed = payload.get(kind)
    if isinstance(listed, list):
        return [e for e in listed if isinstance(e, dict)]
    sender = payload.get('sender_id') or payload.get('actor_id')
    target = payload.get('target') if isinstance(payload.get('target'), dict) else {}
    flt = event.get('filter') if isinstance(event.get('filter'), dict) else {}
    recipient = target.get('recipient_id') or payload.get('recipient_id') or flt.get('user_id')
    if not sender or not recipient:
        return []
    created = payload.get('created_timestamp') or iso_to_epoch_ms(payload.get('created_at')) or \
        iso_to_epoch_ms(event.get('created_at')) or str(int(time.time() * 1000))
    out = {'created_timestamp': str(created), 'sender_id': str(sender), 'target': {'recipient_id': str(recipient)}}
    if kind == AAA_READ_KEY and payload.get('last_read_event_id'):
        out['last_read_event_id'] = str(payload['last_read_event_id'])
    return [out]


class Unit:
    """One thing the webhook brought: an AAA body to spool (``events`` under ``list_key``), or a replay status."""

    __slots__ = ('kind', 'doc', 'list_key', 'keys', 'raw')

    def __init__(self, kind, doc, list_key=None, keys=None, raw=None):
        self.kind = kind
        self.doc = doc
        self.list_key = list_key
        self.keys = keys or []
        self.raw = raw

    def body_for(self, fresh):
        """The bytes to forward when only the events at indexes ``fresh`` are new (None: nothing to forward)."""
        if not fresh:
            return None
        if self.raw is not None and len(fresh) == len(self.keys):
            return self.raw
        doc = dict(self.doc)
        if self.list_key:
            events = self.doc[self.list_key]
            doc[self.list_key] = [events[i] for i in fresh]
        return json.dumps(doc, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def translate_xaa_event(event):
    """One XAA event ({event_type, filter, payload, ...}) -> (Unit or None, reason)."""
    if not isinstance(event, dict):
        return None, 'ignored'
    event_type = event.get('event_type')
    list_key = XAA_KINDS.get(event_type)
    if list_key is None:
        if isinstance(event.get('replay_job_status'), dict):
            return Unit('replay', event['replay_job_status']), 'replay'
        return None, 'ignored'
    payload = event.get('payload') if isinstance(event.get('payload'), dict) else {}
    flt = event.get('filter') if isinstance(event.get('filter'), dict) else {}
    if list_key == AAA_DM_KEY:
        events = [e for e in payload.get(AAA_DM_KEY) or [] if isinstance(e, dict)]
    else:
        events = _typing_or_read_events(list_key, payload, event)
    if not events:
        return None, 'untranslatable'
    for_user_id = flt.get('user_id')
    if not for_user_id:
        first = events[0]
        create = first.get('message_create') if isinstance(first.get('message_create'), dict) else first
        if event_type == 'dm.sent':
            for_user_id = create.get('sender_id')
        else:
            for_user_id = (create.get('target') or {}).get('recipient_id')
    if not for_user_id:
        return None, 'untranslatable'
    for_user_id = str(for_user_id)
    doc = {'for_user_id': for_user_id, list_key: events, 'users': _users_map(payload, event)}
    if isinstance(payload.get('apps'), dict):
        doc['apps'] = payload['apps']
    return Unit(list_key, doc, list_key, [_event_key(list_key, for_user_id, e) for e in events]), 'ok'


def classify(body, doc):
    """A verified, parsed delivery -> (units, counts of ignored/untranslatable). AAA passes through unchanged."""
    units, skipped = [], {'ignored': 0, 'untranslatable': 0}
    if 'data' in doc and 'for_user_id' not in doc:
        items = doc['data'] if isinstance(doc['data'], list) else [doc['data']]
        for item in items:
            unit, reason = translate_xaa_event(item)
            if unit is None:
                skipped[reason] += 1
            else:
                units.append(unit)
        return units, skipped
    if isinstance(doc.get('replay_job_status'), dict):
        return [Unit('replay', doc['replay_job_status'])], skipped
    for_user_id = str(doc.get('for_user_id') or '')
    for list_key in (AAA_DM_KEY, AAA_TYPING_KEY, AAA_READ_KEY):
        events = doc.get(list_key)
        if isinstance(events, list) and events and all(isinstance(e, dict) for e in events):
            keys = [_event_key(list_key, for_user_id, e) for e in events]
            return [Unit(list_key, doc, list_key, keys, raw=body)], skipped
    if for_user_id and any(k.endswith('_events') or k == 'user_event' for k in doc):
        # Any other AAA activity (tweets, follows, ...): CCM gets it unchanged; X's retries are byte-identical.
        return [Unit('aaa_other', doc, None, ['body:' + _digest(body)], raw=body)], skipped
    skipped['ignored'] += 1
    return units, skipped


# --------------------------------------------------------------------------------------------------------------
# Durable spool (SQLite, WAL) with group commit
# --------------------------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _connect(path, synchronous):
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute('PRAGMA journal_mode=WAL')
    db.execute('PRAGMA synchronous=%s' % synchronous)
    db.execute('PRAGMA busy_timeout=30000')
    db.execute('PRAGMA cache_size=-256')  # 256 KiB per connection: the hot data is the tail of the spool
    return db


class Job:
    __slots__ = ('units', 'done', 'ok', 'accepted', 'duplicates')

    def __init__(self, units):
        self.units = units
        self.done = threading.Event()
        self.ok = False
        self.accepted = 0
        self.duplicates = 0


class Watermark:
    """The highest spool seq CCM has taken, in a small file next to the spool.

    The forwarder delivers in seq order, so one number says what is done. Writing it is one pwrite() with no lock
    shared with the ingest transactions: the window in which a crash makes CCM get an event twice is only the time
    between CCM's answer and this write. A process crash cannot undo the write (it is in the page cache); a power
    cut can, and then events are forwarded again rather than lost. The spool's random id guards against a spool
    that was deleted and re-created under an old watermark.
    """

    def __init__(self, path, spool_id):
        self.spool_id = spool_id
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.seq = 0
        data = os.pread(self.fd, 128, 0).decode('ascii', 'replace').split()
        if len(data) == 2 and data[0] == spool_id and data[1].isdigit():
            self.seq = int(data[1])

    def set(self, seq):
        os.pwrite(self.fd, ('%s %020d\n' % (self.spool_id, seq)).encode('ascii'), 0)
        self.seq = seq

    def close(self):
        os.close(self.fd)


class Store:
    """spool (events to forward, in order), seen (dedupe keys), meta (counters, replay status).

    Ingest runs on one writer thread that commits whatever has queued up in one transaction (group commit) with
    synchronous=FULL: the 200 is sent only after the commit. The forwarder records what CCM took in a Watermark
    and deletes delivered rows in batches, later.
    """

    def __init__(self, state_dir, dedupe_seconds, on_commit=None):
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(state_dir, 'spool.sqlite3')
        old_umask = os.umask(0o077)
        try:
            self.writer_db = _connect(self.path, 'FULL')
            self.writer_db.executescript(SCHEMA)
            self.forward_db = _connect(self.path, 'NORMAL')
            self.read_db = _connect(self.path, 'NORMAL')
        finally:
            os.umask(old_umask)
        self.read_lock = threading.Lock()
        row = self.writer_db.execute("SELECT value FROM meta WHERE name = 'spool_id'").fetchone()
        if row is None:
            spool_id = json.dumps(base64.b16encode(os.urandom(16)).decode('ascii').lower())
            self.writer_db.execute("INSERT INTO meta (name, value) VALUES ('spool_id', ?)", (spool_id,))
        else:
            spool_id = row[0]
        self.delivered = Watermark(os.path.join(state_dir, 'delivered.seq'), json.loads(spool_id))
        self.compact()
        self.dedupe_seconds = dedupe_seconds
        self.on_commit = on_commit
        self.jobs = queue.Queue()
        self.thread = threading.Thread(target=self._writer_loop, name='spool-writer', daemon=True)
        self.batches = 0

    def start(self):
        self.thread.start()

    def stop(self):
        self.jobs.put(None)
        self.thread.join(timeout=10)

    def submit(self, units, timeout=30.0):
        job = Job(units)
        self.jobs.put(job)
        if not job.done.wait(timeout):
            return None
        return job

    def _writer_loop(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < 1000:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch):
        db = self.writer_db
        now = time.time()
        ok = False
        try:
            db.execute('BEGIN IMMEDIATE')
            for job in batch:
                job.accepted = job.duplicates = 0
                for unit in job.units:
                    self._apply(db, unit, now, job)
            db.execute('COMMIT')
            ok = True
            self.batches += 1
        except Exception as exc:  # pylint: disable=broad-except
            LOG.error('spool write failed, answering 503 so X retries: %s: %s', type(exc).__name__, exc)
            try:
                db.execute('ROLLBACK')
            except sqlite3.Error:
                pass
        if ok and self.on_commit:
            # Counters and the forwarder's wake-up before anyone is answered: the status never lags the spool.
            self.on_commit(batch)
        for job in batch:
            job.ok = ok
            job.done.set()

    @staticmethod
    def _apply(db, unit, now, job):
        if unit.kind == 'replay':
            db.execute('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)',
                       ('last_replay_job_status', json.dumps({'at': now, 'status': unit.doc})))
            return
        fresh = []
        for index, key in enumerate(unit.keys):
            if db.execute('INSERT OR IGNORE INTO seen (key, at) VALUES (?, ?)', (key, now)).rowcount == 1:
                fresh.append(index)
        job.duplicates += len(unit.keys) - len(fresh)
        body = unit.body_for(fresh)
        if body is not None:
            db.execute('INSERT INTO spool (received, kind, body) VALUES (?, ?, ?)', (now, unit.kind, body))
            job.accepted += len(fresh)

    # -- forwarder side ------------------------------------------------------------------------------------------
    def pending(self, limit=200):
        return self.forward_db.execute(
            'SELECT seq, received, kind, body, attempts FROM spool WHERE seq > ? ORDER BY seq LIMIT ?',
            (self.delivered.seq, limit)).fetchall()

    def done(self, seq):
        """CCM took (or the bridge dropped) everything up to ``seq``."""
        self.delivered.set(seq)

    def compact(self):
        """Delete the rows the watermark covers (batched: one small transaction now and then)."""
        return self.forward_db.execute('DELETE FROM spool WHERE seq <= ?', (self.delivered.seq,)).rowcount

    def note_attempt(self, seq):
        self.forward_db.execute('UPDATE spool SET attempts = attempts + 1 WHERE seq = ?', (seq,))

    # -- status and housekeeping ------------------------------------------------------------------------------------
    def depth(self):
        with self.read_lock:
            row = self.read_db.execute('SELECT COUNT(*), MIN(received) FROM spool WHERE seq > ?',
                                       (self.delivered.seq,)).fetchone()
        return row[0], row[1]

    def meta(self, name):
        with self.read_lock:
            row = self.read_db.execute('SELECT value FROM meta WHERE name = ?', (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, name, value):
        with self.read_lock:
            self.read_db.execute('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)', (name, json.dumps(value)))

    def prune_seen(self, now=None):
        cutoff = (now or time.time()) - self.dedupe_seconds
        with self.read_lock:
            return self.read_db.execute('DELETE FROM seen WHERE at < ?', (cutoff,)).rowcount

    def close(self):
        self.delivered.close()
        for db in (self.writer_db, self.forward_db, self.read_db):
            try:
                db.close()
            except sqlite3.Error:
                pass


# --------------------------------------------------------------------------------------------------------------
# The bridge: shared state, forwarder, stream standby
# --------------------------------------------------------------------------------------------------------------

class Counters:
    def __init__(self, initial=None):
        self.lock = threading.Lock()
        self.values = dict.fromkeys(COUNTERS, 0)
        for key, value in (initial or {}).items():
            if key in self.values and isinstance(value, int):
                self.values[key] = value

    def add(self, name, amount=1):
        if amount:
            with self.lock:
                self.values[name] += amount

    def snapshot(self):
        with self.lock:
            return dict(self.values)


class Bridge:
    def __init__(self, config):
        self.config = config
        self.secret = Secret(config['secret_env_file'], config['secret_file'], config['secret_env_var'])
        self.stop_event = threading.Event()
        self.wake = threading.Condition()
        self.store = Store(config['state_dir'], config['dedupe_hours'] * 3600, on_commit=self._committed)
        self.counters = Counters(self.store.meta('counters'))
        self.started = time.time()
        self.last_event_time = self.store.meta('last_event_time')
        self.ccm = {'answered': None, 'status': None, 'error': None, 'at': None}
        self.stream_state = {'configured': bool(config['stream']), 'connected': False, 'since': None,
                             'last_event_time': None, 'last_error': None}
        self.max_age = config['max_age_days'] * 86400
        upstream = urlsplit(config['upstream'])
        self.upstream = upstream
        self.upstream_target = config['upstream_path']
        self.threads = []
        self.http = None
        self.status_http = None
        self._log_gate = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self):
        self.secret.load()
        self.store.start()
        self.http = BridgeServer((self.config['listen_host'], self.config['listen_port']), WebhookHandler, self)
        self.status_http = BridgeServer((self.config['status_host'], self.config['status_port']), StatusHandler, self)
        for name, target in (('webhook', self.http.serve_forever), ('status', self.status_http.serve_forever),
                             ('forwarder', self._forward_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        if self.config['stream']:
            thread = threading.Thread(target=self._stream_loop, name='stream', daemon=True)
            thread.start()
            self.threads.append(thread)
        LOG.info('ccm-twitter-bridge %s listening on %s:%d (status %s:%d), forwarding to %s%s, spool %s',
                 VERSION, self.config['listen_host'], self.http.server_address[1], self.config['status_host'],
                 self.status_http.server_address[1], self.config['upstream'], self.upstream_target, self.store.path)

    def stop(self):
        self.stop_event.set()
        with self.wake:
            self.wake.notify_all()
        for server in (self.http, self.status_http):
            if server is not None:
                server.shutdown()
                server.server_close()
        self.store.stop()
        for thread in self.threads:
            if thread.name in ('forwarder', 'stream'):
                thread.join(timeout=self.config['upstream_timeout'] + 2 if thread.name == 'forwarder' else 1)
        self.persist()
        self.store.close()
        LOG.info('stopped')

    def persist(self):
        try:
            self.store.set_meta('counters', self.counters.snapshot())
            if self.last_event_time:
                self.store.set_meta('last_event_time', self.last_event_time)
        except sqlite3.Error as exc:
            LOG.warning('could not save counters: %s', exc)

    def housekeeping(self, tick):
        self.secret.get()
        if tick % 5 == 0:
            self.persist()
        if tick % 600 == 0:
            try:
                pruned = self.store.prune_seen()
                if pruned:
                    LOG.info('forgot %d dedupe keys older than %.0f h', pruned, self.config['dedupe_hours'])
            except sqlite3.Error as exc:
                LOG.warning('dedupe pruning failed: %s', exc)

    def log_limited(self, key, level, message, *args):
        """At most one line per key and 10 s, so a flood of forged POSTs cannot flood the journal."""
        now = time.monotonic()
        last, suppressed = self._log_gate.get(key, (0.0, 0))
        if now - last < 10:
            self._log_gate[key] = (last, suppressed + 1)
            return
        self._log_gate[key] = (now, 0)
        if suppressed:
            message += ' (%d similar suppressed)' % suppressed
        LOG.log(level, message, *args)

    # -- ingest -------------------------------------------------------------------------------------------------
    def ingest(self, units, skipped, source):
        """Spool units durably; returns True once committed (the caller may then answer 200)."""
        self.counters.add('ignored', skipped.get('ignored', 0))
        self.counters.add('untranslatable', skipped.get('untranslatable', 0))
        if skipped.get('untranslatable'):
            self.log_limited('untranslatable', logging.WARNING,
                             'dropped %d %s event(s) that could not be translated to the AAA format',
                             skipped['untranslatable'], source)
        if not units:
            return True
        job = self.store.submit(units)
        if job is None or not job.ok:
            self.counters.add('store_errors')
            return False
        for unit in units:
            if unit.kind == 'replay':
                self.counters.add('replay_status')
                LOG.info('replay job status from X: %s', json.dumps(unit.doc, sort_keys=True)[:500])
        return True

    def _committed(self, batch):
        accepted = sum(job.accepted for job in batch)
        self.counters.add('accepted', accepted)
        self.counters.add('duplicates', sum(job.duplicates for job in batch))
        if accepted:
            self.last_event_time = time.time()
            with self.wake:
                self.wake.notify_all()

    # -- forwarder ----------------------------------------------------------------------------------------------
    def _connection(self):
        host, port = self.upstream.hostname, self.upstream.port
        timeout = self.config['upstream_timeout']
        if self.upstream.scheme == 'https':
            context = ssl.create_default_context(cafile=self.config['upstream_ca_file'])
            return http.client.HTTPSConnection(host, port or 443, timeout=timeout, context=context)
        return http.client.HTTPConnection(host, port or 80, timeout=timeout)

    def post_to_ccm(self, conn, body):
        """One POST; returns (status or None, error text, connection to reuse or None)."""
        signature = self.secret.sign(body)
        if signature is None:
            return None, 'no consumer secret loaded', conn
        headers = {'Content-Type': 'application/json', SIGNATURE_HEADER: signature,
                   'User-Agent': 'ccm-twitter-bridge/%s' % VERSION}
        if self.config['upstream_host']:
            # What CCM saw when nginx proxied X straight to it.
            headers.update({'Host': self.config['upstream_host'], 'X-Forwarded-Host': self.config['upstream_host'],
                            'X-Forwarded-Proto': 'https'})
        for attempt in (1, 2):
            try:
                if conn is None:
                    conn = self._connection()
                conn.request('POST', self.upstream_target, body=body, headers=headers)
                if conn.sock is not None:
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    conn = None
                return response.status, None, conn
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                # A kept-alive connection CCM closed meanwhile: try once on a fresh one.
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError,
                                                        ConnectionResetError)):
                    return None, '%s: %s' % (type(exc).__name__, exc), None
        return None, 'unreachable', None

    def _set_ccm(self, answered, status, error):
        self.ccm = {'answered': answered, 'status': status, 'error': error, 'at': time.time()}

    def _forward_loop(self):
        # Never let one unexpected error end forwarding: log it, wait, carry on from the spool.
        while not self.stop_event.is_set():
            try:
                self._forward()
            except Exception:  # pylint: disable=broad-except
                LOG.exception('forwarder error; retrying in 1 s')
                self.stop_event.wait(1)

    def _forward(self):
        conn = None
        delay = self.config['retry_min_seconds']
        down_since = None
        compacted = time.monotonic()
        while not self.stop_event.is_set():
            try:
                if time.monotonic() - compacted > 0.5:
                    compacted = time.monotonic()
                    self.store.compact()
                rows = self.store.pending()
            except sqlite3.Error as exc:
                LOG.error('spool read failed: %s', exc)
                self.stop_event.wait(1)
                continue
            if not rows:
                with self.wake:
                    if not self.stop_event.is_set():
                        self.wake.wait(1.0)
                continue
            for seq, received, kind, body, attempts in rows:
                if self.stop_event.is_set():
                    break
                age = time.time() - received
                if age > self.max_age:
                    self.store.done(seq)
                    self.counters.add('dropped_max_age')
                    LOG.error('dropped spooled %s event #%d: CCM did not take it within %.1f days (age %.1f days)',
                              kind, seq, self.config['max_age_days'], age / 86400)
                    continue
                status, error, conn = self.post_to_ccm(conn, bytes(body))
                if status is not None and 200 <= status < 300:
                    self.store.done(seq)
                    self.counters.add('forwarded')
                    self._set_ccm(True, status, None)
                    if down_since is not None:
                        LOG.info('CCM answers again after %.1f s', time.monotonic() - down_since)
                        down_since = None
                    delay = self.config['retry_min_seconds']
                    continue
                self.counters.add('forward_failures')
                self._set_ccm(status is not None, status, error)
                if status in (400, 413, 415, 422) and attempts + 1 >= self.config['refused_attempts']:
                    self.store.done(seq)
                    self.counters.add('dropped_refused_by_ccm')
                    LOG.error('dropped spooled %s event #%d: CCM refused it with HTTP %d %d times',
                              kind, seq, status, attempts + 1)
                    continue
                if status in (400, 413, 415, 422):
                    self.store.note_attempt(seq)
                if status in (401, 403):
                    self.secret.reload('CCM refused the signature')
                if down_since is None:
                    down_since = time.monotonic()
                    LOG.warning('CCM did not take event #%d (%s); retrying with backoff, events stay spooled',
                                seq, 'HTTP %d' % status if status is not None else error)
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.config['retry_max_seconds'])
                break
        if conn is not None:
            conn.close()

    # -- stream standby -----------------------------------------------------------------------------------------
    def _stream_loop(self):
        cfg = self.config['stream']
        delay = cfg['retry_min_seconds']
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self._stream_once(cfg)
                error = 'stream ended'
            except Exception as exc:  # pylint: disable=broad-except  # reconnect whatever went wrong
                error = '%s: %s' % (type(exc).__name__, exc)
            self.stream_state.update(connected=False, last_error=error)
            if self.stop_event.is_set():
                break
            self.counters.add('stream_reconnects')
            if time.monotonic() - started > 60:
                delay = cfg['retry_min_seconds']
            self.log_limited('stream', logging.WARNING, 'activity stream disconnected (%s); reconnecting in %.1f s',
                             error, delay)
            self.stop_event.wait(delay)
            delay = min(delay * 2, cfg['retry_max_seconds'])

    def _stream_once(self, cfg):
        token = read_private_file(cfg['bearer_token_file'], 'bearer token file').strip()
        base = urlsplit(cfg['api_base'])
        path = (base.path.rstrip('/') or '') + '/2/activity/stream'
        if cfg['backfill_minutes']:
            path += '?' + urlencode({'backfill_minutes': cfg['backfill_minutes']})
        if base.scheme == 'https':
            context = ssl.create_default_context(cafile=cfg['ca_file'])
            conn = http.client.HTTPSConnection(base.hostname, base.port or 443, timeout=cfg['read_timeout'],
                                               context=context)
        else:
            conn = http.client.HTTPConnection(base.hostname, base.port or 80, timeout=cfg['read_timeout'])
        try:
            conn.request('GET', path, headers={'Authorization': 'Bearer ' + token, 'Accept': 'application/json',
                                               'User-Agent': 'ccm-twitter-bridge/%s' % VERSION})
            del token
            response = conn.getresponse()
            if response.status != 200:
                response.read(2048)
                raise ValueError('HTTP %d from the activity stream' % response.status)
            self.stream_state.update(connected=True, since=time.time(), last_error=None)
            LOG.info('activity stream connected (standby for account %s)', cfg['user_id'])
            while not self.stop_event.is_set():
                line = response.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    self._stream_line(line, cfg['user_id'])
        finally:
            conn.close()

    def _stream_line(self, line, user_id):
        try:
            doc = json.loads(line.decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            self.log_limited('stream-json', logging.WARNING, 'activity stream sent a line that is not JSON')
            return
        if not isinstance(doc, dict) or 'data' not in doc:
            if isinstance(doc, dict) and doc.get('errors'):
                self.log_limited('stream-errors', logging.WARNING, 'activity stream error: %s',
                                 json.dumps(doc['errors'])[:300])
            return
        items = doc['data'] if isinstance(doc['data'], list) else [doc['data']]
        mine = [item for item in items if isinstance(item, dict)
                and str((item.get('filter') or {}).get('user_id') or '') == user_id]
        if not mine:
            return
        units, skipped = classify(line, {'data': mine})
        self.counters.add('stream_events', len(mine))
        self.stream_state['last_event_time'] = time.time()
        self.ingest(units, skipped, 'stream')

    # -- status -------------------------------------------------------------------------------------------------
    def status(self):
        depth, oldest = self.store.depth()
        counts = self.counters.snapshot()
        counts['rejected'] = sum(counts[k] for k in REJECTED)
        now = time.time()
        secret_loaded = self.secret.get() is not None
        last = self.ccm['status']
        ok = secret_loaded and (self.ccm['at'] is None or (last is not None and 200 <= last < 300))
        return {
            'status': 'ok' if ok else 'degraded',
            'version': VERSION,
            'pid': os.getpid(),
            'started': round(self.started, 3),
            'spool_depth': depth,
            'spool_commits': self.store.batches,
            'oldest_pending_age_seconds': round(now - oldest, 3) if oldest else 0,
            'counts': counts,
            'last_event_time': round(self.last_event_time, 3) if self.last_event_time else None,
            'last_replay_job_status': self.store.meta('last_replay_job_status'),
            'ccm_answered_last': self.ccm['answered'],
            'ccm_last_status': self.ccm['status'],
            'ccm_last_error': self.ccm['error'],
            'ccm_last_attempt': round(self.ccm['at'], 3) if self.ccm['at'] else None,
            'secret_loaded': secret_loaded,
            'stream': dict(self.stream_state),
            'max_age_days': self.config['max_age_days'],
            'dedupe_hours': self.config['dedupe_hours'],
        }


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------

class BridgeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, handler, bridge):
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        self.bridge = bridge
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # Small answers: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms each.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        LOG.exception('error while handling a request')


class _Base(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'ccm-twitter-bridge'
    sys_version = ''
    timeout = 75

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        return  # no access log: nginx has one, and request lines carry CRC tokens

    def reply(self, status, body, close=False):
        data = json.dumps(body, separators=(',', ':')).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-store')
        if close:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)


class WebhookHandler(_Base):
    def _refuse(self, counter, status, message, close=False):
        bridge = self.server.bridge
        bridge.counters.add(counter)
        peer = self.headers.get('X-Real-IP') or self.client_address[0]
        bridge.log_limited(counter, logging.WARNING, 'refused %s from %s: %s', self.command, peer, message)
        self.reply(status, {'error': message}, close=close)

    def do_GET(self):
        bridge = self.server.bridge
        parts = urlsplit(self.path)
        if parts.path != bridge.config['webhook_path']:
            self.reply(404, {'error': 'not found'})
            return
        try:
            params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            params = {}
        tokens = params.get('crc_token') or []
        if len(tokens) != 1 or not valid_crc_token(tokens[0]):
            self._refuse('rejected_crc', 400, 'crc_token must be 16-128 characters of the base64/base64url alphabet')
            return
        signed = bridge.secret.sign(tokens[0])
        if signed is None:
            self.reply(503, {'error': 'consumer secret not loaded'})
            return
        bridge.counters.add('crc_answered')
        self.reply(200, {'response_token': signed})

    def do_POST(self):
        bridge = self.server.bridge
        if urlsplit(self.path).path != bridge.config['webhook_path']:
            self.reply(404, {'error': 'not found'}, close=True)
            return
        bridge.counters.add('received')
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            self._refuse('rejected_malformed', 411, 'Content-Length required', close=True)
            return
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            self._refuse('rejected_malformed', 411, 'Content-Length required', close=True)
            return
        if length < 0:
            self._refuse('rejected_malformed', 400, 'bad Content-Length', close=True)
            return
        if length > bridge.config['max_body_bytes']:
            # Read (and forget) a moderately large body so the proxy sees the 413 rather than a reset.
            if length <= 16 * bridge.config['max_body_bytes']:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self._refuse('rejected_size', 413, 'body larger than %d bytes' % bridge.config['max_body_bytes'],
                         close=True)
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        if not check_signature(bridge.secret, body, self.headers.get(SIGNATURE_HEADER)):
            self._refuse('rejected_signature', 401, 'missing or invalid %s' % SIGNATURE_HEADER)
            return
        try:
            doc = json.loads(body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            doc = None
        if not isinstance(doc, dict):
            self._refuse('rejected_malformed', 400, 'body is not a JSON object')
            return
        try:
            units, skipped = classify(body, doc)
        except Exception:  # pylint: disable=broad-except
            # A shape the translator does not expect: say so loudly, but do not make X retry a body that will
            # fail the same way every time.
            LOG.exception('could not translate a signed delivery; acknowledged and dropped')
            units, skipped = [], {'untranslatable': 1}
        if not bridge.ingest(units, skipped, 'webhook'):
            self.reply(503, {'error': 'could not store the event, retry'})
            return
        self.reply(200, {'status': 'ok'})

    def do_PUT(self):
        self.reply(405, {'error': 'method not allowed'}, close=True)

    do_DELETE = do_PATCH = do_PUT


class StatusHandler(_Base):
    def do_GET(self):
        if urlsplit(self.path).path not in ('/', '/health', '/status'):
            self.reply(404, {'error': 'not found'})
            return
        try:
            status = self.server.bridge.status()
        except sqlite3.Error as exc:
            self.reply(500, {'status': 'error', 'error': str(exc)})
            return
        self.reply(200, status)


# --------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------

class _JournalFormatter(logging.Formatter):
    """Under systemd, stderr goes to journald: a <N> prefix gives each line its syslog priority."""

    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record):
        return '<%d>%s' % (self.PRIORITIES.get(record.levelno, 6), super().format(record))


def _setup_logging():
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get('JOURNAL_STREAM'):
        handler.setFormatter(_JournalFormatter('%(message)s'))
    else:
        handler.setFormatter(logging.Formatter('%(levelname)s %(message)s'))
    LOG.addHandler(handler)
    LOG.propagate = False


def _write_ready(path, payload):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)


def main(argv=None):
    import argparse  # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser(description='X webhook deliveries (AAA or XAA) -> CCM in the AAA format.')
    parser.add_argument('--config', required=True, help='JSON config file (see docs/bridge.md)')
    parser.add_argument('--check-config', action='store_true', help='validate config and secret, then exit')
    parser.add_argument('--ready-file', help='write {"port", "status_port", "pid"} here once listening')
    parser.add_argument('--version', action='version', version=VERSION)
    args = parser.parse_args(argv)
    os.umask(0o077)
    # Threads blocked on I/O (the forwarder, answers waiting for their commit) get the GIL back sooner than after
    # the default 5 ms, so a busy ingest does not starve the forwarder.
    sys.setswitchinterval(0.001)
    _setup_logging()
    try:
        config = load_config(args.config)
        LOG.setLevel(config['log_level'].upper())
        if args.check_config:
            Secret(config['secret_env_file'], config['secret_file'], config['secret_env_var']).load()
            if config['stream']:
                read_private_file(config['stream']['bearer_token_file'], 'bearer token file')
            sys.stdout.write('config OK\n')
            return 0
        bridge = Bridge(config)
        bridge.start()
    except ConfigError as exc:
        LOG.error('%s', exc)
        return 2
    except (OSError, sqlite3.Error) as exc:
        LOG.error('cannot start: %s', exc)
        return 1

    hup = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: bridge.stop_event.set())
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    if args.ready_file:
        _write_ready(args.ready_file, {'port': bridge.http.server_address[1],
                                       'status_port': bridge.status_http.server_address[1], 'pid': os.getpid()})
    tick = 0
    while not bridge.stop_event.wait(1.0):
        tick += 1
        if hup.is_set():
            hup.clear()
            bridge.secret.reload('SIGHUP')
        bridge.housekeeping(tick)
    bridge.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
