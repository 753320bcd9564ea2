# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Moving a site from the Account Activity API (AAA) to the X Activity API (XAA) is a deploy: --check --diff shows
it and changes nothing; a failure half-way leaves the site on AAA and says why; the next deploy finishes it; every DM
sent meanwhile reaches CCM exactly once, in the AAA format; a rerun on XAA changes nothing and costs no more X calls
than on AAA; no secret in -vvv --diff output or in the bridge's files."""

import os

SECRETS = ('consumer_secret', 'access_token', 'access_secret', 'bearer_token')


def _no_secret(site, text):
    for key in SECRETS:
        assert site[key] not in text, key


def test_migration_with_a_failure_half_way(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    assert site['activity_api'] == 'aaa'

    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert stack.aaa_subscribed(site) and not stack.xaa_subscriptions(site)
    stack.send_dm(site, 'dm1 on AAA')
    assert stack.texts(stack.wait_ccm(0, ['dm1 on AAA'])) == ['dm1 on AAA']
    stack.api_calls(clear=True)
    aaa_rerun = stack.playbook('deploy.yml')
    assert aaa_rerun.rc == 0 and aaa_rerun.changed() == {'site00': 0}, aaa_rerun.out
    aaa_calls = stack.api_calls()['total']

    stack.set_host_var('site00', 'ccm_twitter_activity_api', 'xaa')

    # --check --diff: the whole migration is shown, nothing changes at X or on the host.
    check = stack.playbook('deploy.yml', '--check', '--diff')
    assert check.rc == 0, check.out
    assert check.changed()['site00'] > 0
    for task in ('Write the bridge\'s config', 'Configure the nginx vhost', 'Remove the account\'s AAA subscription',
                 'Note that the AAA subscription is gone'):
        assert 'TASK [hybridchat.ccm.ccm_twitter : %s]' % task in check.out, task
    assert stack.aaa_subscribed(site) and not stack.xaa_subscriptions(site)
    assert not os.path.exists(os.path.join(site['bridge']['config_dir'], 'config.json'))
    _no_secret(site, check.out)

    # Half-way: X refuses the second XAA subscription (cap reached). The AAA subscription stays and the play says so.
    stack.control('POST', 'config', {'xaa_max_subscriptions': 1})
    failed = stack.playbook('deploy.yml')
    assert failed.rc != 0 and failed.recap['site00']['failed'] == 1, failed.out
    assert 'the move to the X Activity API stopped at' in failed.out, failed.out
    assert 'The AAA subscription is kept' in failed.out, failed.out
    assert stack.aaa_subscribed(site)
    assert [s['event_type'] for s in stack.xaa_subscriptions(site)] == ['dm.received']
    # nginx already hands the webhook to the bridge: the DM arrives through AAA and XAA, CCM gets it once.
    stack.send_dm(site, 'dm2 half-way')
    assert stack.texts(stack.wait_ccm(0, ['dm2 half-way'])) == ['dm1 on AAA', 'dm2 half-way']

    # The cause fixed, the next deploy goes on from there.
    stack.control('POST', 'config', {'xaa_max_subscriptions': 1500})
    migrated = stack.playbook('deploy.yml', '--diff')
    assert migrated.rc == 0, migrated.out
    assert not stack.aaa_subscribed(site)
    hook = stack.hook_of(site, site['webhook_url'])
    subs = stack.xaa_subscriptions(site)
    assert sorted(s['event_type'] for s in subs) == ['dm.received', 'dm.sent']
    assert {s['webhook_id'] for s in subs} == {hook['id']} and {s['tag'] for s in subs} == {'hybridchat.ccm'}
    assert 'api=xaa subscribed=True' in migrated.out, migrated.out
    stack.send_dm(site, 'dm3 on XAA')
    messages = stack.wait_ccm(0, ['dm3 on XAA'])
    assert stack.texts(messages) == ['dm1 on AAA', 'dm2 half-way', 'dm3 on XAA']
    assert messages[-1]['for_user_id'] == site['account_id']  # the AAA format, from the bridge
    _no_secret(site, failed.out + migrated.out)

    # Rerun on XAA: no change, no AAA call, no more X calls than the rerun on AAA made.
    stack.api_calls(clear=True)
    rerun = stack.playbook('deploy.yml', '-vvv', '--diff')
    assert rerun.rc == 0, rerun.out[-3000:]
    assert rerun.changed() == {'site00': 0}, rerun.out[-3000:]
    calls = stack.api_calls()
    assert not [f for f in calls['by_family'] if 'account_activity' in f or f.startswith('v2.subscriptions')], calls
    # Webhook list + subscription list (read with the OAuth 1.0a user context, like AAA's subscription check), plus
    # the one oauth2/token of the webhook list: exactly what an AAA rerun costs.
    assert calls['by_family'].get('v2.webhooks.list') == 1 and calls['by_family'].get('xaa.subscriptions.list') == 1, calls
    assert calls['total'] <= aaa_calls, (calls, aaa_calls)
    _no_secret(site, rerun.out)
    for root, _dirs, files in os.walk(os.path.dirname(site['bridge']['config_dir'])):
        for name in files:
            with open(os.path.join(root, name), 'rb') as handle:
                data = handle.read()
            for key in SECRETS:
                assert site[key].encode() not in data, (name, key)
    assert oct(os.stat(os.path.join(site['bridge']['config_dir'], 'config.json')).st_mode & 0o777) == '0o600'


def test_v11_site_moves_to_xaa_in_one_deploy(make_stack):
    """A v1.1 site switches to v2 and XAA in one deploy: its environment's webhook and subscription go, last."""
    stack = make_stack(sites=1, v11=1)
    site = stack.state['sites'][0]
    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    v11_hook = stack.hook_of(site, site['webhook_url'])
    assert v11_hook['env'] == 'production' and site['account_id'] in v11_hook['subscriptions']

    # The environment stays in the inventory, so the deploy knows which v1.1 subscription to retire.
    stack.set_host_var('site00', 'ccm_twitter_api_version', '2')
    stack.set_host_var('site00', 'ccm_twitter_activity_api', 'xaa')
    moved = stack.playbook('deploy.yml')
    assert moved.rc == 0, moved.out
    hooks = [h for h in stack.webhooks() if h['consumer_key'] == site['consumer_key']]
    assert [(h['generation'], h['url']) for h in hooks] == [('v2', site['webhook_url'])], hooks
    subs = stack.xaa_subscriptions(site)
    assert sorted(s['event_type'] for s in subs) == ['dm.received', 'dm.sent']
    assert {s['webhook_id'] for s in subs} == {hooks[0]['id']}
    stack.send_dm(site, 'after the move from v1.1')
    messages = stack.wait_ccm(0, ['after the move from v1.1'])
    assert [m['text'] for m in messages].count('after the move from v1.1') == 1

    rerun = stack.playbook('deploy.yml')
    assert rerun.rc == 0 and rerun.changed() == {'site00': 0}, rerun.out
