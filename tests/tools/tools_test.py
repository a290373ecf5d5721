#!/usr/bin/env python3
"""The checkers of this folder and the golden captures they are proved on.

  tools_test.py DATA_DIR      (DATA_DIR: tests/data)

1. The self-tests of icrc_check.py and mpa_check.py (CRC32 and CRC32c known answers).
2. Every capture listed in DATA_DIR/pcaps/README.md is there, with the frame count and SHA-256
   the README gives (the data is never edited).
3. The checkers accept every golden capture: each frame of a roce_* file has a good ICRC, each
   FPDU of an iwarp_* file is well framed with the right CRC field (14 good CRC32c values in
   iwarp_rping_crc.pcap).
4. pcap_verify.sh (tshark plus the two checkers) passes one golden capture of each kind.
5. And they fail when they must: one flipped ICRC byte, one flipped MPA CRC byte, a file that is
   not a capture.
Prints what failed and exits 1; exit 0 when everything held.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcapio  # noqa: E402

VERIFIED = ["roce_cm_rping.pcap", "roce_rc_send_ipv6.pcap", "iwarp_rping_crc.pcap", "iwarp_send.pcap"]
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL: " + what)
    return condition


def run(*args):
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def listed(readme):
    """{name: (frames, sha256)} from the '## name.pcap' sections of the README."""
    out, name = {}, None
    with open(readme) as f:
        for line in f:
            m = re.match(r"## (\S+\.pcap)\s*$", line)
            if m:
                name = m.group(1)
                out[name] = [None, None]
                continue
            m = re.match(r"- frames: (\d+)", line)
            if m and name:
                out[name][0] = int(m.group(1))
            m = re.search(r"sha256: ([0-9a-f]{64})", line)
            if m and name:
                out[name][1] = m.group(1)
    return out


def flip_last_byte_of_frame(src, dst, number):
    """Copies a classic little-endian pcap, flipping the last byte of frame `number`."""
    data = bytearray(open(src, "rb").read())
    off, n = 24, 0
    while off < len(data):
        n += 1
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        if n == number:
            data[off + 16 + incl - 1] ^= 0x5A
        off += 16 + incl
    open(dst, "wb").write(data)


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    pcaps = os.path.join(argv[0], "pcaps")
    icrc = [sys.executable, os.path.join(HERE, "icrc_check.py")]
    mpa = [sys.executable, os.path.join(HERE, "mpa_check.py")]
    verify = ["sh", os.path.join(HERE, "pcap_verify.sh")]

    for tool in (icrc, mpa):
        rc, out = run(*tool, "--selftest")
        expect(rc == 0, "%s --selftest: %s" % (os.path.basename(tool[1]), out.strip()))

    captures = listed(os.path.join(pcaps, "README.md")) if os.path.isdir(pcaps) else {}
    if not expect(len(captures) >= 12, "%s/README.md lists %d captures, want 12 or more" % (
            pcaps, len(captures))):
        return 1
    for name, (frames, sha) in sorted(captures.items()):
        path = os.path.join(pcaps, name)
        if not expect(os.path.isfile(path), "%s is listed but missing" % path):
            continue
        expect(hashlib.sha256(open(path, "rb").read()).hexdigest() == sha,
               "%s: SHA-256 is not the one in README.md (the capture was changed)" % name)
        expect(sum(1 for _ in pcapio.read_frames(path)) == frames,
               "%s: frame count is not the %s in README.md" % (name, frames))
        if name.startswith("roce_"):
            rc, out = run(*icrc, path)
            rows = [r for r in out.splitlines() if r[:1].isdigit()]
            expect(rc == 0 and len(rows) == frames and all(r.endswith("\tok") for r in rows),
                   "icrc_check.py %s: exit %d, %d of %s frames ok\n%s" % (
                       name, rc, sum(r.endswith("\tok") for r in rows), frames, out))
        if name.startswith("iwarp_"):
            rc, out = run(*mpa, path)
            want = "\tok" if "crc" in name else "\toff"
            rows = [r for r in out.splitlines() if r[:1].isdigit()]
            expect(rc == 0 and rows and all(r.endswith(want) for r in rows),
                   "mpa_check.py %s: exit %d\n%s" % (name, rc, out))
            if name == "iwarp_rping_crc.pcap":
                expect(len(rows) == 14, "iwarp_rping_crc.pcap: %d FPDUs, want 14" % len(rows))

    if not expect(shutil.which("tshark") is not None,
                  "tshark is not installed (Debian package tshark): pcap_verify.sh cannot run"):
        return 1
    # tshark takes a while per run: one capture of each kind (RoCEv2 over IPv4 with CM MADs,
    # RoCEv2 over IPv6, iWARP with the CRC on, iWARP over two connections).
    for name in VERIFIED:
        rc, out = run(*verify, os.path.join(pcaps, name))
        expect(rc == 0 and out.rstrip().endswith("PASS " + os.path.join(pcaps, name)),
               "pcap_verify.sh %s: exit %d\n%s" % (name, rc, out))

    with tempfile.TemporaryDirectory(prefix="softrnic-tools-") as tmp:
        # One flipped byte at the end of one frame: the frame's own checker names that frame
        # alone, and pcap_verify.sh fails naming the check (and tshark's verdict where it has one).
        for capture, frame, checker, what, verdict in [
                ("roce_rc_write.pcap", 3, icrc, "ICRC", "FAIL: ICRC"),
                ("iwarp_rping_crc.pcap", 13, mpa, "MPA CRC", "tshark finds 1 bad MPA CRC")]:
            damaged = os.path.join(tmp, "bad_" + capture)
            flip_last_byte_of_frame(os.path.join(pcaps, capture), damaged, frame)
            rc, out = run(*checker, damaged)
            bad = [r.split("\t")[0] for r in out.splitlines() if "\tbad" in r]
            expect(rc == 1 and bad == [str(frame)], "%s on a flipped %s: exit %d, bad %s" % (os.path.basename(checker[-1]), what, rc, bad))
            rc, out = run(*verify, damaged)
            expect(rc == 1 and verdict in out and "FAIL: " + what.split()[0] in out,
                   "pcap_verify.sh on a flipped %s: exit %d\n%s" % (what, rc, out))

        text = os.path.join(tmp, "notes.txt")
        open(text, "w").write("not a capture\n")
        for tool in (icrc, mpa):
            rc, out = run(*tool, text)
            expect(rc == 2, "%s on a text file: exit %d, want 2" % (os.path.basename(tool[1]), rc))
        rc, out = run(*verify, text)
        expect(rc != 0, "pcap_verify.sh on a text file: exit %d" % rc)

    print("%s: %d golden captures checked" % ("FAILED" if failures else "OK", len(captures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
