"""Control interface (rate limits, faults, request log, deliver) and the CCM stand-in."""

import os
import stat
import subprocess
import sys
import time

import pytest
import requests

from emulator_helpers import CCM_URL, V1
from xemu.crc import sign
from xemu.testing import TOOLS_DIR, CcmStandIn

COUNT = V1 + '/subscriptions/count.json'


def test_rate_limit_headers_and_429(emu, http):
    emu.config(rate_limits={'v1.subscriptions.count': 3})
    seen = []
    for _attempt in range(3):
        resp = http.get(emu.url + COUNT, auth=emu.bearer())
        assert resp.status_code == 200
        seen.append(int(resp.headers['x-rate-limit-remaining']))
    assert seen == [2, 1, 0]
    resp = http.get(emu.url + COUNT, auth=emu.bearer())
    assert resp.status_code == 429
    assert resp.json() == {'errors': [{'code': 88, 'message': 'Rate limit exceeded.'}]}
    assert resp.headers['x-rate-limit-limit'] == '3' and resp.headers['x-rate-limit-remaining'] == '0'
    assert int(resp.headers['x-rate-limit-reset']) > time.time()
    # Another family (and the control interface) is not affected.
    assert http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer()).status_code == 200


def test_rate_limit_control_and_v2_body(emu, http):
    reset = int(time.time()) + 60
    emu.rate_limits('v2.webhooks.list', remaining=0, reset=reset)
    resp = http.get(emu.url + '/2/webhooks', auth=emu.bearer())
    assert resp.status_code == 429
    assert resp.json() == {'title': 'Too Many Requests', 'detail': 'Too Many Requests', 'type': 'about:blank',
                           'status': 429}
    assert resp.headers['x-rate-limit-reset'] == str(reset)
    # A reset in the past opens a new window.
    emu.rate_limits('v2.webhooks.list', remaining=0, reset=int(time.time()) - 1)
    resp = http.get(emu.url + '/2/webhooks', auth=emu.bearer())
    assert resp.status_code == 200 and resp.headers['x-rate-limit-remaining'] == '449'


def test_faults_status_body_count_and_method(emu, http):
    emu.fault(path_regex=r'/webhooks\.json$', method='GET', count=2, status=503, body={'errors': [{'code': 130,
              'message': 'Over capacity'}]}, headers={'Retry-After': '1'})
    for _attempt in range(2):
        resp = http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer())
        assert resp.status_code == 503 and resp.json()['errors'][0]['code'] == 130
        assert resp.headers['Retry-After'] == '1'
    assert http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer()).status_code == 200
    log = emu.requests()
    assert [e['status'] for e in log['requests']] == [503, 503, 200]
    assert [e['fault'] for e in log['requests']] == [True, True, False]


def test_fault_drop_and_delay(emu, http):
    emu.fault(path_regex='/2/webhooks', drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(emu.url + '/2/webhooks', auth=emu.bearer())
    emu.fault(path_regex='/2/webhooks', delay=0.3)
    start = time.monotonic()
    assert http.get(emu.url + '/2/webhooks', auth=emu.bearer()).status_code == 200
    assert time.monotonic() - start >= 0.3
    assert emu.requests()['counts']['by_status'] == {'dropped': 1, '200': 1}


def test_request_log_and_counts(emu, http):
    emu.clear_requests()
    http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer())
    http.post(emu.url + V1 + '/production/webhooks.json', params={'url': CCM_URL}, auth=emu.oauth1())
    http.get(emu.url + '/nope')
    emu.state()  # control calls are not logged
    log = emu.requests()
    assert log['counts']['total'] == 3
    first, second, third = log['requests']
    assert first['auth'] == 'bearer' and first['family'] == 'v1.webhooks.list_all' and first['status'] == 200
    assert second['auth'] == 'oauth1' and second['query_keys'] == ['url'] and second['method'] == 'POST'
    assert second['user_id'] == emu.user()['id']
    assert third['auth'] == 'none' and third['status'] == 404 and third['family'] is None
    assert log['counts']['by_family']['v1.webhooks.register'] == 1
    # Secrets never appear in the log.
    text = str(log)
    for secret in (emu.app()['consumer_secret'], emu.app()['bearer_token'], emu.user()['access_secret']):
        assert secret not in text
    emu.clear_requests()
    assert emu.requests()['counts']['total'] == 0


