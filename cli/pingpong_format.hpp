// The out-of-band exchange of rdma-core's ibv_rc_pingpong / ibv_ud_pingpong (libibverbs/examples/
// rc_pingpong.c, ud_pingpong.c, pingpong.c of rdma-core 44), so either side can be rdma-core's
// tool:
//
//   one TCP connection to port 18515 (-p); each side sends one fixed-size message of 52 bytes,
//   the text "LLLL:QQQQQQ:PPPPPP:GGGG...G" (LID 4 hex digits, QPN 6, PSN 6, GID 32, lower case)
//   followed by a NUL. The client writes its message first and reads the server's; the server
//   reads, brings its QP up, then writes. The client then writes "done" with its NUL (5 bytes) and
//   both close.
//
// The GID is written as four 32-bit words, each printed "%08x" after a host-to-big-endian swap
// of the word as it lies in memory: on little-endian hosts that is the 16 GID bytes in order as
// hex, which is how this side writes and reads it. The reader takes the fields as sscanf "%x"
// would (any number of hex digits before each ':').
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.hpp"
#include "wire/ip.hpp"

namespace softrnic::cli {

struct PingpongDest {
  std::uint32_t lid = 0;  // 0 on RoCE (no LIDs on Ethernet)
  std::uint32_t qpn = 0;
  std::uint32_t psn = 0;
  wire::Ipv6Addr gid{};
  bool operator==(const PingpongDest&) const = default;
};

inline constexpr std::size_t kPingpongMsgSize =
    sizeof "0000:000000:000000:00000000000000000000000000000000";
inline constexpr std::size_t kPingpongDoneSize = sizeof "done";
inline constexpr std::uint16_t kPingpongDefaultPort = 18515;

using PingpongMsg = std::array<char, kPingpongMsgSize>;

PingpongMsg format_pingpong_dest(const PingpongDest& d);
[[nodiscard]] Result<PingpongDest> parse_pingpong_dest(std::span<const char> msg);

// A GID as the tools print it (inet_ntop of the 16 bytes as IPv6: "::ffff:198.18.0.1").
std::string gid_text(const wire::Ipv6Addr& gid);

// The lines both tools print, byte for byte:
//   "  local address:  LID 0x0000, QPN 0x000011, PSN 0x1a2b3c, GID ::ffff:198.18.0.1"
// ud_pingpong's own line has "PSN 0x......: GID" (a colon where rc_pingpong has a comma).
std::string address_line(bool local, const PingpongDest& d, bool ud_local_colon = false);
// "N bytes in X seconds = Y Mbit/sec" and "N iters in X seconds = Y usec/iter" (with newlines).
std::string result_lines(std::uint64_t size, std::uint64_t iters, double usec);

}  // namespace softrnic::cli
