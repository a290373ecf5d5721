// A command's devices keep running while the command waits on something else.
//
// A command polls its devices on its own thread. When that thread blocks (reading the out-of-band
// TCP exchange, waiting for a client, retrying a connect, sleeping), nothing polls them, so the
// device answers no ARP or ND request, no CM MAD, no ACK and no retransmission: a peer that
// resolves softrnic's address before it replies (rdma-core's pingpong servers do) waits for an
// answer that never comes. So every wait of the commands goes through pumped_poll() or
// pumped_sleep(), which poll the devices registered for the calling thread between looks at
// what they wait for. HostedDevices registers its devices for the thread that opens them.
//
// While the devices are busy the wait spins (poll(2) with no timeout between rounds); after
// kIdleRounds rounds without work it sleeps at most 1 ms per look, so an idle wait costs little
// and a frame waits at most that long.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>

namespace softrnic::cli {

class DevicePump {
 public:
  // Registers poll (returns the work it did, 0 when idle) for the calling thread until destroyed.
  // The object must be destroyed on the thread that made it.
  explicit DevicePump(std::function<std::size_t()> poll);
  ~DevicePump();
  DevicePump(const DevicePump&) = delete;
  DevicePump& operator=(const DevicePump&) = delete;

  std::size_t poll() { return poll_(); }

 private:
  std::function<std::size_t()> poll_;
};

inline constexpr unsigned kIdleRounds = 64;

// As poll(2) (timeout_ms < 0: no timeout), polling this thread's devices while it waits.
int pumped_poll(std::span<pollfd> fds, int timeout_ms);
// Sleeps for d, polling this thread's devices meanwhile.
void pumped_sleep(std::chrono::milliseconds d);

}  // namespace softrnic::cli
