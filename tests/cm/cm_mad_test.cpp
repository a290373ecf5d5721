// CM MADs against real ones: the REQ/REP/RTU/DREQ/DREP Linux rdma_cm sent in roce_cm_rping.pcap
// decode with the values tshark shows and re-encode byte for byte; malformed MADs are refused
// with an error that names what is wrong.
#include <gtest/gtest.h>

#include <string>

#include "../capture/test_support.hpp"
#include "wire/cm_mad.hpp"
#include "wire/parse.hpp"

namespace softrnic::wire::cm {
namespace {

using softrnic::test::FrameBytes;

struct GoldenMad {
  std::vector<std::byte> mad;  // the 256 bytes after BTH+DETH
};

std::vector<GoldenMad> golden_mads() {
  std::vector<GoldenMad> out;
  for (const FrameBytes& f : softrnic::test::read_all_frames(softrnic::test::golden_pcaps_dir() + "/roce_cm_rping.pcap")) {
    auto p = parse_frame(f.bytes);
    if (!p || p->bth().dest_qp().raw() != kGsiQpn) continue;
    const auto payload = p->payload();
    out.push_back({std::vector<std::byte>(payload.begin(), payload.end())});
  }
  return out;
}

TEST(CmMadGolden, EveryRdmaCmMadDecodesAndReencodesByteForByte) {
  const auto mads = golden_mads();
  ASSERT_EQ(mads.size(), 5u) << "REQ, REP, RTU, DREQ, DREP";
  const AttrId want[] = {AttrId::req, AttrId::rep, AttrId::rtu, AttrId::dreq, AttrId::drep};
  for (std::size_t i = 0; i < mads.size(); ++i) {
    ASSERT_EQ(mads[i].mad.size(), kMadSize);
    auto m = decode_cm_mad(mads[i].mad);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->hdr.attr_id, static_cast<std::uint16_t>(want[i]));
    EXPECT_EQ(attr_of(m->msg), want[i]);
    const auto again = encode_cm_mad(*m);
    EXPECT_TRUE(std::equal(again.begin(), again.end(), mads[i].mad.begin())) << "MAD " << i;
  }
}

TEST(CmMadGolden, ReqFieldsAreThoseOnTheWire) {
  const auto mads = golden_mads();
  ASSERT_FALSE(mads.empty());
  auto m = decode_cm_mad(mads[0].mad);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hdr.tid, 0x000000025752f632u);
  const auto& r = std::get<Req>(m->msg);
  EXPECT_EQ(r.local_comm_id, 0x32f65257u);
  EXPECT_EQ(r.service_id, 0x0000000001061c06u);
  EXPECT_TRUE(is_ip_service_id(r.service_id));
  EXPECT_EQ(service_port_space(r.service_id), kPortSpaceTcp);
  EXPECT_EQ(service_port(r.service_id), 7174);
  EXPECT_EQ(r.local_ca_guid, 0x505400fffe520002u);
  EXPECT_EQ(r.local_ca_guid, guid_from_mac({0x52, 0x54, 0x00, 0x52, 0x00, 0x02}));
  EXPECT_EQ(r.local_qpn, 0x1cu);
  EXPECT_EQ(r.responder_resources, 1);
  EXPECT_EQ(r.initiator_depth, 1);
  EXPECT_EQ(r.remote_cm_response_timeout, 0x14);
  EXPECT_EQ(r.transport_type, 0);
  EXPECT_EQ(r.starting_psn, 0x3091a5u);
  EXPECT_EQ(r.local_cm_response_timeout, 0x14);
  EXPECT_EQ(r.retry_count, 7);
  EXPECT_EQ(r.pkey, 0xffff);
  EXPECT_EQ(mtu_bytes(r.path_mtu), 1024u);
  EXPECT_EQ(r.rnr_retry_count, 7);
  EXPECT_EQ(r.max_cm_retries, 15);
  EXPECT_EQ(r.primary.local_lid, 0xffff);
  EXPECT_EQ(r.primary.local_gid, ipv4_mapped({198, 18, 0, 2}));
  EXPECT_EQ(r.primary.remote_gid, ipv4_mapped({198, 18, 0, 3}));
  // Bytes 88..91 of the CM data are 3e 4a 60 00: flow label 0x3e4a6, packet rate 0. (tshark 3.6
  // shows "0x003e4" and rate 0x3e: it reads that word one byte early.)
  EXPECT_EQ(r.primary.flow_label, 0x3e4a6u);
  EXPECT_EQ(r.primary.packet_rate, 0);
  EXPECT_EQ(r.primary.hop_limit, 0x40);
  EXPECT_EQ(r.primary.local_ack_timeout, 0x13);
  auto ip = read_ip_cm_header(std::span<const std::byte, kReqPrivateData>(r.private_data));
  ASSERT_TRUE(ip) << ip.error().message;
  EXPECT_EQ(ip->ip_version, IpVersion::v4);
  EXPECT_EQ(ip->src_port, 0xa360);
  EXPECT_EQ(ip->src, ipv4_mapped({198, 18, 0, 2}));
  EXPECT_EQ(ip->dst, ipv4_mapped({198, 18, 0, 3}));
}

