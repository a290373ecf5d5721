// The attacker's flood of an iWARP listener (attacker.cpp): many TCP connections that send nothing,
// junk, half an MPA Request, an MPA Request one byte at a time, a malformed one, or a well-formed
// one whose private data no owner accepts. Closed connections are replaced until `total` have
// been opened or the time is up; whatever the device sends back is read and dropped.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace softrnic::hostile {

struct MpaFloodConfig {
  sockaddr_storage target{};
  socklen_t target_len = 0;
  int concurrent = 400;  // connections open at once
  int total = 3000;      // connections opened in all
  double seconds = 20;
  std::uint64_t seed = 1;
};

struct MpaFloodResult {
  std::uint64_t opened = 0;            // connect() calls
  std::uint64_t established = 0;       // connections the kernel completed
  std::uint64_t connect_failed = 0;    // refused, reset or timed out before completing
  std::uint64_t closed_by_device = 0;  // EOF or reset after completing
  std::uint64_t still_open = 0;        // closed by us at the end
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t by_behaviour[6] = {};
  std::string error;  // setup failures (socket limits)
};

// Runs until cfg.seconds have passed. Thread-safe to run beside the frame sender.
MpaFloodResult run_mpa_flood(const MpaFloodConfig& cfg);

// Names of the behaviours, in by_behaviour's order.
inline constexpr const char* kMpaBehaviours[6] = {"silent",  "junk",        "half_request",
                                                  "trickle", "bad_request", "stranger_request"};

}  // namespace softrnic::hostile
