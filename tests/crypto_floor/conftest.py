# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator stacks of the playbook tests (tests/playbooks/conftest.py), for scripts/crypto-floor.sh."""

import importlib.util
import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_spec = importlib.util.spec_from_file_location('ccm_playbooks_conftest_floor',
                                               os.path.join(TOP, 'tests', 'playbooks', 'conftest.py'))
_playbooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_playbooks)
make_stack = _playbooks.make_stack  # the fixture, shared
