// What the NDK objects need from an engine device, whatever its wire protocol: the verbs objects,
// the work-request rings and connection management by IP address. One implementation per wire
// protocol (backend_roce.cpp, backend_iwarp.cpp); the NDK objects never see which one they use.
//
// Threads: every call except post_send/post_recv runs on the engine thread (runtime.hpp).
// post_send/post_recv are called from one consumer thread per queue, as the engines allow.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "cm/connection_manager.hpp"
#include "ndkinfo.h"
#include "roce/wr.hpp"
#include "verbs/cq.hpp"
#include "verbs/limits.hpp"
#include "verbs/memory.hpp"

namespace softrnic::ndk {

// An engine QP as the backend made it (roce::Qp or iwarp::Qp), and an engine SRQ (roce::Srq).
struct EngineQp;
struct EngineSrq;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual NDK_RDMA_TECHNOLOGY technology() const = 0;
  virtual const verbs::DeviceLimits& limits() const = 0;
  // The device's addresses as GIDs (IPv4 as ::ffff:a.b.c.d).
  virtual std::vector<wire::Ipv6Addr> addresses() const = 0;
  // Private-data limits of the connection protocol (connect; accept and reject).
  virtual std::uint32_t max_caller_data() const = 0;
  virtual std::uint32_t max_callee_data() const = 0;
  // Bytes and frames moved so far (the NDK performance counters 26..29).
  struct Traffic {
    std::uint64_t in_octets = 0, out_octets = 0, in_frames = 0, out_frames = 0;
  };
  virtual Traffic traffic() const = 0;
  // Recovery counters for test-mode reports (engine thread): the device's (retransmits, ...) as
  // name-value pairs, and one QP's RNR NAKs and retransmissions. Backends without them report none.
  virtual void for_each_counter(
      const std::function<void(std::string_view, std::uint64_t)>& /*sink*/) const {}
  struct QpStats {
    std::uint64_t retransmits = 0, timeouts = 0, rnr_naks_rx = 0, rnr_naks_tx = 0;
  };
  virtual QpStats qp_stats(const EngineQp* /*qp*/) const { return {}; }

  virtual verbs::MemoryTable& memory() = 0;
  [[nodiscard]] virtual Result<verbs::Cq*> create_cq(std::uint32_t depth) = 0;
  // `srq`: the QP takes its receives from that SRQ instead of a receive queue of its own.
  [[nodiscard]] virtual Result<EngineQp*> create_qp(const roce::QpInit& init,
                                                    EngineSrq* srq = nullptr) = 0;
  virtual void destroy_qp(EngineQp* qp) = 0;
  virtual std::uint32_t qpn(const EngineQp* qp) const = 0;
  // Whether the QP still waits for its connection (receives are held by the shim until then).
  virtual bool in_reset(const EngineQp* qp) const = 0;
  // Whether the engine takes receives on a QP that is not connected yet (iWARP) rather than
  // refusing them until the connection moves it out of RESET (RoCE); the shim holds them then.
  virtual bool takes_receives_before_connection() const = 0;
  // Whether send-queue work may be posted (the connection is up or has failed).
  virtual bool can_send(const EngineQp* qp) const = 0;
  // Moves the QP to the error state: every queued and later work request completes flushed.
  virtual void flush(EngineQp* qp) = 0;

  [[nodiscard]] virtual Result<void> post_send(EngineQp* qp, const roce::SendWr& wr) = 0;
  [[nodiscard]] virtual Result<void> post_recv(EngineQp* qp, const roce::RecvWr& wr) = 0;

  // Shared receive queues. A backend without them reports max_srq_wr 0 in limits() and keeps
  // these defaults. Engine thread, except post_srq_recv and srq_queued (the SRQ's one posting
  // thread).
  [[nodiscard]] virtual Result<EngineSrq*> create_srq(std::uint32_t /*capacity*/,
                                                      std::uint32_t /*max_sge*/,
                                                      std::function<void()> /*on_limit*/) {
    return make_error(Errc::unsupported, "no shared receive queues on this device");
  }
  // Once no QP uses it any more: its queued receives are dropped, its limit callback is gone.
  virtual void destroy_srq(EngineSrq* /*srq*/) {}
  [[nodiscard]] virtual Result<void> post_srq_recv(EngineSrq* /*srq*/, const roce::RecvWr& /*wr*/) {
    return make_error(Errc::unsupported, "no shared receive queues on this device");
  }
  virtual std::size_t srq_queued(const EngineSrq* /*srq*/) const { return 0; }
  // One on_limit call when fewer than `limit` receives remain queued (0 disarms).
  virtual void arm_srq_limit(EngineSrq* /*srq*/, std::uint32_t /*limit*/) {}

  // Memory windows: bind_mw work requests and local invalidation of windows.
  virtual bool has_memory_windows() const { return false; }
  // Whether connect() honours ConnectParams::local_port for several connections at once (what a
  // shared endpoint needs).
  virtual bool has_shared_endpoints() const { return false; }

  [[nodiscard]] virtual Result<cm::ListenerId> listen(const cm::Address& local,
                                                      cm::Handler handler) = 0;
  // Listeners that cannot be removed from the engine are left to the shim's filtering.
  virtual void stop_listening(cm::ListenerId id) = 0;
  [[nodiscard]] virtual Result<cm::ConnId> connect(EngineQp* qp, const cm::ConnectParams& p,
                                                   cm::Handler handler) = 0;
  [[nodiscard]] virtual Result<void> accept(cm::ConnId id, EngineQp* qp,
                                            const cm::AcceptParams& p, cm::Handler handler) = 0;
  [[nodiscard]] virtual Result<void> reject(cm::ConnId id,
                                            std::span<const std::byte> private_data) = 0;
  [[nodiscard]] virtual Result<void> disconnect(cm::ConnId id) = 0;

  // One engine iteration: the device, then its connection management.
  virtual std::size_t poll() = 0;
};

}  // namespace softrnic::ndk
