// RC over DPDK: two RoCE devices on the two ends of a net_ring pair, each end wrapped in a seeded
// fault injector, so every frame the engine sends goes through rte_eth_tx_burst/rte_eth_rx_burst
// and the zero-copy mbuf mapping. Operations × path MTU × message size × fault kind: every message
// arrives exactly once, in order, with its bytes; atomics execute once. Also RC over net_memif.
// Time is virtual (the ring delivers synchronously), so timers cost no real waiting.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "dpdk/dpdk_port.hpp"
#include "dpdk_fixture.hpp"
#include "fault/fault_port.hpp"
#include "lossy_fabric.hpp"

namespace softrnic::roce::test {
namespace {

using transport::DpdkPort;
using transport::DpdkPortConfig;
using transport::test::DpdkTest;
using transport::test::DpdkTestWithParam;
using verbs::WcStatus;
using verbs::WrOpcode;

// A ring pair deep enough that the fault-free runs never see a full ring (a full ring makes the
// engine drop and retransmit, which the no-fault case must not need).
DpdkPortConfig deep_config() {
  DpdkPortConfig c;
  c.rx_queue_depth = 2048;
  c.tx_queue_depth = 2048;
  return c;
}

struct DpdkLossyPair {
  explicit DpdkLossyPair(Fault f) {
    auto p = DpdkPort::create_ring_pair(transport::test::unique_ring_name(), deep_config(),
                                        deep_config());
    if (!p) {
      error = p.error().to_string();
      return;
    }
    ports = std::move(*p);
    fa = *transport::FaultPort::create(*ports.a, fault_config(f, 11 + 1000 * seed_base()));
    fb = *transport::FaultPort::create(*ports.b, fault_config(f, 29 + 1000 * seed_base()));
    devs = std::make_unique<TwoDevices>(*fa, *fb, clock);
  }
  // Every buffer comes back: the engine and the injectors freed what they held, and what is
  // still on the rings is received and freed here.
  void expect_all_buffers_returned() {
    devs.reset();
    fa.reset();
    fb.reset();
    std::array<Packet*, kBurst> burst{};
    for (transport::DpdkPort* end : {ports.a.get(), ports.b.get()}) {
      while (const std::size_t n = end->rx_burst(burst)) {
        for (std::size_t i = 0; i < n; ++i) end->free(burst[i]);
      }
    }
    EXPECT_EQ(ports.a->pool_in_use(), 0u);
    EXPECT_EQ(ports.b->pool_in_use(), 0u);
    EXPECT_EQ(ports.a->counters().get(transport::DpdkCounter::free_invalid), 0u);
    EXPECT_EQ(ports.b->counters().get(transport::DpdkCounter::free_invalid), 0u);
  }
  ~DpdkLossyPair() {
    devs.reset();
    fa.reset();
    fb.reset();
  }

  std::string error;
  VirtualClock clock;
  transport::DpdkRingPair ports;
  std::unique_ptr<transport::FaultPort> fa, fb;
  std::unique_ptr<TwoDevices> devs;
};

std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = std::byte(x >> 16);
  }
  return v;
}

struct Message {
  WrOpcode op;
  std::uint32_t len;
  std::vector<std::byte> src, dst;  // src at A, dst at B (READ: dst at B is the source)
  std::uint32_t src_key = 0, dst_key = 0;
};

bool consumes_recv(WrOpcode op) {
  return op == WrOpcode::send || op == WrOpcode::send_with_imm ||
         op == WrOpcode::rdma_write_with_imm;
}

