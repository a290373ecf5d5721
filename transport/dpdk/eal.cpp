#include "dpdk/eal.hpp"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "dpdk/eal_args.hpp"

namespace softrnic::transport::eal {

namespace {

struct State {
  std::mutex mu;
  bool started = false;
  std::optional<Error> failure;  // a failed start, returned to every later call
  std::vector<std::string> args;
  std::string runtime_dir;  // ours to remove at exit (only when we chose the file prefix)
};

// Never destroyed: the exit handler below runs while other statics are being torn down.
State& state() {
  static State* s = new State;
  return *s;
}

std::string join(std::span<const std::string> args) {
  std::string out;
  for (const std::string& a : args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Errc errc_for(int err) {
  switch (err) {
    case EINVAL:
      return Errc::invalid_argument;
    case EALREADY:
      return Errc::busy;
    case ENOTSUP:
      return Errc::unsupported;
    default:
      return Errc::io_error;
  }
}

// No rte_eal_cleanup at exit: in DPDK 22.11 it releases DPDK's memory while the interrupt thread
// keeps running, and a PMD callback still registered there (a memif control channel, for one)
// would then run on freed memory. The kernel reclaims everything with the process. Only the
// runtime folder, which DPDK leaves behind even with --no-shconf, is removed.
void remove_runtime_dir_at_exit() {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (!s.runtime_dir.empty()) (void)rmdir(s.runtime_dir.c_str());
}

}  // namespace

std::vector<std::string> default_args() {
  const int cpu = sched_getcpu();
  return {
      "--no-huge",
      "-m",
      "512",
      "--no-shconf",
      "--no-pci",
      "--no-telemetry",
      "--file-prefix=softrnic-" + std::to_string(getpid()),
      "-l",
      std::to_string(cpu < 0 ? 0 : cpu),
      "--log-level=*:warning",
  };
}

Result<void> init(std::span<const std::string> args) {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (s.failure) return std::unexpected(*s.failure);
  if (s.started) {
    if (args.empty() || std::ranges::equal(args, s.args)) return {};
    return make_error(Errc::busy, "the DPDK EAL already runs with arguments [" + join(s.args) +
                                      "]; it cannot start again with [" + join(args) +
                                      "] in the same process");
  }

  // Whatever path they came by (a spec, --eal, a config file), no argument may make DPDK load
  // code or touch files it names; refused before DPDK sees them, so it can still start later.
  if (auto r = check_args(args); !r) return r;
  const std::vector<std::string> chosen =
      args.empty() ? default_args() : std::vector<std::string>(args.begin(), args.end());
  std::vector<std::string> storage;
  storage.reserve(chosen.size() + 1);
  storage.emplace_back("softrnic");
  storage.insert(storage.end(), chosen.begin(), chosen.end());
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (std::string& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Set before the start so that not even the start-up messages go to stdout.
  (void)rte_openlog_stream(stderr);
  cpu_set_t before;
  CPU_ZERO(&before);
  const bool have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(before), &before) == 0;
  const int ret = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  const int err = rte_errno;
  // rte_eal_init pins this thread to the main lcore; the caller's thread keeps its own CPUs.
  if (have_cpus) (void)pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  if (ret < 0) {
    // The runtime folder may exist already; nothing else will remove it.
    if (args.empty()) (void)rmdir(rte_eal_get_runtime_dir());
    s.failure = Error{errc_for(err), "the DPDK EAL did not start with arguments [" + join(chosen) +
                                         "]: " + rte_strerror(err)};
    return std::unexpected(*s.failure);
  }
  s.started = true;
  s.args = chosen;
  if (args.empty()) {
    s.runtime_dir = rte_eal_get_runtime_dir();
    (void)std::atexit(remove_runtime_dir_at_exit);
  }
  return {};
}

bool running() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.started;
}

std::vector<std::string> active_args() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.started ? s.args : std::vector<std::string>{};
}

}  // namespace softrnic::transport::eal
