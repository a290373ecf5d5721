#!/usr/bin/env bash
# The interop lab's full matrix (meson -Dinterop_matrix=true; suite `interop`): rdma-core's own
# tools in the Debian guest (ibverbs-utils, perftest, rdmacm-utils on rxe0 and siw0) against the
# `softrnic` command on the host, each case in both directions (softrnic as client and as
# server):
#   ibv_rc_pingpong / ibv_ud_pingpong  <->  softrnic rc_pingpong / ud_pingpong     RoCEv2 v4, v6
#   ib_{send,write,read,atomic}_bw, ib_{send,write,read}_lat  <->  softrnic send_bw ...
#       RoCEv2 v4 without and with -R (RDMA CM), v6 without -R at MTU 512; write_bw and read_bw
#       also on a DPDK af_packet port
#   rping  <->  softrnic rping     RoCEv2 v4, v6 (DPDK af_packet), iWARP v4, v6 (kernel TCP),
#       iWARP with softrnic not asking for CRC, and against a siw built to insist on CRC
#   under loss (2% each way on the taps: netem in the guest, netem or nftables on the host):
#       rc_pingpong -c and rping -V on RoCEv2, rping -V on iWARP
# The softrnic RoCEv2 devices are io_uring UDP ports on the kernel-addressed veth (kv1), except
# the af_packet cases (rv1, no kernel address). Every case's capture on the guest's tap must pass
# pcap_verify.sh, and `softrnic decode` must give every RoCEv2 ICRC the verdict icrc_check.py
# gives. Data: pingpong -c and rping -V compare every byte; perftest does not (its own rules).
# Ends with the matrix (tool x direction x transport x result) as a markdown table.
#
#   interop_matrix_test.sh SOFTRNIC TOOLS_DIR     (TOOLS_DIR: tests/tools)
#
# Environment: SOFTRNIC_INTEROP_BUILD_BUDGET / _BOOT_BUDGET as in the smoke test;
# SOFTRNIC_INTEROP_ONLY=REGEX runs only the cases whose label matches.
set -u
softrnic=${1:?softrnic binary}; tools=${2:?tools dir (tests/tools)}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/guest.sh"
lab_tools=$tools
lab_up || exit $?

only=${SOFTRNIC_INTEROP_ONLY:-.}
port=$(( 20000 + $$ % 20000 ))
rows=()
failed=0
passed=0
t_start=$(date +%s)

# Host devices (guest.sh's addresses).
uring4=""   # the default: RoCEv2 on a kernel UDP socket at the address facing the guest
uring6="--dev name=u6,proto=roce,port=uring,ip6=$host_v6_kern/112 -d u6"
dpdk4="--dev name=p4,proto=roce,port=af_packet:iface=rv1,ip4=$host_v4_dpdk/24 -d p4"
rping_roce4="--dev name=p4,proto=roce,port=af_packet:iface=rv1,ip4=$host_v4_dpdk/24"
rping_roce6="--dev name=p6,proto=roce,port=af_packet:iface=rv1,ip6=$host_v6_dpdk/112"
rping_iw4="--dev name=i4,proto=iwarp,port=uring,ip4=$host_v4_kern_iw/24"
rping_iw6="--dev name=i6,proto=iwarp,port=uring,ip6=$host_v6_kern_iw/112"
rping_iw4_nocrc="--dev name=i4,proto=iwarp,port=uring,ip4=$host_v4_kern_iw/24,mpa_crc=off"

host() {  # host SECONDS ARGS...: the softrnic command in the lab namespace
  local t=$1; shift
  # shellcheck disable=SC2086
  timeout -k 5 "$t" ip netns exec "$lab_ns" "$softrnic" "$@"
}

