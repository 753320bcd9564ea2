# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small forwarding HTTP proxy for apt inside the container hosts (standard library only).

    python3 tools/nspawn/proxy.py --listen 10.213.7.1:3142 [--listen ...] --allow deb.debian.org [--allow ...]

Listens only on the given addresses (the host ends of the containers' veth pairs), forwards plain-HTTP GET and
HEAD requests for the allowed hosts and refuses everything else (no CONNECT, no other hosts). One request per
connection; apt copes with that. `--allow https://HOST` fetches that host over HTTPS (a mirror that is reachable
only over HTTPS; apt inside still speaks plain HTTP to this proxy). Upstream requests honour this machine's
http_proxy/https_proxy/no_proxy, as debootstrap did when it built the root file system.
"""

import argparse
import http.client
import urllib.error
import urllib.request
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FORWARDED_REQUEST_HEADERS = ('user-agent', 'range', 'if-range', 'if-modified-since', 'if-none-match', 'accept',
                             'cache-control')
FORWARDED_RESPONSE_HEADERS = ('content-type', 'content-length', 'last-modified', 'etag', 'date', 'content-range',
                              'accept-ranges', 'cache-control', 'expires', 'location')


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'
    server_version = 'ccm-hosts-proxy'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.verbose:
            sys.stderr.write('%s %s\n' % (self.client_address[0], format % args))

    def do_CONNECT(self):  # noqa: N802
        self.send_error(405, 'CONNECT is not offered')

    def do_POST(self):  # noqa: N802
        self.send_error(405, 'only GET and HEAD')

    def do_HEAD(self):  # noqa: N802
        self.forward()

    def do_GET(self):  # noqa: N802
        self.forward()

    def forward(self):
        parts = urlsplit(self.path)
        if parts.scheme != 'http' or not parts.hostname:
            self.send_error(400, 'absolute http:// URLs only')
            return
        if parts.hostname.lower() not in self.server.allow:
            self.send_error(403, '%s is not an allowed upstream' % parts.hostname)
            return
        path = parts.path or '/'
        if parts.query:
            path += '?' + parts.query
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
        scheme = self.server.allow[parts.hostname.lower()]
        netloc = parts.hostname + (':%d' % parts.port if parts.port else '')
        request = urllib.request.Request('%s://%s%s' % (scheme, netloc, path), headers=headers, method=self.command)
        try:
            upstream = self.server.opener.open(request, timeout=60)
        except urllib.error.HTTPError as exc:
            upstream = exc  # 304, 404, ...: an answer to pass on, not a failure of the proxy
        except (OSError, http.client.HTTPException) as exc:
            self.send_error(502, 'upstream %s: %s' % (parts.hostname, exc))
            return
        try:
            self.send_response(upstream.status, upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() in FORWARDED_RESPONSE_HEADERS:
                    self.send_header(key, value)
            self.send_header('Connection', 'close')
            self.end_headers()
            if self.command != 'HEAD':
                while True:
                    chunk = upstream.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            upstream.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """apt follows redirects itself: pass them on (their Location stays plain HTTP to this proxy)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, allow, verbose=False, upstream_proxy=None):
        # HOST -> the scheme used upstream ('http' unless given as https://HOST).
        self.allow = {}
        for entry in allow:
            scheme, _sep, host = entry.rpartition('://')
            self.allow[host.lower().rstrip('/')] = scheme.lower() if scheme else 'http'
        handlers = [_NoRedirect()]
        if upstream_proxy:  # this machine's own way to the mirror (apt's Acquire::http::Proxy)
            handlers.append(urllib.request.ProxyHandler({'http': upstream_proxy, 'https': upstream_proxy}))
        self.opener = urllib.request.build_opener(*handlers)
        self.verbose = verbose
        super().__init__(address, ProxyHandler)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--listen', action='append', required=True, metavar='ADDR:PORT')
    parser.add_argument('--allow', action='append', required=True, metavar='[https://]HOST')
    parser.add_argument('--upstream-proxy', metavar='URL', help='reach the allowed hosts through this HTTP proxy')
    parser.add_argument('--verbose', action='store_true')
    args = parser.parse_args(argv)
    servers = []
    for listen in args.listen:
        host, _sep, port = listen.rpartition(':')
        try:
            servers.append(ProxyServer((host, int(port)), args.allow, args.verbose, args.upstream_proxy))
        except OSError as exc:
            print('cannot listen on %s: %s' % (listen, exc), file=sys.stderr)
            return 1
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print('proxy listening on %s for %s' % (', '.join(args.listen), ', '.join(args.allow)), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    socket.setdefaulttimeout(120)
    sys.exit(main())
