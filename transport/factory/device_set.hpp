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
#include "base/wakeup.hpp"
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
  // Given to every device (set_wakeup): a control operation wakes an engine thread that waits.
  Wakeup* wakeup = nullptr;
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
  // May be called again to add devices (names must stay unique).
  [[nodiscard]] Result<void> build(const std::vector<DeviceSpec>& specs, Clock& clock);
  // Stops and removes these devices: control socket first (its file goes), then the device (its
  // QPs and connections), then its port. A device built as a pair (loopback, ring) goes with its
  // peer. Unknown names are ignored. Returns the names removed.
  std::vector<std::string> remove(const std::vector<std::string>& names);

  // For an engine thread that sleeps while its devices are idle (after a round of polls that did
  // nothing): appends to fds the descriptors to poll(2) for input (Port::wait_fd, the iWARP
  // transport's ring) and returns true when they cover every device; false when some device can
  // only be polled (a DPDK or loopback port, a fault stage that holds frames): then sleep briefly.
  bool wait_fds(std::vector<int>& fds) const;
  // The nearest time (clock ns) by which the devices must be polled again without new input
  // (their timers: Device::next_deadline); UINT64_MAX: none.
  std::uint64_t next_deadline() const;

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
  std::size_t next_vdev_ = 0;  // DPDK vdev names stay unique when devices come and go
};

// The engine configuration a spec asks for, given the port it runs on.
roce::DeviceConfig device_config_of(const DeviceSpec& spec, const Port& port);

}  // namespace softrnic::transport
