// The requester (IBA 9.7.4): turns send WQEs into request packets. It never rewinds next_psn:
// a WQE keeps the PSNs it was given, and go-back-N (completer.cpp) only moves the cursors back.
#include <algorithm>

#include "roce/device.hpp"
#include "roce/memory_ops.hpp"
#include "roce/sge.hpp"
#include "roce/timers.hpp"

namespace softrnic::roce {

using verbs::QpType;
using verbs::WrOpcode;

namespace {

constexpr std::uint32_t kAckReqEvery = 32;  // packets between ACK requests inside long messages
constexpr int kBudget = 64;                 // packets per QP per loop, for fairness

// The opcode of a work request's packet at `pos` in its message (wire/opcode.hpp answers it).
std::uint8_t request_opcode(wire::Transport t, WrOpcode op, wire::Pos pos) {
  using wire::Op;
  switch (op) {
    case WrOpcode::send: return wire::opcode_for(t, Op::send, pos);
    case WrOpcode::send_with_imm: return wire::opcode_for(t, Op::send, pos, true);
    case WrOpcode::send_with_inv: return wire::opcode_for(t, Op::send, pos, false, true);
    case WrOpcode::rdma_write: return wire::opcode_for(t, Op::rdma_write, pos);
    case WrOpcode::rdma_write_with_imm: return wire::opcode_for(t, Op::rdma_write, pos, true);
    case WrOpcode::rdma_read: return wire::opcode_for(t, Op::rdma_read_request, wire::Pos::only);
    case WrOpcode::atomic_cmp_swap: return wire::opcode_for(t, Op::compare_swap, wire::Pos::only);
    case WrOpcode::atomic_fetch_add: return wire::opcode_for(t, Op::fetch_add, wire::Pos::only);
    default: return wire::kNoOpcode;
  }
}


wire::Transport transport_of(QpType t) {
  return t == QpType::rc ? wire::Transport::rc : t == QpType::uc ? wire::Transport::uc : wire::Transport::ud;
}

Psn oldest_unacked(Qp& qp) {
  for (std::uint64_t i = qp.sq_una; i < qp.sq_req; ++i) {
    auto& w = qp.wqe(i);
    if (!w.done && w.psn_assigned) return w.first_psn + (w.is_read_or_atomic() ? w.resp_pkts : w.acked_pkts);
  }
  return qp.next_psn;
}

}  // namespace

void requester_step(Device& dev, Qp& qp) {
  if (qp.rnr_deadline != 0) return;  // waiting out an RNR NAK
  const std::uint32_t pmtu = qp.attr.pmtu;
  int budget = kBudget;
  // The completer does not run inside this step, so the oldest unacknowledged PSN is fixed here.
  const Psn una = qp.type == QpType::rc ? oldest_unacked(qp) : qp.next_psn;
  while (budget > 0 && qp.sq_req < qp.sq_head) {
    SendWqe& w = qp.wqe(qp.sq_req);
    if (w.done && !w.psn_assigned) break;  // failed when fetched: retiring it errors the QP
    if (w.done && w.psn_assigned && w.npkts != 0) {  // acknowledged while being resent
      qp.sq_req++;
      continue;
    }
    if (w.npkts == 0) {  // local operation: executes in order, completes at once
      if (!w.done) {
        w.status = execute_memory_op(dev.memory(), qp.pd, qp.qpn, w.wr);
        w.done = true;
      }
      qp.sq_req++;
      continue;
    }
    const bool rd_at = w.is_read_or_atomic();
    if (!w.psn_assigned) {
      if (qp.attr.state == verbs::QpState::sqd) break;  // draining: nothing new starts
      if ((w.wr.flags & verbs::kFence) && qp.rd_atomic_outstanding > 0) break;  // IBA 10.8.3.3
      if (rd_at && qp.rd_atomic_outstanding >= qp.attr.max_rd_atomic) break;
      if (qp.type == QpType::rc &&
          static_cast<std::uint32_t>(qp.next_psn.distance_from(una)) >= dev.config().max_unacked_packets)
        break;
      w.first_psn = qp.next_psn;
      w.psn_assigned = true;
      qp.next_psn += w.npkts;
      if (rd_at) qp.rd_atomic_outstanding++;
    }
    const std::uint32_t k = w.next_pkt;
    wire::Bth bth{};
    wire::ExtHeaders ext{};
    Device::TxPayload pl{};
    bth.pkey = Pkey{qp.attr.pkey};
    bth.dest_qp = Qpn{qp.type == QpType::ud ? w.wr.remote_qpn : qp.attr.dest_qpn};
    bth.psn = w.first_psn + k;
    const wire::Pos pos = rd_at ? wire::Pos::only : wire::position_in_message(k, w.npkts);
    bth.opcode = request_opcode(transport_of(qp.type), w.wr.opcode, pos);
    const bool last = pos == wire::Pos::last || pos == wire::Pos::only;
    const std::uint32_t offset = k * pmtu;
    std::uint32_t pkts_sent = 1;
    switch (w.wr.opcode) {
      case WrOpcode::rdma_read: {
        // A (re)request starts at the first response not yet received (IBA 9.7.4.1.4).
        ext.reth = {w.wr.remote_addr + offset, Rkey{w.wr.rkey}, w.length - std::min(w.length, offset)};
        pkts_sent = w.npkts - k;
        break;
      }
      case WrOpcode::atomic_cmp_swap:
        ext.atomic_eth = {w.wr.remote_addr, Rkey{w.wr.rkey}, w.wr.swap, w.wr.compare_add};
        break;
      case WrOpcode::atomic_fetch_add:
        ext.atomic_eth = {w.wr.remote_addr, Rkey{w.wr.rkey}, w.wr.compare_add, 0};
        break;
      default: {
        pl.wqe = &w;
        pl.offset = offset;
        pl.len = std::min(pmtu, w.length - std::min(w.length, offset));
        if (k == 0) ext.reth = {w.wr.remote_addr, Rkey{w.wr.rkey}, w.length};
        if (last) {
          ext.immdt.value = w.wr.imm;
          ext.ieth.rkey = Rkey{w.wr.imm};
          bth.solicited = (w.wr.flags & verbs::kSolicited) != 0;
        }
        break;
      }
    }
    if (qp.type == QpType::ud) {
      // IBA 10.2.5: a Q_Key with the high bit set means "use the QP's own".
      ext.deth.qkey = Qkey{(w.wr.remote_qkey & 0x80000000u) ? qp.attr.qkey : w.wr.remote_qkey};
      ext.deth.src_qp = Qpn{qp.qpn};
    }
    if (qp.type == QpType::rc) {
      qp.pkts_since_ackreq++;
      bth.ack_req = last || rd_at || qp.pkts_since_ackreq >= kAckReqEvery;
      if (bth.ack_req) qp.pkts_since_ackreq = 0;
    }
    if (pl.wqe && pl.len && !(w.wr.flags & verbs::kInline) &&
        !all_current({w.refs.data(), w.wr.num_sge}, {w.wr.sg.data(), w.wr.num_sge}, pl.offset, pl.len)) {
      // The WQE's memory was deregistered or invalidated after it was posted: it completes with a
      // local protection error (IBA 10.8.3.3) and nothing more of it leaves.
      dev.add(DeviceCounter::access_revoked);
      w.done = true;
      w.status = verbs::WcStatus::local_protection_error;
      qp.ack_deadline = 0;
      dev.enter_error(qp, AsyncEvent::Type::qp_fatal, false);
      break;
    }
    if (!dev.send_packet(qp, bth, ext, pl, qp.type == QpType::ud ? w.wr.ah : nullptr)) break;
    if (k < w.sent_high) {
      qp.counters.retransmits++;
      dev.add(DeviceCounter::retransmits);
    }
    w.next_pkt = k + pkts_sent;
    w.sent_high = std::max(w.sent_high, w.next_pkt);
    budget--;
    if (qp.type == QpType::rc && qp.ack_deadline == 0) {
      const auto t = ack_timeout_ns(qp.attr.timeout);
      if (t) qp.ack_deadline = dev.now() + t;
    }
    if (w.next_pkt >= w.npkts) {
      qp.sq_req++;
      if (qp.type != QpType::rc) w.done = true;  // UC/UD complete once sent (no ACKs)
    }
  }
}

}  // namespace softrnic::roce