TEST(CmMadGolden, RepRtuDreqDrepFieldsAreThoseOnTheWire) {
  const auto mads = golden_mads();
  ASSERT_EQ(mads.size(), 5u);
  const auto rep = std::get<Rep>(decode_cm_mad(mads[1].mad)->msg);
  EXPECT_EQ(rep.local_comm_id, 0xdbfebbdbu);
  EXPECT_EQ(rep.remote_comm_id, 0x32f65257u);
  EXPECT_EQ(rep.local_qpn, 0x1cu);
  EXPECT_EQ(rep.starting_psn, 0xf2f790u);
  EXPECT_EQ(rep.target_ack_delay, 0x0f);
  EXPECT_EQ(rep.rnr_retry_count, 7);
  EXPECT_EQ(rep.local_ca_guid, 0x505400fffe520003u);
  const auto rtu = std::get<Rtu>(decode_cm_mad(mads[2].mad)->msg);
  EXPECT_EQ(rtu.local_comm_id, 0x32f65257u);
  EXPECT_EQ(rtu.remote_comm_id, 0xdbfebbdbu);
  const auto dreq = std::get<Dreq>(decode_cm_mad(mads[3].mad)->msg);
  EXPECT_EQ(dreq.remote_qpn, 0x1cu);
  const auto drep = std::get<Drep>(decode_cm_mad(mads[4].mad)->msg);
  EXPECT_EQ(drep.local_comm_id, 0xdbfebbdbu);
}

TEST(CmMadCodec, EveryMessageRoundTripsWithReservedBitsKept) {
  Req req;
  req.local_comm_id = 7;
  req.reserved0 = 0xdeadbeef;
  req.primary.reserved_b = 5;
  req.alternate.reserved_c = 3;
  req.private_data[91] = std::byte{0x5a};
  Mra mra{.local_comm_id = 1, .remote_comm_id = 2, .message_mraed = MsgKind::rep, .reserved0 = 9,
          .service_timeout = 21, .reserved1 = 1, .private_data = {}};
  Rej rej;
  rej.reason = 28;
  rej.reject_info_length = 100;
  rej.ari[0] = std::byte{1};
  rej.private_data[147] = std::byte{2};
  Rep rep;
  rep.failover_accepted = 2;
  rep.srq = true;
  rep.reserved3 = 0xf;
  Dreq dreq;
  dreq.remote_qpn = 0xabcdef;
  dreq.reserved0 = 0x11;
  for (const CmMessage& msg : std::initializer_list<CmMessage>{req, mra, rej, rep, Rtu{}, dreq, Drep{}}) {
    CmMad m{MadHeader{.tid = 0x0102030405060708u, .attr_mod = 3}, msg};
    const auto bytes = encode_cm_mad(m);
    auto back = decode_cm_mad(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->hdr.tid, m.hdr.tid);
    EXPECT_EQ(back->hdr.attr_mod, 3u);
    EXPECT_EQ(back->msg, msg);
    EXPECT_EQ(encode_cm_mad(*back), bytes);
  }
}

TEST(CmMadCodec, IpCmHeaderCarriesIpv6Addresses) {
  IpCmHeader h;
  h.ip_version = IpVersion::v6;
  h.src_port = 4242;
  h.src = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  h.dst = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::array<std::byte, kReqPrivateData> pd{};
  write_ip_cm_header(pd, h);
  EXPECT_EQ(pd[1], std::byte{0x60});
  auto back = read_ip_cm_header(pd);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->src, h.src);
  EXPECT_EQ(back->dst, h.dst);
  EXPECT_EQ(back->src_port, 4242);
  pd[1] = std::byte{0x50};
  auto bad = read_ip_cm_header(pd);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("IP version 5"), std::string::npos);
  pd[1] = std::byte{0x40};
  pd[0] = std::byte{0x10};
  EXPECT_FALSE(read_ip_cm_header(pd));
}

TEST(CmMadCodec, MalformedMadsAreRefusedWithTheReason) {
  std::array<std::byte, kMadSize> good = encode_cm_mad(CmMad{MadHeader{}, Rtu{}});
  EXPECT_TRUE(decode_cm_mad(good));
  const auto reason = [&](std::size_t off, std::uint8_t v) {
    auto b = good;
    b[off] = std::byte{v};
    auto r = decode_cm_mad(b);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_NE(reason(0, 2).find("base version"), std::string::npos);
  EXPECT_NE(reason(1, 4).find("management class"), std::string::npos);
  EXPECT_NE(reason(2, 1).find("class version"), std::string::npos);
  EXPECT_NE(reason(3, 0x81).find("method"), std::string::npos);
  EXPECT_NE(reason(17, 0x17).find("SIDR_REQ"), std::string::npos);
  EXPECT_NE(reason(17, 0x7f).find("0x007f"), std::string::npos);
  auto shorter = decode_cm_mad(ConstByteSpan(good).first(100));
  ASSERT_FALSE(shorter);
  EXPECT_EQ(shorter.error().code, Errc::truncated);
}

TEST(CmMadCodec, ServiceIdsAndMtus) {
  EXPECT_EQ(ip_service_id(kPortSpaceTcp, 7174), 0x0000000001061c06u);
  EXPECT_FALSE(is_ip_service_id(0x1234));
  for (std::uint32_t m : {256u, 512u, 1024u, 2048u, 4096u}) EXPECT_EQ(mtu_bytes(mtu_enum(m)), m);
  EXPECT_EQ(mtu_enum(1500), 0);
  EXPECT_EQ(mtu_bytes(6), 0u);
}

}  // namespace
}  // namespace softrnic::wire::cm
