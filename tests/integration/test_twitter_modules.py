# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The twitter modules through ansible-playbook against the X API emulator, for v1.1 and v2."""

from __future__ import annotations

import pytest

from conftest import HOOK_URL, NEW_URL, WRONG_URL, control, run_playbook

VERSIONS = ['1.1', '2']


def task(module, register, args=None, **kw):
    out = {'name': '%s %s' % (module, register), 'hybridchat.ccm.%s' % module: args or {}, 'register': register}
    out.update(kw)
    return out


def api_requests(log):
    """'METHOD path' of the API requests in a request-log result (control calls are not logged)."""
    return ['%s %s' % (e['method'], e['path']) for e in log['json']['requests']]


def sub_args(version, **kw):
    return dict(kw) if version == '1.1' else dict(kw, webhook_url=HOOK_URL)


@pytest.mark.parametrize('version', VERSIONS)
def test_lifecycle(xstack, tmp_path, version):
    bearer = xstack.app['bearer_token']
    tasks = [
        task('twitter_crc_check', 'crc', {'url': HOOK_URL, 'connect_to': '{{ ccm_connect }}', 'ca_path': '{{ crc_ca }}',
                                          'max_latency_ms': 10000}),
        control('DELETE', 'requests'),
        task('twitter_webhook', 'check', {'url': HOOK_URL}, check_mode=True),
        control('GET', 'requests', register='log_check'),
        task('twitter_webhook', 'create', {'url': HOOK_URL}),
        control('DELETE', 'requests'),
        task('twitter_webhook', 'rerun', {'url': HOOK_URL}),
        control('GET', 'requests', register='log_rerun'),
        control('DELETE', 'requests'),
        task('twitter_webhook', 'rerun_bearer', {'url': HOOK_URL, 'bearer_token': bearer}),
        control('GET', 'requests', register='log_rerun_bearer'),
        task('twitter_subscription', 'sub_check', sub_args(version), check_mode=True),
        task('twitter_subscription', 'sub1', sub_args(version)),
        task('twitter_subscription', 'sub2', sub_args(version, user_id=xstack.owner['id'])),
        task('twitter_account_id', 'me'),
        task('twitter_account_id', 'alice', {'username': 'alice_example'}),
        task('twitter_webhook_info', 'info'),
        # every environment (v1.1) / the app (v2): an empty environment overrides module_defaults
        task('twitter_webhook_info', 'info_all', {'environment': '', 'count_subscriptions': False}),
        task('twitter_subscription', 'unsub_check', sub_args(version, state='absent'), check_mode=True),
        task('twitter_subscription', 'unsub1', sub_args(version, state='absent')),
        task('twitter_subscription', 'unsub2', sub_args(version, state='absent', user_id=xstack.owner['id'])),
        task('twitter_webhook', 'absent_check', {'url': HOOK_URL, 'state': 'absent'}, check_mode=True),
        task('twitter_webhook', 'absent1', {'url': HOOK_URL, 'state': 'absent'}),
        task('twitter_webhook', 'absent2', {'url': HOOK_URL, 'state': 'absent'}),
        control('GET', 'state', register='final'),
    ]
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults(version))

    assert r['crc']['status'] == 200 and r['crc']['response_token_valid'] is True and not r['crc']['changed']

    assert r['check']['changed'] and r['check']['webhook']['url'] == HOOK_URL
    assert all(e['method'] == 'GET' or e['path'] == '/oauth2/token' for e in r['log_check']['json']['requests'])

    assert r['create']['changed'] and r['create']['webhook']['valid'] is True and r['create']['webhook']['id']
    hook_id = r['create']['webhook']['id']
    # an idempotent run: exactly one API call, plus oauth2/token when v2 needs a bearer that was not given
    assert not r['rerun']['changed'] and r['rerun']['webhook']['id'] == hook_id
    if version == '1.1':
        assert api_requests(r['log_rerun']) == ['GET /1.1/account_activity/all/production/webhooks.json']
        assert r['create']['webhook']['environment'] == 'production'
    else:
        assert api_requests(r['log_rerun']) == ['POST /oauth2/token', 'GET /2/webhooks']
    assert r['rerun']['api_calls'] == len(api_requests(r['log_rerun']))
    assert len(api_requests(r['log_rerun_bearer'])) == 1 and r['rerun_bearer']['api_calls'] == 1

    assert r['sub_check']['changed'] and r['sub_check']['subscribed']
    assert r['sub1']['changed'] and r['sub1']['subscribed'] and r['sub1']['user_id'] == xstack.owner['id']
    assert not r['sub2']['changed'] and r['sub2']['subscribed']
    if version == '2':
        assert r['sub1']['webhook_id'] == hook_id
    assert r['me']['account_id'] == xstack.owner['id'] and r['me']['username'] == xstack.owner['username']
    assert not r['me']['changed']
    assert r['alice']['account_id'] == xstack.alice['id'] and r['alice']['name'] == xstack.alice['name']
    assert [h['url'] for h in r['info']['webhooks']] == [HOOK_URL]
    assert r['info']['subscription_counts']['subscriptions_count'] == 1
    assert [h['url'] for h in r['info_all']['webhooks']] == [HOOK_URL]
    if version == '1.1':
        assert r['info_all']['webhooks'][0]['environment'] == 'production'
    assert r['unsub_check']['changed'] and r['unsub1']['changed'] and not r['unsub1']['subscribed']
    assert not r['unsub2']['changed']
    assert r['absent_check']['changed'] and r['absent1']['changed'] and not r['absent2']['changed']
    assert r['absent1']['removed'] == [{'id': hook_id, 'url': HOOK_URL}]
    assert r['final']['json']['webhooks'] == []


