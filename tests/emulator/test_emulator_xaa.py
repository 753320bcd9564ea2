"""X Activity API subscriptions: /2/activity/subscriptions (create, list, update, delete, bulk delete)."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from emulator_helpers import CCM_URL, HOOK_HOST, HOOK_URL, XAA_SUBS
from xemu.testing import TOOLS_DIR, ScriptedWebhook

PROBLEMS = 'https://api.twitter.com/2/problems/'


@pytest.fixture
def hook(emu, pki):
    """A second webhook receiver at https://hook.example.test/ that records event POSTs."""
    with ScriptedWebhook(emu.app()['consumer_secret'], pki['hook']) as server:
        emu.config(add_resolve={'%s:443' % HOOK_HOST: '127.0.0.1:%d' % server.port})
        yield server


def two_webhooks(emu):
    """Reset to the default seed with room for two v2 webhooks."""
    seed = dict(emu.raw_seed)
    seed['apps'] = [dict(seed['apps'][0], v2={'max_webhooks': 2, 'max_subscriptions': 3})] + seed['apps'][1:]
    emu.reset(seed)


def webhook(emu, http, url=CCM_URL):
    resp = http.post(emu.url + '/2/webhooks', json={'url': url}, auth=emu.bearer())
    assert resp.status_code == 200, resp.text
    return resp.json()['data']['id']


def create(emu, http, event_type='dm.received', user_id=None, auth=None, **extra):
    body = {'event_type': event_type, 'filter': {'user_id': user_id or emu.user()['id']}}
    body.update(extra)
    return http.post(emu.url + XAA_SUBS, json=body, auth=auth or emu.oauth1())


