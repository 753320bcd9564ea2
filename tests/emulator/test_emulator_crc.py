"""The CRC the emulator performs: real HTTPS with SNI, CA bundle, resolve map, no redirects, timeout."""

import shutil

import pytest

from emulator_helpers import CCM_URL, HOOK_HOST, HOOK_URL, V1
from xemu.crc import MSG_CONNECT, MSG_LATENCY, MSG_NON200, MSG_TOKEN
from xemu.testing import ScriptedWebhook, issue_cert, make_ca


@pytest.fixture
def hook(emu, pki):
    """A scripted webhook at https://hook.example.test/ (resolved to its loopback port)."""
    with ScriptedWebhook(emu.app()['consumer_secret'], pki['hook']) as server:
        emu.config(add_resolve={'%s:443' % HOOK_HOST: '127.0.0.1:%d' % server.port})
        yield server


def _register_v1(emu, http, url=HOOK_URL):
    return http.post(emu.url + V1 + '/production/webhooks.json', params={'url': url}, auth=emu.oauth1())


def _v1_message(resp):
    assert resp.status_code == 400, resp.text
    error = resp.json()['errors'][0]
    assert error['code'] == 214
    return error['message']


def test_crc_request_is_signed_and_carries_token_and_nonce(emu, http, hook):
    assert _register_v1(emu, http).status_code == 200
    assert len(hook.hits) == 1
    path = hook.hits[0]
    assert path.startswith('/webhooks/twitter?crc_token=') and '&nonce=' in path


def test_crc_reaches_the_ccm_stand_in_with_signature_header(emu, http, ccm):
    assert _register_v1(emu, http, url=CCM_URL).status_code == 200
    crc_requests = [r for r in ccm.requests() if r['method'] == 'GET']
    assert crc_requests[-1]['signature_valid'] is True
    assert crc_requests[-1]['headers']['Host'] == 'ccm.example.test'


@pytest.mark.parametrize('mode,message', [
    ('wrong_token', MSG_TOKEN),
    ('not_json', MSG_TOKEN),
    ('status', MSG_NON200),
    ('redirect', MSG_NON200),
    ('slow', MSG_LATENCY),
])
def test_crc_failures_block_registration(emu, http, hook, mode, message):
    hook.mode = mode
    hook.delay = 1.0  # crc_timeout is 0.5 s in these tests
    assert _v1_message(_register_v1(emu, http)) == message
    assert emu.state()['webhooks'] == []
    resp = http.post(emu.url + '/2/webhooks', json={'url': HOOK_URL}, auth=emu.bearer())
    assert resp.status_code == 400
    assert resp.json()['errors'][0]['message'] == 'CrcValidationFailed: ' + message


def test_redirect_is_not_followed(emu, http, hook):
    hook.mode = 'redirect'
    _register_v1(emu, http)
    assert len(hook.hits) == 1


def test_unreachable_and_untrusted_endpoints_fail_to_connect(emu, http, hook, tmp_path):
    assert _v1_message(_register_v1(emu, http, url='https://unknown-host.example.test/hook')) == MSG_CONNECT
    # A certificate from another CA: TLS verification fails.
    other_ca = make_ca(tmp_path / 'other')
    emu.config(crc_ca_bundle=other_ca.cert_path)
    assert _v1_message(_register_v1(emu, http)) == MSG_CONNECT
    # The certificate does not name the host (SNI/hostname check): also a failure.
    emu.config(crc_ca_bundle=None)
    assert _v1_message(_register_v1(emu, http)) == MSG_CONNECT


def test_ca_bundle_file_is_reread_on_every_crc(emu, http, hook, pki, tmp_path):
    bundle = tmp_path / 'bundle.pem'
    other = make_ca(tmp_path / 'other')
    shutil.copy(other.cert_path, bundle)
    emu.config(crc_ca_bundle=str(bundle))
    assert _v1_message(_register_v1(emu, http)) == MSG_CONNECT
    shutil.copy(pki['ca'].cert_path, bundle)
    assert _register_v1(emu, http).status_code == 200


def test_hostname_must_match_certificate(emu, http, pki, tmp_path):
    wrong = issue_cert(pki['ca'], ['somebody-else.example.test'], tmp_path)
    with ScriptedWebhook(emu.app()['consumer_secret'], wrong) as server:
        emu.config(add_resolve={'%s:443' % HOOK_HOST: '127.0.0.1:%d' % server.port})
        assert _v1_message(_register_v1(emu, http)) == MSG_CONNECT


def test_failed_put_marks_invalid_and_good_put_reenables(emu, http, hook):
    created = _register_v1(emu, http).json()
    hook.mode = 'status'
    resp = http.put(emu.url + V1 + '/production/webhooks/%s.json' % created['id'], auth=emu.oauth1())
    assert _v1_message(resp) == MSG_NON200
    listing = http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.bearer()).json()
    assert listing[0]['valid'] is False
    hook.mode = 'ok'
    resp = http.put(emu.url + V1 + '/production/webhooks/%s.json' % created['id'], auth=emu.bearer())
    assert resp.status_code == 204
    assert http.get(emu.url + V1 + '/production/webhooks.json', auth=emu.bearer()).json()[0]['valid'] is True


def test_invalidate_and_periodic_crc_controls(emu, http, hook):
    created = _register_v1(emu, http).json()
    assert emu.invalidate(created['id']) == {'id': created['id'], 'valid': False}
    all_envs = http.get(emu.url + V1 + '/webhooks.json', auth=emu.bearer()).json()
    assert all_envs['environments'][0]['webhooks'][0]['valid'] is False
    result = emu.crc(created['id'])
    assert result['valid'] is True and result['error'] is None
    hook.mode = 'wrong_token'
    result = emu.crc(created['id'])
    assert result['valid'] is False and result['error']['message'] == MSG_TOKEN
