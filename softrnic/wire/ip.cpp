#include "wire/ip.hpp"

#include <arpa/inet.h>

#include <cstdio>

#include "wire/ethernet.hpp"

namespace softrnic::wire {

std::uint32_t ones_sum(ConstByteSpan b, std::uint32_t acc) {
  // RFC 1071 1.2: adding 32-bit big-endian words into 64 bits and folding gives the same sum.
  std::uint64_t sum = acc;
  std::size_t i = 0;
  for (; i + 3 < b.size(); i += 4) sum += load_be32(b, i);
  for (; i + 1 < b.size(); i += 2) sum += load_be16(b, i);
  if (i < b.size()) sum += std::uint32_t{load_u8(b, i)} << 8;
  sum = (sum & 0xffffffffu) + (sum >> 32);  // fold 64 -> 33 bits
  sum = (sum & 0xffffffffu) + (sum >> 32);
  // Callers fold to 16 bits; keep the 32-bit value in 16-bit-foldable form.
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint32_t>(sum);
}

std::uint16_t ones_fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc);
}

std::uint32_t pseudo_sum_v4(const Ipv4Addr& src, const Ipv4Addr& dst, std::uint8_t proto,
                            std::uint16_t l4_len) {
  std::uint32_t s = ones_sum(as_bytes_of(src.data(), 4));
  s = ones_sum(as_bytes_of(dst.data(), 4), s);
  return s + proto + l4_len;
}

std::uint32_t pseudo_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst, std::uint8_t next,
                            std::uint32_t l4_len) {
  std::uint32_t s = ones_sum(as_bytes_of(src.data(), 16));
  s = ones_sum(as_bytes_of(dst.data(), 16), s);
  return s + (l4_len >> 16) + (l4_len & 0xffff) + next;
}

std::string to_string(const Ipv4Addr& a) {
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, a.data(), buf, sizeof buf) ? buf : "?";
}

std::string to_string(const Ipv6Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, a.data(), buf, sizeof buf) ? buf : "?";
}

std::string to_string(const MacAddr& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

}  // namespace softrnic::wire
