# hybridchat.ccm developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PYTHONPATH := $(CURDIR)/.collections:$(CURDIR)/tools

.DEFAULT_GOAL := help
.PHONY: help venv deps system test sanity units emulator bridge bench-bridge integration playbooks lint molecule hosts build compat changelog demo demo-clean bench bench-hosts clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt 2>&1 | grep -v '^WARNING' || true
	$(VENV)/bin/python -c 'import ansible, requests_oauthlib, molecule'
	touch $@

venv: $(VENV)/.stamp ## create the virtualenv from the pinned requirements-dev.txt

deps: venv ## prepare .collections (this collection + community.crypto)
	VENV=$(CURDIR)/$(VENV) scripts/deps.sh

system: ## install nginx, pebble, openssl, curl when missing (apt)
	scripts/system-packages.sh

test: ## the whole suite from a fresh clone: setup, sanity, units, emulator, bridge, integration, playbooks, lint, molecule, hosts, build, compat
	scripts/test.sh

sanity: deps ## ansible-test sanity (no ignore files)
	scripts/test.sh sanity

units: deps ## unit tests (mocked HTTP)
	scripts/test.sh units

emulator: deps ## the X API emulator's own tests
	scripts/test.sh emulator

bridge: deps system ## the delivery bridge: units, then real nginx -> bridge -> CCM stand-in (kill -9, CCM outage)
	scripts/test.sh bridge

bench-bridge: deps system ## signed deliveries/s and p99 through nginx -> bridge -> CCM stand-in (wrk) -> BENCHMARKS.md
	scripts/bench-bridge.sh

integration: deps system ## modules through ansible-playbook against the emulator
	scripts/test.sh integration

playbooks: deps system ## the playbooks against the emulator, real nginx and a local CA
	scripts/test.sh playbooks

lint: deps ## ansible-lint, production profile, offline
	scripts/test.sh lint

molecule: deps system ## role scenarios on localhost (selfsigned, acme, provided)
	scripts/test.sh molecule

hosts: deps system ## the playbooks over SSH+sudo on Debian 12/13 booted in systemd-nspawn (root needed)
	scripts/test.sh hosts

build: deps ## build the collection tarball and run galaxy-importer on it
	scripts/test.sh build

compat: deps ## other ansible-core releases: 2.18 and 2.21 (sanity, units, integration, a playbook scenario), 2.20 (sanity, units)
	scripts/test.sh compat

changelog: venv ## lint the changelog fragments
	scripts/test.sh changelog

demo: deps system ## the whole job on this machine against the emulator, nginx and a local CA
	scripts/demo.sh

demo-clean: ## stop what the demo started and remove its files
	scripts/demo.sh clean

bench: deps system ## converge and rerun times and API calls for 1 and 20 sites -> BENCHMARKS.md
	scripts/bench.sh

bench-hosts: deps system ## deploy over SSH+sudo on booted Debian hosts vs a ping floor (root needed) -> BENCHMARKS.md
	scripts/bench-hosts.sh

clean: demo-clean ## remove build output and test output
	rm -rf build tests/output .ansible
