// The CM against a hostile peer: everything a peer sends is forged at will. REQs with absurd
// timeouts, REQ floods, MRAs that would park a handshake for hours; each bound holds on the
// virtual clock, and what is refused is counted.
#include <gtest/gtest.h>

#include <algorithm>

#include "cm_fixture.hpp"
#include "engine/gid_table.hpp"
#include "wire/build.hpp"

namespace softrnic::cm::test {
namespace {

using Type = CmEvent::Type;
namespace mad = wire::cm;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000'000'000;

// Puts a hand-made MAD on the wire to B's QP1 (to = 1) or A's (to = 0), from any source address:
// what any host on the segment can send.
void forge(CmPair& t, int to, const wire::Ipv6Addr& src, const mad::CmMessage& msg,
           std::uint64_t tid = 1) {
  mad::CmMad m{mad::MadHeader{}, msg};
  m.hdr.tid = tid;
  const auto bytes = mad::encode_cm_mad(m);
  const Side& dst = to == 1 ? t.b : t.a;
  wire::RoceSpec s;
  s.eth.src = {0x02, 0x66, 0, 0, 0, 0x01};
  s.eth.dst = dst.ep->dev->config().mac;
  s.ip.version = engine::is_ipv4_mapped(src) ? wire::IpVersion::v4 : wire::IpVersion::v6;
  s.ip.src = src;
  s.ip.dst = to == 1 ? t.ip_b() : t.ip_a();
  s.bth.opcode = 0x64;  // UD SEND ONLY
  s.bth.dest_qp = Qpn{mad::kGsiQpn};
  static std::uint32_t psn = 0;  // a new PSN each time: the UD receiver drops repeats of a frame
  s.bth.psn = Psn{++psn};
  s.ext.deth.qkey = Qkey{mad::kGsiQkey};
  s.ext.deth.src_qp = Qpn{mad::kGsiQpn};
  s.payload = bytes;
  std::array<std::byte, 512> f{};
  const auto n = wire::build_roce(s, f);
  ASSERT_TRUE(n) << n.error().message;
  t.wire_.inject(1 - to, ConstByteSpan(f).first(*n));
}

// A well-formed RDMA-CM REQ from src to dst:port, its IP header in agreement with the packet's.
mad::Req forged_req(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, std::uint16_t port,
                    std::uint32_t comm_id) {
  mad::Req r;
  r.local_comm_id = comm_id;
  r.service_id = mad::ip_service_id(mad::kPortSpaceTcp, port);
  r.local_ca_guid = 0x0266000000000000ull | comm_id;
  r.local_qpn = 0x100 + (comm_id & 0xffff);
  r.responder_resources = 4;
  r.initiator_depth = 4;
  r.remote_cm_response_timeout = 16;
  r.local_cm_response_timeout = 16;
  r.starting_psn = 0x1234;
  r.retry_count = 7;
  r.rnr_retry_count = 7;
  r.path_mtu = mad::mtu_enum(1024);
  r.max_cm_retries = 3;
  r.primary.local_gid = src;
  r.primary.remote_gid = dst;
  mad::IpCmHeader ip;
  ip.ip_version = engine::is_ipv4_mapped(src) ? wire::IpVersion::v4 : wire::IpVersion::v6;
  ip.src_port = 40000;
  ip.src = src;
  ip.dst = dst;
  mad::write_ip_cm_header(std::span<std::byte, mad::kReqPrivateData>(r.private_data), ip);
  return r;
}

// B listens on port and leaves every request unanswered; the IDs it was given are kept.
std::vector<ConnId>* listen_silently(CmPair& t, std::uint16_t port, std::uint32_t backlog = 0) {
  auto* held = new std::vector<ConnId>;  // lives as long as the test (leaked on purpose: tiny)
  auto l = t.b.cm->listen(
      {{}, port},
      [&t, held](const CmEvent& e) {
        t.b.events.push_back(e);
        if (e.type == Type::connect_request) held->push_back(e.conn);
      },
      backlog);
  EXPECT_TRUE(l) << l.error().message;
  return held;
}

std::uint64_t count(const Side& s, CmCounter c) { return s.cm->counters().get(c); }

TEST(CmHostile, ReqWithHugeTimeoutsIsForgottenAfterTheLifetimeBound) {
  CmPair t;
  auto* held = listen_silently(t, 5);
  // 4.096 us * 2^31 per try and 15 tries: the REQ asks to be kept for ~41 hours.
  auto r = forged_req(t.ip_a(), t.ip_b(), 5, 0x1234);
  r.remote_cm_response_timeout = 31;
  r.local_cm_response_timeout = 31;
  r.max_cm_retries = 15;
  forge(t, 1, t.ip_a(), r);
  t.run_for(kMs);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ(t.b.cm->connection_count(), 1u);
  EXPECT_EQ(count(t.b, CmCounter::timeout_clamped), 1u);
  // The lifetime bound, then the time-wait (1 s): the record is gone and the owner was told.
  t.run_for(kMaxReqLifetimeNs + 2 * kSec, 10 * kMs);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
  EXPECT_EQ(t.b.count(Type::connect_error), 1u);
  EXPECT_EQ(t.b.cm->accept(held->front(), *t.b.new_qp(), {}, t.b.log()).error().code,
            Errc::not_found);
}

TEST(CmHostile, RepToAPeerAskingForHourLongTimeoutsIsResentWithinTheBound) {
  CmPair t;
  t.auto_accept(5);
  auto r = forged_req(t.ip_a(), t.ip_b(), 5, 0x2345);
  r.local_cm_response_timeout = 31;  // "I take 2.4 hours to send my RTU"
  r.max_cm_retries = 15;
  forge(t, 1, t.ip_a(), r);
  t.run_for(kMs);
  ASSERT_EQ(t.accepted_qps.size(), 1u);
  const auto resent = count(t.b, CmCounter::retransmits);
  t.run_for(kMaxPeerResponseWaitNs + kSec, 10 * kMs);
  EXPECT_GT(count(t.b, CmCounter::retransmits), resent)
      << "the REP waits at most the bound per try";
  // Fifteen bounded tries later the record is gone.
  t.run_for(16 * kMaxPeerResponseWaitNs + 2 * kSec, 10 * kMs);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
  EXPECT_EQ(t.b.count(Type::connect_error), 1u);
}

TEST(CmHostile, ForgedMrasDoNotParkAHandshake) {
  CmPair t;
  listen_silently(t, 5);
  // B's own MRAs never reach A: only the forged ones do.
  t.wire_.filter = [](int side, Packet& p) { return !(side == 1 && mad_attr(p) == 0x11); };
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 5};
  auto id = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_TRUE(id);
  t.run_for(kMs);
  mad::Mra mra;
  mra.local_comm_id = 0x9999;
  mra.remote_comm_id = *id;
  mra.message_mraed = mad::MsgKind::req;
  mra.service_timeout = 31;  // "wait 2.4 hours"
  forge(t, 0, t.ip_b(), mra);
  t.run_for(kMs);
  ASSERT_EQ(count(t.a, CmCounter::mra_received), 1u);
  const auto resent = count(t.a, CmCounter::retransmits);
  // More of them, every 5 s: none extends the wait again until A has tried once more.
  for (int i = 0; i < 6; ++i) {
    t.run_for(5 * kSec, 10 * kMs);
    forge(t, 0, t.ip_b(), mra);
  }
  t.run_for(kMaxMraWaitNs - 30 * kSec + kSec, 10 * kMs);
  EXPECT_GT(count(t.a, CmCounter::retransmits), resent) << "the REQ is tried again after the bound";
  EXPECT_GE(count(t.a, CmCounter::timeout_clamped), 1u);
  // However many MRAs come, the handshake ends after its retries (15 x (bound + 537 ms)).
  for (int i = 0; i < 20 && t.a.count(Type::connect_error) == 0; ++i) {
    forge(t, 0, t.ip_b(), mra);
    t.run_for(kMaxMraWaitNs + kSec, 10 * kMs);
  }
  EXPECT_EQ(t.a.count(Type::connect_error), 1u);
}

TEST(CmHostile, ListenerBacklogBoundsUnansweredRequestsAndRejectsTheRestWithReason3) {
  CmPair t;
  auto* held = listen_silently(t, 5, 4);
  std::vector<std::uint16_t> reasons;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 1 && mad_attr(p) == 0x12) {
      auto f = wire::parse_frame(ConstByteSpan(p.data, p.len));
      auto m = mad::decode_cm_mad(f->payload().first(mad::kMadSize));
      reasons.push_back(std::get<mad::Rej>(m->msg).reason);
    }
    return true;
  };
  for (std::uint32_t i = 1; i <= 10; ++i)
    forge(t, 1, t.ip_a(), forged_req(t.ip_a(), t.ip_b(), 5, i));
  t.run_for(kMs);
  EXPECT_EQ(held->size(), 4u);
  EXPECT_EQ(t.b.cm->connection_count(), 4u);
  EXPECT_EQ(count(t.b, CmCounter::backlog_full), 6u);
  EXPECT_EQ(reasons, std::vector<std::uint16_t>(6, 3));  // IBA table 112: no resources
  // Answering one makes room for one more.
  ASSERT_TRUE(t.b.cm->reject(held->front()));
  forge(t, 1, t.ip_a(), forged_req(t.ip_a(), t.ip_b(), 5, 11));
  forge(t, 1, t.ip_a(), forged_req(t.ip_a(), t.ip_b(), 5, 12));
  t.run_for(kMs);
  EXPECT_EQ(held->size(), 5u);
  EXPECT_EQ(count(t.b, CmCounter::backlog_full), 7u);
}

