// A queue pair and the state of its three protocol machines (requester, completer, responder).
// Everything below the consumer-facing rings is owned by the engine thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "base/random.hpp"
#include "base/seqnum.hpp"
#include "base/spsc_ring.hpp"
#include "roce/wr.hpp"
#include "verbs/cq.hpp"
#include "verbs/limits.hpp"
#include "verbs/memory.hpp"
#include "verbs/qp_state.hpp"
#include "wire/build.hpp"

namespace softrnic::roce {

class Srq {
 public:
  Srq(std::uint32_t depth, std::uint32_t max_sge) : ring(depth), max_sge(max_sge) {}
  SpscRing<RecvWr> ring;
  std::uint32_t max_sge;
  std::uint32_t limit = 0;  // armed limit: an event fires once when fewer WRs remain
  bool limit_armed = false;
};

struct QpAttrs {
  verbs::QpState state = verbs::QpState::reset;
  std::uint32_t access_flags = 0;  // remote rights this QP allows
  std::uint32_t qkey = 0;
  std::uint16_t pkey = 0xffff;
  AddressHandle av;
  std::uint32_t pmtu = 1024;  // payload bytes per packet: 256..4096
  std::uint32_t dest_qpn = 0;
  Psn rq_psn{};
  Psn sq_psn{};
  std::uint8_t max_rd_atomic = 1;       // ORD
  std::uint8_t max_dest_rd_atomic = 1;  // IRD
  std::uint8_t min_rnr_timer = 14;      // encoded, table 45
  std::uint8_t timeout = 14;            // encoded, 4.096 us * 2^t
  std::uint8_t retry_cnt = 7;
  std::uint8_t rnr_retry = 7;           // 7 = infinite
};

struct QpInit {
  verbs::QpType type = verbs::QpType::rc;
  verbs::PdHandle pd = 0;
  verbs::Cq* send_cq = nullptr;
  verbs::Cq* recv_cq = nullptr;
  Srq* srq = nullptr;
  std::uint32_t sq_depth = 256;
  std::uint32_t rq_depth = 256;
  std::uint32_t max_send_sge = 4;
  std::uint32_t max_recv_sge = 4;
  std::uint32_t max_inline = 0;
  bool gsi = false;  // UD only: become QP1 (connection management MADs)
};
// What verbs::check_new_qp looks at.
constexpr verbs::QpShape shape_of(const QpInit& i) {
  return {i.sq_depth, i.rq_depth, i.max_send_sge, i.max_recv_sge, i.max_inline};
}

// Engine-side copy of a posted send WR with its transmission and completion progress.
struct SendWqe {
  SendWr wr;
  std::array<verbs::MemRef, kMaxSge> refs{};  // checked SGE windows (resolved when fetched)
  std::uint32_t length = 0;  // message bytes
  std::uint32_t npkts = 0;   // PSNs it consumes
  Psn first_psn{};
  bool psn_assigned = false;
  std::uint32_t next_pkt = 0;   // requester cursor (packet index to send next)
  std::uint32_t resp_pkts = 0;  // read responses received in order
  std::uint32_t acked_pkts = 0;  // send/write packets covered by ACKs so far
  std::uint32_t sent_high = 0;   // packets ever sent (to count retransmissions)
  // READ/ATOMIC: resp_pkts when a lost response was last asked for again (kNotAsked: never).
  static constexpr std::uint32_t kNotAsked = ~std::uint32_t{0};
  std::uint32_t asked_at = kNotAsked;
  bool done = false;
  verbs::WcStatus status = verbs::WcStatus::success;
  bool is_read_or_atomic() const {
    return wr.opcode == verbs::WrOpcode::rdma_read || wr.opcode == verbs::WrOpcode::atomic_cmp_swap ||
           wr.opcode == verbs::WrOpcode::atomic_fetch_add;
  }
  Psn last_psn() const { return first_psn + (npkts - 1); }
  // Everything but the WR and the SGE windows (which the fetch overwrites) back to a fresh state.
  void reset_progress() {
    length = npkts = 0;
    first_psn = Psn{};
    psn_assigned = false;
    next_pkt = resp_pkts = acked_pkts = sent_high = 0;
    asked_at = kNotAsked;
    done = false;
    status = verbs::WcStatus::success;
  }
};

// Responder output, in PSN order: coalesced ACKs, NAKs, read responses, atomic ACKs.
struct RespJob {
  enum class Kind : std::uint8_t { ack, nak, read, atomic_ack } kind = Kind::ack;
  Psn psn{};
  std::uint8_t syndrome = 0;
  std::uint64_t atomic_orig = 0;
  // read: the checked window and progress
  verbs::MemRef ref{};
  std::uint32_t len = 0;
  std::uint32_t npkts = 0;
  std::uint32_t sent_pkts = 0;
  bool replay = false;  // answers a duplicate READ request
};

// A saved READ/ATOMIC so duplicates can be replayed (IBA 9.7.5.1.1); max_dest_rd_atomic of them.
struct RdAtomicResource {
  bool valid = false;
  bool atomic = false;
  Psn first{};
  std::uint32_t npkts = 0;
  std::uint64_t atomic_orig = 0;
};

struct QpCounters {
  std::uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
  std::uint64_t retransmits = 0, timeouts = 0, seq_naks_rx = 0, rnr_naks_rx = 0;
  std::uint64_t seq_naks_tx = 0, rnr_naks_tx = 0, duplicates_rx = 0, out_of_sequence_rx = 0;
  std::uint64_t cnps_tx = 0, cnps_rx = 0, rx_dropped = 0;
};

class Qp {
 public:
  Qp(std::uint32_t qpn, const QpInit& init)
      : qpn(qpn),
        type(init.type),
        pd(init.pd),
        send_cq(init.send_cq),
        recv_cq(init.recv_cq),
        srq(init.srq),
        init(init),
        sq_ring(init.sq_depth),
        rq_ring(init.srq ? 1 : init.rq_depth),
        sq(init.sq_depth) {
    resources.resize(256);
    resp_jobs.resize(512);
  }

