# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy.yml on three sites (two on v2, one on v1.1, each with its own X app): converges, then changes nothing;
status.yml reports them healthy; remove.yml takes one site off X and leaves the others alone."""

import os


def _env_keys(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return dict(line.strip().split('=', 1) for line in handle if '=' in line and not line.startswith('#'))


def test_deploy_twice_status_remove(make_stack):
    stack = make_stack(sites=3, v11=1)
    sites = stack.state['sites']
    assert [s['api_version'] for s in sites] == ['2', '2', '1.1']

    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert set(first.recap) == {'site00', 'site01', 'site02'}
    assert all(changed > 0 for changed in first.changed().values())
    for site in sites:
        hook = stack.hook_of(site, site['webhook_url'])
        assert hook is not None and hook['valid'], site['fqdn']
        assert site['account_id'] in hook['subscriptions']
        env = _env_keys(site['env_file'])
        assert env['TWITTER_ACCOUNT_ID'] == site['account_id']
        assert env['TWITTER_CONSUMER_SECRET'] == site['consumer_secret']
        assert env['CCM_PORT'] == '8081'  # CCM's own lines are kept
        assert oct(os.stat(site['env_file']).st_mode & 0o777) == '0o600'
    assert stack.vhosts() == sorted('ccm-twitter-%s.conf' % s['fqdn'] for s in sites)
    # A secret never reaches the output.
    for site in sites:
        for key in ('consumer_secret', 'access_token', 'access_secret'):
            assert site[key] not in first.out

    stack.api_calls(clear=True)
    second = stack.playbook('deploy.yml')
    assert second.rc == 0, second.out
    assert second.changed() == {'site00': 0, 'site01': 0, 'site02': 0}, second.out
    calls = stack.api_calls()
    # Per site at most: webhook list, subscription check, and the v2 bearer token. The account id is not looked
    # up again: the env file holds it next to the same access token.
    assert calls['total'] <= 3 * len(sites), calls
    assert not [f for f in calls['by_family'] if f.startswith('users')], calls

    status = stack.playbook('status.yml')
    assert status.rc == 0, status.out
    assert status.out.count('"OK    site0') == 3, status.out

    removed = stack.playbook('remove.yml', '--limit', 'site01')
    assert removed.rc == 0, removed.out
    assert stack.hook_of(sites[1]) is None
    assert _env_keys(sites[1]['env_file'])['TWITTER_ACCOUNT_ID'] == sites[1]['account_id']  # kept by default
    assert 'ccm-twitter-%s.conf' % sites[1]['fqdn'] not in stack.vhosts()
    for other in (sites[0], sites[2]):
        assert stack.hook_of(other, other['webhook_url'])['valid']

    stack.api_calls(clear=True)
    removed = stack.playbook('remove.yml', '--limit', 'site02', extra={'ccm_twitter_remove_env_keys': 'true'})
    assert removed.rc == 0, removed.out
    # v1.1 allows 15 webhook lists per 15 minutes per app: the removal lists once.
    lists = {family: count for family, count in stack.api_calls()['by_family'].items() if family.startswith('v1.webhooks.list')}
    assert sum(lists.values()) == 1, lists
    assert 'deleted and account %s unsubscribed' % sites[2]['account_id'] in removed.out, removed.out
    assert stack.hook_of(sites[2]) is None
    env = _env_keys(sites[2]['env_file'])
    assert not [key for key in env if key.startswith('TWITTER_')]
    assert env['CCM_LOG_LEVEL'] == 'info'

    again = stack.playbook('remove.yml', '--limit', 'site01,site02')
    assert again.rc == 0, again.out
    assert again.changed() == {'site01': 0, 'site02': 0}, again.out
    assert stack.hook_of(sites[0], sites[0]['webhook_url'])['valid']
