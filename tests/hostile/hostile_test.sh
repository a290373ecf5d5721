#!/usr/bin/env bash
# A hostile peer: two softrnic processes (devices A and B: RoCEv2 on DPDK af_packet with the CM on
# QP1, and iWARP on kernel TCP through io_uring) run transfers with every byte checked
# (hostile_peer.cpp) while an attacker in a third namespace (attacker.cpp) connects to A and tries
# A's region key (leaked) and guessed ones from its own protection domain, then sprays them with
# malformed and forged frames, CM garbage, 100,000 CM REQs from spoofed addresses and a flood of
# TCP connections at the iWARP listener. Then:
#   - every transfer verified, before, during and after the attack, and a new connection on each
#     device after it (hostile_peer's exit status);
#   - every request of the connected attacker was refused, and none reached memory;
#   - both processes stayed up, and made progress while under attack;
#   - the peak resident memory (VmHWM) of each device process is under RSS_BOUND_MB, and grew by
#     at most GROWTH_BOUND_MB from its RSS before the attack;
#   - `softrnic stats` shows the drop counters the attack must hit: the engine's, the parser's,
#     the neighbour table's, the CM's and iWARP's.
# README.md in this folder gives the topology, the measured numbers and why each bound is what it
# is. Addresses 198.18.0.0/15 and fd00:5052::/64 only, in namespaces made here and always removed.
#
#   hostile_test.sh PEER ATTACKER SOFTRNIC [RSS_BOUND_MB] [GROWTH_BOUND_MB] [LABEL]
#
# A sanitizer build of PEER (ASan, UBSan) fails the test with any report in its output.
#
# SOFTRNIC_HOSTILE_SECONDS (default 25, at least 12 so idle connections outlive the 10 s MPA
# timeout) is how long the attack lasts: a soak sets it higher. SOFTRNIC_HOSTILE_PPS (default
# 20000) is the attacker's frame rate, SOFTRNIC_HOSTILE_SEED replays its frames. Needs root (else
# SKIPPED, exit 77).
set -u
peer=${1:?peer binary}; attacker=${2:?attacker binary}; cli=${3:?softrnic binary}
rss_bound_mb=${4:-128}; growth_bound_mb=${5:-40}; label=${6:-hostile}
seconds=${SOFTRNIC_HOSTILE_SECONDS:-25}
seed=${SOFTRNIC_HOSTILE_SEED:-$(( $(date +%s) * 1000 + $$ % 1000 ))}
if [ ! -x "$peer" ]; then echo "SKIPPED: $peer was not built"; exit 77; fi
if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: needs root to create network namespaces"; exit 77; fi
command -v ip >/dev/null || { echo "SKIPPED: iproute2 (ip) is not installed"; exit 77; }
command -v ethtool >/dev/null || { echo "FAIL: ethtool is not installed (Debian package ethtool)"; exit 1; }
t_start=$(date +%s)

tag=srh$$
nsa=${tag}a; nsb=${tag}b; nsc=${tag}c; nst=${tag}t
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "$nsa" "$nsb" "$nsc" "$nst"; do ip netns del "$ns" 2>/dev/null; done
  # A veth made but not yet moved into its namespace when something failed.
  for end in ra rb ia ib c; do ip link del "${tag}$end" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export LIBXDP_SKIP_DISPATCHER=1
# Sanitizer reports with function names and lines, where a symbolizer is installed.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi

for ns in "$nsa" "$nsb" "$nsc" "$nst"; do
  ip netns add "$ns" || { echo "SKIPPED: cannot create network namespaces"; exit 77; }
  ip -n "$ns" link set lo up
done
# The bridge namespace forwards frames and nothing else.
ip netns exec "$nst" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || exit 1
# Where br_netfilter is loaded it would check IP headers on the bridge and keep the attacker's
# broken ones from the devices: switched off for this namespace, as a plain switch forwards them.
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  ip netns exec "$nst" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
    net.bridge.bridge-nf-call-arptables=0 || exit 1
