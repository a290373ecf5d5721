// DDP segment headers (RFC 5041) and the RDMAP headers behind them (RFC 5040): the ULPDU
// that an MPA FPDU carries. parse_ulpdu checks everything the wire alone can tell (versions,
// opcode, DDP model, queue number, lengths); placement checks (STag, MSN, MO) belong to the
// receiver.
//   byte 0: T L rsvd(4) DV(2)     byte 1: RV(2) rsvd(2) opcode(4)
//   tagged (14):   ctrl(2) | STag(4) | TO(8)
//   untagged (18): ctrl(2) | RsvdULP(4) | QN(4) | MSN(4) | MO(4)
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>

#include "base/bytes.hpp"
#include "base/ids.hpp"
#include "base/result.hpp"
#include "base/seqnum.hpp"
#include "wire/iwarp_error.hpp"
#include "wire/rdmap_opcode.hpp"

namespace softrnic::wire {

inline constexpr std::size_t kDdpTaggedHeaderSize = 14;
inline constexpr std::size_t kDdpUntaggedHeaderSize = 18;
inline constexpr std::uint8_t kDdpVersion = 1;    // RFC 5041 DDP control field
inline constexpr std::uint8_t kRdmapVersion = 1;  // RFC 5040 RDMAP control field
inline constexpr std::size_t kDdpSegmentLengthSize = 2;

constexpr std::size_t ddp_header_size(bool tagged) {
  return tagged ? kDdpTaggedHeaderSize : kDdpUntaggedHeaderSize;
}

// Bytes 0 and 1. Reserved bits are kept so that captures re-emit byte for byte.
struct DdpControl {
  bool tagged = false;
  bool last = true;
  std::uint8_t ddp_reserved = 0;  // byte 0 bits 5..2
  std::uint8_t dv = kDdpVersion;
  std::uint8_t rv = kRdmapVersion;
  std::uint8_t rdmap_reserved = 0;  // byte 1 bits 5..4
  std::uint8_t opcode = 0;          // RdmapOp, 4 bits

  constexpr const RdmapOpcodeInfo& op() const { return rdmap_opcode_info(opcode); }
};

struct DdpTagged {
  Stag stag{};
  std::uint64_t to = 0;  // tagged offset
};

struct DdpUntagged {
  std::uint32_t rsvd_ulp = 0;  // RDMAP: the STag to invalidate for Send with Invalidate, else 0
  std::uint32_t qn = 0;
  DdpMsn msn{1};  // RFC 5041: starts at 1 on each queue
  std::uint32_t mo = 0;

  constexpr Stag invalidate_stag() const { return Stag{rsvd_ulp}; }
};

// The whole DDP header; `tagged` or `untagged` is meaningful as ctrl.tagged says.
struct DdpHeader {
  DdpControl ctrl;
  DdpTagged tagged;
  DdpUntagged untagged;

  constexpr std::size_t size() const { return ddp_header_size(ctrl.tagged); }
};

// RFC 5040 RDMA Read Request header: 28 bytes after the untagged DDP header (QN 1).
struct RdmaReadRequest {
  Stag sink_stag{};
  std::uint64_t sink_to = 0;
  std::uint32_t size = 0;  // RDMA Read message size
  Stag source_stag{};
  std::uint64_t source_to = 0;
};

// RFC 5040 Terminate header. The options after the control word (DDP Segment Length + the
// terminated DDP header when D, the terminated RDMAP header when R) are kept as bytes: a Terminate
// re-emits as it came, and the decoded pieces below point into them.
struct Terminate {
  std::uint8_t layer = 0;  // 4 bits, terminate_layer
  std::uint8_t etype = 0;  // 4 bits
  std::uint8_t code = 0;
  bool m = false;              // DDP Segment Length is valid
  bool d = false;              // terminated DDP header included
  bool r = false;              // terminated RDMAP header included
  std::uint16_t reserved = 0;  // 13 bits
  ConstByteSpan options;       // everything after the control word

  // Filled by parse_ulpdu (empty when the bit is clear); builders only read `options`.
  std::uint16_t ddp_segment_length = 0;
  ConstByteSpan terminated_ddp_header;    // 14 or 18 bytes, as its own T bit says
  ConstByteSpan terminated_rdmap_header;  // 28 bytes: a Read Request header
};

namespace terminate_layer {
inline constexpr std::uint8_t kRdmap = 0;
inline constexpr std::uint8_t kDdp = 1;
inline constexpr std::uint8_t kLlp = 2;  // MPA / TCP
}  // namespace terminate_layer

// A ULPDU as parsed: spans point into the caller's bytes.
struct ParsedUlpdu {
  ConstByteSpan bytes;  // the whole ULPDU
  DdpHeader ddp;
  RdmaReadRequest read_request;  // opcode rdma_read_request
  Terminate terminate;           // opcode terminate
  ConstByteSpan payload;         // after the DDP and RDMAP headers

  constexpr const RdmapOpcodeInfo& op() const { return ddp.ctrl.op(); }
  constexpr RdmapOp opcode() const { return static_cast<RdmapOp>(ddp.ctrl.opcode); }
};

[[nodiscard]] std::expected<ParsedUlpdu, IwarpError> parse_ulpdu(ConstByteSpan ulpdu);

// What build_ulpdu writes. Every field goes out verbatim (versions, reserved bits, QN, the T bit),
// so a builder can also make the malformed ULPDUs tests need; the layout follows ddp.ctrl.tagged
// and the opcode's table entry.
struct UlpduSpec {
  DdpHeader ddp;
  RdmaReadRequest read_request;  // written for rdma_read_request
  Terminate terminate;           // control word and options written for terminate
  ConstByteSpan payload;
};

// Size of the ULPDU the spec describes (the opcode must be a supported one).
std::size_t ulpdu_size(const UlpduSpec& s);

// Writes the ULPDU to out[0, ulpdu_size(s)). Fails for an opcode outside 0x0..0x7, payload on an
// opcode that carries none, a ULPDU over 65535 bytes (MPA's ULPDU_LENGTH) or a small buffer.
[[nodiscard]] Result<std::size_t> build_ulpdu(const UlpduSpec& s, ByteSpan out);

// Parsed ULPDU -> the spec that rebuilds it byte for byte; spans point into p.bytes.
UlpduSpec ulpdu_spec_of(const ParsedUlpdu& p);

}  // namespace softrnic::wire
