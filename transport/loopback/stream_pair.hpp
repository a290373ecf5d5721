// Two connected in-memory streams for engine tests: what one writes the other reads, with the
// Stream interface's states and backpressure, and no kernel, threads or timing involved.
//
// Each end has a send buffer and a receive buffer of the configured sizes. Bytes move from one
// end's send buffer into the other's receive buffer as far as it has room, on every call on either
// stream (there is no poll()); write() takes only what fits in the send buffer, so a reader that
// stops reading makes the writer see backpressure once both buffers are full, as with TCP.
// read() can be told to return at most max_read bytes per call, or a seeded random 1..max_read,
// so a receiver meets the stream split at arbitrary points.
//
// Closing, as the kernel transport does it: close() lets the queued bytes go, then the peer sees
// peer_closed once it has received them all (and can still read them); bytes sent to an end that
// was closed are dropped. abort() drops this end's queued bytes and the peer fails at once ("recv
// from <addr>: Connection reset by peer"), keeping what it had already received. Destroying a
// stream that was not closed closes it. Either stream may outlive the other and the pair object.
//
// Faults from outside the two streams (inject_*): a reset or a FIN as if the given end's kernel
// had sent one, while that end's user did nothing.
//
// Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/stream.hpp"
#include "wire/ip.hpp"

namespace softrnic::transport {

struct StreamPairConfig {
  std::size_t send_buffer_bytes = 256 << 10;  // per end
  std::size_t recv_buffer_bytes = 256 << 10;  // per end
  std::size_t max_read = 0;  // 0: read() returns all it can; else at most this many per call
  std::uint64_t seed = 0;    // with max_read: each read() returns a random 1..max_read (seeded)
  std::uint32_t mss = 1460;  // what mss() reports
  StreamEndpoint a_endpoint{wire::ipv4_mapped({127, 0, 0, 1}), 40001};
  StreamEndpoint b_endpoint{wire::ipv4_mapped({127, 0, 0, 1}), 40002};
};

enum class StreamSide : std::uint8_t { a, b };

class StreamPair {
 public:
  struct Link;  // both ends' buffers and states (stream_pair.cpp)

  std::unique_ptr<Stream> a;
  std::unique_ptr<Stream> b;

  // As if `from`'s kernel reset the connection: `from` fails ("connection to <peer>: reset
  // injected"), the other end fails as after abort(); bytes in transit are dropped both ways,
  // bytes already received stay readable.
  void inject_reset(StreamSide from);
  // As if `from` shut down its sending side (shutdown(SHUT_WR)): after its queued bytes the other
  // end sees peer_closed; `from` stays open to read but write() takes nothing more.
  void inject_fin(StreamSide from);
  // Bytes delivered from `from`'s send buffer into the other end's receive buffer.
  std::uint64_t moved(StreamSide from) const;

  std::shared_ptr<Link> link;
};

// Fails only on a configuration that cannot work (empty buffers).
[[nodiscard]] Result<StreamPair> make_stream_pair(const StreamPairConfig& config = {});

}  // namespace softrnic::transport
