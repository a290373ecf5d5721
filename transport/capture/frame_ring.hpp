// A single-producer single-consumer ring of variable-length frames in one buffer allocated at
// construction: how captured frames cross from the engine thread to a capture file's writer
// thread (capture_sink.hpp). Fixed-size slots would have to fit iWARP's synthesized 64 KiB
// segments and RoCE's 1.5 KiB frames alike; records of the frame's own size do not.
//
// Each record is a 32-byte header (its stride, the frame's length, timestamp and comment) and the
// frame, padded to 32 bytes, and never wraps: a record that would cross the end of the buffer is
// preceded by a filler record up to the end. The producer first reserves room for several frames
// (a transmit burst is copied before the port takes it, and only the frames the port accepted
// are kept), then publishes the first n of them with one release store; the consumer reads
// published records in place and frees each with one release store.
//
// Lock-free, no allocation after construction. One producer thread and one consumer thread at a
// time (another thread may take over either end after synchronising with the last, e.g. join).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "capture/pcap_file.hpp"

namespace softrnic::capture {

class FrameRing {
 public:
  static constexpr std::size_t kAlign = 32;        // record alignment, and the header's size
  static constexpr std::size_t kMaxReserved = 64;  // frames reserved and not yet published

  // capacity is rounded up to a multiple of kAlign; a frame needs its size plus kAlign (rounded
  // up) and the largest frame that can ever be reserved is capacity / 2 - kAlign.
  explicit FrameRing(std::size_t capacity);
  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;

  std::size_t capacity() const { return capacity_; }

  // Producer. Room for `size` bytes of the next frame, after the frames reserved since the last
  // publish(); empty when the consumer has not freed enough yet, when kMaxReserved frames are
  // reserved, or when the frame could never fit (fits_ever()).
  [[nodiscard]] ByteSpan reserve(std::size_t size);
  // Producer. Publishes the first lengths.size() reserved frames (fewer when fewer were
  // reserved), each with its length (at most what was reserved for it), the time and a comment
  // that must outlive the ring (a literal: it is kept by pointer); gives up the other
  // reservations. Returns how many frames it published.
  std::size_t publish(std::span<const std::uint32_t> lengths, Timestamp ts,
                      std::string_view comment = {});
  // Producer. Whether reserving `size` bytes more can succeed once the consumer has caught up.
  bool fits_ever(std::size_t size) const;
  std::size_t reserved() const { return reserved_count_; }

  struct Frame {
    ConstByteSpan bytes;
    Timestamp timestamp;
    std::string_view comment;
  };
  // Consumer. The oldest published frame, valid until pop(); nothing when none is published.
  [[nodiscard]] std::optional<Frame> front();
  // Consumer. Frees the frame front() returned.
  void pop();

 private:
  struct Header {
    std::uint32_t stride;  // bytes from this record to the next
    std::uint32_t length;  // the frame's bytes, or kFiller
    std::int64_t seconds;
    std::uint32_t nanoseconds;
    std::uint32_t comment_length;
    const char* comment;
  };
  static_assert(sizeof(Header) == kAlign);
  static constexpr std::uint32_t kFiller = 0xffffffff;

  static std::size_t stride_of(std::size_t size) {
    return (sizeof(Header) + size + kAlign - 1) / kAlign * kAlign;
  }
  Header load(std::uint64_t pos) const;
  void store(std::uint64_t pos, const Header& h);

  const std::size_t capacity_;
  std::unique_ptr<std::byte[]> buffer_;
  // Producer side.
  alignas(64) std::atomic<std::uint64_t> head_{0};  // end of the published records
  std::uint64_t cursor_ = 0;                        // end of the reserved records
  std::uint64_t tail_cache_ = 0;
  std::array<std::uint64_t, kMaxReserved> reserved_{};  // where each reserved record starts
  std::size_t reserved_count_ = 0;
  // Consumer side.
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // start of the oldest unread record
  std::uint64_t head_cache_ = 0;
};

}  // namespace softrnic::capture
