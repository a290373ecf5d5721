// IPv4 (RFC 791) and IPv6 (RFC 8200) headers, addresses and the Internet checksum (RFC 1071).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "wire/view.hpp"

namespace softrnic::wire {

using Ipv4Addr = std::array<std::uint8_t, 4>;
using Ipv6Addr = std::array<std::uint8_t, 16>;

std::string to_string(const Ipv4Addr& a);
std::string to_string(const Ipv6Addr& a);

// RoCEv2 GID of an IPv4 address: ::ffff:a.b.c.d (IBA A17.4.5.1).
constexpr Ipv6Addr ipv4_mapped(const Ipv4Addr& a) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3]};
}
// Whether an address (a GID) is IPv4-mapped, and the IPv4 address inside one.
constexpr bool is_ipv4_mapped(const Ipv6Addr& a) {
  for (std::size_t i = 0; i < 10; ++i)
    if (a[i] != 0) return false;
  return a[10] == 0xff && a[11] == 0xff;
}
constexpr Ipv4Addr ipv4_of(const Ipv6Addr& a) { return {a[12], a[13], a[14], a[15]}; }

namespace ipproto {
inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;
inline constexpr std::uint8_t kIcmpv6 = 58;
// IPv6 extension headers (RFC 8200 4, RFC 4302).
inline constexpr std::uint8_t kHopByHop = 0;
inline constexpr std::uint8_t kRouting = 43;
inline constexpr std::uint8_t kFragment = 44;
inline constexpr std::uint8_t kAuthentication = 51;
inline constexpr std::uint8_t kDestOptions = 60;
}  // namespace ipproto

template <std::size_t N>
std::array<std::uint8_t, N> load_array(ConstByteSpan b, std::size_t off) {
  std::array<std::uint8_t, N> a;
  for (std::size_t i = 0; i < N; ++i) a[i] = load_u8(b, off + i);
  return a;
}
template <std::size_t N>
void store_array(ByteSpan b, std::size_t off, const std::array<std::uint8_t, N>& a) {
  for (std::size_t i = 0; i < N; ++i) store_u8(b, off + i, a[i]);
}

// One's-complement sum of 16-bit big-endian words, not yet folded or inverted.
std::uint32_t ones_sum(ConstByteSpan b, std::uint32_t acc = 0);
// Folds and inverts a ones_sum into the checksum field value.
std::uint16_t ones_fold(std::uint32_t acc);

template <class B>
class BasicIpv4View : public FixedView<20, B> {
 public:
  using FixedView<20, B>::FixedView;
  static constexpr std::uint16_t kDontFragment = 0x4000;
  std::uint8_t version() const { return load_u8(this->c(), 0) >> 4; }
  std::uint8_t ihl() const { return load_u8(this->c(), 0) & 0x0f; }
  std::uint8_t tos() const { return load_u8(this->c(), 1); }
  std::uint8_t dscp() const { return tos() >> 2; }
  std::uint8_t ecn() const { return tos() & 3; }
  std::uint16_t total_length() const { return load_be16(this->c(), 2); }
  std::uint16_t id() const { return load_be16(this->c(), 4); }
  std::uint16_t flags_frag() const { return load_be16(this->c(), 6); }
  bool more_fragments() const { return (flags_frag() & 0x2000) != 0; }
  std::uint16_t frag_offset() const { return flags_frag() & 0x1fff; }
  std::uint8_t ttl() const { return load_u8(this->c(), 8); }
  std::uint8_t protocol() const { return load_u8(this->c(), 9); }
  std::uint16_t checksum() const { return load_be16(this->c(), 10); }
  Ipv4Addr src() const { return load_array<4>(this->c(), 12); }
  Ipv4Addr dst() const { return load_array<4>(this->c(), 16); }
  // True when the header (without options) sums to zero, i.e. the checksum is right.
  bool checksum_ok() const { return ones_fold(ones_sum(this->c())) == 0; }

  void set_version_ihl(std::uint8_t v) { store_u8(this->m(), 0, v); }
  void set_tos(std::uint8_t v) { store_u8(this->m(), 1, v); }
  void set_total_length(std::uint16_t v) { store_be16(this->m(), 2, v); }
  void set_id(std::uint16_t v) { store_be16(this->m(), 4, v); }
  void set_flags_frag(std::uint16_t v) { store_be16(this->m(), 6, v); }
  void set_ttl(std::uint8_t v) { store_u8(this->m(), 8, v); }
  void set_protocol(std::uint8_t v) { store_u8(this->m(), 9, v); }
  void set_checksum(std::uint16_t v) { store_be16(this->m(), 10, v); }
  void set_src(const Ipv4Addr& a) { store_array(this->m(), 12, a); }
  void set_dst(const Ipv4Addr& a) { store_array(this->m(), 16, a); }
  void update_checksum() {
    set_checksum(0);
    set_checksum(ones_fold(ones_sum(this->c())));
  }
};
using Ipv4View = BasicIpv4View<const std::byte>;
using Ipv4Mut = BasicIpv4View<std::byte>;

template <class B>
class BasicIpv6View : public FixedView<40, B> {
 public:
  using FixedView<40, B>::FixedView;
  std::uint8_t version() const { return load_u8(this->c(), 0) >> 4; }
  std::uint8_t traffic_class() const {
    return static_cast<std::uint8_t>((load_be16(this->c(), 0) >> 4) & 0xff);
  }
  std::uint32_t flow_label() const { return load_be32(this->c(), 0) & 0xfffff; }
  std::uint16_t payload_length() const { return load_be16(this->c(), 4); }
  std::uint8_t next_header() const { return load_u8(this->c(), 6); }
  std::uint8_t hop_limit() const { return load_u8(this->c(), 7); }
  Ipv6Addr src() const { return load_array<16>(this->c(), 8); }
  Ipv6Addr dst() const { return load_array<16>(this->c(), 24); }

  void set_first_word(std::uint8_t tc, std::uint32_t flow) {
    store_be32(this->m(), 0, (6u << 28) | (std::uint32_t{tc} << 20) | (flow & 0xfffff));
  }
  void set_payload_length(std::uint16_t v) { store_be16(this->m(), 4, v); }
  void set_next_header(std::uint8_t v) { store_u8(this->m(), 6, v); }
  void set_hop_limit(std::uint8_t v) { store_u8(this->m(), 7, v); }
  void set_src(const Ipv6Addr& a) { store_array(this->m(), 8, a); }
  void set_dst(const Ipv6Addr& a) { store_array(this->m(), 24, a); }
};
using Ipv6View = BasicIpv6View<const std::byte>;
using Ipv6Mut = BasicIpv6View<std::byte>;

// Pseudo-header sums for UDP/TCP/ICMPv6 checksums (RFC 768, RFC 8200 8.1).
std::uint32_t pseudo_sum_v4(const Ipv4Addr& src, const Ipv4Addr& dst, std::uint8_t proto,
                            std::uint16_t l4_len);
std::uint32_t pseudo_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst, std::uint8_t next,
                            std::uint32_t l4_len);

}  // namespace softrnic::wire
