// The kernel UDP baseline of the two-process benchmark (perf/twoproc_bench.sh): what two
// processes get from plain UDP sockets over the same link, busy-polling like the engine does.
//
//   twoproc_udp server BIND_ADDR PORT
//       Echoes datagrams that start with 'P', counts those that start with 'B' (a blast) and
//       answers an 'E' with what the blast delivered; 'Q' ends it.
//   twoproc_udp client SERVER_ADDR PORT BIG
//       For SECONDS each (environment TWOPROC_SECONDS, default 2): 64 B ping-pong round trips,
//       a blast of 64 B datagrams (sendmmsg, 32 at a time) and a blast of BIG-byte datagrams (the
//       largest that the link carries unfragmented). The rates are what the server received
//       between its first and last datagram. Prints one line:
//       RESULT udp_rtt_p50_ns= udp_rtt_p99_ns= udp_msg_rate= udp_Bps=
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 32;
constexpr std::size_t kMaxDatagram = 9000;

int fail(const std::string& what) {
  std::fprintf(stderr, "twoproc_udp: %s: %s\n", what.c_str(), std::strerror(errno));
  return 1;
}

bool address(const char* host, std::uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int open_socket(int family) {
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int buf = 8 << 20;
  // Root may go past net.core.[rw]mem_max; the plain options are the fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  return fd;
}

double seconds() {
  const char* s = std::getenv("TWOPROC_SECONDS");
  return s ? std::atof(s) : 2.0;
}

int serve(int fd) {
  std::vector<char> in(kBatch * kMaxDatagram);
  std::array<iovec, kBatch> iov;
  std::array<mmsghdr, kBatch> msg{};
  std::array<sockaddr_storage, kBatch> from{};
  std::size_t count = 0, bytes = 0;
  Clock::time_point first{}, last{};
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < give_up) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = {in.data() + i * kMaxDatagram, kMaxDatagram};
      msg[i].msg_hdr = {};
      msg[i].msg_hdr.msg_iov = &iov[i];
      msg[i].msg_hdr.msg_iovlen = 1;
      msg[i].msg_hdr.msg_name = &from[i];
      msg[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    const int n = ::recvmmsg(fd, msg.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) continue;
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const char* d = static_cast<const char*>(iov[i].iov_base);
      const std::size_t len = msg[i].msg_len;
      auto* peer = reinterpret_cast<sockaddr*>(&from[i]);
      const socklen_t plen = msg[i].msg_hdr.msg_namelen;
      if (len == 0) continue;
      if (d[0] == 'P') {
        (void)::sendto(fd, d, len, 0, peer, plen);
      } else if (d[0] == 'B') {
        if (count == 0) first = now;
        last = now;
        ++count;
        bytes += len;
      } else if (d[0] == 'E') {
        char r[128];
        const double ns = std::chrono::duration<double, std::nano>(last - first).count();
        const int rl = std::snprintf(r, sizeof r, "R %zu %zu %.0f", count, bytes, ns);
        (void)::sendto(fd, r, static_cast<std::size_t>(rl), 0, peer, plen);
        count = bytes = 0;
      } else if (d[0] == 'Q') {
        return 0;
      }
    }
  }
  return 1;
}

// Round trips of 64 B datagrams, in nanoseconds, sorted.
std::vector<double> ping_pong(int fd, const sockaddr* to, socklen_t len, double secs) {
  std::array<char, 64> m{};
  m[0] = 'P';
  std::vector<double> ns;
  const auto end = Clock::now() + std::chrono::duration<double>(secs);
  std::size_t i = 0;
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    (void)::sendto(fd, m.data(), m.size(), 0, to, len);
    const auto lost = t0 + std::chrono::milliseconds(100);
    ssize_t r = -1;
    while ((r = ::recv(fd, m.data(), m.size(), MSG_DONTWAIT)) < 0 && Clock::now() < lost) {
    }
    if (r < 0) continue;  // lost: send the next one
    const double d = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    if (i++ >= 200) ns.push_back(d);
  }
  std::sort(ns.begin(), ns.end());
  return ns;
}

// What the server received of a blast of `size`-byte datagrams: {datagrams/s, bytes/s}.
std::pair<double, double> blast(int fd, const sockaddr* to, socklen_t len, std::size_t size,
                                double secs) {
  std::vector<char> out(size, 'B');
  std::array<iovec, kBatch> iov;
  std::array<mmsghdr, kBatch> msg{};
  for (std::size_t i = 0; i < kBatch; ++i) {
    iov[i] = {out.data(), size};
    msg[i].msg_hdr.msg_iov = &iov[i];
    msg[i].msg_hdr.msg_iovlen = 1;
    msg[i].msg_hdr.msg_name = const_cast<sockaddr*>(to);
    msg[i].msg_hdr.msg_namelen = len;
  }
  const auto end = Clock::now() + std::chrono::duration<double>(secs);
  while (Clock::now() < end) (void)::sendmmsg(fd, msg.data(), kBatch, 0);
  // Ask for the count until the answer comes (the request itself may be dropped).
  char r[128];
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  auto next = Clock::now();
  while (Clock::now() < give_up) {
    if (Clock::now() >= next) {
      (void)::sendto(fd, "E", 1, 0, to, len);
      next += std::chrono::milliseconds(20);
    }
    const ssize_t n = ::recv(fd, r, sizeof r - 1, MSG_DONTWAIT);
    if (n > 0 && r[0] == 'R') {
      r[n] = 0;
      std::size_t count = 0, bytes = 0;
      double ns = 0;
      if (std::sscanf(r, "R %zu %zu %lf", &count, &bytes, &ns) != 3 || ns <= 0) return {0, 0};
      return {count / (ns / 1e9), bytes / (ns / 1e9)};
    }
  }
  return {0, 0};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: twoproc_udp server BIND_ADDR PORT | client SERVER_ADDR PORT BIG\n");
    return 2;
  }
  const std::string mode = argv[1];
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!address(argv[2], static_cast<std::uint16_t>(std::atoi(argv[3])), ss, len)) {
    std::fprintf(stderr, "twoproc_udp: '%s' is not an IPv4 or IPv6 address\n", argv[2]);
    return 2;
  }
  const int fd = open_socket(ss.ss_family);
  if (fd < 0) return fail("socket");
  if (mode == "server") {
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail("bind");
    return serve(fd);
  }
  if (mode != "client" || argc != 5) return 2;
  const auto* to = reinterpret_cast<const sockaddr*>(&ss);
  const double secs = seconds();
  const auto big = static_cast<std::size_t>(std::atoi(argv[4]));
  // The server may still be starting: ping until it answers.
  const auto rtt = ping_pong(fd, to, len, secs);
  const auto small_rate = blast(fd, to, len, 64, secs);
  const auto big_rate = blast(fd, to, len, std::min(big, kMaxDatagram), secs);
  for (int i = 0; i < 5; ++i) (void)::sendto(fd, "Q", 1, 0, to, len);
  if (rtt.empty()) {
    std::fprintf(stderr, "twoproc_udp: no ping came back\n");
    return 1;
  }
  std::printf("RESULT udp_rtt_p50_ns=%.0f udp_rtt_p99_ns=%.0f udp_msg_rate=%.0f udp_Bps=%.0f\n",
              rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100], small_rate.first, big_rate.second);
  ::close(fd);
  return 0;
}
