// Neighbour resolution: answering ARP and IPv6 neighbour solicitations for our addresses,
// resolving peers between two tables, retries and failure, ageing, VLANs, RFC 4861 validation.
// Frames are checked by parsing them back with wire::parse_frame, and by tshark (required: CI
// installs it).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "capture/pcap_file.hpp"
#include "engine/neighbour.hpp"
#include "test_support.hpp"
#include "wire/build.hpp"

// Heap allocations are counted so that a test can prove the table allocates nothing after
// construction. The replacement pairs malloc with free; GCC sees the replaced operator new and
// delete inlined into library code and warns of a mismatch that is not one.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<std::uint64_t> g_allocations{0};
}
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace softrnic::engine {
namespace {

using wire::Ipv4Addr;
using wire::Ipv6Addr;
using wire::MacAddr;
using Frame = std::vector<std::byte>;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000'000'000;
constexpr MacAddr kMacA{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
constexpr MacAddr kMacB{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};
constexpr MacAddr kMacC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0c};
constexpr MacAddr kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Ipv4Addr kIpA{198, 18, 0, 1};
constexpr Ipv4Addr kIpB{198, 18, 0, 2};
constexpr Ipv4Addr kIpC{198, 18, 0, 3};
constexpr Ipv6Addr kIp6A{0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr Ipv6Addr kIp6B{0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
constexpr Ipv6Addr kIp6C{0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03};
constexpr Ipv6Addr kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

Ipv6Addr mapped(const Ipv4Addr& a) { return wire::ipv4_mapped(a); }

// One side: a GID table with an IPv4 and an IPv6 address, and its neighbour table.
struct Node {
  GidTable gids;
  NeighbourTable nt;
  Node(const MacAddr& mac, const Ipv4Addr& ip4, const Ipv6Addr& ip6,
       std::optional<std::uint16_t> vlan = std::nullopt, const NeighbourConfig& cfg = {})
      : gids({.mac = mac, .vlan = vlan}), nt(gids, cfg) {
    EXPECT_TRUE(gids.add_ipv4(ip4, 24));
    EXPECT_TRUE(gids.add_ipv6(ip6, 64));
  }
};

wire::ParsedFrame parsed(const Frame& f) {
  auto p = wire::parse_frame(f);
  EXPECT_TRUE(p.has_value()) << (p ? "" : wire::drop_reason_name(p.error()));
  return p ? *p : wire::ParsedFrame{};
}

// Hands a frame to the table; returns the reply (empty when none).
Frame deliver(NeighbourTable& nt, const Frame& f, std::uint64_t now) {
  Frame reply(kNeighbourFrameMax);
  const auto r = nt.handle(parsed(f), now, reply);
  reply.resize(r.reply_len);
  return reply;
}

std::vector<Frame> poll_all(NeighbourTable& nt, std::uint64_t now) {
  std::array<std::array<std::byte, kNeighbourFrameMax>, 8> room{};
  std::array<TxBuffer, 8> bufs;
  for (std::size_t i = 0; i < bufs.size(); ++i) bufs[i].room = room[i];
  const std::size_t n = nt.poll(now, bufs);
  std::vector<Frame> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.emplace_back(room[i].begin(), room[i].begin() + bufs[i].len);
  }
  return out;
}

Frame build(const wire::ArpSpec& s) {
  Frame f(kNeighbourFrameMax);
  const auto n = wire::build_arp(s, f);
  EXPECT_TRUE(n.has_value());
  f.resize(n.value_or(0));
  return f;
}

Frame build(const wire::NdSpec& s) {
  Frame f(kNeighbourFrameMax);
  const auto n = wire::build_nd(s, f);
  EXPECT_TRUE(n.has_value());
  f.resize(n.value_or(0));
  return f;
}

Frame arp_request(const MacAddr& from_mac, const Ipv4Addr& from, const Ipv4Addr& to,
                  std::optional<std::uint16_t> tci = std::nullopt) {
  wire::ArpSpec s;
  s.eth = {kBroadcast, from_mac, tci};
  s.oper = wire::ArpView::kRequest;
  s.sha = from_mac;
  s.spa = from;
  s.tpa = to;
  return build(s);
}

MacAddr solicited_mac(const Ipv6Addr& target) {
  return {0x33, 0x33, 0xff, target[13], target[14], target[15]};
}

Frame ns(const MacAddr& from_mac, const Ipv6Addr& from, const Ipv6Addr& target,
         std::uint8_t hop_limit = 255, std::optional<std::uint16_t> tci = std::nullopt) {
  wire::NdSpec s;
  s.eth = {solicited_mac(target), from_mac, tci};
  s.ip.version = wire::IpVersion::v6;
  s.ip.src = from;
  s.ip.dst = wire::solicited_node(target);
  s.ip.ttl = hop_limit;
  s.type = wire::icmpv6::kNeighbourSolicitation;
  s.target = target;
  s.link_addr = from_mac;
  return build(s);
}

Frame na(const MacAddr& from_mac, const Ipv6Addr& from, const MacAddr& to_mac, const Ipv6Addr& to,
         std::uint8_t flags, std::optional<MacAddr> tlla) {
  wire::NdSpec s;
  s.eth = {to_mac, from_mac, std::nullopt};
  s.ip.version = wire::IpVersion::v6;
  s.ip.src = from;
  s.ip.dst = to;
  s.ip.ttl = 255;
  s.type = wire::icmpv6::kNeighbourAdvertisement;
  s.na_flags = flags;
  s.target = from;
  s.link_addr = tlla;
  return build(s);
}

// The link-layer option of an NS/NA frame: {type, mac}.
std::pair<std::uint8_t, MacAddr> nd_option(const wire::ParsedFrame& p) {
  const auto o = p.nd_options();
  EXPECT_EQ(o.size(), 8u);
  if (o.size() < 8) return {};
  EXPECT_EQ(load_u8(o, 1), 1u);  // length in units of 8 bytes
  return {load_u8(o, 0), wire::load_mac(o, 2)};
}

std::uint64_t count(const NeighbourTable& nt, NeighbourCounter c) { return nt.counters().get(c); }

// Delivers requests to `to` and its replies back to `from`.
void answer(const std::vector<Frame>& requests, NeighbourTable& from, NeighbourTable& to,
            std::uint64_t now) {
  for (const auto& f : requests) {
    const Frame reply = deliver(to, f, now);
    ASSERT_FALSE(reply.empty());
    from.handle(parsed(reply), now, {});
  }
}

// Frames each side sends to the other until both are quiet; returns everything sent.
std::vector<Frame> exchange(NeighbourTable& a, NeighbourTable& b, std::uint64_t now) {
  std::vector<Frame> all;
  std::vector<Frame> to_b = poll_all(a, now), to_a = poll_all(b, now);
  for (int round = 0; round < 8 && (!to_a.empty() || !to_b.empty()); ++round) {
    std::vector<Frame> next_b, next_a;
    for (const auto& f : to_b) {
      all.push_back(f);
      if (auto r = deliver(b, f, now); !r.empty()) next_a.push_back(r);
    }
    for (const auto& f : to_a) {
      all.push_back(f);
      if (auto r = deliver(a, f, now); !r.empty()) next_b.push_back(r);
    }
    for (auto& f : poll_all(a, now)) next_b.push_back(f);
    for (auto& f : poll_all(b, now)) next_a.push_back(f);
    to_a = std::move(next_a);
    to_b = std::move(next_b);
  }
  return all;
}

// ---- answering ----

TEST(NeighbourAnswers, ArpRequestForOurAddressGetsAReplyFieldByField) {
  Node a(kMacA, kIpA, kIp6A);
  const Frame reply = deliver(a.nt, arp_request(kMacB, kIpB, kIpA), 0);
  ASSERT_FALSE(reply.empty());
  const auto p = parsed(reply);
  ASSERT_EQ(p.proto, wire::Proto::arp);
  EXPECT_EQ(reply.size(), 60u);  // padded to the Ethernet minimum
  EXPECT_EQ(p.eth().dst(), kMacB);
  EXPECT_EQ(p.eth().src(), kMacA);
  EXPECT_EQ(p.eth().ethertype(), wire::ethertype::kArp);
  EXPECT_FALSE(p.vlan().has_value());
  const auto arp = p.arp();
  EXPECT_TRUE(arp.is_ethernet_ipv4());
  EXPECT_EQ(arp.oper(), wire::ArpView::kReply);
  EXPECT_EQ(arp.sha(), kMacA);
  EXPECT_EQ(arp.spa(), kIpA);
  EXPECT_EQ(arp.tha(), kMacB);
  EXPECT_EQ(arp.tpa(), kIpB);
  EXPECT_EQ(count(a.nt, NeighbourCounter::arp_rx), 1u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::arp_replies_tx), 1u);
  // RFC 826: the requester is learned; unconfirmed, so stale.
  EXPECT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::stale);
}

TEST(NeighbourAnswers, ArpRequestForAnotherAddressIsNotAnsweredNorLearned) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(deliver(a.nt, arp_request(kMacB, kIpB, kIpC), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_not_for_us), 1u);
  EXPECT_FALSE(a.nt.state(mapped(kIpB)).has_value());
}

