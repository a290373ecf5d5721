// iWARP between two processes over loopback TCP (127.0.0.1), against plain TCP sockets between the
// same two processes in the same run:
//  - RDMA Write bandwidth with 64 KiB messages (MPA CRC on, and off), against a TCP stream of
//    64 KiB writes;
//  - 64 B Send round trip (ping-pong), p50 / p99, against a 64 B TCP ping-pong.
// The server is a forked child; each side polls its own engine on its own core where there are two.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "bench_support.hpp"
#include "iwarp/device.hpp"
#include "uring/uring_tcp.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

constexpr std::size_t kBig = 64 * 1024;
constexpr double kSeconds = 1.5;
constexpr int kPings = 20000;

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)), &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

struct Side {
  SteadyClock clock;
  std::unique_ptr<transport::UringTcpTransport> tcp;
  std::unique_ptr<iwarp::Device> dev;
  verbs::PdHandle pd = 0;
  verbs::Cq* cq = nullptr;
  iwarp::Qp* qp = nullptr;
  std::vector<std::byte> buf = std::vector<std::byte>(kBig * 64);
  verbs::MemKeyRaw key = 0;
  bool up = false, down = false;
  std::uint32_t peer_key = 0;

  explicit Side(bool crc) {
    tcp = std::move(*transport::UringTcpTransport::create());
    iwarp::IwarpConfig c;
    c.request_crc = crc;
    dev = std::make_unique<iwarp::Device>(*tcp, clock, c);
    pd = *dev->memory().alloc_pd();
    cq = *dev->create_cq(4096);
    roce::QpInit init;
    init.pd = pd;
    init.send_cq = init.recv_cq = cq;
    init.sq_depth = init.rq_depth = 1024;
    init.max_inline = 0;
    qp = *dev->create_qp(init);
    key = *dev->memory().register_mr(pd, buf.data(), buf.size(), 0,
                                     verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kZeroBased);
  }
  bool recv64() {
    roce::RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {0, 64, key};
    return static_cast<bool>(dev->post_recv(*qp, r));
  }
  bool send64(bool signaled) {
    roce::SendWr w;
    w.flags = signaled ? verbs::kSignaled : 0u;
    w.num_sge = 1;
    w.sg[0] = {kBig, 64, key};
    return static_cast<bool>(dev->post_send(*qp, w));
  }
};

const wire::Ipv6Addr kLo = wire::ipv4_mapped({127, 0, 0, 1});

// The child: accepts, answers every 64 B Send with one, until the client disconnects.
int serve(std::uint16_t port, bool crc) {
  pin(1);
  Side s(crc);
  (void)s.dev->listen({kLo, port}, [&](const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::connect_request) {
      const std::string k = std::to_string(s.key);
      std::vector<std::byte> pd(k.size());
      std::memcpy(pd.data(), k.data(), k.size());
      cm::AcceptParams ap;
      ap.private_data = pd;
      for (int i = 0; i < 512; ++i) (void)s.recv64();
      (void)s.dev->accept(e.conn, *s.qp, ap, {});
    } else if (e.type == cm::CmEvent::Type::disconnected) {
      s.down = true;
    }
  });
  std::array<verbs::Cqe, 64> c;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!s.down && Clock::now() < deadline) {
    s.dev->poll();
    const auto n = s.cq->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].opcode == verbs::WcOpcode::recv && c[i].status == verbs::WcStatus::success) {
        (void)s.recv64();
        (void)s.send64(false);
      }
    }
  }
  return 0;
}

struct IwResult {
  double write_gbps = 0;
  std::vector<double> rtt_us;
};

IwResult client(std::uint16_t port, bool crc) {
  pin(0);
  Side s(crc);
  IwResult out;
  cm::ConnectParams p;
  p.remote = {kLo, port};
  auto id = s.dev->connect(*s.qp, p, [&](const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::established) {
      s.peer_key = static_cast<std::uint32_t>(std::stoul(std::string(reinterpret_cast<const char*>(e.private_data.data()),
                                                                     e.private_data.size())));
      s.up = true;
    }
  });
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (id && !s.up && Clock::now() < deadline) s.dev->poll();
  if (!s.up) {
    std::fprintf(stderr, "iwarp_bench: no connection\n");
    return out;
  }
  std::array<verbs::Cqe, 64> c;
  // Write bandwidth: 64 KiB Writes, 32 in flight.
  std::size_t posted = 0, done = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < kSeconds) {
    while (posted - done < 32) {
      roce::SendWr w;
      w.opcode = verbs::WrOpcode::rdma_write;
      w.flags = verbs::kSignaled;
      w.num_sge = 1;
      w.sg[0] = {(posted % 32) * kBig, static_cast<std::uint32_t>(kBig), s.key};
      w.rkey = s.peer_key;
      w.remote_addr = (posted % 32) * kBig;
      if (!s.dev->post_send(*s.qp, w)) break;
      ++posted;
    }
    s.dev->poll();
    done += s.cq->poll(c);
  }
  out.write_gbps = static_cast<double>(done) * kBig * 8 / seconds_since(t0) / 1e9;
  while (done < posted) {
    s.dev->poll();
    done += s.cq->poll(c);
  }
  // 64 B ping-pong.
  for (int i = 0; i < kPings; ++i) {
    (void)s.recv64();
    const auto t = Clock::now();
    (void)s.send64(false);
    bool got = false;
    while (!got) {
      s.dev->poll();
      const auto n = s.cq->poll(c);
      for (std::size_t k = 0; k < n; ++k) got = got || c[k].opcode == verbs::WcOpcode::recv;
    }
    out.rtt_us.push_back(seconds_since(t) * 1e6);
  }
  (void)s.dev->disconnect(*id);
  const auto linger = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < linger) s.dev->poll();
  return out;
}

