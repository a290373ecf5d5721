#!/usr/bin/env bash
# Installs what softrnic needs from Debian packages (only when something is missing), then
# configures and builds it in ./build. Idempotent; fast when everything is present.
# Usage: scripts/setup.sh [extra meson options...]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential meson ninja-build pkg-config python3
  libdpdk-dev liburing-dev libspdlog-dev libcli11-dev libgtest-dev libgmock-dev
  libisal-dev libpcap-dev nlohmann-json3-dev libtomlplusplus-dev libbenchmark-dev
  tshark clang-16 libclang-rt-16-dev
  iproute2 ethtool nftables
  debhelper dpkg-dev fakeroot lintian git zsh groff-base man-db
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's package asks whether non-root users may capture; answer it ahead of time.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# scripts/test.sh asks for the interop lab's guest image to be built beside the compile: the
# first build takes minutes, mostly downloading and unpacking Debian packages, and the interop
# test waits for it (guest_image.sh builds once, under a lock, into a cache outside the tree).
if [ "${SOFTRNIC_PREBUILD_GUEST:-0}" = 1 ] && [ "$(id -u)" -eq 0 ]; then
  tests/interop/guest_image.sh > "${TMPDIR:-/tmp}/softrnic-guest-image.log" 2>&1 < /dev/null &
fi

# The benchmarks (perf/) are not part of the test run: perf/run.sh builds them in a release tree
# of their own, and `meson configure build -Dperf=true` adds them here.
if [ ! -f build/build.ninja ]; then
  meson setup build -Dperf=false "$@"
elif [ $# -gt 0 ]; then
  meson configure build "$@"
fi
ninja -C build
