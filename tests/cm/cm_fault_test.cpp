// The CM when things go wrong: lost and duplicated MADs, loss on every frame, a peer that vanishes
// or never answers ARP, malformed MADs, stale connections, disconnects with I/O in flight, and
// many connections at once.
#include <gtest/gtest.h>

#include <random>

#include "cm_fixture.hpp"

namespace softrnic::cm::test {
namespace {

using Type = CmEvent::Type;
namespace mad = wire::cm;

ConnId connect_to(CmPair& t, roce::Qp& q, std::uint16_t port, const std::string& pd = "") {
  const auto bytes = bytes_of(pd);
  ConnectParams p;
  p.remote = {t.ip_b(), port};
  p.private_data = bytes;
  auto id = t.a.cm->connect(q, p, t.a.log());
  EXPECT_TRUE(id) << id.error().message;
  return id ? *id : 0;
}

bool both_established(CmPair& t, std::size_t n = 1) {
  return t.a.count(Type::established) >= n && t.b.count(Type::established) >= n;
}

// Sends raw MADs from a UD QP on A to B's QP1.
class MadSender {
 public:
  explicit MadSender(CmPair& t) : t_(t), buf_(512) {
    qp_ = t.a.new_qp(verbs::QpType::ud);
    roce::QpAttrs x;
    x.state = verbs::QpState::init;
    x.qkey = mad::kGsiQkey;  // a controlled Q_Key: the WR's is replaced by the QP's (IBA 10.2.5)
    EXPECT_TRUE(t.a.ep->dev->modify_qp(*qp_, x, verbs::kAttrState | verbs::kAttrPkeyIndex | verbs::kAttrPort | verbs::kAttrQkey));
    x.state = verbs::QpState::rtr;
    EXPECT_TRUE(t.a.ep->dev->modify_qp(*qp_, x, verbs::kAttrState));
    x.state = verbs::QpState::rts;
    EXPECT_TRUE(t.a.ep->dev->modify_qp(*qp_, x, verbs::kAttrState | verbs::kAttrSqPsn));
    key_ = *t.a.ep->dev->memory().register_mr(t.a.ep->pd, buf_.data(), buf_.size(), 0, verbs::kZeroBased);
    ah_.src_gid = t.ip_a();
    ah_.dst_gid = t.ip_b();
    ah_.dst_mac = t.b.ep->dev->config().mac;
  }
  void send(std::span<const std::byte> payload) {
    std::copy(payload.begin(), payload.end(), buf_.begin());
    roce::SendWr w;
    w.num_sge = 1;
    w.sg[0] = {0, static_cast<std::uint32_t>(payload.size()), key_};
    w.ah = &ah_;
    w.remote_qpn = 1;
    w.remote_qkey = mad::kGsiQkey;
    ASSERT_TRUE(t_.a.ep->dev->post_send(*qp_, w));
    t_.run_for(1'000'000);
  }

 private:
  CmPair& t_;
  std::vector<std::byte> buf_;
  roce::Qp* qp_;
  verbs::MemKeyRaw key_;
  roce::AddressHandle ah_;
};

TEST(CmFaults, LostRepIsResentAndTheConnectionCompletes) {
  CmPair t;
  t.auto_accept(7174);
  int reps_dropped = 0;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 1 && mad_attr(p) == 0x13 && reps_dropped == 0) return ++reps_dropped, false;
    return true;
  };
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
  EXPECT_EQ(reps_dropped, 1);
  EXPECT_GE(t.b.cm->counters().get(CmCounter::retransmits), 1u);
  EXPECT_EQ(t.b.count(Type::connect_request), 1u);
}

