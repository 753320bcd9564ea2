# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The X Activity API modules through ansible-playbook (-vvv --diff) against the X API emulator."""

from __future__ import annotations

import copy
import re

from conftest import AAA_END_PINNED, HOOK_URL, NEW_URL, control, run_playbook

SUBS = '/2/activity/subscriptions'
SUB_ID = '{{ a.webhook.id }}'


def task(module, register, args=None, **kw):
    out = {'name': '%s %s' % (module, register), 'hybridchat.ccm.%s' % module: args or {}, 'register': register}
    out.update(kw)
    return out


def failing(module, register, args=None, **kw):
    return task(module, register, args, ignore_errors=True, **kw)


def api_requests(log):
    return ['%s %s' % (e['method'], e['path']) for e in log['json']['requests']]


def writes(log):
    return [r for r in api_requests(log) if not r.startswith('GET ') and r != 'POST /oauth2/token']


def assert_failed(result, *needles):
    assert result.get('failed'), result
    for needle in needles:
        assert needle in result['msg'], (needle, result['msg'])


def two_webhooks(xstack):
    """The emulator reset to a seed whose app may register two v2 webhooks (to move subscriptions between them)."""
    seed = copy.deepcopy(xstack.emu.raw_seed)
    seed['apps'][0].setdefault('v2', {})['max_webhooks'] = 2
    xstack.emu.reset(seed)


