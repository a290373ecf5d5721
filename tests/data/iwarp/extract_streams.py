#!/usr/bin/env python3
"""Extracts the TCP byte streams of iWARP captures into .bin files for tests/wire/iwarp_stream_test.cpp.

  extract_streams.py [CAPTURE...]     (default: the four iwarp_*.pcap golden captures in ../pcaps)

For every TCP connection of every capture given it writes, next to this script,
  <capture>-c<N>-ini.bin   initiator -> responder bytes (starts with the MPA Request)
  <capture>-c<N>-rsp.bin   responder -> initiator bytes (starts with the MPA Reply)
in sequence order (from SYN + 1; retransmitted bytes once), and streams.tsv with one line per file:
  file  start(request|reply)  crc(on|off)  fpdus  bytes
where crc is the Reply's C flag and fpdus the count found by the small decoder here, so the C++
parser is checked against an independent count. The rows of the files written are replaced and
the others kept: the iwarp_v2crc and iwarp_v1 streams come from a hand-made exchange (an MPA Rev 2
connection with CRC and a Rev 1 one without, every RDMAP opcode once) and stay as they are.
Standard library only.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = [os.path.join(HERE, "..", "pcaps", name) for name in
          ("iwarp_rping.pcap", "iwarp_rping_crc.pcap", "iwarp_send.pcap", "iwarp_write.pcap")]
MANIFEST = os.path.join(HERE, "streams.tsv")
HEADER = "# file\tstart\tcrc\tfpdus\tbytes  (written by extract_streams.py)\n"
KEY_REQ, KEY_REP = b"MPA ID Req Frame", b"MPA ID Rep Frame"


def read_pcap(path):
    """Yields (frame_number, frame bytes) of a classic pcap with Ethernet link type."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise SystemExit("%s: not a classic pcap" % path)
    linktype = struct.unpack_from(end + "I", data, 20)[0]
    if linktype != 1:
        raise SystemExit("%s: link type %d, want Ethernet" % (path, linktype))
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(end + "I", data, off + 8)[0]
        n += 1
        yield n, data[off + 16:off + 16 + incl]
        off += 16 + incl


def tcp_segments(path):
    """{(src, sport, dst, dport): [(seq, payload, flags, frame_no)]} of the IPv4/IPv6 TCP segments."""
    flows = {}
    for n, fr in read_pcap(path):
        off, et = 14, struct.unpack_from("!H", fr, 12)[0]
        while et in (0x8100, 0x88A8):
            et, off = struct.unpack_from("!H", fr, off + 2)[0], off + 4
        if et == 0x0800 and fr[off + 9] == 6:
            end = off + struct.unpack_from("!H", fr, off + 2)[0]
            t, src, dst = off + (fr[off] & 15) * 4, fr[off + 12:off + 16], fr[off + 16:off + 20]
        elif et == 0x86DD and fr[off + 6] == 6:
            end = off + 40 + struct.unpack_from("!H", fr, off + 4)[0]
            t, src, dst = off + 40, fr[off + 8:off + 24], fr[off + 24:off + 40]
        else:
            continue
        sport, dport, seq = struct.unpack_from("!HHI", fr, t)
        payload = fr[t + (fr[t + 12] >> 4) * 4:end]
        flows.setdefault((src, sport, dst, dport), []).append((seq, payload, fr[t + 13], n))
    return flows


def reassemble(segs):
    syn = [s for s in segs if s[2] & 0x02]
    if not syn:
        raise SystemExit("a TCP direction without SYN; captures must hold whole connections")
    base = (syn[0][0] + 1) & 0xFFFFFFFF
    out = bytearray()
    for seq, payload, _, n in sorted(segs, key=lambda s: ((s[0] - base) & 0xFFFFFFFF, s[3])):
        rel = (seq - base) & 0xFFFFFFFF
        if not payload or rel + len(payload) <= len(out):
            continue  # pure ACK, SYN/FIN or retransmission
        if rel > len(out):
            raise SystemExit("hole in TCP stream before frame %d" % n)
        out += payload[len(out) - rel:]
    return bytes(out), syn[0][3]


def mpa_frame_size(b):
    return 20 + struct.unpack_from("!H", b, 18)[0]


def count_fpdus(b, start):
    off, n = start, 0
    while off < len(b):
        ulpdu_len = struct.unpack_from("!H", b, off)[0]
        off += 2 + ulpdu_len + (-(2 + ulpdu_len) % 4) + 4
        n += 1
    if off != len(b):
        raise SystemExit("stream does not end on an FPDU boundary")
    return n


def extract(path, out_dir, manifest):
    base = os.path.splitext(os.path.basename(path))[0]
    flows = tcp_segments(path)
    conns = []
    for key, segs in flows.items():
        if any(s[2] & 0x12 == 0x02 for s in segs):  # this side sent the bare SYN: initiator
            rev = (key[2], key[3], key[0], key[1])
            ini, first = reassemble(segs)
            rsp, _ = reassemble(flows.get(rev, []))
            conns.append((first, ini, rsp))
    for i, (_, ini, rsp) in enumerate(sorted(conns)):
        if not ini.startswith(KEY_REQ) or not rsp.startswith(KEY_REP):
            raise SystemExit("%s connection %d: no MPA Request/Reply" % (base, i))
        crc = "on" if rsp[16] & 0x40 else "off"
        for tag, data, start in (("ini", ini, "request"), ("rsp", rsp, "reply")):
            name = "%s-c%d-%s.bin" % (base, i, tag)
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
            fpdus = count_fpdus(data, mpa_frame_size(data))
            manifest.append("%s\t%s\t%s\t%d\t%d" % (name, start, crc, fpdus, len(data)))


def main():
    captures = sys.argv[1:] or GOLDEN
    manifest = []
    for path in captures:
        extract(path, HERE, manifest)
    written = {row.split("\t")[0]: row for row in manifest}
    rows = []
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                name = line.split("\t")[0]
                rows.append(written.pop(name, line.rstrip("\n")))
    rows += [row for row in manifest if row.split("\t")[0] in written]
    with open(MANIFEST, "w") as f:
        f.write(HEADER)
        f.write("\n".join(rows) + "\n")
    print("wrote %d streams to %s (%d rows in streams.tsv)" % (len(manifest), HERE, len(rows)))


if __name__ == "__main__":
    main()
