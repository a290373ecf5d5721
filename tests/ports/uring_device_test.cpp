// Two RoCE devices over two io_uring UDP ports, on 198.18.0.1/.2 or fd00:5052::1/::2 (UDP 4791)
// inside a private network namespace (the devices' GID tables refuse loopback addresses), with a
// real clock: RC send, write, read and atomics, UD send, and how the ICRC verdict differs
// between IPv4 (the socket hides the IP ID: unverifiable) and IPv6 (fully checked).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "uring_fixture.hpp"
#include "wire/build.hpp"

namespace softrnic::transport::test {
namespace {

using roce::RecvWr;
using roce::SendWr;
using verbs::WcStatus;
using verbs::WrOpcode;
using wire::IpVersion;

class UringDevices : public ::testing::TestWithParam<IpVersion> {
 protected:
  void SetUp() override {
    netns_ = std::make_unique<PrivateNetns>();
    if (!netns_->ok()) GTEST_SKIP() << "SKIPPED: " << netns_->reason();
    pair_ = open_netns_pair(GetParam());
    if (!pair_.skip_reason.empty())
      GTEST_SKIP() << "SKIPPED: io_uring unavailable: " << pair_.skip_reason;
    ASSERT_TRUE(pair_.a && pair_.b);
    devs_ = std::make_unique<SocketDevices>(*pair_.a, *pair_.b, GetParam());
  }
  void TearDown() override {
    devs_.reset();  // devices go before their ports, ports before their namespace
    pair_ = {};
    netns_.reset();
  }

  std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf) {
    const auto acc =
        verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kRemoteAtomic;
    return *e.dev->memory().register_mr(e.pd, buf.data(), buf.size(),
                                        reinterpret_cast<std::uint64_t>(buf.data()), acc);
  }
  std::vector<verbs::Cqe> wait_for(verbs::Cq* cq, std::size_t n) {
    std::vector<verbs::Cqe> out;
    devs_->run_until([&] {
      auto x = SocketDevices::drain(cq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    });
    return out;
  }
  static std::uint64_t sge_addr(std::vector<std::byte>& b) {
    return reinterpret_cast<std::uint64_t>(b.data());
  }

  std::unique_ptr<PrivateNetns> netns_;
  PortPair pair_;
  std::unique_ptr<SocketDevices> devs_;
};

INSTANTIATE_TEST_SUITE_P(Ip, UringDevices, ::testing::Values(IpVersion::v4, IpVersion::v6),
                         [](const auto& info) {
                           return info.param == IpVersion::v4 ? "Ipv4" : "Ipv6";
                         });

TEST_P(UringDevices, RcSendWriteReadAndAtomicsCompleteOverKernelSockets) {
  auto& d = *devs_;
  d.connect(verbs::QpType::rc, 4096);
  constexpr std::size_t kSend = 20000, kBig = 64 * 1024;
  std::vector<std::byte> src(kBig), recv(kSend), remote(kBig), back(kBig);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte((i * 31 + 7) & 0xff);
  std::vector<std::byte> cell(8), result(8);
  const std::uint64_t forty = 40;
  std::memcpy(cell.data(), &forty, 8);
  const auto src_k = reg(d.a, src), back_k = reg(d.a, back), result_k = reg(d.a, result);
  const auto recv_k = reg(d.b, recv), remote_k = reg(d.b, remote), cell_k = reg(d.b, cell);

  RecvWr r;
  r.wr_id = 50;
  r.num_sge = 1;
  r.sg[0] = {sge_addr(recv), static_cast<std::uint32_t>(kSend), recv_k};
  ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
  SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.wr_id = 1;
  s.opcode = WrOpcode::send;
  s.sg[0] = {sge_addr(src), static_cast<std::uint32_t>(kSend), src_k};
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  s.wr_id = 2;
  s.opcode = WrOpcode::rdma_write;
  s.sg[0] = {sge_addr(src), static_cast<std::uint32_t>(kBig), src_k};
  s.remote_addr = sge_addr(remote);
  s.rkey = remote_k;
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  s.wr_id = 3;
  s.opcode = WrOpcode::rdma_read;  // reads back what the write placed (IBA ordering on one QP)
  s.sg[0] = {sge_addr(back), static_cast<std::uint32_t>(kBig), back_k};
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  s.wr_id = 4;
  s.opcode = WrOpcode::atomic_fetch_add;
  s.sg[0] = {sge_addr(result), 8, result_k};
  s.remote_addr = sge_addr(cell);
  s.rkey = cell_k;
  s.compare_add = 2;
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));

