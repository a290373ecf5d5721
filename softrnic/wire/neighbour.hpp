// Neighbour resolution messages: ARP for IPv4 over Ethernet (RFC 826) and ICMPv6 neighbour
// solicitation / advertisement (RFC 4861 4.3, 4.4) with a link-layer address option.
#pragma once

#include <cstdint>

#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::wire {

// ARP for Ethernet + IPv4 only (htype 1, ptype 0x0800, hlen 6, plen 4): 28 bytes.
template <class B>
class BasicArpView : public FixedView<28, B> {
 public:
  using FixedView<28, B>::FixedView;
  static constexpr std::uint16_t kRequest = 1;
  static constexpr std::uint16_t kReply = 2;
  std::uint16_t htype() const { return load_be16(this->c(), 0); }
  std::uint16_t ptype() const { return load_be16(this->c(), 2); }
  std::uint8_t hlen() const { return load_u8(this->c(), 4); }
  std::uint8_t plen() const { return load_u8(this->c(), 5); }
  std::uint16_t oper() const { return load_be16(this->c(), 6); }
  MacAddr sha() const { return load_mac(this->c(), 8); }
  Ipv4Addr spa() const { return load_array<4>(this->c(), 14); }
  MacAddr tha() const { return load_mac(this->c(), 18); }
  Ipv4Addr tpa() const { return load_array<4>(this->c(), 24); }
  bool is_ethernet_ipv4() const {
    return htype() == 1 && ptype() == ethertype::kIpv4 && hlen() == 6 && plen() == 4;
  }
  void set_ethernet_ipv4(std::uint16_t oper) {
    store_be16(this->m(), 0, 1);
    store_be16(this->m(), 2, ethertype::kIpv4);
    store_u8(this->m(), 4, 6);
    store_u8(this->m(), 5, 4);
    store_be16(this->m(), 6, oper);
  }
  void set_sha(const MacAddr& v) { store_mac(this->m(), 8, v); }
  void set_spa(const Ipv4Addr& v) { store_array(this->m(), 14, v); }
  void set_tha(const MacAddr& v) { store_mac(this->m(), 18, v); }
  void set_tpa(const Ipv4Addr& v) { store_array(this->m(), 24, v); }
};
using ArpView = BasicArpView<const std::byte>;
using ArpMut = BasicArpView<std::byte>;

namespace icmpv6 {
inline constexpr std::uint8_t kNeighbourSolicitation = 135;
inline constexpr std::uint8_t kNeighbourAdvertisement = 136;
inline constexpr std::uint8_t kOptSourceLinkAddr = 1;
inline constexpr std::uint8_t kOptTargetLinkAddr = 2;
inline constexpr std::uint8_t kNaRouter = 0x80;
inline constexpr std::uint8_t kNaSolicited = 0x40;
inline constexpr std::uint8_t kNaOverride = 0x20;
}  // namespace icmpv6

// NS and NA share a layout: type, code, checksum, 4 bytes (NA flags / reserved), target address.
// Options (TLV, length in units of 8 bytes) follow at offset 24.
template <class B>
class BasicNdView : public FixedView<24, B> {
 public:
  using FixedView<24, B>::FixedView;
  std::uint8_t type() const { return load_u8(this->c(), 0); }
  std::uint8_t code() const { return load_u8(this->c(), 1); }
  std::uint16_t checksum() const { return load_be16(this->c(), 2); }
  std::uint8_t na_flags() const { return load_u8(this->c(), 4); }
  Ipv6Addr target() const { return load_array<16>(this->c(), 8); }
  void set_type(std::uint8_t v) { store_u8(this->m(), 0, v); }
  void set_code(std::uint8_t v) { store_u8(this->m(), 1, v); }
  void set_checksum(std::uint16_t v) { store_be16(this->m(), 2, v); }
  void set_flags_word(std::uint32_t v) { store_be32(this->m(), 4, v); }
  void set_target(const Ipv6Addr& a) { store_array(this->m(), 8, a); }
};
using NdView = BasicNdView<const std::byte>;
using NdMut = BasicNdView<std::byte>;

// Solicited-node multicast address ff02::1:ffXX:XXXX for a target (RFC 4291 2.7.1).
constexpr Ipv6Addr solicited_node(const Ipv6Addr& t) {
  return {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, t[13], t[14], t[15]};
}

}  // namespace softrnic::wire
