// The responder (IBA 9.7.5): places incoming requests into registered memory and receive WQEs,
// answers in PSN order through a job queue (coalesced ACKs, NAKs, read responses, atomic ACKs),
// and keeps READ/ATOMIC resources so duplicates are replayed, never re-executed blindly.
#include <algorithm>
#include <cstring>

#include "roce/device.hpp"
#include "roce/sge.hpp"

namespace softrnic::roce {

using verbs::QpType;
using verbs::WcStatus;
using Job = RespJob;

namespace {

constexpr int kBudget = 64;

Job* push_job(Qp& qp) {
  if (qp.resp_count() >= qp.resp_jobs.size()) return nullptr;
  Job& j = qp.resp_jobs[qp.resp_head++ % qp.resp_jobs.size()];
  j = Job{};
  return &j;
}

// ACKs coalesce: a newer ACK replaces a queued one that has not gone out yet (IBA 9.7.5.1.2).
void queue_ack(Qp& qp, Psn psn) {
  if (qp.resp_count() > 0) {
    Job& last = qp.resp_jobs[(qp.resp_head - 1) % qp.resp_jobs.size()];
    if (last.kind == Job::Kind::ack) {
      last.psn = psn;
      return;
    }
  }
  if (Job* j = push_job(qp)) {
    j->kind = Job::Kind::ack;
    j->psn = psn;
  }
}

void queue_nak(Qp& qp, Psn psn, std::uint8_t syndrome) {
  if (Job* j = push_job(qp)) {
    j->kind = Job::Kind::nak;
    j->psn = psn;
    j->syndrome = syndrome;
  }
}

std::uint8_t nak(std::uint8_t code) { return wire::aeth::make(wire::aeth::kTypeNak, code); }

// The responder's fatal request errors (IBA 9.7.5.2.3-5). Each is mapped here and only here to
// the NAK code the requester sees (which its completer turns into a completion status) and to
// the affiliated asynchronous event raised on this QP.
enum class RequestError : std::uint8_t { invalid_request, remote_access, remote_operation };

constexpr std::uint8_t nak_code(RequestError e) {
  switch (e) {
    case RequestError::invalid_request: return wire::aeth::kNakInvalidRequest;
    case RequestError::remote_access: return wire::aeth::kNakRemoteAccess;
    case RequestError::remote_operation: return wire::aeth::kNakRemoteOperational;
  }
  return wire::aeth::kNakInvalidRequest;
}

constexpr AsyncEvent::Type async_event_of(RequestError e) {
  return e == RequestError::remote_access ? AsyncEvent::Type::qp_access_error
                                          : AsyncEvent::Type::qp_request_error;
}

// A fatal request error: NAK it and move the QP to ERR.
void fail_request(Device& dev, Qp& qp, Psn psn, RequestError e) {
  queue_nak(qp, psn, nak(nak_code(e)));
  dev.enter_error(qp, async_event_of(e), true);
}

void complete_recv(Device& dev, Qp& qp, WcStatus st, verbs::WcOpcode op, std::uint32_t len,
                   std::uint8_t flags, std::uint32_t imm, std::uint32_t inv, std::uint32_t src_qp) {
  verbs::Cqe e{};
  e.wr_id = qp.cur_recv.wr_id;
  e.status = st;
  e.opcode = op;
  e.byte_len = len;
  e.flags = flags;
  e.imm = imm;
  e.invalidated = inv;
  e.qp_num = qp.qpn;
  e.src_qp = src_qp;
  qp.have_recv = false;
  dev.complete(qp.recv_cq, e, qp);
}

enum class Take { ok, none, bad_key };

// Takes the next receive WQE (RQ or SRQ) and checks its buffers for local write.
Take take_recv(Device& dev, Qp& qp) {
  if (qp.have_recv) return Take::ok;
  if (!(qp.srq ? qp.srq->ring.try_pop_into(qp.cur_recv) : qp.rq_ring.try_pop_into(qp.cur_recv)))
    return Take::none;
  const RecvWr* wr = &qp.cur_recv;
  if (qp.srq && qp.srq->limit_armed && qp.srq->ring.size() < qp.srq->limit) {
    qp.srq->limit_armed = false;  // IBA 10.2.9.4: the limit event is one-shot
    dev.events().push_back({AsyncEvent::Type::srq_limit, qp.qpn, qp.srq});
    dev.add(DeviceCounter::async_events);
  }
  qp.have_recv = true;
  qp.recv_offset = 0;
  for (std::uint8_t i = 0; i < wr->num_sge; ++i) {
    auto r = dev.memory().check(wr->sg[i].lkey, qp.pd, wr->sg[i].addr, wr->sg[i].length,
                                verbs::kLocalWrite, qp.qpn);
    if (!r) return Take::bad_key;
    qp.recv_refs[i] = *r;
  }
  return Take::ok;
}

std::uint64_t recv_capacity(const Qp& qp) {
  return sge_total({qp.cur_recv.sg.data(), qp.cur_recv.num_sge});
}

bool valid_size(const Qp& qp, const wire::OpcodeInfo& op, std::size_t len) {
  // IBA 9.7.2 / C9-41: first and middle packets carry exactly one PMTU, last/only at most one.
  if (op.pos == wire::Pos::first || op.pos == wire::Pos::middle) return len == qp.attr.pmtu;
  return len <= qp.attr.pmtu;
}

enum class Verdict { done, rnr, error };

// SEND first/middle/last/only. RC and UC share it; the caller turns errors into NAKs or drops.
Verdict handle_send(Device& dev, Qp& qp, const wire::ParsedFrame& p, RequestError* err) {
  const auto& op = p.op();
  const auto payload = p.payload();
  if (op.first_or_only()) {
    const Take t = take_recv(dev, qp);
    if (t == Take::none) return Verdict::rnr;
    if (t == Take::bad_key) {
      complete_recv(dev, qp, WcStatus::local_protection_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
      *err = RequestError::remote_operation;
      return Verdict::error;
    }
    qp.recv_offset = 0;
  }
  if (qp.recv_offset + payload.size() > recv_capacity(qp)) {
    complete_recv(dev, qp, WcStatus::local_length_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
    *err = RequestError::invalid_request;
    return Verdict::error;
  }
  // Every packet re-checks the receive buffers (taken at the first packet): deregistered or
  // invalidated since, the message ends in a local protection error and nothing is placed.
  if (!scatter({qp.recv_refs.data(), qp.cur_recv.num_sge}, {qp.cur_recv.sg.data(), qp.cur_recv.num_sge},
               qp.recv_offset, payload)) {
    dev.add(DeviceCounter::access_revoked);
    complete_recv(dev, qp, WcStatus::local_protection_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
    *err = RequestError::remote_operation;
    return Verdict::error;
  }
  qp.recv_offset += static_cast<std::uint32_t>(payload.size());
  if (!op.last_or_only()) {
    qp.in_msg = Qp::InMsg::send;
    return Verdict::done;
  }
  std::uint8_t flags = p.bth().solicited() ? verbs::Cqe::kSolicited : 0;
  std::uint32_t imm = 0, inv = 0;
  if (op.immediate) {
    flags |= verbs::Cqe::kWithImm;
    imm = wire::immdt_of(p).value;
  }
  if (op.invalidate) {
    inv = wire::ieth_of(p).rkey.raw();
    if (!dev.memory().invalidate(inv, qp.pd, qp.qpn)) {
      complete_recv(dev, qp, WcStatus::remote_invalid_request_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
      *err = RequestError::invalid_request;
      return Verdict::error;
    }
    flags |= verbs::Cqe::kWithInv;
  }
  complete_recv(dev, qp, WcStatus::success, verbs::WcOpcode::recv, qp.recv_offset, flags, imm, inv, 0);
  qp.in_msg = Qp::InMsg::none;
  qp.msn++;
  return Verdict::done;
}

// RDMA WRITE first/middle/last/only (+ immediate).
Verdict handle_write(Device& dev, Qp& qp, const wire::ParsedFrame& p, RequestError* err) {
  const auto& op = p.op();
  const auto payload = p.payload();
  if (op.first_or_only()) {
    const auto reth = wire::reth_of(p);
    qp.write_offset = 0;
    qp.write_len = reth.dma_length;
    qp.write_ref = {};
    // IBA 9.7.5.2.3: a zero-length write does not check the R_Key.
    if (reth.dma_length != 0) {
      auto r = (qp.attr.access_flags & verbs::kRemoteWrite)
                   ? dev.memory().check(reth.rkey.raw(), qp.pd, reth.va, reth.dma_length,
                                        verbs::kRemoteWrite, qp.qpn)
                   : std::unexpected(verbs::AccessError::rights);
      if (!r) {
        *err = RequestError::remote_access;
        return Verdict::error;
      }
      qp.write_ref = *r;
    }
  }
  const bool ends = op.last_or_only();
  if (qp.write_offset + payload.size() > qp.write_len ||
      (ends && qp.write_offset + payload.size() != qp.write_len)) {
    *err = RequestError::invalid_request;
    return Verdict::error;
  }
  if (ends && op.immediate) {
    const Take t = take_recv(dev, qp);
    if (t == Take::none) return Verdict::rnr;
    if (t == Take::bad_key) {
      complete_recv(dev, qp, WcStatus::local_protection_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
      *err = RequestError::remote_operation;
      return Verdict::error;
    }
  }
  // Every packet re-checks the R_Key's window (checked at the first packet): invalidated,
  // deregistered or re-registered since, the rest of the WRITE is a remote access error.
  if (!payload.empty() && !verbs::MemoryTable::copy_in(qp.write_ref, qp.write_offset, payload)) {
    dev.add(DeviceCounter::access_revoked);
    *err = RequestError::remote_access;
    return Verdict::error;
  }
  qp.write_offset += static_cast<std::uint32_t>(payload.size());
  if (!ends) {
    qp.in_msg = Qp::InMsg::write;
    return Verdict::done;
  }
  if (op.immediate) {
    std::uint8_t flags = verbs::Cqe::kWithImm | (p.bth().solicited() ? verbs::Cqe::kSolicited : 0);
    complete_recv(dev, qp, WcStatus::success, verbs::WcOpcode::recv_rdma_with_imm, qp.write_len,
                  flags, wire::immdt_of(p).value, 0, 0);
  }
  qp.in_msg = Qp::InMsg::none;
  qp.msn++;
  return Verdict::done;
}

RdAtomicResource& next_resource(Qp& qp) {
  return qp.resources[qp.next_resource++ % qp.attr.max_dest_rd_atomic];
}

const RdAtomicResource* find_resource(const Qp& qp, Psn psn, bool atomic) {
  for (std::uint32_t i = 0; i < qp.attr.max_dest_rd_atomic; ++i) {
    const auto& r = qp.resources[i];
    if (!r.valid || r.atomic != atomic) continue;
    const auto d = psn.distance_from(r.first);
    if (d >= 0 && static_cast<std::uint32_t>(d) < r.npkts) return &r;
  }
  return nullptr;
}

// Checks a READ and queues its responses starting at psn. False when access is refused.
bool queue_read(Device& dev, Qp& qp, Psn psn, const wire::Reth& reth, bool replay) {
  if (reth.dma_length > dev.config().limits.max_msg_size) return false;
  verbs::MemRef ref{};
  if (reth.dma_length != 0) {
    auto r = (qp.attr.access_flags & verbs::kRemoteRead)
                 ? dev.memory().check(reth.rkey.raw(), qp.pd, reth.va, reth.dma_length,
                                      verbs::kRemoteRead, qp.qpn)
                 : std::unexpected(verbs::AccessError::rights);
    if (!r) return false;
    ref = *r;
  }
  Job* j = push_job(qp);
  if (!j) return true;  // no room: the requester will time out and ask again
  j->kind = Job::Kind::read;
  j->psn = psn;
  j->ref = ref;
  j->len = reth.dma_length;
  j->npkts = read_packets(reth.dma_length, qp.attr.pmtu);
  j->replay = replay;
  return true;
}

void handle_rc(Device& dev, Qp& qp, const wire::ParsedFrame& p) {
  const auto bth = p.bth();
  const auto& op = p.op();
  const Psn psn = bth.psn();
  const auto d = psn.distance_from(qp.epsn);
  if (d > 0) {
    // IBA 9.7.5.1.1: one NAK per gap, then silence until the expected PSN arrives.
    qp.counters.out_of_sequence_rx++;
    if (!qp.nak_sent) {
      queue_nak(qp, qp.epsn, nak(wire::aeth::kNakPsnSeqError));
      qp.nak_sent = true;
      qp.counters.seq_naks_tx++;
    }
    return;
  }
  if (d < 0) {
    qp.counters.duplicates_rx++;
    if (op.op == wire::Op::rdma_read_request) {
      // IBA 9.7.5.1.1: a duplicate READ is re-executed from its own PSN with its own RETH.
      if (find_resource(qp, psn, false)) (void)queue_read(dev, qp, psn, wire::reth_of(p), true);
      return;
    }
    if (op.op == wire::Op::compare_swap || op.op == wire::Op::fetch_add) {
      // ...but an atomic is answered from the saved result, never executed twice.
      if (const auto* r = find_resource(qp, psn, true)) {
        if (Job* j = push_job(qp)) {
          j->kind = Job::Kind::atomic_ack;
          j->psn = psn;
          j->atomic_orig = r->atomic_orig;
        }
      }
      return;
    }
    queue_ack(qp, qp.epsn - 1);  // duplicate SEND/WRITE: ACK again, place nothing
    return;
  }
  qp.nak_sent = false;

  const bool continues = op.pos == wire::Pos::middle || op.pos == wire::Pos::last;
  const Qp::InMsg kind = op.op == wire::Op::send         ? Qp::InMsg::send
                         : op.op == wire::Op::rdma_write ? Qp::InMsg::write
                                                         : Qp::InMsg::none;
  // IBA 9.7.5.2.2: opcode sequence -- a middle/last continues the message in progress, anything
  // else must not interrupt one.
  if (continues ? qp.in_msg != kind : qp.in_msg != Qp::InMsg::none) {
    fail_request(dev, qp, psn, RequestError::invalid_request);
    return;
  }
  if (op.payload && !valid_size(qp, op, p.payload().size())) {
    fail_request(dev, qp, psn, RequestError::invalid_request);
    return;
  }

  RequestError err = RequestError::invalid_request;
  switch (op.op) {
    case wire::Op::send:
    case wire::Op::rdma_write: {
      const Verdict v = op.op == wire::Op::send ? handle_send(dev, qp, p, &err) : handle_write(dev, qp, p, &err);
      if (v == Verdict::rnr) {
        queue_nak(qp, psn, wire::aeth::make(wire::aeth::kTypeRnrNak, qp.attr.min_rnr_timer));
        qp.nak_sent = true;  // drop what follows until the retry
        qp.counters.rnr_naks_tx++;
        return;
      }
      if (v == Verdict::error) {
        fail_request(dev, qp, psn, err);
        return;
      }
      qp.epsn += 1;
      if (bth.ack_req()) queue_ack(qp, psn);
      return;
    }
    case wire::Op::rdma_read_request: {
      const auto reth = wire::reth_of(p);
      if (!queue_read(dev, qp, psn, reth, false)) {
        fail_request(dev, qp, psn, RequestError::remote_access);
        return;
      }
      auto& r = next_resource(qp);
      r = {true, false, psn, read_packets(reth.dma_length, qp.attr.pmtu), 0};
      qp.epsn += r.npkts;
      qp.msn++;
      return;
    }
    case wire::Op::compare_swap:
    case wire::Op::fetch_add: {
      const auto a = wire::atomic_eth_of(p);
      if (a.va % 8 != 0) {  // IBA 9.4.5: atomics are naturally aligned
        fail_request(dev, qp, psn, RequestError::invalid_request);
        return;
      }
      auto ref = (qp.attr.access_flags & verbs::kRemoteAtomic)
                     ? dev.memory().check(a.rkey.raw(), qp.pd, a.va, 8, verbs::kRemoteAtomic, qp.qpn)
                     : std::unexpected(verbs::AccessError::rights);
      std::byte* cell = ref ? verbs::MemoryTable::atomic_ptr(*ref) : nullptr;
      if (!cell) {
        fail_request(dev, qp, psn, RequestError::remote_access);
        return;
      }
      std::uint64_t orig;
      std::memcpy(&orig, cell, 8);
      const std::uint64_t next = op.op == wire::Op::fetch_add ? orig + a.swap_add
                                 : orig == a.compare          ? a.swap_add
                                                              : orig;
      std::memcpy(cell, &next, 8);
      auto& r = next_resource(qp);
      r = {true, true, psn, 1, orig};
      if (Job* j = push_job(qp)) {
        j->kind = Job::Kind::atomic_ack;
        j->psn = psn;
        j->atomic_orig = orig;
      }
      qp.epsn += 1;
      qp.msn++;
      return;
    }
    default:
      fail_request(dev, qp, psn, RequestError::invalid_request);
      return;
  }
}

// UC (IBA 9.8.2): no ACKs; a PSN gap abandons the message in progress, and the next first/only
// packet starts afresh. Errors drop the message silently.
void handle_uc(Device& dev, Qp& qp, const wire::ParsedFrame& p) {
  const auto& op = p.op();
  const Psn psn = p.bth().psn();
  if (psn.distance_from(qp.epsn) < 0) {
    qp.counters.duplicates_rx++;  // behind the expected PSN: a duplicate, never placed twice
    qp.counters.rx_dropped++;
    return;
  }
  if (psn != qp.epsn) {
    qp.counters.out_of_sequence_rx++;
    qp.in_msg = Qp::InMsg::none;
    qp.recv_offset = 0;  // a partly filled receive WQE is reused
    qp.uc_discard = !op.first_or_only();
    qp.epsn = psn;
  }
  qp.epsn = psn + 1;
  if (qp.uc_discard) {
    if (!op.first_or_only()) {
      qp.counters.rx_dropped++;
      return;
    }
    qp.uc_discard = false;
  }
  const bool continues = op.pos == wire::Pos::middle || op.pos == wire::Pos::last;
  const Qp::InMsg kind = op.op == wire::Op::send ? Qp::InMsg::send : Qp::InMsg::write;
  if ((continues ? qp.in_msg != kind : qp.in_msg != Qp::InMsg::none) ||
      !valid_size(qp, op, p.payload().size())) {
    qp.in_msg = Qp::InMsg::none;
    qp.uc_discard = !op.last_or_only();
    qp.counters.rx_dropped++;
    return;
  }
  RequestError ignored = RequestError::invalid_request;  // UC drops the message, it NAKs nothing
  const Verdict v = op.op == wire::Op::send ? handle_send(dev, qp, p, &ignored) : handle_write(dev, qp, p, &ignored);
  if (v != Verdict::done) {
    if (v == Verdict::rnr) dev.add(DeviceCounter::rx_drop_no_recv_wqe);
    qp.in_msg = Qp::InMsg::none;
    qp.uc_discard = !op.last_or_only();
    qp.counters.rx_dropped++;
  }
}

// UD (IBA 9.8.3): one packet per message, Q_Key checked, a 40-byte GRH ahead of the payload.
// UD has no sequence checking in IBA; a wire that duplicates frames would deliver a datagram
// twice. The receiver remembers the last few (source, source QP, PSN) it accepted and drops exact
// repeats (senders give each datagram its own PSN). A tag is a hash of the whole source address,
// source QP and PSN keyed by a secret of the QP: a neighbour cannot fill the filter with the tags
// of another sender's datagrams to have them dropped.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool ud_seen_before(Qp& qp, const wire::ParsedFrame& p, std::uint32_t src_qp) {
  std::uint64_t hi = 0, lo;
  if (p.ip_version == 4) {
    lo = load_be32(p.frame, p.l3_off + 12);
  } else {
    hi = std::uint64_t{load_be32(p.frame, p.l3_off + 8)} << 32 | load_be32(p.frame, p.l3_off + 12);
    lo = std::uint64_t{load_be32(p.frame, p.l3_off + 16)} << 32 | load_be32(p.frame, p.l3_off + 20);
  }
  const std::uint64_t id = std::uint64_t{src_qp} << 24 | p.bth().psn().raw();
  const std::uint64_t tag = mix(mix(mix(qp.ud_secret ^ hi) ^ lo) ^ id);
  for (const auto t : qp.ud_recent) {
    if (t == tag) return true;
  }
  qp.ud_recent[qp.ud_recent_next++ % qp.ud_recent.size()] = tag;
  return false;
}

void handle_ud(Device& dev, Qp& qp, const wire::ParsedFrame& p) {
  const auto deth = wire::deth_of(p);
  if (deth.qkey.raw != qp.attr.qkey) {
    dev.add(DeviceCounter::rx_drop_qkey);
    return;
  }
  if (ud_seen_before(qp, p, deth.src_qp.raw())) {
    qp.counters.duplicates_rx++;
    qp.counters.rx_dropped++;
    return;
  }
  const Take t = take_recv(dev, qp);
  if (t == Take::none) {
    dev.add(DeviceCounter::rx_drop_no_recv_wqe);
    return;
  }
  const auto payload = p.payload();
  if (t == Take::bad_key) {
    complete_recv(dev, qp, WcStatus::local_protection_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
    return;
  }
  constexpr std::uint32_t kGrh = 40;
  if (kGrh + payload.size() > recv_capacity(qp)) {
    complete_recv(dev, qp, WcStatus::local_length_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
    return;
  }
  // RoCEv2 GRH space: the IPv6 header, or for IPv4 20 zero bytes then the IPv4 header.
  std::array<std::byte, kGrh> grh{};
  if (p.ip_version == 6) {
    store_bytes(grh, 0, p.frame.subspan(p.l3_off, 40));
  } else {
    store_bytes(grh, 20, p.frame.subspan(p.l3_off, 20));
  }
  const std::span<const verbs::MemRef> refs{qp.recv_refs.data(), qp.cur_recv.num_sge};
  const std::span<const Sge> sg{qp.cur_recv.sg.data(), qp.cur_recv.num_sge};
  if (!scatter(refs, sg, 0, grh) || !scatter(refs, sg, kGrh, payload)) {
    dev.add(DeviceCounter::access_revoked);
    complete_recv(dev, qp, WcStatus::local_protection_error, verbs::WcOpcode::recv, 0, 0, 0, 0, 0);
    return;
  }
  const auto& op = p.op();
  std::uint8_t flags = verbs::Cqe::kGrh | (p.bth().solicited() ? verbs::Cqe::kSolicited : 0);
  std::uint32_t imm = 0;
  if (op.immediate) {
    flags |= verbs::Cqe::kWithImm;
    imm = wire::immdt_of(p).value;
  }
  complete_recv(dev, qp, WcStatus::success, verbs::WcOpcode::recv,
                kGrh + static_cast<std::uint32_t>(payload.size()), flags, imm, 0, deth.src_qp.raw());
}

}  // namespace

void responder_receive(Device& dev, Qp& qp, const wire::ParsedFrame& p) {
  switch (qp.type) {
    case QpType::rc: handle_rc(dev, qp, p); return;
    case QpType::uc: handle_uc(dev, qp, p); return;
    case QpType::ud: handle_ud(dev, qp, p); return;
  }
}

void responder_transmit(Device& dev, Qp& qp) {
  int budget = kBudget;
  while (budget > 0 && qp.resp_count() > 0) {
    Job& j = qp.resp_jobs[qp.resp_tail % qp.resp_jobs.size()];
    if (qp.attr.state == verbs::QpState::err && j.kind == Job::Kind::read) {
      qp.resp_tail++;  // a QP in error answers no more reads; its NAK still goes out
      continue;
    }
    wire::Bth bth{};
    wire::ExtHeaders ext{};
    Device::TxPayload pl{};
    bth.pkey = Pkey{qp.attr.pkey};
    bth.dest_qp = Qpn{qp.attr.dest_qpn};
    ext.aeth = {wire::aeth::make(wire::aeth::kTypeAck, wire::aeth::kUnlimitedCredits), Msn{qp.msn}};
    bool last = true;
    switch (j.kind) {
      case Job::Kind::ack:
        bth.opcode = wire::kRcAcknowledge;
        bth.psn = j.psn;
        break;
      case Job::Kind::nak:
        bth.opcode = wire::kRcAcknowledge;
        bth.psn = j.psn;
        ext.aeth.syndrome = j.syndrome;
        break;
      case Job::Kind::atomic_ack:
        bth.opcode = wire::kRcAtomicAcknowledge;
        bth.psn = j.psn;
        ext.atomic_ack_eth.orig_data = j.atomic_orig;
        break;
      case Job::Kind::read: {
        if (j.len > 0 && !verbs::MemoryTable::current(j.ref) && j.replay) {
          // A replay goes unanswered, as a duplicate that fails its check on arrival does: the
          // original was answered, and the requester may have had it all before the region went
          // (invalidated once the read completed). One that still needs it times out and fails.
          qp.counters.rx_dropped++;
          qp.resp_tail++;
          continue;
        }
        if (j.len > 0 && !verbs::MemoryTable::current(j.ref)) {
          // The region went away (deregistered, invalidated) while its read was being answered:
          // the rest of the read is a remote access error, never memory it no longer names.
          j.kind = Job::Kind::nak;
          j.syndrome = nak(nak_code(RequestError::remote_access));
          dev.enter_error(qp, async_event_of(RequestError::remote_access), true);
          return;  // the NAK goes out from the error state (run_qp)
        }
        const std::uint32_t k = j.sent_pkts;
        const std::uint32_t off = k * qp.attr.pmtu;
        bth.psn = j.psn + k;
        bth.opcode = wire::opcode_for(wire::Transport::rc, wire::Op::rdma_read_response,
                                       wire::position_in_message(k, j.npkts));
        pl.ref = &j.ref;
        pl.offset = off;
        pl.len = std::min(qp.attr.pmtu, j.len - std::min(j.len, off));
        last = k + 1 == j.npkts;
        break;
      }
    }
    if (!dev.send_packet(qp, bth, ext, pl)) return;
    budget--;
    if (j.kind == Job::Kind::read && !last) {
      j.sent_pkts++;
      continue;
    }
    qp.resp_tail++;
  }
}

}  // namespace softrnic::roce