TEST(NeighbourAnswers, ArpProbeFromZeroAddressIsAnsweredButNotLearned) {
  Node a(kMacA, kIpA, kIp6A);
  const Frame reply = deliver(a.nt, arp_request(kMacB, {0, 0, 0, 0}, kIpA), 0);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(parsed(reply).arp().tpa(), (Ipv4Addr{0, 0, 0, 0}));
  EXPECT_EQ(a.nt.size(), 0u);
}

TEST(NeighbourAnswers, AnotherMacClaimingOurAddressIsACountedConflict) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(deliver(a.nt, arp_request(kMacB, kIpA, kIpA), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::address_conflict), 1u);
}

TEST(NeighbourAnswers, NeighbourSolicitationGetsASolicitedOverrideAdvertisement) {
  Node a(kMacA, kIpA, kIp6A);
  const Frame reply = deliver(a.nt, ns(kMacB, kIp6B, kIp6A), 0);
  ASSERT_FALSE(reply.empty());
  const auto p = parsed(reply);  // parse_frame verifies the ICMPv6 checksum
  ASSERT_EQ(p.proto, wire::Proto::nd);
  EXPECT_EQ(p.eth().dst(), kMacB);
  EXPECT_EQ(p.eth().src(), kMacA);
  EXPECT_EQ(p.ethertype, wire::ethertype::kIpv6);
  const auto ip = p.ipv6();
  EXPECT_EQ(ip.src(), kIp6A);
  EXPECT_EQ(ip.dst(), kIp6B);  // the solicitor's unicast address
  EXPECT_EQ(ip.hop_limit(), 255);
  EXPECT_EQ(ip.next_header(), wire::ipproto::kIcmpv6);
  EXPECT_EQ(ip.payload_length(), 32);
  const auto nd = p.nd();
  EXPECT_EQ(nd.type(), wire::icmpv6::kNeighbourAdvertisement);
  EXPECT_EQ(nd.code(), 0);
  EXPECT_EQ(nd.na_flags(), wire::icmpv6::kNaSolicited | wire::icmpv6::kNaOverride);
  EXPECT_EQ(nd.target(), kIp6A);
  const auto [opt_type, opt_mac] = nd_option(p);
  EXPECT_EQ(opt_type, wire::icmpv6::kOptTargetLinkAddr);
  EXPECT_EQ(opt_mac, kMacA);
  // The checksum, recomputed independently of the parser.
  const auto l4 = p.frame.subspan(p.l4_off, p.ip_end - p.l4_off);
  EXPECT_EQ(wire::ones_fold(
                wire::ones_sum(l4, wire::pseudo_sum_v6(kIp6A, kIp6B, wire::ipproto::kIcmpv6, 32))),
            0);
  EXPECT_EQ(count(a.nt, NeighbourCounter::nd_rx), 1u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::na_tx), 1u);
  EXPECT_EQ(a.nt.state(kIp6B), NeighbourState::stale);  // RFC 4861 7.2.3
}

