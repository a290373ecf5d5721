#include "capture/frame_ring.hpp"

#include <algorithm>
#include <cstring>

namespace softrnic::capture {

FrameRing::FrameRing(std::size_t capacity)
    : capacity_(std::max<std::size_t>((capacity + kAlign - 1) / kAlign * kAlign, 4 * kAlign)),
      buffer_(std::make_unique<std::byte[]>(capacity_)) {}

FrameRing::Header FrameRing::load(std::uint64_t pos) const {
  Header h;
  std::memcpy(&h, buffer_.get() + pos % capacity_, sizeof h);
  return h;
}

void FrameRing::store(std::uint64_t pos, const Header& h) {
  std::memcpy(buffer_.get() + pos % capacity_, &h, sizeof h);
}

bool FrameRing::fits_ever(std::size_t size) const {
  // Once the consumer has caught up, only the reserved records hold room; a filler before the
  // new record is shorter than the record.
  const std::size_t stride = stride_of(size);
  return 2 * stride <= capacity_ &&
         cursor_ - head_.load(std::memory_order_relaxed) + 2 * stride <= capacity_;
}

ByteSpan FrameRing::reserve(std::size_t size) {
  if (reserved_count_ == kMaxReserved || 2 * stride_of(size) > capacity_) return {};
  const std::size_t stride = stride_of(size);
  std::uint64_t pos = cursor_;
  const std::size_t to_end = capacity_ - pos % capacity_;
  const std::size_t filler = to_end < stride ? to_end : 0;  // at least kAlign: room for a header
  if (pos + filler + stride - tail_cache_ > capacity_) {
    tail_cache_ = tail_.load(std::memory_order_acquire);
    if (pos + filler + stride - tail_cache_ > capacity_) return {};
  }
  if (filler != 0) {
    store(pos, Header{static_cast<std::uint32_t>(filler), kFiller, 0, 0, 0, nullptr});
    pos += filler;
  }
  store(pos, Header{static_cast<std::uint32_t>(stride), 0, 0, 0, 0, nullptr});
  reserved_[reserved_count_++] = pos;
  cursor_ = pos + stride;
  return ByteSpan(buffer_.get() + pos % capacity_ + sizeof(Header), size);
}

std::size_t FrameRing::publish(std::span<const std::uint32_t> lengths, Timestamp ts,
                               std::string_view comment) {
  const std::size_t n = std::min(lengths.size(), reserved_count_);
  std::uint64_t end = head_.load(std::memory_order_relaxed);  // this thread alone writes head_
  for (std::size_t i = 0; i < n; ++i) {
    Header h = load(reserved_[i]);
    h.length = std::min<std::uint32_t>(lengths[i], h.stride - sizeof(Header));
    h.seconds = ts.seconds;
    h.nanoseconds = ts.nanoseconds;
    h.comment = comment.data();
    h.comment_length = static_cast<std::uint32_t>(comment.size());
    store(reserved_[i], h);
    end = reserved_[i] + h.stride;
  }
  reserved_count_ = 0;
  cursor_ = end;
  if (n != 0) head_.store(end, std::memory_order_release);
  return n;
}

std::optional<FrameRing::Frame> FrameRing::front() {
  while (true) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return std::nullopt;
    }
    const Header h = load(tail);
    if (h.length == kFiller) {
      tail_.store(tail + h.stride, std::memory_order_release);
      continue;
    }
    return Frame{ConstByteSpan(buffer_.get() + tail % capacity_ + sizeof(Header), h.length),
                 Timestamp{h.seconds, h.nanoseconds},
                 std::string_view(h.comment, h.comment_length)};
  }
}

void FrameRing::pop() {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  tail_.store(tail + load(tail).stride, std::memory_order_release);
}

}  // namespace softrnic::capture
