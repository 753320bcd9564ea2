# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""status.yml: healthy, then a webhook X marked invalid and a lost subscription make it fail; -e repair=true
re-validates and subscribes again."""

import requests


def test_status_unhealthy_and_repair(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    assert stack.playbook('deploy.yml').rc == 0

    healthy = stack.playbook('status.yml')
    assert healthy.rc == 0, healthy.out
    assert 'OK    site00 %s' % site['fqdn'] in healthy.out
    assert 'valid=True subscribed=True crc=True' in healthy.out
    assert healthy.changed() == {'site00': 0}

    # X's periodic CRC failed: the webhook is invalid and its DMs stop.
    hook = stack.hook_of(site, site['webhook_url'])
    stack.control('POST', 'webhooks/%s/invalidate' % hook['id'])
    unhealthy = stack.playbook('status.yml')
    assert unhealthy.rc != 0
    assert 'FAIL  site00 %s' % site['fqdn'] in unhealthy.out
    assert 'valid=False' in unhealthy.out
    assert 'X marks the webhook invalid (run with -e ccm_twitter_repair=true)' in unhealthy.out
    assert not stack.hook_of(site, site['webhook_url'])['valid']  # status alone changes nothing

    repaired = stack.playbook('status.yml', extra={'ccm_twitter_repair': 'true'})
    assert repaired.rc == 0, repaired.out
    assert repaired.changed()['site00'] >= 1
    assert stack.hook_of(site, site['webhook_url'])['valid']

    # The subscription is gone (removed by hand with the app's bearer token): unhealthy; repair subscribes again.
    hook = stack.hook_of(site, site['webhook_url'])
    response = requests.delete('%s/2/account_activity/webhooks/%s/subscriptions/%s/all'
                               % (stack.state['api_url'], hook['id'], site['account_id']),
                               headers={'Authorization': 'Bearer ' + site['bearer_token']},
                               verify=stack.state['ca_cert'], timeout=30)
    assert response.status_code in (200, 204), response.text
    unsubscribed = stack.playbook('status.yml')
    assert unsubscribed.rc != 0
    assert 'the account is not subscribed (run with -e ccm_twitter_repair=true)' in unsubscribed.out
    assert stack.playbook('status.yml', extra={'repair': 'true'}).rc == 0
    assert site['account_id'] in stack.hook_of(site, site['webhook_url'])['subscriptions']

    # No webhook at all: status says to deploy.
    assert stack.playbook('remove.yml').rc == 0
    gone = stack.playbook('status.yml')
    assert gone.rc != 0
    assert 'no webhook is registered for %s (run deploy.yml)' % site['webhook_url'] in gone.out
