# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ccm_env_file on real files in a temporary directory: the line forms docker, systemd and sh read, symlinks,
duplicates, CRLF, bad values and missing directories; values never in the output."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.hybridchat.ccm.plugins.modules import ccm_env_file

SECRET = 'Sx9vQ2newSECRETvalue0123456789abcdef'
OLD = 'oldSECRETvalue'


def _run(run_module, args, check=False, diff=False):
    return run_module(ccm_env_file, args, check=check, diff=diff, creds=False)


def _mode(path):
    return os.stat(path).st_mode & 0o777


def test_sets_in_place_keeps_export_and_other_lines(tmp_path, run_module, capsys):
    env = tmp_path / 'ccm.env'
    env.write_text('# CCM\nCCM_PORT=8081\nexport TWITTER_CONSUMER_SECRET=%s\n  TWITTER_CONSUMER_KEY = k1\n' % OLD)
    env.chmod(0o644)
    failed, res = _run(run_module, dict(path=str(env), values={'TWITTER_CONSUMER_SECRET': SECRET,
                                                               'TWITTER_CONSUMER_KEY': 'k1', 'TWITTER_ACCOUNT_ID': 42}),
                       diff=True)
    assert not failed and res['changed'], res
    assert env.read_text() == ('# CCM\nCCM_PORT=8081\nexport TWITTER_CONSUMER_SECRET=%s\n  TWITTER_CONSUMER_KEY=k1\n'
                               'TWITTER_ACCOUNT_ID=42\n' % SECRET)
    assert _mode(env) == 0o600
    assert sorted(res['changed_keys']) == ['TWITTER_ACCOUNT_ID', 'TWITTER_CONSUMER_KEY', 'TWITTER_CONSUMER_SECRET']
    assert SECRET not in str(res) and OLD not in str(res)
    assert 'TWITTER_CONSUMER_SECRET=<hidden>' in res['diff']['before']
    assert '(mode 0644)' in res['diff']['before']
    again = _run(run_module, dict(path=str(env), values={'TWITTER_CONSUMER_SECRET': SECRET}))[1]
    assert not again['changed'] and again['changed_keys'] == []


def test_all_three_readers_agree(tmp_path, run_module):
    env = tmp_path / 'ccm.env'
    env.write_text('export A=1\n')
    value = 'AAAA%2Bb/c=d:e@f,g^h-i_j.k+l'
    assert not _run(run_module, dict(path=str(env), values={'TWITTER_BEARER': value}))[0]
    out = subprocess.run(['sh', '-c', 'set -a; . "$1"; printf %s "$TWITTER_BEARER"', 'sh', str(env)],
                         capture_output=True, text=True, check=True).stdout
    assert out == value
    # docker --env-file and systemd take KEY=VALUE literally: the raw line is the value.
    assert 'TWITTER_BEARER=%s\n' % value in env.read_text()


def test_check_mode_names_the_key_and_changes_nothing(tmp_path, run_module):
    env = tmp_path / 'ccm.env'
    env.write_text('TWITTER_ACCESS_TOKEN=%s\n' % OLD)
    env.chmod(0o600)
    failed, res = _run(run_module, dict(path=str(env), values={'TWITTER_ACCESS_TOKEN': SECRET}), check=True, diff=True)
    assert not failed and res['changed'] and res['changed_keys'] == ['TWITTER_ACCESS_TOKEN']
    assert res['diff']['before'] == 'TWITTER_ACCESS_TOKEN=<hidden>\n'
    assert res['diff']['after'] == 'TWITTER_ACCESS_TOKEN=<hidden, new>\n'
    assert env.read_text() == 'TWITTER_ACCESS_TOKEN=%s\n' % OLD


