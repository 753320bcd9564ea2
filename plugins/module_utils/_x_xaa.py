# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The X Activity API (XAA), the successor of the Account Activity API: subscriptions (one per event type and user,
``/2/activity/subscriptions``) and webhook replay (``POST /2/webhooks/replay``), plus the local checks X would
otherwise fail later. Private: import from x_api.

X's documentation disagrees with itself on the response shapes (``data.subscription`` or a flat ``data``, a list or
an object, ``meta`` or none), so every answer is parsed defensively.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.hybridchat.ccm.plugins.module_utils._x_errors import AUTH_BEARER, AUTH_OAUTH1, XApiError, explain_error

SUBSCRIPTIONS_PATH = '/2/activity/subscriptions'
REPLAY_PATH = '/2/webhooks/replay'

DEFAULT_EVENT_TYPES = ('dm.received', 'dm.sent')
DEFAULT_TAG = 'hybridchat.ccm'
MAX_TAG_LENGTH = 200
MAX_RESULTS = 1000
# A guard against a pagination token that never ends (1000 subscriptions a page: 100 pages = 100,000).
MAX_PAGES = 150
ID_RE = re.compile(r'^[0-9]{1,19}$')
REPLAY_DATE_RE = re.compile(r'^[0-9]{12}$')
REPLAY_WINDOW = datetime.timedelta(hours=24)

# X's documented event types (docs.x.com x-api/activity/introduction and the OpenAPI enum of
# POST /2/activity/subscriptions, 2026-08).
EVENT_TYPES = frozenset((
    'post.create', 'post.delete', 'post.mention.create', 'post.reply.create', 'post.quote.create', 'post.repost.create',
    'like.create', 'follow.follow', 'follow.unfollow',
    'profile.update.bio', 'profile.update.profile_picture', 'profile.update.banner_picture',
    'profile.update.screenname', 'profile.update.handle', 'profile.update.geo', 'profile.update.url',
    'profile.update.verified_badge', 'profile.update.affiliate_badge',
    'chat.received', 'chat.sent', 'chat.conversation.join', 'chat.conversation_join',
    'chat.conversation.member_added', 'chat.conversation.member_removed', 'chat.conversation.admin_added',
    'chat.conversation.admin_removed', 'chat.update.group_name', 'chat.update.restrictions',
    'dm.received', 'dm.sent', 'dm.read', 'dm.indicate_typing',
    'news.new', 'spaces.start', 'spaces.end',
    'mute.mute', 'mute.unmute', 'block.block', 'block.unblock',
    'broadcast.start', 'broadcast.end', 'broadcast.chat',
))
# Deprecated spellings X accepts on create; its answers always use the canonical name.
EVENT_TYPE_ALIASES = {'chat.conversation_join': 'chat.conversation.join'}


def canonical_event_type(event_type):
    return EVENT_TYPE_ALIASES.get(event_type, event_type)


def check_event_types(event_types):
    """An error string naming the fix, or None."""
    if not event_types:
        return 'event_types must list at least one event type, for example [dm.received, dm.sent].'
    unknown = [e for e in event_types if e not in EVENT_TYPES]
    if unknown:
        hint = ''
        for name in unknown:
            if isinstance(name, str) and name.replace('_', '.').lower() in EVENT_TYPES:
                hint = ' (did you mean %s?)' % name.replace('_', '.').lower()
        return ('event_types holds %s, not an X Activity API event type%s. Use dot notation as X documents it, for '
                'example dm.received, dm.sent, dm.read, dm.indicate_typing; the full list: %s.'
                % (', '.join(repr(e) for e in unknown), hint, ', '.join(sorted(EVENT_TYPES))))
    return None


def check_id(name, value):
    if value is not None and not ID_RE.match(str(value)):
        return ('%s %r is not an X id: it must be 1 to 19 digits (the numeric id, not a name or URL).' % (name, value))
    return None


def check_tag(tag):
    if tag is None or not 1 <= len(tag) <= MAX_TAG_LENGTH:
        return ('tag must be 1 to %d characters long (it is %d); X echoes it on every delivered event, so keep it short, '
                'for example hybridchat.ccm.' % (MAX_TAG_LENGTH, len(tag or '')))
    return None