# run_case LABEL TOOL DIRECTION TRANSPORT TAP GUEST_CMD HOST_ARGS [GUEST_GREP COUNT]
#   DIRECTION "softrnic client": GUEST_CMD is the guest's server, started first; then the host's
#   client. "softrnic server": the host's server first, then GUEST_CMD as the guest's client.
#   The case passes when both exit 0 (or, with GUEST_GREP, when the guest's output has COUNT
#   lines matching it: rping's server ends with an error once its client leaves) and the capture
#   verifies.
run_case() {
  local label=$1 tool=$2 dir=$3 transport=$4 tap=$5 gcmd=$6 hargs=$7 ggrep=${8:-} gcount=${9:-0}
  local cap="$lab_tmp/$label.pcap" hrc grc verdict=pass why=""
  if ! [[ $label =~ $only ]]; then return; fi
  echo "== $label: $tool, $dir, $transport"
  lab_capture_start "$tap" "$cap"
  if [ "$dir" = "softrnic client" ]; then
    guest_spawn srv "$gcmd" >/dev/null
    sleep 3  # the guest's server opens its device and listens (TCG: slow)
    # shellcheck disable=SC2086
    host 120 $hargs >"$lab_tmp/$label.host" 2>&1; hrc=$?
    guest_wait srv 30 >"$lab_tmp/$label.guest" 2>&1; grc=$?
  else
    # shellcheck disable=SC2086
    host 120 $hargs >"$lab_tmp/$label.host" 2>&1 &
    local hp=$!; pids+=("$hp")
    sleep 1
    guest_run -t 100 "$gcmd" >"$lab_tmp/$label.guest" 2>&1; grc=$?
    wait "$hp"; hrc=$?
  fi
  lab_capture_stop
  if [ -n "$ggrep" ]; then
    local seen
    seen=$(grep -c -- "$ggrep" "$lab_tmp/$label.guest")
    [ "$seen" -eq "$gcount" ] && grc=0 || why="guest saw $seen of $gcount; "
  fi
  if [ "$hrc" -ne 0 ] || [ "$grc" -ne 0 ]; then
    verdict=FAIL; why="${why}softrnic exit $hrc, guest exit $grc"
    sed 's/^/  softrnic: /' "$lab_tmp/$label.host" | tail -15
    sed 's/^/  guest: /' "$lab_tmp/$label.guest" | tail -15
  fi
  local v
  if v=$(lab_capture_verify "$label" "$cap" "$softrnic"); then
    echo "  $v"
  else
    echo "$v" | sed 's/^/  /'
    verdict=FAIL; why="${why:+$why; }capture"
  fi
  if [ "$verdict" = pass ]; then
    passed=$((passed + 1)); echo "  pass"
  else
    failed=$((failed + 1)); echo "  FAIL: $label: $why"
  fi
  rows+=("| $tool | $dir | $transport | $verdict${why:+ ($why)} |")
}

# --- rdma-core's pingpong tools -------------------------------------------------------------
pingpong() {  # pingpong TOOL FAMILY
  local tool=$1 fam=$2 ggid hgid hdev flags p
  if [ "$fam" = v4 ]; then ggid=1 hgid=0 hdev=$uring4; else ggid=2 hgid=1 hdev=$uring6; fi
  if [ "$tool" = rc ]; then flags="-s 4096 -n 50 -c"; else flags="-s 1024 -n 50 -c"; fi
  port=$((port + 1)); p=$port
  run_case "${tool}_pingpong_${fam}_softrnic_client" "ibv_${tool}_pingpong" "softrnic client" "RoCEv2 $fam" tap0 \
    "ibv_${tool}_pingpong -d rxe0 -g $ggid -p $p $flags" \
    "${tool}_pingpong $hdev -g $hgid -p $p $flags $guest_v4_rxe"
  port=$((port + 1)); p=$port
  run_case "${tool}_pingpong_${fam}_softrnic_server" "ibv_${tool}_pingpong" "softrnic server" "RoCEv2 $fam" tap0 \
    "ibv_${tool}_pingpong -d rxe0 -g $ggid -p $p $flags $host_v4_kern" \
    "${tool}_pingpong $hdev -g $hgid -p $p $flags"
}
for fam in v4 v6; do for t in rc ud; do pingpong $t $fam; done; done

