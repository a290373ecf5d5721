// Memory protection against the peer: every packet of a message re-checks the memory it touches,
// so a region deregistered, invalidated or re-used between two packets is never written or read
// through a check made earlier. The frames of a message are held on the wire and released one by
// one, with the responder's memory changed in between.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "harness.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic::roce::test {
namespace {

using verbs::WcStatus;
using verbs::WrOpcode;

constexpr std::uint32_t kPmtu = 1024;
constexpr std::byte kCanary{0xcc};

class MemoryProtection : public ::testing::Test {
 protected:
  void SetUp() override {
    devs.connect(verbs::QpType::rc, kPmtu);
    wire.filter = [this](int side, Packet& p) {
      if (!hold[side]) return true;
      held[side].emplace_back(p.data, p.data + p.len);
      return false;
    };
  }
  std::uint32_t reg(Endpoint& e, std::vector<std::byte>& buf, std::uint32_t access) {
    auto k = e.dev->memory().register_mr(e.pd, buf.data(), buf.size(), reinterpret_cast<std::uint64_t>(buf.data()),
                                         access);
    EXPECT_TRUE(k) << k.error().message;
    return k ? *k : 0;
  }
  SendWr wr(WrOpcode o, std::vector<std::byte>& local, std::uint32_t lkey, std::uint32_t len) {
    SendWr s;
    s.wr_id = 1;
    s.opcode = o;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {reinterpret_cast<std::uint64_t>(local.data()), len, lkey};
    return s;
  }
  // Polls `e` until `side` has put n frames on hold.
  void hold_frames(Endpoint& e, int side, std::size_t n) {
    for (int i = 0; i < 1000 && held[side].size() < n; ++i) e.dev->poll();
    ASSERT_EQ(held[side].size(), n);
  }
  // Delivers held frame i of `side` and lets the receiver handle it.
  void release(int side, std::size_t i) {
    wire.inject(side, held[side][i]);
    (side == 0 ? devs.b : devs.a).dev->poll();
  }
  // Posts w on A, holds its n frames, and delivers only the first to B.
  void post_and_deliver_first(const SendWr& w, std::size_t n) {
    hold[0] = true;
    ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
    hold_frames(devs.a, 0, n);
    hold[0] = false;
    release(0, 0);
  }
  // Delivers the rest of what post_and_deliver_first held.
  void deliver_rest() {
    for (std::size_t i = 1; i < held[0].size(); ++i) release(0, i);
  }
  std::vector<verbs::Cqe> wait(verbs::Cq* cq, std::size_t n = 1) {
    std::vector<verbs::Cqe> out;
    devs.run_until([&] {
      auto x = devs.drain(cq);
      out.insert(out.end(), x.begin(), x.end());
      return out.size() >= n;
    }, 400000, 10000);
    return out;
  }
  static bool all(const std::vector<std::byte>& v, std::size_t from, std::size_t to, std::byte b) {
    return std::all_of(v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(to),
                       [&](std::byte x) { return x == b; });
  }

  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  bool hold[2] = {false, false};
  std::vector<std::vector<std::byte>> held[2];
  std::vector<std::byte> local = std::vector<std::byte>(4 * kPmtu, std::byte{0x11});
};

// Finding 1: a WRITE's middle and last packets used the check of its first packet.
TEST_F(MemoryProtection, WriteContinuationAfterDeregisterAndNewRegistrationTouchesNeither) {
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  std::vector<std::byte> target(3 * kPmtu, kCanary);
  const auto rk = reg(devs.b, target, verbs::kLocalWrite | verbs::kRemoteWrite);
  auto w = wr(WrOpcode::rdma_write, local, lk, 3 * kPmtu);
  w.remote_addr = reinterpret_cast<std::uint64_t>(target.data());
  w.rkey = rk;
  post_and_deliver_first(w, 3);
  EXPECT_TRUE(all(target, 0, kPmtu, std::byte{0x11})) << "the first packet lands";
  // Between the first and the middle packet, the region goes and another takes a key.
  ASSERT_TRUE(devs.b.dev->memory().deregister(rk));
  std::vector<std::byte> other(3 * kPmtu, kCanary);
  const auto ok = reg(devs.b, other, verbs::kLocalWrite | verbs::kRemoteWrite);
  ASSERT_NE(ok, 0u);
  deliver_rest();
  const auto c = wait(devs.a.scq);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0].status, WcStatus::remote_access_error);
  EXPECT_TRUE(all(target, kPmtu, target.size(), kCanary)) << "the deregistered region was written after it went";
  EXPECT_TRUE(all(other, 0, other.size(), kCanary)) << "a later registration was written";
  EXPECT_GE(devs.b.dev->counters().get(DeviceCounter::access_revoked), 1u);
}

