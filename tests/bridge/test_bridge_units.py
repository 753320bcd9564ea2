# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge's parts in-process: translation, signatures, CRC tokens, config, secrets, the spool."""

import json
import os
import sys
import threading
import time

import pytest

from bridge_helpers import ACCOUNT, OTHER, SECRET, aaa_body, encode, sign, write_env_file, xaa_body, xaa_event

# X's own dm.received sample (xaa.md 2.2, from x-api/activity/event-payloads.mdx), with its trimmed users.
XAA_SAMPLE = json.loads("""
{
  "data": {
    "event_uuid": "-6850472171600526495",
    "filter": { "user_id": "1111111111111111111" },
    "event_type": "dm.received",
    "tag": "dm-inbound",
    "payload": {
      "direct_message_events": [
        {
          "type": "message_create",
          "id": "2080765901528535096",
          "created_timestamp": "1784928224372",
          "message_create": {
            "target": { "recipient_id": "1111111111111111111" },
            "sender_id": "2222222222222222222",
            "message_data": {
              "text": "hello!",
              "entities": { "hashtags": [], "symbols": [], "user_mentions": [], "urls": [] }
            }
          }
        }
      ],
      "users": {
        "2222222222222222222": { "data": { "id": "2222222222222222222", "username": "OtherUser",
          "name": "OtherUser", "profile_image_url": "https://pbs.twimg.com/...", "protected": false,
          "verified": false, "verified_type": "none", "created_at": "2026-04-20T19:55:59.000Z",
          "public_metrics": { "followers_count": 97, "following_count": 1, "tweet_count": 50 } } },
        "1111111111111111111": { "data": { "id": "1111111111111111111", "username": "ExampleUser" } }
      }
    }
  }
}
""")

# X's AAA example (x-api.md 4.5 / xaa.md 2.2).
AAA_SAMPLE = json.loads("""
{
  "for_user_id": "4337869213",
  "direct_message_events": [{
    "type": "message_create", "id": "954491830116155396", "created_timestamp": "1516403560557",
    "message_create": {
      "target": { "recipient_id": "4337869213" }, "sender_id": "3001969357",
      "source_app_id": "13090192",
      "message_data": { "text": "Hello World!", "entities": { "hashtags": [], "symbols": [], "user_mentions": [], "urls": [] } }
    }
  }],
  "apps": { "13090192": { "id": "13090192", "name": "FuriousCamperTestApp1", "url": "https://x.com/furiouscamper" } },
  "users": {
    "3001969357": { "id": "3001969357", "created_timestamp": "1422556069340", "name": "Jordan Brinks",
      "screen_name": "furiouscamper", "location": "Boulder, CO", "protected": false, "verified": false,
      "followers_count": 22, "friends_count": 45, "statuses_count": 494,
      "profile_image_url_https": "https://pbs.twimg.com/profile_images/.../cW4WTi7C_normal.jpg" }
  }
}
""")


def _aaa_problem():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    'tools'))
    from xemu.ccm import aaa_problem  # pylint: disable=import-outside-toplevel
    return aaa_problem


# -- translation --------------------------------------------------------------------------------------------------

def test_x_sample_dm_received_becomes_the_aaa_body(bridge_mod):
    body = encode(XAA_SAMPLE)
    units, skipped = bridge_mod.classify(body, json.loads(body))
    assert skipped == {'ignored': 0, 'untranslatable': 0}
    assert len(units) == 1
    out = json.loads(units[0].body_for([0]))
    assert out == {
        'for_user_id': '1111111111111111111',
        'direct_message_events': XAA_SAMPLE['data']['payload']['direct_message_events'],
        'users': {
            '2222222222222222222': {'id': '2222222222222222222', 'created_timestamp': '1776714959000',
                                    'name': 'OtherUser', 'screen_name': 'OtherUser', 'protected': False,
                                    'verified': False, 'followers_count': 97, 'friends_count': 1,
                                    'statuses_count': 50, 'profile_image_url_https': 'https://pbs.twimg.com/...'},
            '1111111111111111111': {'id': '1111111111111111111', 'screen_name': 'ExampleUser'},
        },
    }
    assert units[0].keys == ['dm:1111111111111111111:2080765901528535096']
    # What CCM parses: the stand-in, which knows only AAA, accepts the result and refuses the original.
    aaa_problem = _aaa_problem()
    assert aaa_problem(out) is None
    assert 'XAA' in aaa_problem(XAA_SAMPLE)


