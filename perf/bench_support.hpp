// Pieces every engine benchmark uses: timing, the median of rounds, and the 64 B SEND loop over a
// rig of two devices (members a, b, qa, qb, scq_a, rcq_b and poll()).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "roce/device.hpp"

namespace softrnic::perf {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Messages per second of `msgs` signaled 64 B SENDs from a to b, keeping up to 2048 in flight.
template <class Rig>
double send_rate(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t msgs) {
  std::array<verbs::Cqe, 64> cqes;
  const auto t0 = Clock::now();
  std::size_t posted = 0, recv_posted = 0, done = 0;
  while (done < msgs) {
    while (recv_posted < msgs && recv_posted - done < 2048) {
      roce::RecvWr w;
      w.num_sge = 1;
      w.sg[0] = {0, 64, rk};
      if (!r.b->post_recv(*r.qb, w)) break;
      ++recv_posted;
    }
    while (posted < msgs && posted - done < 2048) {
      roce::SendWr s;
      s.opcode = verbs::WrOpcode::send;
      s.flags = verbs::kSignaled;
      s.num_sge = 1;
      s.sg[0] = {0, 64, lk};
      if (!r.a->post_send(*r.qa, s)) break;
      ++posted;
    }
    r.poll();
    done += r.scq_a->poll(cqes);
    while (r.rcq_b->poll(cqes)) {
    }
  }
  return static_cast<double>(msgs) / seconds_since(t0);
}

}  // namespace softrnic::perf
