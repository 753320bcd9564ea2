# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
import requests

from ansible_collections.hybridchat.ccm.plugins.module_utils import x_api
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import XApiClient, XApiError
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import (
    ACCESS_SECRET, ACCESS_TOKEN, BEARER, CONSUMER_KEY, CONSUMER_SECRET, FakeResponse, FakeX, v1_error, v2_error,
)

NOW = 1700000000.0


@pytest.fixture
def fake():
    return FakeX()


def make(fake, **kw):
    sleeps = []
    args = dict(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, access_token=ACCESS_TOKEN,
                access_secret=ACCESS_SECRET, api_url='https://api.example.test', session=fake,
                sleep=sleeps.append, clock=lambda: NOW)
    args.update(kw)
    client = XApiClient(**args)
    client.sleeps = sleeps
    return client


def test_iso8601_and_normalise():
    assert x_api.iso8601('2019-09-13 12:34:47 +0000') == '2019-09-13T12:34:47Z'
    assert x_api.iso8601('2019-09-13 14:34:47 +0200') == '2019-09-13T12:34:47Z'
    assert x_api.iso8601('2025-01-15T12:00:00.000Z') == '2025-01-15T12:00:00.000Z'
    assert x_api.iso8601(None) is None
    hook = x_api.normalise_webhook({'id': 12, 'url': 'u', 'valid': False, 'created_timestamp': '2019-09-13 12:34:47 +0000'}, 'prod')
    assert hook == {'id': '12', 'url': 'u', 'valid': False, 'created_at': '2019-09-13T12:34:47Z', 'environment': 'prod'}


def test_crc_token_vector():
    assert x_api.crc_response_token('kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw', 'foo') == \
        'sha256=KGwPHQJPaVoxk5RWMCZXvu7ppQqe20ugPzzV9ed1O3o='


@pytest.mark.parametrize('url,ok', [
    ('https://a.example/x', True), ('https://a.example/x?site=1', True), ('http://a.example/x', False),
    ('https://a.example:443/x', False), ('https:///x', False), ('', False), ('https://a.example/' + 'x' * 190, False),
])
def test_check_webhook_url(url, ok):
    assert (x_api.check_webhook_url(url) is None) is ok


def test_bearer_fetched_once_with_basic_auth(fake):
    client = make(fake)
    backend = client.backend('2')
    backend.list_webhooks()
    backend.list_webhooks()
    assert fake.log[0] == ('POST', '/oauth2/token', 'basic')
    assert [a for _m, _p, a in fake.log[1:]] == ['bearer', 'bearer']
    assert client.api_calls == 3 and client.bearer_fetched


def test_bearer_given_not_fetched(fake):
    client = make(fake, bearer_token=BEARER)
    client.backend('2').list_webhooks()
    assert fake.paths() == ['GET /2/webhooks'] and not client.bearer_fetched


def test_bearer_bad_token_type(fake):
    fake.fault('POST', '/oauth2/token', FakeResponse(200, {'token_type': 'mac', 'access_token': 'x'}))
    with pytest.raises(XApiError, match='bearer token'):
        make(fake).backend('2').list_webhooks()


def test_oauth1_on_v11_and_signed_url_param(fake):
    client = make(fake)
    backend = client.backend('1.1', 'prod')
    backend.create_webhook('https://a.example/hook')
    assert fake.log[-1] == ('POST', '/1.1/account_activity/all/prod/webhooks.json', 'oauth1')


def test_missing_access_token_message(fake):
    client = make(fake, access_token=None, access_secret=None)
    with pytest.raises(XApiError) as exc:
        client.backend('1.1', 'prod').list_webhooks()
    assert 'TWITTER_ACCESS_TOKEN' in exc.value.msg and fake.log == []


def test_v11_needs_environment(fake):
    with pytest.raises(XApiError, match='environment'):
        make(fake).backend('1.1', None)


def test_retry_5xx_then_success(fake):
    fake.fault('GET', '/2/webhooks', FakeResponse(503, {'title': 'Service Unavailable'}), times=2)
    client = make(fake, bearer_token=BEARER)
    assert client.backend('2').list_webhooks() == []
    assert client.api_calls == 3 and client.sleeps == [0.5, 1.0]


