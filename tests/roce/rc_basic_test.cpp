#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "harness.hpp"
#include "wire/parse.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

// Path MTU, and whether payloads of 64 bytes and more go to the port by reference (zero copy).
class RcBasic : public ::testing::TestWithParam<std::tuple<std::uint32_t, bool>> {
 protected:
  void SetUp() override { devs.connect(verbs::QpType::rc, mtu()); }
  // With zero copy, A's payloads went by reference (all of them in one-SGE messages); without,
  // none did.
  void expect_zero_copy_use() {
    const auto by_ref = devs.a.dev->counters().get(DeviceCounter::tx_zero_copy);
    if (zero_copy()) {
      EXPECT_GT(by_ref, 0u);
    } else {
      EXPECT_EQ(by_ref, 0u);
    }
  }
  static std::uint32_t mtu() { return std::get<0>(GetParam()); }
  static bool zero_copy() { return std::get<1>(GetParam()); }

  std::vector<std::byte> pattern(std::size_t n, int seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((i * 131 + seed) & 0xff);
    return v;
  }
  std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf) {
    return *e.dev->memory().register_mr(e.pd, buf.data(), buf.size(),
                                        reinterpret_cast<std::uint64_t>(buf.data()),
                                        verbs::kLocalWrite | verbs::kRemoteWrite |
                                            verbs::kRemoteRead | verbs::kRemoteAtomic);
  }

  VirtualClock clock;
  PipeWire wire{4096, zero_copy() ? 64u : 0u};
  TwoDevices devs{wire.a, wire.b, clock};
};

TEST_P(RcBasic, SendArrivesWholeAndCompletesOnBothSides) {
  for (std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{mtu() - 1},
                          std::size_t{mtu()}, std::size_t{mtu() + 1}, std::size_t{65536}}) {
    auto src = pattern(len, 3);
    std::vector<std::byte> dst(len + 16, std::byte{0xee});
    auto lsrc = reg(devs.a, src);
    auto ldst = reg(devs.b, dst);
    RecvWr r;
    r.wr_id = 77;
    r.num_sge = 1;
    r.sg[0] = {reinterpret_cast<std::uint64_t>(dst.data()), static_cast<std::uint32_t>(dst.size()), ldst};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
    SendWr s;
    s.wr_id = 5;
    s.opcode = WrOpcode::send;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {reinterpret_cast<std::uint64_t>(src.data()), static_cast<std::uint32_t>(len), lsrc};
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
    std::vector<verbs::Cqe> sc, rc;
    ASSERT_TRUE(devs.run_until([&] {
      auto x = devs.drain(devs.a.scq);
      sc.insert(sc.end(), x.begin(), x.end());
      auto y = devs.drain(devs.b.rcq);
      rc.insert(rc.end(), y.begin(), y.end());
      return !sc.empty() && !rc.empty();
    })) << "len " << len;
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0].wr_id, 5u);
    EXPECT_EQ(sc[0].status, WcStatus::success);
    ASSERT_EQ(rc.size(), 1u);
    EXPECT_EQ(rc[0].wr_id, 77u);
    EXPECT_EQ(rc[0].status, WcStatus::success);
    EXPECT_EQ(rc[0].byte_len, len);
    EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin())) << "len " << len;
    EXPECT_EQ(dst[len], std::byte{0xee});
  }
  expect_zero_copy_use();
}

TEST_P(RcBasic, WriteAndReadMoveBytesBothWays) {
  const std::size_t len = 3 * mtu() + 5;
  auto src = pattern(len, 9);
  std::vector<std::byte> remote(len), back(len);
  auto lsrc = reg(devs.a, src);
  auto rkey = reg(devs.b, remote);
  auto lback = reg(devs.a, back);
  SendWr w;
  w.wr_id = 1;
  w.opcode = WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {reinterpret_cast<std::uint64_t>(src.data()), static_cast<std::uint32_t>(len), lsrc};
  w.remote_addr = reinterpret_cast<std::uint64_t>(remote.data());
  w.rkey = rkey;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  SendWr rd = w;
  rd.wr_id = 2;
  rd.opcode = WrOpcode::rdma_read;
  rd.sg[0] = {reinterpret_cast<std::uint64_t>(back.data()), static_cast<std::uint32_t>(len), lback};
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return sc.size() == 2;
  }));
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(sc[1].wr_id, 2u);
  EXPECT_EQ(sc[1].status, WcStatus::success);
  EXPECT_EQ(remote, src);
  EXPECT_EQ(back, src);
  expect_zero_copy_use();
}

