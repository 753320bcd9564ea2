# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults and bad input (issue 14, docs/faults.md) against one v2 site: bad input and wrong keys fail before any
change; the deployed vhost refuses a CRC signing-oracle forgery, other methods, other Host headers and
un-normalised paths; a restart or reload that a failed run could not do happens on the next run."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import ssl
import time
import urllib.parse

FORGED_TEXT = 'forged through the CRC endpoint'


def _request(stack, method, raw_path, host=None, body=None, headers=None):
    """One HTTPS request to the private nginx with the raw path as given (no client-side normalisation)."""
    context = ssl.create_default_context(cafile=stack.state['ca_cert'])
    context.check_hostname = False  # no SNI to an IP address: nginx picks its default (this site's) server
    fqdn = stack.state['sites'][0]['fqdn']
    conn = http.client.HTTPSConnection('127.0.0.1', stack.state['nginx']['https_port'], context=context, timeout=10)
    conn.putrequest(method, raw_path, skip_host=True, skip_accept_encoding=True)
    conn.putheader('Host', host or fqdn)
    for key, value in (headers or {}).items():
        conn.putheader(key, value)
    data = body.encode('utf-8') if body is not None else None
    if data is not None:
        conn.putheader('Content-Length', str(len(data)))
    conn.endheaders(data)
    response = conn.getresponse()
    answer = response.read().decode('utf-8', 'replace')
    conn.close()
    return response.status, answer


