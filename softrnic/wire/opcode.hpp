// The one opcode table (IBA 9.2.1 table 6, RoCEv2 annex A17.9.3 for the CNP). Every question about
// an opcode -- which headers follow the BTH, does it carry payload, where it sits in a message, who
// sends it -- is answered here and nowhere else.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace softrnic::wire {

enum class Transport : std::uint8_t { rc = 0, uc = 1, rd = 2, ud = 3, cnp = 4, xrc = 5 };

// Extended headers, in the order they follow the BTH (IBA 9.2).
enum Hdr : std::uint16_t {
  kRdeth = 1u << 0,
  kDeth = 1u << 1,
  kReth = 1u << 2,
  kAtomicEth = 1u << 3,
  kAeth = 1u << 4,
  kAtomicAckEth = 1u << 5,
  kImmDt = 1u << 6,
  kIeth = 1u << 7,
  kCnpPad = 1u << 8,  // the 16 reserved bytes of a CNP
};
inline constexpr std::size_t kHdrCount = 9;
inline constexpr std::array<std::uint8_t, kHdrCount> kHdrSize = {4, 8, 16, 28, 4, 8, 4, 4, 16};

enum class Dir : std::uint8_t { none, request, response };
enum class Pos : std::uint8_t { none, first, middle, last, only };
enum class Op : std::uint8_t {
  invalid,
  send,
  rdma_write,
  rdma_read_request,
  rdma_read_response,
  acknowledge,
  atomic_acknowledge,
  compare_swap,
  fetch_add,
  cnp,
};

struct OpcodeInfo {
  std::string_view name{};  // e.g. "RC_SEND_ONLY"; empty when the opcode is not one we speak
  Transport transport = Transport::rc;
  Op op = Op::invalid;
  std::uint16_t headers = 0;  // Hdr bits
  bool payload = false;
  Dir dir = Dir::none;
  Pos pos = Pos::none;
  bool immediate = false;
  bool invalidate = false;
  // Derived from `headers` when the table is built, so the data path never loops over bits.
  std::uint8_t ext_size = 0;                   // bytes of extended headers after the BTH
  std::array<std::uint8_t, kHdrCount> at{};    // offset of each present header after the BTH

  constexpr bool valid() const { return op != Op::invalid; }
  constexpr std::size_t offset_of(Hdr h) const { return at[static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(h)))]; }
  constexpr bool has(Hdr h) const { return (headers & h) != 0; }
  constexpr bool first_or_only() const { return pos == Pos::first || pos == Pos::only; }
  constexpr bool last_or_only() const { return pos == Pos::last || pos == Pos::only; }
};

// Bytes of extended headers after the BTH for a header mask.
constexpr std::size_t ext_headers_size(std::uint16_t mask) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kHdrCount; ++i)
    if (mask & (1u << i)) n += kHdrSize[i];
  return n;
}

// Offset of header h from the end of the BTH, given the mask of present headers.
constexpr std::size_t ext_header_offset(std::uint16_t mask, Hdr h) {
  return ext_headers_size(static_cast<std::uint16_t>(mask & (h - 1u)));
}

