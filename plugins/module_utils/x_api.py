# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one X (Twitter) API client of the collection.

Transport (retries, 429 handling, TLS), authentication per endpoint (OAuth 1.0a user context,
app-only bearer, Basic for ``oauth2/token``), error mapping to actionable messages, and the
v1.1 environment-label endpoints and the v2 endpoints behind one backend interface.

Modules decide desired state; this file only talks to X.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
import time
import traceback
import warnings

from urllib.parse import quote, urlencode, urlsplit

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    import urllib3
    from requests_oauthlib import OAuth1
    HAS_REQUESTS = True
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

DEFAULT_API_URL = 'https://api.twitter.com'
USERNAME_RE = re.compile(r'^[A-Za-z0-9_]{1,15}$')
WEBHOOK_ID_RE = re.compile(r'^[0-9]{1,19}$')
MAX_URL_LENGTH = 200

# Retry policy for 5xx answers and connection errors (never 4xx).
MAX_RETRIES = 3
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
# How many rate-limit waits one request may do before giving up.
MAX_RATE_LIMIT_WAITS = 2

AUTH_OAUTH1 = 'oauth1'
AUTH_BEARER = 'bearer'
AUTH_BASIC = 'basic'

_AUTH_LABEL = {
    AUTH_OAUTH1: 'OAuth 1.0a user context (consumer key/secret + access token/secret)',
    AUTH_BEARER: 'app-only bearer token',
    AUTH_BASIC: 'consumer key/secret (Basic auth)',
}

_CRC_HELP = ('Run hybridchat.ccm.twitter_crc_check against the URL to see the exact failure: the endpoint must answer '
             'GET ?crc_token=..&nonce=.. over HTTPS (valid certificate, port 443, no redirect) with HTTP 200, JSON '
             '{"response_token": "sha256=..."} computed with this app\'s consumer secret, in less than 3 seconds.')


