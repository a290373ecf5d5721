#!/usr/bin/env python3
"""`softrnic serve` as a service: readiness, reload, stop and idle CPU, as a service manager sees it.

The serve process runs with a NOTIFY_SOCKET that this test binds (an abstract socket, as systemd's
can be), on uring devices bound to loopback addresses of its own (127.X.Y.Z, free UDP ports):
  - READY=1 comes only once every control socket exists, and `ready` is printed;
  - SIGHUP with an edited file keeps the unchanged device (same socket inode, a control connection
    opened before the reload still answers, its counters keep growing), stops the removed one,
    starts the new one and restarts the changed one; RELOADING=1 then READY=1 around it;
  - a changed device that cannot start runs its old spec again;
  - a file that does not parse, or names a field that does not exist, is refused with a log line
    and leaves every device running;
  - --idle block uses less than 10% of a core while idle (utime+stime from /proc/PID/stat over
    3 s), yet a datagram and a control request are answered at once;
  - SIGTERM: STOPPING=1, every control socket removed, exit status 0;
  - under $JOURNAL_STREAM the log lines carry "<N>" syslog prefixes and no timestamp;
  - the example config builds, and systemd-analyze verify (where it exists) accepts the unit.
When systemd is PID 1 and answers, the unit's essentials are checked too under systemd-run
(Type=notify start, stop). Exits 77 (SKIPPED) when io_uring is unavailable.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.join(os.environ["SOFTRNIC_BUILD_ROOT"], "cli", "softrnic")
PROCS = []  # every process this test started, stopped by PID in cleanup


def fail(msg):
    print("FAIL: " + msg, flush=True)
    raise SystemExit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail("timed out after %.0f s waiting for %s" % (timeout, what))


class Notify:
    """The service manager's end of $NOTIFY_SOCKET (abstract, like systemd's may be)."""

    def __init__(self, name):
        self.addr = "@" + name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name)
        self.sock.settimeout(0.05)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return

    def wait_for(self, field, timeout, on_arrival=None):
        """Waits for a datagram with the line `field`; on_arrival runs the moment it is read."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            if field in m.split("\n"):
                if on_arrival:
                    on_arrival()
                self.messages.append(m)
                return m
            self.messages.append(m)
        fail("no %s on NOTIFY_SOCKET within %.0f s (got %r)" % (field, timeout, self.messages))


