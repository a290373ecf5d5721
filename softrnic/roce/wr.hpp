// Work requests as a consumer posts them, and address handles.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "verbs/types.hpp"
#include "wire/build.hpp"

namespace softrnic::roce {

inline constexpr std::size_t kMaxSge = 16;
inline constexpr std::size_t kMaxInline = 256;

struct Sge {
  std::uint64_t addr = 0;
  std::uint32_t length = 0;
  std::uint32_t lkey = 0;
};

// Where packets of a QP (RC/UC path, UD destination) go: the peer's GID and MAC, and the IP fields.
struct AddressHandle {
  wire::IpVersion version = wire::IpVersion::v4;
  wire::Ipv6Addr src_gid{};  // IPv4: ::ffff:a.b.c.d
  wire::Ipv6Addr dst_gid{};
  wire::MacAddr dst_mac{};
  std::uint8_t traffic_class = 0;  // DSCP << 2; ECN bits are set by the engine (ECT(0))
  std::uint8_t hop_limit = 64;
  std::uint32_t flow_label = 0;
  std::optional<std::uint16_t> vlan_tci;
};

struct SendWr {
  std::uint64_t wr_id = 0;
  verbs::WrOpcode opcode = verbs::WrOpcode::send;
  std::uint32_t flags = 0;  // verbs::SendFlags
  std::uint8_t num_sge = 0;
  std::array<Sge, kMaxSge> sg;  // only the first num_sge are read: not zeroed, it is 256 bytes
  std::uint64_t remote_addr = 0;
  std::uint32_t rkey = 0;
  std::uint32_t imm = 0;         // immediate data (host order), or the key for send with invalidate
  std::uint64_t compare_add = 0;  // atomics: compare (CmpSwap) or add (FetchAdd)
  std::uint64_t swap = 0;
  // UD
  const AddressHandle* ah = nullptr;
  std::uint32_t remote_qpn = 0;
  std::uint32_t remote_qkey = 0;
  // Local operations. local_inv: the key to invalidate. fast_reg_mr: the FRMR's key, the new key
  // byte and the page list (owned by the consumer until the WR completes). bind_mw: the window's
  // key, its new key byte and the region it windows.
  std::uint32_t local_key = 0;
  struct MemoryOp {
    std::uint8_t new_key = 0;
    std::byte* const* pages = nullptr;
    std::uint32_t npages = 0;
    std::uint32_t page_size = 4096;
    std::uint64_t first_page_offset = 0;
    std::uint64_t va = 0;
    std::uint64_t length = 0;
    std::uint32_t access = 0;
    std::uint32_t mr_key = 0;  // bind_mw: the region
  } mem;
  // Inline data is copied at post time (kInline).
  std::uint16_t inline_len = 0;
  std::array<std::byte, kMaxInline> inline_data;  // only inline_len bytes are read
};

struct RecvWr {
  std::uint64_t wr_id = 0;
  std::uint8_t num_sge = 0;
  std::array<Sge, kMaxSge> sg;  // only the first num_sge are read
};

}  // namespace softrnic::roce
