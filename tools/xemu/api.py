"""The X API endpoints: routing, auth policy per endpoint, rate limits and the handlers."""

import json
import re
from urllib.parse import parse_qsl, urlsplit

from xemu import crc, replay, stream, xaa
from xemu import errors as E
from xemu.errors import Response
from xemu.oauth import BAD_AUTH_DATA, BAD_TOKEN, TIMESTAMP, authenticate

OAUTH1, BEARER, BASIC, OAUTH2 = 'oauth1', 'bearer', 'basic', 'oauth2user'
V1_ALL = r'/1\.1/account_activity/all'
USERNAME_RE = re.compile(r'^[A-Za-z0-9_]{1,15}$')
WEBHOOK_ID_RE = re.compile(r'^[0-9]{1,19}$')


class Route:
    """One endpoint: who may call it, its rate-limit family and its handler."""

    def __init__(self, method, pattern, family, generation, auth, handler, write=False, wrong_auth=None, aaa=False):
        self.aaa = aaa  # an Account Activity API subscription endpoint: refused after the end of AAA
        self.method = method
        self.regex = re.compile('^' + pattern + '$')
        self.family = family
        self.generation = generation
        self.auth = auth
        self.handler = handler
        self.write = write
        self.wrong_auth = wrong_auth


class Ctx:
    """Everything a handler needs about one request."""

    def __init__(self, state, auth, params, query, form, body):
        self.state = state
        self.app = auth.app
        self.user = auth.user
        self.auth = auth
        self.params = params
        self.query = query
        self.form = form
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode('utf-8')) if self.body else None
        except (UnicodeDecodeError, ValueError):
            return None


def generation_of(path):
    return 'v2' if path.startswith('/2/') else 'v1.1'


# -- helpers ---------------------------------------------------------------------------------------

def _env_or_forbidden(ctx):
    env = ctx.state.env(ctx.app, ctx.params['env'])
    if env is None:
        return None, E.v1_error(403, 200, E.MSG_FORBIDDEN)
    return env, None


def _url_problem(url):
    """None when X would accept the URL shape; else (v1.1 message, v2 detail)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return E.MSG_URL, 'The URL is malformed.'
    if parts.scheme != 'https':
        return E.MSG_URL_HTTPS, 'The URL must use HTTPS.'
    if not parts.hostname:
        return E.MSG_URL, 'The URL has no host.'
    if port is not None or parts.netloc.endswith(':'):
        return E.MSG_URL, 'The URL must not contain a port.'
    if parts.username or parts.password:
        return E.MSG_URL, 'The URL must not contain credentials.'
    return None


def _crc(ctx, url):
    """Run a CRC with the current config; returns a CrcFailure or None."""
    state = ctx.state
    try:
        crc.run_crc(url, ctx.app['consumer_secret'], state.crc_ca_bundle, state.resolve, state.settings['crc_timeout'])
    except crc.CrcFailure as failure:
        return failure
    return None


def _v1_crc_error(ctx, failure):
    return E.v1_error(int(ctx.state.settings['crc_error_status']), 214, failure.message)


def _env_hook(ctx, env):
    hooks = ctx.state.webhooks_for(ctx.app, 'v1.1', env['label'])
    return hooks[0] if hooks else None


def _user_json_v2(user):
    return {'id': user['id'], 'name': user['name'], 'username': user['username']}


# -- v1.1 premium ------------------------------------------------------------------------------------

def v1_register(ctx):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    url = ctx.query.get('url') or ctx.form.get('url')
    if not url:
        return E.v1_error(400, 357, 'url: queryParam is required')
    problem = _url_problem(url)
    if problem:
        return E.v1_error(int(ctx.state.settings['url_error_status']), 214, problem[0])
    quota = E.v1_error(int(ctx.state.settings['quota_error_status']), 214, E.MSG_TOO_MANY)
    if len(ctx.state.webhooks_for(ctx.app, 'v1.1', env['label'])) >= env['max_webhooks']:
        return quota
    failure = _crc(ctx, url)
    if failure:
        return _v1_crc_error(ctx, failure)
    with ctx.state.lock:
        # Re-check: the CRC ran without the lock.
        if len(ctx.state.webhooks_for(ctx.app, 'v1.1', env['label'])) >= env['max_webhooks']:
            return quota
        hook = ctx.state.add_webhook(ctx.app, 'v1.1', url, env['label'])
    return Response(200, ctx.state.render_v1(hook))


def v1_list_all(ctx):
    envs = []
    for env in ctx.app['environments']:
        hooks = ctx.state.webhooks_for(ctx.app, 'v1.1', env['label'])
        envs.append({'environment_name': env['label'], 'webhooks': [ctx.state.render_v1(h) for h in hooks]})
    return Response(200, {'environments': envs})


def v1_list_env(ctx):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    return Response(200, [ctx.state.render_v1(h) for h in ctx.state.webhooks_for(ctx.app, 'v1.1', env['label'])])


def _v1_env_webhook(ctx):
    """(webhook, None) for the :id of the request's environment, or (None, the v1.1 error response)."""
    env, error = _env_or_forbidden(ctx)
    if error:
        return None, error
    hook = ctx.state.webhook(ctx.app, 'v1.1', ctx.params['id'], env['label'])
    if hook is None:
        return None, E.v1_error(404, 34, E.MSG_NO_WEBHOOK)
    return hook, None


