# Sourced by the interop tests (bash): the lab network and the guest.
#
#   . "$(dirname "$0")/guest.sh"
#   lab_net || exit $?              # namespace, bridge, taps, host veths (exit 77 without root)
#   guest_boot IMAGE_DIR SECONDS    # qemu (TCG, -smp 1), waits for the guest's agent
#   guest_run [-t SECS] COMMAND     # in the guest: its stdout/stderr here, its exit status
#   guest_spawn NAME COMMAND        # in the guest, in the background (log /run/NAME.log)
#   guest_wait NAME SECS            # its output and exit status
#
# The lab is one network namespace ($lab_ns, unique per run) holding a bridge with four ports:
#   tap0  guest eth0  rxe0  198.18.0.2/24  fd00:5052::a:2/112   (RoCEv2 segment)
#   tap1  guest eth1  siw0  198.18.1.2/24  fd00:5052::b:2/112   (iWARP segment)
#   rv0 -- rv1  softrnic DPDK ports (af_packet/af_xdp): no kernel address; softrnic takes
#               198.18.0.1 / fd00:5052::a:1 itself
#   kv0 -- kv1  kernel-addressed, for the io_uring ports: 198.18.0.3/24 fd00:5052::a:3/112 and
#               198.18.1.1/24 fd00:5052::b:1/112
# Both guest NICs share the bridge but not a subnet, so each address has one route and one NIC
# (rdma_cm maps an address to one RDMA device); the guest answers ARP only for the NIC's own
# address. Addresses are inside 198.18.0.0/15 and fd00:5052::/64 only. Every guest checksum is
# complete on the wire (virtio csum offloads off), as are the host veths' (tx offload off), so
# captures verify. lab_cleanup (on EXIT) stops the processes in `pids` and qemu by PID, removes
# the namespace with its taps and veths, and the temporary folder.
lab_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab_tmp=$(mktemp -d)
lab_ns=srnix$$
pids=()
qemu_pid=
guest_console=$lab_tmp/console.log
guest_sock=$lab_tmp/agent.sock
guest_boot_seconds=
lab_python=$(command -v python3 || echo /usr/bin/python3)
guest_v4_rxe=198.18.0.2 guest_v6_rxe=fd00:5052::a:2
guest_v4_siw=198.18.1.2 guest_v6_siw=fd00:5052::b:2
host_v4_dpdk=198.18.0.1 host_v6_dpdk=fd00:5052::a:1
host_v4_kern=198.18.0.3 host_v6_kern=fd00:5052::a:3
host_v4_kern_iw=198.18.1.1 host_v6_kern_iw=fd00:5052::b:1

lab_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -n "$qemu_pid" ]; then
    kill "$qemu_pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null
  fi
  ip netns del "$lab_ns" 2>/dev/null
  rm -rf "$lab_tmp"
}
trap lab_cleanup EXIT

lab_net() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root to create network namespaces and taps"; return 77; }
  command -v ip >/dev/null || { echo "SKIPPED: iproute2 (ip) is not installed"; return 77; }
  [ -c /dev/net/tun ] || { echo "SKIPPED: no /dev/net/tun for the guest's taps"; return 77; }
  ip netns add "$lab_ns" || { echo "SKIPPED: cannot create a network namespace"; return 77; }
  local n="ip -n $lab_ns" i
  $n link set lo up
  $n link add br0 type bridge forward_delay 0 mcast_snooping 0 || return 1
  for i in tap0 tap1; do $n tuntap add dev "$i" mode tap || return 1; done
  $n link add rv0 type veth peer name rv1 || return 1
  $n link add kv0 type veth peer name kv1 || return 1
  # The bridge and its ports stay silent (no IPv6 link-local, no router solicitations): the
  # captures hold the peers' traffic only.
  for i in br0 tap0 tap1 rv0 kv0 rv1; do
    ip netns exec "$lab_ns" sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
  done
  for i in tap0 tap1 rv0 kv0; do $n link set "$i" master br0 up || return 1; done
  $n link set br0 up
  $n addr add "$host_v4_kern/24" dev kv1
  $n addr add "$host_v4_kern_iw/24" dev kv1
  $n addr add "$host_v6_kern/112" dev kv1 nodad
  $n addr add "$host_v6_kern_iw/112" dev kv1 nodad
  for i in rv1 kv1; do
    $n link set "$i" up
    ip netns exec "$lab_ns" ethtool -K "$i" tx off tso off gso off gro off >/dev/null 2>&1
  done
}

guest_log_tail() {  # the guest's console, for a failure message
  echo "---- guest console (last ${1:-60} lines of $guest_console) ----"
  tail -n "${1:-60}" "$guest_console" 2>/dev/null
  echo "---- end of guest console ----"
}

