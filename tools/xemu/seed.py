"""Seed loading and normalisation (JSON or YAML) with the documented defaults."""

import copy
import json
import os

import yaml

DEFAULT_SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'seeds', 'default.yml')

# Requests per 15-minute window, per app and endpoint family (x-api.md sections 2, 5, 7).
DEFAULT_RATE_LIMITS = {
    'v1.webhooks.register': 15,
    'v1.webhooks.list_all': 15,
    'v1.webhooks.list_env': 15,
    'v1.webhooks.validate': 15,
    'v1.webhooks.delete': 15,
    'v1.subscriptions': 500,
    'v1.subscriptions.count': 15,
    'v1.subscriptions.list': 50,
    'v1.subscriptions.delete': 500,
    'v1.verify_credentials': 75,
    'v2.webhooks.create': 450,
    'v2.webhooks.list': 450,
    'v2.webhooks.validate': 450,
    'v2.webhooks.delete': 450,
    'v2.subscriptions': 500,
    'v2.subscriptions.list': 50,
    'v2.subscriptions.delete': 500,
    'v2.subscriptions.count': 15,
    'users.by_username': 300,
    'users.me': 75,
    'oauth2.token': 450,
    # X Activity API (xaa.md 1.1); the bulk delete is not listed by X (UNCONFIRMED, we use 500).
    'xaa.subscriptions.create': 500,
    'xaa.subscriptions.list': 500,
    'xaa.subscriptions.update': 500,
    'xaa.subscriptions.delete': 500,
    'xaa.subscriptions.delete_bulk': 500,
    'xaa.stream': 450,
    'v2.webhooks.replay': 100,
}

DEFAULT_SETTINGS = {
    'timestamp_skew': 300,
    'crc_timeout': 3.0,
    'rate_limit_window': 900,
    'nonce_check': True,
    # Status used for the "does not meet the requirements" 214 family (OBS: 400) and the quota 214 (DOC: 403).
    'crc_error_status': 400,
    'url_error_status': 400,
    'quota_error_status': 403,
    # Duplicate v1.1 subscription: code 355 (UNCONFIRMED number) with HTTP 409.
    'duplicate_subscription_status': 409,
    # End of the Account Activity API on the emulator clock (xaa.md 3.4): AAA delivers nothing from then on and
    # its subscription endpoints answer 410.
    'aaa_end': '2027-01-01T00:00:00Z',
    # XAA choices where X is UNCONFIRMED (docs/emulator.md "Decisions"):
    'xaa_duplicate': 'conflict',        # conflict (409) | invalid (400 DuplicateSubscriptionFailed) | existing (200)
    'xaa_cap_status': 400,              # status of SubscriptionLimitExceeded (400 invalid-request or 403)
    'xaa_response_shape': 'nested',     # nested: data.subscription | flat: data is the subscription
    'xaa_response_meta': False,         # add meta.total_subscriptions to create/update/delete answers
    'xaa_page_size': 100,               # default max_results of GET /2/activity/subscriptions
    'stream_keepalive': 20.0,           # seconds between keep-alive newlines on /2/activity/stream
    'stream_max_connections': 2,
    'replay_delay': 0.0,                # seconds a replay job waits before it re-delivers (tests: conflicts)
    'delivery_timeout': 10.0,           # seconds per webhook POST
}


class SeedError(ValueError):
    """The seed file is malformed."""


def load_seed_file(path):
    """Read a seed file (YAML is a superset of JSON, so one parser serves both)."""
    with open(path, 'r', encoding='utf-8') as handle:
        text = handle.read()
    if path.endswith('.json'):
        return json.loads(text)
    return yaml.safe_load(text) or {}


def _require(item, key, what):
    value = item.get(key)
    if value in (None, ''):
        raise SeedError('%s is missing %r' % (what, key))
    return str(value)


def normalize_seed(raw):
    """Return a new seed dict with every default filled in and every id a string."""
    if not isinstance(raw, dict):
        raise SeedError('the seed must be a mapping')
    seed = {'apps': [], 'users': [], 'settings': {}}
    for index, app in enumerate(raw.get('apps') or []):
        what = 'apps[%d]' % index
        envs = []
        for env in app.get('environments') or []:
            if isinstance(env, str):
                env = {'label': env}
            envs.append({
                'label': _require(env, 'label', what + ' environment'),
                'max_webhooks': int(env.get('max_webhooks', 1)),
                'max_subscriptions': int(env.get('max_subscriptions', 15)),
            })
        v2 = app.get('v2') or {}
        name = str(app.get('name') or 'app%d' % (index + 1))
        seed['apps'].append({
            'name': name,
            'id': str(app.get('id') or 13090192 + index),
            'account_name': str(app.get('account_name') or name),
            'consumer_key': _require(app, 'consumer_key', what),
            'consumer_secret': _require(app, 'consumer_secret', what),
            'bearer_token': _require(app, 'bearer_token', what),
            'permission': str(app.get('permission') or 'read-write-dm'),
            'environments': envs,
            'v2': {
                'max_webhooks': int(v2.get('max_webhooks', 1)),
                'max_subscriptions': int(v2.get('max_subscriptions', 3)),
            },
            # X Activity API: subscriptions per app (self-serve 1,500; xaa.md 1.5).
            'xaa': {'max_subscriptions': int((app.get('xaa') or {}).get('max_subscriptions', 1500))},
        })
    for index, user in enumerate(raw.get('users') or []):
        what = 'users[%d]' % index
        seed['users'].append({
            'id': _require(user, 'id', what),
            'username': _require(user, 'username', what),
            'name': str(user.get('name') or user['username']),
            'access_token': _require(user, 'access_token', what),
            'access_secret': _require(user, 'access_secret', what),
            'suspended': bool(user.get('suspended', False)),
            # Optional: the consumer key the token was issued for; empty = valid with every app.
            'app': str(user.get('app') or ''),
        })
    users_by_name = {u['username'].lower(): u for u in seed['users']}
    seed['oauth2_user_tokens'] = []
    for index, token in enumerate(raw.get('oauth2_user_tokens') or []):
        what = 'oauth2_user_tokens[%d]' % index
        user_id = str(token.get('user_id') or '')
        if not user_id:
            user = users_by_name.get(_require(token, 'username', what).lower())
            if user is None:
                raise SeedError('%s names an unknown username %r' % (what, token['username']))
            user_id = user['id']
        scopes = token.get('scopes') or []
        if isinstance(scopes, str):
            scopes = scopes.split()
        seed['oauth2_user_tokens'].append({'access_token': _require(token, 'access_token', what), 'user_id': user_id,
                                           'scopes': [str(s) for s in scopes], 'app': str(token.get('app') or '')})
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    raw_settings = raw.get('settings') or {}
    for key, value in raw_settings.items():
        if key != 'rate_limits':
            settings[key] = value
    limits = dict(DEFAULT_RATE_LIMITS)
    limits.update({str(k): int(v) for k, v in (raw_settings.get('rate_limits') or {}).items()})
    settings['rate_limits'] = limits
    settings['timestamp_skew'] = float(settings['timestamp_skew'])
    settings['crc_timeout'] = float(settings['crc_timeout'])
    settings['rate_limit_window'] = int(settings['rate_limit_window'])
    seed['settings'] = settings
    return seed


def load_seed(path=None):
    """Load and normalise a seed file; the bundled default when no path is given."""
    return normalize_seed(load_seed_file(path or DEFAULT_SEED))
