# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""status.yml on both activity APIs (XAA site OK with its subscriptions and bridge; AAA site WARN with the days
left, FAIL past the end of AAA on the emulator's clock, with the command that migrates it); -e repair=true
re-creates a missing XAA subscription; remove.yml on XAA deletes the tagged subscriptions, the bridge and the vhost; no secret in the -vvv --diff output
of the repair and of remove.yml."""

import os

import requests

from xemu.testing import listening


def _line(out, host):
    for line in out.splitlines():
        line = line.strip().strip('",')
        if line[6:].startswith(host + ' '):
            return line
    return ''


def _no_secret(site, text):
    for key in ('consumer_secret', 'access_token', 'access_secret', 'bearer_token'):
        assert site[key] not in text, key


def test_status_both_apis_deadline_repair_remove(make_stack):
    # X's end of AAA, with the emulator's calendar and status.yml's "now" pinned to 2026-12-07 (25 days before).
    stack = make_stack(sites=2, xaa=1, aaa_end='2027-01-01T00:00:00Z')
    stack.control('POST', 'clock', {'now': '2026-12-07T00:00:00Z'})
    xaa, aaa = stack.state['sites']
    assert (xaa['activity_api'], aaa['activity_api']) == ('xaa', 'aaa')
    deployed = stack.playbook('deploy.yml')
    assert deployed.rc == 0, deployed.out

    status = stack.playbook('status.yml', extra={'ccm_status_now': '2026-12-07T00:00:00Z'})
    assert status.rc == 0, status.out
    line = _line(status.out, 'site00')
    assert line.startswith('OK    site00') and 'api=xaa' in line, status.out
    assert 'xaa=dm.received@live,dm.sent@live' in line and 'bridge=ok spool=0' in line, line
    line = _line(status.out, 'site01')
    assert line.startswith('WARN  site01') and 'api=aaa' in line and 'aaa_days_left=25' in line, status.out
    assert 'stops delivering on 2027-01-01' in line and 'ccm_twitter_activity_api: xaa' in line, line

    # A subscription deleted behind the collection's back: FAIL, then repair re-creates it.
    sub = next(s for s in stack.xaa_subscriptions(xaa) if s['event_type'] == 'dm.sent')
    response = requests.delete(stack.state['api_url'] + '/2/activity/subscriptions/' + sub['subscription_id'],
                               headers={'Authorization': 'Bearer ' + xaa['bearer_token']},
                               verify=stack.state['ca_cert'], timeout=30)
    assert response.status_code == 200, response.text
    broken = stack.playbook('status.yml', '--limit', 'site00', extra={'ccm_status_now': '2026-12-07T00:00:00Z'})
    assert broken.rc != 0 and _line(broken.out, 'site00').startswith('FAIL  site00'), broken.out
    assert 'XAA subscriptions of the account are missing' in broken.out
    repaired = stack.playbook('status.yml', '--limit', 'site00', '-vvv', '--diff',
                              extra={'ccm_twitter_repair': 'true', 'ccm_status_now': '2026-12-07T00:00:00Z'})
    assert repaired.rc == 0, repaired.out
    _no_secret(xaa, repaired.out)
    assert sorted(s['event_type'] for s in stack.xaa_subscriptions(xaa)) == ['dm.received', 'dm.sent']

    # Past the end of AAA on the emulator's clock: the AAA site receives nothing and status.yml fails for it.
    stack.control('POST', 'clock', {'now': '2027-01-02T00:00:00Z'})
    stack.send_dm(xaa, 'after the end of AAA, XAA site')
    stack.send_dm(aaa, 'after the end of AAA, AAA site')
    assert 'after the end of AAA, XAA site' in [m['text'] for m in stack.wait_ccm(0, ['after the end of AAA, XAA site'])]
    assert 'after the end of AAA, AAA site' not in [m['text'] for m in stack.wait_ccm(1, ['never'], timeout=3)]
    late = stack.playbook('status.yml', extra={'ccm_status_now': '2027-01-02T00:00:00Z'})
    assert late.rc != 0, late.out
    assert _line(late.out, 'site00').startswith('OK    site00'), late.out
    line = _line(late.out, 'site01')
    assert line.startswith('FAIL  site01') and 'the Account Activity API ended on 2027-01-01' in line, late.out
    assert 'playbooks/deploy.yml --limit site01' in line, line

    # remove.yml on the XAA site: tagged subscriptions, bridge, vhost; the AAA site keeps everything.
    bridge = xaa['bridge']
    assert listening(bridge['health_port'])
    removed = stack.playbook('remove.yml', '--limit', 'site00', '-vvv', '--diff')
    assert removed.rc == 0, removed.out
    _no_secret(xaa, removed.out)
    assert not stack.xaa_subscriptions(xaa)
    assert stack.hook_of(xaa) is None
    assert not listening(bridge['health_port']) and not listening(bridge['port'])
    assert not os.path.exists(bridge['config_dir']) and not os.path.exists(bridge['program'])
    assert 'ccm-twitter-%s.conf' % xaa['fqdn'] not in stack.vhosts()
    assert 'ccm-twitter-%s.conf' % aaa['fqdn'] in stack.vhosts()
    again = stack.playbook('remove.yml', '--limit', 'site00')
    assert again.rc == 0 and again.changed() == {'site00': 0}, again.out
