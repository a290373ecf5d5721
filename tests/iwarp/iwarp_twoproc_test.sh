#!/usr/bin/env bash
# iWARP between two processes over the kernel's TCP (io_uring stream transport): send, write and
# read of 0 B to 16 MiB, every byte checked, with MPA CRC on and off; over loopback (127.0.0.1 and
# ::1) and, with root, across two network namespaces joined by a veth (198.18.0.0/15 and
# fd00:5052::/64 only; namespaces created and removed here). Each run is captured on the wire and
# the capture must pass tests/tools/pcap_verify.sh (tshark's iWARP dissectors plus the
# independent MPA CRC checker).
set -u
peer=${1:?iwarp_peer binary}; tools=${2:?tools dir (tests/tools)}; mode=${3:-loopback}  # loopback | veth | netem
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (Debian package tshark)"; exit 1; }
. "$(dirname "$0")/../common/netns.sh"
rc=0
port_base=$(( 20000 + $$ % 20000 ))
n=0
run() {  # run LABEL CAPTURE_NS CAPTURE_IF SERVER_NS CLIENT_NS SERVER_ADDR CLIENT_ADDR PREFIX CRC
  local label=$1 cns=$2 cif=$3 sns=$4 clns=$5 saddr=$6 caddr=$7 pfx=$8 crc=$9 key
  n=$((n + 1)); local port=$((port_base + n))
  case "$saddr" in *:*) key=ip6 ;; *) key=ip4 ;; esac
  local ex_s=() ex_c=() ex_t=()
  [ -n "$sns" ] && ex_s=(ip netns exec "$sns")
  [ -n "$clns" ] && ex_c=(ip netns exec "$clns")
  [ -n "$cns" ] && ex_t=(ip netns exec "$cns")
  local cap="$tmp/$label.pcap"
  "${ex_t[@]}" tshark -q -B 256 -i "$cif" -w "$cap" -f "tcp port $port" >/dev/null 2>&1 &
  local tpid=$!; pids+=("$tpid")
  sleep 2
  # Both peers on one CPU: the capture then sees the segments in the order they were sent (a
  # capture taken across two CPUs can interleave them, which tshark takes for loss).
  "${ex_s[@]}" taskset -c 0 "$peer" "name=s,proto=iwarp,port=uring,$key=$saddr/$pfx,mpa_crc=$crc" server "$port" > "$tmp/$label.s" 2>&1 &
  local spid=$!; pids+=("$spid")
  sleep 0.3
  "${ex_c[@]}" taskset -c 0 "$peer" "name=c,proto=iwarp,port=uring,$key=$caddr/$pfx,mpa_crc=$crc" client "$saddr" "$port" > "$tmp/$label.c" 2>&1
  local crc_c=$?
  wait "$spid"; local src=$?
  sleep 1
  kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
  cat "$tmp/$label.s" "$tmp/$label.c"
  if [ $crc_c -ne 0 ] || [ $src -ne 0 ]; then echo "FAIL: $label (server $src, client $crc_c)"; rc=1; return; fi
  # The capture is checked in the background (tshark takes a while on 16 MiB transfers) while the
  # next run transfers on CPU 0; verify_all waits for every check.
  verify_capture "$label" "$cap" &
  verifiers+=("$!:$label")
}
verifiers=()
verify_capture() {  # LABEL CAPTURE: exit 0 when the capture verifies
  local label=$1 cap=$2
  if ! sh "$tools/pcap_verify.sh" "$cap" > "$tmp/$label.verify" 2>&1; then
    echo "FAIL: $label: the capture does not verify:"; grep -v '^[0-9]*;' "$tmp/$label.verify" | head -20
    cp "$cap" "${TMPDIR:-/tmp}/softrnic-$label-failed.pcap" 2>/dev/null; return 1
  fi
  echo "$label: capture verified by pcap_verify.sh ($(tshark -n -r "$cap" -Y iwarp_ddp_rdmap 2>/dev/null | wc -l) DDP/RDMAP segments)"
}
verify_all() {
  local v
  for v in "${verifiers[@]}"; do wait "${v%%:*}" || rc=1; done
  verifiers=()
}
if [ "$mode" = loopback ]; then
  # With root, a private namespace's own loopback with segmentation offloads off: 64 KiB
  # super-segments that split FPDUs anywhere defeat tshark's MPA reassembly now and then.
  lons=""
  if [ "$(id -u)" -eq 0 ] && ip netns add "$ns1" 2>/dev/null; then
    lons=$ns1
    ip -n "$lons" link set lo up mtu 1500  # Ethernet-sized segments, as on a real link
    ip netns exec "$lons" ethtool -K lo tso off gso off gro off >/dev/null 2>&1
  fi
  # CRC on over IPv4, off over IPv6: each family and each CRC mode once, as on the veth.
  run "lo_v4_crc_on" "$lons" lo "$lons" "$lons" 127.0.0.1 127.0.0.1 8 on
  run "lo_v6_crc_off" "$lons" lo "$lons" "$lons" ::1 ::1 128 off
  verify_all
  exit $rc
fi
netns_pair || exit $?
if [ "$mode" = netem ]; then
  . "$(dirname "$0")/../common/wire_loss.sh"
  for i in 1 2; do
    ns=ns$i; ns=${!ns}; v=v$i; v=${!v}
    wire_loss "$ns" "$v" 2 delay 1ms 1ms reorder 10% || exit $?
  done
  echo "loss on both veth ends: $wire_loss_how"
fi
run "${mode}_v4" "$ns1" "$v1" "$ns1" "$ns2" 198.18.0.1 198.18.0.2 24 on
run "${mode}_v6" "$ns1" "$v1" "$ns1" "$ns2" fd00:5052::1 fd00:5052::2 64 off
verify_all
exit $rc
