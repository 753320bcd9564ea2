# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CRC: the response token X expects, and a probe that sends exactly what X sends. Private: import from x_api."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import traceback
import warnings

from urllib.parse import urlencode, urlsplit

URLLIB3_IMPORT_ERROR = None
try:
    import urllib3
    HAS_URLLIB3 = True
except ImportError:
    HAS_URLLIB3 = False
    URLLIB3_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.hybridchat.ccm.plugins.module_utils._x_errors import json_or_none


def crc_response_token(consumer_secret, crc_token):
    """The response_token X expects: sha256=base64(HMAC-SHA256(consumer_secret, crc_token))."""
    digest = hmac.new(consumer_secret.encode('utf-8'), crc_token.encode('utf-8'), hashlib.sha256).digest()
    return 'sha256=' + base64.b64encode(digest).decode('ascii')


class CrcProbeResult(object):
    """What one CRC request observed; twitter_crc_check decides pass/fail."""

    def __init__(self):
        self.failure = None       # (reason_key, message) when the request itself failed
        self.status = None
        self.latency_ms = None
        self.location = None
        self.content_type = None
        self.body = None          # first 500 characters of the answer
        self.json = None          # the parsed answer (None when not JSON)
        self.response_token = None
        self.expected_token = None
        self.response_token_valid = False


def crc_probe(url, consumer_secret, connect_to=None, validate_certs=True, ca_path=None, timeout=10,
              crc_token=None, nonce=None, clock=None):
    """Send exactly what X sends for a CRC: GET url?crc_token=..&nonce=.. with x-twitter-webhooks-signature.

    ``connect_to`` (host:port) opens the TCP connection there while SNI, certificate host name and the Host
    header stay those of the URL, to test a server before DNS points at it.
    """
    result = CrcProbeResult()
    clock = clock or time.monotonic
    if not HAS_URLLIB3:
        result.failure = ('dependency', 'urllib3 is not available')
        return result
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    crc_token = crc_token or secrets.token_urlsafe(32)
    nonce = nonce or secrets.token_hex(16)
    query = urlencode([('crc_token', crc_token), ('nonce', nonce)])
    signature = 'sha256=' + base64.b64encode(hmac.new(consumer_secret.encode('utf-8'), query.encode('utf-8'),
                                                      hashlib.sha256).digest()).decode('ascii')
    result.expected_token = crc_response_token(consumer_secret, crc_token)
    path = parts.path or '/'
    path += ('?' + parts.query + '&' + query) if parts.query else ('?' + query)

    target_host, target_port = host, port
    if connect_to:
        target_host, sep, port_text = connect_to.rpartition(':')
        if not sep or not port_text.isdigit():
            target_host, target_port = connect_to, port
        else:
            target_port = int(port_text)
        target_host = target_host.strip('[]')

    host_header = host if parts.port is None else '%s:%s' % (host, parts.port)
    headers = {'Host': host_header, 'x-twitter-webhooks-signature': signature, 'User-Agent': 'hybridchat.ccm twitter_crc_check',
               'Accept': 'application/json', 'Accept-Encoding': 'identity'}
    tm = urllib3.Timeout(connect=timeout, read=timeout)
    if parts.scheme == 'https':
        kwargs = {'server_hostname': host, 'assert_hostname': host if validate_certs else False}
        if validate_certs:
            kwargs.update(cert_reqs='CERT_REQUIRED')
            if ca_path:
                kwargs['ca_certs'] = ca_path
            else:
                try:
                    import certifi
                    kwargs['ca_certs'] = certifi.where()
                except ImportError:
                    pass
        else:
            kwargs.update(cert_reqs='CERT_NONE')
        pool = urllib3.HTTPSConnectionPool(target_host, target_port, timeout=tm, retries=False, maxsize=1, **kwargs)
    else:
        pool = urllib3.HTTPConnectionPool(target_host, target_port, timeout=tm, retries=False, maxsize=1)

    via = ' via %s:%s' % (target_host, target_port) if connect_to else ''
    start = clock()
    try:
        with pool, warnings.catch_warnings():
            warnings.simplefilter('ignore', urllib3.exceptions.InsecureRequestWarning)
            resp = pool.request('GET', path, headers=headers, redirect=False, retries=False, preload_content=True,
                                assert_same_host=False)
    except urllib3.exceptions.NameResolutionError as exc:
        result.failure = ('resolve', 'Name resolution of %s failed: %s. Point DNS at the server, or use connect_to to test '
                          'it before DNS is ready.' % (target_host, _reason(exc)))
        return result
    except urllib3.exceptions.SSLError as exc:
        result.failure = ('certificate', 'TLS handshake with %s%s failed: %s. X needs a valid certificate for %s from a public '
                          'CA, with the full chain and TLS 1.2+.' % (host, via, _reason(exc), host))
        return result
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: catch it first.
    except urllib3.exceptions.NewConnectionError as exc:
        text = _reason(exc)
        if 'resolution' in text.lower() or 'name or service' in text.lower() or 'getaddrinfo' in text.lower():
            result.failure = ('resolve', 'Name resolution of %s failed: %s.' % (target_host, text))
        else:
            result.failure = ('connection', 'Could not connect to %s:%s: %s. Check that the web server listens on 443 and '
                              'the firewall lets it through.' % (target_host, target_port, text))
        return result
    except urllib3.exceptions.ConnectTimeoutError as exc:
        result.failure = ('connection', 'Connecting to %s:%s timed out after %ss (%s). Check the firewall allows port 443 '
                          'from the internet.' % (target_host, target_port, timeout, _reason(exc)))
        return result
    except urllib3.exceptions.ReadTimeoutError as exc:
        result.latency_ms = int((clock() - start) * 1000)
        result.failure = ('latency', 'The endpoint did not answer within %ss (%s); X gives up after 3 seconds.'
                          % (timeout, _reason(exc)))
        return result
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        result.failure = ('connection', 'The CRC request to %s%s failed: %s.' % (url, via, _reason(exc)))
        return result
    result.latency_ms = int(round((clock() - start) * 1000))
    result.status = resp.status
    result.location = resp.headers.get('location')
    result.content_type = resp.headers.get('content-type')
    text = resp.data.decode('utf-8', 'replace') if resp.data else ''
    result.body = text[:500]
    parsed = json_or_none(text)
    result.json = parsed
    if isinstance(parsed, dict) and isinstance(parsed.get('response_token'), str):
        result.response_token = parsed['response_token']
        result.response_token_valid = hmac.compare_digest(result.response_token, result.expected_token)
    return result


