// The device pairs of `softrnic demo`, each connected through its connection manager and handed
// to the workload as a QpPair:
//   - RoCEv2: devices a and b from the spec grammar, on a DPDK net_ring pair (no hugepages, no
//     NIC) or, when DPDK cannot start, on the in-memory loopback wire; optionally a FaultPort on
//     both ends (--loss) and a CapturePort under a's (--capture). Connections by the RoCEv2 CM.
//   - iWARP: two proto=iwarp devices on the kernel's loopback TCP (io_uring), connected by MPA;
//     with --capture, ia's TCP streams recorded with synthesized headers (StreamCapture).
// The ports are assembled here rather than by DeviceSet because the decorators go between the
// device and its port.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "capture/capture_sink.hpp"
#include "demo_workload.hpp"
#include "wire/ip.hpp"

namespace softrnic::cli {

struct RoceRigOptions {
  double loss = 0;  // probability per frame on each end, 0..1
  std::uint64_t seed = 1;
  // Where device a's frames are captured while the rig lives (the caller closes it after the
  // rig is gone); none when nullptr.
  std::shared_ptr<capture::CaptureSink> capture;
  bool loopback = false;  // the in-memory loopback wire even when DPDK could start
};

// A connected pair: the rig owns the devices, the QPs and the connections behind pair().
class Rig {
 public:
  virtual ~Rig() = default;
  // Connects a new QP pair over IPv4 or IPv6 (A connects, B listens and accepts), checking the
  // private data both ways. The pair stays valid while the rig lives.
  [[nodiscard]] virtual Result<QpPair*> connect(wire::IpVersion ip) = 0;
  // Disconnects what connect() made and lets the devices settle briefly.
  virtual void disconnect_all() = 0;
};

struct RoceRigInfo {
  std::string wire;  // what the pair runs on
  std::string note;  // why it is not net_ring, when it is not
};

[[nodiscard]] Result<std::unique_ptr<Rig>> make_roce_rig(const RoceRigOptions& opts, Clock& clock,
                                                         RoceRigInfo& info);
// capture: where ia's streams are recorded while the rig lives (nullptr: nowhere).
[[nodiscard]] Result<std::unique_ptr<Rig>> make_iwarp_rig(
    Clock& clock, std::shared_ptr<capture::CaptureSink> capture = nullptr);

}  // namespace softrnic::cli
