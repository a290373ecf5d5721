// The RoCEv2 engine over a DPDK net_ring pair, against the ring pair's own frame rate measured in
// the same run:
//  - raw 64 B frames through the DpdkPort API (alloc, fill 64 B, tx_burst, rx_burst, free, in
//    bursts of 32): what DPDK's rings plus the zero-copy mbuf mapping move on this core;
//  - 64 B RC SEND messages between two devices on the two ends (both polled by this thread).
// The ratio says how close the engine gets to the wire. Then, over two in-process net_memif pairs
// (one device on each end, all polled by this thread), 64 KiB RDMA WRITE bandwidth with payloads
// sent by reference (zero_copy_min 64) against the same with every payload copied into its
// frame (zero_copy_min = 0), rounds alternating. Each figure is the median of several timed
// rounds. EAL defaults: --no-huge, one lcore (the current CPU).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "dpdk/dpdk_port.hpp"
#include "bench_support.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

using roce::Device;
using roce::Qp;

struct Rig {
  explicit Rig(transport::DpdkRingPair p, std::uint32_t pmtu = 4096) : ports(std::move(p)), pmtu(pmtu) {
    roce::DeviceConfig ca, cb;
    ca.mac = ports.a->mac();
    ca.gids = {wire::ipv4_mapped({198, 18, 0, 1})};
    cb.mac = ports.b->mac();
    cb.gids = {wire::ipv4_mapped({198, 18, 0, 2})};
    a = std::make_unique<Device>(*ports.a, clock, ca);
    b = std::make_unique<Device>(*ports.b, clock, cb);
    pa = *a->memory().alloc_pd();
    pb = *b->memory().alloc_pd();
    for (auto* d : {a.get(), b.get()}) {
      auto* s = *d->create_cq(65536);
      auto* r = *d->create_cq(65536);
      roce::QpInit init;
      init.pd = d == a.get() ? pa : pb;
      init.send_cq = s;
      init.recv_cq = r;
      init.sq_depth = 4096;
      init.rq_depth = 4096;
      (d == a.get() ? qa : qb) = *d->create_qp(init);
      (d == a.get() ? scq_a : scq_b) = s;
      (d == a.get() ? rcq_a : rcq_b) = r;
    }
    up(*a, *qa, *b, *qb);
    up(*b, *qb, *a, *qa);
  }
  ~Rig() {
    a.reset();
    b.reset();
  }

  void up(Device& d, Qp& q, Device& peer, Qp& pq) {
    roce::QpConnectOptions o;
    o.pmtu = pmtu;
    o.access = verbs::kRemoteWrite | verbs::kRemoteRead;
    (void)roce::connect_qp(d, q, d.config().gids[0],
                           {pq.qpn, Psn{}, peer.config().gids[0], peer.config().mac}, o);
  }

  void poll() {
    a->poll();
    b->poll();
  }

  SteadyClock clock;
  transport::DpdkRingPair ports;
  std::uint32_t pmtu;
  std::unique_ptr<Device> a, b;
  verbs::PdHandle pa = 0, pb = 0;
  Qp* qa = nullptr;
  Qp* qb = nullptr;
  verbs::Cq *scq_a = nullptr, *scq_b = nullptr, *rcq_a = nullptr, *rcq_b = nullptr;
  std::uint32_t lk = 0, rk = 0;  // keys of the benchmark's regions, where a caller keeps them
};

// Raw ring-pair frames per second through the Port API.
double wire_frame_rate(Port& from, Port& to, std::size_t frames) {
  std::array<Packet*, kBurst> burst;
  const auto t0 = Clock::now();
  for (std::size_t done = 0; done < frames; done += kBurst) {
    for (auto& p : burst) {
      p = from.alloc();
      std::memset(p->data, 0x5a, 64);
      p->len = 64;
    }
    (void)from.tx_burst(burst);
    const auto n = to.rx_burst(burst);
    for (std::size_t i = 0; i < n; ++i) to.free(burst[i]);
  }
  return static_cast<double>(frames) / seconds_since(t0);
}

// Two net_memif ends of this process (a server, b client) on a socket of their own, connected.
Result<transport::DpdkRingPair> memif_pair(const std::string& tag, std::uint32_t zero_copy_min) {
  static int serial = 0;
  const std::string sock = "/tmp/softrnic-bench-" + std::to_string(getpid()) + "-" + tag + ".sock";
  transport::DpdkPortConfig c;
  c.zero_copy_min = zero_copy_min;
  transport::DpdkRingPair pair;
  auto s = transport::DpdkPort::create_vdev(
      "net_memif" + std::to_string(serial++) + ",role=server,socket=" + sock, c);
  if (!s) return std::unexpected(s.error());
  auto cl = transport::DpdkPort::create_vdev(
      "net_memif" + std::to_string(serial++) + ",role=client,socket=" + sock, c);
  if (!cl) return std::unexpected(cl.error());
  pair.a = std::move(*s);
  pair.b = std::move(*cl);
  std::array<Packet*, kBurst> none{};
  for (int i = 0; i < 5000 && !(pair.a->link_up() && pair.b->link_up()); ++i) {
    (void)pair.a->rx_burst(none);  // a client posts its buffers when it polls
    (void)pair.b->rx_burst(none);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!pair.a->link_up() || !pair.b->link_up())
    return make_error(Errc::io_error, "memif ends did not connect within 5 s");
  return pair;
}

