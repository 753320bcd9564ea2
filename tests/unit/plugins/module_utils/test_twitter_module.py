# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import MASK, mask_secrets, twitter_argument_spec
from ansible_collections.hybridchat.ccm.plugins.modules import twitter_webhook_info
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import (
    ACCESS_SECRET, ACCESS_TOKEN, BEARER, CONSUMER_KEY, CONSUMER_SECRET,
)


def test_argument_spec_secrets_and_fallbacks():
    spec = twitter_argument_spec()
    for name in ('consumer_key', 'consumer_secret', 'access_token', 'access_secret', 'bearer_token'):
        assert spec[name]['no_log'] is True
        assert spec[name]['fallback'][1] == ['TWITTER_' + name.upper()]
    assert spec['api_version']['default'] == '2' and spec['api_version']['choices'] == ['1.1', '2']
    assert spec['environment']['fallback'][1] == ['TWITTER_ENVIRONMENT']
    assert spec['api_url']['fallback'][1] == ['TWITTER_API_URL']


def test_mask_secrets_nested():
    data = {'msg': 'token %s leaked' % BEARER, 'list': [{'x': 'a%sb' % CONSUMER_SECRET}], 'bearer_token': 'whatever', 'n': 3}
    out = mask_secrets(data, [BEARER, CONSUMER_SECRET, None, ''])
    assert out == {'msg': 'token %s leaked' % MASK, 'list': [{'x': 'a%sb' % MASK}], 'bearer_token': MASK, 'n': 3}


def test_environment_fallbacks(fake, run_module, monkeypatch):
    for name, value in (('CONSUMER_KEY', CONSUMER_KEY), ('CONSUMER_SECRET', CONSUMER_SECRET), ('ACCESS_TOKEN', ACCESS_TOKEN),
                        ('ACCESS_SECRET', ACCESS_SECRET), ('API_VERSION', '1.1'), ('ENVIRONMENT', 'prod'),
                        ('API_URL', 'https://api.example.test')):
        monkeypatch.setenv('TWITTER_' + name, value)
    fake.add_webhook('https://ccm.example.com/x', env='prod')
    failed, res = run_module(twitter_webhook_info, dict(count_subscriptions=False), creds=False)
    assert not failed and res['webhooks'][0]['environment'] == 'prod'
    assert fake.log == [('GET', '/1.1/account_activity/all/prod/webhooks.json', 'oauth1')]


def test_fetched_bearer_never_returned(fake, run_module):
    failed, res = run_module(twitter_webhook_info, {})
    assert not failed and fake.paths()[0] == 'POST /oauth2/token'
    # run_module asserts that BEARER (fetched, not a parameter) is absent from the output
    assert BEARER not in str(res)