def test_subscription_lifecycle(xstack, tmp_path):
    two_webhooks(xstack)
    owner = xstack.owner['id']
    bearer = xstack.app['bearer_token']
    a, b = '{{ a.webhook.id }}', '{{ b.webhook.id }}'
    tasks = [
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        task('twitter_webhook', 'b', {'url': NEW_URL}),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'check', {'webhook_id': a}, check_mode=True),
        control('GET', 'requests', register='log_check'),
        task('twitter_activity_subscription', 'create', {'webhook_id': a}),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'rerun', {'webhook_id': a, 'user_id': owner, 'bearer_token': bearer}),
        control('GET', 'requests', register='log_rerun'),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'rerun_nobearer', {'webhook_id': a, 'user_id': owner}),
        control('GET', 'requests', register='log_rerun_nobearer'),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'move_check', {'webhook_id': b, 'user_id': owner}, check_mode=True),
        task('twitter_activity_subscription', 'move', {'webhook_id': b, 'user_id': owner}),
        control('GET', 'requests', register='log_move'),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'retag', {'webhook_id': b, 'user_id': owner, 'tag': 'site-a'}),
        control('GET', 'requests', register='log_retag'),
        task('twitter_activity_subscription', 'foreign', {'webhook_id': b, 'event_types': ['dm.read'], 'tag': 'other-tool'}),
        task('twitter_activity_subscription', 'typing', {'webhook_id': b, 'event_types': ['dm.indicate_typing'],
                                                         'tag': 'site-a'}),
        task('twitter_activity_subscription', 'excl', {'webhook_id': b, 'tag': 'site-a', 'exclusive': True,
                                                       'event_types': ['dm.received', 'dm.sent']}),
        task('twitter_activity_subscription', 'excl2', {'webhook_id': b, 'tag': 'site-a', 'exclusive': True}),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'absent_check', {'state': 'absent', 'tag': 'site-a'}, check_mode=True),
        control('GET', 'requests', register='log_absent_check'),
        task('twitter_activity_subscription', 'absent', {'state': 'absent', 'tag': 'site-a'}),
        task('twitter_activity_subscription', 'absent2', {'state': 'absent', 'tag': 'site-a'}),
        task('twitter_activity_subscription_info', 'info'),
        task('twitter_activity_subscription_info', 'info_read', {'event_type': 'dm.read', 'webhook_id': b, 'user_id': owner}),
        task('twitter_activity_subscription_info', 'info_none', {'webhook_id': a}),
    ]
    r, out = run_playbook(xstack, tmp_path, tasks, xstack.defaults('2'))
    a_id, b_id = r['a']['webhook']['id'], r['b']['webhook']['id']

    # check mode: read calls only, created holds nulls
    assert r['check']['changed'] and r['check']['created'] == [None, None]
    assert writes(r['log_check']) == [] and r['check']['user_id'] == owner
    assert [s['event_type'] for s in r['check']['subscriptions']] == ['dm.received', 'dm.sent']

    # create: owner lookup, one list, one create per event type
    assert r['create']['changed'] and len(r['create']['created']) == 2 and None not in r['create']['created']
    assert sorted(s['id'] for s in r['create']['subscriptions']) == sorted(r['create']['created'])
    assert all(s['webhook_id'] == a_id and s['tag'] == 'hybridchat.ccm' and s['user_id'] == owner
               for s in r['create']['subscriptions'])

    # rerun with user_id: one API call; without a bearer token the list is read with the user context (no oauth2/token)
    assert not r['rerun']['changed'] and r['rerun']['api_calls'] == 1
    assert api_requests(r['log_rerun']) == ['GET ' + SUBS]
    assert not r['rerun_nobearer']['changed'] and r['rerun_nobearer']['api_calls'] == 1
    assert api_requests(r['log_rerun_nobearer']) == ['GET ' + SUBS]

    # move to another webhook: PUT only, same ids
    ids = sorted(r['create']['created'])
    assert r['move_check']['changed'] and sorted(r['move_check']['updated']) == ids
    assert r['move']['changed'] and sorted(r['move']['updated']) == ids and r['move']['created'] == []
    assert sorted(writes(r['log_move'])) == sorted('PUT %s/%s' % (SUBS, i) for i in ids)
    assert all(s['webhook_id'] == b_id for s in r['move']['subscriptions'])

    # tag change: PUT only
    assert sorted(r['retag']['updated']) == ids and all(s['tag'] == 'site-a' for s in r['retag']['subscriptions'])
    assert sorted(writes(r['log_retag'])) == sorted('PUT %s/%s' % (SUBS, i) for i in ids)

    # exclusive deletes other event types of the same tag only
    typing_id = r['typing']['created'][0]
    foreign_id = r['foreign']['created'][0]
    assert r['excl']['changed'] and r['excl']['deleted'] == [typing_id] and r['excl']['created'] == []
    assert not r['excl2']['changed']

    # absent: only the tag's subscriptions; check mode writes nothing
    assert r['absent_check']['changed'] and sorted(r['absent_check']['deleted']) == ids
    assert writes(r['log_absent_check']) == []
    assert r['absent']['changed'] and sorted(r['absent']['deleted']) == ids and r['absent']['subscriptions'] == []
    assert not r['absent2']['changed']

    # info: the foreign-tag subscription is untouched
    assert r['info']['total'] == 1 and r['info']['subscriptions'][0]['id'] == foreign_id
    assert r['info_read']['total'] == 1 and r['info_read']['subscriptions'][0]['tag'] == 'other-tool'
    assert r['info_none']['total'] == 0 and r['info_none']['subscriptions'] == []

    # --diff shows the subscriptions before and after a change (here the tag change)
    assert re.search(r'^-\s+"tag": "hybridchat\.ccm"', out, re.M) and re.search(r'^\+\s+"tag": "site-a"', out, re.M)


