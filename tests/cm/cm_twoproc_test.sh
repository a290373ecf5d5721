#!/usr/bin/env bash
# The CM between two processes in two network namespaces joined by a veth pair (io_uring UDP
# port): N connections by address with private data both ways, a message echoed on each, and a
# disconnect of every one, over IPv4 then IPv6. A capture on the veth must hold REQ/REP/RTU/DREQ/
# DREP MADs that tshark decodes and pcap_verify.sh (the independent ICRC checker) accepts.
# Addresses 198.18.0.0/15 and fd00:5052::/64 only, in namespaces this test creates and removes.
set -u
peer=${1:?cm_peer binary}; tools=${2:?tools dir (tests/tools)}; n=${3:-20}
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (Debian package tshark)"; exit 1; }
. "$(dirname "$0")/../common/netns.sh"
netns_pair || exit $?
rc=0
run_pair() {  # run_pair FAMILY ADDR1 ADDR2 PREFIX [MODE]
  local fam=$1 a1=$2 a2=$3 pfx=$4 mode=${5:-accept} key
  [ "$fam" = 4 ] && key=ip4 || key=ip6
  local cap="$tmp/cm_v$fam.pcap"
  ip netns exec "$ns1" tshark -q -i "$v1" -w "$cap" -f "udp port 4791" >/dev/null 2>&1 &
  local tpid=$!; pids+=("$tpid")
  sleep 2
  ip netns exec "$ns1" "$peer" "name=s,port=uring,$key=$a1/$pfx" server 7174 "$n" "$mode" > "$tmp/s$fam.log" 2>&1 &
  local spid=$!; pids+=("$spid")
  sleep 0.3
  ip netns exec "$ns2" "$peer" "name=c,port=uring,$key=$a2/$pfx" client "$a1" 7174 "$n" "$mode" > "$tmp/c$fam.log" 2>&1
  local crc=$?
  wait "$spid"; local src=$?
  sleep 1
  kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
  cat "$tmp/s$fam.log" "$tmp/c$fam.log"
  if [ $crc -ne 0 ] || [ $src -ne 0 ]; then echo "FAIL: IPv$fam CM exchange, $mode (server $src, client $crc)"; rc=1; return; fi
  if ! sh "$tools/pcap_verify.sh" "$cap" > "$tmp/verify$fam.log" 2>&1; then
    echo "FAIL: the IPv$fam capture does not verify:"; tail -20 "$tmp/verify$fam.log"; rc=1; return
  fi
  local mads
  mads=$(tshark -n -r "$cap" -Y infiniband.mad -T fields -e infiniband.mad.attributeid 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ',')
  echo "IPv$fam, $mode: CM MADs on the wire (count attribute): $mads"
  local want="0x0010 0x0013 0x0014 0x0015 0x0016"
  [ "$mode" = reject ] && want="0x0010 0x0012"
  for a in $want; do
    case "$mads" in *" $a"*) ;; *) echo "FAIL: no MAD with attribute $a in the IPv$fam capture"; rc=1 ;; esac
  done
}
run_pair 4 198.18.0.1 198.18.0.2 24 accept
run_pair 6 fd00:5052::1 fd00:5052::2 64 accept
run_pair 4 198.18.0.1 198.18.0.2 24 server-disconnects
run_pair 6 fd00:5052::1 fd00:5052::2 64 reject
exit $rc
