// The io_uring UDP port on its own: RoCE frames cross between two ports on 127.0.0.1 and on ::1,
// arrive with the synthetic headers the port documents, and every odd datagram or frame is counted.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "uring_fixture.hpp"
#include "wire/build.hpp"
#include "wire/parse.hpp"

namespace softrnic::transport::test {
namespace {

using wire::IpVersion;

std::byte pattern(std::uint32_t psn, std::size_t i) { return std::byte((psn * 7 + i * 13) & 0xff); }

// A RoCE SEND ONLY frame from `from`'s address to itself (both ports share the loopback address).
Packet* roce_frame(UringUdpPort& from, std::uint32_t psn, std::size_t payload_len,
                   std::uint8_t tos = 0x02) {
  std::vector<std::byte> payload(payload_len);
  for (std::size_t i = 0; i < payload_len; ++i) payload[i] = pattern(psn, i);
  wire::RoceSpec s;
  s.eth.src = from.mac();
  s.eth.dst = {0x02, 0, 0, 0, 0, 0x99};
  s.ip.version = from.is_ipv6() ? IpVersion::v6 : IpVersion::v4;
  s.ip.src = from.config().local_address;
  s.ip.dst = from.config().local_address;
  s.ip.tos = tos;
  s.src_port = 0xc123;  // a per-QP port the socket cannot use: the port re-CRCs the frame
  s.bth.opcode = 0x04;  // RC SEND ONLY
  s.bth.dest_qp = Qpn{0x12};
  s.bth.psn = Psn{psn};
  s.payload = payload;
  Packet* p = from.alloc();
  if (p == nullptr) return nullptr;
  auto n = wire::build_roce(s, p->room());
  if (!n) {
    from.free(p);
    return nullptr;
  }
  p->len = static_cast<std::uint32_t>(*n);
  return p;
}

bool send_one(UringUdpPort& port, Packet* p) {
  std::array<Packet*, 1> one{p};
  return port.tx_burst(one) == 1;
}

class UringPorts : public ::testing::TestWithParam<IpVersion> {
 protected:
  void SetUp() override { open({}); }
  void open(UringUdpConfig cfg) {
    pair_ = {};  // close the previous pair first: its ports become free again
    pair_ = open_pair(GetParam(), cfg);
    if (!pair_.skip_reason.empty())
      GTEST_SKIP() << "SKIPPED: io_uring unavailable: " << pair_.skip_reason;
    ASSERT_TRUE(pair_.a && pair_.b);
  }
  UringUdpPort& a() { return *pair_.a; }
  UringUdpPort& b() { return *pair_.b; }
  PortPair pair_;
};

INSTANTIATE_TEST_SUITE_P(Ip, UringPorts, ::testing::Values(IpVersion::v4, IpVersion::v6),
                         [](const auto& info) {
                           return info.param == IpVersion::v4 ? "Ipv4" : "Ipv6";
                         });

TEST_P(UringPorts, RoceFramesCrossBothWaysWithTheDocumentedSyntheticHeaders) {
  const bool v6 = GetParam() == IpVersion::v6;
  const std::vector<std::size_t> sizes = {0, 1, 64, 1000, 4096};
  for (auto [from, to] : {std::pair{&a(), &b()}, std::pair{&b(), &a()}}) {
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      Packet* p = roce_frame(*from, static_cast<std::uint32_t>(100 + k), sizes[k]);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(send_one(*from, p));
    }
    const auto got = receive(*to, sizes.size());
    ASSERT_EQ(got.size(), sizes.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      const Packet& p = *got[k];
      auto r = wire::parse_frame(p.bytes(), {.drop_bad_icrc = false});
      ASSERT_TRUE(r) << "frame " << k << ": " << wire::drop_reason_name(r.error());
      EXPECT_EQ(r->proto, v6 ? wire::Proto::roce_v6 : wire::Proto::roce_v4);
      // The kernel sends IPv4 with ID 0 and DF, which the synthetic header re-creates: the ICRC
      // checks out on both families, though only IPv6 frames can promise it.
      EXPECT_TRUE(r->roce.icrc_ok) << "frame " << k;
      EXPECT_EQ(p.flags, v6 ? 0u : Packet::kIcrcUnverifiable);
      EXPECT_EQ(r->eth().dst(), to->mac());
      EXPECT_EQ(r->eth().src(), kSyntheticPeerMac);
      EXPECT_EQ(r->udp().src_port(), from->config().udp_port) << "the sender's socket port";
      EXPECT_EQ(r->udp().dst_port(), wire::kRoceV2Port) << "presented as 4791 whatever the bind";
      EXPECT_EQ(r->udp().checksum(), 0);
      if (!v6) {
        EXPECT_EQ(r->ipv4().id(), 0);
        EXPECT_EQ(r->ipv4().flags_frag(), wire::Ipv4View::kDontFragment);
        EXPECT_EQ(r->ipv4().ttl(), 64);
        EXPECT_EQ(r->ipv4().src(), (wire::Ipv4Addr{127, 0, 0, 1}));
      } else {
        EXPECT_EQ(r->ipv6().hop_limit(), 64);
        EXPECT_EQ(r->ipv6().src(), loopback_address(IpVersion::v6));
        EXPECT_EQ(r->ipv6().dst(), loopback_address(IpVersion::v6));
      }
      EXPECT_EQ(r->bth().psn().raw(), 100 + k);
      ASSERT_EQ(r->payload().size(), sizes[k]);
      for (std::size_t i = 0; i < sizes[k]; ++i)
        ASSERT_EQ(r->payload()[i], pattern(static_cast<std::uint32_t>(100 + k), i)) << i;
      EXPECT_GE(p.capacity, p.len);
    }
    for (Packet* p : got) to->free(p);
    EXPECT_EQ(to->counters().get(UringCounter::rx_packets), sizes.size());
    EXPECT_EQ(to->counters().get(UringCounter::rx_icrc_unverifiable), v6 ? 0u : sizes.size());
    EXPECT_EQ(from->counters().get(UringCounter::tx_icrc_rewritten), sizes.size());
  }
  EXPECT_EQ(a().counters().get(UringCounter::tx_packets), sizes.size());
  EXPECT_EQ(a().counters().get(UringCounter::tx_errors), 0u);
  EXPECT_EQ(b().counters().get(UringCounter::free_invalid), 0u);
}

TEST_P(UringPorts, TrafficClassWithEcnReachesTheReceiver) {
  Packet* p = roce_frame(a(), 1, 32, 0xb8 | 0x03);  // DSCP 46, ECN CE
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(send_one(a(), p));
  const auto got = receive(b(), 1);
  ASSERT_EQ(got.size(), 1u);
  auto r = wire::parse_frame(got[0]->bytes(), {.drop_bad_icrc = false});
  ASSERT_TRUE(r);
  const std::uint8_t tc = GetParam() == IpVersion::v4 ? r->ipv4().tos() : r->ipv6().traffic_class();
  EXPECT_EQ(tc, 0xbb);
  b().free(got[0]);
}

TEST_P(UringPorts, ThousandsOfFramesInBurstsArriveInOrderWhileBuffersAreRecycled) {
  UringUdpConfig cfg;
  cfg.pool_packets = 256;
  cfg.rx_buffers = 64;
  open(cfg);
  if (IsSkipped() || HasFatalFailure()) return;
  constexpr std::uint32_t kFrames = 3000;
  std::uint32_t sent = 0, received = 0, in_order = 0;
  std::array<Packet*, kBurst> burst;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (received < kFrames && std::chrono::steady_clock::now() < deadline) {
    std::size_t n = 0;
    while (n < kBurst && sent + n < kFrames) {
      Packet* p = roce_frame(a(), static_cast<std::uint32_t>(sent + n), 256);
      if (p == nullptr) break;
      burst[n++] = p;
    }
    const std::size_t taken = a().tx_burst(std::span<Packet*>(burst.data(), n));
    for (std::size_t i = taken; i < n; ++i) a().free(burst[i]);
    sent += static_cast<std::uint32_t>(taken);
    const std::size_t k = b().rx_burst(burst);
    for (std::size_t i = 0; i < k; ++i) {
      auto r = wire::parse_frame(burst[i]->bytes());
      in_order += r && r->bth().psn().raw() == received;
      ++received;
      b().free(burst[i]);
    }
    a().rx_burst(std::span<Packet*>(burst.data(), 0));  // reaps A's send completions
  }
  EXPECT_EQ(sent, kFrames);
  EXPECT_EQ(received, kFrames) << "loopback with room in the socket buffer loses nothing";
  EXPECT_EQ(in_order, kFrames);
  EXPECT_GT(received, cfg.rx_buffers * 10u) << "each receive buffer was used many times";
  // Every buffer is back: free or lent to the kernel for the next datagram.
  EXPECT_EQ(b().pool_available() + b().rx_buffers_lent(), cfg.pool_packets);
  EXPECT_EQ(a().tx_in_flight(), 0u);
  EXPECT_EQ(a().pool_available() + a().rx_buffers_lent(), cfg.pool_packets);
}

TEST_P(UringPorts, ReceiveStarvedOfBuffersResumesOnceTheCallerFreesThem) {
  UringUdpConfig cfg;
  cfg.pool_packets = 128;
  cfg.rx_buffers = 64;
  open(cfg);
  if (IsSkipped() || HasFatalFailure()) return;
  constexpr std::uint32_t kFrames = 200;  // more than B's whole pool
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    Packet* p = roce_frame(a(), i, 100);
    ASSERT_NE(p, nullptr) << i;
    ASSERT_TRUE(send_one(a(), p));
    if (i % 32 == 31) a().rx_burst(std::span<Packet*>());  // reap A's send completions
  }
  // B keeps everything it receives: its pool runs dry and the multishot receive stops.
  auto held = receive(b(), kFrames, std::chrono::milliseconds(500));
  EXPECT_EQ(held.size(), cfg.pool_packets);
  EXPECT_GE(b().counters().get(UringCounter::rx_no_buffer), 1u);
  for (Packet* p : held) b().free(p);
  const auto rest = receive(b(), kFrames - held.size());
  EXPECT_EQ(rest.size(), kFrames - held.size()) << "the datagrams waited in the socket";
  EXPECT_GE(b().counters().get(UringCounter::rx_rearms), 1u);
  std::uint32_t expect = static_cast<std::uint32_t>(held.size());
  for (Packet* p : rest) {
    auto r = wire::parse_frame(p->bytes());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bth().psn().raw(), expect++);
    b().free(p);
  }
}

