#!/usr/bin/env bash
# Fails when a layer includes what it must not (DESIGN.md "Layers and dependency direction").
# The meson include roots already keep ndk-shim/ and cli/ headers out of reach of the engine; this
# check also covers system headers (liburing.h, pcap.h live in /usr/include, visible to everyone).
set -u
root=${1:?source root}
cd "$root" || exit 2
fail=0
check() {  # check DIR REGEX WHY
  local hits
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($2)" "$1" --include='*.hpp' \
           --include='*.cpp' --include='*.h' --include='*.c' 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "FAIL: $3"
    echo "$hits"
    fail=1
  fi
}
check softrnic 'rte_|dpdk/|liburing|pcap|CLI/|ndk|ndkpi|transport/|cli/' \
  "the engine (softrnic/) may depend on its own base only"
check softrnic/base 'spdlog|fmt/|wire/' "softrnic/base depends on nothing"
check softrnic/wire 'spdlog|fmt/' "softrnic/wire does no logging (counters, not log lines)"
[ -d transport ] && check transport 'ndk|ndkpi|CLI/|cli/' "transport/ may depend on softrnic only"
[ -d ndk-shim ] && check ndk-shim 'CLI/|cli/' "ndk-shim/ may not depend on the CLI"
# NTSTATUS lives only in the shim.
hits=$(grep -rn 'NTSTATUS' softrnic transport cli 2>/dev/null | grep -v '^cli/.*ndk' || true)
if [ -n "$hits" ]; then echo "FAIL: NTSTATUS outside ndk-shim/"; echo "$hits"; fail=1; fi
[ $fail = 0 ] && echo "layering ok"
exit $fail
