#include "demo_rigs.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "capture/capture_port.hpp"
#include "capture/stream_capture.hpp"
#include "cm/connection_manager.hpp"
#include "dpdk/dpdk_port.hpp"
#include "factory/device_set.hpp"
#include "factory/device_spec.hpp"
#include "fault/fault_port.hpp"
#include "iwarp/device.hpp"
#include "loopback/loopback_port.hpp"
#include "roce/device.hpp"

namespace softrnic::cli {

namespace {

using Clk = std::chrono::steady_clock;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr std::uint16_t kRoceServicePort = 18515;  // perftest's default port, as a CM service ID

constexpr const char* kRoceSpecs[2][2] = {
    {"name=a,port=ring:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64",
     "name=b,port=ring:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64"},
    {"name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64",
     "name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64"},
};
constexpr const char* kIwarpSpecs[2] = {
    "name=ia,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128",
    "name=ib,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128",
};

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

std::string text_of(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string hello(wire::IpVersion ip) {
  return std::string("softrnic demo: hello over ") + (ip == wire::IpVersion::v4 ? "IPv4" : "IPv6");
}
std::string welcome(wire::IpVersion ip) {
  return std::string("softrnic demo: welcome over ") +
         (ip == wire::IpVersion::v4 ? "IPv4" : "IPv6");
}

// The address of a spec of that family, in GID form.
wire::Ipv6Addr address_of(const transport::DeviceSpec& s, wire::IpVersion ip) {
  return ip == wire::IpVersion::v4 ? wire::ipv4_mapped(s.ip4.front().addr) : s.ip6.front().addr;
}

// What both ends of one connection share while it is made: the QPs, events and problems.
template <class QpT>
struct Conn {
  wire::IpVersion ip = wire::IpVersion::v4;
  verbs::Cq* cq[2] = {nullptr, nullptr};
  QpT* qp[2] = {nullptr, nullptr};
  cm::ConnId id[2] = {0, 0};
  bool established[2] = {false, false};
  std::string problem;
  QpPair pair;

  // The active side's handler: the server's private data must come back in the REP.
  cm::Handler active() {
    return [this](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::established) {
        if (text_of(e.private_data).rfind(welcome(ip), 0) != 0)
          problem = "the accept carried '" + text_of(e.private_data) + "', not the welcome";
        established[0] = true;
      } else if (e.type != cm::CmEvent::Type::disconnected) {
        problem = std::string("A: ") + std::string(cm::event_name(e.type)) + " " + e.message;
      }
    };
  }
  cm::Handler passive() {
    return [this](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::established) {
        established[1] = true;
      } else if (e.type != cm::CmEvent::Type::disconnected) {
        problem = std::string("B: ") + std::string(cm::event_name(e.type)) + " " + e.message;
      }
    };
  }
};

// The passive side's answer to a connect request for the connection being made: accept it with
// the welcome when it carries the greeting, refuse anything else. Listener is the RoCEv2 CM or an
// iWARP device: both take the same accept/reject calls.
template <class Listener, class QpT>
void answer_request(Listener& l, Conn<QpT>* c, const cm::CmEvent& e) {
  if (e.type != cm::CmEvent::Type::connect_request) return;
  if (c == nullptr || text_of(e.private_data).rfind(hello(c->ip), 0) != 0) {
    if (c != nullptr) c->problem = "the request carried '" + text_of(e.private_data) + "'";
    (void)l.reject(e.conn);
    return;
  }
  const auto pd = bytes_of(welcome(c->ip));
  cm::AcceptParams ap;
  ap.private_data = pd;
  c->id[1] = e.conn;
  if (auto r = l.accept(e.conn, *c->qp[1], ap, c->passive()); !r)
    c->problem = "accept: " + r.error().message;
}

// Polls until both ends are established, a problem shows or the time is up.
template <class C, class Poll>
Result<void> wait_established(C& c, Poll&& poll) {
  const auto deadline = Clk::now() + kConnectTimeout;
  while (!(c.established[0] && c.established[1]) && c.problem.empty() && Clk::now() < deadline)
    poll();
  if (!c.problem.empty()) return make_error(Errc::io_error, c.problem);
  if (!(c.established[0] && c.established[1]))
    return make_error(Errc::io_error, "the connection was not established within 10 s");
  return {};
}

// ---------------------------------------------------------------------------------------------
class RoceRig final : public Rig {
 public:
  explicit RoceRig(Clock& clock) : clock_(clock) {}
  ~RoceRig() override {
    // Connection managers go before the devices, devices before the decorators and ports
    // (member order); the capture's sink stays the caller's.
    conns_.clear();
    for (auto& c : cm_) c.reset();
    for (auto& d : dev_) d.reset();
    if (capture_) (void)capture_->stop();
  }

