# Sourced by the tests that lose frames on a veth (bash):
#   . "$(dirname "$0")/../common/wire_loss.sh"
#
# wire_loss NS DEV PERCENT [NETEM_EXTRA...]: frames on DEV are dropped at random. With sch_netem,
# `tc netem loss PERCENT% NETEM_EXTRA` on DEV's egress; without it (kernels built without netem),
# an nftables netdev rule on DEV's egress dropping PERCENT% (numgen random; NETEM_EXTRA such as
# delay or reordering is then not applied). Either way the frames are dropped before a capture
# on DEV sees them go out, so captures hold only what crossed the wire; set on both veth ends it
# loses frames in both directions (of kernel sockets: a DPDK af_packet/af_xdp port sends below
# both hooks). Sets wire_loss_how; returns 77 after "SKIPPED: reason" when neither is available.
wire_loss() {
  local ns=$1 dev=$2 pct=$3 err err2 per10k
  shift 3
  if err=$(ip netns exec "$ns" tc qdisc add dev "$dev" root netem loss "$pct%" "$@" 2>&1); then
    wire_loss_how="tc netem loss $pct% $* on egress"
    return 0
  fi
  if ! command -v nft >/dev/null; then
    echo "SKIPPED: no tc netem here ($err), and nft (Debian package nftables) is not installed"
    return 77
  fi
  per10k=$(awk -v p="$pct" 'BEGIN { printf "%d", p * 100 }')
  if ! err2=$(ip netns exec "$ns" nft -f - 2>&1 <<NFT
table netdev softrnic_loss {
  chain out_$dev {
    type filter hook egress device "$dev" priority 0; policy accept;
    numgen random mod 10000 < $per10k counter drop
  }
}
NFT
  ); then
    echo "SKIPPED: neither tc netem ($err) nor an nftables drop rule ($err2) works here"
    return 77
  fi
  wire_loss_how="nftables: $pct% of frames dropped on egress (no sch_netem here${*:+; not applied: $*})"
}
