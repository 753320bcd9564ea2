# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the artifact tests: the built tarball (scripts/build.sh), extracted as a user's collections path
holds it, and the emulator stacks of the playbook tests (tests/playbooks/conftest.py)."""

import glob
import os
import shutil
import tarfile

import pytest
from xemu.testing import playbook_fixtures

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_playbooks = playbook_fixtures('ccm_playbooks_conftest')
make_stack = _playbooks.make_stack  # the fixture, shared
Run = _playbooks.Run


@pytest.fixture(scope='session')
def artifact():
    """The tarball under test: $CCM_ARTIFACT, else the one scripts/build.sh left in build/."""
    path = os.environ.get('CCM_ARTIFACT') or next(iter(sorted(glob.glob(os.path.join(TOP, 'build',
                                                                                     'hybridchat-ccm-*.tar.gz')))), '')
    assert os.path.isfile(path), 'no collection tarball: run scripts/build.sh (or set CCM_ARTIFACT)'
    return path


@pytest.fixture(scope='session')
def extracted(artifact, tmp_path_factory):
    """(collections root, collection dir): the tarball extracted to ROOT/ansible_collections/hybridchat/ccm, with
    community.crypto from .collections beside it, as `ansible-galaxy collection install` lays them out."""
    root = tmp_path_factory.mktemp('artifact')
    coll = root / 'ansible_collections' / 'hybridchat' / 'ccm'
    coll.mkdir(parents=True)
    with tarfile.open(artifact) as tar:
        tar.extractall(coll, filter='data')
    shutil.copytree(os.path.join(TOP, '.collections', 'ansible_collections', 'community'),
                    str(root / 'ansible_collections' / 'community'))
    return str(root), str(coll)
