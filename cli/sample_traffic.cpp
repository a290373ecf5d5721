#include "sample_traffic.hpp"

#include <array>
#include <string>

#include "wire/build.hpp"

namespace softrnic::cli {

namespace {

using wire::IpVersion;

// Documentation / benchmarking addresses (RFC 2544 198.18.0.0/15, ULA fd00::/8).
constexpr wire::MacAddr kMacA = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr wire::MacAddr kMacB = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr wire::MacAddr kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr wire::Ipv4Addr kIp4A = {198, 18, 0, 1};
constexpr wire::Ipv4Addr kIp4B = {198, 18, 0, 2};
constexpr wire::Ipv6Addr kIp6A = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr wire::Ipv6Addr kIp6B = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
constexpr std::uint16_t kVlanTci = wire::make_tci(3, false, 100);  // PCP 3: the usual RoCE class

// Payload sizes cycled over the opcodes that carry data: empty, every pad count, a full 256 PMTU.
constexpr std::array<std::size_t, 6> kPayloadSizes = {0, 1, 2, 3, 64, 255};

// FIRST and MIDDLE packets carry exactly one path MTU (IBA 9.7.6.1.1): 256 here.
std::size_t payload_size_for(const wire::OpcodeInfo& op, std::size_t index) {
  if (!op.payload) return 0;
  if (op.pos == wire::Pos::first || op.pos == wire::Pos::middle) return 256;
  return kPayloadSizes[index % kPayloadSizes.size()];
}

std::vector<std::byte> pattern(std::size_t n, std::size_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte{static_cast<std::uint8_t>(i * 7 + seed)};
  return v;
}

Result<SampleFrame> roce_frame(const wire::OpcodeInfo& op, std::uint8_t code, IpVersion version,
                               std::size_t index) {
  const auto payload = pattern(payload_size_for(op, index), index);
  const Qpn qpn(0x11 + static_cast<std::uint32_t>(index % 4));
  const Psn psn(0x100000 + static_cast<std::uint32_t>(index) * 3);

  wire::RoceSpec s;
  s.eth.dst = kMacB;
  s.eth.src = kMacA;
  const bool vlan = index % 2 == 1;
  if (vlan) s.eth.vlan_tci = kVlanTci;
  s.ip.version = version;
  s.ip.src = version == IpVersion::v4 ? wire::ipv4_mapped(kIp4A) : kIp6A;
  s.ip.dst = version == IpVersion::v4 ? wire::ipv4_mapped(kIp4B) : kIp6B;
  s.ip.tos = 0x6a;  // DSCP 26, ECT(0)
  s.ip.id = static_cast<std::uint16_t>(index);
  // A non-zero IPv6 UDP checksum must be right; zero is what rxe sends on IPv4 (reference 1.4).
  s.udp_checksum = version == IpVersion::v6 ? wire::UdpChecksum::compute : wire::UdpChecksum::zero;
  s.src_port = static_cast<std::uint16_t>(0xc000 | (qpn.raw() & 0x3fff));
  s.bth.opcode = code;
  s.bth.dest_qp = qpn;
  s.bth.psn = psn;
  s.bth.ack_req = op.dir == wire::Dir::request && op.last_or_only();
  s.bth.solicited = op.immediate;
  if (op.op == wire::Op::cnp) {
    s.bth.resv8a = 0x40;  // BECN (annex A17.9.3)
    s.bth.psn = Psn(0);
  }
  s.ext.deth = {Qkey{0x11111111}, 0, Qpn(0x20)};
  s.ext.reth = {0x7f0000001000 + index * 0x100, Rkey(0x1234),
                static_cast<std::uint32_t>(payload.size())};
  s.ext.atomic_eth = {0x7f0000002000, Rkey(0x5678), 1, 0};
  s.ext.aeth = {wire::aeth::make(wire::aeth::kTypeAck, wire::aeth::kUnlimitedCredits),
                Msn(static_cast<std::uint32_t>(index))};
  s.ext.atomic_ack_eth = {0x0123456789abcdef};
  s.ext.immdt = {0xdeadbeef};
  s.ext.ieth = {Rkey(0x4321)};
  s.payload = payload;

  SampleFrame f;
  f.vlan = vlan;
  f.bth_opcode = code;
  f.pad = (4 - payload.size() % 4) % 4;
  f.bytes.resize(wire::roce_frame_size(s));
  auto n = wire::build_roce(s, f.bytes);
  if (!n) return std::unexpected(n.error());
  f.bytes.resize(*n);
  auto& r = f.expected;
  r.proto =
      version == IpVersion::v4 ? capture::RecordProto::roce_v4 : capture::RecordProto::roce_v6;
  r.opcode = std::string(wire::transport_prefix(op.transport)) + std::string(op.name);
  r.qpn = s.bth.dest_qp.raw();
  r.psn = s.bth.psn.raw();
  r.length = payload.size();
  r.icrc = capture::CrcVerdict::ok;
  return f;
}

// Ethernet frames shorter than 60 bytes (without FCS) are padded by the sender (IEEE
// 802.3 4.2.3.3).
constexpr std::array<std::byte, 60> kZeros{};

Result<SampleFrame> arp_frame(std::uint16_t oper) {
  wire::ArpSpec s;
  const bool request = oper == wire::ArpView::kRequest;
  s.eth.dst = request ? kBroadcast : kMacA;
  s.eth.src = request ? kMacA : kMacB;
  if (!request) s.eth.vlan_tci = kVlanTci;
  s.oper = oper;
  s.sha = request ? kMacA : kMacB;
  s.spa = request ? kIp4A : kIp4B;
  s.tha = request ? wire::MacAddr{} : kMacA;
  s.tpa = request ? kIp4B : kIp4A;
  const std::size_t unpadded = 14 + (s.eth.vlan_tci ? 4 : 0) + wire::ArpView::kSize;
  s.trailer = ConstByteSpan(kZeros).first(60 - unpadded);

  SampleFrame f;
  f.vlan = s.eth.vlan_tci.has_value();
  f.bytes.resize(60);
  auto n = wire::build_arp(s, f.bytes);
  if (!n) return std::unexpected(n.error());
  f.bytes.resize(*n);
  f.expected.proto = capture::RecordProto::arp;
  f.expected.opcode = request ? "ARP_REQUEST" : "ARP_REPLY";
  return f;
}

Result<SampleFrame> nd_frame(std::uint8_t type) {
  wire::NdSpec s;
  const bool ns = type == wire::icmpv6::kNeighbourSolicitation;
  const auto group = wire::solicited_node(kIp6B);
  // IPv6 multicast MAC: 33:33 and the group's low 32 bits (RFC 2464 7).
  const wire::MacAddr multicast = {0x33, 0x33, group[12], group[13], group[14], group[15]};
  s.eth.dst = ns ? multicast : kMacA;
  s.eth.src = ns ? kMacA : kMacB;
  s.ip.version = IpVersion::v6;
  s.ip.src = ns ? kIp6A : kIp6B;
  s.ip.dst = ns ? group : kIp6A;
  s.ip.ttl = 255;  // RFC 4861 7.1.1: hop limit 255 proves the sender is on-link
  s.type = type;
  s.na_flags = ns ? 0 : wire::icmpv6::kNaSolicited | wire::icmpv6::kNaOverride;
  s.target = kIp6B;
  s.link_addr = ns ? kMacA : kMacB;

  SampleFrame f;
  f.bytes.resize(wire::kMaxFrameSize);
  auto n = wire::build_nd(s, f.bytes);
  if (!n) return std::unexpected(n.error());
  f.bytes.resize(*n);
  f.expected.proto = capture::RecordProto::nd;
  f.expected.opcode = ns ? "ND_NS" : "ND_NA";
  return f;
}

}  // namespace

Result<std::vector<SampleFrame>> make_sample_traffic() {
  std::vector<SampleFrame> frames;
  std::size_t index = 0;
  for (const IpVersion version : {IpVersion::v4, IpVersion::v6}) {
    for (unsigned code = 0; code < wire::kOpcodeTable.size(); ++code) {
      const auto& op = wire::opcode_info(static_cast<std::uint8_t>(code));
      if (!op.valid()) continue;
      auto f = roce_frame(op, static_cast<std::uint8_t>(code), version, index++);
      if (!f) return std::unexpected(f.error());
      frames.push_back(std::move(*f));
    }
  }
  for (const std::uint16_t oper : {wire::ArpView::kRequest, wire::ArpView::kReply}) {
    auto f = arp_frame(oper);
    if (!f) return std::unexpected(f.error());
    frames.push_back(std::move(*f));
  }
  for (const std::uint8_t type :
       {wire::icmpv6::kNeighbourSolicitation, wire::icmpv6::kNeighbourAdvertisement}) {
    auto f = nd_frame(type);
    if (!f) return std::unexpected(f.error());
    frames.push_back(std::move(*f));
  }
  for (std::size_t i = 0; i < frames.size(); ++i) frames[i].expected.frame = i + 1;
  return frames;
}

}  // namespace softrnic::cli
