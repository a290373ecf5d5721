#!/usr/bin/env python3
"""A pingpong server front that resolves the client's address before it replies.

rdma-core's ibv_rc_pingpong / ibv_ud_pingpong servers read the client's address message, then
build the path to the client's GID (modify QP to RTR / create the AH), which makes the kernel
resolve the GID's MAC by ARP or ND, and only then write their own message. A client that stops
answering ARP/ND while it waits for that message never gets it.

This program does the same in front of a real pingpong server: it accepts the client on
--listen, reads its message, sends one UDP datagram to the client's GID address (port 9) so the
kernel resolves it, waits until the kernel's neighbour table holds a MAC for it (at most
--deadline seconds; past it: exit 1, the client sees the connection close), then connects to
the server at --upstream, and relays the server's message and the client's "done".
"""
import argparse
import ipaddress
import json
import socket
import subprocess
import sys
import time

MSG = len("0000:000000:000000:00000000000000000000000000000000") + 1
DONE = len("done") + 1


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def gid_address(msg):
    text = msg.rstrip(b"\0").decode()
    gid = bytes.fromhex(text.split(":")[3])
    addr = ipaddress.IPv6Address(gid)
    return addr.ipv4_mapped or addr


def neighbour_mac(addr):
    out = subprocess.run(["ip", "-j", "neigh", "show", "to", str(addr)],
                         capture_output=True, text=True, check=True).stdout
    for e in json.loads(out or "[]"):
        states = e.get("state", [])
        if e.get("lladdr") and not {"INCOMPLETE", "FAILED"} & set(states):
            return e["lladdr"]
    return None


def resolve(addr, deadline):
    family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    until = time.monotonic() + deadline
    with socket.socket(family, socket.SOCK_DGRAM) as u:
        while time.monotonic() < until:
            try:
                u.sendto(b"resolve", (str(addr), 9))
            except OSError:
                pass  # no answer yet: the neighbour entry failed, send again
            for _ in range(10):
                mac = neighbour_mac(addr)
                if mac:
                    return mac
                time.sleep(0.02)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--deadline", type=float, default=3.0)
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)

    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", a.listen))
    ls.listen(1)
    client, _ = ls.accept()
    msg = read_exact(client, MSG)
    addr = gid_address(msg)
    mac = resolve(addr, a.deadline)
    if mac is None:
        print(f"resolving_peer: {addr} did not resolve within {a.deadline} s", file=sys.stderr)
        return 1
    print(f"resolving_peer: {addr} is at {mac}", file=sys.stderr)
    up = socket.create_connection((host, int(port)), timeout=10)
    up.sendall(msg)
    client.sendall(read_exact(up, MSG))
    up.sendall(read_exact(client, DONE))
    up.close()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
