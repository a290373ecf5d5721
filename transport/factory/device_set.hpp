// Builds devices (engine + port) from device specs: the only place that knows every kind of port,
// so softrnic/ never sees DPDK or liburing. Devices that name each other as peers (loopback, ring)
// are built as a pair; every other port stands alone.
//
// With control sockets on (DeviceSetOptions), every device gets a Unix socket named after it
// (transport/control/: info, counters, capture) and its port is wrapped in a capture decorator
// (capture/capture_port.hpp; one branch per burst while no capture runs). The devices are still
// polled by their owner's engine thread; the socket thread reaches them through Device::submit.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "factory/device_spec.hpp"
#include "iwarp/device.hpp"
#include "roce/device.hpp"

namespace softrnic::capture {
class StreamCapture;
}

namespace softrnic::control {
class ControlServer;
}

namespace softrnic::transport {

class LinkFaultPort;

struct DeviceSetOptions {
  bool control_sockets = false;  // a control socket per device, and a capture point on its port
  std::string control_dir;       // the sockets' folder; empty: control_paths.hpp's default
  std::chrono::milliseconds control_timeout{1000};  // how long a request waits for the engine
  // A fault stage (fault/link_faults.hpp) on every RoCEv2 device, even without faults= in its
  // spec, so that scripted faults can be armed later (faults(name)); idle it costs one branch
  // per burst.
  bool fault_stage = false;
  // A StreamCapture (capture/stream_capture.hpp) between every iWARP device and its TCP, idle
  // until stream_capture(name)->set_sink() gives it a capture (always there with control
  // sockets: the socket's capture command uses it).
  bool iwarp_capture_point = false;
};

class DeviceSet {
 public:
  DeviceSet();
  explicit DeviceSet(DeviceSetOptions options);
  // Removes the control sockets first, then the devices, then the ports.
  ~DeviceSet();
  DeviceSet(const DeviceSet&) = delete;
  DeviceSet& operator=(const DeviceSet&) = delete;

  // Builds every spec; on error nothing of this call is kept and the message names the device.
  [[nodiscard]] Result<void> build(const std::vector<DeviceSpec>& specs, Clock& clock);

  roce::Device* device(std::string_view name);  // proto=roce devices
  iwarp::Device* iwarp_device(std::string_view name);  // proto=iwarp devices
  // The capture point of an iWARP device (options.iwarp_capture_point), else nullptr.
  capture::StreamCapture* stream_capture(std::string_view name);
  // The port the device was built on (below the capture decorator, when there is one).
  Port* port(std::string_view name);
  // The device's fault stage: there when its spec has faults= or fault_stage is on.
  LinkFaultPort* faults(std::string_view name);
  std::vector<std::string> names() const;
  // The path of the device's control socket; empty when control sockets are off.
  std::string control_socket(std::string_view name) const;

 private:
  [[nodiscard]] Result<void> open_control_sockets(std::size_t first_entry);

  DeviceSetOptions options_;
  std::unique_ptr<control::ControlServer> control_;
  struct Entry;
  struct Shared;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::unique_ptr<Shared>> shared_;  // wires and ring pairs that own two ports
};

// The engine configuration a spec asks for, given the port it runs on.
roce::DeviceConfig device_config_of(const DeviceSpec& spec, const Port& port);

}  // namespace softrnic::transport
