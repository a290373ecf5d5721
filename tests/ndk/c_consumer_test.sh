#!/bin/bash
# The plain C11 consumer (consumer.c) built exactly as code outside this repository builds it:
#   cc -std=c11 -Wall -Werror consumer.c $(pkg-config --cflags --libs softrnic-ndk-uninstalled)
# with PKG_CONFIG_PATH at the build folder's meson-uninstalled/, then run over an in-process pair
# of devices named by SOFTRNIC_DEVICES (one RoCEv2 pair on the loopback wire, then, when
# SOFTRNIC_NDK_CONSUMER_IWARP is not 0, one iWARP pair on loopback TCP).
# Usage: c_consumer_test.sh BUILD_ROOT SOURCE_ROOT
set -u
build=${1:?build root}
src=${2:?source root}
for tool in cc pkg-config; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: no $tool on PATH"
    exit 77
  fi
done
export PKG_CONFIG_PATH="$build/meson-uninstalled"
if ! flags=$(pkg-config --cflags --libs softrnic-ndk-uninstalled); then
  echo "FAIL: pkg-config does not find softrnic-ndk-uninstalled in $PKG_CONFIG_PATH"
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "cc -std=c11 -Wall -Werror consumer.c $flags"
# shellcheck disable=SC2086  # the flags are words, as in a consumer's makefile
if ! cc -std=c11 -Wall -Werror "$src/tests/ndk/consumer.c" $flags -o "$work/consumer"; then
  echo "FAIL: the consumer does not build through the pkg-config file"
  exit 1
fi
# The uninstalled library sits where the .pc file's -L points.
libdirs=$(pkg-config --libs-only-L softrnic-ndk-uninstalled | sed 's/-L//g; s/ \+/:/g; s/:$//')
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

status=0
run() {  # NAME DEVICES ACTIVE PASSIVE PASSIVE_IP
  echo "== $1"
  if ! SOFTRNIC_DEVICES="$2" timeout 120 "$work/consumer" "$3" "$4" "$5"; then
    echo "FAIL: the consumer over $1"
    status=1
  fi
}
run roce-v2 "name=a,port=loopback:peer=b,ip4=198.18.0.1/24;name=b,port=loopback:peer=a,ip4=198.18.0.2/24" \
  0x40000000 0x40000001 198.18.0.2
if [ "${SOFTRNIC_NDK_CONSUMER_IWARP:-1}" != 0 ]; then
  run iwarp "name=a,proto=iwarp,port=uring,ip4=127.0.0.1/8;name=b,proto=iwarp,port=uring,ip4=127.0.0.2/8" \
    0x40000000 0x40000001 127.0.0.2
fi
exit $status
