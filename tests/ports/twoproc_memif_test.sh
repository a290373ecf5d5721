#!/usr/bin/env bash
# Two processes on one host over DPDK net_memif (shared memory, no kernel interface, no
# namespace): RC SEND/WRITE/READ and atomics and UD SEND both ways (tests/ports/twoproc_peer.cpp),
# IPv4 then IPv6. One process is the memif server, the other the client, on a socket under a
# folder of this run; the bootstrap runs over loopback TCP. The devices resolve each other by ARP
# / IPv6 ND over the memif link. DPDK starts with the embedded defaults (transport/dpdk/eal.hpp),
# a --file-prefix per process. Reports SKIPPED (exit 77) only when the DPDK EAL cannot start.
#
#   twoproc_memif_test.sh PEER
set -u
peer=${1:?peer binary}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# A bootstrap port of this run (loopback is shared with whatever else runs on the host).
oob_port=$((20000 + $$ % 20000))
rc=0
run_pair() {  # run_pair FAMILY ADDR1 ADDR2 PREFIX OOB_ADDR
  local fam=$1 a1=$2 a2=$3 pfx=$4 oob=$5 key
  [ "$fam" = 4 ] && key=ip4 || key=ip6
  local sock="$tmp/memif$fam.sock"
  # IPv6 sends every payload of 64 bytes or more by reference (zero copy), IPv4 copies them.
  local zc=""
  [ "$fam" = 6 ] && zc=",zero_copy=64"
  "$peer" "name=s,port=memif:socket=$sock,role=server,$key=$a1/$pfx$zc" server "$oob" "$oob_port" \
    > "$tmp/s$fam.log" 2>&1 &
  local spid=$!; pids+=("$spid")
  # A memif client needs the server's socket: DPDK fails its start when nobody listens yet. DPDK
  # 22.11 puts it in the abstract namespace by default (socket-abstract=yes): ss shows "@PATH".
  for _ in $(seq 100); do
    ss -xlH 2>/dev/null | grep -qF "@$sock" && break
    [ -S "$sock" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  "$peer" "name=c,port=memif:socket=$sock,role=client,$key=$a2/$pfx$zc" client "$oob" "$oob_port" \
    > "$tmp/c$fam.log" 2>&1
  local crc=$?
  [ $crc -eq 77 ] && kill "$spid" 2>/dev/null
  wait "$spid"; local src=$?
  cat "$tmp/s$fam.log" "$tmp/c$fam.log"
  if [ $crc -eq 77 ] || [ $src -eq 77 ]; then
    local why
    why=$(grep -h -m1 'cannot build the device' "$tmp/s$fam.log" "$tmp/c$fam.log" | head -1)
    if grep -q 'DPDK EAL did not start' "$tmp/s$fam.log" "$tmp/c$fam.log"; then
      echo "SKIPPED: ${why#twoproc_peer: }"; exit 77
    fi
    echo "FAIL: IPv$fam: ${why#twoproc_peer: }"; rc=1; return
  fi
  if [ $crc -ne 0 ] || [ $src -ne 0 ]; then echo "FAIL: IPv$fam over memif (server $src, client $crc)"; rc=1; return; fi
  local by_ref=no
  grep -q 'DPDK port counters:.* tx_zero_copy=[1-9]' "$tmp/c$fam.log" && by_ref=yes
  if [ -n "$zc" ] && [ $by_ref = no ]; then echo "FAIL: IPv$fam: no payload went by reference"; rc=1; return; fi
  if [ -z "$zc" ] && [ $by_ref = yes ]; then echo "FAIL: IPv$fam: payloads went by reference below the default threshold"; rc=1; return; fi
  echo "IPv$fam over memif: ok (payloads by reference: $by_ref)"
  oob_port=$((oob_port + 1))
}
run_pair 4 198.18.0.1 198.18.0.2 24 127.0.0.1
run_pair 6 fd00:5052::1 fd00:5052::2 64 ::1
exit $rc