def test_subscription_errors(xstack, tmp_path):
    owner = xstack.owner['id']
    alice = xstack.alice['id']
    no_oauth1 = {'access_token': '', 'access_secret': ''}
    rl_reset = '{{ (now().timestamp() | int) + 1 }}'
    tasks = [
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        control('DELETE', 'requests'),
        failing('twitter_activity_subscription', 'bad_event', {'webhook_id': SUB_ID, 'event_types': ['dm.received', 'dm_sent']}),
        failing('twitter_activity_subscription', 'bad_hook', {'webhook_id': 'https://ccm.example.test/hook'}),
        failing('twitter_activity_subscription', 'bad_tag', {'webhook_id': SUB_ID, 'tag': 'x' * 201}),
        failing('twitter_activity_subscription', 'no_hook', {}),
        control('GET', 'requests', register='log_bad'),
        failing('twitter_activity_subscription', 'unknown_hook', {'webhook_id': '4242', 'user_id': owner}),
        failing('twitter_activity_subscription', 'not_authorised', {'webhook_id': SUB_ID, 'user_id': alice}),
        failing('twitter_activity_subscription', 'no_scope',
                dict(no_oauth1, webhook_id=SUB_ID, user_id=alice, oauth2_user_token=xstack.oauth2_token('alice_example'))),
        # the other answer shapes X's documents show: a flat data and meta.total_subscriptions
        control('POST', 'config', {'xaa_response_shape': 'flat', 'xaa_response_meta': True}),
        task('twitter_activity_subscription', 'oauth2',
             dict(no_oauth1, webhook_id=SUB_ID, user_id=owner, event_types=['dm.read'],
                  oauth2_user_token=xstack.oauth2_token(None))),
        # a duplicate the list did not show (X still provisioning): read back, no failure, nothing created
        control('POST', 'config', {'xaa_duplicate': 'invalid'}),
        control('POST', 'faults', {'method': 'GET', 'path_regex': SUBS + '$', 'status': 200, 'count': 1,
                                   'body': {'meta': {'result_count': 0}}}),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription', 'dup', {'webhook_id': SUB_ID, 'user_id': owner, 'event_types': ['dm.read']}),
        control('GET', 'requests', register='log_dup'),
        control('POST', 'config', {'xaa_duplicate': 'conflict', 'xaa_max_subscriptions': 1}),
        failing('twitter_activity_subscription', 'cap', {'webhook_id': SUB_ID, 'user_id': owner}),
        control('POST', 'config', {'xaa_max_subscriptions': 1500}),
        # one 429 whose reset is at most 2 s away: the module waits and retries
        control('POST', 'faults', {'method': 'GET', 'path_regex': SUBS + '$', 'status': 429, 'count': 1,
                                   'body': {'title': 'Too Many Requests', 'detail': 'Too Many Requests', 'status': 429},
                                   'headers': {'x-rate-limit-reset': rl_reset, 'x-rate-limit-remaining': '0'}}),
        control('DELETE', 'requests'),
        task('twitter_activity_subscription_info', 'rl_wait', {'rate_limit_wait': 15}),
        control('GET', 'requests', register='log_rl'),
        control('POST', 'rate_limits', {'family': 'xaa.subscriptions.list', 'remaining': 0,
                                        'reset': '{{ (now().timestamp() | int) + 3600 }}'}, no_log=True),
        failing('twitter_activity_subscription', 'rl_fail', {'webhook_id': SUB_ID, 'user_id': owner, 'rate_limit_wait': 10}),
        control('POST', 'rate_limits', {'family': 'xaa.subscriptions.list', 'remaining': 100}, no_log=True),
        # after the end of AAA the AAA endpoints refuse, with the way to XAA
        control('POST', 'config', {'aaa_end': '2020-01-01T00:00:00Z'}),
        failing('twitter_subscription', 'aaa_ended', {'webhook_id': SUB_ID, 'user_id': owner}),
        control('POST', 'config', {'aaa_end': AAA_END_PINNED}),
    ]
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults('2'))
    assert_failed(r['bad_event'], "'dm_sent'", 'did you mean dm.sent')
    assert_failed(r['bad_hook'], 'webhook_id', '1 to 19 digits')
    assert_failed(r['bad_tag'], '1 to 200')
    assert_failed(r['no_hook'], 'webhook_id is required with state=present')
    assert api_requests(r['log_bad']) == []
    for name in ('bad_event', 'bad_hook', 'bad_tag', 'no_hook'):
        assert r[name]['api_calls'] == 0
    assert_failed(r['unknown_hook'], 'webhook_id 4242', 'twitter_webhook_info')
    assert r['unknown_hook']['error_kind'] == 'webhook_invalid'
    assert_failed(r['not_authorised'], alice, 'authorised this app')
    assert r['not_authorised']['error_kind'] == 'not_authorized'
    assert_failed(r['no_scope'], 'dm.read')
    assert r['no_scope']['error_kind'] == 'permission'
    assert r['oauth2']['changed'] and len(r['oauth2']['created']) == 1 and r['oauth2']['created'][0]
    assert r['oauth2']['subscriptions'][0]['id'] == r['oauth2']['created'][0]
    assert not r['dup']['changed'] and r['dup']['created'] == [] and r['dup']['subscriptions'][0]['event_type'] == 'dm.read'
    assert api_requests(r['log_dup']) == ['GET ' + SUBS, 'POST ' + SUBS, 'GET ' + SUBS]
    assert_failed(r['cap'], 'subscription cap is reached', '1,500')
    assert r['cap']['error_kind'] == 'subscription_limit'
    assert not r['rl_wait'].get('failed') and 'waiting' in str(r['rl_wait']['warnings'])
    assert [e['status'] for e in r['log_rl']['json']['requests'] if e['path'] == SUBS] == [429, 200]
    assert_failed(r['rl_fail'], 'rate limit', 'resets at', 'rate_limit_wait')
    assert_failed(r['aaa_ended'], 'AAA ended on 2027-01-01', 'ccm_twitter_activity_api: xaa', 'twitter_activity_subscription')
    assert r['aaa_ended']['error_kind'] == 'aaa_ended'


