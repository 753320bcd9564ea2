# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An in-memory stand-in for the X API, plugged in as the client's requests session (no network)."""

from __future__ import annotations

import json
import re

from urllib.parse import parse_qs, urlsplit

from requests_oauthlib import OAuth1

CONSUMER_KEY = 'ck-unit-0123456789abcdefghijklmnop'
CONSUMER_SECRET = 'cs-unit-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH'
ACCESS_TOKEN = '1111-at-unit-0123456789abcdefghijklmnopqr'
ACCESS_SECRET = 'as-unit-0123456789abcdefghijklmnopqrstuvwxyzABC'
BEARER = 'AAAAbearer-unit-0123456789abcdefghijklmnopqrstuvwxyz'
OAUTH2_USER_TOKEN = 'o2u-unit-0123456789abcdefghijklmnopqrstuvwxyzABCDEF'
OWNER_ID = '1111'
OWNER = {'id': OWNER_ID, 'username': 'ccm_bot', 'name': 'CCM Bot'}
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, BEARER, OAUTH2_USER_TOKEN)

CREDS = dict(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, access_token=ACCESS_TOKEN,
             access_secret=ACCESS_SECRET, api_url='https://api.example.test')


class FakeResponse(object):
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self.headers = dict(headers or {})
        if body is None:
            self.text = ''
        elif isinstance(body, str):
            self.text = body
        else:
            self.text = json.dumps(body)
            self.headers.setdefault('content-type', 'application/json')


def v1_error(code, message, status):
    return FakeResponse(status, {'errors': [{'code': code, 'message': message}]})


def v2_error(reason, details, status=400):
    return FakeResponse(status, {'errors': [{'message': '%s: %s' % (reason, details)}], 'title': 'Invalid Request',
                                 'detail': 'One or more parameters to your request was invalid.',
                                 'type': 'https://api.twitter.com/2/problems/invalid-request'})


