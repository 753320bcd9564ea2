"""Fixtures for the emulator's own tests: one emulator and one CCM stand-in per session (per xdist worker),
reset before every test, plus a test CA with certificates for the fake public host names."""

import os
import sys

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from xemu.testing import CcmStandIn, Emulator, issue_cert, make_ca  # noqa: E402  pylint: disable=wrong-import-position

from emulator_helpers import AAA_PINNED_END, CCM_HOST, HOOK_HOST  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp('pki')
    ca = make_ca(base)
    return {'ca': ca, 'ccm': issue_cert(ca, [CCM_HOST, '127.0.0.1'], base), 'hook': issue_cert(ca, [HOOK_HOST], base),
            'dir': base}


@pytest.fixture(scope='session')
def env_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('ccm') / 'ccm.env'
    seed_app = Emulator().app()
    path.write_text('# written by the role\nTWITTER_CONSUMER_SECRET=%s\n' % seed_app['consumer_secret'],
                    encoding='utf-8')
    return path


@pytest.fixture(scope='session')
def ccm(pki, env_file, tmp_path_factory):
    with CcmStandIn(env_file, tls=pki['ccm'], ca_bundle=pki['ca'].cert_path, workdir=tmp_path_factory.mktemp('ccmrun')) as server:
        yield server


@pytest.fixture(scope='session')
def emu_server(pki, ccm, tmp_path_factory):
    # A short CRC timeout keeps the "slow webhook" tests fast.
    resolve = {'%s:443' % CCM_HOST: '127.0.0.1:%d' % ccm.port}
    with Emulator(tls=True, crc_ca_bundle=pki['ca'].cert_path, resolve=resolve, settings={'crc_timeout': 0.5},
                  workdir=tmp_path_factory.mktemp('emurun')) as server:
        server.base_resolve = resolve
        yield server


@pytest.fixture
def emu(emu_server, ccm, pki):
    """The module's emulator, reset to its seed and config before each test."""
    emu_server.reset()
    emu_server.clear_faults()
    # The end of AAA is pinned far ahead so that the AAA tests do not depend on today's date (the XAA tests that
    # are about the end of AAA move it or the emulator clock themselves).
    emu_server.config(resolve=emu_server.base_resolve, crc_ca_bundle=pki['ca'].cert_path, clock_offset=0,
                      date_offset=0, aaa_end=AAA_PINNED_END)
    ccm.clear()
    return emu_server


@pytest.fixture
def http(emu):
    return emu.session()