TEST(CmHostile, DeviceRecordBudgetBoundsRecordsAndConnects) {
  CmConfig cfg;
  cfg.max_connections = 3;
  CmPair t(wire::IpVersion::v4, cfg);
  auto* held = listen_silently(t, 5);
  for (std::uint32_t i = 1; i <= 5; ++i)
    forge(t, 1, t.ip_a(), forged_req(t.ip_a(), t.ip_b(), 5, i));
  t.run_for(kMs);
  EXPECT_EQ(held->size(), 3u);
  EXPECT_EQ(t.b.cm->connection_count(), 3u);
  EXPECT_EQ(count(t.b, CmCounter::records_full), 2u);
  ConnectParams p;
  p.remote = {t.ip_a(), 5};
  auto c = t.b.cm->connect(*t.b.new_qp(), p, t.b.log());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::busy);
}

// --- messages bound to the connection's peer ---------------------------------------------------

struct Established {
  ConnId a = 0, b = 0;
  roce::Qp* qa = nullptr;
};

Established connect_a_to_b(CmPair& t, std::uint16_t port) {
  t.auto_accept(port);
  Established e;
  e.qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), port};
  auto id = t.a.cm->connect(*e.qa, p, t.a.log());
  EXPECT_TRUE(id);
  e.a = id ? *id : 0;
  EXPECT_TRUE(t.run_until(
      [&] { return t.a.count(Type::established) == 1 && t.b.count(Type::established) == 1; }));
  e.b = t.b.last(Type::established)->conn;
  return e;
}

