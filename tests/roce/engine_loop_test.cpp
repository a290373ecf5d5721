// The engine thread: it polls its devices until stopped, sleeps when idle under the adaptive
// policy and never under the poll policy, and stops promptly.
#include "engine/engine_loop.hpp"

#include <gtest/gtest.h>

#include <new>
#include <thread>

#include <atomic>
#include <thread>

#include "harness.hpp"
#include "loopback/loopback_port.hpp"

namespace softrnic::roce::test {
namespace {

TEST(EngineLoop, TwoDevicesOnOneThreadCompleteWorkPostedFromAnother) {
  auto wire = *transport::LoopbackWire::create({});
  VirtualClock clock;
  TwoDevices devs{wire->a(), wire->b(), clock};
  devs.connect(verbs::QpType::rc, 1024);
  EngineLoop loop;
  loop.add([&] { return devs.a.dev->poll(); });
  loop.add([&] { return devs.b.dev->poll(); });
  ASSERT_TRUE(loop.start());
  EXPECT_FALSE(loop.start()) << "a second start is refused";
  std::vector<std::byte> src(64, std::byte{1}), dst(64);
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 64, 0, verbs::kZeroBased);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), 64, 0,
                                                    verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased);
  SendWr w;
  w.opcode = verbs::WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 64, lk};
  w.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  std::array<verbs::Cqe, 1> c;
  while (devs.a.scq->poll(c) == 0) std::this_thread::yield();
  EXPECT_EQ(c[0].status, verbs::WcStatus::success);
  loop.stop();
  EXPECT_FALSE(loop.running());
  EXPECT_EQ(dst, src);
}

TEST(EngineLoop, AdaptivePolicySleepsWhenIdleAndPollPolicyNever) {
  for (auto policy : {IdlePolicy::adaptive, IdlePolicy::poll}) {
    EngineLoopConfig cfg;
    cfg.idle = policy;
    cfg.idle_spins = 10;
    EngineLoop loop(cfg);
    std::atomic<int> calls{0};
    loop.add([&] {
      calls.fetch_add(1);
      return std::size_t{0};
    });
    ASSERT_TRUE(loop.start());
    while (loop.iterations() < 200) std::this_thread::yield();
    loop.stop();
    if (policy == IdlePolicy::adaptive) {
      EXPECT_GT(loop.sleeps(), 0u);
    } else {
      EXPECT_EQ(loop.sleeps(), 0u);
    }
  }
}

TEST(EngineLoop, RefusesToStartWithNothingToPoll) {
  EngineLoop loop;
  auto r = loop.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

// Finding 5: std::bad_alloc thrown on the engine thread ended the process. It now ends only that
// poller's turn, counted; the other pollers and later turns go on.
TEST(EngineLoop, AnAllocationFailureIsCountedAndTheLoopGoesOn) {
  EngineLoop loop;
  int calls = 0, other = 0;
  loop.add([&]() -> std::size_t {
    if (++calls == 2) throw std::bad_alloc();
    return 0;
  });
  loop.add([&]() -> std::size_t { return static_cast<std::size_t>(++other, 0); });
  for (int i = 0; i < 3; ++i) loop.run_once();
  EXPECT_EQ(loop.alloc_failures(), 1u);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(other, 3) << "the other poller ran in the turn that failed";
  // On the engine thread too.
  calls = 0;
  ASSERT_TRUE(loop.start());
  while (loop.iterations() < 10) std::this_thread::yield();
  loop.stop();
  EXPECT_EQ(loop.alloc_failures(), 2u);
}

}  // namespace
}  // namespace softrnic::roce::test
