# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""X API transport: authentication per endpoint (OAuth 1.0a user context, app-only bearer, Basic for
``oauth2/token``), retries, 429 waits, TLS, and the user look-ups every family needs. Private: import from x_api."""

from __future__ import annotations

import base64
import datetime
import time
import traceback

from urllib.parse import quote

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests_oauthlib import OAuth1
    HAS_REQUESTS = True
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.hybridchat.ccm.plugins.module_utils._x_common import DEFAULT_API_URL
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_errors import (
    AUTH_BASIC,
    AUTH_BEARER,
    AUTH_OAUTH1,
    AUTH_OAUTH2_USER,
    XApiError,
    explain_error,
    json_or_none,
)

# Retry policy for 5xx answers and connection errors (never 4xx).
MAX_RETRIES = 3
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
# How many rate-limit waits one request may do before giving up.
MAX_RATE_LIMIT_WAITS = 2


class XResponse(object):
    """Status, headers and decoded JSON body (None when empty or not JSON)."""

    def __init__(self, status, headers, body, text=''):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = text


class XApiTransport(object):
    """Transport and authentication for the X API (the API families are added by x_api.XApiClient).

    One instance per module run. ``api_calls`` counts HTTP requests sent to X (retries included).
    """

    def __init__(self, consumer_key=None, consumer_secret=None, access_token=None, access_secret=None,
                 bearer_token=None, api_url=DEFAULT_API_URL, validate_certs=True, ca_path=None, timeout=30,
                 rate_limit_wait=60, session=None, sleep=None, clock=None, max_retries=MAX_RETRIES,
                 backoff=BACKOFF_BASE, warn=None, oauth2_user_token=None):
        if not HAS_REQUESTS:
            raise XApiError('requests and requests-oauthlib are required', 'missing_credentials')
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_secret = access_secret
        self.bearer_token = bearer_token
        # An OAuth 2.0 user-context token (e.g. with dm.read): an alternative to OAuth 1.0a where X accepts one.
        self.oauth2_user_token = oauth2_user_token
        self.api_url = (api_url or DEFAULT_API_URL).rstrip('/')
        self.verify = (ca_path or True) if validate_certs else False
        self.timeout = timeout
        self.rate_limit_wait = rate_limit_wait if rate_limit_wait is not None else 0
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.max_retries = max_retries
        self.backoff = backoff
        self.warn = warn or (lambda msg: None)
        self.api_calls = 0
        self.calls = []
        self.bearer_fetched = False

    # ---- authentication -------------------------------------------------------------------------------

    def _require(self, names, purpose):
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            env = {'consumer_key': 'TWITTER_CONSUMER_KEY', 'consumer_secret': 'TWITTER_CONSUMER_SECRET',
                   'access_token': 'TWITTER_ACCESS_TOKEN', 'access_secret': 'TWITTER_ACCESS_SECRET',
                   'oauth2_user_token': 'TWITTER_OAUTH2_USER_TOKEN'}
            raise XApiError('%s needs %s; set %s (or %s).'
                            % (purpose, ', '.join(missing), ' and '.join(missing), ', '.join(env[n] for n in missing)),
                            'missing_credentials')

    def user_auth(self):
        """The user-context auth to use: OAuth 1.0a when an access token and secret are set, else the OAuth 2.0
        user token when one is set, else OAuth 1.0a (whose missing credentials are then reported)."""
        if not (self.access_token and self.access_secret) and self.oauth2_user_token:
            return AUTH_OAUTH2_USER
        return AUTH_OAUTH1

    def _oauth1(self, purpose):
        self._require(['consumer_key', 'consumer_secret', 'access_token', 'access_secret'], purpose)
        return OAuth1(self.consumer_key, client_secret=self.consumer_secret, resource_owner_key=self.access_token,
                      resource_owner_secret=self.access_secret, signature_method='HMAC-SHA1', signature_type='AUTH_HEADER')

    def get_bearer_token(self):
        """The app-only bearer token: the given one, or fetched once from POST /oauth2/token."""
        if self.bearer_token:
            return self.bearer_token
        self._require(['consumer_key', 'consumer_secret'], 'Fetching an app-only bearer token (POST /oauth2/token)')
        resp = self.request('POST', '/oauth2/token', auth=AUTH_BASIC, data={'grant_type': 'client_credentials'},
                            idempotent=True)
        body = resp.body if isinstance(resp.body, dict) else {}
        if str(body.get('token_type', '')).lower() != 'bearer' or not body.get('access_token'):
            raise XApiError('POST /oauth2/token did not return a bearer token (token_type %r).' % body.get('token_type'),
                            'bad_response', resp.status)
        self.bearer_token = body['access_token']
        self.bearer_fetched = True
        return self.bearer_token

    def _auth_kwargs(self, auth, method, path):
        purpose = '%s %s' % (method, path)
        if auth == AUTH_OAUTH1:
            return {'auth': self._oauth1(purpose)}, {}
        if auth == AUTH_BEARER:
            return {}, {'Authorization': 'Bearer ' + self.get_bearer_token()}
        if auth == AUTH_OAUTH2_USER:
            self._require(['oauth2_user_token'], purpose)
            return {}, {'Authorization': 'Bearer ' + self.oauth2_user_token}
        if auth == AUTH_BASIC:
            self._require(['consumer_key', 'consumer_secret'], purpose)
            pair = '%s:%s' % (quote(self.consumer_key, safe=''), quote(self.consumer_secret, safe=''))
            return {}, {'Authorization': 'Basic ' + base64.b64encode(pair.encode('utf-8')).decode('ascii'),
                        'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8'}
        return {}, {}

    # ---- transport ------------------------------------------------------------------------------------

    def _retry_delay(self, attempt, resp_headers=None):
        delay = min(self.backoff * (2 ** attempt), BACKOFF_MAX)
        retry_after = (resp_headers or {}).get('retry-after')
        if retry_after:
            try:
                delay = min(max(delay, float(retry_after)), BACKOFF_MAX)
            except ValueError:
                pass
        return delay

    def _rate_limit_decision(self, headers, where):
        """Seconds to wait for the reset, or raise when it is further away than rate_limit_wait."""
        reset = headers.get('x-rate-limit-reset')
        try:
            reset_at = float(reset)
        except (TypeError, ValueError):
            raise XApiError('X rate limit exceeded on %s and X sent no x-rate-limit-reset header; retry later '
                            '(webhook endpoints allow about 15 requests per 15 minutes per app).' % where,
                            'rate_limit', 429)
        wait = max(0.0, reset_at - self.clock()) + 1
        if wait <= self.rate_limit_wait:
            return wait
        when = datetime.datetime.fromtimestamp(reset_at, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        raise XApiError('X rate limit exceeded on %s; the limit resets at %s (in %d seconds), more than rate_limit_wait=%s '
                        'seconds. Run again after the reset, or raise rate_limit_wait.' % (where, when, int(wait), self.rate_limit_wait),
                        'rate_limit', 429)

    def request(self, method, path, auth=AUTH_BEARER, params=None, data=None, json_body=None, idempotent=None,
                ok=(200, 201, 204), context=None):
        """Send one logical request; retries 5xx/connection errors (idempotent only) and waits on 429.

        Non-idempotent requests (POST that creates something) are never re-sent here: the error carries
        ``may_have_acted`` and the backend re-reads state before trying again.
        """
        if idempotent is None:
            idempotent = method in ('GET', 'PUT', 'DELETE', 'HEAD')
        url = self.api_url + path
        where = '%s %s' % (method, path)
        attempt = 0
        waits = 0
        while True:
            kwargs, headers = self._auth_kwargs(auth, method, path)
            self.api_calls += 1
            self.calls.append(where)
            try:
                resp = self.session.request(method, url, params=params, data=data, json=json_body, headers=headers,
                                            timeout=self.timeout, verify=self.verify, allow_redirects=False, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise XApiError('TLS verification of %s failed on %s: %s. Set ca_path to the CA bundle that signs the API '
                                'endpoint, or fix the certificate.' % (self.api_url, where, exc), 'connection')
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if idempotent and attempt < self.max_retries:
                    self.sleep(self._retry_delay(attempt))
                    attempt += 1
                    continue
                raise XApiError('Could not reach the X API at %s for %s after %d attempt(s): %s. Check api_url, DNS, '
                                'proxy and firewall.' % (self.api_url, where, attempt + 1, exc), 'connection',
                                may_have_acted=not idempotent)
            status = resp.status_code
            lower_headers = dict((k.lower(), v) for k, v in resp.headers.items())
            body = json_or_none(resp.text)
            if status in ok:
                return XResponse(status, lower_headers, body, resp.text)
            if status == 429:
                wait = self._rate_limit_decision(lower_headers, where)
                if waits < MAX_RATE_LIMIT_WAITS:
                    self.warn('X rate limit reached on %s; waiting %d seconds for the reset.' % (where, int(wait)))
                    self.sleep(wait)
                    waits += 1
                    continue
                raise XApiError('X rate limit still exceeded on %s after waiting for the reset twice.' % where, 'rate_limit', 429)
            if status >= 500 and idempotent and attempt < self.max_retries:
                self.sleep(self._retry_delay(attempt, lower_headers))
                attempt += 1
                continue
            if 300 <= status < 400:
                raise XApiError('X answered %s on %s with a redirect to %s; check api_url (%s).'
                                % (status, where, lower_headers.get('location'), self.api_url), 'bad_response', status)
            err = explain_error(status, body, method, path, auth, context)
            if status >= 500:
                err.may_have_acted = not idempotent
                if attempt:
                    err.msg += ' (gave up after %d attempts)' % (attempt + 1)
            raise err

    # ---- users ----------------------------------------------------------------------------------------

    def user_by_username(self, username):
        """GET /2/users/by/username/:username; unknown and suspended users come back as 200 + errors."""
        auth = AUTH_BEARER if (self.bearer_token or not (self.access_token and self.access_secret)) else AUTH_OAUTH1
        resp = self.request('GET', '/2/users/by/username/%s' % quote(username, safe=''), auth=auth)
        return _user_from_v2(resp.body, username)

    def me(self, api_version='2'):
        """The owner of access_token: /2/users/me on v2, verify_credentials on v1.1."""
        if str(api_version) == '1.1':
            resp = self.request('GET', '/1.1/account/verify_credentials.json', auth=AUTH_OAUTH1,
                                params={'skip_status': 'true', 'include_entities': 'false'})
            body = resp.body if isinstance(resp.body, dict) else {}
            user_id = body.get('id_str') or (str(body['id']) if body.get('id') is not None else None)
            if not user_id:
                raise XApiError('verify_credentials returned no user id.', 'bad_response', resp.status)
            return {'id': user_id, 'username': body.get('screen_name'), 'name': body.get('name')}
        resp = self.request('GET', '/2/users/me', auth=self.user_auth())
        return _user_from_v2(resp.body, None)


def _user_from_v2(body, username):
    body = body if isinstance(body, dict) else {}
    data = body.get('data')
    if isinstance(data, dict) and data.get('id'):
        return {'id': str(data['id']), 'username': data.get('username'), 'name': data.get('name')}
    errors = body.get('errors') or []
    detail = ''
    if errors and isinstance(errors[0], dict):
        detail = errors[0].get('detail') or errors[0].get('message') or ''
    if 'suspend' in detail.lower():
        raise XApiError('The X account %r is suspended (X: "%s"); it cannot be used.' % (username, detail), 'not_found', 200)
    if username is not None:
        raise XApiError('No X account with username %r exists (X: "%s"). Check the spelling (without @).'
                        % (username, detail or 'no data'), 'not_found', 200)
    raise XApiError('X returned no user for the access token (X: "%s").' % (detail or 'no data'), 'bad_response', 200)