TEST_P(UringPorts, OversizeDatagramIsDroppedAsTruncatedAndTheNextOneStillArrives) {
  PlainSocket plain(loopback_address(GetParam()));
  std::vector<std::byte> big(b().buffer_size() + 100, std::byte{1});
  ASSERT_TRUE(plain.send_to(loopback_address(GetParam()), b().config().udp_port, big));
  Packet* p = roce_frame(a(), 5, 100);
  ASSERT_TRUE(send_one(a(), p));
  const auto got = receive(b(), 2, std::chrono::milliseconds(500));
  ASSERT_EQ(got.size(), 1u);
  auto r = wire::parse_frame(got[0]->bytes(), {.drop_bad_icrc = false});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bth().psn().raw(), 5u);
  EXPECT_EQ(b().counters().get(UringCounter::rx_truncated), 1u);
  b().free(got[0]);
}

TEST_P(UringPorts, DatagramTooShortForBthAndIcrcIsCountedNotRoce) {
  PlainSocket plain(loopback_address(GetParam()));
  std::vector<std::byte> tiny(15, std::byte{0});
  ASSERT_TRUE(plain.send_to(loopback_address(GetParam()), b().config().udp_port, tiny));
  const auto got = receive(b(), 1, std::chrono::milliseconds(300));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(b().counters().get(UringCounter::rx_not_roce), 1u);
}

