// What the per-packet re-check of memory references costs (every packet that reads or writes
// registered memory compares its reference's generations with the table's, MemoryTable::current):
// the 64 B RC SEND message rate and 64 KiB RDMA WRITE bandwidth of this build, against the same
// loops built with the check compiled out (SOFTRNIC_NO_REVALIDATION, the binary named on the
// command line), measured in turns in the same run. Target: at most 3% slower (>= 0.97x).
// Usage: revalidation_bench UNCHECKED_BINARY     (UNCHECKED_BINARY --rates prints one turn)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "loopback_rig.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

struct Rates {
  double send = 0;   // 64 B RC SEND messages per second
  double write = 0;  // 64 KiB RDMA WRITE bytes per second
};

Rates one_turn(std::size_t scale) {
  Rig r;
  std::vector<std::byte> src(1 << 16, std::byte{1}), dst(1 << 16);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased;
  const auto lk = *r.a->memory().register_mr(r.pa, src.data(), src.size(), 0, acc);
  const auto rk = *r.b->memory().register_mr(r.pb, dst.data(), dst.size(), 0, acc);
  (void)send_rate(r, lk, rk, 20000);  // warm-up
  (void)write_bandwidth(r, lk, rk, 1 << 16, 200);
  return {send_rate(r, lk, rk, 300000 / scale), write_bandwidth(r, lk, rk, 1 << 16, 4000 / scale)};
}

}  // namespace
}  // namespace softrnic::perf

int main(int argc, char** argv) {
  using namespace softrnic::perf;
  const bool quick = secure_getenv("SOFTRNIC_BENCH_QUICK") != nullptr;
  const std::size_t scale = quick ? 20 : 1;
  if (argc > 1 && std::strcmp(argv[1], "--rates") == 0) {
    const auto r = one_turn(scale);
    std::printf("%.6e %.6e\n", r.send, r.write);
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s UNCHECKED_BINARY\n", argv[0]);
    return 2;
  }
  const int turns = quick ? 1 : 7;
  std::vector<double> send_on, send_off, write_on, write_off;
  for (int i = 0; i < turns; ++i) {
    // The unchecked build runs in a child process, so both measure a fresh process's rig.
    const std::string cmd = std::string("'") + argv[1] + "' --rates";
    FILE* f = popen(cmd.c_str(), "r");
    double s = 0, w = 0;
    if (!f || std::fscanf(f, "%lf %lf", &s, &w) != 2) {
      std::fprintf(stderr, "revalidation_bench: %s gave no rates\n", argv[1]);
      if (f) pclose(f);
      return 1;
    }
    pclose(f);
    send_off.push_back(s);
    write_off.push_back(w);
    const auto on = one_turn(scale);
    send_on.push_back(on.send);
    write_on.push_back(on.write);
  }
  const double so = median(send_on), sf = median(send_off), wo = median(write_on), wf = median(write_off);
  std::printf("Per-packet memory re-check, against the same engine built without it; median of %d turns each\n", turns);
  std::printf("%-44s %14s %14s %9s   %s\n", "what", "checked", "unchecked", "ratio", "target");
  std::printf("%-44s %11.2f M/s %11.2f M/s %8.3fx   %s\n", "64 B RC SEND messages", so / 1e6, sf / 1e6, so / sf,
              so / sf >= 0.97 ? ">= 0.97x: MET" : ">= 0.97x: BELOW");
  std::printf("%-44s %10.2f GB/s %10.2f GB/s %8.3fx   %s\n", "64 KiB RDMA WRITE bandwidth", wo / 1e9, wf / 1e9,
              wo / wf, wo / wf >= 0.97 ? ">= 0.97x: MET" : ">= 0.97x: BELOW");
  record("revalidation_bench", "64 B RC SEND with per-packet memory re-check", so / 1e6, "M msg/s",
         "the same engine without the re-check", sf / 1e6, so / sf, ">= 0.97x", so / sf >= 0.97);
  record("revalidation_bench", "64 KiB RDMA WRITE with per-packet memory re-check", wo / 1e9, "GB/s",
         "the same engine without the re-check", wf / 1e9, wo / wf, ">= 0.97x", wo / wf >= 0.97);
  return 0;
}