// Posts every operation at every size from A to B, runs both engines until all complete, and
// checks each message arrived exactly once, in order, with its bytes.
void run_matrix(TwoDevices& d, std::uint32_t mtu, const std::vector<std::uint32_t>& sizes) {
  const WrOpcode ops[] = {WrOpcode::send, WrOpcode::send_with_imm, WrOpcode::rdma_write,
                          WrOpcode::rdma_write_with_imm, WrOpcode::rdma_read};
  std::vector<std::unique_ptr<Message>> msgs;
  const auto access = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;
  std::uint32_t seed = 1;
  for (auto op : ops) {
    for (auto len : sizes) {
      auto m = std::make_unique<Message>();
      m->op = op;
      m->len = len;
      m->src = op == WrOpcode::rdma_read ? std::vector<std::byte>(len) : pattern(len, seed);
      m->dst = op == WrOpcode::rdma_read ? pattern(len, seed) : std::vector<std::byte>(len);
      ++seed;
      m->src_key =
          *d.a.dev->memory().register_mr(d.a.pd, m->src.data(), m->src.size(),
                                         reinterpret_cast<std::uint64_t>(m->src.data()), access);
      m->dst_key =
          *d.b.dev->memory().register_mr(d.b.pd, m->dst.data(), m->dst.size(),
                                         reinterpret_cast<std::uint64_t>(m->dst.data()), access);
      msgs.push_back(std::move(m));
    }
  }
  std::size_t expect_recv = 0;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    auto& m = *msgs[i];
    if (consumes_recv(m.op)) {
      RecvWr r;
      r.wr_id = i;
      r.num_sge = 1;
      r.sg[0] = {reinterpret_cast<std::uint64_t>(m.dst.data()), m.len, m.dst_key};
      ASSERT_TRUE(d.b.dev->post_recv(*d.b.qp, r));
      ++expect_recv;
    }
    SendWr s;
    s.wr_id = i;
    s.opcode = m.op;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {reinterpret_cast<std::uint64_t>(m.src.data()), m.len, m.src_key};
    s.remote_addr = reinterpret_cast<std::uint64_t>(m.dst.data());
    s.rkey = m.dst_key;
    s.imm = 0xabc00000u + static_cast<std::uint32_t>(i);
    ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  }

  std::vector<verbs::Cqe> sc, rc;
  const bool finished = d.run_until(
      [&] {
        auto x = d.drain(d.a.scq);
        sc.insert(sc.end(), x.begin(), x.end());
        auto y = d.drain(d.b.rcq);
        rc.insert(rc.end(), y.begin(), y.end());
        return sc.size() >= msgs.size() && rc.size() >= expect_recv;
      },
      4'000'000, 100'000);
  ASSERT_TRUE(finished) << "MTU " << mtu << ": send completions " << sc.size() << "/" << msgs.size()
                        << ", receive " << rc.size() << "/" << expect_recv;
  ASSERT_EQ(sc.size(), msgs.size());
  ASSERT_EQ(rc.size(), expect_recv);
  std::size_t r = 0;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = *msgs[i];
    SCOPED_TRACE("message " + std::to_string(i) + " len " + std::to_string(m.len));
    EXPECT_EQ(sc[i].wr_id, i);
    EXPECT_EQ(sc[i].status, WcStatus::success) << verbs::to_string(sc[i].status);
    EXPECT_TRUE(m.src == m.dst) << "payload differs";
    if (!consumes_recv(m.op)) continue;
    const auto& c = rc[r++];
    EXPECT_EQ(c.wr_id, i);
    EXPECT_EQ(c.status, WcStatus::success);
    EXPECT_EQ(c.byte_len, m.len);
    if (m.op != WrOpcode::send) {
      EXPECT_TRUE(c.flags & verbs::Cqe::kWithImm);
      EXPECT_EQ(c.imm, 0xabc00000u + i);
    }
  }
  EXPECT_TRUE(d.drain(d.a.scq).empty());
  EXPECT_TRUE(d.drain(d.b.rcq).empty());
}

// At MTU 4096 the sizes alone make few frames; 1 MiB (as the loopback matrix has) makes sure a 1%
// loss rate hits some of them.
std::vector<std::uint32_t> matrix_sizes(std::uint32_t mtu) {
  std::vector<std::uint32_t> sizes = {0, 1, mtu - 1, mtu, mtu + 1, 65536};
  if (mtu == 4096) sizes.push_back(1 << 20);
  return sizes;
}

class RcOverDpdkUnderFaults : public DpdkTestWithParam<std::tuple<Fault, std::uint32_t>> {};

TEST_P(RcOverDpdkUnderFaults, EveryMessageArrivesExactlyOnceInOrderWithItsBytes) {
  const auto [fault, mtu] = GetParam();
  DpdkLossyPair lp(fault);
  ASSERT_TRUE(lp.devs) << lp.error;
  auto& d = *lp.devs;
  QpInit init;
  init.sq_depth = 512;
  init.rq_depth = 512;
  QpAttrs extra;
  extra.timeout = 10;  // 4.2 ms of virtual time
  d.connect(verbs::QpType::rc, mtu, init, extra);
  run_matrix(d, mtu, matrix_sizes(mtu));

  const auto retrans = d.a.dev->counters().get(DeviceCounter::retransmits);
  if (fault == Fault::loss1 || fault == Fault::loss10 || fault == Fault::corrupt) {
    EXPECT_GT(retrans, 0u);
  }
  if (fault == Fault::none) {
    EXPECT_EQ(retrans, 0u);
    EXPECT_EQ(lp.ports.a->counters().get(transport::DpdkCounter::tx_full), 0u);
    EXPECT_EQ(lp.ports.b->counters().get(transport::DpdkCounter::tx_full), 0u);
  }
  if (fault == Fault::corrupt) {
    EXPECT_GT(d.a.dev->drops().total() + d.b.dev->drops().total(), 0u);
  }
  // The frames really went through DPDK, both ways.
  EXPECT_GT(lp.ports.a->counters().get(transport::DpdkCounter::tx_packets), 0u);
  EXPECT_GT(lp.ports.b->counters().get(transport::DpdkCounter::tx_packets), 0u);
  lp.expect_all_buffers_returned();
}

