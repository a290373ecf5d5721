#include "bootstrap/oob_exchange.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace softrnic::transport {

namespace {

constexpr std::string_view kMagic = "softrnic-oob/1";

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::unexpected<Error> sys_error(const std::string& what) {
  return make_error(Errc::io_error, what + ": " + std::strerror(errno));
}

using Deadline = std::chrono::steady_clock::time_point;

int ms_left(Deadline d) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

Result<void> wait_for(int fd, short events, Deadline d, const std::string& what) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, ms_left(d));
    if (rc > 0) return {};
    if (rc == 0) return make_error(Errc::io_error, what + ": no answer before the deadline");
    if (errno != EINTR) return sys_error(what);
  }
}

// Parses "A.B.C.D" or an IPv6 literal into a sockaddr.
Result<sockaddr_storage> address_of(const std::string& host, std::uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return ss;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return ss;
  }
  return make_error(Errc::invalid_argument, "'" + host + "' is not an IPv4 or IPv6 address");
}

Result<OobEndpoint> swap_lines(int fd, const OobEndpoint& mine, Deadline d) {
  const std::string out = format_oob(mine);
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (auto w = wait_for(fd, POLLOUT, d, "sending the bootstrap line"); !w) return std::unexpected(w.error());
    const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR && errno != EAGAIN) return sys_error("sending the bootstrap line");
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[256];
  while (in.find('\n') == std::string::npos) {
    if (in.size() > 1024) return make_error(Errc::malformed, "the peer's bootstrap line is too long");
    if (auto w = wait_for(fd, POLLIN, d, "waiting for the peer's bootstrap line"); !w) return std::unexpected(w.error());
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return make_error(Errc::io_error, "the peer closed the connection before its bootstrap line");
    if (n < 0 && errno != EINTR && errno != EAGAIN) return sys_error("reading the peer's bootstrap line");
    if (n > 0) in.append(buf, static_cast<std::size_t>(n));
  }
  return parse_oob(std::string_view(in).substr(0, in.find('\n')));
}

template <class T>
bool hex_field(std::string_view line, std::string_view key, T& out) {
  const auto at = line.find(std::string(key) + "=");
  if (at == std::string_view::npos) return false;
  const auto start = line.data() + at + key.size() + 1;
  const auto end = line.data() + line.size();
  const auto [p, ec] = std::from_chars(start, end, out, 16);
  return ec == std::errc{} && (p == end || *p == ' ');
}

}  // namespace

std::string format_oob(const OobEndpoint& e) {
  char line[256];
  std::string gid;
  for (auto b : e.gid) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", b);
    gid += h;
  }
  std::snprintf(line, sizeof line, "%s qpn=%06x psn=%06x rkey=%08x addr=%016llx gid=%s mac=%s mtu=%u\n",
                std::string(kMagic).c_str(), e.qpn, e.psn, e.rkey, static_cast<unsigned long long>(e.addr),
                gid.c_str(), wire::to_string(e.mac).c_str(), e.mtu);
  std::string out = line;
  if (e.ud_qpn != 0 || e.qkey != 0) {
    std::snprintf(line, sizeof line, " udqp=%06x qkey=%08x", e.ud_qpn, e.qkey);
    out.insert(out.size() - 1, line);  // before the newline
  }
  return out;
}

