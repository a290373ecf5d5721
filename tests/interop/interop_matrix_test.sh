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
#   both pingpongs on a DPDK af_packet port, v4 and v6, with the guest's neighbours flushed
#   perftest on iWARP (siw) with -R; perftest -R over IPv6 (refused by perftest: checked)
#   path MTU 4096 on a 4200-byte link: RoCEv2 perftest and rc_pingpong, iWARP write_bw and rping
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
case_check=""  # a command run on each case's capture (the MTU cases set it): nonzero fails the case
case_setup=""  # a command run before each case (the DPDK pingpongs flush the guest's neighbours)
# any_case BASE...: true when SOFTRNIC_INTEROP_ONLY selects BASE_softrnic_client or _server of one
# of them (a block that sets something up for its cases runs only then).
any_case() {
  local b
  for b in "$@"; do
    [[ ${b}_softrnic_client =~ $only || ${b}_softrnic_server =~ $only ]] && return 0
  done
  return 1
}
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
dpdk6="--dev name=p6,proto=roce,port=af_packet:iface=rv1,ip6=$host_v6_dpdk/112 -d p6"
iw4="$rping_iw4 -d i4"

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
  [ -z "$case_setup" ] || $case_setup
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
  if [ -n "$case_check" ]; then
    if $case_check "$cap" >"$lab_tmp/$label.check" 2>&1; then
      echo "  $case_check: $(tail -1 "$lab_tmp/$label.check")"
    else
      verdict=FAIL; why="${why:+$why; }$(tail -1 "$lab_tmp/$label.check")"
    fi
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
    cp "$cap" "${TMPDIR:-/tmp}/softrnic-interop-$label-failed.pcap" 2>/dev/null &&
      echo "  capture kept: ${TMPDIR:-/tmp}/softrnic-interop-$label-failed.pcap"
  fi
  rows+=("| $tool | $dir | $transport | $verdict${why:+ ($why)} |")
}

# pair_case LABEL TOOL TRANSPORT TAP GUEST_CMD HOST_CMD GUEST_ADDR HOST_ADDR: the case both ways,
# each on a port of its own: the guest's GUEST_CMD serves and softrnic's HOST_CMD connects to
# GUEST_ADDR, then softrnic serves and the guest connects to HOST_ADDR.
pair_case() {
  local label=$1 tool=$2 transport=$3 tap=$4 gcmd=$5 hcmd=$6 gaddr=$7 haddr=$8 p
  port=$((port + 1)); p=$port
  run_case "${label}_softrnic_client" "$tool" "softrnic client" "$transport" "$tap" "$gcmd -p $p" "$hcmd -p $p $gaddr"
  port=$((port + 1)); p=$port
  run_case "${label}_softrnic_server" "$tool" "softrnic server" "$transport" "$tap" "$gcmd -p $p $haddr" "$hcmd -p $p"
}

# --- rdma-core's pingpong tools -------------------------------------------------------------
pingpong() {  # pingpong TOOL FAMILY [dpdk]
  local tool=$1 fam=$2 ggid hgid hdev flags transport="RoCEv2 $2" label="$1_pingpong_$2"
  if [ "$fam" = v4 ]; then ggid=1 hgid=0 hdev=$uring4; else ggid=2 hgid=1 hdev=$uring6; fi
  if [ "${3:-}" = dpdk ]; then
    transport="$transport, DPDK af_packet" label="${label}_dpdk"
    if [ "$fam" = v4 ]; then hdev=$dpdk4; else hdev=$dpdk6; fi
  fi
  if [ "$tool" = rc ]; then flags="-s 4096 -n 50 -c"; else flags="-s 1024 -n 50 -c"; fi
  pair_case "$label" "ibv_${tool}_pingpong" "$transport" tap0 "ibv_${tool}_pingpong -d rxe0 -g $ggid $flags" \
    "${tool}_pingpong $hdev -g $hgid $flags" "$guest_v4_rxe" "$host_v4_kern"
}
for fam in v4 v6; do for t in rc ud; do pingpong $t $fam; done; done

