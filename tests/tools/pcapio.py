"""Reading captures for the checkers in this folder (standard library only).

read_frames(path) yields (number, linktype, bytes) for every packet record of a classic pcap
(either byte order, microsecond or nanosecond stamps) or pcapng file (Enhanced and Simple Packet
Blocks, several sections and interfaces). ethernet(linktype, frame) gives the frame as Ethernet
bytes: Ethernet as is, Linux cooked captures (SLL, SLL2: `tcpdump -i any`) with a made-up
Ethernet header carrying their protocol type, anything else None. l3(frame) walks 802.1Q/802.1ad
tags and returns (ethertype, offset of the network header).
"""
import struct
import sys

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",  # little-endian, us / ns
    b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">",  # big-endian, us / ns
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D


class CaptureError(Exception):
    pass


def _classic(data, order):
    if len(data) < 24:
        raise CaptureError("truncated pcap file header")
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
    off, number = 24, 0
    while off < len(data):
        if off + 16 > len(data):
            raise CaptureError("truncated record header at byte %d" % off)
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            raise CaptureError("record %d runs past the end of the file" % (number + 1))
        number += 1
        yield number, linktype, bytes(data[off + 16:off + 16 + incl])
        off += 16 + incl


def _pcapng(data):
    off, number, order, linktypes = 0, 0, "<", []
    while off < len(data):
        if off + 12 > len(data):
            raise CaptureError("truncated pcapng block at byte %d" % off)
        if struct.unpack_from("<I", data, off)[0] == _PCAPNG_SHB:  # same in either byte order
            order = "<" if struct.unpack_from("<I", data, off + 8)[0] == _PCAPNG_BOM else ">"
            linktypes = []
        btype, blen = struct.unpack_from(order + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise CaptureError("bad pcapng block length %d at byte %d" % (blen, off))
        body = data[off + 8:off + blen - 4]
        if btype == 1:  # Interface Description Block
            linktypes.append(struct.unpack_from(order + "H", body, 0)[0])
        elif btype == 6:  # Enhanced Packet Block
            iface, _, _, caplen = struct.unpack_from(order + "IIII", body, 0)
            if iface >= len(linktypes):
                raise CaptureError("packet on undeclared interface %d" % iface)
            number += 1
            yield number, linktypes[iface], bytes(body[20:20 + caplen])
        elif btype == 3:  # Simple Packet Block: interface 0, no captured length of its own
            if not linktypes:
                raise CaptureError("simple packet block before any interface")
            origlen = struct.unpack_from(order + "I", body, 0)[0]
            number += 1
            yield number, linktypes[0], bytes(body[4:4 + min(origlen, len(body) - 4)])
        off += blen


def read_frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] in _PCAP_MAGICS:
        return _classic(data, _PCAP_MAGICS[data[:4]])
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == _PCAPNG_SHB:
        return _pcapng(data)
    raise CaptureError("%s: not a pcap or pcapng capture" % path)


def ethernet(linktype, frame):
    if linktype == LINKTYPE_ETHERNET:
        return frame
    if linktype == LINKTYPE_LINUX_SLL and len(frame) >= 16:  # protocol type at bytes 14..15
        return bytes(12) + frame[14:]
    if linktype == LINKTYPE_LINUX_SLL2 and len(frame) >= 20:  # protocol type at bytes 0..1
        return bytes(12) + frame[0:2] + frame[20:]
    return None


def l3(frame):
    if len(frame) < 14:
        return None, len(frame)
    off, et = 14, struct.unpack_from("!H", frame, 12)[0]
    while et in (0x8100, 0x88A8, 0x9100) and len(frame) >= off + 4:
        et, off = struct.unpack_from("!H", frame, off + 2)[0], off + 4
    return et, off


def checker_main(name, usage, argv, check, selftest):
    """The checkers' command line: FILE (exit 0 clean, 1 a bad frame, 2 unreadable or usage) or
    --selftest."""
    if argv == ["--selftest"]:
        print(selftest())
        return 0
    if len(argv) != 1:
        sys.stderr.write(usage)
        return 2
    try:
        return check(argv[0])
    except (OSError, CaptureError) as e:
        sys.stderr.write("%s: %s\n" % (name, e))
        return 2