namespace detail {
struct OpRow {
  std::uint8_t op5;  // low 5 bits
  std::string_view suffix;
  Op op;
  std::uint16_t headers;
  bool payload;
  Dir dir;
  Pos pos;
  bool imm;
  bool inv;
  bool rc, uc, ud;
};
// clang-format off
inline constexpr OpRow kRows[] = {
  {0x00, "SEND_FIRST", Op::send, 0, true, Dir::request, Pos::first, false, false, true, true, false},
  {0x01, "SEND_MIDDLE", Op::send, 0, true, Dir::request, Pos::middle, false, false, true, true, false},
  {0x02, "SEND_LAST", Op::send, 0, true, Dir::request, Pos::last, false, false, true, true, false},
  {0x03, "SEND_LAST_WITH_IMMEDIATE", Op::send, kImmDt, true, Dir::request, Pos::last, true, false, true, true, false},
  {0x04, "SEND_ONLY", Op::send, 0, true, Dir::request, Pos::only, false, false, true, true, true},
  {0x05, "SEND_ONLY_WITH_IMMEDIATE", Op::send, kImmDt, true, Dir::request, Pos::only, true, false, true, true, true},
  {0x06, "RDMA_WRITE_FIRST", Op::rdma_write, kReth, true, Dir::request, Pos::first, false, false, true, true, false},
  {0x07, "RDMA_WRITE_MIDDLE", Op::rdma_write, 0, true, Dir::request, Pos::middle, false, false, true, true, false},
  {0x08, "RDMA_WRITE_LAST", Op::rdma_write, 0, true, Dir::request, Pos::last, false, false, true, true, false},
  {0x09, "RDMA_WRITE_LAST_WITH_IMMEDIATE", Op::rdma_write, kImmDt, true, Dir::request, Pos::last, true, false, true, true, false},
  {0x0a, "RDMA_WRITE_ONLY", Op::rdma_write, kReth, true, Dir::request, Pos::only, false, false, true, true, false},
  {0x0b, "RDMA_WRITE_ONLY_WITH_IMMEDIATE", Op::rdma_write, kReth | kImmDt, true, Dir::request, Pos::only, true, false, true, true, false},
  {0x0c, "RDMA_READ_REQUEST", Op::rdma_read_request, kReth, false, Dir::request, Pos::only, false, false, true, false, false},
  {0x0d, "RDMA_READ_RESPONSE_FIRST", Op::rdma_read_response, kAeth, true, Dir::response, Pos::first, false, false, true, false, false},
  {0x0e, "RDMA_READ_RESPONSE_MIDDLE", Op::rdma_read_response, 0, true, Dir::response, Pos::middle, false, false, true, false, false},
  {0x0f, "RDMA_READ_RESPONSE_LAST", Op::rdma_read_response, kAeth, true, Dir::response, Pos::last, false, false, true, false, false},
  {0x10, "RDMA_READ_RESPONSE_ONLY", Op::rdma_read_response, kAeth, true, Dir::response, Pos::only, false, false, true, false, false},
  {0x11, "ACKNOWLEDGE", Op::acknowledge, kAeth, false, Dir::response, Pos::only, false, false, true, false, false},
  {0x12, "ATOMIC_ACKNOWLEDGE", Op::atomic_acknowledge, kAeth | kAtomicAckEth, false, Dir::response, Pos::only, false, false, true, false, false},
  {0x13, "COMPARE_SWAP", Op::compare_swap, kAtomicEth, false, Dir::request, Pos::only, false, false, true, false, false},
  {0x14, "FETCH_ADD", Op::fetch_add, kAtomicEth, false, Dir::request, Pos::only, false, false, true, false, false},
  {0x16, "SEND_LAST_WITH_INVALIDATE", Op::send, kIeth, true, Dir::request, Pos::last, false, true, true, false, false},
  {0x17, "SEND_ONLY_WITH_INVALIDATE", Op::send, kIeth, true, Dir::request, Pos::only, false, true, true, false, false},
};
// clang-format on

constexpr std::array<OpcodeInfo, 256> make_table() {
  std::array<OpcodeInfo, 256> t{};
  for (const auto& r : kRows) {
    auto put = [&](Transport tr, bool allowed, std::uint16_t extra) {
      if (!allowed) return;
      const auto code = static_cast<std::size_t>((static_cast<unsigned>(tr) << 5) | r.op5);
      t[code] = OpcodeInfo{r.suffix,  tr,    r.op,  static_cast<std::uint16_t>(r.headers | extra),
                           r.payload, r.dir, r.pos, r.imm,
                           r.inv};
    };
    put(Transport::rc, r.rc, 0);
    put(Transport::uc, r.uc, 0);
    put(Transport::ud, r.ud, kDeth);  // UD carries a DETH in every packet
  }
  t[0x81] = OpcodeInfo{"CNP", Transport::cnp, Op::cnp, kCnpPad, false, Dir::none, Pos::none};
  for (auto& e : t) {
    e.ext_size = static_cast<std::uint8_t>(ext_headers_size(e.headers));
    for (std::size_t i = 0; i < kHdrCount; ++i)
      e.at[i] = static_cast<std::uint8_t>(ext_header_offset(e.headers, static_cast<Hdr>(1u << i)));
  }
  return t;
}
}  // namespace detail

inline constexpr std::array<OpcodeInfo, 256> kOpcodeTable = detail::make_table();

