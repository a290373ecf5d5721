#!/usr/bin/env bash
# Builds the benchmarks with buildtype=release in their own build directory and runs them; each
# ends with its ratio table (targets are printed, not asserted).
# Usage: perf/run.sh [wire_bench flags, e.g. --benchmark_repetitions=30 --benchmark_filter=crc]
# PERF_ONLY=wire|roce|dpdk|uring|cm|iwarp|sweep|ndk|twoproc runs one of them (uring and twoproc need root: they use
# network namespaces; twoproc is perf/twoproc_bench.sh, two processes over veth and memif).
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
ninja -C "$dir" perf/wire_bench perf/roce_bench perf/dpdk_bench perf/uring_bench perf/cm_bench \
  perf/twoproc_bench perf/twoproc_udp perf/iwarp_bench perf/sweep_bench perf/ndk_bench >/dev/null
only=${PERF_ONLY:-all}
if [ "$only" = all ] || [ "$only" = wire ]; then "$dir/perf/wire_bench" "$@"; fi
if [ "$only" = all ] || [ "$only" = roce ]; then echo; "$dir/perf/roce_bench"; fi
if [ "$only" = all ] || [ "$only" = dpdk ]; then echo; "$dir/perf/dpdk_bench"; fi
if [ "$only" = all ] || [ "$only" = uring ]; then echo; "$dir/perf/uring_bench"; fi
if [ "$only" = all ] || [ "$only" = cm ]; then echo; "$dir/perf/cm_bench"; fi
if [ "$only" = all ] || [ "$only" = iwarp ]; then echo; "$dir/perf/iwarp_bench"; fi
if [ "$only" = all ] || [ "$only" = sweep ]; then echo; "$dir/perf/sweep_bench"; fi
if [ "$only" = all ] || [ "$only" = ndk ]; then echo; "$dir/perf/ndk_bench"; fi
if [ "$only" = all ] || [ "$only" = twoproc ]; then
  echo; perf/twoproc_bench.sh "$dir" || [ $? -eq 77 ]  # 77: skipped (not root), said why
fi
