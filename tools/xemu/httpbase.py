"""Shared HTTP(S) plumbing for the API server and the CCM stand-in."""

import json
import os
import socket
import ssl
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    """Threading server; the TLS handshake runs in the worker thread so one slow client cannot block accept()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, tls_cert=None, tls_key=None, quiet=False):
        super().__init__(address, handler)
        self.quiet = quiet
        self.tls_context = None
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(tls_cert, tls_key)
            self.tls_context = context

    @property
    def scheme(self):
        return 'https' if self.tls_context else 'http'

    @property
    def url(self):
        host, port = self.server_address[:2]
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % (self.scheme, host, port)

    def finish_request(self, request, client_address):
        # Responses are small: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each one.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                request.close()
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # Broken pipes and resets from clients that hang up are normal in tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """JSON helpers on top of BaseHTTPRequestHandler (HTTP/1.1 keep-alive, explicit Content-Length)."""

    protocol_version = 'HTTP/1.1'
    server_version = 'xemu'

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if not getattr(self.server, 'quiet', False):
            sys.stderr.write('%s %s\n' % (self.log_date_time_string(), format % args))

    # Every method goes to one dispatch(), which the concrete handlers define.
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        raise NotImplementedError

    def read_body(self):
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b''.join(chunks)
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length > 0 else b''

    def send_body(self, status, body=None, headers=None, content_type='application/json; charset=utf-8'):
        if body is None or status == 204:
            data = b''
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode('utf-8')
        else:
            data = json.dumps(body).encode('utf-8')
        self.send_response(status)
        lowered = {k.lower() for k in (headers or {})}
        if data and 'content-type' not in lowered:
            self.send_header('Content-Type', content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header('Content-Length', str(len(data)))
        # Headers and body in one write (one TLS record, one segment).
        self._headers_buffer.append(b'\r\n')
        if data and self.command != 'HEAD':
            self._headers_buffer.append(data)
        self.flush_headers()

    def drop_connection(self):
        """Close without answering (fault injection: the client sees a reset or an empty reply)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def json_body(self, body):
        if not body:
            return None
        return json.loads(body.decode('utf-8'))


def write_ready_file(path, payload):
    """Write atomically so a poller never reads half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.ready-')
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)
