#!/usr/bin/env python3
"""Writes the seed corpus of the parse_frame fuzz target (tests/fuzz/corpus/parse_frame/).

  seed_corpus.py [--pcaps DIR] [--out DIR]

Seeds, one file per input, named after where they come from:
  - every frame of every capture in DIR (default: the golden captures, tests/data/pcaps), as is:
    <capture>-<frame number>.frame;
  - for each RoCEv2 frame, its UDP payload in the parse_udp_payload layout of the fuzz target
    (byte 0 odd, 7 bytes of socket metadata, then BTH .. ICRC): <capture>-<frame number>.udp;
  - hand-made frames, each malformed in one named way, or valid in a way no capture shows
    (VLAN tag, CNP, UD over IPv6, ARP, ND): made-<what>.frame.
Identical inputs are written once. Reads classic pcap files (either byte order, us or ns).
Existing files in the output directory are kept, so inputs added by hand (crashes found once)
stay in the corpus.
"""
import argparse
import pathlib
import struct
import sys
import zlib

ROCE_PORT = 4791


def read_pcap(path):
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit(f"seed_corpus: {path} is not a classic pcap file")
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        yield data[off:off + incl]
        off += incl


def roce_layout(fr):
    """(ip_version, l3, l4, ip_end) of an untagged RoCEv2 frame, or None."""
    if len(fr) < 14:
        return None
    et = struct.unpack_from("!H", fr, 12)[0]
    if et == 0x0800 and len(fr) >= 34 and fr[23] == 17:
        l3, l4, end, ver = 14, 34, 14 + struct.unpack_from("!H", fr, 16)[0], 4
    elif et == 0x86DD and len(fr) >= 62 and fr[20] == 17:
        l3, l4, end, ver = 14, 54, 54 + struct.unpack_from("!H", fr, 18)[0], 6
    else:
        return None
    if len(fr) < l4 + 8 or struct.unpack_from("!H", fr, l4 + 2)[0] != ROCE_PORT:
        return None
    return ver, l3, l4, end


def icrc(fr):
    """The RoCEv2 ICRC of an untagged frame (IBA A17.4.4), as the 4 bytes of its trailer."""
    ver, l3, l4, end = roce_layout(fr)
    m = bytearray(fr[l3:l4 + 8 + 12])
    if ver == 4:
        m[1] = m[8] = 0xFF
        m[10:12] = b"\xff\xff"
    else:
        m[0] |= 0x0F
        m[1:4] = b"\xff\xff\xff"
        m[7] = 0xFF
    n = l4 - l3
    m[n + 6:n + 8] = b"\xff\xff"
    m[n + 8 + 4] = 0xFF
    c = zlib.crc32(bytes(m) + fr[l4 + 8 + 12:end - 4], zlib.crc32(b"\xff" * 8))
    return struct.pack("<I", c)


def fix_icrc(fr):
    fr = bytearray(fr)
    end = roce_layout(fr)[3]
    fr[end - 4:end] = icrc(fr)
    return bytes(fr)


def ones_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_header(total_len, proto, ihl_words=5, flags_frag=0x4000):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl_words, 0, total_len, 0x1234,
                              flags_frag, 64, proto, 0, bytes([198, 18, 0, 2]),
                              bytes([198, 18, 0, 3])))
    h += b"\0" * (4 * (ihl_words - 5))
    h[10:12] = struct.pack("!H", ones_checksum(bytes(h)))
    return bytes(h)


def ipv6_header(payload_len, next_header, hop_limit=64):
    src = bytes.fromhex("fd005052000000000000000000000002")
    dst = bytes.fromhex("fd005052000000000000000000000003")
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, next_header, hop_limit, src, dst)


MACS = bytes.fromhex("525400520003") + bytes.fromhex("525400520002")


def roce_frame(opcode, ext=b"", payload=b"", ip_version=4, pad=None, pad_len=None, tver=0):
    """An RoCEv2 frame with a valid ICRC. pad (the BTH pad count) defaults to what a sender would
    use; pad_len (how many pad bytes follow the payload) defaults to pad."""
    if pad is None:
        pad = (4 - len(payload) % 4) % 4
    if pad_len is None:
        pad_len = pad
    bth = struct.pack("!BBHI", opcode, (pad << 4) | tver, 0xFFFF, 0x11) + struct.pack("!I", 7)
    udp_len = 8 + len(bth) + len(ext) + len(payload) + pad_len + 4
    udp = struct.pack("!HHHH", 0xC000, ROCE_PORT, udp_len, 0)
    if ip_version == 4:
        l2l3 = MACS + b"\x08\x00" + ipv4_header(20 + udp_len, 17)
    else:
        l2l3 = MACS + b"\x86\xdd" + ipv6_header(udp_len, 17)
    fr = l2l3 + udp + bth + ext + payload + b"\0" * pad_len + b"\0" * 4
    return fix_icrc(fr)


