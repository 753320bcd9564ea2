# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/example parses with its example vault password, and every site gets what the role needs."""

import json
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(TOP, 'inventories', 'example')
MSG = ('msg={{ {"fqdn": ccm_twitter_fqdn, "api_version": ccm_twitter_api_version, '
       '"environment": ccm_twitter_environment | default(""), "key": ccm_twitter_consumer_key, '
       '"token": ccm_twitter_access_token, "secret": ccm_twitter_access_secret, '
       '"throttle": ccm_twitter_api_throttle, "wait": ccm_api_rate_limit_wait, "tls": ccm_twitter_tls_mode} }}')


def test_example_inventory(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(TOP, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=str(tmp_path))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'ansible'), '-i', EXAMPLE, 'ccm', '-m', 'ansible.builtin.debug', '-a', MSG, '-o',
         '--vault-password-file', os.path.join(EXAMPLE, 'vault-password.example.txt'), '-e', 'ansible_connection=local'],
        capture_output=True, text=True, env=env, cwd=TOP, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sites = {}
    for line in proc.stdout.splitlines():
        host, _sep, rest = line.partition(' | SUCCESS => ')
        if rest:
            sites[host] = json.loads(rest)['msg']
    assert sorted(sites) == ['ccm-apac', 'ccm-eu', 'ccm-us']
    assert {h: s['api_version'] for h, s in sites.items()} == {'ccm-apac': '1.1', 'ccm-eu': '2', 'ccm-us': '2'}
    assert sites['ccm-apac']['environment'] == 'production'
    assert sites['ccm-us']['tls'] == 'provided' and sites['ccm-eu']['tls'] == 'acme'
    assert len({s['fqdn'] for s in sites.values()}) == 3
    assert len({s['token'] for s in sites.values()}) == 3  # one account per site, from the vault
    for site in sites.values():
        assert site['key'].startswith('EXAMPLE-') and site['secret'].startswith('EXAMPLE-')
        assert site['throttle'] == 1 and site['wait'] == 900


def test_demo_inventory_matches_the_generated_one():
    """inventories/demo reads stack.json; tools/demo_stack.py writes the same settings literally for the tests."""
    sys.path.insert(0, os.path.join(TOP, 'tools'))
    import demo_stack  # pylint: disable=import-outside-toplevel,import-error

    with open(os.path.join(TOP, 'inventories', 'demo', 'group_vars', 'ccm.yml'), 'r', encoding='utf-8') as handle:
        demo_keys = {line.split(':', 1)[0] for line in handle
                     if line.startswith(('ccm_twitter_', 'ansible_'))}
    stack = {'dir': '/d', 'pki_dir': '/d/pki', 'ca_cert': '/d/ca.pem', 'api_url': 'https://127.0.0.1:1', 'aaa_end': 'x',
             'nginx': {'https_port': 2, 'http_port': 3, 'vhost_dir': '/d/conf.d', 'test_command': 't',
                       'reload_command': 'r'}}
    site = {key: 'x' for key in ('fqdn', 'upstream', 'env_file', 'api_version', 'environment', 'username',
                                 'consumer_key', 'consumer_secret', 'access_token', 'access_secret', 'activity_api')}
    site['bridge'] = {key: 'x' for key in ('port', 'health_port', 'program', 'config_dir', 'state_dir', 'python',
                                           'restart_command', 'stop_command')}
    generated = set(demo_stack.group_vars(stack)) | set(demo_stack.role_vars(stack, site))
    # The demo alone passes the app's bearer token (its FQDN change uses the standby stream); the tests set it
    # where they need it, so their X call counts include the oauth2/token call of a site without one.
    assert demo_keys == generated | {'ccm_twitter_bearer_token'}
