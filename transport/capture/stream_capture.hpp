// A StreamTransport decorator that records an iWARP device's TCP byte streams in a capture file
// as Ethernet/IP/TCP frames, so that tshark and `softrnic decode` show the MPA, DDP and RDMAP
// traffic of a device that runs on kernel TCP. The engine never sees the kernel's segments, so
// the frames are made up from the bytes: a SYN / SYN-ACK / ACK when a stream opens, the bytes
// each write() hands to the stream and each read() takes from it as segments of at most the
// stream's MSS (sequence numbers counting each direction's bytes from 1 after the SYN), a FIN
// when either side closes, a RST on abort(). MACs are fixed made-up values; IP and TCP checksums
// are computed. In pcapng every such frame carries the comment kSynthesizedComment (plain pcap
// has no comments). A segment shows bytes when a whole FPDU has been written or read, not when
// the kernel moved them.
//
// Idle (nothing written, one branch per call) until set_sink() gives it a capture sink
// (capture_sink.hpp, whose writer thread writes the file); a capture started mid-connection shows
// that connection from its next bytes on, without a handshake. A frame that finds the sink's
// ring full is left out and counted. The wrapped transport must outlive the decorator and every
// stream it made. Threads: one (the engine's), like the streams themselves. Capturing copies
// each segment into a buffer made at construction, then into the sink: a diagnostic path, not
// for benchmarks.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/capture_sink.hpp"
#include "engine/stream.hpp"

namespace softrnic::capture {

inline constexpr std::string_view kSynthesizedComment =
    "softrnic: synthesized Ethernet/IP/TCP headers (iWARP over kernel TCP; the payload bytes are "
    "the stream's, headers, sequence numbers and MACs are made up by the capture)";

struct StreamCaptureStats {
  std::uint64_t frames = 0;          // handed to the capture file's writer
  std::uint64_t frames_dropped = 0;  // the sink's ring was full: not in the file
};

class StreamCapture final : public StreamTransport {
 public:
  explicit StreamCapture(StreamTransport& inner, std::shared_ptr<CaptureSink> sink = nullptr);
  ~StreamCapture() override;

  Result<std::unique_ptr<StreamListener>> listen(const StreamEndpoint& local) override;
  Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote,
                                          const StreamEndpoint& local = {}) override;
  std::size_t poll() override { return inner_.poll(); }

  // nullptr stops recording; the caller closes the sink it gave (after this let go of it).
  void set_sink(std::shared_ptr<CaptureSink> sink) { sink_ = std::move(sink); }
  const CaptureSink* sink() const { return sink_.get(); }
  const StreamCaptureStats& stats() const { return stats_; }

  // One TCP segment as a frame (exposed for tests): `from_local` picks the direction.
  struct Flow {
    StreamEndpoint local, peer;
    std::uint32_t local_seq = 0, peer_seq = 0;  // next sequence number of each direction
  };
  void record(Flow& f, bool from_local, std::uint8_t flags, ConstByteSpan payload);

  class Listener;
  class CapturedStream;

 private:
  StreamTransport& inner_;
  std::shared_ptr<CaptureSink> sink_;
  std::vector<std::byte> frame_;
  StreamCaptureStats stats_;
};

}  // namespace softrnic::capture
