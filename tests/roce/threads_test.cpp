// The threading model: a consumer thread posts and polls while the engine thread runs poll();
// control operations (here: moving the QP to ERR) travel through the control queue.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "loopback/loopback_port.hpp"

namespace softrnic::roce::test {
namespace {

TEST(Threads, ConsumerPostsWhileTheEngineRunsAndFlushGoesThroughTheControlQueue) {
  auto wire = *transport::LoopbackWire::create({});
  VirtualClock clock;
  TwoDevices devs{wire->a(), wire->b(), clock};
  QpInit init;
  init.sq_depth = 64;
  init.rq_depth = 1024;
  devs.connect(verbs::QpType::rc, 1024, init);
  std::vector<std::byte> src(256, std::byte{5}), dst(256);
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 256, 0, verbs::kZeroBased);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), 256, 0,
                                                    verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased);
  for (int i = 0; i < 1000; ++i) {
    RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {0, 256, rk};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  }
  std::atomic<bool> stop{false};
  std::thread engine([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      devs.a.dev->poll();
      devs.b.dev->poll();
    }
  });
  constexpr int kMessages = 2000;
  std::uint64_t next_id = 0, completed = 0, ok = 0;
  std::array<verbs::Cqe, 32> cqes;
  while (completed < kMessages) {
    if (next_id < kMessages) {
      SendWr s;
      s.wr_id = next_id;
      s.opcode = verbs::WrOpcode::rdma_write;
      s.flags = verbs::kSignaled;
      s.num_sge = 1;
      s.sg[0] = {0, 256, lk};
      s.rkey = rk;
      if (devs.a.dev->post_send(*devs.a.qp, s)) ++next_id;  // busy: the ring is full, try again
    }
    const auto n = devs.a.scq->poll(cqes);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(cqes[i].wr_id, completed + i);
      ok += cqes[i].status == verbs::WcStatus::success;
    }
    completed += n;
  }
  EXPECT_EQ(ok, static_cast<std::uint64_t>(kMessages));
  // Flush B's receive queue from this thread, through the control queue.
  std::atomic<bool> done{false};
  devs.b.dev->submit([&](Device& d) {
    QpAttrs e;
    e.state = verbs::QpState::err;
    EXPECT_TRUE(d.modify_qp(*devs.b.qp, e, verbs::kAttrState));
    done = true;
  });
  std::uint64_t flushed = 0;
  while (flushed < 1000) {
    const auto n = devs.b.rcq->poll(cqes);
    for (std::size_t i = 0; i < n; ++i) flushed += cqes[i].status == verbs::WcStatus::wr_flush_error;
  }
  stop = true;
  engine.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(flushed, 1000u);
}

}  // namespace
}  // namespace softrnic::roce::test
