// Why a frame was not accepted. Every receive-path rejection has a name here and a counter in
// the port's drop counters (rx_drop_<name>).
#pragma once

#include <cstdint>
#include <string_view>

namespace softrnic::wire {

#define SOFTRNIC_DROP_REASONS(X) \
  X(eth_truncated)               \
  X(vlan_truncated)              \
  X(vlan_in_vlan)                \
  X(ipv4_truncated)              \
  X(ipv4_bad_version)            \
  X(ipv4_options)                \
  X(ipv4_bad_checksum)           \
  X(ipv4_bad_length)             \
  X(ipv4_fragment)               \
  X(ipv6_truncated)              \
  X(ipv6_bad_version)            \
  X(ipv6_extension_header)       \
  X(ipv6_bad_length)             \
  X(udp_truncated)               \
  X(udp_bad_length)              \
  X(udp_bad_checksum)            \
  X(tcp_truncated)               \
  X(tcp_bad_offset)              \
  X(arp_truncated)               \
  X(arp_unsupported)             \
  X(icmpv6_truncated)            \
  X(nd_bad_checksum)             \
  X(bth_truncated)               \
  X(bad_tver)                    \
  X(bad_opcode)                  \
  X(ext_header_truncated)        \
  X(pad_exceeds_payload)         \
  X(bad_icrc)

enum class DropReason : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_DROP_REASONS(SOFTRNIC_X)
#undef SOFTRNIC_X
  count_
};

constexpr std::string_view counter_name(DropReason r) {
  switch (r) {
#define SOFTRNIC_X(n) \
  case DropReason::n: return "rx_drop_" #n;
    SOFTRNIC_DROP_REASONS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case DropReason::count_: break;
  }
  return "rx_drop_unknown";
}

// The reason without the counter prefix, for messages.
constexpr std::string_view drop_reason_name(DropReason r) { return counter_name(r).substr(8); }

}  // namespace softrnic::wire