def test_retry_5xx_bounded(fake):
    fake.fault('GET', '/2/webhooks', v1_error(131, 'Internal error', 500), times=10)
    client = make(fake, bearer_token=BEARER)
    with pytest.raises(XApiError) as exc:
        client.backend('2').list_webhooks()
    assert exc.value.kind == 'server' and client.api_calls == 1 + x_api.MAX_RETRIES
    assert 'gave up after 4 attempts' in exc.value.msg


def test_connection_error_retried_on_get(fake):
    fake.fault('GET', '/2/webhooks', requests.exceptions.ConnectionError('reset'), times=1)
    client = make(fake, bearer_token=BEARER)
    client.backend('2').list_webhooks()
    assert client.api_calls == 2


def test_no_retry_on_4xx(fake):
    fake.fault('GET', '/2/webhooks', FakeResponse(401, {'title': 'Unauthorized', 'detail': 'Unauthorized'}), times=5)
    client = make(fake, bearer_token=BEARER)
    with pytest.raises(XApiError) as exc:
        client.backend('2').list_webhooks()
    assert client.api_calls == 1 and exc.value.kind == 'auth' and 'bearer_token' in exc.value.msg


def test_post_not_resent_blindly(fake):
    fake.fault('POST', '/2/webhooks', FakeResponse(502, 'bad gateway'), times=1)
    client = make(fake, bearer_token=BEARER)
    hook = client.backend('2').create_webhook('https://a.example/hook')
    # POST failed with 5xx -> list (not there) -> POST again
    assert fake.paths() == ['POST /2/webhooks', 'GET /2/webhooks', 'POST /2/webhooks']
    assert hook['url'] == 'https://a.example/hook'


def test_429_waits_within_limit(fake):
    fake.fault('GET', '/2/webhooks', FakeResponse(429, {'title': 'Too Many Requests'}, {'x-rate-limit-reset': str(int(NOW) + 5)}))
    client = make(fake, bearer_token=BEARER, rate_limit_wait=60)
    client.backend('2').list_webhooks()
    assert client.sleeps == [6.0] and client.api_calls == 2


def test_429_fails_beyond_limit_with_reset_time(fake):
    reset = int(NOW) + 900
    fake.fault('GET', '/2/webhooks', FakeResponse(429, {'title': 'Too Many Requests'}, {'x-rate-limit-reset': str(reset)}))
    client = make(fake, bearer_token=BEARER, rate_limit_wait=60)
    with pytest.raises(XApiError) as exc:
        client.backend('2').list_webhooks()
    assert exc.value.kind == 'rate_limit' and '2023-11-14T22:28:20Z' in exc.value.msg and 'rate_limit_wait' in exc.value.msg
    assert client.sleeps == []


def test_429_without_reset_header(fake):
    fake.fault('GET', 'webhooks', v1_error(88, 'Rate limit exceeded.', 429))
    with pytest.raises(XApiError, match='no x-rate-limit-reset'):
        make(fake).backend('1.1', 'prod').list_webhooks()


@pytest.mark.parametrize('response,kind,needles', [
    (v1_error(200, 'Forbidden.', 403), 'env_label', ['case-sensitive', "'prod'"]),
    (v1_error(214, 'Too many resources already created.', 403), 'quota', ['Delete the old webhook', 'exclusive: true']),
    (v1_error(214, 'High latency on CRC GET request. Your webhook should respond in less than 3 seconds.', 400), 'crc',
     ['High latency', 'twitter_crc_check', 'https://a.example/hook']),
    (v1_error(32, 'Could not authenticate you.', 401), 'auth', ['consumer_key', 'code 32']),
    (v1_error(135, 'Timestamp out of bounds.', 401), 'clock', ['NTP']),
    (v1_error(261, 'Application cannot perform write actions.', 403), 'permission', ['Direct message', 'regenerate']),
    (v1_error(89, 'Invalid or expired token.', 401), 'token', ['revoked', 'access_token']),
    (v1_error(348, "Client application is not permitted to access this user's webhook subscriptions.", 401), 'not_permitted',
     ['not issued to this app']),
    (v2_error('CrcValidationFailed', 'Non-200 response'), 'crc', ['Non-200 response', 'twitter_crc_check', 'https://a.example/hook']),
    (v2_error('WebhookLimitExceeded', 'max 1'), 'quota', ['exclusive: true']),
    (v2_error('UrlValidationFailed', 'bad'), 'url_invalid', ['https']),
    (FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'Authenticating with OAuth 2.0 Application-Only is '
                        'forbidden for this endpoint.'}), 'unsupported_auth', ['access_token']),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'client-not-enrolled'}), 'permission', ['enrolled']),
    (FakeResponse(401, {'title': 'Unauthorized', 'detail': 'Unauthorized'}), 'auth', ['OAuth 1.0a']),
])
def test_error_messages(fake, response, kind, needles):
    fake.fault('POST', 'webhooks', response)
    client = make(fake, bearer_token=BEARER)
    backend = client.backend('1.1', 'prod')
    with pytest.raises(XApiError) as exc:
        backend.create_webhook('https://a.example/hook')
    assert exc.value.kind == kind
    for needle in needles:
        assert needle in exc.value.msg
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, BEARER):
        assert secret not in exc.value.msg


