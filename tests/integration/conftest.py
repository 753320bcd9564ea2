# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Integration fixtures: the X API emulator (HTTPS, own CA), two CCM stand-ins serving TLS for the webhook FQDNs
(one with the right consumer secret, one with a wrong one), and a runner for ansible-playbook.

One stack per pytest(-xdist) worker, on free ports; the emulator is reset before every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(REPO, 'tools')
COLLECTIONS = os.path.join(REPO, '.collections')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

xemu_testing = pytest.importorskip('xemu.testing')
yaml = pytest.importorskip('yaml')

HOOK_HOST = 'ccm.example.test'
NEW_HOST = 'new.example.test'
WRONG_HOST = 'wrong.example.test'
PATH = '/ccm/webhook/twitter'
HOOK_URL = 'https://%s%s' % (HOOK_HOST, PATH)
NEW_URL = 'https://%s%s' % (NEW_HOST, PATH)
WRONG_URL = 'https://%s%s' % (WRONG_HOST, PATH)
WRONG_SECRET = 'not-the-consumer-secret-of-this-app-0123456789abcdef'
AAA_END_PINNED = '2100-01-01T00:00:00Z'


class Stack(object):
    def __init__(self, emu, ccm, wrong, ca_path, workdir):
        self.emu = emu
        self.ccm = ccm
        self.wrong = wrong
        self.ca_path = ca_path
        self.workdir = workdir
        self.app = emu.app()
        self.readonly = emu.app('ccm-readonly')
        self.owner = emu.user()
        self.alice = emu.user('alice_example')

    def secrets(self):
        """Every credential of the seed: none may appear in any output."""
        out = []
        for app in self.emu.seed['apps']:
            out += [app['consumer_key'], app['consumer_secret'], app['bearer_token']]
        for user in self.emu.seed['users']:
            out += [user['access_token'], user['access_secret']]
        for token in self.emu.seed.get('oauth2_user_tokens') or []:
            out.append(token['access_token'])
        return [s for s in out if s]

    def oauth2_token(self, username):
        user = self.emu.user(username)
        return next(t['access_token'] for t in self.emu.seed['oauth2_user_tokens'] if t['user_id'] == user['id'])

    def defaults(self, api_version, app=None, user=None, **extra):
        """module_defaults for the hybridchat.ccm.twitter action group."""
        app = app or self.app
        user = user or self.owner
        values = dict(api_url=self.emu.url, ca_path=self.emu.ca_bundle, api_version=api_version,
                      consumer_key=app['consumer_key'], consumer_secret=app['consumer_secret'],
                      access_token=user['access_token'], access_secret=user['access_secret'], timeout=10)
        if api_version == '1.1':
            values['environment'] = 'production'
        values.update(extra)
        return values


@pytest.fixture(scope='session')
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp('stack')
    ca = xemu_testing.make_ca(base)
    leaf = xemu_testing.issue_cert(ca, [HOOK_HOST, NEW_HOST, WRONG_HOST], base)
    seed_app = xemu_testing.Emulator().app()
    good_env = base / 'ccm.env'
    good_env.write_text('TWITTER_CONSUMER_SECRET=%s\n' % seed_app['consumer_secret'], encoding='utf-8')
    wrong_env = base / 'wrong.env'
    wrong_env.write_text('TWITTER_CONSUMER_SECRET=%s\n' % WRONG_SECRET, encoding='utf-8')
    with xemu_testing.CcmStandIn(good_env, tls=leaf, path=PATH, workdir=base / 'ccm') as ccm, \
            xemu_testing.CcmStandIn(wrong_env, tls=leaf, path=PATH, workdir=base / 'wrong') as wrong:
        resolve = {'%s:443' % HOOK_HOST: '127.0.0.1:%d' % ccm.port, '%s:443' % NEW_HOST: '127.0.0.1:%d' % ccm.port,
                   '%s:443' % WRONG_HOST: '127.0.0.1:%d' % wrong.port}
        # A generous CRC timeout: on a loaded 2-core machine the stand-in may answer late; latency is tested elsewhere.
        # The end of AAA is pinned far ahead, so the AAA tests keep passing on and after 2027-01-01; the XAA tests
        # move it into the past where they test the end.
        with xemu_testing.Emulator(tls=True, crc_ca_bundle=ca.cert_path, resolve=resolve, workdir=base / 'emu',
                                   settings={'crc_timeout': 10}, aaa_end=AAA_END_PINNED) as emu:
            yield Stack(emu, ccm, wrong, ca.cert_path, base)