TEST(CmFaults, LostRtuIsRecoveredByTheResentRep) {
  CmPair t;
  t.auto_accept(7174);
  int rtus_dropped = 0;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 0 && mad_attr(p) == 0x14 && rtus_dropped == 0) return ++rtus_dropped, false;
    return true;
  };
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
  EXPECT_EQ(rtus_dropped, 1);
  EXPECT_GE(t.a.cm->counters().get(CmCounter::rx_duplicate), 1u) << "the REP came twice";
  EXPECT_EQ(t.a.count(Type::established), 1u);
}

TEST(CmFaults, DuplicateReqMakesNoSecondConnection) {
  CmPair t;
  std::vector<std::byte> req_frame;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 0 && mad_attr(p) == 0x10) req_frame.assign(p.data, p.data + p.len);
    return true;
  };
  t.auto_accept(7174);
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
  ASSERT_FALSE(req_frame.empty());
  const auto conns = t.b.cm->connection_count();
  // The same REQ again, as a resend would carry it (a new packet: an identical frame would be
  // filtered as a wire duplicate before it reached QP1).
  auto f = wire::parse_frame(req_frame);
  ASSERT_TRUE(f);
  const auto mad_bytes = f->payload();
  MadSender s(t);
  s.send(mad_bytes);
  s.send(mad_bytes);
  EXPECT_EQ(t.b.count(Type::connect_request), 1u);
  EXPECT_EQ(t.b.cm->connection_count(), conns);
  EXPECT_EQ(t.b.cm->counters().get(CmCounter::rx_duplicate), 2u);
  EXPECT_EQ(t.accepted_qps.size(), 1u);
}

TEST(CmFaults, DuplicateReqWhileTheOwnerDecidesGetsAnMra) {
  CmPair t;
  ConnId pending = 0;
  ASSERT_TRUE(t.b.cm->listen({{}, 5}, [&](const CmEvent& e) {
    if (e.type == Type::connect_request) pending = e.conn;  // no answer yet
  }));
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 5);
  // The owner waits longer than the REQ timeout: the resent REQ is answered with an MRA, and the
  // active side keeps waiting instead of running out of retries.
  t.run_for(3'000'000'000);
  EXPECT_GE(t.b.cm->counters().get(CmCounter::mra_sent), 1u);
  EXPECT_GE(t.a.cm->counters().get(CmCounter::mra_received), 1u);
  EXPECT_EQ(t.a.count(Type::connect_error), 0u);
  ASSERT_NE(pending, 0u);
  ASSERT_TRUE(t.b.cm->accept(pending, *t.b.new_qp(), {}, t.b.log()));
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
}

TEST(CmFaults, PeerThatVanishesMidHandshakeTimesOutWithAClearError) {
  CmConfig cfg;
  cfg.max_retries = 3;
  CmPair t(wire::IpVersion::v4, cfg);
  t.auto_accept(7174);
  bool b_gone = false;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 1 && mad_attr(p) == 0x13) b_gone = true;  // B answered once, then fell silent
    return !(side == 1 && b_gone);
  };
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::connect_error) > 0; }, 2'000'000));
  const CmEvent* e = t.a.last(Type::connect_error);
  EXPECT_NE(e->message.find("no REP to our REQ from 198.18.0.2:7174 after 4 tries"), std::string::npos) << e->message;
  EXPECT_EQ(e->cause, CmEvent::Cause::timed_out);
  EXPECT_EQ(t.a.cm->counters().get(CmCounter::timeouts), 1u);
  // B hears A's REJ (timeout) or gives up on its own: either way it reports and forgets.
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::rejected) + t.b.count(Type::connect_error) > 0; }, 2'000'000));
  t.run_for(3'000'000'000);
  EXPECT_EQ(t.a.cm->connection_count(), 0u);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
}

TEST(CmFaults, PassiveSideGivesUpWhenNoRtuEverComes) {
  CmConfig cfg;
  cfg.max_retries = 2;
  CmPair t(wire::IpVersion::v4, cfg);
  t.auto_accept(7174);
  t.wire_.filter = [&](int side, Packet& p) { return !(side == 0 && mad_attr(p) == 0x14); };
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::connect_error) > 0; }, 2'000'000));
  EXPECT_NE(t.b.last(Type::connect_error)->message.find("no RTU to our REP"), std::string::npos);
  EXPECT_EQ(t.b.last(Type::connect_error)->cause, CmEvent::Cause::timed_out);
}

