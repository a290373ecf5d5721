// Two UringUdpPorts that send to each other, in one of two set-ups:
//  - open_pair: on the host's loopback (127.0.0.1 or ::1), one address for both, so each binds its
//    own UDP port and sends to the other's (peer_udp_port); a busy pair moves on to the next;
//  - open_netns_pair: inside a PrivateNetns, on 198.18.0.1 and .2 (fd00:5052::1 and ::2), both on
//    UDP 4791 as in a deployment. RoCE devices need this one: their GID table refuses loopback
//    addresses.
// When io_uring is unavailable the tests skip with "SKIPPED: <reason>". Also: two RoCE devices over
// such a pair, driven with a real clock (SocketDevices), and a plain UDP socket (PlainSocket).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "private_netns.hpp"
#include "roce/device.hpp"
#include "uring/uring_udp_port.hpp"

namespace softrnic::transport::test {

inline constexpr std::uint16_t kFirstTestPort = 47910;

inline wire::Ipv6Addr loopback_address(wire::IpVersion v) {
  if (v == wire::IpVersion::v4) return wire::ipv4_mapped({127, 0, 0, 1});
  wire::Ipv6Addr a{};
  a[15] = 1;
  return a;
}

struct PortPair {
  std::unique_ptr<UringUdpPort> a;
  std::unique_ptr<UringUdpPort> b;
  std::string skip_reason;  // set when io_uring is unavailable here
};

inline UringUdpConfig test_config(UringUdpConfig cfg, const wire::Ipv6Addr& address,
                                  std::uint16_t port, std::uint16_t peer_port, std::uint8_t mac) {
  cfg.local_address = address;
  cfg.udp_port = port;
  cfg.peer_udp_port = peer_port;
  cfg.mac = {0x02, 0, 0, 0x75, 0x64, mac};
  if (cfg.mtu == 1500) cfg.mtu = 4200;  // lo carries a 4096-byte RoCE path MTU
  return cfg;
}

// Ports 47910/47911 first; when another run holds them, the next pairs up to 47941.
inline PortPair open_pair(wire::IpVersion v, UringUdpConfig cfg = {}) {
  PortPair out;
  std::string last_error;
  for (std::uint16_t base = kFirstTestPort; base < kFirstTestPort + 32; base += 2) {
    const auto next = static_cast<std::uint16_t>(base + 1);
    auto a = UringUdpPort::create(test_config(cfg, loopback_address(v), base, next, 0x0a));
    if (!a && a.error().code == Errc::unsupported) {
      out.skip_reason = a.error().message;
      return out;
    }
    if (!a) {
      last_error = a.error().to_string();
      continue;
    }
    auto b = UringUdpPort::create(test_config(cfg, loopback_address(v), next, base, 0x0b));
    if (!b) {
      last_error = b.error().to_string();
      continue;
    }
    out.a = std::move(*a);
    out.b = std::move(*b);
    return out;
  }
  ADD_FAILURE() << "no free UDP port pair on loopback: " << last_error;
  return out;
}

// Call inside a PrivateNetns: A on address .1, B on .2, both on UDP 4791.
inline PortPair open_netns_pair(wire::IpVersion v, UringUdpConfig cfg = {}) {
  PortPair out;
  auto a = UringUdpPort::create(test_config(cfg, netns_address(v, 1), wire::kRoceV2Port, 0, 0x0a));
  if (!a && a.error().code == Errc::unsupported) {
    out.skip_reason = a.error().message;
    return out;
  }
  EXPECT_TRUE(a) << a.error().to_string();
  auto b = UringUdpPort::create(test_config(cfg, netns_address(v, 2), wire::kRoceV2Port, 0, 0x0b));
  EXPECT_TRUE(b) << b.error().to_string();
  if (a && b) {
    out.a = std::move(*a);
    out.b = std::move(*b);
  }
  return out;
}

// Polls `port` until `n` frames arrived or `timeout` passed.
inline std::vector<Packet*> receive(Port& port, std::size_t n,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  std::vector<Packet*> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<Packet*, kBurst> burst;
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    const std::size_t k = port.rx_burst(burst);
    got.insert(got.end(), burst.begin(), burst.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return got;
}

// A plain kernel UDP socket bound to `local` (a GID: IPv4-mapped or IPv6) and a port the kernel
// picks, for datagrams the port did not build.
class PlainSocket {
 public:
  explicit PlainSocket(const wire::Ipv6Addr& local)
      : v_(local[10] == 0xff && local[11] == 0xff ? wire::IpVersion::v4 : wire::IpVersion::v6) {
    const wire::IpVersion v = v_;
    fd_ = ::socket(v == wire::IpVersion::v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a6{};
    sockaddr_in a4{};
    const wire::Ipv6Addr& addr = local;
    sockaddr* a = reinterpret_cast<sockaddr*>(&a4);
    socklen_t len = sizeof a4;
    if (v == wire::IpVersion::v6) {
      a6.sin6_family = AF_INET6;
      std::memcpy(&a6.sin6_addr, addr.data(), 16);
      a = reinterpret_cast<sockaddr*>(&a6);
      len = sizeof a6;
    } else {
      a4.sin_family = AF_INET;
      std::memcpy(&a4.sin_addr, addr.data() + 12, 4);
    }
    // Port 0: the kernel picks one; getsockname tells which.
    if (::bind(fd_, a, len) == 0 && ::getsockname(fd_, a, &len) == 0)
      port_ = ntohs(v == wire::IpVersion::v6 ? a6.sin6_port : a4.sin_port);
  }
  std::uint16_t local_port() const { return port_; }
  // IPv6: send with a zero UDP checksum (RFC 6935), as rxe does.
  bool send_zero_udp6_checksum() const {
    const int on = 1;
    return ::setsockopt(fd_, SOL_UDP, UDP_NO_CHECK6_TX, &on, sizeof on) == 0;
  }
  PlainSocket(const PlainSocket&) = delete;
  PlainSocket& operator=(const PlainSocket&) = delete;
  ~PlainSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool send_to(const wire::Ipv6Addr& to, std::uint16_t port, ConstByteSpan bytes) const {
    const wire::Ipv6Addr& addr = to;
    ssize_t n;
    if (v_ == wire::IpVersion::v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      std::memcpy(&a.sin6_addr, addr.data(), 16);
      n = ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      std::memcpy(&a.sin_addr, addr.data() + 12, 4);
      n = ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    return n == static_cast<ssize_t>(bytes.size());
  }

 private:
  wire::IpVersion v_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

struct Endpoint {
  std::unique_ptr<roce::Device> dev;
  verbs::PdHandle pd = 0;
  verbs::Cq* scq = nullptr;
  verbs::Cq* rcq = nullptr;
  roce::Qp* qp = nullptr;
};

// Two devices over real sockets; each has its port's address as its only GID. The port reports
// its address through config(), so the ports are UringUdpPorts.
class SocketDevices {
  SteadyClock clock_;  // first: the devices refer to it until they are gone
  wire::IpVersion ip_;

 public:
  SocketDevices(UringUdpPort& pa, UringUdpPort& pb, wire::IpVersion ip) : ip_(ip) {
    for (auto [e, port] : {std::pair{&a, &pa}, std::pair{&b, &pb}}) {
      roce::DeviceConfig c;
      c.mac = port->mac();
      c.gids = {port->config().local_address};
      e->dev = std::make_unique<roce::Device>(*port, clock_, c);
      e->pd = *e->dev->memory().alloc_pd();
      e->scq = *e->dev->create_cq(4096);
      e->rcq = *e->dev->create_cq(4096);
    }
  }

  // QPs of type t on both sides, in RTS and connected to each other.
  void connect(verbs::QpType t, std::uint32_t pmtu) {
    for (Endpoint* e : {&a, &b}) {
      roce::QpInit init;
      init.type = t;
      init.pd = e->pd;
      init.send_cq = e->scq;
      init.recv_cq = e->rcq;
      e->qp = *e->dev->create_qp(init);
    }
    bring_up(a, b, t, pmtu);
    bring_up(b, a, t, pmtu);
  }

  // Polls both engines until pred() or the timeout.
  bool run_until(const std::function<bool()>& pred,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      a.dev->poll();
      b.dev->poll();
    }
    return pred();
  }

  static std::vector<verbs::Cqe> drain(verbs::Cq* cq) {
    std::vector<verbs::Cqe> out;
    std::array<verbs::Cqe, 64> buf;
    while (auto n = cq->poll(buf)) out.insert(out.end(), buf.begin(), buf.begin() + n);
    return out;
  }

  Endpoint a, b;

 private:
  void bring_up(Endpoint& me, Endpoint& peer, verbs::QpType t, std::uint32_t pmtu) {
    using namespace verbs;
    roce::QpAttrs x;
    x.state = QpState::init;
    x.access_flags = kRemoteWrite | kRemoteRead | kRemoteAtomic;
    x.qkey = 0x11111111;
    std::uint32_t m =
        kAttrState | kAttrPkeyIndex | kAttrPort | (t == QpType::ud ? kAttrQkey : kAttrAccessFlags);
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
    x.state = QpState::rtr;
    x.pmtu = pmtu;
    x.av.version = ip_;
    x.av.src_gid = me.dev->config().gids[0];
    x.av.dst_gid = peer.dev->config().gids[0];
    x.av.dst_mac = peer.dev->config().mac;
    x.dest_qpn = peer.qp->qpn;
    x.rq_psn = Psn{0x100 * peer.qp->qpn + 7};
    x.max_dest_rd_atomic = 16;
    if (t == QpType::rc) {
      m = kAttrState | kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn | kAttrMaxDestRdAtomic |
          kAttrMinRnrTimer;
    } else {
      m = kAttrState;
      me.qp->attr.pmtu = pmtu;
      me.qp->attr.av = x.av;
    }
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
    x.state = QpState::rts;
    x.sq_psn = Psn{0x100 * me.qp->qpn + 7};
    x.max_rd_atomic = 16;
    m = t == QpType::rc ? kAttrState | kAttrSqPsn | kAttrTimeout | kAttrRetryCnt | kAttrRnrRetry |
                              kAttrMaxRdAtomic
                        : kAttrState | kAttrSqPsn;
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
  }
};

}  // namespace softrnic::transport::test
