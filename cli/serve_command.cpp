// `softrnic serve`: hosts devices (--dev/--config) with their control sockets until SIGINT/SIGTERM,
// as a command in a shell or as a systemd service (systemd/softrnic@.service):
//   - readiness: each device's socket, then `ready`, on stdout; READY=1 to $NOTIFY_SOCKET once
//     every device is up (sd_notify.hpp), STOPPING=1 when it stops;
//   - SIGHUP re-reads --config (HostedDevices::reload): unchanged devices keep running untouched,
//     a configuration that does not parse leaves the running set as it is;
//   - SIGTERM/SIGINT: control sockets removed, devices closed, exit 0;
//   - --idle block (the default) sleeps in ppoll(2) on the ports' fds while nothing happens, and
//     wakes for a frame, a control request or the devices' nearest timer (engine/idle_wait.hpp);
//     --idle busy polls without pause (a core at 100%, the lowest latency).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "command.hpp"
#include "engine/idle_wait.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"
#include "sd_notify.hpp"

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;

constexpr int kExitFailed = 1;
// Idle rounds of polls before a blocking wait: a reply that comes within a few microseconds of
// the last frame is picked up without a system call.
constexpr std::uint32_t kIdleSpins = 64;
// Devices without a descriptor to wait on (DPDK, loopback, a fault stage) are polled again after
// a sleep that doubles from kMinNap to kMaxNap while they stay idle.
constexpr std::int64_t kMinNapNs = 20'000;
constexpr std::int64_t kMaxNapNs = 1'000'000;

struct ServeCommand {
  DeviceOptions dev;
  double duration = 0;
  std::string idle = "block";
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::string status_of(HostedDevices& h) {
  std::vector<std::string> names;
  for (const auto& s : h.specs()) names.push_back(s.name);
  return "STATUS=serving " + std::to_string(names.size()) + (names.size() == 1 ? " device: " : " devices: ") +
         joined(names);
}

void print_devices(HostedDevices& h, const std::vector<std::string>& only, std::ostream& out) {
  for (const auto& s : h.specs()) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end()) continue;
    const auto sock = h.set().control_socket(s.name);
    out << s.name << "\t" << transport::format_device_spec(s) << "\t"
        << (sock.empty() ? "(no control socket)" : sock) << "\n";
  }
}

void reload(const ServeCommand& c, HostedDevices& h, std::ostream& out) {
  if (c.dev.config.empty()) {
    spdlog::warn("SIGHUP: nothing to re-read (serve was started without --config)");
    return;
  }
  notify_service_manager("RELOADING=1\n" + monotonic_usec_field() + "\nSTATUS=reloading " + c.dev.config);
  const std::size_t before = h.specs().size();
  auto r = h.reload(c.dev);
  if (!r) {
    spdlog::error("reload of {} refused: {}; the {} running devices keep running", c.dev.config,
                  r.error().message, before);
  } else {
    for (const auto& [name, why] : r->failed) spdlog::error("reload: {} did not start: {}", name, why);
    spdlog::info("reloaded {}: kept [{}], started [{}], restarted [{}], stopped [{}]{}", c.dev.config,
                 joined(r->kept), joined(r->started), joined(r->restarted), joined(r->stopped),
                 r->restored.empty() ? "" : ", running their old spec: [" + joined(r->restored) + "]");
    std::vector<std::string> fresh = r->started;
    fresh.insert(fresh.end(), r->restarted.begin(), r->restarted.end());
    if (!fresh.empty()) print_devices(h, fresh, out);
    out << "reloaded\n";
    out.flush();
  }
  notify_service_manager("READY=1\n" + status_of(h));
}

int run_serve(const ServeCommand& c, std::ostream& out, std::ostream& err) {
  // A service says what it does: starts, reloads and stops are logged at info (-v: debug).
  if (spdlog::get_level() > spdlog::level::info) spdlog::set_level(spdlog::level::info);
  const bool block = c.idle == "block";
  auto waiter = IdleWaiter::create();
  if (!waiter) {
    err << "softrnic serve: " << waiter.error().message << "\n";
    return kExitFailed;
  }
  catch_service_signals((*waiter)->event_fd());
  auto h = HostedDevices::open(c.dev, {}, true, block ? waiter->get() : nullptr);
  if (!h) {
    err << "softrnic serve: " << h.error().message << "\n";
    notify_service_manager("STATUS=failed: " + h.error().message);
    return kExitFailed;
  }
  print_devices(**h, {}, out);
  out << "ready\n";
  out.flush();
  spdlog::info("serving {} device(s) (--idle {})", (*h)->specs().size(), c.idle);
  notify_service_manager("READY=1\n" + status_of(**h));

  std::vector<int> fds;
  bool all_fds = (*h)->set().wait_fds(fds);
  const auto until = Clk::now() + std::chrono::duration_cast<Clk::duration>(
                                      std::chrono::duration<double>(c.duration > 0 ? c.duration : 1e9));
  std::uint32_t idle = 0, rounds = 0;
  std::int64_t nap = kMinNapNs;
  while (!interrupted()) {
    if (take_reload_request()) {
      reload(c, **h, out);
      fds.clear();
      all_fds = (*h)->set().wait_fds(fds);
      continue;
    }
    if ((++rounds & 4095) == 0 && Clk::now() >= until) break;
    if ((*h)->poll() != 0) {
      idle = 0;
      nap = kMinNapNs;
      continue;
    }
    if (!block || ++idle < kIdleSpins) continue;
    idle = 0;
    std::int64_t timeout = -1;  // none: only a frame, a request or a signal wakes us
    const std::uint64_t deadline = (*h)->set().next_deadline();
    if (deadline != UINT64_MAX) {
      const std::uint64_t now = (*h)->clock().now_ns();
      timeout = deadline > now ? static_cast<std::int64_t>(deadline - now) : 0;
    }
    if (!all_fds) {
      timeout = timeout < 0 ? nap : std::min(timeout, nap);
      nap = std::min(nap * 2, kMaxNapNs);
    }
    if (c.duration > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clk::now()).count();
      if (left <= 0) break;
      timeout = timeout < 0 ? left : std::min<std::int64_t>(timeout, left);
    }
    (*waiter)->wait(fds, timeout);
  }
  notify_service_manager("STOPPING=1\nSTATUS=stopping");
  const std::size_t n = (*h)->specs().size();
  h->reset();  // control sockets first (their files go), then the devices and their ports
  spdlog::info("stopped {} device(s)", n);
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<ServeCommand>();
  auto* sub = app.add_subcommand(
      "serve",
      "Run devices (--dev/--config) with their control sockets until SIGINT/SIGTERM, for "
      "devinfo, stats and capture from another shell; prints each device's socket, then `ready` "
      "(and tells $NOTIFY_SOCKET READY=1). SIGHUP re-reads --config: unchanged devices keep "
      "running, removed ones stop, new and changed ones start; a file that does not parse is "
      "refused");
  add_device_options(*sub, cmd->dev);
  sub->add_option("--duration", cmd->duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  sub->add_option("--idle", cmd->idle,
                  "While the devices have nothing to do: block (sleep until a frame, a control "
                  "request or a timer; DPDK and loopback ports are re-polled after short sleeps) "
                  "or busy (poll without pause: lowest latency, one core at 100%)")
      ->check(CLI::IsMember({"block", "busy"}))
      ->capture_default_str();
  list.push_back({sub, [cmd](std::ostream& out, std::ostream& err) { return run_serve(*cmd, out, err); }});
}

}  // namespace softrnic::cli
