"""GET /2/activity/stream."""

from xemu import errors as E


def open_stream(ctx):
    return E.not_found('v2')