# --- perftest ---------------------------------------------------------------------------------
perftest() {  # perftest TEST VARIANT: v4 | v4_cm | v6_mtu512 | dpdk_v4
  local t=$1 var=$2 gopt hopt size p transport
  case $t in
    *_bw) size="-s 65536 -n 200" ;;
    *_lat) size="-s 64 -n 200" ;;
  esac
  [ "$t" = atomic_bw ] && size="-n 200"
  case $var in
    v4) gopt="-x 1"; hopt="-x 0"; transport="RoCEv2 v4" ;;
    v4_cm) gopt="-R"; hopt="-R"; transport="RoCEv2 v4, -R (RDMA CM)" ;;
    v6_mtu512) gopt="-x 2 -m 512"; hopt="$uring6 -x 1 -m 512"; transport="RoCEv2 v6, MTU 512"
      [ "$t" != atomic_bw ] && size="${size/65536/16384}" ;;
    dpdk_v4) gopt="-x 1"; hopt="$dpdk4 -x 0"; transport="RoCEv2 v4, DPDK af_packet" ;;
  esac
  port=$((port + 1)); p=$port
  run_case "${t}_${var}_softrnic_client" "ib_$t" "softrnic client" "$transport" tap0 \
    "ib_$t -d rxe0 $gopt -p $p $size" "$t $hopt -p $p $size $guest_v4_rxe"
  port=$((port + 1)); p=$port
  run_case "${t}_${var}_softrnic_server" "ib_$t" "softrnic server" "$transport" tap0 \
    "ib_$t -d rxe0 $gopt -p $p $size $host_v4_kern" "$t $hopt -p $p $size"
}
for var in v4 v4_cm v6_mtu512; do
  for t in send_bw write_bw read_bw atomic_bw send_lat write_lat read_lat; do perftest $t $var; done
done
for t in write_bw read_bw; do perftest $t dpdk_v4; done

# --- rping (RDMA CM) --------------------------------------------------------------------------
rping_pair() {  # rping_pair LABEL TRANSPORT TAP GUEST_ADDR HOST_ADDR HOST_DEV [COUNT SIZE]
  local label=$1 transport=$2 tap=$3 gaddr=$4 haddr=$5 hdev=$6 count=${7:-10} size=${8:-64} p
  port=$((port + 1)); p=$port
  run_case "rping_${label}_softrnic_client" rping "softrnic client" "$transport" "$tap" \
    "rping -s -v -a $gaddr -p $p -C $count -S $size" "rping $hdev -c -V -a $gaddr -p $p -C $count -S $size" \
    '^server ping data: rdma-ping-' "$count"
  port=$((port + 1)); p=$port
  run_case "rping_${label}_softrnic_server" rping "softrnic server" "$transport" "$tap" \
    "rping -c -V -v -a $haddr -p $p -C $count -S $size" "rping $hdev -s -a $haddr -p $p -C $count -S $size"
}
rping_pair roce_v4 "RoCEv2 v4, DPDK af_packet" tap0 "$guest_v4_rxe" "$host_v4_dpdk" "$rping_roce4"
rping_pair roce_v6 "RoCEv2 v6, DPDK af_packet" tap0 "$guest_v6_rxe" "$host_v6_dpdk" "$rping_roce6"
rping_pair iwarp_v4 "iWARP v4" tap1 "$guest_v4_siw" "$host_v4_kern_iw" "$rping_iw4" 10 1000
rping_pair iwarp_v6 "iWARP v6" tap1 "$guest_v6_siw" "$host_v6_kern_iw" "$rping_iw6"
rping_pair iwarp_v4_nocrc "iWARP v4, softrnic asks no CRC" tap1 "$guest_v4_siw" "$host_v4_kern_iw" "$rping_iw4_nocrc"
# The image's second siw (guest_image.sh: built with mpa_crc_required = true) asks for CRC
# itself as the initiator: softrnic's server, asking for none, must answer with C set and use
# CRC both ways. (As the responder this siw only echoes a requested C: with softrnic's client
# asking for none, the connection runs without CRC, which the client case shows.)
siw_swap() {  # siw_swap MODULE_COMMAND: siw0 on another siw build
  guest_run -t 60 "rdma link delete siw0 && rmmod siw && $1 && rdma link add siw0 type siw netdev eth1"
}
if [[ rping_iwarp_v4_siwcrc =~ $only ]]; then
  if siw_swap "insmod /lib/siw-crc/siw.ko" >"$lab_tmp/siw_swap.log" 2>&1; then
    rping_pair iwarp_v4_siwcrc "iWARP v4, siw requires CRC" tap1 "$guest_v4_siw" "$host_v4_kern_iw" "$rping_iw4_nocrc"
    cap="$lab_tmp/rping_iwarp_v4_siwcrc_softrnic_server.pcap"
    if ! "$softrnic" decode "$cap" 2>/dev/null | grep -q 'MPA_REPLY .*rev 2 crc'; then
      failed=$((failed + 1))
      rows+=("| rping | softrnic server | iWARP v4, siw requires CRC | FAIL (softrnic's Reply did not set C) |")
    fi
    siw_swap "modprobe siw" >>"$lab_tmp/siw_swap.log" 2>&1 || echo "note: the stock siw could not be put back"
  else
    cat "$lab_tmp/siw_swap.log"
    failed=$((failed + 1)); rows+=("| rping | both | iWARP v4, siw requires CRC | FAIL (the CRC siw could not be loaded) |")
  fi
