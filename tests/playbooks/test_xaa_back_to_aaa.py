# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A site on XAA set back to ccm_twitter_activity_api: aaa (before 2027-01-01) moves back in the order that loses
nothing: AAA delivers again while nginx still hands the webhook to the bridge, the XAA subscriptions go, the bridge
hands CCM what it holds, then nginx sends the webhook straight to CCM and the bridge is removed. --check --diff shows
it and changes nothing; every DM sent during the move reaches CCM exactly once; a rerun changes nothing."""

import os
import threading
import time

from xemu.testing import listening


def _vhost(stack, site):
    path = os.path.join(stack.state['nginx']['vhost_dir'], 'ccm-twitter-%s.conf' % site['fqdn'])
    with open(path, 'r', encoding='utf-8') as handle:
        return handle.read()


def test_back_to_aaa_during_traffic(make_stack):
    stack = make_stack(sites=1, xaa=1)
    site = stack.state['sites'][0]
    assert site['activity_api'] == 'xaa'
    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert not stack.aaa_subscribed(site)
    assert sorted(s['event_type'] for s in stack.xaa_subscriptions(site)) == ['dm.received', 'dm.sent']
    assert 'upstream ccm_twitter_bridge_' in _vhost(stack, site)
    health_port = site['bridge']['health_port']
    assert listening(health_port)
    stack.send_dm(site, 'on XAA')
    assert stack.texts(stack.wait_ccm(0, ['on XAA'])) == ['on XAA']

    stack.set_host_var('site00', 'ccm_twitter_activity_api', 'aaa')

    # --check --diff shows the move and changes nothing, at X or on the host.
    check = stack.playbook('deploy.yml', '--check', '--diff')
    assert check.rc == 0, check.out
    for task in ("Remove the account's XAA subscriptions", 'Configure the nginx vhost',
                 "Remove the bridge's unit, program and config"):
        assert "TASK [hybridchat.ccm.ccm_twitter : %s]" % task in check.out, check.out[-6000:]
    assert not stack.aaa_subscribed(site) and len(stack.xaa_subscriptions(site)) == 2
    assert 'upstream ccm_twitter_bridge_' in _vhost(stack, site) and listening(health_port)

    # DMs keep coming while the site moves back.
    sent, stop = [], threading.Event()

    def sender():
        while not stop.is_set():
            text = 'during the move %d' % len(sent)
            stack.send_dm(site, text)
            sent.append(text)
            time.sleep(0.2)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        back = stack.playbook('deploy.yml', '--diff')
    finally:
        stop.set()
        thread.join()
    assert back.rc == 0, back.out
    assert 'api=aaa subscribed=True' in back.out, back.out
    assert stack.aaa_subscribed(site)
    assert stack.xaa_subscriptions(site) == []
    assert 'upstream ccm_twitter_bridge_' not in _vhost(stack, site)
    assert not listening(health_port)
    assert not os.path.exists(os.path.join(site['bridge']['config_dir'], 'config.json'))
    stack.send_dm(site, 'on AAA again')
    expected = ['on XAA'] + sent + ['on AAA again']
    messages = stack.wait_ccm(0, expected)
    assert len(sent) >= 3, sent
    assert sorted(stack.texts(messages)) == sorted(expected), (stack.texts(messages), expected)  # every DM, each once
    assert messages[-1]['for_user_id'] == site['account_id']

    rerun = stack.playbook('deploy.yml')
    assert rerun.rc == 0 and rerun.changed() == {'site00': 0}, rerun.out
