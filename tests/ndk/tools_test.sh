#!/bin/bash
# ndkping and ndkperf (ndk-tools/) end to end, checking what they print:
#   roce-loopback  RoCEv2 on an in-process pair joined by the in-memory loopback wire, IPv4 and IPv6
#   roce-ring      the same on a DPDK net_ring pair (no hugepages); exit 77 when DPDK cannot start
#   iwarp          iWARP on an in-process pair over the kernel's loopback TCP, 127.0.0.x and ::1
#   twoproc        iWARP with the server and the client in two processes on loopback TCP
# Each run must exit 0 and report the right counts: ndkping every reply verified and the server's
# message count, ndkperf the server's message and byte counts (send) or verified data (write,
# read). A client connecting where nothing listens must fail, naming the call and the status.
# Usage: tools_test.sh BUILD_ROOT MODE
set -u
build=${1:?build root}
mode=${2:?mode}
ping="$build/ndk-tools/ndkping"
perf="$build/ndk-tools/ndkperf"
failures=0
out=""

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run NAME CMD...: runs CMD (bounded), shows its output, keeps it in $out; fails on a non-zero exit.
run() {
  local name=$1
  shift
  echo "== $name: $*"
  out=$(timeout 120 "$@" 2>&1)
  local rc=$?
  echo "$out"
  if [ $rc -ne 0 ]; then
    fail "$name exited with $rc"
    return 1
  fi
  return 0
}

# expect NAME TEXT...: every TEXT must appear in the last run's output.
expect() {
  local name=$1
  shift
  for text in "$@"; do
    if ! grep -qF -- "$text" <<<"$out"; then fail "$name: no '$text' in its output"; fi
  done
}

# The checks of one in-process pair. Args: LABEL FAMILY_FLAG PORT (the port matters on iWARP).
pair_suite() {
  local label=$1 family=$2 port=$3
  if run "$label ndkping" "$ping" --loopback $family -p "$port" -n 300 --json; then
    expect "$label ndkping" '"messages":300' '"replies_verified":300' '"server_messages":300' \
      '"server_errors":0' '"ok":true'
  fi
  port=$((port + 1))
  if run "$label ndkping notified" "$ping" --loopback $family -p "$port" -n 100 -l 4000 \
    --completion notify; then
    expect "$label ndkping notified" "100 replies of 4000 bytes, 100 verified" \
      "server received 100 messages, 0 errors" "ndkping: completes"
  fi
  port=$((port + 1))
  # send: 100 latency messages of 64 B and 500 of 4096 B, every one checked by the server.
  if run "$label ndkperf send" "$perf" --loopback $family -p "$port" -t send -s 4096 -n 500 \
    -q 16 -L 100 --json; then
    expect "$label ndkperf send" '"server_messages":600' "\"server_bytes\":$((100 * 64 + 500 * 4096))" \
      '"server_errors":0' '"verified":true'
  fi
  port=$((port + 1))
  if run "$label ndkperf send notified" "$perf" --loopback $family -p "$port" -t send -s 64 \
    -n 2000 -q 32 -L 10 -w notify; then
    expect "$label ndkperf send notified" "server received 2010 messages, 128640 bytes" \
      "0 errors" "ndkperf: completes"
  fi
  port=$((port + 1))
  for t in write read; do
    if run "$label ndkperf $t" "$perf" --loopback $family -p "$port" -t $t -s 65536 -n 300 -q 8 \
      -L 100 --json; then
      expect "$label ndkperf $t" "\"test\":\"$t\"" '"iterations":300' '"server_errors":0' \
        '"verified":true'
    fi
    port=$((port + 1))
  done
}

