#!/usr/bin/env bash
# Builds wire_bench with buildtype=release in its own build directory and runs it; the last lines
# are the ratio table (targets are printed, not asserted).
# Usage: perf/run.sh [wire_bench flags, e.g. --benchmark_repetitions=30 --benchmark_filter=crc]
# PERF_BUILD_DIR overrides the build directory (default: build-perf-release).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${PERF_BUILD_DIR:-build-perf-release}
options=(--buildtype=release -Dperf=true -Dtests=false -Dfuzz=false)
if [ -f "$dir/build.ninja" ]; then
  meson configure "$dir" "${options[@]}" >/dev/null
else
  meson setup "$dir" "${options[@]}" >/dev/null
fi
ninja -C "$dir" perf/wire_bench >/dev/null
exec "$dir/perf/wire_bench" "$@"
