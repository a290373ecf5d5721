#!/bin/bash
# softrnic serve / devinfo / stats / capture, run as a user would: one process hosts two devices
# with control sockets, the other commands reach them from outside. Fails on the first wrong output.
set -u
B=${SOFTRNIC_BUILD_ROOT:?}/cli/softrnic
DIR=$(mktemp -d /tmp/softrnic-cli.XXXXXX)
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok: $what"; }

"$B" serve --control-dir "$DIR" \
  --dev name=cl0,proto=roce,port=loopback:peer=cl1,ip4=198.18.7.1/24,ip6=fd00:5052::71/64 \
  --dev name=cl1,proto=roce,port=loopback:peer=cl0,ip4=198.18.7.2/24 >"$DIR/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$DIR/serve.out" && break; sleep 0.1; done
check "serve prints ready with both sockets" grep -q "cl1.*$DIR/cl1.sock" "$DIR/serve.out"

"$B" devinfo --control-dir "$DIR" >"$DIR/devinfo.txt" || fail "devinfo exit status $?"
check "devinfo lists cl0" grep -q $'^hca_id:\tcl0' "$DIR/devinfo.txt"
check "devinfo lists cl1" grep -q $'^hca_id:\tcl1' "$DIR/devinfo.txt"
check "devinfo shows cl0's IPv4-mapped GID" grep -q '::ffff:198.18.7.1, RoCE v2' "$DIR/devinfo.txt"
check "devinfo shows cl0's IPv6 GID" grep -q 'fd00:5052::71, RoCE v2' "$DIR/devinfo.txt"
"$B" devinfo --control-dir "$DIR" --json cl1 >"$DIR/devinfo.json" || fail "devinfo --json"
check "devinfo --json NAME gives one device with its GIDs" python3 -c "
import json,sys; d=json.load(open('$DIR/devinfo.json'))
assert len(d)==1 and d[0]['name']=='cl1', d
assert any(g['gid']=='::ffff:198.18.7.2' for g in d[0]['gids']), d[0]['gids']"
"$B" devinfo --control-dir "$DIR" -v cl0 | grep -q 'max_qp_wr:' || fail "devinfo -v shows limits"

"$B" stats -d cl0 --control-dir "$DIR" --json >"$DIR/stats.json" || fail "stats --json"
check "stats --json has device, drops and port counters" python3 -c "
import json; d=json.loads(open('$DIR/stats.json').readline())
assert d['name']=='cl0' and 'retransmits' in d['device'] and isinstance(d['drops'], dict), d"
"$B" stats -d cl0 --control-dir "$DIR" --watch 0.1 --count 3 -a >"$DIR/watch.txt" || fail "stats --watch"
check "stats --watch --count 3 prints three samples" test "$(grep -c '^--- cl0 sample' "$DIR/watch.txt")" = 3

"$B" capture -d cl0 -w "$DIR/c.pcap" --duration 0.3 --control-dir "$DIR" >"$DIR/cap.txt" 2>&1 ||
  fail "capture: $(cat "$DIR/cap.txt")"
check "capture reports the frames it wrote" grep -q "frames written to $DIR/c.pcap" "$DIR/cap.txt"
check "the capture is a file decode reads" "$B" decode "$DIR/c.pcap"
"$B" capture -d cl0 -w "$DIR/c.pcapng" --duration 0.3 --control-dir "$DIR" >/dev/null 2>&1 || fail "capture to .pcapng"
check "a .pcapng name gives a pcapng file (Section Header Block first)" \
  test "$(od -An -tx1 -N4 "$DIR/c.pcapng" | tr -d ' ')" = 0a0d0d0a
check "which decode reads too" "$B" decode "$DIR/c.pcapng"

"$B" stats -d nosuch --control-dir "$DIR" 2>"$DIR/err.txt"
rc=$?
check "stats of an unknown device fails with status 1" test $rc = 1
check "and says there is no such socket" grep -q "no device nosuch" "$DIR/err.txt"
for bad in "stats" "stats -d cl0 --watch -1" "capture -d cl0" "devinfo --dev name=x,proto=bogus" "serve --bogus"; do
  # shellcheck disable=SC2086
  "$B" $bad >/dev/null 2>"$DIR/err.txt"
  rc=$?
  [ "$bad" = "devinfo --dev name=x,proto=bogus" ] && { [ $rc = 1 ] || fail "'$bad' exit $rc"; grep -q "proto" "$DIR/err.txt" || fail "'$bad' names proto"; continue; }
  [ $rc = 2 ] || fail "'softrnic $bad' exits 2 (got $rc)"
done
echo "ok: bad flags exit 2 and name what is wrong"

kill -INT "$SERVE_PID"
wait "$SERVE_PID"
rc=$?
SERVE_PID=
check "serve stops cleanly on Ctrl-C" test $rc = 0
check "and removes its sockets" test ! -e "$DIR/cl0.sock"

# An iWARP device's socket: a persistent rping server on loopback TCP, its traffic captured from
# outside while a client pings it (the capture synthesizes the TCP frames).
port=$((30000 + $$ % 20000))
"$B" rping -s -P -a 127.0.0.1 -p $port --control-dir "$DIR" \
  --dev name=iws,proto=iwarp,port=uring,ip4=127.0.0.1/8 >"$DIR/rs.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 50); do [ -S "$DIR/iws.sock" ] && break; sleep 0.1; done
"$B" devinfo --control-dir "$DIR" iws >"$DIR/iw.txt" || fail "devinfo of an iWARP device: $(cat "$DIR/iw.txt")"
check "devinfo of an iWARP device says iWARP and its address" \
  grep -q $'address:\t\t127.0.0.1/8' "$DIR/iw.txt"
"$B" capture -d iws -w "$DIR/iw.pcapng" --duration 2 --control-dir "$DIR" >"$DIR/iwcap.txt" 2>&1 &
cap_pid=$!
for _ in $(seq 50); do grep -q capturing "$DIR/iwcap.txt" && break; sleep 0.1; done
"$B" rping -c -V -a 127.0.0.1 -p $port -C 10 --dev name=iwc,proto=iwarp,port=uring,ip4=127.0.0.2/8 \
  --control-dir "$DIR" >"$DIR/rc.out" 2>&1 || fail "rping client: $(cat "$DIR/rc.out")"
wait $cap_pid || fail "capture of the iWARP device: $(cat "$DIR/iwcap.txt")"
check "the iWARP capture holds the MPA exchange and FPDUs with good CRCs" \
  sh -c "'$B' decode '$DIR/iw.pcapng' | grep -q MPA_REQUEST && '$B' decode '$DIR/iw.pcapng' | grep -q 'RDMA_READ_RESPONSE .*crc=ok'"
"$B" stats -d iws --control-dir "$DIR" --json >"$DIR/iwstats.json" || fail "stats of the iWARP device"
check "its stats count the FPDUs and the captured frames" python3 -c "
import json; d=json.loads(open('$DIR/iwstats.json').readline())
assert d['device']['iwarp_fpdus_rx'] >= 20 and d['capture']['capture_frames'] > 0, d"
echo "PASS"
