// The iWARP backend: an iwarp::Device, whose connections (MPA over TCP) use the CM's calls and
// events. RC only; fast-register, type 2 window binds and local invalidation run from the send
// queue as on RoCEv2, so the shim offers memory windows here too.
#include <memory>

#include "backend_factory.hpp"

namespace softrnic::ndk {
namespace {

iwarp::Qp* engine(EngineQp* q) { return reinterpret_cast<iwarp::Qp*>(q); }
const iwarp::Qp* engine(const EngineQp* q) { return reinterpret_cast<const iwarp::Qp*>(q); }

class IwarpBackend final : public Backend {
 public:
  IwarpBackend(iwarp::Device& dev, std::vector<wire::Ipv6Addr> ips)
      : dev_(dev), ips_(std::move(ips)), limits_(without_srq(dev.config().limits)) {}

  NDK_RDMA_TECHNOLOGY technology() const override { return NdkiWarp; }
  const verbs::DeviceLimits& limits() const override { return limits_; }
  std::vector<wire::Ipv6Addr> addresses() const override { return ips_; }
  std::uint32_t max_caller_data() const override {
    return static_cast<std::uint32_t>(iwarp::kMaxPrivateData);
  }
  std::uint32_t max_callee_data() const override {
    return static_cast<std::uint32_t>(iwarp::kMaxPrivateData);
  }
  Traffic traffic() const override {
    const auto& c = dev_.counters();
    return {c.get(iwarp::IwarpCounter::bytes_rx), c.get(iwarp::IwarpCounter::bytes_tx),
            c.get(iwarp::IwarpCounter::fpdus_rx), c.get(iwarp::IwarpCounter::fpdus_tx)};
  }

  verbs::MemoryTable& memory() override { return dev_.memory(); }
  Result<verbs::Cq*> create_cq(std::uint32_t depth) override { return dev_.create_cq(depth); }
  Result<EngineQp*> create_qp(const roce::QpInit& init, EngineSrq* srq) override {
    if (srq != nullptr) return make_error(Errc::unsupported, "no shared receive queues on iWARP");
    auto q = dev_.create_qp(init);
    if (!q) return std::unexpected(q.error());
    return reinterpret_cast<EngineQp*>(*q);
  }
  void destroy_qp(EngineQp* qp) override { (void)dev_.destroy_qp(engine(qp)); }
  std::uint32_t qpn(const EngineQp* qp) const override { return engine(qp)->qpn; }
  bool in_reset(const EngineQp* qp) const override {
    return engine(qp)->posted_state.load(std::memory_order_acquire) == verbs::QpState::reset;
  }
  bool takes_receives_before_connection() const override { return true; }
  bool can_send(const EngineQp* qp) const override {
    const auto s = engine(qp)->posted_state.load(std::memory_order_acquire);
    return s == verbs::QpState::rts || s == verbs::QpState::err;
  }
  // Also from RESET: receives posted before the connection complete flushed.
  void flush(EngineQp* qp) override { dev_.fail_qp(*engine(qp), "flushed by the consumer", false); }

  Result<void> post_send(EngineQp* qp, const roce::SendWr& wr) override {
    return dev_.post_send(*engine(qp), wr);
  }
  Result<void> post_recv(EngineQp* qp, const roce::RecvWr& wr) override {
    return dev_.post_recv(*engine(qp), wr);
  }

  Result<cm::ListenerId> listen(const cm::Address& local, cm::Handler handler) override {
    return dev_.listen(local, std::move(handler));
  }
  void stop_listening(cm::ListenerId id) override { (void)dev_.stop_listening(id); }
  Result<cm::ConnId> connect(EngineQp* qp, const cm::ConnectParams& p,
                             cm::Handler handler) override {
    return dev_.connect(*engine(qp), p, std::move(handler));
  }
  Result<void> accept(cm::ConnId id, EngineQp* qp, const cm::AcceptParams& p,
                      cm::Handler handler) override {
    return dev_.accept(id, *engine(qp), p, std::move(handler));
  }
  Result<void> reject(cm::ConnId id, std::span<const std::byte> private_data) override {
    return dev_.reject(id, private_data);
  }
  Result<void> disconnect(cm::ConnId id) override { return dev_.disconnect(id); }

  bool has_memory_windows() const override { return true; }

  std::size_t poll() override { return dev_.poll(); }

 private:
  // The iWARP engine has no SRQs: the adapter reports none (MaxSrqDepth 0) and the shim refuses
  // them. Shared endpoints stay off too (has_shared_endpoints): the TCP transport binds each
  // connecting socket alone (no SO_REUSEADDR), so a second connection from the same local port
  // would fail, and it cannot hold a port reserved without a connection.
  static verbs::DeviceLimits without_srq(verbs::DeviceLimits l) {
    l.max_srq = 0;
    l.max_srq_wr = 0;
    return l;
  }

  iwarp::Device& dev_;
  std::vector<wire::Ipv6Addr> ips_;
  verbs::DeviceLimits limits_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_iwarp_backend(iwarp::Device& dev,
                                                    std::vector<wire::Ipv6Addr> ips) {
  return std::make_unique<IwarpBackend>(dev, std::move(ips));
}

}  // namespace softrnic::ndk
