// Device specs from a TOML config file: one [[device]] table per device, whose keys are the
// fields of the device-spec grammar (device_spec.hpp). Every table is turned into spec text and
// checked by parse_device_spec, so a wrong value gives the same message as on the command line,
// prefixed with FILE:LINE and the device:
//
//   [[device]]
//   name = "srn0"
//   port = "ring"            # the kind; its options as keys below (or "ring:peer=srn1")
//   peer = "srn1"            # loopback, ring
//   ip4 = "198.18.0.1/24"    # a string, or an array of strings
//   ip6 = ["fd00:5052::1/64"]
//   mtu = 4200               # mtu, vlan, udp_port, peer_udp_port: an integer or a string
//
//   [[device]]
//   name = "srn2"
//   port = "memif"
//   socket = "/run/srn.sock" # memif; role = "server" | "client"
//   eal = ["--no-huge", "-m", "512"]   # an array (items may hold spaces) or a string
//
// Keys: name, proto, port, peer, socket, iface, role, mac, ip4, ip6, mtu, vlan, udp_port,
// peer_udp_port, eal. Values may not hold ',' (nor ':' in peer, socket, iface), which the spec
// text uses as separators. Anything but [[device]] tables at the top level is an error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "factory/device_spec.hpp"

namespace softrnic::transport {

// Reads and checks a config file; at least one device, names unique within the file.
[[nodiscard]] Result<std::vector<DeviceSpec>> load_device_config(const std::string& path);

// The same for a config held in memory; `name` stands for the file in messages.
[[nodiscard]] Result<std::vector<DeviceSpec>> parse_device_config(std::string_view text,
                                                                  const std::string& name);

}  // namespace softrnic::transport