# The same on a DPDK af_packet port (rv1: no kernel address, nothing answers for softrnic's
# address but softrnic), with the guest's neighbour table flushed before each case: rdma-core
# resolves the peer's GID (ARP/ND) in the middle of the TCP exchange, while softrnic waits on it.
flush_guest_neighbours() { guest_run -t 10 "ip neigh flush dev eth0" >/dev/null; }
case_setup=flush_guest_neighbours
for fam in v4 v6; do for t in rc ud; do pingpong $t $fam dpdk; done; done
case_setup=""

# --- perftest ---------------------------------------------------------------------------------
perftest() {  # perftest TEST VARIANT: v4 | v4_cm | v6_mtu512 | dpdk_v4
  local t=$1 var=$2 gopt hopt size transport
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
    iwarp_v4) gopt="-R"; hopt="$iw4 -R"; transport="iWARP v4, -R (RDMA CM)" ;;
  esac
  local dev=rxe0 tap=tap0 gaddr=$guest_v4_rxe haddr=$host_v4_kern
  [ "$var" = iwarp_v4 ] && dev=siw0 tap=tap1 gaddr=$guest_v4_siw haddr=$host_v4_kern_iw
  pair_case "${t}_${var}" "ib_$t" "$transport" $tap "ib_$t -d $dev $gopt $size" "$t $hopt $size" "$gaddr" "$haddr"
}
for var in v4 v4_cm v6_mtu512; do
  for t in send_bw write_bw read_bw atomic_bw send_lat write_lat read_lat; do perftest $t $var; done
done
for t in write_bw read_bw; do perftest $t dpdk_v4; done
for t in send_bw write_bw read_bw send_lat write_lat read_lat; do perftest $t iwarp_v4; done

# --- perftest -R over IPv6: perftest's limit, checked -------------------------------------------
# perftest 4.5-0.17's RDMA CM mode is IPv4 only: its server binds an AF_INET wildcard
# (perftest_communication.c rdma_server_connect: hints.ai_family = AF_INET, rdma_bind_addr), and
# its client resolves the server with AF_INET only (an IPv6 literal is "Problem in resolving basic
# address and port"). The kernel's rdma_cm matches an IPv6 REQ (CMA header IP version 6) against
# that listener, finds the family differs (cma.c cma_match_private_data: an AF_INET listener is
# "afonly") and ib_cm answers REJ reason 28 (consumer defined). So there is no IPv6 -R run with
# this perftest in either direction; the case checks that evidence: softrnic's client reports
# the REJ with reason 28, and tshark finds the REQ with IP version 6 and the REJ with reason 28.
if [[ write_bw_v6_cm_refused_by_perftest =~ $only ]]; then
  label=write_bw_v6_cm_refused_by_perftest cap="$lab_tmp/write_bw_v6_cm.pcap" why=""
  port=$((port + 1)); p=$port
  echo "== $label: ib_write_bw -R server, softrnic write_bw -R client over IPv6"
  lab_capture_start tap0 "$cap"
  guest_spawn srv "ib_write_bw -d rxe0 -R -p $p" >/dev/null
  sleep 3
  host 60 write_bw $uring6 -R -p $p "$guest_v6_rxe" >"$lab_tmp/$label.host" 2>&1; hrc=$?
  guest_wait srv 5 >"$lab_tmp/$label.guest" 2>&1
  lab_capture_stop
  [ "$hrc" -ne 0 ] || why="softrnic's client succeeded; "
  grep -q "reason 28" "$lab_tmp/$label.host" || why="${why}softrnic did not report REJ reason 28; "
  reqs=$(tshark -n -r "$cap" -Y 'infiniband.cm.req.ip_cm.ipv == 6' 2>/dev/null | wc -l)
  rejs=$(tshark -n -r "$cap" -Y 'infiniband.cm.rej.reason == 28' 2>/dev/null | wc -l)
  [ "$reqs" -gt 0 ] || why="${why}no REQ with IP version 6 in the capture; "
  [ "$rejs" -gt 0 ] || why="${why}no REJ reason 28 in the capture; "
  if [ -z "$why" ]; then
    passed=$((passed + 1)); echo "  pass: $reqs REQ(s) with an IPv6 CMA header, $rejs REJ(s) reason 28"
    rows+=("| ib_write_bw -R | softrnic client | RoCEv2 v6, -R (RDMA CM) | refused by perftest (REJ 28, as its source says): checked |")
  else
    failed=$((failed + 1)); echo "  FAIL: $label: $why"; sed 's/^/  softrnic: /' "$lab_tmp/$label.host" | tail -8
    rows+=("| ib_write_bw -R | softrnic client | RoCEv2 v6, -R (RDMA CM) | FAIL ($why) |")
  fi