@pytest.mark.parametrize('version', VERSIONS)
def test_revalidate_exclusive_and_rollback(xstack, tmp_path, version):
    tasks = [
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        control('POST', 'webhooks/{{ a.webhook.id }}/invalidate'),
        task('twitter_webhook', 'reval_check', {'url': HOOK_URL}, check_mode=True),
        task('twitter_webhook', 'reval', {'url': HOOK_URL}),
        task('twitter_webhook', 'reval2', {'url': HOOK_URL}),
        task('twitter_webhook', 'excl_check', {'url': NEW_URL, 'exclusive': True}, check_mode=True),
        task('twitter_webhook', 'excl', {'url': NEW_URL, 'exclusive': True}),
        task('twitter_webhook', 'excl2', {'url': NEW_URL, 'exclusive': True}),
        task('twitter_webhook', 'rollback', {'url': WRONG_URL, 'exclusive': True}, ignore_errors=True),
        task('twitter_webhook_info', 'info', {'count_subscriptions': False}),
    ]
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults(version))
    a_id = r['a']['webhook']['id']
    assert r['reval_check']['changed'] and r['reval_check']['revalidated']
    assert r['reval']['changed'] and r['reval']['revalidated'] and r['reval']['webhook']['valid'] is True
    assert not r['reval2']['changed'] and not r['reval2']['revalidated']
    assert r['excl_check']['changed'] and r['excl_check']['removed'] == [{'id': a_id, 'url': HOOK_URL}]
    assert r['excl']['changed'] and r['excl']['removed'] == [{'id': a_id, 'url': HOOK_URL}]
    assert r['excl']['webhook']['url'] == NEW_URL
    assert not r['excl2']['changed'] and r['excl2']['removed'] == []
    # the new registration fails its CRC: the deleted webhook is registered again and both outcomes are reported
    msg = r['rollback']['msg']
    assert r['rollback']['failed'] and WRONG_URL in msg and 'twitter_crc_check' in msg
    assert 'registered again' in msg and NEW_URL in msg
    assert [h['url'] for h in r['info']['webhooks']] == [NEW_URL]


def failing(module, register, args=None, **kw):
    return task(module, register, args, ignore_errors=True, **kw)


def rate_limit(family, reset_in):
    return control('POST', 'rate_limits', {'family': family, 'remaining': 0,
                                           'reset': '{{ (now().timestamp() | int) + %d }}' % reset_in}, no_log=True)


def statuses(log, path_suffix):
    return [e['status'] for e in log['json']['requests'] if e['path'].endswith(path_suffix)]


def assert_failed(result, *needles):
    assert result.get('failed'), result
    for needle in needles:
        assert needle in result['msg'], (needle, result['msg'])


