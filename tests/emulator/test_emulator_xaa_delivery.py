"""X Activity API delivery: XAA envelopes next to AAA payloads, read/typing events, the delivery record,
the end of AAA on the emulator clock, webhook replay and the activity stream."""

import json
import time

import pytest
import requests

from emulator_helpers import AAA_PINNED_END, CCM_URL, HOOK_HOST, HOOK_URL, V1, XAA_SUBS
from xemu.crc import sign
from xemu.seed import load_seed
from xemu.testing import PINNED_AAA_END, ControlError, Emulator, ScriptedWebhook

AAA_SUBS = '/2/account_activity/webhooks/%s/subscriptions/all'


@pytest.fixture
def hook(emu, pki):
    with ScriptedWebhook(emu.app()['consumer_secret'], pki['hook']) as server:
        emu.config(add_resolve={'%s:443' % HOOK_HOST: '127.0.0.1:%d' % server.port})
        yield server


@pytest.fixture
def site(emu, http, hook):
    """A v2 webhook at the CCM stand-in with the support account's AAA subscription, and a second v2 webhook
    (the scripted receiver) with XAA subscriptions: dm.received for support, dm.sent for alice."""
    seed = dict(emu.raw_seed)
    seed['apps'] = [dict(seed['apps'][0], v2={'max_webhooks': 2, 'max_subscriptions': 3})] + seed['apps'][1:]
    emu.reset(seed)
    aaa_hook = http.post(emu.url + '/2/webhooks', json={'url': CCM_URL}, auth=emu.bearer()).json()['data']['id']
    xaa_hook = http.post(emu.url + '/2/webhooks', json={'url': HOOK_URL}, auth=emu.bearer()).json()['data']['id']
    assert http.post(emu.url + AAA_SUBS % aaa_hook, auth=emu.oauth1()).status_code == 200
    support, alice = emu.user()['id'], emu.user('alice_example')['id']
    subscribe(emu, http, 'dm.received', support, emu.oauth1(), xaa_hook, tag='inbound')
    subscribe(emu, http, 'dm.sent', alice, emu.oauth1('alice_example'), xaa_hook)
    return {'aaa': aaa_hook, 'xaa': xaa_hook, 'support': support, 'alice': alice}


def subscribe(emu, http, event_type, user_id, auth, webhook_id=None, tag=None):
    body = {'event_type': event_type, 'filter': {'user_id': user_id}}
    if webhook_id:
        body['webhook_id'] = webhook_id
    if tag:
        body['tag'] = tag
    resp = http.post(emu.url + XAA_SUBS, json=body, auth=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()['data']['subscription']


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError('condition not met in %.1fs' % timeout)


def test_dm_reaches_aaa_and_xaa_subscribers_with_one_event_id(emu, site, hook, ccm):
    result = emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='Hello support!')
    event_id = result['event_id']
    assert result['aaa_ended'] is False
    assert [(r['webhook_id'], r['status'], r['for_user_id']) for r in result['aaa']] == [
        (site['aaa'], 200, site['support'])]
    assert ccm.messages()[-1]['id'] == event_id and ccm.messages()[-1]['text'] == 'Hello support!'
    assert sorted((r['event_type'], r['for_user_id'], r['status']) for r in result['xaa']) == [
        ('dm.received', site['support'], 200), ('dm.sent', site['alice'], 200)]
    assert len(hook.posts) == 2 and all(p['signature_valid'] for p in hook.posts)
    received = next(p['json']['data'] for p in hook.posts if p['json']['data']['event_type'] == 'dm.received')
    sent = next(p['json']['data'] for p in hook.posts if p['json']['data']['event_type'] == 'dm.sent')
    assert set(received) == {'event_uuid', 'filter', 'event_type', 'tag', 'payload'}
    assert received['filter'] == {'user_id': site['support']} and received['tag'] == 'inbound'
    assert sent['filter'] == {'user_id': site['alice']} and 'tag' not in sent
    assert received['event_uuid'] != sent['event_uuid'] and received['event_uuid'].lstrip('-').isdigit()
    for data in (received, sent):
        dm = data['payload']['direct_message_events'][0]
        assert dm['id'] == event_id and dm['type'] == 'message_create'
        assert dm['message_create']['sender_id'] == site['alice']
        assert dm['message_create']['target']['recipient_id'] == site['support']
        assert dm['message_create']['message_data']['text'] == 'Hello support!'
        assert 'source_app_id' not in dm['message_create'] and 'apps' not in data['payload']
        user = data['payload']['users'][site['alice']]['data']
        assert user['username'] == 'alice_example' and user['name'] == 'Alice Example'
        assert set(user['public_metrics']) >= {'followers_count', 'following_count', 'tweet_count'}
        assert user['created_at'].endswith('Z') and user['profile_image_url'].startswith('https://')
        assert data['payload']['users'][site['support']]['data']['username'] == 'HybridChatHelp'
    # The signature covers the raw body with the consumer secret, as for AAA.
    raw = hook.posts[0]
    assert raw['signature'] == sign(emu.app()['consumer_secret'], raw['body'])