def test_x_aaa_example_passes_through_byte_for_byte(bridge_mod):
    body = json.dumps(AAA_SAMPLE, indent=2).encode()
    units, _skipped = bridge_mod.classify(body, json.loads(body))
    assert len(units) == 1
    assert units[0].body_for([0]) is body
    assert units[0].keys == ['dm:4337869213:954491830116155396']


def test_every_user_field_mapping(bridge_mod):
    v2 = {'id': '42', 'username': 'handle', 'name': 'Full Name', 'description': 'bio', 'location': 'Here',
          'url': 'https://t.co/u', 'verified': True, 'protected': True, 'verified_type': 'blue',
          'profile_image_url': 'https://pbs.twimg.com/p.jpg', 'created_at': '2009-02-13T23:31:30.123Z',
          'public_metrics': {'followers_count': 1, 'following_count': 2, 'tweet_count': 3, 'listed_count': 4,
                             'like_count': 5}, 'affiliation': {'x': 1}}
    expected = {'id': '42', 'created_timestamp': '1234567890123', 'name': 'Full Name', 'screen_name': 'handle',
                'location': 'Here', 'description': 'bio', 'url': 'https://t.co/u', 'protected': True,
                'verified': True, 'followers_count': 1, 'friends_count': 2, 'statuses_count': 3, 'listed_count': 4,
                'favourites_count': 5, 'profile_image_url_https': 'https://pbs.twimg.com/p.jpg'}
    assert bridge_mod.v1_user({'data': v2}) == expected
    assert bridge_mod.v1_user(v2) == expected  # bare v2 user (includes.users)
    assert bridge_mod.v1_user(None) == {}


@pytest.mark.parametrize('value,expected', [
    ('2026-04-20T19:55:59.000Z', '1776714959000'),
    ('2026-04-20T19:55:59Z', '1776714959000'),
    ('2026-04-20T19:55:59.5Z', '1776714959500'),
    ('2026-04-20T21:55:59.000+02:00', '1776714959000'),
    ('2026-04-20T14:55:59-0500', '1776714959000'),
    ('1970-01-01T00:00:00Z', '0'),
    ('2000-02-29T12:00:00Z', '951825600000'),
    ('not a date', None),
    ('2026-13-01T00:00:00Z', None),
    (1776714959, None),
])
def test_iso_created_at_to_epoch_ms(bridge_mod, value, expected):
    assert bridge_mod.iso_to_epoch_ms(value) == expected


def test_dm_sent_keeps_for_user_id_from_the_filter(bridge_mod):
    doc = xaa_body('dm.sent', '77', 'out')
    units, _skipped = bridge_mod.classify(encode(doc), doc)
    out = json.loads(units[0].body_for([0]))
    assert out['for_user_id'] == ACCOUNT
    assert out['direct_message_events'][0]['message_create']['sender_id'] == ACCOUNT
    assert out['users'][OTHER]['screen_name'] == 'otheruser'
    assert _aaa_problem()(out) is None


@pytest.mark.parametrize('event_type,expected', [('dm.received', ACCOUNT), ('dm.sent', ACCOUNT)])
def test_missing_filter_falls_back_to_the_account_in_the_dm(bridge_mod, event_type, expected):
    doc = xaa_body(event_type, '78', 'x')
    doc['data']['filter'] = {}
    units, _skipped = bridge_mod.classify(encode(doc), doc)
    assert json.loads(units[0].body_for([0]))['for_user_id'] == expected


def test_data_may_be_an_array(bridge_mod):
    doc = {'data': [xaa_event('dm.received', '1', 'a'), xaa_event('dm.sent', '2', 'b'),
                    {'event_type': 'profile.update.bio', 'filter': {'user_id': ACCOUNT}, 'payload': {}}]}
    units, skipped = bridge_mod.classify(encode(doc), doc)
    assert [u.keys for u in units] == [['dm:%s:1' % ACCOUNT], ['dm:%s:2' % ACCOUNT]]
    assert skipped == {'ignored': 1, 'untranslatable': 0}


