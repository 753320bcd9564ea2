# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import twitter_webhook
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER, FakeResponse

URL = 'https://ccm.example.com/ccm/webhook/twitter'
OLD = 'https://old.example.com/ccm/webhook/twitter'
V1 = dict(api_version='1.1', environment='prod')


@pytest.mark.parametrize('version', [V1, {}])
def test_create_then_idempotent(fake, run_module, version):
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert not failed and res['changed']
    assert res['webhook']['url'] == URL and res['webhook']['valid'] is True
    assert res['webhook']['created_at'].endswith('Z')
    del fake.log[:]
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert not failed and not res['changed'] and res['removed'] == [] and res['revalidated'] is False
    # one list call; v2 also fetches the bearer token once
    if version:
        assert fake.paths() == ['GET /1.1/account_activity/all/prod/webhooks.json']
        assert res['webhook']['environment'] == 'prod'
    else:
        assert fake.paths() == ['POST /oauth2/token', 'GET /2/webhooks']
    assert res['api_calls'] == len(fake.log)


def test_v2_with_bearer_given_is_one_call(fake, run_module):
    fake.add_webhook(URL)
    failed, res = run_module(twitter_webhook, dict(url=URL, bearer_token=BEARER))
    assert not failed and not res['changed']
    assert fake.paths() == ['GET /2/webhooks'] and res['api_calls'] == 1


@pytest.mark.parametrize('url,needle', [
    ('http://ccm.example.com/x', 'https'),
    ('https://ccm.example.com:8443/x', 'port'),
    ('https://ccm.example.com/' + 'a' * 200, '200'),
])
def test_url_checked_locally(fake, run_module, url, needle):
    failed, res = run_module(twitter_webhook, dict(url=url))
    assert failed and needle in res['msg']
    assert fake.log == []


@pytest.mark.parametrize('version', [V1, {}])
def test_check_mode_changes_nothing(fake, run_module, version):
    failed, res = run_module(twitter_webhook, dict(url=URL, **version), check=True, diff=True)
    assert not failed and res['changed'] and res['webhook']['id'] is None
    assert fake.webhooks == []
    assert all(m == 'GET' or p == '/oauth2/token' for m, p, _a in fake.log)
    assert res['diff']['before'] == {'webhooks': []}
    assert res['diff']['after']['webhooks'][0]['url'] == URL


@pytest.mark.parametrize('version', [V1, {}])
def test_exclusive_replaces_old(fake, run_module, version):
    old = fake.add_webhook(OLD, env=version.get('environment'))
    failed, res = run_module(twitter_webhook, dict(url=URL, exclusive=True, **version), diff=True)
    assert not failed and res['changed']
    assert res['removed'] == [{'id': old['id'], 'url': OLD}]
    assert [h['url'] for h in fake.webhooks] == [URL]
    # quota 1: on v2 the first registration is refused, the old one is deleted, then the new one registered;
    # v1.1 deletes first and spends no refused request.
    methods = [m for m, _p, _a in fake.log if m in ('DELETE', 'POST') and _p != '/oauth2/token']
    assert methods == (['DELETE', 'POST'] if version else ['POST', 'DELETE', 'POST'])
    assert res['diff']['after']['webhooks'][0]['url'] == URL and len(res['diff']['after']['webhooks']) == 1


@pytest.mark.parametrize('version', [V1, {}])
def test_exclusive_rollback_on_failure(fake, run_module, version):
    fake.add_webhook(OLD, env=version.get('environment'))
    fake.crc_fail[URL] = 'Webhook URL does not meet the requirements. Invalid CRC token or json response format.'
    failed, res = run_module(twitter_webhook, dict(url=URL, exclusive=True, **version))
    assert failed
    assert 'Invalid CRC token' in res['msg'] and URL in res['msg'] and 'twitter_crc_check' in res['msg']
    assert 'registered again' in res['msg'] and OLD in res['msg']
    assert [h['url'] for h in fake.webhooks] == [OLD]


def test_exclusive_rollback_failure_reports_both(fake, run_module):
    fake.add_webhook(OLD)
    fake.crc_fail[URL] = 'endpoint returned 404'
    fake.crc_fail[OLD] = 'old endpoint is gone'
    failed, res = run_module(twitter_webhook, dict(url=URL, exclusive=True))
    assert failed and 'endpoint returned 404' in res['msg'] and 'old endpoint is gone' in res['msg']


@pytest.mark.parametrize('version', [V1, {}])
def test_quota_message(fake, run_module, version):
    fake.add_webhook(OLD, env=version.get('environment'))
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert failed and 'quota' in res['msg'] and 'exclusive: true' in res['msg']
    assert res['error_kind'] == 'quota'


