#!/usr/bin/env python3
"""Runs one shell command in the interop guest through its agent (guest/agent.sh) and exits with
the command's exit status, its stdout and stderr copied to ours.

    guest_agent.py SOCKET TIMEOUT COMMAND...

SOCKET is qemu's unix socket behind the virtio-serial port org.softrnic.agent; TIMEOUT bounds the
command in the guest (timeout(1) there, exit 124) and the wait here (TIMEOUT + a margin). Exit
125 when the agent cannot be reached or answers nothing in time, with the reason on stderr.
"""
import base64
import os
import socket
import sys
import time

MARGIN = 15.0  # the guest's own timeout fires first; this covers a slow TCG guest on top


def fail(msg):
    sys.stderr.write(f"guest_agent: {msg}\n")
    sys.exit(125)


class Conn:
    def __init__(self, path, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(max(0.1, deadline - time.monotonic()))
        self.sock.connect(path)
        self.buf = b""
        self.deadline = deadline

    def line(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the agent closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("ascii", "replace").strip()


def main():
    if len(sys.argv) < 4:
        fail("usage: guest_agent.py SOCKET TIMEOUT COMMAND...")
    path, limit = sys.argv[1], float(sys.argv[2])
    command = " ".join(sys.argv[3:])
    deadline = time.monotonic() + limit + MARGIN
    ident = f"{os.getpid()}-{time.monotonic_ns()}"
    # A READY written just as an earlier client left can be lost: reconnect until one arrives.
    conn = None
    while conn is None:
        if time.monotonic() > deadline:
            fail(f"no READY from the agent on {path}")
        try:
            c = Conn(path, min(deadline, time.monotonic() + 3.0))
            if c.line() == "READY":
                conn = c
                conn.deadline = deadline
        except (OSError, TimeoutError, ConnectionError):
            time.sleep(0.2)
    script = base64.b64encode(command.encode()).decode()
    conn.sock.sendall(f"RUN {ident} {int(limit)} {script}\n".encode())
    out, err, cur, rc = [], [], None, None
    try:
        while rc is None:
            line = conn.line()
            if line == "READY" and cur is None:
                continue
            if line == f"BEGIN {ident}":
                cur = out
            elif line == "STDERR" and cur is not None:
                cur = err
            elif line.startswith(f"END {ident} "):
                rc = int(line.split()[2])
            elif cur is not None:
                cur.append(line)
    except TimeoutError:
        fail(f"no answer within {limit + MARGIN:.0f} s to: {command}")
    except (OSError, ConnectionError) as e:
        fail(f"lost the agent while running: {command} ({e})")
    finally:
        conn.sock.close()
    sys.stdout.buffer.write(base64.b64decode("".join(out)))
    sys.stderr.buffer.write(base64.b64decode("".join(err)))
    sys.exit(rc)


if __name__ == "__main__":
    main()