TEST(NeighbourAnswers, SolicitationForOurLinkLocalAddressIsAnswered) {
  Node a(kMacA, kIpA, kIp6A);
  const Ipv6Addr ll_a = link_local_from_mac(kMacA), ll_b = link_local_from_mac(kMacB);
  const Frame reply = deliver(a.nt, ns(kMacB, ll_b, ll_a), 0);
  ASSERT_FALSE(reply.empty());
  const auto p = parsed(reply);
  EXPECT_EQ(p.nd().target(), ll_a);
  EXPECT_EQ(p.ipv6().src(), ll_a);
  EXPECT_EQ(p.ipv6().dst(), ll_b);
}

TEST(NeighbourAnswers, SolicitationWithHopLimitBelow255IsIgnoredAndCounted) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(deliver(a.nt, ns(kMacB, kIp6B, kIp6A, 254), 0).empty());
  EXPECT_TRUE(deliver(a.nt, ns(kMacB, kIp6B, kIp6A, 64), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_bad_hop_limit), 2u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::na_tx), 0u);
  EXPECT_FALSE(a.nt.state(kIp6B).has_value());
}

TEST(NeighbourAnswers, SolicitationForAnotherAddressIsIgnored) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(deliver(a.nt, ns(kMacB, kIp6B, kIp6C), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_not_for_us), 1u);
  EXPECT_FALSE(a.nt.state(kIp6B).has_value());
}

TEST(NeighbourAnswers, DuplicateAddressProbeIsAnsweredToAllNodes) {
  Node a(kMacA, kIpA, kIp6A);
  wire::NdSpec s;
  s.eth = {solicited_mac(kIp6A), kMacB, std::nullopt};
  s.ip.version = wire::IpVersion::v6;
  s.ip.dst = wire::solicited_node(kIp6A);  // source :: and no source link-layer option
  s.ip.ttl = 255;
  s.target = kIp6A;
  const Frame reply = deliver(a.nt, build(s), 0);
  ASSERT_FALSE(reply.empty());
  const auto p = parsed(reply);
  EXPECT_EQ(p.ipv6().dst(), kAllNodes);
  EXPECT_EQ(p.eth().dst(), (MacAddr{0x33, 0x33, 0, 0, 0, 1}));
  EXPECT_EQ(p.nd().na_flags(), wire::icmpv6::kNaOverride);  // RFC 4861 7.2.4: Solicited clear
  EXPECT_EQ(count(a.nt, NeighbourCounter::address_conflict), 1u);
  EXPECT_EQ(a.nt.size(), 0u);
}

TEST(NeighbourAnswers, MalformedNdIsIgnoredAsInvalid) {
  Node a(kMacA, kIpA, kIp6A);
  // An option of length 0 (RFC 4861 7.1.1): patch the option length and fix the checksum.
  Frame f = ns(kMacB, kIp6B, kIp6A);
  const std::size_t l4 = 14 + 40;
  f[l4 + 24 + 1] = std::byte{0};
  f[l4 + 2] = f[l4 + 3] = std::byte{0};
  const auto sum = wire::ones_fold(wire::ones_sum(
      ConstByteSpan(f).subspan(l4, 32),
      wire::pseudo_sum_v6(kIp6B, wire::solicited_node(kIp6A), wire::ipproto::kIcmpv6, 32)));
  store_be16(f, l4 + 2, sum);
  EXPECT_TRUE(deliver(a.nt, f, 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_invalid), 1u);
}

TEST(NeighbourAnswers, ReplyMayBeBuiltIntoTheRequestsOwnBuffer) {
  Node a(kMacA, kIpA, kIp6A);
  for (Frame f : {arp_request(kMacB, kIpB, kIpA), ns(kMacB, kIp6B, kIp6A)}) {
    f.resize(kNeighbourFrameMax);
    auto p = wire::parse_frame(f);
    ASSERT_TRUE(p.has_value());
    const auto r = a.nt.handle(*p, 0, f);  // the reply overwrites the request
    ASSERT_GT(r.reply_len, 0u);
    f.resize(r.reply_len);
    const auto q = parsed(f);
    EXPECT_EQ(q.eth().dst(), kMacB);
    if (q.proto == wire::Proto::arp) {
      EXPECT_EQ(q.arp().tpa(), kIpB);
      EXPECT_EQ(q.arp().spa(), kIpA);
    } else {
      EXPECT_EQ(q.ipv6().dst(), kIp6B);
      EXPECT_EQ(q.nd().target(), kIp6A);
    }
  }
}

TEST(NeighbourAnswers, FramesFromOurOwnMacAreIgnored) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(deliver(a.nt, arp_request(kMacA, kIpB, kIpA), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_own_frame), 1u);
}

// ---- resolving ----

