# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The example inventory for AWX (extensions/awx/inventory, docs/awx.md): an inventory update (ansible-inventory
without a vault password) reads it and keeps the secrets encrypted, a job with the vault password gets them in clear,
and the same inventory with a whole-file vault fails the inventory update (why the strings are needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
INVENTORY = os.path.join(TOP, 'extensions', 'awx', 'inventory')
BIN = os.path.dirname(sys.executable)
SECRETS = ('ccm_twitter_consumer_key', 'ccm_twitter_consumer_secret', 'ccm_twitter_access_token',
           'ccm_twitter_access_secret')


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update(ANSIBLE_HOME=str(tmp_path / 'home'), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1')
    return env


def _run(tmp_path, *cmd):
    return subprocess.run([os.path.join(BIN, cmd[0])] + list(cmd[1:]), capture_output=True, text=True,
                          env=_env(tmp_path), cwd=str(tmp_path), timeout=120, check=False)


def test_inventory_update_keeps_secrets_encrypted(tmp_path):
    proc = _run(tmp_path, 'ansible-inventory', '-i', os.path.join(INVENTORY, 'hosts.yml'), '--list')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hostvars = json.loads(proc.stdout)['_meta']['hostvars']
    assert sorted(hostvars) == ['ccm-eu', 'ccm-us']
    for host, values in hostvars.items():
        assert values['ccm_twitter_fqdn'] == 'chat-%s.example.com' % host.split('-')[1]
        for name in SECRETS:
            assert values[name]['__ansible_vault'].startswith('$ANSIBLE_VAULT;'), (host, name)
    assert 'example-access-secret' not in proc.stdout


def test_job_decrypts_with_the_vault_password(tmp_path):
    msg = 'msg={{ [ccm_twitter_fqdn] + [%s] }}' % ', '.join(SECRETS)
    proc = _run(tmp_path, 'ansible', '-i', os.path.join(INVENTORY, 'hosts.yml'), 'ccm', '-m', 'ansible.builtin.debug',
                '-a', msg, '-o', '-e', 'ansible_connection=local', '--vault-password-file',
                os.path.join(INVENTORY, 'vault-password.example.txt'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'example-access-secret-eu-0123456789abcdef' in proc.stdout
    assert 'example-access-secret-us-0123456789abcdef' in proc.stdout
    assert proc.stdout.count('ExampleConsumerSecret0123456789abcdefghijklmnopq') == 2


def test_a_vaulted_file_fails_the_inventory_update(tmp_path):
    copy = tmp_path / 'inventory'
    shutil.copytree(INVENTORY, str(copy))
    vaulted = copy / 'group_vars' / 'secrets.yml'
    vaulted.write_text('---\nccm_extra_secret: plain\n', encoding='utf-8')
    enc = _run(tmp_path, 'ansible-vault', 'encrypt', str(vaulted), '--vault-password-file',
               str(copy / 'vault-password.example.txt'))
    assert enc.returncode == 0, enc.stderr
    (copy / 'group_vars' / 'ccm').mkdir()
    shutil.move(str(vaulted), str(copy / 'group_vars' / 'ccm' / 'secrets.yml'))
    shutil.move(str(copy / 'group_vars' / 'ccm.yml'), str(copy / 'group_vars' / 'ccm' / 'main.yml'))
    proc = _run(tmp_path, 'ansible-inventory', '-i', str(copy / 'hosts.yml'), '--list')
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert 'Attempting to decrypt but no vault secrets found' in proc.stderr, proc.stderr
