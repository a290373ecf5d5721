// The RoCEv2 backend: a roce::Device and its IB CM (connection_manager.hpp), with the engine's
// shared receive queues, type 2 memory windows and a CM that takes the local port of a connection
// from the caller (it only travels in the RDMA-CM IP private-data header, so several connections
// may share one).
#include <algorithm>
#include <bit>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

#include "backend_factory.hpp"
#include "engine/gid_table.hpp"

namespace softrnic::ndk {
namespace {

roce::Qp* engine(EngineQp* q) { return reinterpret_cast<roce::Qp*>(q); }
const roce::Qp* engine(const EngineQp* q) { return reinterpret_cast<const roce::Qp*>(q); }
roce::Srq* engine(EngineSrq* s) { return reinterpret_cast<roce::Srq*>(s); }
const roce::Srq* engine(const EngineSrq* s) { return reinterpret_cast<const roce::Srq*>(s); }

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

  void for_each_counter(
      const std::function<void(std::string_view, std::uint64_t)>& sink) const override {
    const auto& d = dev_.counters();
    sink("retransmits", d.get(roce::DeviceCounter::retransmits));
    sink("rx_drop_no_recv_wqe", d.get(roce::DeviceCounter::rx_drop_no_recv_wqe));
    sink("cm_retransmits", cm_->counters().get(cm::CmCounter::retransmits));
    sink("cm_timeouts", cm_->counters().get(cm::CmCounter::timeouts));
  }
  QpStats qp_stats(const EngineQp* qp) const override {
    const roce::QpCounters& c = engine(qp)->counters;
    return {c.retransmits, c.timeouts, c.rnr_naks_rx, c.rnr_naks_tx};
  }

  verbs::MemoryTable& memory() override { return dev_.memory(); }
  Result<verbs::Cq*> create_cq(std::uint32_t depth) override { return dev_.create_cq(depth); }
  Result<EngineQp*> create_qp(const roce::QpInit& init, EngineSrq* srq) override {
    roce::QpInit with = init;
    with.srq = srq != nullptr ? engine(srq) : nullptr;
    auto q = dev_.create_qp(with);
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

  // The engine cannot destroy an SRQ: one given back is drained and kept for the next create
  // of the same ring size and SGE count.
  Result<EngineSrq*> create_srq(std::uint32_t capacity, std::uint32_t max_sge,
                                std::function<void()> on_limit) override {
    const std::uint32_t ring = std::bit_ceil(std::max<std::uint32_t>(capacity, 2));
    roce::Srq* srq = nullptr;
    if (auto& pool = spare_srqs_[{ring, max_sge}]; !pool.empty()) {
      srq = pool.back();
      pool.pop_back();
    } else {
      auto made = dev_.create_srq(ring, max_sge);
      if (!made) return std::unexpected(made.error());
      srq = *made;
    }
    srq_handlers_[srq] = std::move(on_limit);
    return reinterpret_cast<EngineSrq*>(srq);
  }
  void destroy_srq(EngineSrq* s) override {
    roce::Srq* srq = engine(s);
    dev_.arm_srq_limit(*srq, 0);
    while (srq->ring.try_pop()) {
    }
    srq_handlers_.erase(srq);
    spare_srqs_[{static_cast<std::uint32_t>(srq->ring.capacity()), srq->max_sge}].push_back(srq);
  }
  Result<void> post_srq_recv(EngineSrq* srq, const roce::RecvWr& wr) override {
    return dev_.post_srq_recv(*engine(srq), wr);
  }
  std::size_t srq_queued(const EngineSrq* srq) const override { return engine(srq)->ring.size(); }
  void arm_srq_limit(EngineSrq* srq, std::uint32_t limit) override {
    dev_.arm_srq_limit(*engine(srq), limit);
  }
  bool has_memory_windows() const override { return true; }
  bool has_shared_endpoints() const override { return true; }

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

  std::size_t poll() override {
    const std::size_t work = dev_.poll() + cm_->poll();
    if (!dev_.events().empty()) deliver_events();
    return work;
  }

 private:
  // The device's asynchronous events: SRQ limits go to their SRQ; the others (QP errors, which
  // the shim sees as flushed completions) are dropped, so the list does not grow for ever.
  void deliver_events() {
    events_.clear();
    events_.swap(dev_.events());
    for (const roce::AsyncEvent& e : events_) {
      if (e.type != roce::AsyncEvent::Type::srq_limit) continue;
      auto* srq = static_cast<roce::Srq*>(const_cast<void*>(e.object));
      // A copy: the callback may close the SRQ, which drops its handler.
      if (auto it = srq_handlers_.find(srq); it != srq_handlers_.end() && it->second) {
        const std::function<void()> fn = it->second;
        fn();
      }
    }
  }

  roce::Device& dev_;
  std::unique_ptr<cm::ConnectionManager> cm_;
  std::unordered_map<const roce::Srq*, std::function<void()>> srq_handlers_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<roce::Srq*>> spare_srqs_;
  std::vector<roce::AsyncEvent> events_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_roce_backend(roce::Device& dev) {
  auto cm = cm::ConnectionManager::create(dev);
  if (!cm) return std::unexpected(cm.error());
  return std::make_unique<RoceBackend>(dev, std::move(*cm));
}

}  // namespace softrnic::ndk
