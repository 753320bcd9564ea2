"""POST /2/webhooks/replay (xaa.md section 4)."""

from xemu import errors as E


def create_job(ctx):
    return E.not_found('v2')
