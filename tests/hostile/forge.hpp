// Raw RoCEv2 frames for the attacker (attacker.cpp): Ethernet, IPv4 or IPv6, UDP to 4791, then
// whatever transport bytes the caller made (a BTH, headers, payload, pad: well-formed or not) and
// an ICRC computed over them with the project's CRC (wire/crc.hpp), or a wrong one on purpose.
// Unlike wire/build.hpp nothing here checks that the opcode exists or that the headers fit it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "wire/crc.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::hostile {

struct Addressing {
  wire::MacAddr dst_mac{}, src_mac{};
  wire::Ipv6Addr src{}, dst{};  // IPv4 as ::ffff:a.b.c.d; both of one family
  std::uint16_t src_port = 0xc000;
  std::uint16_t dst_port = 4791;
  std::uint16_t ip_id = 0;
};

enum class Icrc : std::uint8_t { good, bad };

inline void put16(std::vector<std::byte>& f, std::size_t off, std::uint16_t v) {
  f[off] = std::byte(v >> 8);
  f[off + 1] = std::byte(v);
}
inline std::uint16_t load16(const std::vector<std::byte>& f, std::size_t off) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(f[off]) << 8 |
                                    std::to_integer<unsigned>(f[off + 1]));
}
inline void put24(std::vector<std::byte>& f, std::size_t off, std::uint32_t v) {
  f[off] = std::byte(v >> 16);
  f[off + 1] = std::byte(v >> 8);
  f[off + 2] = std::byte(v);
}
inline void put32(std::vector<std::byte>& f, std::size_t off, std::uint32_t v) {
  put16(f, off, static_cast<std::uint16_t>(v >> 16));
  put16(f, off + 2, static_cast<std::uint16_t>(v));
}
inline void put64(std::vector<std::byte>& f, std::size_t off, std::uint64_t v) {
  put32(f, off, static_cast<std::uint32_t>(v >> 32));
  put32(f, off + 4, static_cast<std::uint32_t>(v));
}

// The 12-byte BTH (IBA 9.2): opcode, SE, M, pad, TVer, P_Key, FECN/BECN, dest QP, AckReq, PSN.
inline void put_bth(std::vector<std::byte>& t, std::size_t off, std::uint8_t opcode,
                    std::uint8_t pad, std::uint16_t pkey, std::uint32_t qpn, std::uint32_t psn,
                    bool ack_req = false, std::uint8_t tver = 0, bool se = false) {
  t[off] = std::byte(opcode);
  t[off + 1] = std::byte((se ? 0x80 : 0) | ((pad & 3) << 4) | (tver & 0xf));
  put16(t, off + 2, pkey);
  t[off + 4] = std::byte(0);
  put24(t, off + 5, qpn);
  t[off + 8] = std::byte(ack_req ? 0x80 : 0);
  put24(t, off + 9, psn);
}

// Ethernet + IP + UDP + transport + ICRC into `out` (resized to the frame).
inline void forge_roce(const Addressing& a, const std::vector<std::byte>& transport, Icrc icrc,
                       std::vector<std::byte>& out) {
  const bool v4 = wire::is_ipv4_mapped(a.src);
  const std::size_t ip_len = v4 ? 20 : 40;
  const std::size_t udp_len = 8 + transport.size() + wire::kIcrcSize;
  out.assign(14 + ip_len + udp_len, std::byte{0});
  for (std::size_t i = 0; i < 6; ++i) {
    out[i] = std::byte(a.dst_mac[i]);
    out[6 + i] = std::byte(a.src_mac[i]);
  }
  put16(out, 12, v4 ? 0x0800 : 0x86dd);
  const std::size_t l3 = 14, l4 = 14 + ip_len;
  if (v4) {
    out[l3] = std::byte(0x45);
    put16(out, l3 + 2, static_cast<std::uint16_t>(ip_len + udp_len));
    put16(out, l3 + 4, a.ip_id);
    put16(out, l3 + 6, 0x4000);  // don't fragment
    out[l3 + 8] = std::byte(64);
    out[l3 + 9] = std::byte(17);
    for (std::size_t i = 0; i < 4; ++i) {
      out[l3 + 12 + i] = std::byte(a.src[12 + i]);
      out[l3 + 16 + i] = std::byte(a.dst[12 + i]);
    }
    put16(out, l3 + 10, wire::ones_fold(wire::ones_sum(ConstByteSpan(out).subspan(l3, 20))));
  } else {
    out[l3] = std::byte(0x60);
    put16(out, l3 + 4, static_cast<std::uint16_t>(udp_len));
    out[l3 + 6] = std::byte(17);
    out[l3 + 7] = std::byte(64);
    for (std::size_t i = 0; i < 16; ++i) {
      out[l3 + 8 + i] = std::byte(a.src[i]);
      out[l3 + 24 + i] = std::byte(a.dst[i]);
    }
  }
  put16(out, l4, a.src_port);
  put16(out, l4 + 2, a.dst_port);
  put16(out, l4 + 4, static_cast<std::uint16_t>(udp_len));  // checksum 0, as RoCE senders do
  std::copy(transport.begin(), transport.end(), out.begin() + static_cast<std::ptrdiff_t>(l4 + 8));
  const std::size_t end = out.size() - wire::kIcrcSize;
  if (transport.size() < 12) return;  // no BTH to cover: the trailer stays zero
  std::uint32_t crc =
      wire::icrc(ConstByteSpan(out).subspan(l3, ip_len), ConstByteSpan(out).subspan(l4, end - l4));
  if (icrc == Icrc::bad) crc ^= 1u << (a.ip_id % 32);
  for (std::size_t i = 0; i < 4; ++i)
    out[end + i] = std::byte(crc >> (8 * i));  // least significant first
}

}  // namespace softrnic::hostile
