#!/usr/bin/env bash
# Two processes, two network namespaces joined by a veth pair: RC SEND/WRITE/READ/FETCH_ADD over
# the io_uring UDP port, IPv4 then IPv6, with a capture on the veth checked by the shared
# pcap_verify.sh (tshark plus the independent ICRC checker). Addresses 198.18.0.0/15 and
# fd00:5052::/64 only, inside namespaces this test creates and always removes.
# With a third argument LOSS (percent), both veth ends drop that share of frames (tc netem) and
# the transfers must still complete intact.
set -u
peer=${1:?peer binary}; shared=${2:?shared dir}; loss=${3:-0}
if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: needs root to create network namespaces"; exit 77; fi
command -v ip >/dev/null || { echo "SKIPPED: iproute2 (ip) is not installed"; exit 77; }
command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (Debian package tshark)"; exit 1; }
tag=srn$$
ns1=${tag}a; ns2=${tag}b; v1=${tag}x; v2=${tag}y
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns1" && ip netns add "$ns2" || { echo "SKIPPED: cannot create network namespaces"; exit 77; }
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
if [ "$loss" != 0 ]; then
  for n in 1 2; do
    ns=ns$n; ns=${!ns}; v=v$n; v=${!v}
    if ! err=$(ip netns exec "$ns" tc qdisc add dev "$v" root netem loss "$loss%" 2>&1); then
      echo "SKIPPED: tc netem is not available here ($err)"; exit 77
    fi
  done
  echo "netem: $loss% loss on both veth ends"
fi
rc=0
run_pair() {  # run_pair FAMILY ADDR1 ADDR2 PREFIX
  local fam=$1 a1=$2 a2=$3 pfx=$4 key
  [ "$fam" = 4 ] && key=ip4 || key=ip6
  local cap="$tmp/veth_v$fam.pcap"
  ip netns exec "$ns1" tshark -q -i "$v1" -w "$cap" -f "udp port 4791" >/dev/null 2>&1 &
  local tpid=$!; pids+=("$tpid")
  sleep 2
  ip netns exec "$ns1" "$peer" "name=s,port=uring,$key=$a1/$pfx" server "$a1" 18515 > "$tmp/s$fam.log" 2>&1 &
  local spid=$!; pids+=("$spid")
  ip netns exec "$ns2" "$peer" "name=c,port=uring,$key=$a2/$pfx" client "$a1" 18515 > "$tmp/c$fam.log" 2>&1
  local crc=$?
  wait "$spid"; local src=$?
  sleep 1
  kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
  cat "$tmp/s$fam.log" "$tmp/c$fam.log"
  if [ $crc -ne 0 ] || [ $src -ne 0 ]; then echo "FAIL: IPv$fam transfer (server $src, client $crc)"; rc=1; return; fi
  if ! sh "$shared/tools/pcap_verify.sh" "$cap" > "$tmp/verify$fam.log" 2>&1; then
    echo "FAIL: the IPv$fam capture does not verify:"; tail -20 "$tmp/verify$fam.log"; rc=1; return
  fi
  frames=$(grep -c ';' "$tmp/verify$fam.log")
  echo "IPv$fam: capture of $frames RoCE frames verified by pcap_verify.sh"
  [ "$frames" -gt 4 ] || { echo "FAIL: too few frames captured"; rc=1; }
}
run_pair 4 198.18.0.1 198.18.0.2 24
run_pair 6 fd00:5052::1 fd00:5052::2 64
exit $rc