def test_deliver_to_one_aaa_webhook_also_reaches_xaa(emu, site, hook):
    result = emu.deliver(webhook_id=site['aaa'], sender_id=site['alice'], text='two ways')
    assert result['status'] == 200 and result['payload']['for_user_id'] == site['support']
    assert [r['event_type'] for r in result['xaa']] == ['dm.received', 'dm.sent']
    event_ids = {p['json']['data']['payload']['direct_message_events'][0]['id'] for p in hook.posts}
    assert event_ids == {result['payload']['direct_message_events'][0]['id']} == {result['event_id']}
    # A DM the support account sends: no dm.received (alice has none), no dm.sent (support has none).
    result = emu.deliver(recipient_id=site['alice'], sender_id=site['support'])
    assert result['xaa'] == [] and [r['for_user_id'] for r in result['aaa']] == [site['support']]


def test_read_and_typing_events(emu, http, site, hook):
    subscribe(emu, http, 'dm.read', site['support'], emu.oauth1(), site['xaa'])
    subscribe(emu, http, 'dm.indicate_typing', site['support'], emu.oauth1(), site['xaa'])
    result = emu.deliver_read(site['alice'], site['support'], last_read_event_id='1866771034187817271')
    assert [r['event_type'] for r in result['xaa']] == ['dm.read'] and len(result['aaa']) == 1
    data = hook.posts[-1]['json']['data']
    assert data['event_type'] == 'dm.read' and data['filter'] == {'user_id': site['support']}
    item = data['payload']['direct_message_mark_read_events'][0]
    assert item['sender_id'] == site['alice'] and item['target'] == {'recipient_id': site['support']}
    assert item['last_read_event_id'] == '1866771034187817271'
    result = emu.deliver_typing(site['alice'], site['support'])
    data = hook.posts[-1]['json']['data']
    assert data['event_type'] == 'dm.indicate_typing'
    assert data['payload']['direct_message_indicate_typing_events'][0]['sender_id'] == site['alice']
    assert result['aaa'][0]['status'] == 200
    aaa = [d for d in emu.deliveries()['deliveries'] if d['product'] == 'aaa']
    assert 'direct_message_indicate_typing_events' in aaa[-1]['payload']
    assert 'direct_message_mark_read_events' in aaa[-2]['payload']


def test_delivery_record_counts_failures_and_skips_invalid_webhooks(emu, site, hook):
    hook.post_status = 500
    result = emu.deliver(recipient_id=site['support'], sender_id=site['alice'])
    assert [r['status'] for r in result['xaa']] == [500, 500]
    hook.post_status = 200
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'])
    record = emu.deliveries()
    assert record['counts'][site['xaa']] == {'delivered': 2, 'failed': 2}
    assert record['counts'][site['aaa']] == {'delivered': 2, 'failed': 0}
    assert all(d['event_id'] for d in record['deliveries']) and 'body' not in record['deliveries'][0]
    assert emu.app()['consumer_secret'] not in json.dumps(record)
    emu.invalidate(site['xaa'])
    result = emu.deliver(recipient_id=site['support'], sender_id=site['alice'])
    assert {r.get('skipped') for r in result['xaa']} == {'webhook is invalid'}
    assert len(hook.posts) == 4
    emu.control('DELETE', 'deliveries')
    assert emu.deliveries() == {'deliveries': [], 'counts': {}}


