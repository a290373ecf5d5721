#!/bin/bash
# softrnic demo --scenario: the SMB-Direct-like consumer under a shipped scenario, as a user runs
# it. A link flap is recovered from (exit 0, every byte verified, the flap and the retransmits in
# the summary and the log); a refused connect fails the demo with STATUS_CONNECTION_REFUSED.
set -u
B=${SOFTRNIC_BUILD_ROOT:?}/cli/softrnic
S=${SOFTRNIC_SOURCE_ROOT:?}/scenarios
DIR=$(mktemp -d /tmp/softrnic-scn.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

timeout 120 "$B" demo --no-iwarp --wire loopback --size 2 --pingpongs 50 --scenario "$S/link-flap.toml" \
  --scenario-log "$DIR/flap.jsonl" >"$DIR/flap.out" 2>"$DIR/flap.err"
rc=$?
[ $rc = 0 ] || fail "link-flap: exit $rc: $(tail -20 "$DIR/flap.out" "$DIR/flap.err")"
grep -q "demo OK: every byte verified" "$DIR/flap.out" || fail "link-flap: not verified"
grep -q '"link_flap"' "$DIR/flap.jsonl" || fail "link-flap: the log has no link_flap event"
echo "ok: link-flap recovered, logged"

timeout 120 "$B" demo --no-iwarp --wire loopback --size 2 --pingpongs 50 --scenario "$S/connect-refused.toml" \
  >"$DIR/ref.out" 2>"$DIR/ref.err"
rc=$?
[ $rc = 1 ] || fail "connect-refused: exit $rc (expected 1)"
grep -qi "0xC0000236" "$DIR/ref.out" "$DIR/ref.err" || fail "connect-refused: STATUS_CONNECTION_REFUSED not reported"
echo "ok: connect-refused fails with STATUS_CONNECTION_REFUSED"

"$B" demo --scenario "$DIR/missing.toml" >/dev/null 2>"$DIR/bad.err"
rc=$?
[ $rc = 2 ] || [ $rc = 1 ] || fail "a missing scenario file: exit $rc"
echo "PASS"
