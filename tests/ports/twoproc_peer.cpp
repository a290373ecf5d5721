// One side of a two-process RoCE test: builds a device from a spec, swaps QP details with the
// other process over the out-of-band TCP bootstrap, brings an RC QP up and runs SEND, WRITE, READ
// and FETCH_ADD against the peer, checking every byte. Exit 0 when all of it worked.
//
//   twoproc_peer SPEC server|client OOB_ADDR OOB_PORT
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bootstrap/oob_exchange.hpp"
#include "factory/device_set.hpp"
#include "roce/connect.hpp"

using namespace softrnic;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "twoproc_peer: %s\n", what.c_str());
  return 1;
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
  if (auto r = set.build({*spec}, clock); !r) return fail(r.error().message);
  roce::Device& dev = *set.device(spec->name);

  using namespace verbs;
  const PdHandle pd = *dev.memory().alloc_pd();
  Cq* cq = *dev.create_cq(64);
  roce::QpInit init;
  init.pd = pd;
  init.send_cq = init.recv_cq = cq;
  roce::Qp* qp = *dev.create_qp(init);
  constexpr std::size_t kLen = 8192;
  std::vector<std::byte> mine(kLen), theirs(kLen), landing(kLen), readback(kLen);
  for (std::size_t i = 0; i < kLen; ++i) mine[i] = std::byte((i * 7 + (server ? 1 : 2)) & 0xff);
  std::vector<std::byte> cell(8), result(8);
  const auto acc = kLocalWrite | kRemoteWrite | kRemoteRead | kRemoteAtomic | kZeroBased;
  const auto k_mine = *dev.memory().register_mr(pd, mine.data(), kLen, 0, acc);
  const auto k_theirs = *dev.memory().register_mr(pd, theirs.data(), kLen, 0, acc);
  const auto k_landing = *dev.memory().register_mr(pd, landing.data(), kLen, 0, acc);
  const auto k_readback = *dev.memory().register_mr(pd, readback.data(), kLen, 0, acc);
  const auto k_cell = *dev.memory().register_mr(pd, cell.data(), 8, 0, acc);
  const auto k_result = *dev.memory().register_mr(pd, result.data(), 8, 0, acc);

  transport::OobEndpoint me;
  me.qpn = qp->qpn;
  me.psn = server ? 0x1000 : 0x2000;
  me.rkey = k_theirs;  // the peer WRITEs into `theirs`
  me.addr = k_cell;    // and adds to `cell` (its key travels in addr)
  me.gid = dev.config().gids.front();
  me.mac = dev.config().mac;
  me.mtu = 1024;
  auto peer = server ? transport::oob_serve(oob_addr, oob_port, me, std::chrono::seconds(20))
                     : transport::oob_connect(oob_addr, oob_port, me, std::chrono::seconds(20));
  if (!peer) return fail(peer.error().message);

  roce::QpConnectOptions o;
  o.sq_psn = Psn{me.psn};
  // MAC left out: ARP / ND finds it (a socket port needs none).
  if (auto r = roce::connect_qp(dev, *qp, me.gid, {peer->qpn, Psn{peer->psn}, peer->gid, {}}, o); !r)
    return fail(r.error().message);

  roce::RecvWr rw;
  rw.num_sge = 1;
  rw.sg[0] = {0, kLen, k_landing};
  if (auto r = dev.post_recv(*qp, rw); !r) return fail(r.error().message);
  auto post = [&](WrOpcode op, std::uint32_t lkey, std::uint32_t len, std::uint32_t rkey) {
    roce::SendWr s;
    s.opcode = op;
    s.flags = kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, len, lkey};
    s.rkey = rkey;
    s.compare_add = 1;
    return dev.post_send(*qp, s);
  };
  if (!post(WrOpcode::send, k_mine, kLen, 0) || !post(WrOpcode::rdma_write, k_mine, kLen, peer->rkey) ||
      !post(WrOpcode::atomic_fetch_add, k_result, 8, static_cast<std::uint32_t>(peer->addr)))
    return fail("post_send refused");
  // READ back what we wrote into the peer, once the WRITE completed (the READ follows it in order).
  if (!post(WrOpcode::rdma_read, k_readback, kLen, peer->rkey)) return fail("post_send refused");
  std::size_t sends = 0, recvs = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::array<Cqe, 8> c;
  while ((sends < 4 || recvs < 1) && std::chrono::steady_clock::now() < deadline) {
    dev.poll();
    const auto n = cq->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].status != WcStatus::success) return fail(std::string("completion: ") + std::string(to_string(c[i].status)));
      (c[i].opcode == WcOpcode::recv ? recvs : sends)++;
    }
  }
  if (sends < 4 || recvs < 1) return fail("timed out waiting for completions");
  // Keep answering the peer (its READ and ACKs) for a moment after our own work is done.
  const auto linger = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < linger) dev.poll();
  std::vector<std::byte> peer_pattern(kLen);
  for (std::size_t i = 0; i < kLen; ++i) peer_pattern[i] = std::byte((i * 7 + (server ? 2 : 1)) & 0xff);
  if (landing != peer_pattern) return fail("SEND payload differs");
  if (theirs != peer_pattern) return fail("WRITE payload differs");
  if (readback != mine) return fail("READ did not return what this side wrote");
  std::uint64_t orig = 0, now = 0;
  std::memcpy(&orig, result.data(), 8);
  std::memcpy(&now, cell.data(), 8);
  if (orig > 1 || now != 1) return fail("FETCH_ADD results differ");
  std::printf("twoproc_peer %s: SEND, WRITE, READ and FETCH_ADD over %s ok\n", argv[2], argv[1]);
  return 0;
}
