#include "socket_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <optional>

#include "engine/gid_table.hpp"
#include "device_pump.hpp"
#include "interrupt.hpp"

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;
constexpr int kSlice = 200;  // ms between Ctrl-C checks while waiting

std::string errno_text(int e) { return std::strerror(e); }

// Milliseconds to wait in one poll() before looking at the deadline and Ctrl-C again.
int slice_until(SteadyTime deadline) {
  if (deadline == kNoDeadline) return kSlice;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clk::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, kSlice));
}

// Waits for events on fd; false at the deadline or on Ctrl-C.
Result<void> wait_fd(int fd, short events, SteadyTime deadline, const std::string& what) {
  for (;;) {
    if (interrupted()) return make_error(Errc::io_error, "interrupted while waiting for " + what);
    if (Clk::now() >= deadline) return make_error(Errc::io_error, "timeout waiting for " + what);
    pollfd p{fd, events, 0};
    const int n = pumped_poll({&p, 1}, slice_until(deadline));
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return make_error(Errc::io_error, "poll: " + errno_text(errno));
  }
}

wire::Ipv6Addr gid_of(const sockaddr_storage& ss) {
  wire::Ipv6Addr g{};
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    wire::Ipv4Addr a;
    std::memcpy(a.data(), &in.sin_addr, 4);
    return wire::ipv4_mapped(a);
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
  std::memcpy(g.data(), &in6.sin6_addr, 16);
  return g;
}

socklen_t sockaddr_of(const wire::Ipv6Addr& gid, std::uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (wire::is_ipv4_mapped(gid)) {
    auto& in = reinterpret_cast<sockaddr_in&>(ss);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, gid.data() + 12, 4);
    return sizeof in;
  }
  auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, gid.data(), 16);
  return sizeof in6;
}

