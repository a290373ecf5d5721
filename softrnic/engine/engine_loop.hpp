// The engine thread: one run-to-completion loop that polls one or more devices (the embedded demo
// runs both of its devices on one thread). Idle policy: `poll` spins (lowest latency, one core at
// 100%); `adaptive` spins for a while after the last work, then sleeps with exponential back-off
// up to max_sleep, so an idle laptop is not held at 100% CPU.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "base/result.hpp"

namespace softrnic {

enum class IdlePolicy : std::uint8_t { poll, adaptive };

struct EngineLoopConfig {
  IdlePolicy idle = IdlePolicy::adaptive;
  std::optional<int> cpu;                  // pin the thread to this CPU
  std::uint32_t idle_spins = 2000;         // adaptive: idle iterations before the first sleep
  std::chrono::microseconds min_sleep{1};  // adaptive back-off, doubling up to max_sleep
  std::chrono::microseconds max_sleep{1000};
};

class EngineLoop {
 public:
  // A poller does one iteration of work (e.g. roce::Device::poll) and returns how much it did.
  using Poller = std::function<std::size_t()>;

  explicit EngineLoop(EngineLoopConfig config = {}) : config_(config) {}
  ~EngineLoop() { stop(); }
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  // Before start() only.
  void add(Poller p) { pollers_.push_back(std::move(p)); }

  [[nodiscard]] Result<void> start();
  // Asks the thread to finish its iteration and joins it. Idempotent.
  void stop();
  bool running() const { return thread_.joinable(); }

  // One iteration on the caller's thread (for tests and single-threaded embedding).
  std::size_t run_once();

  std::uint64_t iterations() const { return iterations_.load(std::memory_order_relaxed); }
  // Iterations of a poller that ran out of memory (std::bad_alloc): the poller's turn ends there,
  // the loop and the other pollers go on. The engine's data path allocates nothing; what can run
  // out is control work (connection records, messages), which the protocols retry or time out.
  std::uint64_t alloc_failures() const { return alloc_failures_.load(std::memory_order_relaxed); }
  std::uint64_t sleeps() const { return sleeps_.load(std::memory_order_relaxed); }

 private:
  void run();

  EngineLoopConfig config_;
  std::vector<Poller> pollers_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> iterations_{0};
  std::atomic<std::uint64_t> alloc_failures_{0};
  std::atomic<std::uint64_t> sleeps_{0};
};

}  // namespace softrnic