fi
ip -n "$nst" link add br0 type bridge stp_state 0 mcast_snooping 0 || exit 1
ip -n "$nst" link set br0 up
# plug NS END [no_ipv6]: a veth from NS (end END) into the bridge, checksums complete on the wire.
plug() {
  local ns=$1 end=$2
  ip link add "$end" type veth peer name "${end}t" || exit 1
  ip link set "$end" netns "$ns" && ip link set "${end}t" netns "$nst" || exit 1
  [ -z "${3:-}" ] || ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$end.disable_ipv6=1" || exit 1
  ip -n "$nst" link set "${end}t" master br0 && ip -n "$nst" link set "${end}t" up || exit 1
  ip netns exec "$nst" ethtool -K "${end}t" tx off >/dev/null 2>&1
  ip netns exec "$ns" ethtool -K "$end" tx off >/dev/null 2>&1 || { echo "FAIL: ethtool -K $end tx off"; exit 1; }
  ip -n "$ns" link set "$end" up
}
# RoCEv2 ends belong to DPDK: no kernel address at all on them (IPv6 off: not even link-local).
plug "$nsa" "${tag}ra" no_ipv6
plug "$nsb" "${tag}rb" no_ipv6
# iWARP ends: kernel TCP, kernel addresses.
plug "$nsa" "${tag}ia"; ip -n "$nsa" addr add 198.18.1.1/24 dev "${tag}ia"
plug "$nsb" "${tag}ib"; ip -n "$nsb" addr add 198.18.1.2/24 dev "${tag}ib"
# The attacker: kernel addresses on both subnets (its TCP flood, and replies to its own address).
plug "$nsc" "${tag}c"
ip -n "$nsc" link set "${tag}c" address 02:00:5e:48:00:66  # its kernel answers ARP with the attacker's MAC
ip -n "$nsc" addr add 198.18.0.66/24 dev "${tag}c"
ip -n "$nsc" addr add 198.18.1.66/24 dev "${tag}c"
ip -n "$nsc" addr add fd00:5052::66/64 dev "${tag}c" nodad

mac_a=02:00:5e:48:00:0a; mac_b=02:00:5e:48:00:0b
ctl=$tmp/ctl; stop=$tmp/stop
spec_ra="name=ra,port=af_packet:iface=${tag}ra,mac=$mac_a,ip4=198.18.0.1/24,ip6=fd00:5052::1/64"
spec_rb="name=rb,port=af_packet:iface=${tag}rb,mac=$mac_b,ip4=198.18.0.2/24,ip6=fd00:5052::2/64"
spec_ia="name=ia,proto=iwarp,port=uring,ip4=198.18.1.1/24"
spec_ib="name=ib,proto=iwarp,port=uring,ip4=198.18.1.2/24"

