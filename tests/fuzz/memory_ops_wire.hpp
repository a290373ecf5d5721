// The wire of the memory_ops fuzz target: two ports joined by FIFOs, like the RoCE tests'
// PipeWire, plus what the fuzzer drives on it. Each direction can pass, hold back or drop what
// its device sends; held frames are released later in an order the input picks, and the last
// frames of each direction are kept as material for crafted frames. Its buffers are allocated
// once per process and handed out again for each input.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "engine/port.hpp"

namespace softrnic::fuzz {

class FuzzWire {
 public:
  static constexpr std::size_t kPackets = 384;
  static constexpr std::uint32_t kCapacity = 4352;
  static constexpr std::size_t kMaxHeld = 128;  // frames held back per direction
  static constexpr std::size_t kCaptured = 8;   // recent frames kept per direction
  enum class Mode : std::uint8_t { pass, hold, drop };
  using Frame = std::vector<std::byte>;

  class End final : public Port {
   public:
    End(FuzzWire& w, int side) : w_(w), side_(side) {}
    std::size_t rx_burst(std::span<Packet*> out) override {
      auto& q = w_.queue_[side_];
      std::size_t n = 0;
      while (n < out.size() && !q.empty()) {
        out[n] = q.front();
        q.pop_front();
        if (w_.on_deliver) w_.on_deliver(side_, *out[n]);
        ++n;
      }
      return n;
    }
    std::size_t tx_burst(std::span<Packet*> pkts) override {
      for (Packet* p : pkts) w_.carry(side_, p);
      return pkts.size();
    }
    Packet* alloc() override {
      if (w_.free_.empty()) return nullptr;
      Packet* p = w_.free_.back();
      w_.free_.pop_back();
      p->len = 0;
      p->flags = 0;
      p->clear_ext();
      return p;
    }
    void free(Packet* p) override { w_.free_.push_back(p); }
    std::uint32_t mtu() const override { return 4200; }
    wire::MacAddr mac() const override {
      return {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(side_ + 1)};
    }
    std::uint32_t zero_copy_min() const override { return w_.zero_copy_min_; }

   private:
    FuzzWire& w_;
    int side_;
  };

  FuzzWire() : storage_(kPackets) {
    for (auto& s : storage_) {
      s.bytes.resize(kCapacity);
      s.pkt.data = s.bytes.data();
      s.pkt.capacity = kCapacity;
    }
    reset(0);
  }

  // Every buffer free (up to `buffers` of them: a small pool runs out), every queue empty, both
  // directions passing. Call with no device alive.
  void reset(std::uint32_t zero_copy_min, std::size_t buffers = kPackets) {
    zero_copy_min_ = zero_copy_min;
    free_.clear();
    for (std::size_t i = 0; i < std::min(buffers, storage_.size()); ++i)
      free_.push_back(&storage_[i].pkt);
    for (int side = 0; side < 2; ++side) {
      queue_[side].clear();
      held[side].clear();
      mode[side] = Mode::pass;
      captured_count[side] = 0;
    }
  }

  // Puts a frame on the wire as if `side` had sent it, past the hold/drop modes. False when the
  // pool is empty or the frame is too large.
  bool inject(int side, ConstByteSpan frame) {
    if (free_.empty() || frame.size() > kCapacity) return false;
    Packet* p = free_.back();
    free_.pop_back();
    std::memcpy(p->data, frame.data(), frame.size());
    p->len = static_cast<std::uint32_t>(frame.size());
    p->flags = 0;
    p->clear_ext();
    queue_[1 - side].push_back(p);
    return true;
  }

  // The i-th most recent frame `side` sent (0: the last), or nullptr.
  const Frame* recent(int side, std::size_t i) const {
    const std::size_t n = std::min(captured_count[side], kCaptured);
    if (n == 0) return nullptr;
    i %= n;
    return &captured[side][(captured_count[side] - 1 - i) % kCaptured];
  }

  End a{*this, 0};
  End b{*this, 1};
  Port& end(int side) { return side == 0 ? static_cast<Port&>(a) : static_cast<Port&>(b); }
  Mode mode[2] = {Mode::pass, Mode::pass};
  // Sees every frame as a device receives it (side = the receiver).
  std::function<void(int side, const Packet& p)> on_deliver;
  std::deque<Frame> held[2];  // frames each side sent while held, oldest first

 private:
  struct Slot {
    std::vector<std::byte> bytes;
    Packet pkt;
  };

  void carry(int side, Packet* p) {
    // A payload by reference is read here and never later (Port's promise).
    if (p->has_ext()) flatten(*p);
    Frame& c = captured[side][captured_count[side]++ % kCaptured];
    c.assign(p->data, p->data + p->len);
    switch (mode[side]) {
      case Mode::pass:
        queue_[1 - side].push_back(p);
        return;
      case Mode::hold:
        if (held[side].size() < kMaxHeld) held[side].emplace_back(p->data, p->data + p->len);
        break;
      case Mode::drop:
        break;
    }
    free_.push_back(p);
  }

  std::vector<Slot> storage_;
  std::vector<Packet*> free_;
  std::deque<Packet*> queue_[2];  // frames waiting at each side's receiver
  std::uint32_t zero_copy_min_ = 0;
  std::array<Frame, kCaptured> captured[2];
  std::size_t captured_count[2] = {0, 0};
};

}  // namespace softrnic::fuzz
