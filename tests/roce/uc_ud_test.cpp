// UC and UD over a lossy wire: messages arrive whole or not at all, never twice, never corrupted.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "lossy_fabric.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

// Each message carries its index in its first 4 bytes and a pattern derived from it.
std::vector<std::byte> message(std::uint32_t index, std::uint32_t len) {
  std::vector<std::byte> v(len);
  for (std::uint32_t i = 0; i < len; ++i) v[i] = std::byte((index * 7 + i * 13) & 0xff);
  if (len >= 4) std::memcpy(v.data(), &index, 4);
  return v;
}

struct Sizes {
  std::uint32_t mtu;
  std::vector<std::uint32_t> lens;
};

class UcUnderFaults : public ::testing::TestWithParam<std::tuple<Fault, std::uint32_t>> {};

TEST_P(UcUnderFaults, SendsArriveWholeOrNotAtAll) {
  const auto [fault, mtu] = GetParam();
  LossyPair lp(fault);
  auto& d = *lp.devs;
  QpInit init;
  init.sq_depth = 1024;
  init.rq_depth = 1024;
  d.connect(verbs::QpType::uc, mtu, init);
  constexpr std::uint32_t kCount = 300;
  const std::uint32_t max_len = 3 * mtu + 17;
  std::vector<std::vector<std::byte>> src(kCount), dst(kCount);
  std::vector<std::uint32_t> len(kCount);
  const auto access = verbs::kLocalWrite;
  for (std::uint32_t i = 0; i < kCount; ++i) {
    len[i] = 4 + (i * 977) % (max_len - 4);
    src[i] = message(i, len[i]);
    dst[i].assign(max_len, std::byte{0});
    const auto lk = *d.a.dev->memory().register_mr(d.a.pd, src[i].data(), src[i].size(), 0,
                                                   access | verbs::kZeroBased);
    const auto rk = *d.b.dev->memory().register_mr(d.b.pd, dst[i].data(), dst[i].size(), 0,
                                                   access | verbs::kZeroBased);
    RecvWr r;
    r.wr_id = i;
    r.num_sge = 1;
    r.sg[0] = {0, max_len, rk};
    ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
    SendWr s;
    s.wr_id = i;
    s.opcode = WrOpcode::send;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, len[i], lk};
    ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  }
  std::vector<verbs::Cqe> sc, rc;
  d.run_until([&] {
    auto x = d.drain(d.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    auto y = d.drain(d.b.rcq);
    rc.insert(rc.end(), y.begin(), y.end());
    return sc.size() == kCount && d.a.dev->poll() + d.b.dev->poll() == 0 &&
           lp.fa->held() == 0 && lp.fb->held() == 0;
  }, 200000, 10000);
  lp.fa->flush();
  for (int i = 0; i < 100; ++i) d.b.dev->poll();
  auto y = d.drain(d.b.rcq);
  rc.insert(rc.end(), y.begin(), y.end());
  ASSERT_EQ(sc.size(), kCount);  // UC completes on transmission
  // Receive WQEs are consumed in order; each successful one holds exactly one whole message.
  std::map<std::uint32_t, int> delivered;
  for (std::size_t k = 0; k < rc.size(); ++k) {
    ASSERT_EQ(rc[k].status, WcStatus::success);
    const auto& buf = dst[rc[k].wr_id];
    std::uint32_t index;
    std::memcpy(&index, buf.data(), 4);
    ASSERT_LT(index, kCount);
    EXPECT_EQ(rc[k].byte_len, len[index]) << "message " << index;
    EXPECT_TRUE(std::equal(src[index].begin(), src[index].end(), buf.begin())) << "message " << index;
    EXPECT_EQ(++delivered[index], 1) << "message " << index << " delivered twice";
  }
  if (fault == Fault::none) {
    EXPECT_EQ(rc.size(), kCount);
  } else if (fault == Fault::loss10) {
    EXPECT_LT(rc.size(), kCount);  // some were lost, and that is what UC does
  }
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, UcUnderFaults,
    ::testing::Combine(::testing::Values(Fault::none, Fault::loss1, Fault::loss10, Fault::reorder,
                                         Fault::duplicate, Fault::corrupt),
                       ::testing::Values(256u, 4096u)),
    [](const auto& info) {
      return fault_name(std::get<0>(info.param)) + "_mtu" + std::to_string(std::get<1>(info.param));
    });