def test_duplicates_leave_no_stale_secret(tmp_path, run_module):
    env = tmp_path / 'ccm.env'
    env.write_text('TWITTER_CONSUMER_SECRET=%s\nX=1\nexport TWITTER_CONSUMER_SECRET=%s2\n' % (OLD, OLD))
    failed, res = _run(run_module, dict(path=str(env), values={'TWITTER_CONSUMER_SECRET': SECRET}))
    assert not failed and res['changed']
    assert env.read_text() == 'TWITTER_CONSUMER_SECRET=%s\nX=1\n' % SECRET
    # The same value twice is still a change: the duplicate goes.
    env.write_text('K=%s\nK=%s\n' % (SECRET, SECRET))
    assert _run(run_module, dict(path=str(env), values={'K': SECRET}))[1]['changed']
    assert env.read_text() == 'K=%s\n' % SECRET


def test_crlf_stays_crlf(tmp_path, run_module):
    env = tmp_path / 'ccm.env'
    env.write_bytes(b'CCM_PORT=8081\r\nTWITTER_ACCESS_SECRET=old\r\n')
    assert not _run(run_module, dict(path=str(env), values={'TWITTER_ACCESS_SECRET': SECRET, 'NEW_KEY': 'v'}))[0]
    assert env.read_bytes() == ('CCM_PORT=8081\r\nTWITTER_ACCESS_SECRET=%s\r\nNEW_KEY=v\r\n' % SECRET).encode()


def test_symlink_mode_enforced_on_target(tmp_path, run_module):
    target = tmp_path / 'real.env'
    target.write_text('A=1\n')
    target.chmod(0o644)
    link = tmp_path / 'ccm.env'
    link.symlink_to(target)
    failed, res = _run(run_module, dict(path=str(link), values={'TWITTER_CONSUMER_SECRET': SECRET}))
    assert not failed and res['path'] == str(target)
    assert os.path.islink(link) and _mode(target) == 0o600
    assert SECRET in target.read_text()


@pytest.mark.parametrize('value,needle', [
    (SECRET + '\n', 'ansible-vault encrypt_string'),
    (SECRET + '\r', 'line break or carriage return'),
    ('abc\x01def', 'control character'),
    ('a b', 'read differently'),
    ('a"b', 'read differently'),
    ('a$b', 'read differently'),
    ('', 'is empty'),
])
def test_bad_values_fail_before_any_change(tmp_path, run_module, value, needle):
    env = tmp_path / 'ccm.env'
    env.write_text('TWITTER_CONSUMER_SECRET=%s\n' % OLD)
    failed, res = _run(run_module, dict(path=str(env), values={'TWITTER_CONSUMER_SECRET': value, 'OTHER': 'x'}))
    assert failed and needle in res['msg'] and 'TWITTER_CONSUMER_SECRET' in res['msg'], res
    assert env.read_text() == 'TWITTER_CONSUMER_SECRET=%s\n' % OLD
    if value.strip():
        assert value.strip() not in res['msg']


def test_missing_directory_is_not_created(tmp_path, run_module):
    path = tmp_path / 'hybirdchat' / 'ccm.env'
    failed, res = _run(run_module, dict(path=str(path), values={'K': 'v'}))
    assert failed and 'does not exist' in res['msg'] and not path.parent.exists()


def test_new_file_created_0600_and_absent(tmp_path, run_module):
    path = tmp_path / 'ccm.env'
    failed, res = _run(run_module, dict(path=str(path), values={'K': 'v', 'L': 'w'}))
    assert not failed and res['created'] and _mode(path) == 0o600 and path.read_text() == 'K=v\nL=w\n'
    failed, res = _run(run_module, dict(path=str(path), state='absent', keys=['K', 'M']))
    assert not failed and res['changed_keys'] == ['K'] and path.read_text() == 'L=w\n'
    assert not _run(run_module, dict(path=str(path), state='absent', keys=['K']))[1]['changed']


def test_dangling_symlink_and_directory(tmp_path, run_module):
    link = tmp_path / 'ccm.env'
    link.symlink_to(tmp_path / 'missing.env')
    failed, res = _run(run_module, dict(path=str(link), values={'K': 'v'}))
    assert failed and 'does not exist' in res['msg']
    folder = tmp_path / 'dir.env'
    folder.mkdir()
    failed, res = _run(run_module, dict(path=str(folder), values={'K': 'v'}))
    assert failed and 'not a regular file' in res['msg']
    shutil.rmtree(folder)
