// Builders x parser: every opcode x IPv4/IPv6 x with/without VLAN x payload lengths 0, 1, 255, 256,
// 4095, 4096. Each built frame is parsed and checked field by field against its spec, rebuilt from
// the parse byte for byte, and compared with what the UDP-socket builder makes of the same packet.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "frame_matrix.hpp"
#include "wire/build.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic {
namespace {

void expect_same(const wire::Bth& got, const wire::Bth& want, std::uint8_t pad) {
  EXPECT_EQ(got.opcode, want.opcode);
  EXPECT_EQ(got.solicited, want.solicited);
  EXPECT_EQ(got.mig_req, want.mig_req);
  EXPECT_EQ(got.pad_count, pad);
  EXPECT_EQ(got.tver, 0);
  EXPECT_EQ(got.pkey.raw, want.pkey.raw);
  EXPECT_EQ(got.resv8a, want.resv8a);
  EXPECT_EQ(got.dest_qp.raw(), want.dest_qp.raw());
  EXPECT_EQ(got.ack_req, want.ack_req);
  EXPECT_EQ(got.resv7, want.resv7);
  EXPECT_EQ(got.psn.raw(), want.psn.raw());
}

void expect_ext_headers(const wire::ParsedFrame& p, const wire::ExtHeaders& want) {
  const auto& op = p.op();
  if (op.has(wire::kRdeth)) {
    EXPECT_EQ(wire::rdeth_of(p).word, want.rdeth.word);
  }
  if (op.has(wire::kDeth)) {
    const auto d = wire::deth_of(p);
    EXPECT_EQ(d.qkey.raw, want.deth.qkey.raw);
    EXPECT_EQ(d.src_qp.raw(), want.deth.src_qp.raw());
  }
  if (op.has(wire::kReth)) {
    const auto r = wire::reth_of(p);
    EXPECT_EQ(r.va, want.reth.va);
    EXPECT_EQ(r.rkey.raw(), want.reth.rkey.raw());
    EXPECT_EQ(r.dma_length, want.reth.dma_length);
  }
  if (op.has(wire::kAtomicEth)) {
    const auto a = wire::atomic_eth_of(p);
    EXPECT_EQ(a.va, want.atomic_eth.va);
    EXPECT_EQ(a.rkey.raw(), want.atomic_eth.rkey.raw());
    EXPECT_EQ(a.swap_add, want.atomic_eth.swap_add);
    EXPECT_EQ(a.compare, want.atomic_eth.compare);
  }
  if (op.has(wire::kAeth)) {
    const auto a = wire::aeth_of(p);
    EXPECT_EQ(a.syndrome, want.aeth.syndrome);
    EXPECT_EQ(a.msn.raw(), want.aeth.msn.raw());
  }
  if (op.has(wire::kAtomicAckEth)) {
    EXPECT_EQ(wire::atomic_ack_eth_of(p).orig_data, want.atomic_ack_eth.orig_data);
  }
  if (op.has(wire::kImmDt)) {
    EXPECT_EQ(wire::immdt_of(p).value, want.immdt.value);
  }
  if (op.has(wire::kIeth)) {
    EXPECT_EQ(wire::ieth_of(p).rkey.raw(), want.ieth.rkey.raw());
  }
}

void expect_l2_l3_l4(const wire::ParsedFrame& p, const wire::RoceSpec& s, std::size_t udp_len) {
  EXPECT_EQ(p.eth().dst(), s.eth.dst);
  EXPECT_EQ(p.eth().src(), s.eth.src);
  ASSERT_EQ(p.vlan_count, s.eth.vlan_tci ? 1 : 0);
  if (s.eth.vlan_tci) {
    EXPECT_EQ(p.vlan()->tci(), *s.eth.vlan_tci);
  }
  if (s.ip.version == wire::IpVersion::v4) {
    ASSERT_EQ(p.proto, wire::Proto::roce_v4);
    const auto ip = p.ipv4();
    EXPECT_EQ(wire::ipv4_mapped(ip.src()), s.ip.src);
    EXPECT_EQ(wire::ipv4_mapped(ip.dst()), s.ip.dst);
    EXPECT_EQ(ip.tos(), s.ip.tos);
    EXPECT_EQ(ip.ttl(), s.ip.ttl);
    EXPECT_EQ(ip.id(), s.ip.id);
    EXPECT_EQ(ip.flags_frag(), wire::Ipv4View::kDontFragment);
    EXPECT_EQ(ip.protocol(), wire::ipproto::kUdp);
    EXPECT_EQ(ip.total_length(), wire::Ipv4View::kSize + udp_len);
    EXPECT_TRUE(ip.checksum_ok());
    EXPECT_EQ(p.udp().checksum(), 0);
  } else {
    ASSERT_EQ(p.proto, wire::Proto::roce_v6);
    const auto ip = p.ipv6();
    EXPECT_EQ(ip.src(), s.ip.src);
    EXPECT_EQ(ip.dst(), s.ip.dst);
    EXPECT_EQ(ip.traffic_class(), s.ip.tos);
    EXPECT_EQ(ip.flow_label(), s.ip.flow_label);
    EXPECT_EQ(ip.hop_limit(), s.ip.ttl);
    EXPECT_EQ(ip.payload_length(), udp_len);
    EXPECT_NE(p.udp().checksum(), 0);  // computed, and verified by the parser
  }
  EXPECT_EQ(p.udp().src_port(), s.src_port);
  EXPECT_EQ(p.udp().dst_port(), wire::kRoceV2Port);
  EXPECT_EQ(p.udp().length(), udp_len);
}

TEST(CodecMatrix, CoversEveryOpcodeBothIpVersionsVlansAndAllPayloadLengths) {
  const auto cases = test::frame_matrix();
  // 38 opcodes: 32 carry payload (6 lengths each), 6 do not; x 2 IP versions x 2 (VLAN or not).
  std::size_t payload_ops = 0;
  std::size_t opcodes = 0;
  for (const auto& op : wire::kOpcodeTable) {
    opcodes += op.valid();
    payload_ops += op.valid() && op.payload;
  }
  EXPECT_EQ(opcodes, 38u);
  EXPECT_EQ(payload_ops, 32u);
  EXPECT_EQ(cases.size(), (32u * 6 + 6) * 4);
}

TEST(CodecMatrix, EveryBuiltFrameParsesBackFieldByFieldAndRebuildsByteForByte) {
  for (const auto& c : test::frame_matrix()) {
    SCOPED_TRACE(c.name());
    const auto payload = test::matrix_payload(c);
    const auto spec = test::matrix_spec(c, payload);
    std::vector<std::byte> frame(wire::roce_frame_size(spec));
    const auto n = wire::build_roce(spec, frame);
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    ASSERT_EQ(*n, frame.size());

    const auto p = wire::parse_frame(frame);
    ASSERT_TRUE(p.has_value()) << wire::drop_reason_name(p.error());
    const std::uint8_t pad = static_cast<std::uint8_t>((4 - payload.size() % 4) % 4);
    const std::size_t udp_len = wire::UdpView::kSize + wire::BthView::kSize +
                                wire::ext_headers_size(wire::opcode_info(c.opcode).headers) +
                                payload.size() + pad + wire::kIcrcSize;
    expect_l2_l3_l4(*p, spec, udp_len);
    expect_same(wire::read_bth(p->bth()), spec.bth, pad);
    expect_ext_headers(*p, spec.ext);
    EXPECT_EQ(p->roce.payload_len, payload.size());
    EXPECT_TRUE(std::ranges::equal(p->payload(), payload));
    EXPECT_EQ(p->roce.pad, pad);
    EXPECT_TRUE(std::ranges::all_of(p->pad_bytes(), [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_TRUE(p->roce.icrc_ok);
    EXPECT_TRUE(p->trailer().empty());

    std::vector<std::byte> again(frame.size());
    const auto m = wire::build_roce(wire::roce_spec_of(*p), again);
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    EXPECT_EQ(again, frame);

    // A UDP-socket port sends BTH..ICRC only; with the same IP facts its bytes, ICRC included,
    // are those of the frame (the ICRC masks everything the socket cannot set).
    wire::SocketMeta meta;
    meta.version = spec.ip.version;
    meta.src = spec.ip.src;
    meta.dst = spec.ip.dst;
    meta.src_port = spec.src_port;
    meta.ip_id = spec.ip.id;
    std::vector<std::byte> dgram(udp_len - wire::UdpView::kSize);
    const auto k = wire::build_udp_payload(spec, meta, dgram);
    ASSERT_TRUE(k.has_value()) << k.error().to_string();
    const auto udp_payload =
        ConstByteSpan(frame).subspan(p->l4_off + wire::UdpView::kSize, dgram.size());
    EXPECT_TRUE(std::ranges::equal(dgram, udp_payload));
    const auto q = wire::parse_udp_payload(dgram, meta);
    ASSERT_TRUE(q.has_value()) << wire::drop_reason_name(q.error());
    EXPECT_EQ(q->roce.payload_len, payload.size());

    // Zero copy: headers built in place, the payload left where it is and only read, pad and
    // ICRC in a tail. The three pieces are the frame.
    std::vector<std::byte> head(frame.size());
    const auto l = wire::build_roce_headers(spec, payload.size(), head);
    ASSERT_TRUE(l.has_value()) << l.error().to_string();
    std::array<std::byte, 8> tail{};
    const std::size_t t = wire::finish_roce_external(spec, *l, head, payload, tail);
    if (spec.udp_checksum == wire::UdpChecksum::compute) {
      EXPECT_EQ(t, 0u);  // a checksum over the payload has no place before it: refused
      continue;
    }
    ASSERT_EQ(t, pad + wire::kIcrcSize);
    std::vector<std::byte> joined(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(l->payload_off));
    joined.insert(joined.end(), payload.begin(), payload.end());
    joined.insert(joined.end(), tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(t));
    EXPECT_EQ(joined, frame);
  }
}

// The by-reference form refuses what it cannot produce in three pieces.
TEST(CodecExternal, RefusesAComputedUdpChecksumATrailerAndAWrongPayloadLength) {
  const auto cases = test::frame_matrix();
  const auto& c = cases.front();
  const auto payload = test::matrix_payload(c);
  auto spec = test::matrix_spec(c, payload);
  std::vector<std::byte> head(wire::roce_frame_size(spec) + 8);
  const auto l = wire::build_roce_headers(spec, payload.size(), head);
  ASSERT_TRUE(l.has_value());
  std::array<std::byte, 8> tail{};
  std::vector<std::byte> shorter(payload.size() + 1);
  EXPECT_EQ(wire::finish_roce_external(spec, *l, head, shorter, tail), 0u);
  spec.udp_checksum = wire::UdpChecksum::compute;
  EXPECT_EQ(wire::finish_roce_external(spec, *l, head, payload, tail), 0u);
  spec.udp_checksum = wire::UdpChecksum::zero;
  const std::array<std::byte, 2> pad_bytes{};
  spec.trailer = pad_bytes;
  EXPECT_EQ(wire::finish_roce_external(spec, *l, head, payload, tail), 0u);
}

// Captures keep what follows the IP datagram: Ethernet padding of short frames, sometimes the FCS.
// Re-emitting a parsed frame must keep those bytes too.
TEST(CodecTrailer, PaddingAndFcsAfterTheDatagramAreKeptOnRebuild) {
  const std::vector<std::byte> trailer = {std::byte{0xde}, std::byte{0xad}, std::byte{0xbe},
                                          std::byte{0xef}};
  const std::vector<std::byte> zeros(18, std::byte{0});

  wire::RoceSpec roce;
  roce.ip.src = wire::ipv4_mapped({198, 18, 0, 1});
  roce.ip.dst = wire::ipv4_mapped({198, 18, 0, 2});
  roce.bth.opcode = 0x11;  // RC ACKNOWLEDGE: the shortest common RoCEv2 frame
  roce.trailer = trailer;  // an FCS kept by the capture
  wire::ArpSpec arp;
  arp.spa = {198, 18, 0, 1};
  arp.tpa = {198, 18, 0, 2};
  arp.trailer = zeros;  // 42 bytes padded to 60
  wire::TcpSpec tcp;
  tcp.ip.src = roce.ip.src;
  tcp.ip.dst = roce.ip.dst;
  tcp.trailer = ConstByteSpan(zeros).first(6);  // a bare ACK of 54 bytes padded to 60

  std::vector<std::vector<std::byte>> frames;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::byte> f(wire::kMaxFrameSize);
    const auto n = i == 0 ? wire::build_roce(roce, f)
                          : (i == 1 ? wire::build_arp(arp, f) : wire::build_tcp(tcp, f));
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    f.resize(*n);
    frames.push_back(f);
  }
  EXPECT_EQ(frames[1].size(), 60u);
  EXPECT_EQ(frames[2].size(), 60u);
  for (const auto& f : frames) {
    const auto p = wire::parse_frame(f);
    ASSERT_TRUE(p.has_value()) << wire::drop_reason_name(p.error());
    std::vector<std::byte> again(f.size());
    Result<std::size_t> n = 0;
    switch (p->proto) {
      case wire::Proto::roce_v4:
        EXPECT_TRUE(p->roce.icrc_ok);
        EXPECT_TRUE(std::ranges::equal(p->trailer(), trailer));
        n = wire::build_roce(wire::roce_spec_of(*p), again);
        break;
      case wire::Proto::arp:
        EXPECT_EQ(p->trailer().size(), 18u);
        n = wire::build_arp(wire::arp_spec_of(*p), again);
        break;
      case wire::Proto::tcp_v4:
        EXPECT_EQ(p->trailer().size(), 6u);
        n = wire::build_tcp(wire::tcp_spec_of(*p), again);
        break;
      default:
        ADD_FAILURE() << "unexpected protocol";
    }
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(again, f);
  }
}

}  // namespace
}  // namespace softrnic
