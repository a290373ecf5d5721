#include "uring/tcp_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace softrnic::transport::tcp_socket {

namespace {

constexpr std::uint32_t kDefaultMss = 536;  // RFC 1122 4.2.2.6

void set_int(int fd, int level, int name, int value) {
  (void)::setsockopt(fd, level, name, &value, sizeof value);
}

void set_buffers(int fd, int bytes) {
  if (bytes <= 0) return;
  set_int(fd, SOL_SOCKET, SO_SNDBUF, bytes);
  set_int(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

Result<int> fail_closing(int fd, const std::string& what, int err) {
  ::close(fd);
  return make_error(Errc::io_error, what + ": " + errno_text(err));
}

}  // namespace

bool is_ipv4(const wire::Ipv6Addr& ip) {
  for (int i = 0; i < 10; ++i)
    if (ip[i] != 0) return false;
  return ip[10] == 0xff && ip[11] == 0xff;
}

bool is_any(const wire::Ipv6Addr& ip) {
  if (ip == wire::Ipv6Addr{}) return true;
  return is_ipv4(ip) && ip[12] == 0 && ip[13] == 0 && ip[14] == 0 && ip[15] == 0;
}

SockAddr to_sockaddr(const StreamEndpoint& e) {
  SockAddr s;
  if (is_ipv4(e.ip)) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(e.port);
    std::memcpy(&v4.sin_addr, e.ip.data() + 12, 4);
    std::memcpy(&s.storage, &v4, sizeof v4);
    s.len = sizeof v4;
  } else {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(e.port);
    std::memcpy(&v6.sin6_addr, e.ip.data(), 16);
    std::memcpy(&s.storage, &v6, sizeof v6);
    s.len = sizeof v6;
  }
  return s;
}

StreamEndpoint from_sockaddr(const sockaddr_storage& s) {
  StreamEndpoint e;
  if (s.ss_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &s, sizeof v4);
    wire::Ipv4Addr a;
    std::memcpy(a.data(), &v4.sin_addr, 4);
    e.ip = wire::ipv4_mapped(a);
    e.port = ntohs(v4.sin_port);
  } else if (s.ss_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &s, sizeof v6);
    std::memcpy(e.ip.data(), &v6.sin6_addr, 16);
    e.port = ntohs(v6.sin6_port);
  }
  return e;
}

std::string errno_text(int err) {
  std::array<char, 128> buf{};
  // The GNU strerror_r returns the message (maybe not in buf).
  return std::string(strerror_r(err, buf.data(), buf.size()));
}

Result<int> open_listener(const StreamEndpoint& local, int backlog) {
  const bool dual_stack = local.ip == wire::Ipv6Addr{};
  int family = is_ipv4(local.ip) ? AF_INET : AF_INET6;
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  StreamEndpoint where = local;
  if (fd < 0 && dual_stack && errno == EAFNOSUPPORT) {
    // A host without IPv6: "any" is then every IPv4 address.
    family = AF_INET;
    where.ip = wire::ipv4_mapped({0, 0, 0, 0});
    fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  }
  if (fd < 0) return make_error(Errc::io_error, "socket: " + errno_text(errno));
  set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);  // inherited by accepted sockets on Linux
  if (family == AF_INET6) set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? 0 : 1);
  const SockAddr a = to_sockaddr(where);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.len) < 0)
    return fail_closing(fd, "bind " + to_string(local), errno);
  if (::listen(fd, backlog) < 0) return fail_closing(fd, "listen " + to_string(local), errno);
  return fd;
}

Result<int> open_connecting(const StreamEndpoint& remote, const StreamEndpoint& local,
                            int buffer_bytes) {
  if (is_any(remote.ip) || remote.port == 0)
    return make_error(Errc::invalid_argument,
                      "connect to " + to_string(remote) + ": needs an address and a port");
  const bool v4 = is_ipv4(remote.ip);
  const bool local_any = is_any(local.ip);
  if (!local_any && is_ipv4(local.ip) != v4)
    return make_error(Errc::invalid_argument, "connect to " + to_string(remote) + " from " +
                                                  to_string(local) + ": address families differ");
  const int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return make_error(Errc::io_error, "socket: " + errno_text(errno));
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  set_buffers(fd, buffer_bytes);
  if (!local_any || local.port != 0) {
    StreamEndpoint b = local;
    if (local_any) b.ip = v4 ? wire::ipv4_mapped({0, 0, 0, 0}) : wire::Ipv6Addr{};
    const SockAddr a = to_sockaddr(b);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.len) < 0)
      return fail_closing(fd, "bind " + to_string(b), errno);
  }
  return fd;
}

void set_accepted_options(int fd, int buffer_bytes) {
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  set_buffers(fd, buffer_bytes);
}

void set_abortive(int fd) {
  const linger l{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

StreamEndpoint local_of(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) < 0) return {};
  return from_sockaddr(s);
}

Result<StreamEndpoint> peer_of(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&s), &len) < 0)
    return make_error(Errc::io_error, "getpeername: " + errno_text(errno));
  return from_sockaddr(s);
}

std::uint32_t mss_of(int fd) {
  int mss = 0;
  socklen_t len = sizeof mss;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len) < 0 || mss <= 0) return kDefaultMss;
  return static_cast<std::uint32_t>(mss);
}

}  // namespace softrnic::transport::tcp_socket
