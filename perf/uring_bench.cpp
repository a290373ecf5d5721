// RoCEv2 over the io_uring UDP port, each figure next to a plain kernel UDP socket baseline
// measured in the same run on the same core. Everything runs on lo inside a private network
// namespace of this process (unshare, needs root), on 198.18.0.1 and 198.18.0.2, UDP port 4791:
// the devices' GID tables refuse loopback addresses.
//  - 64 B RC SEND message rate, against a UDP blast of same-sized datagrams (80 B: BTH + 64 B +
//    ICRC) with sendmmsg/recvmmsg in batches of 32: how close the port and the engine get to
//    what the kernel's UDP path moves at all;
//  - 64 KiB RDMA WRITE bandwidth, against a UDP blast of 4 KiB datagrams (the path MTU's payload);
//  - 64 B RDMA WRITE post-to-completion (a round trip: the write and its ACK), against a UDP
//    ping-pong of 80 B datagrams (sendto, recv, sendto back, recv).
// Both devices, both ports and both baseline sockets are driven by this one thread. Each figure is
// the median of several timed rounds. SOFTRNIC_BENCH_QUICK=1 runs one short round.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "bench_support.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"
#include "uring/uring_udp_port.hpp"
#include "results.hpp"

namespace softrnic::perf {
namespace {

using roce::Device;
using roce::Qp;

// A private network namespace with the two test addresses on lo; the reason when it cannot be had.
std::string enter_private_netns() {
  if (::unshare(CLONE_NEWNET) != 0)
    return std::string("a private network namespace needs CAP_SYS_ADMIN: ") + std::strerror(errno);
  if (std::system("ip link set lo up && ip addr add 198.18.0.1/32 dev lo && "
                  "ip addr add 198.18.0.2/32 dev lo") != 0)
    return "could not set up lo in the private namespace (ip failed or missing)";
  return {};
}

struct Rig {
  bool open() {
    transport::UringUdpConfig c;
    c.mtu = 4200;
    c.pool_packets = 8192;
    c.rx_buffers = 4096;
    c.local_address = wire::ipv4_mapped({198, 18, 0, 1});
    c.mac = {0x02, 0, 0, 0x75, 0x64, 0x0a};
    auto made_a = transport::UringUdpPort::create(c);
    if (!made_a) {
      error = made_a.error().to_string();
      return false;
    }
    c.local_address = wire::ipv4_mapped({198, 18, 0, 2});
    c.mac = {0x02, 0, 0, 0x75, 0x64, 0x0b};
    auto made_b = transport::UringUdpPort::create(c);
    if (!made_b) {
      error = made_b.error().to_string();
      return false;
    }
    port_a = std::move(*made_a);
    port_b = std::move(*made_b);
    if (!port_a) return false;
    roce::DeviceConfig cfg;
    cfg.gids = {port_a->config().local_address};
    cfg.mac = port_a->mac();
    a = std::make_unique<Device>(*port_a, clock, cfg);
    cfg.gids = {port_b->config().local_address};
    cfg.mac = port_b->mac();
    b = std::make_unique<Device>(*port_b, clock, cfg);
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
    return true;
  }

  void up(Device& d, Qp& q, Device& peer, Qp& pq) {
    roce::QpConnectOptions o;
    o.pmtu = 4096;
    o.access = verbs::kRemoteWrite | verbs::kRemoteRead;
    (void)roce::connect_qp(d, q, d.config().gids[0],
                           {pq.qpn, Psn{}, peer.config().gids[0], peer.config().mac}, o);
  }

  void poll() {
    a->poll();
    b->poll();
  }