def v1_validate(ctx):
    hook, error = _v1_env_webhook(ctx)
    if error:
        return error
    failure = _crc(ctx, hook['url'])
    with ctx.state.lock:
        # OBS (Tweetinvi e2e): a failed PUT marks the webhook invalid at once; a good one re-enables it.
        hook['valid'] = failure is None
    if failure:
        return _v1_crc_error(ctx, failure)
    return Response(204)


def v1_delete_webhook(ctx):
    hook, error = _v1_env_webhook(ctx)
    if error:
        return error
    ctx.state.delete_webhook(hook['id'])
    return Response(204)


def v1_subscribe(ctx):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    with ctx.state.lock:
        hook = _env_hook(ctx, env)
        if hook is None:
            return E.v1_error(404, 34, E.MSG_NO_WEBHOOK)
        if ctx.user['id'] in hook['subscriptions']:
            return E.v1_error(int(ctx.state.settings['duplicate_subscription_status']), 355, E.MSG_SUB_EXISTS)
        if len(hook['subscriptions']) >= env['max_subscriptions']:
            return E.v1_error(int(ctx.state.settings['quota_error_status']), 214, E.MSG_TOO_MANY)
        hook['subscriptions'].append(ctx.user['id'])
    return Response(204)


def v1_check_subscription(ctx):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    hook = _env_hook(ctx, env)
    if hook is None or ctx.user['id'] not in hook['subscriptions']:
        return E.v1_error(404, 34, E.MSG_NOT_FOUND)
    return Response(204)


def _v1_unsubscribe(ctx, user_id):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    with ctx.state.lock:
        hook = _env_hook(ctx, env)
        if hook is None or user_id not in hook['subscriptions']:
            return E.v1_error(404, 34, E.MSG_NOT_FOUND)
        hook['subscriptions'].remove(user_id)
    return Response(204)


def v1_unsubscribe_self(ctx):
    return _v1_unsubscribe(ctx, ctx.user['id'])


def v1_unsubscribe_user(ctx):
    return _v1_unsubscribe(ctx, ctx.params['user_id'])


def v1_count(ctx):
    hooks = ctx.state.webhooks_for(ctx.app, 'v1.1')
    count = sum(len(h['subscriptions']) for h in hooks)
    provisioned = sum(env['max_subscriptions'] for env in ctx.app['environments'])
    # Counts are strings (OBS Tweetinvi e2e).
    return Response(200, {'account_name': ctx.app['account_name'], 'subscriptions_count': str(count),
                          'provisioned_count': str(provisioned)})