def test_webhook_replay(xstack, tmp_path):
    ago = "{{ '%%Y%%m%%d%%H%%M' | strftime((now().timestamp() | int) - %d, utc=true) }}"
    iso_ago = "{{ '%%Y-%%m-%%dT%%H:%%M:%%SZ' | strftime((now().timestamp() | int) - %d, utc=true) }}"
    tasks = [
        task('twitter_webhook', 'a', {'url': HOOK_URL}),
        control('DELETE', 'requests'),
        failing('twitter_webhook_replay', 'too_old', {'webhook_id': SUB_ID, 'from_time': ago % (25 * 3600)}),
        failing('twitter_webhook_replay', 'future', {'webhook_id': SUB_ID, 'from_time': ago % 3600, 'to_time': ago % -3600}),
        failing('twitter_webhook_replay', 'reversed', {'webhook_id': SUB_ID, 'from_time': ago % 3600, 'to_time': ago % 7200}),
        failing('twitter_webhook_replay', 'garbage', {'webhook_id': SUB_ID, 'from_time': 'yesterday'}),
        control('GET', 'requests', register='log_bad'),
        task('twitter_webhook_replay', 'check', {'webhook_id': SUB_ID, 'from_time': iso_ago % 7200}, check_mode=True),
        control('GET', 'requests', register='log_check'),
        control('POST', 'config', {'replay_delay': 10}),
        task('twitter_webhook_replay', 'job', {'webhook_id': SUB_ID, 'from_time': iso_ago % 7200, 'to_time': ago % 60}),
        failing('twitter_webhook_replay', 'conflict', {'webhook_id': SUB_ID, 'from_time': ago % 7200}),
        failing('twitter_webhook_replay', 'unknown', {'webhook_id': '4242', 'from_time': ago % 7200}),
        control('POST', 'config', {'replay_delay': 0}),
    ]
    r, _out = run_playbook(xstack, tmp_path, tasks, xstack.defaults('2'))
    assert_failed(r['too_old'], '24 hours')
    assert_failed(r['future'], 'future')
    assert_failed(r['reversed'], 'after to_time')
    assert_failed(r['garbage'], 'ISO 8601')
    assert api_requests(r['log_bad']) == []
    assert r['check']['changed'] and r['check']['job_id'] is None and len(r['check']['from_date']) == 12
    assert 'POST /2/webhooks/replay' not in api_requests(r['log_check'])
    assert r['job']['changed'] and r['job']['job_id'] and r['job']['created_at']
    assert r['job']['from_date'] == r['check']['from_date'] or int(r['job']['from_date']) - int(r['check']['from_date']) <= 1
    assert_failed(r['conflict'], 'one replay job per webhook')
    assert r['conflict']['error_kind'] == 'replay_conflict'
    assert_failed(r['unknown'], '4242')
    # read outside the play: the job list names the app by consumer key
    jobs = xstack.emu.control('GET', 'replay_jobs')['jobs']
    assert [j['job_id'] for j in jobs] == [r['job']['job_id']]
