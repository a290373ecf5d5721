// Bad input: hand-made frames for every DropReason each give exactly that named reason; and parsing
// never reads outside the frame (every prefix and every single-bit flip of valid frames is parsed
// from a buffer of exactly the frame's size, so ASan/valgrind see any overrun).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "crafted_captures.hpp"
#include "wire/build.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic {
namespace {

using wire::DropReason;
using Frame = std::vector<std::byte>;

constexpr std::size_t kL3 = 14;
constexpr std::size_t kL4v4 = kL3 + 20;
constexpr std::size_t kL4v6 = kL3 + 40;

wire::RoceSpec roce_spec(wire::IpVersion v, std::uint8_t opcode, ConstByteSpan payload) {
  wire::RoceSpec s;
  s.eth.dst = {2, 0, 0, 0, 0, 2};
  s.eth.src = {2, 0, 0, 0, 0, 1};
  s.ip.version = v;
  s.ip.src = v == wire::IpVersion::v4
                 ? wire::ipv4_mapped({198, 18, 0, 1})
                 : wire::Ipv6Addr{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  s.ip.dst = v == wire::IpVersion::v4
                 ? wire::ipv4_mapped({198, 18, 0, 2})
                 : wire::Ipv6Addr{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  s.udp_checksum = v == wire::IpVersion::v6 ? wire::UdpChecksum::compute : wire::UdpChecksum::zero;
  s.bth.opcode = opcode;
  s.bth.dest_qp = Qpn(0x12);
  s.bth.psn = Psn(100);
  s.payload = payload;
  return s;
}

Frame roce(wire::IpVersion v, std::uint8_t opcode, std::size_t payload_len) {
  const Frame payload(payload_len, std::byte{0x5a});
  const auto s = roce_spec(v, opcode, payload);
  Frame f(wire::roce_frame_size(s));
  EXPECT_TRUE(wire::build_roce(s, f).has_value());
  return f;
}

Frame tcp_frame() {
  wire::TcpSpec s;
  s.ip.src = wire::ipv4_mapped({198, 18, 1, 2});
  s.ip.dst = wire::ipv4_mapped({198, 18, 1, 3});
  s.src_port = 40000;
  s.dst_port = 7174;
  const Frame payload(10, std::byte{1});
  s.payload = payload;
  Frame f(14 + 20 + 20 + 10);
  EXPECT_TRUE(wire::build_tcp(s, f).has_value());
  return f;
}

Frame arp_frame() {
  wire::ArpSpec s;
  s.eth.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  s.sha = {2, 0, 0, 0, 0, 1};
  s.spa = {198, 18, 0, 1};
  s.tpa = {198, 18, 0, 2};
  Frame f(14 + 28);
  EXPECT_TRUE(wire::build_arp(s, f).has_value());
  return f;
}

Frame nd_frame() {
  wire::NdSpec s;
  s.ip.version = wire::IpVersion::v6;
  s.ip.src = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  s.ip.dst = wire::solicited_node({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  s.ip.ttl = 255;
  s.target = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  s.link_addr = wire::MacAddr{2, 0, 0, 0, 0, 1};
  Frame f(14 + 40 + 32);
  EXPECT_TRUE(wire::build_nd(s, f).has_value());
  return f;
}

std::uint8_t get(const Frame& f, std::size_t off) { return load_u8(f, off); }
void put(Frame& f, std::size_t off, std::uint8_t v) { store_u8(f, off, v); }
void put16(Frame& f, std::size_t off, std::uint16_t v) { store_be16(f, off, v); }
Frame cut(Frame f, std::size_t n) {
  f.resize(n);
  return f;
}
void fix_ipv4_checksum(Frame& f) {
  wire::Ipv4Mut(wire::Ipv4Mut::Span(f.data() + kL3, wire::Ipv4View::kSize)).update_checksum();
}
// Sets the IPv4 total length (and a valid header checksum).
Frame with_ipv4_length(Frame f, std::uint16_t total) {
  put16(f, kL3 + 2, total);
  fix_ipv4_checksum(f);
  return f;
}
Frame with_vlan(const Frame& untagged, std::uint16_t outer_tpid, std::uint16_t inner_type) {
  Frame f(untagged.begin(), untagged.begin() + 12);
  f.resize(18);
  store_be16(f, 12, outer_tpid);
  store_be16(f, 14, 0x0064);
  store_be16(f, 16, inner_type);
  f.insert(f.end(), untagged.begin() + 14, untagged.end());
  return f;
}

// Inserts an IPv6 extension header of `type` (its body after the next-header byte) right after
// the IPv6 header, fixing the chain and the payload length; the RoCEv2 ICRC is recomputed as the
// parser defines it (the 40-byte IPv6 header as sent, extension headers not covered).
Frame with_ipv6_extension(const Frame& f, std::uint8_t type, std::vector<std::uint8_t> body) {
  Frame g(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(kL4v6));
  g.push_back(std::byte{get(f, kL3 + 6)});
  for (auto b : body) g.push_back(std::byte{b});
  g.insert(g.end(), f.begin() + static_cast<std::ptrdiff_t>(kL4v6), f.end());
  put(g, kL3 + 6, type);
  put16(g, kL3 + 4, static_cast<std::uint16_t>(load_be16(f, kL3 + 4) + 1 + body.size()));
  return g;
}
void fix_icrc_v6(Frame& f, std::size_t udp_off) {
  const auto c = wire::icrc(ConstByteSpan(f).subspan(kL3, 40),
                            ConstByteSpan(f).subspan(udp_off, f.size() - 4 - udp_off));
  store_le32(f, f.size() - 4, c);
  test::fix_udp_checksum_v6(f, udp_off);
}
// An 8-byte Hop-by-Hop (or Destination Options) header with a router alert option and padding.
const std::vector<std::uint8_t> kRouterAlert = {0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};

struct BadCase {
  std::string name;
  Frame frame;
  DropReason want;
};

std::vector<BadCase> bad_cases() {
  using wire::IpVersion;
  const Frame send4 = roce(IpVersion::v4, 0x04, 8);
  const Frame send6 = roce(IpVersion::v6, 0x04, 8);
  const Frame ack4 = roce(IpVersion::v4, 0x11, 0);
  const Frame tcp = tcp_frame();
  const Frame arp = arp_frame();
  const Frame nd = nd_frame();
  const std::size_t bth4 = kL4v4 + 8;
  std::vector<BadCase> c;
  const auto add = [&](std::string name, Frame f, DropReason r) {
    c.push_back({std::move(name), std::move(f), r});
  };

  add("13 bytes", cut(send4, 13), DropReason::eth_truncated);
  add("empty", {}, DropReason::eth_truncated);
  add("VLAN TPID then 2 bytes", cut(with_vlan(send4, 0x8100, 0x0800), 16),
      DropReason::vlan_truncated);
  add("802.1Q inside 802.1Q", with_vlan(send4, 0x8100, 0x8100), DropReason::vlan_in_vlan);
  add("802.1Q inside QinQ", with_vlan(send4, 0x88a8, 0x8100), DropReason::vlan_in_vlan);

  add("IPv4 header of 19 bytes", cut(send4, kL3 + 19), DropReason::ipv4_truncated);
  {
    Frame f = send4;
    put(f, kL3, 0x65);
    add("IPv4 ethertype, version 6", f, DropReason::ipv4_bad_version);
  }
  {
    Frame f = send4;
    put(f, kL3, 0x46);
    add("IPv4 IHL 6 (options)", f, DropReason::ipv4_options);
    put(f, kL3, 0x44);
    add("IPv4 IHL 4", f, DropReason::ipv4_bad_length);
  }
  {
    Frame f = send4;
    put(f, kL3 + 10, get(f, kL3 + 10) ^ 0x01);
    add("IPv4 checksum off by one bit", f, DropReason::ipv4_bad_checksum);
  }
  add("IPv4 total length past the frame",
      with_ipv4_length(send4, static_cast<std::uint16_t>(send4.size() - kL3 + 1)),
      DropReason::ipv4_bad_length);
  add("IPv4 total length 19", with_ipv4_length(send4, 19), DropReason::ipv4_bad_length);
  {
    Frame f = send4;
    put16(f, kL3 + 6, 0x2000);  // MF
    fix_ipv4_checksum(f);
    add("IPv4 more-fragments", f, DropReason::ipv4_fragment);
    put16(f, kL3 + 6, 0x0010);  // offset 128
    fix_ipv4_checksum(f);
    add("IPv4 fragment offset", f, DropReason::ipv4_fragment);
  }

  add("IPv6 header of 39 bytes", cut(send6, kL3 + 39), DropReason::ipv6_truncated);
  {
    Frame f = send6;
    put(f, kL3, static_cast<std::uint8_t>(0x40 | (get(f, kL3) & 0x0f)));
    add("IPv6 ethertype, version 4", f, DropReason::ipv6_bad_version);
  }
  {
    Frame f = with_ipv6_extension(send6, 0, {0x0a, 1, 4, 0, 0, 0, 0});  // claims 88 bytes
    add("IPv6 hop-by-hop header past the datagram", f, DropReason::ipv6_extension_header);
    f = send6;
    for (int i = 0; i < 9; ++i) f = with_ipv6_extension(f, 60, {0, 1, 4, 0, 0, 0, 0});
    add("nine IPv6 destination options headers", f, DropReason::ipv6_extension_header);
    f = with_ipv6_extension(send6, 44, {0, 0x00, 0x01, 0, 0, 0, 7});  // M set
    add("IPv6 fragment header, more fragments", f, DropReason::ipv6_fragment);
    f = with_ipv6_extension(send6, 44, {0, 0x00, 0x10, 0, 0, 0, 7});  // offset 2
    add("IPv6 fragment header, offset 16", f, DropReason::ipv6_fragment);
  }
  {
    Frame f = send6;
    put16(f, kL3 + 4, static_cast<std::uint16_t>(send6.size() - kL4v6 + 1));
    add("IPv6 payload length past the frame", f, DropReason::ipv6_bad_length);
  }

  add("UDP header of 7 bytes", with_ipv4_length(send4, 20 + 7), DropReason::udp_truncated);
  {
    Frame f = send4;
    put16(f, kL4v4 + 4, static_cast<std::uint16_t>(load_be16(f, kL4v4 + 4) + 4));
    add("UDP length longer than the datagram", f, DropReason::udp_bad_length);
  }
  {
    Frame f = send6;
    put(f, f.size() - 5, get(f, f.size() - 5) ^ 0x80);  // a payload byte
    add("IPv6 UDP checksum wrong", f, DropReason::udp_bad_checksum);
  }

  add("TCP header of 19 bytes", with_ipv4_length(tcp, 20 + 19), DropReason::tcp_truncated);
  {
    Frame f = tcp;
    put(f, kL4v4 + 12, 0x40);
    add("TCP data offset 4", f, DropReason::tcp_bad_offset);
    put(f, kL4v4 + 12, 0xf0);
    add("TCP data offset past the segment", f, DropReason::tcp_bad_offset);
  }

  add("ARP of 27 bytes", cut(arp, kL3 + 27), DropReason::arp_truncated);
  {
    Frame f = arp;
    put16(f, kL3, 6);  // IEEE 802 hardware
    add("ARP htype 6", f, DropReason::arp_unsupported);
    f = arp;
    put(f, kL3 + 5, 16);
    add("ARP plen 16", f, DropReason::arp_unsupported);
  }
  {
    Frame f = cut(nd, kL4v6 + 3);
    put16(f, kL3 + 4, 3);
    add("ICMPv6 of 3 bytes", f, DropReason::icmpv6_truncated);
    f = cut(nd, kL4v6 + 20);
    put16(f, kL3 + 4, 20);
    add("NS of 20 bytes", f, DropReason::icmpv6_truncated);
  }
  {
    Frame f = nd;
    put(f, kL4v6 + 2, get(f, kL4v6 + 2) ^ 0x10);
    add("ND checksum wrong", f, DropReason::nd_bad_checksum);
  }

  {
    // UDP to 4791 carrying 15 bytes: less than BTH + ICRC.
    Frame f = with_ipv4_length(ack4, 20 + 8 + 15);
    put16(f, kL4v4 + 4, 8 + 15);
    add("BTH + ICRC in 15 bytes", f, DropReason::bth_truncated);
  }
  {
    Frame f = send4;
    put(f, bth4 + 1, static_cast<std::uint8_t>(get(f, bth4 + 1) | 0x01));
    add("TVer 1", f, DropReason::bad_tver);
  }
  {
    Frame f = send4;
    put(f, bth4, 0x15);  // RESYNC: RD only
    add("opcode 0x15", f, DropReason::bad_opcode);
    put(f, bth4, 0x2c);  // UC has no READ
    add("opcode 0x2c", f, DropReason::bad_opcode);
    put(f, bth4, 0xff);
    add("opcode 0xff", f, DropReason::bad_opcode);
  }
  {
    Frame f = ack4;  // BTH + AETH(4) + ICRC: too short for a RETH
    put(f, bth4, 0x0a);
    add("RDMA WRITE ONLY without room for its RETH", f, DropReason::ext_header_truncated);
    f = send4;  // SEND ONLY with 8 bytes of payload, relabelled as an ACK (no payload allowed)
    put(f, bth4, 0x11);
    add("ACK with trailing bytes", f, DropReason::ext_header_truncated);
  }
  {
    Frame f = roce(IpVersion::v4, 0x04, 0);
    put(f, bth4 + 1, static_cast<std::uint8_t>(get(f, bth4 + 1) | 0x30));
    add("PadCnt 3 with no payload", f, DropReason::pad_exceeds_payload);
  }
  {
    Frame f = send4;
    put(f, f.size() - 6, get(f, f.size() - 6) ^ 0x01);  // a payload byte
    add("payload bit flipped (ICRC)", f, DropReason::bad_icrc);
    f = send4;
    put(f, f.size() - 1, get(f, f.size() - 1) ^ 0x01);
    add("ICRC bit flipped", f, DropReason::bad_icrc);
  }
  return c;
}

TEST(BadInput, EveryHandMadeFrameIsDroppedWithItsNamedReason) {
  for (const auto& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    const Frame exact(c.frame);  // exactly sized: an overrun is a heap error under ASan
    const auto p = wire::parse_frame(exact);
    ASSERT_FALSE(p.has_value()) << "accepted, expected " << wire::drop_reason_name(c.want);
    EXPECT_EQ(wire::drop_reason_name(p.error()), wire::drop_reason_name(c.want));
  }
}

TEST(BadInput, EveryDropReasonHasAHandMadeFrame) {
  std::set<DropReason> seen;
  for (const auto& c : bad_cases()) seen.insert(c.want);
  for (std::size_t i = 0; i < static_cast<std::size_t>(DropReason::count_); ++i) {
    const auto r = static_cast<DropReason>(i);
    EXPECT_TRUE(seen.contains(r)) << "no test frame for " << wire::drop_reason_name(r);
  }
}

TEST(Ipv6Extensions, RoceIsDecodedThroughTheHeadersAHostSends) {
  const Frame send6 = roce(wire::IpVersion::v6, 0x04, 8);
  const std::size_t udp_at = kL4v6 + 8;
  struct Case {
    const char* name;
    Frame f;
    std::size_t udp;
  };
  std::vector<Case> cases;
  cases.push_back({"hop-by-hop router alert", with_ipv6_extension(send6, 0, kRouterAlert), udp_at});
  cases.push_back({"destination options", with_ipv6_extension(send6, 60, kRouterAlert), udp_at});
  cases.push_back({"atomic fragment", with_ipv6_extension(send6, 44, {0, 0, 0, 0, 0, 0, 9}), udp_at});
  cases.push_back({"routing, no segments left",
                   with_ipv6_extension(send6, 43, {0, 4, 0, 0, 0, 0, 0}), udp_at});
  cases.push_back({"hop-by-hop then destination options",
                   with_ipv6_extension(with_ipv6_extension(send6, 60, kRouterAlert), 0, kRouterAlert),
                   udp_at + 8});
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    fix_icrc_v6(c.f, c.udp);
    const Frame exact(c.f);
    const auto p = wire::parse_frame(exact);
    ASSERT_TRUE(p.has_value()) << wire::drop_reason_name(p.error());
    EXPECT_EQ(p->proto, wire::Proto::roce_v6);
    EXPECT_EQ(p->l4_off, c.udp);
    EXPECT_EQ(p->l4_proto, wire::ipproto::kUdp);
    EXPECT_TRUE(p->roce.icrc_ok);
    EXPECT_EQ(p->bth().opcode(), 0x04);
    EXPECT_EQ(p->payload().size(), 8u);
    // The engine's in-place parse agrees.
    Frame owned(c.f);
    const auto q = wire::parse_owned_frame(owned);
    ASSERT_TRUE(q.has_value());
    EXPECT_TRUE(q->roce.icrc_ok);
    // A flipped payload byte is still caught through the headers.
    Frame bad(c.f);
    put(bad, bad.size() - 6, get(bad, bad.size() - 6) ^ 0x01);
    test::fix_udp_checksum_v6(bad, c.udp);
    const auto b = wire::parse_frame(bad);
    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error(), DropReason::bad_icrc);
  }
}

TEST(Ipv6Extensions, WhatIsNotForUsIsOtherNotDropped) {
  const Frame send6 = roce(wire::IpVersion::v6, 0x04, 8);
  // Routing header with a segment left: not at its final destination yet.
  auto p = wire::parse_frame(with_ipv6_extension(send6, 43, {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->proto, wire::Proto::other);
  EXPECT_EQ(p->l4_proto, wire::ipproto::kRouting);
  // ESP: nothing beyond it can be read.
  Frame esp(send6);
  put(esp, kL3 + 6, 50);
  p = wire::parse_frame(esp);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->proto, wire::Proto::other);
  // UDP to another port with a length that does not match: not ours to judge.
  Frame dns(send6);
  put16(dns, kL4v6 + 2, 53);
  put16(dns, kL4v6 + 4, 9);
  p = wire::parse_frame(dns);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->proto, wire::Proto::other);
}

TEST(BadInput, BadIcrcIsReportedNotDroppedWhenAskedTo) {
  Frame f = roce(wire::IpVersion::v4, 0x04, 8);
  put(f, f.size() - 1, get(f, f.size() - 1) ^ 0x01);
  const auto p = wire::parse_frame(f, {.roce_port = wire::kRoceV2Port, .drop_bad_icrc = false});
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->roce.icrc_ok);
}

std::vector<Frame> valid_frames() {
  using wire::IpVersion;
  std::vector<Frame> v = {roce(IpVersion::v4, 0x04, 8),
                          roce(IpVersion::v6, 0x04, 8),
                          roce(IpVersion::v4, 0x0b, 5),
                          roce(IpVersion::v6, 0x12, 0),
                          roce(IpVersion::v4, 0x65, 3),
                          roce(IpVersion::v4, 0x81, 0),
                          tcp_frame(),
                          arp_frame(),
                          nd_frame()};
  v.push_back(with_vlan(v[0], 0x8100, 0x0800));
  return v;
}

TEST(BadInput, EveryPrefixOfAValidFrameIsHandledWithinItsBytes) {
  for (const auto& frame : valid_frames()) {
    for (std::size_t n = 0; n <= frame.size(); ++n) {
      const Frame prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      const auto p = wire::parse_frame(prefix);
      if (n < frame.size() && p) {
        // A prefix can only parse when the cut falls in bytes the protocol does not own.
        EXPECT_LE(p->ip_end, n);
      }
    }
    EXPECT_TRUE(wire::parse_frame(frame).has_value());
  }
}

TEST(BadInput, EverySingleBitFlipOfAValidFrameIsHandledWithinItsBytes) {
  std::size_t dropped = 0;
  for (const auto& frame : valid_frames()) {
    for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
      Frame f(frame);
      put(f, bit / 8, static_cast<std::uint8_t>(get(f, bit / 8) ^ (1u << (bit % 8))));
      const auto p = wire::parse_frame(f);
      if (!p) {
        ++dropped;
        continue;
      }
      EXPECT_LE(p->ip_end, f.size());
      if (p->proto == wire::Proto::roce_v4 || p->proto == wire::Proto::roce_v6) {
        EXPECT_LE(p->roce.payload_off + p->roce.payload_len + p->roce.pad + wire::kIcrcSize,
                  p->ip_end);
      }
    }
  }
  EXPECT_GT(dropped, 0u);
}

}  // namespace
}  // namespace softrnic