TEST(NeighbourResolve, PeerIsResolvedByArpBetweenTwoTables) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 0).pending());
  ASSERT_TRUE(a.nt.due(0));
  const auto reqs = poll_all(a.nt, 0);
  ASSERT_EQ(reqs.size(), 1u);
  const auto p = parsed(reqs[0]);
  ASSERT_EQ(p.proto, wire::Proto::arp);
  EXPECT_EQ(reqs[0].size(), 60u);
  EXPECT_EQ(p.eth().dst(), kBroadcast);
  EXPECT_EQ(p.eth().src(), kMacA);
  EXPECT_EQ(p.arp().oper(), wire::ArpView::kRequest);
  EXPECT_EQ(p.arp().sha(), kMacA);
  EXPECT_EQ(p.arp().spa(), kIpA);
  EXPECT_EQ(p.arp().tha(), (MacAddr{}));
  EXPECT_EQ(p.arp().tpa(), kIpB);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 1).pending());

  const Frame reply = deliver(b.nt, reqs[0], 2);
  ASSERT_FALSE(reply.empty());
  const auto learned = a.nt.handle(parsed(reply), 3, {});
  EXPECT_TRUE(learned.learned);
  EXPECT_EQ(learned.reply_len, 0u);
  const auto r = a.nt.resolve(mapped(kIpB), 4);
  ASSERT_TRUE(r.resolved());
  EXPECT_EQ(r.mac, kMacB);
  EXPECT_FALSE(r.vlan_tci.has_value());
  EXPECT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::reachable);
  // Nothing more to send: the retry timer is gone with the answer.
  EXPECT_TRUE(poll_all(a.nt, 2 * kSec).empty());
  // B learned A from the request: usable at once, and re-confirmed by one unicast probe.
  const auto rb = b.nt.resolve(mapped(kIpA), 5);
  ASSERT_TRUE(rb.resolved());
  EXPECT_EQ(rb.mac, kMacA);
  const auto probes = poll_all(b.nt, 5);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(parsed(probes[0]).eth().dst(), kMacA);
  ASSERT_FALSE(deliver(a.nt, probes[0], 6).empty());
}

TEST(NeighbourResolve, PeerIsResolvedByNeighbourDiscoveryBetweenTwoTables) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  EXPECT_TRUE(a.nt.resolve(kIp6B, 0).pending());
  const auto reqs = poll_all(a.nt, 0);
  ASSERT_EQ(reqs.size(), 1u);
  const auto p = parsed(reqs[0]);
  ASSERT_EQ(p.proto, wire::Proto::nd);
  EXPECT_EQ(p.eth().dst(), (MacAddr{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}));
  EXPECT_EQ(p.ipv6().dst(), (Ipv6Addr{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 2}));
  EXPECT_EQ(p.ipv6().src(), kIp6A);
  EXPECT_EQ(p.ipv6().hop_limit(), 255);
  EXPECT_EQ(p.nd().type(), wire::icmpv6::kNeighbourSolicitation);
  EXPECT_EQ(p.nd().target(), kIp6B);
  const auto [opt_type, opt_mac] = nd_option(p);
  EXPECT_EQ(opt_type, wire::icmpv6::kOptSourceLinkAddr);
  EXPECT_EQ(opt_mac, kMacA);

  answer(reqs, a.nt, b.nt, 1);
  const auto r = a.nt.resolve(kIp6B, 2);
  ASSERT_TRUE(r.resolved());
  EXPECT_EQ(r.mac, kMacB);
  EXPECT_EQ(a.nt.state(kIp6B), NeighbourState::reachable);
  EXPECT_EQ(count(a.nt, NeighbourCounter::ns_tx), 1u);
  EXPECT_EQ(count(b.nt, NeighbourCounter::na_tx), 1u);
}

TEST(NeighbourResolve, LinkLocalPeerIsSolicitedFromOurLinkLocalAddress) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  const Ipv6Addr ll_b = link_local_from_mac(kMacB);
  EXPECT_TRUE(a.nt.resolve(ll_b, 0).pending());
  const auto reqs = poll_all(a.nt, 0);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(parsed(reqs[0]).ipv6().src(), link_local_from_mac(kMacA));
  answer(reqs, a.nt, b.nt, 0);
  EXPECT_EQ(a.nt.resolve(ll_b, 1).mac, kMacB);
}

TEST(NeighbourResolve, UnreachablePeerIsRetriedEachIntervalThenFailsWithAClearError) {
  VirtualClock clock;
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), clock.now_ns()).pending());
  std::vector<std::uint64_t> sent_at;
  for (std::uint64_t t = 0; t <= 5 * kSec; t += 100 * kMs) {
    clock.set(t);
    const auto frames = poll_all(a.nt, clock.now_ns());
    for (const auto& f : frames) {
      EXPECT_EQ(parsed(f).arp().tpa(), kIpB);
      sent_at.push_back(t);
    }
    const auto r = a.nt.resolve(mapped(kIpB), clock.now_ns());
    if (t < 3 * kSec) {
      EXPECT_TRUE(r.pending()) << "at " << t / kMs << " ms";
    } else {
      ASSERT_TRUE(r.failed()) << "at " << t / kMs << " ms";
      EXPECT_EQ(r.failure, ResolveFailure::no_answer);
      EXPECT_EQ(r.requests, 3u);
    }
    if (t == 3 * kSec) break;
  }
  EXPECT_EQ(sent_at, (std::vector<std::uint64_t>{0, 1 * kSec, 2 * kSec}));
  const auto r = a.nt.resolve(mapped(kIpB), clock.now_ns());
  const Error e = resolution_error(mapped(kIpB), r);
  EXPECT_EQ(e.code, Errc::not_found);
  EXPECT_NE(e.message.find("no answer from 198.18.0.2 after 3 requests"), std::string::npos)
      << e.message;
  EXPECT_EQ(count(a.nt, NeighbourCounter::resolve_failed), 1u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::arp_requests_tx), 3u);
}

