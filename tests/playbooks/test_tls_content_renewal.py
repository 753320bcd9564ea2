# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS from the inventory and its renewal (docs/awx.md, docs/renewal.md).

- tls_mode provided with the certificate and key as PEM content (an AWX credential, a vault-encrypted string): checked
  before anything is written, written with the key 0600, never shown, nginx reloaded when it changes.
- status.yml warns from ccm_twitter_tls_renew_days on, fails below ccm_twitter_tls_fail_days, and refuses thresholds
  in the wrong order.
- The renewal schedule (deploy.yml rerun from cron/AWX): a self-signed certificate inside the renewal window is
  renewed by a rerun, one outside it is not.
"""

import datetime
import os

from cryptography import x509
from xemu import pki


def _read(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return handle.read()


def _cert(path):
    with open(path, 'rb') as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _issue(stack, fqdn, days, name):
    """A certificate of the stack's CA for fqdn, valid for `days` days: (fullchain PEM, key PEM)."""
    ca = pki.CA(os.path.join(stack.state['pki_dir'], 'ca'))
    leaf = pki.issue_cert(ca, [fqdn], os.path.join(stack.dir, 'issued', name), days=days)
    return _read(leaf.fullchain_path), _read(leaf.key_path)


def _key_body_lines(key_pem):
    return [line for line in key_pem.splitlines() if line and not line.startswith('-----')]


def test_provided_content_and_status_thresholds(make_stack):
    stack = make_stack(sites=1)
    site = stack.state['sites'][0]
    dest = os.path.join(stack.dir, 'content-tls', 'sub')  # missing directories are created
    cert_path, key_path = os.path.join(dest, 'site.crt'), os.path.join(dest, 'site.key')
    stack.set_host_var('site00', 'ccm_twitter_tls_cert', cert_path)
    stack.set_host_var('site00', 'ccm_twitter_tls_key', key_path)

    # 20 days left: inside the renewal window (30), above the failure threshold (7).
    chain, key = _issue(stack, site['fqdn'], 20, 'twenty')
    stack.set_host_var('site00', 'ccm_twitter_tls_cert_content', chain)
    stack.set_host_var('site00', 'ccm_twitter_tls_key_content', key)

    # Check mode with a diff on a new host: nothing is written, the key is not shown.
    checked = stack.playbook('deploy.yml', '--check', '--diff')
    assert checked.rc == 0, checked.out
    assert not os.path.exists(dest)
    for line in _key_body_lines(key):
        assert line not in checked.out

    first = stack.playbook('deploy.yml', '--diff', '-v')
    assert first.rc == 0, first.out
    assert _read(cert_path) == chain.strip() + '\n'
    assert _read(key_path) == key.strip() + '\n'
    assert oct(os.stat(key_path).st_mode & 0o777) == '0o600'
    assert oct(os.stat(cert_path).st_mode & 0o777) == '0o644'
    for line in _key_body_lines(key):
        assert line not in first.out
    assert stack.hook_of(site, site['webhook_url'])['valid']

    again = stack.playbook('deploy.yml')
    assert again.rc == 0, again.out
    assert again.changed() == {'site00': 0}, again.out

    warn = stack.playbook('status.yml')
    assert warn.rc == 0, warn.out
    assert 'WARN  site00 %s' % site['fqdn'] in warn.out, warn.out
    assert 'cert_days_left=19' in warn.out, warn.out
    assert 'fewer than ccm_twitter_tls_renew_days=30: replace it' in warn.out, warn.out

    # A smaller renewal window: the same certificate is OK.
    ok = stack.playbook('status.yml', extra={'ccm_twitter_tls_renew_days': '15'})
    assert ok.rc == 0, ok.out
    assert 'OK    site00 %s' % site['fqdn'] in ok.out, ok.out

    # Thresholds in the wrong order are refused before anything is checked.
    wrong = stack.playbook('status.yml', extra={'ccm_twitter_tls_fail_days': '30'})
    assert wrong.rc != 0
    assert 'lower ccm_twitter_tls_fail_days or raise ccm_twitter_tls_renew_days' in wrong.out, wrong.out

    # A key that does not belong to the certificate fails before anything is written.
    other_key = _issue(stack, site['fqdn'], 20, 'other')[1]
    stack.set_host_var('site00', 'ccm_twitter_tls_key_content', other_key)
    mismatch = stack.playbook('deploy.yml')
    assert mismatch.rc != 0
    assert 'the key ccm_twitter_tls_key_content (for %s) does not belong to the certificate' % key_path in mismatch.out, \
        mismatch.out
    assert _read(key_path) == key.strip() + '\n'
    for line in _key_body_lines(other_key):
        assert line not in mismatch.out

    # 3 days left: deploy serves it (nginx reloaded on the changed content), status fails.
    chain3, key3 = _issue(stack, site['fqdn'], 3, 'three')
    stack.set_host_var('site00', 'ccm_twitter_tls_cert_content', chain3)
    stack.set_host_var('site00', 'ccm_twitter_tls_key_content', key3)
    replaced = stack.playbook('deploy.yml')
    assert replaced.rc == 0, replaced.out
    assert replaced.changed()['site00'] >= 2
    failing = stack.playbook('status.yml')
    assert failing.rc != 0
    assert 'FAIL  site00 %s' % site['fqdn'] in failing.out, failing.out
    assert 'cert_days_left=2' in failing.out
    assert 'fewer than ccm_twitter_tls_fail_days=7' in failing.out, failing.out
    # The former name of the failure threshold still applies.
    legacy = stack.playbook('status.yml', extra={'ccm_status_min_cert_days': '1'})
    assert legacy.rc == 0, legacy.out


def test_selfsigned_renewed_by_scheduled_rerun(make_stack):
    stack = make_stack(sites=1)
    # The CRC preflight and registration need a certificate X trusts: not the subject here.
    stack.set_host_var('site00', 'ccm_twitter_tls_mode', 'selfsigned')
    stack.set_host_var('site00', 'ccm_twitter_register', False)
    stack.set_host_var('site00', 'ccm_twitter_selfsigned_days', 20)
    stack.set_host_var('site00', 'ccm_twitter_tls_cert', '')  # the role's own paths under ccm_twitter_tls_dir
    stack.set_host_var('site00', 'ccm_twitter_tls_key', '')
    site = stack.state['sites'][0]
    cert_path = os.path.join(stack.dir, 'tls', site['fqdn'] + '.crt')

    first = stack.playbook('deploy.yml')
    assert first.rc == 0, first.out
    short = _cert(cert_path)
    left = short.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert 18 <= left.days <= 21

    # Fewer than ccm_twitter_tls_renew_days (30) left: the scheduled rerun renews it.
    stack.set_host_var('site00', 'ccm_twitter_selfsigned_days', 90)
    renewed_run = stack.playbook('deploy.yml')
    assert renewed_run.rc == 0, renewed_run.out
    renewed = _cert(cert_path)
    assert renewed.serial_number != short.serial_number
    assert (renewed.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days >= 88

    # 90 days left, outside the window: the next rerun leaves it alone.
    quiet = stack.playbook('deploy.yml')
    assert quiet.rc == 0, quiet.out
    assert quiet.changed() == {'site00': 0}, quiet.out
    assert _cert(cert_path).serial_number == renewed.serial_number

    # A window wider than the certificate's life puts it inside again: renewed.
    wide = stack.playbook('deploy.yml', extra={'ccm_twitter_tls_renew_days': '100'})
    assert wide.rc == 0, wide.out
    assert _cert(cert_path).serial_number != renewed.serial_number
