// Devices find each other's MAC by ARP (IPv4) and neighbour discovery (IPv6) before the first
// packet of a QP, and a peer that never answers fails the QP with an error naming it.
#include <gtest/gtest.h>

#include <vector>

#include "harness.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;

class Neighbours : public ::testing::TestWithParam<wire::IpVersion> {};

TEST_P(Neighbours, PeersResolveEachOtherWithNoStaticEntries) {
  VirtualClock clock;
  PipeWire wire;
  int arp = 0, nd = 0;
  wire.filter = [&](int, Packet& p) {
    arp += p.data[12] == std::byte{0x08} && p.data[13] == std::byte{0x06};
    nd += p.data[12] == std::byte{0x86} && p.data[13] == std::byte{0xdd} && p.data[14 + 6] == std::byte{58};
    return true;
  };
  TwoDevices devs{wire.a, wire.b, clock, GetParam()};
  devs.resolve_macs = true;
  devs.connect(verbs::QpType::rc, 1024);
  EXPECT_TRUE(devs.a.qp->peer_unresolved);
  std::vector<std::byte> src(100, std::byte{4}), dst(100);
  const auto lk = *devs.a.dev->memory().register_mr(devs.a.pd, src.data(), 100, 0, verbs::kZeroBased);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), 100, 0,
                                                    verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased);
  SendWr w;
  w.opcode = verbs::WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, 100, lk};
  w.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return !sc.empty();
  }));
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(dst, src);
  EXPECT_FALSE(devs.a.qp->peer_unresolved);
  EXPECT_EQ(devs.a.qp->attr.av.dst_mac, devs.b.dev->config().mac);
  if (GetParam() == wire::IpVersion::v4) {
    EXPECT_GE(arp, 2) << "request and reply";
  } else {
    EXPECT_GE(nd, 2) << "solicitation and advertisement";
  }
}

TEST_P(Neighbours, APeerThatNeverAnswersFailsTheQpWithAnErrorNamingIt) {
  VirtualClock clock;
  PipeWire wire;
  wire.filter = [](int, Packet&) { return false; };  // the peer is unplugged
  TwoDevices devs{wire.a, wire.b, clock, GetParam()};
  devs.resolve_macs = true;
  devs.connect(verbs::QpType::rc, 1024);
  SendWr w;
  w.opcode = verbs::WrOpcode::send;
  w.flags = verbs::kSignaled;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    auto x = devs.drain(devs.a.scq);
    sc.insert(sc.end(), x.begin(), x.end());
    return !sc.empty();
  }, 400000, 100'000'000));  // 100 ms steps: the default retransmit timer is 1 s
  EXPECT_EQ(sc[0].status, WcStatus::retry_exceeded_error);
  EXPECT_EQ(devs.a.qp->attr.state, verbs::QpState::err);
  ASSERT_FALSE(devs.a.dev->events().empty());
  const auto& ev = devs.a.dev->events().back();
  EXPECT_EQ(ev.type, AsyncEvent::Type::qp_fatal);
  EXPECT_NE(ev.message.find("no answer from"), std::string::npos) << ev.message;
  EXPECT_NE(ev.message.find(GetParam() == wire::IpVersion::v4 ? "198.18.0.2" : "fd00:5052::2"), std::string::npos)
      << ev.message;
}

INSTANTIATE_TEST_SUITE_P(Ip, Neighbours, ::testing::Values(wire::IpVersion::v4, wire::IpVersion::v6),
                         [](const auto& info) { return info.param == wire::IpVersion::v4 ? "ipv4" : "ipv6"; });

}  // namespace
}  // namespace softrnic::roce::test
