// The devices a command runs on, chosen the way perftest users expect: `-d NAME` picks one by
// name, `--dev SPEC` (repeatable, transport/factory/device_spec.hpp) or `--config FILE` (TOML,
// device_config.hpp) creates them, `--eal "ARGS"` gives DPDK its arguments. Without --dev or
// --config a command falls back to its own documented default spec.
//
// The devices live in this process, each with a control socket (so `softrnic stats/capture/
// devinfo` reach them from another shell), and are polled on the caller's thread by poll(), and
// by every wait of that thread (device_pump.hpp) while the command waits on something else.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "device_pump.hpp"
#include "factory/device_set.hpp"
#include "factory/device_spec.hpp"

namespace softrnic::cli {

struct DeviceOptions {
  std::string name;                // -d: the device to use (default: the first one built)
  std::vector<std::string> specs;  // --dev
  std::string config;              // --config
  std::string eal;                 // --eal: space-separated EAL arguments for DPDK ports
  std::string control_dir;         // --control-dir (default: control_paths.hpp's rules)
};

// Adds -d/--ib-dev, --dev, --config, --eal and --control-dir to a subcommand.
void add_device_options(CLI::App& sub, DeviceOptions& o);

// The specs the options ask for (default_specs when neither --dev nor --config is given), with
// --eal applied to every DPDK port that names no EAL arguments of its own.
[[nodiscard]] Result<std::vector<transport::DeviceSpec>> device_specs(
    const DeviceOptions& o, const std::vector<std::string>& default_specs);

// What a reload did, by device name.
struct ReloadReport {
  std::vector<std::string> kept;       // same spec: untouched (QPs, connections, socket survive)
  std::vector<std::string> started;    // new in the configuration
  std::vector<std::string> stopped;    // gone from the configuration
  std::vector<std::string> restarted;  // spec changed (or its pair's did): stopped, built anew
  // Devices that could not be built, with why; a changed device that fails runs its old spec
  // again when that still builds (listed in restored).
  std::vector<std::pair<std::string, std::string>> failed;
  std::vector<std::string> restored;
};

class HostedDevices {
 public:
  // Builds the devices. control_sockets: give each one (off for one-shot listings). wakeup: given
  // to every device (DeviceSetOptions::wakeup), for a caller that sleeps while they are idle.
  [[nodiscard]] static Result<std::unique_ptr<HostedDevices>> open(
      const DeviceOptions& o, const std::vector<std::string>& default_specs,
      bool control_sockets = true, Wakeup* wakeup = nullptr);

  // Reads the specs again (--config FILE re-read, --dev as before) and brings the running set to
  // them: devices whose spec is unchanged keep running untouched, removed ones stop, new ones
  // start, changed ones restart (both of a loopback/ring pair when either changed). A
  // configuration that does not parse or names a pair's peer that is missing is refused before
  // anything is touched (the error); devices that fail to build are reported in the answer.
  // Caller's thread = the thread that polls.
  [[nodiscard]] Result<ReloadReport> reload(const DeviceOptions& o);

  transport::DeviceSet& set() { return *set_; }
  const std::vector<transport::DeviceSpec>& specs() const { return specs_; }
  // The device -d names (or the first one).
  const transport::DeviceSpec& selected() const { return specs_[selected_]; }
  roce::Device* roce() { return set_->device(selected().name); }
  iwarp::Device* iwarp() { return set_->iwarp_device(selected().name); }
  // One iteration of every device (and so of their control sockets' requests).
  std::size_t poll();
  Clock& clock() { return clock_; }

 private:
  void refresh_pollers();

  SteadyClock clock_;
  std::vector<roce::Device*> roce_;    // what poll() polls, in spec order
  std::vector<iwarp::Device*> iwarp_;
  std::vector<transport::DeviceSpec> specs_;
  std::unique_ptr<transport::DeviceSet> set_;
  std::size_t selected_ = 0;
  std::unique_ptr<DevicePump> pump_;  // last: unregistered before the devices go
};

}  // namespace softrnic::cli