def v1_list_subscriptions(ctx):
    env, error = _env_or_forbidden(ctx)
    if error:
        return error
    hook = _env_hook(ctx, env)
    subs = [{'user_id': uid} for uid in (hook['subscriptions'] if hook else [])]
    return Response(200, {'environment': env['label'], 'application_id': ctx.app['id'], 'subscriptions': subs})


def v1_verify_credentials(ctx):
    user = ctx.user
    return Response(200, {'id': int(user['id']), 'id_str': user['id'], 'name': user['name'],
                          'screen_name': user['username'], 'protected': False, 'verified': False,
                          'suspended': user['suspended']})


def oauth2_token(ctx):
    if ctx.form.get('grant_type') != 'client_credentials':
        return E.v1_error(403, 99, 'Unable to verify your credentials', label='authenticity_token_error')
    # "Issuing another request with the same credentials ... will return the same token" (DOC).
    return Response(200, {'token_type': 'bearer', 'access_token': ctx.app['bearer_token']})


# -- v2 ---------------------------------------------------------------------------------------------

def _v2_hook(ctx):
    webhook_id = ctx.params['id']
    hook = ctx.state.webhook(ctx.app, 'v2', webhook_id) if WEBHOOK_ID_RE.match(webhook_id) else None
    if hook is None:
        return None, E.v2_invalid('WebhookIdInvalid', 'The webhook id [%s] is invalid.' % webhook_id)
    return hook, None


def v2_create_webhook(ctx):
    payload = ctx.json()
    if not isinstance(payload, dict):
        return E.v2_invalid('UrlValidationFailed', 'The request body must be a JSON object with a url.')
    url = payload.get('url')
    if not isinstance(url, str) or not 1 <= len(url) <= 200:
        return E.v2_invalid('UrlValidationFailed', 'The url must be a string of 1 to 200 characters.')
    problem = _url_problem(url)
    if problem:
        return E.v2_invalid('UrlValidationFailed', problem[1])
    limits = ctx.app['v2']
    hooks = ctx.state.webhooks_for(ctx.app, 'v2')
    if any(h['url'] == url for h in hooks):
        return E.v2_invalid('DuplicateUrlFailed', 'A webhook with this URL is already registered.')
    if len(hooks) >= limits['max_webhooks']:
        return E.v2_invalid('WebhookLimitExceeded', 'The maximum number of webhooks (%d) has been reached.'
                            % limits['max_webhooks'])
    failure = _crc(ctx, url)
    if failure:
        return E.v2_invalid('CrcValidationFailed', failure.message)
    with ctx.state.lock:
        hooks = ctx.state.webhooks_for(ctx.app, 'v2')
        if any(h['url'] == url for h in hooks):
            return E.v2_invalid('DuplicateUrlFailed', 'A webhook with this URL is already registered.')
        if len(hooks) >= limits['max_webhooks']:
            return E.v2_invalid('WebhookLimitExceeded', 'The maximum number of webhooks (%d) has been reached.'
                                % limits['max_webhooks'])
        hook = ctx.state.add_webhook(ctx.app, 'v2', url)
    return Response(200, {'data': ctx.state.render_v2(hook)})


def v2_list_webhooks(ctx):
    hooks = [ctx.state.render_v2(h) for h in ctx.state.webhooks_for(ctx.app, 'v2')]
    return Response(200, {'data': hooks, 'meta': {'result_count': len(hooks)}})


