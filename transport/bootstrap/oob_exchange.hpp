// Out-of-band bootstrap before connection management exists: two processes swap what each needs
// to bring its QP to RTS (QPN, starting PSN, a buffer's rkey and address, GID, MAC, path MTU) over
// one TCP connection, as rdma-core's ibv_rc_pingpong does. One line of text each way:
//
//   softrnic-oob/1 qpn=000011 psn=00abcd rkey=00000201 addr=00007f0012340000
//       gid=00000000000000000000ffffc6120001 mac=02:00:00:00:00:01 mtu=1024\n
//
// A side that also runs a UD QP appends its QPN and Q_Key (" udqp=000012 qkey=11110001"); the
// fields are optional, so lines without them still parse (both read as 0).
//
// Blocking sockets with a deadline: a peer that never answers gives a clear error, not a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::transport {

struct OobEndpoint {
  std::uint32_t qpn = 0;
  std::uint32_t psn = 0;
  std::uint32_t rkey = 0;
  std::uint64_t addr = 0;
  wire::Ipv6Addr gid{};
  wire::MacAddr mac{};
  std::uint32_t mtu = 1024;
  std::uint32_t ud_qpn = 0;  // 0: no UD QP (the fields are left out of the line)
  std::uint32_t qkey = 0;
  bool operator==(const OobEndpoint&) const = default;
};

std::string format_oob(const OobEndpoint& e);
[[nodiscard]] Result<OobEndpoint> parse_oob(std::string_view line);

// The server listens on bind_addr:port (IPv4 or IPv6 literal), accepts one peer, sends its line
// and reads the peer's. The client connects to host:port and does the same.
[[nodiscard]] Result<OobEndpoint> oob_serve(const std::string& bind_addr, std::uint16_t port,
                                            const OobEndpoint& mine,
                                            std::chrono::milliseconds timeout);
[[nodiscard]] Result<OobEndpoint> oob_connect(const std::string& host, std::uint16_t port,
                                              const OobEndpoint& mine,
                                              std::chrono::milliseconds timeout);

}  // namespace softrnic::transport