// Finding 1, fast-register: an FRMR invalidated and fast-registered over other pages between two
// packets of a WRITE; the rest of the WRITE goes to neither the old nor the new pages.
TEST_F(MemoryProtection, WriteContinuationAfterInvalidateAndFastRegisterTouchesNeither) {
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  auto& mem = devs.b.dev->memory();
  const auto frmr = *mem.alloc_frmr(devs.b.pd, 4);
  std::vector<std::byte> old_pages(4 * 4096, kCanary), new_pages(4 * 4096, kCanary);
  std::vector<std::byte*> pages_old, pages_new;
  for (int i = 0; i < 4; ++i) {
    pages_old.push_back(old_pages.data() + i * 4096);
    pages_new.push_back(new_pages.data() + i * 4096);
  }
  const std::uint32_t access = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased;
  const auto k1 = mem.fast_register(frmr, 0x21, pages_old, 4096, 0, 0, 3 * kPmtu, access);
  ASSERT_TRUE(k1);
  auto w = wr(WrOpcode::rdma_write, local, lk, 3 * kPmtu);
  w.remote_addr = 0;
  w.rkey = *k1;
  post_and_deliver_first(w, 3);
  ASSERT_TRUE(mem.invalidate(*k1, devs.b.pd, 0));
  // Same key byte on purpose: only the generation tells the registrations apart.
  ASSERT_TRUE(mem.fast_register(*k1, 0x21, pages_new, 4096, 0, 0, 3 * kPmtu, access));
  deliver_rest();
  const auto c = wait(devs.a.scq);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0].status, WcStatus::remote_access_error);
  EXPECT_TRUE(all(old_pages, kPmtu, old_pages.size(), kCanary));
  EXPECT_TRUE(all(new_pages, 0, new_pages.size(), kCanary));
}

// Finding 1, SEND: the receive WQE's buffer is checked when the first packet takes it.
TEST_F(MemoryProtection, SendContinuationAfterDeregisterEndsInLocalProtectionError) {
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  std::vector<std::byte> rbuf(3 * kPmtu, kCanary);
  const auto rk = reg(devs.b, rbuf, verbs::kLocalWrite);
  RecvWr r;
  r.wr_id = 9;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(rbuf.data()), static_cast<std::uint32_t>(rbuf.size()), rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  post_and_deliver_first(wr(WrOpcode::send, local, lk, 3 * kPmtu), 3);
  ASSERT_TRUE(devs.b.dev->memory().deregister(rk));
  std::vector<std::byte> other(3 * kPmtu, kCanary);
  ASSERT_NE(reg(devs.b, other, verbs::kLocalWrite), 0u);
  deliver_rest();
  const auto rc = wait(devs.b.rcq);
  ASSERT_FALSE(rc.empty());
  EXPECT_EQ(rc[0].status, WcStatus::local_protection_error);
  EXPECT_TRUE(all(rbuf, kPmtu, rbuf.size(), kCanary));
  EXPECT_TRUE(all(other, 0, other.size(), kCanary));
  const auto sc = wait(devs.a.scq);
  ASSERT_FALSE(sc.empty());
  EXPECT_NE(sc[0].status, WcStatus::success);
}

