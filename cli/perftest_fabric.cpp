#include "perftest_fabric.hpp"

#include <algorithm>

#include "engine/gid_table.hpp"

#include <cstring>
#include <thread>

#include "engine/gid_table.hpp"
#include "iwarp/device.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"

namespace softrnic::cli::perftest {
namespace {

using Clk = std::chrono::steady_clock;

// What both device kinds share: QPs and CQs in vectors, one PD.
template <class Dev, class QpT>
class FabricBase : public Fabric {
 public:
  FabricBase(Dev& dev, std::function<void()> poll_all) : dev_(dev), poll_all_(std::move(poll_all)) {}

  Result<void> init() {
    auto pd = dev_.memory().alloc_pd();
    if (!pd) return std::unexpected(pd.error());
    pd_ = *pd;
    return {};
  }
  verbs::MemoryTable& memory() override { return dev_.memory(); }
  verbs::PdHandle pd() const override { return pd_; }
  Result<int> create_qp(std::uint32_t sq_depth, std::uint32_t rq_depth) override {
    auto cq = dev_.create_cq(sq_depth + rq_depth + 16);
    if (!cq) return std::unexpected(cq.error());
    roce::QpInit init;
    init.pd = pd_;
    init.send_cq = init.recv_cq = *cq;
    init.sq_depth = sq_depth;
    init.rq_depth = rq_depth;
    init.max_send_sge = init.max_recv_sge = 1;
    auto qp = dev_.create_qp(init);
    if (!qp) return std::unexpected(qp.error());
    qps_.push_back(*qp);
    cqs_.push_back(*cq);
    return static_cast<int>(qps_.size() - 1);
  }
  std::uint32_t qpn(int qp) const override { return qps_[static_cast<std::size_t>(qp)]->qpn; }
  verbs::Cq& cq(int qp) override { return *cqs_[static_cast<std::size_t>(qp)]; }
  Result<void> post_send(int qp, const roce::SendWr& w) override {
    return dev_.post_send(*qps_[static_cast<std::size_t>(qp)], w);
  }
  Result<void> post_recv(int qp, const roce::RecvWr& w) override {
    return dev_.post_recv(*qps_[static_cast<std::size_t>(qp)], w);
  }

 protected:
  QpT& qp_ref(int qp) { return *qps_[static_cast<std::size_t>(qp)]; }
  Dev& dev_;
  std::function<void()> poll_all_;
  verbs::PdHandle pd_ = 0;
  std::vector<QpT*> qps_;
  std::vector<verbs::Cq*> cqs_;
};

class RoceFabric final : public FabricBase<roce::Device, roce::Qp> {
 public:
  using FabricBase::FabricBase;
  Result<void> start() {
    if (auto r = init(); !r) return r;
    auto m = cm::ConnectionManager::create(dev_, cm::CmConfig{});
    if (!m) return std::unexpected(m.error());
    cm_ = std::move(*m);
    return {};
  }
  bool is_iwarp() const override { return false; }
  void poll() override {
    poll_all_();
    cm_->poll();
  }
  // The GID table as devinfo shows it (link-local first where the device has one), so that -x
  // means what it means to ibv_devinfo and the rdma-core tools; then the device's addresses the
  // table cannot hold (a socket port's loopback address: 127.0.0.1, ::1).
  std::vector<wire::Ipv6Addr> gids() const override {
    std::vector<wire::Ipv6Addr> out;
    const auto& t = dev_.gid_table();
    for (std::size_t i = 0; i < engine::GidTable::kCapacity; ++i)
      if (const auto* e = t.at(i)) out.push_back(e->gid);
    for (const auto& g : dev_.config().gids)
      if (!t.find(g)) out.push_back(g);
    return out;
  }
  std::uint32_t active_mtu(bool ipv6) const override {
    return dev_.active_mtu(ipv6 ? wire::IpVersion::v6 : wire::IpVersion::v4);
  }
  Result<void> connect_direct(int qp, const wire::Ipv6Addr& local_gid, const Dest& peer,
                              std::uint32_t my_psn, std::uint32_t pmtu,
                              std::uint8_t rd_atomic) override {
    roce::QpConnectOptions o;
    o.pmtu = pmtu;
    o.sq_psn = Psn{my_psn};
    o.rd_atomic = rd_atomic;
    o.min_rnr_timer = 12;  // perftest's MIN_RNR_TIMER
    return roce::connect_qp(dev_, qp_ref(qp), local_gid, {peer.qpn, Psn{peer.psn}, peer.gid, {}}, o);
  }
  Result<cm::ListenerId> listen(const cm::Address& a, cm::Handler h) override {
    return cm_->listen(a, std::move(h));
  }
  void stop_listening(cm::ListenerId id) override { (void)cm_->stop_listening(id); }
  Result<cm::ConnId> connect(int qp, const cm::ConnectParams& p, cm::Handler h) override {
    return cm_->connect(qp_ref(qp), p, std::move(h));
  }
  Result<void> accept(cm::ConnId id, int qp, const cm::AcceptParams& p, cm::Handler h) override {
    return cm_->accept(id, qp_ref(qp), p, std::move(h));
  }
  void reject(cm::ConnId id) override { (void)cm_->reject(id); }
  void disconnect(cm::ConnId id) override { (void)cm_->disconnect(id); }