Result<OobEndpoint> parse_oob(std::string_view line) {
  if (!line.starts_with(kMagic))
    return make_error(Errc::malformed, "not a softrnic bootstrap line (expected '" + std::string(kMagic) + "')");
  OobEndpoint e;
  std::uint64_t addr = 0;
  std::uint32_t mtu = 0;
  if (!hex_field(line, "qpn", e.qpn) || !hex_field(line, "psn", e.psn) || !hex_field(line, "rkey", e.rkey) ||
      !hex_field(line, "addr", addr))
    return make_error(Errc::malformed, "bootstrap line lacks qpn/psn/rkey/addr");
  e.addr = addr;
  const auto g = line.find("gid=");
  if (g == std::string_view::npos || g + 4 + 32 > line.size())
    return make_error(Errc::malformed, "bootstrap line lacks a 32-digit gid");
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    const char* s = line.data() + g + 4 + 2 * i;
    const auto [p, ec] = std::from_chars(s, s + 2, v, 16);
    if (ec != std::errc{} || p != s + 2) return make_error(Errc::malformed, "bootstrap gid is not hex");
    e.gid[i] = static_cast<std::uint8_t>(v);
  }
  const auto m = line.find("mac=");
  if (m == std::string_view::npos || m + 4 + 17 > line.size())
    return make_error(Errc::malformed, "bootstrap line lacks a mac");
  for (std::size_t i = 0; i < 6; ++i) {
    unsigned v = 0;
    const char* s = line.data() + m + 4 + 3 * i;
    const auto [p, ec] = std::from_chars(s, s + 2, v, 16);
    if (ec != std::errc{} || p != s + 2) return make_error(Errc::malformed, "bootstrap mac is not hex");
    e.mac[i] = static_cast<std::uint8_t>(v);
  }
  const auto t = line.find("mtu=");
  if (t == std::string_view::npos) return make_error(Errc::malformed, "bootstrap line lacks an mtu");
  const auto [p, ec] = std::from_chars(line.data() + t + 4, line.data() + line.size(), mtu);
  if (ec != std::errc{}) return make_error(Errc::malformed, "bootstrap mtu is not a number");
  e.mtu = mtu;
  // The UD fields are optional; when present they must be well-formed.
  if (line.find("udqp=") != std::string_view::npos && !hex_field(line, "udqp", e.ud_qpn))
    return make_error(Errc::malformed, "bootstrap udqp is not hex");
  if (line.find("qkey=") != std::string_view::npos && !hex_field(line, "qkey", e.qkey))
    return make_error(Errc::malformed, "bootstrap qkey is not hex");
  if (e.ud_qpn > 0xffffff) return make_error(Errc::malformed, "bootstrap udqp exceeds 24 bits");
  if (e.qpn > 0xffffff || e.psn > 0xffffff) return make_error(Errc::malformed, "bootstrap qpn/psn exceed 24 bits");
  return e;
}

Result<OobEndpoint> oob_serve(const std::string& bind_addr, std::uint16_t port, const OobEndpoint& mine,
                              std::chrono::milliseconds timeout) {
  const Deadline d = std::chrono::steady_clock::now() + timeout;
  socklen_t len = 0;
  auto sa = address_of(bind_addr, port, &len);
  if (!sa) return std::unexpected(sa.error());
  Fd ls(::socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (ls.get() < 0) return sys_error("socket");
  const int one = 1;
  ::setsockopt(ls.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(ls.get(), reinterpret_cast<sockaddr*>(&*sa), len) != 0)
    return sys_error("binding the bootstrap port " + bind_addr + ":" + std::to_string(port));
  if (::listen(ls.get(), 1) != 0) return sys_error("listen");
  if (auto w = wait_for(ls.get(), POLLIN, d, "waiting for the bootstrap peer to connect"); !w)
    return std::unexpected(w.error());
  Fd c(::accept4(ls.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (c.get() < 0) return sys_error("accept");
  return swap_lines(c.get(), mine, d);
}

Result<OobEndpoint> oob_connect(const std::string& host, std::uint16_t port, const OobEndpoint& mine,
                                std::chrono::milliseconds timeout) {
  const Deadline d = std::chrono::steady_clock::now() + timeout;
  socklen_t len = 0;
  auto sa = address_of(host, port, &len);
  if (!sa) return std::unexpected(sa.error());
  // The server may not be listening yet: retry refused connections until the deadline.
  for (;;) {
    Fd c(::socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (c.get() < 0) return sys_error("socket");
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&*sa), len) != 0 && errno != EINPROGRESS)
      return sys_error("connecting to " + host + ":" + std::to_string(port));
    if (auto w = wait_for(c.get(), POLLOUT, d, "connecting to " + host + ":" + std::to_string(port)); !w)
      return std::unexpected(w.error());
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &el);
    if (err == 0) return swap_lines(c.get(), mine, d);
    if (err != ECONNREFUSED || ms_left(d) == 0)
      return make_error(Errc::io_error, "connecting to " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
    ::usleep(20000);
  }
}

}  // namespace softrnic::transport