def _reason(exc):
    text = str(getattr(exc, 'reason', None) or exc)
    return text.strip()


def crc_verdict(probe, url, max_latency_ms=3000):
    """(reason, message) of the first failed requirement, or None when X would accept the answer."""
    if probe.failure:
        return probe.failure
    if 300 <= probe.status < 400:
        return ('redirect', 'The endpoint answered %s with a redirect to %s; X does not follow redirects and marks the '
                            'webhook invalid. Serve the CRC at %s itself (no trailing-slash or http-to-https redirect).'
                % (probe.status, probe.location, url))
    if probe.status != 200:
        return ('status', 'The endpoint answered HTTP %s instead of 200 (X: "Non-200 response code during CRC GET '
                          'request"). Check the proxy route for the path and that CCM is running.' % probe.status)
    if not isinstance(probe.json, dict):
        return ('body', 'The endpoint answered 200 but the body is not a JSON object (content type %s): %r. X expects '
                        '{"response_token": "sha256=..."}.' % (probe.content_type, (probe.body or '')[:120]))
    if probe.response_token is None:
        return ('body', 'The JSON answer has no "response_token" string: %r.' % (probe.body or '')[:120])
    if not probe.response_token_valid:
        return ('token', 'The response_token is wrong: the endpoint answers with a different consumer secret (or hashes '
                         'the crc_token differently). Configure the app\'s consumer secret (API key secret) in CCM.')
    if probe.latency_ms is not None and probe.latency_ms >= max_latency_ms:
        return ('latency', 'The endpoint answered correctly but too slowly: %d ms, the limit is %d ms (X gives up after '
                           '3 seconds).' % (probe.latency_ms, max_latency_ms))
    return None
