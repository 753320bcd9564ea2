#!/usr/bin/env bash
# Install the system packages the tests and the demo use, when missing:
# nginx (the TLS reverse proxy), pebble (a real ACME server), openssl, curl, and the
# ShellCheck linter that ansible-test sanity runs on the scripts, and for the `hosts` stage (Debian booted in
# systemd-nspawn containers) debootstrap and systemd-container.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
command -v pebble-challtestsrv >/dev/null 2>&1 || missing+=(pebble)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system packages missing: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx on port 80 after installing it; the tests run their own instances.
if [ -x /etc/init.d/nginx ]; then /etc/init.d/nginx stop >/dev/null 2>&1 || true; fi
