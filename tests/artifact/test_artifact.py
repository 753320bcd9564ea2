# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built tarball as a user gets it: what it holds, its links, ansible-lint on it alone, and the README's offline
install into a fresh virtualenv and an empty collections path followed by the quick start against the emulator."""

import json
import os
import re
import subprocess
import tarfile

from conftest import TOP, Run

# Never shipped: development files (galaxy.yml becomes MANIFEST.json). Everything else git tracks must ship, so a
# new file is either added to the manifest directives in galaxy.yml or listed here.
REPO_ONLY = ('.ansible-lint', '.ci/', '.gitignore', 'BENCHMARKS.md', 'DEVELOPING.md', 'Makefile', 'galaxy.yml',
             'requirements-dev.txt', 'scripts/', 'tools/', 'tests/', 'extensions/molecule/', 'docs/developing.md',
             'docs/emulator.md', 'inventories/demo/', 'changelogs/fragments/')
REQUIRED = ('MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'CHANGELOG.rst', 'changelogs/changelog.yaml',
            'meta/runtime.yml', 'roles/ccm_twitter/README.md', 'roles/ccm_twitter/meta/argument_specs.yml',
            'playbooks/deploy.yml', 'playbooks/status.yml', 'inventories/example/hosts.yml', 'docs/bridge.md',
            'docs/faults.md')
LINK_RE = re.compile(r'\]\(([^)\s]+)\)')


def _members(artifact):
    with tarfile.open(artifact) as tar:
        members = tar.getmembers()
    files = sorted(m.name.lstrip('./') for m in members if not m.isdir())
    dirs = sorted(m.name.lstrip('./').rstrip('/') for m in members if m.isdir())
    return files, dirs


def _repo_only(path):
    return any(path == p or (p.endswith('/') and path.startswith(p)) for p in REPO_ONLY)


def test_tarball_holds_the_collection_and_nothing_else(artifact):
    files, dirs = _members(artifact)
    missing = [f for f in REQUIRED if f not in files]
    assert not missing, 'the tarball lacks %s' % missing
    dev = [f for f in files if _repo_only(f) or f.split('/')[-1].startswith('.') or '__pycache__' in f]
    assert not dev, 'development files in the tarball (galaxy.yml manifest directives): %s' % dev
    empty = [d for d in dirs if not any(f.startswith(d + '/') for f in files)]
    assert not empty, 'empty folders in the tarball: %s' % empty
    tracked = subprocess.run(['git', 'ls-files'], cwd=TOP, capture_output=True, text=True, check=True).stdout.split()
    dropped = [f for f in tracked if not _repo_only(f) and f not in files]
    assert not dropped, ('%s are neither shipped nor listed as repository-only: add them to the manifest directives '
                         'in galaxy.yml, or to REPO_ONLY in %s' % (dropped, __file__))
    manifest = json.loads(tarfile.open(artifact).extractfile('MANIFEST.json').read())['collection_info']
    assert manifest['dependencies'] == {'community.crypto': '>=2.12.0'}, manifest['dependencies']
    assert 'example.invalid' not in json.dumps(manifest), manifest


def test_links_resolve_inside_the_artifact(extracted):
    _root, coll = extracted
    broken = []
    for folder, _dirs, names in os.walk(coll):
        for name in names:
            if not name.endswith('.md'):
                continue
            path = os.path.join(folder, name)
            with open(path, 'r', encoding='utf-8') as handle:
                text = handle.read()
            assert 'example.invalid' not in text, path
            for target in LINK_RE.findall(text):
                if re.match(r'^(https?:|mailto:|#)', target):
                    continue
                if not os.path.exists(os.path.normpath(os.path.join(folder, target.split('#')[0]))):
                    broken.append('%s -> %s' % (os.path.relpath(path, coll), target))
    assert not broken, 'links that do not resolve in the installed collection: %s' % broken


def test_readme_is_the_users_manual(extracted):
    _root, coll = extracted
    with open(os.path.join(coll, 'README.md'), 'r', encoding='utf-8') as handle:
        readme = handle.read()
    # No development command, except the one line CI reads.
    make_lines = [line for line in readme.splitlines() if re.search(r'(^|`)\s*make [a-z]', line)]
    assert len(make_lines) == 1 and 'make test' in make_lines[0], make_lines
    for needle in ('--offline', 'community.crypto', 'requests-oauthlib', 'Debian 12', 'SELinux',
                   'hybridchat.ccm.deploy', '--ask-become-pass', '2027-01-01'):
        assert needle in readme, needle


def test_ansible_lint_production_on_the_extracted_tarball(extracted, tmp_path):
    root, coll = extracted
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, ANSIBLE_HOME=str(tmp_path / 'home'), NO_COLOR='1')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run([os.path.join(TOP, '.venv', 'bin', 'ansible-lint'), '--profile', 'production', '--offline',
                           '--nocolor'], cwd=coll, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Profile 'production' was required, and it passed" in out, out


def test_offline_install_then_quick_start(artifact, make_stack, tmp_path):
    """README: a fresh virtualenv, community.crypto's tarball then ours, offline, into an empty collections path;
    then the quick start (deploy.yml by FQCN, a rerun that changes nothing, status.yml) against the emulator."""
    dest = tmp_path / 'controller'
    proc = subprocess.run([os.path.join(TOP, 'scripts', 'install-artifact.sh'), str(dest), artifact],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bindir = str(dest / 'venv' / 'bin')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_') and k != 'PYTHONPATH'}
    env.update(PATH=bindir + os.pathsep + env.get('PATH', ''), ANSIBLE_HOME=str(dest / 'home'),
               ANSIBLE_COLLECTIONS_PATH=str(dest / 'collections'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))

    listed = subprocess.run([os.path.join(bindir, 'ansible-galaxy'), 'collection', 'list', '--format', 'json'],
                            env=env, cwd=str(tmp_path), capture_output=True, text=True, check=True).stdout
    collections = {}
    for path, found in json.loads(listed).items():
        for name, info in found.items():
            if not name.startswith('ansible.'):  # ansible-core's own (ansible._protomatter)
                collections[name] = (path, info['version'])
    assert set(collections) == {'hybridchat.ccm', 'community.crypto'}, collections
    assert all(path.startswith(str(dest)) for path, _version in collections.values()), collections
    for plugin in (['-t', 'role', 'hybridchat.ccm.ccm_twitter'], ['hybridchat.ccm.twitter_webhook']):
        doc = subprocess.run([os.path.join(bindir, 'ansible-doc')] + plugin, env=env, cwd=str(tmp_path),
                             capture_output=True, text=True, check=False)
        assert doc.returncode == 0 and 'hybridchat.ccm' in doc.stdout, doc.stdout + doc.stderr

    # Without community.crypto first, the offline install fails with the message the README quotes.
    alone = subprocess.run([os.path.join(bindir, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p',
                            str(tmp_path / 'empty'), artifact], env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'empty')),
                           cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert alone.returncode != 0, alone.stdout
    assert 'community.crypto:>=2.12.0 (dependency of hybridchat.ccm:' in alone.stdout + alone.stderr, alone.stderr

    stack = make_stack(sites=2, v11=1)

    def playbook(name):
        return Run(subprocess.run([os.path.join(bindir, 'ansible-playbook'), '-i', stack.inventory, name],
                                  env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                                  check=False))

    first = playbook('hybridchat.ccm.deploy')
    assert first.rc == 0, first.out
    assert set(first.recap) == {'site00', 'site01'} and all(c > 0 for c in first.changed().values()), first.out
    for site in stack.state['sites']:
        hook = stack.hook_of(site, site['webhook_url'])
        assert hook is not None and hook['valid'], site['fqdn']
        for key in ('consumer_secret', 'access_token', 'access_secret'):
            assert site[key] not in first.out
    again = playbook('hybridchat.ccm.deploy')
    assert again.rc == 0 and again.changed() == {'site00': 0, 'site01': 0}, again.out
    status = playbook('hybridchat.ccm.status')
    assert status.rc == 0 and status.out.count('"OK    site0') == 2, status.out
