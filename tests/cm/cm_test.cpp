// The CM between two in-process devices: listen / connect / accept / reject / disconnect by
// address with private data both ways, over IPv4 and IPv6, and the QPs it brings up carry data.
#include <gtest/gtest.h>

#include "cm_fixture.hpp"

namespace softrnic::cm::test {
namespace {

using Type = CmEvent::Type;

class CmBasic : public ::testing::TestWithParam<wire::IpVersion> {};

// Sends `n` bytes from one RC QP to the other and checks they arrive.
void expect_send_works(CmPair& t, Side& from, roce::Qp& sq, Side& to, roce::Qp& rq) {
  std::vector<std::byte> src(300), dst(300);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i * 13);
  const auto ks = *from.ep->dev->memory().register_mr(from.ep->pd, src.data(), src.size(), 0, verbs::kZeroBased);
  const auto kd = *to.ep->dev->memory().register_mr(to.ep->pd, dst.data(), dst.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  roce::RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 300, kd};
  ASSERT_TRUE(to.ep->dev->post_recv(rq, r));
  roce::SendWr w;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 300, ks};
  ASSERT_TRUE(from.ep->dev->post_send(sq, w));
  std::vector<verbs::Cqe> got;
  ASSERT_TRUE(t.run_until([&] {
    std::array<verbs::Cqe, 8> c;
    const auto n = to.ep->rcq->poll(c);
    got.insert(got.end(), c.begin(), c.begin() + n);
    return !got.empty();
  }));
  EXPECT_EQ(got[0].status, verbs::WcStatus::success);
  EXPECT_EQ(dst, src);
}

TEST_P(CmBasic, ConnectAcceptWithPrivateDataBothWaysThenDataFlows) {
  CmPair t(GetParam());
  t.auto_accept(7174, "welcome");
  roce::Qp* qa = t.a.new_qp();
  const auto hello = bytes_of("hello");
  ConnectParams p;
  p.remote = {t.ip_b(), 7174};
  p.private_data = hello;
  auto id = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) && t.b.count(Type::established); }));

  const CmEvent* req = t.b.last(Type::connect_request);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(text_of(req->private_data), "hello");
  EXPECT_EQ(req->private_data.size(), 56u) << "REQ private data after the 36-byte IP header";
  EXPECT_EQ(req->remote.ip, t.ip_a());
  EXPECT_NE(req->remote.port, 0);
  EXPECT_EQ(req->local.ip, t.ip_b());
  EXPECT_EQ(req->local.port, 7174);
  const CmEvent* est = t.a.last(Type::established);
  EXPECT_EQ(est->conn, *id);
  EXPECT_EQ(text_of(est->private_data), "welcome");
  EXPECT_EQ(est->private_data.size(), 196u);
  EXPECT_EQ(est->path_mtu, 4096u);
  ASSERT_EQ(t.accepted_qps.size(), 1u);
  roce::Qp* qb = t.accepted_qps[0];
  EXPECT_EQ(qa->attr.state, verbs::QpState::rts);
  EXPECT_EQ(qb->attr.state, verbs::QpState::rts);
  EXPECT_EQ(qa->attr.dest_qpn, qb->qpn);
  EXPECT_EQ(qb->attr.dest_qpn, qa->qpn);
  EXPECT_EQ(qa->attr.pmtu, 4096u);
  expect_send_works(t, t.a, *qa, t.b, *qb);
  expect_send_works(t, t.b, *qb, t.a, *qa);
  EXPECT_EQ(t.a.cm->counters().get(CmCounter::established), 1u);
  EXPECT_EQ(t.b.cm->counters().get(CmCounter::established), 1u);
}

TEST_P(CmBasic, RejectCarriesPrivateDataAndTheConsumerReason) {
  CmPair t(GetParam());
  ASSERT_TRUE(t.b.cm->listen({t.ip_b(), 445}, [&](const CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type == Type::connect_request) {
      const auto no = bytes_of("go away");
      EXPECT_TRUE(t.b.cm->reject(e.conn, no));
    }
  }));
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 445};
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  const CmEvent* rej = t.a.last(Type::rejected);
  EXPECT_EQ(rej->reject_reason, 28);
  EXPECT_EQ(text_of(rej->private_data), "go away");
  EXPECT_NE(rej->message.find("consumer reject"), std::string::npos) << rej->message;
  EXPECT_EQ(qa->attr.state, verbs::QpState::reset) << "a rejected connect leaves the QP alone";
  EXPECT_EQ(t.a.count(Type::established), 0u);
}

