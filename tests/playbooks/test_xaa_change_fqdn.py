# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""change_fqdn.yml on an XAA site while DMs are sent continuously: with room for two webhooks (new webhook first,
subscriptions moved with PUT, old one deleted) and with a one-webhook quota (the bridge's standby stream covers the
gap); in both cases CCM receives every DM exactly once, and the subscriptions end up on the new webhook."""

import collections
import threading
import time

import pytest
import requests

OLD, NEW = 'chat-old.ccm.test', 'chat-new.ccm.test'


class DmSender(threading.Thread):
    """Sends a DM to the site's account every interval seconds until stopped; remembers what X accepted."""

    def __init__(self, stack, site, interval=0.5):
        super().__init__(daemon=True)
        self.stack, self.site, self.interval = stack, site, interval
        self.sent = []
        self.stopped = threading.Event()

    def run(self):
        number = 0
        while not self.stopped.is_set():
            number += 1
            text = 'dm %03d during the FQDN change' % number
            try:
                self.stack.send_dm(self.site, text)
                self.sent.append(text)
            except requests.RequestException:
                pass
            self.stopped.wait(self.interval)


@pytest.mark.parametrize('max_webhooks', [2, 1], ids=['two-webhooks', 'one-webhook'])
def test_change_fqdn_on_xaa_loses_no_dm(make_stack, max_webhooks):
    stack = make_stack(sites=1, xaa=1, fqdns=[OLD], extra_fqdns=[NEW], max_webhooks=max_webhooks)
    site = stack.state['sites'][0]
    if max_webhooks == 1:
        # The standby stream needs the app's bearer token.
        stack.set_host_var('site00', 'ccm_twitter_bearer_token', site['bearer_token'])
    deployed = stack.playbook('deploy.yml')
    assert deployed.rc == 0, deployed.out
    old_hook = stack.hook_of(site, 'https://%s/ccm/webhook/twitter' % OLD)
    old_sub_ids = sorted(s['subscription_id'] for s in stack.xaa_subscriptions(site))

    sender = DmSender(stack, site)
    sender.start()
    time.sleep(1.5)
    moved = stack.playbook('change_fqdn.yml', extra={'ccm_twitter_new_fqdn': NEW})
    time.sleep(1.5)
    sender.stopped.set()
    sender.join(timeout=30)
    assert moved.rc == 0, moved.out
    for key in ('consumer_secret', 'access_token', 'access_secret', 'bearer_token'):
        assert site[key] not in moved.out, key

    new_hook = stack.hook_of(site, 'https://%s/ccm/webhook/twitter' % NEW)
    assert new_hook is not None and new_hook['valid']
    assert stack.hook_of(site, 'https://%s/ccm/webhook/twitter' % OLD) is None
    assert new_hook['id'] != old_hook['id']
    subs = stack.xaa_subscriptions(site)
    assert sorted(s['event_type'] for s in subs) == ['dm.received', 'dm.sent']
    assert {s['webhook_id'] for s in subs} == {new_hook['id']}
    if max_webhooks == 2:
        # Moved with PUT: the same subscriptions, no new ones.
        assert sorted(s['subscription_id'] for s in subs) == old_sub_ids
    health = requests.get('http://127.0.0.1:%d/health' % site['bridge']['health_port'], timeout=10).json()
    assert not (health.get('stream') or {}).get('configured'), health  # the standby is off again

    assert len(sender.sent) >= 5, sender.sent
    messages = stack.wait_ccm(0, sender.sent, timeout=60)
    counts = collections.Counter(m.get('text') for m in messages)
    missing = [text for text in sender.sent if counts[text] == 0]
    doubled = [text for text, count in counts.items() if count > 1]
    assert not missing and not doubled, (missing, doubled, moved.out[-4000:])