def with_udp_checksum(fr):
    """The frame with its UDP checksum computed, as a sender does after the ICRC."""
    ver, l3, l4, end = roce_layout(fr)
    fr = bytearray(fr)
    fr[l4 + 6:l4 + 8] = b"\0\0"
    udp = bytes(fr[l4:end])
    if ver == 4:
        pseudo = fr[l3 + 12:l3 + 20] + struct.pack("!xBH", 17, len(udp))
    else:
        pseudo = fr[l3 + 8:l3 + 40] + struct.pack("!IxxxB", len(udp), 17)
    fr[l4 + 6:l4 + 8] = struct.pack("!H", ones_checksum(bytes(pseudo) + udp) or 0xFFFF)
    return bytes(fr)


def with_vlan(fr, tpid=0x8100, tci=0x2005):
    return fr[:12] + struct.pack("!HH", tpid, tci) + fr[12:]


def patch(fr, off, new):
    return fr[:off] + new + fr[off + len(new):]


def handmade():
    send = roce_frame(0x04, payload=bytes(range(64)))
    ack = roce_frame(0x11, ext=struct.pack("!I", 0x1F000001))
    write = roce_frame(0x0A, ext=struct.pack("!QII", 0x7F0000001000, 0x1234, 8), payload=b"w" * 8)
    arp = MACS + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MACS[6:],
                                           bytes([198, 18, 0, 2]), b"\0" * 6,
                                           bytes([198, 18, 0, 3]))
    target = bytes.fromhex("fd005052000000000000000000000003")
    ns_body = struct.pack("!BBHI16s", 135, 0, 0, 0, target) + b"\x01\x01" + MACS[6:]
    ip6 = ipv6_header(len(ns_body), 58, hop_limit=255)
    pseudo = ip6[8:40] + struct.pack("!IxxxB", len(ns_body), 58)
    ns_body = patch(ns_body, 2, struct.pack("!H", ones_checksum(pseudo + ns_body)))
    ns = MACS + b"\x86\xdd" + ip6 + ns_body
    tcp = struct.pack("!HHIIBBHHH", 40000, 18515, 1, 1, 5 << 4, 0x18, 0xFFFF, 0, 0)
    tcp_frame = MACS + b"\x08\x00" + ipv4_header(20 + len(tcp) + 4, 6) + tcp + b"data"

    made = {
        # Valid frames no capture shows.
        "vlan-send": with_vlan(send),
        "qinq-tpid-ack": with_vlan(ack, tpid=0x88A8),
        "cnp": roce_frame(0x81, ext=b"\0" * 16),
        "ud-send-ipv6": roce_frame(0x64, ext=struct.pack("!II", 0x11111111, 0x22), payload=b"u" * 5,
                                   ip_version=6),
        "send-ipv4-ethernet-padding": send + b"\0" * 6,
        "write-only-imm": roce_frame(0x0B, ext=struct.pack("!QIII", 0x1000, 0x55, 4, 0xABCDEF01),
                                     payload=b"imm!"),
        "compare-swap": roce_frame(0x13, ext=struct.pack("!QIQQ", 0x2000, 0x66, 1, 2)),
        "send-last-inv": roce_frame(0x16, ext=struct.pack("!I", 0x77), payload=b"x" * 3),
        "send-udp-checksum": with_udp_checksum(send),
        "send-ipv6-udp-checksum": with_udp_checksum(roce_frame(0x04, payload=b"s" * 7,
                                                                ip_version=6)),
        "uncanonical-pad": roce_frame(0x04, payload=b"abcd", pad=3),
        "arp-request": arp,
        "nd-solicitation": ns,
        "tcp-segment": tcp_frame,
        "udp-other-port": patch(send, 36, struct.pack("!H", 4792)),
        # Malformed, one way each (the DropReason the parser should name).
        "eth_truncated": send[:13],
        "vlan_truncated": with_vlan(send)[:16],
        "vlan_in_vlan": with_vlan(with_vlan(send)),
        "ipv4_truncated": send[:30],
        "ipv4_bad_version": patch(send, 14, b"\x65"),
        "ipv4_options": MACS + b"\x08\x00" + ipv4_header(len(send) - 14 + 4, 17, ihl_words=6)
                        + send[34:],
        "ipv4_bad_checksum": patch(send, 24, b"\x00\x01"),
        "ipv4_bad_length": MACS + b"\x08\x00" + ipv4_header(len(send) + 100, 17) + send[34:],
        "ipv4_fragment": MACS + b"\x08\x00" + ipv4_header(len(send) - 14, 17, flags_frag=0x2000)
                         + send[34:],
        "ipv6_truncated": roce_frame(0x11, ext=b"\0" * 4, ip_version=6)[:40],
        "ipv6_extension_header": patch(roce_frame(0x04, payload=b"z" * 8, ip_version=6), 20,
                                       b"\x00"),
        "ipv6_bad_length": patch(roce_frame(0x04, payload=b"z" * 8, ip_version=6), 18,
                                 b"\x04\x00"),
        "udp_bad_length": patch(send, 38, b"\x00\x20"),
        "udp_bad_checksum": patch(send, 40, b"\x12\x34"),
        "bth_truncated": MACS + b"\x08\x00" + ipv4_header(20 + 8 + 10, 17)
                         + struct.pack("!HHHH", 0xC000, ROCE_PORT, 18, 0) + b"\x04" + b"\0" * 9,
        "bad_tver": roce_frame(0x04, payload=b"t" * 4, tver=1),
        "bad_opcode": roce_frame(0x15),
        "ext_header_truncated": roce_frame(0x0A, ext=b"\0" * 8),
        "pad_exceeds_payload": roce_frame(0x04, payload=b"", pad=3, pad_len=2),
        "bad_icrc": patch(write, len(write) - 6, b"!"),
        "tcp_bad_offset": patch(tcp_frame, 46, b"\xf0"),
        "arp_unsupported": patch(arp, 18, b"\x08"),
        "arp_truncated": arp[:30],
        "icmpv6_truncated": MACS + b"\x86\xdd" + ipv6_header(2, 58, hop_limit=255) + b"\x87\x00",
        "nd_bad_checksum": patch(ns, 56, b"\x00\x00"),
    }
    return made