// Plain TCP between two processes: a stream of 64 KiB writes on one connection (the client closes
// it after the timed window), then a 64 B ping-pong on a second one.
int tcp_serve(int ls) {
  pin(1);
  std::vector<char> b(kBig);
  const int s1 = accept(ls, nullptr, nullptr);
  while (read(s1, b.data(), b.size()) > 0) {
  }
  close(s1);
  const int s2 = accept(ls, nullptr, nullptr);
  int one = 1;
  setsockopt(s2, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (int i = 0; i < kPings; ++i) {
    std::size_t got = 0;
    while (got < 64) {
      const ssize_t n = read(s2, b.data() + got, 64 - got);
      if (n <= 0) return 1;
      got += static_cast<std::size_t>(n);
    }
    if (write(s2, b.data(), 64) != 64) return 1;
  }
  close(s2);
  return 0;
}

int tcp_connect(std::uint16_t port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(s);
    return -1;
  }
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}

IwResult tcp_client(std::uint16_t port) {
  pin(0);
  IwResult out;
  std::vector<char> b(kBig, 'x');
  const int s1 = tcp_connect(port);
  if (s1 < 0) return out;
  std::uint64_t sent = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < kSeconds) {
    const ssize_t n = write(s1, b.data(), b.size());
    if (n <= 0) return out;
    sent += static_cast<std::uint64_t>(n);
  }
  out.write_gbps = static_cast<double>(sent) * 8 / seconds_since(t0) / 1e9;
  close(s1);
  const int s2 = tcp_connect(port);
  if (s2 < 0) return out;
  for (int i = 0; i < kPings; ++i) {
    const auto t = Clock::now();
    if (write(s2, b.data(), 64) != 64) return out;
    std::size_t got = 0;
    while (got < 64) {
      const ssize_t n = read(s2, b.data() + got, 64 - got);
      if (n <= 0) return out;
      got += static_cast<std::size_t>(n);
    }
    out.rtt_us.push_back(seconds_since(t) * 1e6);
  }
  close(s2);
  return out;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(v.size() * p))];
}

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic::perf;
  const auto port = static_cast<std::uint16_t>(30000 + getpid() % 20000);
  IwResult iw[2];
  for (const bool crc : {true, false}) {
    const auto p = static_cast<std::uint16_t>(port + (crc ? 0 : 1));
    const pid_t child = fork();
    if (child == 0) _exit(serve(p, crc));
    usleep(200'000);
    iw[crc ? 0 : 1] = client(p, crc);
    int st = 0;
    waitpid(child, &st, 0);
  }
  // The TCP baseline between two processes, the same way.
  const int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  IwResult tcp;
  if (bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && listen(ls, 4) == 0 &&
      getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    const pid_t child = fork();
    if (child == 0) _exit(tcp_serve(ls));
    tcp = tcp_client(ntohs(sa.sin_port));
    int st = 0;
    waitpid(child, &st, 0);
  }
  close(ls);
  std::printf("iWARP between two processes over loopback TCP (127.0.0.1), baseline: plain TCP, same run\n");
  std::printf("  %-36s %8.2f Gbit/s\n", "RDMA Write 64 KiB, MPA CRC on", iw[0].write_gbps);
  std::printf("  %-36s %8.2f Gbit/s\n", "RDMA Write 64 KiB, MPA CRC off", iw[1].write_gbps);
  std::printf("  %-36s %8.2f Gbit/s\n", "baseline: TCP stream, 64 KiB writes", tcp.write_gbps);
  std::printf("  %-36s p50 %7.1f us  p99 %7.1f us\n", "64 B Send round trip (CRC on)", pct(iw[0].rtt_us, 0.5),
              pct(iw[0].rtt_us, 0.99));
  std::printf("  %-36s p50 %7.1f us  p99 %7.1f us\n", "baseline: TCP 64 B ping-pong", pct(tcp.rtt_us, 0.5),
              pct(tcp.rtt_us, 0.99));
  std::printf("ratio  Write bandwidth (CRC on) / TCP stream:  %.2fx (target >= 0.8x)\n",
              tcp.write_gbps > 0 ? iw[0].write_gbps / tcp.write_gbps : 0.0);
  std::printf("ratio  Write bandwidth (CRC off) / TCP stream: %.2fx\n",
              tcp.write_gbps > 0 ? iw[1].write_gbps / tcp.write_gbps : 0.0);
  std::printf("ratio  Send RTT p50 / TCP ping-pong p50:       %.2fx (target <= 1.3x)\n",
              pct(tcp.rtt_us, 0.5) > 0 ? pct(iw[0].rtt_us, 0.5) / pct(tcp.rtt_us, 0.5) : 0.0);
  using softrnic::perf::record;
  const double tw = tcp.write_gbps, t50 = pct(tcp.rtt_us, 0.5), i50 = pct(iw[0].rtt_us, 0.5);
  record("iwarp_bench", "iWARP RDMA Write 64 KiB, MPA CRC on", iw[0].write_gbps, "Gbit/s", "TCP stream", tw,
          iw[0].write_gbps / tw, ">= 0.8x", iw[0].write_gbps / tw >= 0.8);
  record("iwarp_bench", "iWARP RDMA Write 64 KiB, MPA CRC off", iw[1].write_gbps, "Gbit/s", "TCP stream", tw,
          iw[1].write_gbps / tw);
  record("iwarp_bench", "iWARP 64 B Send RTT p50", i50, "us", "TCP 64 B ping-pong p50", t50, i50 / t50, "<= 1.3x",
          i50 / t50 <= 1.3);
  return 0;
}
