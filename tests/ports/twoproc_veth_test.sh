#!/usr/bin/env bash
# Two processes, two network namespaces joined over veth: RC SEND/WRITE/READ/FETCH_ADD/
# COMPARE_SWAP and UD SEND both ways (tests/ports/twoproc_peer.cpp), IPv4 then IPv6, with a
# capture of the wire checked by tests/tools/pcap_verify.sh (tshark plus the independent ICRC
# checker). Addresses 198.18.0.0/15 and fd00:5052::/64 only, inside namespaces this test creates
# and always removes.
#
#   twoproc_veth_test.sh PEER TOOLS KIND [LOSS]     (TOOLS: tests/tools)
#
# KIND uring: the io_uring UDP port. The kernel owns the addresses (198.18.0.1/.2, fd00:5052::1/::2
#   on the veth ends), the bootstrap runs over the same veth, the capture is taken on one end.
#   With LOSS (percent), both veth ends drop that share of frames (tc netem, or nftables where
#   the kernel has no sch_netem: tests/common/wire_loss.sh) and the transfers
#   must still complete intact.
# KIND af_packet | af_xdp: DPDK ports on the veth ends. The kernel side of those ends has no
#   address at all (IPv6 off, so not even a link-local one) and checksum offloads off: the
#   devices answer ARP and neighbour solicitations themselves, with no static neighbours. The
#   bootstrap runs over a second veth pair (198.19.255.0/30). The capture cannot be taken on the
#   DPDK ends: af_xdp receives in XDP and sends with AF_XDP, af_packet sends with
#   PACKET_QDISC_BYPASS, all below the kernel's capture hook. So the ends meet in a third
#   namespace, through a bridge, and the capture is taken on the bridge port toward the server:
#     ns_a [v1] == [m1] ns_t: bridge [m2] == [v2] ns_b
#   af_xdp needs single-queue veths (the PMD serves queue 0, and a frame the peer sends on queue 1
#   would miss the socket). When DPDK or the kernel refuses an af_xdp socket, the test reports
#   SKIPPED with the reason (exit 77).
# DPDK starts with the embedded defaults (transport/dpdk/eal.hpp): --no-huge -m 512 --no-shconf
# --no-pci --no-telemetry and a --file-prefix with the process ID, so two processes never share a
# runtime folder or a telemetry socket.
set -u
peer=${1:?peer binary}; tools=${2:?tools dir (tests/tools)}; kind=${3:?uring, af_packet or af_xdp}; loss=${4:-0}
link_mtu=${5:-1500}  # of every link of the wire; above 1500 the devices use a larger path MTU
case "$kind" in uring|af_packet|af_xdp) ;; *) echo "FAIL: unknown port kind '$kind'"; exit 1;; esac
if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: needs root to create network namespaces"; exit 77; fi
command -v ip >/dev/null || { echo "SKIPPED: iproute2 (ip) is not installed"; exit 77; }
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (Debian package tshark)"; exit 1; }
command -v ethtool >/dev/null || { echo "FAIL: ethtool is not installed (Debian package ethtool)"; exit 1; }
tag=srn$$
ns1=${tag}a; ns2=${tag}b; nst=${tag}t; v1=${tag}x; v2=${tag}y; m1=${tag}m; m2=${tag}n; c1=${tag}p; c2=${tag}q
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null; ip netns del "$nst" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
# libxdp looks for a bpffs to pin a dispatcher; without one it loads the PMD's program directly.
export LIBXDP_SKIP_DISPATCHER=1
ip netns add "$ns1" && ip netns add "$ns2" || { echo "SKIPPED: cannot create network namespaces"; exit 77; }
in1() { ip netns exec "$ns1" "$@"; }
in2() { ip netns exec "$ns2" "$@"; }
in_tap() { ip netns exec "$nst" "$@"; }

if [ "$kind" = uring ]; then
  ip link add "$v1" type veth peer name "$v2" || exit 1
  ip link set "$v1" netns "$ns1" && ip link set "$v2" netns "$ns2" || exit 1
  for n in 1 2; do
    ns=ns$n; ns=${!ns}; v=v$n; v=${!v}
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$v" up
    ip -n "$ns" addr add 198.18.0.$n/24 dev "$v"
    ip -n "$ns" addr add fd00:5052::$n/64 dev "$v" nodad
    ip netns exec "$ns" ethtool -K "$v" tx off >/dev/null 2>&1  # complete checksums on the wire
  done
  cap_ns=$ns1; cap_if=$v1; cap_filter="udp port 4791"
  oob4=198.18.0.1; oob6=fd00:5052::1
