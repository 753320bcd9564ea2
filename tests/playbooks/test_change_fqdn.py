# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""change_fqdn.yml with a one-webhook quota: the move succeeds (old webhook deleted first, new one registered and
subscribed, old vhost removed); when X refuses the new webhook the old one is put back and nginx serves the old
name only."""

import json

CRC_FAILED = {
    'errors': [{'message': 'CrcValidationFailed: Webhook URL did not return a valid CRC response.'}],
    'title': 'Invalid Request',
    'detail': 'One or more parameters to your request was invalid.',
    'type': 'https://api.twitter.com/2/problems/invalid-request',
}


def test_change_fqdn_and_rollback(make_stack):
    old, new, third = 'old.ccm.test', 'new.ccm.test', 'third.ccm.test'
    stack = make_stack(sites=1, fqdns=[old], extra_fqdns=[new, third])
    site = stack.state['sites'][0]
    assert stack.playbook('deploy.yml').rc == 0
    old_hook = stack.hook_of(site)
    assert old_hook['url'] == 'https://%s/ccm/webhook/twitter' % old

    # Refuses to guess: one site at a time with -e new_fqdn, and a name that differs.
    same = stack.playbook('change_fqdn.yml', extra={'new_fqdn': old})
    assert same.rc != 0 and 'must differ from the current ccm_twitter_fqdn' in same.out

    moved = stack.playbook('change_fqdn.yml', extra={'new_fqdn': new})
    assert moved.rc == 0, moved.out
    hooks = stack.webhooks()
    assert [h['url'] for h in hooks] == ['https://%s/ccm/webhook/twitter' % new]
    assert hooks[0]['valid'] and site['account_id'] in hooks[0]['subscriptions']
    assert stack.vhosts() == ['ccm-twitter-%s.conf' % new]
    assert 'Now set ccm_twitter_fqdn to %s in the inventory' % new in moved.out
    delivered = stack.control('POST', 'deliver', {'webhook_id': hooks[0]['id'], 'text': 'after the move'})
    assert delivered['status'] == 200
    assert stack.ccm_messages(0)[-1]['text'] == 'after the move'

    # -e ccm_twitter_fqdn would override the new name: refused. The inventory is edited instead.
    pinned = stack.playbook('change_fqdn.yml', extra={'new_fqdn': third, 'ccm_twitter_fqdn': new})
    assert pinned.rc != 0 and 'Do not pass ccm_twitter_fqdn with -e' in pinned.out
    stack.set_host_var('site00', 'ccm_twitter_fqdn', new)

    # X refuses the next move twice: the registration of the new webhook, and the module's own attempt to put
    # the deleted one back. The playbook puts it back itself (registered, subscribed) and fails with X's reason.
    stack.control('POST', 'faults', {'method': 'POST', 'path_regex': '^/2/webhooks$', 'count': 2, 'status': 400,
                                     'body': CRC_FAILED})
    failed = stack.playbook('change_fqdn.yml', extra={'new_fqdn': third})
    assert failed.rc != 0, failed.out
    assert 'CrcValidationFailed' in failed.out
    assert 'Rolled back: https://%s/ccm/webhook/twitter is the live webhook' % new in failed.out
    assert stack.control('GET', 'faults')['faults'] == []
    hooks = stack.webhooks()
    assert [h['url'] for h in hooks] == ['https://%s/ccm/webhook/twitter' % new], json.dumps(hooks)
    assert hooks[0]['valid'] and site['account_id'] in hooks[0]['subscriptions']
    assert stack.vhosts() == ['ccm-twitter-%s.conf' % new]
    delivered = stack.control('POST', 'deliver', {'webhook_id': hooks[0]['id'], 'text': 'after the rollback'})
    assert delivered['status'] == 200
    assert stack.ccm_messages(0)[-1]['text'] == 'after the rollback'
