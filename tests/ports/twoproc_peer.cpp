// One side of a two-process RoCE test: builds a device from a spec, swaps QP details with the
// other process over the out-of-band TCP bootstrap, brings an RC QP up and runs SEND, WRITE,
// FETCH_ADD, two COMPARE_SWAPs (one that swaps, one that must not) and READ against the peer,
// then UD SENDs both ways on a UD QP whose QPN and Q_Key travelled through the same bootstrap.
// Every byte is checked. Exit 0 when all of it worked.
//
//   twoproc_peer SPEC server|client OOB_ADDR OOB_PORT
//
// Exit 0: all of it worked; 77: the device could not be built; 1: anything else.
//
// UD is unreliable, and the loss test drops frames on purpose: each side keeps sending its
// datagram (every 5 ms) until it has received the peer's and sent at least kUdMinSends, so a
// lost datagram is replaced rather than waited for. Every datagram carries the same bytes.
//
// Link-layer ports (DPDK) resolve the peer's MAC by ARP / IPv6 ND: the RC QP's address vector is
// left without one, and the MAC the engine found must equal the one the peer announced. The UD
// address handle then uses that resolved MAC.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/oob_exchange.hpp"
#include "dpdk/dpdk_port.hpp"
#include "engine/gid_table.hpp"
#include "factory/device_set.hpp"
#include "roce/connect.hpp"

using namespace softrnic;

