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

import yaml

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


def _with_hosts(stack, hosts):
    """Add hosts to the generated inventory (each a copy of site00 with some values changed), or drop them (None)."""
    with open(stack.inventory, 'r', encoding='utf-8') as handle:
        inventory = yaml.safe_load(handle)
    base = inventory['ccm']['hosts']['site00']
    for name, changes in hosts.items():
        if changes is None:
            inventory['ccm']['hosts'].pop(name, None)
        else:
            inventory['ccm']['hosts'][name] = dict(base, **changes)
    with open(stack.inventory, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(inventory, handle, default_flow_style=False)


def _fatal(run, host):
    """The failure line of a host in a run's output."""
    found = [line for line in run.out.splitlines() if line.startswith('fatal: [%s' % host)]
    return found[-1] if found else ''


def test_faults(make_stack):
    stack = make_stack(sites=1)
    _bad_input_and_wrong_keys(stack)
    _forgery_and_odd_requests(stack)
    _pending_work_survives(stack)


def _bad_input_and_wrong_keys(stack):
    """One run, one host per case (copies of site00 in parallel): each fails before any change, with its message."""
    site = stack.state['sites'][0]
    env_before = _read(site['env_file'])
    stack.api_calls(clear=True)
    cases = {
        'bad_upper': ({'ccm_twitter_fqdn': site['fqdn'].upper()}, 'has upper-case letters: write it as %s' % site['fqdn']),
        'bad_port': ({'ccm_twitter_upstream': 'http://127.0.0.1:80810'}, 'a port between 1 and 65535'),
        'bad_newline': ({'ccm_twitter_consumer_secret': site['consumer_secret'] + '\n'},
                        'ccm_twitter_consumer_secret ends or starts with a line break'),
        'bad_space': ({'ccm_twitter_access_secret': 'has space'}, 'ccm_twitter_access_secret contains a space'),
        'bad_envdir': ({'ccm_twitter_env_file': os.path.join(stack.dir, 'no-such-dir', 'ccm.env')},
                       'no-such-dir of %s does not exist: fix the path' % os.path.join(stack.dir, 'no-such-dir', 'ccm.env')),
        'bad_certdir': ({'ccm_twitter_tls_cert': stack.dir}, 'is not a regular file (a directory?)'),
        'bad_certfile': ({'ccm_twitter_tls_cert': site['env_file']}, '%s is not a PEM certificate' % site['env_file']),
        # Wrong keys: proven against X before the env file changes, with a message naming the pair.
        'bad_consumer': ({'ccm_twitter_consumer_key': 'W' * 25},
                         'ccm_twitter_consumer_key or ccm_twitter_consumer_secret is wrong'),
        'bad_access': ({'ccm_twitter_access_secret': 'W' * 45},
                       'ccm_twitter_access_token or ccm_twitter_access_secret is wrong'),
    }
    _with_hosts(stack, {name: case[0] for name, case in cases.items()})
    run = stack.playbook('deploy.yml', '--limit', 'bad_*', '--forks', '10')
    _with_hosts(stack, dict.fromkeys(cases))
    assert run.rc != 0
    for name, (_changes, needle) in cases.items():
        assert run.recap[name]['failed'] == 1 and run.recap[name]['changed'] == 0, (name, run.out)
        assert needle in _fatal(run, name), (name, needle, run.out)
    for secret in (site['consumer_secret'], site['access_secret'], site['access_token'], 'W' * 25, 'W' * 45):
        assert secret not in run.out
    assert not os.path.exists(os.path.join(stack.dir, 'no-such-dir'))
    assert _read(site['env_file']) == env_before
    assert stack.vhosts() == [] and stack.webhooks() == []
    # Only the two wrong-key hosts asked X: the owner lookup, then the app-only token (and a webhook list when it
    # was issued) that tells the pairs apart.
    calls = stack.api_calls()
    assert calls['total'] <= 6 and calls['by_family'].get('users.me') == 2, calls
    assert calls['by_family'].get('oauth2.token') == 2, calls

    # The right keys: one lookup proves all four and gives the account id (no second user lookup).
    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert stack.hook_of(site, site['webhook_url'])['valid']
    calls = stack.api_calls()
    assert sum(count for family, count in calls['by_family'].items() if family.startswith('users')) == 1, calls

    # A wrong consumer secret on a live site: refused before CCM signs with it; the webhook stays valid.
    run = stack.playbook('deploy.yml', '-e', json.dumps({'ccm_twitter_consumer_secret': 'W' * 50}))
    assert run.rc != 0 and 'ccm_twitter_consumer_secret is wrong' in _fatal(run, 'site00'), run.out
    assert run.changed() == {'site00': 0}, run.out
    assert 'TWITTER_CONSUMER_SECRET=%s\n' % site['consumer_secret'] in _read(site['env_file'])
    hook = stack.hook_of(site, site['webhook_url'])
    stack.control('POST', 'webhooks/%s/crc' % hook['id'])
    assert stack.hook_of(site, site['webhook_url'])['valid']


def _forgery_and_odd_requests(stack):
    site = stack.state['sites'][0]
    path = '/ccm/webhook/twitter'

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
        if status == 200:  # what an unprotected site does: deliver the body with the signature CCM just made
            token = json.loads(answer)['response_token']
            _request(stack, 'POST', path, body=body, headers={'x-twitter-webhooks-signature': token,
                                                              'Content-Type': 'application/json'})
        assert FORGED_TEXT not in json.dumps(stack.ccm_messages(0)), query
        assert status == 400, (query, status, answer)

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


def _pending_work_survives(stack):
    """Run A changes the env file and fails later; run B restarts CCM as left pending, changes the vhost and fails
    in nginx's test (someone else's broken file); run C, with that file fixed, tests and reloads nginx."""
    site = stack.state['sites'][0]
    restarts = os.path.join(stack.dir, 'restarts.log')
    options = {'ccm_twitter_ccm_restart_command': 'echo restarted >> %s' % restarts}
    env = _read(site['env_file'])
    with open(site['env_file'], 'w', encoding='utf-8') as handle:
        handle.write(''.join(line for line in env.splitlines(True) if not line.startswith('TWITTER_ACCOUNT_ID=')))
    run_a = stack.playbook('deploy.yml', '-e', json.dumps(dict(options, ccm_twitter_acme_webroot='/proc/ccm-no')))
    assert run_a.rc != 0 and not os.path.exists(restarts), run_a.out
    assert _read(site['env_file']) == env

    broken = os.path.join(stack.state['nginx']['vhost_dir'], 'zz-broken.conf')
    with open(broken, 'w', encoding='utf-8') as handle:
        handle.write('this is not nginx;\n')
    workers = _workers(stack)
    options['ccm_twitter_proxy_read_timeout'] = 9
    run_b = stack.playbook('deploy.yml', '-e', json.dumps(options))
    assert run_b.rc != 0 and 'Test nginx configuration' in run_b.out, run_b.out
    assert _read(restarts) == 'restarted\n'
    assert _workers(stack) == workers

    os.unlink(broken)
    run_c = stack.playbook('deploy.yml', '-e', json.dumps(options))
    assert run_c.rc == 0 and run_c.recap['site00']['changed'] > 0, run_c.out
    assert 'Test and reload nginx as a failed run left pending' in run_c.out
    deadline = time.monotonic() + 10
    while _workers(stack) == workers and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers(stack) != workers
    assert _read(restarts) == 'restarted\n'
    # Nothing is left pending: the next run would report changed=0.
    assert [name for name in os.listdir(stack.state['nginx']['vhost_dir']) if 'pending' in name] == []
    assert [name for name in os.listdir(os.path.dirname(site['env_file'])) if 'pending' in name] == []
