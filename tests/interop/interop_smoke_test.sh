#!/usr/bin/env bash
# The interop lab's smoke test: a Debian bookworm guest (guest_image.sh, booted under qemu with
# TCG by guest.sh) with rdma_rxe on eth0 and siw on eth1, and rdma-core's own `rping` there as
# softrnic's peer, both directions (softrnic as client and as server):
#   RoCEv2, IPv4 and IPv6: rping on rxe0  <->  rping_peer on a DPDK af_packet port (the veth end
#                          rv1 has no kernel address; softrnic answers ARP/ND itself)
#   iWARP,  IPv4:          rping on siw0  <->  rping_peer on the io_uring TCP transport (the
#                          kernel-addressed veth end kv1)
# Every ping's data is verified (softrnic's client compares its buffers, the guest's client runs
# rping -V), and each session's capture on the guest's tap must pass pcap_verify.sh.
#
#   interop_smoke_test.sh RPING_PEER TOOLS_DIR     (TOOLS_DIR: tests/tools)
#
# Budgets (environment): SOFTRNIC_INTEROP_BUILD_BUDGET seconds to build the guest image when it
# is not cached (default 600), SOFTRNIC_INTEROP_BOOT_BUDGET seconds to boot it (default 180).
# Over either budget, or with no qemu, no root or no way to build the image, the test prints
# "SKIPPED: <reason>" and exits 77. A guest that crashes or a tool that hangs is a failure, shown
# with the guest's console.
set -u
peer=${1:?rping_peer binary}; tools=${2:?tools dir (tests/tools)}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/guest.sh"
lab_tools=$tools
lab_up || exit $?
img=$lab_img

rc=0
port=$(( 20000 + $$ % 20000 ))
count=5
# softrnic connects to the guest's rping server.
client_case() {  # client_case LABEL TAP SPEC GUEST_ADDR
  local label=$1 tap=$2 spec=$3 gaddr=$4 cap="$lab_tmp/$1.pcap" prc grc
  port=$((port + 1))
  lab_capture_start "$tap" "$cap"
  guest_spawn rps "rping -s -v -a $gaddr -p $port -C $count" >/dev/null
  sleep 2  # rping binds and listens (a slow TCG guest)
  timeout -k 5 60 ip netns exec "$lab_ns" "$peer" "$spec" client "$gaddr" "$port" "$count" 64 >"$lab_tmp/$label.peer" 2>&1
  prc=$?
  guest_wait rps 20 >"$lab_tmp/$label.guest"; grc=$?
  lab_capture_stop
  sed "s/^/  peer: /" "$lab_tmp/$label.peer"; sed "s/^/  guest: /" "$lab_tmp/$label.guest"
  local seen
  seen=$(grep -c '^server ping data: rdma-ping-' "$lab_tmp/$label.guest")
  # rping's server ends with an error line once the client disconnects (its loop waits for the
  # next ping): its verdict is how many pings it served, not its exit status.
  if [ $prc -ne 0 ] || [ "$seen" -ne "$count" ]; then
    echo "FAIL: $label: softrnic client exit $prc, guest rping server saw $seen of $count pings (exit $grc)"
    rc=1; return
  fi
  echo "$label: softrnic client -> guest rping server: $count pings verified"
  lab_capture_verify "$label" "$cap" "" || rc=1
}

# The guest's rping client connects to softrnic.
server_case() {  # server_case LABEL TAP SPEC LISTEN_ADDR
  local label=$1 tap=$2 spec=$3 saddr=$4 cap="$lab_tmp/$1.pcap" prc grc
  port=$((port + 1))
  lab_capture_start "$tap" "$cap"
  timeout -k 5 90 ip netns exec "$lab_ns" "$peer" "$spec" server "$port" "$count" >"$lab_tmp/$label.peer" 2>&1 &
  local spid=$!; pids+=("$spid")
  sleep 1
  guest_run -t 60 "rping -c -V -v -a $saddr -p $port -C $count" >"$lab_tmp/$label.guest" 2>&1
  grc=$?
  wait "$spid"; prc=$?
  lab_capture_stop
  sed "s/^/  peer: /" "$lab_tmp/$label.peer"; sed "s/^/  guest: /" "$lab_tmp/$label.guest"
  if [ $grc -ne 0 ] || [ $prc -ne 0 ]; then
    echo "FAIL: $label: guest rping client exit $grc, softrnic server exit $prc"; rc=1; return
  fi
  echo "$label: guest rping client -> softrnic server: $count pings verified"
  lab_capture_verify "$label" "$cap" "" || rc=1
}

roce4="name=r4,proto=roce,port=af_packet:iface=rv1,ip4=$host_v4_dpdk/24"
roce6="name=r6,proto=roce,port=af_packet:iface=rv1,ip6=$host_v6_dpdk/112"
iw4="name=i4,proto=iwarp,port=uring,ip4=$host_v4_kern_iw/24"
client_case roce_v4_softrnic_client tap0 "$roce4" "$guest_v4_rxe"
server_case roce_v4_softrnic_server tap0 "$roce4" "$host_v4_dpdk"
client_case roce_v6_softrnic_client tap0 "$roce6" "$guest_v6_rxe"
server_case roce_v6_softrnic_server tap0 "$roce6" "$host_v6_dpdk"
client_case iwarp_v4_softrnic_client tap1 "$iw4" "$guest_v4_siw"
server_case iwarp_v4_softrnic_server tap1 "$iw4" "$host_v4_kern_iw"
echo "timings: image $(awk '$1 == "build_seconds" { print $2 }' "$img/info") s to build (cached after), boot $guest_boot_seconds s"
[ $rc -eq 0 ] && echo "interop smoke: all cases passed"
exit $rc