TEST_P(UringPorts, FramesItCannotCarryAreDroppedCountedAndTheirBuffersReturn) {
  const std::size_t before = a().pool_available();
  Packet* arp = a().alloc();
  ASSERT_NE(arp, nullptr);
  wire::ArpSpec spec;
  spec.eth.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  auto n = wire::build_arp(spec, arp->room());
  ASSERT_TRUE(n);
  arp->len = static_cast<std::uint32_t>(*n);
  EXPECT_TRUE(send_one(a(), arp)) << "taken, and dropped";
  EXPECT_EQ(a().counters().get(UringCounter::tx_drop_not_udp), 1u);

  // A frame of the other IP version than the socket's.
  Packet* other = a().alloc();
  ASSERT_NE(other, nullptr);
  wire::RoceSpec s;
  s.ip.version = GetParam() == IpVersion::v4 ? IpVersion::v6 : IpVersion::v4;
  s.ip.src = s.ip.dst = loopback_address(s.ip.version);
  s.bth.opcode = 0x04;
  n = wire::build_roce(s, other->room());
  ASSERT_TRUE(n);
  other->len = static_cast<std::uint32_t>(*n);
  EXPECT_TRUE(send_one(a(), other));
  EXPECT_EQ(a().counters().get(UringCounter::tx_drop_family), 1u);

  // Truncated in the middle of the IP header.
  Packet* runt = roce_frame(a(), 1, 10);
  ASSERT_NE(runt, nullptr);
  runt->len = 20;
  EXPECT_TRUE(send_one(a(), runt));
  EXPECT_EQ(a().counters().get(UringCounter::tx_drop_not_udp), 2u);
  EXPECT_EQ(a().pool_available(), before);
  EXPECT_EQ(a().counters().get(UringCounter::tx_packets), 0u);
}

