#include "crafted_captures.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "capture/pcap_file.hpp"
#include "wire/crc.hpp"
#include "wire/ip.hpp"
#include "wire/build.hpp"
#include "wire/mpa.hpp"
#include "wire/mpa_fpdu.hpp"

namespace softrnic::test {

namespace {

using Frame = std::vector<std::byte>;

constexpr wire::MacAddr kMacA = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr wire::MacAddr kMacB = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

std::vector<std::byte> pattern(std::size_t n, std::uint8_t step) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte{static_cast<std::uint8_t>(i * step)};
  return b;
}

std::vector<std::byte> text(std::string_view s) {
  std::vector<std::byte> b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
  return b;
}

bool write_frames(const std::string& path, const std::vector<Frame>& frames) {
  auto w = capture::PcapWriter::create(path, {.overwrite = true});
  if (!w) {
    ADD_FAILURE() << path << ": " << w.error().to_string();
    return false;
  }
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const capture::Timestamp ts{1'700'000'000, static_cast<std::uint32_t>(i * 1'000'000)};
    if (auto r = w->write(frames[i], ts); !r) {
      ADD_FAILURE() << path << ": " << r.error().to_string();
      return false;
    }
  }
  if (auto r = w->close(); !r) {
    ADD_FAILURE() << path << ": " << r.error().to_string();
    return false;
  }
  return true;
}

// RoCEv2 frames of one RC connection between A (QP 0x11) and B (QP 0x12).
class RoceFrames {
 public:
  // A frame from A to B (to_b) or from B to A; the caller fills the BTH opcode, PSN and headers.
  wire::RoceSpec spec(bool to_b) const {
    wire::RoceSpec s;
    s.eth.src = to_b ? kMacA : kMacB;
    s.eth.dst = to_b ? kMacB : kMacA;
    s.ip.src = wire::ipv4_mapped(to_b ? kIpA : kIpB);
    s.ip.dst = wire::ipv4_mapped(to_b ? kIpB : kIpA);
    s.ip.tos = 0x68;  // DSCP 26, ECN not capable
    s.src_port = 0xc123;
    s.bth.dest_qp = Qpn(to_b ? 0x12 : 0x11);
    return s;
  }

  bool add(const wire::RoceSpec& s) {
    Frame f(wire::kMaxFrameSize);
    const auto n = wire::build_roce(s, f);
    if (!n) {
      ADD_FAILURE() << "frame " << frames.size() + 1 << ": " << n.error().to_string();
      return false;
    }
    f.resize(*n);
    frames.push_back(std::move(f));
    return true;
  }

  std::vector<Frame> frames;

  static constexpr wire::Ipv4Addr kIpA = {198, 18, 0, 1};
  static constexpr wire::Ipv4Addr kIpB = {198, 18, 0, 2};
};

wire::RoceSpec with(wire::RoceSpec s, std::uint8_t opcode, std::uint32_t psn, bool ack_req = false) {
  s.bth.opcode = opcode;
  s.bth.psn = Psn(psn);
  s.bth.ack_req = ack_req;
  return s;
}

wire::Aeth ack(std::uint32_t msn) { return {wire::aeth::kUnlimitedCredits, Msn(msn)}; }

}  // namespace

