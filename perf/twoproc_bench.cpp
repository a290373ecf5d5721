// One side of the two-process benchmark (perf/twoproc_bench.sh runs both sides and the kernel UDP
// baseline, and prints the ratios).
//
//   twoproc_bench rdma SPEC server|client OOB_ADDR OOB_PORT
//       A device from SPEC and one RC QP toward the other process, connected through the
//       out-of-band bootstrap (path MTU: the largest the link takes, at most 4096). The server
//       answers; the client measures, each for SECONDS (environment TWOPROC_SECONDS, default 2):
//         - 64 B SEND round trips: a SEND with immediate, which the server answers with one;
//         - RDMA WRITE bandwidth at 64 KiB, 8 writes in flight;
//         - 64 B SEND message rate, up to 1024 in flight (the server reposts its receives).
//       and prints one line: RESULT rtt_p50_ns= rtt_p99_ns= write_Bps= msg_rate= retransmits=
//   twoproc_bench rawmemif SOCKET server|client
//       Raw 64 B frames over a DPDK net_memif pair through the Port API, no engine: the client
//       sends bursts of 32 for SECONDS, the server counts and prints RESULT frame_rate=.
//
// Every loop busy-polls (the benchmark idle policy); the script pins each process to its own CPU.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "bootstrap/oob_exchange.hpp"
#include "dpdk/dpdk_port.hpp"
#include "engine/gid_table.hpp"
#include "factory/device_set.hpp"
#include "roce/connect.hpp"

namespace softrnic::perf {
namespace {

using namespace verbs;

constexpr std::uint32_t kDone = 0xffffffff;  // immediate of the client's last SEND
constexpr std::uint32_t kPing = 1;
constexpr std::uint32_t kRecvSlots = 4096;
constexpr std::size_t kWriteLen = 64 * 1024;
// Enough to fill the pipe, few enough not to overrun a receive ring often (af_packet's holds 512
// frames, one 64 KiB WRITE is 64 of them at a 1024-byte path MTU); as uring_bench does.
constexpr std::size_t kWritesInFlight = 8;
constexpr std::uint16_t kEndEthertype = 0x88b6;  // raw memif: the client's "that was all"

int fail(const std::string& what) {
  std::fprintf(stderr, "twoproc_bench: %s\n", what.c_str());
  return 1;
}

// The largest IB MTU whose packets fit the link: IP, UDP, BTH, RETH, ImmDt and ICRC around it.
std::uint32_t path_mtu(std::uint32_t link_mtu, bool v4) {
  const std::uint32_t overhead = (v4 ? 20u : 40u) + 8u + 12u + 16u + 4u + 4u;
  for (std::uint32_t m = 4096; m >= 256; m /= 2)
    if (m + overhead <= link_mtu) return m;
  return 0;
}

double bench_seconds() {
  const char* s = std::getenv("TWOPROC_SECONDS");
  return s ? std::atof(s) : 2.0;
}

struct Side {
  roce::Device* dev = nullptr;
  roce::Qp* qp = nullptr;
  Cq* scq = nullptr;
  Cq* rcq = nullptr;
  std::uint32_t small_key = 0;  // 64 B slots, send and receive
  std::uint32_t big_key = 0;    // 64 KiB, WRITE source or target
  std::array<Cqe, 64> cqes{};

  bool post_recv(std::uint64_t slot) {
    roce::RecvWr w;
    w.wr_id = slot;
    w.num_sge = 1;
    w.sg[0] = {slot * 64, 64, small_key};
    return dev->post_recv(*qp, w).has_value();
  }
  bool send64(bool with_imm, std::uint32_t imm) {
    roce::SendWr s;
    s.opcode = with_imm ? WrOpcode::send_with_imm : WrOpcode::send;
    s.flags = kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, 64, small_key};
    s.imm = imm;
    return dev->post_send(*qp, s).has_value();
  }
  // Send completions reaped; a failed one stops the benchmark.
  std::size_t reap_sends() {
    const std::size_t n = scq->poll(cqes);
    for (std::size_t i = 0; i < n; ++i)
      if (cqes[i].status != WcStatus::success) {
        std::fprintf(stderr, "twoproc_bench: send completion %s\n",
                     std::string(to_string(cqes[i].status)).c_str());
        std::exit(1);
      }
    return n;
  }
};

// The passive side: reposts receives, echoes pings, stops after the client's last SEND.
int serve(Side& s, const Port& port, bool memif) {
  for (std::uint32_t i = 0; i < kRecvSlots; ++i)
    if (!s.post_recv(i)) return fail("post_recv refused");
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  bool done = false;
  std::array<Cqe, 64> rc;
  // The clock is read every 1024 turns: a read costs about what a turn with a packet does.
  for (std::uint32_t turn = 0; !done && ((++turn & 1023) != 0 || Clock::now() < give_up);) {
    s.dev->poll();
    (void)s.reap_sends();
    const std::size_t n = s.rcq->poll(rc);
    for (std::size_t i = 0; i < n; ++i) {
      if (rc[i].status != WcStatus::success) return fail("receive completion failed");
      (void)s.post_recv(rc[i].wr_id);
      if (rc[i].flags & Cqe::kWithImm) {
        if (rc[i].imm == kDone)
          done = true;
        else if (!s.send64(true, rc[i].imm))
          return fail("echo refused");
      }
    }
  }
  if (!done) return fail("the client never finished");
  // Answer a repeated last SEND, should the ACK of the first have been lost.
  const auto linger = Clock::now() + std::chrono::milliseconds(memif ? 50 : 300);
  while (Clock::now() < linger) {
    s.dev->poll();
    (void)s.reap_sends();
  }
  if (memif) wait_for_memif_peer_to_leave(port);
  return 0;
}

std::vector<double> round_trips(Side& s, double seconds) {
  std::vector<double> ns;
  std::array<Cqe, 8> rc;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::size_t i = 0;
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    if (!s.send64(true, kPing)) break;
    std::size_t got = 0;
    while (got == 0) {
      s.dev->poll();
      got = s.rcq->poll(rc);
    }
    const double d = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    (void)s.post_recv(rc[0].wr_id);
    (void)s.reap_sends();
    if (i++ >= 200) ns.push_back(d);  // the first ones warm caches and resolve the peer
  }
  std::sort(ns.begin(), ns.end());
  return ns;
}

