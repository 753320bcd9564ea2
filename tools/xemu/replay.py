"""POST /2/webhooks/replay (xaa.md section 4): re-deliver, signed, every event delivered or attempted to a
webhook in a window of the past 24 hours, then POST ``replay_job_status`` to it. One job per webhook at a time.
"""

import calendar
import json
import re
import threading
import time

from xemu import events, xaa
from xemu.errors import Response
from xemu.state import iso, v2_timestamp

DATE_RE = re.compile(r'^[0-9]{12}$')
KEYS = {'webhook_id', 'from_date', 'to_date'}
WINDOW = 24 * 3600


def _parse(value):
    """Epoch seconds of a yyyymmddhhmm UTC minute, or None."""
    if not isinstance(value, str) or not DATE_RE.match(value):
        return None
    try:
        return calendar.timegm(time.strptime(value, '%Y%m%d%H%M'))
    except ValueError:
        return None


def _conflict(webhook_id):
    message = 'ReplayConflictError: A replay job is already running for webhook [%s].' % webhook_id
    return Response(409, {'title': 'Conflict', 'detail': message, 'errors': [{'message': message}],
                          'type': xaa.E.V2_PROBLEMS + 'conflict', 'status': 409},
                    content_type='application/problem+json')


def create_job(ctx):
    state = ctx.state
    payload = ctx.json()
    if not isinstance(payload, dict):
        return xaa.invalid('InvalidRequest', 'The request body must be a JSON object with webhook_id, from_date and '
                           'to_date.')
    extra = sorted(set(payload) - KEYS)
    if extra:
        return xaa.invalid('InvalidRequest', '[%s] is not a valid property; allowed: from_date, to_date, webhook_id.'
                           % extra[0], extra[0], payload[extra[0]])
    webhook_id = payload.get('webhook_id')
    if not isinstance(webhook_id, str) or not xaa.ID_RE.match(webhook_id):
        return xaa.invalid('InvalidRequest', 'The `webhook_id` value [%s] does not match ^[0-9]{1,19}$.' % (webhook_id,),
                           'webhook_id', webhook_id)
    window = {}
    for key in ('from_date', 'to_date'):
        window[key] = _parse(payload.get(key))
        if window[key] is None:
            return xaa.invalid('QueryParamInvalid', 'The `%s` value [%s] is not a UTC time in yyyymmddhhmm format.'
                               % (key, payload.get(key)), key, payload.get(key))
    hook = state.webhook(ctx.app, 'v2', webhook_id)
    if hook is None:
        return xaa.invalid('WebhookIdInvalid', 'The webhook id [%s] is invalid.' % webhook_id, 'webhook_id', webhook_id)
    now = state.now()
    start, end = window['from_date'], window['to_date']
    if start > end:
        return xaa.invalid('QueryParamInvalid', '`from_date` must not be after `to_date`.', 'from_date',
                           payload['from_date'])
    if end > now:
        return xaa.invalid('QueryParamInvalid', '`to_date` [%s] is in the future (now %s).' % (payload['to_date'],
                           iso(now)), 'to_date', payload['to_date'])
    if start < now - WINDOW - 60:
        return xaa.invalid('QueryParamInvalid', '`from_date` [%s] is more than 24 hours ago; replay covers the past '
                           '24 hours only.' % payload['from_date'], 'from_date', payload['from_date'])
    if not hook['valid']:
        return xaa.invalid('CrcValidationFailed', 'The webhook [%s] has not passed its CRC; re-validate it with PUT '
                           '/2/webhooks/%s first.' % (webhook_id, webhook_id), 'webhook_id', webhook_id)
    with state.lock:
        if any(j['webhook_id'] == webhook_id and j['state'] == 'running' for j in state.replay_jobs.values()):
            return _conflict(webhook_id)
        job = {'job_id': state.new_id(), 'webhook_id': webhook_id, 'app': ctx.app['consumer_key'],
               'from': start, 'to': end, 'created': now, 'state': 'running', 'replayed': 0, 'failed': 0,
               'epoch': state.epoch}
        state.replay_jobs[job['job_id']] = job
    threading.Thread(target=_run, args=(state, job), daemon=True).start()
    return Response(200, {'data': {'job_id': job['job_id'], 'created_at': v2_timestamp(now)}})


def _run(state, job):
    time.sleep(float(state.settings.get('replay_delay', 0.0)))
    app = state.apps.get(job['app'])
    with state.lock:
        hook = state.webhooks.get(job['webhook_id'])
        # Both inclusive, to the end of the to_date minute. Replays and status posts are not replayed again.
        todo = [d for d in state.deliveries if d['webhook_id'] == job['webhook_id'] and d['product'] in ('aaa', 'xaa')
                and job['from'] <= d['time'] < job['to'] + 60]
    if state.epoch != job['epoch'] or app is None:
        job['state'] = 'cancelled'
        return
    url = hook['url'] if hook else None
    for entry in todo:
        if state.epoch != job['epoch']:
            job['state'] = 'cancelled'  # the emulator was reset meanwhile
            return
        if url is None:
            job['failed'] += 1
            continue
        result = events.post(state, app, url, entry['body'])
        events.record(state, result, job['webhook_id'], app, 'replay', entry['body'], entry['event_type'],
                      entry['event_id'], entry['event_uuid'], entry['for_user_id'], job['job_id'])
        job['replayed' if result['status'] is not None and 200 <= result['status'] < 300 else 'failed'] += 1
    complete = job['failed'] == 0
    status = {'replay_job_status': {
        'webhook_id': job['webhook_id'], 'job_state': 'Complete' if complete else 'Incomplete',
        'job_state_description': ('Job completed successfully' if complete else
                                  '%d of %d events could not be delivered' % (job['failed'], len(todo))),
        'job_id': job['job_id']}}
    if url is not None:
        body = json.dumps(status, separators=(',', ':')).encode('utf-8')
        result = events.post(state, app, url, body)
        events.record(state, result, job['webhook_id'], app, 'replay_status', body, replay_job=job['job_id'])
    with state.lock:
        job['state'] = status['replay_job_status']['job_state']
        job['finished'] = state.now()


def jobs(state):
    """Control ``GET replay_jobs``."""
    with state.lock:
        items = [dict(j) for j in state.replay_jobs.values()]
    for item in items:
        item.pop('epoch', None)
        for key in ('from', 'to', 'created', 'finished'):
            if key in item:
                item[key] = iso(item[key])
    return {'jobs': items}
