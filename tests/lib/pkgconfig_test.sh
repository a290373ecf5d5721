#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds an outside program with nothing but
# `pkg-config softrnic`: the public headers and libsoftrnic.so are enough to run two devices.
set -u
build=${1:?build dir}; src=${2:?source file}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --destdir "$tmp" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
pc=$(dirname "$(find "$tmp" -name softrnic.pc | head -1)")
[ -n "$pc" ] || { echo "FAIL: softrnic.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp"
libdir=$(pkg-config --variable=libdir softrnic)  # the sysroot is already prefixed
unset LD_LIBRARY_PATH  # only the installed copy may be found
program="$tmp/outside"
g++ $(pkg-config --cflags softrnic) "$src" -o "$program" $(pkg-config --libs softrnic) -Wl,-rpath,"$libdir" \
  || { echo "FAIL: the outside program does not build against the installed headers"; exit 1; }
ldd "$program" | grep -q "$tmp" || { echo "FAIL: the program did not link the installed library"; exit 1; }
"$program"
