"""Processes the test tools started themselves: is one still the one we started, and stop it.

Shared by tools/demo_stack.py and tools/nspawn/hosts.py. A pid alone is not enough (pids get reused), so every
check also looks for a marker in the process's command line.
"""

from __future__ import annotations

import os
import signal
import time


def cmdline(pid):
    """The command line of pid, '' when it is gone or not ours to read."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except (OSError, TypeError):
        return ''


def alive(pid, marker=None):
    """True when pid runs and, with marker, its command line contains marker."""
    if not pid:
        return False
    line = cmdline(pid)
    return bool(line) and (marker is None or marker in line)


def stop_pid(pid, marker, timeout=5.0, poll=0.05, settle=0.0):
    """SIGTERM, wait up to timeout, then SIGKILL. False when pid was not running (as marker) to begin with."""
    if not alive(pid, marker):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid, marker):
        time.sleep(poll)
    if alive(pid, marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(settle)
    return True