@pytest.mark.parametrize('version', [V1, {}])
def test_revalidate_invalid(fake, run_module, version):
    fake.add_webhook(URL, env=version.get('environment'), valid=False)
    failed, res = run_module(twitter_webhook, dict(url=URL, **version), check=True)
    assert not failed and res['changed'] and res['revalidated'] and fake.webhooks[0]['valid'] is False
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert not failed and res['changed'] and res['revalidated'] and res['webhook']['valid'] is True
    assert fake.webhooks[0]['valid'] is True
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert not res['changed'] and not res['revalidated']


@pytest.mark.parametrize('version', [V1, {}])
def test_revalidate_fails_with_crc_message(fake, run_module, version):
    fake.add_webhook(URL, env=version.get('environment'), valid=False)
    fake.crc_fail[URL] = 'Non-200 response code during CRC GET request (i.e. 404, 500, etc).'
    failed, res = run_module(twitter_webhook, dict(url=URL, **version))
    assert failed and 'twitter_crc_check' in res['msg']


def test_revalidate_false_warns(fake, run_module):
    fake.add_webhook(URL, valid=False)
    failed, res = run_module(twitter_webhook, dict(url=URL, revalidate=False))
    assert not failed and not res['changed'] and 'invalid' in str(res['warnings'])


@pytest.mark.parametrize('version', [V1, {}])
def test_absent_by_url_and_id(fake, run_module, version):
    hook = fake.add_webhook(URL, env=version.get('environment'))
    failed, res = run_module(twitter_webhook, dict(url=URL, state='absent', **version), check=True)
    assert res['changed'] and fake.webhooks
    failed, res = run_module(twitter_webhook, dict(url=URL, state='absent', **version))
    assert not failed and res['changed'] and res['removed'] == [{'id': hook['id'], 'url': URL}] and res['webhook'] is None
    failed, res = run_module(twitter_webhook, dict(url=URL, state='absent', **version))
    assert not failed and not res['changed']
    hook = fake.add_webhook(OLD, env=version.get('environment'))
    failed, res = run_module(twitter_webhook, dict(webhook_id=hook['id'], state='absent', **version))
    assert res['changed'] and fake.webhooks == []


def test_absent_already_gone_between_list_and_delete(fake, run_module):
    hook = fake.add_webhook(URL)
    fake.fault('DELETE', r'/2/webhooks/\d+', FakeResponse(400, {'errors': [{'message': 'WebhookIdInvalid: gone'}]}))
    failed, res = run_module(twitter_webhook, dict(url=URL, state='absent'))
    assert not failed and not res['changed']
    assert hook in fake.webhooks


def test_duplicate_url_is_exists(fake, run_module):
    # the list does not show it (race), the POST says duplicate: treat as existing
    fake.add_webhook(URL)
    fake.fault('GET', r'^/2/webhooks$', FakeResponse(200, {'data': [], 'meta': {'result_count': 0}}))
    failed, res = run_module(twitter_webhook, dict(url=URL))
    assert not failed and res['webhook']['url'] == URL and len(fake.webhooks) == 1


def test_env_label_message(fake, run_module):
    failed, res = run_module(twitter_webhook, dict(url=URL, api_version='1.1', environment='Prod'))
    assert failed and 'case-sensitive' in res['msg'] and "'Prod'" in res['msg']


def test_environment_required_with_v11(fake, run_module):
    failed, res = run_module(twitter_webhook, dict(url=URL, api_version='1.1'))
    assert failed and 'environment' in res['msg']


def test_webhook_id_with_present_rejected(fake, run_module):
    failed, res = run_module(twitter_webhook, dict(url=URL, webhook_id='1'))
    assert failed and 'state=absent' in res['msg']


def test_post_connection_drop_relists(fake, run_module):
    import requests
    # the POST "fails" but the server registered it: re-listing finds it, no second POST
    real_create = fake._create

    def drop(url, env, v2):
        real_create(url, env, v2)
        raise requests.exceptions.ConnectionError('connection reset')
    fake._create = drop
    failed, res = run_module(twitter_webhook, dict(url=URL))
    assert not failed and res['changed'] and res['webhook']['url'] == URL
    assert [p for p in fake.paths() if p.startswith('POST /2')] == ['POST /2/webhooks']
    assert len(fake.webhooks) == 1


@pytest.mark.parametrize('version,order', [(V1, ['DELETE', 'POST']), ({}, ['POST', 'DELETE'])])
def test_exclusive_order_per_generation(fake, run_module, version, order):
    """v2 registers first when the quota allows it; v1.1 (one webhook per environment) deletes first."""
    fake.max_webhooks = 2
    old = fake.add_webhook(OLD, env=version.get('environment'))
    failed, res = run_module(twitter_webhook, dict(url=URL, exclusive=True, **version))
    assert not failed and res['removed'] == [{'id': old['id'], 'url': OLD}]
    methods = [m for m, _p, _a in fake.log if m in ('DELETE', 'POST') and _p != '/oauth2/token']
    assert methods == order and [h['url'] for h in fake.webhooks] == [URL]


