# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The X Activity API part of the client (plugins/module_utils/_x_xaa.py) against mocked HTTP."""

from __future__ import annotations

import datetime

import pytest
import requests

from ansible_collections.hybridchat.ccm.plugins.module_utils import _x_xaa, x_api
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import XApiClient, XApiError
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import (
    ACCESS_SECRET, ACCESS_TOKEN, BEARER, CONSUMER_KEY, CONSUMER_SECRET, OAUTH2_USER_TOKEN, OWNER_ID, SECRETS, FakeResponse,
    FakeX,
)

NOW = 1796644800.0  # 2026-12-07T12:00:00Z
SUBS = '/2/activity/subscriptions'


@pytest.fixture
def fake():
    return FakeX()


def make(fake, **kw):
    args = dict(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, access_token=ACCESS_TOKEN,
                access_secret=ACCESS_SECRET, bearer_token=BEARER, api_url='https://api.example.test', session=fake,
                clock=lambda: NOW)
    args.update(kw)
    client = XApiClient(**args)
    client.sleeps = []
    client.sleep = client.sleeps.append
    client.warnings = []
    client.warn = client.warnings.append
    return client


def expect_error(fake, call, kind, needles, **kw):
    client = make(fake, **kw)
    with pytest.raises(XApiError) as exc:
        call(client.xaa())
    assert exc.value.kind == kind, exc.value.msg
    for needle in needles:
        assert needle in exc.value.msg
    for secret in SECRETS:
        assert secret not in exc.value.msg
    return exc.value


# ---- response shapes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('body,expected', [
    ({'data': {'subscription': {'subscription_id': '5', 'event_type': 'dm.sent', 'filter': {'user_id': '1'},
                                'webhook_id': '9', 'tag': 't'}}, 'errors': []}, ('5', 'dm.sent', '1', '9', 't')),
    ({'data': {'subscription_id': '5', 'event_type': 'dm.sent', 'filter': {'user_id': 1}, 'tag': 't'}},
     ('5', 'dm.sent', '1', None, 't')),
    ({'data': [{'subscription_id': 5, 'event_type': 'chat.conversation_join', 'filter': {'user_id': '1'}}],
      'meta': {'total_subscriptions': 1}}, ('5', 'chat.conversation.join', '1', None, None)),
    ({'data': {'subscription': {'subscription_id': '5', 'event_type': 'dm.sent', 'filter': {'user_id': '1'}},
               'total_subscriptions': 3}}, ('5', 'dm.sent', '1', None, None)),
])
def test_subscription_shapes(body, expected):
    sub = _x_xaa.subscription_from_body(body)
    assert (sub['id'], sub['event_type'], sub['user_id'], sub['webhook_id'], sub['tag']) == expected


def test_subscription_shapes_without_subscription():
    assert _x_xaa.subscription_from_body({'data': {'deleted': True}}) is None
    assert _x_xaa.subscription_from_body({'errors': [{'title': 'x'}]}) is None
    assert _x_xaa.subscription_from_body(None) is None
    listed = {'data': {'subscriptions': [{'subscription_id': '1', 'event_type': 'dm.sent', 'filter': {'user_id': '2'}}]}}
    assert _x_xaa.subscriptions_from_body(listed)[0]['id'] == '1'
    assert _x_xaa.subscriptions_from_body({}) == []
    assert _x_xaa.subscriptions_from_body({'data': []}) == []


@pytest.mark.parametrize('meta_key', ['next_token', 'pagination_token'])
def test_list_all_pages(fake, meta_key):
    fake.xaa_page_size = 2
    fake.xaa_meta_key = meta_key
    for i in range(5):
        fake.add_sub('dm.received', user_id=str(100 + i))
    client = make(fake)
    subs = client.xaa().list_subscriptions()
    assert [s['user_id'] for s in subs] == ['100', '101', '102', '103', '104']
    assert fake.paths() == ['GET ' + SUBS] * 3 and client.api_calls == 3
    assert [a for _m, _p, a in fake.log] == ['bearer'] * 3


def test_list_without_meta_is_one_page(fake):
    fake.xaa_page_size = 2
    fake.xaa_meta_key = None
    for i in range(3):
        fake.add_sub('dm.sent', user_id=str(i))
    assert len(make(fake).xaa().list_subscriptions()) == 2 and len(fake.log) == 1


