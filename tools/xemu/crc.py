"""Outbound HTTPS from the emulator to webhooks: the CRC GET and signed event POSTs.

Like X, the emulator only talks to port-less https URLs; the resolve map (curl's --resolve)
sends ``host:443`` to a loopback port while TLS still uses SNI and hostname checks for ``host``.
"""

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import socket
import ssl
import time
from urllib.parse import urlsplit

MSG_NON200 = 'Non-200 response code during CRC GET request (i.e. 404, 500, etc).'
MSG_CONNECT = 'Unable to connect during CRC GET request.'
MSG_LATENCY = 'High latency on CRC GET request. Your webhook should respond in less than 3 seconds.'
MSG_TOKEN = 'Webhook URL does not meet the requirements. Invalid CRC token or json response format.'


class CrcFailure(Exception):
    """A failed CRC; ``message`` is the documented 214 text, ``reason`` a short key."""

    def __init__(self, reason, message, detail=''):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail


class DeliveryError(Exception):
    """An event POST could not be delivered (connection, TLS or timeout)."""


def sign(secret, message):
    """sha256=base64(HMAC-SHA256(key=secret, msg=message)): CRC response_token and event signatures."""
    if isinstance(message, str):
        message = message.encode('utf-8')
    digest = hmac.new(secret.encode('utf-8'), message, hashlib.sha256).digest()
    return 'sha256=' + base64.b64encode(digest).decode('ascii')


def parse_resolve(entries):
    """Accept {"host:443": "127.0.0.1:PORT"} or ["host:443:127.0.0.1:PORT", ...] (curl syntax)."""
    if not entries:
        return {}
    if isinstance(entries, dict):
        return {str(k).lower(): str(v) for k, v in entries.items()}
    result = {}
    for entry in entries:
        parts = str(entry).split(':')
        if len(parts) < 4:
            raise ValueError('resolve entry must be HOST:PORT:ADDRESS:PORT, got %r' % entry)
        result['%s:%s' % (parts[0].lower(), parts[1])] = '%s:%s' % (':'.join(parts[2:-1]), parts[-1])
    return result


class _ResolvedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPSConnection that dials a fixed address but keeps SNI / certificate checks on the URL host."""

    def __init__(self, host, port, address, context, timeout):
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._tls_context = context

    def connect(self):
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


class _ResolvedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection(self._address, self.timeout)


def _tls_context(ca_bundle):
    # Re-created on every call so that tests may rewrite the CA file between CRCs.
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def http_request(url, method='GET', headers=None, body=None, ca_bundle=None, resolve=None, timeout=3.0):
    """One request without following redirects. Returns (status, headers, body bytes, elapsed seconds)."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == 'https' else 80
    port = parts.port or default_port
    host = parts.hostname or ''
    target = (resolve or {}).get('%s:%d' % (host.lower(), port))
    if target:
        address_host, _sep, address_port = target.rpartition(':')
        address = (address_host.strip('[]'), int(address_port))
    else:
        address = (host, port)
    if parts.scheme == 'https':
        conn = _ResolvedHTTPSConnection(host, port, address, _tls_context(ca_bundle), timeout)
    else:
        conn = _ResolvedHTTPConnection(host, port, address, timeout)
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    start = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data, time.monotonic() - start
    finally:
        conn.close()


def run_crc(url, consumer_secret, ca_bundle=None, resolve=None, timeout=3.0):
    """Perform a CRC GET like X does; raise CrcFailure with the documented message on failure."""
    crc_token = secrets.token_urlsafe(32)
    nonce = secrets.token_hex(16)
    query = 'crc_token=%s&nonce=%s' % (crc_token, nonce)
    separator = '&' if urlsplit(url).query else '?'
    headers = {'x-twitter-webhooks-signature': sign(consumer_secret, query), 'User-Agent': 'xemu-crc/1.0',
               'Accept': '*/*'}
    try:
        status, resp_headers, body, elapsed = http_request(url + separator + query, 'GET', headers, None,
                                                           ca_bundle, resolve, timeout)
    except socket.timeout as exc:
        raise CrcFailure('latency', MSG_LATENCY, str(exc)) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # Includes refused connections, DNS failures and TLS verification errors.
        raise CrcFailure('connect', MSG_CONNECT, '%s: %s' % (type(exc).__name__, exc)) from exc
    if elapsed > timeout:
        raise CrcFailure('latency', MSG_LATENCY, 'answered after %.2fs' % elapsed)
    if status != 200:
        raise CrcFailure('status', MSG_NON200, 'HTTP %d' % status)
    ctype = {k.lower(): v for k, v in resp_headers.items()}.get('content-type', '')
    try:
        payload = json.loads(body.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CrcFailure('token', MSG_TOKEN, 'body is not JSON') from exc
    if 'json' not in ctype.lower():
        raise CrcFailure('token', MSG_TOKEN, 'content-type %r is not JSON' % ctype)
    expected = sign(consumer_secret, crc_token)
    token = payload.get('response_token') if isinstance(payload, dict) else None
    if not isinstance(token, str) or not hmac.compare_digest(token, expected):
        raise CrcFailure('token', MSG_TOKEN, 'response_token does not match')
    return {'elapsed': elapsed}
