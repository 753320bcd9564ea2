# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.hybridchat.ccm.plugins.modules import twitter_webhook_info
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER, FakeResponse, OWNER_ID

URL = 'https://ccm.example.com/ccm/webhook/twitter'


def test_v2(fake, run_module):
    hook = fake.add_webhook(URL, valid=False)
    fake.subs[hook['id']].add(OWNER_ID)
    failed, res = run_module(twitter_webhook_info, dict(bearer_token=BEARER), check=True)
    assert not failed and not res['changed']
    assert res['webhooks'] == [{'id': hook['id'], 'url': URL, 'valid': False, 'created_at': '2025-01-15T12:00:00.000Z'}]
    assert res['subscription_counts']['subscriptions_count'] == 1 and res['subscription_counts']['provisioned_count'] == 3
    assert res['api_calls'] == 2


def test_v11_without_counts(fake, run_module):
    hook = fake.add_webhook(URL, env='prod')
    failed, res = run_module(twitter_webhook_info, dict(api_version='1.1', environment='prod', count_subscriptions=False))
    assert res['webhooks'][0]['environment'] == 'prod' and res['webhooks'][0]['id'] == hook['id']
    assert res['webhooks'][0]['created_at'] == '2019-09-13T12:34:47Z'
    assert res['subscription_counts'] is None and res['api_calls'] == 1


def test_counts_refused_is_a_warning(fake, run_module):
    fake.fault('GET', 'count', FakeResponse(403, {'title': 'Forbidden', 'detail': 'client-not-enrolled'}))
    failed, res = run_module(twitter_webhook_info, dict(bearer_token=BEARER))
    assert not failed and res['subscription_counts'] is None and 'not available' in str(res['warnings'])


def test_v11_all_environments(fake, run_module):
    fake.environments = ['prod', 'staging']
    fake.add_webhook(URL, env='prod')
    fake.add_webhook('https://staging.example.com/x', env='staging')
    body = {'environments': [{'environment_name': 'prod', 'webhooks': [fake._hook_out(fake.webhooks[0], False)]},
                             {'environment_name': 'staging', 'webhooks': [fake._hook_out(fake.webhooks[1], False)]}]}
    fake.fault('GET', r'^/1\.1/account_activity/all/webhooks\.json$', FakeResponse(200, body))
    failed, res = run_module(twitter_webhook_info, dict(api_version='1.1', count_subscriptions=False))
    assert not failed and [(h['environment'], h['url']) for h in res['webhooks']] == [('prod', URL), ('staging', 'https://staging.example.com/x')]
    assert fake.log == [('GET', '/1.1/account_activity/all/webhooks.json', 'oauth1')]
