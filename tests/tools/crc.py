"""The two CRCs of the RDMA wires, written from their definitions (standard library only).

Both are reflected 32-bit CRCs with initial value and final XOR 0xFFFFFFFF:
  crc32   IEEE 802.3 polynomial 0x04C11DB7 (reflected 0xEDB88320): the RoCE ICRC (IBTA 1.4 7.8.1,
          RoCEv2 Annex A17.3.3)
  crc32c  Castagnoli polynomial 0x1EDC6F41 (reflected 0x82F63B78): the MPA CRC (RFC 5044 6,
          computed as in RFC 3720 B.4)
The tables are derived from the polynomials here; nothing is taken from zlib, which the self-test
uses only as a second opinion on crc32.
"""
import struct


def _reflect(value, width):
    out = 0
    for _ in range(width):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def _table(poly):
    rpoly = _reflect(poly, 32)
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ rpoly if c & 1 else c >> 1
        table.append(c)
    return table


def _slicing_tables(poly):
    """Slicing-by-8 (eight bytes per step): table k gives the CRC contribution of a byte followed
    by k zero bytes; table 0 is the plain one."""
    tables = [_table(poly)]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[n] >> 8) ^ tables[0][prev[n] & 0xFF] for n in range(256)])
    return tables


_CRC32 = _slicing_tables(0x04C11DB7)
_CRC32C = _slicing_tables(0x1EDC6F41)
_WORDS = struct.Struct("<II")


def _bytewise(table, data, crc):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _run(tables, data, crc):
    t0, t1, t2, t3, t4, t5, t6, t7 = tables
    whole = len(data) & ~7
    c = crc ^ 0xFFFFFFFF
    for lo, hi in _WORDS.iter_unpack(memoryview(data)[:whole]):
        lo ^= c
        c = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24] ^
             t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    return _bytewise(t0, memoryview(data)[whole:], c ^ 0xFFFFFFFF)


def crc32(data, crc=0):
    """CRC-32 of data; pass a previous result as crc to continue over more bytes."""
    return _run(_CRC32, data, crc)


def crc32c(data, crc=0):
    """CRC-32C of data; pass a previous result as crc to continue over more bytes."""
    return _run(_CRC32C, data, crc)


def selftest():
    import random
    import zlib
    check = b"123456789"  # the catalogue's check input
    assert crc32(check) == 0xCBF43926, hex(crc32(check))
    assert crc32c(check) == 0xE3069283, hex(crc32c(check))
    # RFC 3720 B.4: the CRC32c bytes as sent (least significant first) for four 32-byte blocks.
    for data, sent in ((bytes(32), "aa36918a"), (b"\xff" * 32, "43aba862"),
                       (bytes(range(32)), "4e79dd46"), (bytes(range(31, -1, -1)), "5cdb3f11")):
        got = crc32c(data).to_bytes(4, "little").hex()
        assert got == sent, "crc32c of %s...: %s, RFC 3720 says %s" % (data[:4].hex(), got, sent)
    rng = random.Random(5044)
    for n in (0, 1, 3, 7, 8, 9, 64, 1500):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert crc32(data) == zlib.crc32(data), n
        assert crc32(data[n // 2:], crc32(data[:n // 2])) == crc32(data), n  # continuation
        assert crc32c(data[n // 2:], crc32c(data[:n // 2])) == crc32c(data), n
        assert crc32c(data) == _bytewise(_CRC32C[0], data, 0), n  # eight at a time = one at a time
    return "crc32 and crc32c: check values, RFC 3720 B.4 vectors, zlib agreement"
