// One MS-SMBD connection over one NDK QP: its NDK objects, the credits, the send queue with
// fragmentation, reassembly and validation of what arrives, keep-alives, and the teardown. The
// client and server (client_link.cpp, server_link.cpp) add the negotiation and the request layer
// through the virtual hooks, which run with the connection's lock held.
//
// Locking: mu_ guards every protocol field. It is taken by the CQ and disconnect callbacks (the
// engine's completion context), by the consumer thread and by the timer thread, each time for a
// short section that posts work requests at most. NDK control calls (disconnect, close, ...) are
// never made with mu_ held: a provider running such a call inline may wait for its engine
// thread, which may be about to enter one of our callbacks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ndk_call.hpp"
#include "smbd/smbd.hpp"
#include "smbd/wire.hpp"

namespace smbd::detail {

using SteadyClock = std::chrono::steady_clock;

// What a work request was, carried in its RequestContext: the kind in the top byte, an index.
enum class WrKind : std::uint8_t {
  receive = 1,
  send = 2,
  fast_register = 3,
  invalidate = 4,
  rdma_read = 5,
  rdma_write = 6
};
inline PVOID wr_context(WrKind kind, std::uint32_t index) {
  return reinterpret_cast<PVOID>((static_cast<std::uintptr_t>(kind) << 56) | index);
}
inline WrKind wr_kind(PVOID ctx) {
  return static_cast<WrKind>(reinterpret_cast<std::uintptr_t>(ctx) >> 56);
}
inline std::uint32_t wr_index(PVOID ctx) {
  return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(ctx) & 0xffffffffu);
}

// A buffer registered with NdkRegisterMr through an MDL.
struct Registered {
  NDK_MR* mr = nullptr;
  MDL* mdl = nullptr;
  UINT32 token = 0;
};

class Link {
 public:
  enum class Role { client, server };
  Link(Role role, const Config& cfg, Ledger& ledger, NDK_ADAPTER* adapter,
       const NDK_ADAPTER_INFO& info);
  virtual ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Consumer thread: PD, CQ, QP, send and receive buffers, receives posted, the role's extras.
  [[nodiscard]] Failure create_resources();
  // Server: the connector this Link answers (set before anything can fail, so it is closed).
  void adopt_connector(NDK_CONNECTOR* connector) { connector_ = connector; }
  // Client: connect to dst, complete the connection and send the Negotiate Request.
  [[nodiscard]] Failure connect(const SOCKADDR* dst, ULONG dst_len);
  // Server: accept the connector a listener handed over (already counted in the ledger).
  [[nodiscard]] Failure accept(NDK_CONNECTOR* connector);
  // Waits (bounded) for the negotiation to finish; its failure otherwise.
  [[nodiscard]] Failure wait_negotiated(std::chrono::milliseconds limit);
  bool wait_down(std::chrono::milliseconds limit);
  // Timer thread: keep-alives and timeouts.
  void tick(SteadyClock::time_point now);
  // Consumer thread: NdkDisconnect, drain, close every object (5.1 step 5). Idempotent. Returns
  // false when a provider callback is still owed, so the Link must never be freed.
  bool shutdown(Failure& teardown);
  ConnectionInfo info() const;
  // Test hook: the bytes as one message.
  [[nodiscard]] Failure send_raw(std::span<const std::byte> message);

 protected:
  enum class State { setup, negotiating, established, down };

  // Role hooks, called with mu_ held.
  [[nodiscard]] virtual Failure create_extra() { return {}; }
  // Send-queue entries the role needs besides the sends (fast-register, invalidate, RDMA).
  virtual std::uint32_t extra_sq_depth() const { return 0; }
  virtual void close_extra(CloseBatch&) {}
  virtual void after_close() {}
  // The connection is up and sends may flow (client: sends the Negotiate Request).
  virtual void on_connected_locked() {}
  virtual void on_negotiate_locked(std::span<const std::byte> message) = 0;
  virtual void on_message_locked(std::vector<std::byte> message) = 0;
  virtual void on_work_locked(const NDK_RESULT_EX&) {}
  virtual void on_established_locked() {}

