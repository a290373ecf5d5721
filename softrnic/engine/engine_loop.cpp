#include "engine/engine_loop.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstring>
#include <new>
#include <string>

namespace softrnic {

Result<void> EngineLoop::start() {
  if (thread_.joinable()) return make_error(Errc::busy, "the engine loop is already running");
  if (pollers_.empty()) return make_error(Errc::invalid_argument, "the engine loop has nothing to poll");
  stop_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
  if (config_.cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*config_.cpu, &set);
    if (const int rc = pthread_setaffinity_np(thread_.native_handle(), sizeof set, &set); rc != 0) {
      stop();
      return make_error(Errc::invalid_argument,
                        "cannot pin the engine thread to CPU " + std::to_string(*config_.cpu) + ": " +
                            std::strerror(rc));
    }
  }
  return {};
}

void EngineLoop::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  thread_.join();
}

std::size_t EngineLoop::run_once() {
  std::size_t work = 0;
  for (auto& p : pollers_) {
    try {
      work += p();
    } catch (const std::bad_alloc&) {
      alloc_failures_.fetch_add(1, std::memory_order_relaxed);
      ++work;  // not idle: the poller has more to do
    }
  }
  iterations_.fetch_add(1, std::memory_order_relaxed);
  return work;
}

void EngineLoop::run() {
  std::uint32_t idle = 0;
  auto sleep = config_.min_sleep;
  while (!stop_.load(std::memory_order_acquire)) {
    if (run_once() != 0) {
      idle = 0;
      sleep = config_.min_sleep;
      continue;
    }
    if (config_.idle == IdlePolicy::poll || ++idle < config_.idle_spins) continue;
    std::this_thread::sleep_for(sleep);
    sleeps_.fetch_add(1, std::memory_order_relaxed);
    sleep = std::min(sleep * 2, config_.max_sleep);
  }
}

}  // namespace softrnic
