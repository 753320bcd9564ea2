# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""change_fqdn.yml with a one-webhook quota, on a v2 and a v1.1 site in one run: the move succeeds (old webhook
deleted first, new one registered and subscribed, old vhost removed); when X refuses the new webhook, the old one
is put back and nginx serves the old name only. The v2 site is refused by fault injection (twice: the new
registration and the module's own restore, so the playbook restores), the v1.1 site for real: X cannot reach the
new name (no DNS entry in the emulator's resolve map), although the preflight through connect_to passed."""

CRC_FAILED = {
    'errors': [{'message': 'CrcValidationFailed: Webhook URL did not return a valid CRC response.'}],
    'title': 'Invalid Request',
    'detail': 'One or more parameters to your request was invalid.',
    'type': 'https://api.twitter.com/2/problems/invalid-request',
}


def _url(fqdn):
    return 'https://%s/ccm/webhook/twitter' % fqdn


def _assert_live(stack, site, index, fqdn, text):
    """X has exactly this webhook for the site, valid and subscribed, and a DM through it reaches CCM."""
    hooks = [h for h in stack.webhooks() if h['consumer_key'] == site['consumer_key']
             and (h.get('env') or '') == site['environment']]
    assert [h['url'] for h in hooks] == [_url(fqdn)], hooks
    assert hooks[0]['valid'] and site['account_id'] in hooks[0]['subscriptions'], hooks
    delivered = stack.control('POST', 'deliver', {'webhook_id': hooks[0]['id'], 'text': text})
    assert delivered['status'] == 200, delivered
    assert stack.ccm_messages(index)[-1]['text'] == text


def test_change_fqdn_and_rollback(make_stack):
    first, second, third = ['a0.ccm.test', 'a1.ccm.test'], ['b0.ccm.test', 'b1.ccm.test'], ['c0.ccm.test', 'c1.ccm.test']
    stack = make_stack(sites=2, v11=1, fqdns=first, extra_fqdns=second + third)
    sites = stack.state['sites']
    assert [s['api_version'] for s in sites] == ['2', '1.1']
    assert stack.playbook('deploy.yml').rc == 0

    # Refuses to guess: -e new_fqdn for one site only, a name that differs, and no -e ccm_twitter_fqdn.
    many = stack.playbook('change_fqdn.yml', extra={'new_fqdn': 'x.ccm.test'})
    assert many.rc != 0 and 'for one site (--limit HOST)' in many.out
    same = stack.playbook('change_fqdn.yml', '--limit', 'site00', extra={'ccm_twitter_new_fqdn': first[0]})
    assert same.rc != 0 and 'must differ from the current ccm_twitter_fqdn' in same.out
    pinned = stack.playbook('change_fqdn.yml', '--limit', 'site00',
                            extra={'new_fqdn': second[0], 'ccm_twitter_fqdn': first[0]})
    assert pinned.rc != 0 and 'Do not pass ccm_twitter_fqdn with -e' in pinned.out
    assert len(stack.webhooks()) == 2

    # Both sites move in one run, each to the name in its host_vars; --check first changes nothing.
    for index in (0, 1):
        stack.set_host_var('site%02d' % index, 'ccm_twitter_new_fqdn', second[index])
    before = stack.webhooks()
    dry = stack.playbook('change_fqdn.yml', '--check')
    assert dry.rc == 0, dry.out
    assert 'would move (check mode) from %s to %s' % (_url(first[0]), _url(second[0])) in dry.out
    assert stack.webhooks() == before
    assert stack.vhosts() == sorted('ccm-twitter-%s.conf' % f for f in first)
    # X drops the first subscribe of each site: retried once, not rolled back.
    stack.control('POST', 'faults', {'faults': [
        {'method': 'POST', 'path_regex': r'^/2/account_activity/webhooks/[0-9]+/subscriptions/all$', 'drop': True},
        {'method': 'POST', 'path_regex': r'^/1\.1/account_activity/all/[^/]+/subscriptions\.json$', 'drop': True}]})
    moved = stack.playbook('change_fqdn.yml')
    assert moved.rc == 0, moved.out
    assert stack.control('GET', 'faults')['faults'] == []
    assert 'Rolled back' not in moved.out
    assert stack.vhosts() == sorted('ccm-twitter-%s.conf' % f for f in second)
    for index, site in enumerate(sites):
        assert 'Now set ccm_twitter_fqdn to %s in the inventory' % second[index] in moved.out
        _assert_live(stack, site, index, second[index], 'after the move %d' % index)
        stack.set_host_var('site%02d' % index, 'ccm_twitter_fqdn', second[index])
        stack.set_host_var('site%02d' % index, 'ccm_twitter_new_fqdn', third[index])

    # The next move is refused for both sites. v2: the first registration passes through to the emulator, which
    # refuses it for the quota; the module deletes the old webhook, then the registration of the new one and the
    # module's own restore of the old one are refused (fault injection), so the playbook restores it.
    stack.control('POST', 'faults', {'faults': [
        {'method': 'POST', 'path_regex': '^/2/webhooks$', 'count': 1},
        {'method': 'POST', 'path_regex': '^/2/webhooks$', 'count': 2, 'status': 400, 'body': CRC_FAILED},
    ]})
    https = '127.0.0.1:%d' % stack.state['nginx']['https_port']
    stack.control('POST', 'config', {'resolve': ['%s:443:%s' % (f, https) for f in first + second + third[:1]]})
    failed = stack.playbook('change_fqdn.yml')
    assert failed.rc != 0, failed.out
    assert failed.recap['site00']['failed'] == 1 and failed.recap['site01']['failed'] == 1, failed.out
    assert 'CrcValidationFailed' in failed.out
    assert 'Re-registering the deleted webhook(s) also failed: %s' % _url(second[0]) in failed.out  # v2: module
    assert 'The deleted webhook(s) were registered again: %s' % _url(second[1]) in failed.out  # v1.1: module
    assert 'Unable to connect during CRC GET request' in failed.out
    for index in (0, 1):
        assert 'Rolled back: %s is the live webhook' % _url(second[index]) in failed.out
    assert stack.control('GET', 'faults')['faults'] == []
    assert stack.vhosts() == sorted('ccm-twitter-%s.conf' % f for f in second)
    for index, site in enumerate(sites):
        _assert_live(stack, site, index, second[index], 'after the rollback %d' % index)
