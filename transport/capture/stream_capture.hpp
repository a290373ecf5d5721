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
// Idle (nothing written, one branch per call) until set_writer() gives it a writer; a capture
// started mid-connection shows that connection from its next bytes on, without a handshake.
// The writer and the wrapped transport must outlive the decorator and every stream it made.
// Threads: one (the engine's), like the streams themselves. Capturing copies each segment once
// into a buffer made at construction: a diagnostic path, not for benchmarks.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "capture/pcap_file.hpp"
#include "engine/stream.hpp"

namespace softrnic::capture {

inline constexpr std::string_view kSynthesizedComment =
    "softrnic: synthesized Ethernet/IP/TCP headers (iWARP over kernel TCP; the payload bytes are "
    "the stream's, headers, sequence numbers and MACs are made up by the capture)";

struct StreamCaptureStats {
  std::uint64_t frames = 0;
  std::uint64_t write_errors = 0;  // the writer refused a frame: it is not in the file
};

class StreamCapture final : public StreamTransport {
 public:
  explicit StreamCapture(StreamTransport& inner, PcapWriter* writer = nullptr);
  ~StreamCapture() override;

  Result<std::unique_ptr<StreamListener>> listen(const StreamEndpoint& local) override;
  Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote,
                                          const StreamEndpoint& local = {}) override;
  std::size_t poll() override { return inner_.poll(); }

  // nullptr stops recording; the writer stays the caller's (closing it is theirs too).
  void set_writer(PcapWriter* writer) { writer_ = writer; }
  PcapWriter* writer() const { return writer_; }
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
  PcapWriter* writer_;
  std::vector<std::byte> frame_;
  StreamCaptureStats stats_;
};

}  // namespace softrnic::capture