  std::string error;
  SteadyClock clock;
  std::unique_ptr<transport::UringUdpPort> port_a, port_b;  // outlive the devices
  std::unique_ptr<Device> a, b;
  verbs::PdHandle pa = 0, pb = 0;
  Qp* qa = nullptr;
  Qp* qb = nullptr;
  verbs::Cq *scq_a = nullptr, *scq_b = nullptr, *rcq_a = nullptr, *rcq_b = nullptr;
};

// Completions that are not successes make every figure meaningless: stop with the reason.
std::size_t successes(std::span<const verbs::Cqe> cqes) {
  for (const auto& c : cqes) {
    if (c.status != verbs::WcStatus::success) {
      std::printf("FAILED: a work request completed with status %d\n", static_cast<int>(c.status));
      std::exit(1);
    }
  }
  return cqes.size();
}

double send_rate(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t msgs) {
  std::array<verbs::Cqe, 64> cqes;
  const auto t0 = Clock::now();
  std::size_t posted = 0, recv_posted = 0, done = 0;
  while (done < msgs) {
    while (recv_posted < msgs && recv_posted - done < 2048) {
      roce::RecvWr w;
      w.num_sge = 1;
      w.sg[0] = {0, 64, rk};
      if (!r.b->post_recv(*r.qb, w)) break;
      ++recv_posted;
    }
    while (posted < msgs && posted - done < 1024) {
      roce::SendWr s;
      s.opcode = verbs::WrOpcode::send;
      s.flags = verbs::kSignaled;
      s.num_sge = 1;
      s.sg[0] = {0, 64, lk};
      if (!r.a->post_send(*r.qa, s)) break;
      ++posted;
    }
    r.poll();
    done += successes({cqes.data(), r.scq_a->poll(cqes)});
    while (successes({cqes.data(), r.rcq_b->poll(cqes)}) != 0) {
    }
  }
  return static_cast<double>(msgs) / seconds_since(t0);
}

double write_bandwidth(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t len,
                       std::size_t msgs) {
  std::array<verbs::Cqe, 64> cqes;
  const auto t0 = Clock::now();
  std::size_t posted = 0, done = 0;
  while (done < msgs) {
    // A few writes in flight: enough to fill the pipe, not enough to overrun a socket buffer.
    while (posted < msgs && posted - done < 8) {
      roce::SendWr s;
      s.opcode = verbs::WrOpcode::rdma_write;
      s.flags = verbs::kSignaled;
      s.num_sge = 1;
      s.sg[0] = {0, static_cast<std::uint32_t>(len), lk};
      s.rkey = rk;
      if (!r.a->post_send(*r.qa, s)) break;
      ++posted;
    }
    r.poll();
    done += successes({cqes.data(), r.scq_a->poll(cqes)});
  }
  return static_cast<double>(msgs * len) / seconds_since(t0);
}

std::vector<double> write_latencies(Rig& r, std::uint32_t lk, std::uint32_t rk, std::size_t n) {
  std::array<verbs::Cqe, 4> cqes;
  std::vector<double> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    roce::SendWr s;
    s.opcode = verbs::WrOpcode::rdma_write;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, 64, lk};
    s.rkey = rk;
    const auto t0 = Clock::now();
    (void)r.a->post_send(*r.qa, s);
    while (successes({cqes.data(), r.scq_a->poll(cqes)}) == 0) r.poll();
    out.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- the kernel UDP baseline: two plain sockets on lo, one thread ----

struct UdpPair {
  int tx = -1, rx = -1;
  sockaddr_in rx_addr{}, tx_addr{};
  UdpPair() {
    for (int* fd : {&tx, &rx}) {
      *fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      const int buf = 4 << 20;
      (void)setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      (void)setsockopt(*fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(fd == &tx ? 0xc6120001 : 0xc6120002);  // 198.18.0.1 and .2
      (void)::bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      socklen_t len = sizeof a;
      (void)::getsockname(*fd, reinterpret_cast<sockaddr*>(&a), &len);
      (fd == &tx ? tx_addr : rx_addr) = a;
    }
  }
  ~UdpPair() {
    ::close(tx);
    ::close(rx);
  }
};

// Datagrams per second, sent in sendmmsg batches of 32 and drained with recvmmsg.
double udp_blast(UdpPair& u, std::size_t size, std::size_t datagrams) {
  std::vector<std::byte> out(size, std::byte{0x5a});
  std::vector<std::byte> in(32 * 4200);
  std::array<iovec, 32> tx_iov, rx_iov;
  std::array<mmsghdr, 32> tx_msg{}, rx_msg{};
  for (std::size_t i = 0; i < 32; ++i) {
    tx_iov[i] = {out.data(), size};
    tx_msg[i].msg_hdr.msg_iov = &tx_iov[i];
    tx_msg[i].msg_hdr.msg_iovlen = 1;
    tx_msg[i].msg_hdr.msg_name = &u.rx_addr;
    tx_msg[i].msg_hdr.msg_namelen = sizeof u.rx_addr;
    rx_iov[i] = {in.data() + i * 4200, 4200};
    rx_msg[i].msg_hdr.msg_iov = &rx_iov[i];
    rx_msg[i].msg_hdr.msg_iovlen = 1;
  }
  const auto t0 = Clock::now();
  std::size_t received = 0, sent = 0;
  while (received < datagrams) {
    if (sent - received < 256 && sent < datagrams) {
      const int n = ::sendmmsg(u.tx, tx_msg.data(), 32, 0);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    const int n = ::recvmmsg(u.rx, rx_msg.data(), 32, MSG_DONTWAIT, nullptr);
    if (n > 0) received += static_cast<std::size_t>(n);
    if (sent >= datagrams && n <= 0) break;  // the kernel dropped some: stop, count what came
  }
  return static_cast<double>(received) / seconds_since(t0);
}

std::vector<double> udp_ping_pong(UdpPair& u, std::size_t n) {
  std::array<std::byte, 80> msg{};
  std::vector<double> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    (void)::sendto(u.tx, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&u.rx_addr),
                   sizeof u.rx_addr);
    while (::recv(u.rx, msg.data(), msg.size(), MSG_DONTWAIT) < 0) {
    }
    (void)::sendto(u.rx, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&u.tx_addr),
                   sizeof u.tx_addr);
    while (::recv(u.tx, msg.data(), msg.size(), MSG_DONTWAIT) < 0) {
    }
    out.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace
}  // namespace softrnic::perf

int main() {
  using namespace softrnic;
  using namespace softrnic::perf;
  if (const std::string why = enter_private_netns(); !why.empty()) {
    std::printf("SKIPPED: %s\n", why.c_str());
    return 77;
  }
  Rig r;
  if (!r.open()) {
    std::printf("SKIPPED: io_uring UDP ports unavailable: %s\n", r.error.c_str());
    return 77;
  }
  std::vector<std::byte> src(1 << 16, std::byte{1}), dst(1 << 16);
  const auto acc = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kZeroBased;
  const auto lk = *r.a->memory().register_mr(r.pa, src.data(), src.size(), 0, acc);
  const auto rk = *r.b->memory().register_mr(r.pb, dst.data(), dst.size(), 0, acc);
  const bool quick = std::getenv("SOFTRNIC_BENCH_QUICK") != nullptr;
  const int kRounds = quick ? 1 : 5;
  const std::size_t scale = quick ? 20 : 1;
  UdpPair udp;
  std::vector<double> msg_rate, small_blast, wbw, big_blast;
  (void)send_rate(r, lk, rk, 20000);  // warm-up
  (void)write_bandwidth(r, lk, rk, 1 << 16, 200);
  for (int round = 0; round < kRounds; ++round) {
    small_blast.push_back(udp_blast(udp, 80, 400000 / scale));
    msg_rate.push_back(send_rate(r, lk, rk, 200000 / scale));
    big_blast.push_back(udp_blast(udp, 4096 + 12 + 4, 100000 / scale) * 4096);
    wbw.push_back(write_bandwidth(r, lk, rk, 1 << 16, 4000 / scale));
  }
  const auto lat = write_latencies(r, lk, rk, 20000 / scale);
  const auto pp = udp_ping_pong(udp, 20000 / scale);
  const double mr = median(msg_rate), sb = median(small_blast), w = median(wbw),
               bb = median(big_blast);
  const double lat50 = lat[lat.size() / 2], pp50 = pp[pp.size() / 2];
  std::printf(
      "RoCEv2 over io_uring UDP ports on lo (198.18.0.1 and .2), both devices on one core; median "
      "of "
      "%d rounds\n",
      kRounds);
  std::printf("%-46s %14s %14s %9s\n", "what", "rate", "UDP baseline", "ratio");
  std::printf("%-46s %11.3f M/s %11.3f M/s %8.3fx\n", "64 B RC SEND msgs vs 80 B UDP datagrams",
              mr / 1e6, sb / 1e6, mr / sb);
  std::printf("%-46s %10.2f GB/s %10.2f GB/s %8.3fx\n", "64 KiB RDMA WRITE vs 4 KiB UDP datagrams",
              w / 1e9, bb / 1e9, w / bb);
  std::printf("%-46s %10.0f ns %13.0f ns %8.3fx   (p99 %.0f vs %.0f ns)\n",
              "64 B WRITE round trip vs UDP ping-pong, p50", lat50, pp50, lat50 / pp50,
              lat[lat.size() * 99 / 100], pp[pp.size() * 99 / 100]);
  using softrnic::perf::record;
  record("uring_bench", "64 B RC SEND messages (io_uring UDP)", mr / 1e6, "M msg/s", "80 B UDP datagrams",
          sb / 1e6, mr / sb);
  record("uring_bench", "64 KiB RDMA WRITE (io_uring UDP)", w / 1e9, "GB/s", "4 KiB UDP datagrams", bb / 1e9,
          w / bb);
  record("uring_bench", "64 B WRITE round trip p50 (io_uring UDP)", lat50 / 1e3, "us", "UDP ping-pong p50",
          pp50 / 1e3, lat50 / pp50);
  const auto& ca = r.port_a->counters();
  const auto& cb = r.port_b->counters();
  std::printf(
      "port A: tx %llu datagrams in %llu submits, tx_errors %llu; port B rx %llu, "
      "rx_no_buffer %llu; retransmits A %llu\n",
      static_cast<unsigned long long>(ca.get(transport::UringCounter::tx_packets)),
      static_cast<unsigned long long>(ca.get(transport::UringCounter::submits)),
      static_cast<unsigned long long>(ca.get(transport::UringCounter::tx_errors)),
      static_cast<unsigned long long>(cb.get(transport::UringCounter::rx_packets)),
      static_cast<unsigned long long>(cb.get(transport::UringCounter::rx_no_buffer)),
      static_cast<unsigned long long>(r.a->counters().get(roce::DeviceCounter::retransmits)));
  return 0;
}
