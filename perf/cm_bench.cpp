// Connection setup through the CM over the in-process loopback wire (two devices, one thread),
// against the kernel's TCP handshake on 127.0.0.1 measured in the same run (the setup cost a
// socket user pays):
//  - latency of one connection at a time: connect() -> established on both sides, p50 / p99;
//  - rate with many handshakes in flight at once (connections per second, 256 at a time).
// The two-process figures over a veth come from tests/cm/cm_peer (cm_twoproc_veth test log).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "base/clock.hpp"
#include "bench_support.hpp"
#include "cm/connection_manager.hpp"
#include "loopback/loopback_port.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

struct Rig {
  Rig() {
    transport::LoopbackConfig lc;
    lc.pool_packets = 4096;
    lc.rx_ring_packets = 2048;
    wire = *transport::LoopbackWire::create(lc);
    roce::DeviceConfig ca, cb;
    ca.mac = wire->a().mac();
    ca.gids = {wire::ipv4_mapped({198, 18, 0, 1})};
    cb.mac = wire->b().mac();
    cb.gids = {wire::ipv4_mapped({198, 18, 0, 2})};
    ca.limits.max_qp = cb.limits.max_qp = 65536;
    a = std::make_unique<roce::Device>(wire->a(), clock, ca);
    b = std::make_unique<roce::Device>(wire->b(), clock, cb);
    cm_a = std::move(*cm::ConnectionManager::create(*a));
    cm_b = std::move(*cm::ConnectionManager::create(*b));
    pd_a = *a->memory().alloc_pd();
    pd_b = *b->memory().alloc_pd();
    cq_a = *a->create_cq(64);
    cq_b = *b->create_cq(64);
    (void)cm_b->listen({{}, 7174}, [this](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::connect_request) {
        (void)cm_b->accept(e.conn, *qp(*b, pd_b, cq_b), {}, {});
      } else if (e.type == cm::CmEvent::Type::established) {
        ++established_b;
      }
    });
  }
  ~Rig() {
    cm_a.reset();
    cm_b.reset();
  }
  roce::Qp* qp(roce::Device& d, verbs::PdHandle pd, verbs::Cq* cq) {
    roce::QpInit init;
    init.pd = pd;
    init.send_cq = init.recv_cq = cq;
    init.sq_depth = init.rq_depth = 4;
    return *d.create_qp(init);
  }
  void poll() {
    a->poll();
    b->poll();
    cm_a->poll();
    cm_b->poll();
  }
  // Starts one connection; *done flips when A sees it established.
  void connect(bool* done) {
    cm::ConnectParams p;
    p.remote = {wire::ipv4_mapped({198, 18, 0, 2}), 7174};
    (void)cm_a->connect(*qp(*a, pd_a, cq_a), p, [done](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::established) *done = true;
    });
  }

  SteadyClock clock;
  std::unique_ptr<transport::LoopbackWire> wire;
  std::unique_ptr<roce::Device> a, b;
  std::unique_ptr<cm::ConnectionManager> cm_a, cm_b;
  verbs::PdHandle pd_a = 0, pd_b = 0;
  verbs::Cq *cq_a = nullptr, *cq_b = nullptr;
  std::size_t established_b = 0;
};

std::vector<double> cm_latencies(Rig& r, int n) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    bool done = false;
    const std::size_t want_b = r.established_b + 1;
    const auto t0 = Clock::now();
    r.connect(&done);
    while (!done || r.established_b < want_b) r.poll();
    us.push_back(seconds_since(t0) * 1e6);
  }
  return us;
}

double cm_rate(Rig& r, int n) {
  std::vector<char> done(n, 0);
  const std::size_t want_b = r.established_b + n;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) r.connect(reinterpret_cast<bool*>(&done[i]));
  for (;;) {
    r.poll();
    bool all = r.established_b >= want_b;
    for (int i = 0; all && i < n; ++i) all = done[i] != 0;
    if (all) break;
  }
  return n / seconds_since(t0);
}

// The kernel baseline: TCP connect + accept on 127.0.0.1, one at a time (both ends here).
std::vector<double> tcp_latencies(int n) {
  std::vector<double> us;
  const int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(ls, 1024) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::perror("tcp baseline");
    return {};
  }
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::perror("connect");
    const int s = accept(ls, nullptr, nullptr);
    us.push_back(seconds_since(t0) * 1e6);
    close(s);
    close(c);
  }
  close(ls);
  return us;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(v.size() * p))];
}

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic::perf;
  constexpr int kSeq = 500;
  constexpr int kBatch = 256;
  std::vector<double> cm_us, tcp_us, rates;
  for (int round = 0; round < 3; ++round) {
    Rig r;
    auto l = cm_latencies(r, kSeq);
    cm_us.insert(cm_us.end(), l.begin(), l.end());
    rates.push_back(cm_rate(r, kBatch));
    auto t = tcp_latencies(kSeq);
    tcp_us.insert(tcp_us.end(), t.begin(), t.end());
  }
  const double cm50 = pct(cm_us, 0.5), cm99 = pct(cm_us, 0.99);
  const double tcp50 = pct(tcp_us, 0.5), tcp99 = pct(tcp_us, 0.99);
  const double rate = median(rates);
  std::printf("CM connection setup over the in-process wire (connect -> established on both sides)\n");
  std::printf("  %-44s p50 %8.1f us   p99 %8.1f us\n", "CM, one at a time", cm50, cm99);
  std::printf("  %-44s p50 %8.1f us   p99 %8.1f us\n", "baseline: kernel TCP connect+accept, 127.0.0.1", tcp50,
              tcp99);
  std::printf("  %-44s %8.0f connections/s (%d in flight)\n", "CM, many at once", rate, kBatch);
  std::printf("  %-44s %8.0f connections/s\n", "baseline: kernel TCP, one at a time", 1e6 / tcp50);
  std::printf("ratio  CM setup latency / TCP handshake latency (p50): %.2fx\n", cm50 / tcp50);
  std::printf("ratio  CM setup rate (batched) / TCP handshake rate:   %.2fx\n", rate / (1e6 / tcp50));
  softrnic::perf::record("cm_bench", "CM connection setup p50", cm50, "us", "kernel TCP connect+accept p50", tcp50,
                cm50 / tcp50);
  softrnic::perf::record("cm_bench", "CM connections/s, many in flight", rate, "conn/s", "kernel TCP handshakes/s",
                1e6 / tcp50, rate / (1e6 / tcp50));
  return 0;
}