bool write_crafted_roce(const std::string& path, std::size_t bad_icrc_frame) {
  RoceFrames r;
  constexpr std::uint32_t kPsn = 0x1000;
  const auto small = pattern(11, 7);
  const auto block = pattern(1024, 13);
  const auto tail = pattern(52, 29);
  const auto read_tail = pattern(476, 31);
  const auto ud = pattern(40, 3);

  auto send = with(r.spec(true), 0x04, kPsn, true);  // RC SEND ONLY
  send.bth.solicited = true;
  send.payload = small;
  auto ack1 = with(r.spec(false), 0x11, kPsn);  // RC ACKNOWLEDGE
  ack1.ext.aeth = ack(1);
  auto write_first = with(r.spec(true), 0x06, kPsn + 1);  // RC RDMA WRITE FIRST
  write_first.ext.reth = {0x7f0000001000, Rkey(0x1234), 2100};
  write_first.payload = block;
  auto write_middle = with(r.spec(true), 0x07, kPsn + 2);
  write_middle.payload = block;
  auto write_last = with(r.spec(true), 0x08, kPsn + 3, true);
  write_last.payload = tail;
  auto ack2 = with(r.spec(false), 0x11, kPsn + 3);
  ack2.ext.aeth = ack(2);
  auto read = with(r.spec(true), 0x0c, kPsn + 4, true);  // RC RDMA READ REQUEST
  read.ext.reth = {0x7f0000002000, Rkey(0x1234), 1500};
  auto read_first = with(r.spec(false), 0x0d, kPsn + 4);  // RC RDMA READ RESPONSE FIRST
  read_first.ext.aeth = ack(3);
  read_first.payload = block;
  auto read_last = with(r.spec(false), 0x0f, kPsn + 5);  // RC RDMA READ RESPONSE LAST
  read_last.ext.aeth = ack(3);
  read_last.payload = read_tail;
  auto fetch_add = with(r.spec(true), 0x14, kPsn + 6, true);  // RC FETCH_ADD
  fetch_add.ext.atomic_eth = {0x7f0000003000, Rkey(0x1234), 5, 0};
  auto atomic_ack = with(r.spec(false), 0x12, kPsn + 6);  // RC ATOMIC ACKNOWLEDGE
  atomic_ack.ext.aeth = ack(4);
  atomic_ack.ext.atomic_ack_eth = {41};

  auto ud_send = with(r.spec(true), 0x64, 7);  // UD SEND ONLY, IPv6, 802.1Q priority 3 VLAN 100
  ud_send.eth.vlan_tci = wire::make_tci(3, false, 100);
  ud_send.ip.version = wire::IpVersion::v6;
  ud_send.ip.src = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  ud_send.ip.dst = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
  ud_send.udp_checksum = wire::UdpChecksum::compute;
  ud_send.ext.deth = {Qkey{0x11111111}, 0, Qpn(0x21)};
  ud_send.payload = ud;
  auto cnp = with(r.spec(false), 0x81, 0);  // CNP, BECN set
  cnp.bth.resv8a = 0x40;

  for (const auto* s : {&send, &ack1, &write_first, &write_middle, &write_last, &ack2, &read,
                        &read_first, &read_last, &fetch_add, &atomic_ack, &ud_send, &cnp}) {
    if (!r.add(*s)) return false;
  }
  if (bad_icrc_frame != 0) {
    if (bad_icrc_frame > r.frames.size()) {
      ADD_FAILURE() << "no frame " << bad_icrc_frame << " to damage";
      return false;
    }
    r.frames[bad_icrc_frame - 1].back() ^= std::byte{0x01};  // the ICRC is the frame's end
  }
  return write_frames(path, r.frames);
}

namespace {

// One TCP connection from A (initiator) to B, carrying whole MPA frames and FPDUs per segment.
class TcpConnection {
 public:
  bool segment(bool from_a, std::uint8_t flags, std::span<const std::byte> payload = {}) {
    wire::TcpSpec s;
    s.eth.src = from_a ? kMacA : kMacB;
    s.eth.dst = from_a ? kMacB : kMacA;
    s.ip.src = wire::ipv4_mapped(from_a ? kIpA : kIpB);
    s.ip.dst = wire::ipv4_mapped(from_a ? kIpB : kIpA);
    s.ip.id = static_cast<std::uint16_t>(frames.size() + 1);
    s.src_port = from_a ? kPortA : kPortB;
    s.dst_port = from_a ? kPortB : kPortA;
    std::uint32_t& mine = from_a ? seq_a_ : seq_b_;
    s.seq = mine;
    s.ack = (flags & wire::tcpflag::kAck) ? (from_a ? seq_b_ : seq_a_) : 0;
    s.flags = flags;
    s.payload = payload;
    Frame f(wire::kMaxFrameSize);
    const auto n = wire::build_tcp(s, f);
    if (!n) {
      ADD_FAILURE() << "frame " << frames.size() + 1 << ": " << n.error().to_string();
      return false;
    }
    f.resize(*n);
    frames.push_back(std::move(f));
    mine += static_cast<std::uint32_t>(payload.size()) + ((flags & wire::tcpflag::kSyn) ? 1 : 0);
    return true;
  }

