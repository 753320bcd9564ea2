"""X Activity API (XAA) subscriptions: /2/activity/subscriptions (xaa.md sections 1.1-1.6).

Where X has not documented a behaviour (error bodies of duplicates and the cap, response envelopes,
pagination), the choice made here is listed in docs/emulator.md ("Decisions where X is unconfirmed")
and, where cheap, switchable through the settings (control ``config``).
"""

import base64
import binascii
import json
import re

from xemu import errors as E
from xemu.errors import Response
from xemu.state import v2_timestamp

OAUTH1, BEARER, OAUTH2 = 'oauth1', 'bearer', 'oauth2user'
ID_RE = re.compile(r'^[0-9]{1,19}$')
TOKEN_RE = re.compile(r'^[0-9A-V]{16,}$')

PROFILE = ['profile.update.' + name for name in (
    'bio', 'profile_picture', 'banner_picture', 'screenname', 'handle', 'geo', 'url', 'verified_badge',
    'affiliate_badge')]
CHAT = ['chat.received', 'chat.sent', 'chat.conversation.join', 'chat.conversation.member_added',
        'chat.conversation.member_removed', 'chat.conversation.admin_added', 'chat.conversation.admin_removed',
        'chat.update.group_name', 'chat.update.restrictions']
# X's documented event types (xaa.md 1.6: the introduction plus the OpenAPI 2.167 enum), canonical names.
EVENT_TYPES = (['post.create', 'post.delete', 'post.mention.create', 'post.reply.create', 'post.quote.create',
                'post.repost.create', 'like.create', 'follow.follow', 'follow.unfollow'] + PROFILE + CHAT +
               ['dm.received', 'dm.sent', 'dm.read', 'dm.indicate_typing', 'news.new', 'spaces.start', 'spaces.end',
                'mute.mute', 'mute.unmute', 'block.block', 'block.unblock', 'broadcast.start', 'broadcast.end',
                'broadcast.chat'])
# Deprecated spellings that X accepts and answers with the canonical name.
ALIASES = {'chat.conversation_join': 'chat.conversation.join'}
# Private events: only for users who authorised the app, never with the app-only bearer (xaa.md 1.1).
PRIVATE_PREFIXES = ('dm.', 'chat.', 'mute.', 'block.')
PRIVATE_TYPES = {'like.create', 'post.mention.create', 'post.reply.create', 'post.quote.create', 'post.repost.create',
                 'broadcast.chat'}
ACTOR_ONLY_PREFIXES = ('mute.', 'block.')
KEYWORD_TYPES = {'news.new'}
FILTER_KEYS = {'user_id', 'keyword', 'direction'}
CREATE_KEYS = {'event_type', 'filter', 'tag', 'webhook_id'}
UPDATE_KEYS = {'tag', 'webhook_id'}


def is_private(event_type):
    return event_type.startswith(PRIVATE_PREFIXES) or event_type in PRIVATE_TYPES


def required_scope(event_type):
    """The OAuth 2.0 scope a user token needs to subscribe to ``event_type`` (OpenAPI description)."""
    if event_type.startswith(('dm.', 'chat.')):
        return 'dm.read'
    for family in ('like', 'mute', 'block'):
        if event_type.startswith(family + '.'):
            return family + '.read'
    return 'tweet.read'


# -- problem bodies ----------------------------------------------------------------------------------

def invalid(reason, message, parameter=None, value=None):
    """400 application/problem+json invalid-request; errors[0].message is "<Reason>: <message>"."""
    error = {'message': '%s: %s' % (reason, message)}
    if parameter:
        error['parameters'] = {parameter: [value if isinstance(value, str) else json.dumps(value)]}
    return Response(400, {'errors': [error], 'title': 'Invalid Request',
                          'detail': 'One or more parameters to your request was invalid.',
                          'type': E.V2_PROBLEMS + 'invalid-request', 'status': 400},
                    content_type='application/problem+json')


def forbidden(reason, detail, type_suffix='not-authorized-for-resource'):
    return Response(403, {'title': 'Forbidden', 'detail': detail, 'reason': reason,
                          'type': E.V2_PROBLEMS + type_suffix, 'status': 403},
                    content_type='application/problem+json')


def not_found(subscription_id):
    return Response(404, {'title': 'Not Found Error', 'type': E.V2_PROBLEMS + 'resource-not-found', 'status': 404,
                          'detail': 'Could not find subscription with id: [%s].' % subscription_id,
                          'resource_type': 'subscription', 'resource_id': subscription_id,
                          'parameter': 'subscription_id', 'value': subscription_id},
                    content_type='application/problem+json')


