# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Account Activity API (AAA) behind one backend interface: v1.1 environment-label endpoints and v2
webhook-id endpoints. AAA ends on 2027-01-01 (see _x_xaa for its successor). Private: import from x_api."""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.hybridchat.ccm.plugins.module_utils._x_common import normalise_webhook
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_errors import AUTH_BEARER, AUTH_OAUTH1, XApiError


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
