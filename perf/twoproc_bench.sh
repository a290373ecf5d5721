#!/usr/bin/env bash
# Two processes, each pinned to its own CPU, talking RoCEv2 through the engine, next to the kernel
# UDP sockets a user would otherwise use between the same two places, measured in the same run:
#   - over a veth pair between two network namespaces, with DPDK af_packet, DPDK af_xdp and the
#     io_uring UDP port: 64 B SEND round trip (p50/p99) against a UDP ping-pong of 64 B datagrams,
#     and RDMA WRITE bandwidth at 64 KiB against a UDP blast of 1472 B datagrams (the largest an
#     MTU of 1500 carries unfragmented). The UDP baseline runs on the same veth right after the
#     engine's run, with addresses given to it only then (the DPDK ports want the kernel side bare).
#   - over DPDK net_memif on one host: 64 B SEND message rate and round trip, against a UDP blast
#     and ping-pong on loopback, and a raw memif pair's 64 B frame rate (no engine).
# Targets (printed, not asserted): latency within 1.5x of UDP's, bandwidth at or above UDP's, memif
# message rate at least 10x UDP's. The veth also runs at MTU 4200 (RoCE path MTU 4096), where
# af_packet sends 4096-byte payloads by reference (zero copy), and once more with zero_copy=off;
# memif WRITE bandwidth also runs with zero_copy=64 (its 1024-byte payloads are copied by default).
#
#   perf/twoproc_bench.sh BUILD_DIR      (needs root; TWOPROC_SECONDS per measurement, default 1.5)
#
# Addresses 198.18.0.0/15 only, inside namespaces this script creates and always removes.
set -u
dir=${1:?build directory}
bench=$dir/perf/twoproc_bench; udp=$dir/perf/twoproc_udp
[ -x "$bench" ] && [ -x "$udp" ] || { echo "FAIL: build $bench and $udp first"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: the two-process benchmark needs root (namespaces)"; exit 77; fi
export TWOPROC_SECONDS=${TWOPROC_SECONDS:-1.5}
export LIBXDP_SKIP_DISPATCHER=1
ncpu=$(nproc)
cpu_s=0; cpu_c=$((ncpu > 1 ? 1 : 0))
tag=srb$$
ns1=${tag}a; ns2=${tag}b; v1=${tag}x; v2=${tag}y; c1=${tag}p; c2=${tag}q
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns1" && ip netns add "$ns2" || { echo "SKIPPED: cannot create network namespaces"; exit 77; }
for n in 1 2; do ns=ns$n; ip -n "${!ns}" link set lo up; done
# The bootstrap's link.
ip link add "$c1" type veth peer name "$c2" && ip link set "$c1" netns "$ns1" && ip link set "$c2" netns "$ns2" || exit 1
ip -n "$ns1" addr add 198.19.255.1/30 dev "$c1" && ip -n "$ns1" link set "$c1" up
ip -n "$ns2" addr add 198.19.255.2/30 dev "$c2" && ip -n "$ns2" link set "$c2" up

field() { sed -n "s/.*[ ]$2=\([0-9.]*\).*/\1/p" "$1" | head -1; }  # field FILE KEY

# A fresh single-queue veth between the namespaces (af_xdp serves queue 0 only), checksum
# offloads off, IPv6 off; with addresses when $1 = addr.
make_veth() {
  ip link del "$v1" 2>/dev/null; ip -n "$ns1" link del "$v1" 2>/dev/null
  ip link add "$v1" numtxqueues 1 numrxqueues 1 type veth peer name "$v2" numtxqueues 1 numrxqueues 1 || exit 1
  ip link set "$v1" netns "$ns1" && ip link set "$v2" netns "$ns2" || exit 1
  for n in 1 2; do
    ns=ns$n; ns=${!ns}; v=v$n; v=${!v}
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1"
    ip netns exec "$ns" ethtool -K "$v" tx off >/dev/null 2>&1
    ip -n "$ns" link set "$v" mtu "$veth_mtu"
    ip -n "$ns" link set "$v" up
  done
  [ "${1:-}" = addr ] && add_addresses
}
add_addresses() {
  ip -n "$ns1" addr add 198.18.0.1/24 dev "$v1" && ip -n "$ns2" addr add 198.18.0.2/24 dev "$v2"
}

# run_rdma NAME SPEC1 SPEC2 OOB [NS1 NS2]: the engine pair; RESULT line in $tmp/NAME.
run_rdma() {
  local name=$1 s1=$2 s2=$3 oob=$4 e1=${5:-} e2=${6:-}
  $e1 taskset -c $cpu_s "$bench" rdma "$s1" server "$oob" 18600 > "$tmp/$name.s" 2>&1 &
  local sp=$!; pids+=("$sp")
  sleep 0.3
  $e2 taskset -c $cpu_c "$bench" rdma "$s2" client "$oob" 18600 > "$tmp/$name" 2>&1
  local rc=$?
  wait "$sp" 2>/dev/null
  if [ $rc -ne 0 ] || ! grep -q RESULT "$tmp/$name"; then
    echo "  $name: FAILED:"; grep -v '^libbpf: elf' "$tmp/$name" "$tmp/$name.s" | tail -5; return 1
  fi
}
# run_udp NAME ADDR [NS1 NS2]: the kernel UDP baseline; RESULT line in $tmp/NAME. Blasts the
# largest datagram the veth's MTU carries unfragmented.
run_udp() {
  local name=$1 addr=$2 e1=${3:-} e2=${4:-}
  $e1 taskset -c $cpu_s "$udp" server "$addr" 18700 > "$tmp/$name.s" 2>&1 &
  local sp=$!; pids+=("$sp")
  sleep 0.3
  $e2 taskset -c $cpu_c "$udp" client "$addr" 18700 $((veth_mtu - 28)) > "$tmp/$name" 2>&1
  wait "$sp" 2>/dev/null
  grep -q RESULT "$tmp/$name" || { echo "  $name: FAILED:"; cat "$tmp/$name" "$tmp/$name.s"; return 1; }
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
us() { awk -v v="$1" 'BEGIN { printf "%.1f us", v / 1000 }'; }
mbs() { awk -v v="$1" 'BEGIN { printf "%.0f MB/s", v / 1e6 }'; }
mps() { awk -v v="$1" 'BEGIN { printf "%.2f M/s", v / 1e6 }'; }

in1="ip netns exec $ns1"; in2="ip netns exec $ns2"
veth_mtu=1500
echo "Two processes over a veth pair (MTU 1500, IPv4), server on CPU $cpu_s, client on CPU $cpu_c;"
echo "${TWOPROC_SECONDS} s per measurement; kernel UDP baseline on the same veth right after."
printf "%-10s %-28s %-28s %-30s\n" port "64 B SEND RTT p50 / p99" "UDP ping-pong p50 / p99" "64 KiB WRITE vs UDP 1472 B blast"
summary=()
for kind in af_packet af_xdp uring; do
  if [ $kind = uring ]; then
    make_veth addr
    run_rdma $kind "name=s,port=uring,ip4=198.18.0.1/24" "name=c,port=uring,ip4=198.18.0.2/24" 198.19.255.1 "$in1" "$in2" || continue
  else
    make_veth
    run_rdma $kind "name=s,port=$kind:iface=$v1,ip4=198.18.0.1/24" "name=c,port=$kind:iface=$v2,ip4=198.18.0.2/24" \
      198.19.255.1 "$in1" "$in2" || continue
    add_addresses
  fi
  run_udp udp_$kind 198.18.0.1 "$in1" "$in2" || continue
  r=$tmp/$kind; u=$tmp/udp_$kind
  p50=$(field "$r" rtt_p50_ns); p99=$(field "$r" rtt_p99_ns); bw=$(field "$r" write_Bps)
  up50=$(field "$u" udp_rtt_p50_ns); up99=$(field "$u" udp_rtt_p99_ns); ubw=$(field "$u" udp_Bps)
  printf "%-10s %-28s %-28s %-30s\n" $kind "$(us "$p50") / $(us "$p99")" "$(us "$up50") / $(us "$up99")" \
    "$(mbs "$bw") vs $(mbs "$ubw")"
  summary+=("$kind send rtt p50 / kernel udp ping-pong p50 = $(ratio "$p50" "$up50")  (target <= 1.5x; p99 $(ratio "$p99" "$up99"))")
  summary+=("$kind write bw / kernel udp blast bw = $(ratio "$bw" "$ubw")  (target >= 1x; retransmits $(field "$r" retransmits))")
done
ip -n "$ns1" link del "$v1" 2>/dev/null

# RoCE's path MTU is a power of two: at MTU 1500 a packet carries 1024 bytes where the UDP
# baseline's carries 1472. At MTU 4200 (usual for RoCE) they carry 4096 and 4172.
veth_mtu=4200
echo
echo "The same veth at MTU 4200 (RoCE path MTU 4096; UDP blast of 4172 B datagrams):"
printf "%-10s %-28s %-28s %-30s\n" port "64 B SEND RTT p50 / p99" "UDP ping-pong p50 / p99" "64 KiB WRITE vs UDP 4172 B blast"
for kind in af_packet uring; do
  if [ $kind = uring ]; then
    make_veth addr
    run_rdma ${kind}_4200 "name=s,port=uring,ip4=198.18.0.1/24" "name=c,port=uring,ip4=198.18.0.2/24" \
      198.19.255.1 "$in1" "$in2" || continue
  else
    make_veth
    run_rdma ${kind}_4200 "name=s,port=$kind:iface=$v1,ip4=198.18.0.1/24" "name=c,port=$kind:iface=$v2,ip4=198.18.0.2/24" \
      198.19.255.1 "$in1" "$in2" || continue
    add_addresses
  fi
  run_udp udp_${kind}_4200 198.18.0.1 "$in1" "$in2" || continue
  r=$tmp/${kind}_4200; u=$tmp/udp_${kind}_4200
  bw=$(field "$r" write_Bps); ubw=$(field "$u" udp_Bps)
  printf "%-10s %-28s %-28s %-30s\n" $kind "$(us "$(field "$r" rtt_p50_ns)") / $(us "$(field "$r" rtt_p99_ns)")" \
    "$(us "$(field "$u" udp_rtt_p50_ns)") / $(us "$(field "$u" udp_rtt_p99_ns)")" "$(mbs "$bw") vs $(mbs "$ubw") (pmtu $(field "$r" pmtu))"
  summary+=("$kind at MTU 4200: write bw / kernel udp blast bw = $(ratio "$bw" "$ubw")  (send rtt p50 $(ratio "$(field "$r" rtt_p50_ns)" "$(field "$u" udp_rtt_p50_ns)"); retransmits $(field "$r" retransmits))")
  if [ $kind = af_packet ]; then
    # The same pair with every payload copied into its frame (zero_copy=off; 4096-byte payloads
    # go by reference by default), for the ratio.
    make_veth
    run_rdma af_packet_4200_copy "name=s,port=af_packet:iface=$v1,ip4=198.18.0.1/24,zero_copy=off" \
      "name=c,port=af_packet:iface=$v2,ip4=198.18.0.2/24,zero_copy=off" 198.19.255.1 "$in1" "$in2" &&
      summary+=("af_packet at MTU 4200: write bw, zero copy / copied = $(ratio "$bw" "$(field "$tmp/af_packet_4200_copy" write_Bps)")  ($(mbs "$(field "$tmp/af_packet_4200_copy" write_Bps)") copied, retransmits $(field "$tmp/af_packet_4200_copy" retransmits))")
  fi
done
ip -n "$ns1" link del "$v1" 2>/dev/null
veth_mtu=1500

# Deleting a veth leaves the kernel work (RCU, netdev teardown) to a worker: let it finish before
# the memif measurements, which it would otherwise share a CPU with.
sleep 2
echo
echo "Two processes over net_memif on one host (IPv4), kernel UDP baseline on loopback:"
sock="$tmp/memif.sock"
run_rdma memif "name=s,port=memif:socket=$sock,role=server,ip4=198.18.0.1/24" \
  "name=c,port=memif:socket=$sock,role=client,ip4=198.18.0.2/24" 127.0.0.1
run_rdma memif_zc "name=s,port=memif:socket=$sock.z,role=server,ip4=198.18.0.1/24,zero_copy=64" \
  "name=c,port=memif:socket=$sock.z,role=client,ip4=198.18.0.2/24,zero_copy=64" 127.0.0.1
run_udp udp_lo 127.0.0.1
# The raw pair: the memif client starts once the server's (abstract) socket listens.
taskset -c $cpu_s "$bench" rawmemif "$tmp/raw.sock" server > "$tmp/raw" 2>&1 &
sp=$!; pids+=("$sp")
for _ in $(seq 50); do ss -xlH 2>/dev/null | grep -qF "@$tmp/raw.sock" && break; sleep 0.1; done
taskset -c $cpu_c "$bench" rawmemif "$tmp/raw.sock" client > "$tmp/raw.c" 2>&1
wait "$sp"
grep -q RESULT "$tmp/raw" || { echo "  raw memif pair: FAILED:"; cat "$tmp/raw" "$tmp/raw.c" | tail -5; }
m=$tmp/memif; u=$tmp/udp_lo
mr=$(field "$m" msg_rate); umr=$(field "$u" udp_msg_rate); raw=$(field "$tmp/raw" frame_rate)
printf "  %-44s %s\n" "64 B SEND message rate" "$(mps "$mr")"
printf "  %-44s %s\n" "kernel UDP 64 B blast (loopback)" "$(mps "$umr")"
printf "  %-44s %s\n" "raw memif pair 64 B frames" "$(mps "$raw")"
printf "  %-44s %s / %s\n" "64 B SEND RTT p50 / p99" "$(us "$(field "$m" rtt_p50_ns)")" "$(us "$(field "$m" rtt_p99_ns)")"
printf "  %-44s %s / %s\n" "UDP ping-pong p50 / p99 (loopback)" "$(us "$(field "$u" udp_rtt_p50_ns)")" "$(us "$(field "$u" udp_rtt_p99_ns)")"
printf "  %-44s %s\n" "64 KiB WRITE bandwidth" "$(mbs "$(field "$m" write_Bps)")"
summary+=("memif send msg rate / kernel udp msg rate = $(ratio "$mr" "$umr")  (target >= 10x)")
summary+=("memif write bw, zero copy / copied = $(ratio "$(field "$tmp/memif_zc" write_Bps)" "$(field "$m" write_Bps)")  ($(mbs "$(field "$tmp/memif_zc" write_Bps)") by reference)")
summary+=("memif send msg rate / raw memif frame rate = $(ratio "$mr" "$raw")")
summary+=("memif send rtt p50 / kernel udp ping-pong p50 (loopback) = $(ratio "$(field "$m" rtt_p50_ns)" "$(field "$u" udp_rtt_p50_ns)")")
echo
echo "Ratios:"
for s in "${summary[@]}"; do echo "  $s"; done