class XApiError(Exception):
    """An X API failure with a message that names the cause and the fix.

    ``kind`` is a normalised category the backends and modules decide on:
    env_label, crc, url_invalid, quota, duplicate_url, not_found, duplicate_subscription,
    subscription_limit, auth, clock, permission, token, not_permitted, unsupported_auth,
    rate_limit, server, connection, missing_credentials, bad_response, other.
    """

    def __init__(self, msg, kind='other', status=None, code=None, reason=None, x_message=None, may_have_acted=False):
        super(XApiError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.status = status
        self.code = code
        self.reason = reason
        self.x_message = x_message
        # True when the request may have reached X before failing (connection dropped, 5xx on a POST).
        self.may_have_acted = may_have_acted

    def __str__(self):
        return self.msg


class XResponse(object):
    """Status, headers and decoded JSON body (None when empty or not JSON)."""

    def __init__(self, status, headers, body, text=''):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = text


def iso8601(value):
    """Normalise X timestamps to ISO 8601 (UTC, ``Z``).

    v1.1 returns ``created_timestamp`` as ``YYYY-MM-DD HH:MM:SS +0000``; v2 returns ISO 8601 already.
    """
    if value is None or value == '':
        return None
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    text = str(value).strip()
    for fmt in ('%Y-%m-%d %H:%M:%S %z', '%a %b %d %H:%M:%S %z %Y'):
        try:
            parsed = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return text


def normalise_webhook(raw, environment=None):
    """One webhook shape for both generations: id, url, valid, created_at (+ environment on v1.1)."""
    hook = {
        'id': str(raw.get('id')) if raw.get('id') is not None else None,
        'url': raw.get('url'),
        'valid': bool(raw.get('valid', False)),
        'created_at': iso8601(raw.get('created_at') or raw.get('created_timestamp')),
    }
    if environment is not None:
        hook['environment'] = environment
    return hook


def check_webhook_url(url):
    """Local checks X would fail later with an opaque message. Returns an error string or None."""
    if not url:
        return 'url must not be empty.'
    if len(url) > MAX_URL_LENGTH:
        return 'url is %d characters long; X accepts at most %d characters.' % (len(url), MAX_URL_LENGTH)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return 'url %r is not a valid URL (%s).' % (url, exc)
    if parts.scheme != 'https':
        return 'url %r must use https:// (X only calls webhooks over HTTPS).' % url
    if not parts.hostname:
        return 'url %r has no host name.' % url
    if port is not None:
        return ('url %r contains a port (%s); X does not accept a port in webhook URLs: serve the webhook on 443 '
                'and remove ":%s" from the URL.' % (url, port, port))
    if parts.fragment:
        return 'url %r must not contain a fragment (#...).' % url
    return None


def crc_response_token(consumer_secret, crc_token):
    """The response_token X expects: sha256=base64(HMAC-SHA256(consumer_secret, crc_token))."""
    digest = hmac.new(consumer_secret.encode('utf-8'), crc_token.encode('utf-8'), hashlib.sha256).digest()
    return 'sha256=' + base64.b64encode(digest).decode('ascii')


def json_or_none(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _v1_errors(body):
    """[(code, message)] from a v1.1 error envelope."""
    out = []
    if isinstance(body, dict) and isinstance(body.get('errors'), list):
        for err in body['errors']:
            if isinstance(err, dict) and 'code' in err:
                out.append((err.get('code'), err.get('message') or ''))
    return out


def _v2_reasons(body):
    """[(reason, details)] from a v2 400 body: errors[].message = "<Reason>: <Details>"."""
    out = []
    if isinstance(body, dict) and isinstance(body.get('errors'), list):
        for err in body['errors']:
            if not isinstance(err, dict) or 'code' in err:
                continue
            message = err.get('message') or ''
            match = re.match(r'^([A-Za-z]+)\s*:\s*(.*)$', message, re.S)
            if match:
                out.append((match.group(1), match.group(2).strip()))
            elif message:
                out.append(('', message))
    return out


def explain_error(status, body, method, path, auth, context=None):
    """Turn an X error answer into an XApiError whose message names the cause and the fix."""
    context = context or {}
    env = context.get('environment')
    url = context.get('url')
    where = '%s %s' % (method, path)
    v1 = _v1_errors(body)
    if v1:
        code, message = v1[0]
        try:
            code = int(code)
        except (TypeError, ValueError):
            pass
        quoted = '(X: code %s "%s", HTTP %s on %s)' % (code, message, status, where)
        if code == 200:
            msg = ('X refused the dev environment label %r %s. The label is wrong, not created, not attached to this app, '
                   'or miscased: environment labels are case-sensitive. Copy the label exactly from the developer portal '
                   '(Dev environments) into environment / TWITTER_ENVIRONMENT.' % (env, quoted))
            return XApiError(msg, 'env_label', status, code, None, message)
        if code == 214:
            if 'too many resources' in message.lower() and context.get('operation') == 'subscribe':
                msg = ('The subscription quota of environment %r is reached %s: remove a subscription you no longer need '
                       '(twitter_subscription state=absent with its user_id) or raise the tier.' % (env, quoted))
                return XApiError(msg, 'subscription_limit', status, code, None, message)
            if 'too many resources' in message.lower():
                msg = ('The webhook quota is reached %s: this environment/app already has as many webhooks as the tier allows '
                       '(sandbox: 1). Delete the old webhook (twitter_webhook state=absent) or register with exclusive: true '
                       'to replace it.' % quoted)
                return XApiError(msg, 'quota', status, code, None, message)
            msg = ('X could not validate the webhook URL %s with a CRC request: "%s" %s. %s'
                   % (url or '(unknown)', message, quoted, _CRC_HELP))
            return XApiError(msg, 'crc', status, code, None, message)
        if code == 32:
            msg = ('X could not authenticate the request %s: the consumer key/secret or access token/secret are wrong, '
                   'belong to another app, or the app has no Account Activity API access. Check consumer_key, consumer_secret, '
                   'access_token and access_secret (TWITTER_CONSUMER_KEY/SECRET, TWITTER_ACCESS_TOKEN/SECRET).' % quoted)
            return XApiError(msg, 'auth', status, code, None, message)
        if code == 135:
            msg = ('X rejected the OAuth timestamp %s: this host\'s clock is off from X\'s clock (clock skew). '
                   'Check NTP (timedatectl status / chronyc tracking) and synchronise the clock.' % quoted)
            return XApiError(msg, 'clock', status, code, None, message)
        if code == 261:
            msg = ('The app may not perform write actions %s: set the app permission to "Read and write and Direct message" '
                   'in the developer portal, then regenerate the access token and secret (tokens created before the change keep '
                   'the old permission). Webhook registration also needs user context (OAuth 1.0a), not app-only auth.' % quoted)
            return XApiError(msg, 'permission', status, code, None, message)
        if code == 89:
            which = 'bearer token (bearer_token / TWITTER_BEARER_TOKEN)' if auth == AUTH_BEARER else \
                'access token (access_token/access_secret, TWITTER_ACCESS_TOKEN/SECRET)'
            msg = ('The %s is invalid, expired or revoked %s: it was probably regenerated; configure the current one.'
                   % (which, quoted))
            return XApiError(msg, 'token', status, code, None, message)
        if code == 348:
            msg = ('The app may not manage this user\'s webhook subscriptions %s: the access token was not issued to this app '
                   'for this user (or the app is not allow-listed). Use an access token and secret generated for this app by '
                   'the account to subscribe.' % quoted)
            return XApiError(msg, 'not_permitted', status, code, None, message)
        if code == 88 or status == 429:
            return XApiError('X rate limit exceeded %s.' % quoted, 'rate_limit', status, code, None, message)
        if code == 99:
            msg = ('X did not issue a bearer token %s: consumer_key/consumer_secret (TWITTER_CONSUMER_KEY/SECRET) are wrong '
                   'or revoked. Regenerate the API key and secret or pass bearer_token.' % quoted)
            return XApiError(msg, 'auth', status, code, None, message)
        if code == 220:
            msg = ('These credentials may not use %s %s: the endpoint needs user context (access_token/access_secret), '
                   'not an app-only bearer token.' % (where, quoted))
            return XApiError(msg, 'unsupported_auth', status, code, None, message)
        if code == 215:
            msg = 'X received no or malformed authentication data %s: check that all four OAuth credentials are set.' % quoted
            return XApiError(msg, 'auth', status, code, None, message)
        if code == 34 and context.get('operation') == 'subscribe':
            msg = ('No webhook is registered in environment %r %s: subscriptions attach to the environment\'s webhook, '
                   'so register it first with hybridchat.ccm.twitter_webhook.' % (env, quoted))
            return XApiError(msg, 'not_found', status, code, None, message)
        if code == 34:
            msg = ('X reports that the resource does not exist %s: the webhook id is unknown or belongs to another app, '
                   'or the environment label %r is wrong.' % (quoted, env))
            return XApiError(msg, 'not_found', status, code, None, message)
        if 'subscription already exists' in message.lower():
            return XApiError('Subscription already exists %s.' % quoted, 'duplicate_subscription', status, code, None, message)
        if code == 131 or (status or 0) >= 500:
            return XApiError('X had an internal error %s; retry later.' % quoted, 'server', status, code, None, message)
        return XApiError('X API request failed %s.' % quoted, 'other', status, code, None, message)

    reasons = _v2_reasons(body)
    if reasons:
        reason, details = reasons[0]
        quoted = '(X: "%s%s", HTTP %s on %s)' % (reason + ': ' if reason else '', details, status, where)
        if reason == 'CrcValidationFailed':
            msg = ('X could not validate the webhook URL %s with a CRC request: "%s" %s. %s'
                   % (url or '(unknown)', details, quoted, _CRC_HELP))
            return XApiError(msg, 'crc', status, None, reason, details)
        if reason == 'WebhookLimitExceeded':
            msg = ('The webhook quota is reached %s: the account already has as many webhooks as its tier allows '
                   '(often 1; the limit is per developer account, not per app). Delete the old webhook '
                   '(twitter_webhook state=absent) or register with exclusive: true to replace it.' % quoted)
            return XApiError(msg, 'quota', status, None, reason, details)
        if reason == 'UrlValidationFailed':
            msg = ('X rejected the webhook URL %s %s: it must be https, without a port, at most 200 characters, '
                   'and publicly resolvable.' % (url or '(unknown)', quoted))
            return XApiError(msg, 'url_invalid', status, None, reason, details)
        if reason == 'DuplicateUrlFailed':
            return XApiError('The webhook URL %s is already registered %s.' % (url, quoted), 'duplicate_url', status, None, reason, details)
        if reason in ('WebhookIdInvalid', 'SubscriptionNotFound'):
            return XApiError('Not found %s.' % quoted, 'not_found', status, None, reason, details)
        if reason == 'DuplicateSubscriptionFailed':
            return XApiError('Subscription already exists %s.' % quoted, 'duplicate_subscription', status, None, reason, details)
        if reason == 'SubscriptionLimitExceeded':
            msg = ('The subscription quota is reached %s: remove a subscription you no longer need '
                   '(twitter_subscription state=absent) or raise the tier.' % quoted)
            return XApiError(msg, 'subscription_limit', status, None, reason, details)
        kind = 'server' if (status or 0) >= 500 else 'other'
        return XApiError('X API request failed %s.' % quoted, kind, status, None, reason, details)

    title = body.get('title') if isinstance(body, dict) else None
    detail = body.get('detail') if isinstance(body, dict) else None
    quoted = '(X: HTTP %s%s%s on %s)' % (status, ' "%s"' % title if title else '', ': "%s"' % detail if detail and detail != title else '', where)
    if status == 401:
        if auth == AUTH_BEARER:
            msg = ('X rejected the bearer token %s: it is wrong, revoked or belongs to another app. Fix bearer_token '
                   '(TWITTER_BEARER_TOKEN) or leave it unset to fetch one with consumer_key/consumer_secret.' % quoted)
        else:
            msg = ('X rejected the OAuth 1.0a credentials %s: consumer_key/consumer_secret or access_token/access_secret '
                   'are wrong, revoked (regenerated) or belong to another app. A host clock that is off also causes this: '
                   'check NTP.' % quoted)
        return XApiError(msg, 'auth', status, None, title, detail)
    if status == 403:
        low = (detail or '').lower()
        if 'application-only is forbidden' in low:
            msg = ('%s does not accept an app-only bearer token %s: it needs user context, so access_token and '
                   'access_secret (TWITTER_ACCESS_TOKEN/SECRET) must be set.' % (where, quoted))
            return XApiError(msg, 'unsupported_auth', status, None, title, detail)
        if (title or '').lower().startswith('unsupported authentication'):
            msg = ('%s does not accept %s %s: it needs an app-only bearer token (bearer_token, or consumer_key and '
                   'consumer_secret to fetch one).' % (where, _AUTH_LABEL.get(auth, auth), quoted))
            return XApiError(msg, 'unsupported_auth', status, None, title, detail)
        if 'permission' in low:
            msg = ('The app lacks the permission for %s %s: set the app permission to "Read and write and Direct message" '
                   'in the developer portal, then regenerate the access token and secret (tokens created before the change '
                   'keep the old permission).' % (where, quoted))
            return XApiError(msg, 'permission', status, None, title, detail)
        msg = ('X refused access %s: the app is not enrolled for this endpoint (the Account Activity API needs a suitable '
               'tier and an app attached to a project), or the token lacks the permission "Read and write and Direct '
               'message" (regenerate tokens after changing it).' % quoted)
        return XApiError(msg, 'permission', status, None, title, detail)
    if status == 404:
        return XApiError('Not found %s.' % quoted, 'not_found', status, None, title, detail)
    if status == 429:
        return XApiError('X rate limit exceeded %s.' % quoted, 'rate_limit', status, None, title, detail)
    if (status or 0) >= 500:
        return XApiError('X had a server error %s; retry later.' % quoted, 'server', status, None, title, detail)
    return XApiError('X API request failed %s.' % quoted, 'other', status, None, title, detail)


class XApiClient(object):
    """Transport and authentication for the X API.

    One instance per module run. ``api_calls`` counts HTTP requests sent to X (retries included).
    """

    def __init__(self, consumer_key=None, consumer_secret=None, access_token=None, access_secret=None,
                 bearer_token=None, api_url=DEFAULT_API_URL, validate_certs=True, ca_path=None, timeout=30,
                 rate_limit_wait=60, session=None, sleep=None, clock=None, max_retries=MAX_RETRIES,
                 backoff=BACKOFF_BASE, warn=None):
        if not HAS_REQUESTS:
            raise XApiError('requests and requests-oauthlib are required', 'missing_credentials')
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_secret = access_secret
        self.bearer_token = bearer_token
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
                   'access_token': 'TWITTER_ACCESS_TOKEN', 'access_secret': 'TWITTER_ACCESS_SECRET'}
            raise XApiError('%s needs %s; set %s (or %s).'
                            % (purpose, ', '.join(missing), ' and '.join(missing), ', '.join(env[n] for n in missing)),
                            'missing_credentials')

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
        resp = self.request('GET', '/2/users/me', auth=AUTH_OAUTH1)
        return _user_from_v2(resp.body, None)

    def backend(self, api_version, environment=None, all_environments=False):
        """The v1.1 or v2 backend. all_environments: v1.1 without a label, for listing every environment."""
        if str(api_version) == '1.1':
            if all_environments and not environment:
                return V11Backend(self, None)
            if not environment:
                raise XApiError('api_version 1.1 needs environment (the dev environment label, TWITTER_ENVIRONMENT).',
                                'missing_credentials')
            return V11Backend(self, environment)
        return V2Backend(self)


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


class _Backend(object):
    """The operations every API generation offers, with one behaviour.

    list_webhooks() -> [hook]; create_webhook(url) -> hook; revalidate(hook) -> bool valid;
    delete_webhook(hook_id) -> bool (False when it was already absent);
    is_subscribed(webhook_id) -> bool (the access token's owner); subscribe(webhook_id) -> bool (False when it existed);
    list_subscriptions(webhook_id) -> [user_id] or None; unsubscribe(webhook_id, user_id) -> bool;
    subscription_counts() -> dict or None.
    """

    api_version = None

    def __init__(self, client):
        self.client = client

    def _create_with_recheck(self, url, send):
        """POST is not idempotent: after a dropped connection or 5xx, re-list before sending again."""
        try:
            return send()
        except XApiError as err:
            if not err.may_have_acted:
                raise
            self.client.warn('Registering %s failed in a way X may have acted on (%s); re-listing before retrying.' % (url, err.kind))
            for hook in self.list_webhooks():
                if hook['url'] == url:
                    return hook
            return send()

    def _delete(self, path, auth, context=None):
        """DELETE where "not found" means already absent: True when something was deleted."""
        try:
            self.client.request('DELETE', path, auth=auth, context=context)
        except XApiError as err:
            if err.kind == 'not_found':
                return False
            raise
        return True

    def find(self, hooks, url=None, webhook_id=None):
        for hook in hooks:
            if (url is not None and hook['url'] == url) or (webhook_id is not None and hook['id'] == str(webhook_id)):
                return hook
        return None


class V11Backend(_Backend):
    """Premium v1.1 endpoints keyed by the dev environment label."""

    api_version = '1.1'

    def __init__(self, client, environment):
        super(V11Backend, self).__init__(client)
        self.environment = environment
        self.base = '/1.1/account_activity/all/%s' % quote(environment or '', safe='')
        self.ctx = {'environment': environment}

    def list_webhooks(self):
        if self.environment is None:
            return self.list_all_webhooks()
        # OAuth 1.0a is accepted on this endpoint, so no bearer token is needed for the idempotency read.
        resp = self.client.request('GET', self.base + '/webhooks.json', auth=AUTH_OAUTH1, context=self.ctx)
        body = resp.body
        if isinstance(body, dict):
            body = body.get('webhooks') or []
        return [normalise_webhook(h, self.environment) for h in (body or []) if isinstance(h, dict)]

    def list_all_webhooks(self):
        """Webhooks of every environment of the app (GET all/webhooks.json)."""
        auth = AUTH_OAUTH1 if (self.client.access_token and self.client.access_secret) else AUTH_BEARER
        resp = self.client.request('GET', '/1.1/account_activity/all/webhooks.json', auth=auth)
        body = resp.body if isinstance(resp.body, dict) else {}
        hooks = []
        for env in body.get('environments') or []:
            if isinstance(env, dict):
                hooks += [normalise_webhook(h, env.get('environment_name')) for h in env.get('webhooks') or [] if isinstance(h, dict)]
        return hooks

    def create_webhook(self, url):
        ctx = dict(self.ctx, url=url)

        def send():
            resp = self.client.request('POST', self.base + '/webhooks.json', auth=AUTH_OAUTH1, params={'url': url},
                                       context=ctx, idempotent=False)
            return normalise_webhook(resp.body or {'url': url, 'valid': True}, self.environment)
        return self._create_with_recheck(url, send)

    def revalidate(self, hook):
        self.client.request('PUT', '%s/webhooks/%s.json' % (self.base, hook['id']), auth=AUTH_OAUTH1,
                            context=dict(self.ctx, url=hook.get('url')))
        return True

    def delete_webhook(self, hook_id):
        return self._delete('%s/webhooks/%s.json' % (self.base, hook_id), AUTH_OAUTH1, self.ctx)

    def is_subscribed(self, webhook_id=None):
        try:
            resp = self.client.request('GET', self.base + '/subscriptions.json', auth=AUTH_OAUTH1, context=self.ctx)
        except XApiError as err:
            # X answers "not subscribed" with a 4xx (404 / code 34 observed); a wrong label is still code 200.
            if err.kind == 'not_found' or (err.status in (400, 404) and err.kind == 'other'):
                return False
            raise
        return resp.status == 204 or (isinstance(resp.body, dict) and resp.body.get('subscribed', True) is not False)

    def subscribe(self, webhook_id=None):
        try:
            self.client.request('POST', self.base + '/subscriptions.json', auth=AUTH_OAUTH1,
                                context=dict(self.ctx, operation='subscribe'), idempotent=False)
        except XApiError as err:
            if err.kind == 'duplicate_subscription':
                return False
            if err.may_have_acted and self.is_subscribed():
                return True
            raise
        return True

    def list_subscriptions(self, webhook_id=None):
        resp = self.client.request('GET', self.base + '/subscriptions/list.json', auth=AUTH_BEARER, context=self.ctx)
        body = resp.body if isinstance(resp.body, dict) else {}
        return [str(s.get('user_id')) for s in body.get('subscriptions') or [] if isinstance(s, dict)]

    def unsubscribe(self, webhook_id, user_id):
        return self._delete('%s/subscriptions/%s.json' % (self.base, quote(str(user_id), safe='')), AUTH_BEARER, self.ctx)

    def subscription_counts(self):
        resp = self.client.request('GET', '/1.1/account_activity/all/subscriptions/count.json', auth=AUTH_BEARER)
        return _counts(resp.body)


class V2Backend(_Backend):
    """X API v2 webhooks (app-only bearer) and Account Activity subscriptions keyed by webhook id."""

    api_version = '2'

    def list_webhooks(self):
        resp = self.client.request('GET', '/2/webhooks', auth=AUTH_BEARER)
        body = resp.body if isinstance(resp.body, dict) else {}
        return [normalise_webhook(h) for h in body.get('data') or [] if isinstance(h, dict)]

    def create_webhook(self, url):
        def send():
            try:
                resp = self.client.request('POST', '/2/webhooks', auth=AUTH_BEARER, json_body={'url': url},
                                           context={'url': url}, idempotent=False)
            except XApiError as err:
                if err.kind != 'duplicate_url':
                    raise
                # Registered meanwhile (or by a dropped earlier attempt): it exists, use it.
                hook = self.find(self.list_webhooks(), url=url)
                if hook is None:
                    raise
                return hook
            body = resp.body if isinstance(resp.body, dict) else {}
            return normalise_webhook(body.get('data') or {'url': url, 'valid': True})
        return self._create_with_recheck(url, send)

    def revalidate(self, hook):
        resp = self.client.request('PUT', '/2/webhooks/%s' % hook['id'], auth=AUTH_BEARER, context={'url': hook.get('url')})
        data = (resp.body or {}).get('data') if isinstance(resp.body, dict) else None
        return bool(data.get('valid', True)) if isinstance(data, dict) else True

    def delete_webhook(self, hook_id):
        return self._delete('/2/webhooks/%s' % hook_id, AUTH_BEARER)

    def _sub_path(self, webhook_id):
        return '/2/account_activity/webhooks/%s/subscriptions' % quote(str(webhook_id), safe='')

    def is_subscribed(self, webhook_id):
        try:
            resp = self.client.request('GET', self._sub_path(webhook_id) + '/all', auth=AUTH_OAUTH1)
        except XApiError as err:
            # "Not subscribed" may come back as 404 or a 400 instead of {"data":{"subscribed":false}}.
            if err.status in (400, 404) and err.kind in ('not_found', 'other'):
                if err.reason == 'WebhookIdInvalid':
                    raise XApiError('Webhook id %s does not exist for this app (X: WebhookIdInvalid).' % webhook_id,
                                    'not_found', err.status, reason=err.reason)
                return False
            raise
        data = (resp.body or {}).get('data') if isinstance(resp.body, dict) else None
        if isinstance(data, dict):
            return bool(data.get('subscribed'))
        return resp.status == 204

    def subscribe(self, webhook_id):
        try:
            self.client.request('POST', self._sub_path(webhook_id) + '/all', auth=AUTH_OAUTH1, idempotent=False)
        except XApiError as err:
            if err.kind == 'duplicate_subscription':
                return False
            if err.may_have_acted and self.is_subscribed(webhook_id):
                return True
            raise
        return True

    def list_subscriptions(self, webhook_id):
        resp = self.client.request('GET', self._sub_path(webhook_id) + '/all/list', auth=AUTH_BEARER)
        body = resp.body if isinstance(resp.body, dict) else {}
        data = body.get('data') if isinstance(body.get('data'), dict) else body
        return [str(s.get('user_id')) for s in data.get('subscriptions') or [] if isinstance(s, dict)]

    def unsubscribe(self, webhook_id, user_id):
        return self._delete('%s/%s/all' % (self._sub_path(webhook_id), quote(str(user_id), safe='')), AUTH_BEARER)

    def subscription_counts(self):
        resp = self.client.request('GET', '/2/account_activity/subscriptions/count', auth=AUTH_BEARER)
        body = resp.body if isinstance(resp.body, dict) else {}
        return _counts(body.get('data') if isinstance(body.get('data'), dict) else body)


def _counts(body):
    if not isinstance(body, dict):
        return None
    out = {}
    for key in ('subscriptions_count', 'subscriptions_count_all', 'subscriptions_count_direct_messages', 'provisioned_count'):
        if key in body:
            try:
                out[key] = int(body[key])
            except (TypeError, ValueError):
                out[key] = None
    if 'subscriptions_count' not in out and 'subscriptions_count_all' in out:
        out['subscriptions_count'] = out['subscriptions_count_all']
    if body.get('account_name') is not None:
        out['account_name'] = str(body['account_name'])
    return out or None


# ---- CRC preflight ----------------------------------------------------------------------------------------


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
    if not HAS_REQUESTS:
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
