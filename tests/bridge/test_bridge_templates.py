# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's bridge templates render (ansible.builtin.template), the config passes the program's own checks,
and systemd accepts the unit."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from bridge_helpers import TOP

TEMPLATES = os.path.join(TOP, 'roles', 'ccm_twitter', 'templates')
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    ccm_twitter_fqdn: chat.example.com
    ccm_twitter_webhook_path: /ccm/webhook/twitter
    ccm_twitter_upstream: http://127.0.0.1:8081/
    ccm_twitter_env_file: /etc/hybridchat/ccm.env
    ccm_twitter_account_id: "1111111111111111111"
    ccm_twitter_api_url: https://api.twitter.com
  tasks:
    - name: Render the bridge templates
      ansible.builtin.template:
        src: "{{ templates }}/{{ item }}.j2"
        dest: "{{ out }}/{{ item }}"
        mode: "0644"
      loop: [ccm-twitter-bridge.service, ccm-twitter-bridge.json]
"""


@pytest.fixture(scope='module', params=[False, True], ids=['webhook-only', 'stream-standby'])
def rendered(request, tmp_path_factory):
    return request.param, _render(tmp_path_factory.mktemp('rendered'), request.param)


def _render(out, stream, *extra):
    playbook = out / 'render.yml'
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_HOME=os.path.join(TOP, '.ansible'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=str(out / 'tmp'))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           str(playbook), '-e', 'out=%s' % out, '-e', 'templates=%s' % TEMPLATES,
           '-e', 'ansible_python_interpreter=%s' % sys.executable,
           '-e', 'ccm_twitter_stream_standby=%s' % stream] + list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_unit_allows_a_ccm_that_is_not_on_loopback(tmp_path):
    # CCM in a container network: IPAddressAllow=localhost would cut the bridge off from it.
    out = _render(tmp_path, False, '-e', 'ccm_twitter_upstream=http://172.17.0.2:8081')
    unit = (out / 'ccm-twitter-bridge.service').read_text()
    assert 'IPAddressDeny=any' not in unit and 'DynamicUser=yes' in unit


def test_config_template_passes_the_programs_checks(bridge_mod, rendered, monkeypatch):
    stream, out = rendered
    monkeypatch.setenv('CREDENTIALS_DIRECTORY', '/run/credentials/ccm-twitter-bridge.service')
    config = bridge_mod.load_config(str(out / 'ccm-twitter-bridge.json'))
    assert config['upstream'] == 'http://127.0.0.1:8081'
    assert config['upstream_host'] == 'chat.example.com'
    assert config['secret_env_file'] == '/run/credentials/ccm-twitter-bridge.service/ccm.env'
    assert (config['listen_host'], config['status_host']) == ('127.0.0.1', '127.0.0.1')
    assert config['state_dir'] == '/var/lib/ccm-twitter-bridge'
    if stream:
        assert config['stream']['user_id'] == '1111111111111111111'
        assert config['stream']['bearer_token_file'].endswith('/bearer-token')
    else:
        assert config['stream'] is None
    assert 'secret' not in json.dumps(json.load(open(out / 'ccm-twitter-bridge.json', encoding='utf-8'))).replace(
        'secret_env_file', '').replace('secret_env_var', '').replace('TWITTER_CONSUMER_SECRET', '').lower()


def test_unit_is_sandboxed_and_systemd_accepts_it(rendered):
    stream, out = rendered
    unit = (out / 'ccm-twitter-bridge.service').read_text()
    for line in ('DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes',
                 'PrivateTmp=yes', 'PrivateDevices=yes', 'StateDirectory=ccm-twitter-bridge', 'Restart=on-failure',
                 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'LoadCredential=ccm.env:/etc/hybridchat/ccm.env',
                 'CapabilityBoundingSet=', 'UMask=0077'):
        assert '\n%s\n' % line in unit, line
    assert ('LoadCredential=bearer-token:' in unit) is stream
    assert ('IPAddressDeny=any' in unit) is not stream
    if shutil.which('systemd-analyze') is None:
        pytest.skip('systemd-analyze is not installed')
    proc = subprocess.run(['systemd-analyze', 'verify', str(out / 'ccm-twitter-bridge.service')],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
