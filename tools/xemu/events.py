"""Account Activity event payloads (x-api.md 4.5) and their signed delivery."""

import http.client
import json
import time

from xemu import crc


def _user_object(user, fallback_id):
    if user is None:
        return {'id': fallback_id, 'created_timestamp': '1422556069340', 'name': 'User %s' % fallback_id,
                'screen_name': 'user_%s' % fallback_id[-6:], 'protected': False, 'verified': False,
                'followers_count': 0, 'friends_count': 0, 'statuses_count': 0,
                'profile_image_url_https': 'https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png'}
    return {'id': user['id'], 'created_timestamp': '1422556069340', 'name': user['name'],
            'screen_name': user['username'], 'protected': False, 'verified': False, 'followers_count': 22,
            'friends_count': 45, 'statuses_count': 494,
            'profile_image_url_https': 'https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png'}


def dm_event(state, app, for_user_id, sender_id, text, event_id=None):
    """A realistic direct_message_events payload for ``for_user_id`` (the subscribed account)."""
    now_ms = int(state.now() * 1000)
    users = {u['id']: u for u in state.users}
    return {
        'for_user_id': for_user_id,
        'direct_message_events': [{
            'type': 'message_create',
            'id': event_id or state.new_id(),
            'created_timestamp': str(now_ms),
            'message_create': {
                'target': {'recipient_id': for_user_id},
                'sender_id': sender_id,
                'source_app_id': app['id'],
                'message_data': {
                    'text': text,
                    'entities': {'hashtags': [], 'symbols': [], 'user_mentions': [], 'urls': []},
                },
            },
        }],
        'apps': {app['id']: {'id': app['id'], 'name': app['name'], 'url': 'https://x.com/%s' % app['account_name']}},
        'users': {uid: _user_object(users.get(uid), uid) for uid in (sender_id, for_user_id)},
    }


def deliver(state, spec):
    """POST a signed event to a webhook (control ``deliver``). Returns a JSON-able result."""
    hook = None
    if spec.get('webhook_id'):
        hook = state.webhooks.get(str(spec['webhook_id']))
        if hook is None:
            return 404, {'error': 'unknown webhook_id %s' % spec['webhook_id']}
    if hook is not None and spec.get('respect_valid') and not hook['valid']:
        # X sends no events to a webhook marked invalid.
        return 200, {'status': None, 'skipped': 'webhook is invalid', 'webhook_valid': False}
    url = spec.get('url') or (hook and hook['url'])
    if not url:
        return 400, {'error': 'give webhook_id or url'}
    app_key = spec.get('consumer_key') or (hook and hook['app']) or next(iter(state.apps), None)
    app = state.apps.get(app_key)
    if app is None:
        return 400, {'error': 'no app to sign with'}
    for_user_id = str(spec.get('for_user_id') or spec.get('recipient_id') or
                      (hook and hook['subscriptions'] and hook['subscriptions'][0]) or state.users[0]['id'])
    sender_id = str(spec.get('sender_id') or next((u['id'] for u in state.users if u['id'] != for_user_id), '3001969357'))
    payload = spec.get('payload') or dm_event(state, app, for_user_id, sender_id, spec.get('text', 'Hello World!'))
    body = json.dumps(payload, separators=(',', ':')).encode('utf-8')
    signature = spec.get('signature') or crc.sign(app['consumer_secret'], body)
    if spec.get('tamper'):
        # Sign one body and send another: the receiver must reject it.
        body = body.replace(b'"text":"', b'"text":"TAMPERED ', 1)
    headers = {'Content-Type': 'application/json', 'x-twitter-webhooks-signature': signature,
               'User-Agent': 'xemu-delivery/1.0'}
    start = time.monotonic()
    try:
        status, _headers, resp_body, _elapsed = crc.http_request(
            url, 'POST', headers, body, state.crc_ca_bundle, state.resolve, float(spec.get('timeout', 10)))
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return 502, {'status': None, 'error': '%s: %s' % (type(exc).__name__, exc), 'url': url}
    return 200, {'status': status, 'body': resp_body.decode('utf-8', 'replace')[:2000], 'url': url,
                 'elapsed': round(time.monotonic() - start, 3), 'payload': payload, 'signature': signature,
                 'webhook_valid': hook['valid'] if hook else None}
