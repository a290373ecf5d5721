// Reassembly of one direction of a captured TCP connection into its byte stream (RFC 9293 3.4):
// segments may arrive out of order, be retransmitted or overlap; every stream byte is delivered
// exactly once and in sequence order. Memory is bounded: when more than `max_buffered` bytes wait
// behind a hole, the hole is given up (reported as a gap) rather than waited for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "base/bytes.hpp"

namespace softrnic::capture {

// Where the reassembled stream goes.
class TcpStreamSink {
 public:
  virtual ~TcpStreamSink() = default;
  // The next in-order bytes of the stream, carried by capture frame `frame`.
  virtual void on_bytes(ConstByteSpan bytes, std::uint64_t frame) = 0;
  // Stream bytes before the next on_bytes are missing for good: the capture began after the SYN,
  // or a hole was given up. A parser must resynchronise or stop.
  virtual void on_gap(std::uint64_t frame) = 0;
  // No more bytes: FIN reached in sequence, RST, or the end of the capture.
  virtual void on_end(std::uint64_t frame) = 0;
};

struct TcpSegment {
  std::uint32_t seq = 0;
  bool syn = false;
  bool fin = false;
  bool rst = false;
  ConstByteSpan payload;
  std::uint64_t frame = 0;
};

class TcpReassembler {
 public:
  static constexpr std::size_t kDefaultMaxBuffered = 1 << 20;

  explicit TcpReassembler(std::size_t max_buffered = kDefaultMaxBuffered)
      : max_buffered_(max_buffered) {}

  void add(const TcpSegment& s, TcpStreamSink& sink);
  // The capture ended: deliver what waits behind holes (each hole reported), then end the stream.
  void finish(std::uint64_t frame, TcpStreamSink& sink);

  bool ended() const { return ended_; }
  std::size_t buffered_bytes() const { return buffered_; }
  std::uint64_t delivered_bytes() const { return delivered_; }

 private:
  struct Pending {
    std::uint64_t frame;
    std::vector<std::byte> bytes;
  };

  // Stream offset of sequence number `seq`, relative to the next byte expected.
  std::int64_t offset_of(std::uint32_t seq) const;
  void place(std::int64_t off, ConstByteSpan bytes, std::uint64_t frame, TcpStreamSink& sink);
  // Delivers the part of bytes (starting at stream offset off) not delivered yet.
  void deliver_from(std::uint64_t off, ConstByteSpan bytes, std::uint64_t frame,
                    TcpStreamSink& sink);
  void drain(TcpStreamSink& sink);
  void skip_to(std::uint64_t off, std::uint64_t frame, TcpStreamSink& sink);
  void check_fin(std::uint64_t frame, TcpStreamSink& sink);

  std::size_t max_buffered_;
  bool started_ = false;
  bool ended_ = false;
  std::uint32_t next_seq_ = 0;   // sequence number of the next byte to deliver
  std::uint64_t delivered_ = 0;  // stream offset of that byte
  std::optional<std::uint64_t> fin_offset_;
  std::map<std::uint64_t, Pending> pending_;  // by stream offset
  std::size_t buffered_ = 0;
};

}  // namespace softrnic::capture
