# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every community.crypto module the role and the playbooks use, with the community.crypto of
CCM_TEST_COLLECTIONS_PATH (scripts/crypto-floor.sh points it at the oldest release galaxy.yml accepts):
a provided certificate (x509_certificate_info, openssl_privatekey_info), a self-signed one (openssl_privatekey,
openssl_csr_pipe, x509_certificate), both unchanged on a rerun, and status.yml reading the served certificate
(get_certificate with asn1_base64). ACME (acme_account, acme_certificate) needs pebble: the molecule scenario."""

import os
import re

import pytest


@pytest.mark.skipif(not os.environ.get('CCM_TEST_COLLECTIONS_PATH'), reason='run by scripts/crypto-floor.sh')
def test_certificates_and_status_at_the_floor(make_stack):
    stack = make_stack(sites=2)
    sites = stack.state['sites']
    # site01: a self-signed certificate made by the role; not registered (X trusts only the local CA here).
    stack.set_host_var('site01', 'ccm_twitter_tls_mode', 'selfsigned')
    stack.set_host_var('site01', 'ccm_twitter_register', False)
    stack.set_host_var('site01', 'ccm_twitter_tls_cert', '')  # the role's own paths, not the stack's CA-issued files
    stack.set_host_var('site01', 'ccm_twitter_tls_key', '')

    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert first.changed()['site00'] > 0 and first.changed()['site01'] > 0, first.out
    assert stack.hook_of(sites[0], sites[0]['webhook_url'])['valid']
    cert = os.path.join(stack.dir, 'tls', sites[1]['fqdn'] + '.crt')
    key = os.path.join(stack.dir, 'tls', sites[1]['fqdn'] + '.key')
    with open(cert, 'r', encoding='utf-8') as handle:
        assert handle.read().startswith('-----BEGIN CERTIFICATE-----'), cert
    assert oct(os.stat(key).st_mode & 0o777) == '0o600', key

    again = stack.playbook('deploy.yml')
    assert again.rc == 0 and again.changed() == {'site00': 0, 'site01': 0}, again.out

    status = stack.playbook('status.yml', '--limit', 'site00')
    assert status.rc == 0, status.out
    days = re.search(r'"OK    site00 .* cert_days_left=(\d+)', status.out)
    assert days and int(days.group(1)) > 0, status.out
