// Ethernet II and 802.1Q.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "wire/view.hpp"

namespace softrnic::wire {

using MacAddr = std::array<std::uint8_t, 6>;

std::string to_string(const MacAddr& m);

namespace ethertype {
inline constexpr std::uint16_t kIpv4 = 0x0800;
inline constexpr std::uint16_t kArp = 0x0806;
inline constexpr std::uint16_t kIpv6 = 0x86dd;
inline constexpr std::uint16_t kVlan = 0x8100;
inline constexpr std::uint16_t kQinQ = 0x88a8;
inline constexpr std::uint16_t kRoceV1 = 0x8915;
}  // namespace ethertype

inline MacAddr load_mac(ConstByteSpan b, std::size_t off) {
  MacAddr m;
  for (std::size_t i = 0; i < 6; ++i) m[i] = load_u8(b, off + i);
  return m;
}
inline void store_mac(ByteSpan b, std::size_t off, const MacAddr& m) {
  for (std::size_t i = 0; i < 6; ++i) store_u8(b, off + i, m[i]);
}

template <class B>
class BasicEthView : public FixedView<14, B> {
 public:
  using FixedView<14, B>::FixedView;
  MacAddr dst() const { return load_mac(this->c(), 0); }
  MacAddr src() const { return load_mac(this->c(), 6); }
  std::uint16_t ethertype() const { return load_be16(this->c(), 12); }
  void set_dst(const MacAddr& m) { store_mac(this->m(), 0, m); }
  void set_src(const MacAddr& m) { store_mac(this->m(), 6, m); }
  void set_ethertype(std::uint16_t t) { store_be16(this->m(), 12, t); }
};
using EthView = BasicEthView<const std::byte>;
using EthMut = BasicEthView<std::byte>;

// The 4 bytes of an 802.1Q tag *after* the TPID position: TCI then the inner EtherType.
// Viewed at frame offset 14 (the TPID itself is the outer EtherType at 12).
template <class B>
class BasicVlanView : public FixedView<4, B> {
 public:
  using FixedView<4, B>::FixedView;
  std::uint16_t tci() const { return load_be16(this->c(), 0); }
  std::uint8_t pcp() const { return static_cast<std::uint8_t>(tci() >> 13); }
  bool dei() const { return (tci() & 0x1000) != 0; }
  std::uint16_t vid() const { return tci() & 0x0fff; }
  std::uint16_t inner_ethertype() const { return load_be16(this->c(), 2); }
  void set_tci(std::uint16_t v) { store_be16(this->m(), 0, v); }
  void set_inner_ethertype(std::uint16_t t) { store_be16(this->m(), 2, t); }
};
using VlanView = BasicVlanView<const std::byte>;
using VlanMut = BasicVlanView<std::byte>;

constexpr std::uint16_t make_tci(std::uint8_t pcp, bool dei, std::uint16_t vid) {
  return static_cast<std::uint16_t>((pcp & 7) << 13 | (dei ? 0x1000 : 0) | (vid & 0x0fff));
}

}  // namespace softrnic::wire
