#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_activity_subscription
short_description: Subscribe an X account's events to a webhook with the X Activity API (XAA)
version_added: 1.0.0
description:
  - Manages the X Activity API (XAA) subscriptions of one account, the successor of the Account Activity API (AAA),
    which ends on 2027-01-01. XAA has one subscription per event type and user (C(POST /2/activity/subscriptions)),
    so a Direct Message site needs two, V(dm.received) and V(dm.sent).
  - With O(state=present), makes sure the user has one subscription per event type in O(event_types) that delivers
    to O(webhook_id) and carries O(tag). A subscription of the same event type on another webhook or with another tag
    is moved with C(PUT) (only C(webhook_id) and C(tag) can change), never deleted and created again.
  - With O(state=absent), deletes the user's subscriptions of the given event types that carry O(tag).
  - Subscriptions with another tag are only ever changed by O(state=present) for an event type it manages, never
    deleted, so other tools of the same app keep theirs.
  - One list call reads the app's subscriptions (all pages); subscriptions are created with the user context of the
    subscribed account (O(access_token)/O(access_secret), or O(oauth2_user_token)); list, update and delete use the
    app-only bearer token.
  - X's answer to a duplicate subscription counts as success; the existing subscription is read back and moved if
    needed.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Only read calls are made; C(changed) and the returned lists are what a real run would report, with
      V(null) ids for subscriptions that would be created.
  diff_mode:
    support: full
    details: Shows the user's subscriptions of the managed event types and tag before and after.
options:
  state:
    description:
      - V(present) makes sure the subscriptions exist on O(webhook_id) with O(tag); V(absent) deletes those that carry
        O(tag).
    type: str
    choices: [present, absent]
    default: present
  event_types:
    description:
      - The XAA event types to manage, in X's dot notation.
      - Checked against X's documented event types before any call, for example V(dm.received), V(dm.sent),
        V(dm.read), V(dm.indicate_typing), V(post.mention.create), V(chat.received).
      - All C(dm.*) types are private events, which X creates only for users who authorised the app.
    type: list
    elements: str
    default: [dm.received, dm.sent]
  user_id:
    description:
      - Numeric id of the subscribed account (1 to 19 digits), for example from M(hybridchat.ccm.twitter_account_id).
      - Default, the owner of the user-context token (one more call, C(GET /2/users/me)).
      - Private events can only be subscribed with that account's own token, so with O(state=present) this is normally
        the token's owner; giving it saves the lookup.
    type: str
  webhook_id:
    description:
      - The id of the webhook the events are delivered to (1 to 19 digits), as registered with
        M(hybridchat.ccm.twitter_webhook) with O(api_version=2).
      - Required with O(state=present); not used with O(state=absent).
    type: str
  tag:
    description:
      - A label stored on each subscription and echoed on every delivered event (1 to 200 characters).
      - It marks the subscriptions this collection manages; O(state=absent) and O(exclusive) only delete subscriptions
        that carry it.
    type: str
    default: hybridchat.ccm
  exclusive:
    description:
      - With O(state=present), also delete this user's subscriptions of other event types that carry the same O(tag),
        so that exactly O(event_types) remain. Subscriptions with another tag are never touched.
    type: bool
    default: false
