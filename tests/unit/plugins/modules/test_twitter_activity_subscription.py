# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import (
    twitter_activity_subscription as mod,
    twitter_activity_subscription_info as info_mod,
)
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER, OAUTH2_USER_TOKEN, OWNER_ID, FakeResponse

SUBS = '/2/activity/subscriptions'
URL = 'https://ccm.example.com/ccm/webhook/twitter'
NEW_URL = 'https://new.example.com/ccm/webhook/twitter'


@pytest.fixture
def hooks(fake):
    return fake.add_webhook(URL)['id'], fake.add_webhook(NEW_URL)['id']


def state(fake):
    return sorted((s['event_type'], s['user_id'], s['webhook_id'], s['tag']) for s in fake.xaa_subs)


def writes(fake):
    return [p for p in fake.paths() if not p.startswith('GET') and 'oauth2/token' not in p]


def test_create_rerun_check_and_diff(fake, run_module, hooks):
    hook, _new = hooks
    args = dict(webhook_id=hook, bearer_token=BEARER)
    failed, res = run_module(mod, args, check=True, diff=True)
    assert not failed and res['changed'] and res['created'] == [None, None] and fake.xaa_subs == []
    assert writes(fake) == []
    assert [s['event_type'] for s in res['diff']['after']['subscriptions']] == ['dm.received', 'dm.sent']
    assert res['diff']['before'] == {'subscriptions': []}

    fake.log = []
    failed, res = run_module(mod, args)
    assert not failed and res['changed'] and len(res['created']) == 2 and res['user_id'] == OWNER_ID
    assert state(fake) == [('dm.received', OWNER_ID, hook, 'hybridchat.ccm'), ('dm.sent', OWNER_ID, hook, 'hybridchat.ccm')]
    # owner lookup + one list + one create per event type, created with the user context
    assert fake.paths() == ['GET /2/users/me', 'GET ' + SUBS, 'POST ' + SUBS, 'POST ' + SUBS]
    assert [a for m, _p, a in fake.log if m == 'POST'] == ['oauth1', 'oauth1']
    assert sorted(res['created']) == sorted(s['id'] for s in fake.xaa_subs)
    assert res['subscriptions'][0] == {'id': res['subscriptions'][0]['id'], 'event_type': 'dm.received', 'user_id': OWNER_ID,
                                       'webhook_id': hook, 'tag': 'hybridchat.ccm'}

    fake.log = []
    failed, res = run_module(mod, dict(args, user_id=OWNER_ID), diff=True)
    assert not failed and not res['changed'] and res['api_calls'] == 1 and fake.paths() == ['GET ' + SUBS]
    assert res['created'] == res['updated'] == res['deleted'] == []
    assert res['diff']['before'] == res['diff']['after']


def test_idempotent_without_bearer_lists_with_user_context(fake, run_module, hooks):
    fake.add_sub('dm.received', webhook_id=hooks[0])
    fake.add_sub('dm.sent', webhook_id=hooks[0])
    failed, res = run_module(mod, dict(webhook_id=hooks[0], user_id=OWNER_ID))
    assert not failed and not res['changed'] and fake.paths() == ['GET ' + SUBS]
    assert [a for _m, _p, a in fake.log] == ['oauth1'] and res['api_calls'] == 1


def test_user_context_list_refused_falls_back_to_bearer(fake, run_module, hooks):
    fake.add_sub('dm.received', webhook_id=hooks[0])
    fake.add_sub('dm.sent', webhook_id=hooks[0])
    fake.refuse_user_list = True
    failed, res = run_module(mod, dict(webhook_id=hooks[0], user_id=OWNER_ID))
    assert not failed and not res['changed']
    assert fake.paths() == ['GET ' + SUBS, 'POST /oauth2/token', 'GET ' + SUBS]
    assert [a for _m, _p, a in fake.log] == ['oauth1', 'basic', 'bearer']


