// UDP (RFC 768) and TCP (RFC 9293) headers. TCP is decoded for captures and golden round trips
// only; iWARP runs on the kernel's TCP, never on one written here. TCP options stay opaque bytes.
#pragma once

#include <cstdint>

#include "wire/view.hpp"

namespace softrnic::wire {

inline constexpr std::uint16_t kRoceV2Port = 4791;

template <class B>
class BasicUdpView : public FixedView<8, B> {
 public:
  using FixedView<8, B>::FixedView;
  std::uint16_t src_port() const { return load_be16(this->c(), 0); }
  std::uint16_t dst_port() const { return load_be16(this->c(), 2); }
  std::uint16_t length() const { return load_be16(this->c(), 4); }
  std::uint16_t checksum() const { return load_be16(this->c(), 6); }
  void set_src_port(std::uint16_t v) { store_be16(this->m(), 0, v); }
  void set_dst_port(std::uint16_t v) { store_be16(this->m(), 2, v); }
  void set_length(std::uint16_t v) { store_be16(this->m(), 4, v); }
  void set_checksum(std::uint16_t v) { store_be16(this->m(), 6, v); }
};
using UdpView = BasicUdpView<const std::byte>;
using UdpMut = BasicUdpView<std::byte>;

namespace tcpflag {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
}  // namespace tcpflag

// The fixed 20-byte part of a TCP header; options follow up to data_offset() * 4.
template <class B>
class BasicTcpView : public FixedView<20, B> {
 public:
  using FixedView<20, B>::FixedView;
  std::uint16_t src_port() const { return load_be16(this->c(), 0); }
  std::uint16_t dst_port() const { return load_be16(this->c(), 2); }
  std::uint32_t seq() const { return load_be32(this->c(), 4); }
  std::uint32_t ack() const { return load_be32(this->c(), 8); }
  std::uint8_t data_offset() const { return load_u8(this->c(), 12) >> 4; }
  std::uint8_t reserved_bits() const { return load_u8(this->c(), 12) & 0x0f; }
  std::uint8_t flags() const { return load_u8(this->c(), 13); }
  std::uint16_t window() const { return load_be16(this->c(), 14); }
  std::uint16_t checksum() const { return load_be16(this->c(), 16); }
  std::uint16_t urgent() const { return load_be16(this->c(), 18); }
  void set_src_port(std::uint16_t v) { store_be16(this->m(), 0, v); }
  void set_dst_port(std::uint16_t v) { store_be16(this->m(), 2, v); }
  void set_seq(std::uint32_t v) { store_be32(this->m(), 4, v); }
  void set_ack(std::uint32_t v) { store_be32(this->m(), 8, v); }
  void set_offset_byte(std::uint8_t v) { store_u8(this->m(), 12, v); }
  void set_flags(std::uint8_t v) { store_u8(this->m(), 13, v); }
  void set_window(std::uint16_t v) { store_be16(this->m(), 14, v); }
  void set_checksum(std::uint16_t v) { store_be16(this->m(), 16, v); }
  void set_urgent(std::uint16_t v) { store_be16(this->m(), 18, v); }
};
using TcpView = BasicTcpView<const std::byte>;
using TcpMut = BasicTcpView<std::byte>;

}  // namespace softrnic::wire