  auto sc = wait_for(d.a.scq, 4);
  ASSERT_EQ(sc.size(), 4u);
  for (std::size_t i = 0; i < sc.size(); ++i) {
    EXPECT_EQ(sc[i].wr_id, i + 1);
    EXPECT_EQ(sc[i].status, WcStatus::success) << "wr " << sc[i].wr_id;
  }
  const auto rc = wait_for(d.b.rcq, 1);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, kSend);
  EXPECT_TRUE(std::equal(recv.begin(), recv.end(), src.begin()));
  EXPECT_EQ(remote, src);
  EXPECT_EQ(back, src);
  std::uint64_t orig = 0, now = 0;
  std::memcpy(&orig, result.data(), 8);
  std::memcpy(&now, cell.data(), 8);
  EXPECT_EQ(orig, 40u);
  EXPECT_EQ(now, 42u);

  s.wr_id = 5;
  s.opcode = WrOpcode::atomic_cmp_swap;
  s.compare_add = 42;
  s.swap = 7;
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  sc = wait_for(d.a.scq, 1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::success);
  std::memcpy(&orig, result.data(), 8);
  std::memcpy(&now, cell.data(), 8);
  EXPECT_EQ(orig, 42u);
  EXPECT_EQ(now, 7u);

  // Both engines check every ICRC against the synthetic headers. IPv4 frames are flagged
  // unverifiable, but the kernel sends ID 0, so they verify too and none is counted unverified.
  const bool v4 = GetParam() == IpVersion::v4;
  for (Endpoint* e : {&d.a, &d.b}) {
    EXPECT_EQ(e->dev->drops().get(wire::DropReason::bad_icrc), 0u);
    EXPECT_EQ(e->dev->counters().get(roce::DeviceCounter::rx_icrc_unverified), 0u);
    EXPECT_EQ(e->dev->counters().get(roce::DeviceCounter::rx_drop_not_roce), 0u);
  }
  for (UringUdpPort* p : {pair_.a.get(), pair_.b.get()}) {
    EXPECT_GT(p->counters().get(UringCounter::rx_packets), 0u);
    EXPECT_EQ(p->counters().get(UringCounter::rx_icrc_unverifiable),
              v4 ? p->counters().get(UringCounter::rx_packets) : 0u);
    EXPECT_EQ(p->counters().get(UringCounter::tx_errors), 0u);
  }
}

TEST_P(UringDevices, UdSendArrivesWithItsGrhAndPayload) {
  auto& d = *devs_;
  d.connect(verbs::QpType::ud, 1024);
  std::vector<std::byte> src(700), dst(40 + 1024);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i & 0xff);
  const auto lk = reg(d.a, src);
  const auto rk = reg(d.b, dst);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {sge_addr(dst), static_cast<std::uint32_t>(dst.size()), rk};
  ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
  roce::AddressHandle ah = d.a.qp->attr.av;
  SendWr s;
  s.opcode = WrOpcode::send;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {sge_addr(src), static_cast<std::uint32_t>(src.size()), lk};
  s.ah = &ah;
  s.remote_qpn = d.b.qp->qpn;
  s.remote_qkey = 0x11111111;
  ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  const auto rc = wait_for(d.b.rcq, 1);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_EQ(rc[0].byte_len, 40 + src.size());
  EXPECT_EQ(rc[0].src_qp, d.a.qp->qpn);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin() + 40));
  if (GetParam() == IpVersion::v6) {
    EXPECT_EQ(static_cast<std::uint8_t>(dst[0]) >> 4, 6) << "the IPv6 header fills the GRH";
  }
}

