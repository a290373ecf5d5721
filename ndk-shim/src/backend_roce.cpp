// The RoCEv2 backend: a roce::Device and its IB CM (connection_manager.hpp).
#include <memory>

#include "backend_factory.hpp"
#include "engine/gid_table.hpp"

namespace softrnic::ndk {
namespace {

roce::Qp* engine(EngineQp* q) { return reinterpret_cast<roce::Qp*>(q); }
const roce::Qp* engine(const EngineQp* q) { return reinterpret_cast<const roce::Qp*>(q); }

class RoceBackend final : public Backend {
 public:
  RoceBackend(roce::Device& dev, std::unique_ptr<cm::ConnectionManager> cm)
      : dev_(dev), cm_(std::move(cm)) {}

  NDK_RDMA_TECHNOLOGY technology() const override { return NdkRoCEv2; }
  const verbs::DeviceLimits& limits() const override { return dev_.config().limits; }
  std::vector<wire::Ipv6Addr> addresses() const override { return dev_.config().gids; }
  std::uint32_t max_caller_data() const override { return limits().max_connect_private_data; }
  std::uint32_t max_callee_data() const override {
    return std::min(limits().max_accept_private_data, limits().max_reject_private_data);
  }
  Traffic traffic() const override {
    const auto& c = dev_.counters();
    return {c.get(roce::DeviceCounter::rx_bytes), c.get(roce::DeviceCounter::tx_bytes),
            c.get(roce::DeviceCounter::rx_packets), c.get(roce::DeviceCounter::tx_packets)};
  }

  verbs::MemoryTable& memory() override { return dev_.memory(); }
  Result<verbs::Cq*> create_cq(std::uint32_t depth) override { return dev_.create_cq(depth); }
  Result<EngineQp*> create_qp(const roce::QpInit& init) override {
    auto q = dev_.create_qp(init);
    if (!q) return std::unexpected(q.error());
    return reinterpret_cast<EngineQp*>(*q);
  }
  void destroy_qp(EngineQp* qp) override { (void)dev_.destroy_qp(engine(qp)); }
  std::uint32_t qpn(const EngineQp* qp) const override { return engine(qp)->qpn; }
  bool in_reset(const EngineQp* qp) const override {
    return engine(qp)->posted_state.load(std::memory_order_acquire) == verbs::QpState::reset;
  }
  bool takes_receives_before_connection() const override { return false; }
  bool can_send(const EngineQp* qp) const override {
    const auto s = engine(qp)->posted_state.load(std::memory_order_acquire);
    return s != verbs::QpState::reset && s != verbs::QpState::init && s != verbs::QpState::rtr;
  }
  void flush(EngineQp* qp) override {
    roce::QpAttrs a;
    a.state = verbs::QpState::err;
    (void)dev_.modify_qp(*engine(qp), a, verbs::kAttrState);
  }

  Result<void> post_send(EngineQp* qp, const roce::SendWr& wr) override {
    return dev_.post_send(*engine(qp), wr);
  }
  Result<void> post_recv(EngineQp* qp, const roce::RecvWr& wr) override {
    return dev_.post_recv(*engine(qp), wr);
  }

  Result<cm::ListenerId> listen(const cm::Address& local, cm::Handler handler) override {
    return cm_->listen(local, std::move(handler));
  }
  void stop_listening(cm::ListenerId id) override { (void)cm_->stop_listening(id); }
  Result<cm::ConnId> connect(EngineQp* qp, const cm::ConnectParams& p,
                             cm::Handler handler) override {
    return cm_->connect(*engine(qp), p, std::move(handler));
  }
  Result<void> accept(cm::ConnId id, EngineQp* qp, const cm::AcceptParams& p,
                      cm::Handler handler) override {
    return cm_->accept(id, *engine(qp), p, std::move(handler));
  }
  Result<void> reject(cm::ConnId id, std::span<const std::byte> private_data) override {
    return cm_->reject(id, private_data);
  }
  Result<void> disconnect(cm::ConnId id) override { return cm_->disconnect(id); }

  std::size_t poll() override { return dev_.poll() + cm_->poll(); }

 private:
  roce::Device& dev_;
  std::unique_ptr<cm::ConnectionManager> cm_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_roce_backend(roce::Device& dev) {
  auto cm = cm::ConnectionManager::create(dev);
  if (!cm) return std::unexpected(cm.error());
  return std::make_unique<RoceBackend>(dev, std::move(*cm));
}

}  // namespace softrnic::ndk
