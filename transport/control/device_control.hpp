// What a device's control socket answers (control_server.hpp carries the lines):
//
//   {"cmd":"info"}      name, spec (the canonical spec text), proto, port (kind), mac, gids
//                       (index, gid, kind, prefix, vlan), vlan, link_mtu, max_frame, link_up,
//                       has_link_layer, active_mtu {ipv4, ipv6} (the largest path MTU that fits
//                       the link), limits, capture {active, file}. iWARP devices (kernel TCP, no
//                       frames of their own): name, spec, proto, port, addresses, limits, capture.
//   {"cmd":"counters"}  device (engine counters), drops (receive drop reasons; RoCEv2), port (the
//                       port's or the TCP transport's own counters, where it has any), capture
//                       (the capture decorator's, and while a capture runs its sink's:
//                       capture_frames_written, capture_frames_over_limit, capture_write_errors)
//   {"cmd":"capture","action":"start","file":"/abs/path.pcap"[,"overwrite":true]
//    [,"max_bytes":N]}  starts a capture of every frame the device's port receives and
//                       transmits (iWARP: its TCP streams with synthesized headers, see
//                       capture/stream_capture.hpp) into a new file, mode 0600, never through a
//                       symbolic link; an existing file only with overwrite; at most N bytes
//                       (capture/pcap_file.hpp); answers {"ok":true,"file":...,"format":"pcap"}
//   {"cmd":"capture","action":"stop"}
//                       stops it and closes the file; answers {"ok":true,"file":...,"frames":N,
//                       "frames_dropped":N (no room on the way to the file),
//                       "frames_over_limit":N (past max_bytes),"write_errors":N}
//
// Errors are {"ok":false,"error":"FIELD: what is wrong (accepted: ...)"}.
//
// Threads: the device belongs to its engine thread, so every request that reads or changes it
// is run there through the device's submit() (at the start of the next poll) while the socket
// thread waits up to `timeout`. When the engine does not poll in time the answer is an "engine not
// polling" error, and the request is abandoned: it does nothing if it runs later. The capture
// file is created and closed on the socket thread and written by its sink's writer thread
// (capture/capture_sink.hpp); only the hand-over happens on the engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "capture/capture_port.hpp"
#include "capture/stream_capture.hpp"
#include "control/control_server.hpp"
#include "engine/port.hpp"
#include "factory/device_spec.hpp"
#include "iwarp/device.hpp"
#include "roce/device.hpp"

namespace softrnic::control {

// Receives one counter: its name (counters.hpp's counter_name) and value.
using CounterSink = std::function<void(std::string_view name, std::uint64_t value)>;

// One of device (RoCEv2) or iwarp is set.
struct DeviceControlTarget {
  transport::DeviceSpec spec;
  roce::Device* device = nullptr;
  Port* port = nullptr;                     // the port the device runs on, below any capture
  capture::CapturePort* capture = nullptr;  // nullptr: capture requests are refused
  iwarp::Device* iwarp = nullptr;
  capture::StreamCapture* stream_capture = nullptr;  // iWARP's capture point, or nullptr
  // Feeds the port's own counters to the sink; runs on the engine thread. Empty: the port has none.
  std::function<void(const CounterSink&)> port_counters;
  std::chrono::milliseconds timeout{1000};  // how long a request waits for the engine thread
};

// What can be said of a device from its spec alone: ok, name, proto, port, spec and addresses
// ("a/prefix"). An iWARP device's info answer is this plus limits and capture; devinfo shows it
// for a device that has no socket.
Json spec_info(const transport::DeviceSpec& spec);

// The handler of one device's socket. The target's objects must outlive the handler's use: the
// owner removes the socket (ControlServer::remove or its destructor) before destroying them.
ControlHandler device_control_handler(DeviceControlTarget target);

}  // namespace softrnic::control