namespace {

constexpr std::size_t kLen = 8192;      // RC SEND / WRITE / READ message
constexpr std::uint32_t kUdLen = 1000;  // UD payload, under the 1024-byte path MTU
constexpr std::uint32_t kGrh = 40;      // a UD receive starts with the GRH space
constexpr std::size_t kUdSlots = 16;    // UD receive buffers kept posted
constexpr int kUdMinSends = 8;
constexpr std::uint64_t kSwapServer = 0x0123456789abcdefull, kSwapClient = 0xfedcba9876543210ull;

int fail(const std::string& what) {
  std::fprintf(stderr, "twoproc_peer: %s\n", what.c_str());
  return 1;
}

std::byte pattern(std::size_t i, bool server_side) {
  return std::byte((i * 7 + (server_side ? 1 : 2)) & 0xff);
}
std::byte ud_pattern(std::size_t i, bool server_side) {
  return std::byte((i * 13 + (server_side ? 0x51 : 0xa3)) & 0xff);
}

std::uint64_t load_u64(const std::byte* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

// What the engine counted, for a failure report: which drops or retransmissions happened.
void report_counters(roce::Device& dev, const Port& port) {
  for (const auto& e : dev.events())
    std::fprintf(stderr, "twoproc_peer: event %d on QP %u: %s\n", static_cast<int>(e.type), e.qpn,
                 e.message.c_str());
  std::string line;
  dev.counters().for_each([&](std::string_view name, std::uint64_t v) {
    if (v != 0) line += " " + std::string(name) + "=" + std::to_string(v);
  });
  std::fprintf(stderr, "twoproc_peer: device counters:%s\n", line.c_str());
  if (const auto* dpdk = dynamic_cast<const transport::DpdkPort*>(&port)) {
    line.clear();
    dpdk->counters().for_each([&](std::string_view name, std::uint64_t v) {
      if (v != 0) line += " " + std::string(name) + "=" + std::to_string(v);
    });
    std::fprintf(stderr, "twoproc_peer: DPDK port counters:%s; pool %zu of %zu free\n",
                 line.c_str(), dpdk->pool_available(), dpdk->pool_size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return fail("usage: twoproc_peer SPEC server|client OOB_ADDR OOB_PORT");
  auto spec = transport::parse_device_spec(argv[1]);
  if (!spec) return fail(spec.error().message);
  const bool server = std::string(argv[2]) == "server";
  const std::string oob_addr = argv[3];
  const auto oob_port = static_cast<std::uint16_t>(std::stoi(argv[4]));
  SteadyClock clock;
  transport::DeviceSet set;
  // 77: the device could not be made at all (DPDK or the kernel refused); the script decides
  // whether that is a skip (af_xdp) or a failure.
  if (auto r = set.build({*spec}, clock); !r) {
    (void)fail("cannot build the device: " + r.error().message);
    return 77;
  }
  roce::Device& dev = *set.device(spec->name);
  Port& port = *set.port(spec->name);
  auto failed = [&](const std::string& what) {
    report_counters(dev, port);
    return fail(what);
  };

  using namespace verbs;
  const PdHandle pd = *dev.memory().alloc_pd();
  Cq* cq = *dev.create_cq(64);
  Cq* ud_cq = *dev.create_cq(256);
  roce::QpInit init;
  init.pd = pd;
  init.send_cq = init.recv_cq = cq;
  roce::Qp* qp = *dev.create_qp(init);
  roce::QpInit ud_init = init;
  ud_init.type = QpType::ud;
  ud_init.send_cq = ud_init.recv_cq = ud_cq;
  roce::Qp* ud = *dev.create_qp(ud_init);

  std::vector<std::byte> mine(kLen), theirs(kLen), landing(kLen), readback(kLen);
  for (std::size_t i = 0; i < kLen; ++i) mine[i] = pattern(i, server);
  // cell: [0] the peer's FETCH_ADD target, [8] its COMPARE_SWAP target.
  // result: [0] FETCH_ADD, [8] the COMPARE_SWAP that swaps, [16] the one that must not.
  std::vector<std::byte> cell(16), result(24);
  std::vector<std::byte> ud_out(kUdLen), ud_in(kUdSlots * (kGrh + kUdLen));
  for (std::size_t i = 0; i < kUdLen; ++i) ud_out[i] = ud_pattern(i, server);
  const auto acc = kLocalWrite | kRemoteWrite | kRemoteRead | kRemoteAtomic | kZeroBased;
  auto reg = [&](std::vector<std::byte>& b) {
    return *dev.memory().register_mr(pd, b.data(), b.size(), 0, acc);
  };
  const auto k_mine = reg(mine), k_theirs = reg(theirs), k_landing = reg(landing);
  const auto k_readback = reg(readback), k_cell = reg(cell), k_result = reg(result);
  const auto k_ud_out = reg(ud_out), k_ud_in = reg(ud_in);

  // The UD QP is ready, with its receives posted, before the peer can learn its QPN.
  const std::uint32_t my_qkey = server ? 0x11110001 : 0x11110002;
  {
    roce::QpAttrs x;
    x.state = QpState::init;
    x.qkey = my_qkey;
    if (auto r = dev.modify_qp(*ud, x, kAttrState | kAttrPkeyIndex | kAttrPort | kAttrQkey); !r)
      return fail("UD QP to INIT: " + r.error().message);
    x.state = QpState::rtr;
    if (auto r = dev.modify_qp(*ud, x, kAttrState); !r)
      return fail("UD QP to RTR: " + r.error().message);
    x.state = QpState::rts;
    x.sq_psn = Psn{server ? 0x30u : 0x40u};
    if (auto r = dev.modify_qp(*ud, x, kAttrState | kAttrSqPsn); !r)
      return fail("UD QP to RTS: " + r.error().message);
  }
  auto post_ud_recv = [&](std::size_t slot) {
    roce::RecvWr rw;
    rw.wr_id = slot;
    rw.num_sge = 1;
    rw.sg[0] = {slot * (kGrh + kUdLen), kGrh + kUdLen, k_ud_in};
    return dev.post_recv(*ud, rw);
  };
  for (std::size_t i = 0; i < kUdSlots; ++i)
    if (auto r = post_ud_recv(i); !r) return fail("UD post_recv: " + r.error().message);

  transport::OobEndpoint me;
  me.qpn = qp->qpn;
  me.psn = server ? 0x1000 : 0x2000;
  me.rkey = k_theirs;  // the peer WRITEs into `theirs`
  me.addr = k_cell;    // and runs its atomics on `cell` (its key travels in addr)
  me.gid = dev.config().gids.front();
  me.mac = dev.config().mac;
  // The largest path MTU the link takes (4096 on a 4200-byte link), at most what the peer takes.
  me.mtu = dev.active_mtu(engine::is_ipv4_mapped(me.gid) ? wire::IpVersion::v4 : wire::IpVersion::v6);
  me.ud_qpn = ud->qpn;
  me.qkey = my_qkey;
  auto peer = server ? transport::oob_serve(oob_addr, oob_port, me, std::chrono::seconds(20))
                     : transport::oob_connect(oob_addr, oob_port, me, std::chrono::seconds(20));
  if (!peer) return fail(peer.error().message);
  if (peer->ud_qpn == 0) return fail("the peer announced no UD QP");

  roce::QpConnectOptions o;
  o.sq_psn = Psn{me.psn};
  o.pmtu = std::min(me.mtu, peer->mtu);
  std::printf("twoproc_peer %s: path MTU %u\n", argv[2], o.pmtu);
  // MAC left out: ARP / ND finds it (a socket port needs none).
  if (auto r = roce::connect_qp(dev, *qp, me.gid, {peer->qpn, Psn{peer->psn}, peer->gid, {}}, o);
      !r)
    return fail(r.error().message);

  roce::RecvWr rw;
  rw.num_sge = 1;
  rw.sg[0] = {0, kLen, k_landing};
  if (auto r = dev.post_recv(*qp, rw); !r) return fail(r.error().message);
  auto post = [&](WrOpcode op, std::uint32_t lkey, std::uint64_t laddr, std::uint32_t len,
                  std::uint32_t rkey, std::uint64_t raddr, std::uint64_t compare_add = 0,
                  std::uint64_t swap = 0) {
    roce::SendWr s;
    s.opcode = op;
    s.flags = kSignaled;
    s.num_sge = 1;
    s.sg[0] = {laddr, len, lkey};
    s.rkey = rkey;
    s.remote_addr = raddr;
    s.compare_add = compare_add;
    s.swap = swap;
    return dev.post_send(*qp, s).has_value();
  };
  const std::uint64_t my_swap = server ? kSwapServer : kSwapClient;
  const std::uint64_t peer_swap = server ? kSwapClient : kSwapServer;
  const auto peer_cell = static_cast<std::uint32_t>(peer->addr);
  // In order on one RC QP: the READ follows the WRITE, so it returns what this side wrote.
  const bool posted =
      post(WrOpcode::send, k_mine, 0, kLen, 0, 0) &&
      post(WrOpcode::rdma_write, k_mine, 0, kLen, peer->rkey, 0) &&
      post(WrOpcode::atomic_fetch_add, k_result, 0, 8, peer_cell, 0, 1) &&
      post(WrOpcode::atomic_cmp_swap, k_result, 8, 8, peer_cell, 8, 0, my_swap) &&
      post(WrOpcode::atomic_cmp_swap, k_result, 16, 8, peer_cell, 8, 0, 0xdeadbeefull) &&
      post(WrOpcode::rdma_read, k_readback, 0, kLen, peer->rkey, 0);
  if (!posted) return fail("post_send refused");
  constexpr std::size_t kRcSends = 6;

  // UD receives: each must be the peer's datagram, whole, behind a GRH naming the peer.
  std::size_t ud_received = 0;
  std::string ud_error;
  auto check_ud = [&](const Cqe& c) {
    const std::byte* buf = ud_in.data() + c.wr_id * (kGrh + kUdLen);
    if (c.byte_len != kGrh + kUdLen) {
      ud_error = "UD receive of " + std::to_string(c.byte_len) + " bytes, expected " +
                 std::to_string(kGrh + kUdLen);
      return;
    }
    if (c.src_qp != peer->ud_qpn) ud_error = "UD receive from QP " + std::to_string(c.src_qp);
    const bool v4 = engine::is_ipv4_mapped(peer->gid);
    const std::byte* src = v4 ? buf + 20 + 12 : buf + 8;  // IPv4 header at 20, or IPv6 at 0
    const std::size_t src_len = v4 ? 4 : 16;
    if (std::memcmp(src, peer->gid.data() + (v4 ? 12 : 0), src_len) != 0)
      ud_error = "the UD GRH does not name the peer as the source";
    for (std::size_t i = 0; i < kUdLen; ++i)
      if (buf[kGrh + i] != ud_pattern(i, !server)) {
        ud_error = "UD payload differs at byte " + std::to_string(i);
        break;
      }
    if (ud_error.empty()) ++ud_received;
  };
  std::size_t ud_sent = 0, ud_send_done = 0;
  auto poll_ud = [&] {
    std::array<Cqe, 16> c;
    const auto n = ud_cq->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].status != WcStatus::success) {
        ud_error = std::string("UD completion: ") + std::string(to_string(c[i].status));
      } else if (c[i].opcode == WcOpcode::recv) {
        check_ud(c[i]);
        (void)post_ud_recv(c[i].wr_id);
      } else {
        ++ud_send_done;
      }
    }
  };

  std::size_t sends = 0, recvs = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::array<Cqe, 8> c;
  while ((sends < kRcSends || recvs < 1) && std::chrono::steady_clock::now() < deadline) {
    dev.poll();
    poll_ud();  // the peer may be in its UD phase already
    const auto n = cq->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].status != WcStatus::success)
        return failed(std::string("completion: ") + std::string(to_string(c[i].status)));
      (c[i].opcode == WcOpcode::recv ? recvs : sends)++;
    }
  }
  if (sends < kRcSends || recvs < 1) return failed("timed out waiting for RC completions");
  if (port.has_link_layer() && qp->attr.av.dst_mac != peer->mac)
    return failed("ARP/ND resolved the peer to " + wire::to_string(qp->attr.av.dst_mac) +
                  ", but the peer announced " + wire::to_string(peer->mac));

  // UD both ways.
  roce::AddressHandle ah;
  ah.version = engine::is_ipv4_mapped(peer->gid) ? wire::IpVersion::v4 : wire::IpVersion::v6;
  ah.src_gid = me.gid;
  ah.dst_gid = peer->gid;
  ah.dst_mac = qp->attr.av.dst_mac;  // what ARP / ND found for the RC QP
  roce::SendWr us;
  us.opcode = WrOpcode::send;
  us.flags = kSignaled;
  us.num_sge = 1;
  us.sg[0] = {0, kUdLen, k_ud_out};
  us.ah = &ah;
  us.remote_qpn = peer->ud_qpn;
  us.remote_qkey = peer->qkey;
  auto next_send = std::chrono::steady_clock::now();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((ud_received == 0 || ud_sent < kUdMinSends) && ud_error.empty() &&
         std::chrono::steady_clock::now() < deadline) {
    if (std::chrono::steady_clock::now() >= next_send) {
      if (auto r = dev.post_send(*ud, us); !r) return failed("UD post_send: " + r.error().message);
      ++ud_sent;
      next_send += std::chrono::milliseconds(5);
    }
    dev.poll();
    poll_ud();
  }
  if (!ud_error.empty()) return failed(ud_error);
  if (ud_received == 0) return failed("no UD datagram from the peer arrived");

  // Keep answering the peer (its READ, ACKs, datagrams) for a moment after our own work is done.
  const auto linger = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < linger) {
    dev.poll();
    poll_ud();
  }
  if (!ud_error.empty()) return failed(ud_error);
  if (ud_send_done != ud_sent)
    return failed("UD sends completed: " + std::to_string(ud_send_done) + " of " +
                  std::to_string(ud_sent));

  std::vector<std::byte> peer_pattern(kLen);
  for (std::size_t i = 0; i < kLen; ++i) peer_pattern[i] = pattern(i, !server);
  if (landing != peer_pattern) return failed("SEND payload differs");
  if (theirs != peer_pattern) return failed("WRITE payload differs");
  if (readback != mine) return failed("READ did not return what this side wrote");
  // The peer's cell is touched by this side only (and ours by the peer only).
  if (load_u64(result.data()) != 0 || load_u64(cell.data()) != 1)
    return failed("FETCH_ADD results differ");
  if (load_u64(result.data() + 8) != 0) return failed("the first COMPARE_SWAP did not see 0");
  if (load_u64(result.data() + 16) != my_swap)
    return failed("the second COMPARE_SWAP did not return the first one's swap value");
  if (load_u64(cell.data() + 8) != peer_swap)
    return failed("COMPARE_SWAP: the cell holds something other than the peer's swap value");

  // memif: in DPDK 22.11 the interrupt thread's teardown of a connection the peer closed must not
  // meet this thread's bursts or its own teardown. So the server stops polling first; the client
  // leaves (idle) a while after that; the server waits until DPDK saw it go, then tears down.
  if (spec->port == transport::PortKind::memif) {
    if (server) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (port.link_up() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  std::printf(
      "twoproc_peer %s: SEND, WRITE, READ, FETCH_ADD, COMPARE_SWAP and UD SEND (%zu sent, %zu "
      "received) over %s ok\n",
      argv[2], ud_sent, ud_received, argv[1]);
  report_counters(dev, port);  // the scripts check some (payloads sent by reference)
  return 0;
}
