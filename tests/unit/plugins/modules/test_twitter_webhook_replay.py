# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import twitter_webhook_replay as mod
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import BEARER, FakeResponse

URL = 'https://ccm.example.com/ccm/webhook/twitter'


def ago(**kw):
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(**kw)


def xfmt(value):
    return value.strftime('%Y%m%d%H%M')


def test_replay_creates_job(fake, run_module):
    hook = fake.add_webhook(URL)
    start, end = ago(hours=3), ago(hours=1)
    failed, res = run_module(mod, dict(webhook_id=hook['id'], bearer_token=BEARER, from_time=start.strftime('%Y-%m-%dT%H:%M:%SZ'),
                                       to_time=xfmt(end)), diff=True)
    assert not failed and res['changed'] and res['job_id'] == '1771' and res['created_at'] == '2026-12-07T12:00:00.000Z'
    assert res['from_date'] == xfmt(start) and res['to_date'] == xfmt(end)
    assert fake.replay_jobs == [{'webhook_id': hook['id'], 'from_date': xfmt(start), 'to_date': xfmt(end)}]
    assert fake.paths() == ['POST /2/webhooks/replay'] and res['api_calls'] == 1
    assert res['diff']['after']['replay_job']['from_date'] == xfmt(start)


def test_to_time_defaults_to_now(fake, run_module):
    hook = fake.add_webhook(URL)
    failed, res = run_module(mod, dict(webhook_id=hook['id'], bearer_token=BEARER, from_time=xfmt(ago(hours=2))))
    assert not failed and abs(int(res['to_date']) - int(xfmt(ago(minutes=0)))) <= 1


def test_check_mode_creates_no_job(fake, run_module):
    hook = fake.add_webhook(URL)
    args = dict(webhook_id=hook['id'], bearer_token=BEARER, from_time=xfmt(ago(hours=2)))
    failed, res = run_module(mod, args, check=True)
    assert not failed and res['changed'] and res['job_id'] is None and fake.replay_jobs == []
    assert fake.paths() == ['GET /2/webhooks']
    failed, res = run_module(mod, dict(args, webhook_id='4242'), check=True)
    assert failed and res['error_kind'] == 'webhook_invalid' and '4242' in res['msg']


@pytest.mark.parametrize('args,needle', [
    (dict(from_time=xfmt(ago(hours=25))), '24 hours'),
    (dict(from_time=xfmt(ago(hours=1)), to_time=xfmt(ago(hours=2))), 'after to_time'),
    (dict(from_time=xfmt(ago(hours=1)), to_time=xfmt(ago(minutes=-30))), 'future'),
    (dict(from_time='yesterday'), 'ISO 8601'),
    (dict(from_time='202613010000'), 'yyyymmddhhmm'),
    (dict(from_time=xfmt(ago(hours=1)), webhook_id='abc'), '1 to 19 digits'),
])
def test_bad_window_fails_before_any_call(fake, run_module, args, needle):
    full = dict(webhook_id='123', bearer_token=BEARER)
    full.update(args)
    failed, res = run_module(mod, full)
    assert failed and needle in res['msg'] and fake.log == [] and res['api_calls'] == 0 and not res['changed']


def test_conflict(fake, run_module):
    hook = fake.add_webhook(URL)
    fake.fault('POST', 'replay', FakeResponse(409, {'title': 'Conflict', 'detail': 'A replay job is already running.'}))
    failed, res = run_module(mod, dict(webhook_id=hook['id'], bearer_token=BEARER, from_time=xfmt(ago(hours=2))))
    assert failed and res['error_kind'] == 'replay_conflict' and not res['changed'] and res['job_id'] is None
