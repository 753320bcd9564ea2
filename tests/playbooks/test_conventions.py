# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 13, item 6: every tasks_from the playbooks use is a declared entry point, the role's tasks carry their
concern's tag, handlers are notified by prefixed names, renamed playbook variables still work with a deprecation
warning, and api_url defaults to https://api.x.com everywhere. No stack needed."""

import glob
import os
import re
import subprocess
import sys

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(TOP, 'roles', 'ccm_twitter')
CONCERNS = {'always', 'ccm_twitter_env', 'ccm_twitter_tls', 'ccm_twitter_nginx', 'ccm_twitter_bridge', 'ccm_twitter_register'}


def _load(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _tasks(items):
    for item in items or []:
        yield item
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(item.get(key))


def test_tasks_from_are_entry_points():
    specs = _load(os.path.join(ROLE, 'meta', 'argument_specs.yml'))['argument_specs']
    used = set()
    for path in glob.glob(os.path.join(TOP, 'playbooks', '**', '*.yml'), recursive=True):
        for play in _load(path) or []:
            for task in _tasks(play.get('tasks', []) if 'hosts' in play else [play]):
                for key in ('ansible.builtin.import_role', 'ansible.builtin.include_role'):
                    if isinstance(task.get(key), dict) and task[key].get('tasks_from'):
                        used.add(os.path.splitext(task[key]['tasks_from'])[0])
    assert used >= {'validate', 'bridge', 'bridge_remove'}, used
    assert used <= set(specs), used - set(specs)
    # The same options everywhere (a YAML anchor): status.yml gets the validation deploy.yml gets.
    for name in used:
        assert specs[name]['options'] == specs['main']['options'], name


def test_main_tasks_are_tagged_by_concern():
    for task in _load(os.path.join(ROLE, 'tasks', 'main.yml')):
        tags = set(task.get('tags') or [])
        assert tags and tags <= CONCERNS, (task['name'], tags)
        include = task.get('ansible.builtin.include_tasks')
        if include is not None:  # the included tasks get the include's tags (apply), or --tags would skip them
            applied = include['apply']['tags']
            assert set(applied) == tags if isinstance(applied, list) else '.tags' in applied, task['name']


def test_handlers_are_notified_by_prefixed_names():
    handlers = _load(os.path.join(ROLE, 'handlers', 'main.yml'))
    listen = {name for handler in handlers for name in handler.get('listen', [])}
    assert {'ccm_twitter_restart_ccm', 'ccm_twitter_nginx_changed', 'ccm_twitter_bridge_changed'} <= listen
    notified = set()
    for path in glob.glob(os.path.join(ROLE, 'tasks', '*.yml')) + glob.glob(os.path.join(TOP, 'playbooks', '**', '*.yml'),
                                                                            recursive=True):
        with open(path, 'r', encoding='utf-8') as handle:
            notified.update(re.findall(r'^\s*notify:\s*(\S+)\s*$', handle.read(), re.M))
    assert notified == {'ccm_twitter_restart_ccm', 'ccm_twitter_nginx_changed', 'ccm_twitter_bridge_changed'}, notified


def _play(tmp_path, *args, deprecations=True):
    play = tmp_path / 'play.yml'
    play.write_text('- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                    '    - ansible.builtin.import_tasks: %s\n' % os.path.join(TOP, 'playbooks', 'tasks', 'deprecated_vars.yml'))
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_DEPRECATION_WARNINGS='1' if deprecations else '0',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(TOP, '.collections'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', str(play)]
                          + list(args), capture_output=True, text=True, env=env, cwd=TOP, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return re.sub(r'\s+', ' ', proc.stdout + proc.stderr)


def test_renamed_playbook_variables_warn(tmp_path):
    old = _play(tmp_path, '-e', 'repair=true', '-e', 'new_fqdn=chat.example.com')
    assert 'The playbook variable repair is deprecated: use ccm_twitter_repair instead' in old, old
    assert 'The playbook variable new_fqdn is deprecated: use ccm_twitter_new_fqdn instead' in old, old
    assert "collection 'hybridchat.ccm' version 2.0.0" in old, old
    new = _play(tmp_path, '-e', 'ccm_twitter_repair=true')
    assert 'deprecated' not in new.lower(), new


def test_api_url_default_is_api_x_com():
    specs = _load(os.path.join(ROLE, 'meta', 'argument_specs.yml'))['argument_specs']
    assert specs['main']['options']['ccm_twitter_api_url']['default'] == 'https://api.x.com'
    assert _load(os.path.join(ROLE, 'defaults', 'main.yml'))['ccm_twitter_api_url'] == 'https://api.x.com'
    sys.path.insert(0, os.path.join(TOP, '.collections'))
    from ansible_collections.hybridchat.ccm.plugins.doc_fragments.twitter import ModuleDocFragment
    from ansible_collections.hybridchat.ccm.plugins.module_utils._x_common import DEFAULT_API_URL
    assert DEFAULT_API_URL == 'https://api.x.com'
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']['api_url']['default'] == 'https://api.x.com'