double write_rate(Side& s, std::uint32_t rkey, double seconds) {
  std::size_t posted = 0, done = 0;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  for (std::uint32_t turn = 0; (++turn & 15) != 0 || Clock::now() < end;) {
    while (posted - done < kWritesInFlight) {
      roce::SendWr w;
      w.opcode = WrOpcode::rdma_write;
      w.flags = kSignaled;
      w.num_sge = 1;
      w.sg[0] = {0, static_cast<std::uint32_t>(kWriteLen), s.big_key};
      w.rkey = rkey;
      if (!s.dev->post_send(*s.qp, w)) break;
      ++posted;
    }
    s.dev->poll();
    done += s.reap_sends();
  }
  const double secs = seconds_since(t0);
  while (done < posted) {  // drain, uncounted
    s.dev->poll();
    done += s.reap_sends();
  }
  return static_cast<double>(done) * kWriteLen / secs;
}

double message_rate(Side& s, double seconds) {
  std::size_t posted = 0, done = 0, counted = 0;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  for (std::uint32_t turn = 0; (++turn & 15) != 0 || Clock::now() < end;) {
    while (posted - done < 1024 && s.send64(false, 0)) ++posted;
    s.dev->poll();
    done += s.reap_sends();
  }
  counted = done;
  const double secs = seconds_since(t0);
  while (done < posted) {
    s.dev->poll();
    done += s.reap_sends();
  }
  return static_cast<double>(counted) / secs;
}

int run_rdma(const std::string& spec_text, bool server, const std::string& oob_addr,
             std::uint16_t oob_port) {
  auto spec = transport::parse_device_spec(spec_text);
  if (!spec) return fail(spec.error().message);
  SteadyClock clock;
  transport::DeviceSet set;
  if (auto r = set.build({*spec}, clock); !r) return fail(r.error().message);
  Side s;
  s.dev = set.device(spec->name);
  const PdHandle pd = *s.dev->memory().alloc_pd();
  s.scq = *s.dev->create_cq(8192);
  s.rcq = *s.dev->create_cq(8192);
  roce::QpInit init;
  init.pd = pd;
  init.send_cq = s.scq;
  init.recv_cq = s.rcq;
  init.sq_depth = 2048;
  init.rq_depth = kRecvSlots;
  s.qp = *s.dev->create_qp(init);
  std::vector<std::byte> small(64 * kRecvSlots), big(kWriteLen, std::byte{0x5a});
  const auto acc = kLocalWrite | kRemoteWrite | kZeroBased;
  s.small_key = *s.dev->memory().register_mr(pd, small.data(), small.size(), 0, acc);
  s.big_key = *s.dev->memory().register_mr(pd, big.data(), big.size(), 0, acc);
  const auto gid = s.dev->config().gids.front();
  const bool v4 = engine::is_ipv4_mapped(gid);
  const std::uint32_t pmtu = path_mtu(set.port(spec->name)->mtu(), v4);
  if (pmtu == 0) return fail("the link MTU is too small for RoCE");

  transport::OobEndpoint me;
  me.qpn = s.qp->qpn;
  me.psn = server ? 0x100 : 0x200;
  me.rkey = s.big_key;
  me.gid = gid;
  me.mac = s.dev->config().mac;
  me.mtu = pmtu;
  auto peer = server ? transport::oob_serve(oob_addr, oob_port, me, std::chrono::seconds(30))
                     : transport::oob_connect(oob_addr, oob_port, me, std::chrono::seconds(30));
  if (!peer) return fail(peer.error().message);
  roce::QpConnectOptions o;
  o.pmtu = std::min(pmtu, peer->mtu);
  o.sq_psn = Psn{me.psn};
  o.access = kRemoteWrite;
  if (auto r = roce::connect_qp(*s.dev, *s.qp, gid, {peer->qpn, Psn{peer->psn}, peer->gid, {}}, o);
      !r)
    return fail(r.error().message);
  if (server) return serve(s, *set.port(spec->name), spec->port == transport::PortKind::memif);

  for (std::uint32_t i = 0; i < 64; ++i)
    if (!s.post_recv(i)) return fail("post_recv refused");
  const double secs = bench_seconds();
  const auto rtt = round_trips(s, secs);
  if (rtt.empty()) return fail("no round trip completed");
  const double bw = write_rate(s, peer->rkey, secs);
  const double rate = message_rate(s, secs);
  // Tell the server to stop, and leave once it has acknowledged that.
  if (!s.send64(true, kDone)) return fail("the last SEND was refused");
  const auto until = Clock::now() + std::chrono::seconds(5);
  std::size_t acked = 0;
  while (acked == 0 && Clock::now() < until) {
    s.dev->poll();
    acked = s.reap_sends();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // idle: the server stops first
  std::printf(
      "RESULT rtt_p50_ns=%.0f rtt_p99_ns=%.0f write_Bps=%.0f msg_rate=%.0f pmtu=%u "
      "retransmits=%llu\n",
      rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100], bw, rate, o.pmtu,
      static_cast<unsigned long long>(s.dev->counters().get(roce::DeviceCounter::retransmits)));
  return 0;
}