  std::vector<Frame> frames;

  static constexpr wire::Ipv4Addr kIpA = {198, 18, 1, 1};
  static constexpr wire::Ipv4Addr kIpB = {198, 18, 1, 2};
  static constexpr std::uint16_t kPortA = 40001;
  static constexpr std::uint16_t kPortB = 7174;
  std::uint32_t seq_a_ = 1000;
  std::uint32_t seq_b_ = 5000;
};

wire::UlpduSpec untagged(wire::RdmapOp op, std::uint32_t queue, std::uint32_t msn) {
  wire::UlpduSpec s;
  s.ddp.ctrl.tagged = false;
  s.ddp.ctrl.opcode = static_cast<std::uint8_t>(op);
  s.ddp.untagged.qn = queue;
  s.ddp.untagged.msn = DdpMsn{msn};
  return s;
}

wire::UlpduSpec tagged(wire::RdmapOp op, std::uint32_t stag, std::uint64_t to) {
  wire::UlpduSpec s;
  s.ddp.ctrl.tagged = true;
  s.ddp.ctrl.opcode = static_cast<std::uint8_t>(op);
  s.ddp.tagged = {Stag{stag}, to};
  return s;
}

}  // namespace

bool write_crafted_iwarp(const std::string& path, int mpa_revision, bool crc) {
  using wire::RdmapOp;
  const auto pdata = text("softrnic");
  const auto send_text = text("SEND payload 1");
  const auto written = pattern(64, 1);
  const auto read_data = pattern(32, 5);
  const auto inv_text = text("inv");
  const auto se_text = text("se");

  std::vector<Frame> payloads;
  for (const auto kind : {wire::MpaKind::request, wire::MpaKind::reply}) {
    wire::MpaFrame f;
    f.kind = kind;
    f.crc = crc;
    f.revision = static_cast<std::uint8_t>(mpa_revision);
    f.enhanced = mpa_revision == 2;
    f.ird_ord = f.enhanced ? std::optional(wire::MpaIrdOrd{.ird = 8, .ord = 8}) : std::nullopt;
    f.private_data = kind == wire::MpaKind::request ? ConstByteSpan(pdata) : ConstByteSpan();
    Frame b(wire::kMpaMaxFrameSize);
    const auto n = wire::build_mpa_frame(f, b);
    if (!n) {
      ADD_FAILURE() << "MPA frame: " << n.error().to_string();
      return false;
    }
    b.resize(*n);
    payloads.push_back(std::move(b));
  }

  auto send = untagged(RdmapOp::send, wire::ddp_queue::kSend, 1);
  send.payload = send_text;
  auto write = tagged(RdmapOp::rdma_write, 0x1234, 0x7f0000001000);
  write.payload = written;
  auto read = untagged(RdmapOp::rdma_read_request, wire::ddp_queue::kReadRequest, 1);
  read.read_request = {Stag{0x2222}, 0x7f0000009000, 32, Stag{0x1234}, 0x7f0000002000};
  auto response = tagged(RdmapOp::rdma_read_response, 0x2222, 0x7f0000009000);
  response.payload = read_data;
  auto send_inv = untagged(RdmapOp::send_with_invalidate, wire::ddp_queue::kSend, 2);
  send_inv.ddp.untagged.rsvd_ulp = 0x5678;  // the STag to invalidate
  send_inv.payload = inv_text;
  auto send_se = untagged(RdmapOp::send_with_solicited_event, wire::ddp_queue::kSend, 3);
  send_se.payload = se_text;
  auto terminate = untagged(RdmapOp::terminate, wire::ddp_queue::kTerminate, 1);
  terminate.terminate.layer = wire::terminate_layer::kRdmap;
  terminate.terminate.etype = 1;  // remote protection error: invalid STag

  // Initiator's FPDUs go A to B, the Read Response and the Terminate B to A.
  const std::vector<std::pair<const wire::UlpduSpec*, bool>> fpdus = {
      {&send, true},      {&write, true},   {&read, true},      {&response, false},
      {&send_inv, true},  {&send_se, true}, {&terminate, false}};
  for (const auto& [spec, from_a] : fpdus) {
    Frame b(wire::kMaxFpduSize);
    const auto n = wire::build_fpdu(*spec, crc, b);
    if (!n) {
      ADD_FAILURE() << "FPDU " << payloads.size() - 1 << ": " << n.error().to_string();
      return false;
    }
    b.resize(*n);
    payloads.push_back(std::move(b));
  }

  TcpConnection c;
  using namespace wire::tcpflag;
  if (!c.segment(true, kSyn) || !c.segment(false, kSyn | kAck) || !c.segment(true, kAck) ||
      !c.segment(true, kPsh | kAck, payloads[0]) || !c.segment(false, kPsh | kAck, payloads[1])) {
    return false;
  }
  for (std::size_t i = 0; i < fpdus.size(); ++i) {
    if (!c.segment(fpdus[i].second, kPsh | kAck, payloads[2 + i])) return false;
  }
  return write_frames(path, c.frames);
}

