# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
attributes:
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - hybridchat.ccm.twitter
options:
  consumer_key:
    description:
      - The app's API key (consumer key).
      - Needed for OAuth 1.0a user-context calls and to fetch a bearer token from C(POST /oauth2/token).
      - If not set, the environment variable E(TWITTER_CONSUMER_KEY) is used.
    type: str
  consumer_secret:
    description:
      - The app's API key secret (consumer secret). It also keys the CRC HMAC of the webhook.
      - If not set, the environment variable E(TWITTER_CONSUMER_SECRET) is used.
    type: str
  access_token:
    description:
      - Access token of the account whose Direct Messages are handled (OAuth 1.0a user context).
      - Needed for v1.1 webhook management, for subscriptions, and to look up the token's owner.
      - If not set, the environment variable E(TWITTER_ACCESS_TOKEN) is used.
    type: str
  access_secret:
    description:
      - Access token secret belonging to O(access_token).
      - If not set, the environment variable E(TWITTER_ACCESS_SECRET) is used.
    type: str
  bearer_token:
    description:
      - App-only OAuth 2.0 bearer token, used by the endpoints that need app-only auth (all v2 webhook calls,
        subscription lists, counts and removal).
      - When not set and an endpoint needs it, it is fetched once per task from C(POST /oauth2/token)
        with O(consumer_key) and O(consumer_secret).
      - If not set, the environment variable E(TWITTER_BEARER_TOKEN) is used.
    type: str
  oauth2_user_token:
    description:
      - An OAuth 2.0 user-context access token of the account whose Direct Messages are handled, holding the
        C(dm.read) scope (plus C(users.read) and C(tweet.read) to look up its owner).
      - An alternative to O(access_token)/O(access_secret) for creating X Activity API (XAA) subscriptions, in case
        X refuses OAuth 1.0a for a tier. It is used only when O(access_token) and O(access_secret) are not both set.
      - OAuth 2.0 user tokens expire after two hours unless refreshed; the collection does not refresh them.
      - If not set, the environment variable E(TWITTER_OAUTH2_USER_TOKEN) is used.
    type: str
  api_version:
    description:
      - Which generation of the Account Activity API (AAA) to use. AAA ends on 2027-01-01; the X Activity API
        modules (M(hybridchat.ccm.twitter_activity_subscription) and friends) do not use this option.
      - V(1.1) is the premium API with dev environment labels (see O(environment)); V(2) uses C(/2/webhooks) and
        C(/2/account_activity).
      - If not set, the environment variable E(TWITTER_API_VERSION) is used.
    type: str
    choices: ['1.1', '2']
    default: '2'
  environment:
    description:
      - The v1.1 dev environment label, exactly as on the developer portal. Labels are case-sensitive.
      - Required when O(api_version=1.1) for the modules that manage webhooks or subscriptions; ignored with V(2).
      - If not set, the environment variable E(TWITTER_ENVIRONMENT) is used.
    type: str
  api_url:
    description:
      - Base URL of the X API, for a proxy or a test emulator. X serves the API as V(https://api.x.com);
        V(https://api.twitter.com) still answers.
      - If not set, the environment variable E(TWITTER_API_URL) is used.
    type: str
    default: https://api.x.com
  validate_certs:
    description:
      - Verify the TLS certificate of the API endpoint. Only turn this off for tests.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle (PEM) to verify the API endpoint with, instead of the system and certifi CAs.
    type: path
  timeout:
    description:
      - Timeout of each HTTP request, in seconds.
    type: int
    default: 30
  rate_limit_wait:
    description:
      - When X answers HTTP 429, the most seconds to wait for the rate-limit reset (header C(x-rate-limit-reset))
        before retrying. When the reset is further away the task fails and says when the limit resets.
      - V(0) never waits.
    type: int
    default: 60
notes:
  - Server errors (HTTP 5xx) and connection errors are retried up to three times with exponential backoff;
    client errors (HTTP 4xx) are never retried. A registration (POST) that may have reached X is not sent
    again blindly; the webhooks are listed first.
  - Every X error is reported with its cause and the fix, for example a miscased environment label (code 200),
    a failed CRC (code 214 or C(CrcValidationFailed)), a full webhook quota, bad credentials (code 32),
    clock skew (code 135), missing app permissions (code 261) and revoked tokens (code 89).
  - All options of this fragment can be set once for every module through the action group
    C(hybridchat.ccm.twitter) in C(module_defaults).
  - Results include C(api_calls), the number of HTTP requests sent to X by the task.
requirements:
  - requests
  - requests-oauthlib
'''
