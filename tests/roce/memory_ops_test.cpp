// Memory operations through the send queue, SRQs, and what post_send refuses up front.
#include <gtest/gtest.h>

#include <vector>

#include "harness.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

class MemoryOps : public ::testing::Test {
 protected:
  void SetUp() override { devs.connect(verbs::QpType::rc, 1024); }
  std::vector<verbs::Cqe> run_send(Endpoint& e, std::size_t n) {
    std::vector<verbs::Cqe> out;
    devs.run_until([&] {
      auto x = devs.drain(e.scq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    }, 100000, 10000);
    return out;
  }
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
};

TEST_F(MemoryOps, FastRegisterThenRemoteWriteThenLocalInvalidate) {
  auto& mem = devs.b.dev->memory();
  std::vector<std::byte> p0(4096), p1(4096);
  std::array<std::byte*, 2> pages{p0.data(), p1.data()};
  const auto frmr = *mem.alloc_frmr(devs.b.pd, 2);
  SendWr fr;
  fr.wr_id = 1;
  fr.opcode = WrOpcode::fast_reg_mr;
  fr.flags = verbs::kSignaled;
  fr.local_key = frmr;
  fr.mem = {0x5c, pages.data(), 2, 4096, 0, 0x40000, 8192, verbs::kLocalWrite | verbs::kRemoteWrite, 0};
  ASSERT_TRUE(devs.b.dev->post_send(*devs.b.qp, fr));
  auto c = run_send(devs.b, 1);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(c[0].status, WcStatus::success);
  EXPECT_EQ(c[0].opcode, verbs::WcOpcode::fast_reg_mr);
  const std::uint32_t key = (frmr & ~0xffu) | 0x5c;

  std::vector<std::byte> src(100, std::byte{0x77});
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 100, 0, verbs::kZeroBased);
  SendWr w;
  w.wr_id = 2;
  w.opcode = WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 100, lk};
  w.remote_addr = 0x40000 + 4096 - 50;  // straddles the two pages
  w.rkey = key;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  c = run_send(devs.a, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, WcStatus::success);
  EXPECT_EQ(p0[4095], std::byte{0x77});
  EXPECT_EQ(p1[49], std::byte{0x77});
  EXPECT_EQ(p1[50], std::byte{0});

  SendWr inv;
  inv.wr_id = 3;
  inv.opcode = WrOpcode::local_inv;
  inv.flags = verbs::kSignaled;
  inv.local_key = key;
  ASSERT_TRUE(devs.b.dev->post_send(*devs.b.qp, inv));
  c = run_send(devs.b, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, WcStatus::success);
  w.wr_id = 4;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  c = run_send(devs.a, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, WcStatus::remote_access_error) << "the invalidated key no longer works";
}

TEST_F(MemoryOps, BoundWindowGrantsOnlyItsRangeAndQp) {
  auto& mem = devs.b.dev->memory();
  std::vector<std::byte> region(8192);
  const auto mr = *mem.register_mr(devs.b.pd, region.data(), region.size(), 0,
                                   verbs::kLocalWrite | verbs::kMwBind | verbs::kZeroBased);
  const auto mw = *mem.alloc_mw(devs.b.pd);
  SendWr bind;
  bind.wr_id = 1;
  bind.opcode = WrOpcode::bind_mw;
  bind.flags = verbs::kSignaled;
  bind.local_key = mw;
  bind.mem.new_key = 0x21;
  bind.mem.mr_key = mr;
  bind.mem.va = 1024;
  bind.mem.length = 512;
  bind.mem.access = verbs::kRemoteWrite;
  ASSERT_TRUE(devs.b.dev->post_send(*devs.b.qp, bind));
  auto c = run_send(devs.b, 1);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(c[0].status, WcStatus::success);
  const std::uint32_t wkey = (mw & ~0xffu) | 0x21;
  std::vector<std::byte> src(16, std::byte{0x42});
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 16, 0, verbs::kZeroBased);
  SendWr w;
  w.wr_id = 2;
  w.opcode = WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 16, lk};
  w.remote_addr = 1024 + 100;
  w.rkey = wkey;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  c = run_send(devs.a, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, WcStatus::success);
  EXPECT_EQ(region[1124], std::byte{0x42});
  w.wr_id = 3;
  w.remote_addr = 1024 + 510;  // runs past the window
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  c = run_send(devs.a, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, WcStatus::remote_access_error);
  EXPECT_EQ(region[1534], std::byte{0});
}