namespace {

constexpr wire::Ipv6Addr kLinkLocal = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr std::size_t kL3 = 14, kL4v6 = kL3 + 40;

// An Ethernet + IPv6 frame to a multicast group with `upper` after the IPv6 header (extension
// headers included in it), hop limit 1 or 255.
Frame ipv6_multicast(const wire::Ipv6Addr& dst, std::uint8_t next, std::uint8_t hops,
                     const std::vector<std::uint8_t>& upper) {
  Frame f(kL4v6 + upper.size());
  const wire::MacAddr mac = {0x33, 0x33, dst[12], dst[13], dst[14], dst[15]};
  for (std::size_t i = 0; i < 6; ++i) {
    f[i] = std::byte{mac[i]};
    f[6 + i] = std::byte{kMacA[i]};
  }
  store_be16(f, 12, 0x86dd);
  store_be32(f, kL3, 0x60000000);
  store_be16(f, kL3 + 4, static_cast<std::uint16_t>(upper.size()));
  store_u8(f, kL3 + 6, next);
  store_u8(f, kL3 + 7, hops);
  for (std::size_t i = 0; i < 16; ++i) {
    f[kL3 + 8 + i] = std::byte{kLinkLocal[i]};
    f[kL3 + 24 + i] = std::byte{dst[i]};
  }
  for (std::size_t i = 0; i < upper.size(); ++i) f[kL4v6 + i] = std::byte{upper[i]};
  return f;
}

// Fills the ICMPv6 checksum (at icmp_off + 2) over the pseudo-header of the final destination.
void fix_icmpv6_checksum(Frame& f, std::size_t icmp_off) {
  wire::Ipv6Addr src, dst;
  for (std::size_t i = 0; i < 16; ++i) {
    src[i] = load_u8(f, kL3 + 8 + i);
    dst[i] = load_u8(f, kL3 + 24 + i);
  }
  const auto len = static_cast<std::uint32_t>(f.size() - icmp_off);
  const ConstByteSpan icmp = ConstByteSpan(f).subspan(icmp_off);
  store_be16(f, icmp_off + 2, wire::ones_fold(wire::ones_sum(icmp, wire::pseudo_sum_v6(src, dst, 58, len))));
}

// An 8-byte Hop-by-Hop or Destination Options header: router alert (MLD) and a PadN.
std::vector<std::uint8_t> router_alert(std::uint8_t next) { return {next, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00}; }

// Puts extension headers (each with its own next-header byte, the last naming UDP) between the
// IPv6 header and the UDP header of a RoCEv2 frame, and recomputes the ICRC.
Frame behind_extensions(const Frame& roce, std::uint8_t first, const std::vector<std::uint8_t>& ext) {
  Frame f(roce.begin(), roce.begin() + kL4v6);
  for (auto b : ext) f.push_back(std::byte{b});
  f.insert(f.end(), roce.begin() + kL4v6, roce.end());
  store_u8(f, kL3 + 6, first);
  store_be16(f, kL3 + 4, static_cast<std::uint16_t>(load_be16(roce, kL3 + 4) + ext.size()));
  const std::size_t udp = kL4v6 + ext.size();
  store_le32(f, f.size() - 4,
             wire::icrc(ConstByteSpan(f).subspan(kL3, 40), ConstByteSpan(f).subspan(udp, f.size() - 4 - udp)));
  fix_udp_checksum_v6(f, udp);
  return f;
}

}  // namespace