TEST_P(CmBasic, NoListenerIsRejectedWithInvalidServiceId) {
  CmPair t(GetParam());
  t.auto_accept(7174);
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 7175};
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  EXPECT_EQ(t.a.last(Type::rejected)->reject_reason, 8);
  EXPECT_EQ(t.b.cm->counters().get(CmCounter::no_listener), 1u);
  EXPECT_EQ(t.b.count(Type::connect_request), 0u);
}

TEST_P(CmBasic, DisconnectFromEitherSideReachesTheOtherWithPrivateData) {
  for (const bool active_side_disconnects : {true, false}) {
    CmPair t(GetParam());
    t.auto_accept(7174);
    roce::Qp* qa = t.a.new_qp();
    ConnectParams p;
    p.remote = {t.ip_b(), 7174};
    auto id = t.a.cm->connect(*qa, p, t.a.log());
    ASSERT_TRUE(id);
    ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) && t.b.count(Type::established); }));
    const auto bye = bytes_of("bye");
    Side& from = active_side_disconnects ? t.a : t.b;
    Side& to = active_side_disconnects ? t.b : t.a;
    const ConnId cid = active_side_disconnects ? *id : t.b.last(Type::established)->conn;
    ASSERT_TRUE(from.cm->disconnect(cid, bye));
    EXPECT_FALSE(from.cm->disconnect(cid)) << "a second disconnect is an error, not a second DREQ";
    ASSERT_TRUE(t.run_until([&] { return from.count(Type::disconnected) && to.count(Type::disconnected); }));
    EXPECT_FALSE(from.last(Type::disconnected)->peer_initiated);
    EXPECT_TRUE(to.last(Type::disconnected)->peer_initiated);
    EXPECT_EQ(from.last(Type::disconnected)->cause, CmEvent::Cause::none);
    EXPECT_EQ(to.last(Type::disconnected)->cause, CmEvent::Cause::peer_disconnected);
    EXPECT_EQ(text_of(to.last(Type::disconnected)->private_data), "bye");
    EXPECT_EQ(qa->attr.state, verbs::QpState::rts) << "the CM does not flush: the owner decides";
    // Time-wait ends and the records go away.
    t.run_for(2'000'000'000);
    EXPECT_EQ(t.a.cm->connection_count(), 0u);
    EXPECT_EQ(t.b.cm->connection_count(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(IpVersions, CmBasic, ::testing::Values(wire::IpVersion::v4, wire::IpVersion::v6),
                         [](const auto& i) { return i.param == wire::IpVersion::v4 ? "IPv4" : "IPv6"; });

TEST(CmNegotiation, ResponderResourcesAndInitiatorDepthMeetInTheMiddle) {
  CmPair t;
  ASSERT_TRUE(t.b.cm->listen({{}, 1}, [&](const CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type != Type::connect_request) return;
    EXPECT_EQ(e.responder_resources, 4);
    EXPECT_EQ(e.initiator_depth, 8);
    roce::Qp* q = t.b.new_qp();
    t.accepted_qps.push_back(q);
    AcceptParams ap;
    ap.responder_resources = 2;  // we serve at most 2 of their 8 reads
    ap.initiator_depth = 16;     // but they only take 4 of ours
    EXPECT_TRUE(t.b.cm->accept(e.conn, *q, ap, t.b.log()));
  }));
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 1};
  p.responder_resources = 4;
  p.initiator_depth = 8;
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) && t.b.count(Type::established); }));
  roce::Qp* qb = t.accepted_qps[0];
  EXPECT_EQ(qb->attr.max_dest_rd_atomic, 2);
  EXPECT_EQ(qb->attr.max_rd_atomic, 4);
  EXPECT_EQ(qa->attr.max_rd_atomic, 2);
  EXPECT_EQ(qa->attr.max_dest_rd_atomic, 4);
}

