# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import twitter_subscription
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER, OWNER_ID, v1_error

URL = 'https://ccm.example.com/ccm/webhook/twitter'


@pytest.fixture(params=['1.1', '2'])
def setup(request, fake):
    """(args, hook) for both API generations, with a registered webhook."""
    if request.param == '1.1':
        hook = fake.add_webhook(URL, env='prod')
        return dict(api_version='1.1', environment='prod'), hook
    hook = fake.add_webhook(URL)
    return dict(webhook_url=URL, bearer_token=BEARER), hook


def test_present_twice_and_absent_twice(fake, run_module, setup):
    args, hook = setup
    failed, res = run_module(twitter_subscription, dict(args), check=True, diff=True)
    assert not failed and res['changed'] and res['subscribed'] and fake.subs[hook['id']] == set()
    assert res['diff']['before']['subscribed'] is False and res['diff']['after']['subscribed'] is True
    failed, res = run_module(twitter_subscription, dict(args))
    assert not failed and res['changed'] and res['subscribed'] and res['user_id'] == OWNER_ID
    assert fake.subs[hook['id']] == {OWNER_ID}
    if args.get('api_version') != '1.1':
        assert res['webhook_id'] == hook['id']
    else:
        assert 'webhook_id' not in res
    failed, res = run_module(twitter_subscription, dict(args))
    assert not failed and not res['changed'] and res['subscribed']

    failed, res = run_module(twitter_subscription, dict(args, state='absent'), check=True)
    assert res['changed'] and not res['subscribed'] and fake.subs[hook['id']] == {OWNER_ID}
    failed, res = run_module(twitter_subscription, dict(args, state='absent'))
    assert not failed and res['changed'] and not res['subscribed'] and fake.subs[hook['id']] == set()
    failed, res = run_module(twitter_subscription, dict(args, state='absent'))
    assert not failed and not res['changed']


def test_user_id_trusted_no_owner_lookup(fake, run_module, setup):
    args, hook = setup
    failed, res = run_module(twitter_subscription, dict(args, user_id=OWNER_ID))
    assert not failed and res['user_id'] == OWNER_ID
    assert not [p for p in fake.paths() if 'users/me' in p or 'verify_credentials' in p]


def test_present_by_webhook_id_counts_calls(fake, run_module):
    hook = fake.add_webhook(URL)
    fake.subs[hook['id']].add(OWNER_ID)
    failed, res = run_module(twitter_subscription, dict(webhook_id=hook['id'], user_id=OWNER_ID))
    assert not failed and not res['changed'] and res['api_calls'] == 1


def test_already_exists_is_success(fake, run_module):
    hook = fake.add_webhook(URL, env='prod')
    # the check says "not subscribed" but the POST finds it exists (race): success
    fake.fault('GET', 'subscriptions.json', v1_error(34, 'Sorry, that page does not exist.', 404))
    fake.subs[hook['id']].add(OWNER_ID)
    failed, res = run_module(twitter_subscription, dict(api_version='1.1', environment='prod', user_id=OWNER_ID))
    assert not failed and res['subscribed']


def test_absent_other_user(fake, run_module):
    hook = fake.add_webhook(URL)
    fake.subs[hook['id']].update({OWNER_ID, '2222'})
    failed, res = run_module(twitter_subscription, dict(webhook_id=hook['id'], user_id='2222', state='absent'))
    assert res['changed'] and fake.subs[hook['id']] == {OWNER_ID}


def test_v2_needs_webhook(fake, run_module):
    failed, res = run_module(twitter_subscription, {})
    assert failed and 'webhook_id' in res['msg']


def test_unknown_webhook_url(fake, run_module):
    failed, res = run_module(twitter_subscription, dict(webhook_url=URL))
    assert failed and 'register it first' in res['msg']


def test_user_id_must_be_numeric(fake, run_module):
    failed, res = run_module(twitter_subscription, dict(webhook_id='1', user_id='@ccm_bot'))
    assert failed and 'numeric' in res['msg'] and fake.log == []


def test_348_message(fake, run_module):
    fake.add_webhook(URL, env='prod')
    fake.fault('POST', 'subscriptions.json', v1_error(348, "Client application is not permitted to access this user's "
                                                           "webhook subscriptions.", 401))
    failed, res = run_module(twitter_subscription, dict(api_version='1.1', environment='prod', user_id=OWNER_ID))
    assert failed and 'not issued to this app' in res['msg'] and res['error_kind'] == 'not_permitted'


def test_v11_no_webhook_message(fake, run_module):
    failed, res = run_module(twitter_subscription, dict(api_version='1.1', environment='prod', user_id=OWNER_ID))
    assert failed and 'register it first' in res['msg'] and "'prod'" in res['msg']


def test_v2_missing_webhook(fake, run_module):
    failed, res = run_module(twitter_subscription, dict(webhook_url=URL, user_id=OWNER_ID), check=True)
    assert not failed and res['changed'] and res['subscribed'] and res['webhook_id'] is None
    assert 'registered yet' in str(res['warnings'])
    failed, res = run_module(twitter_subscription, dict(webhook_url=URL, user_id=OWNER_ID, state='absent'))
    assert not failed and not res['changed'] and not res['subscribed']
    failed, res = run_module(twitter_subscription, dict(webhook_id='99', user_id=OWNER_ID, state='absent'))
    assert not failed and not res['changed']