def test_end_of_aaa_on_the_emulator_clock(emu, http, site, hook, ccm):
    # The seed's own end of AAA is 2027-01-01T00:00:00Z; test emulators pin it far ahead unless told otherwise.
    assert load_seed()['settings']['aaa_end'] == '2027-01-01T00:00:00Z'
    assert Emulator().seed['settings']['aaa_end'] == PINNED_AAA_END == AAA_PINNED_END
    assert Emulator(aaa_end='seed').seed['settings']['aaa_end'] == '2027-01-01T00:00:00Z'
    emu.config(aaa_end=load_seed()['settings']['aaa_end'])
    clock = emu.clock(now='2026-12-31T23:59:00Z')
    assert clock['now'] == '2026-12-31T23:59:00Z' and clock['aaa_ended'] is False
    before = emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='migration')
    assert len(before['aaa']) == 1 and len(before['xaa']) == 2
    # OAuth 1.0a still verifies (the calendar moves, not the timestamp check).
    assert http.get(emu.url + AAA_SUBS % site['aaa'], auth=emu.oauth1()).json() == {'data': {'subscribed': True}}

    clock = emu.clock(advance=60)
    assert clock['now'] == '2027-01-01T00:00:00Z' and clock['aaa_ended'] is True
    after = emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='after the end')
    assert after['aaa'] == [] and 'ended on 2027-01-01' in after['aaa_skipped'] and len(after['xaa']) == 2
    assert [m['text'] for m in ccm.messages()] == ['migration']
    skipped = emu.deliver(webhook_id=site['aaa'], text='direct')
    assert skipped['status'] is None and skipped['aaa_ended'] is True
    # Every AAA subscription endpoint refuses; XAA and /2/webhooks keep working.
    calls = [
        ('POST', AAA_SUBS % site['aaa'], emu.oauth1('alice_example')),
        ('GET', AAA_SUBS % site['aaa'], emu.oauth1()),
        ('GET', AAA_SUBS % site['aaa'] + '/list', emu.bearer()),
        ('DELETE', '/2/account_activity/webhooks/%s/subscriptions/%s/all' % (site['aaa'], site['support']),
         emu.bearer()),
        ('GET', '/2/account_activity/subscriptions/count', emu.bearer()),
    ]
    for method, path, auth in calls:
        resp = http.request(method, emu.url + path, auth=auth)
        assert resp.status_code == 410, (path, resp.text)
        body = resp.json()
        assert body['title'] == 'Gone' and body['reason'] == 'AccountActivityApiEnded'
        assert body['detail'].startswith('The Account Activity API reached end of life on 2027-01-01.')
        assert '/2/activity/subscriptions' in body['detail']
    for method, path, auth in [('POST', V1 + '/production/subscriptions.json', emu.oauth1()),
                               ('GET', V1 + '/subscriptions/count.json', emu.bearer()),
                               ('GET', V1 + '/production/subscriptions/list.json', emu.bearer())]:
        resp = http.request(method, emu.url + path, auth=auth)
        assert resp.status_code == 410 and resp.json()['errors'][0]['code'] == 68
        assert 'end of life on 2027-01-01' in resp.json()['errors'][0]['message']
    assert http.get(emu.url + XAA_SUBS, auth=emu.bearer()).status_code == 200
    assert http.get(emu.url + '/2/webhooks', auth=emu.bearer()).status_code == 200
    assert http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer()).status_code == 200
    # Back to the real clock; moving the end date works as well.
    assert emu.clock(real=True)['date_offset'] == 0
    emu.config(aaa_end='2000-01-01T00:00:00Z')
    assert http.get(emu.url + '/2/account_activity/subscriptions/count', auth=emu.bearer()).status_code == 410
    with pytest.raises(ControlError):
        emu.config(aaa_end='next year')


# -- replay --------------------------------------------------------------------------------------------

def minute(epoch):
    return time.strftime('%Y%m%d%H%M', time.gmtime(epoch))


def replay(emu, http, webhook_id, start, end, auth=None):
    return http.post(emu.url + '/2/webhooks/replay', json={'webhook_id': webhook_id, 'from_date': start,
                                                           'to_date': end}, auth=auth or emu.bearer())


def finished(emu, job_id):
    return wait_for(lambda: next((j for j in emu.replay_jobs()['jobs']
                                  if j['job_id'] == job_id and j['state'] != 'running'), None))