def test_deliver_signed_dm_to_ccm_and_tampered_is_rejected(emu, http, ccm):
    hook = http.post(emu.url + V1 + '/production/webhooks.json', params={'url': CCM_URL}, auth=emu.oauth1()).json()
    http.post(emu.url + V1 + '/production/subscriptions.json', auth=emu.oauth1())
    alice = emu.user('alice_example')
    result = emu.deliver(webhook_id=hook['id'], text='Hello support!', sender_id=alice['id'])
    assert result['status'] == 200
    payload = result['payload']
    assert payload['for_user_id'] == emu.user()['id']
    event = payload['direct_message_events'][0]
    assert event['type'] == 'message_create' and event['message_create']['sender_id'] == alice['id']
    assert payload['users'][alice['id']]['screen_name'] == 'alice_example'
    messages = ccm.messages()
    assert messages[-1]['text'] == 'Hello support!' and messages[-1]['sender_id'] == alice['id']

    assert emu.deliver(webhook_id=hook['id'], text='evil', tamper=True)['status'] == 401
    emu.invalidate(hook['id'])
    skipped = emu.deliver(webhook_id=hook['id'], text='not sent', respect_valid=True)
    assert skipped['status'] is None and skipped['webhook_valid'] is False
    assert emu.deliver(url=CCM_URL, text='forged', signature='sha256=AAAA')['status'] == 401
    assert len(ccm.messages()) == 1


def test_ccm_stand_in_crc_and_fail_closed(ccm, emu, pki):
    secret = emu.app()['consumer_secret']
    session = requests.Session()
    session.trust_env = False
    session.verify = pki['ca'].cert_path
    url = ccm.webhook_url
    resp = session.get(url, params={'crc_token': 'foo'})
    assert resp.status_code == 200 and resp.json() == {'response_token': sign(secret, 'foo')}
    body = b'{"for_user_id":"1","direct_message_events":[]}'
    assert session.post(url, data=body, headers={'Content-Type': 'application/json'}).status_code == 401
    resp = session.post(url, data=body, headers={'x-twitter-webhooks-signature': sign(secret, body)})
    assert resp.status_code == 200
    resp = session.get(url, params={'crc_token': 'foo'}, headers={'X-Forwarded-For': '203.0.113.7'})
    assert ccm.requests()[-1]['headers']['X-Forwarded-For'] == '203.0.113.7'
    assert ccm.health()['secret_loaded'] is True


def test_ccm_stand_in_rereads_env_file(tmp_path):
    env = tmp_path / 'ccm.env'
    env.write_text('OTHER=1\n', encoding='utf-8')
    with CcmStandIn(env, workdir=tmp_path / 'run') as server:
        url = server.webhook_url
        resp = requests.get(url, params={'crc_token': 'foo'}, timeout=10)
        assert resp.status_code == 503
        body = b'{}'
        assert requests.post(url, data=body, headers={'x-twitter-webhooks-signature': sign('', body)},
                             timeout=10).status_code == 401
        env.write_text('export TWITTER_CONSUMER_SECRET="first-secret-first-secret-first-secret"\n', encoding='utf-8')
        resp = requests.get(url, params={'crc_token': 'foo'}, timeout=10)
        assert resp.json()['response_token'] == sign('first-secret-first-secret-first-secret', 'foo')
        env.write_text('TWITTER_CONSUMER_SECRET=rotated-secret-rotated-secret-rotated\n', encoding='utf-8')
        resp = requests.get(url, params={'crc_token': 'foo'}, timeout=10)
        assert resp.json()['response_token'] == sign('rotated-secret-rotated-secret-rotated', 'foo')


def test_reset_with_new_seed(emu, http):
    seed = dict(emu.raw_seed)
    seed['apps'] = [dict(seed['apps'][0], environments=[{'label': 'Sandbox'}])]
    emu.reset(seed)
    assert http.get(emu.url + V1 + '/Sandbox/webhooks.json', auth=emu.bearer()).json() == []
    assert http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.bearer()).status_code == 403
    emu.reset()
    assert http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.bearer()).json() == []


def test_pki_cli_writes_private_keys_0600(tmp_path):
    env = dict(os.environ, PYTHONPATH=TOOLS_DIR)
    subprocess.run([sys.executable, '-m', 'xemu', 'pki', 'ca', '--out', str(tmp_path / 'ca')], check=True, env=env,
                   capture_output=True)
    subprocess.run([sys.executable, '-m', 'xemu', 'pki', 'leaf', '--ca', str(tmp_path / 'ca'), '--name',
                    'ccm.example.test', '--name', '127.0.0.1', '--out', str(tmp_path / 'leaf')], check=True, env=env,
                   capture_output=True)
    for path in (tmp_path / 'ca' / 'ca.key', tmp_path / 'leaf' / 'key.pem'):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for path in ('ca/ca.pem', 'leaf/cert.pem', 'leaf/fullchain.pem'):
        assert (tmp_path / path).read_text(encoding='utf-8').startswith('-----BEGIN CERTIFICATE-----')


def test_rate_limit_headers_on_auth_failures(emu, http):
    resp = http.get(emu.url + '/2/webhooks', headers={'Authorization': 'Bearer nope'})
    assert resp.status_code == 401 and resp.headers['x-rate-limit-limit'] == '450'
    resp = http.get(emu.url + COUNT)
    assert resp.status_code == 400 and resp.headers['x-rate-limit-remaining'] == '15'
