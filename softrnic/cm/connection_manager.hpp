// Connection management by IP address over RoCEv2: the IB CM protocol (IBA chapter 12: REQ, MRA,
// REJ, REP, RTU, DREQ, DREP with their timeouts, retries and duplicate handling) carried on QP1,
// with the RDMA-CM IP addressing of IBA annex A11 (service IDs from the TCP port space, the IP
// private-data header in every REQ), so Linux rdma_cm peers accept our REQs and we accept theirs.
//
// One ConnectionManager per device. It owns the device's QP1 and drives the consumer's RC/UC QP
// through INIT -> RTR -> RTS from what the REQ and REP carry (PSNs, QPNs, path MTU, responder
// resources and initiator depth). It never flushes or destroys a consumer QP: on a disconnect the
// owner decides, as NDK requires.
//
// Peers are not trusted. What their messages can make us hold is bounded (a backlog per listener,
// a record budget per device, timeouts clamped to the k*Ns constants below, few answers waiting
// for the MAC of an unknown source); a message naming one of our connections counts only from
// that connection's peer (its address and communication ID); a REQ is judged by its packet's IP
// addresses; identifiers come from getrandom(2). Whatever is refused is counted (CmCounter).
//
// Threads: every call, and poll(), belong to the device's engine thread. Events are delivered from
// poll() only, never from inside an API call, so a handler may call back into the manager (accept
// from a connect_request, connect again from a rejected, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "roce/device.hpp"
#include "wire/cm_mad.hpp"

namespace softrnic::cm {

// An IP endpoint. The address is held as a GID: IPv4 as ::ffff:a.b.c.d. All zeros = any address
// (listeners only).
struct Address {
  wire::Ipv6Addr ip{};
  std::uint16_t port = 0;
  bool operator==(const Address&) const = default;
};
std::string to_string(const Address& a);

using ConnId = std::uint32_t;      // our local communication ID (never 0)
using ListenerId = std::uint32_t;  // never 0

struct CmEvent {
  enum class Type : std::uint8_t {
    connect_request,  // passive: a REQ reached a listener; answer with accept() or reject()
    established,      // both sides: the QP is in RTS and the handshake is complete
    rejected,         // the peer (or its CM) refused: reason and private data
    connect_error,    // the handshake failed here: no answer after the retries, unreachable peer,
                      // QP setup failed; `message` says which
    disconnected,     // the peer sent DREQ, or our DREQ was answered (or went unanswered)
  };
  // Why a connection attempt failed or a connection ended, for programs (both connection
  // managers, RoCEv2's and iWARP's, set it); `message` is for people and may change.
  enum class Cause : std::uint8_t {
    none,               // connect_request, established, a disconnect we asked for
    refused,            // nothing listens there (iWARP: the TCP SYN was answered with a RST)
    unreachable,        // no route, or the peer's address did not resolve
    timed_out,          // no answer within the retries or a deadline
    rejected,           // the peer said no (reject_reason)
    aborted,            // failed here (QP setup, a full queue, a protocol error by the peer)
    peer_disconnected,  // an established connection ended from the peer's side
  };
  Type type = Type::connect_error;
  Cause cause = Cause::none;
  ConnId conn = 0;
  ListenerId listener = 0;  // connect_request
  Address local, remote;
  std::uint16_t reject_reason = 0;  // rejected: IBA table 112
  std::vector<std::byte> private_data;
  std::uint8_t responder_resources = 0;  // connect_request: the peer's offer; established: ours
  std::uint8_t initiator_depth = 0;
  std::uint32_t path_mtu = 0;
  bool peer_initiated = false;  // disconnected: the peer asked for it
  std::string message;
};
std::string_view event_name(CmEvent::Type t);
using Handler = std::function<void(const CmEvent&)>;

// Bounds on what a peer's messages can make us hold, whatever their timeout fields say. Everything
// a peer sends is taken as hostile: a REQ may ask for 4.096 us * 2^31 per try and 15 tries (~41 h).
//  - a REQ's record waits at most this long for its owner's accept() or reject();
inline constexpr std::uint64_t kMaxReqLifetimeNs = 60'000'000'000;
//  - an MRA makes us wait at most this long before our next try (Linux asks for 2^24: 68.7 s,
//    and answers our resend with another MRA, so a slow peer costs a retry, not the connection);
inline constexpr std::uint64_t kMaxMraWaitNs = 30'000'000'000;
//  - one try waits at most this long for the peer's answer when the peer's own response timeout
//    sets the wait (our REP, our DREQ on a connection the peer opened).
inline constexpr std::uint64_t kMaxPeerResponseWaitNs = 16'000'000'000;

struct CmConfig {
  // How long this side takes to answer, IBA encoding 4.096 us * 2^t (16: 268 ms). It goes into
  // every REQ; the peer's own values set how long we wait for it.
  std::uint8_t response_timeout = 16;
  std::uint8_t max_retries = 15;           // CM retries of REQ/REP/DREQ (4 bits)
  std::uint8_t mra_service_timeout = 20;   // advertised in MRAs while the owner decides
  std::uint64_t timewait_ns = 1'000'000'000;  // a finished connection answers duplicates this long
  std::uint32_t recv_buffers = 256;        // posted receives on QP1
  std::uint32_t send_slots = 256;          // MADs in flight on QP1
  std::uint32_t max_pending = 1024;        // MADs waiting for a neighbour or a send slot
  // Of those, answers that belong to no connection (REJ to a refused REQ, DREP to an unknown
  // DREQ) waiting for the MAC of a source that may well be forged.
  std::uint32_t max_unbound_unresolved = 32;
  // Connection requests a listener holds before its owner accepts or rejects them, when listen()
  // names no backlog (as in listen(2)); further REQs are rejected (reason 3) and make no record.
  std::uint32_t listen_backlog = 256;
  std::uint32_t max_connections = 16384;   // CM records per device, time-wait included
  // Communication IDs, transaction IDs and PSNs come from getrandom(2). A nonzero seed makes them a
  // reproducible sequence instead: for tests and replays only, never for a network with peers.
  std::uint64_t seed = 0;
};

struct ConnectParams {
  Address remote;                          // IP (GID form) and port
  std::optional<wire::Ipv6Addr> local_ip;  // default: the device's first address of that family
  std::uint16_t local_port = 0;            // source port in the IP header (0: chosen)
  std::span<const std::byte> private_data;  // at most 56 bytes
  std::uint8_t responder_resources = 16;    // IRD we offer
  std::uint8_t initiator_depth = 16;        // ORD we want
  std::uint8_t retry_count = 7;
  std::uint8_t rnr_retry = 7;
  std::uint32_t path_mtu = 0;  // 0: the device's active MTU
};

struct AcceptParams {
  std::span<const std::byte> private_data;  // at most 196 bytes
  std::uint8_t responder_resources = 16;
  std::uint8_t initiator_depth = 16;
  std::uint8_t rnr_retry = 7;
  std::uint8_t retry_count = 7;
};

#define SOFTRNIC_CM_COUNTERS(X)                                                        \
  X(rx_mads)            /* MADs received on QP1 */                                    \
  X(tx_mads)            /* MADs handed to QP1 (first sends and resends) */             \
  X(rx_malformed)       /* not a CM MAD we can read: short, wrong class/version/method */ \
  X(rx_unsupported)     /* CM attributes not handled (SIDR, LAP, APR, ClassPortInfo) */ \
  X(rx_stray)           /* a message for no connection, or one in the wrong state */   \
  X(rx_duplicate)       /* duplicate REQ/REP/DREQ, answered from the saved state */    \
  X(retransmits)        /* REQ/REP/DREQ resent after a timeout */                      \
  X(timeouts)           /* handshakes or disconnects that ran out of retries */       \
  X(no_listener)        /* REQs rejected with reason 8 */                             \
  X(stale_rejected)     /* REQs rejected as stale connections (reason 10) */          \
  X(mtu_rejected)       /* REQs rejected for their path MTU (reason 26) */            \
  X(rej_sent)                                                                         \
  X(rej_received)                                                                     \
  X(mra_sent)                                                                         \
  X(mra_received)                                                                     \
  X(established)                                                                      \
  X(disconnected)                                                                     \
  X(resolve_failed)     /* peers whose MAC never resolved */                          \
  X(tx_backlog)         /* MADs that waited for a send slot */                        \
  X(tx_dropped)         /* MADs dropped: the pending queue was full */              \
  X(tx_unbound_dropped) /* answers to no connection dropped: too many wait for a MAC */ \
  X(backlog_full)       /* REQs rejected (reason 3): the listener's backlog was full */ \
  X(records_full)       /* REQs rejected (reason 3), connect()s refused: records full */ \
  X(ip_header_mismatch) /* REQs whose private-data IP header is not the packet's (REJ 12) */ \
  X(rx_wrong_peer)      /* messages for a connection not from its peer (address, */ \
                        /* comm ID, QPN): dropped */                                    \
  X(timeout_clamped)    /* REQs and MRAs whose timeouts asked for more than the bounds */

enum class CmCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_CM_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
      count_
};
std::string_view counter_name(CmCounter c);

