#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_subscription
short_description: Subscribe an X (Twitter) account to the Account Activity webhook, or remove the subscription
version_added: 1.0.0
description:
  - With O(state=present), subscribes the owner of O(access_token)/O(access_secret) to the webhook of the v1.1
    environment or to the v2 webhook given by O(webhook_id) or O(webhook_url). The subscription is checked first;
    an existing one (also X's "Subscription already exists") counts as success.
  - With O(state=absent), removes the subscription of O(user_id) (default, the owner of the access token). A webhook
    that is not registered has no subscriptions, so that is no error.
  - When O(user_id) is given it is trusted as the token owner's id, so no call is spent looking the owner up.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Only read calls are made; C(changed) is what a real run would report.
  diff_mode:
    support: full
options:
  state:
    description:
      - V(present) makes sure the access token's owner is subscribed; V(absent) makes sure O(user_id) is not.
    type: str
    choices: [present, absent]
    default: present
  webhook_id:
    description:
      - The v2 webhook to subscribe to. One of O(webhook_id) and O(webhook_url) is required with O(api_version=2).
      - Not used with O(api_version=1.1), where the environment's webhook is used.
    type: str
  webhook_url:
    description:
      - The v2 webhook to subscribe to, by URL. It is resolved to its id by listing the webhooks (one more call).
    type: str
  user_id:
    description:
      - Numeric id of the subscribed account, for example from M(hybridchat.ccm.twitter_account_id).
      - With O(state=present) it is trusted as the id of the access token's owner (the subscription X creates is
        always for the token's owner), and saves looking the owner up.
      - With O(state=absent) (and in check mode) it is the subscription to look for. Default, the token's owner.
    type: str
seealso:
  - module: hybridchat.ccm.twitter_webhook
  - module: hybridchat.ccm.twitter_account_id
'''

EXAMPLES = r'''
- name: Subscribe the CCM account to the v2 webhook
  hybridchat.ccm.twitter_subscription:
    webhook_url: https://ccm.example.com/ccm/webhook/twitter
    user_id: "{{ twitter_account_id }}"

- name: Subscribe in a v1.1 dev environment
  hybridchat.ccm.twitter_subscription:
    api_version: '1.1'
    environment: prod

- name: Remove a subscription by webhook id
  hybridchat.ccm.twitter_subscription:
    webhook_id: '1234567890123456789'
    user_id: '1111111111'
    state: absent
'''

RETURN = r'''
subscribed:
  description: Whether the account is subscribed after the task (or would be, in check mode).
  returned: always
  type: bool
  sample: true
user_id:
  description: The account whose subscription was managed.
  returned: always
  type: str
  sample: '1111111111'
webhook_id:
  description:
    - The v2 webhook id the subscription belongs to.
    - V(null) when O(webhook_url) is not registered (only possible in check mode or with O(state=absent)).
  returned: when O(api_version=2)
  type: str
  sample: '1234567890123456789'
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import WEBHOOK_ID_RE, XApiError


MISSING = object()


def resolve_webhook_id(module, backend):
    """The v2 webhook id (None on v1.1), or MISSING when webhook_url is not registered."""
    p = module.params
    if backend.api_version == '1.1':
        return None
    if p['webhook_id']:
        return p['webhook_id']
    hook = backend.find(backend.list_webhooks(), url=p['webhook_url'])
    return MISSING if hook is None else hook['id']


def ensure_present(module, backend, webhook_id):
    """(before, after) subscribed; subscribes unless in check mode."""
    if webhook_id is MISSING:
        if not module.check_mode:
            raise XApiError('No webhook with URL %s is registered for this app; register it first with '
                            'hybridchat.ccm.twitter_webhook.' % module.params['webhook_url'], 'not_found')
        module.warn('No webhook with URL %s is registered yet; a real run needs it registered first.'
                    % module.params['webhook_url'])
        return False, True
    before = backend.is_subscribed(webhook_id)
    if not before and not module.check_mode:
        backend.subscribe(webhook_id)
    return before, True


def ensure_absent(module, backend, webhook_id, user_id):
    if webhook_id is MISSING:
        # No webhook, no subscription: deleting a webhook drops its subscriptions.
        return False, False
    try:
        before = user_id in backend.list_subscriptions(webhook_id)
    except XApiError as err:
        if err.kind != 'not_found' or backend.api_version == '1.1':
            raise
        return False, False
    if before and not module.check_mode:
        backend.unsubscribe(webhook_id, user_id)
    return before, False


def main():
    module = TwitterModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            webhook_id=dict(type='str'),
            webhook_url=dict(type='str'),
            user_id=dict(type='str'),
        ),
        mutually_exclusive=[('webhook_id', 'webhook_url')],
        required_if=[('api_version', '2', ['webhook_id', 'webhook_url'], True)],
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, subscribed=False, user_id=p['user_id'])
    if p['user_id'] is not None and not p['user_id'].isdigit():
        module.fail_json(msg='user_id must be the numeric account id (not the @username); get it with '
                             'hybridchat.ccm.twitter_account_id.', **result)
    if p['webhook_id'] is not None and not WEBHOOK_ID_RE.match(p['webhook_id']):
        module.fail_json(msg='webhook_id %r is not an X webhook id (1 to 19 digits).' % p['webhook_id'], **result)
    try:
        backend = module.backend()
        webhook_id = resolve_webhook_id(module, backend)
        if backend.api_version == '2':
            result['webhook_id'] = None if webhook_id is MISSING else webhook_id
        user_id = p['user_id']
        if p['state'] == 'present':
            before, after = ensure_present(module, backend, webhook_id)
            if user_id is None:
                user_id = module.client().me(backend.api_version)['id']
        else:
            if user_id is None:
                user_id = module.client().me(backend.api_version)['id']
            before, after = ensure_absent(module, backend, webhook_id, user_id)
        result.update(changed=before != after, subscribed=after, user_id=user_id)
    except XApiError as err:
        module.fail_api(err, **result)

    if module._diff:
        view = {'user_id': user_id}
        if backend.api_version == '2':
            view['webhook_id'] = result['webhook_id']
        result['diff'] = {'before': dict(view, subscribed=before), 'after': dict(view, subscribed=after)}
    module.finish(**result)


if __name__ == '__main__':
    main()