std::size_t frames_with_attr(std::vector<std::uint16_t>& seen, std::uint16_t attr) {
  return static_cast<std::size_t>(std::count(seen.begin(), seen.end(), attr));
}

TEST(CmHostile, DreqFromAnyoneButThePeerIsDroppedAndTheConnectionSurvives) {
  CmPair t;
  const auto c = connect_a_to_b(t, 7174);
  std::vector<std::uint16_t> from_b;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 1 && mad_attr(p) != 0) from_b.push_back(mad_attr(p));
    return true;
  };
  mad::Dreq d;
  d.local_comm_id = c.a;
  d.remote_comm_id = c.b;
  d.remote_qpn = t.accepted_qps.at(0)->qpn;
  forge(t, 1, gid_v4(77), d);  // right IDs and QPN, another address
  mad::Dreq wrong_id = d;
  wrong_id.local_comm_id = c.a + 1;
  forge(t, 1, t.ip_a(), wrong_id);  // the peer's address, another communication ID
  t.run_for(10 * kMs);
  EXPECT_EQ(t.b.count(Type::disconnected), 0u);
  EXPECT_EQ(count(t.b, CmCounter::rx_wrong_peer), 2u);
  EXPECT_EQ(frames_with_attr(from_b, 0x16), 0u) << "no DREP for them";
  // The real peer still can.
  ASSERT_TRUE(t.a.cm->disconnect(c.a));
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::disconnected) == 1; }));
  EXPECT_TRUE(t.b.last(Type::disconnected)->peer_initiated);
}