TEST_P(UringPorts, PoolExhaustionAndForeignFreesAreCountedNotFatal) {
  std::vector<Packet*> held;
  while (Packet* p = a().alloc()) held.push_back(p);
  EXPECT_EQ(held.size(), a().config().pool_packets - a().rx_buffers_lent());
  EXPECT_EQ(a().counters().get(UringCounter::alloc_fail), 1u);
  for (Packet* p : held) a().free(p);
  a().free(held[0]);  // twice
  Packet foreign;
  a().free(&foreign);
  a().free(nullptr);
  EXPECT_EQ(a().counters().get(UringCounter::free_invalid), 3u);
  EXPECT_EQ(a().pool_available(), held.size());
  Packet* again = a().alloc();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->len, 0u);
  EXPECT_EQ(again->capacity, a().buffer_size());
  EXPECT_GE(again->capacity, a().max_frame());
  a().free(again);
}

TEST_P(UringPorts, ClosingWithDatagramsQueuedAndNothingReceivedLeaksNothing) {
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(send_one(a(), roce_frame(a(), i, 512)));
  // B never polls: its datagrams sit in the socket and its receive stays armed. Closing both ports
  // cancels the receive and the sends and frees every buffer (ASan/LSan builds check the leak
  // part).
  const auto start = std::chrono::steady_clock::now();
  pair_ = {};
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500))
      << "the cancel completes at once; the bounded wait is for a kernel that does not answer";
}

