// Pieces every engine benchmark uses: timing, the median of rounds, the 64 B SEND and the RDMA
// WRITE loops over a rig of two devices (members a, b, qa, qb, scq_a, rcq_b and poll()), and the
// wait memif teardown needs.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <thread>
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

// Bytes per second of `msgs` signaled RDMA WRITEs of `len` bytes from a to b, keeping up to
// `in_flight` of them outstanding.
template <class Rig>
double write_bandwidth(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t len, std::size_t msgs,
                       std::size_t in_flight = 64) {
  std::array<verbs::Cqe, 64> cqes;
  const auto t0 = Clock::now();
  std::size_t posted = 0, done = 0;
  while (done < msgs) {
    while (posted < msgs && posted - done < in_flight) {
      roce::SendWr s;
      s.opcode = verbs::WrOpcode::rdma_write;
      s.flags = verbs::kSignaled;
      s.num_sge = 1;
      s.sg[0] = {0, static_cast<std::uint32_t>(len), lk};
      s.rkey = rk;
      if (!r.a->post_send(*r.qa, s)) break;
      ++posted;
    }
    r.poll();
    done += r.scq_a->poll(cqes);
  }
  return static_cast<double>(msgs * len) / seconds_since(t0);
}

// memif in DPDK 22.11: when one end leaves, the other end's interrupt thread tears its connection
// down, which must not meet that end's own rx/tx burst or its own teardown. So the end that stays
// waits (at most 5 s) until DPDK has seen the connection go before it stops.
inline void wait_for_memif_peer_to_leave(const Port& port) {
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (port.link_up() && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace softrnic::perf