def common_error_tasks(family, list_suffix):
    """Tasks valid for both versions, after webhook A (HOOK_URL) exists."""
    return [
        failing('twitter_webhook', 'quota', {'url': NEW_URL}),
        control('DELETE', 'requests'),
        control('POST', 'faults', {'method': 'GET', 'path_regex': list_suffix + '$', 'status': 503, 'count': 2}),
        task('twitter_webhook', 'retried', {'url': HOOK_URL}),
        control('GET', 'requests', register='log_retried'),
        control('DELETE', 'requests'),
        # one 429 whose reset is at most 2 s away, however slow the machine: the module waits and retries
        control('POST', 'faults', {'method': 'GET', 'path_regex': list_suffix + '$', 'status': 429, 'count': 1,
                                   'body': {'errors': [{'code': 88, 'message': 'Rate limit exceeded.'}]},
                                   'headers': {'x-rate-limit-reset': '{{ (now().timestamp() | int) + 1 }}',
                                               'x-rate-limit-remaining': '0'}}),
        task('twitter_webhook', 'rl_wait', {'url': HOOK_URL, 'rate_limit_wait': 15}),
        control('GET', 'requests', register='log_rl'),
        rate_limit(family, 3600),
        failing('twitter_webhook', 'rl_fail', {'url': HOOK_URL, 'rate_limit_wait': 10}),
        control('POST', 'rate_limits', {'family': family, 'remaining': 100}, no_log=True),
        failing('twitter_crc_check', 'crc_wrong', {'url': WRONG_URL, 'connect_to': '{{ wrong_connect }}', 'ca_path': '{{ crc_ca }}'}),
        failing('twitter_crc_check', 'crc_refused', {'url': HOOK_URL, 'connect_to': '127.0.0.1:1', 'ca_path': '{{ crc_ca }}'}),
        failing('twitter_crc_check', 'crc_untrusted', {'url': HOOK_URL, 'connect_to': '{{ ccm_connect }}'}),
    ]


def check_common_errors(r, list_suffix):
    assert_failed(r['quota'], 'quota', 'exclusive: true', 'Delete the old webhook')
    assert r['retried']['changed'] is False and r['retried']['api_calls'] >= 3
    assert statuses(r['log_retried'], list_suffix) == [503, 503, 200]
    assert statuses(r['log_rl'], list_suffix) == [429, 200] and not r['rl_wait']['changed']
    assert 'waiting' in str(r['rl_wait']['warnings'])
    assert_failed(r['rl_fail'], 'rate limit', 'resets at', 'rate_limit_wait')
    assert_failed(r['crc_wrong'], 'different consumer secret')
    assert r['crc_wrong']['status'] == 200 and r['crc_wrong']['response_token_valid'] is False
    assert_failed(r['crc_refused'], 'Could not connect to 127.0.0.1:1')
    assert_failed(r['crc_untrusted'], 'certificate')


def test_errors_v11(xstack, tmp_path):
    ro = xstack.readonly
    fault_348 = {'errors': [{'code': 348, 'message': "Client application is not permitted to access this user's webhook "
                                                     "subscriptions."}]}
    tasks = [
        failing('twitter_webhook', 'env_label', {'url': HOOK_URL, 'environment': 'Production'}),
        failing('twitter_webhook', 'crc_fail', {'url': WRONG_URL}),
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        failing('twitter_webhook', 'bad_creds', {'url': HOOK_URL, 'consumer_secret': 'x' * 40}),
        control('POST', 'config', {'clock_offset': 3600}),
        failing('twitter_webhook', 'skew', {'url': HOOK_URL}),
        control('POST', 'config', {'clock_offset': 0}),
        failing('twitter_webhook', 'perm', {'url': HOOK_URL, 'consumer_key': ro['consumer_key'],
                                            'consumer_secret': ro['consumer_secret']}),
        failing('twitter_webhook', 'revoked', {'url': HOOK_URL, 'access_token': xstack.owner['id'] + '-revokedTokenABCDEFGHIJ'}),
        control('POST', 'faults', {'method': 'POST', 'path_regex': 'subscriptions\\.json$', 'status': 401, 'body': fault_348}),
        failing('twitter_subscription', 'not_permitted', {'user_id': xstack.owner['id']}),
    ] + common_error_tasks('v1.webhooks.list_env', 'production/webhooks.json')
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults('1.1'))
    assert_failed(r['env_label'], 'case-sensitive', "'Production'", 'code 200')
    assert_failed(r['crc_fail'], WRONG_URL, 'twitter_crc_check', 'code 214')
    assert_failed(r['bad_creds'], 'code 32', 'consumer_key')
    assert_failed(r['skew'], 'NTP', 'code 135')
    assert_failed(r['perm'], 'code 261', 'Direct message', 'regenerate')
    assert_failed(r['revoked'], 'code 89', 'revoked')
    assert_failed(r['not_permitted'], 'code 348')
    check_common_errors(r, 'production/webhooks.json')


