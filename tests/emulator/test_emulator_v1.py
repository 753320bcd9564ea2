"""v1.1 premium (environment label) endpoints, driven the way the docs say with requests-oauthlib."""

import re

from emulator_helpers import CCM_URL, V1


def _register(emu, http, env='production', url=CCM_URL, **kwargs):
    return http.post(emu.url + '%s/%s/webhooks.json' % (V1, env), params={'url': url}, auth=emu.oauth1(**kwargs))


def test_documented_flow_register_list_subscribe_count_delete(emu, http):
    # Register (url in the query string, as in the DOC example and autohook).
    resp = _register(emu, http)
    assert resp.status_code == 200, resp.text
    hook = resp.json()
    assert re.match(r'^[0-9]{19}$', hook['id'])
    assert hook['url'] == CCM_URL and hook['valid'] is True
    assert re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$', hook['created_timestamp'])
    assert set(hook) == {'id', 'url', 'valid', 'created_timestamp'}
    for header in ('x-rate-limit-limit', 'x-rate-limit-remaining', 'x-rate-limit-reset'):
        assert header in resp.headers

    # All environments (bearer) vs one environment (OAuth1 and bearer): different body shapes.
    all_envs = http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer()).json()
    assert all_envs['environments'][0] == {'environment_name': 'production', 'webhooks': [hook]}
    assert {'environment_name': 'staging', 'webhooks': []} in all_envs['environments']
    for auth in (emu.oauth1(), emu.bearer()):
        one_env = http.get(emu.url + V1 + '/production/webhooks.json', auth=auth)
        assert one_env.status_code == 200 and one_env.json() == [hook]
    assert http.get(emu.url + V1 + '/staging/webhooks.json', auth=emu.bearer()).json() == []

    # Subscribe the support account and a second user; check; count (strings); list.
    for user in ('HybridChatHelp', 'alice_example'):
        resp = http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1(user))
        assert resp.status_code == 204 and resp.content == b''
    assert http.get(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1()).status_code == 204
    count = http.get(emu.url + V1 + '/subscriptions/count.json', auth=emu.bearer()).json()
    assert count == {'account_name': 'ccm-demo', 'subscriptions_count': '2', 'provisioned_count': '30'}
    listing = http.get(emu.url + V1 + '/production/subscriptions/list.json', auth=emu.bearer()).json()
    assert listing['environment'] == 'production' and listing['application_id'] == '27410598'
    assert [s['user_id'] for s in listing['subscriptions']] == [emu.user()['id'], emu.user('alice_example')['id']]

    # Unsubscribe alice by user id (bearer): 204, then her check is 404/34.
    alice = emu.user('alice_example')
    resp = http.delete(emu.url + V1 + '/production/subscriptions/%s.json' % alice['id'], auth=emu.bearer())
    assert resp.status_code == 204
    resp = http.get(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1('alice_example'))
    assert resp.status_code == 404 and resp.json()['errors'][0]['code'] == 34
    resp = http.delete(emu.url + V1 + '/production/subscriptions/%s.json' % alice['id'], auth=emu.bearer())
    assert resp.status_code == 404

    # PUT re-validates (204); DELETE the webhook (204) drops its subscriptions.
    assert http.put(emu.url + V1 + '/production/webhooks/%s.json' % hook['id'], auth=emu.oauth1()).status_code == 204
    assert http.delete(emu.url + V1 + '/production/webhooks/%s.json' % hook['id'], auth=emu.oauth1()).status_code == 204
    assert emu.state()['subscriptions'] == []
    count = http.get(emu.url + V1 + '/subscriptions/count.json', auth=emu.bearer()).json()
    assert count['subscriptions_count'] == '0'
    resp = http.delete(emu.url + V1 + '/production/webhooks/%s.json' % hook['id'], auth=emu.oauth1())
    assert resp.status_code == 404 and resp.json()['errors'][0]['code'] == 34


def test_register_with_form_body_is_signed_and_accepted(emu, http):
    resp = http.post(emu.url + V1 + '/production/webhooks.json', data={'url': CCM_URL}, auth=emu.oauth1())
    assert resp.status_code == 200, resp.text
    assert emu.requests()['requests'][-1]['query_keys'] == []


def test_env_label_is_case_sensitive(emu, http):
    resp = _register(emu, http, env='Production')
    assert resp.status_code == 403
    assert resp.json() == {'errors': [{'code': 200, 'message': 'Forbidden.'}]}
    resp = http.get(emu.url + V1 + '/PRODUCTION/webhooks.json', auth=emu.bearer())
    assert resp.json()['errors'][0]['code'] == 200