# A connect where nothing listens must fail with the call and the status named.
refused_check() {  # DEVICES CLIENT_ADAPTER ADDR:PORT
  echo "== refused: ndkping -c $3"
  out=$(SOFTRNIC_DEVICES="$1" timeout 60 "$ping" -c "$3" --if "$2" -n 1 2>&1)
  local rc=$?
  echo "$out"
  if [ $rc -ne 1 ]; then fail "a connect to nothing exited with $rc, not 1"; fi
  expect "refused" "NdkConnect failed: STATUS_CONNECTION_REFUSED (0xc0000236)"
}

# Skips (77) when the devices cannot start here, e.g. DPDK without the rights it needs.
adapters_or_skip() {
  local listing
  listing=$(SOFTRNIC_DEVICES="$1" timeout 60 "$ping" --list 2>&1)
  if grep -q "NDIS_STATUS_ADAPTER_NOT_READY" <<<"$listing"; then
    echo "SKIPPED: the devices cannot start here: $(grep -v '^ndkping' <<<"$listing" | head -3)"
    exit 77
  fi
  echo "$listing"
}

roce_devices() {  # PORT_KIND
  echo "name=a,port=$1:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;name=b,port=$1:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64"
}

case "$mode" in
  roce-loopback | roce-ring)
    kind=${mode#roce-}
    export SOFTRNIC_DEVICES
    SOFTRNIC_DEVICES=$(roce_devices "$kind")
    adapters_or_skip "$SOFTRNIC_DEVICES"
    pair_suite "RoCEv2 $kind IPv4" "" 9000
    pair_suite "RoCEv2 $kind IPv6" "-6" 9100
    refused_check "$SOFTRNIC_DEVICES" a 198.18.0.2:9999
    ;;
  iwarp)
    export SOFTRNIC_DEVICES="name=c,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;name=d,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128"
    adapters_or_skip "$SOFTRNIC_DEVICES"
    pair_suite "iWARP IPv4" "" 47600
    pair_suite "iWARP IPv6" "-6" 47620
    ;;
  twoproc)
    work=$(mktemp -d)
    server_pid=""
    cleanup() {
      if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid"; fi
      rm -rf "$work"
    }
    trap cleanup EXIT
    server_devices="name=srv,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128"
    client_devices="name=cli,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128"
    adapters_or_skip "$server_devices"
    # twoproc_case NAME TOOL SERVER_ADDR CLIENT_ARGS... : one server process, one client process.
    twoproc_case() {
      local name=$1 tool=$2 addr=$3
      shift 3
      echo "== $name: server $tool -S $addr, client $tool -C $addr $*"
      SOFTRNIC_DEVICES="$server_devices" timeout 120 "$tool" -S "$addr" -W 60 \
        >"$work/server.out" 2>&1 &
      server_pid=$!
      for _ in $(seq 100); do
        grep -q "listening" "$work/server.out" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
      done
      out=$(SOFTRNIC_DEVICES="$client_devices" timeout 120 "$tool" -C "$addr" "$@" 2>&1)
      local rc=$?
      echo "$out"
      if [ $rc -ne 0 ]; then fail "$name: the client exited with $rc"; fi
      wait "$server_pid"
      local src=$?
      server_pid=""
      echo "-- server:"
      cat "$work/server.out"
      if [ $src -ne 0 ]; then fail "$name: the server exited with $src"; fi
      client_out=$out
      out=$(cat "$work/server.out")
    }
    twoproc_case "two processes ndkping" "$ping" 127.0.0.1:47640 -n 500 -l 1024 --json
    expect "server" "server: 500 messages, 512000 bytes received, 0 errors"
    out=$client_out
    expect "client" '"replies_verified":500' '"server_messages":500' '"ok":true'
    twoproc_case "two processes ndkperf" "$perf" "[::1]:47641" -t send -s 8192 -n 400 -L 50 --json
    expect "server" "server: 450 messages, $((50 * 64 + 400 * 8192)) bytes received, 0 errors"
    out=$client_out
    expect "client" '"server_messages":450' '"server_errors":0' '"verified":true'
    ;;
  *)
    echo "unknown mode $mode"
    exit 2
    ;;
esac

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks held"
exit 0
