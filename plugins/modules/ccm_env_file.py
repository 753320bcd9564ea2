#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: ccm_env_file
short_description: Set or remove secret keys in an env file read by docker, systemd and sh alike
version_added: 1.0.0
description:
  - Sets each key of O(values) in an env file (C(KEY=value) lines), in place, and leaves every other line as it is.
  - The file stays readable by C(docker --env-file), systemd's C(EnvironmentFile=) and a shell's C(set -a; . FILE).
    Values are written unquoted and must hold only characters that all three read the same way (letters, digits
    and C(._/+=:@%,^-)); anything else, such as a trailing newline, a carriage return, a space, a quote or a C($),
    fails before the file is touched, with a message that names the key but never the value.
  - A key that appears more than once is set in its first line and its other lines are removed, so no stale value
    is left. C(export KEY=) lines keep their C(export). A file with CRLF line ends keeps them.
  - A symbolic link is followed; the mode, owner and group are enforced on the file actually written, and the mode
    is tightened before new content is written.
  - The directory of the file must exist; a missing directory fails instead of being created (a mistyped path).
  - Values are never shown; the diff shows which keys change (C(KEY=<hidden>) lines) and mode changes.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the keys that would change with their values hidden.
  platform:
    platforms: posix
options:
  path:
    description: The env file. Created (with O(mode)) when missing and O(state=present); a symlink is followed.
    type: path
    required: true
  values:
    description: Keys and values to set (O(state=present)). Keys are shell variable names.
    type: dict
    default: {}
  keys:
    description: Keys whose lines are removed (O(state=absent)).
    type: list
    elements: str
    default: []
  state:
    description: V(present) sets O(values); V(absent) removes every line of O(keys).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: Mode of the file actually written (the symlink's target).
    type: raw
    default: '0600'
  owner:
    description: Owner of the file; omitted leaves it unchanged (the connecting user on creation).
    type: str
  group:
    description: Group of the file; omitted leaves it unchanged.
    type: str
'''

EXAMPLES = r'''
- name: Set the X keys in CCM's env file
  hybridchat.ccm.ccm_env_file:
    path: /etc/hybridchat/ccm.env
    values:
      TWITTER_CONSUMER_KEY: "{{ consumer_key }}"
      TWITTER_CONSUMER_SECRET: "{{ consumer_secret }}"
  register: env

- name: Remove them again
  hybridchat.ccm.ccm_env_file:
    path: /etc/hybridchat/ccm.env
    state: absent
    keys: [TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET]
'''

RETURN = r'''
changed_keys:
  description: Keys whose lines were (or in check mode would be) added, changed, deduplicated or removed.
  returned: always
  type: list
  elements: str
  sample: [TWITTER_CONSUMER_SECRET]
created:
  description: Whether the file was (or would be) created.
  returned: always
  type: bool
path:
  description: The file actually written (the symlink's target when O(path) is a symlink).
  returned: always
  type: str
'''

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# Characters docker --env-file, systemd EnvironmentFile= and sh read the same way in an unquoted value.
VALUE_RE = re.compile(r'^[A-Za-z0-9._/+=:@%,^-]+$')
CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')


def value_problem(key, value):
    """Why value cannot be written for key (the value itself is never named), or None."""
    if not isinstance(value, str) or value == '':
        return '%s is empty: set it' % key
    if value[-1] in '\r\n' or value[0] in '\r\n':
        return ('%s ends or starts with a line break or carriage return (what "echo secret | ansible-vault '
                'encrypt_string" gives): encrypt it with "printf %%s secret" or "echo -n", or strip it' % key)
    if CONTROL_RE.search(value):
        return ('%s contains a line break, carriage return, tab or other control character: copy the value again '
                'from its source without it' % key)
    if not VALUE_RE.match(value):
        return ('%s contains a space, quote, "$", "#", "\\" or another character that docker --env-file, systemd '
                'and sh read differently: only letters, digits and ._/+=:@%%,^- are allowed; copy the value again '
                'from its source' % key)
    return None


def line_key_re(key):
    return re.compile(r'^(\s*)(export\s+)?' + re.escape(key) + r'\s*=')


def split_lines(text):
    """Lines without their ends, the line end to use, and whether the text ended with a line end."""
    newline = '\r\n' if '\r\n' in text else '\n'
    if text == '':
        return [], newline, False
    lines = text.split('\n')
    trailing = text.endswith('\n')
    if trailing:
        lines.pop()
    if newline == '\r\n':
        lines = [line[:-1] if line.endswith('\r') else line for line in lines]
    return lines, newline, trailing


def edit(text, values, remove_keys):
    """New text and the keys that changed."""
    lines, newline, trailing = split_lines(text)
    changed = []
    for key in remove_keys:
        pattern = line_key_re(key)
        kept = [line for line in lines if not pattern.match(line)]
        if len(kept) != len(lines):
            changed.append(key)
            lines = kept
    for key, value in values.items():
        pattern = line_key_re(key)
        found = [index for index, line in enumerate(lines) if pattern.match(line)]
        if not found:
            lines.append('%s=%s' % (key, value))
            changed.append(key)
            continue
        first = found[0]
        match = pattern.match(lines[first])
        new_line = '%s%s%s=%s' % (match.group(1), 'export ' if match.group(2) else '', key, value)
        if lines[first] != new_line or len(found) > 1:
            changed.append(key)
        lines[first] = new_line
        for index in reversed(found[1:]):
            del lines[index]
    if not lines:
        return '', changed
    new_text = newline.join(lines)
    if trailing or changed or text == '':
        new_text += newline
    return new_text, changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            values=dict(type='dict', default={}, no_log=True),
            keys=dict(type='list', elements='str', default=[], no_log=False),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            mode=dict(type='raw', default='0600'),
            owner=dict(type='str'),
            group=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    state = params['state']
    values = params['values'] if state == 'present' else {}
    # Numbers (an account id) are written as they read; anything else that is not a string fails below.
    values = dict((key, str(value) if isinstance(value, int) and not isinstance(value, bool) else value)
                  for key, value in values.items())
    remove_keys = params['keys'] if state == 'absent' else []

    for key in list(values) + list(remove_keys):
        if not KEY_RE.match(key):
            module.fail_json(msg='%r is not a variable name (letters, digits and _, not starting with a digit).' % key)
    problems = [value_problem(key, values[key]) for key in values]
    problems = [problem for problem in problems if problem]
    if problems:
        module.fail_json(msg='Nothing was changed in %s: %s.' % (path, '; '.join(problems)))

    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    if not os.path.isdir(directory):
        module.fail_json(msg='The directory %s of %s does not exist: fix the path (a typo?) or create the directory '
                             'first (CCM\'s package does); it is not created here.' % (directory, path))
    if os.path.lexists(path) and not os.path.exists(path):
        module.fail_json(msg='%s is a symbolic link to %s, which does not exist: fix the link or the path.' % (path, real))
    if os.path.exists(real) and not os.path.isfile(real):
        module.fail_json(msg='%s is not a regular file: give the path of CCM\'s env file.' % real)

    exists = os.path.exists(real)
    if not exists and state == 'absent':
        module.exit_json(changed=False, changed_keys=[], created=False, path=real)
    text = ''
    if exists:
        try:
            with open(real, 'rb') as handle:
                text = to_text(handle.read(), errors='surrogate_or_strict')
        except (OSError, UnicodeError) as err:
            module.fail_json(msg='Cannot read %s: %s' % (real, to_native(err)))

    new_text, changed_keys = edit(text, values, remove_keys)
    content_changed = new_text != text or not exists
    result = dict(changed=False, changed_keys=changed_keys, created=not exists, path=real)

    mode = params['mode']
    file_args = dict(path=real, mode=mode, owner=params['owner'], group=params['group'], secontext=[None, None, None],
                     attributes=None)
    diff = dict(before_header=real, after_header=real, before='', after='')
    old_lines = split_lines(text)[0]
    before_lines = ['%s=<hidden>' % key for key in changed_keys
                    if any(line_key_re(key).match(line) for line in old_lines)]
    after_lines = ['%s=<hidden, new>' % key for key in changed_keys if key in values]
    if exists:
        current_mode = '%04o' % (os.stat(real).st_mode & 0o7777)
        if isinstance(mode, str) and re.match(r'^0?[0-7]{3,4}$', mode) and int(mode, 8) != int(current_mode, 8):
            before_lines.append('(mode %s)' % current_mode)
            after_lines.append('(mode %04o)' % int(mode, 8))
    diff['before'] = ''.join(line + '\n' for line in before_lines)
    diff['after'] = ''.join(line + '\n' for line in after_lines)

    if module.check_mode:
        # The fs attribute helpers only report in check mode.
        changed = content_changed
        if exists:
            changed = module.set_fs_attributes_if_different(file_args, changed)
        result['changed'] = changed
        if module._diff and changed:
            result['diff'] = diff
        module.exit_json(**result)

    changed = False
    if exists:
        # Tighten the mode before new secrets land in the file.
        changed = module.set_fs_attributes_if_different(file_args, changed)
    if content_changed:
        fd, tmp = tempfile.mkstemp(prefix='.ccm-env-', dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(to_bytes(new_text, errors='surrogate_or_strict'))
            module.atomic_move(tmp, real, unsafe_writes=False)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        changed = True
    changed = module.set_fs_attributes_if_different(file_args, changed)
    result['changed'] = changed
    if module._diff and changed:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