class FakeX(object):
    """State: webhooks per environment (v1.1, key None for v2), subscriptions per webhook id."""

    def __init__(self, environments=('prod',), max_webhooks=1):
        self.environments = list(environments)
        self.max_webhooks = max_webhooks
        self.webhooks = []          # dicts: id, url, valid, created, env
        self.subs = {}              # webhook id -> set(user ids)
        self.crc_fail = {}          # url -> message
        self.faults = []            # [regex, method, response-or-exception, times]
        self.log = []               # (method, path, auth)
        self.refuse_user_list = False
        self.users = {'ccm_bot': OWNER, 'other_user': {'id': '2222', 'username': 'other_user', 'name': 'Other'}}
        self.suspended = {'bad_guy'}
        self.next_id = 1000000000000000000
        # X Activity API state: subscriptions (id, event_type, user_id, webhook_id, tag) and how answers are shaped.
        self.xaa_subs = []
        self.xaa_page_size = 1000
        self.xaa_shape = 'nested'       # nested: data.subscription; flat: data; list: [data] + meta
        self.xaa_meta_key = 'next_token'
        self.xaa_cap = 1500
        self.xaa_duplicate = 409        # 409, or 400 with "already exists" text
        self.replay_jobs = []
        self.next_sub = 1900000000000000000

    # -- helpers for tests --
    def add_webhook(self, url, env=None, valid=True):
        self.next_id += 1
        hook = {'id': str(self.next_id), 'url': url, 'valid': valid, 'env': env}
        self.webhooks.append(hook)
        self.subs[hook['id']] = set()
        return hook

    def fault(self, method, pattern, response, times=1):
        self.faults.append([re.compile(pattern), method, response, times])

    def paths(self):
        return ['%s %s' % (m, p) for m, p, _a in self.log]

    # -- requests.Session interface --
    def request(self, method, url, params=None, data=None, json=None, headers=None, auth=None, **_kw):
        parts = urlsplit(url)
        path = parts.path
        query = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
        query.update(params or {})
        headers = headers or {}
        if isinstance(auth, OAuth1):
            kind = 'oauth1'
        elif headers.get('Authorization', '') == 'Bearer ' + OAUTH2_USER_TOKEN:
            kind = 'oauth2_user'
        elif headers.get('Authorization', '').startswith('Bearer '):
            kind = 'bearer'
        elif headers.get('Authorization', '').startswith('Basic '):
            kind = 'basic'
        else:
            kind = None
        self.log.append((method, path, kind))
        self.last_query, self.last_json = query, json
        for fault in self.faults:
            if fault[3] > 0 and fault[1] == method and fault[0].search(path):
                fault[3] -= 1
                if isinstance(fault[2], Exception):
                    raise fault[2]
                return fault[2]
        return self.route(method, path, query, data, json, kind)

    def _hook_out(self, hook, v2):
        if v2:
            return {'id': hook['id'], 'url': hook['url'], 'valid': hook['valid'], 'created_at': '2025-01-15T12:00:00.000Z'}
        return {'id': hook['id'], 'url': hook['url'], 'valid': hook['valid'], 'created_timestamp': '2019-09-13 12:34:47 +0000'}

    def _create(self, url, env, v2):
        hooks = [h for h in self.webhooks if h['env'] == env]
        if v2 and any(h['url'] == url for h in hooks):
            return v2_error('DuplicateUrlFailed', 'URL already registered')
        if len(hooks) >= self.max_webhooks:
            return v2_error('WebhookLimitExceeded', 'limit 1') if v2 else v1_error(214, 'Too many resources already created.', 403)
        if url in self.crc_fail:
            msg = self.crc_fail[url]
            return v2_error('CrcValidationFailed', msg) if v2 else v1_error(214, msg, 400)
        hook = self.add_webhook(url, env)
        return FakeResponse(200, {'data': self._hook_out(hook, True)} if v2 else self._hook_out(hook, False))

    def route(self, method, path, query, data, body, auth):
        if path == '/oauth2/token' and method == 'POST':
            return FakeResponse(200, {'token_type': 'bearer', 'access_token': BEARER})
        if path == '/2/users/me':
            if auth not in ('oauth1', 'oauth2_user'):
                return FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'Authenticating with OAuth 2.0 '
                                          'Application-Only is forbidden for this endpoint.', 'status': 403})
            return FakeResponse(200, {'data': OWNER})
        if path == '/1.1/account/verify_credentials.json':
            return FakeResponse(200, {'id': int(OWNER_ID), 'id_str': OWNER_ID, 'screen_name': 'ccm_bot', 'name': 'CCM Bot'})
        m = re.match(r'^/2/users/by/username/(.+)$', path)
        if m:
            name = m.group(1)
            if name in self.suspended:
                return FakeResponse(200, {'errors': [{'detail': 'User has been suspended: [%s].' % name, 'title': 'Forbidden'}]})
            if name not in self.users:
                return FakeResponse(200, {'errors': [{'detail': 'Could not find user with username: [%s].' % name,
                                                      'title': 'Not Found Error'}]})
            return FakeResponse(200, {'data': self.users[name]})
        if path.startswith('/2/activity/') or path == '/2/webhooks/replay':
            return self.route_xaa(method, path, query, body, auth)
        if path.startswith('/2/'):
            return self.route_v2(method, path, body, auth)
        if path == '/1.1/account_activity/all/subscriptions/count.json':
            total = sum(len(s) for s in self.subs.values())
            return FakeResponse(200, {'account_name': 'app', 'subscriptions_count': str(total), 'provisioned_count': '15'})
        m = re.match(r'^/1\.1/account_activity/all/([^/]+)/(.*)$', path)
        if m:
            return self.route_v1(method, m.group(1), m.group(2), query, auth)
        return v1_error(34, 'Sorry, that page does not exist', 404)

    def route_v1(self, method, env, rest, query, auth):
        if env not in self.environments:
            return v1_error(200, 'Forbidden.', 403)
        hooks = [h for h in self.webhooks if h['env'] == env]
        if rest == 'webhooks.json':
            if method == 'GET':
                return FakeResponse(200, [self._hook_out(h, False) for h in hooks])
            if method == 'POST':
                if auth != 'oauth1':
                    return v1_error(261, 'Application cannot perform write actions.', 403)
                return self._create(query.get('url'), env, False)
        m = re.match(r'^webhooks/(\d+)\.json$', rest)
        if m:
            hook = [h for h in hooks if h['id'] == m.group(1)]
            if not hook:
                return v1_error(34, 'Webhook does not exist or is associated with a different twitter application.', 404)
            hook = hook[0]
            if method == 'DELETE':
                self.webhooks.remove(hook)
                return FakeResponse(204)
            if method == 'PUT':
                if hook['url'] in self.crc_fail:
                    hook['valid'] = False
                    return v1_error(214, self.crc_fail[hook['url']], 400)
                hook['valid'] = True
                return FakeResponse(204)
        hook_id = hooks[0]['id'] if hooks else None
        subs = self.subs.get(hook_id, set())
        if rest == 'subscriptions.json':
            if hook_id is None:
                return v1_error(34, 'Webhook does not exist or is associated with a different twitter application.', 404)
            if method == 'GET':
                return FakeResponse(204) if OWNER_ID in subs else v1_error(34, 'Sorry, that page does not exist.', 404)
            if method == 'POST':
                if OWNER_ID in subs:
                    return v1_error(355, 'Subscription already exists.', 409)
                subs.add(OWNER_ID)
                return FakeResponse(204)
        if rest == 'subscriptions/list.json':
            return FakeResponse(200, {'environment': env, 'application_id': '1', 'subscriptions': [{'user_id': u} for u in sorted(subs)]})
        m = re.match(r'^subscriptions/(\d+)\.json$', rest)
        if m and method == 'DELETE':
            if m.group(1) not in subs:
                return v1_error(34, 'Sorry, that page does not exist.', 404)
            subs.discard(m.group(1))
            return FakeResponse(204)
        return v1_error(34, 'Sorry, that page does not exist', 404)

    def route_v2(self, method, path, body, auth):
        hooks = [h for h in self.webhooks if h['env'] is None]
        if path.startswith('/2/webhooks') and auth != 'bearer':
            return FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'bearer only', 'status': 403})
        if path == '/2/webhooks':
            if method == 'GET':
                return FakeResponse(200, {'data': [self._hook_out(h, True) for h in hooks], 'meta': {'result_count': len(hooks)}})
            if method == 'POST':
                return self._create(body['url'], None, True)
        m = re.match(r'^/2/webhooks/(\d+)$', path)
        if m:
            hook = [h for h in hooks if h['id'] == m.group(1)]
            if not hook:
                return v2_error('WebhookIdInvalid', 'no such webhook')
            hook = hook[0]
            if method == 'DELETE':
                self.webhooks.remove(hook)
                return FakeResponse(200, {'data': {'deleted': True}})
            if method == 'PUT':
                hook['valid'] = hook['url'] not in self.crc_fail
                return FakeResponse(200, {'data': {'valid': hook['valid']}})
        if path == '/2/account_activity/subscriptions/count':
            total = sum(len(s) for s in self.subs.values())
            return FakeResponse(200, {'data': {'account_name': 'app', 'provisioned_count': '3', 'subscriptions_count_all': str(total),
                                               'subscriptions_count_direct_messages': '0'}})
        m = re.match(r'^/2/account_activity/webhooks/(\d+)/subscriptions/(.*)$', path)
        if m:
            hook_id, rest = m.group(1), m.group(2)
            if hook_id not in [h['id'] for h in hooks]:
                return v2_error('WebhookIdInvalid', 'no such webhook')
            subs = self.subs[hook_id]
            if rest == 'all' and method == 'GET':
                return FakeResponse(200, {'data': {'subscribed': OWNER_ID in subs}})
            if rest == 'all' and method == 'POST':
                if auth != 'oauth1':
                    return FakeResponse(403, {'title': 'Unsupported Authentication',
                                              'detail': 'Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.'})
                if OWNER_ID in subs:
                    return v2_error('DuplicateSubscriptionFailed', 'already subscribed')
                subs.add(OWNER_ID)
                return FakeResponse(200, {'data': {'subscribed': True}})
            if rest == 'all/list':
                return FakeResponse(200, {'data': {'application_id': '1', 'webhook_id': hook_id,
                                                   'subscriptions': [{'user_id': u} for u in sorted(subs)]}})
            m = re.match(r'^(\d+)/all$', rest)
            if m and method == 'DELETE':
                if m.group(1) not in subs:
                    return v2_error('SubscriptionNotFound', 'not subscribed')
                subs.discard(m.group(1))
                return FakeResponse(200, {'data': {'subscribed': False}})
        return FakeResponse(404, {'title': 'Not Found Error', 'detail': 'no route'})

    # -- X Activity API --
    def add_sub(self, event_type, user_id=OWNER_ID, webhook_id=None, tag='hybridchat.ccm'):
        self.next_sub += 1
        sub = {'id': str(self.next_sub), 'event_type': event_type, 'user_id': user_id, 'webhook_id': webhook_id, 'tag': tag}
        self.xaa_subs.append(sub)
        return sub

    @staticmethod
    def sub_out(sub):
        out = {'subscription_id': sub['id'], 'event_type': sub['event_type'], 'filter': {'user_id': sub['user_id']},
               'created_at': '2026-12-01T10:00:00.000Z', 'updated_at': '2026-12-01T10:00:00.000Z'}
        for key in ('webhook_id', 'tag'):
            if sub[key] is not None:
                out[key] = sub[key]
        return out

    def _one(self, sub):
        if self.xaa_shape == 'flat':
            return {'data': self.sub_out(sub)}
        if self.xaa_shape == 'list':
            return {'data': [self.sub_out(sub)], 'meta': {'total_subscriptions': len(self.xaa_subs)}}
        return {'data': {'subscription': self.sub_out(sub)}}

    def route_xaa(self, method, path, query, body, auth):
        hooks = [h['id'] for h in self.webhooks if h['env'] is None]
        if path == '/2/webhooks/replay':
            if auth != 'bearer':
                return FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'bearer only', 'status': 403})
            if body['webhook_id'] not in hooks:
                return v2_error('WebhookIdInvalid', 'no such webhook')
            self.replay_jobs.append(dict(body))
            return FakeResponse(200, {'data': {'job_id': '177' + str(len(self.replay_jobs)),
                                               'created_at': '2026-12-07T12:00:00.000Z'}})
        if path == '/2/activity/subscriptions' and method == 'GET':
            # X's specification allows bearer or user context; refuse_user_list plays a tier that wants the bearer.
            if auth != 'bearer' and (self.refuse_user_list or auth != 'oauth1'):
                return FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'bearer only', 'status': 403})
            start = int(query.get('pagination_token', 'tok0000000000000000')[3:] or 0)
            page = self.xaa_subs[start:start + self.xaa_page_size]
            out = {'data': [self.sub_out(s) for s in page]}
            if start + self.xaa_page_size < len(self.xaa_subs) and self.xaa_meta_key:
                out['meta'] = {self.xaa_meta_key: 'tok%016d' % (start + self.xaa_page_size), 'result_count': len(page)}
            return FakeResponse(200, out)
        if path == '/2/activity/subscriptions' and method == 'POST':
            event_type = body['event_type']
            if auth == 'bearer' and event_type.startswith('dm.'):
                return FakeResponse(403, {'title': 'Unsupported Authentication',
                                          'detail': 'Authenticating with OAuth 2.0 Application-Only is forbidden for this '
                                                    'endpoint.', 'status': 403})
            if body.get('webhook_id') and body['webhook_id'] not in hooks:
                return FakeResponse(400, {'title': 'Invalid Request', 'detail': 'The webhook_id is invalid.',
                                          'type': 'https://api.x.com/2/problems/invalid-request', 'status': 400})
            user = body['filter']['user_id']
            if user != OWNER_ID:
                return FakeResponse(403, {'title': 'Forbidden', 'detail': 'The user has not authorized your application.',
                                          'type': 'https://api.x.com/2/problems/not-authorized-for-resource', 'status': 403})
            if [s for s in self.xaa_subs if s['event_type'] == event_type and s['user_id'] == user]:
                if self.xaa_duplicate == 409:
                    return FakeResponse(409, {'title': 'Conflict', 'detail': 'Duplicate subscription.', 'status': 409})
                return FakeResponse(400, {'errors': [{'message': 'Subscription already exists for this filter.'}],
                                          'title': 'Invalid Request'})
            if len(self.xaa_subs) >= self.xaa_cap:
                return FakeResponse(400, {'title': 'Invalid Request', 'detail': 'Subscription limit reached for this '
                                          'application.', 'status': 400})
            sub = self.add_sub(event_type, user, body.get('webhook_id'), body.get('tag'))
            return FakeResponse(200, self._one(sub))
        m = re.match(r'^/2/activity/subscriptions/(\d+)$', path)
        if m:
            if auth != 'bearer':
                return FakeResponse(403, {'title': 'Unsupported Authentication', 'detail': 'bearer only', 'status': 403})
            sub = [s for s in self.xaa_subs if s['id'] == m.group(1)]
            if not sub:
                return FakeResponse(404, {'title': 'Not Found Error', 'detail': 'Subscription not found.',
                                          'type': 'https://api.x.com/2/problems/resource-not-found', 'status': 404})
            sub = sub[0]
            if method == 'DELETE':
                self.xaa_subs.remove(sub)
                return FakeResponse(200, {'data': {'deleted': True}})
            if method == 'PUT':
                if set(body) - {'webhook_id', 'tag'}:
                    return FakeResponse(400, {'title': 'Invalid Request', 'detail': 'only webhook_id and tag'})
                if body.get('webhook_id') and body['webhook_id'] not in hooks:
                    return FakeResponse(400, {'title': 'Invalid Request', 'detail': 'webhook_id not found', 'status': 400})
                sub.update(body)
                out = self._one(sub)
                if self.xaa_shape == 'nested':
                    out['data']['total_subscriptions'] = len(self.xaa_subs)
                return FakeResponse(200, out)
        return FakeResponse(404, {'title': 'Not Found Error', 'detail': 'no route'})
