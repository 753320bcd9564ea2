"""Activity events and their signed delivery to webhooks.

Account Activity (AAA) payloads follow x-api.md 4.5; X Activity API (XAA) envelopes follow xaa.md 2.2/2.3.
One Direct Message has one event id in every delivery (AAA and XAA alike), so a receiver can dedupe on it.
Every POST made or attempted is recorded in ``state.deliveries`` (control ``deliveries``, replay jobs).
"""

import http.client
import json
import secrets
import time

from xemu import crc, stream
from xemu.state import iso

DEFAULT_IMAGE = 'https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png'
CREATED_MS = 1422556069340
# Event kinds of the control interface: AAA payload key and XAA event types (by the subscribed side).
KINDS = {
    'dm': ('direct_message_events', {'recipient': 'dm.received', 'sender': 'dm.sent'}),
    'read': ('direct_message_mark_read_events', {'recipient': 'dm.read'}),
    'typing': ('direct_message_indicate_typing_events', {'recipient': 'dm.indicate_typing'}),
}


def _user_object(user, fallback_id):
    """A v1.1 user object (AAA ``users`` map)."""
    if user is None:
        return {'id': fallback_id, 'created_timestamp': str(CREATED_MS), 'name': 'User %s' % fallback_id,
                'screen_name': 'user_%s' % fallback_id[-6:], 'protected': False, 'verified': False,
                'followers_count': 0, 'friends_count': 0, 'statuses_count': 0,
                'profile_image_url_https': DEFAULT_IMAGE}
    return {'id': user['id'], 'created_timestamp': str(CREATED_MS), 'name': user['name'],
            'screen_name': user['username'], 'protected': False, 'verified': False, 'followers_count': 22,
            'friends_count': 45, 'statuses_count': 494, 'profile_image_url_https': DEFAULT_IMAGE}


