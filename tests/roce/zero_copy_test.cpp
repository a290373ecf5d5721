// Zero-copy transmit from the engine's side: payloads handed to a port by reference (Packet::ext)
// must make the same frames as copied ones, must not be used for what cannot be referenced
// (inline data, pieces split across SGEs, read responses), and no completion may become visible
// while a frame that reads the WQE's memory is still waiting to be sent.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "harness.hpp"
#include "wire/build.hpp"
#include "wire/parse.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::QpType;
using verbs::WcStatus;
using verbs::WrOpcode;

std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((i * 29 + seed) & 0xff);
  return v;
}

std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf) {
  return *e.dev->memory().register_mr(e.pd, buf.data(), buf.size(), 0,
                                      verbs::kLocalWrite | verbs::kRemoteWrite |
                                          verbs::kRemoteRead | verbs::kZeroBased);
}

// A signaled RDMA WRITE of len bytes from offset 0 of lk's region to offset 0 of rk's.
SendWr write_wr(std::uint32_t lk, std::uint32_t len, std::uint32_t rk) {
  SendWr w;
  w.opcode = WrOpcode::rdma_write;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, len, lk};
  w.rkey = rk;
  return w;
}

// Every frame a side put on the wire, whole (the harness flattens by-reference frames as it
// takes them), with whether it came by reference.
struct Recorded {
  std::vector<std::byte> frame;
  bool by_reference = false;
};

class ZeroCopyByQpType : public ::testing::TestWithParam<QpType> {};

// UC and UD complete a send as soon as its last packet is built; RC on the ACK. In every case the
// completion must come after the frame left through tx_burst.
TEST_P(ZeroCopyByQpType, NoCompletionIsVisibleWhileAFrameStillReadsTheWqesMemory) {
  VirtualClock clock;
  PipeWire wire(4096, 256);
  TwoDevices devs{wire.a, wire.b, clock};
  devs.connect(GetParam(), 1024);
  std::size_t by_ref_frames = 0;
  std::size_t completions_seen_at_tx = 0;
  wire.on_ext_tx = [&](int side, const Packet&) {
    if (side != 0) return;
    ++by_ref_frames;
    completions_seen_at_tx += devs.a.scq->size();
  };
  const std::uint32_t len = GetParam() == QpType::ud ? 1000 : 2500;
  auto src = pattern(len, 1);
  std::vector<std::byte> dst(len + 40);
  const auto lk = reg(devs.a, src);
  const auto rk = reg(devs.b, dst);
  AddressHandle ah = devs.a.qp->attr.av;
  for (int round = 0; round < 5; ++round) {
    RecvWr r;
    r.wr_id = static_cast<std::uint64_t>(round);
    r.num_sge = 1;
    r.sg[0] = {0, static_cast<std::uint32_t>(dst.size()), rk};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
    SendWr s;
    s.wr_id = static_cast<std::uint64_t>(round);
    s.opcode = WrOpcode::send;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, len, lk};
    if (GetParam() == QpType::ud) {
      s.ah = &ah;
      s.remote_qpn = devs.b.qp->qpn;
      s.remote_qkey = 0x11111111;
    }
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
    std::vector<verbs::Cqe> sc, rc;
    ASSERT_TRUE(devs.run_until([&] {
      for (auto& e : devs.drain(devs.a.scq)) sc.push_back(e);
      for (auto& e : devs.drain(devs.b.rcq)) rc.push_back(e);
      return !sc.empty() && !rc.empty();
    })) << "round " << round;
    EXPECT_EQ(sc[0].status, WcStatus::success);
    EXPECT_EQ(rc[0].status, WcStatus::success);
    const std::size_t grh = GetParam() == QpType::ud ? 40 : 0;
    EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin() + static_cast<std::ptrdiff_t>(grh)));
  }
  EXPECT_GE(by_ref_frames, 5u);
  EXPECT_EQ(completions_seen_at_tx, 0u) << "a send completion was visible before its frame left";
  EXPECT_EQ(devs.a.dev->counters().get(DeviceCounter::tx_zero_copy), by_ref_frames);
}

INSTANTIATE_TEST_SUITE_P(Types, ZeroCopyByQpType,
                         ::testing::Values(QpType::rc, QpType::uc, QpType::ud),
                         [](const auto& info) {
                           return std::string(info.param == QpType::rc   ? "rc"
                                              : info.param == QpType::uc ? "uc"
                                                                         : "ud");
                         });