def v2_validate_webhook(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    failure = _crc(ctx, hook['url'])
    with ctx.state.lock:
        hook['valid'] = failure is None
    # 200 means "CRC initiated"; the result is in data.valid (DOC).
    return Response(200, {'data': {'valid': hook['valid']}})


def v2_delete_webhook(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    ctx.state.delete_webhook(hook['id'])
    return Response(200, {'data': {'deleted': True}})


def _v2_subscribed_users(ctx):
    users = set()
    for hook in ctx.state.webhooks_for(ctx.app, 'v2'):
        users.update(hook['subscriptions'])
    return users


def v2_subscribe(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    user_id = ctx.user['id']
    with ctx.state.lock:
        if user_id in hook['subscriptions']:
            return E.v2_invalid('DuplicateSubscriptionFailed', 'The user [%s] is already subscribed to this webhook.'
                                % user_id)
        subscribed = _v2_subscribed_users(ctx)
        if user_id not in subscribed and len(subscribed) >= ctx.app['v2']['max_subscriptions']:
            return E.v2_invalid('SubscriptionLimitExceeded', 'The maximum number of subscriptions (%d) has been '
                                'reached.' % ctx.app['v2']['max_subscriptions'])
        hook['subscriptions'].append(user_id)
    return Response(200, {'data': {'subscribed': True}})


def v2_check_subscription(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    return Response(200, {'data': {'subscribed': ctx.user['id'] in hook['subscriptions']}})


def v2_list_subscriptions(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    return Response(200, {'data': {'application_id': ctx.app['id'], 'webhook_id': hook['id'],
                                   'webhook_url': hook['url'],
                                   'subscriptions': [{'user_id': uid} for uid in hook['subscriptions']]}})


def v2_unsubscribe(ctx):
    hook, error = _v2_hook(ctx)
    if error:
        return error
    user_id = ctx.params['user_id']
    with ctx.state.lock:
        if user_id not in hook['subscriptions']:
            return E.v2_invalid('SubscriptionNotFound', 'The user [%s] is not subscribed to this webhook.' % user_id)
        hook['subscriptions'].remove(user_id)
    return Response(200, {'data': {'subscribed': False}})


def v2_count(ctx):
    count = len(_v2_subscribed_users(ctx))
    return Response(200, {'data': {'account_name': ctx.app['account_name'],
                                   'provisioned_count': str(ctx.app['v2']['max_subscriptions']),
                                   'subscriptions_count_all': str(count),
                                   'subscriptions_count_direct_messages': '0'}})


def v2_user_by_username(ctx):
    username = ctx.params['username']
    if not USERNAME_RE.match(username):
        return Response(400, {
            'errors': [{'parameters': {'username': [username]},
                        'message': 'The `username` query parameter value [%s] does not match ^[A-Za-z0-9_]{1,15}$'
                                   % username}],
            'title': 'Invalid Request', 'detail': 'One or more parameters to your request was invalid.',
            'type': E.V2_PROBLEMS + 'invalid-request'})
    user = ctx.state.user_by_username(username)
    common = {'value': username, 'resource_type': 'user', 'parameter': 'username', 'resource_id': username,
              'type': E.V2_PROBLEMS + 'resource-not-found'}
    if user is None:
        # Not found is HTTP 200 with an errors array (OBS), not a 404.
        return Response(200, {'errors': [dict(common, detail='Could not find user with username: [%s].' % username,
                                              title='Not Found Error')]})
    if user['suspended']:
        return Response(200, {'errors': [dict(common, detail='User has been suspended: [%s].' % username,
                                              title='Forbidden')]})
    return Response(200, {'data': _user_json_v2(user)})


def v2_me(ctx):
    return Response(200, {'data': _user_json_v2(ctx.user)})


ROUTES = [
    Route('POST', V1_ALL + r'/(?P<env>[^/]+)/webhooks\.json', 'v1.webhooks.register', 'v1.1', {OAUTH1}, v1_register,
          write=True, wrong_auth=(403, 261, E.MSG_WRITE)),
    Route('GET', V1_ALL + r'/webhooks\.json', 'v1.webhooks.list_all', 'v1.1', {OAUTH1, BEARER}, v1_list_all),
    Route('GET', V1_ALL + r'/(?P<env>[^/]+)/webhooks\.json', 'v1.webhooks.list_env', 'v1.1', {OAUTH1, BEARER},
          v1_list_env),
    Route('PUT', V1_ALL + r'/(?P<env>[^/]+)/webhooks/(?P<id>[^/]+)\.json', 'v1.webhooks.validate', 'v1.1',
          {OAUTH1, BEARER}, v1_validate, write=True),
    Route('DELETE', V1_ALL + r'/(?P<env>[^/]+)/webhooks/(?P<id>[^/]+)\.json', 'v1.webhooks.delete', 'v1.1', {OAUTH1},
          v1_delete_webhook, write=True),
    Route('GET', V1_ALL + r'/subscriptions/count\.json', 'v1.subscriptions.count', 'v1.1', {BEARER}, v1_count,
          aaa=True),
    Route('POST', V1_ALL + r'/(?P<env>[^/]+)/subscriptions\.json', 'v1.subscriptions', 'v1.1', {OAUTH1}, v1_subscribe,
          write=True, aaa=True),
    Route('GET', V1_ALL + r'/(?P<env>[^/]+)/subscriptions\.json', 'v1.subscriptions', 'v1.1', {OAUTH1},
          v1_check_subscription, aaa=True),
    Route('DELETE', V1_ALL + r'/(?P<env>[^/]+)/subscriptions\.json', 'v1.subscriptions', 'v1.1', {OAUTH1},
          v1_unsubscribe_self, write=True, aaa=True),
    Route('GET', V1_ALL + r'/(?P<env>[^/]+)/subscriptions/list\.json', 'v1.subscriptions.list', 'v1.1', {BEARER},
          v1_list_subscriptions, aaa=True),
    Route('DELETE', V1_ALL + r'/(?P<env>[^/]+)/subscriptions/(?P<user_id>[^/]+)\.json', 'v1.subscriptions.delete',
          'v1.1', {BEARER}, v1_unsubscribe_user, aaa=True),
    Route('GET', r'/1\.1/account/verify_credentials\.json', 'v1.verify_credentials', 'v1.1', {OAUTH1},
          v1_verify_credentials),
    Route('POST', r'/oauth2/token', 'oauth2.token', 'v1.1', {BASIC}, oauth2_token),
    Route('POST', r'/2/webhooks', 'v2.webhooks.create', 'v2', {BEARER}, v2_create_webhook),
    Route('GET', r'/2/webhooks', 'v2.webhooks.list', 'v2', {BEARER}, v2_list_webhooks),
    Route('PUT', r'/2/webhooks/(?P<id>[^/]+)', 'v2.webhooks.validate', 'v2', {BEARER}, v2_validate_webhook),
    Route('DELETE', r'/2/webhooks/(?P<id>[^/]+)', 'v2.webhooks.delete', 'v2', {BEARER}, v2_delete_webhook),
    Route('POST', r'/2/account_activity/webhooks/(?P<id>[^/]+)/subscriptions/all', 'v2.subscriptions', 'v2', {OAUTH1},
          v2_subscribe, write=True, aaa=True),
    Route('GET', r'/2/account_activity/webhooks/(?P<id>[^/]+)/subscriptions/all', 'v2.subscriptions', 'v2', {OAUTH1},
          v2_check_subscription, aaa=True),
    Route('GET', r'/2/account_activity/webhooks/(?P<id>[^/]+)/subscriptions/all/list', 'v2.subscriptions.list', 'v2',
          {BEARER}, v2_list_subscriptions, aaa=True),
    Route('DELETE', r'/2/account_activity/webhooks/(?P<id>[^/]+)/subscriptions/(?P<user_id>[^/]+)/all',
          'v2.subscriptions.delete', 'v2', {BEARER}, v2_unsubscribe, aaa=True),
    Route('GET', r'/2/account_activity/subscriptions/count', 'v2.subscriptions.count', 'v2', {BEARER}, v2_count,
          aaa=True),
    # X Activity API (xemu.xaa), the replay job (xemu.replay) and the activity stream (xemu.stream).
    Route('POST', r'/2/activity/subscriptions', 'xaa.subscriptions.create', 'v2', {OAUTH1, BEARER, OAUTH2},
          xaa.create),
    Route('GET', r'/2/activity/subscriptions', 'xaa.subscriptions.list', 'v2', {OAUTH1, BEARER, OAUTH2},
          xaa.list_subs),
    Route('PUT', r'/2/activity/subscriptions/(?P<id>[^/]+)', 'xaa.subscriptions.update', 'v2', {BEARER}, xaa.update),
    Route('DELETE', r'/2/activity/subscriptions/(?P<id>[^/]+)', 'xaa.subscriptions.delete', 'v2', {BEARER},
          xaa.delete),
    Route('DELETE', r'/2/activity/subscriptions', 'xaa.subscriptions.delete_bulk', 'v2', {BEARER}, xaa.delete_bulk),
    Route('GET', r'/2/activity/stream', 'xaa.stream', 'v2', {BEARER}, stream.open_stream),
    Route('POST', r'/2/webhooks/replay', 'v2.webhooks.replay', 'v2', {BEARER}, replay.create_job),
    Route('GET', r'/2/users/by/username/(?P<username>[^/]*)', 'users.by_username', 'v2', {BEARER, OAUTH1},
          v2_user_by_username),
    Route('GET', r'/2/users/me', 'users.me', 'v2', {OAUTH1}, v2_me),
]


def match_route(method, path):
    """(route, params) for this request, or (None, None)."""
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.regex.match(path)
        if found:
            return route, found.groupdict()
    return None, None


def _auth_error(route, auth):
    if route.family == 'oauth2.token':
        return E.v1_error(403, 99, 'Unable to verify your credentials', label='authenticity_token_error')
    if route.generation == 'v2':
        return E.v2_unauthorized()
    if auth.error == BAD_AUTH_DATA:
        return E.v1_error(400, 215, 'Bad Authentication data.')
    if auth.error == TIMESTAMP:
        return E.v1_unauthorized(135)
    if auth.error == BAD_TOKEN:
        if auth.kind == 'bearer':
            return E.v1_error(401, 89, 'Invalid or expired token')
        return E.v1_unauthorized(89)
    return E.v1_unauthorized(32)


def _wrong_auth(route, auth):
    if route.family == 'oauth2.token':
        return E.v1_error(403, 99, 'Unable to verify your credentials', label='authenticity_token_error')
    if route.generation == 'v2':
        return E.v2_unsupported_auth(auth.kind)
    if route.wrong_auth and auth.kind == BEARER:
        return E.v1_error(*route.wrong_auth)
    return E.v1_error(403, 220, 'Your credentials do not allow access to this resource')


def handle(state, method, url, path, query_string, headers, body):
    """Serve one API request; returns (Response, route or None, AuthResult or None)."""
    route, params = match_route(method, path)
    if route is None:
        return E.not_found(generation_of(path)), None, None
    if route.aaa and state.aaa_ended():
        return E.aaa_ended(route.generation, state.settings['aaa_end']), route, None
    auth = authenticate(state, method, url, headers, body)
    app_key = auth.app['consumer_key'] if auth.app else None
    if not auth.ok or auth.kind not in route.auth:
        response = _auth_error(route, auth) if not auth.ok else _wrong_auth(route, auth)
        # Rate-limit headers on every routed response; a fresh bucket's view when the caller is unknown.
        response.headers.update(state.peek(app_key, route.family) if app_key else state.fresh_headers(route.family))
        return response, route, auth
    allowed, rate_headers = state.consume(app_key, route.family)
    if not allowed:
        response = E.rate_limited(route.generation)
    elif route.write and auth.kind == OAUTH1 and auth.app['permission'] != 'read-write-dm':
        response = E.v2_oauth1_permissions() if route.generation == 'v2' else E.v1_error(403, 261, E.MSG_WRITE)
    else:
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        form = {}
        if 'application/x-www-form-urlencoded' in (headers.get('Content-Type') or '').lower() and body:
            form = dict(parse_qsl(body.decode('utf-8', 'replace'), keep_blank_values=True))
        response = route.handler(Ctx(state, auth, params, query, form, body))
    response.headers.update(rate_headers)
    return response, route, auth
