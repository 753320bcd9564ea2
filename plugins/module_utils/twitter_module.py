# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared pieces of the twitter_* modules: argument spec with environment fallbacks, client factory,
failure reporting and secret masking."""

from __future__ import annotations

import copy

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.hybridchat.ccm.plugins.module_utils.x_api import (
    DEFAULT_API_URL,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    XApiClient,
    XApiError,
)

SECRET_OPTIONS = ('consumer_key', 'consumer_secret', 'access_token', 'access_secret', 'bearer_token', 'oauth2_user_token')
MASK = '********'


def twitter_argument_spec():
    """The common options of every twitter_* module (documented in the hybridchat.ccm.twitter doc fragment)."""
    return dict(
        consumer_key=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_CONSUMER_KEY'])),
        consumer_secret=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_CONSUMER_SECRET'])),
        access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_ACCESS_TOKEN'])),
        access_secret=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_ACCESS_SECRET'])),
        bearer_token=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_BEARER_TOKEN'])),
        oauth2_user_token=dict(type='str', no_log=True, fallback=(env_fallback, ['TWITTER_OAUTH2_USER_TOKEN'])),
        api_version=dict(type='str', choices=['1.1', '2'], fallback=(env_fallback, ['TWITTER_API_VERSION']), default='2'),
        environment=dict(type='str', fallback=(env_fallback, ['TWITTER_ENVIRONMENT'])),
        api_url=dict(type='str', fallback=(env_fallback, ['TWITTER_API_URL']), default=DEFAULT_API_URL),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='int', default=30),
        rate_limit_wait=dict(type='int', default=60),
    )


class TwitterModule(AnsibleModule):
    """AnsibleModule with the common twitter options merged in, a client factory and X-aware failure."""

    def __init__(self, argument_spec=None, needs_environment=True, **kwargs):
        spec = twitter_argument_spec()
        spec.update(argument_spec or {})
        if needs_environment:
            kwargs['required_if'] = list(kwargs.get('required_if') or []) + [('api_version', '1.1', ['environment'])]
        super(TwitterModule, self).__init__(argument_spec=spec, **kwargs)
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib('requests and requests-oauthlib'), exception=REQUESTS_IMPORT_ERROR)
        self._client = None

    @property
    def api_version(self):
        return str(self.params['api_version'])

    def client(self):
        if self._client is None:
            p = self.params
            if p['timeout'] is not None and p['timeout'] <= 0:
                self.fail_json(msg='timeout must be a positive number of seconds.')
            self._client = XApiClient(
                consumer_key=p['consumer_key'], consumer_secret=p['consumer_secret'],
                access_token=p['access_token'], access_secret=p['access_secret'], bearer_token=p['bearer_token'],
                oauth2_user_token=p['oauth2_user_token'],
                api_url=p['api_url'], validate_certs=p['validate_certs'], ca_path=p['ca_path'], timeout=p['timeout'],
                rate_limit_wait=max(0, p['rate_limit_wait'] or 0), warn=self.warn,
            )
        return self._client

    def backend(self):
        return self.client().backend(self.api_version, self.params['environment'])

    @property
    def api_calls(self):
        return self._client.api_calls if self._client is not None else 0

    def secret_values(self):
        values = [self.params.get(name) for name in SECRET_OPTIONS]
        if self._client is not None and self._client.bearer_fetched:
            # A fetched bearer token is no module parameter, so Ansible does not know to hide it.
            self.no_log_values.add(self._client.bearer_token)
            values.append(self._client.bearer_token)
        return [v for v in values if v]

    def mask(self, data):
        return mask_secrets(data, self.secret_values())

    def finish(self, **result):
        result['api_calls'] = self.api_calls
        self.exit_json(**self.mask(result))

    def fail_api(self, err, **result):
        """Fail with the X error's explanation, never echoing a secret."""
        result['api_calls'] = self.api_calls
        if isinstance(err, XApiError):
            result.setdefault('error_kind', err.kind)
            if err.status is not None:
                result.setdefault('status_code', err.status)
            msg = err.msg
        else:
            msg = str(err)
        self.fail_json(msg=self.mask(msg), **self.mask(result))


def mask_secrets(data, secrets):
    """Replace every secret substring in strings of a (nested) result with a fixed mask."""
    secrets = sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True)
    if not secrets:
        return copy.deepcopy(data)

    def walk(value):
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return dict((k, MASK if k in SECRET_OPTIONS and v else walk(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value
    return walk(data)
