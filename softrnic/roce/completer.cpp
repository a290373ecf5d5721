// The completer (IBA 9.7.5.1 requester side, 9.9): turns ACKs, NAKs, read responses and atomic
// ACKs into finished WQEs, drives go-back-N, the local ACK timeout and the RNR wait, and retires
// finished WQEs in order into the send CQ.
#include <algorithm>
#include <cstring>

#include "roce/device.hpp"
#include "roce/memory_ops.hpp"
#include "roce/sge.hpp"
#include "roce/timers.hpp"

namespace softrnic::roce {

using verbs::WcStatus;
using verbs::WrOpcode;

namespace {

bool before(Psn a, Psn b) { return a.distance_from(b) < 0; }

void note_progress(Device& dev, Qp& qp) {
  qp.retry_left = qp.attr.retry_cnt;
  qp.rnr_left = qp.attr.rnr_retry;
  const auto t = ack_timeout_ns(qp.attr.timeout);
  qp.ack_deadline = t ? dev.now() + t : 0;
}

// Moves the requester back to packet `pkt` of WQE `from` and resends everything after it.
void go_back(Qp& qp, std::uint64_t from, std::uint32_t pkt) {
  for (std::uint64_t i = from; i < qp.sq_req; ++i) {
    auto& w = qp.wqe(i);
    if (w.done) continue;
    w.next_pkt = w.is_read_or_atomic() ? w.resp_pkts : (i == from ? pkt : w.acked_pkts);
  }
  auto& f = qp.wqe(from);
  f.next_pkt = f.is_read_or_atomic() ? f.resp_pkts : pkt;
  // Skip over finished WQEs so the requester restarts at the first one with work.
  while (from < qp.sq_req && qp.wqe(from).done) ++from;
  qp.sq_req = std::min(qp.sq_req, from);
}

// Index of the WQE whose PSN range holds psn, or sq_req when none does.
std::uint64_t wqe_of(Qp& qp, Psn psn) {
  for (std::uint64_t i = qp.sq_una; i < qp.sq_head; ++i) {
    auto& w = qp.wqe(i);
    if (!w.psn_assigned) break;
    if (!before(psn, w.first_psn) && !before(w.last_psn(), psn)) return i;
  }
  return qp.sq_head;
}

void finish(Qp& qp, SendWqe& w, WcStatus st) {
  w.done = true;
  w.status = st;
  if (w.is_read_or_atomic() && qp.rd_atomic_outstanding > 0) qp.rd_atomic_outstanding--;
}

// Cumulative ACK of every request packet up to and including psn (IBA 9.7.5.1.2). Returns the
// WQE index of a READ/ATOMIC that the ACK passes without its response (the response was lost:
// retry it), or sq_head.
std::uint64_t ack_through(Device& dev, Qp& qp, Psn psn) {
  bool progress = false;
  std::uint64_t retry = qp.sq_head;
  for (std::uint64_t i = qp.sq_una; i < qp.sq_head; ++i) {
    auto& w = qp.wqe(i);
    if (w.done) continue;
    if (!w.psn_assigned || before(psn, w.first_psn)) break;
    if (w.is_read_or_atomic()) {
      retry = i;
      break;
    }
    if (before(psn, w.last_psn())) {  // part of a multi-packet message
      const auto n = static_cast<std::uint32_t>(psn.distance_from(w.first_psn)) + 1;
      if (n > w.acked_pkts) {
        w.acked_pkts = n;
        progress = true;
      }
      break;
    }
    w.acked_pkts = w.npkts;
    finish(qp, w, WcStatus::success);
    progress = true;
  }
  if (progress) note_progress(dev, qp);
  return retry;
}

// A request failed for good: the WQE holding psn completes with st and the QP goes to ERR.
void fail(Qp& qp, Psn psn, WcStatus st) {
  const auto i = wqe_of(qp, psn);
  if (i < qp.sq_head) finish(qp, qp.wqe(i), st);
  qp.ack_deadline = 0;
}

void retry_from(Qp& qp, Psn psn) {
  const auto i = wqe_of(qp, psn);
  if (i >= qp.sq_head) return;
  auto& w = qp.wqe(i);
  go_back(qp, i, static_cast<std::uint32_t>(psn.distance_from(w.first_psn)));
}

// Whether READ/ATOMIC w may ask again for its first missing response. Once per gap: the responses
// that outran a lost one keep arriving out of sequence (as do later reads' responses and ACKs),
// and asking again for each would make the responder replay the rest of the read once per
// packet. A lost re-request is recovered by the local ACK timeout.
bool may_ask_again(SendWqe& w) {
  if (w.next_pkt < w.npkts || w.asked_at == w.resp_pkts) return false;
  w.asked_at = w.resp_pkts;
  return true;
}

WcStatus nak_status(std::uint8_t code) {
  switch (code) {
    case wire::aeth::kNakInvalidRequest: return WcStatus::remote_invalid_request_error;
    case wire::aeth::kNakRemoteAccess: return WcStatus::remote_access_error;
    case wire::aeth::kNakRemoteOperational: return WcStatus::remote_operation_error;
    case wire::aeth::kNakInvalidRdRequest: return WcStatus::remote_invalid_request_error;
    default: return WcStatus::bad_response_error;
  }
}

// Transport retry (timeout or sequence NAK): counts against retry_cnt (IBA 9.7.6.1.3).
bool spend_retry(Qp& qp, Psn at) {
  if (qp.retry_left == 0) {
    fail(qp, at, WcStatus::retry_exceeded_error);
    return false;
  }
  qp.retry_left--;
  return true;
}

bool is_read(WrOpcode op) { return op == WrOpcode::rdma_read; }
bool is_atomic(WrOpcode op) {
  return op == WrOpcode::atomic_cmp_swap || op == WrOpcode::atomic_fetch_add;
}

// The index of the WQE a READ response or ATOMIC ACK at psn answers, after acknowledging every
// earlier request (IBA 9.7.5.1.2: responses are implicit ACKs). sq_head when the response is
// stale, or when an earlier READ/ATOMIC lost its response and is retried first.
std::uint64_t answered_wqe(Device& dev, Qp& qp, Psn psn, bool (*kind)(WrOpcode)) {
  const auto i = wqe_of(qp, psn);
  if (i >= qp.sq_head || qp.wqe(i).done || !kind(qp.wqe(i).wr.opcode)) {
    dev.add(DeviceCounter::rx_drop_stale_response);
    return qp.sq_head;
  }
  if (const auto r = ack_through(dev, qp, qp.wqe(i).first_psn - 1); r < i) {
    if (may_ask_again(qp.wqe(r))) retry_from(qp, qp.wqe(r).first_psn + qp.wqe(r).resp_pkts);
    return qp.sq_head;
  }
  return i;
}

void on_read_response(Device& dev, Qp& qp, const wire::ParsedFrame& p, Psn psn) {
  const auto i = answered_wqe(dev, qp, psn, is_read);
  if (i >= qp.sq_head) return;
  auto& w = qp.wqe(i);
  const Psn expected = w.first_psn + w.resp_pkts;
  if (psn != expected) {
    if (before(expected, psn)) {  // a response was lost: ask again from the first missing one
      qp.counters.out_of_sequence_rx++;
      if (may_ask_again(w)) go_back(qp, i, w.resp_pkts);
    } else {
      qp.counters.duplicates_rx++;
    }
    return;
  }
  const std::uint32_t k = w.resp_pkts;
  // Positions count from whichever request (first or retried) the response answers, so only
  // "ends the read or not" and the length are checked against the read as a whole.
  const bool ends = k + 1 == w.npkts;
  const std::uint32_t off = k * qp.attr.pmtu;
  const std::uint32_t want_len = std::min(qp.attr.pmtu, w.length - std::min(w.length, off));
  if (p.op().last_or_only() != ends || p.payload().size() != want_len) {
    fail(qp, psn, WcStatus::bad_response_error);
    return;
  }
  // Every response re-checks the sink (checked when the WQE was fetched): deregistered or
  // invalidated since, the READ ends in a local protection error and nothing is placed.
  if (!scatter({w.refs.data(), w.wr.num_sge}, {w.wr.sg.data(), w.wr.num_sge}, off, p.payload())) {
    dev.add(DeviceCounter::access_revoked);
    fail(qp, psn, WcStatus::local_protection_error);
    dev.enter_error(qp, AsyncEvent::Type::qp_fatal, false);
    return;
  }
  w.resp_pkts++;
  if (w.resp_pkts == w.npkts) finish(qp, w, WcStatus::success);
  note_progress(dev, qp);
}

void on_atomic_ack(Device& dev, Qp& qp, const wire::ParsedFrame& p, Psn psn) {
  const auto i = answered_wqe(dev, qp, psn, is_atomic);
  if (i >= qp.sq_head) return;
  auto& w = qp.wqe(i);
  const std::uint64_t orig = wire::atomic_ack_eth_of(p).orig_data;  // host order in local memory
  std::array<std::byte, 8> b;
  std::memcpy(b.data(), &orig, 8);
  if (!scatter({w.refs.data(), 1}, {w.wr.sg.data(), 1}, 0, b)) {
    dev.add(DeviceCounter::access_revoked);
    fail(qp, psn, WcStatus::local_protection_error);
    dev.enter_error(qp, AsyncEvent::Type::qp_fatal, false);
    return;
  }
  w.resp_pkts = 1;
  finish(qp, w, WcStatus::success);
  note_progress(dev, qp);
}

}  // namespace

void completer_receive(Device& dev, Qp& qp, const wire::ParsedFrame& p) {
  const Psn psn = p.bth().psn();
  // Responses must fall inside the outstanding window [oldest not done, next_psn).
  if (qp.sq_una >= qp.sq_head || !before(psn, qp.next_psn)) {
    dev.add(DeviceCounter::rx_drop_stale_response);
    return;
  }
  const auto& op = p.op();
  switch (op.op) {
    case wire::Op::rdma_read_response: on_read_response(dev, qp, p, psn); return;
    case wire::Op::atomic_acknowledge: on_atomic_ack(dev, qp, p, psn); return;
    case wire::Op::acknowledge: break;
    default: dev.add(DeviceCounter::rx_drop_wrong_transport); return;
  }
  const auto aeth = wire::aeth_of(p);
  const std::uint8_t type = wire::aeth::type(aeth.syndrome);
  const std::uint8_t value = wire::aeth::value(aeth.syndrome);
  if (type == wire::aeth::kTypeAck) {
    const auto r = ack_through(dev, qp, psn);
    if (r < qp.sq_head && may_ask_again(qp.wqe(r))) {
      // An ACK past a READ/ATOMIC whose response never came: the response was lost.
      if (spend_retry(qp, qp.wqe(r).first_psn)) retry_from(qp, qp.wqe(r).first_psn + qp.wqe(r).resp_pkts);
    }
    return;
  }
  // Every NAK acknowledges what precedes it (IBA 9.7.5.1.3).
  const auto r = ack_through(dev, qp, psn - 1);
  if (r < qp.sq_head && before(qp.wqe(r).first_psn, psn)) {
    retry_from(qp, qp.wqe(r).first_psn + qp.wqe(r).resp_pkts);
    return;
  }
  if (type == wire::aeth::kTypeRnrNak) {
    qp.counters.rnr_naks_rx++;
    if (qp.attr.rnr_retry != 7) {  // 7 = retry forever (IBA 9.7.5.2.8)
      if (qp.rnr_left == 0) {
        fail(qp, psn, WcStatus::rnr_retry_exceeded_error);
        return;
      }
      qp.rnr_left--;
    }
    retry_from(qp, psn);
    qp.rnr_deadline = dev.now() + rnr_delay_ns(value);
    qp.ack_deadline = 0;
    return;
  }
  if (type == wire::aeth::kTypeNak) {
    if (value == wire::aeth::kNakPsnSeqError) {
      qp.counters.seq_naks_rx++;
      if (spend_retry(qp, psn)) retry_from(qp, psn);
      return;
    }
    fail(qp, psn, nak_status(value));
    return;
  }
  dev.add(DeviceCounter::rx_drop_stale_response);  // reserved syndrome
}

void completer_timers(Device& dev, Qp& qp) {
  const std::uint64_t now = dev.now();
  if (qp.rnr_deadline != 0 && now >= qp.rnr_deadline) {
    qp.rnr_deadline = 0;  // the requester resends; the retry counters stay as they are
    const auto t = ack_timeout_ns(qp.attr.timeout);
    qp.ack_deadline = t ? now + t : 0;
  }
  if (qp.ack_deadline == 0 || now < qp.ack_deadline) return;
  // Find the oldest packet still waiting for an answer.
  for (std::uint64_t i = qp.sq_una; i < qp.sq_head; ++i) {
    auto& w = qp.wqe(i);
    if (w.done) continue;
    if (!w.psn_assigned) break;
    qp.counters.timeouts++;
    const Psn at = w.first_psn + (w.is_read_or_atomic() ? w.resp_pkts : w.acked_pkts);
    if (!spend_retry(qp, at)) return;
    go_back(qp, i, w.acked_pkts);
    const auto t = ack_timeout_ns(qp.attr.timeout);
    qp.ack_deadline = t ? now + t : 0;
    return;
  }
  qp.ack_deadline = 0;  // nothing outstanding
}

void completer_retire(Device& dev, Qp& qp) {
  while (qp.sq_una < qp.sq_head) {
    SendWqe& w = qp.wqe(qp.sq_una);
    if (!w.done) break;
    // Retired before its completion is visible: a consumer that sees it may post again.
    qp.sq_una++;
    qp.note_retired();
    if (w.status != WcStatus::success || (w.wr.flags & verbs::kSignaled)) {
      verbs::Cqe e{};
      e.wr_id = w.wr.wr_id;
      e.status = w.status;
      e.qp_num = qp.qpn;
      e.byte_len = w.length;
      e.opcode = send_wc_opcode(w.wr.opcode);
      dev.complete(qp.send_cq, e, qp);
    }
    if (w.status != WcStatus::success) {
      dev.enter_error(qp, AsyncEvent::Type::qp_fatal, false);
      return;
    }
  }
  // An ACK can finish WQEs the requester had gone back to resend (go-back-N after a timeout, the
  // resends' duplicate ACK covering them all): its cursor must never stay behind retired WQEs,
  // whose slots new work reuses.
  if (qp.sq_req < qp.sq_una) qp.sq_req = qp.sq_una;
  if (qp.sq_una == qp.sq_head) qp.ack_deadline = 0;
}

}  // namespace softrnic::roce
