# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential types of extensions/awx/credential_types: the shape AWX accepts, every injector fed by a declared
input, secrets marked secret, the role variables they set declared by the role, the environment variables they set
read by the modules, and the split inputs/injectors files equal to the full definition."""

from __future__ import annotations

import os
import re

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TYPES_DIR = os.path.join(TOP, 'extensions', 'awx', 'credential_types')
TYPES = sorted(name[:-4] for name in os.listdir(TYPES_DIR) if name.endswith('.yml') and name.count('.') == 1)
# AWX's field types and keys (awx/main/fields.py CredentialInputField / CredentialTypeInjectorField).
FIELD_TYPES = {'string', 'boolean'}
FIELD_KEYS = {'id', 'label', 'type', 'help_text', 'multiline', 'secret', 'choices', 'format', 'ask_at_runtime'}
INJECTOR_KINDS = {'env', 'extra_vars', 'file'}
# Inputs that are secrets whatever their name says.
SECRET_WORDS = ('key', 'secret', 'token', 'password')
TEMPLATE_NAME = re.compile(r'{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}')


def _load(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _role_options():
    specs = _load(os.path.join(TOP, 'roles', 'ccm_twitter', 'meta', 'argument_specs.yml'))
    return specs['argument_specs']['main']['options']


def _module_env_vars():
    with open(os.path.join(TOP, 'plugins', 'module_utils', 'twitter_module.py'), 'r', encoding='utf-8') as handle:
        return set(re.findall(r"env_fallback, \['(TWITTER_[A-Z0-9_]+)'\]", handle.read()))


def test_there_are_credential_types():
    assert TYPES == ['tls_certificate', 'x_app']


@pytest.mark.parametrize('name', TYPES)
def test_credential_type_shape(name):
    definition = _load(os.path.join(TYPES_DIR, name + '.yml'))
    assert set(definition) == {'name', 'description', 'kind', 'inputs', 'injectors'}
    assert definition['kind'] == 'cloud'
    fields = definition['inputs']['fields']
    ids = [field['id'] for field in fields]
    assert len(ids) == len(set(ids)), ids
    for field in fields:
        assert set(field) <= FIELD_KEYS, field
        assert field['type'] in FIELD_TYPES, field
        assert field['label'] and field['help_text'], field
        if any(word in field['id'] for word in SECRET_WORDS) and field['id'] != 'account_id':
            assert field.get('secret') is True, '%s must be secret: true' % field['id']
    assert set(definition['inputs']['required']) <= set(ids)
    assert set(definition['injectors']) <= INJECTOR_KINDS
    # Every injector template names a declared input, and nothing else.
    for kind, values in definition['injectors'].items():
        for key, template in values.items():
            for used in TEMPLATE_NAME.findall(str(template)):
                assert used in ids, '%s.%s uses %s, which is not an input of %s' % (kind, key, used, name)
    # Every input is injected somewhere.
    injected = {used for values in definition['injectors'].values() for template in values.values()
                for used in TEMPLATE_NAME.findall(str(template))}
    assert injected == set(ids), set(ids) ^ injected


@pytest.mark.parametrize('name', TYPES)
def test_injected_variables_exist(name):
    definition = _load(os.path.join(TYPES_DIR, name + '.yml'))
    options = _role_options()
    for var, template in definition['injectors'].get('extra_vars', {}).items():
        assert var in options, '%s is not a variable of the role (meta/argument_specs.yml)' % var
        used = TEMPLATE_NAME.findall(str(template))
        field = {f['id']: f for f in definition['inputs']['fields']}.get(used[0]) if used else None
        # A secret input may only feed a no_log role variable, and the reverse.
        if field is not None and field.get('secret'):
            assert options[var].get('no_log') is True, '%s carries a secret but is not no_log' % var
        if options[var].get('no_log'):
            assert field is not None and field.get('secret'), '%s is no_log but its input is not secret' % var
        if 'choices' in options[var] and not used:
            assert template in options[var]['choices'], (var, template)
    env_vars = _module_env_vars()
    assert {'TWITTER_CONSUMER_KEY', 'TWITTER_OAUTH2_USER_TOKEN'} <= env_vars
    for var in definition['injectors'].get('env', {}):
        assert var in env_vars, '%s is not read by the modules' % var


def test_x_app_covers_the_role_credentials():
    definition = _load(os.path.join(TYPES_DIR, 'x_app.yml'))
    extra_vars = definition['injectors']['extra_vars']
    required = [name for name, spec in _role_options().items() if spec.get('required') and name != 'ccm_twitter_fqdn']
    assert sorted(required) == sorted(['ccm_twitter_consumer_key', 'ccm_twitter_consumer_secret',
                                       'ccm_twitter_access_token', 'ccm_twitter_access_secret'])
    assert set(required) <= set(extra_vars)
    assert set(definition['inputs']['required']) == {'consumer_key', 'consumer_secret', 'access_token', 'access_secret'}
    # Every credential the modules read from the environment is injected.
    assert set(definition['injectors']['env']) == {v for v in _module_env_vars() if v not in (
        'TWITTER_API_VERSION', 'TWITTER_ENVIRONMENT', 'TWITTER_API_URL')}


@pytest.mark.parametrize('name', TYPES)
@pytest.mark.parametrize('part', ['inputs', 'injectors'])
def test_split_files_match(name, part):
    definition = _load(os.path.join(TYPES_DIR, name + '.yml'))
    assert _load(os.path.join(TYPES_DIR, '%s.%s.yml' % (name, part))) == definition[part]