// What the receiving side cannot see: the IPv4 header the kernel really sends. A raw socket (needs
// CAP_NET_RAW) shows it; the port must have made ID 0 with DF, so the ICRC holds on the wire.
TEST(UringUdpPortWire, KernelSendsIpv4WithIdZeroAndDfSoTheIcrcHoldsOnTheWire) {
  const int raw = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
  if (raw < 0) GTEST_SKIP() << "SKIPPED: a raw socket needs CAP_NET_RAW: " << std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{raw};
  const timeval tv{0, 100'000};
  ASSERT_EQ(::setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  // No peer port: the datagram goes to 127.0.0.1:4791 (received by whoever listens there, or
  // answered by an ICMP port unreachable: only the copy the raw socket sees matters).
  PortPair pair = open_pair(IpVersion::v4);
  if (!pair.skip_reason.empty())
    GTEST_SKIP() << "SKIPPED: io_uring unavailable: " << pair.skip_reason;
  ASSERT_TRUE(pair.a);
  pair.b.reset();
  UringUdpConfig cfg = pair.a->config();
  cfg.peer_udp_port = 0;
  pair.a.reset();
  auto port = UringUdpPort::create(cfg);
  ASSERT_TRUE(port) << port.error().to_string();
  ASSERT_TRUE(send_one(**port, roce_frame(**port, 77, 333)));

  std::array<std::byte, 2048> buf;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    (*port)->rx_burst(std::span<Packet*>());  // reaps the send completion
    const ssize_t n = ::recv(raw, buf.data(), buf.size(), 0);
    if (n < 28) continue;
    const ConstByteSpan dgram(buf.data(), static_cast<std::size_t>(n));
    const auto ip = wire::view_unchecked<wire::Ipv4View>(dgram, 0);
    const auto udp = wire::view_unchecked<wire::UdpView>(dgram, 20);
    if (ip.ihl() != 5 || udp.src_port() != cfg.udp_port || udp.dst_port() != wire::kRoceV2Port)
      continue;
    seen = true;
    EXPECT_EQ(ip.id(), 0) << "the engine's IPv4 ICRC assumes ID 0";
    EXPECT_EQ(ip.flags_frag(), wire::Ipv4View::kDontFragment);
    // The frame as a capture on lo would show it, checked the way any RoCE receiver checks it.
    std::vector<std::byte> frame(14 + dgram.size());
    store_be16(frame, 12, wire::ethertype::kIpv4);
    store_bytes(frame, 14, dgram);
    // lo leaves the UDP checksum unfinished (checksum offload); the ICRC masks that field anyway.
    store_be16(frame, 14 + 20 + 6, 0);
    auto r = wire::parse_frame(frame);
    ASSERT_TRUE(r) << wire::drop_reason_name(r.error());
    EXPECT_TRUE(r->roce.icrc_ok);
    EXPECT_EQ(r->bth().psn().raw(), 77u);
  }
  EXPECT_TRUE(seen) << "the datagram never showed on the raw socket";
}

// rxe sends IPv6 RoCE with a zero UDP checksum, which the kernel drops unless the socket allows
// it (UDP_NO_CHECK6_RX, RFC 6936).
TEST(UringUdpPortIpv6, DatagramWithAZeroUdpChecksumIsAccepted) {
  PortPair pair = open_pair(IpVersion::v6);
  if (!pair.skip_reason.empty())
    GTEST_SKIP() << "SKIPPED: io_uring unavailable: " << pair.skip_reason;
  ASSERT_TRUE(pair.b);
  EXPECT_TRUE(pair.b->accepts_zero_udp6_checksum());
  const wire::Ipv6Addr lo = loopback_address(IpVersion::v6);
  PlainSocket plain(lo);
  ASSERT_TRUE(plain.send_zero_udp6_checksum());
  const std::vector<std::byte> payload(64, std::byte{0x21});
  wire::RoceSpec s;
  s.bth.opcode = 0x04;
  s.bth.psn = Psn{9};
  s.payload = payload;
  wire::SocketMeta meta;
  meta.version = IpVersion::v6;
  meta.src = meta.dst = lo;
  meta.src_port = plain.local_port();
  std::vector<std::byte> dgram(256);
  auto n = wire::build_udp_payload(s, meta, dgram);
  ASSERT_TRUE(n);
  dgram.resize(*n);
  ASSERT_TRUE(plain.send_to(lo, pair.b->config().udp_port, dgram));
  const auto got = receive(*pair.b, 1, std::chrono::milliseconds(500));
  ASSERT_EQ(got.size(), 1u) << "the kernel dropped the zero-checksum datagram";
  auto r = wire::parse_frame(got[0]->bytes());
  ASSERT_TRUE(r) << "the ICRC a socket peer computes verifies";
  EXPECT_EQ(r->bth().psn().raw(), 9u);
  pair.b->free(got[0]);
}

TEST(UringUdpPortConfig, RefusesWhatCannotWorkWithNamedErrors) {
  UringUdpConfig c;
  c.local_address = wire::ipv4_mapped({0, 0, 0, 0});
  auto r = UringUdpPort::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;

  c = {};
  c.rx_buffers = 100;
  r = UringUdpPort::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument) << "not a power of two";

  c = {};
  c.pool_packets = c.rx_buffers;
  r = UringUdpPort::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument) << "nothing left to send with";

  c = {};
  c.buffer_size = 1000;
  r = UringUdpPort::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::buffer_too_small) << r.error().message;

  c = {};
  c.mtu = 40;
  r = UringUdpPort::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::out_of_range);
}

}  // namespace
}  // namespace softrnic::transport::test