  Result<void> build(const RoceRigOptions& o, RoceRigInfo& info) {
    Port* raw[2] = {nullptr, nullptr};
    int kind = 0;
    Result<transport::DpdkRingPair> ring =
        make_error(Errc::unsupported, "the loopback wire was asked for");
    if (!o.loopback) ring = transport::DpdkPort::create_ring_pair("softrnic_demo_ab");
    if (ring) {
      ring_ = std::move(*ring);
      raw[0] = ring_.a.get();
      raw[1] = ring_.b.get();
      info.wire = "net_ring (DPDK, --no-huge)";
    } else {
      kind = 1;
      if (!o.loopback) {
        info.note = "DPDK could not start a net_ring pair (" + ring.error().message +
                    "); falling back to the in-memory loopback wire";
      }
      transport::LoopbackConfig lc;
      // Room for a whole send window (max_unacked_packets, 512) in flight each way, so the wire
      // itself does not drop frames.
      lc.pool_packets = 4096;
      lc.rx_ring_packets = 1024;
      auto w = transport::LoopbackWire::create(lc);
      if (!w) return std::unexpected(w.error());
      wire_ = std::move(*w);
      raw[0] = &wire_->a();
      raw[1] = &wire_->b();
      info.wire = o.loopback ? "loopback (in memory, --wire loopback)"
                             : "loopback (in memory; DPDK unavailable)";
    }
    Port* top[2] = {raw[0], raw[1]};
    if (o.capture != nullptr) {
      capture_ = std::make_unique<capture::CapturePort>(*raw[0]);
      if (auto r = capture_->start(o.capture, "demo capture"); !r) return r;
      top[0] = capture_.get();
    }
    if (o.loss > 0) {
      for (int s = 0; s < 2; ++s) {
        transport::FaultConfig fc;
        fc.seed = o.seed * 2 + static_cast<std::uint64_t>(s);
        fc.drop = o.loss;
        auto f = transport::FaultPort::create(*top[s], fc);
        if (!f) return std::unexpected(f.error());
        fault_[s] = std::move(*f);
        top[s] = fault_[s].get();
      }
    }
    for (int s = 0; s < 2; ++s) {
      auto spec = transport::parse_device_spec(kRoceSpecs[kind][s]);
      if (!spec) return std::unexpected(spec.error());
      spec_[s] = *spec;
      dev_[s] = std::make_unique<roce::Device>(*top[s], clock_,
                                               transport::device_config_of(spec_[s], *raw[s]));
      auto pd = dev_[s]->memory().alloc_pd();
      if (!pd) return std::unexpected(pd.error());
      pd_[s] = *pd;
      cm::CmConfig cc;
      cc.response_timeout = 12;  // 16.8 ms: a lost MAD is resent quickly (both ends are here)
      cc.seed = o.seed * 2 + static_cast<std::uint64_t>(s) + 1;
      auto m = cm::ConnectionManager::create(*dev_[s], cc);
      if (!m) return std::unexpected(m.error());
      cm_[s] = std::move(*m);
    }
    auto l = cm_[1]->listen({{}, kRoceServicePort}, [this](const cm::CmEvent& e) { on_listen(e); });
    if (!l) return std::unexpected(l.error());
    return {};
  }

