#!/bin/bash
# The perftest dialect (softrnic send_bw ... read_lat) run as users run ib_*_bw / ib_*_lat: a
# server in one network namespace, a client in another, over a veth with kernel addresses
# (198.18.0.1/.2, fd00:5052::1/::2), on the default device (a RoCEv2 port=uring device on the
# address given) or on an iWARP device. Every pair runs through perftest's out-of-band exchange
# (TCP, or the RDMA CM with -R); the test parses the result table each side prints and checks the
# message size and iteration count. Bad flags must exit 2 naming the flag. First, without
# namespaces: two devices on loopback addresses of one host.
set -u
B=${SOFTRNIC_BUILD_ROOT:?}/cli/softrnic
. "$(dirname "$0")/../common/netns.sh"
fail() { echo "FAIL: $*"; exit 1; }

# Bad input first: no namespaces needed.
bad() {
  local flag=$1; shift
  local out rc
  out=$("$B" "$@" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "'softrnic $*' exited $rc, expected 2 ($out)"
  echo "$out" | grep -q -- "$flag" || fail "'softrnic $*' does not name $flag: $out"
  echo "ok: $* -> exit 2 naming $flag"
}
bad --size write_bw -s 0
bad --size send_lat --size 99999999
bad --mtu read_bw -m 1000
bad --iters write_lat -n 2
bad --qp send_bw -q 0
bad --run_infinitely write_bw --run_infinitely 198.18.0.9
bad -D send_lat -D 3 198.18.0.9
bad --atomic_type atomic_bw -A ADD
bad --connection write_bw -c XX

port=19000
# run_pair NAME SERVER_ADDR CLIENT_HOST EXPECT_SIZE EXPECT_ITERS [FLAGS...]: both sides must exit 0
# and print a result row with that size and iteration count.
run_pair() {
  local t=$1 saddr=$2 host=$3 size=$4 iters=$5; shift 5
  port=$((port + 1))
  local dev_s=() dev_c=() in_s=(ip netns exec "$ns1") in_c=(ip netns exec "$ns2")
  if [ "${LOOPBACK:-0}" = 1 ]; then  # one host, no namespace: two devices on lo's addresses
    in_s=() in_c=()
    dev_s=(--dev "name=lo1,proto=roce,port=uring,ip4=127.0.0.1/8" -d lo1)
    dev_c=(--dev "name=lo2,proto=roce,port=uring,ip4=127.0.0.2/8" -d lo2)
  elif [ "${IWARP:-0}" = 1 ]; then
    dev_s=(--dev "name=iw0,proto=iwarp,port=uring,ip4=198.18.0.1/24")
    dev_c=(--dev "name=iw0,proto=iwarp,port=uring,ip4=198.18.0.2/24")
  else
    dev_s=(--source_ip "$saddr")
  fi
  "${in_s[@]}" timeout 30 "$B" "$t" -p $port --timeout 10 --wait 20 "${dev_s[@]}" "$@" \
    >"$tmp/s.out" 2>&1 &
  local sp=$!
  pids+=("$sp")
  "${in_c[@]}" timeout 30 "$B" "$t" "$host" -p $port --timeout 10 "${dev_c[@]}" "$@" \
    >"$tmp/c.out" 2>&1
  local crc=$?
  wait "$sp"; local src=$?
  local what="$t $host ${*} ${IWARP:+(iWARP)}"
  if [ $crc -ne 0 ] || [ $src -ne 0 ]; then
    echo "--- server:"; cat "$tmp/s.out"; echo "--- client:"; cat "$tmp/c.out"
    fail "$what: client exit $crc, server exit $src"
  fi
  for side in s c; do
    # A result row: the size, the iterations, then 3 (BW) or 7 (latency) numbers.
    local f="$tmp/$side.out"
    if [ "$t" = read_lat ] && [ $side = s ]; then continue; fi  # perftest's read_lat server prints no row
    python3 - "$f" "$size" "$iters" "$t" "$side" <<'EOF' || { cat "$f"; fail "$what: table on side $side"; }
import re, sys
path, size, iters, test, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = []
for line in open(path):
    f = line.split()
    if len(f) in (5, 9) and all(re.fullmatch(r'[0-9.]+', x) for x in f):
        rows.append([float(x) for x in f])
assert rows, 'no result row'
want = 5 if test.endswith('_bw') else 9
assert all(len(r) == want for r in rows), rows
row = [r for r in rows if int(r[0]) == size]
assert row, f'no row for size {size}: {rows}'
assert int(row[-1][1]) == iters, f'iterations {row[-1][1]} != {iters}'
assert all(x >= 0 for x in row[-1][2:]), row
print(f'ok: {test} side {side}: size {size}, {iters} iterations, {len(rows)} row(s)')
EOF
  done
}

# On one host without namespaces or root: RoCEv2 on kernel UDP sockets over lo (127.0.0.1 and
# 127.0.0.2), which socket ports accept as GIDs.
for t in write_lat read_lat send_lat; do LOOPBACK=1 run_pair $t 127.0.0.1 127.0.0.1 64 50 -n 50 -s 64; done
LOOPBACK=1 run_pair write_bw 127.0.0.1 127.0.0.1 65536 20 -n 20

netns_pair || exit $?
for fam in 4 6; do
  if [ $fam = 4 ]; then s=198.18.0.1; else s=fd00:5052::1; fi
  run_pair write_bw "$s" "$s" 65536 20 -n 20
  run_pair read_bw "$s" "$s" 4096 20 -n 20 -s 4096
  run_pair atomic_bw "$s" "$s" 8 20 -n 20
  run_pair send_bw "$s" "$s" 4096 20 -n 20 -s 4096
  run_pair send_lat "$s" "$s" 2 20 -n 20
  run_pair write_lat "$s" "$s" 64 20 -n 20 -s 64
  run_pair read_lat "$s" "$s" 2 20 -n 20
done
# Two QPs: the client's report counts the operations of both.
run_pair write_bw 198.18.0.1 198.18.0.1 65536 40 -n 20 -q 2 --report_gbits
run_pair write_bw 198.18.0.1 198.18.0.1 8388608 5 -n 5 -a
# Through the RDMA CM.
run_pair write_bw 198.18.0.1 198.18.0.1 65536 20 -n 20 -R
run_pair read_bw fd00:5052::1 fd00:5052::1 65536 20 -n 20 -R
run_pair send_bw 198.18.0.1 198.18.0.1 65536 20 -n 20 -R
run_pair send_lat 198.18.0.1 198.18.0.1 2 20 -n 20 -R
run_pair write_lat 198.18.0.1 198.18.0.1 2 20 -n 20 -R
# iWARP: -R implied; Send uses perftest's credit words (no RNR on iWARP).
IWARP=1 run_pair write_bw 198.18.0.1 198.18.0.1 65536 20 -n 20
IWARP=1 run_pair send_bw 198.18.0.1 198.18.0.1 65536 20 -n 20 -R
out=$(ip netns exec "$ns2" "$B" atomic_bw 198.18.0.1 --dev name=iw0,proto=iwarp,port=uring,ip4=198.18.0.2/24 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "atomics are not available on iWARP" \
  || fail "atomic_bw on iWARP: $out"
echo "ok: atomic_bw on iWARP says atomics are not available"

# --json: one document with the results.
port=$((port + 1))
ip netns exec "$ns1" timeout 30 "$B" send_lat -p $port --source_ip 198.18.0.1 -n 10 --json >"$tmp/s.json" 2>&1 &
pids+=($!)
ip netns exec "$ns2" timeout 30 "$B" send_lat 198.18.0.1 -p $port -n 10 --json >"$tmp/c.json" 2>&1 \
  || { cat "$tmp/c.json"; fail "send_lat --json"; }
python3 -c "
import json; d=json.load(open('$tmp/c.json'))
assert d['ok'] and d['results'][0]['n_iterations']==10 and d['results'][0]['MsgSize']==2, d" \
  || fail "send_lat --json output"
echo "ok: --json"

# A server that never comes: a timeout error (status 1), not a hang.
start=$(date +%s)
ip netns exec "$ns2" "$B" write_bw 198.18.0.1 -p 1 --timeout 1 >"$tmp/t.out" 2>&1
rc=$?
[ $rc -eq 1 ] && [ $(( $(date +%s) - start )) -lt 10 ] || { cat "$tmp/t.out"; fail "no server: exit $rc"; }
echo "ok: no server -> exit 1 after the timeout"
echo "all perftest dialect checks passed"
