#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: twitter_crc_check
short_description: Pre-flight check that a webhook URL passes X's challenge-response check (CRC)
version_added: 1.0.0
description:
  - Sends exactly the request X sends before it registers or re-validates a webhook, C(GET url?crc_token=..&nonce=..)
    with the C(x-twitter-webhooks-signature) header, and checks the answer as X does.
  - Passes only on HTTP 200 without redirect, a JSON body whose C(response_token) is the HMAC-SHA256 of the
    C(crc_token) keyed with O(consumer_secret), a valid certificate for the URL's host, and a latency under
    O(max_latency_ms).
  - Otherwise fails with the precise reason (name resolution, connection, certificate, status, redirect, body,
    wrong token, too slow), so CRC problems are found before X reports an opaque error.
  - Makes no call to the X API; only O(consumer_secret) of the common options is used.
author:
  - hybridchat.ccm maintainers (@hybridchat)
extends_documentation_fragment:
  - hybridchat.ccm.twitter
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: The CRC request only reads, so it is also sent in check mode.
  diff_mode:
    support: N/A
    details: The module never changes anything, so there is no difference to show.
options:
  url:
    description:
      - The webhook URL to check, as it will be registered with X.
    type: str
    required: true
  connect_to:
    description:
      - C(host:port) to connect to instead of the URL's host, to check a server before DNS points at it.
      - TLS server name (SNI), certificate host name check and the HTTP C(Host) header stay those of O(url).
    type: str
  max_latency_ms:
    description:
      - Most milliseconds the answer may take. X gives up after about 3 seconds.
    type: int
    default: 3000
  validate_certs:
    description:
      - Verify the webhook's certificate (X always does). Only turn this off to test other properties.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) to verify the webhook's certificate with, for example a test CA.
    type: path
  timeout:
    description:
      - Timeout of the CRC request, in seconds.
    type: int
    default: 10
seealso:
  - module: hybridchat.ccm.twitter_webhook
'''

EXAMPLES = r'''
- name: Check the CCM webhook answers the CRC before registering it
  hybridchat.ccm.twitter_crc_check:
    url: https://ccm.example.com/ccm/webhook/twitter
    consumer_secret: "{{ vault_twitter_consumer_secret }}"

- name: Check the new server before the DNS change
  hybridchat.ccm.twitter_crc_check:
    url: https://ccm.example.com/ccm/webhook/twitter
    connect_to: 203.0.113.10:443
    max_latency_ms: 2000
  register: crc
'''

RETURN = r'''
status:
  description: HTTP status of the answer; V(null) when no answer was received.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Time from sending the request to receiving the whole answer, in milliseconds.
  returned: always
  type: int
  sample: 42
response_token_valid:
  description: Whether the C(response_token) matched the expected HMAC.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the check failed.
  returned: on failure
  type: str
  sample: token
'''

from ansible_collections.hybridchat.ccm.plugins.module_utils.twitter_module import TwitterModule
from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import check_webhook_url, crc_probe, crc_verdict


# The verdict (x_api.crc_verdict) is shared with twitter_webhook's crc_preflight.


def main():
    module = TwitterModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            connect_to=dict(type='str'),
            max_latency_ms=dict(type='int', default=3000),
            timeout=dict(type='int', default=10),
        ),
        needs_environment=False,
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, status=None, latency_ms=None, response_token_valid=False)
    if not p['consumer_secret']:
        module.fail_json(msg='consumer_secret (or TWITTER_CONSUMER_SECRET) is required: the CRC answer is keyed with it.', **result)
    problem = check_webhook_url(p['url'])
    if problem:
        if ' port ' in problem or 'contains a port' in problem:
            module.warn(problem)
        else:
            module.fail_json(msg=problem, reason='url', **result)
    if p['connect_to'] is not None and not p['connect_to'].strip():
        module.fail_json(msg='connect_to must be host:port.', **result)
    if not p['validate_certs']:
        module.warn('validate_certs is false: the certificate is not checked, but X will check it.')

    probe = crc_probe(p['url'], p['consumer_secret'], connect_to=p['connect_to'], validate_certs=p['validate_certs'],
                      ca_path=p['ca_path'], timeout=p['timeout'])
    result.update(status=probe.status, latency_ms=probe.latency_ms, response_token_valid=probe.response_token_valid)
    verdict = crc_verdict(probe, p['url'], p['max_latency_ms'])
    if verdict:
        reason, msg = verdict
        module.fail_json(msg=module.mask('CRC check of %s failed: %s' % (p['url'], msg)), reason=reason, **result)
    if probe.content_type and 'json' not in probe.content_type.lower():
        module.warn('The CRC answer has content type %r; send application/json.' % probe.content_type)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
