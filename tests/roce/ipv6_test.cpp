// The same engine over IPv6 (GIDs fd00:5052::1 and ::2): RC send/write/read and UD with the IPv6
// header in the GRH space.
#include <gtest/gtest.h>

#include <vector>

#include "harness.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

TEST(Ipv6, RcSendWriteAndReadCarryTheirBytes) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock, wire::IpVersion::v6};
  int v6_frames = 0;
  wire.filter = [&](int, Packet& p) {
    v6_frames += p.data[12] == std::byte{0x86} && p.data[13] == std::byte{0xdd};
    return true;
  };
  devs.connect(verbs::QpType::rc, 1024);
  std::vector<std::byte> src(5000), dst(5000), back(5000), rbuf(5000);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i * 11);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kZeroBased;
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), src.size(), 0, acc);
  const auto bk = *devs.a.dev->memory().register_mr(devs.a.pd, back.data(), back.size(), 0, acc);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), dst.size(), 0, acc);
  const auto rr = *devs.b.dev->memory().register_mr(devs.b.pd, rbuf.data(), rbuf.size(), 0, acc);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 5000, rr};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 5000, lk};
  s.rkey = rk;
  s.opcode = WrOpcode::send;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  s.opcode = WrOpcode::rdma_write;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  s.opcode = WrOpcode::rdma_read;
  s.sg[0] = {0, 5000, bk};
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return sc.size() == 3;
  }));
  for (const auto& c : sc) EXPECT_EQ(c.status, WcStatus::success);
  EXPECT_EQ(rbuf, src);
  EXPECT_EQ(dst, src);
  EXPECT_EQ(back, src);
  EXPECT_GT(v6_frames, 10);
}

TEST(Ipv6, UdDatagramCarriesTheIpv6HeaderInItsGrh) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock, wire::IpVersion::v6};
  devs.connect(verbs::QpType::ud, 1024);
  std::vector<std::byte> src(200, std::byte{3}), dst(40 + 1024);
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), src.size(), 0, verbs::kZeroBased);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), dst.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, static_cast<std::uint32_t>(dst.size()), rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  AddressHandle ah = devs.a.qp->attr.av;
  SendWr s;
  s.opcode = WrOpcode::send;
  s.num_sge = 1;
  s.sg[0] = {0, 200, lk};
  s.ah = &ah;
  s.remote_qpn = devs.b.qp->qpn;
  s.remote_qkey = 0x11111111;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  std::vector<verbs::Cqe> rc;
  ASSERT_TRUE(devs.run_until([&] {
    rc = devs.drain(devs.b.rcq);
    return !rc.empty();
  }));
  EXPECT_EQ(rc[0].byte_len, 240u);
  EXPECT_EQ(static_cast<std::uint8_t>(dst[0]) >> 4, 6) << "IPv6 header at the start of the GRH";
  EXPECT_TRUE(std::equal(ah.src_gid.begin(), ah.src_gid.end(),
                         reinterpret_cast<const std::uint8_t*>(dst.data()) + 8))
      << "the GRH holds the sender's GID";
  EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin() + 40));
}

}  // namespace
}  // namespace softrnic::roce::test