TEST(NeighbourResolve, RetransmitIntervalAndTriesAreConfigurable) {
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.retrans_timer_ns = 250 * kMs, .max_requests = 5});
  EXPECT_TRUE(a.nt.resolve(kIp6B, 0).pending());
  std::size_t sent = 0;
  std::uint64_t t = 0;
  for (; t <= 2 * kSec; t += 50 * kMs) {
    sent += poll_all(a.nt, t).size();
    if (a.nt.resolve(kIp6B, t).failed()) break;
  }
  EXPECT_EQ(sent, 5u);
  EXPECT_EQ(t, 1250 * kMs);
  const auto e = resolution_error(kIp6B, a.nt.resolve(kIp6B, t));
  EXPECT_NE(e.message.find("no answer from fd00:5052::2 after 5 requests (ND)"), std::string::npos)
      << e.message;
}

TEST(NeighbourResolve, FailedPeerIsTriedAgainAfterTheHoldTime) {
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.failed_hold_ns = 2 * kSec});
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 0).pending());
  for (std::uint64_t t = 0; t <= 3 * kSec; t += kSec) poll_all(a.nt, t);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 3 * kSec).failed());
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 4 * kSec).failed());
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 5 * kSec).pending());
  EXPECT_EQ(poll_all(a.nt, 5 * kSec).size(), 1u);
}

TEST(NeighbourResolve, LateAnswerRevivesAFailedEntry) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 0).pending());
  Frame first;
  for (std::uint64_t t = 0; t <= 3 * kSec; t += kSec) {
    for (auto& f : poll_all(a.nt, t)) first = f;
  }
  ASSERT_TRUE(a.nt.resolve(mapped(kIpB), 3 * kSec).failed());
  a.nt.handle(parsed(deliver(b.nt, first, 3 * kSec)), 3 * kSec, {});
  EXPECT_EQ(a.nt.resolve(mapped(kIpB), 3 * kSec).mac, kMacB);
}

TEST(NeighbourResolve, EntryAgesToStaleAndIsRefreshedByAUnicastProbe) {
  VirtualClock clock;
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.reachable_time_ns = 30 * kSec});
  Node b(kMacB, kIpB, kIp6B);
  a.nt.resolve(mapped(kIpB), 0);
  exchange(a.nt, b.nt, 0);
  ASSERT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::reachable);
  // Before the reachable time: no traffic at all.
  clock.set(29 * kSec);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), clock.now_ns()).resolved());
  EXPECT_TRUE(poll_all(a.nt, clock.now_ns()).empty());
  // After it: the MAC is still used while one unicast probe re-confirms it.
  clock.set(30 * kSec);
  const auto r = a.nt.resolve(mapped(kIpB), clock.now_ns());
  ASSERT_TRUE(r.resolved());
  EXPECT_EQ(r.mac, kMacB);
  EXPECT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::probe);
  const auto probes = poll_all(a.nt, clock.now_ns());
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(parsed(probes[0]).eth().dst(), kMacB);
  const Frame reply = deliver(b.nt, probes[0], clock.now_ns());
  a.nt.handle(parsed(reply), clock.now_ns(), {});
  EXPECT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::reachable);
  EXPECT_TRUE(poll_all(a.nt, clock.now_ns() + 5 * kSec).empty());
}

TEST(NeighbourResolve, StalePeerThatStopsAnsweringFails) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  a.nt.resolve(kIp6B, 0);
  exchange(a.nt, b.nt, 0);
  ASSERT_TRUE(a.nt.resolve(kIp6B, 0).resolved());
  ASSERT_TRUE(a.nt.resolve(kIp6B, 31 * kSec).resolved());
  std::size_t probes = 0;
  for (std::uint64_t t = 31 * kSec; t <= 34 * kSec; t += kSec) {
    for (const auto& f : poll_all(a.nt, t)) {
      const auto p = parsed(f);
      EXPECT_EQ(p.eth().dst(), kMacB);
      EXPECT_EQ(p.ipv6().dst(), kIp6B);  // RFC 4861 7.3.3: unicast in PROBE
      ++probes;
    }
  }
  EXPECT_EQ(probes, 3u);
  EXPECT_TRUE(a.nt.resolve(kIp6B, 34 * kSec).failed());
}

TEST(NeighbourResolve, UpperLayerConfirmationKeepsTheEntryReachable) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  a.nt.resolve(mapped(kIpB), 0);
  exchange(a.nt, b.nt, 0);
  a.nt.confirm(mapped(kIpB), 0, 25 * kSec);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 40 * kSec).resolved());
  EXPECT_EQ(a.nt.state(mapped(kIpB)), NeighbourState::reachable);
  EXPECT_TRUE(poll_all(a.nt, 40 * kSec).empty());
}

TEST(NeighbourResolve, AdvertisementWithoutOverrideDoesNotReplaceAKnownMac) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  a.nt.resolve(kIp6B, 0);
  exchange(a.nt, b.nt, 0);
  // RFC 4861 7.2.5: O clear and a different address: the entry goes stale, the MAC stays.
  a.nt.handle(parsed(na(kMacC, kIp6B, kMacA, kIp6A, wire::icmpv6::kNaSolicited, kMacC)), 1, {});
  EXPECT_EQ(a.nt.state(kIp6B), NeighbourState::stale);
  EXPECT_EQ(a.nt.resolve(kIp6B, 2).mac, kMacB);
  // O set: replaced.
  a.nt.handle(parsed(na(kMacC, kIp6B, kMacA, kIp6A,
                        wire::icmpv6::kNaSolicited | wire::icmpv6::kNaOverride, kMacC)),
              3, {});
  EXPECT_EQ(a.nt.state(kIp6B), NeighbourState::reachable);
  EXPECT_EQ(a.nt.resolve(kIp6B, 4).mac, kMacC);
}

