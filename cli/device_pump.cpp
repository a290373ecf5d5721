#include "device_pump.hpp"

#include <algorithm>
#include <vector>

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;

thread_local std::vector<DevicePump*> t_pumps;
thread_local bool t_inside = false;  // a device's poll never waits through here, but be sure

// One round of every registered pump; the work they did.
std::size_t pump_round() {
  if (t_inside) return 0;
  t_inside = true;
  std::size_t work = 0;
  try {
    for (auto* p : t_pumps) work += p->poll();
  } catch (...) {
    t_inside = false;
    throw;
  }
  t_inside = false;
  return work;
}

}  // namespace

DevicePump::DevicePump(std::function<std::size_t()> poll) : poll_(std::move(poll)) {
  t_pumps.push_back(this);
}

DevicePump::~DevicePump() { std::erase(t_pumps, this); }

int pumped_poll(std::span<pollfd> fds, int timeout_ms) {
  if (t_pumps.empty() || t_inside) return ::poll(fds.data(), fds.size(), timeout_ms);
  const auto end = timeout_ms < 0 ? Clk::time_point::max()
                                  : Clk::now() + std::chrono::milliseconds(timeout_ms);
  unsigned idle = 0;
  for (;;) {
    int wait = 0;
    if (pump_round() != 0) {
      idle = 0;
    } else if (++idle >= kIdleRounds) {
      wait = 1;
      if (end != Clk::time_point::max() && end - Clk::now() < std::chrono::milliseconds(1)) wait = 0;
    }
    const int r = ::poll(fds.data(), fds.size(), wait);
    if (r != 0) return r;
    if (Clk::now() >= end) return 0;
  }
}

void pumped_sleep(std::chrono::milliseconds d) { (void)pumped_poll({}, static_cast<int>(d.count())); }

}  // namespace softrnic::cli
