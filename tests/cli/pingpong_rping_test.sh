#!/bin/bash
# softrnic rc_pingpong, ud_pingpong and rping run as a user would, server and client in two
# network namespaces joined by a veth (tests/common/netns.sh: 198.18.0.N/24, fd00:5052::N/64), each
# on its default device (a kernel-socket port on the namespace's address):
#   - rc_pingpong and ud_pingpong over IPv4 and IPv6 GIDs, with -c: both exit 0, print rdma-core's
#     address and result lines, each side's "remote address" is the other side's "local address",
#     and the counts match what was asked;
#   - rping over RoCEv2 (IPv4, IPv6) and iWARP (IPv4 on the veth, IPv6 on loopback TCP) with -V -v:
#     every ping's data comes back as rping writes it, on both sides;
#   - bad flags exit 2 naming the flag; iWARP devices are refused by the pingpongs with a pointer
#     to rping; a server that is not there is a timeout with status 1; Ctrl-C stops a client
#     cleanly with status 130 and a count of what was done.
set -u
B=${SOFTRNIC_BUILD_ROOT:?}/cli/softrnic
. "$(dirname "$0")/../common/netns.sh"
netns_pair || exit $?
# Background processes are started with `ip netns exec` itself (it execs the command), so that $!
# is the command's PID: the cleanup and the Ctrl-C test signal the command, not a subshell.
in1() { ip netns exec "$ns1" "$@"; }
in2() { ip netns exec "$ns2" "$@"; }
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.out "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -8 "$f"; }; done
  exit 1
}
ok() { echo "ok: $*"; }