TEST(CmHostile, RejFromAnyoneButThePeerIsDroppedAndTheRequestStaysOpen) {
  CmPair t;
  auto* held = listen_silently(t, 5);
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 5};
  auto id = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_TRUE(id);
  ASSERT_TRUE(t.run_until([&] { return held->size() == 1; }));
  mad::Rej rej;
  rej.local_comm_id = *id;
  rej.remote_comm_id = held->front();
  rej.message_rejected = mad::MsgKind::rep;
  rej.reason = static_cast<std::uint16_t>(mad::RejectReason::timeout);
  forge(t, 1, gid_v4(77), rej);
  rej.local_comm_id = *id + 1;
  forge(t, 1, t.ip_a(), rej);
  t.run_for(10 * kMs);
  EXPECT_EQ(t.b.count(Type::rejected), 0u);
  EXPECT_EQ(count(t.b, CmCounter::rx_wrong_peer), 2u);
  // The request is still there to accept.
  ASSERT_TRUE(t.b.cm->accept(held->front(), *t.b.new_qp(), {}, t.b.log()));
  ASSERT_TRUE(t.run_until(
      [&] { return t.a.count(Type::established) == 1 && t.b.count(Type::established) == 1; }));
}

TEST(CmHostile, RtuAndMraFromAnyoneButThePeerAreDropped) {
  CmPair t;
  t.auto_accept(7174);
  bool first_rtu = true;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 0 && mad_attr(p) == 0x14 && first_rtu) return first_rtu = false;
    return true;
  };
  roce::Qp* qa = t.a.new_qp();
  ConnectParams p;
  p.remote = {t.ip_b(), 7174};
  auto id = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_TRUE(id);
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) == 1; }));
  const ConnId b_id = t.b.last(Type::connect_request)->conn;
  // A's RTU was lost: B waits in REP sent. An RTU from elsewhere does not complete it.
  mad::Rtu rtu;
  rtu.local_comm_id = *id;
  rtu.remote_comm_id = b_id;
  forge(t, 1, gid_v4(77), rtu);
  t.b.ep->dev->poll();
  t.b.cm->poll();
  EXPECT_EQ(t.b.count(Type::established), 0u);
  EXPECT_EQ(count(t.b, CmCounter::rx_wrong_peer), 1u);
  // The resent REP brings the real RTU.
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::established) == 1; }));

  // An MRA from elsewhere does not delay a REQ either.
  listen_silently(t, 5);
  ConnectParams p2;
  p2.remote = {t.ip_b(), 5};
  auto id2 = t.a.cm->connect(*t.a.new_qp(), p2, t.a.log());
  ASSERT_TRUE(id2);
  t.run_for(kMs);
  mad::Mra mra;
  mra.remote_comm_id = *id2;
  mra.service_timeout = 31;
  forge(t, 0, gid_v4(77), mra);
  t.run_for(kMs);
  EXPECT_EQ(count(t.a, CmCounter::mra_received), 0u);
  EXPECT_EQ(count(t.a, CmCounter::rx_wrong_peer), 1u);
}

// --- the REQ's IP private-data header against the packet ---------------------------------------

TEST(CmHostile, ReqWhosePrivateDataAddressesAreNotThePacketsIsRejectedWithReason12) {
  CmPair t;
  t.auto_accept(5);
  std::vector<std::uint16_t> reasons;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 1 && mad_attr(p) == 0x12) {
      auto f = wire::parse_frame(ConstByteSpan(p.data, p.len));
      auto m = mad::decode_cm_mad(f->payload().first(mad::kMadSize));
      reasons.push_back(std::get<mad::Rej>(m->msg).reason);
    }
    return true;
  };
  // Claims to come from another host, then to be for another address, then to be IPv6.
  forge(t, 1, t.ip_a(), forged_req(gid_v4(50), t.ip_b(), 5, 1));
  forge(t, 1, t.ip_a(), forged_req(t.ip_a(), gid_v4(9), 5, 2));
  auto r = forged_req(t.ip_a(), t.ip_b(), 5, 3);
  mad::IpCmHeader v6;
  v6.ip_version = wire::IpVersion::v6;
  v6.src_port = 40000;
  v6.src = t.ip_a();
  v6.dst = t.ip_b();
  mad::write_ip_cm_header(std::span<std::byte, mad::kReqPrivateData>(r.private_data), v6);
  forge(t, 1, t.ip_a(), r);
  t.run_for(10 * kMs);
  EXPECT_EQ(t.b.count(Type::connect_request), 0u);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
  EXPECT_EQ(count(t.b, CmCounter::ip_header_mismatch), 3u);
  EXPECT_EQ(reasons, std::vector<std::uint16_t>(3, 12));
  // One that agrees is taken, and the owner is told the packet's addresses.
  forge(t, 1, t.ip_a(), forged_req(t.ip_a(), t.ip_b(), 5, 4));
  t.run_for(10 * kMs);
  ASSERT_EQ(t.b.count(Type::connect_request), 1u);
  EXPECT_EQ(t.b.last(Type::connect_request)->remote, (Address{t.ip_a(), 40000}));
  EXPECT_EQ(t.b.last(Type::connect_request)->local, (Address{t.ip_b(), 5}));
}