// Finding 2: READ responses still to be sent after the source was deregistered and a new region
// registered (which used to get the same slot, key byte + 1 and generation 0 back).
TEST_F(MemoryProtection, ReadResponsesAfterDeregisterAndNewRegistrationSendNothingOfTheNewRegion) {
  // 100 responses: more than the responder sends in one poll (64), so some are still to go.
  constexpr std::uint32_t kLen = 100 * kPmtu;
  std::vector<std::byte> sink(kLen, std::byte{0});
  const auto lk = reg(devs.a, sink, verbs::kLocalWrite);
  std::vector<std::byte> source(kLen, std::byte{0x5a});
  const auto rk = reg(devs.b, source, verbs::kLocalWrite | verbs::kRemoteRead);
  auto w = wr(WrOpcode::rdma_read, sink, lk, kLen);
  w.remote_addr = reinterpret_cast<std::uint64_t>(source.data());
  w.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w));
  hold[1] = true;
  devs.a.dev->poll();  // the request goes out
  devs.b.dev->poll();  // ...is answered in part
  ASSERT_GT(held[1].size(), 0u);
  ASSERT_LT(held[1].size(), 100u);
  ASSERT_TRUE(devs.b.dev->memory().deregister(rk));
  std::vector<std::byte> secret(kLen, std::byte{0xee});
  for (int i = 0; i < 3; ++i) ASSERT_NE(reg(devs.b, secret, verbs::kLocalWrite | verbs::kRemoteRead), 0u);
  hold[1] = false;
  for (std::size_t i = 0; i < held[1].size(); ++i) release(1, i);
  const auto c = wait(devs.a.scq);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0].status, WcStatus::remote_access_error);
  EXPECT_EQ(std::count(sink.begin(), sink.end(), std::byte{0xee}), 0) << "bytes of another registration were sent";
}

// Finding 1 on the requester: the memory of a posted SEND deregistered after the SEND was
// fetched and checked, before it starts (held back by a fence behind a READ).
TEST_F(MemoryProtection, PostedSendWhoseMemoryGoesAwayCompletesWithLocalProtectionError) {
  std::vector<std::byte> rbuf(kPmtu, kCanary);
  const auto rk = reg(devs.b, rbuf, verbs::kLocalWrite | verbs::kRemoteRead);
  RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {reinterpret_cast<std::uint64_t>(rbuf.data()), static_cast<std::uint32_t>(rbuf.size()), rk};
  ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  const auto lk = reg(devs.a, local, verbs::kLocalWrite);
  auto rd = wr(WrOpcode::rdma_read, local, lk, 64);
  rd.remote_addr = reinterpret_cast<std::uint64_t>(rbuf.data());
  rd.rkey = rk;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, rd));
  std::vector<std::byte> second(kPmtu, std::byte{0x77});
  const auto lk2 = reg(devs.a, second, verbs::kLocalWrite);
  auto w2 = wr(WrOpcode::send, second, lk2, kPmtu);
  w2.wr_id = 2;
  w2.flags |= verbs::kFence;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, w2));
  std::vector<std::vector<std::byte>> sent;
  wire.filter = [&](int side, Packet& p) {
    if (side == 0) sent.emplace_back(p.data, p.data + p.len);
    return true;
  };
  devs.a.dev->poll();  // both fetched and checked; the READ goes out, the SEND waits on the fence
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(devs.a.dev->memory().deregister(lk2));
  const auto c = wait(devs.a.scq, 2);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].status, WcStatus::success);
  EXPECT_EQ(c[1].wr_id, 2u);
  EXPECT_EQ(c[1].status, WcStatus::local_protection_error);
  for (const auto& f : sent)
    EXPECT_EQ(std::search(f.begin(), f.end(), second.begin(), second.begin() + 64), f.end())
        << "the deregistered memory was sent";
}

// Type 2 windows die with their QP: a QP created later (possibly with the same number) cannot use
// a window bound to one destroyed.
TEST_F(MemoryProtection, TypeTwoWindowIsInvalidOnceItsQpIsDestroyed) {
  auto& mem = devs.b.dev->memory();
  std::vector<std::byte> buf(4096, kCanary);
  const auto mr = *mem.register_mr(devs.b.pd, buf.data(), buf.size(), 0,
                                   verbs::kLocalWrite | verbs::kMwBind | verbs::kZeroBased);
  const auto mw = *mem.alloc_mw(devs.b.pd);
  const auto qpn = devs.b.qp->qpn;
  const auto bound = mem.bind_mw(mw, 0x42, mr, 0, 4096, verbs::kRemoteWrite | verbs::kZeroBased, qpn);
  ASSERT_TRUE(bound);
  ASSERT_TRUE(mem.check(*bound, devs.b.pd, 0, 16, verbs::kRemoteWrite, qpn));
  ASSERT_TRUE(devs.b.dev->destroy_qp(devs.b.qp));
  devs.b.qp = nullptr;
  EXPECT_EQ(mem.check(*bound, devs.b.pd, 0, 16, verbs::kRemoteWrite, qpn).error(), verbs::AccessError::invalid_state);
  EXPECT_TRUE(mem.deregister(mr)) << "the region is free of windows again";
}

