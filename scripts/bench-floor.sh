#!/usr/bin/env bash
# Writes a floor play for the benchmarks (scripts/bench.sh, scripts/bench-hosts.sh): ansible.builtin.ping tasks on
# the group ccm, HOST of them on the host with the play's become (each a round trip like the role's host tasks) and
# CONTROLLER of them delegated to the controller without become (like the role's X API tasks).
# Usage: scripts/bench-floor.sh HOST CONTROLLER FILE "WHAT IT STANDS FOR"
set -euo pipefail
host=$1 ctrl=$2 file=$3 title=${4:-floor}
{
  echo "---"
  echo "# $title: $host module runs on the host, $ctrl on the controller (scripts/bench-floor.sh)."
  echo "- name: Floor, $host + $ctrl ping tasks"
  echo "  hosts: ccm"
  echo "  gather_facts: false"
  echo "  become: true"
  echo "  tasks:"
  for i in $(seq 1 "$host"); do
    printf '    - name: Host module run %d\n      ansible.builtin.ping:\n' "$i"
  done
  for i in $(seq 1 "$ctrl"); do
    printf '    - name: Controller module run %d\n      ansible.builtin.ping:\n      delegate_to: localhost\n      become: false\n' "$i"
  done
} >"$file"
