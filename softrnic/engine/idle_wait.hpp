// Sleeping instead of spinning while devices are idle (`softrnic serve --idle block`): an engine
// thread whose round of polls did nothing waits here until a port's fd is readable (a frame or a
// completion arrived: Port::wait_fd), another thread calls wake() (a control operation was queued:
// ControlQueue::set_wakeup), or the devices' nearest timer is due (Device::next_deadline).
//
// Level-triggered throughout: a frame that arrives between the last poll and the wait leaves its
// fd readable, and wake() leaves the eventfd readable, so no wake-up is lost. One ppoll(2) per
// wait, nothing allocated once the descriptor list has grown to its size.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <poll.h>

#include "base/result.hpp"
#include "base/wakeup.hpp"

namespace softrnic {

class IdleWaiter final : public Wakeup {
 public:
  [[nodiscard]] static Result<std::unique_ptr<IdleWaiter>> create();
  ~IdleWaiter();
  IdleWaiter(const IdleWaiter&) = delete;
  IdleWaiter& operator=(const IdleWaiter&) = delete;

  // Any thread, and async-signal-safe (one write(2) to the eventfd).
  void wake() noexcept override;
  // The eventfd, for a signal handler that writes 8 bytes to it (interrupt.hpp).
  int event_fd() const { return efd_; }

  // Returns when one of fds is readable, wake() has been called since the last wait, or
  // timeout_ns has passed (< 0: no timeout; 0: only looks). True unless it timed out.
  bool wait(std::span<const int> fds, std::int64_t timeout_ns);

  std::uint64_t waits() const { return waits_; }
  std::uint64_t timeouts() const { return timeouts_; }

 private:
  explicit IdleWaiter(int efd) : efd_(efd) {}
  int efd_;
  std::vector<pollfd> pfds_;
  std::uint64_t waits_ = 0, timeouts_ = 0;
};

}  // namespace softrnic
