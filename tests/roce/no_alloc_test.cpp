// The data path allocates nothing: after setup, moving thousands of packets through two devices
// (sends, writes, reads, atomics, with loss and retransmission) performs zero heap allocations.
// operator new is replaced in this test binary to count them.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "lossy_fabric.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace softrnic::roce::test {
namespace {

using verbs::WrOpcode;

TEST(DataPath, MovesPacketsWithoutHeapAllocation) {
  LossyPair lp(Fault::loss1);
  auto& d = *lp.devs;
  QpInit init;
  init.sq_depth = 256;
  init.rq_depth = 256;
  QpAttrs extra;
  extra.timeout = 10;
  d.connect(verbs::QpType::rc, 1024, init, extra);
  std::vector<std::byte> a(1 << 16), b(1 << 16), cell(8), res(8);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kRemoteAtomic |
                   verbs::kZeroBased;
  const auto ka = *d.a.dev->memory().register_mr(d.a.pd, a.data(), a.size(), 0, acc);
  const auto kb = *d.b.dev->memory().register_mr(d.b.pd, b.data(), b.size(), 0, acc);
  const auto kc = *d.b.dev->memory().register_mr(d.b.pd, cell.data(), 8, 0, acc);
  const auto kr = *d.a.dev->memory().register_mr(d.a.pd, res.data(), 8, 0, acc);
  std::array<verbs::Cqe, 64> cqes;
  std::uint64_t done = 0;
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      RecvWr r;
      r.num_sge = 1;
      r.sg[0] = {0, 1 << 16, kb};
      ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
      const WrOpcode ops[] = {WrOpcode::send, WrOpcode::rdma_write, WrOpcode::rdma_read,
                              WrOpcode::atomic_fetch_add};
      for (auto op : ops) {
        SendWr s;
        s.opcode = op;
        s.flags = verbs::kSignaled;
        s.num_sge = 1;
        const bool atomic = op == WrOpcode::atomic_fetch_add;
        s.sg[0] = atomic ? Sge{0, 8, kr} : Sge{0, 20000, ka};
        s.rkey = atomic ? kc : kb;
        s.compare_add = 1;
        ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
      }
    }
    const std::uint64_t want = done + 4ull * n;
    for (int spin = 0; spin < 2'000'000 && done < want; ++spin) {
      if (d.a.dev->poll() + d.b.dev->poll() == 0) lp.clock.advance(100'000);
      done += d.a.scq->poll(cqes);
      while (d.b.rcq->poll(cqes)) {
      }
    }
    ASSERT_EQ(done, want);
  };
  round(8);  // warm-up: first-touch growth of anything lazily sized
  const auto before = g_allocations.load();
  const auto pkts_before = d.a.dev->counters().get(DeviceCounter::tx_packets) +
                           d.b.dev->counters().get(DeviceCounter::tx_packets);
  round(50);
  const auto allocations = g_allocations.load() - before;
  const auto packets = d.a.dev->counters().get(DeviceCounter::tx_packets) +
                       d.b.dev->counters().get(DeviceCounter::tx_packets) - pkts_before;
  EXPECT_GT(packets, 1000u);
  EXPECT_GT(d.a.dev->counters().get(DeviceCounter::retransmits), 0u) << "loss was exercised";
  EXPECT_EQ(allocations, 0u) << "heap allocations while moving " << packets << " packets";
}

}  // namespace
}  // namespace softrnic::roce::test
