// RC features one at a time: inline data, scatter/gather, solicited events, fences, duplicate
// READ re-execution, ECN/CNP, and what the responder does with packets it must not accept.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "harness.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

class RcFeatures : public ::testing::Test {
 protected:
  void connect(QpInit init = {}) { devs.connect(verbs::QpType::rc, 1024, init); }
  std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf) {
    return *e.dev->memory().register_mr(e.pd, buf.data(), buf.size(), 0,
                                        verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead |
                                            verbs::kZeroBased);
  }
  std::vector<verbs::Cqe> wait(verbs::Cq* cq, std::size_t n) {
    std::vector<verbs::Cqe> out;
    devs.run_until([&] {
      auto x = devs.drain(cq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    }, 200000, 10000);
    return out;
  }
  void post_recv(std::uint32_t key, std::uint32_t len, std::uint64_t id = 0) {
    RecvWr r;
    r.wr_id = id;
    r.num_sge = 1;
    r.sg[0] = {0, len, key};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  }

  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
};

TEST_F(RcFeatures, InlineSendCarriesTheBytesCopiedAtPostTime) {
  QpInit init;
  init.max_inline = 128;
  connect(init);
  std::vector<std::byte> dst(256);
  post_recv(reg(devs.b, dst), 256);
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled | verbs::kInline;
  s.inline_len = 100;
  for (int i = 0; i < 100; ++i) s.inline_data[i] = std::byte(i);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  s.inline_data[0] = std::byte{0xff};  // the consumer reuses its WR: already copied
  auto rc = wait(devs.b.rcq, 1);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, 100u);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(dst[i], std::byte(i));
}

TEST_F(RcFeatures, ScatterGatherListsOnBothSides) {
  QpInit init;
  init.max_send_sge = 3;
  init.max_recv_sge = 4;
  connect(init);
  std::vector<std::byte> src(3000);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i * 7);
  std::vector<std::byte> dst(4000);
  const auto lk = reg(devs.a, src);
  const auto rk = reg(devs.b, dst);
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  s.num_sge = 3;
  s.sg[0] = {0, 1000, lk};
  s.sg[1] = {1000, 1, lk};
  s.sg[2] = {1001, 1999, lk};
  RecvWr r;
  r.num_sge = 4;
  r.sg[0] = {3000, 500, rk};  // receive lands in four pieces, out of address order
  r.sg[1] = {0, 1500, rk};
  r.sg[2] = {1500, 3, rk};
  r.sg[3] = {1503, 1000, rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  auto rc = wait(devs.b.rcq, 1);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, 3000u);
  EXPECT_TRUE(std::equal(src.begin(), src.begin() + 500, dst.begin() + 3000));
  EXPECT_TRUE(std::equal(src.begin() + 500, src.begin() + 2000, dst.begin()));
  EXPECT_TRUE(std::equal(src.begin() + 2000, src.begin() + 2003, dst.begin() + 1500));
  EXPECT_TRUE(std::equal(src.begin() + 2003, src.end(), dst.begin() + 1503));
}

TEST_F(RcFeatures, SolicitedEventFlagReachesTheReceiveCompletionAndItsNotification) {
  connect();
  std::vector<std::byte> buf(64);
  const auto k = reg(devs.b, buf);
  post_recv(k, 64, 1);
  post_recv(k, 64, 2);
  int notified = 0;
  devs.b.rcq->set_handler([](void* c, verbs::Cq&) { ++*static_cast<int*>(c); }, &notified);
  devs.b.rcq->arm(verbs::ArmType::solicited);
  SendWr s;
  s.opcode = WrOpcode::send;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  devs.run_until([&] { return devs.b.rcq->size() == 1; });
  devs.run_until([] { return false; }, 50);
  EXPECT_EQ(notified, 0) << "an unsolicited receive does not wake a solicited-armed CQ";
  s.flags = verbs::kSolicited;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  devs.run_until([&] { return notified == 1; });
  auto rc = devs.drain(devs.b.rcq);
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_FALSE(rc[0].flags & verbs::Cqe::kSolicited);
  EXPECT_TRUE(rc[1].flags & verbs::Cqe::kSolicited);
  EXPECT_EQ(notified, 1);
}