void fix_udp_checksum_v6(std::vector<std::byte>& f, std::size_t udp_off) {
  wire::Ipv6Addr src, dst;
  for (std::size_t i = 0; i < 16; ++i) {
    src[i] = load_u8(f, 14 + 8 + i);
    dst[i] = load_u8(f, 14 + 24 + i);
  }
  store_be16(f, udp_off + 6, 0);
  const ConstByteSpan udp = ConstByteSpan(f).subspan(udp_off);
  const std::uint16_t c = wire::ones_fold(
      wire::ones_sum(udp, wire::pseudo_sum_v6(src, dst, 17, static_cast<std::uint32_t>(udp.size()))));
  store_be16(f, udp_off + 6, c == 0 ? 0xffff : c);
}

bool write_host_chatter(const std::string& path, bool bad_icrc) {
  std::vector<Frame> frames;
  // MLDv2 report: HBH(router alert, next 58), ICMPv6 type 143, one record: change to exclude
  // nothing (mode 4) for ff02::1:ff00:1.
  std::vector<std::uint8_t> mld = router_alert(58);
  const std::vector<std::uint8_t> report = {143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0,
                                            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0x01};
  mld.insert(mld.end(), report.begin(), report.end());
  constexpr wire::Ipv6Addr kMldv2Routers = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16};
  frames.push_back(ipv6_multicast(kMldv2Routers, 0, 1, mld));
  fix_icmpv6_checksum(frames.back(), kL4v6 + 8);
  // Router solicitation with a source link-layer address option.
  constexpr wire::Ipv6Addr kAllRouters = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
  frames.push_back(ipv6_multicast(kAllRouters, 58, 255,
                                  {133, 0, 0, 0, 0, 0, 0, 0, 1, 1, kMacA[0], kMacA[1], kMacA[2], kMacA[3],
                                   kMacA[4], kMacA[5]}));
  fix_icmpv6_checksum(frames.back(), kL4v6);

  wire::ArpSpec arp;
  arp.eth.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  arp.sha = kMacA;
  arp.spa = RoceFrames::kIpA;
  arp.tpa = RoceFrames::kIpB;
  frames.emplace_back(14 + 28);
  if (!wire::build_arp(arp, frames.back())) {
    ADD_FAILURE() << "ARP frame";
    return false;
  }
  wire::NdSpec nd;
  nd.ip.version = wire::IpVersion::v6;
  nd.ip.src = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  nd.target = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
  nd.ip.dst = wire::solicited_node(nd.target);
  nd.ip.ttl = 255;
  nd.link_addr = kMacA;
  frames.emplace_back(14 + 40 + 32);
  if (!wire::build_nd(nd, frames.back())) {
    ADD_FAILURE() << "ND frame";
    return false;
  }

  RoceFrames r;
  auto send = with(r.spec(true), 0x04, 0x2000, true);
  send.ip.version = wire::IpVersion::v6;
  send.ip.src = nd.ip.src;
  send.ip.dst = nd.target;
  send.udp_checksum = wire::UdpChecksum::compute;
  const auto data = pattern(64, 5);
  send.payload = data;
  if (!r.add(send)) return false;
  frames.push_back(behind_extensions(r.frames.back(), 0, router_alert(17)));
  if (bad_icrc) {
    frames.back().back() ^= std::byte{0x01};
    fix_udp_checksum_v6(frames.back(), kL4v6 + 8);  // the UDP layer is sound, the ICRC is not
  }

  // A UDP datagram to port 53 (its bytes happen to be a RoCEv2 packet's: not ours to judge).
  auto dns = with(r.spec(true), 0x04, 0x1fff, true);
  dns.payload = data;
  if (!r.add(dns)) return false;
  frames.push_back(r.frames.back());
  store_be16(frames.back(), kL3 + 20 + 2, 53);

  send.bth.psn = Psn(0x2001);
  if (!r.add(send)) return false;
  auto two = router_alert(60);
  const auto dest = router_alert(17);
  two.insert(two.end(), dest.begin(), dest.end());
  frames.push_back(behind_extensions(r.frames.back(), 0, two));
  return write_frames(path, frames);
}

}  // namespace softrnic::test