TEST(CmPathMtu, PassiveSideRejectsAnMtuAboveItsActiveMtuWithReason26) {
  CmPair t(wire::IpVersion::v4, {}, 1500);  // B's link: active MTU 1024
  t.auto_accept(7174);
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 7174};
  p.path_mtu = 4096;
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  EXPECT_EQ(t.a.last(Type::rejected)->reject_reason, 26);
  EXPECT_EQ(t.b.cm->counters().get(CmCounter::mtu_rejected), 1u);
  // Asking for what B's link carries works.
  roce::Qp* qa2 = t.a.new_qp();
  p.path_mtu = 1024;
  ASSERT_TRUE(t.a.cm->connect(*qa2, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) > 0; }));
  EXPECT_EQ(qa2->attr.pmtu, 1024u);
}

TEST(CmApi, BadArgumentsAreRefusedWithClearErrors) {
  CmPair t;
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 1};
  std::vector<std::byte> big(57);
  p.private_data = big;
  auto r = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("at most 56"), std::string::npos) << r.error().message;
  p.private_data = {};
  p.remote.port = 0;
  EXPECT_FALSE(t.a.cm->connect(*qa, p, t.a.log()));
  p.remote = {gid_v6(2), 1};
  r = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no IPv6 address"), std::string::npos) << r.error().message;
  p.remote = {t.ip_b(), 1};
  p.path_mtu = 1500;
  EXPECT_FALSE(t.a.cm->connect(*qa, p, t.a.log()));
  p.path_mtu = 0;
  roce::Qp* ud = t.a.new_qp(verbs::QpType::ud);
  EXPECT_FALSE(t.a.cm->connect(*ud, p, t.a.log()));
  EXPECT_FALSE(t.a.cm->accept(12345, *qa, {}, {}));
  EXPECT_FALSE(t.a.cm->reject(12345));
  EXPECT_FALSE(t.a.cm->disconnect(12345));
  ASSERT_TRUE(t.b.cm->listen({t.ip_b(), 9}, t.b.log()));
  auto dup = t.b.cm->listen({t.ip_b(), 9}, t.b.log());
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("already listening on 198.18.0.2:9"), std::string::npos) << dup.error().message;
  EXPECT_TRUE(t.b.cm->listen({{}, 9}, t.b.log())) << "a wildcard next to a specific address is fine";
  EXPECT_FALSE(t.b.cm->listen({gid_v4(77), 9}, t.b.log())) << "not our address";
  EXPECT_FALSE(t.b.cm->listen({t.ip_b(), 10}, {})) << "no handler";
  EXPECT_FALSE(t.b.cm->stop_listening(999));
  EXPECT_FALSE(ConnectionManager::create(*t.a.ep->dev)) << "one QP1 per device";
}

TEST(CmApi, AcceptChecksTheQpAgainstTheRequest) {
  CmPair t;
  ConnId pending = 0;
  ASSERT_TRUE(t.b.cm->listen({{}, 5}, [&](const CmEvent& e) {
    if (e.type == Type::connect_request) pending = e.conn;
  }));
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 5};
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return pending != 0; }));
  roce::Qp* uc = t.b.new_qp(verbs::QpType::uc);
  auto r = t.b.cm->accept(pending, *uc, {}, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("asked for a RC QP"), std::string::npos) << r.error().message;
  std::vector<std::byte> big(197);
  AcceptParams ap;
  ap.private_data = big;
  roce::Qp* rc = t.b.new_qp();
  EXPECT_FALSE(t.b.cm->accept(pending, *rc, ap, {}));
  EXPECT_TRUE(t.b.cm->accept(pending, *rc, {}, t.b.log()));
  EXPECT_FALSE(t.b.cm->accept(pending, *rc, {}, {})) << "answered already";
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) > 0; }));
}

TEST(CmUc, UcQpsConnectToo) {
  CmPair t;
  ASSERT_TRUE(t.b.cm->listen({{}, 5}, [&](const CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type == Type::connect_request) {
      EXPECT_TRUE(t.b.cm->accept(e.conn, *t.b.new_qp(verbs::QpType::uc), {}, t.b.log()));
    }
  }));
  roce::Qp* qa = t.a.new_qp(verbs::QpType::uc);
  ConnectParams p;
  p.remote = {t.ip_b(), 5};
  ASSERT_TRUE(t.a.cm->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) && t.b.count(Type::established); }));
}

}  // namespace
}  // namespace softrnic::cm::test
