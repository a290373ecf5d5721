#!/usr/bin/env python3
"""Checks the ICRC of every RoCEv2 frame of a capture, independently of softrnic's code.

  icrc_check.py FILE [--port N]   one line per RoCEv2 frame (UDP destination port N, default
                                  4791), tab-separated:
                                    frame  ipv4|ipv6  opcode  psn=N  icrc=WIRE  ok|bad (computed X)
  icrc_check.py --selftest

Exit status: 0 every ICRC is good; 1 at least one is bad; 2 the file is not a capture, or holds
no RoCEv2 frame.

The ICRC (IBTA 1.4 7.8.1 and RoCEv2 Annex A17.3.3) is the CRC-32 of: eight 0xFF bytes standing for
the LRH RoCEv2 does not have; the IP header with the fields routers may change set to ones (IPv4:
type of service, time to live, header checksum; IPv6: traffic class, flow label, hop limit); the
UDP header with its checksum set to ones; the BTH with byte 4 (FECN, BECN, reserved) set to ones;
then the rest of the packet up to the ICRC. It is sent least significant byte first.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crc  # noqa: E402
import pcapio  # noqa: E402

ROCE_V2_PORT = 4791
_LRH_STANDIN = b"\xff" * 8


def locate(frame, port=ROCE_V2_PORT):
    """(ip version, IP header offset, UDP header offset, end of the IP datagram) of a RoCEv2
    packet in an Ethernet frame, or None."""
    et, off = pcapio.l3(frame)
    if et == 0x0800 and len(frame) >= off + 20 and frame[off] >> 4 == 4:
        ihl = (frame[off] & 0x0F) * 4
        frag = struct.unpack_from("!H", frame, off + 6)[0] & 0x3FFF  # MF flag or offset
        if frame[off + 9] != 17 or frag or ihl < 20:
            return None
        version, udp, end = 4, off + ihl, off + struct.unpack_from("!H", frame, off + 2)[0]
    elif et == 0x86DD and len(frame) >= off + 40 and frame[off + 6] == 17:
        version, udp, end = 6, off + 40, off + 40 + struct.unpack_from("!H", frame, off + 4)[0]
    else:
        return None
    # A UDP header, a BTH (12) and an ICRC (4) at least.
    if end > len(frame) or end < udp + 8 + 12 + 4:
        return None
    if struct.unpack_from("!H", frame, udp + 2)[0] != port:
        return None
    return version, off, udp, end


def computed_icrc(frame, where):
    version, ip, udp, end = where
    masked = bytearray(frame[ip:udp + 8 + 12])  # IP header, UDP header, BTH
    if version == 4:
        masked[1] = 0xFF  # type of service
        masked[8] = 0xFF  # time to live
        masked[10:12] = b"\xff\xff"  # header checksum
    else:
        masked[0] |= 0x0F  # low nibble of the version byte: traffic class, high half
        masked[1:4] = b"\xff\xff\xff"  # traffic class, low half; flow label
        masked[7] = 0xFF  # hop limit
    u = udp - ip
    masked[u + 6:u + 8] = b"\xff\xff"  # UDP checksum
    masked[u + 8 + 4] = 0xFF  # BTH byte 4: FECN, BECN, reserved
    value = crc.crc32(_LRH_STANDIN)
    value = crc.crc32(bytes(masked), value)
    return crc.crc32(frame[udp + 8 + 12:end - 4], value)


def wire_icrc(frame, where):
    return struct.unpack_from("<I", frame, where[3] - 4)[0]


def check(path, port=ROCE_V2_PORT, out=sys.stdout):
    seen = bad = 0
    for number, linktype, raw in pcapio.read_frames(path):
        frame = pcapio.ethernet(linktype, raw)
        where = locate(frame, port) if frame else None
        if where is None:
            continue
        seen += 1
        bth = where[2] + 8
        opcode = frame[bth]
        psn = struct.unpack_from("!I", frame, bth + 8)[0] & 0xFFFFFF
        want, got = computed_icrc(frame, where), wire_icrc(frame, where)
        verdict = "ok" if want == got else "bad (computed %08x)" % want
        bad += want != got
        out.write("%d\tipv%d\t0x%02x\tpsn=%d\ticrc=%08x\t%s\n" % (number, where[0], opcode, psn, got,
                                                                  verdict))
    if not seen:
        out.write("no RoCEv2 frame (UDP destination port %d) in %s\n" % (port, path))
        return 2
    return 1 if bad else 0


# Frame 2 of tests/data/pcaps/roce_rc_send.pcap and of roce_rc_send_ipv6.pcap, as captured: RC
# ACKNOWLEDGEs sent by rdma_rxe over IPv4 and IPv6.
_RXE_FRAMES = (
    "525400520002525400520003080045000030cc1040004011e282c6120003c6120002c12112b7001c0000"
    "1100ffff0000001100715ae31f000001a6ee4e91",
    "52540052000252540052000386dd60000000001c1140fd005052000000000000000000000003fd0050520000"
    "00000000000000000002c16912b7001c00001100ffff0000001300ca1dde1f00000168ce1bc9",
)


def selftest():
    crc.selftest()
    for version, text in zip((4, 6), _RXE_FRAMES):
        frame = bytes.fromhex(text)
        where = locate(frame)
        assert where and where[0] == version, where
        want, got = computed_icrc(frame, where), wire_icrc(frame, where)
        assert want == got, "rxe IPv%d ACK: computed %08x, sent %08x" % (version, want, got)
        # Fields outside the ICRC's cover do not change it; one inside does.
        changed = bytearray(frame)
        if version == 4:
            changed[where[1] + 1] ^= 0xB8  # DSCP and ECN
            changed[where[1] + 8] -= 1  # time to live
        else:
            changed[where[1] + 1] ^= 0x5A  # traffic class and flow label
            changed[where[1] + 7] -= 1  # hop limit
        changed[where[2] + 6] ^= 0x12  # UDP checksum
        changed[where[2] + 8 + 4] ^= 0xC0  # FECN and BECN
        assert computed_icrc(bytes(changed), where) == got, version
        changed[where[2] + 8 + 7] ^= 0x01  # destination QP
        assert computed_icrc(bytes(changed), where) != got, version
    return "icrc: rxe frames (IPv4, IPv6) verify; masked fields ignored, covered fields counted"


def main(argv):
    port = ROCE_V2_PORT
    if "--port" in argv:
        i = argv.index("--port")
        port = int(argv[i + 1])
        del argv[i:i + 2]
    return pcapio.checker_main("icrc_check", __doc__, argv, lambda path: check(path, port), selftest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