INSTANTIATE_TEST_SUITE_P(Matrix, RcOverDpdkUnderFaults,
                         ::testing::Combine(::testing::Values(Fault::none, Fault::loss1,
                                                              Fault::loss10, Fault::reorder,
                                                              Fault::duplicate, Fault::corrupt),
                                            ::testing::Values(1024u, 4096u)),
                         [](const auto& info) {
                           return fault_name(std::get<0>(info.param)) + "_mtu" +
                                  std::to_string(std::get<1>(info.param));
                         });

// N fetch-and-adds of 1 leave N in the cell and return every value 0..N-1 exactly once.
class AtomicsOverDpdkUnderFaults : public DpdkTestWithParam<Fault> {};

TEST_P(AtomicsOverDpdkUnderFaults, FetchAddIsExecutedExactlyOnce) {
  DpdkLossyPair lp(GetParam());
  ASSERT_TRUE(lp.devs) << lp.error;
  auto& d = *lp.devs;
  QpAttrs extra;
  extra.timeout = 10;
  d.connect(verbs::QpType::rc, 1024, {}, extra);
  std::vector<std::byte> cell(8);
  constexpr int kN = 200;
  std::vector<std::byte> results(8 * kN);
  const auto access = verbs::kLocalWrite | verbs::kRemoteAtomic;
  const auto rkey = *d.b.dev->memory().register_mr(
      d.b.pd, cell.data(), 8, reinterpret_cast<std::uint64_t>(cell.data()), access);
  const auto lkey =
      *d.a.dev->memory().register_mr(d.a.pd, results.data(), results.size(),
                                     reinterpret_cast<std::uint64_t>(results.data()), access);
  for (int i = 0; i < kN; ++i) {
    SendWr s;
    s.wr_id = static_cast<std::uint64_t>(i);
    s.opcode = WrOpcode::atomic_fetch_add;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {reinterpret_cast<std::uint64_t>(results.data() + 8 * i), 8, lkey};
    s.remote_addr = reinterpret_cast<std::uint64_t>(cell.data());
    s.rkey = rkey;
    s.compare_add = 1;
    ASSERT_TRUE(d.a.dev->post_send(*d.a.qp, s));
  }
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(d.run_until(
      [&] {
        auto x = d.drain(d.a.scq);
        sc.insert(sc.end(), x.begin(), x.end());
        return sc.size() >= kN;
      },
      4'000'000, 100'000));
  std::vector<bool> seen(kN);
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(sc[i].wr_id, static_cast<std::uint64_t>(i));
    EXPECT_EQ(sc[i].status, WcStatus::success);
    std::uint64_t v;
    std::memcpy(&v, results.data() + 8 * i, 8);
    ASSERT_LT(v, static_cast<std::uint64_t>(kN));
    EXPECT_FALSE(seen[v]) << "value " << v << " returned twice";
    seen[v] = true;
  }
  std::uint64_t final_value;
  std::memcpy(&final_value, cell.data(), 8);
  EXPECT_EQ(final_value, static_cast<std::uint64_t>(kN));
  lp.expect_all_buffers_returned();
}

INSTANTIATE_TEST_SUITE_P(Faults, AtomicsOverDpdkUnderFaults,
                         ::testing::Values(Fault::none, Fault::loss1, Fault::loss10, Fault::reorder,
                                           Fault::duplicate, Fault::corrupt),
                         [](const auto& info) { return fault_name(info.param); });

// RC between a memif server and client of this process: the memif rings copy every frame
// through shared memory, so this is the zero-copy mapping on a PMD that allocates its own
// receive mbufs from the port's pool. memif's MTU is 1500 in DPDK 22.11: path MTU 1024.
TEST_F(DpdkTest, RcOverMemifMovesEveryOperationIntact) {
  transport::test::MemifPair m;
  ASSERT_TRUE(m.server && m.client) << m.error();
  ASSERT_TRUE(m.wait_connected()) << "memif ends did not connect within 5 s";
  {
    VirtualClock clock;
    TwoDevices d(*m.server, *m.client, clock);
    QpInit init;
    init.sq_depth = 512;
    init.rq_depth = 512;
    QpAttrs extra;
    extra.timeout = 10;
    d.connect(verbs::QpType::rc, 1024, init, extra);
    run_matrix(d, 1024, matrix_sizes(1024));
  }
  EXPECT_GT(m.server->counters().get(transport::DpdkCounter::rx_packets), 0u);
  EXPECT_GT(m.client->counters().get(transport::DpdkCounter::rx_packets), 0u);
}

}  // namespace
}  // namespace softrnic::roce::test