def test_list_repeated_token_stops(fake):
    fake.fault('GET', SUBS, FakeResponse(200, {'data': [], 'meta': {'next_token': 'same'}}), times=5)
    client = make(fake)
    assert client.xaa().list_subscriptions() == [] and client.api_calls == 2


def test_list_non_fatal_errors_warn(fake):
    fake.fault('GET', SUBS, FakeResponse(200, {'data': [], 'errors': [{'title': 'Partial', 'detail': 'field hydration'}]}))
    client = make(fake)
    assert client.xaa().list_subscriptions() == []
    assert 'field hydration' in client.warnings[0]


# ---- create -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape', ['nested', 'flat', 'list'])
def test_create_with_oauth1(fake, shape):
    fake.xaa_shape = shape
    hook = fake.add_webhook('https://a.example/hook')
    client = make(fake)
    sub, created = client.xaa().create_subscription('dm.received', OWNER_ID, hook['id'], 'hybridchat.ccm')
    assert created and sub == {'id': fake.xaa_subs[0]['id'], 'event_type': 'dm.received', 'user_id': OWNER_ID,
                               'webhook_id': hook['id'], 'tag': 'hybridchat.ccm'}
    assert fake.log == [('POST', SUBS, 'oauth1')]
    assert fake.last_json == {'event_type': 'dm.received', 'filter': {'user_id': OWNER_ID}, 'tag': 'hybridchat.ccm',
                              'webhook_id': hook['id']}


def test_create_with_oauth2_user_token(fake):
    client = make(fake, access_token=None, access_secret=None, oauth2_user_token=OAUTH2_USER_TOKEN)
    sub, created = client.xaa().create_subscription('dm.sent', OWNER_ID)
    assert created and fake.log == [('POST', SUBS, 'oauth2_user')] and sub['webhook_id'] is None
    assert client.me()['id'] == OWNER_ID and fake.log[-1] == ('GET', '/2/users/me', 'oauth2_user')


def test_create_oauth1_preferred_over_oauth2(fake):
    make(fake, oauth2_user_token=OAUTH2_USER_TOKEN).xaa().create_subscription('dm.sent', OWNER_ID)
    assert fake.log == [('POST', SUBS, 'oauth1')]


def test_create_without_user_credentials(fake):
    err = expect_error(fake, lambda x: x.create_subscription('dm.sent', OWNER_ID), 'missing_credentials',
                       ['TWITTER_ACCESS_TOKEN'], access_token=None, access_secret=None)
    assert fake.log == [] and err


@pytest.mark.parametrize('style', [409, 400])
def test_create_duplicate_reads_existing(fake, style):
    fake.xaa_duplicate = style
    existing = fake.add_sub('dm.received', webhook_id='77', tag='old')
    client = make(fake)
    sub, created = client.xaa().create_subscription('dm.received', OWNER_ID, None, 'hybridchat.ccm')
    assert not created and sub['id'] == existing['id'] and sub['tag'] == 'old'
    assert fake.paths() == ['POST ' + SUBS, 'GET ' + SUBS]


def test_create_duplicate_not_listed_yet(fake):
    fake.fault('POST', SUBS, FakeResponse(409, {'title': 'Conflict', 'detail': 'Duplicate subscription'}))
    expect_error(fake, lambda x: x.create_subscription('dm.sent', OWNER_ID), 'duplicate_subscription',
                 ['provisioning', 'again'])


def test_create_dropped_connection_rereads_then_resends(fake):
    fake.fault('POST', SUBS, requests.exceptions.ConnectionError('reset'))
    client = make(fake)
    sub, created = client.xaa().create_subscription('dm.sent', OWNER_ID)
    assert created and fake.paths() == ['POST ' + SUBS, 'GET ' + SUBS, 'POST ' + SUBS] and len(fake.xaa_subs) == 1


def test_create_5xx_that_acted_is_found(fake):
    fake.fault('POST', SUBS, FakeResponse(503, {'title': 'Service Unavailable'}))
    fake.add_sub('dm.sent')  # X created it before the gateway failed
    sub, created = make(fake).xaa().create_subscription('dm.sent', OWNER_ID)
    assert created and sub['id'] == fake.xaa_subs[0]['id'] and fake.paths() == ['POST ' + SUBS, 'GET ' + SUBS]