def test_webhook_quota(emu, http):
    assert _register(emu, http).status_code == 200
    resp = _register(emu, http, url=CCM_URL + '?second=1')
    assert resp.status_code == 403
    assert resp.json() == {'errors': [{'code': 214, 'message': 'Too many resources already created.'}]}


def test_url_rules_https_only_and_no_port(emu, http):
    resp = _register(emu, http, url='http://ccm.example.test/ccm/webhook/twitter')
    assert resp.status_code == 400
    assert resp.json()['errors'][0] == {'code': 214,
                                        'message': 'Webhook URL does not meet the requirements. Please use HTTPS.'}
    resp = _register(emu, http, url='https://ccm.example.test:8443/ccm/webhook/twitter')
    assert resp.json()['errors'][0] == {'code': 214, 'message': 'Webhook URL does not meet the requirements.'}
    resp = http.post(emu.url + V1 + '/production/webhooks.json', auth=emu.oauth1())
    assert resp.status_code == 400 and resp.json()['errors'][0]['code'] == 357
    assert emu.state()['webhooks'] == []


def test_read_only_app_cannot_write(emu, http):
    resp = _register(emu, http, app='ccm-readonly')
    assert resp.status_code == 403
    error = resp.json()['errors'][0]
    assert error['code'] == 261 and error['message'].startswith('Application cannot perform write actions.')
    # Reads still work for the read-only app.
    assert http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.oauth1(app='ccm-readonly')).json() == []


def test_duplicate_subscription_and_subscription_without_webhook(emu, http):
    resp = http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1())
    assert resp.status_code == 404 and resp.json()['errors'][0]['code'] == 34
    assert _register(emu, http).status_code == 200
    assert http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1()).status_code == 204
    resp = http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1())
    assert resp.status_code == 409
    assert resp.json() == {'errors': [{'code': 355, 'message': 'Subscription already exists.'}]}


def test_subscription_quota(emu, http):
    seed = dict(emu.raw_seed)
    seed['apps'] = [dict(seed['apps'][0], environments=[{'label': 'production', 'max_subscriptions': 1}])]
    emu.reset(seed)
    assert _register(emu, http).status_code == 200
    assert http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1()).status_code == 204
    resp = http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1('alice_example'))
    assert resp.status_code == 403 and resp.json()['errors'][0]['code'] == 214
    count = http.get(emu.url + V1 + '/subscriptions/count.json', auth=emu.bearer()).json()
    assert count['provisioned_count'] == '1' and count['subscriptions_count'] == '1'


def test_auth_kind_per_endpoint(emu, http):
    # App-only auth cannot register a webhook (DOC troubleshooting: 261).
    resp = http.post(emu.url + V1 + '/production/webhooks.json', params={'url': CCM_URL}, auth=emu.bearer())
    assert resp.status_code == 403 and resp.json()['errors'][0]['code'] == 261
    # Bearer on a user-context endpoint, user context on an app-only endpoint: 220.
    resp = http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.bearer())
    assert resp.status_code == 403 and resp.json()['errors'][0]['code'] == 220
    resp = http.get(emu.url + V1 + '/subscriptions/count.json', auth=emu.oauth1())
    assert resp.status_code == 403 and resp.json()['errors'][0]['code'] == 220


def test_put_and_delete_unknown_webhook(emu, http):
    resp = http.put(emu.url + V1 + '/production/webhooks/1234567890123456789.json', auth=emu.oauth1())
    assert resp.status_code == 404
    assert resp.json()['errors'][0] == {
        'code': 34, 'message': 'Webhook does not exist or is associated with a different twitter application.'}


def test_webhooks_of_another_app_are_invisible(emu, http):
    hook = _register(emu, http).json()
    resp = http.delete(emu.url + V1 + '/production/webhooks/%s.json' % hook['id'], auth=emu.oauth1(app='ccm-readonly'))
    assert resp.status_code in (403, 404)
    assert http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.bearer('ccm-readonly')).json() == []


def test_unknown_path_is_34(emu, http):
    resp = http.get(emu.url + '/1.1/account_activity/all/count.json', auth=emu.bearer())
    assert resp.status_code == 404
    assert resp.json()['errors'][0]['code'] == 34


def test_verify_credentials(emu, http):
    resp = http.get(emu.url + '/1.1/account/verify_credentials.json', auth=emu.oauth1())
    body = resp.json()
    assert resp.status_code == 200
    assert body['id_str'] == emu.user()['id'] and body['screen_name'] == 'HybridChatHelp'
    assert body['name'] == 'HybridChat Support'
