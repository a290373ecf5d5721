// The shim's process-wide state, built on first use: the devices named by SOFTRNIC_DEVICES (specs
// separated by ';') or by the config file SOFTRNIC_CONFIG, one backend per device, and one engine
// thread that polls every device, its connection management and the shim's control queue.
//
// Interface indexes: a device on a kernel interface (af_packet, af_xdp, tap with iface=) has that
// interface's ifindex; every other device gets kIfIndexBase + its position in the list. Kernel
// ifindexes are allocated upwards from 1 and never come near 2^30, so the two cannot clash.
//
// Threads: control operations of the NDK objects run on the engine thread (post/run_and_wait);
// NDK callbacks are made from it. The data path posts straight to the engine's rings.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.hpp"
#include "ndk_ndis.h"
#include "ndk_windows_types.h"

namespace softrnic::transport {
class LinkFaultPort;
}

namespace softrnic::ndk {

inline constexpr NET_IFINDEX kIfIndexBase = 0x40000000;

// Connection counters of NDIS_NDK_PERFORMANCE_COUNTERS (fields 0..4 and 25), per device.
struct ConnectionCounters {
  std::atomic<std::uint64_t> connect{0}, accept{0}, connect_failure{0}, connection_error{0},
      active{0}, cq_error{0};
};

struct DeviceEntry {
  std::string name;
  NET_IFINDEX ifindex = 0;
  std::unique_ptr<Backend> backend;
  // The device's fault stage (RoCEv2 devices; null on iWARP): SOFTRNIC_FAULTS and scenarios.
  transport::LinkFaultPort* faults = nullptr;
  // QPContext of every QP by QPN, written before the QP is handed out, read by GetCqResults.
  // Indexed by the QPN's slot bits (verbs::qpn_slot_mask); the whole QPN is kept beside it.
  std::unique_ptr<std::atomic<void*>[]> qp_context;
  std::unique_ptr<std::atomic<std::uint32_t>[]> qp_context_qpn;
  std::uint32_t qp_context_mask = 0;
  void set_qp_context(std::uint32_t qpn, void* ctx) {
    const std::uint32_t i = qpn & qp_context_mask;
    qp_context[i].store(ctx);
    qp_context_qpn[i].store(qpn);
  }
  // Only while the slot still names this QPN: a QP made since in the same slot keeps its own.
  void clear_qp_context(std::uint32_t qpn) {
    const std::uint32_t i = qpn & qp_context_mask;
    std::uint32_t expected = qpn;
    if (qp_context_qpn[i].compare_exchange_strong(expected, 0)) qp_context[i].store(nullptr);
  }
  void* qp_context_of(std::uint32_t qpn) const {
    const std::uint32_t i = qpn & qp_context_mask;
    void* ctx = qp_context[i].load();
    return qp_context_qpn[i].load() == qpn ? ctx : nullptr;
  }
  ConnectionCounters counters;
  // Engine thread: local addresses held by listening listeners and by shared endpoints, so that
  // neither takes the other's port (reference 3.5, endpoint reference counting).
  std::vector<cm::Address> listener_endpoints, shared_endpoints;
};

class Runtime {
 public:
  // The runtime, built on first call; nullptr (and *status set) when the devices cannot be built.
  static Runtime* instance(NTSTATUS* status);
  ~Runtime();

  DeviceEntry* find(NET_IFINDEX ifindex);
  std::vector<DeviceEntry*> devices();

  // Runs fn on the engine thread at its next iteration.
  void post(std::function<void()> fn);
  // Runs fn on the engine thread and waits for it (at once when already there).
  void run_and_wait(const std::function<void()>& fn);
  bool on_engine_thread() const;
  // Destroys an engine QP once the connection protocol can no longer refer to it (engine thread).
  void retire_qp(DeviceEntry& dev, EngineQp* qp);

 private:
  Runtime() = default;
  [[nodiscard]] Result<void> build();
  std::size_t poll_control();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace softrnic::ndk
