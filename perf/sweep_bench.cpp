// Bandwidth against message size, RoCEv2 and iWARP side by side, for perf/run's plot: RDMA Writes
// of each size from A to B with 16 in flight, over the rigs of `softrnic demo` (RoCEv2 on the
// in-memory loopback wire, iWARP on the kernel's loopback TCP; both devices polled on one core),
// and memcpy of the same sizes between the same buffers as the baseline, measured in this run.
// Prints a table and records every point (results.hpp). Median of 3 rounds per point.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "bench_support.hpp"
#include "demo_rigs.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

constexpr std::uint32_t kMaxSize = 4u << 20;
constexpr std::uint32_t kWindow = 16;
constexpr std::uint32_t kAccess = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;

// Bytes per second of `count` RDMA Writes of `size`; 0 when a completion fails or never comes.
double write_rate(cli::QpPair& p, std::uint32_t lkey, std::uint32_t rkey, std::uint32_t size,
                  std::uint32_t count) {
  std::array<verbs::Cqe, 32> cqes;
  std::uint32_t posted = 0, done = 0;
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::seconds(20);
  while (done < count) {
    while (posted < count && posted - done < kWindow) {
      roce::SendWr w;
      w.wr_id = posted;
      w.opcode = verbs::WrOpcode::rdma_write;
      w.flags = verbs::kSignaled;
      w.num_sge = 1;
      const std::uint64_t off = (static_cast<std::uint64_t>(posted) * size) % (kMaxSize - size + 1);
      w.sg[0] = {off, size, lkey};
      w.rkey = rkey;
      w.remote_addr = off;
      if (!p.post_send(0, w)) break;
      ++posted;
    }
    p.poll();
    for (std::size_t n = p.cq[0]->poll(cqes); n > 0; n = p.cq[0]->poll(cqes)) {
      for (std::size_t i = 0; i < n; ++i)
        if (cqes[i].status != verbs::WcStatus::success) return 0;
      done += static_cast<std::uint32_t>(n);
    }
    if (Clock::now() > deadline) return 0;
  }
  return static_cast<double>(size) * count / seconds_since(t0);
}

double memcpy_rate(std::vector<std::byte>& dst, const std::vector<std::byte>& src, std::uint32_t size,
                   std::uint32_t count) {
  const auto t0 = Clock::now();
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t off = (static_cast<std::size_t>(i) * size) % (kMaxSize - size + 1);
    std::memcpy(dst.data() + off, src.data() + off, size);
    asm volatile("" ::: "memory");
  }
  return static_cast<double>(size) * count / seconds_since(t0);
}

struct Point {
  std::uint32_t size;
  double roce = 0, iwarp = 0, copy = 0;  // bytes/s
};

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic;
  using namespace softrnic::perf;
  const bool quick = std::getenv("SOFTRNIC_BENCH_QUICK") != nullptr;
  SteadyClock clock;
  cli::RoceRigOptions ro;
  ro.loopback = true;
  cli::RoceRigInfo info;
  auto roce = cli::make_roce_rig(ro, clock, info);
  auto iwarp = cli::make_iwarp_rig(clock);
  if (!roce || !iwarp) {
    std::fprintf(stderr, "sweep_bench: %s\n", (!roce ? roce.error() : iwarp.error()).message.c_str());
    return 1;
  }
  auto rp = (*roce)->connect(wire::IpVersion::v4);
  auto ip = (*iwarp)->connect(wire::IpVersion::v4);
  if (!rp || !ip) {
    std::fprintf(stderr, "sweep_bench: connect: %s\n", (!rp ? rp.error() : ip.error()).message.c_str());
    return 1;
  }
  std::vector<std::byte> src(kMaxSize, std::byte{0x5a}), dst_r(kMaxSize), dst_i(kMaxSize), copy(kMaxSize);
  struct Keys {
    std::uint32_t l = 0, r = 0;
  };
  auto keys = [&](cli::QpPair& p, std::vector<std::byte>& dst) {
    Keys k;
    auto l = p.memory[0]->register_mr(p.pd[0], src.data(), src.size(), 0, kAccess | verbs::kZeroBased);
    auto r = p.memory[1]->register_mr(p.pd[1], dst.data(), dst.size(), 0, kAccess | verbs::kZeroBased);
    if (l && r) k = {*l, *r};
    return k;
  };
  const Keys kr = keys(**rp, dst_r), ki = keys(**ip, dst_i);
  if (kr.l == 0 || ki.l == 0) {
    std::fprintf(stderr, "sweep_bench: registration failed\n");
    return 1;
  }
  std::vector<Point> points;
  for (std::uint32_t size = 64; size <= kMaxSize; size *= 4) {
    // About 32 MiB per point (16 with SOFTRNIC_BENCH_QUICK), at least 64 and at most 100000 writes.
    const std::uint32_t count =
        std::clamp<std::uint32_t>((quick ? 8u << 20 : 32u << 20) / size, 64, quick ? 20000 : 100000);
    std::vector<double> r, i, c;
    for (int round = 0; round < 3; ++round) {
      r.push_back(write_rate(**rp, kr.l, kr.r, size, count));
      i.push_back(write_rate(**ip, ki.l, ki.r, size, count));
      c.push_back(memcpy_rate(copy, src, size, count));
    }
    points.push_back({size, median(r), median(i), median(c)});
  }
  std::printf("RDMA Write bandwidth against message size, one core, 16 in flight; baseline memcpy (same run)\n");
  std::printf("%10s %12s %12s %12s %10s %10s\n", "bytes", "RoCEv2 GB/s", "iWARP GB/s", "memcpy GB/s",
              "RoCE/copy", "iWARP/copy");
  for (const auto& p : points) {
    std::printf("%10u %12.3f %12.3f %12.3f %9.3fx %9.3fx\n", p.size, p.roce / 1e9, p.iwarp / 1e9, p.copy / 1e9,
                p.roce / p.copy, p.iwarp / p.copy);
    const double sz = p.size;
    record("sweep_bench", "RoCEv2 RDMA Write bandwidth", p.roce / 1e9, "GB/s", "memcpy", p.copy / 1e9,
            p.roce / p.copy, "", -1, sz);
    record("sweep_bench", "iWARP RDMA Write bandwidth", p.iwarp / 1e9, "GB/s", "memcpy", p.copy / 1e9,
            p.iwarp / p.copy, "", -1, sz);
  }
  const bool ok = std::all_of(points.begin(), points.end(), [](const Point& p) { return p.roce > 0 && p.iwarp > 0; });
  if (!ok) std::printf("a transfer failed or timed out (0 above)\n");
  return ok ? 0 : 1;
}