TEST_F(RcFeatures, FencedSendWaitsForThePrecedingRead) {
  connect();
  std::vector<int> order;  // opcodes as they cross the wire
  wire.filter = [&](int, Packet& p) {
    order.push_back(static_cast<int>(p.data[14 + 20 + 8]));
    return true;
  };
  std::vector<std::byte> local(8192), remote(8192), rbuf(64);
  const auto lk = reg(devs.a, local);
  const auto rk = reg(devs.b, remote);
  post_recv(reg(devs.b, rbuf), 64);
  SendWr rd;
  rd.opcode = WrOpcode::rdma_read;
  rd.flags = verbs::kSignaled;
  rd.num_sge = 1;
  rd.sg[0] = {0, 4096, lk};
  rd.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled | verbs::kFence;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  auto sc = wait(devs.a.scq, 2);
  ASSERT_EQ(sc.size(), 2u);
  const auto send_at = std::find(order.begin(), order.end(), 0x04) - order.begin();
  const auto last_resp = std::find(order.begin(), order.end(), 0x0f) - order.begin();
  ASSERT_LT(last_resp, static_cast<long>(order.size()));
  EXPECT_GT(send_at, last_resp) << "the fenced SEND left before the READ finished";
}

TEST_F(RcFeatures, DuplicateReadIsReexecutedFromItsOwnPsnAndReth) {
  connect();
  bool dropped = false;
  wire.filter = [&](int side, Packet& p) {
    // Lose the first READ RESPONSE MIDDLE: the requester asks again from that PSN.
    if (side == 1 && p.data[14 + 20 + 8] == std::byte{0x0e} && !dropped) {
      dropped = true;
      return false;
    }
    return true;
  };
  std::vector<std::byte> local(4096), remote(4096);
  for (std::size_t i = 0; i < remote.size(); ++i) remote[i] = std::byte(i * 3 + 1);
  const auto lk = reg(devs.a, local);
  const auto rk = reg(devs.b, remote);
  SendWr rd;
  rd.opcode = WrOpcode::rdma_read;
  rd.flags = verbs::kSignaled;
  rd.num_sge = 1;
  rd.sg[0] = {0, 4096, lk};
  rd.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  auto sc = wait(devs.a.scq, 1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_TRUE(dropped);
  EXPECT_EQ(local, remote);
  EXPECT_GE(devs.b.qp->counters.duplicates_rx, 1u) << "the retried READ was a duplicate at B";
}

constexpr std::uint32_t kBig = 128 * 1024;  // 128 READ responses at a 1024-byte PMTU

TEST_F(RcFeatures, ALostReadResponseIsAskedForAgainOncePerGap) {
  connect();
  int requests = 0;
  bool dropped = false;
  wire.filter = [&](int side, Packet& p) {
    const std::byte op = p.data[14 + 20 + 8];
    if (side == 0 && op == std::byte{0x0c}) ++requests;
    // Lose the first READ RESPONSE MIDDLE: the 126 responses after it arrive out of sequence,
    // in several receive bursts, and each burst asking again would have B replay the read again.
    if (side == 1 && op == std::byte{0x0e} && !dropped) {
      dropped = true;
      return false;
    }
    return true;
  };
  std::vector<std::byte> local(kBig), remote(kBig);
  for (std::size_t i = 0; i < remote.size(); ++i) remote[i] = std::byte(i * 7 + 3);
  const auto lk = reg(devs.a, local);
  const auto rk = reg(devs.b, remote);
  SendWr rd;
  rd.opcode = WrOpcode::rdma_read;
  rd.flags = verbs::kSignaled;
  rd.num_sge = 1;
  rd.sg[0] = {0, kBig, lk};
  rd.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  auto sc = wait(devs.a.scq, 1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_TRUE(dropped);
  EXPECT_EQ(local, remote);
  EXPECT_EQ(requests, 2) << "the READ and one re-request from the lost response";
}

TEST_F(RcFeatures, AReplayedReadWhoseRegionWentAwayEndsQuietlyAndTheResponderStaysUp) {
  connect();
  std::vector<std::byte> local(kBig), remote(kBig);
  const auto lk = reg(devs.a, local);
  const auto rk = reg(devs.b, remote);
  int responses = 0;
  bool dropped = false, deregistered = false;
  wire.filter = [&](int side, Packet& p) {
    const std::byte op = p.data[14 + 20 + 8];
    if (side != 1 || op < std::byte{0x0d} || op > std::byte{0x10}) return true;
    ++responses;
    if (op == std::byte{0x0e} && !dropped) {  // lose one: A asks again from it
      dropped = true;
      return false;
    }
    // The replay's first burst is out: the region goes away while B is still answering it (as
    // when the requester, which had the data, invalidates the buffer's key).
    if (dropped && !deregistered && responses > 128) {
      deregistered = true;
      EXPECT_TRUE(devs.b.dev->memory().deregister(rk).has_value());
    }
    return true;
  };
  SendWr rd;
  rd.opcode = WrOpcode::rdma_read;
  rd.flags = verbs::kSignaled;
  rd.num_sge = 1;
  rd.sg[0] = {0, kBig, lk};
  rd.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  wait(devs.a.scq, 1);
  ASSERT_TRUE(deregistered);
  EXPECT_EQ(devs.b.qp->attr.state, verbs::QpState::rts) << "a replay is no request error of B's";
  EXPECT_TRUE(devs.b.dev->events().empty());
}

TEST(RcGoBackN, AnAckThatOvertakesTheResendsLeavesNoCursorBehindRetiredWork) {
  // A small buffer pool stops A's resends part way, so the ACK for the first of them (covering
  // all) comes back while A's requester is still behind.
  PipeWire wire(48);
  VirtualClock clock;
  TwoDevices devs(wire.a, wire.b, clock);
  devs.connect(verbs::QpType::rc, 1024);
  auto wait = [&](std::size_t n) {
    std::vector<verbs::Cqe> out;
    devs.run_until([&] {
      auto x = devs.drain(devs.a.scq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    }, 200000, 10000);
    return out;
  };
  // B's ACKs are lost until A times out and resends from the first SEND.
  bool acks_lost = true, behind = false;
  wire.filter = [&](int side, Packet& p) {
    if (side == 0) {
      if (devs.a.qp->counters.timeouts > 0) acks_lost = false;
      if (devs.a.qp->sq_req < devs.a.qp->sq_una) behind = true;
      return true;
    }
    return !(acks_lost && p.data[14 + 20 + 8] == std::byte{0x11});
  };
  std::vector<std::byte> buf(64 * 200);
  const auto k = *devs.b.dev->memory().register_mr(devs.b.pd, buf.data(), buf.size(), 0,
                                                   verbs::kLocalWrite | verbs::kZeroBased);
  for (int i = 0; i < 200; ++i) {
    RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {std::uint64_t(i) * 64, 64, k};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  }
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  ASSERT_EQ(wait(100).size(), 100u);
  EXPECT_GE(devs.a.qp->counters.timeouts, 1u);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  const auto more = wait(100);
  ASSERT_EQ(more.size(), 100u);
  for (const auto& c : more) EXPECT_EQ(c.status, WcStatus::success);
  EXPECT_FALSE(behind) << "A sent while its requester cursor was behind retired WQEs";
  EXPECT_LT(devs.a.qp->counters.retransmits, 100u) << "acknowledged SENDs were resent";
}

TEST_F(RcFeatures, CeMarkedPacketsAreAnsweredWithRateLimitedCnps) {
  connect();
  wire.filter = [&](int side, Packet& p) {
    if (side == 0) {  // a congested switch marks A's packets CE
      wire::Ipv4Mut ip(wire::Ipv4Mut::Span(p.data + 14, 20));
      ip.set_tos(static_cast<std::uint8_t>(ip.tos() | 0x03));
      ip.update_checksum();  // the ICRC masks the TOS byte, so it still verifies
    }
    return true;
  };
  std::vector<std::byte> buf(64);
  const auto k = reg(devs.b, buf);
  for (int i = 0; i < 10; ++i) post_recv(k, 64);
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  wait(devs.a.scq, 5);
  EXPECT_EQ(devs.b.dev->counters().get(DeviceCounter::cnp_sent), 1u) << "one CNP per interval";
  EXPECT_EQ(devs.a.dev->counters().get(DeviceCounter::cnp_received), 1u);
  EXPECT_EQ(devs.a.qp->counters.cnps_rx, 1u);
  clock.advance(devs.b.dev->config().cnp_interval_ns);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  wait(devs.a.scq, 5);
  EXPECT_EQ(devs.b.dev->counters().get(DeviceCounter::cnp_sent), 2u);
}

TEST_F(RcFeatures, TransmittedPacketsAreMarkedEct0) {
  connect();
  int ect0 = 0, total = 0;
  wire.filter = [&](int, Packet& p) {
    ++total;
    ect0 += (static_cast<std::uint8_t>(p.data[15]) & 3) == 2;
    return true;
  };
  SendWr s;
  s.opcode = WrOpcode::rdma_write;
  s.flags = verbs::kSignaled;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  wait(devs.a.scq, 1);
  EXPECT_GT(total, 1);
  EXPECT_EQ(ect0, total);
}

wire::RoceSpec spec_to(Endpoint& from, Endpoint& to, std::uint8_t opcode, Psn psn) {
  wire::RoceSpec s = from.qp->tx_spec;
  s.bth.opcode = opcode;
  s.bth.dest_qp = Qpn{to.qp->qpn};
  s.bth.psn = psn;
  return s;
}

TEST_F(RcFeatures, PacketsForUnknownQpsAreDroppedAndCounted) {
  connect();
  std::array<std::byte, 256> f;
  auto s = spec_to(devs.a, devs.b, 0x04, devs.b.qp->epsn);
  s.bth.dest_qp = Qpn{0x777};
  const auto n = wire::build_roce(s, f);
  ASSERT_TRUE(n);
  wire.inject(0, ConstByteSpan(f).first(*n));
  devs.b.dev->poll();
  EXPECT_EQ(devs.b.dev->counters().get(DeviceCounter::rx_drop_unknown_qp), 1u);
  EXPECT_EQ(devs.b.qp->attr.state, verbs::QpState::rts);
}

TEST_F(RcFeatures, UnexpectedOpcodeIsAnInvalidRequestThatErrorsTheResponder) {
  connect();
  std::array<std::byte, 2048> f;
  std::vector<std::byte> payload(1024);
  auto s = spec_to(devs.a, devs.b, 0x01, devs.b.qp->epsn);  // SEND MIDDLE with no message begun
  s.payload = payload;
  const auto n = wire::build_roce(s, f);
  ASSERT_TRUE(n);
  int naks = 0;
  wire.filter = [&](int side, Packet& p) {
    if (side == 1 && p.data[14 + 20 + 8] == std::byte{0x11} &&
        wire::aeth::type(static_cast<std::uint8_t>(p.data[14 + 20 + 8 + 12])) == wire::aeth::kTypeNak &&
        wire::aeth::value(static_cast<std::uint8_t>(p.data[14 + 20 + 8 + 12])) == wire::aeth::kNakInvalidRequest)
      ++naks;
    return true;
  };
  wire.inject(0, ConstByteSpan(f).first(*n));
  for (int i = 0; i < 4; ++i) devs.b.dev->poll();
  EXPECT_EQ(naks, 1);
  EXPECT_EQ(devs.b.qp->attr.state, verbs::QpState::err);
  ASSERT_FALSE(devs.b.dev->events().empty());
  EXPECT_EQ(devs.b.dev->events().back().type, AsyncEvent::Type::qp_request_error);
}

TEST_F(RcFeatures, CorruptedPacketIsDroppedByIcrcAndTheRetryDeliversIt) {
  QpAttrs x;
  x.timeout = 8;
  devs.connect(verbs::QpType::rc, 1024, {}, x);
  bool flipped = false;
  wire.filter = [&](int side, Packet& p) {
    if (side == 0 && !flipped) {
      flipped = true;
      p.data[p.len - 10] ^= std::byte{0x10};  // a payload bit
    }
    return true;
  };
  std::vector<std::byte> src(100, std::byte{7}), dst(100);
  const auto lk = reg(devs.a, src);
  post_recv(reg(devs.b, dst), 100);
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 100, lk};
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  auto sc = wait(devs.a.scq, 1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(devs.b.dev->drops().get(wire::DropReason::bad_icrc), 1u);
  EXPECT_EQ(dst, src);
  EXPECT_GE(devs.a.qp->counters.timeouts, 1u);
}

TEST_F(RcFeatures, SqdLetsStartedWorkFinishHoldsTheRestAndReportsTheDrain) {
  connect();
  std::vector<std::byte> src(64 * 1024), dst(64 * 1024);
  const auto lk = reg(devs.a, src);
  const auto rk = reg(devs.b, dst);
  SendWr w;
  w.opcode = WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 64 * 1024, lk};  // 64 packets each: the first is in flight when SQD arrives
  w.rkey = rk;
  for (int i = 0; i < 4; ++i) {
    w.wr_id = i;
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  }
  devs.a.dev->poll();  // the first WR starts
  QpAttrs x;
  x.state = verbs::QpState::sqd;
  ASSERT_TRUE(devs.a.dev->modify_qp(*devs.a.qp, x, verbs::kAttrState));
  bool drained = false;
  devs.run_until([&] {
    for (const auto& e : devs.a.dev->events()) drained |= e.type == AsyncEvent::Type::sq_drained;
    return drained;
  });
  ASSERT_TRUE(drained);
  auto sc = devs.drain(devs.a.scq);
  ASSERT_EQ(sc.size(), 1u) << "only the WR started before SQD completes";
  EXPECT_EQ(sc[0].wr_id, 0u);
  devs.run_until([] { return false; }, 100);
  EXPECT_TRUE(devs.drain(devs.a.scq).empty());
  x.state = verbs::QpState::rts;
  ASSERT_TRUE(devs.a.dev->modify_qp(*devs.a.qp, x, verbs::kAttrState));
  sc = wait(devs.a.scq, 3);
  ASSERT_EQ(sc.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sc[i].wr_id, static_cast<std::uint64_t>(i + 1));
}

}  // namespace
}  // namespace softrnic::roce::test
