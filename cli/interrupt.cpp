#include "interrupt.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>

namespace softrnic::cli {
namespace {

std::atomic<int> g_signals{0};
std::atomic<bool> g_reload{false};
std::atomic<int> g_wake_fd{-1};

void wake() {
  const int fd = g_wake_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  const int saved = errno;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(fd, &one, sizeof one);
  errno = saved;
}

void on_signal(int sig) {
  if (g_signals.fetch_add(1) > 0) {
    std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process the usual way
    std::raise(sig);
  }
  wake();
}

void on_hangup(int) {
  g_reload.store(true);
  wake();
}

void install(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

}  // namespace

void catch_interrupts() {
  g_signals.store(0);
  install(SIGINT, on_signal);
  install(SIGTERM, on_signal);
}

void catch_service_signals(int wake_fd) {
  g_wake_fd.store(wake_fd);
  g_reload.store(false);
  catch_interrupts();
  install(SIGHUP, on_hangup);
}

bool interrupted() { return g_signals.load(std::memory_order_relaxed) > 0; }

bool take_reload_request() { return g_reload.exchange(false); }

}  // namespace softrnic::cli
