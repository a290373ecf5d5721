// The CM against a hostile peer: everything a peer sends is forged at will. REQs with absurd
// timeouts, REQ floods, MRAs that would park a handshake for hours; each bound holds on the
// virtual clock, and what is refused is counted.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace softrnic::cm::test
