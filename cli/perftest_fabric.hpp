// The perftest dialect's view of one device, RoCEv2 or iWARP: QPs with one CQ each, a protection
// domain, and the two ways to connect them — the out-of-band keys (RoCEv2 only: INIT/RTR/RTS from
// the peer's QPN, PSN and GID) or the connection manager (-R; the only way on iWARP). Everything
// is polled on the caller's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "cm/connection_manager.hpp"
#include "perftest_oob.hpp"
#include "roce/wr.hpp"
#include "verbs/cq.hpp"
#include "verbs/memory.hpp"

namespace softrnic::roce {
class Device;
}
namespace softrnic::iwarp {
class Device;
}

namespace softrnic::cli::perftest {

class Fabric {
 public:
  virtual ~Fabric() = default;
  // poll_all: one round of every device of the process (and so of their control sockets).
  static Result<std::unique_ptr<Fabric>> roce(roce::Device& dev, std::function<void()> poll_all);
  static Result<std::unique_ptr<Fabric>> iwarp(iwarp::Device& dev, std::vector<wire::Ipv6Addr> gids,
                                               std::function<void()> poll_all);

  virtual bool is_iwarp() const = 0;
  virtual verbs::MemoryTable& memory() = 0;
  virtual verbs::PdHandle pd() const = 0;
  // A new RC QP with its own CQ; returns its index.
  [[nodiscard]] virtual Result<int> create_qp(std::uint32_t sq_depth, std::uint32_t rq_depth) = 0;
  virtual std::uint32_t qpn(int qp) const = 0;
  virtual verbs::Cq& cq(int qp) = 0;
  [[nodiscard]] virtual Result<void> post_send(int qp, const roce::SendWr& w) = 0;
  [[nodiscard]] virtual Result<void> post_recv(int qp, const roce::RecvWr& w) = 0;
  virtual void poll() = 0;
  // The device's addresses in GID form (the GID table as -x indexes it).
  virtual std::vector<wire::Ipv6Addr> gids() const = 0;
  virtual std::uint32_t active_mtu(bool ipv6) const = 0;
  // RoCEv2 without -R: INIT -> RTR -> RTS toward the peer.
  [[nodiscard]] virtual Result<void> connect_direct(int qp, const wire::Ipv6Addr& local_gid,
                                                    const Dest& peer, std::uint32_t my_psn,
                                                    std::uint32_t pmtu, std::uint8_t rd_atomic) = 0;
  // Connection manager (-R).
  [[nodiscard]] virtual Result<cm::ListenerId> listen(const cm::Address& a, cm::Handler h) = 0;
  virtual void stop_listening(cm::ListenerId id) = 0;
  [[nodiscard]] virtual Result<cm::ConnId> connect(int qp, const cm::ConnectParams& p,
                                                   cm::Handler h) = 0;
  [[nodiscard]] virtual Result<void> accept(cm::ConnId id, int qp, const cm::AcceptParams& p,
                                            cm::Handler h) = 0;
  virtual void reject(cm::ConnId id) = 0;
  virtual void disconnect(cm::ConnId id) = 0;
};

// Connections through the CM, as perftest's -R makes them: the client connects (retrying a
// rejected or failed attempt up to 10 times, 100 ms apart, as rdma_cm clients of perftest do while
// the server is not listening yet); the server takes connect requests on its listener in order.
class CmLink {
 public:
  CmLink(Fabric& f, std::chrono::milliseconds timeout, std::function<bool()> stop)
      : f_(f), timeout_(timeout), stop_(std::move(stop)) {}
  ~CmLink();
  [[nodiscard]] Result<void> listen(const cm::Address& a);
  // Server: the next request, accepted on qp (waits up to `wait`, zero: until stop()).
  [[nodiscard]] Result<void> accept_next(int qp, std::uint8_t rd_atomic,
                                         std::chrono::milliseconds wait);
  [[nodiscard]] Result<void> connect(int qp, const cm::Address& remote,
                                     const std::optional<wire::Ipv6Addr>& local,
                                     std::uint8_t rd_atomic);
  // Waits (polling) until the peer has disconnected every connection, at most `grace`: the side
  // whose message was the last one lets the peer finish with it first. A peer whose stack still
  // completes its own last Send when the connection goes (siw flushes a Send in progress with
  // LOC_QP_OP_ERR) would otherwise fail a run that succeeded.
  void await_peer_disconnect(std::chrono::milliseconds grace);
  void disconnect_all();

 private:
  struct Waiter {
    bool established = false;
    bool failed = false;
    bool disconnected = false;
    std::string problem;
  };
  Result<void> wait_for(Waiter& w, std::chrono::milliseconds limit);

  Fabric& f_;
  std::chrono::milliseconds timeout_;
  std::function<bool()> stop_;
  cm::ListenerId listener_ = 0;
  std::deque<cm::CmEvent> requests_;
  std::vector<cm::ConnId> conns_;
  std::vector<const Waiter*> conn_waiters_;       // conns_[i]'s
  std::vector<std::unique_ptr<Waiter>> waiters_;  // kept: handlers may still fire
};

// The -R control channel: one RC QP connected through the CM, each message one Send, with a few
// 56-byte receives kept posted.
class CmChannel final : public Channel {
 public:
  // qp must be connected (or about to be: receives are posted at creation).
  static Result<std::unique_ptr<CmChannel>> create(Fabric& f, int qp,
                                                   std::chrono::milliseconds timeout);
  // Posts the receives create() could not post before the QP was connected.
  [[nodiscard]] Result<void> ready();
  Result<void> write(std::span<const std::byte> m) override;
  Result<void> read(std::span<std::byte> m) override;
  bool over_cm() const override { return true; }

 private:
  CmChannel(Fabric& f, int qp, std::chrono::milliseconds timeout) : f_(f), qp_(qp), timeout_(timeout) {}
  Result<void> post_slot(std::size_t slot);
  static constexpr std::size_t kSlots = 4;
  static constexpr std::size_t kSlotBytes = 64;
  Fabric& f_;
  int qp_;
  std::chrono::milliseconds timeout_;
  std::vector<std::byte> buf_ = std::vector<std::byte>((kSlots + 1) * kSlotBytes);
  std::uint32_t key_ = 0;
  bool posted_ = false;
  std::string error_;  // a failed completion, reported once no message is left to read
  std::deque<std::pair<std::size_t, std::uint32_t>> arrived_;  // slot, length
};

}  // namespace softrnic::cli::perftest
