// The one RDMAP opcode table (RFC 5040 header formats; RFC 7306 for 0x8..0xB). Every
// question about an opcode -- tagged or untagged, which queue, which RDMAP header follows the DDP
// header, does it carry payload -- is answered here and nowhere else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace softrnic::wire {

enum class RdmapOp : std::uint8_t {
  rdma_write = 0x0,
  rdma_read_request = 0x1,
  rdma_read_response = 0x2,
  send = 0x3,
  send_with_invalidate = 0x4,
  send_with_solicited_event = 0x5,
  send_with_solicited_event_and_invalidate = 0x6,
  terminate = 0x7,
};

// Untagged DDP queues (RFC 5040: Send, RDMA Read Request and Terminate each have one).
namespace ddp_queue {
inline constexpr std::uint32_t kSend = 0;
inline constexpr std::uint32_t kReadRequest = 1;
inline constexpr std::uint32_t kTerminate = 2;
}  // namespace ddp_queue

inline constexpr std::size_t kRdmaReadRequestHeaderSize = 28;  // RFC 5040 RDMA Read Request header
inline constexpr std::size_t kTerminateControlSize = 4;        // RFC 5040 Terminate control word

struct RdmapOpcodeInfo {
  std::string_view name{};  // e.g. "SEND_WITH_INVALIDATE"
  bool supported = false;   // false: not an opcode this stack speaks (see rfc7306)
  bool rfc7306 = false;     // immediate data / atomics: defined, deliberately not supported
  bool tagged = false;      // DDP model of every segment of the message
  std::uint32_t queue = 0;  // untagged: the QN it must carry
  // RDMAP header after the DDP header; for a Terminate the fixed part (its options follow).
  std::uint8_t rdmap_header = 0;
  bool payload = false;
  bool invalidate = false;  // RsvdULP carries the STag to invalidate
  bool solicited = false;
};

// clang-format off
inline constexpr std::array<RdmapOpcodeInfo, 16> kRdmapOpcodeTable = {{
  {"RDMA_WRITE", true, false, true, 0, 0, true, false, false},
  {"RDMA_READ_REQUEST", true, false, false, ddp_queue::kReadRequest, kRdmaReadRequestHeaderSize, false, false, false},
  {"RDMA_READ_RESPONSE", true, false, true, 0, 0, true, false, false},
  {"SEND", true, false, false, ddp_queue::kSend, 0, true, false, false},
  {"SEND_WITH_INVALIDATE", true, false, false, ddp_queue::kSend, 0, true, true, false},
  {"SEND_WITH_SOLICITED_EVENT", true, false, false, ddp_queue::kSend, 0, true, false, true},
  {"SEND_WITH_SOLICITED_EVENT_AND_INVALIDATE", true, false, false, ddp_queue::kSend, 0, true, true, true},
  {"TERMINATE", true, false, false, ddp_queue::kTerminate, kTerminateControlSize, false, false, false},
  {"IMMEDIATE_DATA", false, true, false, 0, 0, false, false, false},
  {"IMMEDIATE_DATA_WITH_SOLICITED_EVENT", false, true, false, 0, 0, false, false, false},
  {"ATOMIC_REQUEST", false, true, false, 0, 0, false, false, false},
  {"ATOMIC_RESPONSE", false, true, false, 0, 0, false, false, false},
  {}, {}, {}, {},
}};
// clang-format on

inline constexpr std::uint8_t kRdmapOpcodeMask = 0x0f;

constexpr const RdmapOpcodeInfo& rdmap_opcode_info(std::uint8_t opcode) {
  return kRdmapOpcodeTable[opcode & kRdmapOpcodeMask];
}
constexpr const RdmapOpcodeInfo& rdmap_opcode_info(RdmapOp op) {
  return rdmap_opcode_info(static_cast<std::uint8_t>(op));
}

}  // namespace softrnic::wire
