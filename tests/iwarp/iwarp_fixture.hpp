// Two iWARP devices on an in-memory stream network, with the plumbing the iWARP tests share.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "../common/text_bytes.hpp"
#include "base/clock.hpp"
#include "iwarp/device.hpp"
#include "stream_net.hpp"

namespace softrnic::iwarp::test {

inline wire::Ipv6Addr ip4(std::uint8_t last) { return wire::ipv4_mapped({198, 18, 1, last}); }

using softrnic::test::bytes_of;
using softrnic::test::text_of;

struct Side {
  std::unique_ptr<Device> dev;
  verbs::PdHandle pd = 0;
  verbs::Cq* scq = nullptr;
  verbs::Cq* rcq = nullptr;
  std::vector<cm::CmEvent> events;
  cm::Handler log() {
    return [this](const cm::CmEvent& e) { events.push_back(e); };
  }
  std::size_t count(cm::CmEvent::Type t) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.type == t;
    return n;
  }
  const cm::CmEvent* last(cm::CmEvent::Type t) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (it->type == t) return &*it;
    return nullptr;
  }
  Qp* new_qp(std::uint32_t depth = 256) {
    roce::QpInit init;
    init.pd = pd;
    init.send_cq = scq;
    init.recv_cq = rcq;
    init.sq_depth = init.rq_depth = depth;
    auto q = dev->create_qp(init);
    EXPECT_TRUE(q) << q.error().message;
    return *q;
  }
  std::vector<verbs::Cqe> drain(verbs::Cq* cq) {
    std::vector<verbs::Cqe> out;
    std::array<verbs::Cqe, 64> buf;
    while (auto n = cq->poll(buf)) out.insert(out.end(), buf.begin(), buf.begin() + n);
    return out;
  }
};

class IwPair {
 public:
  explicit IwPair(transport::StreamPairConfig net_cfg = {}, IwarpConfig cfg_a = {}, IwarpConfig cfg_b = {})
      : net(net_cfg), ta(net, ip4(1)), tb(net, ip4(2)) {
    a.dev = std::make_unique<Device>(ta, clock, cfg_a);
    b.dev = std::make_unique<Device>(tb, clock, cfg_b);
    for (Side* s : {&a, &b}) {
      s->pd = *s->dev->memory().alloc_pd();
      s->scq = *s->dev->create_cq(8192);
      s->rcq = *s->dev->create_cq(8192);
    }
  }

  bool run_until(const std::function<bool()>& pred, int max_rounds = 2'000'000) {
    for (int i = 0; i < max_rounds; ++i) {
      if (pred()) return true;
      if (a.dev->poll() + b.dev->poll() == 0) clock.advance(10'000);
    }
    return pred();
  }
  void run_rounds(int n) {
    for (int i = 0; i < n; ++i) {
      a.dev->poll();
      b.dev->poll();
    }
  }

  // B listens on `port` and accepts with "welcome" (QPs made on demand); A connects qa.
  Qp* connect_pair(Qp* qa, std::uint16_t port = 4000) {
    auto l = b.dev->listen({ip4(2), port}, [this](const cm::CmEvent& e) {
      b.events.push_back(e);
      if (e.type != cm::CmEvent::Type::connect_request) return;
      Qp* qb = b.new_qp();
      accepted.push_back(qb);
      const auto pd = bytes_of("welcome");
      cm::AcceptParams ap;
      ap.private_data = pd;
      auto r = b.dev->accept(e.conn, *qb, ap, b.log());
      EXPECT_TRUE(r) << r.error().message;
    });
    EXPECT_TRUE(l) << l.error().message;
    const auto hello = bytes_of("hello");
    cm::ConnectParams p;
    p.remote = {ip4(2), port};
    p.private_data = hello;
    auto id = a.dev->connect(*qa, p, a.log());
    EXPECT_TRUE(id) << id.error().message;
    EXPECT_TRUE(run_until([&] {
      return a.count(cm::CmEvent::Type::established) && b.count(cm::CmEvent::Type::established);
    }));
    return accepted.empty() ? nullptr : accepted.back();
  }

  std::vector<Qp*> accepted;
  VirtualClock clock;
  StreamNet net;
  StreamNet::Endpoint ta, tb;
  Side a, b;
};

}  // namespace softrnic::iwarp::test
