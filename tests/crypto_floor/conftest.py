# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator stacks of the playbook tests (tests/playbooks/conftest.py), for scripts/crypto-floor.sh."""

from xemu.testing import playbook_fixtures

make_stack = playbook_fixtures('ccm_playbooks_conftest_floor').make_stack  # the fixture, shared
