// The queue-pair and work-request operations of a session: RC and UC pairs, their end, and the
// SENDs, WRITEs, READs, atomics and receives posted on them.
#include <algorithm>

#include "memory_ops_session.hpp"
#include "roce/connect.hpp"
#include "roce/sge.hpp"

namespace softrnic::fuzz {

using roce::RecvWr;
using roce::SendWr;
using verbs::WrOpcode;

namespace {
constexpr std::array<WrOpcode, 8> kSendOpcodes = {WrOpcode::send,
                                                  WrOpcode::send_with_imm,
                                                  WrOpcode::send_with_inv,
                                                  WrOpcode::rdma_write,
                                                  WrOpcode::rdma_write_with_imm,
                                                  WrOpcode::rdma_read,
                                                  WrOpcode::atomic_cmp_swap,
                                                  WrOpcode::atomic_fetch_add};
}  // namespace

void Session::create_pair(Input& in) {
  const std::uint8_t b0 = in.u8(), b1 = in.u8(), b2 = in.u8(), b3 = in.u8(), b4 = in.u8();
  const std::uint32_t psn_a = in.u8() * 0x10101u, psn_b = in.u8() * 0x10101u;
  if (live_qps(0) >= kMaxQpsPerDevice || live_qps(1) >= kMaxQpsPerDevice) return;
  const auto type = (b0 & 1) ? verbs::QpType::uc : verbs::QpType::rc;
  std::array<roce::Qp*, 2> qp{};
  for (int d = 0; d < 2; ++d) {
    roce::QpInit init;
    init.type = type;
    init.pd = side_[d].pd[(b0 >> (1 + d)) & 1];
    init.send_cq = side_[d].scq;
    init.recv_cq = side_[d].rcq;
    init.sq_depth = 32;
    init.rq_depth = 32;
    init.max_send_sge = 4;
    init.max_recv_sge = 4;
    init.max_inline = kMaxInline;
    const auto r = side_[d].dev->create_qp(init);
    if (!r) fail("create_qp refused a QP within the limits");
    qp[d] = *r;
    side_[d].qps.push_back({qp[d], qp[d]->qpn, true});
  }
  for (int d = 0; d < 2; ++d) {
    roce::QpConnectOptions o;
    o.pmtu = 256u << (b1 % 4);
    const std::uint8_t access = d == 0 ? b2 : b2 >> 3;
    o.access = ((access & 1) ? verbs::kRemoteWrite : 0u) |
               ((access & 2) ? verbs::kRemoteRead : 0u) |
               ((access & 4) ? verbs::kRemoteAtomic : 0u);
    o.sq_psn = Psn{d == 0 ? psn_a : psn_b};
    o.timeout = static_cast<std::uint8_t>(4 + (b3 & 7));
    o.retry_cnt = (b3 >> 3) & 3;
    o.rnr_retry = static_cast<std::uint8_t>(b3 >> 5);
    o.ord = static_cast<std::uint8_t>(1 + (b4 & 3));
    o.ird = static_cast<std::uint8_t>(1 + ((b4 >> 2) & 3));
    o.min_rnr_timer = static_cast<std::uint8_t>(1 + (b4 >> 4));
    roce::QpPeer peer;
    peer.qpn = qp[1 - d]->qpn;
    peer.psn = Psn{d == 0 ? psn_b : psn_a};
    peer.gid = gid_of(1 - d);
    peer.mac = wire_.end(1 - d).mac();
    if (!roce::connect_qp(*side_[d].dev, *qp[d], gid_of(d), peer, o))
      fail("connect_qp refused a pair the fuzzer made valid");
  }
}

void Session::destroy_qp(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  QpSlot* q = live_qp(d, in.u8());
  if (!q) return;
  if (!side_[d].dev->destroy_qp(q->qp)) fail("destroy_qp refused a live QP");
  q->live = false;
  q->qp = nullptr;
  shadow_.qp_destroyed(d, q->qpn);
}

void Session::qp_to_error(Input& in) {
  const int d = in.u8() & 1;
  QpSlot* q = live_qp(d, in.u8());
  if (!q) return;
  roce::QpAttrs a;
  a.state = verbs::QpState::err;
  (void)side_[d].dev->modify_qp(*q->qp, a, verbs::kAttrState);
}

// nsge SGEs of device d from the input, each into an object's registration (or near it).
std::uint8_t Session::read_sges(Input& in, int d, std::uint8_t nsge,
                                std::array<roce::Sge, roce::kMaxSge>& sg) {
  for (std::uint8_t i = 0; i < nsge; ++i) {
    const std::uint8_t pick = in.u8();
    sg[i].lkey = key_of(d, pick, in.u8());
    sg[i].addr = va_of(d, pick) + in.s16();
    const std::uint16_t len = in.u16();
    sg[i].length = (len & 0x8000) ? len & 0x7fff : len & 0x1fff;  // mostly short
  }
  return nsge;
}

void Session::post_send(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  QpSlot* q = live_qp(d, in.u8());
  const WrOpcode opcode = kSendOpcodes[in.u8() % kSendOpcodes.size()];
  const std::uint8_t flags = in.u8();
  SendWr wr;
  wr.wr_id = next_wr_id();
  wr.opcode = opcode;
  wr.num_sge = read_sges(in, d, in.u8() % 5, wr.sg);
  const std::uint8_t remote_pick = in.u8();
  wr.rkey = key_of(1 - d, remote_pick, in.u8());
  wr.remote_addr = va_of(1 - d, remote_pick) + in.s16();
  wr.imm = in.u32();
  wr.compare_add = in.u8() * 0x0101010101010101ull;
  wr.swap = in.u8() * 0x0001000100010001ull;
  const bool read_or_atomic = opcode == WrOpcode::rdma_read ||
                              opcode == WrOpcode::atomic_cmp_swap ||
                              opcode == WrOpcode::atomic_fetch_add;
  const bool atomic = read_or_atomic && opcode != WrOpcode::rdma_read;
  if (atomic && !(flags & 0x80)) {  // else left as read: refused unless it happens to fit
    wr.num_sge = 1;
    wr.sg[0].length = 8;
    wr.sg[0].addr &= ~std::uint64_t{7};
    wr.remote_addr &= ~std::uint64_t{7};
  }
  if (opcode == WrOpcode::send_with_inv)
    wr.imm = key_of(1 - d, remote_pick, flags & 0x40 ? 0xff : 0);
  wr.flags = (read_or_atomic || (flags & 1) ? verbs::kSignaled : 0u) |
             ((flags & 2) ? verbs::kFence : 0u) | ((flags & 4) ? verbs::kSolicited : 0u);
  if ((flags & 8) && !read_or_atomic) {
    wr.flags |= verbs::kInline;
    wr.inline_len = static_cast<std::uint16_t>(
        std::min<std::uint64_t>(kMaxInline, roce::sge_total({wr.sg.data(), wr.num_sge})));
    for (std::uint16_t i = 0; i < wr.inline_len; ++i)
      wr.inline_data[i] = static_cast<std::byte>(i * 7 + flags);
  }
  if (!q || !succeeded(side_[d].dev->post_send(*q->qp, wr), "post_send")) return;
  if (read_or_atomic) record_sinks(d, *q, wr.wr_id, false, wr.sg, wr.num_sge);
}

void Session::post_recv(Input& in) {
  const int d = in.u8() & 1;
  QpSlot* q = live_qp(d, in.u8());
  RecvWr wr;
  wr.wr_id = next_wr_id();
  wr.num_sge = read_sges(in, d, in.u8() % 5, wr.sg);
  if (!q || !succeeded(side_[d].dev->post_recv(*q->qp, wr), "post_recv")) return;
  record_sinks(d, *q, wr.wr_id, true, wr.sg, wr.num_sge);
}

void Session::record_sinks(int d, const QpSlot& q, std::uint64_t wr_id, bool recv,
                           const std::array<roce::Sge, roce::kMaxSge>& sg, std::uint8_t num_sge) {
  PostedWr p;
  p.kind = PostedWr::Kind::sink;
  p.recv = recv;
  p.wr_id = wr_id;
  p.qpn = q.qpn;
  p.posted_at = shadow_.next_event();
  for (std::uint8_t i = 0; i < num_sge; ++i) p.sinks.push_back({sg[i].lkey, sg[i].addr, sg[i].length});
  shadow_.posted(d, std::move(p));
}

}  // namespace softrnic::fuzz