def duplicate(existing):
    detail = ('DuplicateSubscription: a subscription for event_type [%s] with this filter already exists '
              '(subscription_id %s).' % (existing['event_type'], existing['subscription_id']))
    return Response(409, {'title': 'Conflict', 'detail': detail, 'type': E.V2_PROBLEMS + 'duplicate',
                          'status': 409, 'resource_type': 'subscription', 'resource_id': existing['subscription_id']},
                    content_type='application/problem+json')


def capped(state, app):
    limit = app['xaa']['max_subscriptions']
    message = 'The maximum number of subscriptions (%d) for this app has been reached.' % limit
    status = int(state.settings.get('xaa_cap_status', 400))
    if status == 400:
        return invalid('SubscriptionLimitExceeded', message)
    return Response(status, {'title': 'Forbidden', 'detail': 'SubscriptionLimitExceeded: ' + message,
                             'type': E.V2_PROBLEMS + 'usage-capped', 'status': status},
                    content_type='application/problem+json')


# -- rendering -----------------------------------------------------------------------------------------

def render(sub):
    body = {'subscription_id': sub['subscription_id'], 'event_type': sub['event_type'],
            'filter': dict(sub['filter']), 'created_at': v2_timestamp(sub['created']),
            'updated_at': v2_timestamp(sub['updated'])}
    for key in ('tag', 'webhook_id'):
        if sub.get(key) is not None:
            body[key] = sub[key]
    return body


def app_subs(state, app):
    with state.lock:
        subs = [s for s in state.xaa_subs.values() if s['app'] == app['consumer_key']]
    return sorted(subs, key=lambda s: int(s['subscription_id']))


def _one(state, app, sub, extra=None):
    """A single-subscription answer in the configured envelope (xaa.md 1.3 lists all of them)."""
    if state.settings.get('xaa_response_shape', 'nested') == 'flat':
        data = render(sub)
    else:
        data = {'subscription': render(sub)}
    data.update(extra or {})
    body = {'data': data}
    if state.settings.get('xaa_response_meta'):
        body['meta'] = {'total_subscriptions': len(app_subs(state, app))}
    return Response(200, body)


# -- validation ---------------------------------------------------------------------------------------

def _body(ctx, allowed):
    """(dict, None) or (None, 400): a JSON object without properties outside ``allowed``."""
    payload = ctx.json()
    if not isinstance(payload, dict):
        return None, invalid('InvalidRequest', 'The request body must be a JSON object.')
    extra = sorted(set(payload) - allowed)
    if extra:
        return None, invalid('InvalidRequest', '[%s] is not a valid property; allowed: %s.'
                             % (extra[0], ', '.join(sorted(allowed))), extra[0], payload[extra[0]])
    return payload, None


def _webhook(ctx, value):
    """(webhook_id, None) for a v2 webhook of the calling app, or (None, 400)."""
    if not isinstance(value, str) or not ID_RE.match(value):
        return None, invalid('InvalidRequest', 'The `webhook_id` value [%s] does not match ^[0-9]{1,19}$.' % (value,),
                             'webhook_id', value)
    if ctx.state.webhook(ctx.app, 'v2', value) is None:
        return None, invalid('WebhookIdInvalid', 'The webhook_id [%s] is not a webhook registered by this app '
                             '(POST /2/webhooks).' % value, 'webhook_id', value)
    return value, None


