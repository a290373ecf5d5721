// Reliable byte streams (TCP connections) as the engine sees them: the transport beside the
// frame-oriented Port that iWARP runs on. Everything is non-blocking and polled from the engine
// thread; implementations (kernel TCP through io_uring, an in-memory pair for tests) live in
// transport/.
//
// Bytes written are taken into the stream's send buffer (write() returns how many: fewer than
// asked, down to 0, is backpressure) and leave in order; bytes received wait in its receive buffer
// until read(). A stream never splits or merges anything on purpose, but the receiver must accept
// any split: TCP keeps no message boundaries.
#pragma once

#include <cstddef>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "wire/ip.hpp"

namespace softrnic {

// An IP endpoint; the address as a GID (IPv4 as ::ffff:a.b.c.d), all zeros = any (listen only).
struct StreamEndpoint {
  wire::Ipv6Addr ip{};
  std::uint16_t port = 0;
  bool operator==(const StreamEndpoint&) const = default;
};
std::string to_string(const StreamEndpoint& e);

// Why a stream failed, for programs; Stream::error() says it for people.
enum class StreamFailure : std::uint8_t {
  none,
  refused,      // nothing listens there (ECONNREFUSED: the peer answered the SYN with a RST)
  unreachable,  // no route to the peer (EHOSTUNREACH, ENETUNREACH)
  timed_out,    // no answer (ETIMEDOUT)
  reset,        // an open connection was reset (ECONNRESET, EPIPE)
  other,
};
// The failure an errno value names.
constexpr StreamFailure stream_failure_of(int err) {
  switch (err) {
    case 0: return StreamFailure::none;
    case ECONNREFUSED: return StreamFailure::refused;
    case EHOSTUNREACH:
    case ENETUNREACH: return StreamFailure::unreachable;
    case ETIMEDOUT: return StreamFailure::timed_out;
    case ECONNRESET:
    case EPIPE: return StreamFailure::reset;
    default: return StreamFailure::other;
  }
}

class Stream {
 public:
  enum class State : std::uint8_t {
    connecting,  // connect() in progress
    open,
    peer_closed,  // the peer closed its side (FIN); what was received can still be read
    closed,       // close() or abort() was called here
    failed,       // connection refused, reset, timed out: error() says which
  };

  virtual ~Stream() = default;
  // Takes up to data.size() bytes into the send buffer; returns how many (0: full, or not open).
  virtual std::size_t write(ConstByteSpan data) = 0;
  // Moves up to out.size() received bytes into out; returns how many (0: nothing waiting).
  virtual std::size_t read(ByteSpan out) = 0;
  // Bytes waiting to be read.
  virtual std::size_t readable() const = 0;
  // Bytes taken by write() and not yet handed to the network.
  virtual std::size_t unsent() const = 0;
  virtual State state() const = 0;
  // Why the stream failed (empty otherwise), e.g. "connect to 198.18.0.2:4791: Connection refused".
  virtual std::string error() const = 0;
  // The same as a kind (StreamFailure::none unless state() is failed).
  virtual StreamFailure failure() const = 0;
  // Orderly close once the queued bytes are sent (TCP FIN).
  virtual void close() = 0;
  // Abortive close: queued bytes are dropped and the peer sees a reset (TCP RST).
  virtual void abort() = 0;
  virtual StreamEndpoint local() const = 0;
  virtual StreamEndpoint peer() const = 0;
  // The largest segment the path carries (TCP MSS): iWARP sizes its FPDUs to it.
  virtual std::uint32_t mss() const = 0;
};

class StreamListener {
 public:
  virtual ~StreamListener() = default;
  // A connection that has arrived, or nullptr when none is waiting.
  virtual std::unique_ptr<Stream> accept() = 0;
  virtual StreamEndpoint local() const = 0;
};

class StreamTransport {
 public:
  virtual ~StreamTransport() = default;
  [[nodiscard]] virtual Result<std::unique_ptr<StreamListener>> listen(const StreamEndpoint& local) = 0;
  // Starts a connection; the stream is `connecting` until the handshake ends (open or failed).
  [[nodiscard]] virtual Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote,
                                                                const StreamEndpoint& local = {}) = 0;
  // One round of I/O for every stream and listener of this transport (one submission for all of
  // them where the implementation batches). Returns how much work was done (0 = idle).
  virtual std::size_t poll() = 0;
};

}  // namespace softrnic