int run_raw_memif(const std::string& socket, bool server) {
  const std::string vdev =
      "net_memif0,role=" + std::string(server ? "server" : "client") + ",socket=" + socket;
  transport::DpdkPortConfig c;
  c.rx_queue_depth = c.tx_queue_depth = 2048;
  auto made = transport::DpdkPort::create_vdev(vdev, c);
  if (!made) return fail(made.error().message);
  transport::DpdkPort& port = **made;
  std::array<Packet*, kBurst> burst{};
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  if (server) {
    std::size_t frames = 0;
    Clock::time_point first{}, last{};
    bool end = false;
    while (!end && Clock::now() < give_up) {
      const std::size_t n = port.rx_burst(burst);
      if (n != 0) {
        last = Clock::now();
        if (frames == 0) first = last;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const Packet& p = *burst[i];
        if (p.len >= 14 && load_be16(p.bytes(), 12) == kEndEthertype)
          end = true;
        else
          ++frames;
        port.free(burst[i]);
      }
    }
    if (!end) return fail("raw memif: the client never finished");
    std::printf("RESULT frame_rate=%.0f frames=%zu\n",
                static_cast<double>(frames) / std::chrono::duration<double>(last - first).count(),
                frames);
    wait_for_memif_peer_to_leave(port);
    return 0;
  }
  while (!port.link_up() && Clock::now() < give_up) (void)port.rx_burst(burst);
  const auto end = Clock::now() + std::chrono::duration<double>(bench_seconds());
  auto fill = [&](Packet* p, std::uint16_t type) {
    p->len = 64;
    std::memset(p->data, 0, 64);
    std::memset(p->data, 0xff, 6);  // broadcast
    store_be16(p->bytes(), 12, type);
  };
  while (Clock::now() < end) {
    std::size_t n = 0;
    while (n < kBurst && (burst[n] = port.alloc()) != nullptr) fill(burst[n++], 0x88b5);
    const std::size_t sent = port.tx_burst({burst.data(), n});
    for (std::size_t i = sent; i < n; ++i) port.free(burst[i]);
  }
  // The end marker, until a few are on the ring (it may be full while the server catches up).
  int markers = 0;
  const auto marker_deadline = Clock::now() + std::chrono::seconds(5);
  while (markers < 3 && Clock::now() < marker_deadline) {
    Packet* p = port.alloc();
    if (p == nullptr) continue;
    fill(p, kEndEthertype);
    std::array<Packet*, 1> one{p};
    if (port.tx_burst(one) == 1) {
      ++markers;
    } else {
      port.free(p);
    }
  }
  // Idle until the server has stopped polling (see wait_for_memif_peer_to_leave), then leave.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return 0;
}

}  // namespace
}  // namespace softrnic::perf

int main(int argc, char** argv) {
  using namespace softrnic::perf;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "rdma" && argc == 6)
    return run_rdma(argv[2], std::string(argv[3]) == "server", argv[4],
                    static_cast<std::uint16_t>(std::atoi(argv[5])));
  if (mode == "rawmemif" && argc == 4)
    return run_raw_memif(argv[2], std::string(argv[3]) == "server");
  return fail(
      "usage: twoproc_bench rdma SPEC server|client OOB_ADDR OOB_PORT | rawmemif SOCKET "
      "server|client");
}
