// Inside the io_uring stream transport (see uring_tcp.hpp): the records the kernel's completions
// refer to, the core that owns the ring and a slot table of records, and the handles users hold.
// Only uring_tcp*.cpp include this.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "stream/byte_ring.hpp"
#include "uring/tcp_socket.hpp"
#include "uring/uring_tcp.hpp"

namespace softrnic::transport::uring_tcp {

// What an SQE does; the low byte of its user_data.
enum class Op : std::uint8_t { connect = 1, send, recv, accept, cancel };

struct Rec {
  enum class Kind : std::uint8_t { stream, listener };
  explicit Rec(Kind k) : kind(k) {}
  virtual ~Rec() = default;

  Kind kind;
  int fd = -1;
  std::uint32_t slot = 0;
  std::uint32_t gen = 0;
  std::uint32_t in_flight = 0;  // operations whose last completion is not reaped yet
  bool handle_alive = true;     // the user still holds the stream or listener
  bool queued = false;          // on the core's work list
  bool teardown = false;        // cancel what is in flight, then close the socket
  bool cancel_sent = false;
  UringTcpTransport::Core* core = nullptr;  // null once the transport is gone
};

struct ConnRec final : Rec {
  // The rings start at kInitialRing bytes and grow towards the configured sizes as data needs
  // them: a connection that only exchanges MPA frames (or is opened and left) costs kilobytes.
  static constexpr std::size_t kInitialRing = 16 << 10;
  ConnRec(std::size_t send_bytes, std::size_t recv_bytes)
      : Rec(Kind::stream), tx(kInitialRing, send_bytes), rx(kInitialRing, recv_bytes) {}

  Stream::State state = Stream::State::connecting;
  std::string error;
  StreamFailure failure = StreamFailure::none;
  StreamEndpoint local;
  StreamEndpoint peer;
  std::uint32_t mss = 536;
  ByteRing tx;
  ByteRing rx;
  // Read by the kernel while the matching operation is in flight.
  tcp_socket::SockAddr remote_addr;
  msghdr send_msg{};
  std::array<iovec, 2> send_iov{};
  msghdr recv_msg{};
  std::array<iovec, 2> recv_iov{};
  bool connect_in_flight = false;
  bool send_in_flight = false;
  bool recv_in_flight = false;
  bool eof = false;         // the peer's FIN has arrived
  bool closing = false;     // close(): send what is queued, FIN, wait for the peer's FIN
  bool discard_rx = false;  // closed here: whatever arrives is dropped
  bool wr_shut = false;     // our FIN is out
  std::chrono::steady_clock::time_point linger_deadline{};
};

struct ListenRec final : Rec {
  ListenRec() : Rec(Kind::listener) {}
  StreamEndpoint local;
  std::deque<int> waiting;  // accepted sockets accept() has not taken yet
  bool accept_in_flight = false;
  bool multishot = false;  // the accept in flight is a multishot one
};

}  // namespace softrnic::transport::uring_tcp

namespace softrnic::transport {

struct UringTcpTransport::Core {
  using Rec = uring_tcp::Rec;
  using ConnRec = uring_tcp::ConnRec;
  using ListenRec = uring_tcp::ListenRec;
  using Op = uring_tcp::Op;

  explicit Core(const UringTcpConfig& c) : config(c) {}
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  ~Core();

  [[nodiscard]] Result<void> open();

  // Records: a slot and a generation each, for as long as the kernel may refer to them.
  [[nodiscard]] Result<void> add(const std::shared_ptr<Rec>& r);
  void queue(Rec& r);

  // What the handles ask for.
  [[nodiscard]] Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote,
                                                        const StreamEndpoint& local);
  [[nodiscard]] Result<std::unique_ptr<StreamListener>> listen(const StreamEndpoint& local);
  std::unique_ptr<Stream> accept_from(ListenRec& l);
  void room_freed(ConnRec& c);
  void close_stream(ConnRec& c);
  void abort_stream(ConnRec& c);
  void release_stream(ConnRec& c);
  void release_listener(ListenRec& l);

  std::size_t poll();

  UringTcpConfig config;
  Counters<UringTcpCounter> counters;
  std::size_t open_sockets = 0;
  std::size_t in_flight = 0;
  bool multishot_ok = true;
  int ring_fd() const { return ring_.ring_fd; }

 private:
  struct Slot {
    std::shared_ptr<Rec> rec;
    std::uint32_t gen = 0;
  };

  static std::uint64_t key(const Rec& r, Op op) {
    return (std::uint64_t{r.gen} << 32) | (std::uint64_t{r.slot} << 8) |
           static_cast<std::uint8_t>(op);
  }
  Rec* lookup(std::uint64_t user_data) const;
  void release(Rec& r);

  io_uring_sqe* get_sqe();
  void prepared(Rec& r, io_uring_sqe* sqe, Op op);
  bool submit();
  std::size_t reap();
  void on_cqe(std::uint64_t user_data, std::int32_t res, std::uint32_t flags);
  void on_connect(ConnRec& c, std::int32_t res);
  void on_send(ConnRec& c, std::int32_t res);
  void on_recv(ConnRec& c, std::int32_t res);
  void on_accept(ListenRec& l, std::int32_t res, bool last);
  void fail(ConnRec& c, const char* what, int err);

  std::size_t service_queued();
  void service(Rec& r);
  void service_stream(ConnRec& c);
  void service_listener(ListenRec& l);
  bool cancel_in_flight(Rec& r);
  void close_socket(Rec& r, bool orderly);
  void check_linger();

  io_uring ring_{};
  bool ring_ready_ = false;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint64_t> work_;       // keys of records to service at the next poll()
  std::vector<std::uint64_t> servicing_;  // the list being serviced (swapped with work_)
  std::uint32_t sqes_pending_ = 0;
  std::size_t closing_ = 0;  // streams closed here whose socket is still open
  std::chrono::steady_clock::time_point next_linger_check_{};
};

}  // namespace softrnic::transport