class ConnectionManager {
 public:
  // Creates QP1 on the device (one per device) with its buffers, and brings it to RTS.
  [[nodiscard]] static Result<std::unique_ptr<ConnectionManager>> create(roce::Device& dev,
                                                                       CmConfig config = {});
  ~ConnectionManager();
  ConnectionManager(const ConnectionManager&) = delete;
  ConnectionManager& operator=(const ConnectionManager&) = delete;

  // A listener per (address, port); address all-zero listens on every address of the device.
  // backlog: requests held until the owner answers them (0: CmConfig::listen_backlog).
  [[nodiscard]] Result<ListenerId> listen(const Address& local, Handler handler,
                                          std::uint32_t backlog = 0);
  [[nodiscard]] Result<void> stop_listening(ListenerId id);

  // Active side: qp (RC or UC, in RESET) will be connected to p.remote. Events go to handler.
  [[nodiscard]] Result<ConnId> connect(roce::Qp& qp, const ConnectParams& p, Handler handler);
  // Passive side, after a connect_request: qp (in RESET, the REQ's transport type) goes to RTS and
  // the REP is sent; later events of the connection go to handler.
  [[nodiscard]] Result<void> accept(ConnId id, roce::Qp& qp, const AcceptParams& p, Handler handler);
  [[nodiscard]] Result<void> reject(ConnId id, std::span<const std::byte> private_data = {});
  // DREQ with private data (at most 220 bytes). The QP is left as it is.
  [[nodiscard]] Result<void> disconnect(ConnId id, std::span<const std::byte> private_data = {});

  // Engine thread, after Device::poll(): QP1 completions, timers, event delivery.
  std::size_t poll();

  const Counters<CmCounter>& counters() const { return counters_; }
  std::size_t connection_count() const;  // records alive, time-wait included
  std::size_t queued_mads() const;       // MADs waiting for a neighbour or a send slot
  roce::Device& device() { return dev_; }

  struct Impl;

 private:
  explicit ConnectionManager(roce::Device& dev);
  roce::Device& dev_;
  Counters<CmCounter> counters_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace softrnic::cm
