#!/usr/bin/env python3
"""Checks the MPA framing and CRCs of every iWARP connection in a capture, independently of
softrnic's code.

  mpa_check.py FILE    per MPA connection a line with what the Request and Reply negotiated, then
                       one tab-separated line per FPDU:
                         frame  ini>rsp|rsp>ini  offset  ulpdu_len=N  rdmap=OP  crc=VALUE  VERDICT
                       VERDICT: ok; off (CRC not negotiated, field zero); bad (...)
  mpa_check.py --selftest

Exit status: 0 every FPDU is well framed and its CRC field is right; 1 a bad CRC, a non-zero CRC
field without CRC, or a Reply missing; 2 the file is not a capture, holds no MPA connection, or
negotiated markers (not handled here).

How (RFC 5044): each TCP direction is put back in sequence order from its SYN (retransmitted
bytes once); a stream that starts with "MPA ID Req Frame" is an initiator, and the reverse
direction must start with "MPA ID Rep Frame". The CRC is on when either frame has the C flag.
FPDUs follow the Request and Reply (20 bytes + private data): ULPDU_Length (2 bytes), the ULPDU,
a pad to a multiple of 4, and the CRC32c of all that, least significant byte first, or zero when
the CRC is off. A stream that stops inside an FPDU (the capture ended, or missed a segment) is
reported and checked up to there.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crc  # noqa: E402
import pcapio  # noqa: E402

REQUEST_KEY = b"MPA ID Req Frame"
REPLY_KEY = b"MPA ID Rep Frame"
FLAG_MARKERS, FLAG_CRC, FLAG_REJECT = 0x80, 0x40, 0x20
SYN = 0x02
RDMAP_OPS = ["write", "read_request", "read_response", "send", "send_invalidate", "send_se",
             "send_se_invalidate", "terminate"]


def tcp_segments(path):
    """{(src, sport, dst, dport): [(seq, payload, syn, frame number)]}."""
    flows = {}
    for number, linktype, raw in pcapio.read_frames(path):
        frame = pcapio.ethernet(linktype, raw)
        if frame is None:
            continue
        et, off = pcapio.l3(frame)
        if et == 0x0800 and len(frame) >= off + 20 and frame[off + 9] == 6:
            end = off + struct.unpack_from("!H", frame, off + 2)[0]
            tcp = off + (frame[off] & 0x0F) * 4
            src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        elif et == 0x86DD and len(frame) >= off + 40 and frame[off + 6] == 6:
            end = off + 40 + struct.unpack_from("!H", frame, off + 4)[0]
            tcp = off + 40
            src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        else:
            continue
        if tcp + 20 > min(end, len(frame)):
            continue
        sport, dport, seq = struct.unpack_from("!HHI", frame, tcp)
        payload = frame[tcp + (frame[tcp + 12] >> 4) * 4:min(end, len(frame))]
        flows.setdefault((src, sport, dst, dport), []).append(
            (seq, payload, bool(frame[tcp + 13] & SYN), number))
    return flows


def stream_of(segments):
    """(bytes in sequence order, [(stream offset, frame number)], note) of one direction."""
    syns = [s for s in segments if s[2]]
    if syns:
        base = (syns[0][0] + 1) & 0xFFFFFFFF
    else:
        base = min((s[0] for s in segments if s[1]), default=0)
    data, starts, note = bytearray(), [], ""
    for seq, payload, _, number in sorted(segments, key=lambda s: ((s[0] - base) & 0xFFFFFFFF, s[3])):
        at = (seq - base) & 0xFFFFFFFF
        if not payload or at + len(payload) <= len(data):
            continue  # no data, or bytes already placed (a retransmission)
        if at > len(data):
            note = "missing bytes %d..%d (frame %d follows the gap)" % (len(data), at, number)
            break
        starts.append((len(data), number))
        data += payload[len(data) - at:]
    return bytes(data), starts, note


def frame_at(starts, offset):
    number = 0
    for start, n in starts:
        if start > offset:
            break
        number = n
    return number


def describe_ulpdu(ulpdu):
    if len(ulpdu) < 2:
        return "rdmap=? (%d-byte ULPDU)" % len(ulpdu)
    tagged, last = ulpdu[0] >> 7, (ulpdu[0] >> 6) & 1
    op = ulpdu[1] & 0x0F
    name = RDMAP_OPS[op] if op < len(RDMAP_OPS) else "op%d" % op
    return "rdmap=%s%s%s" % (name, "" if tagged else ",untagged", ",last" if last else "")


def walk(stream, start, crc_on, emit):
    """Checks the FPDUs of stream from byte start; emit(offset, text). Returns the number of bad
    FPDUs and a note when the stream ends inside one."""
    off, bad = start, 0
    while off < len(stream):
        if off + 2 > len(stream):
            return bad, "stream ends inside the ULPDU_Length at byte %d" % off
        ulpdu_len = struct.unpack_from("!H", stream, off)[0]
        body = 2 + ulpdu_len + (-(2 + ulpdu_len) % 4)
        if off + body + 4 > len(stream):
            return bad, "stream ends inside an FPDU at byte %d (ULPDU_Length %d, %d bytes left)" % (
                off, ulpdu_len, len(stream) - off)
        field = struct.unpack_from("<I", stream, off + body)[0]
        if crc_on:
            want = crc.crc32c(stream[off:off + body])
            verdict = "ok" if want == field else "bad (computed %08x)" % want
        else:
            verdict = "off" if field == 0 else "bad (CRC off, field not zero)"
        bad += verdict.startswith("bad")
        emit(off, "ulpdu_len=%d\t%s\tcrc=%08x\t%s" % (
            ulpdu_len, describe_ulpdu(stream[off + 2:off + 2 + ulpdu_len]), field, verdict))
        off += body + 4
    return bad, ""


def parse_mpa_frame(stream, key):
    if len(stream) < 20 or not stream.startswith(key):
        return None
    flags, rev, pd_len = struct.unpack_from("!BBH", stream, 16)
    return flags, rev, 20 + pd_len


def check(path, out=sys.stdout):
    flows = tcp_segments(path)
    streams = {k: stream_of(v) for k, v in flows.items()}
    connections, bad = 0, 0
    initiators = [k for k, s in streams.items() if s[0].startswith(REQUEST_KEY)]
    for k in sorted(initiators, key=lambda k: streams[k][1][0][1]):
        reverse = (k[2], k[3], k[0], k[1])
        ini, ini_starts, ini_note = streams[k]
        rsp, rsp_starts, rsp_note = streams.get(reverse, (b"", [], ""))
        req = parse_mpa_frame(ini, REQUEST_KEY)
        rep = parse_mpa_frame(rsp, REPLY_KEY)
        label = "port %d > %d" % (k[1], k[3])
        if req is None or rep is None:
            out.write("%s: MPA Request without a Reply\n" % label)
            bad += 1
            continue
        connections += 1
        crc_on = bool((req[0] | rep[0]) & FLAG_CRC)
        out.write("%s: Request rev %d flags 0x%02x, Reply rev %d flags 0x%02x: CRC %s\n" % (
            label, req[1], req[0], rep[1], rep[0], "on" if crc_on else "off"))
        if (req[0] | rep[0]) & FLAG_MARKERS:
            out.write("%s: markers negotiated; this checker does not handle them\n" % label)
            return 2
        if rep[0] & FLAG_REJECT:
            out.write("%s: the responder rejected the connection\n" % label)
            continue
        for direction, stream, starts, start, note in (
                ("ini>rsp", ini, ini_starts, req[2], ini_note),
                ("rsp>ini", rsp, rsp_starts, rep[2], rsp_note)):
            if len(stream) < start:
                out.write("%s %s: stream shorter than its MPA frame\n" % (label, direction))
                bad += 1
                continue
            n, end_note = walk(stream, start, crc_on, lambda off, text: out.write(
                "%d\t%s\t%d\t%s\n" % (frame_at(starts, off), direction, off, text)))
            bad += n
            for text in (note, end_note):
                if text:
                    out.write("%s %s: %s\n" % (label, direction, text))
    if not connections and not bad:
        out.write("no MPA connection (a TCP stream starting with %r) in %s\n" % (
            REQUEST_KEY.decode(), path))
        return 2
    return 1 if bad else 0


def _fpdu(ulpdu, crc_on):
    body = struct.pack("!H", len(ulpdu)) + ulpdu
    body += bytes(-len(body) % 4)
    return body + struct.pack("<I", crc.crc32c(body) if crc_on else 0)


def selftest():
    crc.selftest()
    send = bytes([0x41, 0x43]) + bytes(4) + struct.pack("!III", 0, 1, 0) + b"hello"
    write = bytes([0xC1, 0x40]) + struct.pack("!IQ", 0x1234, 0x1000) + bytes(8)
    lines = []
    emit = lambda off, text: lines.append(text)  # noqa: E731
    stream = _fpdu(send, True) + _fpdu(write, True)
    assert walk(stream, 0, True, emit) == (0, ""), lines
    assert lines[0].startswith("ulpdu_len=23\trdmap=send,untagged,last\t"), lines
    assert lines[1].split("\t")[1] == "rdmap=write,last", lines
    assert walk(stream, 0, False, emit)[0] == 2  # CRC fields not zero while the CRC is off
    assert walk(_fpdu(send, False), 0, False, emit) == (0, "")
    damaged = bytearray(stream)
    damaged[8] ^= 0x01
    assert walk(bytes(damaged), 0, True, emit)[0] == 1
    n, note = walk(stream[:-3], 0, True, emit)
    assert n == 0 and "ends inside an FPDU" in note, note
    return "mpa: FPDU framing, CRC32c on and off, damage and truncation found"


def main(argv):
    return pcapio.checker_main("mpa_check", __doc__, argv, check, selftest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