def test_includes_users_fallback(bridge_mod):
    event = xaa_event('dm.received', '5', 'x')
    users = event['payload'].pop('users')
    event['includes'] = {'users': [u['data'] for u in users.values()]}
    units, _skipped = bridge_mod.classify(b'', {'data': event})
    assert json.loads(units[0].body_for([0]))['users'][OTHER]['screen_name'] == 'otheruser'


def test_typing_and_read_become_aaa_typing_and_read_events(bridge_mod):
    typing = {'event_type': 'dm.indicate_typing', 'filter': {'user_id': ACCOUNT},
              'payload': {'created_timestamp': '1784928224372', 'sender_id': OTHER,
                          'target': {'recipient_id': ACCOUNT},
                          'users': {OTHER: {'data': {'id': OTHER, 'username': 'o'}}}}}
    read = {'event_type': 'dm.read', 'filter': {'user_id': ACCOUNT},
            'payload': {'direct_message_mark_read_events': [
                {'created_timestamp': '1784928224999', 'sender_id': OTHER, 'target': {'recipient_id': ACCOUNT},
                 'last_read_event_id': '2080765901528535096'}]}}
    units, skipped = bridge_mod.classify(b'', {'data': [typing, read]})
    assert skipped == {'ignored': 0, 'untranslatable': 0}
    out_typing, out_read = (json.loads(u.body_for([0])) for u in units)
    assert out_typing == {'for_user_id': ACCOUNT, 'direct_message_indicate_typing_events': [
        {'created_timestamp': '1784928224372', 'sender_id': OTHER, 'target': {'recipient_id': ACCOUNT}}],
        'users': {OTHER: {'id': OTHER, 'screen_name': 'o'}}}
    assert out_read['direct_message_mark_read_events'][0]['last_read_event_id'] == '2080765901528535096'
    assert _aaa_problem()(out_typing) is None and _aaa_problem()(out_read) is None
    # The same typing event through AAA has the same dedupe key.
    aaa_typing = dict(out_typing)
    aaa_units, _skipped = bridge_mod.classify(encode(aaa_typing), aaa_typing)
    assert aaa_units[0].keys == units[0].keys


def test_typing_without_a_sender_is_counted_untranslatable(bridge_mod):
    units, skipped = bridge_mod.classify(b'', {'data': {'event_type': 'dm.indicate_typing',
                                                        'filter': {'user_id': ACCOUNT}, 'payload': {}}})
    assert units == [] and skipped['untranslatable'] == 1


@pytest.mark.parametrize('doc', [
    {'data': {'event_type': 'post.create', 'filter': {'user_id': ACCOUNT}, 'payload': {}}},
    {'data': {'event_type': 'chat.received', 'payload': {'encoded_event': 'x'}}},
    {'data': 'string'},
    {'something': 'else'},
    {'for_user_id': ACCOUNT},
])
def test_unknown_types_are_ignored(bridge_mod, doc):
    units, skipped = bridge_mod.classify(encode(doc), doc)
    assert units == [] and skipped['ignored'] >= 1


def test_replay_job_status_is_recorded_not_forwarded(bridge_mod):
    status = {'webhook_id': '123', 'job_state': 'Complete', 'job_state_description': 'done', 'job_id': '9'}
    for doc in ({'replay_job_status': status}, {'data': {'replay_job_status': status}}):
        units, _skipped = bridge_mod.classify(encode(doc), doc)
        assert [(u.kind, u.doc) for u in units] == [('replay', status)]


def test_other_aaa_activity_passes_through_with_a_body_key(bridge_mod):
    doc = {'for_user_id': ACCOUNT, 'follow_events': [{'type': 'follow'}]}
    body = encode(doc)
    units, _skipped = bridge_mod.classify(body, doc)
    assert units[0].kind == 'aaa_other' and units[0].body_for([0]) is body and units[0].keys[0].startswith('body:')


def test_aaa_body_with_some_duplicate_events_forwards_only_the_new_ones(bridge_mod):
    doc = aaa_body('10', 'a')
    doc['direct_message_events'].append(aaa_body('11', 'b')['direct_message_events'][0])
    units, _skipped = bridge_mod.classify(encode(doc), doc)
    out = json.loads(units[0].body_for([1]))
    assert [e['id'] for e in out['direct_message_events']] == ['11']
    assert units[0].body_for([]) is None