 private:
  std::unique_ptr<cm::ConnectionManager> cm_;
};

class IwarpFabric final : public FabricBase<iwarp::Device, iwarp::Qp> {
 public:
  IwarpFabric(iwarp::Device& dev, std::vector<wire::Ipv6Addr> gids, std::function<void()> poll_all)
      : FabricBase(dev, std::move(poll_all)), gids_(std::move(gids)) {}
  bool is_iwarp() const override { return true; }
  void poll() override { poll_all_(); }
  std::vector<wire::Ipv6Addr> gids() const override { return gids_; }
  std::uint32_t active_mtu(bool) const override { return 1024; }  // MPA has no path MTU; siw says 1024
  Result<void> connect_direct(int, const wire::Ipv6Addr&, const Dest&, std::uint32_t, std::uint32_t,
                              std::uint8_t) override {
    return make_error(Errc::unsupported, "iWARP QPs are connected only through the CM (-R)");
  }
  Result<cm::ListenerId> listen(const cm::Address& a, cm::Handler h) override {
    return dev_.listen(a, std::move(h));
  }
  void stop_listening(cm::ListenerId id) override { (void)dev_.stop_listening(id); }
  Result<cm::ConnId> connect(int qp, const cm::ConnectParams& p, cm::Handler h) override {
    return dev_.connect(qp_ref(qp), p, std::move(h));
  }
  Result<void> accept(cm::ConnId id, int qp, const cm::AcceptParams& p, cm::Handler h) override {
    return dev_.accept(id, qp_ref(qp), p, std::move(h));
  }
  void reject(cm::ConnId id) override { (void)dev_.reject(id); }
  void disconnect(cm::ConnId id) override { (void)dev_.disconnect(id); }

 private:
  std::vector<wire::Ipv6Addr> gids_;
};

}  // namespace

Result<std::unique_ptr<Fabric>> Fabric::roce(roce::Device& dev, std::function<void()> poll_all) {
  auto f = std::make_unique<RoceFabric>(dev, std::move(poll_all));
  if (auto r = f->start(); !r) return std::unexpected(r.error());
  return f;
}

Result<std::unique_ptr<Fabric>> Fabric::iwarp(iwarp::Device& dev, std::vector<wire::Ipv6Addr> gids,
                                              std::function<void()> poll_all) {
  auto f = std::make_unique<IwarpFabric>(dev, std::move(gids), std::move(poll_all));
  if (auto r = f->init(); !r) return std::unexpected(r.error());
  return f;
}

// ---------------------------------------------------------------------------------------------
CmLink::~CmLink() {
  if (listener_ != 0) f_.stop_listening(listener_);
}

Result<void> CmLink::listen(const cm::Address& a) {
  auto l = f_.listen(a, [this](const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::connect_request) requests_.push_back(e);
  });
  if (!l) return std::unexpected(l.error());
  listener_ = *l;
  return {};
}

Result<void> CmLink::wait_for(Waiter& w, std::chrono::milliseconds limit) {
  const auto deadline = Clk::now() + limit;
  while (!w.established && !w.failed) {
    f_.poll();
    if (stop_ && stop_()) return make_error(Errc::busy, "interrupted");
    if (Clk::now() > deadline)
      return make_error(Errc::io_error, "the CM connection was not established within " +
                                            std::to_string(limit.count() / 1000) + " s");
  }
  if (w.failed) return make_error(Errc::io_error, w.problem);
  return {};
}

