"""Authentication of API requests: OAuth 1.0a HMAC-SHA1 (verified with oauthlib), bearer and Basic.

The signature base URL is rebuilt from the scheme the emulator serves, the Host header and the
path, because requests-oauthlib signs exactly the URL it calls (port included when not default).
"""

import base64
import binascii
import hmac
from urllib.parse import unquote, unquote_plus

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

# Error kinds; the server maps them to the v1.1 or v2 bodies.
BAD_AUTH_DATA = 'bad_auth_data'      # 400 code 215 (v1.1)
BAD_SIGNATURE = 'bad_signature'      # 401 code 32
TIMESTAMP = 'timestamp'              # 401 code 135
BAD_TOKEN = 'bad_token'              # 401 code 89
NONCE_REPLAY = 'nonce_replay'        # 401 code 32


class AuthResult:
    """Who sent a request and how (kind is oauth1, bearer, basic or none)."""

    def __init__(self, kind, app=None, user=None, error=None, detail='', scopes=None):
        self.kind = kind
        self.app = app
        self.user = user
        self.error = error
        self.detail = detail
        self.scopes = scopes or []

    @property
    def ok(self):
        return self.error is None and self.kind != 'none'


def auth_kind(headers):
    """Classify the Authorization header without verifying it (for the request log)."""
    value = (headers.get('Authorization') or '').strip()
    scheme = value.split(' ', 1)[0].lower()
    if scheme in ('oauth', 'bearer', 'basic'):
        return {'oauth': 'oauth1'}.get(scheme, scheme)
    return 'none'


def _form_body(headers, body):
    """Form parameters take part in the signature only for x-www-form-urlencoded bodies (RFC 5849 3.4.1.3.1)."""
    ctype = (headers.get('Content-Type') or '').lower()
    if body and 'application/x-www-form-urlencoded' in ctype:
        try:
            return body.decode('utf-8')
        except UnicodeDecodeError:
            return None
    return None


def verify_oauth1(state, method, url, headers, body):
    """Verify an OAuth 1.0a request against the seeded apps and tokens.

    ``url`` is scheme://host[:port]/path?query as the client addressed it.
    """
    header = headers.get('Authorization') or ''
    try:
        oauth_params = {k: oauth_utils.unescape(v) for k, v in oauth_utils.parse_authorization_header(header)}
    except (ValueError, IndexError):
        return AuthResult('oauth1', error=BAD_SIGNATURE, detail='malformed Authorization header')
    required = ('oauth_consumer_key', 'oauth_signature', 'oauth_signature_method', 'oauth_timestamp', 'oauth_nonce')
    if any(not oauth_params.get(key) for key in required):
        return AuthResult('oauth1', error=BAD_SIGNATURE, detail='missing oauth parameters')
    if oauth_params['oauth_signature_method'] != 'HMAC-SHA1':
        return AuthResult('oauth1', error=BAD_SIGNATURE, detail='unsupported signature method')
    app = state.app_by_key(oauth_params['oauth_consumer_key'])
    if app is None:
        return AuthResult('oauth1', error=BAD_SIGNATURE, detail='unknown consumer key')
    try:
        timestamp = int(oauth_params['oauth_timestamp'])
    except ValueError:
        return AuthResult('oauth1', app=app, error=TIMESTAMP, detail='timestamp is not a number')
    if abs(state.auth_now() - timestamp) > state.settings['timestamp_skew']:
        return AuthResult('oauth1', app=app, error=TIMESTAMP, detail='timestamp out of bounds')
    token = oauth_params.get('oauth_token') or ''
    user = state.user_by_token(token, app) if token else None
    if user is None:
        return AuthResult('oauth1', app=app, error=BAD_TOKEN, detail='unknown access token')

    # oauthlib's server-side primitives: collect query + header + form params, rebuild the base string.
    query = url.split('?', 1)[1] if '?' in url else ''
    form = _form_body(headers, body)
    request = OAuthRequest(url, http_method=method, body=form, headers={'Authorization': header})
    request.params = oauth_signature.collect_parameters(uri_query=query, body=form, headers={'Authorization': header})
    request.signature = oauth_params['oauth_signature']
    try:
        valid = oauth_signature.verify_hmac_sha1(request, app['consumer_secret'], user['access_secret'])
    except ValueError:
        valid = False
    if not valid:
        return AuthResult('oauth1', app=app, user=user, error=BAD_SIGNATURE, detail='signature mismatch')
    if state.settings.get('nonce_check', True) and not state.remember_nonce(app, token, oauth_params['oauth_nonce'], timestamp):
        return AuthResult('oauth1', app=app, user=user, error=NONCE_REPLAY, detail='nonce already used')
    return AuthResult('oauth1', app=app, user=user)


def verify_bearer(state, headers):
    token = (headers.get('Authorization') or '').strip().split(' ', 1)
    value = token[1].strip() if len(token) == 2 else ''
    app = state.app_by_bearer(value)
    if app is None:
        # Not an app-only token: perhaps an OAuth 2.0 user-context token (seed ``oauth2_user_tokens``).
        found = state.oauth2_user(value)
        if found is not None:
            return AuthResult('oauth2user', app=found[0], user=found[1], scopes=found[2])
        return AuthResult('bearer', error=BAD_TOKEN, detail='unknown bearer token')
    return AuthResult('bearer', app=app)


def verify_basic(state, headers):
    """Basic auth for /oauth2/token: base64(urlencode(key):urlencode(secret))."""
    parts = (headers.get('Authorization') or '').strip().split(' ', 1)
    try:
        decoded = base64.b64decode(parts[1].strip(), validate=True).decode('utf-8') if len(parts) == 2 else ''
    except (binascii.Error, UnicodeDecodeError):
        decoded = ''
    key, _sep, secret = decoded.partition(':')
    app = state.app_by_key(unquote_plus(key))
    if app is None or not hmac.compare_digest(unquote_plus(secret).encode(), app['consumer_secret'].encode()):
        return AuthResult('basic', error=BAD_SIGNATURE, detail='bad client credentials')
    return AuthResult('basic', app=app)


def authenticate(state, method, url, headers, body):
    kind = auth_kind(headers)
    if kind == 'oauth1':
        return verify_oauth1(state, method, url, headers, body)
    if kind == 'bearer':
        return verify_bearer(state, headers)
    if kind == 'basic':
        return verify_basic(state, headers)
    return AuthResult('none', error=BAD_AUTH_DATA, detail='no Authorization header')


def bearer_matches(seeded, presented):
    """Bearer tokens are compared as issued (percent-encoded) or decoded, like clients send either."""
    return presented in (seeded, unquote(seeded)) or unquote(presented) == unquote(seeded)
