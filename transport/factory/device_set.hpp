// Builds devices (engine + port) from device specs: the only place that knows every kind of port,
// so softrnic/ never sees DPDK or liburing. Devices that name each other as peers (loopback, ring)
// are built as a pair; every other port stands alone.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "factory/device_spec.hpp"
#include "roce/device.hpp"

namespace softrnic::transport {

class DeviceSet {
 public:
  DeviceSet();
  ~DeviceSet();
  DeviceSet(const DeviceSet&) = delete;
  DeviceSet& operator=(const DeviceSet&) = delete;

  // Builds every spec; on error nothing of this call is kept and the message names the device.
  [[nodiscard]] Result<void> build(const std::vector<DeviceSpec>& specs, Clock& clock);

  roce::Device* device(std::string_view name);
  Port* port(std::string_view name);
  std::vector<std::string> names() const;

 private:
  struct Entry;
  struct Shared;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::unique_ptr<Shared>> shared_;  // wires and ring pairs that own two ports
};

// The engine configuration a spec asks for, given the port it runs on.
roce::DeviceConfig device_config_of(const DeviceSpec& spec, const Port& port);

}  // namespace softrnic::transport