def test_create_200_with_errors_only(fake):
    fake.fault('POST', SUBS, FakeResponse(200, {'errors': [{'title': 'Invalid Request', 'status': 400,
                                                            'detail': 'Subscription limit reached.'}]}))
    expect_error(fake, lambda x: x.create_subscription('dm.sent', OWNER_ID), 'subscription_limit', ['1,500'])


def test_create_200_without_subscription(fake):
    fake.fault('POST', SUBS, FakeResponse(200, {'data': {}}))
    expect_error(fake, lambda x: x.create_subscription('dm.sent', OWNER_ID), 'bad_response', ['without the subscription'])


# ---- error mapping ------------------------------------------------------------------------------------------

PROBLEM = 'https://api.x.com/2/problems/'


@pytest.mark.parametrize('response,kind,needles', [
    (FakeResponse(400, {'title': 'Invalid Request', 'detail': 'Subscription limit reached for this application.'}),
     'subscription_limit', ['cap is reached', '1,500', 'state=absent']),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'Max subscriptions exceeded', 'type': PROBLEM + 'disallowed-resource'}),
     'subscription_limit', ['cap']),
    (FakeResponse(400, {'title': 'Invalid Request', 'detail': 'The webhook_id is invalid.', 'type': PROBLEM + 'invalid-request'}),
     'webhook_invalid', ['webhook_id 123', 'twitter_webhook_info']),
    (FakeResponse(404, {'title': 'Not Found Error', 'detail': 'Could not find webhook with id: [123].',
                        'type': PROBLEM + 'resource-not-found', 'resource_type': 'webhook'}), 'webhook_invalid',
     ['register the webhook']),
    (FakeResponse(400, {'errors': [{'message': 'WebhookIdInvalid: no such webhook'}]}), 'webhook_invalid', ['webhook_id']),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'The user has not authorized your application.',
                        'type': PROBLEM + 'not-authorized-for-resource'}), 'not_authorized',
     ['authorised this app', 'access token and secret', '1111']),
    (FakeResponse(403, {'title': 'Forbidden', 'type': PROBLEM + 'not-authorized-for-resource'}), 'not_authorized', ['user_id']),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'Your app does not have the permission to read Direct Messages.'}),
     'permission', ['Read and write and Direct message', 'dm.read']),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'Missing scope dm.read'}), 'permission', ['dm.read']),
    (FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'Authenticating with OAuth 2.0 Application-Only is '
                        'forbidden for this endpoint.'}), 'unsupported_auth', ['private events', 'oauth2_user_token']),
    (FakeResponse(400, {'title': 'Invalid Request', 'detail': 'event_type is not valid'}), 'invalid_request', ['event_type']),
    (FakeResponse(401, {'title': 'Unauthorized', 'detail': 'Unauthorized', 'status': 401}), 'auth', ['OAuth 1.0a']),
])
def test_create_error_messages(fake, response, kind, needles):
    fake.fault('POST', SUBS, response)
    expect_error(fake, lambda x: x.create_subscription('dm.received', OWNER_ID, '123'), kind, needles)


def test_oauth2_user_token_rejected(fake):
    fake.fault('POST', SUBS, FakeResponse(401, {'title': 'Unauthorized', 'detail': 'Unauthorized', 'status': 401}))
    expect_error(fake, lambda x: x.create_subscription('dm.received', OWNER_ID), 'auth',
                 ['OAuth 2.0 user token', 'TWITTER_OAUTH2_USER_TOKEN'], access_token=None, oauth2_user_token=OAUTH2_USER_TOKEN)


def test_429_waits_then_succeeds(fake):
    fake.fault('GET', SUBS, FakeResponse(429, {'title': 'Too Many Requests'}, {'x-rate-limit-reset': str(int(NOW) + 5)}))
    client = make(fake, rate_limit_wait=60)
    assert client.xaa().list_subscriptions() == []
    assert client.sleeps == [6.0] and client.api_calls == 2 and 'waiting' in client.warnings[0]