  // ---- for the roles (mu_ held) ----
  void fail_locked(NTSTATUS status, std::string message);
  // A completion's failure; CANCELLED after the connection went down is expected, not a failure.
  void completion_failed_locked(NTSTATUS status, const char* what);
  // Queues an upper-layer message (fragmented as needed) and sends what credits allow.
  void enqueue_locked(std::vector<std::byte> message, std::optional<UINT32> invalidate = {});
  // Sends bytes as one message outside the credit scheme (negotiation); false on failure.
  bool send_unaccounted_locked(std::span<const std::byte> message);
  void pump_locked();
  // The negotiation settled: the credits each side starts with, then data transfer may flow.
  void negotiated_locked(const Negotiated& p, std::uint32_t send_credits,
                         std::uint32_t peer_credits);
  // The credits a Negotiate Response grants, for a peer asking for `peer_target`.
  std::uint32_t negotiate_grant_locked(std::uint16_t peer_target);
  // After unlocking: starts the disconnect a failure asked for.
  void after_unlock();
  bool sq_room_locked() const { return sq_outstanding_ < sq_depth_; }
  // Posts one send-queue work request; counts it, or fails the connection with its status.
  template <class Fn>
  bool post_sq_locked(const char* what, Fn&& post) {
    const NTSTATUS st = post();
    if (st != STATUS_SUCCESS) {
      fail_locked(st, std::string(what) + " failed inline");
      return false;
    }
    ++sq_outstanding_;
    return true;
  }
  [[nodiscard]] NTSTATUS register_buffer(std::span<std::byte> buffer, ULONG flags, Registered& out);
  static void close_mr(CloseBatch& batch, Registered& r) { batch.close(r.mr); }
  static void free_mdl(Registered& r);
  std::chrono::milliseconds control_limit() const { return cfg_.control_timeout; }

  const Role role_;
  const Config cfg_;
  Ledger& ledger_;
  NDK_ADAPTER* const adapter_;
  const NDK_ADAPTER_INFO adapter_info_;
  NDK_PD* pd_ = nullptr;
  NDK_CQ* cq_ = nullptr;
  NDK_QP* qp_ = nullptr;
  NDK_CONNECTOR* connector_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::setup;
  Failure failure_;
  Negotiated params_;
  Counters counters_;
  SteadyClock::time_point negotiate_deadline_{};
  // Tokens the peer invalidated (ReceiveAndInvalidate), not yet claimed by the request layer.
  std::vector<UINT32> invalidated_;
  std::uint32_t sq_depth_ = 0;
  std::uint32_t sq_outstanding_ = 0;
  // Set once a failure should end the connection; the disconnect starts after unlocking.
  bool want_disconnect_ = false;
  // Fail the connection once every send has completed (a reply that must go out first).
  std::optional<Failure> fail_when_sent_;

 private:
  struct OutMessage {
    std::vector<std::byte> data;
    std::size_t sent = 0;
    std::optional<UINT32> invalidate;
    bool raw = false;  // a test message, sent as it is
  };

  static void on_cq(PVOID ctx, NTSTATUS cq_status);
  static void on_peer_disconnect(PVOID ctx);
  static void on_disconnect_done(PVOID ctx, NTSTATUS status);
  void drain(NTSTATUS cq_status);
  void on_completion_locked(const NDK_RESULT_EX& r);
  void on_receive_locked(const NDK_RESULT_EX& r);
  bool post_receive_locked(std::uint32_t slot);
  std::uint32_t grantable_locked(bool spending_last_credit) const;
  // Whether a message can go now; *grant is what it would grant.
  bool can_send_locked(std::uint32_t* grant, bool needs_grant_to_matter) const;
  bool send_data_locked(std::span<const std::byte> payload, std::uint32_t remaining,
                        std::uint16_t flags, std::optional<UINT32> invalidate);
  void start_disconnect();
  void disconnect_finished(NTSTATUS status);
  void open_sends_locked();
  Failure connect_handshake(const SOCKADDR* dst, ULONG dst_len);
  bool post_unaccounted_locked(std::span<const std::byte> message);
  void close_registered(CloseBatch& batch, Registered& r);

  std::vector<std::byte> recv_buffer_, send_buffer_;
  Registered recv_reg_, send_reg_;
  std::uint32_t recv_slots_ = 0, recv_size_ = 0, send_slots_ = 0, send_size_ = 0;
  std::vector<std::uint32_t> free_sends_;
  std::uint32_t posted_receives_ = 0;
  // MS-SMBD 3.1.1.1 credit state.
  std::uint32_t send_credits_ = 0;  // what we may still send
  std::uint32_t peer_credits_ = 0;  // what the peer may still send us (granted, not yet used)
  std::uint16_t receive_credit_target_ = 1;
  bool stalled_ = false;
  bool response_requested_ = false;  // the peer set SMB_DIRECT_RESPONSE_REQUESTED
  bool keepalive_wanted_ = false, keepalive_outstanding_ = false;
  SteadyClock::time_point last_received_{};
  std::deque<OutMessage> outq_;
  std::vector<std::byte> reassembly_;
  std::uint32_t reassembly_remaining_ = 0;
  bool connected_ = false;  // the connector came up (there is something to drain)
  // NdkConnect..NdkCompleteConnect or NdkAccept is running: a failure meanwhile disconnects
  // once it has returned (a disconnect must not race the handshake's own completion).
  bool handshaking_ = false;
  // Sends may be posted: the client completed the connection, or the server's NdkAccept
  // completed (a RoCE QP takes sends only then). Negotiation messages wait here until then.
  bool sends_open_ = false;
  std::vector<std::vector<std::byte>> held_unaccounted_;
  bool closing_ = false;
  bool shut_down_ = false;
  std::atomic<bool> disconnect_started_{false};
  bool disconnect_done_ = false;  // under mu_
};

}  // namespace smbd::detail