constexpr const OpcodeInfo& opcode_info(std::uint8_t opcode) { return kOpcodeTable[opcode]; }

constexpr std::string_view transport_prefix(Transport t) {
  switch (t) {
    case Transport::rc: return "RC_";
    case Transport::uc: return "UC_";
    case Transport::rd: return "RD_";
    case Transport::ud: return "UD_";
    case Transport::cnp: return "";
    case Transport::xrc: return "XRC_";
  }
  return "";
}

// Builds an opcode from transport and operation suffix (tests use it for opcodes we do not speak).
constexpr std::uint8_t make_opcode(Transport t, std::uint8_t op5) {
  return static_cast<std::uint8_t>((static_cast<unsigned>(t) << 5) | (op5 & 0x1f));
}

inline constexpr std::uint8_t kNoOpcode = 0xff;  // 0xff is not an opcode anybody speaks
inline constexpr std::uint8_t kCnpOpcode = 0x81;

namespace detail {
// [op][pos][immediate * 2 + invalidate] -> the low 5 bits, from the rows above. Immediate data and
// invalidation ride on a message's last or only packet; its first and middle packets are the plain
// ones whatever the message carries.
using Op5Table = std::array<std::array<std::array<std::uint8_t, 4>, 5>, 10>;
constexpr Op5Table make_op5_table() {
  Op5Table t{};
  for (auto& by_pos : t)
    for (auto& v : by_pos) v.fill(kNoOpcode);
  for (const auto& r : kRows) {
    auto& v = t[static_cast<std::size_t>(r.op)][static_cast<std::size_t>(r.pos)];
    if (r.pos == Pos::first || r.pos == Pos::middle) {
      v.fill(r.op5);
    } else {
      v[(r.imm ? 2u : 0u) + (r.inv ? 1u : 0u)] = r.op5;
    }
  }
  return t;
}
inline constexpr Op5Table kOp5For = make_op5_table();
}  // namespace detail

// The table read the other way: the opcode of operation `op`'s packet at `pos` in its message on
// transport `t`, with immediate data or an invalidate; kNoOpcode when there is none (UC has no
// READ, a READ request has no immediate, ...). Responses take Dir::response rows (ACKNOWLEDGE,
// READ RESPONSE ...), the CNP its own code.
constexpr std::uint8_t opcode_for(Transport t, Op op, Pos pos, bool imm = false, bool inv = false) {
  if (op == Op::cnp) return kCnpOpcode;
  if (op == Op::invalid) return kNoOpcode;
  const std::uint8_t op5 =
      detail::kOp5For[static_cast<std::size_t>(op)][static_cast<std::size_t>(pos)][(imm ? 2u : 0u) + (inv ? 1u : 0u)];
  if (op5 == kNoOpcode) return kNoOpcode;
  const std::uint8_t code = make_opcode(t, op5);
  return kOpcodeTable[code].valid() ? code : kNoOpcode;
}

inline constexpr std::uint8_t kRcAcknowledge = opcode_for(Transport::rc, Op::acknowledge, Pos::only);
inline constexpr std::uint8_t kRcAtomicAcknowledge =
    opcode_for(Transport::rc, Op::atomic_acknowledge, Pos::only);

// Where packet k (from 0) of a message of n packets sits in it.
constexpr Pos position_in_message(std::uint32_t k, std::uint32_t n) {
  if (n == 1) return Pos::only;
  if (k == 0) return Pos::first;
  if (k + 1 == n) return Pos::last;
  return Pos::middle;
}

// Every row answers both ways: the opcode_for of each opcode's own description is that opcode.
constexpr bool opcode_table_round_trips() {
  for (std::size_t c = 0; c < kOpcodeTable.size(); ++c) {
    const auto& e = kOpcodeTable[c];
    if (!e.valid()) continue;
    if (opcode_for(e.transport, e.op, e.pos, e.immediate, e.invalidate) != c) return false;
  }
  return true;
}
static_assert(opcode_table_round_trips());
static_assert(opcode_for(Transport::rc, Op::send, Pos::first, true) == 0x00);
static_assert(opcode_for(Transport::uc, Op::rdma_read_request, Pos::only) == kNoOpcode);
static_assert(opcode_for(Transport::rc, Op::acknowledge, Pos::only) == 0x11);

}  // namespace softrnic::wire
