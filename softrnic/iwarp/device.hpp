// iWARP-lite: RDMAP (RFC 5040) over DDP (RFC 5041) over MPA (RFC 5044, RFC 6581 enhanced
// connection setup) over reliable byte streams (kernel TCP in practice). The verbs objects and
// work requests are those of the RoCEv2 engine (MemoryTable, Cq, roce::QpInit/SendWr/RecvWr), and
// connections are made with the same calls and events as the RoCEv2 CM, so a consumer picks the
// wire protocol by the device it opens.
//
// What "lite" leaves out: MPA markers (a peer asking for them is refused), UC/UD, atomics and
// immediate data (RFC 7306). Where iWARP differs from RoCEv2 this follows iWARP and Linux siw: a
// Send with no posted receive is a Terminate and the connection goes down (no RNR); there are no
// per-packet ACKs or retransmissions (TCP recovers); a Send or RDMA Write completes once the stream
// has taken its last byte.
//
// Threads: as roce::Device. poll(), control calls and connection calls on the engine thread;
// post_send/post_recv from one consumer thread per queue (SPSC rings).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/control_queue.hpp"
#include "base/counters.hpp"
#include "base/spsc_ring.hpp"
#include "cm/connection_manager.hpp"
#include "engine/stream.hpp"
#include "roce/qp.hpp"
#include "verbs/cq.hpp"
#include "verbs/limits.hpp"
#include "verbs/memory.hpp"
#include "wire/ddp_rdmap.hpp"
#include "wire/mpa.hpp"
#include "wire/mpa_stream.hpp"

namespace softrnic::iwarp {

// siw's RDMA_MAX_PRIVATE_DATA (256) less the 4-byte IRD/ORD block.
inline constexpr std::size_t kMaxPrivateData = 252;

struct IwarpConfig {
  verbs::DeviceLimits limits = verbs::kDefaultLimits;
  bool request_crc = true;       // ask for MPA CRC32c (a peer's request is always honoured)
  std::uint32_t max_fpdu = 0;    // FPDU size cap; 0: the stream's MSS
  std::uint32_t rx_chunk = 65536;  // bytes read from a stream per read() call
  // After a zero-length Write RTR, the initiator holds the consumer's FPDUs this long. siw's
  // responder installs its RTR receive hook only after its MPA Reply has left, and bytes that
  // arrive in between wait in its socket until more arrive: if the RTR and a first Send both
  // land in that window (about a millisecond in a slow guest), the connection stalls.
  std::uint64_t rtr_settle_ns = 5'000'000;
  // RFC 5044 7.1.2 has a responder wait for the initiator's first FPDU before it sends any, and
  // leaves it to the ULP to have the initiator speak first (RFC 6581's RTR exists for ULPs that
  // do not). Linux siw as the initiator negotiates no RTR, and as the responder does not wait;
  // ULPs written against it send from the passive side first (perftest's write_lat server), and
  // would wait for ever on a strict responder. So by default a responder without a negotiated
  // RTR sends once its Reply has left and rtr_settle_ns has passed (the initiator's receive path
  // has had time to switch to FPDUs); strict_responder restores the RFC's wait.
  bool strict_responder = false;
  // Incoming connections a listener keeps before its owner has answered them (reading the MPA
  // Request, or waiting for accept/reject), like listen(2)'s backlog: beyond it a new connection
  // is closed at once and counted (accept_backlog_drops). Whatever a peer opens costs at most this.
  std::uint32_t accept_backlog = 128;
  // How long the owner may take to accept or reject a connect_request before the connection is
  // closed (the owner gets connect_error for it).
  std::uint64_t owner_decision_ns = 30'000'000'000;
};

#define SOFTRNIC_IWARP_COUNTERS(X)                                                  \
  X(fpdus_tx)                                                                       \
  X(fpdus_rx)                                                                       \
  X(bytes_tx)                                                                       \
  X(bytes_rx)                                                                       \
  X(terminates_tx)                                                                  \
  X(terminates_rx)                                                                  \
  X(stream_backpressure) /* write() took less than offered */                       \
  X(mpa_rejects_tx)                                                                 \
  X(mpa_rejects_rx)                                                                 \
  X(connections_established)                                                        \
  X(connections_failed)                                                             \
  X(access_revoked) /* memory deregistered/invalidated under a message in progress */ \
  X(accept_backlog_drops) /* incoming connections closed: the listener's backlog was full */ \
  X(mpa_request_timeouts) /* incoming connections that sent no MPA Request in time */ \
  X(owner_decision_timeouts) /* connect_requests nobody accepted or rejected in time */ \
  X(cq_overflows) /* completions a full CQ could not take: the CQ and its QPs went to error */

enum class IwarpCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_IWARP_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
      count_
};
std::string_view counter_name(IwarpCounter c);