def _tag(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        return invalid('InvalidRequest', 'The `tag` must be a string of 1 to 200 characters.', 'tag', value)
    return None


def _filter(event_type, value):
    """(normalised filter, None) or (None, 400)."""
    if not isinstance(value, dict):
        return None, invalid('InvalidRequest', 'The `filter` must be a JSON object.', 'filter', value)
    extra = sorted(set(value) - FILTER_KEYS)
    if extra:
        return None, invalid('InvalidRequest', '[filter.%s] is not a valid property; allowed: direction, keyword, '
                             'user_id.' % extra[0], 'filter.' + extra[0], value[extra[0]])
    result = {}
    if 'user_id' in value:
        user_id = value['user_id']
        if not isinstance(user_id, str) or not ID_RE.match(user_id):
            return None, invalid('InvalidRequest', 'The `filter.user_id` value [%s] does not match ^[0-9]{1,19}$.'
                                 % (user_id,), 'filter.user_id', user_id)
        result['user_id'] = user_id
    if 'keyword' in value:
        keyword = value['keyword']
        if event_type not in KEYWORD_TYPES:
            return None, invalid('InvalidRequest', '`filter.keyword` is not supported for %s.' % event_type,
                                 'filter.keyword', keyword)
        if not isinstance(keyword, str) or not 1 <= len(keyword) <= 150:
            return None, invalid('InvalidRequest', '`filter.keyword` must be 1 to 150 characters.', 'filter.keyword',
                                 keyword)
        result['keyword'] = keyword
    if 'direction' in value:
        direction = value['direction']
        if event_type.startswith(ACTOR_ONLY_PREFIXES):
            return None, invalid('InvalidRequest', '`filter.direction` is not supported for mute.* or block.* events.',
                                 'filter.direction', direction)
        if direction not in ('inbound', 'outbound'):
            return None, invalid('InvalidRequest', '`filter.direction` must be inbound or outbound.',
                                 'filter.direction', direction)
        result['direction'] = direction
    if event_type in KEYWORD_TYPES:
        if 'keyword' not in result:
            return None, invalid('InvalidRequest', '%s needs `filter.keyword`.' % event_type, 'filter', value)
    elif 'user_id' not in result:
        return None, invalid('InvalidRequest', '%s needs `filter.user_id`.' % event_type, 'filter', value)
    return result, None


def _authorise(ctx, event_type, flt):
    """None when the caller may subscribe to this event type and filter, else the 403."""
    kind = ctx.auth.kind
    private = is_private(event_type)
    if kind == BEARER:
        if private:
            return Response(403, {
                'title': 'Unsupported Authentication', 'status': 403,
                'detail': 'Authenticating with OAuth 2.0 Application-Only is forbidden for the private event type '
                          '%s. Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context] '
                          'of the user in filter.user_id.' % event_type,
                'type': E.V2_PROBLEMS + 'unsupported-authentication'}, content_type='application/problem+json')
        return None
    if kind == OAUTH2:
        scope = required_scope(event_type)
        if scope not in ctx.auth.scopes:
            return forbidden('MissingScope', 'The OAuth 2.0 user token lacks the scope [%s] needed for %s events.'
                             % (scope, event_type), 'client-forbidden')
    elif event_type.startswith('dm.') and ctx.app['permission'] != 'read-write-dm':
        # OAuth 1.0a: Direct Message events need an app with the "Read, write and Direct Messages" permission.
        return E.v2_oauth1_permissions()
    if private and flt.get('user_id') != ctx.user['id']:
        return forbidden('UserNotAuthorized', 'The user [%s] has not authorized this application: private events '
                         '(%s) can only be subscribed to with the user context of the user in filter.user_id '
                         '(the token belongs to user [%s]).' % (flt.get('user_id'), event_type, ctx.user['id']))
    return None


# -- handlers -----------------------------------------------------------------------------------------

def create(ctx):
    state, app = ctx.state, ctx.app
    payload, error = _body(ctx, CREATE_KEYS)
    if error:
        return error
    event_type = payload.get('event_type')
    if not isinstance(event_type, str) or not event_type:
        return invalid('InvalidRequest', '`event_type` is required.', 'event_type', event_type)
    event_type = ALIASES.get(event_type, event_type)
    if event_type not in EVENT_TYPES:
        return invalid('InvalidRequest', 'The `event_type` value [%s] is not one of the documented event types.'
                       % event_type, 'event_type', event_type)
    if 'filter' not in payload:
        return invalid('InvalidRequest', '`filter` is required.', 'filter', None)
    flt, error = _filter(event_type, payload['filter'])
    if error:
        return error
    tag = payload.get('tag')
    if tag is not None:
        error = _tag(tag)
        if error:
            return error
    webhook_id = payload.get('webhook_id')
    if webhook_id is not None:
        webhook_id, error = _webhook(ctx, webhook_id)
        if error:
            return error
    error = _authorise(ctx, event_type, flt)
    if error:
        return error
    with state.lock:
        subs = app_subs(state, app)
        key = json.dumps(flt, sort_keys=True)
        existing = next((s for s in subs if s['event_type'] == event_type and json.dumps(s['filter'], sort_keys=True)
                         == key), None)
        if existing is not None:
            mode = state.settings.get('xaa_duplicate', 'conflict')
            if mode == 'existing':
                return _one(state, app, existing)
            if mode == 'invalid':
                return invalid('DuplicateSubscriptionFailed', 'A subscription for event_type [%s] with this filter '
                               'already exists (subscription_id %s).' % (event_type, existing['subscription_id']))
            return duplicate(existing)
        if len(subs) >= app['xaa']['max_subscriptions']:
            return capped(state, app)
        now = state.now()
        sub = {'subscription_id': state.new_id(), 'app': app['consumer_key'], 'event_type': event_type,
               'filter': flt, 'tag': tag, 'webhook_id': webhook_id, 'created': now, 'updated': now}
        state.xaa_subs[sub['subscription_id']] = sub
    return _one(state, app, sub)


def encode_token(last_id):
    return base64.b32hexencode(('%020d' % int(last_id)).encode('ascii')).decode('ascii')


def decode_token(token):
    if not TOKEN_RE.match(token or ''):
        return None
    try:
        text = base64.b32hexdecode(token + '=' * (-len(token) % 8)).decode('ascii')
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def list_subs(ctx):
    state = ctx.state
    default = int(state.settings.get('xaa_page_size', 100))
    raw = ctx.query.get('max_results', str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return invalid('InvalidRequest', 'The `max_results` query parameter value [%s] is not between 1 and 1000.'
                       % raw, 'max_results', raw)
    size = int(raw)
    subs = app_subs(state, ctx.app)
    total = len(subs)
    if 'pagination_token' in ctx.query:
        after = decode_token(ctx.query['pagination_token'])
        if after is None:
            return invalid('InvalidRequest', 'The `pagination_token` query parameter value [%s] is not valid.'
                           % ctx.query['pagination_token'], 'pagination_token', ctx.query['pagination_token'])
        subs = [s for s in subs if int(s['subscription_id']) > after]
    page = subs[:size]
    meta = {'result_count': len(page)}
    if len(subs) > size:
        meta['next_token'] = encode_token(page[-1]['subscription_id'])
    if state.settings.get('xaa_response_meta'):
        meta['total_subscriptions'] = total
    body = {'meta': meta}
    if page:
        # Like other v2 lists, an empty page has no "data" key.
        body['data'] = [render(s) for s in page]
    return Response(200, body)


def _own_sub(ctx):
    sub_id = ctx.params['id']
    with ctx.state.lock:
        sub = ctx.state.xaa_subs.get(sub_id)
    if sub is None or sub['app'] != ctx.app['consumer_key']:
        return None, not_found(sub_id)
    return sub, None


def update(ctx):
    sub, error = _own_sub(ctx)
    if error:
        return error
    payload, error = _body(ctx, UPDATE_KEYS)
    if error:
        return error
    if not payload:
        return invalid('InvalidRequest', 'Give `tag` and/or `webhook_id`; to change the event type or the filter, '
                       'delete the subscription and create a new one.')
    changes = {}
    if 'tag' in payload:
        error = _tag(payload['tag'])
        if error:
            return error
        changes['tag'] = payload['tag']
    if 'webhook_id' in payload:
        changes['webhook_id'], error = _webhook(ctx, payload['webhook_id'])
        if error:
            return error
    with ctx.state.lock:
        sub.update(changes)
        sub['updated'] = ctx.state.now()
    return _one(ctx.state, ctx.app, sub, {'total_subscriptions': len(app_subs(ctx.state, ctx.app))}
                if ctx.state.settings.get('xaa_response_shape', 'nested') != 'flat' else None)


def delete(ctx):
    sub, error = _own_sub(ctx)
    if error:
        return error
    with ctx.state.lock:
        ctx.state.xaa_subs.pop(sub['subscription_id'], None)
    body = {'data': {'deleted': True}}
    if ctx.state.settings.get('xaa_response_meta'):
        body['meta'] = {'total_subscriptions': len(app_subs(ctx.state, ctx.app))}
    return Response(200, body)


def delete_bulk(ctx):
    raw = ctx.query.get('ids')
    ids = [i.strip() for i in raw.split(',')] if raw else []
    if not ids or not 1 <= len(ids) <= 100:
        return invalid('InvalidRequest', 'The `ids` query parameter needs 1 to 100 comma-separated subscription ids.',
                       'ids', raw or '')
    bad = next((i for i in ids if not ID_RE.match(i)), None)
    if bad is not None:
        return invalid('InvalidRequest', 'The `ids` query parameter value [%s] does not match ^[0-9]{1,19}$.' % bad,
                       'ids', bad)
    data, errors = [], []
    with ctx.state.lock:
        for sub_id in ids:
            sub = ctx.state.xaa_subs.get(sub_id)
            if sub is None or sub['app'] != ctx.app['consumer_key']:
                data.append({'subscription_id': sub_id, 'deleted': False})
                errors.append({'subscription_id': sub_id, 'reason': 'NotFound',
                               'message': 'Could not find subscription with id: [%s].' % sub_id})
                continue
            ctx.state.xaa_subs.pop(sub_id)
            data.append({'subscription_id': sub_id, 'deleted': True})
    body = {'data': data, 'meta': {'total_subscriptions': len(app_subs(ctx.state, ctx.app))}}
    if errors:
        body['errors'] = errors
    return Response(200, body)
