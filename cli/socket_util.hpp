// Kernel sockets for the commands that talk to a peer outside RDMA: the TCP exchange of the
// pingpong commands (with deadlines and Ctrl-C checks, so a silent peer is an error, not a hang),
// and the address lookups their default devices need (which local address reaches a peer, the
// prefix the kernel has for a local address).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "wire/ip.hpp"

namespace softrnic::cli {

using SteadyTime = std::chrono::steady_clock::time_point;
inline constexpr SteadyTime kNoDeadline = SteadyTime::max();

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Gives up ownership: the caller closes the descriptor.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Connects to host (a name or an address literal) at port, trying each address getaddrinfo gives
// until one answers; fails with a message that starts "timeout" when the deadline passes.
[[nodiscard]] Result<Fd> tcp_connect(const std::string& host, std::uint16_t port,
                                     SteadyTime deadline);
// Listens on port on every address (IPv6 and IPv4 on one dual-stack socket where the kernel has
// IPv6, else IPv4 only) and returns the first peer's connection. Gives up at the deadline or on
// Ctrl-C (cli/interrupt.hpp).
[[nodiscard]] Result<Fd> tcp_accept_one(std::uint16_t port, SteadyTime deadline);
[[nodiscard]] Result<void> write_all(int fd, std::span<const char> data, SteadyTime deadline);
// Reads exactly data.size() bytes; an early end of stream is an error naming how many arrived.
[[nodiscard]] Result<void> read_exact(int fd, std::span<char> data, SteadyTime deadline);

// The two ends of a connected socket, in GID form (IPv4 as ::ffff:a.b.c.d).
[[nodiscard]] Result<wire::Ipv6Addr> local_address(int fd);
[[nodiscard]] Result<wire::Ipv6Addr> peer_address(int fd);

// The address (GID form) of a host name or literal: the first answer of getaddrinfo.
[[nodiscard]] Result<wire::Ipv6Addr> resolve_address(const std::string& host);
// The local address the kernel sends from toward dst (its route's source address).
[[nodiscard]] Result<wire::Ipv6Addr> route_source(const wire::Ipv6Addr& dst);
// The prefix length the kernel has for one of its own addresses; an error when addr is not an
// address of this host (in this network namespace).
[[nodiscard]] Result<std::uint8_t> local_prefix(const wire::Ipv6Addr& addr);

// An address as a device spec and a user write it: 198.18.0.1 or fd00:5052::1.
std::string address_text(const wire::Ipv6Addr& gid);

// The spec of a RoCEv2 or iWARP device on a kernel socket (port=uring) at a local address, with
// the prefix the kernel has for it: the default device of the commands that talk to one peer.
[[nodiscard]] Result<std::string> uring_spec_at(const std::string& name, const wire::Ipv6Addr& addr,
                                                bool iwarp = false);

}  // namespace softrnic::cli