// Closes a memif pair in the order DPDK 22.11 needs (client first, then the server once its link
// went down), then removes the socket.
void close_memif(Rig& r) {
  r.a.reset();
  r.b.reset();
  r.ports.b.reset();
  wait_for_memif_peer_to_leave(*r.ports.a);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  r.ports.a.reset();
}

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic;
  using namespace softrnic::perf;
  transport::DpdkPortConfig deep;
  deep.rx_queue_depth = 4096;
  deep.tx_queue_depth = 4096;
  auto pair = transport::DpdkPort::create_ring_pair("bench", deep, deep);
  if (!pair) {
    std::printf("SKIPPED: DPDK net_ring pair: %s\n", pair.error().to_string().c_str());
    return 77;
  }
  Rig r(std::move(*pair));
  std::vector<std::byte> src(1 << 16, std::byte{1}), dst(1 << 16);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased;
  const auto lk = *r.a->memory().register_mr(r.pa, src.data(), src.size(), 0, acc);
  const auto rk = *r.b->memory().register_mr(r.pb, dst.data(), dst.size(), 0, acc);
  // SOFTRNIC_BENCH_QUICK=1: one short round (for profiling).
  const bool quick = std::getenv("SOFTRNIC_BENCH_QUICK") != nullptr;
  const int kRounds = quick ? 1 : 7;
  const std::size_t scale = quick ? 20 : 1;
  std::vector<double> wire_rate, msg_rate;
  (void)send_rate(r, lk, rk, 20000);  // warm-up
  for (int round = 0; round < kRounds; ++round) {
    wire_rate.push_back(wire_frame_rate(*r.ports.a, *r.ports.b, (1 << 20) / scale));
    msg_rate.push_back(send_rate(r, lk, rk, 200000 / scale));
  }
  const double wr = median(wire_rate), mr = median(msg_rate);
  std::printf(
      "RoCEv2 engine over a DPDK net_ring pair, both devices on one core; median of %d rounds\n",
      kRounds);
  std::printf("%-44s %14s %14s %9s\n", "what", "rate", "baseline", "ratio");
  std::printf("%-44s %11.2f M/s %11.2f M/s %8.3fx\n", "64 B RC SEND messages vs raw ring frames",
              mr / 1e6, wr / 1e6, mr / wr);
  softrnic::perf::record("dpdk_bench", "64 B RC SEND messages (DPDK net_ring)", mr / 1e6, "M msg/s", "raw ring frames",
                wr / 1e6, mr / wr);
  const auto& ca = r.ports.a->counters();
  const auto back_pressure = std::array{ca.get(transport::DpdkCounter::tx_full),
                                        ca.get(transport::DpdkCounter::alloc_fail),
                                        r.a->counters().get(roce::DeviceCounter::tx_drop_port_full)};
  std::printf(
      "%-44s tx_full %llu, alloc_fail %llu, engine tx_drop_port_full %llu\n",
      "ring pair back pressure (end a)",
      static_cast<unsigned long long>(back_pressure[0]),
      static_cast<unsigned long long>(back_pressure[1]),
      static_cast<unsigned long long>(back_pressure[2]));

  // Zero copy against copy, over memif (a PMD that copies a chain inside tx_burst).
  auto zc_pair = memif_pair("zc", 64);  // every payload by reference
  auto cp_pair = memif_pair("copy", 0);
  if (!zc_pair || !cp_pair) {
    std::printf("SKIPPED: zero copy over memif: %s\n",
                (zc_pair ? cp_pair.error() : zc_pair.error()).to_string().c_str());
    return 0;
  }
  const std::uint32_t memif_pmtu = 1024;  // memif's 1500-byte MTU
  constexpr std::size_t kWriteLen = 64 * 1024, kWritesInFlight = 8;
  Rig zc(std::move(*zc_pair), memif_pmtu), cp(std::move(*cp_pair), memif_pmtu);
  std::vector<double> zc_rate, cp_rate;
  for (Rig* x : {&zc, &cp}) {
    const auto wk = *x->a->memory().register_mr(x->pa, src.data(), src.size(), 0, acc);
    const auto wrk = *x->b->memory().register_mr(x->pb, dst.data(), dst.size(), 0, acc);
    (void)write_bandwidth(*x, wk, wrk, kWriteLen, 200, kWritesInFlight);  // warm-up
    x->lk = wk;
    x->rk = wrk;
  }
  for (int round = 0; round < kRounds; ++round) {
    zc_rate.push_back(write_bandwidth(zc, zc.lk, zc.rk, kWriteLen, 4000 / scale, kWritesInFlight));
    cp_rate.push_back(write_bandwidth(cp, cp.lk, cp.rk, kWriteLen, 4000 / scale, kWritesInFlight));
  }
  const double zr = median(zc_rate), cr = median(cp_rate);
  std::printf("%-44s %10.0f MB/s %10.0f MB/s %8.3fx\n",
              "64 KiB WRITE over memif: zero copy vs copy", zr / 1e6, cr / 1e6, zr / cr);
  std::printf("%-44s by reference %llu, copied %llu (zero-copy pair)\n", "memif frames with payload",
              static_cast<unsigned long long>(
                  zc.ports.a->counters().get(transport::DpdkCounter::tx_zero_copy)),
              static_cast<unsigned long long>(
                  zc.ports.a->counters().get(transport::DpdkCounter::tx_zero_copy_copied)));
  softrnic::perf::record("dpdk_bench", "64 KiB RDMA WRITE over memif, zero copy", zr / 1e6, "MB/s",
                         "every payload copied", cr / 1e6, zr / cr);
  close_memif(zc);
  close_memif(cp);
  return 0;
}