class UdUnderFaults : public ::testing::TestWithParam<Fault> {};

TEST_P(UdUnderFaults, DatagramsUpToThePathMtuArriveIntactWithGrhAndSource) {
  LossyPair lp(GetParam());
  auto& d = *lp.devs;
  QpInit init;
  init.sq_depth = 512;
  init.rq_depth = 512;
  d.connect(verbs::QpType::ud, 1024, init);
  AddressHandle ah = d.a.qp->attr.av;
  constexpr std::uint32_t kCount = 200;
  std::vector<std::vector<std::byte>> src(kCount), dst(kCount);
  for (std::uint32_t i = 0; i < kCount; ++i) {
    const std::uint32_t len = 4 + (i * 331) % (1024 - 3);  // up to the path MTU
    src[i] = message(i, len);
    dst[i].assign(40 + 1024, std::byte{0});
    const auto lk = *d.a.dev->memory().register_mr(d.a.pd, src[i].data(), len, 0, verbs::kZeroBased);
    const auto rk = *d.b.dev->memory().register_mr(d.b.pd, dst[i].data(), dst[i].size(), 0,
                                                   verbs::kLocalWrite | verbs::kZeroBased);
    RecvWr r;
    r.wr_id = i;
    r.num_sge = 1;
    r.sg[0] = {0, static_cast<std::uint32_t>(dst[i].size()), rk};
    ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
    SendWr s;
    s.wr_id = i;
    s.opcode = i % 2 ? WrOpcode::send_with_imm : WrOpcode::send;
    s.imm = i;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, len, lk};
    s.ah = &ah;
    s.remote_qpn = d.b.qp->qpn;
    s.remote_qkey = 0x11111111;
    ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  }
  // One more with the wrong Q_Key: dropped and counted.
  SendWr bad;
  bad.wr_id = 999;
  bad.opcode = WrOpcode::send;
  bad.ah = &ah;
  bad.remote_qpn = d.b.qp->qpn;
  bad.remote_qkey = 0x22222222;
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, bad));
  std::vector<verbs::Cqe> rc;
  d.run_until([&] { return d.a.dev->poll() + d.b.dev->poll() == 0 && lp.fa->held() == 0; }, 100000, 10000);
  lp.fa->flush();
  for (int i = 0; i < 100; ++i) d.b.dev->poll();
  rc = d.drain(d.b.rcq);
  std::map<std::uint32_t, int> seen;
  for (const auto& c : rc) {
    ASSERT_EQ(c.status, WcStatus::success);
    const auto& buf = dst[c.wr_id];
    std::uint32_t index;
    std::memcpy(&index, buf.data() + 40, 4);
    ASSERT_LT(index, kCount);
    EXPECT_EQ(c.byte_len, 40 + src[index].size());
    EXPECT_TRUE(std::equal(src[index].begin(), src[index].end(), buf.begin() + 40));
    EXPECT_EQ(c.src_qp, d.a.qp->qpn);
    EXPECT_TRUE(c.flags & verbs::Cqe::kGrh);
    EXPECT_EQ(static_cast<std::uint8_t>(buf[20]), 0x45) << "IPv4 header in the GRH space";
    if (index % 2) {
      EXPECT_EQ(c.imm, index);
    }
    EXPECT_EQ(++seen[index], 1) << "datagram " << index << " delivered twice";
  }
  if (GetParam() == Fault::none) {
    EXPECT_EQ(rc.size(), kCount);
  }
  // The wrong-Q_Key datagram is never delivered (its 0-byte payload matches no message above);
  // the wire may have lost or duplicated it, so it is counted 0..2 times under faults.
  if (GetParam() == Fault::none) {
    EXPECT_EQ(d.b.dev->counters().get(DeviceCounter::rx_drop_qkey), 1u);
  } else {
    EXPECT_LE(d.b.dev->counters().get(DeviceCounter::rx_drop_qkey), 2u);
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, UdUnderFaults,
                         ::testing::Values(Fault::none, Fault::loss1, Fault::loss10, Fault::reorder,
                                           Fault::duplicate, Fault::corrupt),
                         [](const auto& info) { return fault_name(info.param); });