// A non-blocking connect to one address, finished before the deadline.
Result<Fd> connect_one(const addrinfo& ai, SteadyTime deadline, const std::string& what) {
  Fd s(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (!s) return make_error(Errc::io_error, "socket: " + errno_text(errno));
  if (::connect(s.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return make_error(Errc::io_error, what + ": " + errno_text(errno));
    if (auto w = wait_fd(s.get(), POLLOUT, deadline, what); !w) return std::unexpected(w.error());
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return make_error(Errc::io_error, what + ": " + errno_text(err));
  }
  return s;
}

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

std::string address_text(const wire::Ipv6Addr& gid) {
  char text[INET6_ADDRSTRLEN] = {};
  if (wire::is_ipv4_mapped(gid)) {
    ::inet_ntop(AF_INET, gid.data() + 12, text, sizeof text);
  } else {
    ::inet_ntop(AF_INET6, gid.data(), text, sizeof text);
  }
  return text;
}

Result<Fd> tcp_connect(const std::string& host, std::uint16_t port, SteadyTime deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    return make_error(Errc::not_found, host + ": " + ::gai_strerror(rc));
  const std::string what = "a TCP connection to " + host + " port " + service;
  Result<Fd> last = make_error(Errc::not_found, host + ": no address");
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    last = connect_one(*a, deadline, what);
    if (last || interrupted() || Clk::now() >= deadline) break;
  }
  ::freeaddrinfo(res);
  return last;
}

Result<Fd> tcp_accept_one(std::uint16_t port, SteadyTime deadline) {
  Fd s(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1, zero = 0;
  if (s) {
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) s = Fd();
  }
  if (!s) {  // no IPv6 in this kernel or namespace: IPv4 only
    s = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) return make_error(Errc::io_error, "socket: " + errno_text(errno));
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return make_error(Errc::io_error, "cannot listen on TCP port " + std::to_string(port) + ": " +
                                            errno_text(errno));
  }
  if (::listen(s.get(), 1) != 0) return make_error(Errc::io_error, "listen: " + errno_text(errno));
  if (auto w = wait_fd(s.get(), POLLIN, deadline, "a client on TCP port " + std::to_string(port));
      !w)
    return std::unexpected(w.error());
  Fd c(::accept4(s.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!c) return make_error(Errc::io_error, "accept: " + errno_text(errno));
  return c;
}

Result<void> write_all(int fd, std::span<const char> data, SteadyTime deadline) {
  std::size_t done = 0;
  while (done < data.size()) {
    if (auto w = wait_fd(fd, POLLOUT, deadline, "the peer to take our message"); !w) return w;
    const ssize_t n =
        ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(Errc::io_error, "send: " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> read_exact(int fd, std::span<char> data, SteadyTime deadline) {
  std::size_t done = 0;
  while (done < data.size()) {
    if (auto w = wait_fd(fd, POLLIN, deadline, "the peer's message"); !w) return w;
    const ssize_t n = ::recv(fd, data.data() + done, data.size() - done, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(Errc::io_error, "recv: " + errno_text(errno));
    }
    if (n == 0)
      return make_error(Errc::truncated, "the peer closed the connection after " +
                                             std::to_string(done) + " of " +
                                             std::to_string(data.size()) + " bytes");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<wire::Ipv6Addr> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return make_error(Errc::io_error, "getsockname: " + errno_text(errno));
  return gid_of(ss);
}

Result<wire::Ipv6Addr> peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return make_error(Errc::io_error, "getpeername: " + errno_text(errno));
  return gid_of(ss);
}

Result<wire::Ipv6Addr> resolve_address(const std::string& host) {
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, nullptr, &res); rc != 0)
    return make_error(Errc::not_found, "'" + host + "' is not a host name or IP address (" +
                                           ::gai_strerror(rc) + ")");
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, std::min<std::size_t>(res->ai_addrlen, sizeof ss));
  ::freeaddrinfo(res);
  return gid_of(ss);
}

Result<wire::Ipv6Addr> route_source(const wire::Ipv6Addr& dst) {
  sockaddr_storage ss{};
  const socklen_t len = sockaddr_of(dst, 9, ss);
  // A connected UDP socket sends nothing, but the kernel picks its route and source address.
  Fd s(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return make_error(Errc::io_error, "socket: " + errno_text(errno));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return make_error(Errc::not_found,
                      "no route to " + address_text(dst) + ": " + errno_text(errno));
  return local_address(s.get());
}

Result<std::uint8_t> local_prefix(const wire::Ipv6Addr& addr) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return make_error(Errc::io_error, "getifaddrs: " + errno_text(errno));
  std::optional<std::uint8_t> prefix;
  for (ifaddrs* i = list; i != nullptr && !prefix; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_netmask == nullptr) continue;
    const int fam = i->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    sockaddr_storage a{}, m{};
    std::memcpy(&a, i->ifa_addr, fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    std::memcpy(&m, i->ifa_netmask, fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    if (gid_of(a) != addr) continue;
    const auto mask = gid_of(m);
    unsigned bits = 0;
    for (std::size_t b = fam == AF_INET ? 12 : 0; b < 16; ++b) bits += std::popcount(mask[b]);
    prefix = static_cast<std::uint8_t>(bits);
  }
  ::freeifaddrs(list);
  if (!prefix)
    return make_error(Errc::not_found, address_text(addr) + " is not an address of this host");
  return *prefix;
}

Result<std::string> uring_spec_at(const std::string& name, const wire::Ipv6Addr& addr, bool iwarp) {
  auto prefix = local_prefix(addr);
  if (!prefix) return std::unexpected(prefix.error());
  if (engine::is_link_local(addr))
    return make_error(Errc::unsupported,
                      address_text(addr) + " is link-local; give a global address or --dev SPEC");
  return "name=" + name + ",proto=" + (iwarp ? "iwarp" : "roce") + ",port=uring," +
         (wire::is_ipv4_mapped(addr) ? "ip4=" : "ip6=") + address_text(addr) + "/" + std::to_string(*prefix);
}

}  // namespace softrnic::cli
