# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container-host tools without booting anything: the stage fails loudly where containers cannot boot, the
apt proxy forwards only what it should, the inputs are checked, the root file system recipe is keyed."""

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NSPAWN = os.path.join(TOP, 'tools', 'nspawn')
sys.path.insert(0, NSPAWN)

import hosts  # noqa: E402  pylint: disable=wrong-import-position,import-error
import rootfs  # noqa: E402  pylint: disable=wrong-import-position,import-error


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_check_fails_without_systemd_nspawn():
    env = dict(os.environ, PATH='/nonexistent')
    proc = subprocess.run([sys.executable, os.path.join(NSPAWN, 'hosts.py'), 'check'], capture_output=True,
                          text=True, env=env, check=False)
    assert proc.returncode == 2
    assert 'cannot boot container hosts' in proc.stderr
    assert 'systemd-nspawn is missing' in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to switch to an unprivileged user')
def test_hosts_stage_fails_for_an_unprivileged_user():
    """scripts/hosts.sh must fail (not pass silently) where containers cannot be booted, and say why."""
    proc = subprocess.run(['runuser', '-u', 'nobody', '--', os.path.join(TOP, 'scripts', 'hosts.sh')],
                          capture_output=True, text=True, check=False, cwd='/tmp', timeout=120,
                          env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': '/tmp'})
    assert proc.returncode != 0
    assert 'needs root' in proc.stderr
    assert 'hosts stage FAILED' in proc.stderr


def test_parse_hosts_rejects_bad_specs():
    parsed = hosts.parse_hosts(['ccm-eu:bookworm:Chat.EU.test', 'ccm-apac:trixie:c.test:v11'], ['ccm-eu:n.test'])
    assert parsed[0]['fqdn'] == 'chat.eu.test' and parsed[0]['api_version'] == '2'
    assert parsed[0]['extra_fqdns'] == ['n.test']
    assert parsed[1]['api_version'] == '1.1'
    for bad in (['ccm-eu:bookworm'], ['CCM:bookworm:a.test'], ['ccm-eu:bookworm:a.test:v3']):
        with pytest.raises(SystemExit):
            hosts.parse_hosts(bad, [])
    with pytest.raises(SystemExit):
        hosts.parse_hosts(['ccm-eu:bookworm:a.test'], ['ccm-us:b.test'])


def test_recipe_hash_follows_the_recipe(monkeypatch):
    before = rootfs.recipe_hash('bookworm')
    assert before == rootfs.recipe_hash('bookworm')
    assert before != rootfs.recipe_hash('trixie')
    monkeypatch.setattr(rootfs, 'PACKAGES', rootfs.PACKAGES + ['nginx'])
    assert rootfs.recipe_hash('bookworm') != before
    monkeypatch.setenv('CCM_HOSTS_MIRROR', 'http://mirror.example.test/debian')
    assert rootfs.debian_mirror() == 'http://mirror.example.test/debian'


class _Upstream(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        return

    def do_GET(self):  # noqa: N802
        body = ('served %s' % self.path).encode()
        self.send_response(404 if self.path.startswith('/missing') else 200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_proxy_forwards_only_allowed_hosts():
    upstream = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(NSPAWN, 'proxy.py'), '--listen', '127.0.0.1:%d' % port,
                             '--allow', 'http://127.0.0.1'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({'http': 'http://127.0.0.1:%d' % port}))
        url = 'http://127.0.0.1:%d/debian/dists/bookworm/InRelease' % upstream.server_address[1]
        with opener.open(url, timeout=10) as response:
            assert response.read() == b'served /debian/dists/bookworm/InRelease'
        # An upstream 404 is an answer apt needs to see (a missing by-hash file), not a proxy failure.
        with pytest.raises(urllib.error.HTTPError) as missing:
            opener.open('http://127.0.0.1:%d/missing/Packages.xz' % upstream.server_address[1], timeout=10)
        assert missing.value.code == 404 and missing.value.read() == b'served /missing/Packages.xz'
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open('http://localhost:%d/elsewhere' % upstream.server_address[1], timeout=10)
        assert refused.value.code == 403
        with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
            sock.sendall(b'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
            assert sock.recv(100).startswith(b'HTTP/1.0 405')
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.shutdown()


def test_https_mirror_sources_become_plain_http_for_the_proxy(tmp_path):
    sources = tmp_path / 'etc' / 'apt' / 'sources.list'
    sources.parent.mkdir(parents=True)
    sources.write_text('deb https://deb.debian.org/debian bookworm main\n')
    hosts._plain_http_sources(str(tmp_path))  # pylint: disable=protected-access
    assert sources.read_text() == 'deb http://deb.debian.org/debian bookworm main\n'


def test_nspawn_keeps_the_unit_only_without_a_systemd_of_its_own(monkeypatch):
    monkeypatch.setattr(os.path, 'isdir', lambda path: path == '/run/systemd/system')
    assert '--keep-unit' not in hosts.nspawn_flags()
    monkeypatch.setattr(os.path, 'isdir', lambda path: False)
    assert '--keep-unit' in hosts.nspawn_flags()


def test_failure_digest_ends_with_the_reasons(tmp_path):
    log = tmp_path / 'molecule.log'
    log.write_text('TASK [Boot every host]\nok: [a]\nTASK [Run deploy]\n'
                   'fatal: [localhost]: FAILED! => {"msg": "apt-get update failed"}\nPLAY RECAP\n')
    extra = tmp_path / 'up.txt'
    extra.write_text('hosts up, attempt 2: RuntimeError: no veth\n')
    proc = subprocess.run([sys.executable, os.path.join(TOP, 'scripts', 'failure_digest.py'), str(log), str(extra)],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[1:4] == ['TASK [Run deploy]', 'fatal: [localhost]: FAILED! => {"msg": "apt-get update failed"}',
                          'hosts up, attempt 2: RuntimeError: no veth']
    assert 'Boot every host' not in proc.stdout