def _sign(secret, text):
    return 'sha256=' + base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def _read(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return handle.read()


def _workers(stack):
    """Pids of the private nginx's worker processes (they change on every reload)."""
    master = int(_read(stack.state['nginx']['pid_file']).strip())
    children = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                stat = _read('/proc/%s/stat' % pid)
            except OSError:
                continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == master:
                children.append(int(pid))
    return sorted(children)


def test_bad_input_and_wrong_keys_fail_before_any_change(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    env_before = _read(site['env_file'])
    stack.api_calls(clear=True)

    cases = [
        ({'ccm_twitter_fqdn': site['fqdn'].upper()}, 'has upper-case letters: write it as %s' % site['fqdn']),
        ({'ccm_twitter_upstream': 'http://127.0.0.1:80810'}, 'a port between 1 and 65535'),
        ({'ccm_twitter_consumer_secret': site['consumer_secret'] + '\n'},
         'ccm_twitter_consumer_secret ends or starts with a line break'),
        ({'ccm_twitter_access_secret': 'has space'}, 'ccm_twitter_access_secret contains a space'),
        ({'ccm_twitter_env_file': os.path.join(stack.dir, 'no-such-dir', 'ccm.env')}, 'does not exist'),
        ({'ccm_twitter_tls_cert': stack.dir}, 'not a regular file'),
        ({'ccm_twitter_tls_cert': site['env_file']}, 'is not a PEM certificate'),
    ]
    for extra, needle in cases:
        run = stack.playbook('deploy.yml', '-e', json.dumps(extra))
        assert run.rc != 0 and needle in run.out, (extra, run.out)
        assert run.recap['site00']['changed'] == 0, run.out
        assert site['consumer_secret'] not in run.out
    assert not os.path.exists(os.path.join(stack.dir, 'no-such-dir'))
    assert stack.api_calls()['total'] == 0  # all refused before X was asked

    # Wrong keys: proven against X before the env file changes, with a message naming the pair.
    wrong = [
        ({'ccm_twitter_consumer_secret': 'W' * 50}, 'ccm_twitter_consumer_key or ccm_twitter_consumer_secret is wrong'),
        ({'ccm_twitter_consumer_key': 'W' * 25}, 'ccm_twitter_consumer_key or ccm_twitter_consumer_secret is wrong'),
        ({'ccm_twitter_access_secret': 'W' * 45}, 'ccm_twitter_access_token or ccm_twitter_access_secret is wrong'),
        ({'ccm_twitter_access_token': site['access_token'][:-3] + 'WWW'},
         'ccm_twitter_access_token or ccm_twitter_access_secret is wrong'),
    ]
    for extra, needle in wrong:
        run = stack.playbook('deploy.yml', '-e', json.dumps(extra))
        assert run.rc != 0 and needle in run.out, (extra, run.out)
        assert run.recap['site00']['changed'] == 0, run.out
        assert list(extra.values())[0] not in run.out
    assert _read(site['env_file']) == env_before
    assert stack.vhosts() == [] and stack.webhooks() == []

    # The right keys: one lookup proves all four and gives the account id.
    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert stack.hook_of(site, site['webhook_url'])['valid']

    # A wrong consumer secret on a live site: refused before CCM signs with it; the webhook stays valid.
    run = stack.playbook('deploy.yml', '-e', json.dumps({'ccm_twitter_consumer_secret': 'W' * 50}))
    assert run.rc != 0 and 'ccm_twitter_consumer_secret is wrong' in run.out, run.out
    assert 'TWITTER_CONSUMER_SECRET=%s\n' % site['consumer_secret'] in _read(site['env_file'])
    hook = stack.hook_of(site, site['webhook_url'])
    stack.control('POST', 'webhooks/%s/crc' % hook['id'])
    assert stack.hook_of(site, site['webhook_url'])['valid']


def test_vhost_refuses_forgery_and_odd_requests_pending_work_survives(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    path = '/ccm/webhook/twitter'
    assert stack.playbook('deploy.yml').rc == 0

    # The forgery of issue 14: get CCM to sign an event body through the CRC, then deliver it with that signature.
    body = json.dumps({'for_user_id': site['account_id'], 'direct_message_events': [{
        'type': 'message_create', 'id': '1', 'created_timestamp': '1',
        'message_create': {'target': {'recipient_id': site['account_id']}, 'sender_id': '9',
                           'message_data': {'text': FORGED_TEXT}}}]}, separators=(',', ':'))
    quoted = urllib.parse.quote(body, safe='')
    good = 'A' * 43
    for query in ('crc_token=' + quoted,
                  'crc_token=%s&crc_token=%s' % (good, quoted),      # CCM would read the last one
                  'crc_token=%s&nonce=1&x=%s' % (good, quoted),
                  'crc_token=' + 'A' * 129, 'crc_token=short', 'crc_token=%s%%0A' % good):
        status, answer = _request(stack, 'GET', path + '?' + query)
        assert status == 400, (query, status, answer)
        if status == 200:
            token = json.loads(answer)['response_token']
            _request(stack, 'POST', path, body=body, headers={'x-twitter-webhooks-signature': token,
                                                              'Content-Type': 'application/json'})
    assert FORGED_TEXT not in json.dumps(stack.ccm_messages(0))

    # What X sends still works: a CRC with a 43-character url-safe token and a nonce, and a signed event.
    status, answer = _request(stack, 'GET', '%s?crc_token=%s&nonce=%s' % (path, good, 'ab12' * 8))
    assert status == 200 and json.loads(answer)['response_token'] == _sign(site['consumer_secret'], good)
    status, _answer = _request(stack, 'GET', '%s?crc_token=%s' % (path, 'aB3-_%2B%2F%3D' * 4))
    assert status == 200
    delivered = stack.control('POST', 'deliver', {'webhook_id': stack.hook_of(site)['id'], 'text': 'real one'})
    assert delivered['status'] == 200 and stack.ccm_messages(0)[-1]['text'] == 'real one'

    # Only GET and POST, only the site's name, only the path as written, no query on POST.
    assert _request(stack, 'PUT', path, body='{}')[0] == 405
    assert _request(stack, 'DELETE', path)[0] == 405
    assert _request(stack, 'GET', '%s?crc_token=%s' % (path, good), host='evil.example')[0] == 421
    for raw in ('//ccm/webhook/twitter', '/ccm/./webhook/twitter', '/ccm/x/../webhook/twitter', '/ccm/webhook/%74witter'):
        assert _request(stack, 'GET', '%s?crc_token=%s' % (raw, good))[0] in (400, 404), raw
    assert _request(stack, 'POST', path + '?x=1', body='{}')[0] == 400

    # A CCM restart the failed run could not do happens on the next run.
    restarts = os.path.join(stack.dir, 'restarts.log')
    restart = {'ccm_twitter_ccm_restart_command': 'echo restarted >> %s' % restarts}
    env = _read(site['env_file'])
    with open(site['env_file'], 'w', encoding='utf-8') as handle:
        handle.write(''.join(line for line in env.splitlines(True) if not line.startswith('TWITTER_ACCOUNT_ID=')))
    failed = stack.playbook('deploy.yml', '-e', json.dumps(dict(restart, ccm_twitter_acme_webroot='/proc/ccm-no')))
    assert failed.rc != 0 and not os.path.exists(restarts), failed.out
    rerun = stack.playbook('deploy.yml', '-e', json.dumps(restart))
    assert rerun.rc == 0 and rerun.recap['site00']['changed'] > 0, rerun.out
    assert _read(restarts) == 'restarted\n'
    assert _read(site['env_file']) == env
    again = stack.playbook('deploy.yml', '-e', json.dumps(restart))
    assert again.rc == 0 and again.changed() == {'site00': 0}, again.out
    assert _read(restarts) == 'restarted\n'

    # An nginx reload that failed (a broken file of someone else in conf.d) happens on the next run.
    broken = os.path.join(stack.state['nginx']['vhost_dir'], 'zz-broken.conf')
    with open(broken, 'w', encoding='utf-8') as handle:
        handle.write('this is not nginx;\n')
    workers = _workers(stack)
    longer = {'ccm_twitter_proxy_read_timeout': 9}
    failed = stack.playbook('deploy.yml', '-e', json.dumps(longer))
    assert failed.rc != 0 and 'Test nginx configuration' in failed.out, failed.out
    assert _workers(stack) == workers
    os.unlink(broken)
    rerun = stack.playbook('deploy.yml', '-e', json.dumps(longer))
    assert rerun.rc == 0 and rerun.recap['site00']['changed'] > 0, rerun.out
    deadline = time.monotonic() + 10
    while _workers(stack) == workers and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers(stack) != workers
    again = stack.playbook('deploy.yml', '-e', json.dumps(longer))
    assert again.rc == 0 and again.changed() == {'site00': 0}, again.out
