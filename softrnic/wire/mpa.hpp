// MPA Request and Reply frames (RFC 5044 s.7; RFC 6581 for Rev 2 and the IRD/ORD block):
// the first bytes of each direction of an iWARP connection, before the first FPDU.
//   Key (16) | flags (1): M C R Enhanced, bits 3..0 | Rev (1) | PD_Length (2) | private data
// Parsing takes untrusted bytes and never reads out of bounds; building writes to a caller buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "wire/iwarp_error.hpp"

namespace softrnic::wire {

inline constexpr std::size_t kMpaKeySize = 16;
inline constexpr std::size_t kMpaHeaderSize = 20;
inline constexpr std::size_t kMpaMaxPrivateData = 512;  // RFC 5044 s.7
inline constexpr std::size_t kMpaIrdOrdSize = 4;        // RFC 6581 IRD/ORD block
inline constexpr std::size_t kMpaMaxFrameSize = kMpaHeaderSize + kMpaMaxPrivateData;

enum class MpaKind : std::uint8_t { request, reply };

namespace mpa_flag {
inline constexpr std::uint8_t kMarkers = 0x80;   // sender wants markers on its receive direction
inline constexpr std::uint8_t kCrc = 0x40;       // CRC32c in every FPDU
inline constexpr std::uint8_t kReject = 0x20;    // Reply only: connection refused
inline constexpr std::uint8_t kEnhanced = 0x10;  // RFC 6581: private data starts with IRD/ORD
inline constexpr std::uint8_t kLowBits = 0x0f;   // reserved; siw uses bit 3 for "GSO allowed"
}  // namespace mpa_flag

// RFC 6581: the two 16-bit words at the start of the private data (Rev 2 + Enhanced).
struct MpaIrdOrd {
  bool p2p = false;                   // IRD word bit 15: peer-to-peer (RTR) mode
  bool rtr_zero_length_send = false;  // IRD word bit 14: RTR as a zero-length Send
  std::uint16_t ird = 0;              // 14 bits: inbound RDMA Read queue depth
  bool rtr_write = false;             // ORD word bit 15: RTR as a zero-length RDMA Write
  bool rtr_read = false;              // ORD word bit 14: RTR as a zero-length RDMA Read
  std::uint16_t ord = 0;              // 14 bits: outbound RDMA Read queue depth

  static constexpr std::uint16_t kMaxDepth = 0x3fff;
  constexpr bool operator==(const MpaIrdOrd&) const = default;
};

// A Request or Reply. Parsing fills every field from the wire; building writes them verbatim
// (PD_Length is computed), so a parsed frame rebuilds to the same bytes.
struct MpaFrame {
  MpaKind kind = MpaKind::request;
  bool markers = false;
  bool crc = false;
  bool reject = false;
  bool enhanced = true;
  std::uint8_t low_flags = 0;  // flag bits 3..0 as sent
  std::uint8_t revision = 2;
  std::optional<MpaIrdOrd> ird_ord = MpaIrdOrd{};  // present exactly when Rev 2 + Enhanced
  ConstByteSpan private_data;  // the ULP's private data, after any IRD/ORD block

  constexpr bool has_ird_ord_block() const { return revision == 2 && enhanced; }
  // PD_Length as on the wire: the IRD/ORD block counts (RFC 6581).
  constexpr std::size_t private_data_length() const {
    return (has_ird_ord_block() ? kMpaIrdOrdSize : 0) + private_data.size();
  }
  constexpr std::size_t wire_size() const { return kMpaHeaderSize + private_data_length(); }
};

// How many bytes the frame starting at b[0] occupies: kMpaHeaderSize while b holds fewer than
// that, header + PD_Length once it holds the header. A value above b.size() means "need more
// bytes", which is not an error. Errors come from the header alone: key, revision, PD_Length.
[[nodiscard]] std::expected<std::size_t, IwarpError> mpa_frame_size(ConstByteSpan b);

// Parses the frame at the start of b; b must hold all of it (mpa_frame_size), later bytes are
// not looked at. private_data points into b.
[[nodiscard]] std::expected<MpaFrame, IwarpError> parse_mpa_frame(ConstByteSpan b);

// Writes f to out[0, f.wire_size()). Fails on more than 512 bytes of private data, an IRD/ORD
// block given when the frame has none (or missing when it has one), depths over 14 bits, or a
// buffer too small.
[[nodiscard]] Result<std::size_t> build_mpa_frame(const MpaFrame& f, ByteSpan out);

}  // namespace softrnic::wire