TEST(CmFaults, UnreachablePeerGivesAClearErrorNotAHang) {
  CmPair t;
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {gid_v4(99), 7174};
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::connect_error) > 0; }, 2'000'000));
  EXPECT_NE(t.a.last(Type::connect_error)->message.find("no answer from 198.18.0.99"), std::string::npos)
      << t.a.last(Type::connect_error)->message;
  EXPECT_EQ(t.a.last(Type::connect_error)->cause, CmEvent::Cause::unreachable);
  EXPECT_EQ(t.a.cm->counters().get(CmCounter::resolve_failed), 1u);
}

TEST(CmFaults, HandshakesAndDisconnectsCompleteUnderTenPercentLoss) {
  CmPair t;
  std::mt19937 rng(7);
  int dropped = 0;
  t.wire_.filter = [&](int, Packet&) {
    if (rng() % 10 == 0) return ++dropped, false;
    return true;
  };
  t.auto_accept(7174);
  constexpr int kConns = 20;
  std::vector<ConnId> ids;
  for (int i = 0; i < kConns; ++i) ids.push_back(connect_to(t, *t.a.new_qp(), 7174));
  ASSERT_TRUE(t.run_until([&] { return both_established(t, kConns); }, 4'000'000));
  EXPECT_EQ(t.a.count(Type::connect_error) + t.a.count(Type::rejected), 0u);
  EXPECT_EQ(t.b.count(Type::connect_request), static_cast<std::size_t>(kConns)) << "no duplicate connections";
  for (ConnId id : ids) ASSERT_TRUE(t.a.cm->disconnect(id));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) == kConns && t.b.count(Type::disconnected) == kConns; },
                          4'000'000));
  EXPECT_GT(dropped, 10);
  EXPECT_GT(t.a.cm->counters().get(CmCounter::retransmits) + t.b.cm->counters().get(CmCounter::retransmits), 0u);
}

TEST(CmScale, HundredConnectionsAtOnceEachCarryingItsOwnData) {
  CmPair t;
  std::map<ConnId, roce::Qp*> by_conn_b;
  std::map<std::string, roce::Qp*> b_qp_of_tag;
  ASSERT_TRUE(t.b.cm->listen({t.ip_b(), 7174}, [&](const CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type != Type::connect_request) return;
    roce::Qp* q = t.b.new_qp();
    b_qp_of_tag[text_of(e.private_data)] = q;
    EXPECT_TRUE(t.b.cm->accept(e.conn, *q, {}, t.b.log()));
  }));
  constexpr int kConns = 100;
  std::vector<roce::Qp*> qa;
  for (int i = 0; i < kConns; ++i) {
    qa.push_back(t.a.new_qp());
    connect_to(t, *qa.back(), 7174, "conn" + std::to_string(i));
  }
  ASSERT_TRUE(t.run_until([&] { return both_established(t, kConns); }));
  ASSERT_EQ(b_qp_of_tag.size(), static_cast<std::size_t>(kConns));
  for (int i = 0; i < kConns; ++i) {
    roce::Qp* qb = b_qp_of_tag.at("conn" + std::to_string(i));
    EXPECT_EQ(qa[i]->attr.dest_qpn, qb->qpn);
    EXPECT_EQ(qb->attr.dest_qpn, qa[i]->qpn);
  }
  EXPECT_EQ(t.a.cm->counters().get(CmCounter::established), static_cast<std::uint64_t>(kConns));
}