def test_errors_v2(xstack, tmp_path):
    permission = {'title': 'Forbidden', 'detail': 'Your client app is not configured with the appropriate oauth1 app '
                  'permissions for this endpoint.', 'type': 'https://api.twitter.com/2/problems/oauth1-permissions', 'status': 403}
    sub = {'webhook_url': HOOK_URL, 'user_id': xstack.owner['id']}
    tasks = [
        failing('twitter_webhook', 'crc_fail', {'url': WRONG_URL}),
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        failing('twitter_webhook', 'bad_secret', {'url': HOOK_URL, 'consumer_secret': 'x' * 40}),
        failing('twitter_webhook', 'bad_bearer', {'url': HOOK_URL, 'bearer_token': 'AAAA' + 'y' * 40}),
        control('POST', 'config', {'clock_offset': 3600}),
        failing('twitter_subscription', 'skew', sub),
        control('POST', 'config', {'clock_offset': 0}),
        failing('twitter_subscription', 'revoked', dict(sub, access_token=xstack.owner['id'] + '-revokedTokenABCDEFGHIJ')),
        control('POST', 'faults', {'method': 'POST', 'path_regex': 'subscriptions/all$', 'status': 403, 'body': permission}),
        failing('twitter_subscription', 'perm', sub),
        # "not subscribed" answered as a 404 instead of {"data":{"subscribed":false}}
        control('POST', 'faults', {'method': 'GET', 'path_regex': 'subscriptions/all$', 'status': 404,
                                   'body': {'title': 'Not Found Error', 'detail': 'not subscribed'}}),
        task('twitter_subscription', 'sub_404', sub),
        failing('twitter_account_id', 'unknown', {'username': 'nobody_zz9'}),
        failing('twitter_account_id', 'suspended', {'username': 'suspended_acct'}),
        failing('twitter_account_id', 'malformed', {'username': 'bad.name'}),
    ] + common_error_tasks('v2.webhooks.list', '/2/webhooks')
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults('2'))
    assert_failed(r['crc_fail'], 'CrcValidationFailed', WRONG_URL, 'twitter_crc_check')
    assert_failed(r['bad_secret'], 'bearer token', 'consumer_key')
    assert_failed(r['bad_bearer'], 'bearer_token', 'HTTP 401')
    assert_failed(r['skew'], 'NTP')
    assert_failed(r['revoked'], 'revoked')
    assert_failed(r['perm'], 'Direct message', 'regenerate')
    assert r['sub_404']['changed'] and r['sub_404']['subscribed']
    assert_failed(r['unknown'], 'No X account', 'nobody_zz9')
    assert_failed(r['suspended'], 'suspended')
    assert_failed(r['malformed'], 'not a valid X username')
    check_common_errors(r, '/2/webhooks')


def test_environment_fallbacks(xstack, tmp_path):
    """Credentials and settings from TWITTER_* environment variables only (ca_path has no variable)."""
    env = {'TWITTER_CONSUMER_KEY': xstack.app['consumer_key'], 'TWITTER_CONSUMER_SECRET': xstack.app['consumer_secret'],
           'TWITTER_ACCESS_TOKEN': xstack.owner['access_token'], 'TWITTER_ACCESS_SECRET': xstack.owner['access_secret'],
           'TWITTER_API_VERSION': '1.1', 'TWITTER_ENVIRONMENT': 'production', 'TWITTER_API_URL': xstack.emu.url}
    tasks = [task('twitter_account_id', 'me'), task('twitter_webhook', 'hook', {'url': HOOK_URL})]
    r, _out = run_playbook(xstack, tmp_path, tasks, {'ca_path': xstack.emu.ca_bundle}, extra_env=env)
    assert r['me']['account_id'] == xstack.owner['id']
    assert r['hook']['changed'] and r['hook']['webhook']['environment'] == 'production'