def udp_seed(fr):
    """The parse_udp_payload input for a RoCEv2 frame: metadata the socket would report."""
    ver, l3, l4, end = roce_layout(fr)
    if ver == 4:
        flags = 0 if struct.unpack_from("!H", fr, l3 + 6)[0] & 0x4000 else 2
        ip_id = fr[l3 + 4:l3 + 6]
        src_last, dst_last = fr[l3 + 15], fr[l3 + 19]
    else:
        flags, ip_id = 1, b"\0\0"
        src_last, dst_last = fr[l3 + 23], fr[l3 + 39]
    meta = bytes([0x01, flags]) + fr[l4:l4 + 2] + ip_id + bytes([src_last, dst_last])
    return meta + fr[l4 + 8:end]


def main():
    repo = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcaps", type=pathlib.Path, default=repo / "tests/data/pcaps")
    ap.add_argument("--out", type=pathlib.Path, default=repo / "tests/fuzz/corpus/parse_frame")
    args = ap.parse_args()

    seeds = {}
    for pcap in sorted(args.pcaps.glob("*.pcap")):
        for n, fr in enumerate(read_pcap(pcap), start=1):
            # Byte 0 odd selects the socket-payload layout; a group (broadcast) destination MAC
            # means nothing to the parser, so such frames are seeded as unicast.
            fr = bytes([fr[0] & 0xFE]) + fr[1:]
            seeds.setdefault(fr, f"{pcap.stem}-{n:03d}.frame")
            if roce_layout(fr):
                seeds.setdefault(udp_seed(fr), f"{pcap.stem}-{n:03d}.udp")
    for what, fr in handmade().items():
        seeds.setdefault(fr, f"made-{what}.frame")

    args.out.mkdir(parents=True, exist_ok=True)
    for data, name in seeds.items():
        (args.out / name).write_bytes(data)
    print(f"seed_corpus: {len(seeds)} inputs in {args.out}")


if __name__ == "__main__":
    main()
