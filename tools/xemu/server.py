"""The emulator's HTTP(S) server: the X API plus the /_emulator/ control interface."""

import email.utils
import re
import time
from urllib.parse import parse_qsl, urlsplit

from xemu import api, crc, events, replay, stream
from xemu import errors as E
from xemu.httpbase import Handler, Server
from xemu.oauth import auth_kind
from xemu.seed import SeedError, normalize_seed
from xemu.state import State, parse_iso

CONTROL = '/_emulator/'


class ApiHandler(Handler):
    """Dispatches API requests to xemu.api and control requests to the methods below."""

    def date_time_string(self, timestamp=None):
        # The Date header follows the emulator clock (clients such as twit correct skew from it).
        return email.utils.formatdate(self.server.state.auth_now() if timestamp is None else timestamp, usegmt=True)

    def dispatch(self):
        parts = urlsplit(self.path)
        body = self.read_body()
        if parts.path.startswith(CONTROL):
            self.control(parts.path[len(CONTROL):].strip('/'), body)
            return
        self.serve_api(parts.path, parts.query, body)

    # -- API ---------------------------------------------------------------------------------------
    def serve_api(self, path, query, body):
        state = self.server.state
        method = self.command
        route, _params = api.match_route(method, path)
        entry = {'time': round(time.time(), 3), 'method': method, 'path': path,
                 'query_keys': sorted({k for k, _v in parse_qsl(query, keep_blank_values=True)}),
                 'auth': auth_kind(self.headers), 'family': route.family if route else None,
                 'generation': api.generation_of(path), 'status': None, 'fault': False, 'app': None, 'user_id': None}
        fault = state.take_fault(method, path)
        if fault:
            entry['fault'] = True
            if fault['delay']:
                time.sleep(fault['delay'])
            if fault['drop']:
                entry['status'] = 'dropped'
                state.record(entry)
                self.drop_connection()
                return
            if fault['status'] is not None:
                status = int(fault['status'])
                fault_body = fault['body'] if fault['body'] is not None else E.generic_failure(entry['generation'], status)
                entry['status'] = status
                state.record(entry)
                self.send_body(status, fault_body, fault['headers'])
                return
        host = self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]
        url = '%s://%s%s' % (self.server.scheme, host, self.path)
        response, route, auth = api.handle(state, method, url, path, query, self.headers, body)
        if auth is not None:
            entry['app'] = auth.app['name'] if auth.app else None
            entry['user_id'] = auth.user['id'] if auth.user else None
            if auth.kind == 'oauth2user':
                entry['auth'] = 'oauth2user'  # a bearer header holding an OAuth 2.0 user-context token
            if auth.error:
                entry['auth_error'] = auth.error
        entry['status'] = response.status
        state.record(entry)
        if isinstance(response, stream.StreamResponse):
            self.serve_stream(response)
            return
        self.send_body(response.status, response.body, response.headers, response.content_type)

    def serve_stream(self, response):
        """A chunked, never-ending 200 (GET /2/activity/stream); the connection is closed afterwards."""
        self.close_connection = True
        self.send_response(200)
        self.send_header('Content-Type', response.content_type)
        self.send_header('Transfer-Encoding', 'chunked')
        for key, value in response.headers.items():
            self.send_header(key, str(value))
        self.end_headers()

        def write(data):
            self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
            self.wfile.flush()

        response.run(write)
        try:
            self.wfile.write(b'0\r\n\r\n')
        except OSError:
            pass

    # -- control interface ---------------------------------------------------------------------------
    def control(self, name, body):
        state = self.server.state
        method = self.command
        try:
            payload = self.json_body(body)
        except ValueError:
            self.send_body(400, {'error': 'body is not JSON'})
            return
        try:
            status, result = self.control_action(state, method, name, payload)
        except (SeedError, ValueError, KeyError, TypeError, re.error) as exc:
            status, result = 400, {'error': '%s: %s' % (type(exc).__name__, exc)}
        self.send_body(status, result)

    def control_action(self, state, method, name, payload):
        payload = payload or {}
        hook_action = re.match(r'^webhooks/(?P<id>[^/]+)/(?P<action>invalidate|validate|crc)$', name)
        if name == 'health' and method == 'GET':
            return 200, {'status': 'ok', 'url': self.server.url}
        if name == 'reset' and method == 'POST':
            seed = payload.get('seed', payload) if payload else None
            state.load(normalize_seed(seed) if seed else self.server.initial_seed)
            return 200, {'reset': True, 'apps': len(state.apps), 'users': len(state.users)}
        if name == 'state' and method == 'GET':
            return 200, state.snapshot()
        if name == 'requests' and method == 'GET':
            return 200, state.request_log()
        if name == 'requests' and method == 'DELETE':
            state.clear_log()
            return 200, {'cleared': True}
        if name == 'faults':
            return self.control_faults(state, method, payload)
        if name == 'config' and method == 'POST':
            return 200, self.control_config(state, payload)
        if name == 'config' and method == 'GET':
            return 200, state.snapshot()['config']
        if hook_action and method == 'POST':
            return self.control_webhook(state, hook_action.group('id'), hook_action.group('action'))
        if name == 'deliver' and method == 'POST':
            return events.deliver(state, payload)
        if name == 'deliver_read' and method == 'POST':
            return events.activity(state, 'read', payload)
        if name == 'deliver_typing' and method == 'POST':
            return events.activity(state, 'typing', payload)
        if name == 'deliveries' and method == 'GET':
            return 200, events.deliveries(state)
        if name == 'deliveries' and method == 'DELETE':
            with state.lock:
                state.deliveries = []
            return 200, {'cleared': True}
        if name == 'replay_jobs' and method == 'GET':
            return 200, replay.jobs(state)
        if name == 'streams' and method == 'GET':
            return 200, {'connections': stream.connections(state)}
        if name == 'clock' and method in ('GET', 'POST'):
            return 200, self.control_clock(state, payload) if method == 'POST' else state.clock()
        if name == 'rate_limits' and method == 'POST':
            result = state.set_rate_limit(payload['family'], payload.get('remaining'), payload.get('reset'),
                                          payload.get('limit'), payload.get('consumer_key'))
            return 200, {'family': payload['family'], 'buckets': result}
        return 404, {'error': 'unknown control endpoint %s %s' % (method, name)}

    @staticmethod
    def control_faults(state, method, payload):
        if method == 'GET':
            return 200, {'faults': list(state.faults)}
        if method == 'DELETE':
            with state.lock:
                state.faults = []
            return 200, {'faults': []}
        if method == 'POST':
            specs = payload.get('faults') if 'faults' in payload else [payload]
            added = [state.add_fault(spec) for spec in specs]
            return 200, {'added': added}
        return 405, {'error': 'use GET, POST or DELETE'}

    @staticmethod
    def control_config(state, payload):
        with state.lock:
            if 'crc_ca_bundle' in payload:
                state.crc_ca_bundle = payload['crc_ca_bundle'] or None
            if 'resolve' in payload:
                state.resolve = crc.parse_resolve(payload['resolve'])
            if 'add_resolve' in payload:
                state.resolve.update(crc.parse_resolve(payload['add_resolve']))
            if 'clock_offset' in payload:
                state.clock_offset = float(payload['clock_offset'])
            if 'date_offset' in payload:
                state.date_offset = float(payload['date_offset'])
            if 'aaa_end' in payload:
                parse_iso(payload['aaa_end'])  # ValueError -> 400
                state.settings['aaa_end'] = str(payload['aaa_end'])
            if 'xaa_duplicate' in payload:
                if payload['xaa_duplicate'] not in ('conflict', 'invalid', 'existing'):
                    raise ValueError('xaa_duplicate must be conflict, invalid or existing')
                state.settings['xaa_duplicate'] = payload['xaa_duplicate']
            if 'xaa_response_shape' in payload:
                if payload['xaa_response_shape'] not in ('nested', 'flat'):
                    raise ValueError('xaa_response_shape must be nested or flat')
                state.settings['xaa_response_shape'] = payload['xaa_response_shape']
            if 'xaa_response_meta' in payload:
                state.settings['xaa_response_meta'] = bool(payload['xaa_response_meta'])
            for key in ('timestamp_skew', 'crc_timeout', 'stream_keepalive', 'replay_delay', 'delivery_timeout'):
                if key in payload:
                    state.settings[key] = float(payload[key])
            for key in ('nonce_check',):
                if key in payload:
                    state.settings[key] = bool(payload[key])
            for key in ('crc_error_status', 'url_error_status', 'quota_error_status', 'duplicate_subscription_status',
                        'xaa_cap_status', 'xaa_page_size', 'stream_max_connections'):
                if key in payload:
                    state.settings[key] = int(payload[key])
            for family, limit in (payload.get('rate_limits') or {}).items():
                state.settings['rate_limits'][family] = int(limit)
            if 'xaa_max_subscriptions' in payload:
                for app in state.apps.values():
                    app['xaa']['max_subscriptions'] = int(payload['xaa_max_subscriptions'])
        return state.snapshot()['config']

    @staticmethod
    def control_clock(state, payload):
        """Set (``now``: ISO 8601 or epoch seconds), move (``advance``: seconds) or release (``real``) the
        emulator's calendar. OAuth timestamps and rate-limit resets keep following the real clock."""
        with state.lock:
            if payload.get('real'):
                state.date_offset = 0.0
            if payload.get('now') is not None:
                value = payload['now']
                target = float(value) if isinstance(value, (int, float)) else parse_iso(value)
                state.date_offset = target - (time.time() + state.clock_offset)
            if payload.get('advance') is not None:
                state.date_offset += float(payload['advance'])
            return state.clock()

    @staticmethod
    def control_webhook(state, webhook_id, action):
        hook = state.webhooks.get(webhook_id)
        if hook is None:
            return 404, {'error': 'unknown webhook %s' % webhook_id}
        if action == 'invalidate':
            # What a failed periodic CRC does: the webhook stays registered but valid becomes false.
            with state.lock:
                hook['valid'] = False
            return 200, {'id': webhook_id, 'valid': False}
        # validate / crc: run the periodic CRC now and record the outcome.
        app = state.apps[hook['app']]
        try:
            crc.run_crc(hook['url'], app['consumer_secret'], state.crc_ca_bundle, state.resolve,
                        state.settings['crc_timeout'])
            error = None
        except crc.CrcFailure as failure:
            error = {'reason': failure.reason, 'message': failure.message, 'detail': failure.detail}
        with state.lock:
            hook['valid'] = error is None
        return 200, {'id': webhook_id, 'valid': hook['valid'], 'error': error}


def make_server(seed, host='127.0.0.1', port=0, tls_cert=None, tls_key=None, crc_ca_bundle=None, resolve=None,
                quiet=False):
    """Build (but do not start) the API server."""
    server = Server((host, port), ApiHandler, tls_cert, tls_key, quiet=quiet)
    server.initial_seed = seed
    server.state = State(seed, crc_ca_bundle=crc_ca_bundle, resolve=crc.parse_resolve(resolve))
    return server
