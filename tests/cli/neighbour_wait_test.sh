#!/bin/bash
# A softrnic pingpong client on a DPDK af_packet port answers ARP and ND while it waits for the
# server's reply in the TCP exchange.
#
# rdma-core's pingpong servers resolve the client's GID (ARP/ND) after reading its message and
# before they reply. A DPDK port has no kernel behind it: only softrnic answers for its address,
# and only while something polls the device. Here tests/cli/resolving_peer.py does what those
# servers do, in front of a softrnic server (kernel-socket port) in namespace 1; the client runs
# in namespace 2 on a net_af_packet port on the veth with an address the kernel there does not
# have (198.18.0.9, fd00:5052::9), so no kernel answers for it and no neighbour entry is seeded.
# rc_pingpong over IPv4 and IPv6 and ud_pingpong over IPv4: the peer must resolve the address
# within 3 s and both pingpong sides must exit 0 with every iteration done.
set -u
B=${SOFTRNIC_BUILD_ROOT:?}/cli/softrnic
PEER=$(dirname "$0")/resolving_peer.py
. "$(dirname "$0")/../common/netns.sh"
netns_pair || exit $?
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.out "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -8 "$f"; }; done
  exit 1
}

wait_listen() {  # NS PORT
  for _ in $(seq 200); do
    ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

case_run() {  # TOOL FAMILY ADDRSPEC
  local tool=$1 fam=$2 addr=$3 tag="$1-$2" n=100
  ip -n "$ns1" neigh flush all  # what an earlier case resolved is forgotten
  ip netns exec "$ns1" "$B" "$tool" -p 18516 -n $n -s 1024 --timeout 10 \
    >"$tmp/$tag.s.out" 2>"$tmp/$tag.s.err" &
  local spid=$!; pids+=("$spid")
  wait_listen "$ns1" 18516 || fail "$tag: the server did not listen"
  ip netns exec "$ns1" python3 "$PEER" --listen 18515 --upstream 198.18.0.1:18516 --deadline 3 \
    >"$tmp/$tag.p.out" 2>"$tmp/$tag.p.err" &
  local ppid=$!; pids+=("$ppid")
  wait_listen "$ns1" 18515 || fail "$tag: the resolving peer did not listen"
  timeout 60 ip netns exec "$ns2" "$B" "$tool" -n $n -s 1024 --timeout 10 \
    --dev "name=c0,proto=roce,port=af_packet:iface=$v2,$addr" 198.18.0.1 \
    >"$tmp/$tag.c.out" 2>"$tmp/$tag.c.err"
  local crc=$?
  wait "$ppid"; local prc=$?
  [ $crc = 0 ] || kill "$spid" 2>/dev/null
  wait "$spid"; local src=$?
  [ $prc = 0 ] || fail "$tag: the peer could not resolve the client (exit $prc)"
  [ $crc = 0 ] && [ $src = 0 ] || fail "$tag: client exit $crc, server exit $src"
  grep -q "^$n iters in" "$tmp/$tag.c.out" || fail "$tag: the client did not report $n iterations"
  grep -q "^$n iters in" "$tmp/$tag.s.out" || fail "$tag: the server did not report $n iterations"
  echo "ok: $tool over $fam on DPDK af_packet, $(cat "$tmp/$tag.p.err")"
}

case_run rc_pingpong IPv4 ip4=198.18.0.9/24
case_run rc_pingpong IPv6 ip6=fd00:5052::9/64
case_run ud_pingpong IPv4 ip4=198.18.0.9/24
echo "PASS"
