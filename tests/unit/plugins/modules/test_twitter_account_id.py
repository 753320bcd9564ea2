# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import twitter_account_id
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER


@pytest.mark.parametrize('version,path', [('2', 'GET /2/users/me'), ('1.1', 'GET /1.1/account/verify_credentials.json')])
def test_token_owner(fake, run_module, version, path):
    failed, res = run_module(twitter_account_id, dict(api_version=version), check=True)
    assert not failed and not res['changed']
    assert res['account_id'] == '1111' and res['username'] == 'ccm_bot' and res['name'] == 'CCM Bot'
    assert fake.paths() == [path]


def test_by_username_uses_oauth1_when_no_bearer(fake, run_module):
    failed, res = run_module(twitter_account_id, dict(username='@other_user'))
    assert not failed and res['account_id'] == '2222' and isinstance(res['account_id'], str)
    assert fake.log == [('GET', '/2/users/by/username/other_user', 'oauth1')] and res['api_calls'] == 1


def test_by_username_with_bearer(fake, run_module):
    failed, res = run_module(twitter_account_id, dict(username='other_user', bearer_token=BEARER))
    assert fake.log == [('GET', '/2/users/by/username/other_user', 'bearer')]


@pytest.mark.parametrize('name,needle', [('nobody_here', 'No X account'), ('bad_guy', 'suspended')])
def test_unknown_and_suspended(fake, run_module, name, needle):
    failed, res = run_module(twitter_account_id, dict(username=name))
    assert failed and needle in res['msg'] and not res['changed']


@pytest.mark.parametrize('name', ['bad.name', 'a' * 16, '', 'x y'])
def test_malformed_checked_locally(fake, run_module, name):
    failed, res = run_module(twitter_account_id, dict(username=name))
    assert failed and 'not a valid X username' in res['msg'] and fake.log == []
