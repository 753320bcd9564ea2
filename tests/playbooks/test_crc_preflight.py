# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's CRC preflight (twitter_webhook's crc_preflight, in the same module run as the webhook list): X marks a
webhook invalid after one failed CRC, so a site whose proxy cannot answer X's CRC is not registered; the play says
why, after the configured retries; once the proxy answers, the next deploy registers the webhook."""

import socket


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_no_registration_until_the_crc_is_answered(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    stack.set_host_var('site00', 'ccm_twitter_upstream', 'http://127.0.0.1:%d' % _closed_port())
    stack.set_host_var('site00', 'ccm_twitter_preflight_retries', 2)
    stack.set_host_var('site00', 'ccm_twitter_preflight_delay', 1)
    stack.api_calls(clear=True)

    refused = stack.playbook('deploy.yml')
    assert refused.rc != 0 and refused.recap['site00']['failed'] == 1, refused.out
    assert 'CRC check of %s failed: The endpoint answered HTTP 502' % site['webhook_url'] in refused.out, refused.out
    assert stack.hook_of(site) is None
    calls = stack.api_calls()
    assert not [f for f in calls['by_family'] if 'webhooks' in f or 'subscriptions' in f], calls

    stack.set_host_var('site00', 'ccm_twitter_upstream', site['upstream'])
    fixed = stack.playbook('deploy.yml')
    assert fixed.rc == 0, fixed.out
    assert stack.hook_of(site, site['webhook_url'])['valid']
