#!/usr/bin/env bash
# Installs, builds and runs every test suite; the last line is "N passed, N failed, N skipped",
# counted from the test results meson recorded (each GoogleTest case counts once).
# Usage: scripts/test.sh [meson test options, e.g. --suite roce]
set -uo pipefail
cd "$(dirname "$0")/.."
SOFTRNIC_PREBUILD_GUEST=1 scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
rm -f build/meson-logs/testlog.junit.xml
meson test -C build --print-errorlogs "$@"
rc=$?
python3 scripts/test_summary.py build/meson-logs/testlog.junit.xml || rc=1
exit $rc