// Finding 6: the UD duplicate filter's tags were the source address's low 32 bits XOR the source
// QP and PSN, so a neighbour could send a datagram whose tag equals one another sender is about
// to send, and have that one dropped as a "duplicate".
TEST(UdFilter, ANeighbourCannotMakeAnotherSendersDatagramLookLikeADuplicate) {
  VirtualClock clock;
  PipeWire wire;
  TwoDevices devs{wire.a, wire.b, clock};
  devs.connect(verbs::QpType::ud, 1024);
  std::vector<std::byte> dst(4 * 1064);
  const auto rk = *devs.b.dev->memory().register_mr(devs.b.pd, dst.data(), dst.size(), 0,
                                                    verbs::kLocalWrite | verbs::kZeroBased);
  for (std::uint32_t i = 0; i < 4; ++i) {
    RecvWr r;
    r.wr_id = i;
    r.num_sge = 1;
    r.sg[0] = {i * 1064, 1064, rk};
    ASSERT_TRUE(devs.b.dev->post_recv(*devs.b.qp, r));
  }
  std::vector<std::vector<std::byte>> sent;
  wire.filter = [&](int side, Packet& p) {
    if (side == 0) sent.emplace_back(p.data, p.data + p.len);
    return true;
  };
  AddressHandle ah = devs.a.qp->attr.av;
  SendWr s;
  s.opcode = WrOpcode::send;
  s.ah = &ah;
  s.remote_qpn = devs.b.qp->qpn;
  s.remote_qkey = 0x11111111;
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  ASSERT_TRUE(devs.run_until([&] { return devs.drain(devs.b.rcq).size() == 1; }));
  ASSERT_EQ(sent.size(), 1u);
  // The neighbour at 198.18.0.9 forges the next datagram A will send (PSN + 1) from a source QP
  // whose bits cancel what its address differs in (1 ^ 9, in the tag's bits 32-39, where the old
  // tag had source QP bits 8-15): the same tag under the old scheme.
  auto f = sent[0];
  auto parsed = wire::parse_frame(f);
  ASSERT_TRUE(parsed);
  const std::size_t ip = parsed->l3_off, bth = parsed->l4_off + 8, deth = bth + 12;
  const std::uint32_t next_psn = (parsed->bth().psn().raw() + 1) & 0xffffff;
  f[ip + 15] = std::byte{9};
  f[bth + 9] = std::byte(next_psn >> 16);
  f[bth + 10] = std::byte(next_psn >> 8);
  f[bth + 11] = std::byte(next_psn);
  f[deth + 6] ^= std::byte{1u ^ 9u};  // source QP bits 8-15 (DETH bytes 5-7 are the QPN)
  f[ip + 10] = f[ip + 11] = std::byte{0};
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) sum += std::to_integer<std::uint32_t>(f[ip + i]) << 8 | std::to_integer<std::uint32_t>(f[ip + i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[ip + 10] = std::byte(~sum >> 8);
  f[ip + 11] = std::byte(~sum);
  const std::size_t icrc_at = f.size() - 4;
  const std::uint32_t c = wire::icrc(ConstByteSpan(f).subspan(ip, 20), ConstByteSpan(f).subspan(ip + 20, icrc_at - ip - 20));
  std::memcpy(f.data() + icrc_at, &c, 4);  // little-endian on the wire, as the engine writes it
  wire.inject(0, f);
  ASSERT_TRUE(devs.run_until([&] { return devs.drain(devs.b.rcq).size() == 1; })) << "the forged datagram is accepted";
  ASSERT_TRUE(devs.a.dev->post_send(*devs.a.qp, s));
  std::vector<verbs::Cqe> rc;
  devs.run_until([&] {
    auto x = devs.drain(devs.b.rcq);
    rc.insert(rc.end(), x.begin(), x.end());
    return !rc.empty();
  }, 20000);
  ASSERT_EQ(rc.size(), 1u) << "A's next datagram was dropped as a duplicate of the neighbour's";
  EXPECT_EQ(rc[0].src_qp, devs.a.qp->qpn);
}

}  // namespace
}  // namespace softrnic::roce::test