def normalise_subscription(raw):
    """One subscription shape: id, event_type, user_id, webhook_id, tag (strings or None)."""
    filt = raw.get('filter') if isinstance(raw.get('filter'), dict) else {}
    sub_id = raw.get('subscription_id', raw.get('id'))
    user_id = filt.get('user_id', raw.get('user_id'))
    webhook_id = raw.get('webhook_id')
    event_type = raw.get('event_type')
    return {
        'id': str(sub_id) if sub_id is not None else None,
        'event_type': canonical_event_type(event_type) if event_type is not None else None,
        'user_id': str(user_id) if user_id is not None else None,
        'webhook_id': str(webhook_id) if webhook_id not in (None, '') else None,
        'tag': raw.get('tag'),
    }


def _is_subscription(raw):
    return isinstance(raw, dict) and any(k in raw for k in ('subscription_id', 'id', 'event_type'))


def subscription_from_body(body):
    """The subscription of a create/update answer: data.subscription, a flat data, or the first of a data list."""
    data = body.get('data') if isinstance(body, dict) else None
    if isinstance(data, list):
        data = data[0] if data else None
    if isinstance(data, dict) and isinstance(data.get('subscription'), dict):
        data = data['subscription']
    return normalise_subscription(data) if _is_subscription(data) else None


def subscriptions_from_body(body):
    """The subscriptions of a list answer: a data list, data.subscriptions, or one object."""
    data = body.get('data') if isinstance(body, dict) else None
    if isinstance(data, dict):
        if isinstance(data.get('subscriptions'), list):
            data = data['subscriptions']
        elif isinstance(data.get('subscription'), dict):
            data = [data['subscription']]
        else:
            data = [data]
    return [normalise_subscription(s) for s in data or [] if _is_subscription(s)]


def next_token(body):
    meta = body.get('meta') if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return None
    token = meta.get('next_token') or meta.get('pagination_token')
    return str(token) if token else None


def _problem_status(body, default=400):
    """The status a 200 answer's errors[] name (X puts whole Problems there), else default."""
    for err in (body.get('errors') if isinstance(body, dict) else None) or []:
        if isinstance(err, dict) and isinstance(err.get('status'), int) and err['status'] >= 400:
            return err['status']
    return default


# ---- replay windows -------------------------------------------------------------------------------------------

def parse_replay_time(name, value):
    """A UTC datetime (seconds dropped) from X's yyyymmddhhmm or ISO 8601; raises ValueError naming the fix."""
    text = str(value).strip()
    if REPLAY_DATE_RE.match(text):
        try:
            return datetime.datetime.strptime(text, '%Y%m%d%H%M').replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise ValueError('%s %r is not a valid time in X\'s yyyymmddhhmm format.' % (name, value)) from None
    iso = text[:-1] + '+00:00' if text.endswith(('Z', 'z')) else text
    try:
        parsed = datetime.datetime.fromisoformat(iso.replace(' ', 'T', 1))
    except ValueError:
        raise ValueError('%s %r is neither ISO 8601 (for example 2026-12-07T09:30:00Z) nor X\'s yyyymmddhhmm (for '
                         'example 202612070930); both are UTC.' % (name, value)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc).replace(second=0, microsecond=0)


def format_replay_date(value):
    return value.strftime('%Y%m%d%H%M')


def check_replay_window(from_time, to_time, now):
    """An error string for a window X would refuse (past 24 hours, from <= to, not in the future), or None."""
    now = now.astimezone(datetime.timezone.utc)
    oldest = now - REPLAY_WINDOW
    if from_time > to_time:
        return ('from_time %s is after to_time %s: swap them.'
                % (from_time.strftime('%Y-%m-%dT%H:%MZ'), to_time.strftime('%Y-%m-%dT%H:%MZ')))
    if to_time > now:
        return ('to_time %s is in the future (now: %s UTC); X replays only what was already delivered: use a to_time '
                'up to now.' % (to_time.strftime('%Y-%m-%dT%H:%MZ'), now.strftime('%Y-%m-%dT%H:%M')))
    if from_time < oldest:
        return ('from_time %s is more than 24 hours ago; X replays only the past 24 hours: use a from_time after %s UTC.'
                % (from_time.strftime('%Y-%m-%dT%H:%MZ'), oldest.strftime('%Y-%m-%dT%H:%M')))
    return None