# wait_line FILE PATTERN SECONDS PID: until the line shows, the process exits, or the time is up.
wait_line() {
  local i
  for i in $(seq $(( $3 * 10 ))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# wait_exit PID SECONDS: the exit status, or 124 after killing it when the time is up.
wait_exit() {
  local i
  for i in $(seq $(( $2 * 10 ))); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
    sleep 0.1
  done
  kill "$1" 2>/dev/null; wait "$1" 2>/dev/null
  return 124
}
mem_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
progress() { grep -o "progress roce=[0-9]* iwarp=[0-9]*" "$1" | tail -1; }
show_logs() { for f in "$@"; do echo "--- $(basename "$f")"; tail -30 "$f"; done; }

ip netns exec "$nsa" "$peer" a "$spec_ra" "$spec_ia" "$ctl" > "$tmp/a.log" 2>&1 &
pid_a=$!; pids+=("$pid_a")
if ! wait_line "$tmp/a.log" "listening" 60 "$pid_a"; then
  wait "$pid_a"; st=$?
  if [ $st -eq 77 ] && grep -q "DPDK EAL did not start\|io_uring" "$tmp/a.log"; then
    echo "SKIPPED: $(grep -m1 'cannot build' "$tmp/a.log")"; exit 77
  fi
  echo "FAIL: device A did not start (status $st)"; show_logs "$tmp/a.log"; exit 1
fi
ip netns exec "$nsb" "$peer" b "$spec_rb" "$spec_ib" "$ctl" 198.18.0.1 198.18.1.1 "$stop" > "$tmp/b.log" 2>&1 &
pid_b=$!; pids+=("$pid_b")
if ! wait_line "$tmp/b.log" "ready" 60 "$pid_b"; then
  echo "FAIL: the transfers did not start"; show_logs "$tmp/a.log" "$tmp/b.log"; exit 1
fi
for p in "$pid_a" "$pid_b"; do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$(basename "$peer" | cut -c1-15)" ] ||
    { echo "FAIL: process $p is not the device process"; exit 1; }
done
qpn_a=$(grep -o "a: qpn roce=[0-9]*" "$tmp/a.log" | head -1 | cut -d= -f2)
qpn_b=$(grep -o "b: qpn roce=[0-9]*" "$tmp/b.log" | head -1 | cut -d= -f2)
rkey_a=$(grep -o "a: rkey roce=[0-9]*" "$tmp/a.log" | head -1 | cut -d= -f2)
sleep 1
rss0_a=$(mem_kb "$pid_a" VmRSS); rss0_b=$(mem_kb "$pid_b" VmRSS)
before=$(progress "$tmp/b.log")
echo "$label: transfers running ($before); RSS before the attack: A ${rss0_a} kB, B ${rss0_b} kB"

# Memory while the attack runs, every 0.5 s (VmHWM at the end is the peak in any case).
( while kill -0 "$pid_a" 2>/dev/null; do
    echo "$(date +%s.%N | cut -c1-14) $(mem_kb "$pid_a" VmRSS) $(mem_kb "$pid_b" VmRSS)"; sleep 0.5
  done ) > "$tmp/rss.log" 2>/dev/null &
pids+=("$!")

echo "$label: attacking for ${seconds} s (seed $seed)"
t_attack=$(date +%s)
timeout $(( seconds + 120 )) ip netns exec "$nsc" "$attacker" --iface "${tag}c" \
  --mac 02:00:5e:48:00:66 --ip4 198.18.0.66 --ip6 fd00:5052::66 \
  --target "a,$mac_a,198.18.0.1,fd00:5052::1,198.18.0.2,fd00:5052::2,$qpn_a" \
  --target "b,$mac_b,198.18.0.2,fd00:5052::2,198.18.0.1,fd00:5052::1,$qpn_b" \
  --cm-target a --cm-port 7174 --reqs 100000 --leaked-rkey "$rkey_a" --region-len 262144 \
  --mpa 198.18.1.1:7175 --mpa-concurrent 400 --mpa-total $(( seconds * 120 )) \
  --seconds "$seconds" --pps "${SOFTRNIC_HOSTILE_PPS:-20000}" --seed "$seed" > "$tmp/attacker.log" 2>&1
st_att=$?
t_attack=$(( $(date +%s) - t_attack ))
cat "$tmp/attacker.log"
rc=0
case $st_att in
  0) ;;
  3) echo "FAIL: a connected attacker reached memory it was not given (see its probes above)"; rc=1 ;;
  *) echo "FAIL: the attacker failed (status $st_att)"; rc=1 ;;
esac
for side in a b; do
  p=pid_$side
  kill -0 "${!p}" 2>/dev/null || { echo "FAIL: device process $side died during the attack"; show_logs "$tmp/a.log" "$tmp/b.log"; exit 1; }