# guest_boot IMAGE_DIR SECONDS: returns 0 with the agent answering, 1 (with the console) when the
# guest dies or is not up in time. Sets guest_boot_seconds.
guest_boot() {
  local img=$1 limit=$2 t0 mac=52:54:00:52:05
  command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed"; return 1; }
  local nic="csum=off,guest_csum=off,gso=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off"
  t0=$(date +%s.%N)
  ip netns exec "$lab_ns" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$img/vmlinuz" -initrd "$img/rootfs.cpio" \
    -append "console=ttyS0 net.ifnames=0 panic=-1 loglevel=4 mitigations=off" \
    -serial "file:$guest_console" \
    -device virtio-serial-pci \
    -chardev "socket,id=agent,path=$guest_sock,server=on,wait=off" \
    -device virtserialport,chardev=agent,name=org.softrnic.agent \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "virtio-net-pci,netdev=n0,mac=$mac:00,$nic" \
    -netdev tap,id=n1,ifname=tap1,script=no,downscript=no -device "virtio-net-pci,netdev=n1,mac=$mac:01,$nic" \
    >"$lab_tmp/qemu.log" 2>&1 &
  qemu_pid=$!
  local deadline=$(( $(date +%s) + limit ))
  while :; do
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
      echo "FAIL: qemu exited while booting the guest:"; cat "$lab_tmp/qemu.log"; guest_log_tail; return 1
    fi
    if grep -q '^softrnic-agent: listening' "$guest_console" 2>/dev/null &&
        "$lab_python" "$lab_dir/guest_agent.py" "$guest_sock" 5 true >/dev/null 2>&1; then
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "FAIL: the guest did not come up within $limit s"; guest_log_tail; return 1
    fi
    sleep 0.5
  done
  guest_boot_seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# guest_run [-t SECS] COMMAND...: COMMAND runs under sh in the guest, bounded by SECS (default 60;
# timeout(1) there, exit 124). Exit 125 when the agent does not answer, with the console shown.
guest_run() {
  local limit=60 rc
  if [ "$1" = -t ]; then limit=$2; shift 2; fi
  "$lab_python" "$lab_dir/guest_agent.py" "$guest_sock" "$limit" "$@"
  rc=$?
  if [ $rc -eq 125 ] || [ $rc -eq 124 ]; then
    echo "guest command failed ($rc: $([ $rc -eq 124 ] && echo timed out || echo no agent)): $*" >&2
    guest_log_tail 30 >&2
  fi
  return $rc
}

# guest_spawn NAME COMMAND...: starts COMMAND in the guest's background; guest_wait NAME SECS
# then gives its output and exit status (124 when it is still running after SECS: it is killed).
guest_spawn() {
  local name=$1; shift
  local script
  script=$(printf '%s' "$*" | base64 -w0)
  guest_run -t 10 "rm -f /run/$name.rc; echo $script | base64 -d >/run/$name.sh
    setsid sh -c 'sh /run/$name.sh; echo \$? >/run/$name.rc' >/run/$name.log 2>&1 </dev/null &
    echo \$! >/run/$name.pid"
}
guest_wait() {
  local name=$1 limit=$2
  guest_run -t $((limit + 5)) "i=0; while [ ! -f /run/$name.rc ] && [ \$i -lt $((limit * 5)) ]; do sleep 0.2; i=\$((i+1)); done
    cat /run/$name.log
    if [ -f /run/$name.rc ]; then exit \$(cat /run/$name.rc); fi
    kill -- -\$(cat /run/$name.pid) 2>/dev/null; echo '$name: still running after $limit s, killed'; exit 124"
}

# guest_rdma_up: the guest's addresses, rxe0 on eth0 and siw0 on eth1.
guest_rdma_up() {
  guest_run -t 30 "set -e
    ip addr add $guest_v4_rxe/24 dev eth0
    ip addr add $guest_v6_rxe/112 dev eth0 nodad
    ip addr add $guest_v4_siw/24 dev eth1
    ip addr add $guest_v6_siw/112 dev eth1 nodad
    rdma link add rxe0 type rxe netdev eth0
    rdma link add siw0 type siw netdev eth1
    rdma link show"
}

# Captures of a case on a guest tap (the lab's bridge port), checked afterwards.
#   lab_capture_start IFACE FILE; ...; lab_capture_stop; lab_capture_verify LABEL FILE DECODER
# lab_capture_verify: pcap_verify.sh (tshark: no malformed frame, every ICRC / MPA CRC good) and,
# for RoCEv2, `softrnic decode` (DECODER) giving the same verdict as icrc_check.py for every frame.
# Prints one line and returns 0, or the reasons and 1 (the capture kept in ${TMPDIR:-/tmp}).
lab_tools=${lab_tools:-}  # tests/tools
lab_capture_start() {
  ip netns exec "$lab_ns" tshark -q -i "$1" -w "$2" >"$2.log" 2>&1 &
  lab_cap_pid=$!; pids+=("$lab_cap_pid")
  for _ in $(seq 50); do grep -q "Capturing on" "$2.log" 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
}
lab_capture_stop() { sleep 0.5; kill "$lab_cap_pid" 2>/dev/null; wait "$lab_cap_pid" 2>/dev/null; }
lab_capture_verify() {
  local label=$1 cap=$2 decoder=$3 frames ok=0
  if ! sh "$lab_tools/pcap_verify.sh" "$cap" >"$cap.verify" 2>&1; then
    echo "FAIL: $label: the capture does not pass pcap_verify.sh:"; grep -v '^[0-9]*;' "$cap.verify" | head -20
    ok=1
  fi
  frames="$(grep -c ';' "$cap.verify") RoCE/iWARP frames"
  if [ -n "$decoder" ]; then
    # Exit status ignored: the two verdict lists are compared, frame by frame.
    python3 "$lab_tools/icrc_check.py" "$cap" 2>/dev/null |
      awk -F'\t' 'NF >= 6 { print $1, ($NF == "ok" ? "ok" : "bad") }' | sort >"$cap.icrc.v"
    if [ -s "$cap.icrc.v" ]; then
      "$decoder" decode "$cap" 2>/dev/null |
        awk '$2 ~ /^RoCEv2/ { v = $NF; sub(/^icrc=/, "", v); print $1, (v == "ok" ? "ok" : "bad") }' |
        sort >"$cap.decode.v"
      if ! cmp -s "$cap.icrc.v" "$cap.decode.v"; then
        echo "FAIL: $label: softrnic decode and icrc_check.py disagree on an ICRC (icrc_check.py <, decode >):"
        diff "$cap.icrc.v" "$cap.decode.v" | head -10; ok=1
      else
        frames="$frames; softrnic decode agrees with icrc_check.py on all $(wc -l <"$cap.icrc.v") ICRCs"
      fi
    fi
  fi
  if [ $ok -eq 0 ]; then
    echo "$label: capture verified ($frames)"
  else
    cp "$cap" "${TMPDIR:-/tmp}/softrnic-interop-$label-failed.pcap" 2>/dev/null
  fi
  return $ok
}

# lab_up: the whole rig for a test, or a reason. Builds (or finds cached) the guest image within
# SOFTRNIC_INTEROP_BUILD_BUDGET s (default 600), makes the lab network, boots the guest within
# SOFTRNIC_INTEROP_BOOT_BUDGET s (default 180) and sets up rxe0/siw0. Returns 0; 77 after a
# "SKIPPED: reason" line (no root, no qemu, no image within the budget, a boot over budget); 1
# after a "FAIL" line with the guest's console (a guest that dies or cannot set up RDMA).
lab_up() {
  local build_budget=${SOFTRNIC_INTEROP_BUILD_BUDGET:-600} boot_budget=${SOFTRNIC_INTEROP_BOOT_BUDGET:-180} t0
  [ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root (guest image build, namespaces, taps)"; return 77; }
  command -v tshark >/dev/null || { echo "FAIL: tshark is not installed (Debian package tshark)"; return 1; }
  t0=$(date +%s)
  if ! lab_img=$(timeout -k 10 "$build_budget" "$lab_dir/guest_image.sh" 2>"$lab_tmp/image.log"); then
    tail -5 "$lab_tmp/image.log"
    if [ "$(($(date +%s) - t0))" -ge "$build_budget" ]; then
      echo "SKIPPED: the guest image was not built within $build_budget s (SOFTRNIC_INTEROP_BUILD_BUDGET)"
    else
      echo "SKIPPED: the guest image cannot be built here (see above)"
    fi
    return 77
  fi
  echo "guest image: $lab_img ($(grep -E '^(kernel|build_seconds|rootfs_bytes)' "$lab_img/info" | tr '\n' ' '))"
  command -v qemu-system-x86_64 >/dev/null || { echo "SKIPPED: qemu-system-x86_64 is not installed"; return 77; }
  lab_net || return $?
  if ! guest_boot "$lab_img" "$boot_budget"; then
    kill -0 "$qemu_pid" 2>/dev/null &&
      { echo "SKIPPED: the guest did not boot within $boot_budget s (SOFTRNIC_INTEROP_BOOT_BUDGET)"; return 77; }
    return 1
  fi
  echo "guest booted in $guest_boot_seconds s (TCG, 1 vCPU)"
  guest_rdma_up || { echo "FAIL: rxe0/siw0 could not be set up in the guest"; guest_log_tail; return 1; }
}