class XaaApi(object):
    """XAA operations on one client. Auth per endpoint: create with the user context of the subscribed account
    (OAuth 1.0a, or an OAuth 2.0 user token); list, update, delete and replay with the app-only bearer token."""

    def __init__(self, client):
        self.client = client

    def _warn_partial(self, body, where):
        errors = body.get('errors') if isinstance(body, dict) else None
        if errors:
            texts = []
            for err in errors:
                if isinstance(err, dict):
                    texts.append(str(err.get('detail') or err.get('message') or err.get('title') or err))
            self.client.warn('X answered %s with non-fatal errors: %s' % (where, '; '.join(texts)[:500]))

    def list_user_subscriptions(self, max_results=MAX_RESULTS):
        """The subscriptions a user-context reconcile needs, for the fewest calls.

        X's specification lets GET /2/activity/subscriptions take OAuth 1.0a user context as well as the app bearer.
        Without a configured bearer token that saves the POST /oauth2/token of an idempotent run. Whether user context
        lists every subscription of the app or only the user's is unconfirmed; callers filter by user either way.
        Refused (401/403: a tier or app that wants the bearer), the list is read again with the app bearer.
        """
        client = self.client
        if client.bearer_token or not (client.access_token and client.access_secret):
            return self.list_subscriptions(max_results)
        try:
            return self.list_subscriptions(max_results, auth=AUTH_OAUTH1)
        except XApiError as err:
            if err.status in (401, 403):
                return self.list_subscriptions(max_results)
            raise

    def list_subscriptions(self, max_results=MAX_RESULTS, auth=AUTH_BEARER):
        """Every subscription of the app (all pages)."""
        subs = []
        seen = set()
        token = None
        for _page in range(MAX_PAGES):
            params = {'max_results': max_results}
            if token:
                params['pagination_token'] = token
            resp = self.client.request('GET', SUBSCRIPTIONS_PATH, auth=auth, params=params,
                                       context={'operation': 'list'})
            self._warn_partial(resp.body, 'GET ' + SUBSCRIPTIONS_PATH)
            subs += subscriptions_from_body(resp.body)
            token = next_token(resp.body)
            if not token or token in seen:
                break
            seen.add(token)
        return subs

    @staticmethod
    def find(subs, event_type, user_id):
        event_type = canonical_event_type(event_type)
        return [s for s in subs if s['event_type'] == event_type and s['user_id'] == str(user_id)]

    def create_subscription(self, event_type, user_id, webhook_id=None, tag=None):
        """(subscription, created). A duplicate is no failure: the existing subscription is read back (created False).

        POST is not idempotent: after a dropped connection or a 5xx the subscriptions are re-read before sending again.
        """
        body = {'event_type': event_type, 'filter': {'user_id': str(user_id)}}
        if tag is not None:
            body['tag'] = tag
        if webhook_id is not None:
            body['webhook_id'] = str(webhook_id)
        auth = self.client.user_auth()
        ctx = {'operation': 'create', 'event_type': event_type, 'user_id': user_id, 'webhook_id': webhook_id}
        where = 'POST ' + SUBSCRIPTIONS_PATH

        def send():
            resp = self.client.request('POST', SUBSCRIPTIONS_PATH, auth=auth, json_body=body, idempotent=False, context=ctx)
            sub = subscription_from_body(resp.body)
            if sub is None and isinstance(resp.body, dict) and resp.body.get('errors'):
                raise explain_error(_problem_status(resp.body), resp.body, 'POST', SUBSCRIPTIONS_PATH, auth, ctx)
            self._warn_partial(resp.body, where)
            if sub is None or sub['id'] is None:
                raise XApiError('X answered %s without the subscription it created (HTTP %s); list the subscriptions '
                                'with hybridchat.ccm.twitter_activity_subscription_info.' % (where, resp.status),
                                'bad_response', resp.status)
            for key, value in (('event_type', canonical_event_type(event_type)), ('user_id', str(user_id)),
                               ('webhook_id', body.get('webhook_id')), ('tag', tag)):
                if sub[key] is None:
                    sub[key] = value
            return sub

        try:
            return send(), True
        except XApiError as err:
            if err.kind != 'duplicate_subscription' and not err.may_have_acted:
                raise
            existing = self.find(self.list_user_subscriptions(), event_type, user_id)
            if existing:
                return existing[0], err.kind != 'duplicate_subscription'
            if err.kind == 'duplicate_subscription':
                err.msg += (' It is not listed yet: X may still be provisioning it (this can take a few minutes); run '
                            'the task again later.')
                raise
            self.client.warn('Creating the %s subscription failed in a way X may have acted on (%s); it is not listed, '
                             'so it is sent again.' % (event_type, err.kind))
            return send(), True

    def update_subscription(self, subscription_id, webhook_id=None, tag=None):
        """PUT: only webhook_id and tag can change. The updated subscription, or None when X does not return it."""
        body = {}
        if webhook_id is not None:
            body['webhook_id'] = str(webhook_id)
        if tag is not None:
            body['tag'] = tag
        path = '%s/%s' % (SUBSCRIPTIONS_PATH, subscription_id)
        resp = self.client.request('PUT', path, auth=AUTH_BEARER, json_body=body,
                                   context={'operation': 'update', 'subscription_id': subscription_id,
                                            'webhook_id': webhook_id})
        sub = subscription_from_body(resp.body)
        if sub is None and isinstance(resp.body, dict) and resp.body.get('errors'):
            raise explain_error(_problem_status(resp.body), resp.body, 'PUT', path, AUTH_BEARER,
                                {'operation': 'update', 'subscription_id': subscription_id, 'webhook_id': webhook_id})
        self._warn_partial(resp.body, 'PUT ' + path)
        return sub

    def delete_subscription(self, subscription_id):
        """True when deleted, False when it was already absent."""
        path = '%s/%s' % (SUBSCRIPTIONS_PATH, subscription_id)
        try:
            resp = self.client.request('DELETE', path, auth=AUTH_BEARER,
                                       context={'operation': 'delete', 'subscription_id': subscription_id})
        except XApiError as err:
            if err.kind == 'not_found':
                return False
            raise
        data = resp.body.get('data') if isinstance(resp.body, dict) else None
        if isinstance(data, dict) and data.get('deleted') is False:
            raise XApiError('X did not delete subscription %s (DELETE %s answered deleted: false); run again, or check it '
                            'with hybridchat.ccm.twitter_activity_subscription_info.' % (subscription_id, path),
                            'bad_response', resp.status)
        return True

    def replay(self, webhook_id, from_date, to_date):
        """POST /2/webhooks/replay with X's yyyymmddhhmm dates: {'job_id', 'created_at'}. Never re-sent blindly."""
        ctx = {'operation': 'replay', 'webhook_id': webhook_id}
        body = {'webhook_id': str(webhook_id), 'from_date': from_date, 'to_date': to_date}
        try:
            resp = self.client.request('POST', REPLAY_PATH, auth=AUTH_BEARER, json_body=body, idempotent=False, context=ctx)
        except XApiError as err:
            if err.may_have_acted:
                err.msg += (' X may have created the replay job anyway: a second run in the next minutes may be refused '
                            'as a job already running for this webhook.')
            raise
        data = resp.body if isinstance(resp.body, dict) else {}
        if isinstance(data.get('data'), dict):
            data = data['data']
        if not data.get('job_id'):
            if isinstance(resp.body, dict) and resp.body.get('errors'):
                raise explain_error(_problem_status(resp.body), resp.body, 'POST', REPLAY_PATH, AUTH_BEARER, ctx)
            raise XApiError('X answered POST %s without a job_id (HTTP %s).' % (REPLAY_PATH, resp.status), 'bad_response',
                            resp.status)
        return {'job_id': str(data['job_id']), 'created_at': data.get('created_at')}
