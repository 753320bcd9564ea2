# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible_collections.hybridchat.ccm.plugins.module_utils import _x_crc, x_api
from ansible_collections.hybridchat.ccm.plugins.modules import twitter_crc_check
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import CONSUMER_SECRET

URL = 'https://ccm.example.com/ccm/webhook/twitter'


class FakeUrllibResponse(object):
    def __init__(self, status, body, headers):
        self.status = status
        self.data = body.encode() if isinstance(body, str) else body
        self.headers = headers


class FakePool(object):
    """Stands in for urllib3's HTTPSConnectionPool; answers like a CRC endpoint."""
    seen = []
    answer = None

    def __init__(self, host, port, **kw):
        self.host, self.port, self.kw = host, port, kw

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def request(self, method, path, headers=None, **kw):
        FakePool.seen.append((self.host, self.port, self.kw, method, path, headers))
        return FakePool.answer(path)


def good(secret=CONSUMER_SECRET, status=200, ctype='application/json', latency=0):
    def answer(path):
        token = dict(p.split('=', 1) for p in path.split('?', 1)[1].split('&'))['crc_token']
        return FakeUrllibResponse(status, json.dumps({'response_token': x_api.crc_response_token(secret, token)}),
                                  {'content-type': ctype})
    return answer


@pytest.fixture
def pool(monkeypatch):
    FakePool.seen = []
    FakePool.answer = good()
    monkeypatch.setattr(_x_crc.urllib3, 'HTTPSConnectionPool', FakePool)
    return FakePool


def test_pass_sends_what_x_sends(pool, run_module):
    failed, res = run_module(twitter_crc_check, dict(url=URL, connect_to='127.0.0.1:8443', ca_path='/tmp/ca.pem'))
    assert not failed and not res['changed'] and res['status'] == 200 and res['response_token_valid'] is True
    assert isinstance(res['latency_ms'], int)
    host, port, kw, method, path, headers = pool.seen[0]
    assert (host, port, method) == ('127.0.0.1', 8443, 'GET')
    assert kw['server_hostname'] == 'ccm.example.com' and kw['assert_hostname'] == 'ccm.example.com'
    assert kw['ca_certs'] == '/tmp/ca.pem' and kw['cert_reqs'] == 'CERT_REQUIRED'
    assert headers['Host'] == 'ccm.example.com'
    assert path.startswith('/ccm/webhook/twitter?crc_token=') and '&nonce=' in path
    query = path.split('?', 1)[1]
    assert headers['x-twitter-webhooks-signature'] == x_api.crc_response_token(CONSUMER_SECRET, query)


def test_wrong_secret(pool, run_module):
    pool.answer = good(secret='another-consumer-secret-entirely')
    failed, res = run_module(twitter_crc_check, dict(url=URL))
    assert failed and res['reason'] == 'token' and 'different consumer secret' in res['msg']
    assert res['response_token_valid'] is False and res['status'] == 200


@pytest.mark.parametrize('answer,reason,needle', [
    (lambda p: FakeUrllibResponse(301, '', {'location': 'https://ccm.example.com/ccm/webhook/twitter/'}), 'redirect',
     'redirect to https://ccm.example.com/ccm/webhook/twitter/'),
    (lambda p: FakeUrllibResponse(404, 'nope', {}), 'status', 'HTTP 404'),
    (lambda p: FakeUrllibResponse(200, '<html>', {'content-type': 'text/html'}), 'body', 'not a JSON'),
    (lambda p: FakeUrllibResponse(200, '{"token": 1}', {'content-type': 'application/json'}), 'body', 'response_token'),
])
def test_failures(pool, run_module, answer, reason, needle):
    pool.answer = answer
    failed, res = run_module(twitter_crc_check, dict(url=URL))
    assert failed and res['reason'] == reason and needle in res['msg']


def test_too_slow(pool, run_module, monkeypatch):
    ticks = iter([0.0, 3.5])
    monkeypatch.setattr(_x_crc.time, 'monotonic', lambda: next(ticks))
    failed, res = run_module(twitter_crc_check, dict(url=URL))
    assert failed and res['reason'] == 'latency' and res['latency_ms'] == 3500 and '3000 ms' in res['msg']


def test_transport_failure_reported(pool, run_module):
    def boom(path):
        raise _x_crc.urllib3.exceptions.SSLError('certificate verify failed: unable to get local issuer certificate')
    pool.answer = boom
    failed, res = run_module(twitter_crc_check, dict(url=URL))
    assert failed and res['reason'] == 'certificate' and 'valid certificate' in res['msg']


def test_needs_secret_and_https(pool, run_module):
    failed, res = run_module(twitter_crc_check, dict(url=URL), creds=False)
    assert failed and 'consumer_secret' in res['msg']
    failed, res = run_module(twitter_crc_check, dict(url='http://ccm.example.com/x'))
    assert failed and 'https' in res['msg'] and pool.seen == []