notes:
  - X documents neither the error bodies of XAA nor one response shape; the module accepts every shape X's documents
    show and reports duplicates, a reached subscription cap, an unknown webhook id, missing Direct Message
    permission or a user who has not authorised the app with the cause and the fix.
  - An idempotent run with O(user_id) given costs one call. Without O(bearer_token) the list is read with the OAuth 1.0a
    user context (X's specification allows it), so no C(POST /oauth2/token) is spent; if X refuses that, the list is
    read again with the app bearer. A first run costs one list plus one create per event type.
seealso:
  - module: hybridchat.ccm.twitter_activity_subscription_info
  - module: hybridchat.ccm.twitter_webhook
  - module: hybridchat.ccm.twitter_webhook_replay
  - name: X Activity API introduction
    description: Event types, subscription limits and authentication.
    link: https://docs.x.com/x-api/activity/introduction
'''

EXAMPLES = r'''
- name: Register the CCM webhook (v2)
  hybridchat.ccm.twitter_webhook:
    url: https://ccm.example.com/ccm/webhook/twitter
  register: hook

- name: Deliver the account's Direct Messages to it with XAA
  hybridchat.ccm.twitter_activity_subscription:
    webhook_id: "{{ hook.webhook.id }}"
    user_id: "{{ twitter_account_id }}"

- name: Also typing indicators and read receipts, and nothing else with our tag
  hybridchat.ccm.twitter_activity_subscription:
    webhook_id: "{{ hook.webhook.id }}"
    event_types: [dm.received, dm.sent, dm.read, dm.indicate_typing]
    exclusive: true

- name: Create the subscriptions with an OAuth 2.0 user token (dm.read) instead of OAuth 1.0a
  hybridchat.ccm.twitter_activity_subscription:
    webhook_id: "{{ hook.webhook.id }}"
    oauth2_user_token: "{{ vault_twitter_oauth2_user_token }}"
    access_token: ''
    access_secret: ''

- name: Stop delivering the account's Direct Messages
  hybridchat.ccm.twitter_activity_subscription:
    user_id: "{{ twitter_account_id }}"
    state: absent
'''

RETURN = r'''
subscriptions:
  description:
    - The user's subscriptions of the requested event types after the task (or as they would be, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The subscription id; V(null) for one that check mode would create.
      type: str
      sample: '1940123456789012345'
    event_type:
      description: The event type.
      type: str
      sample: dm.received
    user_id:
      description: The subscribed account (C(filter.user_id)).
      type: str
      sample: '1111111111'
    webhook_id:
      description: The webhook the events are delivered to; V(null) when they only go to the activity stream.
      type: str
      sample: '1234567890123456789'
    tag:
      description: The subscription's tag.
      type: str
      sample: hybridchat.ccm
  sample:
    - id: '1940123456789012345'
      event_type: dm.received
      user_id: '1111111111'
      webhook_id: '1234567890123456789'
      tag: hybridchat.ccm
created:
  description: Ids of the subscriptions created (V(null) for each that check mode would create).
  returned: always
  type: list
  elements: str
  sample: ['1940123456789012345', '1940123456789012346']
updated:
  description: Ids of the subscriptions moved to O(webhook_id) or given O(tag) with C(PUT).
  returned: always
  type: list
  elements: str
  sample: []
deleted:
  description: Ids of the subscriptions deleted (O(state=absent), or other event types with O(exclusive)).
  returned: always
  type: list
  elements: str
  sample: []
user_id:
  description: The account whose subscriptions were managed.
  returned: always
  type: str
  sample: '1111111111'
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

import copy

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_TAG,
    XApiError,
    canonical_event_type,
    check_event_types,
    check_id,
    check_tag,
)


def local_errors(p):
    """Every input error X would fail later, before any call: a list of messages."""
    errors = [check_event_types(p['event_types']), check_id('user_id', p['user_id']),
              check_id('webhook_id', p['webhook_id']), check_tag(p['tag'])]
    if p['state'] == 'present' and not p['webhook_id']:
        errors.append('webhook_id is required with state=present: the id of the webhook registered with '
                      'hybridchat.ccm.twitter_webhook (api_version 2; twitter_webhook_info lists the ids).')
    return [e for e in errors if e]


def sort_key(sub):
    return (sub['event_type'] or '', sub['id'] or '')


