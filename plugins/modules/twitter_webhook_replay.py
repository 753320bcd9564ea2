#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_webhook_replay
short_description: Ask X to deliver a webhook's events of the past 24 hours again
version_added: 1.0.0
description:
  - Creates a replay job with C(POST /2/webhooks/replay) (app-only bearer token). X delivers again every event it
    delivered, or tried to deliver, to the webhook between O(from_time) and O(to_time), then posts a
    C(replay_job_status) event to the webhook.
  - Use it after an outage of the webhook endpoint, or after moving subscriptions to a new webhook, for the gap.
  - The window is checked before any call (within the past 24 hours, O(from_time) not after O(to_time), O(to_time)
    not in the future), on this host's clock. X works in whole minutes; seconds are dropped.
  - X runs one replay job per webhook at a time.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Validates the window and that O(webhook_id) is registered (one read call), reports C(changed) as a real
      run would, and creates no job.
  diff_mode:
    support: full
    details: Shows the replay job that is (or would be) created.
options:
  webhook_id:
    description:
      - The webhook whose events are replayed (1 to 19 digits), as registered with M(hybridchat.ccm.twitter_webhook).
    type: str
    required: true
  from_time:
    description:
      - The oldest minute to replay (inclusive), UTC.
      - ISO 8601, for example V(2026-12-07T09:30:00Z) (an offset other than UTC is converted; no offset means UTC),
        or X's C(yyyymmddhhmm), for example V(202612070930).
      - At most 24 hours ago.
    type: str
    required: true
  to_time:
    description:
      - The newest minute to replay, UTC, in the same formats as O(from_time). Not in the future.
      - Default, the current minute.
    type: str
notes:
  - X documents that O(to_time) is inclusive; the AAA replay it replaced treated it as exclusive.
  - Whether X replays events that were never attempted (for example while the webhook was invalid) is not documented.
seealso:
  - module: hybridchat.ccm.twitter_webhook
  - module: hybridchat.ccm.twitter_activity_subscription
  - name: Create replay job for webhook
    description: X's reference of the endpoint.
    link: https://docs.x.com/x-api/webhooks/create-replay-job-for-webhook
'''

EXAMPLES = r'''
- name: Replay the last two hours after an outage of the CCM endpoint
  hybridchat.ccm.twitter_webhook_replay:
    webhook_id: "{{ hook.webhook.id }}"
    from_time: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now().timestamp() | int - 7200, utc=true) }}"
  register: replay

- name: Replay a fixed window, in X's own format
  hybridchat.ccm.twitter_webhook_replay:
    webhook_id: '1234567890123456789'
    from_time: '202612070900'
    to_time: '202612071100'
'''

RETURN = r'''
job_id:
  description: The id of the replay job X created; V(null) in check mode.
  returned: always
  type: str
  sample: '1788345678901234567'
created_at:
  description: When X created the job, as X reports it; V(null) in check mode.
  returned: always
  type: str
  sample: '2026-12-07T12:00:00.000Z'
from_date:
  description: The start of the window as sent to X (C(yyyymmddhhmm), UTC).
  returned: always
  type: str
  sample: '202612070900'
to_date:
  description: The end of the window as sent to X (C(yyyymmddhhmm), UTC).
  returned: always
  type: str
  sample: '202612071100'
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

import datetime

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import (
    XApiError,
    check_id,
    check_replay_window,
    format_replay_date,
    parse_replay_time,
)


def main():
    module = TwitterModule(
        argument_spec=dict(
            webhook_id=dict(type='str', required=True),
            from_time=dict(type='str', required=True),
            to_time=dict(type='str'),
        ),
        needs_environment=False,
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, job_id=None, created_at=None, from_date=None, to_date=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    error = check_id('webhook_id', p['webhook_id'])
    if error is None:
        try:
            from_time = parse_replay_time('from_time', p['from_time'])
            to_time = parse_replay_time('to_time', p['to_time']) if p['to_time'] else now
        except ValueError as exc:
            error = str(exc)
    if error is None:
        error = check_replay_window(from_time, to_time, now)
    if error:
        module.fail_json(msg=error, api_calls=0, **result)
    result.update(from_date=format_replay_date(from_time), to_date=format_replay_date(to_time))

    try:
        client = module.client()
        if module.check_mode:
            if client.backend('2').find(client.backend('2').list_webhooks(), webhook_id=p['webhook_id']) is None:
                raise XApiError('webhook_id %s is not a registered webhook of this app: hybridchat.ccm.twitter_webhook_info '
                                'lists the ids.' % p['webhook_id'], 'webhook_invalid')
        else:
            result.update(client.xaa().replay(p['webhook_id'], result['from_date'], result['to_date']))
    except XApiError as err:
        module.fail_api(err, **result)
    result['changed'] = True
    if module._diff:
        job = {'webhook_id': p['webhook_id'], 'from_date': result['from_date'], 'to_date': result['to_date']}
        result['diff'] = {'before': {'replay_job': None}, 'after': {'replay_job': job}}
    module.finish(**result)


if __name__ == '__main__':
    main()