def v2_user_object(user, fallback_id):
    """A v2 user object (XAA ``payload.users[id].data``): the v1.1 fields under their v2 names."""
    v1 = _user_object(user, fallback_id)
    return {'id': v1['id'], 'name': v1['name'], 'username': v1['screen_name'],
            'profile_image_url': v1['profile_image_url_https'].replace('https://abs.twimg.com', 'https://pbs.twimg.com'),
            'protected': False, 'verified': False, 'verified_type': 'none',
            'created_at': time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(CREATED_MS // 1000)),
            'public_metrics': {'followers_count': v1['followers_count'], 'following_count': v1['friends_count'],
                               'tweet_count': v1['statuses_count'], 'listed_count': 0, 'like_count': 0}}


def _users(state, ids):
    known = {u['id']: u for u in state.users}
    return {uid: known.get(uid) for uid in ids}


def dm_event(state, app, for_user_id, sender_id, text, event_id=None, recipient_id=None):
    """A realistic direct_message_events payload for ``for_user_id`` (the subscribed account)."""
    recipient_id = recipient_id or for_user_id
    return {
        'for_user_id': for_user_id,
        'direct_message_events': [dm_object(state, app, sender_id, recipient_id, text, event_id or state.new_id())],
        'apps': {app['id']: {'id': app['id'], 'name': app['name'], 'url': 'https://x.com/%s' % app['account_name']}},
        'users': {uid: _user_object(u, uid) for uid, u in _users(state, (sender_id, recipient_id)).items()},
    }


def dm_object(state, app, sender_id, recipient_id, text, event_id, created_ms=None):
    return {
        'type': 'message_create',
        'id': event_id,
        'created_timestamp': str(created_ms or int(state.now() * 1000)),
        'message_create': {
            'target': {'recipient_id': recipient_id},
            'sender_id': sender_id,
            'source_app_id': app['id'],
            'message_data': {
                'text': text,
                'entities': {'hashtags': [], 'symbols': [], 'user_mentions': [], 'urls': []},
            },
        },
    }


def xaa_envelope(sub, event_type, payload, event_uuid):
    data = {'event_uuid': event_uuid, 'filter': dict(sub['filter']), 'event_type': event_type}
    if sub.get('tag') is not None:
        data['tag'] = sub['tag']
    data['payload'] = payload
    return {'data': data}


def new_event_uuid():
    """X's DM samples carry negative 64-bit numbers as event_uuid (xaa.md 2.3)."""
    return '-%d' % (secrets.randbits(63) or 1)


# -- the POST and its record ---------------------------------------------------------------------------

def post(state, app, url, body, signature=None, timeout=None, tamper=False):
    """POST ``body`` signed with the app's consumer secret. Returns a result dict (status None = not reached)."""
    signature = signature or crc.sign(app['consumer_secret'], body)
    if tamper:
        # Sign one body and send another: the receiver must reject it.
        body = body.replace(b'"text":"', b'"text":"TAMPERED ', 1)
    headers = {'Content-Type': 'application/json', 'x-twitter-webhooks-signature': signature,
               'User-Agent': 'xemu-delivery/1.0'}
    start = time.monotonic()
    timeout = float(timeout if timeout is not None else state.settings.get('delivery_timeout', 10.0))
    try:
        status, _headers, resp_body, _elapsed = crc.http_request(url, 'POST', headers, body, state.crc_ca_bundle,
                                                                 state.resolve, timeout)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return {'status': None, 'error': '%s: %s' % (type(exc).__name__, exc), 'url': url, 'signature': signature,
                'elapsed': round(time.monotonic() - start, 3)}
    return {'status': status, 'body': resp_body.decode('utf-8', 'replace')[:2000], 'url': url,
            'signature': signature, 'elapsed': round(time.monotonic() - start, 3)}


def record(state, result, webhook_id, app, product, body, event_type=None, event_id=None, event_uuid=None,
           for_user_id=None, replay_job=None):
    """Remember a delivery made or attempted (kept for replay jobs: the body, not the signature)."""
    with state.lock:
        state.delivery_seq += 1
        state.deliveries.append({
            'seq': state.delivery_seq, 'time': state.now(), 'webhook_id': webhook_id, 'url': result['url'],
            'app': app['consumer_key'], 'product': product, 'event_type': event_type, 'event_id': event_id,
            'event_uuid': event_uuid, 'for_user_id': for_user_id, 'status': result['status'],
            'ok': result['status'] is not None and 200 <= result['status'] < 300, 'error': result.get('error'),
            'replay_job': replay_job, 'body': body})
        del state.deliveries[:-10000]


def deliveries(state):
    """Control ``GET deliveries``: every attempt (with its JSON payload) and per-webhook counts."""
    with state.lock:
        entries = [dict(d) for d in state.deliveries]
    counts = {}
    for entry in entries:
        body = entry.pop('body')
        entry['payload'] = json.loads(body.decode('utf-8'))
        entry['time'] = iso(entry['time'])
        key = entry['webhook_id'] or entry['url']
        bucket = counts.setdefault(key, {'delivered': 0, 'failed': 0})
        bucket['delivered' if entry['ok'] else 'failed'] += 1
    return {'deliveries': entries, 'counts': counts}


def _deliver_recorded(state, app, hook, product, payload, **meta):
    body = json.dumps(payload, separators=(',', ':')).encode('utf-8')
    result = post(state, app, hook['url'], body)
    record(state, result, hook['id'], app, product, body, **meta)
    result.update({'webhook_id': hook['id'], 'product': product})
    result.update({k: v for k, v in meta.items() if v is not None})
    return result


# -- fan-out ----------------------------------------------------------------------------------------------

def _activity_payload(state, app, kind, sender_id, recipient_id, event_id, spec):
    """The inner objects of one activity (shared by AAA and XAA)."""
    now_ms = int(state.now() * 1000)
    if kind == 'dm':
        return [dm_object(state, app, sender_id, recipient_id, spec.get('text', 'Hello World!'), event_id, now_ms)]
    item = {'created_timestamp': str(now_ms), 'sender_id': sender_id, 'target': {'recipient_id': recipient_id}}
    if kind == 'read':
        item['last_read_event_id'] = str(spec.get('last_read_event_id') or event_id)
    return [item]


def fan_out_xaa(state, kind, sender_id, recipient_id, event_id, spec):
    """Deliver one activity to every XAA subscription for it (webhook and stream). Returns the webhook results."""
    key, sides = KINDS[kind]
    users = _users(state, (sender_id, recipient_id))
    results = []
    with state.lock:
        subs = list(state.xaa_subs.values())
    for side, event_type in sides.items():
        user_id = recipient_id if side == 'recipient' else sender_id
        for sub in subs:
            if sub['event_type'] != event_type or sub['filter'].get('user_id') != user_id:
                continue
            app = state.apps.get(sub['app'])
            if app is None:
                continue
            objects = _activity_payload(state, app, kind, sender_id, recipient_id, event_id, spec)
            if kind == 'dm':
                # XAA's DM objects carry no source_app_id and there is no apps map (xaa.md 2.3).
                objects[0]['message_create'].pop('source_app_id', None)
            payload = {key: objects, 'users': {uid: {'data': v2_user_object(u, uid)} for uid, u in users.items()}}
            event_uuid = new_event_uuid()
            envelope = xaa_envelope(sub, event_type, payload, event_uuid)
            stream.push(state, app['consumer_key'], envelope)
            hook = state.webhooks.get(sub['webhook_id']) if sub.get('webhook_id') else None
            if hook is None:
                continue
            if not hook['valid']:
                # X sends no events to a webhook marked invalid: not attempted, not replayable.
                results.append({'status': None, 'skipped': 'webhook is invalid', 'webhook_id': hook['id'],
                                'product': 'xaa', 'event_type': event_type})
                continue
            results.append(_deliver_recorded(state, app, hook, 'xaa', envelope, event_type=event_type,
                                             event_id=event_id, event_uuid=event_uuid, for_user_id=user_id))
    return results


def fan_out_aaa(state, kind, sender_id, recipient_id, event_id, spec):
    """Deliver to every valid AAA webhook (v1.1 and v2) where a party is subscribed (the recipient only for
    read receipts and typing indicators)."""
    key, sides = KINDS[kind]
    parties = [recipient_id] if 'sender' not in sides else [recipient_id, sender_id]
    users = _users(state, (sender_id, recipient_id))
    results = []
    with state.lock:
        hooks = [h for h in state.webhooks.values() if h['subscriptions']]
    for hook in hooks:
        app = state.apps.get(hook['app'])
        for user_id in parties:
            if user_id not in hook['subscriptions'] or app is None:
                continue
            if not hook['valid']:
                results.append({'status': None, 'skipped': 'webhook is invalid', 'webhook_id': hook['id'],
                                'product': 'aaa'})
                continue
            payload = {'for_user_id': user_id,
                       key: _activity_payload(state, app, kind, sender_id, recipient_id, event_id, spec)}
            if kind == 'dm':
                payload['apps'] = {app['id']: {'id': app['id'], 'name': app['name'],
                                               'url': 'https://x.com/%s' % app['account_name']}}
            payload['users'] = {uid: _user_object(u, uid) for uid, u in users.items()}
            results.append(_deliver_recorded(state, app, hook, 'aaa', payload, event_id=event_id, for_user_id=user_id))
    return results


def _aaa_end_note(state):
    return 'the Account Activity API ended on %s (emulator clock %s)' % (state.settings['aaa_end'], iso(state.now()))


def activity(state, kind, spec):
    """Control ``deliver_read`` / ``deliver_typing`` (and ``deliver`` without a target): one activity between
    two users, fanned out to AAA (until its end) and XAA subscribers."""
    sender_id = str(spec.get('sender_id') or '')
    recipient_id = str(spec.get('recipient_id') or spec.get('for_user_id') or '')
    if not sender_id or not recipient_id:
        return 400, {'error': 'give sender_id and recipient_id'}
    event_id = str(spec.get('event_id') or state.new_id())
    result = {'event_id': event_id, 'aaa_ended': state.aaa_ended()}
    if result['aaa_ended']:
        result['aaa'] = []
        result['aaa_skipped'] = _aaa_end_note(state)
    else:
        result['aaa'] = fan_out_aaa(state, kind, sender_id, recipient_id, event_id, spec)
    result['xaa'] = fan_out_xaa(state, kind, sender_id, recipient_id, event_id, spec)
    return 200, result


def deliver(state, spec):
    """Control ``deliver``: a DM. With ``webhook_id`` or ``url``: the AAA payload to that one webhook (test
    knobs: ``payload``, ``signature``, ``tamper``, ``respect_valid``), plus the XAA fan-out. Without a target:
    the fan-out to every AAA and XAA subscriber (``activity``)."""
    if not spec.get('webhook_id') and not spec.get('url'):
        if not spec.get('recipient_id') and not spec.get('for_user_id'):
            return 400, {'error': 'give webhook_id, url, or recipient_id (and sender_id)'}
        spec = dict(spec)
        spec.setdefault('sender_id', next((u['id'] for u in state.users
                                           if u['id'] != str(spec.get('recipient_id') or spec.get('for_user_id'))),
                                          '3001969357'))
        return activity(state, 'dm', spec)
    hook = None
    if spec.get('webhook_id'):
        hook = state.webhooks.get(str(spec['webhook_id']))
        if hook is None:
            return 404, {'error': 'unknown webhook_id %s' % spec['webhook_id']}
    url = spec.get('url') or hook['url']
    app_key = spec.get('consumer_key') or (hook and hook['app']) or next(iter(state.apps), None)
    app = state.apps.get(app_key)
    if app is None:
        return 400, {'error': 'no app to sign with'}
    for_user_id = str(spec.get('for_user_id') or spec.get('recipient_id') or
                      (hook and hook['subscriptions'] and hook['subscriptions'][0]) or state.users[0]['id'])
    sender_id = str(spec.get('sender_id') or next((u['id'] for u in state.users if u['id'] != for_user_id), '3001969357'))
    event_id = str(spec.get('event_id') or state.new_id())
    payload = spec.get('payload') or dm_event(state, app, for_user_id, sender_id, spec.get('text', 'Hello World!'),
                                              event_id)
    if spec.get('xaa', True) and not spec.get('payload'):
        # The same DM reaches XAA subscribers too (same event id): dm.received for the recipient, dm.sent for the
        # sender. A DM sent by the subscribed account itself goes the other way round.
        recipient = payload['direct_message_events'][0]['message_create']['target']['recipient_id']
        xaa = fan_out_xaa(state, 'dm', sender_id, recipient, event_id, spec)
    else:
        xaa = []
    if hook is not None and spec.get('respect_valid') and not hook['valid']:
        # X sends no events to a webhook marked invalid.
        return 200, {'status': None, 'skipped': 'webhook is invalid', 'webhook_valid': False, 'xaa': xaa,
                     'event_id': event_id}
    if state.aaa_ended():
        return 200, {'status': None, 'skipped': _aaa_end_note(state), 'aaa_ended': True, 'xaa': xaa,
                     'event_id': event_id, 'webhook_valid': hook['valid'] if hook else None}
    body = json.dumps(payload, separators=(',', ':')).encode('utf-8')
    result = post(state, app, url, body, spec.get('signature'), spec.get('timeout'), bool(spec.get('tamper')))
    record(state, result, hook['id'] if hook else None, app, 'aaa', body, event_id=event_id, for_user_id=for_user_id)
    if result['status'] is None:
        return 502, dict(result, xaa=xaa, event_id=event_id)
    result.update({'payload': payload, 'webhook_valid': hook['valid'] if hook else None, 'xaa': xaa,
                   'event_id': event_id, 'aaa_ended': False})
    return 200, result