TEST(CmFaults, DreqDuringPendingIoIsReportedAndTheQpLeftToTheOwner) {
  CmPair t;
  t.auto_accept(7174);
  roce::Qp* qa = t.a.new_qp();
  const ConnId id = connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
  // Sends with no receive posted at B: they sit in RNR retry while B disconnects.
  std::vector<std::byte> buf(64);
  const auto k = *t.a.ep->dev->memory().register_mr(t.a.ep->pd, buf.data(), buf.size(), 0, verbs::kZeroBased);
  for (int i = 0; i < 4; ++i) {
    roce::SendWr w;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, 64, k};
    ASSERT_TRUE(t.a.ep->dev->post_send(*qa, w));
  }
  t.run_for(1'000'000);
  ASSERT_TRUE(t.b.cm->disconnect(t.b.last(Type::established)->conn));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) > 0; }));
  EXPECT_EQ(t.a.last(Type::disconnected)->conn, id);
  EXPECT_TRUE(t.a.last(Type::disconnected)->peer_initiated);
  EXPECT_EQ(qa->attr.state, verbs::QpState::rts) << "the owner flushes, not the CM";
}

TEST(CmFaults, StaleConnectionIsRejectedWithReason10) {
  CmPair t;
  t.auto_accept(7174);
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
  // A reuses the same QP for a new connection while B still holds the old one.
  roce::QpAttrs x;
  x.state = verbs::QpState::reset;
  ASSERT_TRUE(t.a.ep->dev->modify_qp(*qa, x, verbs::kAttrState));
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  EXPECT_EQ(t.a.last(Type::rejected)->reject_reason, 10);
  EXPECT_EQ(t.a.last(Type::rejected)->cause, CmEvent::Cause::rejected);
  EXPECT_EQ(t.b.cm->counters().get(CmCounter::stale_rejected), 1u);
}

TEST(CmFaults, MalformedAndUnsupportedMadsAreCountedAndIgnored) {
  CmPair t;
  t.auto_accept(7174);
  MadSender s(t);
  auto good = mad::encode_cm_mad({mad::MadHeader{}, mad::Rtu{}});
  s.send(std::span(good).first(100));  // short
  auto b = good;
  b[1] = std::byte{0x04};  // not the CM class
  s.send(b);
  b = good;
  b[2] = std::byte{0x01};  // class version 1
  s.send(b);
  b = good;
  b[17] = std::byte{0x17};  // SIDR_REQ
  s.send(b);
  b = good;
  b[17] = std::byte{0x19};  // LAP
  s.send(b);
  s.send(good);  // a well-formed RTU for no connection
  mad::Dreq dreq;
  dreq.remote_comm_id = 0xdeadbeef;
  const auto d = mad::encode_cm_mad({mad::MadHeader{}, dreq});
  s.send(d);  // DREQ for no connection: answered with a DREP anyway
  // A REQ whose IP header is garbage is rejected, not delivered.
  mad::Req req;
  req.local_comm_id = 77;
  req.service_id = mad::ip_service_id(mad::kPortSpaceTcp, 7174);
  req.path_mtu = 3;
  req.primary.local_gid = t.ip_a();
  req.private_data[1] = std::byte{0x90};
  s.send(mad::encode_cm_mad({mad::MadHeader{}, req}));
  const auto& c = t.b.cm->counters();
  EXPECT_EQ(c.get(CmCounter::rx_malformed), 4u);  // short, class, class version, IP header
  EXPECT_EQ(c.get(CmCounter::rx_unsupported), 2u);
  EXPECT_EQ(c.get(CmCounter::rx_stray), 2u);
  EXPECT_EQ(c.get(CmCounter::rej_sent), 1u);
  EXPECT_EQ(t.b.count(Type::connect_request), 0u);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
  // And the CM still works afterwards.
  roce::Qp* qa = t.a.new_qp();
  connect_to(t, *qa, 7174);
  ASSERT_TRUE(t.run_until([&] { return both_established(t); }));
}

}  // namespace
}  // namespace softrnic::cm::test
