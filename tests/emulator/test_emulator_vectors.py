"""Known-answer tests: the documented OAuth 1.0a and CRC vectors (x-api.md 4.2, 6.7), in process."""

import time

import requests

from xemu.crc import sign
from xemu.oauth import verify_oauth1
from xemu.seed import normalize_seed
from xemu.state import State
from xemu.testing import Emulator

DOC_HEADER = (
    'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
    'oauth_signature="%s", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", '
    'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"')
DOC_BODY = b'status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21'


def _doc_state():
    seed = normalize_seed({
        'apps': [{'consumer_key': 'xvz1evFS4wEEPTGEFPHBog', 'consumer_secret': 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
                  'bearer_token': 'AAAAAAAAAAAAAAAAAAAAAdocbearer'}],
        'users': [{'id': '370773112', 'username': 'docuser', 'access_token': '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
                   'access_secret': 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE'}],
    })
    state = State(seed)
    state.clock_offset = 1318622958 - time.time()  # travel back to the documented timestamp
    return state


def _verify(state, host, signature):
    headers = {'Authorization': DOC_HEADER % signature, 'Content-Type': 'application/x-www-form-urlencoded'}
    url = 'https://%s/1.1/statuses/update.json?include_entities=true' % host
    return verify_oauth1(state, 'POST', url, headers, DOC_BODY)


def test_documented_oauth_signature_vector():
    assert _verify(_doc_state(), 'api.x.com', 'Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D').error is None
    # The host is part of the signed base string.
    assert _verify(_doc_state(), 'api.twitter.com', 'hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D').error is None
    assert _verify(_doc_state(), 'api.twitter.com', 'Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D').error == 'bad_signature'


def test_documented_vector_is_stale_today():
    state = _doc_state()
    state.clock_offset = 0
    assert _verify(state, 'api.x.com', 'Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D').error == 'timestamp'


def test_crc_response_token_vector():
    assert sign('kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw', 'foo') == 'sha256=KGwPHQJPaVoxk5RWMCZXvu7ppQqe20ugPzzV9ed1O3o='


def test_plain_http_emulator_and_ready_file(tmp_path):
    with Emulator(workdir=tmp_path) as emu:
        assert emu.url.startswith('http://127.0.0.1:')
        session = requests.Session()
        session.trust_env = False
        resp = session.get(emu.url + '/1.1/account/verify_credentials.json', auth=emu.oauth1('bob_example'))
        assert resp.status_code == 200 and resp.json()['screen_name'] == 'bob_example'
        assert emu.control('GET', 'health')['status'] == 'ok'


def test_default_seed_secrets_are_long_and_distinct():
    seed = Emulator().seed
    values = []
    for app in seed['apps']:
        values += [app['consumer_key'], app['consumer_secret'], app['bearer_token']]
    for user in seed['users']:
        values += [user['access_token'], user['access_secret']]
    values += [token['access_token'] for token in seed['oauth2_user_tokens']]
    assert len(seed['oauth2_user_tokens']) == 2
    assert all(len(v) >= 40 for v in values)
    assert len(set(values)) == len(values)
