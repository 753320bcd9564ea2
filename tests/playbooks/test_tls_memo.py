# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A provided certificate is checked once, and again whenever it changes (issue 15).

The vhost records the SHA-1 of the certificate and key files it was checked with and the certificate's expiry
(templates/vhost.conf.j2, "ccm_twitter tls memo"); the look at the host reads their SHA-1s. A rerun reads the
certificate and key with community.crypto only when a file changed or the expiry is within ccm_twitter_tls_renew_days.
These tests prove the memo saves the reads on a converged site and never lets a changed or bad certificate through:
a renewed certificate in place is checked and then served (nginx reloaded), a key that does not fit still fails
before anything changes, and a certificate near its expiry is checked, and warned about, on every run.
"""

import hashlib
import os
import re
import socket
import ssl

from cryptography import x509
from xemu import pki

READ_TASK = 'TASK [hybridchat.ccm.ccm_twitter : Read the provided certificate]'
MEMO_RE = re.compile(r'^# ccm_twitter tls memo: cert=([0-9a-f]{40}) key=([0-9a-f]{40}) not_after=([0-9]{14}Z)$', re.M)


def _sha1(path):
    with open(path, 'rb') as handle:
        return hashlib.sha1(handle.read()).hexdigest()


def _memo(stack, site):
    path = os.path.join(stack.state['nginx']['vhost_dir'], 'ccm-twitter-%s.conf' % site['fqdn'])
    with open(path, 'r', encoding='utf-8') as handle:
        found = MEMO_RE.findall(handle.read())
    assert len(found) == 1, found
    return found[0]


def _paths(stack, site):
    base = os.path.join(stack.state['pki_dir'], site['fqdn'])
    return os.path.join(base, 'fullchain.pem'), os.path.join(base, 'key.pem')


def _served_serial(stack, site):
    """The serial of the certificate nginx serves for the site now (SNI: the site's FQDN)."""
    context = ssl.create_default_context(cafile=stack.state['ca_cert'])
    with socket.create_connection(('127.0.0.1', stack.state['nginx']['https_port']), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=site['fqdn']) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def _issue(stack, site, days, name):
    ca = pki.CA(os.path.join(stack.state['pki_dir'], 'ca'))
    leaf = pki.issue_cert(ca, [site['fqdn']], os.path.join(stack.dir, 'issued', name), days=days)
    with open(leaf.fullchain_path, 'rb') as handle:
        chain = handle.read()
    with open(leaf.key_path, 'rb') as handle:
        key = handle.read()
    return chain, key, x509.load_pem_x509_certificate(chain)


def _not_after(cert):
    return cert.not_valid_after_utc.strftime('%Y%m%d%H%M%SZ')


def _rerun_reads_nothing(stack):
    """A converged rerun: nothing changes and neither file is read again."""
    rerun = stack.playbook('deploy.yml')
    assert rerun.rc == 0, rerun.out
    assert rerun.changed() == {'site00': 0}, rerun.out
    assert READ_TASK not in rerun.out, rerun.out


def _write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)


def test_checked_once_then_again_when_a_file_changes(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    cert_path, key_path = _paths(stack, site)

    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    assert READ_TASK in first.out
    with open(cert_path, 'rb') as handle:
        not_after = _not_after(x509.load_pem_x509_certificate(handle.read()))
    assert _memo(stack, site) == (_sha1(cert_path), _sha1(key_path), not_after)
    _rerun_reads_nothing(stack)

    # The certificate is renewed in place (what certbot or an administrator does): nginx still serves the old one
    # until a run checks the new one, rewrites the vhost's record of it and reloads nginx.
    old_serial = _served_serial(stack, site)
    chain, key, renewed = _issue(stack, site, 90, 'renewed')
    _write(cert_path, chain)
    _write(key_path, key)
    assert _served_serial(stack, site) == old_serial
    renewal = stack.playbook('deploy.yml')
    assert renewal.rc == 0, renewal.out
    assert READ_TASK in renewal.out, renewal.out
    assert renewal.changed()['site00'] >= 1, renewal.out
    assert _served_serial(stack, site) == renewed.serial_number != old_serial
    assert _memo(stack, site) == (_sha1(cert_path), _sha1(key_path), _not_after(renewed))
    _rerun_reads_nothing(stack)

    # A key that does not belong to the certificate is still refused before anything changes, memo or not.
    vhost_memo = _memo(stack, site)
    _other_chain, other_key, _other = _issue(stack, site, 90, 'other')
    _write(key_path, other_key)
    refused = stack.playbook('deploy.yml')
    assert refused.rc != 0, refused.out
    assert 'does not belong to the certificate' in refused.out, refused.out
    assert _memo(stack, site) == vhost_memo
    assert _served_serial(stack, site) == renewed.serial_number


def test_near_expiry_is_checked_and_warned_on_every_run(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    cert_path, key_path = _paths(stack, site)
    chain, key, _soon = _issue(stack, site, 20, 'soon')  # inside the default renewal window of 30 days
    _write(cert_path, chain)
    _write(key_path, key)

    for run in range(2):
        result = stack.playbook('deploy.yml')
        assert result.rc == 0, result.out
        assert READ_TASK in result.out, (run, result.out)
        assert 'in fewer than 30 days: renew it' in result.out, (run, result.out)
    assert result.changed() == {'site00': 0}, result.out

    # With a renewal window shorter than the days left, the memo holds again.
    stack.set_host_var('site00', 'ccm_twitter_tls_renew_days', 10)
    quiet = stack.playbook('deploy.yml')
    assert quiet.rc == 0, quiet.out
    assert READ_TASK not in quiet.out, quiet.out
    assert 'renew it' not in quiet.out, quiet.out