# Waits until something listens on TCP port $2 in namespace $1 (the server is up).
wait_listen() {
  for _ in $(seq 100); do
    ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

# Checks a pingpong side's output: the address lines and the two result lines for N iterations of
# SIZE bytes. Prints "QPN PSN GID" of its local line, then of its remote line.
check_pp_output() {  # FILE TOOL N SIZE
  python3 - "$@" <<'EOF' || return 1
import re, sys
f, tool, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = open(f).read().splitlines()
sep = ':' if tool == 'ud_pingpong' else ','
loc = [re.fullmatch(r'  local address:  LID 0x([0-9a-f]{4}), QPN 0x([0-9a-f]{6}), PSN 0x([0-9a-f]{6})' + sep + r' GID (\S+)', l) for l in lines]
rem = [re.fullmatch(r'  remote address: LID 0x([0-9a-f]{4}), QPN 0x([0-9a-f]{6}), PSN 0x([0-9a-f]{6}), GID (\S+)', l) for l in lines]
byt = [re.fullmatch(r'(\d+) bytes in ([\d.]+) seconds = ([\d.]+) Mbit/sec', l) for l in lines]
itr = [re.fullmatch(r'(\d+) iters in ([\d.]+) seconds = ([\d.]+) usec/iter', l) for l in lines]
loc, rem, byt, itr = [[m for m in x if m] for x in (loc, rem, byt, itr)]
assert len(loc) == 1 and len(rem) == 1 and len(byt) == 1 and len(itr) == 1, lines
assert int(byt[0].group(1)) == 2 * n * size, (byt[0].group(0), n, size)
assert int(itr[0].group(1)) == n, itr[0].group(0)
assert not any(l.startswith('invalid data') for l in lines), lines
print(*loc[0].groups()[1:], *rem[0].groups()[1:])
EOF
}

pp_pair() {  # TOOL SERVER_ADDR CLIENT_GID SERVER_GID N SIZE [FLAGS...]
  local tool=$1 addr=$2 cgid=$3 sgid=$4 n=$5 size=$6 tag="$1-$2"; shift 6
  ip netns exec "$ns1" "$B" "$tool" -n "$n" -s "$size" --timeout 5 "$@" >"$tmp/$tag.s.out" 2>"$tmp/$tag.s.err" &
  local spid=$!; pids+=("$spid")
  wait_listen "$ns1" 18515 || fail "$tool server did not listen"
  in2 "$B" "$tool" -n "$n" -s "$size" --timeout 5 "$@" "$addr" >"$tmp/$tag.c.out" 2>"$tmp/$tag.c.err"
  local crc=$?
  [ $crc = 0 ] || kill "$spid" 2>/dev/null  # a server whose client failed would wait for ever
  wait "$spid"; local src=$?
  [ $crc = 0 ] && [ $src = 0 ] || fail "$tool to $addr: client exit $crc, server exit $src"
  local s c
  s=$(check_pp_output "$tmp/$tag.s.out" "$tool" "$n" "$size") || fail "$tool server output"
  c=$(check_pp_output "$tmp/$tag.c.out" "$tool" "$n" "$size") || fail "$tool client output"
  read -r sq sp sg rq rp rg <<<"$s"
  read -r cq cp cg dq dp dg <<<"$c"
  [ "$sq $sp $sg" = "$dq $dp $dg" ] || fail "$tool: the client's remote ($dq $dp $dg) is not the server's local ($sq $sp $sg)"
  [ "$cq $cp $cg" = "$rq $rp $rg" ] || fail "$tool: the server's remote ($rq $rp $rg) is not the client's local ($cq $cp $cg)"
  [ "$sg" = "$sgid" ] && [ "$cg" = "$cgid" ] || fail "$tool: GIDs $sg / $cg, expected $sgid / $cgid"
  ok "$tool over $addr: $n iterations, lines parse, addresses cross-check, GIDs $sg <-> $cg"
}

pp_pair rc_pingpong 198.18.0.1 ::ffff:198.18.0.2 ::ffff:198.18.0.1 300 4096 -c
pp_pair rc_pingpong fd00:5052::1 fd00:5052::2 fd00:5052::1 300 10000 -c -e
pp_pair ud_pingpong 198.18.0.1 ::ffff:198.18.0.2 ::ffff:198.18.0.1 300 1024 -c
pp_pair ud_pingpong fd00:5052::1 fd00:5052::2 fd00:5052::1 300 512 -c -r 50

# The data of ping N as rping writes it: "rdma-ping-N: " then letters from 'A' + N mod 58 counting
# up through 'z' and around, the buffer's last byte NUL.
check_rping_output() {  # FILE PREFIX COUNT SIZE
  python3 - "$@" <<'EOF' || return 1
import sys
f, prefix, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
got = [l for l in open(f).read().splitlines() if l.startswith(prefix)]
assert len(got) == count, (len(got), count)
for n, line in enumerate(got):
    s = 'rdma-ping-%d: ' % n
    c = 65 + n % 58
    while len(s) < size - 1:
        s += chr(c); c = 65 if c == 122 else c + 1
    assert line == prefix + s, (line, prefix + s)
EOF
}

rping_pair() {  # LABEL SERVER_ADDR COUNT SIZE NS_SERVER NS_CLIENT [FLAGS...]
  local label=$1 addr=$2 count=$3 size=$4 nss=$5 nsc=$6 tag="rping-$1"; shift 6
  ip netns exec "$nss" "$B" rping -s -a "$addr" -v -S "$size" --timeout 5 "$@" >"$tmp/$tag.s.out" 2>"$tmp/$tag.s.err" &
  local spid=$!; pids+=("$spid")
  sleep 0.5
  ip netns exec "$nsc" "$B" rping -c -a "$addr" -V -v -C "$count" -S "$size" --timeout 5 "$@" >"$tmp/$tag.c.out" 2>"$tmp/$tag.c.err"
  local crc=$?
  [ $crc = 0 ] || kill "$spid" 2>/dev/null  # a server whose client failed would wait for ever
  wait "$spid"; local src=$?
  [ $crc = 0 ] && [ $src = 0 ] || fail "rping $label: client exit $crc, server exit $src"
  check_rping_output "$tmp/$tag.c.out" "ping data: " "$count" "$size" || fail "rping $label: client ping data"
  check_rping_output "$tmp/$tag.s.out" "server ping data: " "$count" "$size" || fail "rping $label: server ping data"
  grep -q "server DISCONNECT EVENT" "$tmp/$tag.s.err" || fail "rping $label: the server saw no disconnect"
  ok "rping $label: $count pings of $size bytes validated (-V), ping data lines as rping prints them"
}

rping_pair roce-ipv4 198.18.0.1 20 64 "$ns1" "$ns2"
rping_pair roce-ipv6 fd00:5052::1 10 200 "$ns1" "$ns2"
rping_pair iwarp-ipv4 198.18.0.1 10 100 "$ns1" "$ns2" --proto iwarp -p 7199
rping_pair iwarp-loopback-ipv6 ::1 10 64 "$ns1" "$ns1" --proto iwarp -p 7200

# Bad flags: exit 2 and a message naming the flag.
bad() {  # WORD_EXPECTED ARGS...
  local want=$1; shift
  "$B" "$@" >/dev/null 2>"$tmp/bad.err"
  local rc=$?
  [ $rc = 2 ] || fail "'softrnic $*' exits $rc, not 2"
  grep -q -- "$want" "$tmp/bad.err" || fail "'softrnic $*' does not name $want: $(cat "$tmp/bad.err")"
}
bad --bogus rc_pingpong --bogus
bad --mtu rc_pingpong -m 300
bad --size ud_pingpong -s 0
bad -m ud_pingpong -m 1024
bad --odp rc_pingpong -o
bad --ts rc_pingpong -t
bad --ib-port rc_pingpong -i 2
bad -S rping -c -a 198.18.0.1 -S 10
bad -c rping -s -c
bad "-s (server) or -c" rping -a 198.18.0.1
bad "-a" rping -s
bad "rping" rc_pingpong --dev name=iw0,proto=iwarp,port=uring,ip4=127.0.0.1/8 127.0.0.1
ok "bad flags exit 2 and name the flag; an iWARP device points pingpong users to rping"

# Nobody at 198.18.0.3: a timeout, status 1.
for cmd in "rc_pingpong --timeout 1.5 198.18.0.3" "rping -c -a 198.18.0.3 --timeout 1.5"; do
  # shellcheck disable=SC2086
  in2 "$B" $cmd >/dev/null 2>"$tmp/unreach.err"
  rc=$?
  [ $rc = 1 ] || fail "'softrnic $cmd' toward nobody exits $rc, not 1"
  grep -q timeout "$tmp/unreach.err" || fail "'softrnic $cmd' does not say timeout: $(cat "$tmp/unreach.err")"
done
ok "an unreachable server is a timeout with status 1"

# Ctrl-C: a client pinging forever stops cleanly, says how far it got, exits 130.
ip netns exec "$ns1" "$B" rping -s -a 198.18.0.1 -p 7201 >"$tmp/int.s.out" 2>"$tmp/int.s.err" &
spid=$!; pids+=("$spid")
sleep 0.5
ip netns exec "$ns2" "$B" rping -c -a 198.18.0.1 -p 7201 -V >"$tmp/int.c.out" 2>"$tmp/int.c.err" &
cpid=$!; pids+=("$cpid")
sleep 1.5
kill -INT "$cpid"
wait "$cpid"; rc=$?
[ $rc = 130 ] || fail "rping client after Ctrl-C exits $rc, not 130"
grep -Eq "interrupted after [1-9][0-9]* pings" "$tmp/int.c.err" || fail "the interrupted client does not say how many pings it did"
wait "$spid"; rc=$?
[ $rc = 0 ] || fail "the rping server exits $rc after its client left"
ok "Ctrl-C stops an rping client cleanly ($(grep -Eo 'after [0-9]+ pings' "$tmp/int.c.err"))"
echo PASS
