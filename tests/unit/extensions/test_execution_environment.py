# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sample execution environment (extensions/ee): ansible-builder create makes a build context from it and the
collection tarball, the galaxy stage's install command installs the collection from that context, and
ansible-builder's own introspection finds the collection's Python and system requirements in it. No container
engine is needed (nothing is built)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest
import yaml

pytest.importorskip('ansible_builder')

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
EE_DIR = os.path.join(TOP, 'extensions', 'ee')


def _load(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _run(*cmd, cwd=None, env=None):
    proc = subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_requirements_name_the_current_version():
    version = _load(os.path.join(TOP, 'galaxy.yml'))['version']
    collections = _load(os.path.join(EE_DIR, 'requirements.yml'))['collections']
    assert collections == [{'name': 'collections/hybridchat-ccm-%s.tar.gz' % version, 'type': 'file'}]


def test_definition_pins_the_tested_core():
    definition = _load(os.path.join(EE_DIR, 'execution-environment.yml'))
    assert definition['version'] == 3
    core = definition['dependencies']['ansible_core']['package_pip']
    # The playbooks are tested on 2.19 (requirements-dev.txt); the EE must not drift from it.
    with open(os.path.join(TOP, 'requirements-dev.txt'), 'r', encoding='utf-8') as handle:
        pinned = [line.split('==')[1].strip() for line in handle if line.startswith('ansible-core==')][0]
    minor = '.'.join(pinned.split('.')[:2])
    assert core == 'ansible-core>=%s,<2.%d' % (minor, int(minor.split('.')[1]) + 1), core


def test_builder_create_makes_a_working_context(tmp_path):
    ee = tmp_path / 'ee'
    shutil.copytree(EE_DIR, str(ee))
    _run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', TOP, '--output-path', str(ee))
    tarballs = glob.glob(str(ee / 'hybridchat-ccm-*.tar.gz'))
    assert len(tarballs) == 1

    context = tmp_path / 'context'
    out = _run(os.path.join(BIN, 'ansible-builder'), 'create', '-f', str(ee / 'execution-environment.yml'),
               '-c', str(context), '--output-filename', 'Containerfile')
    assert 'Complete!' in out, out
    containerfile = (context / 'Containerfile').read_text(encoding='utf-8')
    build = context / '_build'
    assert (build / 'collections' / os.path.basename(tarballs[0])).is_file()
    assert _load(str(build / 'requirements.yml')) == _load(os.path.join(EE_DIR, 'requirements.yml'))
    for step in ('ARG EE_BASE_IMAGE="quay.io/centos/centos:stream10"',
                 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.20 ansible-runner"',
                 'COPY _build /build',
                 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml',
                 'introspect.py introspect --write-bindep=/tmp/src/bindep.txt --write-pip=/tmp/src/requirements.txt',
                 'RUN /output/scripts/assemble', 'RUN /output/scripts/install-from-bindep'):
        assert step in containerfile, step

    # The galaxy stage, without a container: in _build (its WORKDIR /build), the requirements install the collection
    # from the copied tarball (community.crypto comes from Galaxy in a real build: --no-deps here, offline).
    collections = tmp_path / 'collections'
    # A clean environment: the collection already on the test's collections path would be skipped as installed.
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_') and k != 'PYTHONPATH'}
    env['ANSIBLE_HOME'] = str(tmp_path / 'ansible-home')
    out = _run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-r', 'requirements.yml', '--no-deps',
               '--offline', '--collections-path', str(collections), cwd=str(build), env=env)
    assert 'hybridchat.ccm:' in out and 'was installed successfully' in out, out
    manifest = collections / 'ansible_collections' / 'hybridchat' / 'ccm' / 'MANIFEST.json'
    assert manifest.is_file()

    # The builder stage's introspection (the context's own script) finds the collection's requirements.
    pip_out, bindep_out = tmp_path / 'requirements.txt', tmp_path / 'bindep.txt'
    _run(sys.executable, str(build / 'scripts' / 'introspect.py'), 'introspect', str(collections),
         '--write-pip', str(pip_out), '--write-bindep', str(bindep_out))
    pip = pip_out.read_text(encoding='utf-8')
    for requirement in ('requests>=2.25.0', 'requests-oauthlib>=1.3.0', 'cryptography>=3.3'):
        assert requirement in pip, pip
    assert '# from collection hybridchat.ccm' in pip, pip
    assert 'openssl [platform:dpkg platform:rpm]' in bindep_out.read_text(encoding='utf-8')