@pytest.fixture
def xstack(stack):
    """The stack with the emulator reset to its seed."""
    stack.emu.reset()
    stack.emu.clear_faults()
    stack.emu.config(clock_offset=0)
    stack.emu.clear_requests()
    return stack


def _dump_task(names):
    content = '{{ {%s} | to_json }}' % ', '.join("'%s': %s" % (n, n) for n in names)
    return {'name': 'dump results', 'ansible.builtin.copy': {'content': content, 'dest': '{{ results_file }}', 'mode': '0600'},
            'check_mode': False, 'no_log': False, 'diff': False}


def control(method, name, body=None, register=None, no_log=False):
    """An ansible.builtin.uri task against the emulator's control interface.

    no_log for answers that name apps by consumer key (rate_limits): that is emulator plumbing, not module output.
    """
    task = {'name': 'emulator %s %s' % (method, name),
            'ansible.builtin.uri': {'url': '{{ emu_url }}/_emulator/' + name, 'method': method, 'ca_path': '{{ emu_ca }}',
                                    'body_format': 'json', 'status_code': 200},
            'check_mode': False}
    if body is not None:
        task['ansible.builtin.uri']['body'] = body
    if register:
        task['register'] = register
    if no_log:
        task['no_log'] = True
    return task


def run_playbook(stack, tmp_path, tasks, defaults, check=False, extra_env=None, extra_vars=None):
    """Run tasks through ansible-playbook with -vvv --diff; return (results by register name, full output).

    Every run's whole output is scanned for the seed's credentials.
    """
    names = [t['register'] for t in tasks if t.get('register')]
    results_file = tmp_path / 'results.json'
    play = {'name': 'integration', 'hosts': 'localhost', 'gather_facts': False,
            'module_defaults': {'group/hybridchat.ccm.twitter': defaults},
            'vars': dict({'emu_url': stack.emu.url, 'emu_ca': stack.emu.ca_bundle, 'results_file': str(results_file),
                          'ccm_connect': '127.0.0.1:%d' % stack.ccm.port, 'wrong_connect': '127.0.0.1:%d' % stack.wrong.port,
                          'crc_ca': str(stack.ca_path)}, **(extra_vars or {})),
            'tasks': list(tasks) + [_dump_task(names)]}
    playbook = tmp_path / 'play.yml'
    playbook.write_text(yaml.safe_dump([play], sort_keys=False), encoding='utf-8')
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('TWITTER_', 'ANSIBLE_')))
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_NOCOLOR='1',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_REMOTE_TEMP=str(tmp_path / 'rtmp'),
               ANSIBLE_HOME=str(tmp_path / 'ansible-home'), ANSIBLE_RETRY_FILES_ENABLED='false',
               ANSIBLE_DEPRECATION_WARNINGS='false', ANSIBLE_PIPELINING='true', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    env.update(extra_env or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-vvv', '--diff', str(playbook)]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=170, check=False)
    output = proc.stdout + proc.stderr
    for secret in stack.secrets():
        assert secret not in output, 'a credential leaked into the ansible-playbook output'
    assert proc.returncode == 0, output[-6000:]
    with open(str(results_file), encoding='utf-8') as handle:
        results = json.load(handle)
    for value in results.values():
        text = json.dumps(value)
        for secret in stack.secrets():
            assert secret not in text
    return results, output
