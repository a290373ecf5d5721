// The two CRCs of the wire: the RoCEv2 invariant CRC (CRC-32/IEEE over masked headers, IBA A17.4.4)
// and CRC32c (Castagnoli, RFC 3720) for MPA FPDUs. Both run on Intel ISA-L's folding kernels and
// can continue across several buffers (masked pseudo-header, payload, mbuf segments).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bytes.hpp"

namespace softrnic::wire {

// CRC-32 as in zlib/Ethernet (reflected 0xEDB88320, init and final XOR ~0), continuable:
// crc32_ieee(crc32_ieee(0, a), b) == crc32_ieee(0, a ++ b).
std::uint32_t crc32_ieee(std::uint32_t prev, ConstByteSpan data);

// CRC32c (RFC 3720), continuable the same way: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b).
std::uint32_t crc32c(std::uint32_t prev, ConstByteSpan data);

inline constexpr std::size_t kIcrcSize = 4;

// ICRC of a RoCEv2 packet. ip_header is the 20-byte IPv4 (no options) or 40-byte IPv6 header as
// sent; udp_to_pad runs from the UDP header to the last pad byte (the ICRC itself excluded).
// The variant fields (TOS/TC, flow label, TTL/hop limit, IP and UDP checksums, BTH byte 4) are
// replaced by ones; the IP header fields must be final (length, ID).
std::uint32_t icrc(ConstByteSpan ip_header, ConstByteSpan udp_to_pad);

// The engine's path, for packets it owns: l3_to_pad runs from the IP header (ip_header_size bytes)
// to the last pad byte. The variant fields are set to ones in place, the CRC runs in one call over
// the contiguous bytes (about a third faster than masking a copy), and the fields are restored.
std::uint32_t icrc_in_place(ByteSpan l3_to_pad, std::size_t ip_header_size);

// Same, with the packet's tail given as two pieces (headers in one buffer, payload in another).
std::uint32_t icrc(ConstByteSpan ip_header, ConstByteSpan udp_to_pad_part1,
                   ConstByteSpan part2);

}  // namespace softrnic::wire
