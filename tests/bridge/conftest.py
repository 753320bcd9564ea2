# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests/bridge (the helpers live in bridge_helpers.py)."""

from bridge_helpers import bridge_mod, pki, procs  # noqa: F401  pylint: disable=unused-import
