# -*- coding: utf-8 -*-
# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.hybridchat.ccm.plugins.module_utils import _x_transport
from ansible_collections.hybridchat.ccm.tests.unit.plugins.xfake import CREDS, SECRETS, FakeX

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


@pytest.fixture
def fake(monkeypatch):
    """A FakeX plugged into every client the module builds; sleeps are recorded, not slept."""
    server = FakeX()
    server.sleeps = []
    monkeypatch.setattr(_x_transport.requests, 'Session', lambda: server)
    monkeypatch.setattr(_x_transport.time, 'sleep', server.sleeps.append)
    return server


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check=False, diff=False) -> (failed, result dict); asserts no secret leaks."""
    def run(module, args, check=False, diff=False, creds=True):
        full = dict(CREDS) if creds else {}
        full.update(args)
        full['_ansible_check_mode'] = check
        full['_ansible_diff'] = diff
        with patch_module_args(full):
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = capsys.readouterr().out
        for secret in SECRETS:
            assert secret not in out, 'secret leaked into module output'
        result = json.loads(out)
        return bool(result.get('failed')) or exc.value.code != 0, result
    return run
