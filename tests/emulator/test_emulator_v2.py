"""X API v2: /2/webhooks, /2/account_activity subscriptions and the user lookups."""

import re

from emulator_helpers import CCM_URL

SUBS = '/2/account_activity/webhooks/%s/subscriptions'


def _create(emu, http, url=CCM_URL):
    return http.post(emu.url + '/2/webhooks', json={'url': url}, auth=emu.bearer())


def _reason(resp):
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body['title'] == 'Invalid Request'
    assert body['type'] == 'https://api.twitter.com/2/problems/invalid-request'
    return body['errors'][0]['message'].split(':')[0]


def test_documented_flow(emu, http):
    resp = _create(emu, http)
    assert resp.status_code == 200, resp.text
    hook = resp.json()['data']
    assert re.match(r'^[0-9]{19}$', hook['id']) and hook['valid'] is True and hook['url'] == CCM_URL
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', hook['created_at'])
    assert 'x-rate-limit-remaining' in resp.headers and resp.headers['x-rate-limit-limit'] == '450'

    listing = http.get(emu.url + '/2/webhooks', auth=emu.bearer()).json()
    assert listing == {'data': [hook], 'meta': {'result_count': 1}}

    # Subscribe with user context; check; duplicate; list; count; delete.
    resp = http.post(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1())
    assert resp.status_code == 200 and resp.json() == {'data': {'subscribed': True}}
    resp = http.get(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1())
    assert resp.json() == {'data': {'subscribed': True}}
    resp = http.get(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1('alice_example'))
    assert resp.status_code == 200 and resp.json() == {'data': {'subscribed': False}}
    assert _reason(http.post(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1())) == 'DuplicateSubscriptionFailed'
    listing = http.get(emu.url + SUBS % hook['id'] + '/all/list', auth=emu.bearer()).json()['data']
    assert listing == {'application_id': '27410598', 'webhook_id': hook['id'], 'webhook_url': CCM_URL,
                       'subscriptions': [{'user_id': emu.user()['id']}]}
    count = http.get(emu.url + '/2/account_activity/subscriptions/count', auth=emu.bearer()).json()['data']
    assert count == {'account_name': 'ccm-demo', 'provisioned_count': '3', 'subscriptions_count_all': '1',
                     'subscriptions_count_direct_messages': '0'}
    user_id = emu.user()['id']
    resp = http.delete(emu.url + SUBS % hook['id'] + '/%s/all' % user_id, auth=emu.bearer())
    assert resp.status_code == 200 and resp.json() == {'data': {'subscribed': False}}
    resp = http.delete(emu.url + SUBS % hook['id'] + '/%s/all' % user_id, auth=emu.bearer())
    assert _reason(resp) == 'SubscriptionNotFound'

    # Validate (PUT) and delete.
    resp = http.put(emu.url + '/2/webhooks/' + hook['id'], auth=emu.bearer())
    assert resp.status_code == 200 and resp.json() == {'data': {'valid': True}}
    http.post(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1())
    resp = http.delete(emu.url + '/2/webhooks/' + hook['id'], auth=emu.bearer())
    assert resp.status_code == 200 and resp.json() == {'data': {'deleted': True}}
    assert emu.state()['subscriptions'] == []
    assert http.get(emu.url + '/2/webhooks', auth=emu.bearer()).json() == {'data': [], 'meta': {'result_count': 0}}
    assert _reason(http.delete(emu.url + '/2/webhooks/' + hook['id'], auth=emu.bearer())) == 'WebhookIdInvalid'


def test_bearer_on_user_context_endpoint_gets_403_unsupported_authentication(emu, http):
    hook = _create(emu, http).json()['data']
    for method, path in (('POST', SUBS % hook['id'] + '/all'), ('GET', SUBS % hook['id'] + '/all'),
                         ('GET', '/2/users/me')):
        resp = http.request(method, emu.url + path, auth=emu.bearer())
        assert resp.status_code == 403
        body = resp.json()
        assert body['title'] == 'Unsupported Authentication'
        assert body['type'] == 'https://api.twitter.com/2/problems/unsupported-authentication'
        assert body['detail'].startswith('Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.')
    resp = http.get(emu.url + '/2/webhooks', auth=emu.oauth1())
    assert resp.status_code == 403 and resp.json()['title'] == 'Unsupported Authentication'