def test_exclusive_other_error_deletes_nothing(fake, run_module):
    fake.add_webhook(OLD)
    fake.max_webhooks = 2
    fake.crc_fail[URL] = 'endpoint returned 404'
    failed, res = run_module(twitter_webhook, dict(url=URL, exclusive=True))
    assert failed and 'endpoint returned 404' in res['msg'] and [h['url'] for h in fake.webhooks] == [OLD]
    assert 'DELETE' not in [m for m, _p, _a in fake.log]


def test_webhook_id_checked_locally(fake, run_module):
    failed, res = run_module(twitter_webhook, dict(webhook_id='abc', state='absent'))
    assert failed and '1 to 19 digits' in res['msg'] and fake.log == []


# --- crc_preflight: twitter_crc_check's check first, in the same module run ----------------------------------------
class _Answer(object):
    def __init__(self, status, body, headers):
        self.status, self.data, self.headers = status, body.encode(), headers


class _CrcEndpoint(object):
    """Stands in for urllib3's HTTPSConnectionPool (module_utils._x_crc): answers X's CRC GET like CCM would."""
    answers = []
    seen = []

    def __init__(self, host, port, **kw):
        self.host, self.port = host, port

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def request(self, method, path, headers=None, **kw):
        _CrcEndpoint.seen.append((self.host, self.port, method, path))
        return _CrcEndpoint.answers.pop(0)(path)


def _crc_answer(secret=None, status=200):
    def answer(path):
        from ansible_collections.hybridchat.ccm.plugins.module_utils import x_api
        from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import CONSUMER_SECRET
        token = dict(p.split('=', 1) for p in path.split('?', 1)[1].split('&'))['crc_token']
        body = '{"response_token": "%s"}' % x_api.crc_response_token(secret or CONSUMER_SECRET, token)
        return _Answer(status, body if status == 200 else 'Bad Gateway', {'content-type': 'application/json'})
    return answer


@pytest.fixture
def crc_endpoint(monkeypatch):
    from ansible_collections.hybridchat.ccm.plugins.module_utils import _x_crc
    _CrcEndpoint.answers, _CrcEndpoint.seen = [], []
    monkeypatch.setattr(_x_crc.urllib3, 'HTTPSConnectionPool', _CrcEndpoint)
    sleeps = []
    monkeypatch.setattr(twitter_webhook.time, 'sleep', sleeps.append)
    _CrcEndpoint.sleeps = sleeps
    return _CrcEndpoint


def test_crc_preflight_then_register(fake, run_module, crc_endpoint):
    crc_endpoint.answers = [_crc_answer()]
    failed, res = run_module(twitter_webhook, dict(url=URL, crc_preflight=dict(connect_to='127.0.0.1:8443')))
    assert not failed and res['changed'], res
    assert res['crc']['attempts'] == 1 and res['crc']['status'] == 200 and res['crc']['response_token_valid'] is True
    assert [(h, p, m) for h, p, m, _path in crc_endpoint.seen] == [('127.0.0.1', 8443, 'GET')]
    assert fake.paths() == ['POST /oauth2/token', 'GET /2/webhooks', 'POST /2/webhooks']


def test_crc_preflight_wrong_secret_fails_before_any_call_to_x(fake, run_module, crc_endpoint):
    crc_endpoint.answers = [_crc_answer(secret='another-consumer-secret')]
    failed, res = run_module(twitter_webhook, dict(url=URL, crc_preflight=dict()))
    assert failed and res['reason'] == 'token', res
    assert res['msg'].startswith('CRC check of %s failed: The response_token is wrong' % URL), res['msg']
    assert res['crc']['response_token_valid'] is False and res['webhook'] is None
    assert fake.paths() == [] and res['api_calls'] == 0


def test_crc_preflight_retries_while_the_endpoint_comes_up(fake, run_module, crc_endpoint):
    crc_endpoint.answers = [_crc_answer(status=502), _crc_answer(status=502), _crc_answer()]
    failed, res = run_module(twitter_webhook, dict(url=URL, crc_preflight=dict(retries=3, delay=4)))
    assert not failed and res['crc']['attempts'] == 3, res
    assert crc_endpoint.sleeps == [4, 4]
    crc_endpoint.answers = [_crc_answer(status=502), _crc_answer(status=502)]
    failed, res = run_module(twitter_webhook, dict(url=URL, crc_preflight=dict(retries=1, delay=0)))
    assert failed and res['reason'] == 'status' and res['crc']['attempts'] == 2, res


def test_crc_preflight_not_in_check_mode(fake, run_module, crc_endpoint):
    failed, res = run_module(twitter_webhook, dict(url=URL, crc_preflight=dict()), check=True)
    assert not failed and res['changed'] and res['crc'] is None, res
    assert crc_endpoint.seen == []