TEST_P(RcBasic, AtomicsReturnTheOriginalValue) {
  std::vector<std::byte> cell(8), result(8);
  std::uint64_t v = 40;
  std::memcpy(cell.data(), &v, 8);
  auto rkey = reg(devs.b, cell);
  auto lres = reg(devs.a, result);
  SendWr f;
  f.wr_id = 1;
  f.opcode = WrOpcode::atomic_fetch_add;
  f.flags = verbs::kSignaled;
  f.num_sge = 1;
  f.sg[0] = {reinterpret_cast<std::uint64_t>(result.data()), 8, lres};
  f.remote_addr = reinterpret_cast<std::uint64_t>(cell.data());
  f.rkey = rkey;
  f.compare_add = 2;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, f));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return sc.size() == 1;
  }));
  EXPECT_EQ(sc[0].status, WcStatus::success);
  std::uint64_t orig, now;
  std::memcpy(&orig, result.data(), 8);
  std::memcpy(&now, cell.data(), 8);
  EXPECT_EQ(orig, 40u);
  EXPECT_EQ(now, 42u);
  SendWr c = f;
  c.wr_id = 2;
  c.opcode = WrOpcode::atomic_cmp_swap;
  c.compare_add = 42;
  c.swap = 7;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, c));
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return sc.size() == 2;
  }));
  std::memcpy(&orig, result.data(), 8);
  std::memcpy(&now, cell.data(), 8);
  EXPECT_EQ(orig, 42u);
  EXPECT_EQ(now, 7u);
}

INSTANTIATE_TEST_SUITE_P(MtuAndCopy, RcBasic,
                         ::testing::Combine(::testing::Values(256u, 1024u, 4096u),
                                            ::testing::Bool()));

}  // namespace
}  // namespace softrnic::roce::test

namespace softrnic::roce::test {
namespace {

TEST(RcZeroLength, ZeroLengthSendWriteAndReadComplete) {
  PipeWire wire;
  VirtualClock clock;
  TwoDevices devs(wire.a, wire.b, clock);
  devs.connect(verbs::QpType::rc, 1024);
  std::vector<std::byte> a(8), b(8);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kZeroBased;
  const auto ka = *devs.a.dev->memory().register_mr(devs.a.pd, a.data(), 8, 0, acc);
  const auto kb = *devs.b.dev->memory().register_mr(devs.b.pd, b.data(), 8, 0, acc);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 0, kb};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 0, ka};
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  s.opcode = verbs::WrOpcode::rdma_write;
  s.rkey = kb;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  s.opcode = verbs::WrOpcode::rdma_read;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  std::vector<verbs::Cqe> sc, rc;
  ASSERT_TRUE(devs.run_until([&] {
    for (auto& c : devs.drain(devs.a.scq)) sc.push_back(c);
    for (auto& c : devs.drain(devs.b.rcq)) rc.push_back(c);
    return sc.size() == 3 && rc.size() == 1;
  })) << "send completions " << sc.size() << ", receive completions " << rc.size();
  for (const auto& c : sc) EXPECT_EQ(c.status, verbs::WcStatus::success);
  EXPECT_EQ(rc[0].status, verbs::WcStatus::success);
  EXPECT_EQ(rc[0].byte_len, 0u);
}

