#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_webhook_info
short_description: List the X (Twitter) Account Activity webhooks and subscription counts
version_added: 1.0.0
description:
  - Lists the webhooks of the v1.1 dev environment or of the v2 app, with their validity, and, when X provides
    them, the app's subscription counts.
  - With O(api_version=1.1) and no O(environment), the webhooks of every dev environment of the app are listed.
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
options:
  count_subscriptions:
    description:
      - Also read the subscription counts (one more request, with app-only auth).
      - When X refuses the count (for example on tiers without it), a warning is given and
        RV(subscription_counts) is V(null).
    type: bool
    default: true
seealso:
  - module: hybridchat.ccm.twitter_webhook
'''

EXAMPLES = r'''
- name: Show the webhooks of the app
  hybridchat.ccm.twitter_webhook_info:
  register: info

- name: Fail when the CCM webhook is invalid
  ansible.builtin.assert:
    that: info.webhooks | selectattr('url', 'equalto', ccm_webhook_url) | map(attribute='valid') | list == [true]

- name: Webhooks of a v1.1 environment, without counts
  hybridchat.ccm.twitter_webhook_info:
    api_version: '1.1'
    environment: prod
    count_subscriptions: false
'''

RETURN = r'''
webhooks:
  description: The registered webhooks.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Webhook id.
      type: str
      sample: '1172488791895838721'
    url:
      description: Webhook URL.
      type: str
      sample: https://ccm.example.com/ccm/webhook/twitter
    valid:
      description: Whether the last CRC passed.
      type: bool
      sample: true
    created_at:
      description: Creation time, ISO 8601 in UTC.
      type: str
      sample: '2019-09-13T12:34:47Z'
    environment:
      description: The v1.1 dev environment label.
      type: str
      returned: when O(api_version=1.1)
      sample: prod
subscription_counts:
  description:
    - Subscription counts of the app, as X reports them, converted to integers; V(null) when not available.
  returned: success
  type: dict
  contains:
    subscriptions_count:
      description: Number of active subscriptions (v2 C(subscriptions_count_all)).
      type: int
      sample: 1
    provisioned_count:
      description: Number of subscriptions the tier allows.
      type: int
      sample: 15
    account_name:
      description: The account name X reports with the counts.
      type: str
      sample: my-account
  sample:
    subscriptions_count: 1
    provisioned_count: 15
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 2
'''

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import XApiError


def main():
    module = TwitterModule(
        argument_spec=dict(count_subscriptions=dict(type='bool', default=True)),
        needs_environment=False,
        supports_check_mode=True,
    )
    result = dict(changed=False)
    try:
        backend = module.client().backend(module.api_version, module.params['environment'], all_environments=True)
        result['webhooks'] = backend.list_webhooks()
        result['subscription_counts'] = None
        if module.params['count_subscriptions']:
            try:
                result['subscription_counts'] = backend.subscription_counts()
            except XApiError as err:
                # Counts are a bonus: an auth or tier refusal must not hide the webhook list.
                if err.kind in ('connection', 'rate_limit', 'server', 'missing_credentials'):
                    raise
                module.warn('Subscription counts are not available: %s' % err.msg)
    except XApiError as err:
        module.fail_api(err, **result)
    module.finish(**result)


if __name__ == '__main__':
    main()
