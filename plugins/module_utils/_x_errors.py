# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""X API errors: the exception every client call raises, and the mapping of X's error answers (v1.1 codes, v2
reasons, problem+json) to messages that name the cause and the fix. Private: import from x_api."""

from __future__ import annotations

import json
import re

AUTH_OAUTH1 = 'oauth1'
AUTH_BEARER = 'bearer'
AUTH_BASIC = 'basic'
AUTH_OAUTH2_USER = 'oauth2_user'

_AUTH_LABEL = {
    AUTH_OAUTH1: 'OAuth 1.0a user context (consumer key/secret + access token/secret)',
    AUTH_BEARER: 'app-only bearer token',
    AUTH_BASIC: 'consumer key/secret (Basic auth)',
    AUTH_OAUTH2_USER: 'OAuth 2.0 user token (oauth2_user_token)',
}

_CRC_HELP = ('Run hybridchat.ccm.twitter_crc_check against the URL to see the exact failure: the endpoint must answer '
             'GET ?crc_token=..&nonce=.. over HTTPS (valid certificate, port 443, no redirect) with HTTP 200, JSON '
             '{"response_token": "sha256=..."} computed with this app\'s consumer secret, in less than 3 seconds.')

# The Account Activity API (AAA) reaches end of life on this date; its successor is the X Activity API (XAA).
AAA_END_DATE = '2027-01-01'
AAA_ENDED_FIX = ('AAA ended on %s. Move the site to the X Activity API (XAA): set ccm_twitter_activity_api: xaa for the '
                 'role hybridchat.ccm.ccm_twitter, or subscribe the account with hybridchat.ccm.twitter_activity_subscription '
                 '(the webhook registered with twitter_webhook stays as it is).' % AAA_END_DATE)
_AAA_PATHS = ('/1.1/account_activity/', '/2/account_activity/')
_XAA_PATHS = ('/2/activity/', '/2/webhooks/replay')
_AAA_ENDED_MARKERS = ('end of life', 'end-of-life', 'has ended', 'no longer available', 'no longer supported', 'sunset',
                      'retired', 'decommissioned', 'deprecated', 'aaa ended')


class XApiError(Exception):
    """An X API failure with a message that names the cause and the fix.

    ``kind`` is a normalised category the backends and modules decide on:
    env_label, crc, url_invalid, quota, duplicate_url, not_found, duplicate_subscription,
    subscription_limit, auth, clock, permission, token, not_permitted, unsupported_auth,
    rate_limit, server, connection, missing_credentials, bad_response, other;
    for XAA also webhook_invalid, not_authorized, replay_conflict, invalid_request; aaa_ended for AAA
    endpoints X no longer serves.
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
    if path.startswith(_AAA_PATHS):
        err = _aaa_ended(status, body, where)
        if err is not None:
            return err
    if path.startswith(_XAA_PATHS):
        err = explain_xaa_error(status, body, where, auth, context)
        if err is not None:
            return err
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
        if auth == AUTH_OAUTH2_USER:
            msg = ('X rejected the OAuth 2.0 user token %s: it is wrong, expired (user tokens last two hours unless '
                   'refreshed) or revoked. Set a current oauth2_user_token (TWITTER_OAUTH2_USER_TOKEN), or unset it and use '
                   'access_token/access_secret (OAuth 1.0a).' % quoted)
        elif auth == AUTH_BEARER:
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


def problem_parts(body):
    """Every text of an error body (problem+json, errors[] of Problems or v2 messages, {code, message}): a list."""
    items = []
    if isinstance(body, dict):
        items.append(body)
        if isinstance(body.get('errors'), list):
            items += [e for e in body['errors'] if isinstance(e, dict)]
    parts = []
    for item in items:
        for key in ('type', 'title', 'detail', 'message', 'reason', 'parameter', 'resource_type'):
            value = item.get(key)
            if isinstance(value, str) and value:
                parts.append(value)
    return parts


def problem_summary(body):
    """The first "title: detail" (or message) of an error body, for quoting in messages."""
    items = [body] if isinstance(body, dict) else []
    if isinstance(body, dict) and isinstance(body.get('errors'), list):
        items = [e for e in body['errors'] if isinstance(e, dict)] + items
    for item in items:
        title = item.get('title') if isinstance(item.get('title'), str) else ''
        detail = item.get('detail') or item.get('message')
        detail = detail if isinstance(detail, str) else ''
        if title and detail and detail != title:
            return '%s: %s' % (title, detail)
        if title or detail:
            return title or detail
    return ''


