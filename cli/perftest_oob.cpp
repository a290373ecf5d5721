#include "perftest_oob.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/bytes.hpp"
#include "device_pump.hpp"
#include "socket_util.hpp"

namespace softrnic::cli::perftest {
namespace {

using Clk = std::chrono::steady_clock;

std::string errno_text() { return std::strerror(errno); }

class TcpChannel final : public Channel {
 public:
  TcpChannel(int fd, const TcpOptions& o) : fd_(fd), timeout_(o.timeout) {}
  ~TcpChannel() override { ::close(fd_); }

  Result<void> write(std::span<const std::byte> m) override {
    std::size_t done = 0;
    while (done < m.size()) {
      const ssize_t n = ::send(fd_, m.data() + done, m.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return make_error(Errc::io_error, "out-of-band write: " + errno_text());
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  Result<void> read(std::span<std::byte> m) override {
    std::size_t done = 0;
    const auto deadline = Clk::now() + timeout_;
    while (done < m.size()) {
      pollfd p{fd_, POLLIN, 0};
      const int r = pumped_poll({&p, 1}, 100);
      if (r < 0 && errno != EINTR) return make_error(Errc::io_error, "out-of-band poll: " + errno_text());
      if (r <= 0) {
        if (Clk::now() > deadline)
          return make_error(Errc::io_error, "the peer did not answer within " +
                                               std::to_string(timeout_.count() / 1000) + " s");
        continue;
      }
      const ssize_t n = ::recv(fd_, m.data() + done, m.size() - done, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return make_error(Errc::io_error, "the peer closed the out-of-band connection");
      if (n < 0) return make_error(Errc::io_error, "out-of-band read: " + errno_text());
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  bool over_cm() const override { return false; }

 private:
  int fd_;
  std::chrono::milliseconds timeout_;
};

Result<addrinfo*> resolve(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return make_error(Errc::invalid_argument, host + ": " + ::gai_strerror(rc));
  return res;
}

void put_hex(char*& p, std::uint64_t v, int width) {
  p += std::snprintf(p, 20, "%0*llx:", width, static_cast<unsigned long long>(v));
}

}  // namespace

Result<std::unique_ptr<Channel>> tcp_connect(const std::string& host, std::uint16_t port,
                                             const TcpOptions& o) {
  const auto deadline = Clk::now() + o.timeout;
  std::string last = "no address";
  for (;;) {
    auto fd = cli::tcp_connect(host, port, deadline);
    if (fd) {
      const int one = 1;
      ::setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return std::unique_ptr<Channel>(new TcpChannel(fd->release(), o));
    }
    last = fd.error().message;
    if (fd.error().code == Errc::not_found || Clk::now() > deadline || (o.stop && o.stop())) break;
    pumped_sleep(std::chrono::milliseconds(100));
  }
  return make_error(Errc::io_error, "could not connect to " + host + " port " + std::to_string(port) +
                                       " within " + std::to_string(o.timeout.count() / 1000) +
                                       " s (" + last + ")");
}

Result<std::unique_ptr<Channel>> tcp_accept(const std::string& bind_address, std::uint16_t port,
                                            const TcpOptions& o) {
  auto res = resolve(bind_address, port, true);
  if (!res) return std::unexpected(res.error());
  // Prefer an IPv6 wildcard socket that also takes IPv4 (perftest clients speak IPv4).
  int fd = -1;
  std::string last;
  std::vector<addrinfo*> order;
  for (addrinfo* a = *res; a != nullptr; a = a->ai_next)
    if (a->ai_family == AF_INET6) order.push_back(a);
  for (addrinfo* a = *res; a != nullptr; a = a->ai_next)
    if (a->ai_family != AF_INET6) order.push_back(a);
  for (addrinfo* a : order) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1, zero = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1) == 0) break;
    last = errno_text();
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(*res);
  if (fd < 0) return make_error(Errc::io_error, "cannot listen on port " + std::to_string(port) + ": " + last);
  const auto deadline = Clk::now() + o.wait;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = pumped_poll({&p, 1}, 100);
    if (r > 0) break;
    if (o.stop && o.stop()) {
      ::close(fd);
      return make_error(Errc::busy, "interrupted while waiting for a client");
    }
    if (o.wait.count() > 0 && Clk::now() > deadline) {
      ::close(fd);
      return make_error(Errc::io_error, "no client connected within " +
                                           std::to_string(o.wait.count() / 1000) + " s");
    }
  }
  const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(fd);
  if (c < 0) return make_error(Errc::io_error, "accept: " + errno_text());
  const int one = 1;
  ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::unique_ptr<Channel>(new TcpChannel(c, o));
}

std::array<std::byte, kKeyTextBytes> encode_key_text(const Dest& d) {
  char text[kKeyTextBytes + 24] = {};
  char* p = text;
  put_hex(p, d.lid & 0xffff, 4);
  put_hex(p, d.out_reads & 0xffff, 4);
  put_hex(p, d.qpn & 0xffffff, 6);
  put_hex(p, d.psn & 0xffffff, 6);
  put_hex(p, d.rkey, 8);
  put_hex(p, d.vaddr, 16);
  for (auto b : d.gid) put_hex(p, b, 2);
  put_hex(p, d.srqn, 8);
  std::array<std::byte, kKeyTextBytes> out{};
  std::memcpy(out.data(), text, kKeyTextBytes - 1);  // 107 characters and the NUL
  return out;
}

Result<Dest> decode_key_text(std::span<const std::byte> m) {
  // 23 colon-terminated hexadecimal fields.
  std::string s(reinterpret_cast<const char*>(m.data()), m.size());
  s = s.substr(0, s.find('\0'));
  std::vector<std::uint64_t> f;
  std::size_t pos = 0;
  while (pos < s.size() && f.size() < 23) {
    const std::size_t colon = s.find(':', pos);
    if (colon == std::string::npos) break;
    char* end = nullptr;
    const std::string field = s.substr(pos, colon - pos);
    const unsigned long long v = std::strtoull(field.c_str(), &end, 16);
    if (field.empty() || *end != '\0') break;
    f.push_back(v);
    pos = colon + 1;
  }
  if (f.size() != 23)
    return make_error(Errc::malformed, "cannot parse the peer's key message '" + s + "'");
  Dest d;
  d.lid = static_cast<std::uint32_t>(f[0]);
  d.out_reads = static_cast<std::uint32_t>(f[1]);
  d.qpn = static_cast<std::uint32_t>(f[2]);
  d.psn = static_cast<std::uint32_t>(f[3]);
  d.rkey = static_cast<std::uint32_t>(f[4]);
  d.vaddr = f[5];
  for (std::size_t i = 0; i < 16; ++i) d.gid[i] = static_cast<std::uint8_t>(f[6 + i]);
  d.srqn = static_cast<std::uint32_t>(f[22]);
  return d;
}

std::array<std::byte, kKeyBinaryBytes> encode_key_binary(const Dest& d) {
  std::array<std::byte, kKeyBinaryBytes> out{};
  std::span<std::byte> b(out);
  store_be32(b, 0, d.lid);
  store_be32(b, 4, d.out_reads);
  store_be32(b, 8, d.qpn);
  store_be32(b, 12, d.psn);
  store_be32(b, 16, d.rkey);
  store_be64(b, 24, d.vaddr);
  std::memcpy(out.data() + 32, d.gid.data(), 16);
  store_be32(b, 48, d.srqn);
  store_be32(b, 52, 0);  // gid_index: not used by the receiver
  return out;
}

Dest decode_key_binary(std::span<const std::byte> m) {
  Dest d;
  d.lid = load_be32(m, 0);
  d.out_reads = load_be32(m, 4);
  d.qpn = load_be32(m, 8);
  d.psn = load_be32(m, 12);
  d.rkey = load_be32(m, 16);
  d.vaddr = load_be64(m, 24);
  std::memcpy(d.gid.data(), m.data() + 32, 16);
  d.srqn = load_be32(m, 48);
  return d;
}

Result<void> Exchange::xchg(std::span<const std::byte> mine, std::span<std::byte> theirs) {
  if (client_) {
    if (auto r = ch_.write(mine); !r) return r;
    return ch_.read(theirs);
  }
  if (auto r = ch_.read(theirs); !r) return r;
  return ch_.write(mine);
}

Result<std::string> Exchange::versions() {
  std::array<std::byte, kVersionBytes> mine{}, theirs{};
  std::memcpy(mine.data(), kVersion, std::strlen(kVersion));
  if (auto r = xchg(mine, theirs); !r) return std::unexpected(r.error());
  std::string v(reinterpret_cast<const char*>(theirs.data()), theirs.size());
  v = v.substr(0, v.find('\0'));
  if (std::atof(v.c_str()) < 5.70)
    return make_error(Errc::malformed, "the peer's perftest version '" + v +
                                                "' is older than 5.70 (incompatible exchange)");
  return v;
}

Result<void> Exchange::sys_data(std::uint32_t& cycle_buffer, std::uint32_t& cache_line) {
  for (std::uint32_t* v : {&cycle_buffer, &cache_line}) {
    std::array<std::byte, 4> mine{}, theirs{};
    store_be32(mine, 0, *v);
    if (auto r = xchg(mine, theirs); !r) return r;
    *v = std::max(*v, load_be32(theirs, 0));
  }
  return {};
}

Result<int> Exchange::mtu(int mine) {
  std::array<std::byte, 2> m{}, t{};
  m[0] = static_cast<std::byte>('0' + mine);
  if (auto r = xchg(m, t); !r) return std::unexpected(r.error());
  const int theirs = static_cast<int>(t[0]) - '0';
  return theirs >= 1 && theirs <= 5 && theirs < mine ? theirs : mine;
}

Result<Dest> Exchange::key(const Dest& mine) {
  if (ch_.over_cm()) {
    const auto m = encode_key_binary(mine);
    std::array<std::byte, kKeyBinaryBytes> t{};
    if (auto r = xchg(m, t); !r) return std::unexpected(r.error());
    return decode_key_binary(t);
  }
  const auto m = encode_key_text(mine);
  std::array<std::byte, kKeyTextBytes> t{};
  if (auto r = xchg(m, t); !r) return std::unexpected(r.error());
  return decode_key_text(t);
}

Result<BwReport> Exchange::bw_reports(const BwReport& mine) {
  BwReport theirs;
  const std::uint64_t out[5] = {mine.size, mine.iters, std::bit_cast<std::uint64_t>(mine.bw_peak),
                                std::bit_cast<std::uint64_t>(mine.bw_avg),
                                std::bit_cast<std::uint64_t>(mine.msg_rate)};
  std::uint64_t in[5] = {};
  for (int i = 0; i < 5; ++i) {
    std::array<std::byte, 8> m{}, t{};
    store_be64(m, 0, out[i]);
    if (auto r = xchg(m, t); !r) return std::unexpected(r.error());
    in[i] = load_be64(t, 0);
  }
  theirs.size = in[0];
  theirs.iters = in[1];
  theirs.bw_peak = std::bit_cast<double>(in[2]);
  theirs.bw_avg = std::bit_cast<double>(in[3]);
  theirs.msg_rate = std::bit_cast<double>(in[4]);
  return theirs;
}

Result<void> Exchange::close(const Dest& mine) {
  if (auto r = key(mine); !r) return std::unexpected(r.error());
  if (ch_.over_cm()) return {};
  static constexpr char kDone[] = "done";
  return ch_.write(std::as_bytes(std::span(kDone, sizeof kDone)));
}

int mtu_enum(std::uint32_t bytes) {
  int e = 1;
  for (std::uint32_t m = 512; m <= bytes && e < 5; m *= 2) ++e;
  return e;
}

std::uint32_t mtu_bytes(int e) { return 128u << e; }

}  // namespace softrnic::cli::perftest
