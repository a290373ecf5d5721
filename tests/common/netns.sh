# Sourced by the two-process tests (bash). Two network namespaces joined by a veth pair, with
# 198.18.0.N/24 and fd00:5052::N/64 on end N (N = 1, 2), unique names from the caller's PID, and
# everything removed on exit, failure included: processes the test started (listed in `pids`),
# the namespaces, and the temporary folder $tmp.
#
#   . "$(dirname "$0")/../common/netns.sh"
#   netns_pair || exit $?   # sets ns1 ns2 v1 v2; exits 77 (SKIPPED) where namespaces cannot be made
tmp=$(mktemp -d)
pids=()
ns1=srn$$a; ns2=srn$$b; v1=srn$$x; v2=srn$$y
netns_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null
  rm -rf "$tmp"
}
trap netns_cleanup EXIT
netns_pair() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root to create network namespaces"; return 77; }
  command -v ip >/dev/null || { echo "SKIPPED: iproute2 (ip) is not installed"; return 77; }
  ip netns add "$ns1" && ip netns add "$ns2" || { echo "SKIPPED: cannot create network namespaces"; return 77; }
  ip link add "$v1" type veth peer name "$v2" || return 1
  ip link set "$v1" netns "$ns1" && ip link set "$v2" netns "$ns2" || return 1
  local i ns v
  for i in 1 2; do
    ns=ns$i; ns=${!ns}; v=v$i; v=${!v}
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$v" up
    ip -n "$ns" addr add 198.18.0.$i/24 dev "$v"
    ip -n "$ns" addr add fd00:5052::$i/64 dev "$v" nodad
    # Complete checksums, and segments of one MSS so a capture reassembles cleanly in tshark.
    ip netns exec "$ns" ethtool -K "$v" tx off tso off gso off gro off >/dev/null 2>&1
  done
}
