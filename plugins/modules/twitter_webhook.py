#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_webhook
short_description: Register, re-validate and remove X (Twitter) Account Activity webhooks
version_added: 1.0.0
description:
  - Makes sure a webhook URL is registered with the X Account Activity API (v1.1 dev environment or v2 app), or
    that it is not.
  - The URL is the identity of the webhook. An existing webhook that X marked invalid is re-validated with a CRC
    request (O(revalidate)).
  - With O(exclusive=true) every other webhook of the environment (v1.1) or app (v2) is deleted, which is how an
    FQDN change is done. On v2 the new webhook is registered first (no gap in delivery when the quota allows two);
    when X refuses because the quota (often one webhook) is reached, and always on v1.1, where an environment holds
    exactly one webhook, the old webhooks are deleted before the new one is registered. If that registration then
    fails, the deleted webhooks are registered again (best effort) and the task fails with both errors.
  - An idempotent run sends exactly one request (the webhook list), plus one C(POST /oauth2/token) when v2 needs a
    bearer token that was not given.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Only the webhook list is read (no O(crc_preflight)); C(changed) is what a real run would report.
  diff_mode:
    support: full
options:
  url:
    description:
      - The webhook URL, for example V(https://ccm.example.com/ccm/webhook/twitter).
      - It is checked before any call to X; it must use https, must not contain a port, and may have at most
        200 characters.
      - Required when O(state=present). With O(state=absent), the webhook with this URL is deleted.
    type: str
  state:
    description:
      - V(present) registers the webhook unless it exists; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  webhook_id:
    description:
      - With O(state=absent), delete the webhook with this id (instead of, or as well as, the one with O(url)).
      - Not used with O(state=present).
    type: str
  exclusive:
    description:
      - With O(state=present), also delete every other webhook of the v1.1 environment or of the v2 app.
      - Use it to move the webhook to a new FQDN when the quota allows only one webhook.
    type: bool
    default: false
  revalidate:
    description:
      - When the webhook exists but X marks it invalid (C(valid=false)), trigger a CRC with C(PUT) to re-enable it.
        This is reported as a change.
    type: bool
    default: true
  crc_preflight:
    description:
      - With O(state=present), first prove that X's CRC request to O(url) gets the right answer, exactly as
        M(hybridchat.ccm.twitter_crc_check) does, and fail with its message before any call to X when it does not.
        X marks a webhook invalid after one failed CRC, and registering or re-validating triggers one.
      - The check runs on every run that is not in check mode (in check mode nothing was deployed yet), so a
        converged site proves on each run that X's requests reach the endpoint, in the same module run as the
        webhook list.
      - Omit it to register without a check.
    type: dict
    suboptions:
      connect_to:
        description:
          - C(host:port) to connect to instead of resolving the host of O(url) (the TLS name stays the URL's host).
        type: str
      ca_path:
        description:
          - CA bundle that signs the endpoint's certificate (private CAs); the system store when omitted. This is not
            the O(ca_path) of the X API.
        type: path
      validate_certs:
        description:
          - Check the endpoint's certificate. X always does.
        type: bool
        default: true
      timeout:
        description: Seconds to wait for the answer of one attempt.
        type: int
        default: 10
      max_latency_ms:
        description: The slowest answer accepted, in milliseconds (X gives up after 3 seconds).
        type: int
        default: 3000
      retries:
        description:
          - Further attempts after a failed one, for an endpoint that is coming up (nginx reloading, CCM restarting).
        type: int
        default: 0
      delay:
        description: Seconds between attempts.
        type: int
        default: 2
seealso:
  - module: hybridchat.ccm.twitter_crc_check
  - module: hybridchat.ccm.twitter_webhook_info
  - module: hybridchat.ccm.twitter_subscription
'''

EXAMPLES = r'''
- name: Register the CCM webhook (v2, bearer token fetched from the consumer key and secret)
  hybridchat.ccm.twitter_webhook:
    url: https://ccm.example.com/ccm/webhook/twitter
    consumer_key: "{{ vault_twitter_consumer_key }}"
    consumer_secret: "{{ vault_twitter_consumer_secret }}"

- name: Register the webhook once X's CRC through the proxy is answered right (retried while nginx reloads)
  hybridchat.ccm.twitter_webhook:
    url: https://ccm.example.com/ccm/webhook/twitter
    crc_preflight:
      connect_to: 203.0.113.10:443
      retries: 5
      delay: 2

- name: Register the webhook in a v1.1 dev environment
  hybridchat.ccm.twitter_webhook:
    url: https://ccm.example.com/ccm/webhook/twitter
    api_version: '1.1'
    environment: prod
    consumer_key: "{{ vault_twitter_consumer_key }}"
    consumer_secret: "{{ vault_twitter_consumer_secret }}"
    access_token: "{{ vault_twitter_access_token }}"
    access_secret: "{{ vault_twitter_access_secret }}"

- name: Move the webhook to a new FQDN (one-webhook quota; the old one is deleted first)
  hybridchat.ccm.twitter_webhook:
    url: https://chat.new-domain.example/ccm/webhook/twitter
    exclusive: true
  register: hook

- name: Credentials once for all twitter modules
  module_defaults:
    group/hybridchat.ccm.twitter:
      consumer_key: "{{ vault_twitter_consumer_key }}"
      consumer_secret: "{{ vault_twitter_consumer_secret }}"
      access_token: "{{ vault_twitter_access_token }}"
      access_secret: "{{ vault_twitter_access_secret }}"
  block:
    - name: Remove the webhook of a decommissioned site
      hybridchat.ccm.twitter_webhook:
        url: https://old.example.com/ccm/webhook/twitter
        state: absent

    - name: Remove a webhook by id
      hybridchat.ccm.twitter_webhook:
        webhook_id: '1234567890123456789'
        state: absent
'''

RETURN = r'''
webhook:
  description:
    - The webhook after the task; V(null) with O(state=absent).
    - In check mode a webhook that would be created has C(id) and C(created_at) V(null).
  returned: always
  type: dict
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
      description: Whether X considers the webhook valid (its last CRC passed).
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
  sample:
    id: '1172488791895838721'
    url: https://ccm.example.com/ccm/webhook/twitter
    valid: true
    created_at: '2019-09-13T12:34:47Z'
removed:
  description: Webhooks deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Webhook id.
      type: str
    url:
      description: Webhook URL.
      type: str
  sample: [{id: '1172488791895838720', url: https://old.example.com/ccm/webhook/twitter}]
revalidated:
  description: Whether an invalid webhook was re-validated with a CRC (or would be, in check mode).
  returned: always
  type: bool
  sample: false
crc:
  description:
    - The O(crc_preflight) check, when it ran; V(null) when it did not (no O(crc_preflight), check mode,
      O(state=absent)).
  returned: always
  type: dict
  contains:
    status:
      description: HTTP status of the last attempt (V(null) when no answer came).
      type: int
      sample: 200
    latency_ms:
      description: Time the last attempt's answer took.
      type: int
      sample: 12
    response_token_valid:
      description: Whether the answer was the right C(response_token).
      type: bool
      sample: true
    attempts:
      description: Attempts made, the last one included.
      type: int
      sample: 1
api_calls:
  description: Number of HTTP requests sent to the X API by this task.
  returned: always
  type: int
  sample: 1
'''

import time

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import (
    WEBHOOK_ID_RE,
    XApiError,
    check_webhook_url,
    crc_probe,
    crc_verdict,
)


def _brief(hook):
    return {'id': hook.get('id'), 'url': hook.get('url')}


def _state_view(hooks):
    return {'webhooks': [dict((k, h.get(k)) for k in ('id', 'url', 'valid')) for h in hooks]}


def ensure_present(module, backend, url, exclusive, revalidate):
    hooks = backend.list_webhooks()
    match = backend.find(hooks, url=url)
    others = [h for h in hooks if h is not match] if exclusive else []
    result = dict(changed=False, webhook=None, removed=[], revalidated=False)
    after = list(hooks)

    if match is not None:
        webhook = dict(match)
        if not match['valid']:
            if revalidate:
                result['changed'] = result['revalidated'] = True
                if not module.check_mode:
                    if not backend.revalidate(match):
                        raise XApiError('X re-ran the CRC for webhook %s (%s) and still marks it invalid. Run '
                                        'hybridchat.ccm.twitter_crc_check against the URL to see why the endpoint fails the CRC.'
                                        % (match['id'], url), 'crc')
                webhook['valid'] = True
            else:
                module.warn('Webhook %s (%s) is marked invalid by X and revalidate is false: X sends no events to it.'
                            % (match['id'], url))
        for other in others:
            result['changed'] = True
            if not module.check_mode:
                backend.delete_webhook(other['id'])
            result['removed'].append(_brief(other))
        after = [webhook] if exclusive else [webhook if h is match else h for h in hooks]
        result['webhook'] = webhook
        return result, hooks, after

    result['changed'] = True
    result['removed'] = [_brief(h) for h in others]
    if module.check_mode:
        webhook = {'id': None, 'url': url, 'valid': True, 'created_at': None}
        if backend.api_version == '1.1':
            webhook['environment'] = backend.environment
    else:
        webhook = None
        if others and backend.api_version == '2':
            # Register first when the quota allows it (no gap in delivery); with a quota of one, X refuses and the
            # others are deleted before registering. A v1.1 environment holds one webhook, so a try would only
            # spend one of its 15 requests per 15 minutes.
            try:
                webhook = backend.create_webhook(url)
            except XApiError as err:
                if err.kind != 'quota':
                    raise
        if webhook is None:
            deleted = []
            for other in others:
                if backend.delete_webhook(other['id']):
                    deleted.append(other)
            try:
                webhook = backend.create_webhook(url)
            except XApiError as err:
                if not deleted:
                    raise
                raise _rollback(backend, url, err, deleted)
        else:
            for other in others:
                backend.delete_webhook(other['id'])
        if not webhook.get('valid', True):
            module.warn('X registered webhook %s but reports it invalid.' % webhook.get('id'))
    result['webhook'] = webhook
    after = ([] if exclusive else list(hooks)) + [webhook]
    return result, hooks, after


def _rollback(backend, url, err, deleted):
    """Registration failed after the old webhooks were deleted: register them again, report both outcomes."""
    restored, failures = [], []
    for old in deleted:
        try:
            restored.append(backend.create_webhook(old['url'])['url'])
        except XApiError as rerr:
            failures.append('%s: %s' % (old['url'], rerr.msg))
    msg = 'Registering %s failed after deleting %d other webhook(s): %s ' % (url, len(deleted), err.msg)
    if failures:
        msg += 'Re-registering the deleted webhook(s) also failed: %s' % ' | '.join(failures)
        if restored:
            msg += ' (re-registered: %s)' % ', '.join(restored)
    else:
        msg += 'The deleted webhook(s) were registered again: %s.' % ', '.join(restored)
    return XApiError(msg, err.kind, err.status, err.code, err.reason, err.x_message)


def crc_preflight(module, url, options):
    """X's CRC request to url, answered right (twitter_crc_check's verdict), retried: the result for `crc`, or the
    module fails with the reason before any call to X."""
    attempts = max(int(options['retries']), 0) + 1
    for attempt in range(1, attempts + 1):
        probe = crc_probe(url, module.params['consumer_secret'], connect_to=options['connect_to'],
                          validate_certs=options['validate_certs'], ca_path=options['ca_path'], timeout=options['timeout'])
        crc = dict(status=probe.status, latency_ms=probe.latency_ms, response_token_valid=probe.response_token_valid,
                   attempts=attempt)
        verdict = crc_verdict(probe, url, options['max_latency_ms'])
        if verdict is None:
            return crc
        if attempt < attempts:
            time.sleep(max(int(options['delay']), 0))
    reason, msg = verdict
    module.fail_json(msg=module.mask('CRC check of %s failed: %s' % (url, msg)), reason=reason, crc=crc, changed=False,
                     webhook=None, removed=[], revalidated=False, api_calls=module.api_calls)


def ensure_absent(module, backend, url, webhook_id):
    hooks = backend.list_webhooks()
    targets = [h for h in hooks if (url is not None and h['url'] == url) or (webhook_id is not None and h['id'] == webhook_id)]
    result = dict(changed=False, webhook=None, removed=[], revalidated=False)
    for hook in targets:
        gone = True
        if not module.check_mode:
            gone = backend.delete_webhook(hook['id'])
        if gone:
            result['changed'] = True
            result['removed'].append(_brief(hook))
    after = [h for h in hooks if h not in targets]
    return result, hooks, after


def main():
    module = TwitterModule(
        argument_spec=dict(
            url=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            webhook_id=dict(type='str'),
            exclusive=dict(type='bool', default=False),
            revalidate=dict(type='bool', default=True),
            crc_preflight=dict(type='dict', options=dict(
                connect_to=dict(type='str'),
                ca_path=dict(type='path'),
                validate_certs=dict(type='bool', default=True),
                timeout=dict(type='int', default=10),
                max_latency_ms=dict(type='int', default=3000),
                retries=dict(type='int', default=0),
                delay=dict(type='int', default=2),
            )),
        ),
        required_if=[('state', 'present', ['url']), ('state', 'absent', ['url', 'webhook_id'], True)],
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, webhook=None, removed=[], revalidated=False)
    if p['url'] is not None:
        problem = check_webhook_url(p['url'])
        if problem:
            module.fail_json(msg=problem, **result)
    if p['webhook_id'] is not None and not WEBHOOK_ID_RE.match(p['webhook_id']):
        module.fail_json(msg='webhook_id %r is not an X webhook id (1 to 19 digits).' % p['webhook_id'], **result)
    if p['state'] == 'present' and p['webhook_id'] is not None:
        module.fail_json(msg='webhook_id is only used with state=absent; with state=present the url identifies the webhook.', **result)

    crc = None
    if p['state'] == 'present' and p['crc_preflight'] is not None and not module.check_mode:
        if not p['consumer_secret']:
            module.fail_json(msg='crc_preflight needs consumer_secret (or TWITTER_CONSUMER_SECRET): the CRC answer is keyed '
                                 'with it.', **result)
        crc = crc_preflight(module, p['url'], p['crc_preflight'])

    try:
        backend = module.backend()
        if p['state'] == 'present':
            result, before, after = ensure_present(module, backend, p['url'], p['exclusive'], p['revalidate'])
        else:
            result, before, after = ensure_absent(module, backend, p['url'], p['webhook_id'])
    except XApiError as err:
        module.fail_api(err, crc=crc, **result)

    result['crc'] = crc
    if module._diff:
        result['diff'] = {'before': _state_view(before), 'after': _state_view(after)}
    module.finish(**result)


if __name__ == '__main__':
    main()