def test_429_beyond_wait_names_reset_time(fake):
    fake.fault('POST', SUBS, FakeResponse(429, {'title': 'Too Many Requests'}, {'x-rate-limit-reset': str(int(NOW) + 900)}))
    expect_error(fake, lambda x: x.create_subscription('dm.sent', OWNER_ID), 'rate_limit',
                 ['2026-12-07T12:15:00Z', 'rate_limit_wait'], rate_limit_wait=10)


@pytest.mark.parametrize('path,response', [
    ('/2/account_activity/webhooks/1/subscriptions/all', FakeResponse(410, {'title': 'Gone', 'detail': 'Gone'})),
    ('/2/account_activity/webhooks/1/subscriptions/all', FakeResponse(403, {
        'title': 'Forbidden', 'detail': 'The Account Activity API has reached end of life.'})),
    ('/1.1/account_activity/all/prod/subscriptions.json', FakeResponse(403, {'errors': [{
        'code': 453, 'message': 'The Account Activity API is retired. Use the X Activity API.'}]})),
])
def test_aaa_ended_message(fake, path, response):
    fake.fault('POST', path, response)
    client = make(fake)
    backend = client.backend('1.1', 'prod') if path.startswith('/1.1') else client.backend('2')
    fake.add_webhook('https://a.example/hook', env='prod' if path.startswith('/1.1') else None)
    with pytest.raises(XApiError) as exc:
        backend.subscribe('1')
    assert exc.value.kind == 'aaa_ended'
    for needle in ('2027-01-01', 'ccm_twitter_activity_api: xaa', 'twitter_activity_subscription'):
        assert needle in exc.value.msg


def test_aaa_plain_404_is_not_end_of_life(fake):
    fake.fault('DELETE', '/2/account_activity/', FakeResponse(404, {'title': 'Not Found Error', 'detail': 'no such user'}))
    assert make(fake).backend('2').unsubscribe('99', OWNER_ID) is False


# ---- update / delete ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape', ['nested', 'flat', 'list'])
def test_update_put_only_webhook_and_tag(fake, shape):
    fake.xaa_shape = shape
    new = fake.add_webhook('https://b.example/hook')
    sub = fake.add_sub('dm.sent', webhook_id='77', tag='old')
    out = make(fake).xaa().update_subscription(sub['id'], webhook_id=new['id'], tag='hybridchat.ccm')
    assert out['webhook_id'] == new['id'] and out['tag'] == 'hybridchat.ccm'
    assert fake.log == [('PUT', SUBS + '/' + sub['id'], 'bearer')]
    assert fake.last_json == {'webhook_id': new['id'], 'tag': 'hybridchat.ccm'}


def test_update_unknown_webhook(fake):
    sub = fake.add_sub('dm.sent')
    expect_error(fake, lambda x: x.update_subscription(sub['id'], webhook_id='555'), 'webhook_invalid', ['555'])


def test_update_without_data(fake):
    sub = fake.add_sub('dm.sent')
    fake.fault('PUT', SUBS, FakeResponse(200, {'data': {'updated': True}}))
    assert make(fake).xaa().update_subscription(sub['id'], tag='x') is None


def test_delete_and_already_absent(fake):
    sub = fake.add_sub('dm.sent')
    xaa = make(fake).xaa()
    assert xaa.delete_subscription(sub['id']) is True
    assert xaa.delete_subscription(sub['id']) is False
    assert [a for _m, _p, a in fake.log] == ['bearer', 'bearer']


def test_delete_not_deleted(fake):
    sub = fake.add_sub('dm.sent')
    fake.fault('DELETE', SUBS, FakeResponse(200, {'data': {'deleted': False}}))
    expect_error(fake, lambda x: x.delete_subscription(sub['id']), 'bad_response', ['deleted: false'])


def test_bearer_fetched_once_for_xaa(fake):
    client = make(fake, bearer_token=None)
    sub = fake.add_sub('dm.sent')
    client.xaa().list_subscriptions()
    client.xaa().delete_subscription(sub['id'])
    assert fake.paths() == ['POST /oauth2/token', 'GET ' + SUBS, 'DELETE %s/%s' % (SUBS, sub['id'])]