# -- signatures and CRC -------------------------------------------------------------------------------------------

@pytest.fixture
def secret(bridge_mod, tmp_path):
    env = write_env_file(str(tmp_path / 'ccm.env'))
    value = bridge_mod.Secret(env_file=env)
    value.load()
    return value


def test_signature_edge_cases(bridge_mod, secret):
    body = encode(XAA_SAMPLE)
    good = sign(body)
    check = bridge_mod.check_signature
    assert check(secret, body, good)
    assert check(secret, body, ' %s ' % good)  # header whitespace
    assert not check(secret, body, None)
    assert not check(secret, body, '')
    assert not check(secret, body, good[len('sha256='):])  # no prefix
    assert not check(secret, body, good.replace('sha256=', 'SHA256='))
    assert not check(secret, body, 'sha1=' + good[len('sha256='):])
    assert not check(secret, body, good[:-2] + '==')
    assert not check(secret, body + b' ', good)  # one byte more
    assert not check(secret, body, sign(body, secret=SECRET + 'x'))
    assert not check(secret, body, 'sha256=ümlaut')
    empty = bridge_mod.Secret(env_file='/nonexistent')
    assert not check(empty, body, good)  # no secret: fail closed


def test_crc_response_token_matches_the_documented_vector(bridge_mod, tmp_path):
    path = tmp_path / 'secret'
    path.write_text('kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw\n')
    path.chmod(0o600)
    value = bridge_mod.Secret(secret_file=str(path))
    value.load()
    assert value.sign('foo') == 'sha256=KGwPHQJPaVoxk5RWMCZXvu7ppQqe20ugPzzV9ed1O3o='


@pytest.mark.parametrize('token,ok', [
    ('a' * 16, True), ('A' * 128, True), ('abc+/=_-' * 2, True), ('Zm9vYmFyYmF6cXV4MTIzNA==', True),
    ('a' * 15, False), ('a' * 129, False), ('', False), ('{"a":"bbbbbbbbbbbbbbbb"}', False),
    ('aaaaaaaaaaaaaaaa aaaa', False), ('aaaaaaaaaaaaaaaa\n', False), ('aaaaaaaaaaaaaaaa%', False),
    ('aaaaaaaaaaaaaaaa.b', False), ('äaaaaaaaaaaaaaaaa', False), (None, False),
])
def test_crc_token_shape(bridge_mod, token, ok):
    assert bridge_mod.valid_crc_token(token) is ok


# -- config and secrets ---------------------------------------------------------------------------------------------

def _config_file(tmp_path, **values):
    base = {'listen_port': 18181, 'status_port': 18182, 'upstream': 'http://127.0.0.1:8080',
            'state_dir': str(tmp_path / 'state'), 'secret_env_file': str(tmp_path / 'ccm.env')}
    base.update(values)
    for key in [k for k, v in base.items() if v is None]:
        del base[key]
    path = tmp_path / 'config.json'
    path.write_text(json.dumps(base))
    return str(path)


def test_config_defaults(bridge_mod, tmp_path):
    config = bridge_mod.load_config(_config_file(tmp_path))
    assert config['upstream_path'] == '/ccm/webhook/twitter'
    assert config['max_age_days'] == 7 and config['dedupe_hours'] >= 48 and config['stream'] is None