class Device;
struct Conn;

// One iWARP QP: an RC QP whose transport is a stream.
class Qp {
 public:
  Qp(std::uint32_t qpn, const roce::QpInit& init);

  const std::uint32_t qpn;
  const roce::QpInit init;
  verbs::QpState state = verbs::QpState::reset;
  std::atomic<verbs::QpState> posted_state{verbs::QpState::reset};
  SpscRing<roce::SendWr> sq_ring;
  SpscRing<roce::RecvWr> rq_ring;
  // Send WRs posted and not yet retired (in the ring or in `sq`): at most init.sq_depth, so a
  // full send queue refuses posts however far the engine has drained the ring.
  std::atomic<std::uint32_t> sq_outstanding{0};

  // --- engine side ---
  struct SqEntry {
    roce::SendWr wr;
    std::array<verbs::MemRef, roce::kMaxSge> refs{};
    std::uint32_t length = 0;
    std::uint32_t sent = 0;  // payload bytes written to the stream
    bool started = false;
    bool written = false;  // everything (for a READ: the request) taken by the stream
    bool done = false;
    verbs::WcStatus status = verbs::WcStatus::success;
    std::uint32_t read_received = 0;
  };
  std::vector<SqEntry> sq;
  std::uint64_t sq_head = 0, sq_cur = 0, sq_una = 0;
  std::deque<std::uint64_t> reads_outstanding;  // SQ indexes, in request order
  struct ReadJob {  // an inbound RDMA Read Request being answered
    Stag sink{};
    std::uint64_t sink_to = 0;
    verbs::MemRef src{};
    std::uint32_t size = 0;
    std::uint32_t sent = 0;
  };
  std::deque<ReadJob> read_jobs;
  std::uint32_t send_msn = 1, read_msn = 1, term_msn = 1;        // next MSN we send per queue
  std::uint32_t rx_send_msn = 1, rx_read_msn = 1;                 // next MSN we expect
  bool have_recv = false;
  roce::RecvWr cur_recv;
  std::array<verbs::MemRef, roce::kMaxSge> recv_refs{};
  std::uint64_t recv_capacity = 0;

  std::unique_ptr<Stream> stream;
  std::unique_ptr<wire::MpaStream> rx;  // FPDU phase parser
  bool crc = false;
  std::uint32_t max_payload_untagged = 0, max_payload_tagged = 0;
  std::uint8_t ird = 0, ord = 0;
  bool hold_tx = false;  // responder without RTR: silent until the initiator's first FPDU
  std::vector<std::byte> tx_buf;  // one built FPDU
  std::size_t tx_off = 0, tx_len = 0;
  std::vector<std::byte> rx_buf;
  Conn* conn = nullptr;
  bool terminate_sent = false;
  bool rtr_read_pending = false;  // our RTR was a zero-length Read: its empty response is expected
  std::uint64_t tx_hold_until_ns = 0;  // after a Write RTR or a Reply: consumer FPDUs wait until then
};

