#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_activity_subscription_info
short_description: List the app's X Activity API (XAA) subscriptions
version_added: 1.0.0
description:
  - Lists the X Activity API (XAA) subscriptions of the app (all pages of C(GET /2/activity/subscriptions), app-only
    bearer token), optionally only those of one user, one webhook or one event type.
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
  user_id:
    description:
      - Only the subscriptions of this account (numeric id, 1 to 19 digits).
    type: str
  webhook_id:
    description:
      - Only the subscriptions that deliver to this webhook (1 to 19 digits).
    type: str
  event_type:
    description:
      - Only the subscriptions of this event type, in X's dot notation, for example V(dm.received).
    type: str
seealso:
  - module: hybridchat.ccm.twitter_activity_subscription
'''

EXAMPLES = r'''
- name: All XAA subscriptions of the app
  hybridchat.ccm.twitter_activity_subscription_info:
  register: xaa

- name: The Direct Message subscriptions that deliver to the CCM webhook
  hybridchat.ccm.twitter_activity_subscription_info:
    webhook_id: "{{ hook.webhook.id }}"
    event_type: dm.received
  register: dm_subs

- name: Fail unless the account receives its Direct Messages
  ansible.builtin.assert:
    that: dm_subs.subscriptions | selectattr('user_id', 'equalto', twitter_account_id) | list | length == 1
'''

RETURN = r'''
subscriptions:
  description: The subscriptions that matched every filter given.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The subscription id.
      type: str
      sample: '1940123456789012345'
    event_type:
      description: The event type.
      type: str
      sample: dm.received
    user_id:
      description: The subscribed account (C(filter.user_id)); V(null) for event types without a user filter.
      type: str
      sample: '1111111111'
    webhook_id:
      description: The webhook the events are delivered to; V(null) when they only go to the activity stream.
      type: str
      sample: '1234567890123456789'
    tag:
      description: The subscription's tag; V(null) when it has none.
      type: str
      sample: hybridchat.ccm
total:
  description: The number of subscriptions that matched.
  returned: always
  type: int
  sample: 2
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import (
    XApiError,
    canonical_event_type,
    check_event_types,
    check_id,
)


def main():
    module = TwitterModule(
        argument_spec=dict(
            user_id=dict(type='str'),
            webhook_id=dict(type='str'),
            event_type=dict(type='str'),
        ),
        needs_environment=False,
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, subscriptions=[], total=0)
    errors = [check_id('user_id', p['user_id']), check_id('webhook_id', p['webhook_id'])]
    if p['event_type'] is not None:
        errors.append(check_event_types([p['event_type']]))
    errors = [e for e in errors if e]
    if errors:
        module.fail_json(msg=' '.join(errors), api_calls=0, **result)
    try:
        subs = module.client().xaa().list_subscriptions()
    except XApiError as err:
        module.fail_api(err, **result)
    wanted = canonical_event_type(p['event_type']) if p['event_type'] else None
    subs = [s for s in subs
            if (p['user_id'] is None or s['user_id'] == p['user_id'])
            and (p['webhook_id'] is None or s['webhook_id'] == p['webhook_id'])
            and (wanted is None or s['event_type'] == wanted)]
    result.update(subscriptions=subs, total=len(subs))
    module.finish(**result)


if __name__ == '__main__':
    main()