def _aaa_ended(status, body, where):
    """An AAA endpoint that X no longer serves (410 Gone, or an end-of-life text): the move to XAA."""
    low = ' '.join(problem_parts(body)).lower()
    if status == 410 or any(marker in low for marker in _AAA_ENDED_MARKERS):
        summary = problem_summary(body)
        quoted = '(X: HTTP %s%s on %s)' % (status, ' "%s"' % summary if summary else '', where)
        return XApiError('X no longer serves the Account Activity API endpoint %s. %s' % (quoted, AAA_ENDED_FIX),
                         'aaa_ended', status, None, None, summary)
    return None


def explain_xaa_error(status, body, where, auth, context=None):
    """Map an X Activity API (subscriptions, replay) failure to its cause and fix; None for the generic mapping.

    X does not document XAA's error bodies, so the match is on status and on words in any text of the answer
    (a duplicate may come as 409 or as 400 with "duplicate"/"already exists").
    """
    context = context or {}
    op = context.get('operation')
    parts = problem_parts(body)
    low = ' '.join(parts).lower()
    summary = problem_summary(body)
    quoted = '(X: HTTP %s%s on %s)' % (status, ' "%s"' % summary if summary else '', where)
    webhook_id = context.get('webhook_id')
    user_id = context.get('user_id')
    event_type = context.get('event_type')

    def err(msg, kind):
        return XApiError(msg, kind, status, None, None, summary)

    if status == 429:
        return None
    if op == 'replay' and (status == 409 or 'conflict' in low or 'in progress' in low or 'already' in low):
        return err('A replay job for webhook %s is still running %s: X runs one replay job per webhook at a time. Wait '
                   'for its replay_job_status event on the webhook (or a few minutes), then run the replay again.'
                   % (webhook_id, quoted), 'replay_conflict')
    if op != 'replay' and (status == 409 or 'duplicate' in low or 'already exists' in low or 'already subscribed' in low):
        return err('The subscription of user %s to %s already exists %s.' % (user_id, event_type, quoted),
                   'duplicate_subscription')
    if 'subscription' in low and any(w in low for w in ('limit', 'cap reached', 'maximum', 'exceeded', 'quota')):
        return err('The app\'s X Activity API subscription cap is reached %s (self-serve 1,500, Enterprise 75,000, Partner '
                   '150,000 subscriptions per app; a Direct Message site needs 2 per account). Delete subscriptions that are '
                   'no longer needed (hybridchat.ccm.twitter_activity_subscription_info lists them; '
                   'twitter_activity_subscription state=absent removes them) or ask X for a higher tier.' % quoted,
                   'subscription_limit')
    if 'webhookidinvalid' in low or 'webhook_id' in parts or (
            'webhook' in low and any(w in low for w in ('invalid', 'not found', 'does not exist', 'unknown', 'not exist'))):
        return err('webhook_id %s is not a valid webhook of this app %s: register the webhook with '
                   'hybridchat.ccm.twitter_webhook (api_version 2) and pass its id; hybridchat.ccm.twitter_webhook_info '
                   'lists the registered ids. A webhook that failed its CRC must be revalidated first.'
                   % (webhook_id, quoted), 'webhook_invalid')
    if status in (401, 403) and op == 'create' and ('application-only' in low or 'unsupported authentication' in low):
        return err('X refuses the app-only bearer token for %s subscriptions %s: private events (all dm.* types) are '
                   'created with the user context of the subscribed account: its access_token/access_secret (OAuth 1.0a) '
                   'or an oauth2_user_token with the dm.read scope.' % (event_type, quoted), 'unsupported_auth')
    if status in (401, 403) and re.search(r'not[- ]authori[sz]ed|(?:has|have)(?: not)? authori[sz]ed', low):
        return err('X refuses the subscription of user %s to %s %s: private events can only be subscribed for users who '
                   'have authorised this app. Use the access token and secret that account generated for this app '
                   '(or its oauth2_user_token with dm.read), and let user_id be that account\'s id (the default).'
                   % (user_id, event_type, quoted), 'not_authorized')
    if status in (401, 403) and any(w in low for w in ('permission', 'dm.read', 'scope', 'direct message')):
        return err('The app lacks Direct Message access for %s subscriptions %s: set the app permission to "Read and '
                   'write and Direct message" in the developer portal, then regenerate the access token and secret (tokens '
                   'keep the permission they were issued with); an oauth2_user_token needs the dm.read scope.'
                   % (event_type, quoted), 'permission')
    if status == 404 and op in ('update', 'delete'):
        return err('Subscription %s does not exist %s.' % (context.get('subscription_id'), quoted), 'not_found')
    if status == 400 and op in ('create', 'replay', 'update'):
        return err('X rejected the request as invalid %s: check event_type, user_id (digits), webhook_id (digits), tag '
                   '(1 to 200 characters) and, for a replay, a window within the past 24 hours.' % quoted, 'invalid_request')
    return None