  Result<QpPair*> connect(wire::IpVersion ip) override {
    // Kept even when the connection fails: the connection manager may still call its handlers.
    conns_.push_back(std::make_unique<Conn<roce::Qp>>());
    Conn<roce::Qp>* c = conns_.back().get();
    c->ip = ip;
    for (int s = 0; s < 2; ++s) {
      auto cq = dev_[s]->create_cq(4096);
      if (!cq) return std::unexpected(cq.error());
      c->cq[s] = *cq;
      roce::QpInit init;
      init.pd = pd_[s];
      init.send_cq = init.recv_cq = c->cq[s];
      auto qp = dev_[s]->create_qp(init);
      if (!qp) return std::unexpected(qp.error());
      c->qp[s] = *qp;
    }
    accepting_ = c;
    const auto pd = bytes_of(hello(ip));
    cm::ConnectParams p;
    p.remote = {address_of(spec_[1], ip), kRoceServicePort};
    p.local_ip = address_of(spec_[0], ip);
    p.private_data = pd;
    auto id = cm_[0]->connect(*c->qp[0], p, c->active());
    if (!id) return std::unexpected(id.error());
    c->id[0] = *id;
    const auto established = wait_established(*c, [this] { poll(); });
    accepting_ = nullptr;
    if (!established) return std::unexpected(established.error());

    QpPair& q = c->pair;
    q.post_send = [this, c](int s, const roce::SendWr& w) {
      return dev_[s]->post_send(*c->qp[s], w);
    };
    q.post_recv = [this, c](int s, const roce::RecvWr& w) {
      return dev_[s]->post_recv(*c->qp[s], w);
    };
    q.poll = [this] { poll(); };
    for (int s = 0; s < 2; ++s) {
      q.cq[s] = c->cq[s];
      q.memory[s] = &dev_[s]->memory();
      q.pd[s] = pd_[s];
    }
    q.retransmits = [this]() -> std::optional<std::uint64_t> {
      return dev_[0]->counters().get(roce::DeviceCounter::retransmits) +
             dev_[1]->counters().get(roce::DeviceCounter::retransmits);
    };
    return &c->pair;
  }

  void disconnect_all() override {
    for (auto& c : conns_) (void)cm_[0]->disconnect(c->id[0]);
    const auto until = Clk::now() + std::chrono::milliseconds(100);
    while (Clk::now() < until) poll();
  }

 private:
  void poll() {
    dev_[0]->poll();
    dev_[1]->poll();
    cm_[0]->poll();
    cm_[1]->poll();
  }

  void on_listen(const cm::CmEvent& e) { answer_request(*cm_[1], accepting_, e); }

  Clock& clock_;
  std::unique_ptr<transport::LoopbackWire> wire_;
  transport::DpdkRingPair ring_;
  std::unique_ptr<capture::CapturePort> capture_;
  std::unique_ptr<transport::FaultPort> fault_[2];
  transport::DeviceSpec spec_[2];
  std::unique_ptr<roce::Device> dev_[2];
  std::unique_ptr<cm::ConnectionManager> cm_[2];
  verbs::PdHandle pd_[2] = {0, 0};
  std::vector<std::unique_ptr<Conn<roce::Qp>>> conns_;
  Conn<roce::Qp>* accepting_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
class IwarpRig final : public Rig {
 public:
  IwarpRig(Clock& clock, std::shared_ptr<capture::CaptureSink> capture)
      : clock_(clock), set_(options(capture != nullptr)), capture_(std::move(capture)) {}
  ~IwarpRig() override {
    if (auto* c = set_.stream_capture("ia")) c->set_sink(nullptr);
  }

  Result<void> build() {
    std::vector<transport::DeviceSpec> specs;
    for (const char* t : kIwarpSpecs) {
      auto s = transport::parse_device_spec(t);
      if (!s) return std::unexpected(s.error());
      specs.push_back(*s);
    }
    if (auto r = set_.build(specs, clock_); !r) return r;
    dev_[0] = set_.iwarp_device("ia");
    dev_[1] = set_.iwarp_device("ib");
    // The capture is device ia's view (both directions of its streams), as on RoCEv2.
    if (auto* c = set_.stream_capture("ia")) c->set_sink(capture_);
    for (int s = 0; s < 2; ++s) {
      auto pd = dev_[s]->memory().alloc_pd();
      if (!pd) return std::unexpected(pd.error());
      pd_[s] = *pd;
    }
    // A TCP port of our own: a few tries from one derived from the process ID.
    Result<cm::ListenerId> l = make_error(Errc::io_error, "no port tried");
    for (int i = 0; i < 16 && !l; ++i) {
      port_ = static_cast<std::uint16_t>(20000 + (getpid() * 7 + i * 131) % 20000);
      l = dev_[1]->listen({{}, port_}, [this](const cm::CmEvent& e) { on_listen(e); });
    }
    if (!l) return std::unexpected(l.error());
    return {};
  }