else
  ip netns add "$nst" || exit 1
  # The tap namespace forwards frames and nothing else: no IPv6 of its own, no addresses.
  in_tap sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || exit 1
  for n in 1 2; do
    ns=ns$n; ns=${!ns}; v=v$n; v=${!v}; m=m$n; m=${!m}
    ip link add "$v" numtxqueues 1 numrxqueues 1 type veth peer name "$m" numtxqueues 1 numrxqueues 1 || exit 1
    ip link set "$v" netns "$ns" && ip link set "$m" netns "$nst" || exit 1
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1" || exit 1
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$v" up
    ip netns exec "$ns" ethtool -K "$v" tx off >/dev/null 2>&1 || { echo "FAIL: ethtool -K $v tx off"; exit 1; }
    in_tap ethtool -K "$m" tx off >/dev/null 2>&1
  done
  ip -n "$nst" link add br0 type bridge stp_state 0 mcast_snooping 0 || exit 1
  ip -n "$nst" link set "$m1" master br0 && ip -n "$nst" link set "$m2" master br0 || exit 1
  ip -n "$nst" link set br0 up && ip -n "$nst" link set "$m1" up && ip -n "$nst" link set "$m2" up
  # The bootstrap's own link, away from the wire under test.
  ip link add "$c1" type veth peer name "$c2" || exit 1
  ip link set "$c1" netns "$ns1" && ip link set "$c2" netns "$ns2" || exit 1
  ip -n "$ns1" addr add 198.19.255.1/30 dev "$c1" && ip -n "$ns1" link set "$c1" up
  ip -n "$ns2" addr add 198.19.255.2/30 dev "$c2" && ip -n "$ns2" link set "$c2" up
  cap_ns=$nst; cap_if=$m1; cap_filter=""  # nothing but the devices talks on this wire
  oob4=198.19.255.1; oob6=198.19.255.1
fi

if [ "$link_mtu" != 1500 ]; then
  for n in 1 2; do
    ns=ns$n; v=v$n; m=m$n
    ip -n "${!ns}" link set "${!v}" mtu "$link_mtu" || exit 1
    [ "$kind" = uring ] || ip -n "$nst" link set "${!m}" mtu "$link_mtu" || exit 1
  done
  [ "$kind" = uring ] || ip -n "$nst" link set br0 mtu "$link_mtu" || exit 1
  echo "links at MTU $link_mtu"
fi

if [ "$loss" != 0 ]; then
  [ "$kind" = uring ] || { echo "FAIL: LOSS applies to KIND uring"; exit 1; }
  . "$(dirname "$0")/../common/wire_loss.sh"
  for n in 1 2; do
    ns=ns$n; ns=${!ns}; v=v$n; v=${!v}
    wire_loss "$ns" "$v" "$loss" || exit $?
  done
  echo "loss on both veth ends: $wire_loss_how"
fi

# A capture running: waits until dumpcap has opened the file, so no frame is missed.
start_capture() {  # start_capture FILE
  ip netns exec "$cap_ns" tshark -q -i "$cap_if" -w "$1" ${cap_filter:+-f "$cap_filter"} >"$1.log" 2>&1 &
  cap_pid=$!; pids+=("$cap_pid")
  for _ in $(seq 50); do grep -q "Capturing on" "$1.log" 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
}