@pytest.mark.parametrize('values,message', [
    ({'listen_host': '0.0.0.0'}, 'listen_host must be a loopback'),
    ({'status_host': '192.168.1.1'}, 'status_host must be a loopback'),
    ({'listen_port': 70000}, 'listen_port must be a TCP port'),
    ({'status_port': 18181}, 'status_port must differ'),
    ({'upstream': 'http://127.0.0.1:8080/ccm/webhook/twitter'}, 'upstream must be CCM'),
    ({'upstream': 'ftp://x'}, 'upstream must be CCM'),
    ({'dedupe_hours': 24}, 'dedupe_hours must be at least 48'),
    ({'max_age_days': 'seven'}, 'max_age_days must be a number'),
    ({'secret_file': '/x'}, 'exactly one of secret_env_file'),
    ({'secret_env_file': None}, 'exactly one of secret_env_file'),
    ({'colour': 'blue'}, 'unknown config key(s) colour'),
    ({'secret_env_file': '${NOT_SET_ANYWHERE_XYZ}/ccm.env'}, 'CREDENTIALS_DIRECTORY'),
    ({'stream': {'bearer_token_file': '/x', 'user_id': 'abc'}}, 'stream.user_id'),
    ({'stream': {'user_id': '1'}}, 'stream.bearer_token_file is required'),
    ({'stream': {'bearer_token_file': '/x', 'user_id': '1', 'backfill_minutes': 6}}, 'backfill_minutes'),
    ({'log_level': 'chatty'}, 'log_level'),
    ({'upstream_host': 'bad host/x'}, 'upstream_host must be a host name'),
])
def test_bad_config_names_the_fix(bridge_mod, tmp_path, values, message):
    with pytest.raises(bridge_mod.ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
        bridge_mod.load_config(_config_file(tmp_path, **values))


def test_credentials_directory_is_expanded(bridge_mod, tmp_path, monkeypatch):
    monkeypatch.setenv('CREDENTIALS_DIRECTORY', '/run/credentials/x.service')
    config = bridge_mod.load_config(_config_file(tmp_path, secret_env_file='${CREDENTIALS_DIRECTORY}/ccm.env'))
    assert config['secret_env_file'] == '/run/credentials/x.service/ccm.env'


def test_env_file_parsing(bridge_mod):
    values = bridge_mod.parse_env_file('# c\nexport A="x y"\nB=\'q\'\n  C = plain \nnot a line\nD=a=b\n')
    assert values == {'A': 'x y', 'B': 'q', 'C': 'plain', 'D': 'a=b'}


def test_secret_file_must_be_private(bridge_mod, tmp_path):
    path = tmp_path / 'secret'
    path.write_text('abc\n')
    path.chmod(0o644)
    with pytest.raises(bridge_mod.ConfigError, match='chmod 600'):
        bridge_mod.Secret(secret_file=str(path)).load()


def test_systemd_credential_may_be_group_readable_never_world(bridge_mod, tmp_path, monkeypatch):
    # systemd 256+ (Debian 13) hands LoadCredential= files over as 0440 root:<the service's group>.
    creds = tmp_path / 'credentials'
    creds.mkdir()
    path = creds / 'ccm.env'
    path.write_text('TWITTER_CONSUMER_SECRET=abcdefghijklmnopqrstuvwxyz012345\n')
    path.chmod(0o440)
    with pytest.raises(bridge_mod.ConfigError, match='chmod 600'):
        bridge_mod.Secret(env_file=str(path)).load()
    monkeypatch.setenv('CREDENTIALS_DIRECTORY', str(creds))
    secret = bridge_mod.Secret(env_file=str(path))
    secret.load()
    assert secret.get() == b'abcdefghijklmnopqrstuvwxyz012345'
    path.chmod(0o444)
    with pytest.raises(bridge_mod.ConfigError, match='chmod 600'):
        bridge_mod.Secret(env_file=str(path)).load()


def test_secret_missing_variable(bridge_mod, tmp_path):
    path = tmp_path / 'ccm.env'
    path.write_text('OTHER=1\n')
    path.chmod(0o600)
    with pytest.raises(bridge_mod.ConfigError, match='TWITTER_CONSUMER_SECRET is not set'):
        bridge_mod.Secret(env_file=str(path)).load()


def test_secret_is_re_read_when_the_file_changes(bridge_mod, tmp_path):
    env = write_env_file(str(tmp_path / 'ccm.env'))
    value = bridge_mod.Secret(env_file=env)
    value.load()
    before = value.sign('x')
    write_env_file(env, secret=SECRET + '-rotated')
    value._checked = 0  # pylint: disable=protected-access  # skip the once-a-second stat throttle
    assert value.sign('x') == sign('x', SECRET + '-rotated') != before


# -- the spool ----------------------------------------------------------------------------------------------------

def _units(bridge_mod, *dm_ids):
    units = []
    for dm_id in dm_ids:
        doc = xaa_body('dm.received', dm_id, 'text %s' % dm_id)
        units += bridge_mod.classify(encode(doc), doc)[0]
    return units


def test_dedupe_window(bridge_mod, tmp_path):
    store = bridge_mod.Store(str(tmp_path / 's'), dedupe_seconds=48 * 3600)
    store.start()
    try:
        first = store.submit(_units(bridge_mod, '1', '2'))
        assert (first.ok, first.accepted, first.duplicates) == (True, 2, 0)
        again = store.submit(_units(bridge_mod, '2', '3'))
        assert (again.accepted, again.duplicates) == (1, 1)
        # AAA delivery of the same DM for the same account: a duplicate.
        aaa = aaa_body('1', 'text 1')
        units, _skipped = bridge_mod.classify(encode(aaa), aaa)
        assert store.submit(units).duplicates == 1
        assert store.prune_seen(now=time.time() + 47 * 3600) == 0
        assert store.submit(_units(bridge_mod, '1')).duplicates == 1
        assert store.prune_seen(now=time.time() + 48 * 3600 + 60) == 3
        assert store.submit(_units(bridge_mod, '1')).accepted == 1
    finally:
        store.stop()
        store.close()


def test_concurrent_submissions_are_group_committed_and_ordered(bridge_mod, tmp_path):
    store = bridge_mod.Store(str(tmp_path / 's'), dedupe_seconds=48 * 3600)
    store.start()
    results = []
    try:
        threads = [threading.Thread(target=lambda i=i: results.append(store.submit(_units(bridge_mod, str(i)))))
                   for i in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(r.ok and r.accepted == 1 for r in results)
        assert store.batches < 200  # some commits carried several requests
        assert len(store.pending(limit=1000)) == 200
    finally:
        store.stop()
        store.close()


def test_spool_survives_a_restart_in_order(bridge_mod, tmp_path):
    directory = str(tmp_path / 's')
    store = bridge_mod.Store(directory, dedupe_seconds=48 * 3600)
    store.start()
    for dm_id in ('30', '10', '20'):
        store.submit(_units(bridge_mod, dm_id))
    store.stop()
    store.close()
    again = bridge_mod.Store(directory, dedupe_seconds=48 * 3600)
    again.start()
    try:
        rows = again.pending()
        ids = [json.loads(bytes(r[3]))['direct_message_events'][0]['id'] for r in rows]
        assert ids == ['30', '10', '20']
        assert again.submit(_units(bridge_mod, '10')).duplicates == 1  # dedupe keys survived too
    finally:
        again.stop()
        again.close()


def test_forwarder_drops_events_past_max_age_and_forwards_the_rest(bridge_mod, tmp_path, caplog):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    'tools'))
    from xemu.ccm import CcmServer  # pylint: disable=import-outside-toplevel
    env = write_env_file(str(tmp_path / 'ccm.env'))
    ccm = CcmServer(('127.0.0.1', 0), env, quiet=True)
    threading.Thread(target=ccm.serve_forever, daemon=True).start()
    config = bridge_mod.load_config(_config_file(tmp_path, listen_port=0, status_port=0,
                                                 upstream='http://127.0.0.1:%d' % ccm.server_address[1]))
    bridge = bridge_mod.Bridge(config)
    bridge.store.start()
    try:
        bridge.store.submit(_units(bridge_mod, 'old1', 'old2', 'new1'))
        eight_days = time.time() - 8 * 86400
        aged = bridge.store.writer_db.execute("UPDATE spool SET received = ? WHERE CAST(body AS TEXT) LIKE '%old%'",
                                              (eight_days,))
        assert aged.rowcount == 2
        bridge.secret.load()
        thread = threading.Thread(target=bridge._forward_loop, daemon=True)  # pylint: disable=protected-access
        thread.start()
        deadline = time.monotonic() + 10
        while bridge.store.depth()[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m['id'] for m in ccm.messages] == ['new1']
        counts = bridge.counters.snapshot()
        assert counts['dropped_max_age'] == 2 and counts['forwarded'] == 1
        assert 'did not take it within 7.0 days' in caplog.text
        assert SECRET not in caplog.text
    finally:
        bridge.stop_event.set()
        with bridge.wake:
            bridge.wake.notify_all()
        bridge.store.stop()
        bridge.store.close()
        ccm.shutdown()
        ccm.server_close()