def test_oauth2_token_error_99(fake):
    body = {'errors': [{'code': 99, 'label': 'authenticity_token_error', 'message': 'Unable to verify your credentials'}]}
    fake.fault('POST', '/oauth2/token', FakeResponse(403, body))
    with pytest.raises(XApiError) as exc:
        make(fake).backend('2').list_webhooks()
    assert 'consumer_key' in exc.value.msg and exc.value.kind == 'auth'


def test_bearer_89_names_bearer(fake):
    fake.fault('GET', '/2/webhooks', FakeResponse(401, {'errors': [{'message': 'Invalid or expired token', 'code': 89}]}))
    with pytest.raises(XApiError) as exc:
        make(fake, bearer_token=BEARER).backend('2').list_webhooks()
    assert 'bearer_token' in exc.value.msg


def test_v2_subscription_not_subscribed_variants(fake):
    hook = fake.add_webhook('https://a.example/hook')
    backend = make(fake, bearer_token=BEARER).backend('2')
    assert backend.is_subscribed(hook['id']) is False              # {"data":{"subscribed":false}}
    fake.fault('GET', 'subscriptions/all$', FakeResponse(404, {'title': 'Not Found Error'}))
    assert backend.is_subscribed(hook['id']) is False
    fake.fault('GET', 'subscriptions/all$', v2_error('SubscriptionNotFound', 'not subscribed'))
    assert backend.is_subscribed(hook['id']) is False
    assert backend.subscribe(hook['id']) is True
    assert backend.is_subscribed(hook['id']) is True
    assert backend.subscribe(hook['id']) is False                   # DuplicateSubscriptionFailed -> success
    with pytest.raises(XApiError, match='does not exist'):
        backend.is_subscribed('999')


def test_v11_subscription_flow(fake):
    fake.add_webhook('https://a.example/hook', env='prod')
    backend = make(fake, bearer_token=BEARER).backend('1.1', 'prod')
    assert backend.is_subscribed() is False
    assert backend.subscribe() is True
    assert backend.subscribe() is False                             # "Subscription already exists."
    assert backend.list_subscriptions() == ['1111']
    assert backend.unsubscribe(None, '1111') is True
    assert backend.unsubscribe(None, '1111') is False
    assert backend.subscription_counts() == {'subscriptions_count': 0, 'provisioned_count': 15, 'account_name': 'app'}


def test_users(fake):
    client = make(fake)
    assert client.me('2') == {'id': '1111', 'username': 'ccm_bot', 'name': 'CCM Bot'}
    assert client.me('1.1') == {'id': '1111', 'username': 'ccm_bot', 'name': 'CCM Bot'}
    assert client.user_by_username('other_user')['id'] == '2222'
    with pytest.raises(XApiError, match='suspended'):
        client.user_by_username('bad_guy')
    with pytest.raises(XApiError, match='No X account'):
        client.user_by_username('nobody_here')


def test_redirect_is_an_error(fake):
    fake.fault('GET', '/2/webhooks', FakeResponse(301, '', {'Location': 'https://api.x.com/2/webhooks'}))
    with pytest.raises(XApiError, match='redirect'):
        make(fake, bearer_token=BEARER).backend('2').list_webhooks()