# ---- replay ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('body', [
    {'data': {'job_id': '1788', 'created_at': '2026-12-07T12:00:00.000Z'}},
    {'job_id': '1788', 'created_at': '2026-12-07T12:00:00.000Z'},
])
def test_replay_shapes(fake, body):
    hook = fake.add_webhook('https://a.example/hook')
    fake.fault('POST', 'replay', FakeResponse(200, body))
    out = make(fake).xaa().replay(hook['id'], '202612070900', '202612071100')
    assert out == {'job_id': '1788', 'created_at': '2026-12-07T12:00:00.000Z'}
    assert fake.log == [('POST', '/2/webhooks/replay', 'bearer')]
    assert fake.last_json == {'webhook_id': hook['id'], 'from_date': '202612070900', 'to_date': '202612071100'}


@pytest.mark.parametrize('response,kind,needles', [
    (FakeResponse(409, {'title': 'Conflict', 'detail': 'ReplayConflictError'}), 'replay_conflict', ['one replay job']),
    (FakeResponse(400, {'errors': [{'message': 'ReplayConflictError: A replay job is already in progress'}]}),
     'replay_conflict', ['replay_job_status']),
    (FakeResponse(400, {'errors': [{'message': 'WebhookIdInvalid: no such webhook'}]}), 'webhook_invalid', ['12']),
    (FakeResponse(400, {'title': 'Invalid Request', 'detail': 'from_date is invalid'}), 'invalid_request', ['24 hours']),
    (FakeResponse(200, {}), 'bad_response', ['job_id']),
])
def test_replay_errors(fake, response, kind, needles):
    fake.fault('POST', 'replay', response)
    expect_error(fake, lambda x: x.replay('12', '202612070900', '202612071100'), kind, needles)


def test_replay_not_resent_after_drop(fake):
    fake.fault('POST', 'replay', requests.exceptions.ConnectionError('reset'))
    err = expect_error(fake, lambda x: x.replay('12', '202612070900', '202612071100'), 'connection', ['may have created'])
    assert len(fake.log) == 1 and err


# ---- local checks ---------------------------------------------------------------------------------------------

def test_check_event_types():
    assert x_api.check_event_types(['dm.received', 'dm.sent', 'chat.conversation_join']) is None
    msg = x_api.check_event_types(['dm_received'])
    assert "'dm_received'" in msg and 'did you mean dm.received' in msg
    assert 'at least one' in x_api.check_event_types([])
    assert 'DMReceived' in x_api.check_event_types(['DMReceived', 'dm.sent'])


@pytest.mark.parametrize('value,ok', [('1', True), ('1' * 19, True), ('1' * 20, False), ('12a', False), ('', False),
                                      (None, True)])
def test_check_id(value, ok):
    assert (x_api.check_id('webhook_id', value) is None) is ok


def test_check_tag():
    assert x_api.check_tag('hybridchat.ccm') is None and x_api.check_tag('x' * 200) is None
    assert '201' in x_api.check_tag('x' * 201) and x_api.check_tag('') is not None


@pytest.mark.parametrize('value,expected', [
    ('202612070930', '202612070930'),
    ('2026-12-07T09:30:00Z', '202612070930'),
    ('2026-12-07T09:30:59.123Z', '202612070930'),
    ('2026-12-07T09:30', '202612070930'),
    ('2026-12-07 10:30:00+01:00', '202612070930'),
])
def test_parse_replay_time(value, expected):
    assert x_api.format_replay_date(x_api.parse_replay_time('from_time', value)) == expected


@pytest.mark.parametrize('value', ['yesterday', '202613070930', '20261207093', '2026-12-07T25:00Z'])
def test_parse_replay_time_bad(value):
    with pytest.raises(ValueError, match='from_time'):
        x_api.parse_replay_time('from_time', value)


def test_check_replay_window():
    now = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc)

    def t(text):
        return x_api.parse_replay_time('t', text)
    assert x_api.check_replay_window(t('202612061200'), t('202612071200'), now) is None
    assert 'after to_time' in x_api.check_replay_window(t('202612071100'), t('202612071000'), now)
    assert 'future' in x_api.check_replay_window(t('202612071100'), t('202612071201'), now)
    assert '24 hours' in x_api.check_replay_window(t('202612061159'), t('202612071000'), now)