TEST(NeighbourResolve, UnsolicitedAdvertisementForAnUnknownPeerIsDiscarded) {
  Node a(kMacA, kIpA, kIp6A);
  a.nt.handle(parsed(na(kMacB, kIp6B, kMacA, kIp6A, wire::icmpv6::kNaOverride, kMacB)), 0, {});
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_unsolicited), 1u);
  EXPECT_EQ(a.nt.size(), 0u);
}

TEST(NeighbourResolve, AdvertisementToAllNodesWithSolicitedSetIsInvalid) {
  Node a(kMacA, kIpA, kIp6A);
  a.nt.resolve(kIp6B, 0);
  a.nt.handle(parsed(na(kMacB, kIp6B, {0x33, 0x33, 0, 0, 0, 1}, kAllNodes,
                        wire::icmpv6::kNaSolicited | wire::icmpv6::kNaOverride, kMacB)),
              0, {});
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_invalid), 1u);
  EXPECT_TRUE(a.nt.resolve(kIp6B, 0).pending());
}

TEST(NeighbourResolve, MulticastDestinationsMapToTheirMacsWithoutRequests) {
  Node a(kMacA, kIpA, kIp6A);
  const auto r6 =
      a.nt.resolve({0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}, 0);
  ASSERT_TRUE(r6.resolved());
  EXPECT_EQ(r6.mac, (MacAddr{0x33, 0x33, 0x12, 0x34, 0x56, 0x78}));
  const auto r4 = a.nt.resolve(mapped({239, 200, 1, 2}), 0);
  ASSERT_TRUE(r4.resolved());
  EXPECT_EQ(r4.mac, (MacAddr{0x01, 0x00, 0x5e, 0x48, 0x01, 0x02}));
  EXPECT_FALSE(a.nt.due(0));
}

TEST(NeighbourResolve, NoSourceAddressIsANamedFailure) {
  GidTable gids({.mac = kMacA, .ipv6_enabled = false});
  NeighbourTable nt(gids);
  const auto r = nt.resolve(mapped(kIpB), 0);
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.failure, ResolveFailure::no_source_address);
  EXPECT_TRUE(resolution_error(mapped(kIpB), r).message.starts_with("no_source_address: "));
  // A given source must be ours and of the destination's family.
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_EQ(a.nt.resolve(mapped(kIpB), mapped(kIpC), 0).failure, ResolveFailure::no_source_address);
  EXPECT_EQ(a.nt.resolve(mapped(kIpB), kIp6A, 0).failure, ResolveFailure::no_source_address);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), mapped(kIpA), 0).pending());
}

TEST(NeighbourResolve, FullTableRefusesNewResolutionsButEvictsSettledEntries) {
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.capacity = 4});
  for (std::uint8_t i = 10; i < 14; ++i)
    EXPECT_TRUE(a.nt.resolve(mapped({198, 18, 0, i}), 0).pending());
  const auto r = a.nt.resolve(mapped({198, 18, 0, 20}), 0);
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.failure, ResolveFailure::table_full);
  EXPECT_EQ(count(a.nt, NeighbourCounter::table_full), 1u);
  // Once they have failed, they make room.
  for (std::uint64_t t = 0; t <= 3 * kSec; t += kSec) poll_all(a.nt, t);
  EXPECT_TRUE(a.nt.resolve(mapped({198, 18, 0, 20}), 3 * kSec).pending());
  EXPECT_EQ(a.nt.size(), 4u);
}

TEST(NeighbourResolve, FloodOfUnansweredAddressesIsBoundedAndEvictsNoAnsweringPeer) {
  // Replies to forged sources: many new addresses, none of which answers.
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.capacity = 16, .max_unresolved = 4});
  Node b(kMacB, kIpB, kIp6B);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 0).pending());
  answer(poll_all(a.nt, 0), a.nt, b.nt, 0);
  ASSERT_TRUE(a.nt.resolve(mapped(kIpB), 0).resolved());
  std::size_t refused = 0, most_unresolved = 0;
  for (std::uint64_t t = 0; t < 20 * kSec; t += 10 * kMs) {
    const Ipv4Addr forged{10, static_cast<std::uint8_t>(t / kSec),
                          static_cast<std::uint8_t>(t >> 16), static_cast<std::uint8_t>(t >> 8)};
    const auto r = a.nt.resolve(mapped(forged), t);
    if (r.failed() && r.failure == ResolveFailure::too_many_unresolved) ++refused;
    poll_all(a.nt, t);
    a.nt.confirm(mapped(kIpB), 0, t);  // B keeps answering (upper-layer confirmations)
    ASSERT_TRUE(a.nt.resolve(mapped(kIpB), t).resolved()) << "at " << t / kMs << " ms";
    most_unresolved = std::max(most_unresolved, a.nt.unresolved());
  }
  EXPECT_EQ(most_unresolved, 4u);
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::unresolved_full), refused);
  const auto e =
      resolution_error(mapped({10, 0, 0, 1}), a.nt.resolve(mapped({10, 0, 0, 1}), 20 * kSec));
  EXPECT_TRUE(e.message.starts_with("neighbour_unresolved_full: ")) << e.message;
}

TEST(NeighbourResolve, FailedEntriesAreRemovedAfterTheHoldTime) {
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.failed_hold_ns = 2 * kSec});
  for (std::uint8_t i = 10; i < 18; ++i)
    EXPECT_TRUE(a.nt.resolve(mapped({198, 18, 0, i}), 0).pending());
  EXPECT_EQ(a.nt.unresolved(), 8u);
  // Three requests a second apart, failed at 3 s, held until 5 s, then gone without any resolve.
  for (std::uint64_t t = 0; t <= 4 * kSec; t += 100 * kMs) poll_all(a.nt, t);
  EXPECT_EQ(a.nt.size(), 8u);
  EXPECT_EQ(a.nt.unresolved(), 0u);
  EXPECT_EQ(a.nt.state(mapped({198, 18, 0, 10})), NeighbourState::failed);
  EXPECT_TRUE(a.nt.due(5 * kSec));
  poll_all(a.nt, 5 * kSec);
  EXPECT_EQ(a.nt.size(), 0u);
  EXPECT_EQ(count(a.nt, NeighbourCounter::expired), 8u);
  EXPECT_FALSE(a.nt.due(1000 * kSec)) << "nothing left to do";
}