  Result<QpPair*> connect(wire::IpVersion ip) override {
    // Kept even when the connection fails: the connection manager may still call its handlers.
    conns_.push_back(std::make_unique<Conn<iwarp::Qp>>());
    Conn<iwarp::Qp>* c = conns_.back().get();
    c->ip = ip;
    for (int s = 0; s < 2; ++s) {
      auto cq = dev_[s]->create_cq(4096);
      if (!cq) return std::unexpected(cq.error());
      c->cq[s] = *cq;
      roce::QpInit init;
      init.pd = pd_[s];
      init.send_cq = init.recv_cq = c->cq[s];
      auto qp = dev_[s]->create_qp(init);
      if (!qp) return std::unexpected(qp.error());
      c->qp[s] = *qp;
    }
    accepting_ = c;
    const auto pd = bytes_of(hello(ip));
    cm::ConnectParams p;
    p.remote = {ip == wire::IpVersion::v4
                    ? wire::ipv4_mapped({127, 0, 0, 1})
                    : wire::Ipv6Addr{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                port_};
    p.private_data = pd;
    auto id = dev_[0]->connect(*c->qp[0], p, c->active());
    if (!id) return std::unexpected(id.error());
    c->id[0] = *id;
    const auto established = wait_established(*c, [this] { poll(); });
    accepting_ = nullptr;
    if (!established) return std::unexpected(established.error());

    QpPair& q = c->pair;
    q.post_send = [this, c](int s, const roce::SendWr& w) {
      return dev_[s]->post_send(*c->qp[s], w);
    };
    q.post_recv = [this, c](int s, const roce::RecvWr& w) {
      return dev_[s]->post_recv(*c->qp[s], w);
    };
    q.poll = [this] { poll(); };
    for (int s = 0; s < 2; ++s) {
      q.cq[s] = c->cq[s];
      q.memory[s] = &dev_[s]->memory();
      q.pd[s] = pd_[s];
    }
    q.retransmits = []() -> std::optional<std::uint64_t> { return std::nullopt; };
    return &c->pair;
  }

  void disconnect_all() override {
    for (auto& c : conns_) (void)dev_[0]->disconnect(c->id[0]);
    const auto until = Clk::now() + std::chrono::milliseconds(100);
    while (Clk::now() < until) poll();
  }

 private:
  void poll() {
    dev_[0]->poll();
    dev_[1]->poll();
  }

  void on_listen(const cm::CmEvent& e) { answer_request(*dev_[1], accepting_, e); }

  static transport::DeviceSetOptions options(bool capture) {
    transport::DeviceSetOptions o;
    o.iwarp_capture_point = capture;
    return o;
  }

  Clock& clock_;
  transport::DeviceSet set_;
  std::shared_ptr<capture::CaptureSink> capture_;
  iwarp::Device* dev_[2] = {nullptr, nullptr};
  verbs::PdHandle pd_[2] = {0, 0};
  std::uint16_t port_ = 0;
  std::vector<std::unique_ptr<Conn<iwarp::Qp>>> conns_;
  Conn<iwarp::Qp>* accepting_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Rig>> make_roce_rig(const RoceRigOptions& opts, Clock& clock,
                                           RoceRigInfo& info) {
  auto rig = std::make_unique<RoceRig>(clock);
  if (auto r = rig->build(opts, info); !r) return std::unexpected(r.error());
  return rig;
}

Result<std::unique_ptr<Rig>> make_iwarp_rig(Clock& clock,
                                            std::shared_ptr<capture::CaptureSink> capture) {
  auto rig = std::make_unique<IwarpRig>(clock, std::move(capture));
  if (auto r = rig->build(); !r) return std::unexpected(r.error());
  return rig;
}

}  // namespace softrnic::cli
