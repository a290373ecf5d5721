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
  X(ipv6_fragment)               \
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

// True for the reasons that judge a RoCEv2 packet itself (a UDP datagram to the RoCEv2 port whose
// UDP header or transport is bad); false for frames whose Ethernet, IP, TCP, ARP or ICMPv6 layer is
// bad, which may be anyone's traffic.
constexpr bool is_roce_reason(DropReason r) {
  switch (r) {
    case DropReason::udp_bad_length:
    case DropReason::udp_bad_checksum:
    case DropReason::bth_truncated:
    case DropReason::bad_tver:
    case DropReason::bad_opcode:
    case DropReason::ext_header_truncated:
    case DropReason::pad_exceeds_payload:
    case DropReason::bad_icrc:
      return true;
    default:
      return false;
  }
}

// The reason without the counter prefix, for messages.
constexpr std::string_view drop_reason_name(DropReason r) { return counter_name(r).substr(8); }

}  // namespace softrnic::wire