def test_move_to_other_webhook_with_put_only(fake, run_module, hooks):
    hook, new = hooks
    ids = [fake.add_sub('dm.received', webhook_id=hook)['id'], fake.add_sub('dm.sent', webhook_id=hook)['id']]
    failed, res = run_module(mod, dict(webhook_id=new, user_id=OWNER_ID, bearer_token=BEARER), check=True)
    assert res['changed'] and sorted(res['updated']) == sorted(ids) and writes(fake) == []
    assert all(s['webhook_id'] == new for s in res['subscriptions'])
    failed, res = run_module(mod, dict(webhook_id=new, user_id=OWNER_ID, bearer_token=BEARER), diff=True)
    assert not failed and res['changed'] and sorted(res['updated']) == sorted(ids) and res['created'] == []
    assert writes(fake) == ['PUT %s/%s' % (SUBS, ids[0]), 'PUT %s/%s' % (SUBS, ids[1])]
    assert fake.last_json == {'webhook_id': new}
    assert [s['id'] for s in fake.xaa_subs] == ids and all(s['webhook_id'] == new for s in fake.xaa_subs)
    assert {s['webhook_id'] for s in res['diff']['before']['subscriptions']} == {hook}


def test_tag_change_moves_other_tag(fake, run_module, hooks):
    hook = hooks[0]
    sub = fake.add_sub('dm.received', webhook_id=hook, tag='legacy')
    failed, res = run_module(mod, dict(webhook_id=hook, user_id=OWNER_ID, bearer_token=BEARER, event_types=['dm.received'],
                                       tag='site-a'))
    assert not failed and res['updated'] == [sub['id']] and fake.last_json == {'tag': 'site-a'}
    assert state(fake) == [('dm.received', OWNER_ID, hook, 'site-a')]


def test_absent_deletes_only_own_tag(fake, run_module, hooks):
    hook = hooks[0]
    mine = [fake.add_sub('dm.received', webhook_id=hook)['id'], fake.add_sub('dm.sent', webhook_id=hook)['id']]
    fake.add_sub('dm.read', webhook_id=hook)                        # other event type: kept
    fake.add_sub('dm.received', user_id='2222', webhook_id=hook)    # other user: kept
    other = fake.add_sub('post.create', webhook_id=hook, tag='other-tool')
    args = dict(state='absent', user_id=OWNER_ID, bearer_token=BEARER, event_types=['dm.received', 'dm.sent', 'post.create'])
    failed, res = run_module(mod, args, check=True)
    assert res['changed'] and sorted(res['deleted']) == sorted(mine) and len(fake.xaa_subs) == 5
    failed, res = run_module(mod, args)
    assert not failed and sorted(res['deleted']) == sorted(mine) and res['subscriptions'] == [dict(
        other, webhook_id=hook)]
    assert len(fake.xaa_subs) == 3
    failed, res = run_module(mod, args)
    assert not failed and not res['changed']


def test_exclusive(fake, run_module, hooks):
    hook = hooks[0]
    fake.add_sub('dm.received', webhook_id=hook)
    typing = fake.add_sub('dm.indicate_typing', webhook_id=hook)
    foreign = fake.add_sub('dm.read', webhook_id=hook, tag='other-tool')
    args = dict(webhook_id=hook, user_id=OWNER_ID, bearer_token=BEARER, exclusive=True)
    failed, res = run_module(mod, args)
    assert not failed and res['deleted'] == [typing['id']] and len(res['created']) == 1
    assert foreign in fake.xaa_subs and [s['event_type'] for s in res['subscriptions']] == ['dm.received', 'dm.sent']
    failed, res = run_module(mod, args)
    assert not res['changed']


def test_duplicate_not_listed_is_read_back_and_moved(fake, run_module, hooks):
    hook, new = hooks
    sub = fake.add_sub('dm.sent', webhook_id=hook)
    # the list misses it (X still provisioning), the create says duplicate, the re-list shows it
    fake.fault('GET', SUBS, FakeResponse(200, {'data': []}))
    failed, res = run_module(mod, dict(webhook_id=new, user_id=OWNER_ID, bearer_token=BEARER, event_types=['dm.sent']))
    assert not failed and res['changed'] and res['created'] == [] and res['updated'] == [sub['id']]
    assert fake.paths() == ['GET ' + SUBS, 'POST ' + SUBS, 'GET ' + SUBS, 'PUT %s/%s' % (SUBS, sub['id'])]