def test_create_failures(emu, http):
    assert _reason(_create(emu, http, url='http://ccm.example.test/x')) == 'UrlValidationFailed'
    assert _reason(_create(emu, http, url='https://ccm.example.test:8443/x')) == 'UrlValidationFailed'
    assert _reason(_create(emu, http, url='https://ccm.example.test/' + 'x' * 200)) == 'UrlValidationFailed'
    assert _create(emu, http).status_code == 200
    assert _reason(_create(emu, http)) == 'DuplicateUrlFailed'
    assert _reason(_create(emu, http, url=CCM_URL + '?two')) == 'WebhookLimitExceeded'
    resp = _create(emu, http, url='https://nowhere.example.test/hook')
    assert resp.json()['errors'][0]['message'] == (
        'WebhookLimitExceeded: The maximum number of webhooks (1) has been reached.')


def test_crc_failure_on_create_and_put_marks_invalid(emu, http):
    resp = _create(emu, http, url='https://unresolvable.example.test/hook')
    assert _reason(resp) == 'CrcValidationFailed'
    assert resp.json()['errors'][0]['message'] == 'CrcValidationFailed: Unable to connect during CRC GET request.'
    hook = _create(emu, http).json()['data']
    emu.config(resolve={})  # the CCM host no longer resolves: the next CRC fails
    resp = http.put(emu.url + '/2/webhooks/' + hook['id'], auth=emu.bearer())
    assert resp.status_code == 200 and resp.json() == {'data': {'valid': False}}
    assert http.get(emu.url + '/2/webhooks', auth=emu.bearer()).json()['data'][0]['valid'] is False
    emu.config(resolve=emu.base_resolve)
    assert http.put(emu.url + '/2/webhooks/' + hook['id'], auth=emu.bearer()).json() == {'data': {'valid': True}}


def test_webhook_id_invalid(emu, http):
    for webhook_id in ('123', 'abc', '1' * 25):
        assert _reason(http.put(emu.url + '/2/webhooks/' + webhook_id, auth=emu.bearer())) == 'WebhookIdInvalid'
    assert _reason(http.post(emu.url + SUBS % '123' + '/all', auth=emu.oauth1())) == 'WebhookIdInvalid'


def test_subscription_limit(emu, http):
    hook = _create(emu, http).json()['data']
    for user in ('HybridChatHelp', 'alice_example', 'bob_example'):
        assert http.post(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1(user)).status_code == 200
    resp = http.post(emu.url + SUBS % hook['id'] + '/all', auth=emu.oauth1('suspended_acct'))
    assert _reason(resp) == 'SubscriptionLimitExceeded'


def test_read_only_app_cannot_subscribe(emu, http):
    resp = http.post(emu.url + SUBS % '1234567890123456789' + '/all', auth=emu.oauth1(app='ccm-readonly'))
    assert resp.status_code == 403
    assert resp.json()['type'] == 'https://api.twitter.com/2/problems/oauth1-permissions'


def test_users_by_username(emu, http):
    resp = http.get(emu.url + '/2/users/by/username/HybridChatHelp', auth=emu.bearer())
    assert resp.status_code == 200
    assert resp.json() == {'data': {'id': emu.user()['id'], 'name': 'HybridChat Support', 'username': 'HybridChatHelp'}}
    # Case-insensitive, OAuth 1.0a works too.
    assert http.get(emu.url + '/2/users/by/username/hybridchathelp', auth=emu.oauth1()).json()['data']['id'] == \
        emu.user()['id']
    unknown = http.get(emu.url + '/2/users/by/username/nobody_here', auth=emu.bearer())
    assert unknown.status_code == 200 and 'data' not in unknown.json()
    assert unknown.json()['errors'][0]['detail'] == 'Could not find user with username: [nobody_here].'
    suspended = http.get(emu.url + '/2/users/by/username/suspended_acct', auth=emu.bearer())
    assert suspended.status_code == 200
    assert suspended.json()['errors'][0]['detail'] == 'User has been suspended: [suspended_acct].'
    bad = http.get(emu.url + '/2/users/by/username/bad.name', auth=emu.bearer())
    assert bad.status_code == 400
    assert bad.json()['errors'][0]['message'] == (
        'The `username` query parameter value [bad.name] does not match ^[A-Za-z0-9_]{1,15}$')


def test_users_me(emu, http):
    resp = http.get(emu.url + '/2/users/me', auth=emu.oauth1('alice_example'))
    assert resp.json() == {'data': {'id': '1419093755120508930', 'name': 'Alice Example', 'username': 'alice_example'}}
