#include "loopback/loopback_port.hpp"

#include <functional>
#include <string>

namespace softrnic::transport {

namespace {
constexpr std::uint32_t kEthernetHeader = 14;
// RFC 791: every IPv4 host accepts 68-byte datagrams; below that no IP traffic can work.
constexpr std::uint32_t kMinMtu = 68;
}  // namespace

// ---- LoopbackWire ----

Result<std::unique_ptr<LoopbackWire>> LoopbackWire::create(const LoopbackConfig& config) {
  if (config.pool_packets == 0) {
    return make_error(Errc::invalid_argument, "loopback pool needs at least one packet");
  }
  if (config.rx_ring_packets == 0) {
    return make_error(Errc::invalid_argument, "loopback receive ring needs at least one slot");
  }
  if (config.mtu < kMinMtu) {
    return make_error(Errc::out_of_range, "loopback MTU " + std::to_string(config.mtu) +
                                              " is below the IPv4 minimum of 68");
  }
  // max_frame() of a port is mtu + 14 (Ethernet) + 4 (FCS or 802.1Q tag room).
  const std::uint64_t max_frame = std::uint64_t{config.mtu} + kEthernetHeader + 4;
  if (max_frame > config.buffer_size) {
    return make_error(Errc::buffer_too_small,
                      "loopback buffer of " + std::to_string(config.buffer_size) +
                          " bytes cannot hold a frame of MTU " + std::to_string(config.mtu) + " (" +
                          std::to_string(max_frame) + " bytes)");
  }
  return std::unique_ptr<LoopbackWire>(new LoopbackWire(config));
}

LoopbackWire::LoopbackWire(const LoopbackConfig& config)
    : buffer_size_(config.buffer_size),
      storage_(config.pool_packets * config.buffer_size),
      descriptors_(config.pool_packets),
      is_free_(config.pool_packets, 1) {
  free_list_.reserve(config.pool_packets);
  // Pushed in reverse so that the first alloc() hands out the first buffer (easier to debug).
  for (std::size_t i = config.pool_packets; i-- > 0;) {
    Packet& p = descriptors_[i];
    p.data = storage_.data() + i * buffer_size_;
    p.capacity = buffer_size_;
    p.port_private = i;
    free_list_.push_back(&p);
  }
  a_.reset(new LoopbackPort(*this, config.mtu, config.mac_a, config.rx_ring_packets));
  b_.reset(new LoopbackPort(*this, config.mtu, config.mac_b, config.rx_ring_packets));
  a_->zero_copy_min_ = b_->zero_copy_min_ = config.zero_copy_min;
  a_->peer_ = b_.get();
  b_->peer_ = a_.get();
}

LoopbackWire::~LoopbackWire() {
  for (LoopbackPort* end : {a_.get(), b_.get()}) {
    while (Packet* p = end->rx_ring_pop()) pool_return(p);
  }
}

Packet* LoopbackWire::pool_take() {
  if (free_list_.empty()) return nullptr;
  Packet* p = free_list_.back();
  free_list_.pop_back();
  const auto i = static_cast<std::size_t>(p - descriptors_.data());
  is_free_[i] = 0;
  // Reset what a previous user may have changed, so every buffer starts alike.
  p->data = storage_.data() + i * buffer_size_;
  p->capacity = buffer_size_;
  p->len = 0;
  p->clear_ext();
  p->port_private = i;
  return p;
}

bool LoopbackWire::pool_return(Packet* p) {
  const Packet* first = descriptors_.data();
  const Packet* end = first + descriptors_.size();
  // std::less gives a total order even for pointers into unrelated objects.
  if (p == nullptr || std::less<const Packet*>{}(p, first) || !std::less<const Packet*>{}(p, end)) {
    return false;
  }
  const auto i = static_cast<std::size_t>(p - first);
  if (is_free_[i] != 0) return false;
  is_free_[i] = 1;
  free_list_.push_back(p);  // cannot reallocate: at most pool_size entries, reserved up front
  return true;
}

// ---- LoopbackPort ----

LoopbackPort::LoopbackPort(LoopbackWire& wire, std::uint32_t mtu, wire::MacAddr mac,
                           std::size_t ring_size)
    : wire_(wire), mtu_(mtu), mac_(mac), rx_ring_(ring_size, nullptr) {}

bool LoopbackPort::link_up() const { return wire_.link_up(); }

void LoopbackPort::rx_ring_push(Packet* p) {
  rx_ring_[(rx_head_ + rx_count_) % rx_ring_.size()] = p;
  ++rx_count_;
}

Packet* LoopbackPort::rx_ring_pop() {
  if (rx_count_ == 0) return nullptr;
  Packet* p = rx_ring_[rx_head_];
  rx_ring_[rx_head_] = nullptr;
  rx_head_ = (rx_head_ + 1) % rx_ring_.size();
  --rx_count_;
  return p;
}

std::size_t LoopbackPort::rx_burst(std::span<Packet*> out) {
  std::size_t n = 0;
  while (n < out.size()) {
    Packet* p = rx_ring_pop();
    if (p == nullptr) break;
    counters_.add(LoopbackCounter::rx_packets);
    counters_.add(LoopbackCounter::rx_bytes, p->len);
    out[n++] = p;
  }
  return n;
}

std::size_t LoopbackPort::tx_burst(std::span<Packet*> pkts) {
  std::size_t n = 0;
  for (; n < pkts.size(); ++n) {
    Packet* p = pkts[n];
    if (!wire_.link_up()) {
      counters_.add(LoopbackCounter::tx_drop_link_down);
      free(p);
      continue;
    }
    if (p->frame_len() > max_frame() || p->frame_len() > p->capacity) {
      counters_.add(LoopbackCounter::tx_drop_oversize);
      free(p);
      continue;
    }
    if (p->len < kEthernetHeader) {
      counters_.add(LoopbackCounter::tx_drop_runt);
      free(p);
      continue;
    }
    if (peer_->rx_ring_full()) {
      counters_.add(LoopbackCounter::tx_ring_full, pkts.size() - n);
      break;  // pkts[n..] stay with the caller
    }
    flatten(*p);  // a payload by reference is read now, never after tx_burst returns
    if (tx_capture_) tx_capture_(p->bytes());
    counters_.add(LoopbackCounter::tx_packets);
    counters_.add(LoopbackCounter::tx_bytes, p->len);
    peer_->rx_ring_push(p);
  }
  return n;
}

Packet* LoopbackPort::alloc() {
  Packet* p = wire_.pool_take();
  if (p == nullptr) counters_.add(LoopbackCounter::alloc_fail);
  return p;
}

void LoopbackPort::free(Packet* p) {
  if (!wire_.pool_return(p)) counters_.add(LoopbackCounter::free_invalid);
}

}  // namespace softrnic::transport