fi

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
if any_case rping_iwarp_v4_siwcrc; then
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
if any_case rc_pingpong_v4_loss rping_roce_v4_loss rping_iwarp_v4_loss; then
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

# --- path MTU 4096 on a 4200-byte link ----------------------------------------------------------
# Every link of the lab at MTU 4200 (the bridge, the taps, the veths; the guest's NICs, so rxe's
# active MTU becomes 4096). RoCEv2 cases ask for -m 4096 and must put 4096-byte payloads on the
# wire; iWARP cases must carry frames above 4000 bytes (TCP segments of the larger MSS).
at_least_one() {  # at_least_one N WHAT: prints "N WHAT", fails when N is 0
  echo "$1 $2"
  [ "$1" -gt 0 ]
}
mtu_frames() {  # mtu_frames CAPTURE: frames above 4000 bytes
  at_least_one "$(tshark -n -r "$1" -Y 'frame.len > 4000' 2>/dev/null | wc -l)" "frames above 4000 bytes"
}
roce_4096() {  # roce_4096 CAPTURE: RoCEv2 packets with 4096 payload bytes
  at_least_one "$("$softrnic" decode "$1" 2>/dev/null | grep -c 'len=4096')" "RoCEv2 packets of 4096 payload bytes"
}
if any_case write_bw_mtu4096 send_bw_mtu4096 read_bw_mtu4096 rc_pingpong_mtu4096 write_bw_iwarp_mtu4200 \
    rping_iwarp_mtu4200; then
  lab_mtu() {  # lab_mtu BYTES: every lab link and the guest's NICs
    local i
    for i in tap0 tap1 rv0 rv1 kv0 kv1 br0; do ip -n "$lab_ns" link set "$i" mtu "$1" || return 1; done
    guest_run -t 30 "ip link set eth0 mtu $1 && ip link set eth1 mtu $1" >/dev/null
  }
  if lab_mtu 4200; then
    echo "mtu: every lab link at 4200; rxe0: $(guest_run -t 30 "ibv_devinfo -d rxe0 | grep active_mtu" | tr -s ' \t' ' ')"
    m4="--dev name=m4,proto=roce,port=uring,ip4=$host_v4_kern/24,mtu=4200 -d m4"
    iwm="--dev name=im,proto=iwarp,port=uring,ip4=$host_v4_kern_iw/24,mtu=4200"
    case_check=roce_4096
    for t in write_bw send_bw read_bw; do
      pair_case "${t}_mtu4096" "ib_$t" "RoCEv2 v4, path MTU 4096" tap0 "ib_$t -d rxe0 -x 1 -m 4096 -s 65536 -n 200" \
        "$t $m4 -x 0 -m 4096 -s 65536 -n 200" "$guest_v4_rxe" "$host_v4_kern"
    done
    pair_case rc_pingpong_mtu4096 ibv_rc_pingpong "RoCEv2 v4, path MTU 4096" tap0 \
      "ibv_rc_pingpong -d rxe0 -g 1 -m 4096 -s 16384 -n 50 -c" "rc_pingpong $m4 -g 0 -m 4096 -s 16384 -n 50 -c" \
      "$guest_v4_rxe" "$host_v4_kern"
    case_check=mtu_frames
    pair_case write_bw_iwarp_mtu4200 ib_write_bw "iWARP v4, -R, MTU 4200" tap1 "ib_write_bw -d siw0 -R -s 65536 -n 200" \
      "write_bw $iwm -d im -R -s 65536 -n 200" "$guest_v4_siw" "$host_v4_kern_iw"
    rping_pair iwarp_mtu4200 "iWARP v4, MTU 4200" tap1 "$guest_v4_siw" "$host_v4_kern_iw" "$iwm" 10 16000
    case_check=""
    lab_mtu 1500 || echo "note: the lab's MTU could not be put back to 1500"
  else
    failed=$((failed + 1)); rows+=("| (MTU 4200 cases) | both | all | FAIL (the MTU could not be set) |")
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
