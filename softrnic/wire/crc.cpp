#include "wire/crc.hpp"

#include <isa-l/crc.h>

#include <array>
#include <cassert>

namespace softrnic::wire {

std::uint32_t crc32_ieee(std::uint32_t prev, ConstByteSpan data) {
  // ISA-L's gzip variant carries zlib's pre/post inversion: init 0 starts a fresh CRC.
  return crc32_gzip_refl(prev, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::uint32_t crc32c(std::uint32_t prev, ConstByteSpan data) {
  // crc32_iscsi does no inversion itself; undo and redo it to continue from a finished value.
  return ~crc32_iscsi(const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(data.data())),
                      static_cast<int>(data.size()), ~prev);
}

namespace {
constexpr std::size_t kUdpBth = 8 + 12;

// crc32 of eight 0xFF bytes (the absent LRH): rxe's seed 0xDEBB20E3 before the final inversion.
constexpr std::uint32_t kLrhCrc = ~0xdebb20e3u;

std::uint32_t icrc_headers(ConstByteSpan ip, ConstByteSpan udp_to_pad) {
  assert(ip.size() == 20 || ip.size() == 40);
  assert(udp_to_pad.size() >= kUdpBth);
  std::array<std::byte, 40 + kUdpBth> m;
  std::size_t n = ip.size();
  store_bytes(m, 0, ip);
  store_bytes(m, n, udp_to_pad.first(kUdpBth));
  ByteSpan s(m.data(), n + kUdpBth);
  if (n == 20) {
    store_u8(s, 1, 0xff);        // TOS
    store_u8(s, 8, 0xff);        // TTL
    store_be16(s, 10, 0xffff);   // header checksum
  } else {
    store_be32(s, 0, (load_be32(s, 0) & 0xf0000000u) | 0x0fffffffu);  // traffic class, flow label
    store_u8(s, 7, 0xff);                                            // hop limit
  }
  store_be16(s, n + 6, 0xffff);  // UDP checksum
  store_u8(s, n + 8 + 4, 0xff);  // BTH resv8a (FECN, BECN, resv6)
  std::uint32_t c = crc32_ieee(kLrhCrc, s);
  return crc32_ieee(c, udp_to_pad.subspan(kUdpBth));
}
}  // namespace

std::uint32_t icrc_in_place(ByteSpan p, std::size_t n) {
  assert(n == 20 || n == 40);
  assert(p.size() >= n + kUdpBth);
  // Variant bytes (wire reference 2.1): IPv4 TOS, TTL, checksum / IPv6 version-TC-flow word and
  // hop limit; the UDP checksum; BTH byte 4.
  std::array<std::uint8_t, 8> saved;
  const std::array<std::size_t, 7> at4 = {1, 8, 10, 11, 20 + 6, 20 + 7, 20 + 8 + 4};
  const std::array<std::size_t, 7> at6 = {1, 2, 3, 7, 40 + 6, 40 + 7, 40 + 8 + 4};
  const auto& at = n == 20 ? at4 : at6;
  saved[7] = load_u8(p, 0);
  for (std::size_t i = 0; i < at.size(); ++i) {
    saved[i] = load_u8(p, at[i]);
    store_u8(p, at[i], 0xff);
  }
  if (n == 40) store_u8(p, 0, static_cast<std::uint8_t>(saved[7] | 0x0f));  // low nibble of TC
  const std::uint32_t c = crc32_ieee(kLrhCrc, p);
  for (std::size_t i = 0; i < at.size(); ++i) store_u8(p, at[i], saved[i]);
  store_u8(p, 0, saved[7]);
  return c;
}

std::uint32_t icrc(ConstByteSpan ip_header, ConstByteSpan udp_to_pad) {
  return icrc_headers(ip_header, udp_to_pad);
}

std::uint32_t icrc(ConstByteSpan ip_header, ConstByteSpan part1, ConstByteSpan part2) {
  return crc32_ieee(icrc_headers(ip_header, part1), part2);
}

}  // namespace softrnic::wire
