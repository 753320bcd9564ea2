# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shapes and local checks shared by every X API family (webhooks are shared by AAA and XAA). Private: import
from x_api."""

from __future__ import annotations

import datetime
import re

from urllib.parse import urlsplit

DEFAULT_API_URL = 'https://api.x.com'
USERNAME_RE = re.compile(r'^[A-Za-z0-9_]{1,15}$')
WEBHOOK_ID_RE = re.compile(r'^[0-9]{1,19}$')
MAX_URL_LENGTH = 200


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
