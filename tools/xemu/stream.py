"""GET /2/activity/stream: newline-delimited JSON of the app's XAA events (xaa.md 1.1 and 1.3).

At most ``stream_max_connections`` (2) connections per app: the third gets X's filtered-stream answer,
429 TooManyConnections. ``backfill_minutes`` (0-5) first replays the events of the last minutes.
Keep-alive: a bare ``\\r\\n`` every ``stream_keepalive`` seconds (also how a closed client is noticed).
"""

import json
import queue

from xemu import errors as E
from xemu import xaa
from xemu.errors import Response

BACKLOG = 1000


class StreamResponse(Response):
    """A 200 whose body is written by ``run(write)`` until the client goes away (see server.serve_api)."""

    def __init__(self, state, app_key, events):
        super().__init__(200, None, content_type='application/json; charset=utf-8')
        self.state = state
        self.app_key = app_key
        self.queue = events
        self.epoch = state.epoch

    def run(self, write):
        state = self.state
        try:
            while state.epoch == self.epoch:
                try:
                    item = self.queue.get(timeout=float(state.settings.get('stream_keepalive', 20.0)))
                except queue.Empty:
                    item = None
                if state.epoch != self.epoch:
                    break
                line = b'\r\n' if item is None else json.dumps(item, separators=(',', ':')).encode('utf-8') + b'\r\n'
                write(line)
        except OSError:
            pass  # the client hung up
        finally:
            close(state, self.app_key, self.queue)


def push(state, app_key, envelope):
    """Record an XAA event for the app's stream (backfill) and hand it to the open connections."""
    with state.lock:
        backlog = state.stream_events.setdefault(app_key, [])
        backlog.append((state.now(), envelope))
        del backlog[:-BACKLOG]
        queues = list(state.stream_queues.get(app_key, []))
    for events in queues:
        events.put(envelope)


def close(state, app_key, events):
    with state.lock:
        queues = state.stream_queues.get(app_key, [])
        if events in queues:
            queues.remove(events)


def open_stream(ctx):
    state = ctx.state
    raw = ctx.query.get('backfill_minutes', '0')
    if not raw.isdigit() or not 0 <= int(raw) <= 5:
        return xaa.invalid('InvalidRequest', 'The `backfill_minutes` query parameter value [%s] is not between 0 and 5.'
                           % raw, 'backfill_minutes', raw)
    minutes = int(raw)
    app_key = ctx.app['consumer_key']
    events = queue.Queue()
    with state.lock:
        queues = state.stream_queues.setdefault(app_key, [])
        if len(queues) >= int(state.settings.get('stream_max_connections', 2)):
            return Response(429, {'title': 'ConnectionException', 'connection_issue': 'TooManyConnections',
                                  'detail': 'This stream is currently at the maximum allowed connection limit.',
                                  'type': E.V2_PROBLEMS + 'streaming-connection', 'status': 429},
                            content_type='application/problem+json')
        horizon = state.now() - 60 * minutes
        if minutes:
            for when, envelope in state.stream_events.get(app_key, []):
                if when >= horizon:
                    events.put(envelope)
        queues.append(events)
    return StreamResponse(state, app_key, events)


def connections(state):
    with state.lock:
        return {key: len(queues) for key, queues in state.stream_queues.items() if queues}