// A turn that would send ACKs only keeps them one turn, and they leave after what the next turn
// sends: here the reply B posts on seeing the message. Without a reply they leave alone
// a turn later.
TEST(RcAckCoalescing, AnAckOnlyTurnWaitsOneTurnAndLeavesWithTheReply) {
  PipeWire wire;
  VirtualClock clock;
  TwoDevices devs(wire.a, wire.b, clock);
  devs.connect(verbs::QpType::rc, 1024);
  int b_turn = 0;
  std::vector<std::pair<int, std::uint8_t>> b_sent;  // (B's turn, opcode)
  wire.filter = [&](int side, Packet& p) {
    if (side == 1) b_sent.emplace_back(b_turn, wire::read_bth(wire::parse_frame(p.bytes())->bth()).opcode);
    return true;
  };
  std::vector<std::byte> a(64), b(64);
  const auto acc = verbs::kLocalWrite | verbs::kZeroBased;
  const auto ka = *devs.a.dev->memory().register_mr(devs.a.pd, a.data(), 64, 0, acc);
  const auto kb = *devs.b.dev->memory().register_mr(devs.b.pd, b.data(), 64, 0, acc);
  for (Endpoint* e : {&devs.a, &devs.b}) {
    RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {0, 64, e == &devs.a ? ka : kb};
    ASSERT_TRUE(e->dev->post_recv(*e->qp, r));
    ASSERT_TRUE(e->dev->post_recv(*e->qp, r));
  }
  SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 64, ka};
  for (int round = 0; round < 2; ++round) {
    b_sent.clear();
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
    devs.a.dev->poll();  // the SEND
    b_turn = 1;
    EXPECT_GT(devs.b.dev->poll(), 0u) << "held ACKs count as work";
    EXPECT_TRUE(b_sent.empty()) << "round " << round << ": the ACK left in the turn that made it";
    ASSERT_EQ(devs.drain(devs.b.rcq).size(), 1u);
    if (round == 0) {  // B answers
      SendWr reply = s;
      reply.sg[0] = {0, 64, kb};
      ASSERT_TRUE(devs.b.dev->post_send(*devs.b.qp, reply));
    }
    b_turn = 2;
    devs.b.dev->poll();
    const std::vector<std::pair<int, std::uint8_t>> want =
        round == 0 ? std::vector<std::pair<int, std::uint8_t>>{{2, 0x04}, {2, 0x11}}
                   : std::vector<std::pair<int, std::uint8_t>>{{2, 0x11}};
    EXPECT_EQ(b_sent, want) << "round " << round;
    ASSERT_TRUE(devs.run_until([&] { return devs.a.scq->size() >= 1; }));
    devs.drain(devs.a.scq);
  }
  EXPECT_EQ(devs.b.dev->counters().get(DeviceCounter::tx_acks_coalesced), 1u);
}

}  // namespace
}  // namespace softrnic::roce::test

namespace softrnic::roce::test {
namespace {

TEST(RcLifetime, RegionDeregisteredWhileItsReadIsAnsweredIsARemoteAccessErrorNotACrash) {
  PipeWire wire;
  VirtualClock clock;
  TwoDevices devs(wire.a, wire.b, clock);
  devs.connect(verbs::QpType::rc, 1024);
  constexpr std::size_t kLen = 1 << 20;
  std::vector<std::byte> sink(kLen), source(kLen, std::byte{0x5a});
  const auto ka = *devs.a.dev->memory().register_mr(devs.a.pd, sink.data(), kLen, 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  const auto kb = *devs.b.dev->memory().register_mr(devs.b.pd, source.data(), kLen, 0,
                                                    verbs::kRemoteRead | verbs::kZeroBased);
  SendWr s;
  s.opcode = verbs::WrOpcode::rdma_read;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, static_cast<std::uint32_t>(kLen), ka};
  s.rkey = kb;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  for (int i = 0; i < 3; ++i) {
    devs.a.dev->poll();
    devs.b.dev->poll();
  }
  ASSERT_GT(devs.b.dev->counters().get(DeviceCounter::tx_packets), 1u) << "the read is being answered";
  ASSERT_TRUE(devs.b.dev->memory().deregister(kb));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    for (auto& c : devs.drain(devs.a.scq)) sc.push_back(c);
    return !sc.empty();
  }));
  EXPECT_EQ(sc[0].status, verbs::WcStatus::remote_access_error);
  EXPECT_EQ(devs.b.qp->attr.state, verbs::QpState::err);
}

}  // namespace
}  // namespace softrnic::roce::test