TEST(NeighbourResolve, PollLeavesWhatDoesNotFitForTheNextCall) {
  Node a(kMacA, kIpA, kIp6A);
  for (std::uint8_t i = 10; i < 13; ++i) a.nt.resolve(mapped({198, 18, 0, i}), 0);
  std::array<std::byte, kNeighbourFrameMax> room{};
  std::array<TxBuffer, 1> one{TxBuffer{room}};
  EXPECT_EQ(a.nt.poll(0, one), 1u);
  EXPECT_TRUE(a.nt.due(0));
  EXPECT_EQ(a.nt.poll(0, one), 1u);
  EXPECT_EQ(a.nt.poll(0, one), 1u);
  EXPECT_EQ(a.nt.poll(0, one), 0u);
  EXPECT_FALSE(a.nt.due(0));
  EXPECT_TRUE(a.nt.due(kSec));
}

TEST(NeighbourResolve, CacheStaysConsistentThroughManyInsertsAndRemovals) {
  // Exercises the hash index (linear probing, backward-shift deletion) against a plain map.
  Node a(kMacA, kIpA, kIp6A, std::nullopt, {.capacity = 64});
  std::mt19937 rng(7);
  auto ip_of = [](std::size_t k) {
    Ipv6Addr ip = kIp6A;
    ip[14] = static_cast<std::uint8_t>(k / 40);
    ip[15] = static_cast<std::uint8_t>(k % 40 + 2);
    return ip;
  };
  std::array<bool, 160> live{};
  std::size_t live_count = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::size_t k = rng() % live.size();
    if (rng() % 3 == 0) {
      a.nt.forget(ip_of(k));
      live_count -= live[k];
      live[k] = false;
    } else if (live_count < 64 || live[k]) {
      EXPECT_FALSE(a.nt.resolve(ip_of(k), 0).failed());
      live_count += !live[k];
      live[k] = true;
    }
    ASSERT_EQ(a.nt.size(), live_count);
  }
  for (std::size_t k = 0; k < live.size(); ++k) {
    EXPECT_EQ(a.nt.state(ip_of(k)).has_value(), live[k]) << k;
  }
}

// ---- VLAN ----

TEST(NeighbourVlan, RequestsAndRepliesCarryTheDeviceTag) {
  Node a(kMacA, kIpA, kIp6A, 100, {.vlan_pcp = 3});
  Node b(kMacB, kIpB, kIp6B, 100);
  EXPECT_TRUE(a.nt.resolve(mapped(kIpB), 0).pending());
  EXPECT_TRUE(a.nt.resolve(kIp6B, 0).pending());
  const auto reqs = poll_all(a.nt, 0);
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& f : reqs) {
    const auto p = parsed(f);
    ASSERT_TRUE(p.vlan().has_value());
    EXPECT_EQ(p.vlan()->vid(), 100);
    EXPECT_EQ(p.vlan()->pcp(), 3);
    const Frame reply = deliver(b.nt, f, 0);
    ASSERT_FALSE(reply.empty());
    const auto q = parsed(reply);
    ASSERT_TRUE(q.vlan().has_value());
    EXPECT_EQ(q.vlan()->vid(), 100);
    a.nt.handle(q, 0, {});
  }
  const auto r4 = a.nt.resolve(mapped(kIpB), 1), r6 = a.nt.resolve(kIp6B, 1);
  ASSERT_TRUE(r4.resolved() && r6.resolved());
  EXPECT_EQ(r4.mac, kMacB);
  EXPECT_EQ(r4.vlan_tci, wire::make_tci(3, false, 100));
  EXPECT_EQ(a.nt.state(kIp6B, 100), NeighbourState::reachable);
  EXPECT_FALSE(a.nt.state(kIp6B, 0).has_value());
}

TEST(NeighbourVlan, FramesOnOtherVlansOrUntaggedAreIgnored) {
  Node a(kMacA, kIpA, kIp6A, 100);
  EXPECT_TRUE(deliver(a.nt, arp_request(kMacB, kIpB, kIpA), 0).empty());
  EXPECT_TRUE(
      deliver(a.nt, arp_request(kMacB, kIpB, kIpA, wire::make_tci(0, false, 200)), 0).empty());
  EXPECT_TRUE(
      deliver(a.nt, ns(kMacB, kIp6B, kIp6A, 255, wire::make_tci(0, false, 200)), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_other_vlan), 3u);
  EXPECT_FALSE(
      deliver(a.nt, arp_request(kMacB, kIpB, kIpA, wire::make_tci(0, false, 100)), 0).empty());
}

TEST(NeighbourVlan, UntaggedDeviceIgnoresTaggedFramesButTakesPriorityTags) {
  Node a(kMacA, kIpA, kIp6A);
  EXPECT_TRUE(
      deliver(a.nt, arp_request(kMacB, kIpB, kIpA, wire::make_tci(0, false, 100)), 0).empty());
  EXPECT_EQ(count(a.nt, NeighbourCounter::ignored_other_vlan), 1u);
  // VLAN ID 0 only carries a priority: the frame is on the untagged network.
  const Frame reply = deliver(a.nt, arp_request(kMacB, kIpB, kIpA, wire::make_tci(5, false, 0)), 0);
  ASSERT_FALSE(reply.empty());
  EXPECT_FALSE(parsed(reply).vlan().has_value());
}

