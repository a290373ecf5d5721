// A fixed-capacity byte FIFO: the send or receive buffer of one stream. One allocation when it is
// made (not zero-filled: pages are touched only as data reaches them), none after. The caller side
// copies in and out (push, pop); the I/O side works in place on the at most two contiguous pieces
// of data or of free space (the ring wraps once), then reports what moved (drop, commit).
// Single-threaded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include "base/bytes.hpp"

namespace softrnic::transport {

class ByteRing {
 public:
  struct Pieces {
    ByteSpan first;
    ByteSpan second;  // empty unless the region wraps
    std::size_t size() const { return first.size() + second.size(); }
  };

  explicit ByteRing(std::size_t capacity)
      : buf_(std::make_unique_for_overwrite<std::byte[]>(capacity)), cap_(capacity) {}

  std::size_t capacity() const { return cap_; }
  std::size_t size() const { return size_; }
  std::size_t space() const { return cap_ - size_; }
  bool empty() const { return size_ == 0; }

  // Copies up to in.size() bytes to the tail; returns how many fitted.
  std::size_t push(ConstByteSpan in) {
    const std::size_t n = std::min(in.size(), space());
    const Pieces v = vacant();
    const std::size_t a = std::min(n, v.first.size());
    if (a > 0) std::memcpy(v.first.data(), in.data(), a);
    if (n > a) std::memcpy(v.second.data(), in.data() + a, n - a);
    size_ += n;
    return n;
  }

  // Copies up to out.size() bytes from the head and removes them; returns how many.
  std::size_t pop(ByteSpan out) {
    const std::size_t n = std::min(out.size(), size_);
    const Pieces d = data();
    const std::size_t a = std::min(n, d.first.size());
    if (a > 0) std::memcpy(out.data(), d.first.data(), a);
    if (n > a) std::memcpy(out.data() + a, d.second.data(), n - a);
    drop(n);
    return n;
  }

  // The bytes waiting, oldest first.
  Pieces data() const {
    const std::size_t first = std::min(size_, cap_ - head_);
    return {ByteSpan(buf_.get() + head_, first), ByteSpan(buf_.get(), size_ - first)};
  }
  // The free space, in the order bytes are appended.
  Pieces vacant() const {
    const std::size_t tail = wrap(head_ + size_);
    const std::size_t first = std::min(space(), cap_ - tail);
    return {ByteSpan(buf_.get() + tail, first), ByteSpan(buf_.get(), space() - first)};
  }

  // Removes n bytes from the head (taken by the network); clamped to what is there.
  void drop(std::size_t n) {
    n = std::min(n, size_);
    head_ = wrap(head_ + n);
    size_ -= n;
  }
  // Appends n bytes the network wrote into vacant(); clamped to the free space.
  void commit(std::size_t n) { size_ += std::min(n, space()); }
  void clear() { head_ = size_ = 0; }
  // An empty ring starts again at offset 0, so the next I/O is one piece. Only while no I/O holds
  // pieces of it: a receive in flight writes where vacant() was when it was posted.
  void rewind() {
    if (size_ == 0) head_ = 0;
  }

 private:
  std::size_t wrap(std::size_t i) const { return i >= cap_ ? i - cap_ : i; }

  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace softrnic::transport