def test_delivered_watermark_survives_a_restart_and_belongs_to_its_spool(bridge_mod, tmp_path):
    directory = str(tmp_path / 's')
    store = bridge_mod.Store(directory, dedupe_seconds=48 * 3600)
    store.start()
    for dm_id in ('1', '2', '3'):
        store.submit(_units(bridge_mod, dm_id))
    first_two = [r[0] for r in store.pending()][:2]
    store.done(first_two[-1])  # CCM took 1 and 2; then the process dies before compacting
    store.stop()
    store.close()
    again = bridge_mod.Store(directory, dedupe_seconds=48 * 3600)
    rows = again.pending()
    assert [json.loads(bytes(r[3]))['direct_message_events'][0]['id'] for r in rows] == ['3']
    assert again.depth()[0] == 1
    again.close()
    # A spool deleted and created again must not inherit the old watermark.
    os.unlink(os.path.join(directory, 'spool.sqlite3'))
    for extra in ('-wal', '-shm'):
        if os.path.exists(os.path.join(directory, 'spool.sqlite3' + extra)):
            os.unlink(os.path.join(directory, 'spool.sqlite3' + extra))
    fresh = bridge_mod.Store(directory, dedupe_seconds=48 * 3600)
    fresh.start()
    try:
        assert fresh.delivered.seq == 0
        fresh.submit(_units(bridge_mod, '9'))
        assert len(fresh.pending()) == 1
    finally:
        fresh.stop()
        fresh.close()