class Reconciler(object):
    """Brings one user's subscriptions to the wanted state; every write is gated on check mode."""

    def __init__(self, module, xaa, user_id, subs):
        self.module = module
        self.xaa = xaa
        self.user_id = user_id
        self.mine = [s for s in subs if s['user_id'] == user_id]
        self.created = []
        self.updated = []
        self.deleted = []

    def move(self, sub, webhook_id, tag):
        changes = {}
        if sub['webhook_id'] != webhook_id:
            changes['webhook_id'] = webhook_id
        if sub['tag'] != tag:
            changes['tag'] = tag
        if not changes:
            return
        if not self.module.check_mode:
            self.xaa.update_subscription(sub['id'], **changes)
        sub.update(changes)
        self.updated.append(sub['id'])

    def present(self, event_type, webhook_id, tag):
        candidates = [s for s in self.mine if s['event_type'] == event_type]
        if any(s['webhook_id'] == webhook_id and s['tag'] == tag for s in candidates):
            return
        if candidates:
            # Prefer our own tag; X keeps one subscription per event type and filter, so another tag is moved too.
            same_tag = [s for s in candidates if s['tag'] == tag]
            self.move((same_tag or candidates)[0], webhook_id, tag)
            return
        if self.module.check_mode:
            self.mine.append({'id': None, 'event_type': event_type, 'user_id': self.user_id, 'webhook_id': webhook_id,
                              'tag': tag})
            self.created.append(None)
            return
        sub, created = self.xaa.create_subscription(event_type, self.user_id, webhook_id, tag)
        self.mine.append(sub)
        if created:
            self.created.append(sub['id'])
        else:
            # A duplicate X knew of and the list had not shown: read back, so move it where it belongs.
            self.move(sub, webhook_id, tag)

    def delete(self, sub):
        if not self.module.check_mode:
            self.xaa.delete_subscription(sub['id'])
        self.mine.remove(sub)
        self.deleted.append(sub['id'])


def main():
    module = TwitterModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            event_types=dict(type='list', elements='str', default=list(DEFAULT_EVENT_TYPES)),
            user_id=dict(type='str'),
            webhook_id=dict(type='str'),
            tag=dict(type='str', default=DEFAULT_TAG),
            exclusive=dict(type='bool', default=False),
        ),
        needs_environment=False,
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, subscriptions=[], created=[], updated=[], deleted=[], user_id=p['user_id'])
    errors = local_errors(p)
    if errors:
        module.fail_json(msg=' '.join(errors), api_calls=0, **result)
    event_types = []
    for name in p['event_types']:
        if canonical_event_type(name) not in event_types:
            event_types.append(canonical_event_type(name))
    webhook_id, tag = p['webhook_id'], p['tag']

    rec = None
    try:
        client = module.client()
        xaa = client.xaa()
        user_id = p['user_id'] or client.me('2')['id']
        result['user_id'] = user_id
        rec = Reconciler(module, xaa, user_id, xaa.list_user_subscriptions())

        def relevant():
            return sorted((copy.deepcopy(s) for s in rec.mine if s['event_type'] in event_types or s['tag'] == tag),
                          key=sort_key)
        before = relevant()
        for event_type in event_types:
            if p['state'] == 'present':
                rec.present(event_type, webhook_id, tag)
            else:
                for sub in [s for s in rec.mine if s['event_type'] == event_type and s['tag'] == tag]:
                    rec.delete(sub)
        if p['state'] == 'present' and p['exclusive']:
            for sub in [s for s in rec.mine if s['event_type'] not in event_types and s['tag'] == tag]:
                rec.delete(sub)
    except XApiError as err:
        if rec is not None:
            result.update(created=rec.created, updated=rec.updated, deleted=rec.deleted,
                          changed=bool(rec.created or rec.updated or rec.deleted))
        module.fail_api(err, **result)

    result.update(created=rec.created, updated=rec.updated, deleted=rec.deleted,
                  changed=bool(rec.created or rec.updated or rec.deleted),
                  subscriptions=sorted((s for s in rec.mine if s['event_type'] in event_types), key=sort_key))
    if module._diff:
        result['diff'] = {'before': {'subscriptions': before}, 'after': {'subscriptions': relevant()}}
    module.finish(**result)


if __name__ == '__main__':
    main()
