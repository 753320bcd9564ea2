#!/usr/bin/env bash
# `make bench-bridge` (and `make bench`): signed deliveries per second and acknowledgement latency through
# wrk -> nginx (TLS) -> the delivery bridge -> the CCM stand-in, no loss, and the bridge's idle memory.
# Writes the "Delivery bridge" section of BENCHMARKS.md. CPU-heavy for about 40 s.
# Usage: scripts/bench-bridge.sh   (BENCH_BRIDGE_SECONDS=15 BENCH_BRIDGE_CONNECTIONS=12 BENCH_BRIDGE_DELAY_MS=10
#                                  BENCH_BRIDGE_FLAT_SECONDS=10 BENCH_BRIDGE_THREADS=2)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv="$top/.venv"
work="$top/.cache/bench-bridge"
if [ ! -x "$venv/bin/python" ]; then
  make -s deps
fi
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing wrk (the load generator)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
  else
    echo "wrk is missing: apt-get install wrk" >&2
    exit 1
  fi
fi
rm -rf "$work"
mkdir -p "$work"
export PYTHONPATH="$top/tools"
"$venv/bin/python" scripts/bench_bridge.py --workdir "$work" \
  --seconds "${BENCH_BRIDGE_SECONDS:-15}" --connections "${BENCH_BRIDGE_CONNECTIONS:-12}" \
  --delay-ms "${BENCH_BRIDGE_DELAY_MS:-10}" --flat-seconds "${BENCH_BRIDGE_FLAT_SECONDS:-10}" \
  --threads "${BENCH_BRIDGE_THREADS:-2}" --output "$top/BENCHMARKS.md"
