# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one X (Twitter) API client of the collection, and its stable import point.

The client is split by concern into private files (like community.crypto's ``_acme`` helpers):

* ``_x_transport``: transport and authentication (OAuth 1.0a, app-only bearer, retries, 429 waits, TLS), users;
* ``_x_errors``: ``XApiError`` and the mapping of X's answers to messages that name the cause and the fix;
* ``_x_common``: shapes and local checks shared by every family (webhooks, ids, timestamps);
* ``_x_aaa``: the Account Activity API (v1.1 environment labels and v2 webhook ids) behind one backend interface;
* ``_x_xaa``: the X Activity API (XAA) subscriptions and webhook replay;
* ``_x_crc``: the CRC response token and a probe that sends what X sends.

Import from here, never from the private files: ``XApiClient`` is the one client interface
(``client.backend(api_version, environment)`` for AAA, ``client.xaa()`` for XAA).
Modules decide desired state; the client only talks to X.
"""

from __future__ import annotations

from ansible_collections.hybridchat.ccm.plugins.module_utils._x_aaa import V11Backend, V2Backend
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_common import (
    DEFAULT_API_URL,
    MAX_URL_LENGTH,
    USERNAME_RE,
    WEBHOOK_ID_RE,
    check_webhook_url,
    iso8601,
    normalise_webhook,
)
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_crc import CrcProbeResult, crc_probe, crc_response_token, crc_verdict
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_errors import (
    AAA_END_DATE,
    AUTH_BASIC,
    AUTH_BEARER,
    AUTH_OAUTH1,
    AUTH_OAUTH2_USER,
    XApiError,
    explain_error,
    json_or_none,
)
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_transport import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    HAS_REQUESTS,
    MAX_RATE_LIMIT_WAITS,
    MAX_RETRIES,
    REQUESTS_IMPORT_ERROR,
    XApiTransport,
    XResponse,
)
from ansible_collections.hybridchat.ccm.plugins.module_utils._x_xaa import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_TAG,
    EVENT_TYPES,
    MAX_TAG_LENGTH,
    XaaApi,
    canonical_event_type,
    check_event_types,
    check_id,
    check_replay_window,
    check_tag,
    format_replay_date,
    normalise_subscription,
    parse_replay_time,
)

__all__ = (
    'AAA_END_DATE', 'AUTH_BASIC', 'AUTH_BEARER', 'AUTH_OAUTH1', 'AUTH_OAUTH2_USER', 'BACKOFF_BASE', 'BACKOFF_MAX', 'CrcProbeResult', 'DEFAULT_API_URL',
    'HAS_REQUESTS', 'MAX_RATE_LIMIT_WAITS', 'MAX_RETRIES', 'MAX_URL_LENGTH', 'REQUESTS_IMPORT_ERROR', 'USERNAME_RE',
    'V11Backend', 'V2Backend', 'WEBHOOK_ID_RE', 'XApiClient', 'XApiError', 'XResponse', 'check_webhook_url',
    'crc_probe', 'crc_response_token', 'crc_verdict', 'explain_error', 'iso8601', 'json_or_none', 'normalise_webhook',
    'DEFAULT_EVENT_TYPES', 'DEFAULT_TAG', 'EVENT_TYPES', 'MAX_TAG_LENGTH', 'XaaApi', 'canonical_event_type',
    'check_event_types', 'check_id', 'check_replay_window', 'check_tag', 'format_replay_date', 'normalise_subscription',
    'parse_replay_time',
)


class XApiClient(XApiTransport):
    """The X API client: one transport, and the API families behind it.

    One instance per module run. ``api_calls`` counts HTTP requests sent to X (retries included).
    """

    def backend(self, api_version, environment=None, all_environments=False):
        """The AAA v1.1 or v2 backend. all_environments: v1.1 without a label, for listing every environment."""
        if str(api_version) == '1.1':
            if all_environments and not environment:
                return V11Backend(self, None)
            if not environment:
                raise XApiError('api_version 1.1 needs environment (the dev environment label, TWITTER_ENVIRONMENT).',
                                'missing_credentials')
            return V11Backend(self, environment)
        return V2Backend(self)

    def xaa(self):
        """The X Activity API (XAA): subscriptions per event type and user, and webhook replay."""
        return XaaApi(self)
