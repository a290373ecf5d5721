// The demo's traffic on one connected RC QP pair, whatever protocol carries it (RoCEv2 or iWARP):
// a Send ping-pong, then RDMA Writes of a large buffer from A to B, then RDMA Reads of it back
// into A, each byte checked after every phase. Both devices are polled from the caller's thread
// (one core, no engine thread to hand work to).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "demo_report.hpp"
#include "roce/wr.hpp"
#include "verbs/cq.hpp"
#include "verbs/memory.hpp"

namespace softrnic::cli {

// The verbs of one connected QP pair (side 0 = A, side 1 = B).
struct QpPair {
  std::function<Result<void>(int side, const roce::SendWr&)> post_send;
  std::function<Result<void>(int side, const roce::RecvWr&)> post_recv;
  std::function<void()> poll;  // one round of both devices (and their connection managers)
  verbs::Cq* cq[2] = {nullptr, nullptr};  // send and receive completions of each side
  verbs::MemoryTable* memory[2] = {nullptr, nullptr};
  verbs::PdHandle pd[2] = {0, 0};
  // Retransmissions so far on both devices; unset when the transport below retransmits (TCP).
  std::function<std::optional<std::uint64_t>()> retransmits;
};

struct WorkloadConfig {
  std::uint64_t bytes = 64u << 20;  // written and read back
  std::uint32_t chunk = 1u << 20;   // bytes per RDMA Write / Read
  std::uint32_t window = 8;         // work requests in flight
  std::uint32_t pingpongs = 2000;
  std::uint32_t ping_size = 64;
  std::chrono::seconds phase_timeout{30};
};

// The buffers, shared by every transport of a run (allocated once). They must outlive the
// devices: work left in flight by a failed phase may still reach them.
struct DemoBuffers {
  std::vector<std::byte> source;  // A: what is written
  std::vector<std::byte> target;  // B: where it is written
  std::vector<std::byte> back;    // A: where it is read back to
  std::vector<std::byte> msg[2];  // per side: the ping-pong's send buffer and receive slots
};

// Runs the three phases on `pair`; stops after the first failed phase. seed varies the data.
std::vector<PhaseResult> run_workload(QpPair& pair, const std::string& transport,
                                      const WorkloadConfig& cfg, DemoBuffers& buffers,
                                      std::uint32_t seed, Progress& progress);

}  // namespace softrnic::cli