def test_replay_redelivers_made_and_attempted_events_then_posts_the_status(emu, http, site, hook):
    hook.post_status = 503
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='first')
    hook.post_status = 200
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='second')
    originals = [p['body'] for p in hook.posts]
    assert len(originals) == 4
    now = emu.clock()['epoch']
    resp = replay(emu, http, site['xaa'], minute(now - 120), minute(now))
    assert resp.status_code == 200, resp.text
    data = resp.json()['data']
    assert set(data) == {'job_id', 'created_at'} and data['created_at'].endswith('Z')
    job = finished(emu, data['job_id'])
    assert job['state'] == 'Complete' and job['replayed'] == 4 and job['failed'] == 0
    replayed = hook.posts[4:]
    assert [p['body'] for p in replayed[:4]] == originals
    assert all(p['signature_valid'] for p in replayed)
    assert replayed[4]['json'] == {'replay_job_status': {
        'webhook_id': site['xaa'], 'job_state': 'Complete', 'job_state_description': 'Job completed successfully',
        'job_id': data['job_id']}}
    products = [d['product'] for d in emu.deliveries()['deliveries'] if d['webhook_id'] == site['xaa']]
    assert products == ['xaa'] * 4 + ['replay'] * 4 + ['replay_status']
    # The AAA webhook has its own record.
    job = finished(emu, replay(emu, http, site['aaa'], minute(now - 120), minute(now)).json()['data']['job_id'])
    assert job['replayed'] == 2


def test_replay_window_one_job_per_webhook_and_validation(emu, http, site, hook):
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='old')
    emu.clock(advance=600)
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='new')
    now = emu.clock()['epoch']
    emu.config(replay_delay=0.3)
    first = replay(emu, http, site['xaa'], minute(now - 60), minute(now))
    assert first.status_code == 200
    conflict = replay(emu, http, site['xaa'], minute(now - 60), minute(now))
    assert conflict.status_code == 409 and 'ReplayConflictError' in conflict.json()['detail']
    # Another webhook is not blocked.
    other = replay(emu, http, site['aaa'], minute(now - 60), minute(now))
    assert other.status_code == 200
    job = finished(emu, first.json()['data']['job_id'])
    assert job['replayed'] == 2  # only "new" (dm.received + dm.sent), not "old" ten minutes earlier
    texts = [p['json']['data']['payload']['direct_message_events'][0]['message_create']['message_data']['text']
             for p in hook.posts[4:6]]
    assert texts == ['new', 'new']
    third = replay(emu, http, site['xaa'], minute(now - 60), minute(now))
    assert third.status_code == 200

    def message(resp):
        assert resp.status_code == 400, resp.text
        return resp.json()['errors'][0]['message']
    assert message(replay(emu, http, site['xaa'], minute(now), minute(now - 60))).startswith('QueryParamInvalid')
    assert '24 hours' in message(replay(emu, http, site['xaa'], minute(now - 90000), minute(now)))
    assert 'future' in message(replay(emu, http, site['xaa'], minute(now - 60), minute(now + 300)))
    assert 'yyyymmddhhmm' in message(replay(emu, http, site['xaa'], '2026-12-07', minute(now)))
    assert 'yyyymmddhhmm' in message(replay(emu, http, site['xaa'], '202613011200', minute(now)))
    assert message(replay(emu, http, '1234', minute(now - 60), minute(now))).startswith('WebhookIdInvalid')
    assert 'webhook_id' in message(http.post(emu.url + '/2/webhooks/replay', json={'from_date': minute(now)},
                                             auth=emu.bearer()))
    assert 'not a valid property' in message(http.post(emu.url + '/2/webhooks/replay', json={
        'webhook_id': site['xaa'], 'from_date': minute(now), 'to_date': minute(now), 'user_id': '1'},
        auth=emu.bearer()))
    assert replay(emu, http, site['xaa'], minute(now - 60), minute(now), auth=emu.oauth1()).status_code == 403
    emu.invalidate(site['xaa'])
    assert finished(emu, third.json()['data']['job_id'])['state'] == 'Complete'
    assert message(replay(emu, http, site['xaa'], minute(now - 60), minute(now))).startswith('CrcValidationFailed')


# -- stream ----------------------------------------------------------------------------------------------

