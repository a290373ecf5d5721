// Time for protocol timers (ACK timeout, RNR delay). Injectable so that tests replay exactly: the
// loopback tests advance a VirtualClock instead of waiting for real timeouts.
#pragma once

#include <chrono>
#include <cstdint>

namespace softrnic {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::uint64_t now_ns() const = 0;
};

class SteadyClock final : public Clock {
 public:
  std::uint64_t now_ns() const override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }
};

class VirtualClock final : public Clock {
 public:
  std::uint64_t now_ns() const override { return now_; }
  void advance(std::uint64_t ns) { now_ += ns; }
  void set(std::uint64_t ns) { now_ = ns; }

 private:
  std::uint64_t now_ = 0;
};

}  // namespace softrnic