  const std::uint32_t qpn;
  const verbs::QpType type;
  const verbs::PdHandle pd;
  verbs::Cq* const send_cq;
  verbs::Cq* const recv_cq;
  Srq* const srq;
  const QpInit init;
  QpAttrs attr;
  // The state as posting threads see it (attr.state is the engine's copy).
  std::atomic<verbs::QpState> posted_state{verbs::QpState::reset};
  wire::RoceSpec tx_spec;  // Ethernet/IP/UDP part of every packet, prepared at RTR
  bool peer_unresolved = false;  // the AV gave no MAC: the neighbour table must find it first

  // Consumer -> engine.
  SpscRing<SendWr> sq_ring;
  SpscRing<RecvWr> rq_ring;
  // Send WRs ever posted (posting thread) and ever retired (engine, before their completion is
  // written): post_send bounds their difference by init.sq_depth, so WRs the engine has already
  // moved from sq_ring into sq still count against the depth.
  std::atomic<std::uint64_t> sq_posted{0};
  std::atomic<std::uint64_t> sq_retired{0};

  // Requester / completer (engine).
  std::vector<SendWqe> sq;  // circular, indexed by counter % size
  std::uint64_t sq_head = 0;  // next free slot
  std::uint64_t sq_req = 0;   // next WQE the requester works on
  std::uint64_t sq_una = 0;   // oldest WQE not yet completed
  Psn next_psn{};
  std::uint32_t rd_atomic_outstanding = 0;
  std::uint32_t pkts_since_ackreq = 0;
  std::uint64_t ack_deadline = 0;  // 0 = not armed
  std::uint64_t rnr_deadline = 0;
  bool sq_drained_reported = false;
  std::uint8_t retry_left = 7;
  std::uint8_t rnr_left = 7;

  // Responder (engine).
  Psn epsn{};
  std::uint32_t msn = 0;
  bool nak_sent = false;
  enum class InMsg : std::uint8_t { none, send, write } in_msg = InMsg::none;
  bool uc_discard = false;  // UC: dropping until the next first/only packet
  bool have_recv = false;
  RecvWr cur_recv;
  std::array<verbs::MemRef, kMaxSge> recv_refs{};
  std::uint32_t recv_offset = 0;
  verbs::MemRef write_ref{};
  std::uint32_t write_offset = 0;
  std::uint32_t write_len = 0;
  std::vector<RdAtomicResource> resources;
  std::uint32_t next_resource = 0;
  std::vector<RespJob> resp_jobs;  // ring
  std::uint32_t resp_head = 0, resp_tail = 0;
  std::array<std::uint64_t, 64> ud_recent{};  // UD duplicate filter (responder.cpp)
  // Keys the filter's tags, so no sender can make its datagrams' tags equal another's.
  std::uint64_t ud_secret = secure_random<std::uint64_t>();
  std::uint32_t ud_recent_next = 0;
  std::uint64_t last_cnp_ns = 0;
  bool cnp_sent_once = false;

  QpCounters counters;

  SendWqe& wqe(std::uint64_t i) { return sq[i % sq.size()]; }
  // Engine: n more send WRs are done with (completed, flushed or dropped).
  void note_retired(std::uint64_t n = 1) {
    sq_retired.store(sq_retired.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  std::uint32_t resp_count() const { return resp_head - resp_tail; }
};

}  // namespace softrnic::roce