def test_oauth2_user_token_creates(fake, run_module, hooks):
    failed, res = run_module(mod, dict(webhook_id=hooks[0], bearer_token=BEARER, access_token='', access_secret='',
                                       oauth2_user_token=OAUTH2_USER_TOKEN))
    assert not failed and len(res['created']) == 2
    assert [a for m, p, a in fake.log if p in (SUBS, '/2/users/me') and m != 'GET' or p == '/2/users/me'] == \
        ['oauth2_user', 'oauth2_user', 'oauth2_user']


@pytest.mark.parametrize('args,needle', [
    (dict(event_types=['dm.received', 'DirectMessage']), "'DirectMessage'"),
    (dict(event_types=['dm_sent']), 'did you mean dm.sent'),
    (dict(webhook_id='12345678901234567890'), '1 to 19 digits'),
    (dict(webhook_id='https://x'), 'webhook_id'),
    (dict(user_id='@ccm_bot'), 'user_id'),
    (dict(tag='x' * 201), '1 to 200'),
    (dict(tag=''), '1 to 200'),
    (dict(webhook_id=None), 'webhook_id is required with state=present'),
])
def test_bad_input_fails_before_any_call(fake, run_module, args, needle):
    full = dict(dict(webhook_id='123'), **args)
    failed, res = run_module(mod, full)
    assert failed and needle in res['msg'] and fake.log == [] and res['api_calls'] == 0


def test_absent_needs_no_webhook(fake, run_module):
    failed, res = run_module(mod, dict(state='absent', user_id=OWNER_ID, bearer_token=BEARER))
    assert not failed and not res['changed'] and fake.paths() == ['GET ' + SUBS]


@pytest.mark.parametrize('fault,kind,needle', [
    (FakeResponse(400, {'title': 'Invalid Request', 'detail': 'Subscription limit reached.'}), 'subscription_limit', '1,500'),
    (FakeResponse(403, {'title': 'Forbidden', 'detail': 'The user has not authorized your application.'}), 'not_authorized',
     'authorised this app'),
    (FakeResponse(429, {'title': 'Too Many Requests'}, {'x-rate-limit-reset': '4102444800'}), 'rate_limit', '2100-01-01'),
])
def test_errors_reported_with_partial_result(fake, run_module, hooks, fault, kind, needle):
    fake.fault('POST', SUBS + '$', fault)
    failed, res = run_module(mod, dict(webhook_id=hooks[0], user_id=OWNER_ID, bearer_token=BEARER))
    assert failed and res['error_kind'] == kind and needle in res['msg']
    assert res['api_calls'] == 2


def test_unknown_webhook_on_create(fake, run_module):
    failed, res = run_module(mod, dict(webhook_id='424242', user_id=OWNER_ID, bearer_token=BEARER))
    assert failed and res['error_kind'] == 'webhook_invalid' and '424242' in res['msg']


def test_info_filters(fake, run_module, hooks):
    hook, new = hooks
    fake.xaa_page_size = 2
    fake.add_sub('dm.received', webhook_id=hook)
    fake.add_sub('dm.sent', webhook_id=hook)
    fake.add_sub('dm.received', user_id='2222', webhook_id=new)
    failed, res = run_module(info_mod, dict(bearer_token=BEARER), check=True)
    assert not failed and not res['changed'] and res['total'] == 3 and res['api_calls'] == 2
    failed, res = run_module(info_mod, dict(bearer_token=BEARER, event_type='dm.received'))
    assert res['total'] == 2
    failed, res = run_module(info_mod, dict(bearer_token=BEARER, event_type='dm.received', webhook_id=hook))
    assert res['total'] == 1 and res['subscriptions'][0]['user_id'] == OWNER_ID
    failed, res = run_module(info_mod, dict(bearer_token=BEARER, user_id='2222'))
    assert res['total'] == 1 and res['subscriptions'][0]['webhook_id'] == new
    failed, res = run_module(info_mod, dict(bearer_token=BEARER, event_type='dm.recieved'))
    assert failed and 'did you mean' not in res['msg'] and "'dm.recieved'" in res['msg'] and res['api_calls'] == 0
