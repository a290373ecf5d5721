// A byte FIFO: the send or receive buffer of one stream. Made with its capacity, or with a small
// capacity and a limit it may grow to (grow_for) while no I/O holds pieces of it, so a connection
// that moves little costs little (a peer opening many connections gets small buffers). Not
// zero-filled: pages are touched only as data reaches them. The caller side
// copies in and out (push, pop); the I/O side works in place on the at most two contiguous pieces
// of data or of free space (the ring wraps once), then reports what moved (drop, commit).
// Single-threaded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "base/bytes.hpp"

namespace softrnic::transport {

class ByteRing {
 public:
  struct Pieces {
    ByteSpan first;
    ByteSpan second;  // empty unless the region wraps
    std::size_t size() const { return first.size() + second.size(); }
  };

  explicit ByteRing(std::size_t capacity) : ByteRing(capacity, capacity) {}
  ByteRing(std::size_t initial, std::size_t limit)
      : buf_(std::make_unique_for_overwrite<std::byte[]>(std::min(initial, limit))),
        cap_(std::min(initial, limit)),
        limit_(limit) {}

  std::size_t capacity() const { return cap_; }
  std::size_t limit() const { return limit_; }
  // Grows (doubling, at most to the limit) until `want` more bytes fit, keeping the bytes waiting
  // (the buffer moves). One allocation per doubling. When an I/O still reads pieces of data()
  // (a send in flight: held = true), the old buffers are kept until release_held() (at most one
  // per doubling, less than the final buffer in all). Never while an I/O writes into vacant().
  void grow_for(std::size_t want, bool held = false) {
    if (want <= space() || cap_ >= limit_) return;
    std::size_t cap = cap_;
    while (cap < limit_ && cap - size_ < want) cap = std::min(limit_, cap * 2);
    auto next = std::make_unique_for_overwrite<std::byte[]>(cap);
    const Pieces d = data();
    std::memcpy(next.get(), d.first.data(), d.first.size());
    if (!d.second.empty()) std::memcpy(next.get() + d.first.size(), d.second.data(), d.second.size());
    if (held) held_.push_back(std::move(buf_));
    buf_ = std::move(next);
    cap_ = cap;
    head_ = 0;
  }
  // The I/O that read the buffer before it grew has completed.
  void release_held() { held_.clear(); }
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
  std::vector<std::unique_ptr<std::byte[]>> held_;  // buffers before growths, while an I/O reads them
  std::size_t cap_;
  std::size_t limit_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace softrnic::transport
