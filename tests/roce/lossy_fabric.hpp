// Two devices over the loopback wire with seeded fault injectors in both directions.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "fault/fault_port.hpp"
#include "harness.hpp"
#include "loopback/loopback_port.hpp"

namespace softrnic::roce::test {

enum class Fault { none, loss1, loss10, reorder, duplicate, corrupt };

inline std::string fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "none";
    case Fault::loss1: return "loss1";
    case Fault::loss10: return "loss10";
    case Fault::reorder: return "reorder";
    case Fault::duplicate: return "duplicate";
    case Fault::corrupt: return "corrupt";
  }
  return "?";
}

inline transport::FaultConfig fault_config(Fault f, std::uint64_t seed) {
  transport::FaultConfig c;
  c.seed = seed;
  switch (f) {
    case Fault::none: break;
    case Fault::loss1: c.drop = 0.01; break;
    case Fault::loss10: c.drop = 0.10; break;
    case Fault::reorder: c.reorder = 0.05; c.reorder_window = 8; break;
    case Fault::duplicate: c.duplicate = 0.05; break;
    case Fault::corrupt: c.corrupt = 0.02; break;
  }
  return c;
}

// SOFTRNIC_FAULT_SEED changes the seeds (soak runs loop over it); the default run is fixed.
inline std::uint64_t seed_base() {
  const char* e = std::getenv("SOFTRNIC_FAULT_SEED");
  return e ? std::strtoull(e, nullptr, 10) : 0;
}

struct LossyPair {
  explicit LossyPair(Fault f) {
    transport::LoopbackConfig lc;
    lc.pool_packets = 4096;
    lc.rx_ring_packets = 2048;
    wire = *transport::LoopbackWire::create(lc);
    fa = *transport::FaultPort::create(wire->a(), fault_config(f, 11 + 1000 * seed_base()));
    fb = *transport::FaultPort::create(wire->b(), fault_config(f, 29 + 1000 * seed_base()));
    devs = std::make_unique<TwoDevices>(*fa, *fb, clock);
  }
  ~LossyPair() {
    devs.reset();
    fa.reset();
    fb.reset();
  }
  VirtualClock clock;
  std::unique_ptr<transport::LoopbackWire> wire;
  std::unique_ptr<transport::FaultPort> fa, fb;
  std::unique_ptr<TwoDevices> devs;
};

}  // namespace softrnic::roce::test
