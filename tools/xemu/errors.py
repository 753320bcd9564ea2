"""Response bodies of the X API (x-api.md sections 1.2-1.4, 5.1, 5.3, 6.10, 7)."""

MSG_FORBIDDEN = 'Forbidden.'
MSG_TOO_MANY = 'Too many resources already created.'
MSG_URL = 'Webhook URL does not meet the requirements.'
MSG_URL_HTTPS = 'Webhook URL does not meet the requirements. Please use HTTPS.'
MSG_NO_WEBHOOK = 'Webhook does not exist or is associated with a different twitter application.'
MSG_NOT_FOUND = 'Sorry, that page does not exist.'
MSG_WRITE = ('Application cannot perform write actions. Contact Twitter Platform Operations through '
             'https://help.twitter.com/forms/platform.')
MSG_SUB_EXISTS = 'Subscription already exists.'
V2_PROBLEMS = 'https://api.twitter.com/2/problems/'


class Response:
    """What a handler returns: status, a JSON-able body (None for no body) and extra headers."""

    def __init__(self, status, body=None, headers=None, content_type='application/json; charset=utf-8'):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type


def v1_error(status, code, message, label=None):
    error = {'code': code, 'message': message}
    if label:
        error['label'] = label
    return Response(status, {'errors': [error]})


def v2_problem(status, title, detail, type_suffix=None):
    body = {'title': title, 'detail': detail, 'type': V2_PROBLEMS + type_suffix if type_suffix else 'about:blank',
            'status': status}
    return Response(status, body, content_type='application/problem+json')


def v2_invalid(reason, details):
    """400 problem body with errors[0].message = "<Reason>: <Details>" (x-api.md 5.1)."""
    return Response(400, {
        'errors': [{'message': '%s: %s' % (reason, details)}],
        'title': 'Invalid Request',
        'detail': 'One or more parameters to your request was invalid.',
        'type': V2_PROBLEMS + 'invalid-request',
    })


def v1_unauthorized(code):
    messages = {32: 'Could not authenticate you.', 89: 'Invalid or expired token.', 135: 'Timestamp out of bounds.'}
    return v1_error(401, code, messages[code])


def v2_unauthorized():
    return Response(401, {'title': 'Unauthorized', 'type': 'about:blank', 'status': 401, 'detail': 'Unauthorized'},
                    content_type='application/problem+json')


def v2_unsupported_auth(kind):
    if kind == 'bearer':
        detail = ('Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported '
                  'authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].')
    elif kind == 'oauth2user':
        detail = ('Authenticating with OAuth 2.0 User Context is forbidden for this endpoint.  Supported '
                  'authentication types are [OAuth 2.0 Application-Only].')
    else:
        detail = ('Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  Supported '
                  'authentication types are [OAuth 2.0 Application-Only].')
    return v2_problem(403, 'Unsupported Authentication', detail, 'unsupported-authentication')


def v2_oauth1_permissions():
    return v2_problem(403, 'Forbidden', 'Your client app is not configured with the appropriate oauth1 app '
                      'permissions for this endpoint.', 'oauth1-permissions')


def rate_limited(generation):
    if generation == 'v2':
        return Response(429, {'title': 'Too Many Requests', 'detail': 'Too Many Requests', 'type': 'about:blank',
                              'status': 429}, content_type='application/problem+json')
    return v1_error(429, 88, 'Rate limit exceeded.')


def not_found(generation):
    if generation == 'v2':
        return v2_problem(404, 'Not Found Error', 'Sorry, that page does not exist.')
    return v1_error(404, 34, MSG_NOT_FOUND)


def generic_failure(generation, status):
    """Default body of an injected fault without an explicit body."""
    if generation == 'v2':
        return {'title': 'Service Error', 'detail': 'Injected fault', 'type': 'about:blank', 'status': status}
    return {'errors': [{'code': 131, 'message': 'Internal error'}]}


AAA_MIGRATION_URL = 'https://docs.x.com/x-api/account-activity/migrate/aaa-to-xaa-migration'


def aaa_ended(generation, end_iso):
    """An Account Activity API endpoint after its end of life (our choice: 410 Gone, see docs/emulator.md)."""
    day = end_iso[:10]
    message = ('The Account Activity API reached end of life on %s. Migrate to the X Activity API (XAA): '
               'POST /2/activity/subscriptions, see %s' % (day, AAA_MIGRATION_URL))
    if generation == 'v2':
        return Response(410, {'title': 'Gone', 'detail': message, 'type': V2_PROBLEMS + 'resource-unavailable',
                              'status': 410, 'reason': 'AccountActivityApiEnded'},
                        content_type='application/problem+json')
    return v1_error(410, 68, message)
