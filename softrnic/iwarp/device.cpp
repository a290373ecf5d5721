#include "iwarp/device.hpp"

#include <algorithm>
#include <cstring>

#include "iwarp/terminate_codes.hpp"
#include "roce/memory_ops.hpp"
#include "roce/sge.hpp"
#include "wire/mpa_fpdu.hpp"

namespace softrnic::iwarp {

using verbs::QpState;
using verbs::WcOpcode;
using verbs::WcStatus;
using verbs::WrOpcode;
using wire::RdmapOp;

std::string_view counter_name(IwarpCounter c) {
  switch (c) {
#define SOFTRNIC_X(n) \
  case IwarpCounter::n: return "iwarp_" #n;
    SOFTRNIC_IWARP_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case IwarpCounter::count_: break;
  }
  return "iwarp_unknown";
}

Qp::Qp(std::uint32_t n, const roce::QpInit& i)
    : qpn(n), init(i), sq_ring(i.sq_depth), rq_ring(i.rq_depth), sq(i.sq_depth) {}


Result<verbs::Cq*> Device::create_cq(std::uint32_t depth) {
  if (auto ok = verbs::check_new_cq(config_.limits, depth, cqs_.size()); !ok) return std::unexpected(ok.error());
  cqs_.push_back(std::make_unique<verbs::Cq>(depth));
  return cqs_.back().get();
}

Result<Qp*> Device::create_qp(const roce::QpInit& init) {
  if (init.type != verbs::QpType::rc)
    return make_error(Errc::unsupported, "iWARP QPs are RC: it has no UC or UD service");
  if (!init.send_cq || !init.recv_cq) return make_error(Errc::invalid_argument, "a QP needs a send and a receive CQ");
  if (init.srq) return make_error(Errc::unsupported, "iWARP QPs take no SRQ here");
  if (init.rq_depth == 0) return make_error(Errc::invalid_argument, "an iWARP QP needs a receive queue (no SRQ)");
  const auto live = static_cast<std::size_t>(std::count_if(qps_.begin(), qps_.end(), [](const auto& q) { return q != nullptr; }));
  if (auto ok = verbs::check_new_qp(config_.limits, roce::shape_of(init), roce::kMaxSge, roce::kMaxInline, live); !ok)
    return std::unexpected(ok.error());
  std::uint32_t qpn = 2;
  while (qpn < qps_.size() && qps_[qpn]) ++qpn;
  if (qpn >= qps_.size()) qps_.resize(qpn + 1);
  qps_[qpn] = std::make_unique<Qp>(qpn, init);
  return qps_[qpn].get();
}

Qp* Device::find_qp(std::uint32_t qpn) { return qpn < qps_.size() ? qps_[qpn].get() : nullptr; }

Result<void> Device::post_send(Qp& qp, const roce::SendWr& wr) {
  switch (wr.opcode) {
    case WrOpcode::send:
    case WrOpcode::send_with_inv:
    case WrOpcode::rdma_write:
    case WrOpcode::rdma_read:
    case WrOpcode::local_inv:
    case WrOpcode::fast_reg_mr:
    case WrOpcode::bind_mw: break;
    default:
      return make_error(Errc::unsupported, "iWARP carries Send, Send with Invalidate, RDMA Write and RDMA Read "
                                           "(RFC 5040); immediate data and atomics are RFC 7306, not supported");
  }
  const QpState s = qp.posted_state.load(std::memory_order_acquire);
  if (s != QpState::rts) return make_error(Errc::invalid_argument, "QP " + std::to_string(qp.qpn) + " is not connected");
  if (wr.num_sge > std::max<std::uint32_t>(qp.init.max_send_sge, 1))
    return make_error(Errc::invalid_argument, "too many SGEs");
  if (wr.opcode == WrOpcode::rdma_read && wr.num_sge != 1)
    return make_error(Errc::invalid_argument, "an iWARP RDMA Read has exactly one sink SGE");
  // Counted before the push: the engine may retire the WR before this thread goes on.
  if (qp.sq_outstanding.fetch_add(1, std::memory_order_acq_rel) >= qp.init.sq_depth || !qp.sq_ring.try_push(wr)) {
    qp.sq_outstanding.fetch_sub(1, std::memory_order_acq_rel);
    return make_error(Errc::busy, "send queue full");
  }
  return {};
}

Result<void> Device::post_recv(Qp& qp, const roce::RecvWr& wr) {
  if (qp.posted_state.load(std::memory_order_acquire) == QpState::err)
    return make_error(Errc::invalid_argument, "QP " + std::to_string(qp.qpn) + " is in the error state");
  if (wr.num_sge > std::max<std::uint32_t>(qp.init.max_recv_sge, 1))
    return make_error(Errc::invalid_argument, "too many SGEs");
  if (!qp.rq_ring.try_push(wr)) return make_error(Errc::busy, "receive queue full");
  return {};
}

void Device::push_cqe(verbs::Cq* cq, const verbs::Cqe& e) {
  if (cq->in_error()) return;  // an overflowed CQ takes nothing more
  if (cq->push(e)) return;
  // IBA 11.4.2.1 / NDK, as on RoCEv2: an overflow is an error of the CQ (push() put it there)
  // and of every QP that uses it.
  add(IwarpCounter::cq_overflows);
  overflowed_cqs_.push_back(cq);
}

// --- transmit -------------------------------------------------------------------------------

void Device::drain_posts(Qp& qp) {
  while (qp.sq_head - qp.sq_una < qp.sq.size()) {
    auto& e = qp.sq[qp.sq_head % qp.sq.size()];
    if (!qp.sq_ring.try_pop_into(e.wr)) break;
    e.length = 0;
    e.sent = e.read_received = 0;
    e.started = e.written = e.done = false;
    e.status = WcStatus::success;
    const bool into = e.wr.opcode == WrOpcode::rdma_read;
    // Inline data was copied into the WR at post time: its length is the message's.
    if (e.wr.flags & verbs::kInline) e.length = e.wr.inline_len;
    for (std::uint8_t i = 0; i < e.wr.num_sge && !(e.wr.flags & verbs::kInline); ++i) {
      const auto& sg = e.wr.sg[i];
      if (sg.length == 0) continue;  // an empty SGE names no memory
      auto r = memory_.check(sg.lkey, qp.init.pd, sg.addr, sg.length, into ? std::uint32_t{verbs::kLocalWrite} : 0u, qp.qpn);
      if (!r) {
        e.status = WcStatus::local_protection_error;
        break;
      }
      e.refs[i] = *r;
      e.length += sg.length;
    }
    ++qp.sq_head;
  }
}

bool Device::flush_tx(Qp& qp) {
  while (qp.tx_off < qp.tx_len) {
    const std::size_t n = qp.stream->write(ConstByteSpan(qp.tx_buf).subspan(qp.tx_off, qp.tx_len - qp.tx_off));
    if (n == 0) {
      add(IwarpCounter::stream_backpressure);
      return false;
    }
    qp.tx_off += n;
  }
  return true;
}

// Builds the next FPDU of qp into tx_buf: a Read Response first (the peer waits for it), then the
// current send-queue entry. False when there is nothing to send now.
bool Device::build_next(Qp& qp) {
  wire::UlpduSpec u;
  std::uint32_t len = 0;
  std::vector<std::byte>& pay = payload_;

  if (!qp.read_jobs.empty()) {
    auto& j = qp.read_jobs.front();
    if (j.size > 0 && !verbs::MemoryTable::current(j.src)) {
      // Deregistered or invalidated while its Read was being answered.
      terminate(qp, 0, term::kRdmapRemoteProtection, term::kRdmapInvalidStag,
                "the source of an RDMA Read went away while it was being answered");
      return false;
    }
    len = std::min(j.size - j.sent, qp.max_payload_tagged);
    if (len > 0 && !verbs::MemoryTable::copy_out(j.src, j.sent, ByteSpan(pay).first(len))) {
      add(IwarpCounter::access_revoked);
      terminate(qp, 0, term::kRdmapRemoteProtection, term::kRdmapInvalidStag,
                "the source of an RDMA Read went away while it was being answered");
      return false;
    }
    u.ddp.ctrl.tagged = true;
    u.ddp.ctrl.opcode = static_cast<std::uint8_t>(RdmapOp::rdma_read_response);
    u.ddp.tagged.stag = j.sink;
    u.ddp.tagged.to = j.sink_to + j.sent;
    j.sent += len;
    u.ddp.ctrl.last = j.sent == j.size;
    u.payload = ConstByteSpan(pay).first(len);
    if (u.ddp.ctrl.last) qp.read_jobs.pop_front();
  } else {
    if (qp.sq_cur == qp.sq_head) return false;
    auto& e = qp.sq[qp.sq_cur % qp.sq.size()];
    if (e.status != WcStatus::success) {  // failed its local checks: completes in order, sends nothing
      e.written = e.done = true;
      ++qp.sq_cur;
      return build_next(qp);
    }
    const auto op = e.wr.opcode;
    if (roce::is_memory_op(op)) {  // STag operations run in send queue order and send nothing
      e.status = roce::execute_memory_op(memory_, qp.init.pd, qp.qpn, e.wr);
      e.written = e.done = true;
      ++qp.sq_cur;
      return build_next(qp);
    }
    if (!e.started && (e.wr.flags & verbs::kFence) && !qp.reads_outstanding.empty()) return false;  // RFC 5040 5.4
    if (op == WrOpcode::rdma_read) {
      if (qp.reads_outstanding.size() >= std::max<std::uint8_t>(1, qp.ord)) return false;  // ORD
      u.ddp.ctrl.tagged = false;
      u.ddp.ctrl.opcode = static_cast<std::uint8_t>(RdmapOp::rdma_read_request);
      u.ddp.untagged.qn = wire::ddp_queue::kReadRequest;
      u.ddp.untagged.msn = DdpMsn{qp.read_msn++};
      u.ddp.untagged.mo = 0;
      u.read_request.sink_stag = Stag{e.wr.sg[0].lkey};
      u.read_request.sink_to = e.wr.sg[0].addr;
      u.read_request.size = e.length;
      u.read_request.source_stag = Stag{e.wr.rkey};
      u.read_request.source_to = e.wr.remote_addr;
      e.started = e.written = true;
      qp.reads_outstanding.push_back(qp.sq_cur);
      ++qp.sq_cur;
    } else {
      const bool tagged = op == WrOpcode::rdma_write;
      const std::uint32_t max = tagged ? qp.max_payload_tagged : qp.max_payload_untagged;
      len = std::min(e.length - e.sent, max);
      if (e.wr.flags & verbs::kInline) {
        std::memcpy(pay.data(), e.wr.inline_data.data() + e.sent, len);
      } else {
        if (!roce::gather(std::span(e.refs).first(e.wr.num_sge), std::span(e.wr.sg).first(e.wr.num_sge), e.sent,
                          ByteSpan(pay).first(len))) {
          // Deregistered or invalidated after it was posted: the WR completes with a local
          // protection error, and a message already begun cannot be finished, so the stream ends.
          add(IwarpCounter::access_revoked);
          e.status = WcStatus::local_protection_error;
          e.written = e.done = true;
          terminate(qp, 0, term::kRdmapCatastrophic, term::kRdmapCatastrophicStream,
                    "the memory of a posted work request went away");
          return false;
        }
      }
      u.ddp.ctrl.tagged = tagged;
      if (tagged) {
        u.ddp.ctrl.opcode = static_cast<std::uint8_t>(RdmapOp::rdma_write);
        u.ddp.tagged.stag = Stag{e.wr.rkey};
        u.ddp.tagged.to = e.wr.remote_addr + e.sent;
      } else {
        const bool se = (e.wr.flags & verbs::kSolicited) != 0;
        const bool inv = op == WrOpcode::send_with_inv;
        u.ddp.ctrl.opcode = static_cast<std::uint8_t>(
            inv ? (se ? RdmapOp::send_with_solicited_event_and_invalidate : RdmapOp::send_with_invalidate)
                : (se ? RdmapOp::send_with_solicited_event : RdmapOp::send));
        u.ddp.untagged.qn = wire::ddp_queue::kSend;
        u.ddp.untagged.msn = DdpMsn{qp.send_msn};
        u.ddp.untagged.mo = e.sent;
        u.ddp.untagged.rsvd_ulp = inv ? e.wr.imm : 0;
      }
      e.started = true;
      e.sent += len;
      u.ddp.ctrl.last = e.sent == e.length;
      u.payload = ConstByteSpan(pay).first(len);
      if (u.ddp.ctrl.last) {
        if (!tagged) ++qp.send_msn;
        e.written = true;
        ++qp.sq_cur;
      }
    }
  }
  auto n = wire::build_fpdu(u, qp.crc, qp.tx_buf);
  if (!n) {  // cannot happen with the sizes chosen at connection time
    fail_qp(qp, "building an FPDU failed: " + n.error().message, false);
    return false;
  }
  qp.tx_off = 0;
  qp.tx_len = *n;
  add(IwarpCounter::fpdus_tx);
  add(IwarpCounter::bytes_tx, *n);
  return true;
}

void Device::transmit(Qp& qp) {
  if (qp.state != QpState::rts || qp.hold_tx || !qp.stream) return;
  for (int budget = 64; budget > 0; --budget) {
    if (!flush_tx(qp)) return;
    if (qp.rtr_read_pending) return;  // the RTR's Read Response first (connect.cpp)
    if (qp.tx_hold_until_ns != 0) {   // the settle time after a Write RTR or a Reply (IwarpConfig)
      if (clock_.now_ns() < qp.tx_hold_until_ns) return;
      qp.tx_hold_until_ns = 0;
    }
    // Sends and writes complete once the stream has taken their last byte.
    while (qp.sq_una < qp.sq_cur) {
      auto& e = qp.sq[qp.sq_una % qp.sq.size()];
      if (e.wr.opcode != WrOpcode::rdma_read && e.written) e.done = true;
      if (!e.done) break;
      complete_sq(qp, e);
      ++qp.sq_una;
    }
    if (!build_next(qp)) return;
  }
}

void Device::complete_sq(Qp& qp, Qp::SqEntry& e) {
  qp.sq_outstanding.fetch_sub(1, std::memory_order_acq_rel);
  if (!(e.wr.flags & verbs::kSignaled) && e.status == WcStatus::success) return;
  verbs::Cqe c;
  c.wr_id = e.wr.wr_id;
  c.status = e.status;
  c.qp_num = qp.qpn;
  c.opcode = roce::send_wc_opcode(e.wr.opcode);
  c.byte_len = e.wr.opcode == WrOpcode::rdma_read ? e.length : 0;
  push_cqe(qp.init.send_cq, c);
}

// --- receive --------------------------------------------------------------------------------

namespace {

class Visitor final : public wire::MpaStreamVisitor {
 public:
  Visitor(Device& d, Qp& q) : dev_(d), qp_(q) {}
  void on_mpa_frame(const wire::MpaFrame&, ConstByteSpan) override {
    dev_.terminate(qp_, 2, term::kLlpMpa, term::kLlpInvalidRequestReply, "an MPA frame in the FPDU phase");
  }
  void on_fpdu(const wire::ParsedFpdu& f) override {
    if (qp_.state == QpState::rts) dev_.handle_fpdu(qp_, f);
  }
  void on_error(wire::IwarpError e, ConstByteSpan) override {
    using E = wire::IwarpError;
    std::uint8_t layer = 2, etype = term::kLlpMpa, code = term::kLlpFpduStart;
    switch (e) {
      case E::fpdu_bad_crc: code = term::kLlpCrc; break;
      case E::ddp_bad_version:
        layer = 1, etype = term::kDdpUntaggedBuffer, code = term::kDdpUntaggedVersion;
        break;
      case E::ddp_bad_queue_number: layer = 1, etype = term::kDdpUntaggedBuffer, code = term::kDdpInvalidQn; break;
      case E::rdmap_bad_version: layer = 0, etype = term::kRdmapRemoteOperation, code = term::kRdmapVersion; break;
      case E::rdmap_unknown_opcode:
      case E::rdmap_rfc7306_unsupported:
      case E::rdmap_tagged_mismatch:
        layer = 0, etype = term::kRdmapRemoteOperation, code = term::kRdmapOpcode;
        break;
      default: break;
    }
    dev_.terminate(qp_, layer, etype, code,
                   e == E::fpdu_bad_crc ? std::string("FPDU CRC32c mismatch")
                                        : "received " + std::string(wire::iwarp_error_name(e)));
  }

