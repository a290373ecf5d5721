// Small helpers the connection tests share: private data from and to text, and IP address text
// to a GID (IPv4 as ::ffff:a.b.c.d).
#pragma once

#include <arpa/inet.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "wire/ip.hpp"

namespace softrnic::test {

inline std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

// The text up to the first NUL (private data arrives padded to its field's size).
inline std::string text_of(const std::vector<std::byte>& v) {
  std::string s;
  for (auto b : v) {
    if (b == std::byte{0}) break;
    s += static_cast<char>(b);
  }
  return s;
}

inline bool parse_ip(const std::string& s, wire::Ipv6Addr& out) {
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    std::uint8_t b[4];
    std::memcpy(b, &a4, 4);
    out = wire::ipv4_mapped({b[0], b[1], b[2], b[3]});
    return true;
  }
  return inet_pton(AF_INET6, s.c_str(), out.data()) == 1;
}

}  // namespace softrnic::test
