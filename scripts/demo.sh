#!/usr/bin/env bash
# The main job: install, build and run the embedded demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec build/cli/softrnic demo "$@"