Result<void> CmLink::accept_next(int qp, std::uint8_t rd_atomic, std::chrono::milliseconds wait) {
  const auto deadline = Clk::now() + wait;
  while (requests_.empty()) {
    f_.poll();
    if (stop_ && stop_()) return make_error(Errc::busy, "interrupted while waiting for a client");
    if (wait.count() > 0 && Clk::now() > deadline)
      return make_error(Errc::io_error, "no CM connect request within " +
                                            std::to_string(wait.count() / 1000) + " s");
  }
  const cm::CmEvent req = requests_.front();
  requests_.pop_front();
  waiters_.push_back(std::make_unique<Waiter>());
  Waiter* w = waiters_.back().get();
  cm::AcceptParams ap;
  ap.responder_resources = std::min(rd_atomic, req.initiator_depth == 0 ? rd_atomic : req.initiator_depth);
  ap.initiator_depth = std::min(rd_atomic, req.responder_resources == 0 ? rd_atomic : req.responder_resources);
  auto r = f_.accept(req.conn, qp, ap, [w](const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::established) w->established = true;
    else if (e.type == cm::CmEvent::Type::disconnected) w->disconnected = true;
    else {
      w->failed = true;
      w->problem = std::string("CM ") + std::string(cm::event_name(e.type)) + " " + e.message;
    }
  });
  if (!r) return r;
  conns_.push_back(req.conn);
  conn_waiters_.push_back(w);
  return wait_for(*w, timeout_);
}

Result<void> CmLink::connect(int qp, const cm::Address& remote,
                             const std::optional<wire::Ipv6Addr>& local, std::uint8_t rd_atomic) {
  std::string last;
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (attempt > 0) {
      const auto until = Clk::now() + std::chrono::milliseconds(100);
      while (Clk::now() < until) f_.poll();
    }
    waiters_.push_back(std::make_unique<Waiter>());
    Waiter* w = waiters_.back().get();
    cm::ConnectParams p;
    p.remote = remote;
    p.local_ip = local;
    p.responder_resources = rd_atomic;
    p.initiator_depth = rd_atomic;
    auto id = f_.connect(qp, p, [w](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::established) w->established = true;
      else if (e.type == cm::CmEvent::Type::disconnected) w->disconnected = true;
      else {
        w->failed = true;
        w->problem = std::string("CM ") + std::string(cm::event_name(e.type)) +
                     (e.type == cm::CmEvent::Type::rejected
                          ? " (reason " + std::to_string(e.reject_reason) + ")"
                          : "") +
                     (e.message.empty() ? "" : ": " + e.message);
      }
    });
    if (!id) return std::unexpected(id.error());
    auto r = wait_for(*w, timeout_);
    if (r) {
      conns_.push_back(*id);
      conn_waiters_.push_back(w);
      return {};
    }
    last = r.error().message;
    if (!w->failed) return r;  // a timeout or an interrupt: no point in retrying
  }
  return make_error(Errc::io_error, "CM connect to " + cm::to_string(remote) + " failed 10 times: " + last);
}

void CmLink::await_peer_disconnect(std::chrono::milliseconds grace) {
  const auto deadline = Clk::now() + grace;
  const auto all_gone = [this] {
    return std::all_of(conn_waiters_.begin(), conn_waiters_.end(),
                       [](const Waiter* w) { return w->disconnected || w->failed; });
  };
  while (!all_gone() && Clk::now() < deadline && !(stop_ && stop_())) f_.poll();
}

void CmLink::disconnect_all() {
  for (auto id : conns_) f_.disconnect(id);
  conns_.clear();
  conn_waiters_.clear();
  const auto until = Clk::now() + std::chrono::milliseconds(50);
  while (Clk::now() < until) f_.poll();
}

// ---------------------------------------------------------------------------------------------
Result<std::unique_ptr<CmChannel>> CmChannel::create(Fabric& f, int qp,
                                                     std::chrono::milliseconds timeout) {
  auto c = std::unique_ptr<CmChannel>(new CmChannel(f, qp, timeout));
  auto key = f.memory().register_mr(f.pd(), c->buf_.data(), c->buf_.size(), 0,
                                    verbs::kLocalWrite | verbs::kZeroBased);
  if (!key) return std::unexpected(key.error());
  c->key_ = *key;
  // iWARP takes receives before the connection exists (so the peer's first Send always finds
  // one); a RoCEv2 QP in RESET does not, and its receives wait for ready().
  c->posted_ = c->post_slot(0).has_value();
  for (std::size_t s = 1; c->posted_ && s < kSlots; ++s)
    if (auto r = c->post_slot(s); !r) return std::unexpected(r.error());
  return c;
}