done
after=$(progress "$tmp/b.log")
echo "$label: transfers after the attack: $after (before: $before)"
n_before=(${before//[!0-9 ]/}); n_after=(${after//[!0-9 ]/})
if [ "${n_after[0]:-0}" -le "${n_before[0]:-0}" ] || [ "${n_after[1]:-0}" -le "${n_before[1]:-0}" ]; then
  echo "FAIL: a transfer made no progress under attack"; rc=1
fi

# The counters, as a user reads them.
for d in ra rb ia ib; do
  if ! "$cli" stats -d "$d" --control-dir "$ctl" > "$tmp/stats_$d.txt" 2>&1; then
    echo "FAIL: softrnic stats -d $d"; cat "$tmp/stats_$d.txt"; rc=1
  fi
done
hwm_a=$(mem_kb "$pid_a" VmHWM); hwm_b=$(mem_kb "$pid_b" VmHWM)
rss1_a=$(mem_kb "$pid_a" VmRSS); rss1_b=$(mem_kb "$pid_b" VmRSS)

touch "$stop"
wait_exit "$pid_b" 90; st_b=$?
wait_exit "$pid_a" 60; st_a=$?
cat "$tmp/a.log" "$tmp/b.log" | grep -v "progress" | grep -v '^libbpf'
[ $st_a -eq 0 ] && [ $st_b -eq 0 ] || { echo "FAIL: the transfers (A status $st_a, B status $st_b)"; rc=1; }

# counter FILE NAME: its value in a stats listing (0 when absent: stats leaves zeros out).
counter() { awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }
require() {  # require WHAT VALUE: the attack must have made it count
  printf '  %-42s %10s\n' "$1" "$2"
  [ "${2:-0}" -gt 0 ] 2>/dev/null || { echo "FAIL: $1 stayed at 0"; rc=1; }
}
echo "$label: counters the attack must hit (softrnic stats -d ra / rb / ia):"
for d in ra rb; do
  for n in device.rx_drop_unknown_qp device.rx_drop_wrong_peer device.rx_drop_not_our_address \
           device.rx_drop_not_roce drops.rx_drop_bad_icrc drops.rx_drop_bad_opcode \
           drops.rx_drop_bth_truncated drops.rx_drop_ipv4_bad_checksum drops.rx_drop_ipv4_options \
           drops.rx_drop_ipv4_bad_length drops.rx_drop_ipv6_extension_header drops.rx_drop_udp_bad_length \
           drops.rx_drop_bad_tver drops.rx_drop_pad_exceeds_payload drops.rx_drop_ext_header_truncated \
           neighbours.ignored_invalid neighbours.ignored_not_for_us neighbours.ignored_bad_hop_limit \
           cm.rx_malformed cm.rx_unsupported cm.rx_stray cm.no_listener cm.rej_sent; do
    require "$d $n" "$(counter "$tmp/stats_$d.txt" "$n")"
  done
done
for n in cm.backlog_full cm.mtu_rejected cm.ip_header_mismatch; do  # the REQs went to A only
  require "ra $n" "$(counter "$tmp/stats_ra.txt" "$n")"
done
for n in device.iwarp_accept_backlog_drops device.iwarp_mpa_request_timeouts device.iwarp_mpa_rejects_tx; do
  require "ia $n" "$(counter "$tmp/stats_ia.txt" "$n")"
done

bound_kb=$(( rss_bound_mb * 1024 )); growth_kb=$(( growth_bound_mb * 1024 ))
echo "$label: memory (kB)       RSS before   RSS after   peak (VmHWM)   peak bound   growth bound"
printf '  device A          %10s %11s %14s %12s %14s\n' "$rss0_a" "$rss1_a" "$hwm_a" "$bound_kb" "$growth_kb"
printf '  device B          %10s %11s %14s %12s %14s\n' "$rss0_b" "$rss1_b" "$hwm_b" "$bound_kb" "$growth_kb"
# The RSS trace of the attack, one sample in ten (every 5 s): growth that does not level off shows.
awk 'NR % 10 == 1 && $3 != "" { a = a " " int($2 / 1024); b = b " " int($3 / 1024) }
     END { print "  RSS trace A (MiB):" a; print "  RSS trace B (MiB):" b }' "$tmp/rss.log"
for side in a b; do
  h=hwm_$side; r=rss0_$side
  [ "${!h:-0}" -gt 0 ] && [ "${!h}" -le "$bound_kb" ] ||
    { echo "FAIL: device $side peaked at ${!h:-?} kB, above the bound of $bound_kb kB"; rc=1; }
  [ $(( ${!h:-0} - ${!r:-0} )) -le "$growth_kb" ] ||
    { echo "FAIL: device $side grew by $(( ${!h:-0} - ${!r:-0} )) kB under attack, above $growth_kb kB"; rc=1; }
done
if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$tmp/a.log" "$tmp/b.log" >/dev/null 2>&1; then
  echo "FAIL: a sanitizer report:"; grep -h -A30 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$tmp/a.log" "$tmp/b.log" | head -80
  rc=1
fi
echo "$label: attack ${t_attack} s, whole test $(( $(date +%s) - t_start )) s"
[ $rc -eq 0 ] && echo "$label: PASS"
exit $rc
