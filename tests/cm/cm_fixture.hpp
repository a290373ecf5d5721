// Two soft RoCE devices on a PipeWire, each with its connection manager, and the helpers the CM
// tests share: QPs in RESET, an event log per side, and a loop that runs engines and CMs together
// on a virtual clock (idle rounds advance it, so CM timeouts of hundreds of ms pass quickly).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../common/text_bytes.hpp"
#include "../roce/harness.hpp"
#include "cm/connection_manager.hpp"

namespace softrnic::cm::test {

using roce::test::gid_v4;
using roce::test::gid_v6;

using softrnic::test::bytes_of;
using softrnic::test::text_of;

struct Side {
  roce::test::Endpoint* ep = nullptr;
  std::unique_ptr<ConnectionManager> cm;
  std::vector<CmEvent> events;
  Handler log() {
    return [this](const CmEvent& e) { events.push_back(e); };
  }
  std::size_t count(CmEvent::Type t) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.type == t;
    return n;
  }
  const CmEvent* last(CmEvent::Type t) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (it->type == t) return &*it;
    return nullptr;
  }
  roce::Qp* new_qp(verbs::QpType t = verbs::QpType::rc) {
    roce::QpInit init;
    init.type = t;
    init.pd = ep->pd;
    init.send_cq = ep->scq;
    init.recv_cq = ep->rcq;
    auto q = ep->dev->create_qp(init);
    EXPECT_TRUE(q);
    return *q;
  }
};

class CmPair {
 public:
  // seeded: the CMs draw their identifiers from fixed seeds (replayable runs); else getrandom.
  explicit CmPair(wire::IpVersion ip = wire::IpVersion::v4, CmConfig cfg = {},
                  std::uint32_t mtu_b = 4200, bool seeded = true)
      : ip_(ip) {
    wire_.mtu[1] = mtu_b;
    devs_ = std::make_unique<roce::test::TwoDevices>(wire_.a, wire_.b, clock_, ip);
    a.ep = &devs_->a;
    b.ep = &devs_->b;
    if (seeded) cfg.seed = 11;
    auto ca = ConnectionManager::create(*a.ep->dev, cfg);
    if (seeded) cfg.seed = 22;
    auto cb = ConnectionManager::create(*b.ep->dev, cfg);
    EXPECT_TRUE(ca && cb);
    a.cm = std::move(*ca);
    b.cm = std::move(*cb);
  }

  wire::Ipv6Addr ip_a() const { return ip_ == wire::IpVersion::v4 ? gid_v4(1) : gid_v6(1); }
  wire::Ipv6Addr ip_b() const { return ip_ == wire::IpVersion::v4 ? gid_v4(2) : gid_v6(2); }

  // Runs both engines and both CMs until pred() holds; idle rounds advance the clock by step_ns.
  bool run_until(const std::function<bool()>& pred, int max_rounds = 400000, std::uint64_t step_ns = 100'000) {
    for (int i = 0; i < max_rounds; ++i) {
      if (pred()) return true;
      const auto w = a.ep->dev->poll() + b.ep->dev->poll() + a.cm->poll() + b.cm->poll();
      if (w == 0) clock_.advance(step_ns);
    }
    return pred();
  }
  void run_for(std::uint64_t ns, std::uint64_t step_ns = 100'000) {
    const std::uint64_t until = clock_.now_ns() + ns;
    run_until([&] { return clock_.now_ns() >= until; }, 10'000'000, step_ns);
  }

  // B listens on port and accepts every request with `reply` as private data (QPs made on demand).
  void auto_accept(std::uint16_t port, const std::string& reply = "welcome") {
    auto l = b.cm->listen({{}, port}, [this, reply](const CmEvent& e) {
      b.events.push_back(e);
      if (e.type != CmEvent::Type::connect_request) return;
      roce::Qp* q = b.new_qp();
      accepted_qps.push_back(q);
      const auto pd = bytes_of(reply);
      AcceptParams p;
      p.private_data = pd;
      auto r = b.cm->accept(e.conn, *q, p, b.log());
      EXPECT_TRUE(r) << r.error().message;
    });
    ASSERT_TRUE(l) << l.error().message;
  }

  // Declaration order matters: the CMs (in a, b) go before the devices, the devices before the wire.
  roce::test::PipeWire wire_;
  VirtualClock clock_;

 private:
  wire::IpVersion ip_;
  std::unique_ptr<roce::test::TwoDevices> devs_;

 public:
  Side a, b;
  std::vector<roce::Qp*> accepted_qps;
};

// The CM attribute ID of a frame on the wire, or 0 when it is not a MAD to QP1.
inline std::uint16_t mad_attr(const Packet& p) {
  auto f = wire::parse_frame(ConstByteSpan(p.data, p.len));
  if (!f || f->bth().dest_qp().raw() != 1 || f->payload().size() < 24) return 0;
  return load_be16(f->payload(), 16);
}

}  // namespace softrnic::cm::test
