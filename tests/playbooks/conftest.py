# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the playbook tests: a stack from tools/demo_stack.py (emulator, CCM stand-ins, private nginx,
local CA) on free ports in a temporary directory, and a runner for ansible-playbook against its inventory."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
import yaml

# The emulator's end of AAA in the tests (X's real date is 2027-01-01): see make_stack.
PINNED_AAA_END = '2100-01-01T00:00:00Z'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(TOP, 'playbooks')
BIN = os.path.dirname(sys.executable)
RECAP_RE = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+'
                      r'skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)', re.M)


def _env(tmp):
    env = dict(os.environ)
    env.update({
        # scripts/crypto-floor.sh points this at a collections path with the oldest supported community.crypto.
        'ANSIBLE_COLLECTIONS_PATH': os.environ.get('CCM_TEST_COLLECTIONS_PATH') or os.path.join(TOP, '.collections'),
        'PYTHONPATH': os.pathsep.join([os.path.join(TOP, '.collections'), os.path.join(TOP, 'tools')]),
        'ANSIBLE_HOME': os.path.join(TOP, '.ansible'),
        'ANSIBLE_LOCAL_TEMP': os.path.join(tmp, 'ansible-tmp'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
        'ANSIBLE_DISPLAY_SKIPPED_HOSTS': '0',
    })
    return env


class Run:
    """One ansible-playbook run: return code, output and the recap per host."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.recap = {m.group(1): {'ok': int(m.group(2)), 'changed': int(m.group(3)), 'failed': int(m.group(5)),
                                   'rescued': int(m.group(7))}
                      for m in RECAP_RE.finditer(self.out)}

    def changed(self):
        return {host: r['changed'] for host, r in self.recap.items()}


class Stack:
    """A running stack and the playbooks run against its generated inventory."""

    def __init__(self, directory, state):
        self.dir = directory
        self.state = state
        self.inventory = state['inventory']
        self.env = _env(directory)

    # -- ansible ---------------------------------------------------------------------------------
    def playbook(self, name, *args, extra=None):
        cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', self.inventory, os.path.join(PLAYBOOKS, name)]
        for key, value in (extra or {}).items():
            cmd += ['-e', '%s=%s' % (key, value)]
        cmd += list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=TOP, timeout=600, check=False)
        return Run(proc)

    def set_host_var(self, host, name, value):
        """Edit the generated inventory, as an administrator edits host_vars (after an FQDN change)."""
        with open(self.inventory, 'r', encoding='utf-8') as handle:
            inventory = yaml.safe_load(handle)
        inventory['ccm']['hosts'][host][name] = value
        with open(self.inventory, 'w', encoding='utf-8') as handle:
            yaml.safe_dump(inventory, handle, default_flow_style=False)

    # -- the emulator's control interface ----------------------------------------------------------
    def control(self, method, name, body=None):
        response = requests.request(method, self.state['api_url'] + '/_emulator/' + name, json=body, timeout=30,
                                    verify=self.state['ca_cert'])
        response.raise_for_status()
        return response.json()

    def webhooks(self):
        return self.control('GET', 'state')['webhooks']

    def hook_of(self, site, url=None):
        """The webhook X has for a site (its app and environment, and the URL when given), or None."""
        for hook in self.webhooks():
            if hook['consumer_key'] != site['consumer_key'] or (hook.get('env') or '') != site['environment']:
                continue
            if url is None or hook['url'] == url:
                return hook
        return None

    def aaa_subscribed(self, site):
        """Whether the site's account is subscribed through AAA on the webhook of its URL."""
        hook = self.hook_of(site, site['webhook_url'])
        return hook is not None and site['account_id'] in hook['subscriptions']

    @staticmethod
    def texts(messages):
        """The texts of CCM's messages, in order."""
        return [m.get('text') for m in messages]

    def api_calls(self, clear=True):
        counts = self.control('GET', 'requests')['counts']
        if clear:
            self.control('DELETE', 'requests')
        return counts

    def ccm_messages(self, index):
        return requests.get(self.state['ccm'][index]['url'] + '/_ccm/messages', timeout=10).json()['messages']

    def send_dm(self, site, text):
        """A DM to the site's account happens on X: the emulator fans it out to every AAA and XAA subscriber."""
        return self.control('POST', 'deliver', {'recipient_id': site['account_id'], 'text': text})

    def wait_ccm(self, index, texts, timeout=30):
        """CCM's messages once every text arrived (the bridge forwards after X got its 200), or after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.ccm_messages(index)
            if set(texts) <= {m.get('text') for m in messages} or time.monotonic() > deadline:
                return messages
            time.sleep(0.2)

    def xaa_subscriptions(self, site):
        return [s for s in self.control('GET', 'state')['activity_subscriptions']
                if s['app'] == site['consumer_key'] and s['filter'].get('user_id') == site['account_id']]

    def vhosts(self):
        return sorted(os.listdir(self.state['nginx']['vhost_dir']))


@pytest.fixture
def make_stack(tmp_path):
    """make_stack(sites=1, v11=0, fqdns=None, extra_fqdns=(), xaa=0, aaa_end=...) -> Stack; stopped at the end.

    The emulator's end of AAA is pinned far ahead, so the AAA tests keep passing on and after 2027-01-01; the tests
    about the end of AAA move the emulator's clock past ccm_twitter_aaa_end themselves."""
    started = []

    def _make(sites=1, v11=0, fqdns=None, extra_fqdns=(), xaa=0, aaa_end=PINNED_AAA_END, max_webhooks=0):
        directory = str(tmp_path / ('stack%d' % len(started)))
        cmd = [sys.executable, os.path.join(TOP, 'tools', 'demo_stack.py'), 'up', '--dir', directory, '--quiet',
               '--sites', str(sites), '--v11', str(v11), '--xaa', str(xaa), '--aaa-end', aaa_end,
               '--max-webhooks', str(max_webhooks)]
        for fqdn in fqdns or []:
            cmd += ['--fqdn', fqdn]
        for fqdn in extra_fqdns:
            cmd += ['--extra-fqdn', fqdn]
        started.append(directory)
        subprocess.run(cmd, check=True, env=_env(directory), timeout=120)
        with open(os.path.join(directory, 'stack.json'), 'r', encoding='utf-8') as handle:
            return Stack(directory, json.load(handle))

    yield _make
    for directory in started:
        subprocess.run([sys.executable, os.path.join(TOP, 'tools', 'demo_stack.py'), 'down', '--dir', directory,
                        '--quiet'], check=False, env=_env(directory), timeout=60)
