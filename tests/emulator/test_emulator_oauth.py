"""OAuth 1.0a verification (oauthlib server side), bearer tokens and /oauth2/token."""

import base64
import time
from urllib.parse import quote, unquote

import requests
from requests_oauthlib import OAuth1

from emulator_helpers import V1
from xemu.testing import BearerAuth

VERIFY = '/1.1/account/verify_credentials.json'


def _oauth(emu, username=None, **kwargs):
    app, user = emu.app(), emu.user(username)
    return OAuth1(app['consumer_key'], app['consumer_secret'], user['access_token'], user['access_secret'], **kwargs)


def _errors(resp):
    return resp.json()['errors']


def test_valid_signature_with_query_params(emu, http):
    resp = http.get(emu.url + VERIFY, params={'include_entities': 'false', 'skip_status': 'true'}, auth=_oauth(emu))
    assert resp.status_code == 200, resp.text


def test_tampered_signature_is_32(emu, http):
    request = http.prepare_request(requests.Request('GET', emu.url + VERIFY, auth=_oauth(emu)))
    header = request.headers['Authorization']
    header = header.decode() if isinstance(header, bytes) else header
    sig = header.split('oauth_signature="')[1].split('"')[0]
    forged = unquote(sig)
    forged = ('A' if forged[0] != 'A' else 'B') + forged[1:]
    request.headers['Authorization'] = header.replace(sig, quote(forged, safe=''))
    resp = http.send(request)
    assert resp.status_code == 401
    assert _errors(resp) == [{'code': 32, 'message': 'Could not authenticate you.'}]


def test_query_changed_after_signing_is_32(emu, http):
    request = http.prepare_request(requests.Request(
        'GET', emu.url + V1 + '/production/webhooks.json', auth=_oauth(emu)))
    request.url += '?extra=1'
    resp = http.send(request)
    assert resp.status_code == 401 and _errors(resp)[0]['code'] == 32


def test_wrong_secret_is_32(emu, http):
    app, user = emu.app(), emu.user()
    auth = OAuth1(app['consumer_key'], app['consumer_secret'] + 'x', user['access_token'], user['access_secret'])
    resp = http.get(emu.url + VERIFY, auth=auth)
    assert resp.status_code == 401 and _errors(resp)[0]['code'] == 32


def test_stale_timestamp_is_135(emu, http):
    resp = http.get(emu.url + VERIFY, auth=_oauth(emu, timestamp=str(int(time.time()) - 3600)))
    assert resp.status_code == 401
    assert _errors(resp) == [{'code': 135, 'message': 'Timestamp out of bounds.'}]
    # Same thing from the server side: its clock runs 20 minutes ahead.
    emu.config(clock_offset=1200)
    resp = http.get(emu.url + VERIFY, auth=_oauth(emu))
    assert _errors(resp)[0]['code'] == 135
    emu.config(clock_offset=0)
    assert http.get(emu.url + VERIFY, auth=_oauth(emu)).status_code == 200


def test_unknown_token_is_89(emu, http):
    app = emu.app()
    auth = OAuth1(app['consumer_key'], app['consumer_secret'], '1111111111111111111-RevokedTokenRevokedTokenRevoked',
                  'RevokedSecretRevokedSecretRevokedSecretRevoked')
    resp = http.get(emu.url + VERIFY, auth=auth)
    assert resp.status_code == 401
    assert _errors(resp) == [{'code': 89, 'message': 'Invalid or expired token.'}]


def test_nonce_replay_is_rejected(emu, http):
    auth = _oauth(emu, nonce='fixednonce0123456789abcdefghijklmnopqrstu', timestamp=str(int(time.time())))
    assert http.get(emu.url + VERIFY, auth=auth).status_code == 200
    resp = http.get(emu.url + VERIFY, auth=auth)
    assert resp.status_code == 401 and _errors(resp)[0]['code'] == 32
    log = emu.requests()['requests']
    assert log[-1]['auth_error'] == 'nonce_replay'


def test_v2_endpoints_use_the_v2_401_body(emu, http):
    app = emu.app()
    auth = OAuth1(app['consumer_key'], app['consumer_secret'], emu.user()['access_token'], 'wrong-secret-wrong-secret')
    resp = http.get(emu.url + '/2/users/me', auth=auth)
    assert resp.status_code == 401
    assert resp.json() == {'title': 'Unauthorized', 'type': 'about:blank', 'status': 401, 'detail': 'Unauthorized'}
    resp = http.get(emu.url + '/2/webhooks', auth=BearerAuth('AAAAAAAAAAAAAAAAAAAAAnotarealtoken'))
    assert resp.status_code == 401 and resp.json()['title'] == 'Unauthorized'


def test_bearer_errors_v1(emu, http):
    resp = http.get(emu.url + V1 + '/webhooks.json', auth=BearerAuth('AAAAAAAAAAAAAAAAAAAAAnotarealtoken'))
    assert resp.status_code == 401 and _errors(resp)[0]['code'] == 89
    resp = http.get(emu.url + V1 + '/webhooks.json')
    assert resp.status_code == 400 and _errors(resp)[0]['code'] == 215


def test_bearer_is_accepted_encoded_or_decoded(emu, http):
    token = emu.app()['bearer_token']
    for value in (token, unquote(token)):
        assert http.get(emu.url + V1 + '/webhooks.json', auth=BearerAuth(value)).status_code == 200


def test_oauth2_token(emu, http):
    app = emu.app()
    basic = base64.b64encode(('%s:%s' % (quote(app['consumer_key']), quote(app['consumer_secret']))).encode()).decode()
    headers = {'Authorization': 'Basic ' + basic,
               'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8'}
    first = http.post(emu.url + '/oauth2/token', data='grant_type=client_credentials', headers=headers)
    second = http.post(emu.url + '/oauth2/token', data='grant_type=client_credentials', headers=headers)
    assert first.status_code == 200
    assert first.json() == {'token_type': 'bearer', 'access_token': app['bearer_token']} == second.json()
    # requests' own basic auth works too.
    resp = http.post(emu.url + '/oauth2/token', data={'grant_type': 'client_credentials'},
                     auth=(app['consumer_key'], app['consumer_secret']))
    assert resp.status_code == 200
    bad = http.post(emu.url + '/oauth2/token', data={'grant_type': 'client_credentials'},
                    auth=(app['consumer_key'], 'not-the-secret'))
    assert bad.status_code == 403
    assert bad.json() == {'errors': [{'code': 99, 'label': 'authenticity_token_error',
                                      'message': 'Unable to verify your credentials'}]}
    no_grant = http.post(emu.url + '/oauth2/token', auth=(app['consumer_key'], app['consumer_secret']))
    assert no_grant.status_code == 403 and no_grant.json()['errors'][0]['code'] == 99
