#!/usr/bin/env bash
# ndkping (ndk-tools/, plain C11 NDK consumer) under every shipped scenario (scenarios/*.toml),
# loaded by the shim from SOFTRNIC_SCENARIO on an in-process RoCEv2 pair: it must either recover
# (exit 0, every echo verified) or fail cleanly (exit 1, the failing call and status named);
# never hang (timeout) or crash (signal), and the shim must have logged the scenario (ndkping ends
# with _Exit, which skips the summary the shim writes at exit: the log has no summary line).
# Scenarios that only slow the consumer down must end in success.
# Usage: scenario_tools_test.sh BUILD_ROOT SOURCE_ROOT
set -u
build=${1:?build root}
src=${2:?source root}
ping="$build/ndk-tools/ndkping"
failures=0
export SOFTRNIC_DEVICES="name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64"
log=$(mktemp /tmp/softrnic-scenario-ping.XXXXXX)
trap 'rm -f "$log"' EXIT
must_succeed=" link-flap rnr-storm all-pending all-inline lossy "
port=9300
for f in "$src"/scenarios/*.toml; do
  name=$(basename "$f" .toml)
  port=$((port + 1))
  echo "== $name"
  out=$(SOFTRNIC_SCENARIO="$f" SOFTRNIC_SCENARIO_LOG="$log" timeout 120 "$ping" --loopback -p "$port" -n 600 -l 4000 2>&1)
  rc=$?
  echo "$out" | tail -5
  if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
    echo "FAIL: $name: ndkping exited with $rc (hang or crash)"
    failures=$((failures + 1))
    continue
  fi
  if [[ $must_succeed == *" $name "* ]] && [ $rc -ne 0 ]; then
    echo "FAIL: $name: ndkping should have recovered"
    failures=$((failures + 1))
  fi
  if [ $rc -eq 1 ] && ! grep -q "STATUS_\|0x[0-9a-fA-F]\{8\}\|no completion within\|disconnected" <<<"$out"; then
    echo "FAIL: $name: ndkping failed without saying why (a status or the disconnect)"
    failures=$((failures + 1))
  fi
  if ! grep -q '"type":"inject"' "$log"; then
    echo "FAIL: $name: the scenario log shows no injected event"
    failures=$((failures + 1))
  else
    grep '"type":"inject"\|"type":"effect"' "$log" | head -3 | cut -c1-300
  fi
done
if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
