#include "pingpong_format.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace softrnic::cli {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One "%x" field ending at ':'; pos moves past the ':'.
Result<std::uint32_t> hex_field(std::string_view s, std::size_t& pos, const char* name) {
  std::uint64_t v = 0;
  std::size_t digits = 0;
  while (pos < s.size() && hex_digit(s[pos]) >= 0) {
    v = v * 16 + static_cast<std::uint64_t>(hex_digit(s[pos++]));
    if (++digits > 8)
      return make_error(Errc::malformed, std::string(name) + " has too many digits");
  }
  if (digits == 0 || pos >= s.size() || s[pos] != ':')
    return make_error(Errc::malformed, std::string("no ") + name + " field followed by ':'");
  ++pos;
  return static_cast<std::uint32_t>(v);
}

}  // namespace

PingpongMsg format_pingpong_dest(const PingpongDest& d) {
  PingpongMsg m{};
  char gid[33];
  for (std::size_t i = 0; i < 16; ++i) std::snprintf(gid + 2 * i, 3, "%02x", d.gid[i]);
  std::snprintf(m.data(), m.size(), "%04x:%06x:%06x:%s", d.lid, d.qpn, d.psn, gid);
  return m;
}

Result<PingpongDest> parse_pingpong_dest(std::span<const char> msg) {
  const std::string_view s(msg.data(), strnlen(msg.data(), msg.size()));
  PingpongDest d;
  std::size_t pos = 0;
  auto lid = hex_field(s, pos, "LID");
  if (!lid) return std::unexpected(lid.error());
  auto qpn = hex_field(s, pos, "QPN");
  if (!qpn) return std::unexpected(qpn.error());
  auto psn = hex_field(s, pos, "PSN");
  if (!psn) return std::unexpected(psn.error());
  const std::string_view g = s.substr(pos);
  if (g.size() != 32) return make_error(Errc::malformed, "the GID is not 32 hex digits");
  for (std::size_t i = 0; i < 16; ++i) {
    const int hi = hex_digit(g[2 * i]), lo = hex_digit(g[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::malformed, "the GID is not 32 hex digits");
    d.gid[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  d.lid = *lid;
  d.qpn = *qpn & 0xffffff;
  d.psn = *psn & 0xffffff;
  return d;
}

std::string gid_text(const wire::Ipv6Addr& gid) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, gid.data(), text, sizeof text);
  return text;
}

std::string address_line(bool local, const PingpongDest& d, bool ud_local_colon) {
  char line[160];
  std::snprintf(line, sizeof line, "  %s LID 0x%04x, QPN 0x%06x, PSN 0x%06x%s GID %s\n",
                local ? "local address: " : "remote address:", d.lid, d.qpn, d.psn,
                local && ud_local_colon ? ":" : ",", gid_text(d.gid).c_str());
  return line;
}

std::string result_lines(std::uint64_t size, std::uint64_t iters, double usec) {
  const double bytes = static_cast<double>(size) * static_cast<double>(iters) * 2.0;
  char line[200];
  std::snprintf(line, sizeof line,
                "%llu bytes in %.2f seconds = %.2f Mbit/sec\n"
                "%llu iters in %.2f seconds = %.2f usec/iter\n",
                static_cast<unsigned long long>(size * iters * 2), usec / 1e6,
                usec > 0 ? bytes * 8.0 / usec : 0.0, static_cast<unsigned long long>(iters),
                usec / 1e6, iters > 0 ? usec / static_cast<double>(iters) : 0.0);
  return line;
}

}  // namespace softrnic::cli
