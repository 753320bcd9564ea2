#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_account_id
short_description: Look up the numeric id of an X (Twitter) account
version_added: 1.0.0
description:
  - Returns the numeric account id (as a string), the username and the display name of an X account, for
    example the value CCM needs as C(TWITTER_ACCOUNT_ID).
  - With O(username), the account is looked up with C(GET /2/users/by/username/:username). Without it, the owner of
    the access token is returned (C(GET /2/users/me) on v2, C(GET /1.1/account/verify_credentials.json) on v1.1).
  - Unknown and suspended accounts (which X reports with HTTP 200 and an error list) and malformed usernames
    (checked before any call) fail with a clear message.
  - Never changes anything.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: N/A
    details: The module never changes anything, so there is no difference to show.
options:
  username:
    description:
      - The account's username (screen name), 1 to 15 letters, digits or underscores; a leading C(@) is ignored.
      - When omitted, the owner of O(access_token) is looked up.
      - The lookup uses O(bearer_token) when set, else the OAuth 1.0a access token when set, else a bearer token
        fetched from the consumer key and secret.
    type: str
seealso:
  - module: hybridchat.ccm.twitter_subscription
'''

EXAMPLES = r'''
- name: Id of the account the access token belongs to
  hybridchat.ccm.twitter_account_id:
  register: owner

- name: Id of an account by username
  hybridchat.ccm.twitter_account_id:
    username: XDevelopers
  register: account

- name: Use it
  ansible.builtin.debug:
    msg: "TWITTER_ACCOUNT_ID={{ account.account_id }}"
'''

RETURN = r'''
account_id:
  description: The numeric account id, as a string (ids exceed JavaScript's integer precision).
  returned: success
  type: str
  sample: '2244994945'
username:
  description: The account's username.
  returned: success
  type: str
  sample: XDevelopers
name:
  description: The account's display name.
  returned: success
  type: str
  sample: X Developers
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import USERNAME_RE, XApiError


def main():
    module = TwitterModule(
        argument_spec=dict(username=dict(type='str')),
        needs_environment=False,
        supports_check_mode=True,
    )
    username = module.params['username']
    if username is not None:
        username = username.strip()
        if username.startswith('@'):
            username = username[1:]
        if not USERNAME_RE.match(username):
            module.fail_json(msg='username %r is not a valid X username: 1 to 15 letters, digits or underscores '
                                 '(^[A-Za-z0-9_]{1,15}$).' % module.params['username'], changed=False)
    try:
        client = module.client()
        user = client.user_by_username(username) if username is not None else client.me(module.api_version)
    except XApiError as err:
        module.fail_api(err, changed=False)
    module.finish(changed=False, account_id=user['id'], username=user.get('username'), name=user.get('name'))


if __name__ == '__main__':
    main()