@pytest.mark.parametrize('doc', [
    {'data': {'event_type': 'dm.received', 'filter': 'x', 'payload': []}},
    {'data': {'event_type': 'dm.received', 'filter': {'user_id': 5}, 'payload': {'direct_message_events': [1, 'a']}}},
    {'data': {'event_type': 'dm.received', 'payload': {'direct_message_events': [{'id': 1}], 'users': []}}},
    {'data': {'event_type': 'dm.sent', 'filter': {}, 'payload': {'direct_message_events': [
        {'id': '1', 'message_create': 'x'}], 'users': {'1': 'not a user', '2': {'data': 'x'}}}}},
    {'data': {'event_type': 'dm.read', 'filter': 'x', 'payload': {'sender_id': '1', 'target': 'y'}}},
    {'data': {'event_type': 'dm.indicate_typing', 'filter': None, 'payload': {'direct_message_indicate_typing_events': 'x'}}},
    {'data': [None, 1, 'x', {'event_type': None}]},
    {'for_user_id': ACCOUNT, 'direct_message_events': [{'id': None}], 'users': 'x'},
    {'for_user_id': None, 'direct_message_events': []},
])
def test_odd_shapes_never_raise(bridge_mod, doc):
    units, skipped = bridge_mod.classify(encode(doc), doc)
    for unit in units:
        assert unit.body_for(list(range(len(unit.keys)))) is not None
    assert isinstance(skipped, dict)


def test_journal_priorities(bridge_mod):
    import logging  # pylint: disable=import-outside-toplevel
    formatter = bridge_mod._JournalFormatter('%(message)s')  # pylint: disable=protected-access
    record = logging.LogRecord('x', logging.WARNING, __file__, 1, 'CCM did not take event #%d', (3,), None)
    assert formatter.format(record) == '<4>CCM did not take event #3'


def test_command_line_fails_fast_with_the_fix_and_checks_config(tmp_path):
    import subprocess  # pylint: disable=import-outside-toplevel
    from bridge_helpers import BRIDGE  # pylint: disable=import-outside-toplevel
    write_env_file(str(tmp_path / 'ccm.env'))
    bad = _config_file(tmp_path, listen_host='0.0.0.0')
    proc = subprocess.run([sys.executable, BRIDGE, '--config', bad], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 2 and 'listen_host must be a loopback' in proc.stderr
    good = _config_file(tmp_path)
    proc = subprocess.run([sys.executable, BRIDGE, '--config', good, '--check-config'], capture_output=True,
                          text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout) == (0, 'config OK\n'), proc.stderr
    assert not os.path.exists(tmp_path / 'state')  # a check changes nothing
    os.chmod(tmp_path / 'ccm.env', 0o644)
    proc = subprocess.run([sys.executable, BRIDGE, '--config', good, '--check-config'], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2 and 'chmod 600' in proc.stderr and SECRET not in proc.stderr