def created(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()['data']['subscription']


def problem(resp, status, type_suffix=None):
    assert resp.status_code == status, resp.text
    assert resp.headers['Content-Type'].startswith('application/problem+json')
    body = resp.json()
    if type_suffix:
        assert body['type'] == PROBLEMS + type_suffix
    return body


def invalid_message(resp):
    body = problem(resp, 400, 'invalid-request')
    assert body['title'] == 'Invalid Request'
    return body['errors'][0]['message']


def test_create_dm_subscription_with_user_context_and_list_it(emu, http):
    hook_id = webhook(emu, http)
    resp = create(emu, http, webhook_id=hook_id, tag='hybridchat.ccm')
    sub = created(resp)
    assert re.match(r'^[0-9]{19}$', sub['subscription_id'])
    assert sub['event_type'] == 'dm.received' and sub['filter'] == {'user_id': emu.user()['id']}
    assert sub['webhook_id'] == hook_id and sub['tag'] == 'hybridchat.ccm'
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', sub['created_at'])
    assert sub['updated_at'] == sub['created_at']
    assert resp.headers['x-rate-limit-limit'] == '500'
    sent = created(create(emu, http, 'dm.sent', webhook_id=hook_id, tag='hybridchat.ccm'))
    for auth in (emu.bearer(), emu.oauth1(), emu.oauth2_user()):
        listing = http.get(emu.url + XAA_SUBS, auth=auth)
        assert listing.status_code == 200, listing.text
        assert listing.json() == {'data': [sub, sent], 'meta': {'result_count': 2}}
    # Without a webhook_id the subscription only feeds the stream; tag is optional.
    bare = created(create(emu, http, 'dm.read'))
    assert 'webhook_id' not in bare and 'tag' not in bare
    assert [s['event_type'] for s in emu.state()['activity_subscriptions']] == ['dm.received', 'dm.sent', 'dm.read']


def test_app_bearer_is_refused_for_private_events_only(emu, http):
    alice = emu.user('alice_example')['id']
    for event_type in ('dm.received', 'dm.sent', 'chat.received', 'like.create', 'post.mention.create',
                       'mute.mute', 'block.block', 'broadcast.chat'):
        body = problem(create(emu, http, event_type, user_id=alice, auth=emu.bearer()), 403,
                       'unsupported-authentication')
        assert event_type in body['detail'] and 'OAuth 2.0 Application-Only' in body['detail']
    # Public events work with the app bearer, for any user.
    for event_type in ('profile.update.bio', 'post.create', 'follow.follow', 'spaces.start'):
        assert created(create(emu, http, event_type, user_id=alice, auth=emu.bearer()))['event_type'] == event_type
    assert len(emu.state()['activity_subscriptions']) == 4


def test_user_context_must_be_the_filtered_user_for_private_events(emu, http):
    alice = emu.user('alice_example')['id']
    body = problem(create(emu, http, 'dm.received', user_id=alice), 403, 'not-authorized-for-resource')
    assert body['reason'] == 'UserNotAuthorized' and alice in body['detail']
    # Public events: any user id; the filtered user's own token: fine.
    assert created(create(emu, http, 'profile.update.bio', user_id=alice))
    assert created(create(emu, http, 'dm.received', user_id=alice, auth=emu.oauth1('alice_example')))


def test_oauth2_user_token_needs_the_scope_of_the_event_family(emu, http):
    support = emu.user()['id']
    alice = emu.user('alice_example')['id']
    assert created(create(emu, http, 'dm.received', auth=emu.oauth2_user()))['filter'] == {'user_id': support}
    body = problem(create(emu, http, 'dm.received', user_id=alice, auth=emu.oauth2_user('alice_example')), 403,
                   'client-forbidden')
    assert body['reason'] == 'MissingScope' and 'dm.read' in body['detail']
    assert created(create(emu, http, 'like.create', user_id=alice, auth=emu.oauth2_user('alice_example')))
    # A user token is user context of its owner only.
    body = problem(create(emu, http, 'dm.sent', user_id=alice, auth=emu.oauth2_user()), 403)
    assert body['reason'] == 'UserNotAuthorized'
    log = emu.requests()['requests']
    assert [e['auth'] for e in log] == ['oauth2user'] * 4 and log[0]['user_id'] == support
    tokens = [t['access_token'] for t in emu.seed['oauth2_user_tokens']]
    assert not any(token in str(log) for token in tokens)


def test_dm_events_need_the_dm_permission_with_oauth1(emu, http):
    resp = create(emu, http, 'dm.received', auth=emu.oauth1(app='ccm-readonly'))
    assert problem(resp, 403, 'oauth1-permissions')['title'] == 'Forbidden'
    assert created(create(emu, http, 'profile.update.bio', auth=emu.oauth1(app='ccm-readonly')))


@pytest.mark.parametrize('body,expected', [
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME'}, 'foo': 1}, 'InvalidRequest: [foo] is not a valid'),
    ({'event_type': 'dm.recieved', 'filter': {'user_id': 'ME'}}, 'value [dm.recieved] is not one of'),
    ({'event_type': 'DMReceived', 'filter': {'user_id': 'ME'}}, 'value [DMReceived] is not one of'),
    ({'filter': {'user_id': 'ME'}}, '`event_type` is required'),
    ({'event_type': 'dm.received'}, '`filter` is required'),
    ({'event_type': 'dm.received', 'filter': {}}, 'dm.received needs `filter.user_id`'),
    ({'event_type': 'dm.received', 'filter': {'user_id': '@support'}}, 'does not match ^[0-9]{1,19}$'),
    ({'event_type': 'dm.received', 'filter': {'user_id': '12345678901234567890'}}, 'does not match ^[0-9]{1,19}$'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME', 'post_id': '1'}}, '[filter.post_id] is not a valid'),
    ({'event_type': 'mute.mute', 'filter': {'user_id': 'ME', 'direction': 'inbound'}}, 'not supported for mute'),
    ({'event_type': 'like.create', 'filter': {'user_id': 'ME', 'direction': 'sideways'}}, 'inbound or outbound'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME', 'keyword': 'x'}}, 'keyword` is not supported'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME'}, 'tag': ''}, '`tag` must be a string of 1 to 200'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME'}, 'tag': 'x' * 201}, '1 to 200'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME'}, 'webhook_id': 'abc'}, '`webhook_id` value [abc]'),
    ({'event_type': 'dm.received', 'filter': {'user_id': 'ME'}, 'webhook_id': '1234567890123456789'},
     'WebhookIdInvalid: The webhook_id [1234567890123456789] is not a webhook registered by this app'),
    (['not', 'an', 'object'], 'must be a JSON object'),
])
def test_create_validation(emu, http, body, expected):
    if isinstance(body, dict) and isinstance(body.get('filter'), dict) and body['filter'].get('user_id') == 'ME':
        body['filter']['user_id'] = emu.user()['id']
    message = invalid_message(http.post(emu.url + XAA_SUBS, json=body, auth=emu.oauth1()))
    assert expected in message
    assert emu.state()['activity_subscriptions'] == []


def test_tag_of_200_characters_and_alias_event_type(emu, http):
    assert created(create(emu, http, tag='t' * 200))['tag'] == 't' * 200
    # The deprecated alias is accepted and answered with the canonical name.
    assert created(create(emu, http, 'chat.conversation_join'))['event_type'] == 'chat.conversation.join'


def test_webhook_of_another_app_is_invalid(emu, http):
    # A v2 webhook of ccm-demo, used by ccm-readonly: invalid for that app.
    hook_id = webhook(emu, http)
    resp = create(emu, http, 'profile.update.bio', auth=emu.bearer('ccm-readonly'), webhook_id=hook_id)
    assert 'WebhookIdInvalid' in invalid_message(resp)


def test_duplicate_is_a_409_conflict_by_default_and_configurable(emu, http):
    hook_id = webhook(emu, http)
    first = created(create(emu, http, webhook_id=hook_id, tag='a'))
    # Same event type and filter: a duplicate, whatever the tag or webhook.
    body = problem(create(emu, http, tag='b'), 409, 'duplicate')
    assert body['title'] == 'Conflict' and 'DuplicateSubscription' in body['detail']
    assert first['subscription_id'] in body['detail'] and body['resource_id'] == first['subscription_id']
    emu.config(xaa_duplicate='invalid')
    assert invalid_message(create(emu, http)).startswith('DuplicateSubscriptionFailed: ')
    emu.config(xaa_duplicate='existing')
    assert created(create(emu, http, tag='c')) == first
    assert len(emu.state()['activity_subscriptions']) == 1
    # Another event type or another user is not a duplicate.
    assert created(create(emu, http, 'dm.sent'))
    assert created(create(emu, http, user_id=emu.user('alice_example')['id'], auth=emu.oauth1('alice_example')))


def test_subscription_cap(emu, http):
    assert emu.app()['xaa']['max_subscriptions'] == 1500  # self-serve default from the seed
    emu.config(xaa_max_subscriptions=2)
    created(create(emu, http, 'dm.received'))
    created(create(emu, http, 'dm.sent'))
    message = invalid_message(create(emu, http, 'dm.read'))
    assert message == ('SubscriptionLimitExceeded: The maximum number of subscriptions (2) for this app has been '
                       'reached.')
    emu.config(xaa_cap_status=403)
    body = problem(create(emu, http, 'dm.read'), 403, 'usage-capped')
    assert body['detail'].startswith('SubscriptionLimitExceeded: ')
    # Deleting one frees a slot.
    sub_id = emu.state()['activity_subscriptions'][0]['subscription_id']
    assert http.delete(emu.url + XAA_SUBS + '/' + sub_id, auth=emu.bearer()).status_code == 200
    assert created(create(emu, http, 'dm.read'))


def test_response_shapes_are_switchable(emu, http):
    emu.config(xaa_response_shape='flat')
    flat = create(emu, http).json()
    assert set(flat) == {'data'} and flat['data']['event_type'] == 'dm.received'
    emu.config(xaa_response_shape='nested', xaa_response_meta=True)
    nested = create(emu, http, 'dm.sent').json()
    assert nested['data']['subscription']['event_type'] == 'dm.sent' and nested['meta'] == {'total_subscriptions': 2}
    sub_id = nested['data']['subscription']['subscription_id']
    listing = http.get(emu.url + XAA_SUBS, auth=emu.bearer()).json()
    assert listing['meta'] == {'result_count': 2, 'total_subscriptions': 2}
    resp = http.put(emu.url + XAA_SUBS + '/' + sub_id, json={'tag': 'x'}, auth=emu.bearer()).json()
    assert resp['data']['subscription']['tag'] == 'x' and resp['data']['total_subscriptions'] == 2
    assert resp['meta'] == {'total_subscriptions': 2}
    emu.config(xaa_response_shape='flat')
    resp = http.put(emu.url + XAA_SUBS + '/' + sub_id, json={'tag': 'y'}, auth=emu.bearer()).json()
    assert resp['data']['tag'] == 'y' and resp['meta'] == {'total_subscriptions': 2}
    resp = http.delete(emu.url + XAA_SUBS + '/' + sub_id, auth=emu.bearer()).json()
    assert resp == {'data': {'deleted': True}, 'meta': {'total_subscriptions': 1}}


def test_pagination_across_pages(emu, http):
    users = [str(1000 + i) for i in range(7)]
    ids = [created(create(emu, http, 'profile.update.bio', user_id=u, auth=emu.bearer()))['subscription_id']
           for u in users]
    seen, token, pages = [], None, []
    while True:
        params = {'max_results': 3}
        if token:
            params['pagination_token'] = token
        resp = http.get(emu.url + XAA_SUBS, params=params, auth=emu.bearer())
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body['meta']['result_count'])
        seen += [s['subscription_id'] for s in body['data']]
        token = body['meta'].get('next_token')
        if not token:
            break
        assert re.match(r'^[0-9A-V]{16,}$', token)
    assert pages == [3, 3, 1] and seen == ids
    # The default page size is 100; an empty list has meta only.
    assert len(http.get(emu.url + XAA_SUBS, auth=emu.bearer()).json()['data']) == 7
    emu.reset()
    assert http.get(emu.url + XAA_SUBS, auth=emu.bearer()).json() == {'meta': {'result_count': 0}}


@pytest.mark.parametrize('params,expected', [
    ({'max_results': 0}, '`max_results` query parameter value [0]'),
    ({'max_results': 1001}, 'not between 1 and 1000'),
    ({'max_results': 'ten'}, 'not between 1 and 1000'),
    ({'pagination_token': 'not-a-token'}, '`pagination_token` query parameter value [not-a-token]'),
])
def test_list_validation(emu, http, params, expected):
    assert expected in invalid_message(http.get(emu.url + XAA_SUBS, params=params, auth=emu.bearer()))


def test_update_moves_webhook_and_tag_only(emu, http, hook):
    two_webhooks(emu)
    old = webhook(emu, http)
    new = webhook(emu, http, HOOK_URL)
    sub = created(create(emu, http, webhook_id=old, tag='hybridchat.ccm'))
    url = emu.url + XAA_SUBS + '/' + sub['subscription_id']
    resp = http.put(url, json={'webhook_id': new}, auth=emu.bearer())
    assert resp.status_code == 200, resp.text
    moved = resp.json()['data']['subscription']
    assert moved['webhook_id'] == new and moved['tag'] == 'hybridchat.ccm'
    assert moved['subscription_id'] == sub['subscription_id'] and moved['created_at'] == sub['created_at']
    assert resp.json()['data']['total_subscriptions'] == 1
    moved = http.put(url, json={'tag': 'other', 'webhook_id': old}, auth=emu.bearer()).json()['data']['subscription']
    assert (moved['tag'], moved['webhook_id']) == ('other', old)
    # Event type and filter cannot change; nor can an unknown webhook be set.
    for body in ({'event_type': 'dm.sent'}, {'filter': {'user_id': '1'}}, {'tag': 'x', 'event_type': 'dm.sent'}):
        assert 'is not a valid property' in invalid_message(http.put(url, json=body, auth=emu.bearer()))
    assert 'delete the subscription and create' in invalid_message(http.put(url, json={}, auth=emu.bearer()))
    assert 'WebhookIdInvalid' in invalid_message(http.put(url, json={'webhook_id': '99'}, auth=emu.bearer()))
    assert '1 to 200' in invalid_message(http.put(url, json={'tag': 'x' * 201}, auth=emu.bearer()))
    assert emu.state()['activity_subscriptions'][0]['tag'] == 'other'


def test_update_and_delete_are_bearer_only_and_unknown_ids_are_404(emu, http):
    sub = created(create(emu, http))
    url = emu.url + XAA_SUBS + '/' + sub['subscription_id']
    for auth in (emu.oauth1(), emu.oauth2_user()):
        assert problem(http.put(url, json={'tag': 'x'}, auth=auth), 403, 'unsupported-authentication')
        assert problem(http.delete(url, auth=auth), 403, 'unsupported-authentication')
    # Another app cannot see it.
    body = problem(http.delete(url, auth=emu.bearer('ccm-readonly')), 404, 'resource-not-found')
    assert body['resource_id'] == sub['subscription_id'] and body['resource_type'] == 'subscription'
    assert problem(http.put(url, json={'tag': 'x'}, auth=emu.bearer('ccm-readonly')), 404)
    resp = http.delete(url, auth=emu.bearer())
    assert resp.status_code == 200 and resp.json() == {'data': {'deleted': True}}
    assert problem(http.delete(url, auth=emu.bearer()), 404, 'resource-not-found')
    assert emu.state()['activity_subscriptions'] == []


def test_bulk_delete(emu, http):
    first = created(create(emu, http))['subscription_id']
    second = created(create(emu, http, 'dm.sent'))['subscription_id']
    third = created(create(emu, http, 'dm.read'))['subscription_id']
    resp = http.delete(emu.url + XAA_SUBS, params={'ids': '%s,%s,123' % (first, second)}, auth=emu.bearer())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        'data': [{'subscription_id': first, 'deleted': True}, {'subscription_id': second, 'deleted': True},
                 {'subscription_id': '123', 'deleted': False}],
        'errors': [{'subscription_id': '123', 'reason': 'NotFound',
                    'message': 'Could not find subscription with id: [123].'}],
        'meta': {'total_subscriptions': 1}}
    assert [s['subscription_id'] for s in emu.state()['activity_subscriptions']] == [third]
    for ids in ('', ','.join(str(i) for i in range(1, 102)), 'abc'):
        assert invalid_message(http.delete(emu.url + XAA_SUBS, params={'ids': ids}, auth=emu.bearer()))
    assert 'ids' in invalid_message(http.delete(emu.url + XAA_SUBS, auth=emu.bearer()))
    assert problem(http.delete(emu.url + XAA_SUBS, params={'ids': third}, auth=emu.oauth1()), 403)


def test_xaa_rate_limit_families(emu, http):
    emu.rate_limits('xaa.subscriptions.list', remaining=0, reset=int(time.time()) + 60)
    resp = http.get(emu.url + XAA_SUBS, auth=emu.bearer())
    assert resp.status_code == 429 and resp.json()['title'] == 'Too Many Requests'
    assert resp.headers['x-rate-limit-limit'] == '500' and resp.headers['x-rate-limit-remaining'] == '0'
    # Other XAA families have their own budgets.
    assert created(create(emu, http))
    resp = http.post(emu.url + '/2/webhooks/replay', json={}, auth=emu.bearer())
    assert resp.headers['x-rate-limit-limit'] == '100'


def test_cli_aaa_end_option(tmp_path):
    ready = tmp_path / 'api.json'
    env = dict(os.environ, PYTHONPATH=TOOLS_DIR)
    with subprocess.Popen([sys.executable, '-m', 'xemu', 'api', '--port', '0', '--quiet', '--aaa-end',
                           '2000-01-01T00:00:00Z', '--ready-file', str(ready)], env=env) as proc:
        try:
            deadline = time.monotonic() + 20
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            url = json.loads(ready.read_text(encoding='utf-8'))['url']
            clock = requests.get(url + '/_emulator/clock', timeout=10).json()
            assert clock['aaa_end'] == '2000-01-01T00:00:00Z' and clock['aaa_ended'] is True
            resp = requests.get(url + '/2/account_activity/subscriptions/count', timeout=10)
            assert resp.status_code == 410 and 'end of life on 2000-01-01' in resp.json()['detail']
        finally:
            proc.terminate()
            proc.wait(10)