class Device {
 public:
  Device(StreamTransport& transport, Clock& clock, IwarpConfig config = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const IwarpConfig& config() const { return config_; }
  verbs::MemoryTable& memory() { return memory_; }

  [[nodiscard]] Result<verbs::Cq*> create_cq(std::uint32_t depth);
  // RC only: iWARP has no UC or UD.
  [[nodiscard]] Result<Qp*> create_qp(const roce::QpInit& init);
  [[nodiscard]] Result<void> destroy_qp(Qp* qp);
  [[nodiscard]] Result<void> post_send(Qp& qp, const roce::SendWr& wr);
  [[nodiscard]] Result<void> post_recv(Qp& qp, const roce::RecvWr& wr);

  // Connections (MPA over the stream transport), with the RoCEv2 CM's calls and events.
  [[nodiscard]] Result<cm::ListenerId> listen(const cm::Address& local, cm::Handler handler);
  // Closes the listening socket (its port is free again at once); connections it already took
  // keep their handler.
  [[nodiscard]] Result<void> stop_listening(cm::ListenerId id);
  [[nodiscard]] Result<cm::ConnId> connect(Qp& qp, const cm::ConnectParams& p, cm::Handler handler);
  [[nodiscard]] Result<void> accept(cm::ConnId id, Qp& qp, const cm::AcceptParams& p, cm::Handler handler);
  [[nodiscard]] Result<void> reject(cm::ConnId id, std::span<const std::byte> private_data = {});
  // Orderly close of the stream; outstanding work is flushed. The peer sees a disconnect.
  [[nodiscard]] Result<void> disconnect(cm::ConnId id);

  std::size_t poll();

  // Runs op on the engine thread at the start of the next poll(): the control path's way in
  // from another thread (as roce::Device::submit). One atomic load per poll while idle.
  void submit(std::function<void(Device&)> op);
  // As roce::Device: submit() wakes w; next_deadline() is when poll() must run again without a
  // new event (UINT64_MAX: no connection and no QP, nothing pending; otherwise a recheck 1 ms
  // on, since the connection and send timers are not gathered in one place).
  void set_wakeup(Wakeup* w) { control_.set_wakeup(w); }
  std::uint64_t next_deadline() const;

  const Counters<IwarpCounter>& counters() const { return counters_; }
  Qp* find_qp(std::uint32_t qpn);

  struct Impl;

 private:
  void run_qp(Qp& qp);
  void drain_posts(Qp& qp);
  void transmit(Qp& qp);
  bool flush_tx(Qp& qp);
  bool build_next(Qp& qp);
  void receive(Qp& qp);
  void retire(Qp& qp);
  void complete_sq(Qp& qp, Qp::SqEntry& e);
  void flush_all(Qp& qp);

 public:  // used by the receive visitor and the connection code
  void handle_fpdu(Qp& qp, const wire::ParsedFpdu& f);
  void terminate(Qp& qp, std::uint8_t layer, std::uint8_t etype, std::uint8_t code, const std::string& why);
  void fail_qp(Qp& qp, const std::string& why, bool peer_initiated);
  void start_fpdus(Qp& qp, bool crc, std::uint32_t mss);
  void emit(Conn& c, cm::CmEvent e);
  void push_cqe(verbs::Cq* cq, const verbs::Cqe& e);
  // CQs that overflowed since the last poll: their QPs are failed at the end of it, outside
  // any QP's processing (fail_qp flushes and closes).
  std::vector<verbs::Cq*> overflowed_cqs_;
  void add(IwarpCounter c, std::uint64_t n = 1) { counters_.add(c, n); }
  Clock& clock() { return clock_; }

 private:
  StreamTransport& transport_;
  Clock& clock_;
  IwarpConfig config_;
  ControlQueue<Device> control_;
  verbs::MemoryTable memory_;
  std::vector<std::unique_ptr<verbs::Cq>> cqs_;
  std::vector<std::unique_ptr<Qp>> qps_;  // index = qpn; 0 and 1 unused
  Counters<IwarpCounter> counters_;
  std::vector<std::byte> payload_ = std::vector<std::byte>(65536);  // gathered FPDU payload
  std::unique_ptr<Impl> impl_;  // connections (connect.cpp)
};

}  // namespace softrnic::iwarp
