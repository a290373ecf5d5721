// How RC fails: RNR, remote access errors of each kind, CQ overflow, flushing in ERR, and send
// with invalidate.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "harness.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

class RcErrors : public ::testing::Test {
 protected:
  void connect(QpAttrs extra = {}, QpInit init = {}) { devs.connect(verbs::QpType::rc, 1024, init, extra); }
  std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf, std::uint32_t access) {
    return *e.dev->memory().register_mr(e.pd, buf.data(), buf.size(), reinterpret_cast<std::uint64_t>(buf.data()),
                                        access);
  }
  SendWr op(WrOpcode o, std::uint64_t id, std::vector<std::byte>& local, std::uint32_t lkey, std::uint32_t len) {
    SendWr s;
    s.wr_id = id;
    s.opcode = o;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {reinterpret_cast<std::uint64_t>(local.data()), len, lkey};
    return s;
  }
  std::vector<verbs::Cqe> wait_send(std::size_t n) {
    std::vector<verbs::Cqe> out;
    devs.run_until([&] {
      auto x = devs.drain(devs.a.scq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    }, 400000, 10000);
    return out;
  }

  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  std::vector<std::byte> local = std::vector<std::byte>(4096, std::byte{1});
  std::vector<std::byte> remote = std::vector<std::byte>(4096);
};

TEST_F(RcErrors, LateReceiveIsRecoveredByRnrRetry) {
  QpAttrs x;
  x.min_rnr_timer = 1;  // 10 us
  x.rnr_retry = 3;
  connect(x);
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 1, local, lk, 100)));
  // Let the first attempt meet an empty receive queue.
  devs.run_until([&] { return devs.a.qp->counters.rnr_naks_rx > 0; }, 10000, 1000);
  EXPECT_GT(devs.b.qp->counters.rnr_naks_tx, 0u);
  RecvWr r;
  r.wr_id = 9;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(remote.data()), 4096, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(remote[99], std::byte{1});
}

TEST_F(RcErrors, RnrRetryExhaustedCompletesWithRnrError) {
  QpAttrs x;
  x.min_rnr_timer = 1;
  x.rnr_retry = 2;
  connect(x);
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 1, local, lk, 100)));
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 2, local, lk, 100)));
  auto sc = wait_send(2);
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, WcStatus::rnr_retry_exceeded_error);
  EXPECT_EQ(sc[1].status, WcStatus::wr_flush_error);
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::err);
  EXPECT_EQ(devs.a.qp->counters.rnr_naks_rx, 3u);  // first try + 2 retries
}

struct AccessCase {
  const char* name;
  std::uint32_t remote_access;
  std::int64_t addr_delta;
  std::uint32_t len;
  bool bad_key;
};

class RcRemoteAccess : public RcErrors, public ::testing::WithParamInterface<AccessCase> {};

TEST_P(RcRemoteAccess, FailsTheWrFlushesTheRestAndErrorsBothQps) {
  connect();
  const auto c = GetParam();
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  auto rk = reg(devs.b, remote, verbs::kLocalWrite | c.remote_access);
  if (c.bad_key) rk ^= 0x1;  // stale key byte
  auto w = op(WrOpcode::rdma_write, 1, local, lk, c.len);
  w.remote_addr = reinterpret_cast<std::uint64_t>(remote.data()) + c.addr_delta;
  w.rkey = rk;
  const auto before = remote;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 2, local, lk, 8)));
  auto sc = wait_send(2);
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, WcStatus::remote_access_error) << verbs::to_string(sc[0].status);
  EXPECT_EQ(sc[1].status, WcStatus::wr_flush_error);
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::err);
  EXPECT_EQ(devs.b.qp->attr.state, verbs::QpState::err);
  ASSERT_FALSE(devs.b.dev->events().empty());
  EXPECT_EQ(devs.b.dev->events()[0].type, AsyncEvent::Type::qp_access_error);
  EXPECT_EQ(remote, before) << "memory was touched";
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, RcRemoteAccess,
    ::testing::Values(AccessCase{"bad_key", verbs::kRemoteWrite, 0, 64, true},
                      AccessCase{"out_of_bounds", verbs::kRemoteWrite, 4090, 64, false},
                      AccessCase{"before_start", verbs::kRemoteWrite, -8, 64, false},
                      AccessCase{"no_permission", verbs::kRemoteRead, 0, 64, false}),
    [](const auto& info) { return info.param.name; });

TEST_F(RcErrors, ReadWithoutRemoteReadRightIsRefused) {
  connect();
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite | verbs::kRemoteWrite);
  auto r = op(WrOpcode::rdma_read, 1, local, lk, 64);
  r.remote_addr = reinterpret_cast<std::uint64_t>(remote.data());
  r.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, r));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::remote_access_error);
  EXPECT_EQ(local[0], std::byte{1}) << "nothing read";
}

TEST_F(RcErrors, MisalignedAtomicIsAnInvalidRequest) {
  connect();
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite | verbs::kRemoteAtomic);
  auto a = op(WrOpcode::atomic_fetch_add, 1, local, lk, 8);
  a.remote_addr = reinterpret_cast<std::uint64_t>(remote.data()) + 4;
  a.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, a));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::remote_invalid_request_error);
}

TEST_F(RcErrors, ReceiveBufferTooSmallIsALengthErrorOnBothSides) {
  connect();
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite);
  RecvWr r;
  r.wr_id = 3;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(remote.data()), 10, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 1, local, lk, 11)));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::remote_invalid_request_error);
  auto rc = devs.drain(devs.b.rcq);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, WcStatus::local_length_error);
}

TEST_F(RcErrors, BadLocalKeyFailsTheWrWithAProtectionError) {
  connect();
  auto s = op(WrOpcode::send, 1, local, 0x12345, 8);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::local_protection_error);
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::err);
}