fi

# --- under loss -------------------------------------------------------------------------------
# 2% each way on the taps: netem on the guest's egress, and on the host side the lab's taps drop
# 2% of what they send toward the guest (tc netem, or nftables where the host kernel has no
# sch_netem: tests/common/wire_loss.sh), before the capture on the tap sees it.
if [[ "rc_pingpong_v4_loss rping_roce_v4_loss rping_iwarp_v4_loss" =~ $only ]]; then
  . "$here/../common/wire_loss.sh"
  if guest_run -t 30 "tc qdisc add dev eth0 root netem loss 2% && tc qdisc add dev eth1 root netem loss 2%" >/dev/null &&
      wire_loss "$lab_ns" tap0 2 && wire_loss "$lab_ns" tap1 2; then
    echo "loss: guest netem 2% on eth0/eth1 egress; host taps: $wire_loss_how"
    port=$((port + 1))
    run_case "rc_pingpong_v4_loss_softrnic_client" "ibv_rc_pingpong -c" "softrnic client" "RoCEv2 v4, 2% loss each way" tap0 \
      "ibv_rc_pingpong -d rxe0 -g 1 -p $port -s 4096 -n 200 -c" \
      "rc_pingpong -g 0 -p $port -s 4096 -n 200 -c $guest_v4_rxe"
    port=$((port + 1))
    run_case "rc_pingpong_v4_loss_softrnic_server" "ibv_rc_pingpong -c" "softrnic server" "RoCEv2 v4, 2% loss each way" tap0 \
      "ibv_rc_pingpong -d rxe0 -g 1 -p $port -s 4096 -n 200 -c $host_v4_kern" \
      "rc_pingpong -g 0 -p $port -s 4096 -n 200 -c"
    rping_pair roce_v4_loss "RoCEv2 v4, DPDK af_packet, 2% loss each way" tap0 "$guest_v4_rxe" "$host_v4_dpdk" \
      "$rping_roce4" 50 4000
    rping_pair iwarp_v4_loss "iWARP v4, 2% loss each way" tap1 "$guest_v4_siw" "$host_v4_kern_iw" "$rping_iw4" 50 4000
    echo "loss: frames the guest dropped: $(guest_run -t 30 "tc -s qdisc show dev eth0; tc -s qdisc show dev eth1" |
      awk '/dropped/ { sub(",", "", $7); n += $7 } END { print n + 0 }'), the host taps dropped: $(
      ip netns exec "$lab_ns" nft list table netdev softrnic_loss 2>/dev/null |
      awk '/counter/ { for (i = 1; i < NF; ++i) if ($i == "packets") n += $(i + 1) } END { print n + 0 }')"
    guest_run -t 30 "tc qdisc del dev eth0 root; tc qdisc del dev eth1 root" >/dev/null
  else
    failed=$((failed + 1)); rows+=("| (loss cases) | both | all | FAIL (loss could not be set up on the taps) |")
  fi
fi

echo
echo "## Interop matrix ($(date -u +%Y-%m-%d), guest $(awk '$1 == "kernel" { print $2 }' "$lab_img/info"), $(( $(date +%s) - t_start )) s)"
echo
echo "| tool | direction | transport | result |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "interop matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