TEST(PostSend, RefusesWhatCanNeverWorkWithANamedError) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  QpInit init;
  init.max_send_sge = 2;
  init.max_inline = 64;
  init.sq_depth = 2;
  devs.connect(verbs::QpType::uc, 1024, init);
  auto& dev = *devs.a.dev;
  auto& qp = *devs.a.qp;
  SendWr s;
  s.opcode = WrOpcode::rdma_read;
  EXPECT_EQ(dev.post_send(qp, s).error().code, Errc::unsupported);  // no READ on UC
  s.opcode = WrOpcode::send;
  s.num_sge = 3;
  EXPECT_EQ(dev.post_send(qp, s).error().code, Errc::invalid_argument);
  s.num_sge = 0;
  s.flags = verbs::kInline;
  s.inline_len = 65;
  EXPECT_EQ(dev.post_send(qp, s).error().code, Errc::invalid_argument);
  s.flags = 0;
  EXPECT_TRUE(dev.post_send(qp, s));
  EXPECT_TRUE(dev.post_send(qp, s));
  EXPECT_EQ(dev.post_send(qp, s).error().code, Errc::busy);  // depth 2
  // Not yet ready to send.
  init.type = verbs::QpType::rc;
  init.pd = devs.a.pd;
  init.send_cq = devs.a.scq;
  init.recv_cq = devs.a.rcq;
  Qp* fresh = *dev.create_qp(init);
  auto r = dev.post_send(*fresh, SendWr{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("RESET"), std::string::npos);
}

TEST(Srq, FeedsReceivesInOrderAndRaisesItsLimitEventOnce) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  Srq* srq = *devs.b.dev->create_srq(64, 1);
  devs.connect(verbs::QpType::rc, 1024, {}, {}, srq);
  ASSERT_EQ(devs.b.qp->srq, srq);
  ASSERT_EQ(devs.a.qp->srq, nullptr);
  std::vector<std::byte> buf(64 * 32);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, buf.data(), buf.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  for (int i = 0; i < 8; ++i) {
    RecvWr r;
    r.wr_id = 50 + i;
    r.num_sge = 1;
    r.sg[0] = {static_cast<std::uint64_t>(64 * i), 64, rk};
    ASSERT_TRUE(devs.b.dev->post_srq_recv(*srq, r));
  }
  EXPECT_FALSE(devs.b.dev->post_recv(*devs.b.qp, RecvWr{})) << "a QP on an SRQ has no RQ";
  devs.b.dev->arm_srq_limit(*srq, 5);
  std::vector<std::byte> src(32, std::byte{9});
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 32, 0, verbs::kZeroBased);
  for (int i = 0; i < 6; ++i) {
    SendWr s;
    s.wr_id = i;
    s.opcode = WrOpcode::send;
    s.num_sge = 1;
    s.sg[0] = {0, 32, lk};
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  }
  std::vector<verbs::Cqe> rc;
  devs.run_until([&] {
    auto y = devs.drain(devs.b.rcq);
    rc.insert(rc.end(), y.begin(), y.end());
    return rc.size() >= 6;
  });
  ASSERT_EQ(rc.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(rc[i].wr_id, 50u + i);
  int limit_events = 0;
  for (const auto& e : devs.b.dev->events()) limit_events += e.type == AsyncEvent::Type::srq_limit;
  EXPECT_EQ(limit_events, 1);
}

}  // namespace
}  // namespace softrnic::roce::test