// --- floods from forged sources ----------------------------------------------------------------

TEST(CmHostile, HundredThousandReqsFromForgedSourcesLeaveRecordsQueuesAndNeighboursBounded) {
  CmPair t;
  listen_silently(t, 5);
  const CmConfig defaults;
  const engine::NeighbourConfig neighbour_defaults;
  const auto& neighbours = t.b.ep->dev->neighbours();
  std::size_t most_records = 0, most_queued = 0, most_unresolved = 0, most_neighbours = 0;
  // 1000 REQs a second for 100 s, each from its own address, each asking to be kept for hours.
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    const wire::Ipv6Addr src =
        wire::ipv4_mapped({10, static_cast<std::uint8_t>(i >> 16),
                           static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)});
    auto r = forged_req(src, t.ip_b(), 5, i + 1);
    r.remote_cm_response_timeout = 31;
    r.max_cm_retries = 15;
    forge(t, 1, src, r);
    if (i % 64 != 63) continue;
    for (int k = 0; k < 4; ++k) {
      t.b.ep->dev->poll();
      t.b.cm->poll();
      t.a.ep->dev->poll();  // takes B's ARP requests off the wire
    }
    t.clock_.advance(64 * kMs);
    most_records = std::max(most_records, t.b.cm->connection_count());
    most_queued = std::max(most_queued, t.b.cm->queued_mads());
    most_unresolved = std::max(most_unresolved, neighbours.unresolved());
    most_neighbours = std::max(most_neighbours, neighbours.size());
  }
  // The backlog, and the requests that left it for their time-wait (1 s) as others came in.
  EXPECT_LE(most_records, 2 * defaults.listen_backlog);
  EXPECT_LE(most_queued, defaults.max_unbound_unresolved);
  EXPECT_LE(most_unresolved, neighbour_defaults.max_unresolved);
  EXPECT_LT(most_neighbours, neighbour_defaults.capacity) << "room is left for peers that answer";
  const auto& c = t.b.cm->counters();
  EXPECT_GT(c.get(CmCounter::backlog_full), 90'000u);
  EXPECT_EQ(c.get(CmCounter::rej_sent), c.get(CmCounter::backlog_full));
  EXPECT_GT(c.get(CmCounter::tx_unbound_dropped) + c.get(CmCounter::resolve_failed), 90'000u);
  EXPECT_GT(neighbours.counters().get(engine::NeighbourCounter::unresolved_full), 0u);
  // When it stops, everything it made goes away on its own.
  t.run_for(kMaxReqLifetimeNs + 5 * kSec, 10 * kMs);
  EXPECT_EQ(t.b.cm->connection_count(), 0u);
  EXPECT_EQ(t.b.cm->queued_mads(), 0u);
  EXPECT_EQ(neighbours.size(), 0u);
  // And a real peer connects.
  const auto e = connect_a_to_b(t, 7174);
  EXPECT_NE(e.b, 0u);
}

TEST(CmHostile, ConnectWhoseReqFindsTheSendQueueFullFailsInsteadOfHanging) {
  CmConfig cfg;
  cfg.max_pending = 2;
  CmPair t(wire::IpVersion::v4, cfg);
  // A peer that never answers ARP: the first two REQs wait for its MAC and fill the queue.
  for (int i = 0; i < 5; ++i) {
    ConnectParams p;
    p.remote = {gid_v4(99), 7174};
    ASSERT_TRUE(t.a.cm->connect(*t.a.new_qp(), p, t.a.log()));
  }
  t.run_for(10 * kMs);
  EXPECT_EQ(count(t.a, CmCounter::tx_dropped), 3u);
  ASSERT_EQ(t.a.count(Type::connect_error), 3u);
  EXPECT_NE(t.a.last(Type::connect_error)->message.find("send queue is full"), std::string::npos);
  EXPECT_EQ(t.a.last(Type::connect_error)->cause, CmEvent::Cause::aborted);
  // The two that waited fail when the neighbour does.
  t.run_for(5 * kSec, 10 * kMs);
  EXPECT_EQ(t.a.count(Type::connect_error), 5u);
}

}  // namespace
}  // namespace softrnic::cm::test