rc=0
run_pair() {  # run_pair FAMILY ADDR1 ADDR2 PREFIX
  local fam=$1 a1=$2 a2=$3 pfx=$4 key oob
  [ "$fam" = 4 ] && key=ip4 || key=ip6
  [ "$fam" = 4 ] && oob=$oob4 || oob=$oob6
  local s1="name=s,port=uring" s2="name=c,port=uring"
  if [ "$kind" != uring ]; then s1="name=s,port=$kind:iface=$v1"; s2="name=c,port=$kind:iface=$v2"; fi
  # af_packet sends every payload of 64 bytes or more by reference (zero copy; the default
  # threshold is above what its MTU carries), so the capture checks those frames too.
  [ "$kind" = af_packet ] && { s1="$s1,zero_copy=64"; s2="$s2,zero_copy=64"; }
  local cap="$tmp/veth_v$fam.pcap"
  start_capture "$cap"
  in1 "$peer" "$s1,$key=$a1/$pfx" server "$oob" 18515 > "$tmp/s$fam.log" 2>&1 &
  local spid=$!; pids+=("$spid")
  in2 "$peer" "$s2,$key=$a2/$pfx" client "$oob" 18515 > "$tmp/c$fam.log" 2>&1
  local crc=$?
  # A client that could not build its device leaves the server waiting for the bootstrap.
  [ $crc -eq 77 ] && kill "$spid" 2>/dev/null
  wait "$spid"; local src=$?
  sleep 0.5
  kill "$cap_pid" 2>/dev/null; wait "$cap_pid" 2>/dev/null
  grep -hv '^libbpf: elf: skipping' "$tmp/s$fam.log" "$tmp/c$fam.log"
  if [ $crc -eq 77 ] || [ $src -eq 77 ]; then
    local why
    why=$(grep -h -m1 'cannot build the device' "$tmp/s$fam.log" "$tmp/c$fam.log" | head -1)
    if [ "$kind" = af_xdp ] || grep -q 'DPDK EAL did not start' "$tmp/s$fam.log" "$tmp/c$fam.log"; then
      echo "SKIPPED: $kind over IPv$fam: ${why#twoproc_peer: }"; exit 77
    fi
    echo "FAIL: IPv$fam: ${why#twoproc_peer: }"; rc=1; return
  fi
  if [ $crc -ne 0 ] || [ $src -ne 0 ]; then echo "FAIL: IPv$fam transfer (server $src, client $crc)"; rc=1; return; fi
  if [ "$kind" = af_packet ] && ! grep -q 'DPDK port counters:.* tx_zero_copy=[1-9]' "$tmp/c$fam.log"; then
    echo "FAIL: IPv$fam: the client sent no payload by reference"; rc=1; return
  fi
  if ! sh "$tools/pcap_verify.sh" "$cap" > "$tmp/verify$fam.log" 2>&1; then
    echo "FAIL: the IPv$fam capture does not verify:"; tail -20 "$tmp/verify$fam.log"; rc=1; return
  fi
  local frames
  frames=$(grep -c ';' "$tmp/verify$fam.log")
  echo "IPv$fam: capture of $frames RoCE frames verified by pcap_verify.sh"
  if [ "$link_mtu" -ge 4176 ]; then
    # RoCE's 4096-byte path MTU: the client said so, and frames that size crossed the wire.
    local big
    big=$(tshark -n -r "$cap" -Y 'frame.len > 4000' 2>/dev/null | wc -l)
    grep -q 'path MTU 4096' "$tmp/c$fam.log" || { echo "FAIL: IPv$fam: path MTU is not 4096"; rc=1; }
    echo "IPv$fam: $big frames above 4000 bytes on the wire"
    [ "$big" -ge 1 ] || { echo "FAIL: IPv$fam: no frame above 4000 bytes"; rc=1; }
  fi
  [ "$frames" -gt 4 ] || { echo "FAIL: too few frames captured"; rc=1; }
  # Every operation is on the wire: SEND ONLY/FIRST, RDMA WRITE, RDMA READ REQUEST, COMPARE_SWAP,
  # FETCH_ADD and UD SEND ONLY (BTH opcodes 0/4, 6/10, 12, 19, 20, 100).
  local ops
  ops=$(cut -d';' -f2 "$tmp/verify$fam.log" | grep -E '^[0-9]+$' | sort -un | paste -sd' ')
  for want in 12 19 20 100; do
    case " $ops " in *" $want "*) ;; *) echo "FAIL: IPv$fam capture lacks BTH opcode $want (has: $ops)"; rc=1;; esac
  done
  if [ "$kind" != uring ]; then
    # The devices resolved each other on the wire: ARP (IPv4) or neighbour solicitations (IPv6).
    local nd
    if [ "$fam" = 4 ]; then nd=$(tshark -n -r "$cap" -Y 'arp.opcode == 2' 2>/dev/null | wc -l)
    else nd=$(tshark -n -r "$cap" -Y 'icmpv6.type == 136' 2>/dev/null | wc -l); fi
    echo "IPv$fam: $nd neighbour answers (ARP replies / neighbour advertisements) on the wire"
    [ "$nd" -ge 1 ] || { echo "FAIL: no ARP reply / neighbour advertisement captured"; rc=1; }
  fi
}
run_pair 4 198.18.0.1 198.18.0.2 24
run_pair 6 fd00:5052::1 fd00:5052::2 64
exit $rc