TEST(UdQkey, PrivilegedQkeyBitSendsTheQpsOwnQkey) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  devs.connect(verbs::QpType::ud, 1024);
  std::vector<std::byte> dst(1064);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), dst.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 1064, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  AddressHandle ah = devs.a.qp->attr.av;
  SendWr s;
  s.opcode = WrOpcode::send;
  s.ah = &ah;
  s.remote_qpn = devs.b.qp->qpn;
  s.remote_qkey = 0x80000000u;  // "use my QP's Q_Key" (both QPs have 0x11111111)
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  std::vector<verbs::Cqe> rc;
  ASSERT_TRUE(devs.run_until([&] {
    rc = devs.drain(devs.b.rcq);
    return !rc.empty();
  }));
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_EQ(devs.b.dev->counters().get(DeviceCounter::rx_drop_qkey), 0u);
}

// A UD QP has no peer: brought to RTS the verbs way, with no address vector at all, it sends to
// whatever each WR's address handle names (no neighbour resolution for a peer it does not have).
TEST(UdQp, ReachesRtsWithoutAnAddressVectorAndSendsByItsAddressHandles) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  Qp* ud[2] = {};
  Endpoint* ends[2] = {&devs.a, &devs.b};
  for (int i = 0; i < 2; ++i) {
    QpInit init;
    init.type = verbs::QpType::ud;
    init.pd = ends[i]->pd;
    init.send_cq = ends[i]->scq;
    init.recv_cq = ends[i]->rcq;
    ud[i] = *ends[i]->dev->create_qp(init);
    QpAttrs x;
    x.state = verbs::QpState::init;
    x.qkey = 0x11111111;
    ASSERT_TRUE(ends[i]->dev->modify_qp(
        *ud[i], x,
        verbs::kAttrState | verbs::kAttrPkeyIndex | verbs::kAttrPort | verbs::kAttrQkey));
    x.state = verbs::QpState::rtr;
    ASSERT_TRUE(ends[i]->dev->modify_qp(*ud[i], x, verbs::kAttrState));
    x.state = verbs::QpState::rts;
    ASSERT_TRUE(ends[i]->dev->modify_qp(*ud[i], x, verbs::kAttrState | verbs::kAttrSqPsn));
  }
  std::vector<std::byte> src(100, std::byte{7}), dst(40 + 100);
  const auto lk =
      *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), src.size(), 0, verbs::kZeroBased);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), dst.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, static_cast<std::uint32_t>(dst.size()), rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*ud[1], r));
  AddressHandle ah;
  ah.src_gid = gid_v4(1);
  ah.dst_gid = gid_v4(2);
  ah.dst_mac = wire.b.mac();
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 100, lk};
  s.ah = &ah;
  s.remote_qpn = ud[1]->qpn;
  s.remote_qkey = 0x11111111;
  ASSERT_TRUE(devs.a.dev->post_send(*ud[0], s));
  std::vector<verbs::Cqe> rc, sc;
  ASSERT_TRUE(devs.run_until([&] {
    if (rc.empty()) rc = devs.drain(devs.b.rcq);
    if (sc.empty()) sc = devs.drain(devs.a.scq);
    return !rc.empty() && !sc.empty();
  }));
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_TRUE(devs.a.dev->events().empty()) << devs.a.dev->events().front().message;
  EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin() + 40));
}

}  // namespace
}  // namespace softrnic::roce::test