Result<void> CmChannel::ready() {
  for (std::size_t s = 0; !posted_ && s < kSlots; ++s)
    if (auto r = post_slot(s); !r) return r;
  posted_ = true;
  return {};
}

Result<void> CmChannel::post_slot(std::size_t slot) {
  roce::RecvWr w;
  w.wr_id = slot;
  w.num_sge = 1;
  w.sg[0] = {slot * kSlotBytes, static_cast<std::uint32_t>(kSlotBytes), key_};
  return f_.post_recv(qp_, w);
}

Result<void> CmChannel::write(std::span<const std::byte> m) {
  if (m.size() > kSlotBytes) return make_error(Errc::invalid_argument, "control message too long");
  std::memcpy(buf_.data() + kSlots * kSlotBytes, m.data(), m.size());
  roce::SendWr w;
  w.wr_id = ~0ull;
  w.opcode = verbs::WrOpcode::send;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {kSlots * kSlotBytes, static_cast<std::uint32_t>(m.size()), key_};
  if (auto r = f_.post_send(qp_, w); !r) return r;
  const auto deadline = Clk::now() + timeout_;
  for (;;) {
    f_.poll();
    verbs::Cqe e[8];
    const std::size_t n = f_.cq(qp_).poll(e);
    bool sent = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (e[i].status != verbs::WcStatus::success) {
        // A receive flushed by the peer's disconnect after its last message is not an error yet.
        if (e[i].opcode != verbs::WcOpcode::recv && e[i].wr_id == ~0ull)
          return make_error(Errc::io_error, "control QP: " + std::string(verbs::to_string(e[i].status)));
        if (error_.empty()) error_ = std::string(verbs::to_string(e[i].status));
      } else if (e[i].opcode == verbs::WcOpcode::recv) {
        arrived_.emplace_back(static_cast<std::size_t>(e[i].wr_id), e[i].byte_len);
      } else {
        sent = true;
      }
    }
    if (sent) return {};
    if (Clk::now() > deadline)
      return make_error(Errc::io_error, "the peer did not take a control message within " +
                                            std::to_string(timeout_.count() / 1000) + " s");
  }
}

Result<void> CmChannel::read(std::span<std::byte> m) {
  const auto deadline = Clk::now() + timeout_;
  while (arrived_.empty()) {
    f_.poll();
    verbs::Cqe e[8];
    const std::size_t n = f_.cq(qp_).poll(e);
    for (std::size_t i = 0; i < n; ++i) {
      if (e[i].status != verbs::WcStatus::success) {
        if (error_.empty()) error_ = std::string(verbs::to_string(e[i].status));
      } else if (e[i].opcode == verbs::WcOpcode::recv) {
        arrived_.emplace_back(static_cast<std::size_t>(e[i].wr_id), e[i].byte_len);
      }
    }
    if (arrived_.empty() && !error_.empty())
      return make_error(Errc::io_error, "control QP: " + error_ + " (the peer closed the connection)");
    if (arrived_.empty() && Clk::now() > deadline)
      return make_error(Errc::io_error, "the peer did not answer within " +
                                            std::to_string(timeout_.count() / 1000) + " s");
  }
  const auto [slot, len] = arrived_.front();
  arrived_.pop_front();
  if (!error_.empty()) {  // the connection is gone: nothing to repost
    std::memcpy(m.data(), buf_.data() + slot * kSlotBytes, std::min<std::size_t>(m.size(), len));
    return len < m.size() ? make_error(Errc::malformed, "short control message") : Result<void>{};
  }
  if (len < m.size())
    return make_error(Errc::malformed, "control message of " + std::to_string(len) +
                                           " bytes, expected " + std::to_string(m.size()));
  std::memcpy(m.data(), buf_.data() + slot * kSlotBytes, m.size());
  return post_slot(slot);
}

}  // namespace softrnic::cli::perftest
