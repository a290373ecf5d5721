#include "interrupt.hpp"

#include <csignal>

#include <atomic>

namespace softrnic::cli {
namespace {

std::atomic<int> g_signals{0};

void on_signal(int sig) {
  if (g_signals.fetch_add(1) > 0) {
    std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process the usual way
    std::raise(sig);
  }
}

}  // namespace

void catch_interrupts() {
  g_signals.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signals.load(std::memory_order_relaxed) > 0; }

}  // namespace softrnic::cli
