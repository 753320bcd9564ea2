"""In-memory state of the emulator: seeded apps and users, webhooks, subscriptions, nonces,
rate-limit buckets, injected faults and the request log. One lock guards all of it."""

import calendar
import copy
import re
import threading
import time

from xemu.oauth import bearer_matches

TWITTER_EPOCH_MS = 1288834974657


def v1_timestamp(epoch):
    """v1.1 created_timestamp, e.g. "2019-09-13 12:34:47 +0000" (OBS format)."""
    return time.strftime('%Y-%m-%d %H:%M:%S +0000', time.gmtime(epoch))


def parse_iso(value):
    """Epoch seconds of an ISO 8601 UTC time such as 2027-01-01T00:00:00Z (fraction and offset +00:00 allowed)."""
    text = str(value).strip()
    if text.endswith('Z'):
        text = text[:-1]
    elif text.endswith('+00:00'):
        text = text[:-6]
    fraction = 0.0
    if '.' in text:
        text, _dot, digits = text.partition('.')
        fraction = float('0.' + digits) if digits.isdigit() else 0.0
    return calendar.timegm(time.strptime(text, '%Y-%m-%dT%H:%M:%S')) + fraction


def iso(epoch):
    """2027-01-01T00:00:00Z."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def v2_timestamp(epoch):
    """v2 created_at, e.g. "2025-01-15T12:00:00.000Z"."""
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + '.%03dZ' % (int(epoch * 1000) % 1000)


class State:
    """Everything the API server knows; methods are thread-safe."""

    def __init__(self, seed, crc_ca_bundle=None, resolve=None):
        self.lock = threading.RLock()
        self.crc_ca_bundle = crc_ca_bundle
        self.resolve = dict(resolve or {})
        self.clock_offset = 0.0
        # Moves the emulator's calendar (control ``clock``) without breaking OAuth timestamps, see now().
        self.date_offset = 0.0
        self._seq = 0
        self.load(seed)

    # -- seed and reset -------------------------------------------------------------------
    def load(self, seed):
        with self.lock:
            self.seed = copy.deepcopy(seed)
            self.settings = self.seed['settings']
            self.apps = {app['consumer_key']: app for app in self.seed['apps']}
            self.users = list(self.seed['users'])
            self.webhooks = {}
            self.nonces = {}
            self.buckets = {}
            self.faults = []
            self.log = []
            self.log_seq = 0
            self.oauth2_tokens = list(self.seed.get('oauth2_user_tokens') or [])
            # X Activity API: subscription id -> subscription (see xemu.xaa).
            self.xaa_subs = {}
            # Every webhook POST made or attempted (AAA, XAA, replays), for replay jobs and tests.
            self.deliveries = []
            self.delivery_seq = 0
            self.replay_jobs = {}
            # Activity stream: per app, the recent events (backfill) and the open connections' queues.
            self.stream_events = {}
            self.stream_queues = {}
            self.epoch = getattr(self, 'epoch', 0) + 1

    # -- lookups -------------------------------------------------------------------------------
    def now(self):
        """The emulator clock: real time + clock_offset + date_offset (control ``clock``)."""
        return time.time() + self.clock_offset + self.date_offset

    def auth_now(self):
        """The clock OAuth timestamps and the Date header follow: real time + clock_offset (a skew knob).
        Moving the calendar with date_offset must not make every real client's oauth_timestamp invalid."""
        return time.time() + self.clock_offset

    def aaa_end(self):
        return parse_iso(self.settings['aaa_end'])

    def aaa_ended(self):
        return self.now() >= self.aaa_end()

    def oauth2_user(self, token):
        """(app, user, scopes) of a seeded OAuth 2.0 user token, or None."""
        for entry in self.oauth2_tokens:
            if token and entry['access_token'] == token:
                app = self.apps.get(entry['app']) if entry['app'] else next(iter(self.apps.values()), None)
                user = next((u for u in self.users if u['id'] == entry['user_id']), None)
                if app is not None and user is not None:
                    return app, user, list(entry['scopes'])
        return None

    def app_by_key(self, key):
        return self.apps.get(key)

    def app_by_bearer(self, token):
        if not token:
            return None
        for app in self.apps.values():
            if bearer_matches(app['bearer_token'], token):
                return app
        return None

    def user_by_token(self, token, app):
        for user in self.users:
            if user['access_token'] == token and user['app'] in ('', app['consumer_key']):
                return user
        return None

    def user_by_username(self, username):
        for user in self.users:
            if user['username'].lower() == username.lower():
                return user
        return None

    def env(self, app, label):
        """Environment labels are case-sensitive (x-api.md 1.1)."""
        for env in app['environments']:
            if env['label'] == label:
                return env
        return None

    def remember_nonce(self, app, token, nonce, timestamp):
        """False when the nonce was already used with this key and token (a replay)."""
        key = (app['consumer_key'], token, nonce)
        with self.lock:
            horizon = self.auth_now() - 2 * self.settings['timestamp_skew']
            if len(self.nonces) > 10000:
                self.nonces = {k: v for k, v in self.nonces.items() if v >= horizon}
            if key in self.nonces:
                return False
            self.nonces[key] = timestamp
            return True

    # -- webhooks ------------------------------------------------------------------------------
    def new_id(self):
        """A 19-digit snowflake-like id string."""
        with self.lock:
            self._seq = (self._seq + 1) % 4096
            millis = int(time.time() * 1000) - TWITTER_EPOCH_MS
            return str((millis << 22) | (7 << 12) | self._seq)

    def webhooks_for(self, app, generation, env=None):
        with self.lock:
            return [hook for hook in self.webhooks.values()
                    if hook['app'] == app['consumer_key'] and hook['generation'] == generation
                    and (env is None or hook['env'] == env)]

    def webhook(self, app, generation, webhook_id, env=None):
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None or hook['app'] != app['consumer_key'] or hook['generation'] != generation:
                return None
            if env is not None and hook['env'] != env:
                return None
            return hook

    def add_webhook(self, app, generation, url, env=None):
        with self.lock:
            hook = {'id': self.new_id(), 'generation': generation, 'app': app['consumer_key'], 'env': env,
                    'url': url, 'valid': True, 'created': self.now(), 'subscriptions': []}
            self.webhooks[hook['id']] = hook
            return hook

    def delete_webhook(self, webhook_id):
        """Deleting a webhook drops its subscriptions with it (DOC)."""
        with self.lock:
            return self.webhooks.pop(webhook_id, None)

    @staticmethod
    def render_v1(hook):
        return {'id': hook['id'], 'url': hook['url'], 'valid': hook['valid'],
                'created_timestamp': v1_timestamp(hook['created'])}

    @staticmethod
    def render_v2(hook):
        return {'created_at': v2_timestamp(hook['created']), 'id': hook['id'], 'url': hook['url'], 'valid': hook['valid']}

    # -- rate limits ---------------------------------------------------------------------------
    def _bucket(self, app_key, family):
        limit = int(self.settings['rate_limits'].get(family, 900))
        now = self.auth_now()
        bucket = self.buckets.get((app_key, family))
        if bucket is None or bucket['reset'] <= now:
            bucket = {'limit': limit, 'remaining': limit, 'reset': int(now) + self.settings['rate_limit_window']}
            self.buckets[(app_key, family)] = bucket
        return bucket

    def consume(self, app_key, family):
        """Take one request from the bucket; returns (allowed, headers)."""
        with self.lock:
            bucket = self._bucket(app_key, family)
            allowed = bucket['remaining'] > 0
            if allowed:
                bucket['remaining'] -= 1
            return allowed, self.rate_headers(bucket)

    def peek(self, app_key, family):
        with self.lock:
            return self.rate_headers(self._bucket(app_key, family))

    def fresh_headers(self, family):
        limit = int(self.settings['rate_limits'].get(family, 900))
        return self.rate_headers({'limit': limit, 'remaining': limit,
                                  'reset': int(self.auth_now()) + self.settings['rate_limit_window']})

    @staticmethod
    def rate_headers(bucket):
        return {'x-rate-limit-limit': str(bucket['limit']), 'x-rate-limit-remaining': str(bucket['remaining']),
                'x-rate-limit-reset': str(int(bucket['reset']))}

    def set_rate_limit(self, family, remaining=None, reset=None, limit=None, consumer_key=None):
        """Control interface: force a bucket's remaining/reset (all apps unless a key is given)."""
        with self.lock:
            if limit is not None:
                self.settings['rate_limits'][family] = int(limit)
            keys = [consumer_key] if consumer_key else list(self.apps)
            result = {}
            for key in keys:
                bucket = self._bucket(key, family)
                if limit is not None:
                    bucket['limit'] = int(limit)
                    bucket['remaining'] = min(bucket['remaining'], int(limit))
                if remaining is not None:
                    bucket['remaining'] = int(remaining)
                if reset is not None:
                    bucket['reset'] = int(reset)
                result[key] = dict(bucket)
            return result

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, spec):
        fault = {
            'method': (spec.get('method') or '*').upper(),
            'path_regex': spec.get('path_regex') or '.*',
            'count': int(spec.get('count', 1)),
            'status': spec.get('status'),
            'body': spec.get('body'),
            'headers': dict(spec.get('headers') or {}),
            'delay': float(spec.get('delay') or 0),
            'drop': bool(spec.get('drop', False)),
        }
        re.compile(fault['path_regex'])
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method, path):
        """The first fault matching this request, with its count decremented."""
        with self.lock:
            for fault in self.faults:
                if fault['count'] <= 0:
                    continue
                if fault['method'] not in ('*', method) or not re.search(fault['path_regex'], path):
                    continue
                fault['count'] -= 1
                taken = dict(fault)
                self.faults = [f for f in self.faults if f['count'] > 0]
                return taken
        return None

    # -- request log ---------------------------------------------------------------------------
    def record(self, entry):
        with self.lock:
            self.log_seq += 1
            entry['seq'] = self.log_seq
            self.log.append(entry)

    def request_log(self):
        with self.lock:
            entries = [dict(e) for e in self.log]
        by_family, by_route, by_status = {}, {}, {}
        for entry in entries:
            by_family[entry['family']] = by_family.get(entry['family'], 0) + 1
            route = '%s %s' % (entry['method'], entry['path'])
            by_route[route] = by_route.get(route, 0) + 1
            status = str(entry['status'])
            by_status[status] = by_status.get(status, 0) + 1
        counts = {'total': len(entries), 'by_family': by_family, 'by_route': by_route, 'by_status': by_status}
        return {'requests': entries, 'counts': counts}

    def clear_log(self):
        with self.lock:
            self.log = []

    # -- snapshot ------------------------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            hooks, subs = [], []
            for hook in self.webhooks.values():
                app = self.apps.get(hook['app'], {})
                hooks.append({'id': hook['id'], 'generation': hook['generation'], 'app': app.get('name'),
                              'consumer_key': hook['app'], 'env': hook['env'], 'url': hook['url'],
                              'valid': hook['valid'], 'created_timestamp': v1_timestamp(hook['created']),
                              'subscriptions': list(hook['subscriptions'])})
                for user_id in hook['subscriptions']:
                    subs.append({'webhook_id': hook['id'], 'generation': hook['generation'], 'app': app.get('name'),
                                 'env': hook['env'], 'user_id': user_id})
            return {'webhooks': hooks, 'subscriptions': subs,
                    'activity_subscriptions': [copy.deepcopy(sub) for sub in self.xaa_subs.values()],
                    'config': {'crc_ca_bundle': self.crc_ca_bundle, 'resolve': dict(self.resolve),
                               'clock_offset': self.clock_offset, 'date_offset': self.date_offset,
                               'settings': copy.deepcopy(self.settings)},
                    'faults': [dict(f) for f in self.faults]}

    def clock(self):
        now = self.now()
        return {'now': iso(now), 'epoch': round(now, 3), 'clock_offset': self.clock_offset,
                'date_offset': self.date_offset, 'aaa_end': self.settings['aaa_end'], 'aaa_ended': self.aaa_ended()}