// ---- no allocation ----

TEST(NeighbourHotPath, HandleResolveAndPollAllocateNothingAfterConstruction) {
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  const Frame arp_req = arp_request(kMacB, kIpB, kIpA);
  const Frame ns_req = ns(kMacB, kIp6B, kIp6A);
  const auto p_arp = parsed(arp_req), p_ns = parsed(ns_req);
  std::array<std::byte, kNeighbourFrameMax> reply{};
  std::array<std::array<std::byte, kNeighbourFrameMax>, 4> room{};
  std::array<TxBuffer, 4> bufs;
  for (std::size_t i = 0; i < bufs.size(); ++i) bufs[i].room = room[i];
  std::size_t work = 0;
  const std::uint64_t before = g_allocations.load();
  for (std::uint64_t t = 0; t < 200; ++t) {
    const std::uint64_t now = t * 100 * kMs;
    work += a.nt.handle(p_arp, now, reply).reply_len;
    work += a.nt.handle(p_ns, now, reply).reply_len;
    Ipv6Addr peer = kIp6A;
    peer[15] = static_cast<std::uint8_t>(10 + t % 50);
    work += a.nt.resolve(peer, now).pending();
    work += a.nt.resolve(mapped(kIpB), now).resolved();
    work += a.nt.poll(now, bufs);
    a.nt.confirm(mapped(kIpB), 0, now);
  }
  const std::uint64_t after = g_allocations.load();
  EXPECT_EQ(after - before, 0u);
  EXPECT_GT(work, 0u);
}

// ---- tshark ----

TEST(NeighbourTshark, EveryFrameWeSendDecodesCleanlyAsBuilt) {
  ASSERT_TRUE(test::tool_installed("tshark"))
      << "tshark is not installed (Debian package `tshark`): the neighbour frames cannot be "
         "checked, and the test must not pass silently";
  Node a(kMacA, kIpA, kIp6A), b(kMacB, kIpB, kIp6B);
  Node va(kMacA, kIpA, kIp6A, 100), vb(kMacB, kIpB, kIp6B, 100);
  std::vector<Frame> frames;
  for (Node* n : {&a, &va}) {
    n->nt.resolve(mapped(kIpB), 0);
    n->nt.resolve(kIp6B, 0);
  }
  for (const auto& f : exchange(a.nt, b.nt, 0)) frames.push_back(f);    // ARP/NS requests+replies
  for (const auto& f : exchange(va.nt, vb.nt, 0)) frames.push_back(f);  // the same, tagged
  b.nt.resolve(mapped(kIpA), 1);                                        // unicast ARP probe
  b.nt.resolve(kIp6A, 1);                                               // unicast NS probe
  for (const auto& f : poll_all(b.nt, 1)) frames.push_back(f);
  ASSERT_EQ(frames.size(), 10u);

  test::TempDir dir;
  const std::string pcap = dir.file("neighbour.pcap");
  {
    auto w = capture::PcapWriter::create(pcap);
    ASSERT_TRUE(w.has_value()) << w.error().to_string();
    for (const auto& f : frames) ASSERT_TRUE(w->write(f, {}).has_value());
    ASSERT_TRUE(w->close().has_value());
  }
  const auto bad = test::run_command(test::tshark_command(pcap) +
                                     " -Y '_ws.malformed || _ws.expert.severity >= warning' -T "
                                     "fields -e frame.number -e _ws.col.Info 2>/dev/null");
  EXPECT_EQ(bad.exit_status, 0);
  EXPECT_EQ(bad.output, "") << "tshark reports malformed frames or expert warnings";

  const auto r = test::run_command(
      test::tshark_command(pcap) +
      " -T fields -E separator=';' -E occurrence=f -e vlan.id -e arp.opcode -e arp.dst.proto_ipv4 "
      "-e icmpv6.type -e ipv6.hlim -e icmpv6.nd.na.flag.s -e icmpv6.nd.na.flag.o "
      "-e icmpv6.opt.linkaddr -e icmpv6.checksum.status 2>/dev/null");
  ASSERT_EQ(r.exit_status, 0);
  const auto lines = test::split(r.output, '\n');
  ASSERT_GE(lines.size(), frames.size());
  std::size_t arp = 0, ns_count = 0, na_count = 0, tagged = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i + 1) + ": " + lines[i]);
    const auto f = test::split(lines[i], ';');
    ASSERT_EQ(f.size(), 9u);
    const auto p = parsed(frames[i]);
    if (f[0] == "100") ++tagged;
    EXPECT_EQ(f[0], p.vlan() ? "100" : "");
    if (p.proto == wire::Proto::arp) {
      ++arp;
      EXPECT_EQ(f[1], std::to_string(p.arp().oper()));
      EXPECT_EQ(f[2], wire::to_string(p.arp().tpa()));
      continue;
    }
    EXPECT_EQ(f[3], std::to_string(p.nd().type()));
    EXPECT_EQ(f[4], "255");
    EXPECT_EQ(f[8], "1") << "ICMPv6 checksum not good";
    if (p.nd().type() == wire::icmpv6::kNeighbourAdvertisement) {
      ++na_count;
      EXPECT_EQ(f[5], "1");
      EXPECT_EQ(f[6], "1");
    } else {
      ++ns_count;
    }
    EXPECT_EQ(f[7], wire::to_string(p.eth().src()));
  }
  EXPECT_EQ(arp, 5u);  // 2 requests, 2 replies, 1 probe
  EXPECT_EQ(ns_count, 3u);
  EXPECT_EQ(na_count, 2u);
  EXPECT_EQ(tagged, 4u);
}

}  // namespace
}  // namespace softrnic::engine