 private:
  Device& dev_;
  Qp& qp_;
};

}  // namespace

void Device::handle_fpdu(Qp& qp, const wire::ParsedFpdu& f) {
  add(IwarpCounter::fpdus_rx);
  add(IwarpCounter::bytes_rx, f.bytes.size());
  if (f.crc == wire::CrcVerdict::bad) return terminate(qp, 2, term::kLlpMpa, term::kLlpCrc, "FPDU CRC32c mismatch");
  qp.hold_tx = false;  // the initiator has spoken: the responder may send (RFC 5044 7.1.2)
  const auto& u = f.ulpdu;
  const auto& d = u.ddp;
  const std::uint32_t len = static_cast<std::uint32_t>(u.payload.size());
  switch (u.opcode()) {
    case RdmapOp::rdma_write: {
      if (len == 0) return;  // zero-length Write (an RTR, or a consumer's): nothing to place
      auto r = memory_.check(d.tagged.stag.raw(), qp.init.pd, d.tagged.to, len, verbs::kRemoteWrite, qp.qpn);
      if (!r) {
        const bool bounds = r.error() == verbs::AccessError::bounds;
        return terminate(qp, 1, term::kDdpTaggedBuffer, bounds ? term::kDdpBaseBounds : term::kDdpInvalidStag,
                         "RDMA Write to STag " + std::to_string(d.tagged.stag.raw()) + ": " +
                             std::string(verbs::to_string(r.error())));
      }
      if (!verbs::MemoryTable::copy_in(*r, 0, u.payload)) {
        add(IwarpCounter::access_revoked);
        return terminate(qp, 1, term::kDdpTaggedBuffer, term::kDdpInvalidStag, "RDMA Write to memory that went away");
      }
      return;
    }
    case RdmapOp::rdma_read_request: {
      if (d.untagged.msn.raw() != qp.rx_read_msn)
        return terminate(qp, 1, term::kDdpUntaggedBuffer, term::kDdpMsnRange, "Read Request MSN out of order");
      ++qp.rx_read_msn;
      if (qp.read_jobs.size() >= std::max<std::uint8_t>(1, qp.ird))
        return terminate(qp, 0, term::kRdmapRemoteOperation, term::kRdmapCatastrophicStream,
                         "more RDMA Reads outstanding than the negotiated IRD");
      const auto& rr = u.read_request;
      Qp::ReadJob j;
      j.sink = rr.sink_stag;
      j.sink_to = rr.sink_to;
      j.size = rr.size;
      if (rr.size > 0) {
        auto r = memory_.check(rr.source_stag.raw(), qp.init.pd, rr.source_to, rr.size, verbs::kRemoteRead, qp.qpn);
        if (!r) {
          const auto err = r.error();
          return terminate(qp, 0, term::kRdmapRemoteProtection,
                           err == verbs::AccessError::bounds   ? term::kRdmapBaseBounds
                           : err == verbs::AccessError::rights ? term::kRdmapAccessRights
                                                               : term::kRdmapInvalidStag,
                           "RDMA Read of STag " + std::to_string(rr.source_stag.raw()) + ": " +
                               std::string(verbs::to_string(err)));
        }
        j.src = *r;
      }
      qp.read_jobs.push_back(j);
      return;
    }
    case RdmapOp::rdma_read_response: {
      if (qp.reads_outstanding.empty() && qp.rtr_read_pending && len == 0 && d.ctrl.last) {
        qp.rtr_read_pending = false;
        return;
      }
      if (qp.reads_outstanding.empty())
        return terminate(qp, 0, term::kRdmapRemoteOperation, term::kRdmapOpcode, "a Read Response nobody asked for");
      auto& e = qp.sq[qp.reads_outstanding.front() % qp.sq.size()];
      const auto& sg = e.wr.sg[0];
      // Compared without adding, so a tagged offset near 2^64 cannot wrap past the check.
      const std::uint64_t off = d.tagged.to - sg.addr;
      if (d.tagged.stag.raw() != sg.lkey || d.tagged.to < sg.addr || off > e.length || len > e.length - off)
        return terminate(qp, 1, term::kDdpTaggedBuffer, term::kDdpBaseBounds, "Read Response outside the sink buffer");
      // Responses arrive in order over the stream: each continues where the last one ended.
      if (off != e.read_received)
        return terminate(qp, 1, term::kDdpTaggedBuffer, term::kDdpBaseBounds, "Read Response out of place");
      if (len && !verbs::MemoryTable::copy_in(e.refs[0], off, u.payload)) {
        add(IwarpCounter::access_revoked);
        e.status = WcStatus::local_protection_error;
        e.done = true;
        qp.reads_outstanding.pop_front();
        return terminate(qp, 0, term::kRdmapCatastrophic, term::kRdmapCatastrophicStream,
                         "the sink of an RDMA Read went away while it was being filled");
      }
      e.read_received += len;
      if (d.ctrl.last && e.read_received != e.length)
        return terminate(qp, 1, term::kDdpTaggedBuffer, term::kDdpBaseBounds,
                         "Read Response ended after " + std::to_string(e.read_received) + " of " +
                             std::to_string(e.length) + " bytes");
      if (d.ctrl.last) {
        e.done = true;
        qp.reads_outstanding.pop_front();
      }
      return;
    }
    case RdmapOp::send:
    case RdmapOp::send_with_invalidate:
    case RdmapOp::send_with_solicited_event:
    case RdmapOp::send_with_solicited_event_and_invalidate: {
      if (d.untagged.msn.raw() != qp.rx_send_msn)
        return terminate(qp, 1, term::kDdpUntaggedBuffer, term::kDdpMsnRange, "Send MSN out of order");
      // The posted receive fails a memory check: it completes with a local protection error and
      // the stream ends.
      const auto receive_unusable = [&](const char* why) {
        verbs::Cqe c{.wr_id = qp.cur_recv.wr_id, .status = WcStatus::local_protection_error,
                     .opcode = WcOpcode::recv, .qp_num = qp.qpn};
        push_cqe(qp.init.recv_cq, c);
        qp.have_recv = false;
        terminate(qp, 0, term::kRdmapCatastrophic, term::kRdmapCatastrophicStream, why);
      };
      if (!qp.have_recv) {
        if (!qp.rq_ring.try_pop_into(qp.cur_recv))
          return terminate(qp, 1, term::kDdpUntaggedBuffer, term::kDdpNoBuffer, "a Send found no posted receive");
        qp.have_recv = true;
        qp.recv_capacity = 0;
        for (std::uint8_t i = 0; i < qp.cur_recv.num_sge; ++i) {
          const auto& sg = qp.cur_recv.sg[i];
          if (sg.length == 0) continue;
          auto r = memory_.check(sg.lkey, qp.init.pd, sg.addr, sg.length, verbs::kLocalWrite, qp.qpn);
          if (!r) return receive_unusable("the posted receive failed its memory check");
          qp.recv_refs[i] = *r;
          qp.recv_capacity += sg.length;
        }
      }
      if (std::uint64_t{d.untagged.mo} + len > qp.recv_capacity)
        return terminate(qp, 1, term::kDdpUntaggedBuffer, term::kDdpMessageTooLong, "a Send longer than the receive buffer");
      if (!roce::scatter(std::span(qp.recv_refs).first(qp.cur_recv.num_sge),
                         std::span(qp.cur_recv.sg).first(qp.cur_recv.num_sge), d.untagged.mo, u.payload)) {
        // The posted receive's memory went away between two segments of the message.
        add(IwarpCounter::access_revoked);
        return receive_unusable("the posted receive's memory went away");
      }
      if (!d.ctrl.last) return;
      ++qp.rx_send_msn;
      qp.have_recv = false;
      verbs::Cqe c;
      c.wr_id = qp.cur_recv.wr_id;
      c.opcode = WcOpcode::recv;
      c.qp_num = qp.qpn;
      c.byte_len = d.untagged.mo + len;
      const auto op = u.opcode();
      if (op == RdmapOp::send_with_solicited_event || op == RdmapOp::send_with_solicited_event_and_invalidate)
        c.flags |= verbs::Cqe::kSolicited;
      if (op == RdmapOp::send_with_invalidate || op == RdmapOp::send_with_solicited_event_and_invalidate) {
        const auto key = d.untagged.invalidate_stag().raw();
        if (!memory_.invalidate(key, qp.init.pd, qp.qpn)) {
          c.status = WcStatus::remote_invalid_request_error;
          push_cqe(qp.init.recv_cq, c);
          return terminate(qp, 0, term::kRdmapRemoteProtection, term::kRdmapCannotInvalidate,
                           "Send with Invalidate of STag " + std::to_string(key) + " that cannot be invalidated");
        }
        c.flags |= verbs::Cqe::kWithInv;
        c.invalidated = key;
      }
      push_cqe(qp.init.recv_cq, c);
      return;
    }
    case RdmapOp::terminate: {
      add(IwarpCounter::terminates_rx);
      const auto& t = u.terminate;
      return fail_qp(qp,
                     "the peer terminated the connection: layer " + std::to_string(t.layer) + " type " +
                         std::to_string(t.etype) + " code " + std::to_string(t.code),
                     true);
    }
  }
}

void Device::receive(Qp& qp) {
  if (!qp.stream || !qp.rx) return;
  Visitor v(*this, qp);
  for (int budget = 16; budget > 0 && qp.stream && qp.rx; --budget) {
    const std::size_t n = qp.stream->read(ByteSpan(qp.rx_buf));
    if (n == 0) break;
    qp.rx->feed(ConstByteSpan(qp.rx_buf).first(n), v);
  }
  if (!qp.stream) return;
  const auto st = qp.stream->state();
  if ((st == Stream::State::peer_closed || st == Stream::State::failed) && qp.stream->readable() == 0 &&
      qp.state != QpState::err)
    fail_qp(qp, st == Stream::State::failed ? qp.stream->error() : "the peer closed the connection", true);
}

void Device::terminate(Qp& qp, std::uint8_t layer, std::uint8_t etype, std::uint8_t code, const std::string& why) {
  if (qp.state == QpState::err) return;
  if (qp.stream && !qp.terminate_sent) {
    // Best effort (RFC 5040 7.1): one Terminate FPDU, then the stream closes.
    wire::UlpduSpec u;
    u.ddp.ctrl.tagged = false;
    u.ddp.ctrl.opcode = static_cast<std::uint8_t>(RdmapOp::terminate);
    u.ddp.untagged.qn = wire::ddp_queue::kTerminate;
    u.ddp.untagged.msn = DdpMsn{qp.term_msn++};
    u.terminate.layer = layer;
    u.terminate.etype = etype;
    u.terminate.code = code;
    std::array<std::byte, 64> buf{};
    if (auto n = wire::build_fpdu(u, qp.crc, buf)) {
      if (qp.tx_off < qp.tx_len) (void)flush_tx(qp);  // finish a half-sent FPDU first
      (void)qp.stream->write(ConstByteSpan(buf).first(*n));
    }
    qp.terminate_sent = true;
    add(IwarpCounter::terminates_tx);
  }
  fail_qp(qp, why, false);
}

void Device::flush_all(Qp& qp) {
  // Flush (IBA 10.3.1 semantics, which iWARP verbs keep): everything outstanding completes.
  drain_posts(qp);
  for (std::uint64_t i = qp.sq_una; i < qp.sq_head; ++i) {
    auto& e = qp.sq[i % qp.sq.size()];
    const bool finished = e.done || (e.written && e.wr.opcode != WrOpcode::rdma_read);
    if (!finished) e.status = WcStatus::wr_flush_error;
    e.done = true;
    complete_sq(qp, e);
  }
  qp.sq_una = qp.sq_cur = qp.sq_head;
  qp.reads_outstanding.clear();
  qp.read_jobs.clear();
  if (qp.have_recv) {
    push_cqe(qp.init.recv_cq, {.wr_id = qp.cur_recv.wr_id, .status = WcStatus::wr_flush_error, .opcode = WcOpcode::recv,
                               .qp_num = qp.qpn});
    qp.have_recv = false;
  }
  roce::RecvWr r;
  while (qp.rq_ring.try_pop_into(r))
    push_cqe(qp.init.recv_cq, {.wr_id = r.wr_id, .status = WcStatus::wr_flush_error, .opcode = WcOpcode::recv,
                               .qp_num = qp.qpn});
}

void Device::fail_qp(Qp& qp, const std::string& why, bool peer_initiated) {
  if (qp.state == QpState::err) return;
  qp.state = QpState::err;
  qp.posted_state.store(QpState::err, std::memory_order_release);
  flush_all(qp);
  if (qp.stream) {
    if (qp.terminate_sent || peer_initiated) {
      qp.stream->close();
    } else {
      qp.stream->abort();
    }
  }
  if (qp.conn) {
    cm::CmEvent e;
    e.type = cm::CmEvent::Type::disconnected;
    e.cause = peer_initiated ? cm::CmEvent::Cause::peer_disconnected : cm::CmEvent::Cause::none;
    e.peer_initiated = peer_initiated;
    e.message = why;
    emit(*qp.conn, std::move(e));
  }
}

void Device::start_fpdus(Qp& qp, bool crc, std::uint32_t mss) {
  qp.crc = crc;
  wire::MpaStreamOptions o;
  o.start = wire::MpaStreamStart::fpdus;
  o.crc = crc;
  qp.rx = std::make_unique<wire::MpaStream>(o);
  // FPDUs sized to the MSS, as siw does: length field, headers, pad and CRC inside one segment.
  std::uint32_t fpdu = config_.max_fpdu ? std::min(config_.max_fpdu, mss) : mss;
  fpdu = std::clamp<std::uint32_t>(fpdu, 128, 65535);
  const std::uint32_t room = fpdu - wire::kFpduLengthSize - wire::kFpduCrcSize - 3;
  qp.max_payload_tagged = (room - wire::kDdpTaggedHeaderSize) & ~3u;
  qp.max_payload_untagged = (room - wire::kDdpUntaggedHeaderSize) & ~3u;
  qp.tx_buf.resize(wire::kMaxFpduSize);
  qp.rx_buf.resize(config_.rx_chunk);
  qp.state = QpState::rts;
  qp.posted_state.store(QpState::rts, std::memory_order_release);
}

void Device::run_qp(Qp& qp) {
  if (qp.state == QpState::err) {
    flush_all(qp);  // posts after the error complete at once, flushed
    return;
  }
  if (qp.state != QpState::rts) return;
  drain_posts(qp);
  receive(qp);
  if (qp.state == QpState::rts) transmit(qp);
}

}  // namespace softrnic::iwarp
