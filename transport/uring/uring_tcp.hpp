// The stream transport over the kernel's TCP, driven by io_uring: what iWARP runs on. No TCP is
// written here; the kernel does it all, and this class moves bytes between each connection's
// buffers and its socket without ever blocking.
//
// Batching: write() and read() only copy into / out of the stream's buffers and mark it for
// service; poll() reaps completions, prepares the SQEs every marked stream and listener needs
// (connect, accept, send, receive, cancel) and hands them all to the kernel with one
// io_uring_submit. Each connection has at most one send and one receive in flight (a TCP stream
// keeps order only if they are not raced), each a sendmsg / recvmsg over the at most two pieces of
// its ring buffer, so nothing is allocated per send or receive.
//
// Buffers: a send ring (UringTcpConfig::send_buffer_bytes) and a receive ring
// (recv_buffer_bytes) per connection, each made at 16 KiB when the stream is made and doubled
// towards its size as data needs it (the send ring keeps its old buffers until the send in flight
// completes; the receive ring grows only between receives): a peer that opens connections and
// moves nothing costs kilobytes each. write() takes what fits
// (fewer bytes, down to 0, is backpressure); a receive is kept posted whenever the receive ring
// has room, so a reader that stops reading stops the peer through TCP's own window.
//
// Connections: connect() is IORING_OP_CONNECT (the stream is `connecting` until it completes);
// listeners use multishot accept where the kernel has it (5.19+), else one accept re-armed after
// each completion. Accepted sockets wait in the listener (at most listen_backlog of them, beyond
// that they are closed) until accept() makes a stream of one; only then are its buffers allocated.
//
// Closing: close() sends what is queued, then shutdown(SHUT_WR) (FIN), then keeps reading and
// discarding until the peer's FIN (or linger_ms), and only then closes the socket: closing a
// socket with unread data would reset the connection instead. abort() sets SO_LINGER 0, cancels
// what is in flight and closes: the peer sees RST. Destroying a stream that was not closed closes
// it the orderly way (its queued bytes still go); one still connecting is abandoned.
//
// Lifetime: the records the kernel's completions refer to (buffers, msghdrs) belong to the
// transport, shared with the stream handle, and are freed only once their socket is closed and
// every completion has been reaped; io_uring user_data carries a slot index and a generation, so a
// stale completion never reaches a reused slot. Destroying the transport cancels everything in
// flight, waits for the completions, closes every socket, and leaves surviving stream handles
// `failed` ("the transport was destroyed") with their received bytes still readable.
//
// Single-threaded: one engine thread makes, polls and uses the transport and its streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/stream.hpp"

namespace softrnic::transport {

struct UringTcpConfig {
  std::size_t send_buffer_bytes = 4 << 20;  // per stream
  std::size_t recv_buffer_bytes = 1 << 20;  // per stream
  std::uint32_t ring_depth = 512;           // submission queue entries
  int listen_backlog = 128;                 // also the most accepted sockets waiting for accept()
  int socket_buffer_bytes = 0;              // SO_SNDBUF/SO_RCVBUF; 0 keeps the kernel's autotuning
  std::uint32_t linger_ms = 2000;           // how long a closed stream waits for the peer's FIN
  bool multishot_accept = true;             // false: one accept re-armed each time (old kernels)
};

#define SOFTRNIC_URING_TCP_COUNTERS(X)                                                  \
  X(connects)         /* connect() calls that reached the kernel */                     \
  X(connected)        /* connects that completed */                                     \
  X(connect_failures) /* connects refused, unreachable, timed out */                    \
  X(accepted)         /* streams handed out by accept() */                              \
  X(accept_dropped)   /* accepted sockets closed because backlog of them was waiting */ \
  X(accept_errors)    /* accept completions with an error */                            \
  X(accept_arms)      /* accepts (multishot or single) submitted */                     \
  X(send_ops)         /* sendmsg completions with bytes */                              \
  X(send_bytes)       /* bytes the kernel took */                                       \
  X(recv_ops)         /* recvmsg completions with bytes */                              \
  X(recv_bytes)       /* bytes received */                                              \
  X(peer_fins)        /* end of stream from the peer */                                 \
  X(stream_errors)    /* established streams failed (reset, timeout, ...) */            \
  X(orderly_closes)   /* sockets closed after FIN both ways */                          \
  X(aborts)           /* sockets closed abortively (abort(), errors, linger timeout) */ \
  X(linger_timeouts)  /* closed streams whose peer never sent FIN within linger_ms */   \
  X(cancels)          /* cancel requests submitted */                                   \
  X(sq_full)          /* submission queue full: submitted early to make room */         \
  X(submits)          /* io_uring_submit calls */

enum class UringTcpCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_URING_TCP_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
      count_
};
std::string_view counter_name(UringTcpCounter c);

class UringTcpTransport final : public StreamTransport {
 public:
  // Fails with Errc::unsupported when io_uring is unavailable (old kernel, seccomp,
  // kernel.io_uring_disabled), invalid_argument on a configuration that cannot work.
  [[nodiscard]] static Result<std::unique_ptr<UringTcpTransport>> create(
      const UringTcpConfig& config = {});

  UringTcpTransport(const UringTcpTransport&) = delete;
  UringTcpTransport& operator=(const UringTcpTransport&) = delete;
  ~UringTcpTransport() override;

  // Port 0 picks a free port: the listener's local() tells which.
  [[nodiscard]] Result<std::unique_ptr<StreamListener>> listen(
      const StreamEndpoint& local) override;
  [[nodiscard]] Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote,
                                                        const StreamEndpoint& local = {}) override;
  std::size_t poll() override;

  const Counters<UringTcpCounter>& counters() const;
  const UringTcpConfig& config() const;
  // Sockets still open: streams, listeners, and closed streams still sending or lingering.
  std::size_t open_sockets() const;
  // io_uring operations whose completion has not been reaped yet.
  std::size_t in_flight() const;
  // Whether listeners use multishot accept (false after the kernel refused it).
  bool uses_multishot_accept() const;
  // The io_uring's own fd: readable while completions (bytes, accepts, connects) wait to be
  // reaped by poll(); for an engine thread that sleeps while idle.
  int wait_fd() const;

  struct Core;  // the ring and every connection record (uring_tcp.cpp)

 private:
  explicit UringTcpTransport(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

}  // namespace softrnic::transport