class Control:
    """A control-socket connection kept open (JSON lines)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.buf = b""

    def ask(self, req):
        self.s.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


def counters(path):
    c = Control(path)
    try:
        return c.ask({"cmd": "counters"})
    finally:
        c.close()


def pcap_stamps(path):
    """Timestamps (s) of a classic pcap file's records."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    scale = {0xA1B2C3D4: 1e-6, 0xA1B23C4D: 1e-9}.get(magic)
    if scale is None:
        fail("%s is not a little-endian pcap file" % path)
    stamps, at = [], 24
    while at + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, at)
        stamps.append(sec + frac * scale)
        at += 16 + incl
    return stamps


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def free_udp_port(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def device_table(name, addr, port, proto="roce"):
    return '[[device]]\nname = "%s"\nproto = "%s"\nport = "uring"\nip4 = "%s/8"\nudp_port = %d\n\n' % (
        name, proto, addr, port)


def spray(addr, port, n):
    """Datagrams too short for BTH + ICRC: the port counts them (rx_not_roce)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(n):
        s.sendto(b"not roce", (addr, port))
    s.close()


def port_rx(ans):
    return ans["port"].get("rx_not_roce", 0)


def start(args, workdir, env_extra, tag):
    out = open(os.path.join(workdir, tag + ".out"), "w")
    err = open(os.path.join(workdir, tag + ".err"), "w")
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.pop("JOURNAL_STREAM", None)
    env.update(env_extra)
    p = subprocess.Popen([BIN] + args, stdout=out, stderr=err, env=env)
    PROCS.append(p)
    return p


def read(workdir, name):
    with open(os.path.join(workdir, name)) as f:
        return f.read()


def stop(p, timeout=15):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("serve did not exit within %d s" % timeout)


def io_uring_works(workdir, addr):
    p = subprocess.run([BIN, "devinfo", "--dev", "name=probe,port=uring,ip4=%s/8,udp_port=%d"
                        % (addr, free_udp_port(addr))], capture_output=True, text=True, timeout=30)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def main_scenario(workdir, tag):
    rnd = random.Random(os.getpid())
    base = "127.%d.%d." % (rnd.randrange(20, 250), rnd.randrange(1, 250))
    addr = {n: base + str(i) for i, n in enumerate(["a", "b", "c"], start=1)}
    port = {n: free_udp_port(addr[n]) for n in addr}
    works, why = io_uring_works(workdir, addr["a"])
    if not works:
        print("SKIPPED: a uring device cannot start here: " + why)
        raise SystemExit(77)
    dev = {n: "%s%s" % (n, tag) for n in addr}  # unique device names
    ctl = os.path.join(workdir, "ctl")
    cfg = os.path.join(workdir, "lab.toml")
    with open(cfg, "w") as f:
        f.write(device_table(dev["a"], addr["a"], port["a"]) + device_table(dev["b"], addr["b"], port["b"]))
    sock = {n: os.path.join(ctl, dev[n] + ".sock") for n in dev}

    notify = Notify("softrnic-test-%d-%s" % (os.getpid(), tag))
    p = start(["serve", "--config", cfg, "--control-dir", ctl], workdir,
              {"NOTIFY_SOCKET": notify.addr}, "serve")
    seen = {}

    def sockets_now():
        seen["a"] = os.path.exists(sock["a"])
        seen["b"] = os.path.exists(sock["b"])

    ready = notify.wait_for("READY=1", 20, on_arrival=sockets_now)
    if not (seen["a"] and seen["b"]):
        fail("READY=1 came before the control sockets existed: %r" % seen)
    ok("READY=1 arrives once both control sockets exist")
    if "STATUS=serving 2 devices: %s %s" % (dev["a"], dev["b"]) not in ready.split("\n"):
        fail("READY=1 without the STATUS line: %r" % ready)
    ok("with STATUS=serving 2 devices")
    wait_until(lambda: "ready\n" in read(workdir, "serve.out"), 5, "`ready` on stdout")
    ok("and `ready` on stdout, after each device's socket")

    # Idle: block sleeps. CPU time, not wall-clock: ticks of utime+stime over 3 s.
    time.sleep(0.3)
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(p.pid)
    time.sleep(3)
    t1, c1 = time.monotonic(), cpu_ticks(p.pid)
    share = (c1 - c0) / hz / (t1 - t0)
    print("idle CPU of serve --idle block: %.1f%% of a core (%d ticks in %.1f s)" % (100 * share, c1 - c0, t1 - t0))
    if share >= 0.10:
        fail("serve --idle block used %.0f%% of a core while idle (limit 10%%)" % (100 * share))
    ok("--idle block uses < 10% of a core while idle")

    # A device that sleeps still wakes for a request and for a datagram.
    keep = Control(sock["a"])  # stays open across the reloads
    t = time.monotonic()
    first = keep.ask({"cmd": "counters"})
    if not first.get("ok"):
        fail("counters of %s: %r" % (dev["a"], first))
    spray(addr["a"], port["a"], 5)
    wait_until(lambda: port_rx(keep.ask({"cmd": "counters"})) >= port_rx(first) + 5, 5,
               "the sleeping device to count 5 datagrams")
    ok("a sleeping device answers requests and counts datagrams (%.0f ms)" % (1000 * (time.monotonic() - t)))
    # ... and a datagram alone wakes it (no request meanwhile): the capture stamps the frame when
    # the engine takes it from the port, which must be long before the stop request 1 s later.
    cap = os.path.join(workdir, "wake.pcap")
    if not keep.ask({"cmd": "capture", "action": "start", "file": cap}).get("ok"):
        fail("capture start on %s" % dev["a"])
    time.sleep(0.3)  # back asleep
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = time.time()
    s.sendto(bytes(40), (addr["a"], port["a"]))  # BTH + payload + ICRC long: the port passes it on
    s.close()
    time.sleep(1.0)
    stopped = keep.ask({"cmd": "capture", "action": "stop"})
    stamps = pcap_stamps(cap)
    if stopped.get("frames") != 1 or len(stamps) != 1:
        fail("capture of one datagram: %r, %d frames in the file" % (stopped, len(stamps)))
    delay = stamps[0] - sent
    if delay > 0.5:
        fail("the engine took the datagram %.3f s after it was sent: it slept through it" % delay)
    ok("a datagram alone wakes the sleeping engine (taken %.1f ms after it was sent)" % (1000 * delay))
    inode_a = os.stat(sock["a"]).st_ino
    before = port_rx(keep.ask({"cmd": "counters"}))

    # Reload: a kept, b removed, c added.
    with open(cfg, "w") as f:
        f.write(device_table(dev["a"], addr["a"], port["a"]) + device_table(dev["c"], addr["c"], port["c"]))
    notify.drain()
    p.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", 10)
    ready = notify.wait_for("READY=1", 10)
    if "STATUS=serving 2 devices: %s %s" % (dev["a"], dev["c"]) not in ready.split("\n"):
        fail("after the reload: %r" % ready)
    ok("SIGHUP: RELOADING=1, then READY=1 with the new set")
    if os.path.exists(sock["b"]):
        fail("the removed device's socket is still there")
    ok("the removed device stopped (its socket is gone)")
    if not os.path.exists(sock["c"]) or not counters(sock["c"]).get("ok"):
        fail("the added device has no working socket")
    ok("the added device runs")
    if os.stat(sock["a"]).st_ino != inode_a:
        fail("the unchanged device's socket was made anew")
    spray(addr["a"], port["a"], 3)
    wait_until(lambda: port_rx(keep.ask({"cmd": "counters"})) >= before + 3, 5,
               "the kept device's counter to go on from %d" % before)
    ok("the unchanged device ran on: same socket inode, the connection opened before still "
       "answers, its counter went on from %d" % before)

    # A changed spec restarts that device (new socket); the kept one is still untouched.
    old_c = Control(sock["c"])  # to the device that is about to restart
    if not old_c.ask({"cmd": "info"}).get("ok"):
        fail("info of %s" % dev["c"])
    port["c2"] = free_udp_port(addr["c"])
    with open(cfg, "w") as f:
        f.write(device_table(dev["a"], addr["a"], port["a"]) + device_table(dev["c"], addr["c"], port["c2"]))
    notify.drain()
    p.send_signal(signal.SIGHUP)
    notify.wait_for("READY=1", 10)
    try:
        gone = not old_c.ask({"cmd": "info"}).get("ok")
    except OSError:  # ConnectionError, a reset, or a timeout
        gone = True
    old_c.close()
    if not gone:
        fail("a connection to the changed device's old socket still answers")
    info = Control(sock["c"]).ask({"cmd": "info"})
    if "udp_port=%d" % port["c2"] not in info.get("spec", ""):
        fail("the changed device does not run its new spec: %r" % info.get("spec"))
    if os.stat(sock["a"]).st_ino != inode_a or not keep.ask({"cmd": "info"}).get("ok"):
        fail("restarting another device touched the kept one")
    ok("a changed device restarts with its new spec; the kept one stays")

    # A changed device that cannot start (its new address is on no interface: the bind fails)
    # runs its old spec again.
    with open(cfg, "w") as f:
        f.write(device_table(dev["a"], addr["a"], port["a"]) + device_table(dev["c"], "198.18.255.1", port["c2"]))
    notify.drain()
    p.send_signal(signal.SIGHUP)
    notify.wait_for("READY=1", 10)
    wait_until(lambda: "reload: %s did not start" % dev["c"] in read(workdir, "serve.err"), 5,
               "the log line of the device that did not start")
    info = counters(sock["c"]) if os.path.exists(sock["c"]) else {}
    spec = Control(sock["c"]).ask({"cmd": "info"}).get("spec", "") if info.get("ok") else ""
    if "ip4=%s/8" % addr["c"] not in spec:
        fail("the device whose new spec failed does not run its old one: %r" % spec)
    ok("a changed device that cannot start runs its old spec again, with a log line")

    # Broken files are refused; everything keeps running.
    for i, (what, text) in enumerate([("a file that does not parse", "[[device]\nname = \n"),
                       ("a spec with an unknown field", device_table(dev["a"], addr["a"], port["a"])
                        + '[[device]]\nname = "x%s"\nport = "uring"\nbogus = 1\n' % tag)]):
        with open(cfg, "w") as f:
            f.write(text)
        notify.drain()
        p.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", 10)
        wait_until(lambda: read(workdir, "serve.err").count("refused") >= i + 1, 5, "the refusal in the log")
        if not (os.path.exists(sock["a"]) and os.path.exists(sock["c"])):
            fail("after %s a device is gone" % what)
        if os.stat(sock["a"]).st_ino != inode_a or not keep.ask({"cmd": "info"}).get("ok"):
            fail("after %s the kept device was touched" % what)
        if not counters(sock["c"]).get("ok"):
            fail("after %s the other device does not answer" % what)
        ok("%s is refused with a log line; both devices keep running" % what)
    refusals = [l for l in read(workdir, "serve.err").splitlines() if "refused" in l]
    if len(refusals) != 2:
        fail("expected two refusal lines, got %r" % refusals)
    print("  " + refusals[0])
    keep.close()

    # SIGTERM: STOPPING=1, sockets removed, status 0.
    notify.drain()
    p.send_signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1", 10)
    rc = stop(p)
    if rc != 0:
        fail("serve exited %d on SIGTERM (stderr: %s)" % (rc, read(workdir, "serve.err")))
    left = [f for f in os.listdir(ctl) if f.endswith(".sock")] if os.path.isdir(ctl) else []
    if left:
        fail("control sockets left after SIGTERM: %r" % left)
    ok("SIGTERM: STOPPING=1, every control socket removed, exit status 0")
    return addr, port


def journal_scenario(workdir, addr):
    """Under $JOURNAL_STREAM naming stderr, lines are "<N>message"."""
    errpath = os.path.join(workdir, "journal.err")
    open(errpath, "w").close()
    st = os.stat(errpath)
    p = subprocess.Popen([BIN, "serve", "--dev", "name=j%d,port=uring,ip4=%s/8,udp_port=%d" %
                          (os.getpid(), addr, free_udp_port(addr)), "--control-dir",
                          os.path.join(workdir, "jctl"), "--duration", "0.5"],
                         stdout=subprocess.DEVNULL, stderr=open(errpath, "a"),
                         env=dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino)))
    PROCS.append(p)
    if stop(p) != 0:
        fail("serve --duration 0.5 under JOURNAL_STREAM exited non-zero")
    lines = read(workdir, "journal.err").splitlines()
    if not lines or not all(l[:3] in ("<2>", "<3>", "<4>", "<6>", "<7>") for l in lines):
        fail("log lines without a syslog prefix under JOURNAL_STREAM: %r" % lines)
    if not any(l.startswith("<6>serving 1 device") for l in lines):
        fail("no '<6>serving ...' line (no timestamp before it): %r" % lines)
    ok("under $JOURNAL_STREAM: '<6>serving ...' and no timestamps (%d lines)" % len(lines))


def shipped_files_scenario(workdir, addr):
    """The example config builds; the unit passes systemd-analyze verify where that exists."""
    src = os.environ["SOFTRNIC_SOURCE_ROOT"]
    with open(os.path.join(src, "systemd", "example.toml")) as f:
        example = f.read()
    if 'ip4 = "127.0.0.1/8"\n' not in example:
        fail("example.toml no longer has its 127.0.0.1 device")
    path = os.path.join(workdir, "example.toml")
    with open(path, "w") as f:  # on this test's own address and port
        f.write(example.replace('ip4 = "127.0.0.1/8"\n', 'ip4 = "%s/8"\nudp_port = %d\n'
                                % (addr, free_udp_port(addr)), 1))
    r = subprocess.run([BIN, "devinfo", "--config", path, "--control-dir", os.path.join(workdir, "ex")],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "hca_id:\tsrn0" not in r.stdout:
        fail("example.toml does not build: %s" % r.stderr)
    ok("the example config builds its device")
    unit = os.path.join(os.environ["SOFTRNIC_BUILD_ROOT"], "systemd", "softrnic@.service")
    if shutil.which("systemd-analyze") is None:
        print("unit check: not run (no systemd-analyze)")
        return
    with open(unit) as f:
        text = f.read()
    exec_line = [l for l in text.splitlines() if l.startswith("ExecStart=")]
    if len(exec_line) != 1 or " serve --config " not in exec_line[0]:
        fail("the unit's ExecStart: %r" % exec_line)
    udir = os.path.join(workdir, "unit")
    os.makedirs(udir)
    installed = exec_line[0].split("=", 1)[1].split()[0]
    with open(os.path.join(udir, "softrnic@.service"), "w") as f:
        f.write(text.replace(installed, BIN))  # verify wants the binary to exist
    os.symlink("softrnic@.service", os.path.join(udir, "softrnic@lab.service"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", os.path.join(udir, "softrnic@lab.service")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "softrnic@" in r.stderr:
        fail("systemd-analyze verify: %s" % r.stderr)
    ok("systemd-analyze verify accepts softrnic@.service")


def systemd_scenario(workdir, addr):
    """The same start/stop under systemd-run when systemd is PID 1 and answers."""
    try:
        with open("/proc/1/comm") as f:
            if f.read().strip() != "systemd":
                print("systemd-run part: not run (PID 1 is not systemd)")
                return
    except OSError:
        return
    if shutil.which("systemd-run") is None or subprocess.run(
            ["systemctl", "is-system-running"], capture_output=True, timeout=10).returncode not in (0, 1):
        print("systemd-run part: not run (systemd does not answer)")
        return
    unit = "softrnic-test-%d" % os.getpid()
    ctl = "/run/%s" % unit
    cfg = os.path.join(workdir, "unit.toml")
    with open(cfg, "w") as f:
        f.write(device_table("u%d" % os.getpid(), addr, free_udp_port(addr)))
    try:
        r = subprocess.run(["systemd-run", "--unit=" + unit, "-p", "Type=notify", "-p",
                            "RuntimeDirectory=" + unit, "--", BIN, "serve", "--config", cfg,
                            "--control-dir", ctl], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail("systemd-run: %s" % r.stderr)
        # systemd-run returns once the start job is done: for Type=notify, after READY=1.
        if not os.path.exists(os.path.join(ctl, "u%d.sock" % os.getpid())):
            fail("Type=notify unit active before its control socket existed")
        ok("under systemd-run -p Type=notify: active only once the control socket exists")
        subprocess.run(["systemctl", "stop", unit], check=True, timeout=30)
        show = subprocess.run(["systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", unit],
                              capture_output=True, text=True, timeout=10).stdout
        if "Result=success" not in show or "ExecMainStatus=0" not in show:
            fail("systemctl stop: %s" % show)
        ok("systemctl stop: Result=success, status 0")
    finally:
        subprocess.run(["systemctl", "stop", unit], capture_output=True, timeout=30)
        subprocess.run(["systemctl", "reset-failed", unit], capture_output=True, timeout=30)


def main():
    workdir = tempfile.mkdtemp(prefix="softrnic-service.")
    try:
        tag = "%d" % (os.getpid() % 100000)
        addr, _ = main_scenario(workdir, tag)
        journal_scenario(workdir, addr["a"])
        shipped_files_scenario(workdir, addr["a"])
        systemd_scenario(workdir, addr["b"])
        print("service ok")
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()  # by PID: only what this test started
                p.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