// A frame with the fields that differ between two runs blanked: QPNs and R_Keys are drawn at
// random (and the UDP source port follows the QPN), and the ICRC covers them.
std::vector<std::byte> without_identifiers(std::vector<std::byte> f) {
  auto p = wire::parse_frame(f);
  if (!p) return f;
  const std::size_t udp = p->l4_off, bth = udp + 8;
  auto zero = [&](std::size_t at, std::size_t n) { std::fill_n(f.begin() + static_cast<std::ptrdiff_t>(at), n, std::byte{0}); };
  zero(udp, 2);      // source port
  zero(udp + 6, 2);  // checksum
  zero(bth + 5, 3);  // destination QP
  zero(bth + 9, 3);  // PSN (the tests start each QP's PSNs from its number)
  const auto op = static_cast<std::uint8_t>(f[bth]) & 0x1f;
  if (op == 0x06 || op == 0x0a || op == 0x0b) zero(bth + 12 + 8, 4);  // RETH's R_Key
  zero(f.size() - 4, 4);  // ICRC
  return f;
}

// The same WRs over a copying wire and a by-reference wire make identical frames, byte for byte
// (but for the identifiers drawn at random), and every by-reference frame parses with a valid ICRC.
TEST(ZeroCopy, FramesAreByteForByteTheCopiedOnes) {
  std::vector<Recorded> seen[2];
  for (int run = 0; run < 2; ++run) {
    VirtualClock clock;
    PipeWire wire(4096, run == 0 ? 0u : 128u);
    TwoDevices devs{wire.a, wire.b, clock};
    QpInit init;
    init.max_inline = 256;
    devs.connect(QpType::rc, 1024, init);
    bool last_by_ref = false;
    wire.on_ext_tx = [&](int, const Packet&) { last_by_ref = true; };
    wire.filter = [&](int side, Packet& p) {
      if (side == 0) seen[run].push_back({{p.data, p.data + p.len}, last_by_ref});
      last_by_ref = false;
      return true;
    };
    // One SGE (by reference), two SGEs (the packet that straddles them is copied), inline data,
    // and a payload below the threshold.
    auto big = pattern(5000, 2);
    auto second = pattern(700, 3);
    std::vector<std::byte> remote(8192);
    const auto lk = reg(devs.a, big);
    const auto lk2 = reg(devs.a, second);
    const auto rk = reg(devs.b, remote);
    SendWr w = write_wr(lk, 5000, rk);
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
    w.num_sge = 2;
    w.sg[0] = {100, 1500, lk};
    w.sg[1] = {0, 700, lk2};
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
    SendWr small = w;
    small.num_sge = 1;
    small.sg[0] = {0, 100, lk};
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, small));
    SendWr in = w;
    in.flags = verbs::kSignaled | verbs::kInline;
    in.num_sge = 0;
    in.inline_len = 200;
    std::memcpy(in.inline_data.data(), big.data(), 200);
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, in));
    std::size_t done = 0;
    ASSERT_TRUE(devs.run_until([&] {
      done += devs.drain(devs.a.scq).size();
      return done == 4u;
    }));
  }
  ASSERT_EQ(seen[0].size(), seen[1].size());
  std::size_t by_ref = 0;
  for (std::size_t i = 0; i < seen[0].size(); ++i) {
    EXPECT_EQ(without_identifiers(seen[0][i].frame), without_identifiers(seen[1][i].frame)) << "frame " << i;
    EXPECT_FALSE(seen[0][i].by_reference);
    if (!seen[1][i].by_reference) continue;
    ++by_ref;
    auto parsed = wire::parse_frame(seen[1][i].frame);
    ASSERT_TRUE(parsed) << "frame " << i;
    EXPECT_TRUE(parsed->roce.icrc_ok) << "frame " << i;
  }
  // 5000 bytes: 5 packets; 2200 bytes over two SGEs: 3 packets, of which the second straddles
  // the SGEs and is copied; the 100-byte write and the inline one are copied.
  EXPECT_EQ(by_ref, 7u);
}

// Lost frames are resent from registered memory by reference again, and arrive intact.
TEST(ZeroCopy, ResentFramesGoByReferenceAndArriveIntact) {
  VirtualClock clock;
  PipeWire wire(4096, 256);
  TwoDevices devs{wire.a, wire.b, clock};
  devs.connect(QpType::rc, 1024);
  int frames = 0;
  wire.filter = [&](int side, Packet&) { return side != 0 || ++frames % 7 != 3; };
  auto src = pattern(64 * 1024, 5);
  std::vector<std::byte> remote(src.size());
  const auto lk = reg(devs.a, src);
  const auto rk = reg(devs.b, remote);
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, write_wr(lk, static_cast<std::uint32_t>(src.size()), rk)));
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(devs.run_until([&] {
    sc = devs.drain(devs.a.scq);
    return !sc.empty();
  }, 2'000'000, 100'000));
  EXPECT_EQ(sc[0].status, WcStatus::success);
  EXPECT_EQ(remote, src);
  EXPECT_GT(devs.a.dev->counters().get(DeviceCounter::retransmits), 0u);
  EXPECT_GT(devs.a.dev->counters().get(DeviceCounter::tx_zero_copy), 64u);
  EXPECT_EQ(devs.b.dev->drops().get(wire::DropReason::bad_icrc), 0u);
}

}  // namespace
}  // namespace softrnic::roce::test