def open_stream(emu, params=None, auth=None):
    session = emu.session()
    resp = session.get(emu.url + '/2/activity/stream', params=params or {}, auth=auth or emu.bearer(), stream=True,
                       timeout=10)
    return resp


def next_event(resp, timeout=5.0):
    """The next JSON line (skipping keep-alive newlines). One line iterator per response: closing a requests
    line generator closes the connection."""
    if not hasattr(resp, 'lines'):
        resp.lines = resp.iter_lines(chunk_size=1)
    deadline = time.monotonic() + timeout
    for line in resp.lines:
        if line.strip():
            return json.loads(line)
        if time.monotonic() > deadline:
            break
    raise AssertionError('no event on the stream')


def test_stream_delivers_events_with_keepalives_and_at_most_two_connections(emu, http, site):
    emu.config(stream_keepalive=0.1)
    subscribe(emu, http, 'dm.read', site['support'], emu.oauth1())  # no webhook: stream only
    first = open_stream(emu)
    assert first.status_code == 200 and first.headers['Content-Type'].startswith('application/json')
    assert first.headers['x-rate-limit-limit'] == '450'
    emu.deliver_read(site['alice'], site['support'])
    event = next_event(first)['data']
    assert event['event_type'] == 'dm.read' and event['filter'] == {'user_id': site['support']}
    second = open_stream(emu)
    assert second.status_code == 200
    third = open_stream(emu)
    assert third.status_code == 429
    body = third.json()
    assert body['connection_issue'] == 'TooManyConnections' and body['title'] == 'ConnectionException'
    assert emu.control('GET', 'streams')['connections'] == {emu.app()['consumer_key']: 2}
    # Webhook subscriptions feed the stream too; both connections get every event.
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='to the stream')
    types = {next_event(second)['data']['event_type'], next_event(second)['data']['event_type']}
    assert types == {'dm.received', 'dm.sent'}
    first.close()
    wait_for(lambda: emu.control('GET', 'streams')['connections'].get(emu.app()['consumer_key']) == 1)
    fourth = open_stream(emu)
    assert fourth.status_code == 200
    second.close()
    fourth.close()
    # Bearer only; another app has its own connections.
    assert open_stream(emu, auth=emu.oauth1()).status_code == 403
    other = open_stream(emu, auth=emu.bearer('ccm-readonly'))
    assert other.status_code == 200
    other.close()


def test_stream_backfill(emu, http, site):
    emu.config(stream_keepalive=0.1)
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='ten minutes ago')
    emu.clock(advance=600)
    emu.deliver(recipient_id=site['support'], sender_id=site['alice'], text='just now')
    resp = open_stream(emu, {'backfill_minutes': 5})
    texts = [next_event(resp)['data']['payload']['direct_message_events'][0]['message_create']['message_data']['text']
             for _attempt in range(2)]
    assert texts == ['just now', 'just now']
    resp.close()
    resp = open_stream(emu, {'backfill_minutes': 0})
    with pytest.raises(AssertionError):
        next_event(resp, timeout=0.3)
    resp.close()
    for value in ('6', '-1', 'x'):
        bad = http.get(emu.url + '/2/activity/stream', params={'backfill_minutes': value}, auth=emu.bearer())
        assert bad.status_code == 400 and 'backfill_minutes' in bad.json()['errors'][0]['message']


def test_stream_connections_close_on_reset(emu, site):
    emu.config(stream_keepalive=0.1)
    resp = open_stream(emu)
    assert resp.status_code == 200
    emu.reset()
    assert emu.control('GET', 'streams')['connections'] == {}
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        AssertionError, StopIteration)):
        next_event(resp, timeout=2)
    resp.close()


def test_deleting_a_webhook_keeps_its_xaa_subscriptions_for_the_stream(emu, http, site, hook):
    assert http.delete(emu.url + '/2/webhooks/' + site['xaa'], auth=emu.bearer()).status_code == 200
    listing = http.get(emu.url + XAA_SUBS, auth=emu.bearer()).json()['data']
    assert {s['webhook_id'] for s in listing} == {site['xaa']}
    result = emu.deliver(recipient_id=site['support'], sender_id=site['alice'])
    assert result['xaa'] == [] and hook.posts == []
    assert len(emu.control('GET', 'state')['activity_subscriptions']) == 2