// A UD SEND ONLY from a plain socket to B's QP, with the ICRC a sender using IPv4 ID `ip_id`
// computes; `corrupt` flips a bit of the ICRC. Each datagram needs its own PSN: the UD responder
// drops exact repeats.
std::vector<std::byte> ud_datagram(const PlainSocket& from, IpVersion v, std::uint32_t dest_qpn,
                                   std::uint32_t psn, std::uint16_t ip_id, bool corrupt) {
  static const std::vector<std::byte> payload(100, std::byte{0x42});
  wire::RoceSpec s;
  s.bth.opcode = 0x64;  // UD SEND ONLY
  s.bth.dest_qp = Qpn{dest_qpn};
  s.bth.psn = Psn{psn};
  s.ext.deth = {Qkey{0x11111111}, 0, Qpn{0x33}};
  s.payload = payload;
  wire::SocketMeta meta;
  meta.version = v;
  meta.src = netns_address(v, 1);
  meta.dst = netns_address(v, 2);
  meta.src_port = from.local_port();
  meta.dst_port = wire::kRoceV2Port;  // what the receiving port presents
  meta.ip_id = ip_id;
  std::vector<std::byte> out(512);
  auto n = wire::build_udp_payload(s, meta, out);
  EXPECT_TRUE(n);
  out.resize(n ? *n : 0);
  if (corrupt && !out.empty()) out.back() ^= std::byte{0x01};
  return out;
}

TEST_P(UringDevices, IcrcMismatchIsCountedUnverifiedOnIpv4AndDroppedOnIpv6) {
  auto& d = *devs_;
  d.connect(verbs::QpType::ud, 1024);
  std::vector<std::byte> dst(40 + 1024);
  const auto rk = reg(d.b, dst);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {sge_addr(dst), static_cast<std::uint32_t>(dst.size()), rk};
  ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
  const bool v4 = GetParam() == IpVersion::v4;
  PlainSocket plain(netns_address(GetParam(), 1));
  ASSERT_NE(plain.local_port(), 0);
  // IPv4: a sender whose kernel chose IP ID 0x1234 (as rxe's does); the socket cannot tell, so the
  // ICRC computed with ID 0 does not match. IPv6: a corrupted ICRC.
  const auto dgram = ud_datagram(plain, GetParam(), d.b.qp->qpn, 1, v4 ? 0x1234 : 0, !v4);
  ASSERT_TRUE(plain.send_to(netns_address(GetParam(), 2), pair_.b->config().udp_port, dgram));
  std::vector<verbs::Cqe> rc;
  d.run_until(
      [&] {
        rc = SocketDevices::drain(d.b.rcq);
        return !rc.empty();
      },
      std::chrono::milliseconds(v4 ? 3000 : 300));
  const auto& counters = d.b.dev->counters();
  if (v4) {
    ASSERT_EQ(rc.size(), 1u) << "unverifiable, not dropped";
    EXPECT_EQ(rc[0].status, WcStatus::success);
    EXPECT_EQ(rc[0].src_qp, 0x33u);
    EXPECT_EQ(counters.get(roce::DeviceCounter::rx_icrc_unverified), 1u);
    EXPECT_EQ(d.b.dev->drops().get(wire::DropReason::bad_icrc), 0u);
  } else {
    EXPECT_TRUE(rc.empty()) << "IPv6: every ICRC field is known, a mismatch is corruption";
    EXPECT_EQ(d.b.dev->drops().get(wire::DropReason::bad_icrc), 1u);
    EXPECT_EQ(counters.get(roce::DeviceCounter::rx_icrc_unverified), 0u);
  }
  // The same datagram with the ICRC a socket peer computes with ID 0: verified on both families.
  ASSERT_TRUE(plain.send_to(netns_address(GetParam(), 2), pair_.b->config().udp_port,
                            ud_datagram(plain, GetParam(), d.b.qp->qpn, 2, 0, false)));
  ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
  rc.clear();
  ASSERT_TRUE(d.run_until([&] {
    rc = SocketDevices::drain(d.b.rcq);
    return !rc.empty();
  }));
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_EQ(counters.get(roce::DeviceCounter::rx_icrc_unverified), v4 ? 1u : 0u);
}

}  // namespace
}  // namespace softrnic::transport::test
