// RoCEv2 engine benchmarks over the in-process loopback wire, each against a baseline measured in
// the same run (absolute rates move with the machine; ratios much less):
//  - 64 B RC SEND message rate, against the loopback wire's raw frame rate (alloc, fill a 64 B
//    frame, tx_burst, rx_burst, free, in bursts of 32): how close the engine gets to the wire;
//  - RC RDMA WRITE bandwidth at 64 KiB, against single-core memcpy of 64 KiB;
//  - 64 B RDMA WRITE round trip (post to completion), p50 and p99;
//  - memory per QP at the default depths.
// Both devices are polled by this one thread, so "per core" means the whole two-RNIC system on
// one core. Each figure is the median of several timed rounds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/clock.hpp"
#include "bench_support.hpp"
#include "loopback_rig.hpp"
#include "roce/device.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

// Raw loopback frames per second: what the wire alone can move on this core.
double wire_frame_rate(transport::LoopbackWire& w, std::size_t frames) {
  std::array<Packet*, kBurst> burst;
  const auto t0 = Clock::now();
  for (std::size_t done = 0; done < frames; done += kBurst) {
    for (auto& p : burst) {
      p = w.a().alloc();
      std::memset(p->data, 0x5a, 64);
      p->len = 64;
    }
    (void)w.a().tx_burst(burst);
    const auto n = w.b().rx_burst(burst);
    for (std::size_t i = 0; i < n; ++i) w.b().free(burst[i]);
  }
  return static_cast<double>(frames) / seconds_since(t0);
}

double memcpy_bandwidth(std::vector<std::byte>& dst, const std::vector<std::byte>& src, std::size_t reps) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < reps; ++i) {
    std::memcpy(dst.data(), src.data(), src.size());
    asm volatile("" : : "r"(dst.data()) : "memory");
  }
  return static_cast<double>(reps * src.size()) / seconds_since(t0);
}

std::vector<double> write_latencies(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t n) {
  std::array<verbs::Cqe, 4> cqes;
  std::vector<double> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    roce::SendWr s;
    s.opcode = verbs::WrOpcode::rdma_write;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, 64, lk};
    s.rkey = rk;
    const auto t0 = Clock::now();
    (void)r.a->post_send(*r.qa, s);
    while (r.scq_a->poll(cqes) == 0) r.poll();
    out.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic;
  using namespace softrnic::perf;
  Rig r;
  std::vector<std::byte> src(1 << 16, std::byte{1}), dst(1 << 16), copy(1 << 16);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased;
  const auto lk = *r.a->memory().register_mr(r.pa, src.data(), src.size(), 0, acc);
  const auto rk = *r.b->memory().register_mr(r.pb, dst.data(), dst.size(), 0, acc);
  // SOFTRNIC_BENCH_QUICK=1: one short round (for profiling under valgrind).
  const bool quick = std::getenv("SOFTRNIC_BENCH_QUICK") != nullptr;
  const int kRounds = quick ? 1 : 7;
  const std::size_t scale = quick ? 20 : 1;
  std::vector<double> wire_rate, msg_rate, wbw, mbw, staged_rate;
  Rig rf(true);
  std::vector<std::byte> dst_f(1 << 16);
  const auto lkf = *rf.a->memory().register_mr(rf.pa, src.data(), src.size(), 0, acc);
  const auto rkf = *rf.b->memory().register_mr(rf.pb, dst_f.data(), dst_f.size(), 0, acc);
  (void)send_rate(rf, lkf, rkf, 20000);  // warm-up
  (void)send_rate(r, lk, rk, 20000);  // warm-up
  (void)write_bandwidth(r, lk, rk, 1 << 16, 200);
  for (int round = 0; round < kRounds; ++round) {
    wire_rate.push_back(wire_frame_rate(*r.wire, (1 << 20) / scale));
    msg_rate.push_back(send_rate(r, lk, rk, 200000 / scale));
    staged_rate.push_back(send_rate(rf, lkf, rkf, 200000 / scale));
    wbw.push_back(write_bandwidth(r, lk, rk, 1 << 16, 2000 / scale));
    mbw.push_back(memcpy_bandwidth(copy, src, 20000 / scale));
  }
  const auto lat = write_latencies(r, lk, rk, 20000 / scale);
  const double wr = median(wire_rate), mr = median(msg_rate), w = median(wbw), m = median(mbw);
  std::printf("RoCEv2 engine over the loopback wire, both devices on one core; median of %d rounds\n", kRounds);
  std::printf("%-44s %14s %14s %9s   %s\n", "what", "rate", "baseline", "ratio", "informative target");
  std::printf("%-44s %11.2f M/s %11.2f M/s %8.3fx   %s\n", "64 B RC SEND messages vs raw wire frames", mr / 1e6,
              wr / 1e6, mr / wr, mr >= 3e6 ? ">= 3 M msgs/s: MET" : ">= 3 M msgs/s: BELOW");
  std::printf("%-44s %10.2f GB/s %10.2f GB/s %8.3fx   %s\n", "64 KiB RDMA WRITE vs memcpy 64 KiB", w / 1e9, m / 1e9,
              w / m, w / m >= 0.5 ? ">= 0.5x: MET" : ">= 0.5x: BELOW");
  std::printf("%-44s p50 %.0f ns, p99 %.0f ns (%zu round trips)\n", "64 B RDMA WRITE post-to-completion",
              lat[lat.size() / 2], lat[lat.size() * 99 / 100], lat.size());
  const double sr = median(staged_rate);
  std::printf("%-44s %11.2f M/s %11.2f M/s %8.3fx   %s\n", "64 B SEND, idle fault stage vs none", sr / 1e6,
              mr / 1e6, sr / mr, sr / mr >= 0.97 ? ">= 0.97x: MET" : ">= 0.97x: BELOW");
  using softrnic::perf::record;
  record("roce_bench", "64 B RC SEND with an idle fault stage (consumer test mode)", sr / 1e6, "M msg/s",
         "the same without the stage", mr / 1e6, sr / mr, ">= 0.97x", sr / mr >= 0.97);
  record("roce_bench", "64 B RC SEND messages (loopback wire)", mr / 1e6, "M msg/s", "raw wire frames",
          wr / 1e6, mr / wr, ">= 3 M msg/s", mr >= 3e6);
  record("roce_bench", "64 KiB RDMA WRITE (loopback wire)", w / 1e9, "GB/s", "memcpy 64 KiB", m / 1e9, w / m,
          ">= 0.5x", w / m >= 0.5);
  record("roce_bench", "64 B RDMA WRITE post-to-completion p50", lat[lat.size() / 2] / 1e3, "us", "", NAN, NAN);
  const std::size_t per_qp = sizeof(roce::Qp) + r.qa->sq.size() * sizeof(roce::SendWqe) +
                             r.qa->sq_ring.capacity() * sizeof(roce::SendWr) +
                             r.qa->rq_ring.capacity() * sizeof(roce::RecvWr) +
                             r.qa->resources.size() * sizeof(roce::RdAtomicResource) +
                             r.qa->resp_jobs.size() * sizeof(roce::RespJob);
  std::printf("%-44s %zu KiB at SQ/RQ depth %u (SendWqe %zu B, SendWr %zu B, RecvWr %zu B)\n",
              "memory per QP", per_qp / 1024, r.qa->init.sq_depth, sizeof(roce::SendWqe),
              sizeof(roce::SendWr), sizeof(roce::RecvWr));
  return 0;
}