TEST_F(RcErrors, ErrorStateFlushesEveryOutstandingWrInOrder) {
  connect();
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite);
  for (int i = 0; i < 5; ++i) {
    RecvWr r;
    r.wr_id = 100 + i;
    r.num_sge = 1;
    r.sg[0] = {reinterpret_cast<std::uint64_t>(remote.data()), 16, rk};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  }
  QpAttrs e;
  e.state = verbs::QpState::err;
  ASSERT_TRUE(devs.b.dev->modify_qp(*devs.b.qp, e, verbs::kAttrState));
  devs.b.dev->poll();
  auto rc = devs.drain(devs.b.rcq);
  ASSERT_EQ(rc.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rc[i].wr_id, 100u + i);
    EXPECT_EQ(rc[i].status, WcStatus::wr_flush_error);
  }
  // Work posted in ERR is flushed too.
  RecvWr r;
  r.wr_id = 200;
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  devs.b.dev->poll();
  rc = devs.drain(devs.b.rcq);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 200u);
}

TEST_F(RcErrors, CqOverflowErrorsTheCqAndItsQpsWithAnAsyncEvent) {
  connect();
  // A fresh CQ of depth 2 for A's sends.
  auto* small = *devs.a.dev->create_cq(2);
  QpInit init;
  init.pd = devs.a.pd;
  init.send_cq = small;
  init.recv_cq = devs.a.rcq;
  Qp* q = *devs.a.dev->create_qp(init);
  // Use UC loopback-free check: post three unsignaled-as-signaled local invalidates would need a
  // peer; instead move the QP to ERR and let three flushed receives overflow the CQ.
  QpAttrs x;
  x.state = verbs::QpState::init;
  x.access_flags = 0;
  ASSERT_TRUE(devs.a.dev->modify_qp(*q, x, verbs::kAttrState | verbs::kAttrPkeyIndex | verbs::kAttrPort |
                                               verbs::kAttrAccessFlags));
  init.recv_cq = small;
  Qp* q2 = *devs.a.dev->create_qp(init);
  ASSERT_TRUE(devs.a.dev->modify_qp(*q2, x, verbs::kAttrState | verbs::kAttrPkeyIndex | verbs::kAttrPort |
                                                verbs::kAttrAccessFlags));
  for (int i = 0; i < 3; ++i) {
    RecvWr r;
    r.wr_id = i;
    ASSERT_TRUE(devs.a.dev->post_recv(*q2, r));
  }
  QpAttrs e;
  e.state = verbs::QpState::err;
  ASSERT_TRUE(devs.a.dev->modify_qp(*q2, e, verbs::kAttrState));
  devs.a.dev->poll();
  EXPECT_TRUE(small->in_error());
  EXPECT_EQ(q->attr.state, verbs::QpState::err);  // shares the CQ
  bool cq_event = false;
  for (const auto& ev : devs.a.dev->events()) cq_event |= ev.type == AsyncEvent::Type::cq_error;
  EXPECT_TRUE(cq_event);
  std::array<verbs::Cqe, 8> out;
  EXPECT_EQ(small->poll(out), 2u) << "entries before the overflow are kept";
}

TEST_F(RcErrors, SendWithInvalidateRevokesTheNamedKey) {
  connect();
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite);
  std::vector<std::byte> page(4096);
  std::array<std::byte*, 1> pages{page.data()};
  auto& mem = devs.b.dev->memory();
  const auto frmr = *mem.alloc_frmr(devs.b.pd, 1);
  const auto key = *mem.fast_register(frmr, 0x33, pages, 4096, 0x9000, 0, 4096,
                                      verbs::kLocalWrite | verbs::kRemoteWrite);
  RecvWr r;
  r.wr_id = 4;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(remote.data()), 64, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  auto s = op(WrOpcode::send_with_inv, 1, local, lk, 16);
  s.imm = key;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  auto rc = devs.drain(devs.b.rcq);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_TRUE(rc[0].flags & verbs::Cqe::kWithInv);
  EXPECT_EQ(rc[0].invalidated, key);
  EXPECT_EQ(mem.check(key, devs.b.pd, 0x9000, 1, verbs::kRemoteWrite).error(), verbs::AccessError::invalid_state);
}

TEST_F(RcErrors, UnansweredRequestsExhaustRetryCountWithRetryExceeded) {
  QpAttrs x;
  x.timeout = 8;  // 1 ms
  x.retry_cnt = 3;
  connect(x);
  int sent = 0;
  wire.filter = [&](int side, Packet&) {
    sent += side == 0;
    return side == 0 ? false : true;  // B never hears A
  };
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  auto w = op(WrOpcode::rdma_write, 1, local, lk, 64);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 2, local, lk, 8)));
  auto sc = wait_send(2);
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, WcStatus::retry_exceeded_error);
  EXPECT_EQ(sc[1].status, WcStatus::wr_flush_error);
  EXPECT_EQ(devs.a.qp->counters.timeouts, 4u);  // the first try and three retries time out
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::err);
}

TEST_F(RcErrors, RnrRetrySevenRetriesForever) {
  QpAttrs x;
  x.min_rnr_timer = 1;
  x.rnr_retry = 7;
  connect(x);
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  const auto rk = reg(devs.b, remote, verbs::kLocalWrite);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, op(WrOpcode::send, 1, local, lk, 10)));
  devs.run_until([&] { return devs.a.qp->counters.rnr_naks_rx >= 50; }, 400000, 1000);
  EXPECT_GE(devs.a.qp->counters.rnr_naks_rx, 50u);
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::rts);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(remote.data()), 64, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  auto sc = wait_send(1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
}

}  // namespace
}  // namespace softrnic::roce::test
