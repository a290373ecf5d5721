// The in-memory wire: two connected ports (A and B) in one process, for protocol tests and the
// embedded demo. What A transmits B receives, in order, and vice versa.
//
// Both ends draw from one pool of buffers allocated at construction; nothing is allocated after
// that. Each end has a fixed receive ring of Packet*. When the peer's ring is full, tx_burst
// accepts only the frames that fit and returns their count: the rest stay with the caller (back
// pressure, as a NIC's full tx ring does), counted as tx_ring_full. Nothing is dropped silently.
//
// Single-threaded: the engine thread that owns the wire drives both ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "wire/ethernet.hpp"

namespace softrnic::transport {

struct LoopbackConfig {
  std::size_t pool_packets = 1024;        // shared by both ends
  std::uint32_t buffer_size = 9216 + 64;  // room for a 9000-byte MTU jumbo frame
  std::uint32_t mtu = 4200;               // a 4096-byte RoCE payload plus IP/UDP/BTH/RETH/ICRC fits
  std::size_t rx_ring_packets = 512;      // per end
  wire::MacAddr mac_a = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
  wire::MacAddr mac_b = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};
  // Offer zero-copy transmit for payloads of at least this many bytes (0: no). The wire copies
  // them into the frame inside tx_burst, as a copying NIC driver does, so the engine's
  // by-reference path runs without DPDK.
  std::uint32_t zero_copy_min = 0;
};

enum class LoopbackCounter : std::uint8_t {
  tx_packets,
  tx_bytes,
  rx_packets,
  rx_bytes,
  tx_ring_full,       // frames refused (left with the caller) because the peer's ring was full
  tx_drop_oversize,   // longer than max_frame(): freed, never delivered
  tx_drop_runt,       // shorter than an Ethernet header: freed, never delivered
  tx_drop_link_down,  // transmitted while the link was down: freed, never delivered
  alloc_fail,         // alloc() found the pool empty
  free_invalid,       // free() of a packet not from this pool, or already free: ignored
  count_
};

constexpr std::string_view counter_name(LoopbackCounter c) {
  switch (c) {
    case LoopbackCounter::tx_packets:
      return "tx_packets";
    case LoopbackCounter::tx_bytes:
      return "tx_bytes";
    case LoopbackCounter::rx_packets:
      return "rx_packets";
    case LoopbackCounter::rx_bytes:
      return "rx_bytes";
    case LoopbackCounter::tx_ring_full:
      return "tx_ring_full";
    case LoopbackCounter::tx_drop_oversize:
      return "tx_drop_oversize";
    case LoopbackCounter::tx_drop_runt:
      return "tx_drop_runt";
    case LoopbackCounter::tx_drop_link_down:
      return "tx_drop_link_down";
    case LoopbackCounter::alloc_fail:
      return "alloc_fail";
    case LoopbackCounter::free_invalid:
      return "free_invalid";
    case LoopbackCounter::count_:
      break;
  }
  return "unknown";
}

class LoopbackWire;

// One end of the wire.
class LoopbackPort final : public Port {
 public:
  // Called with every frame this end puts on the wire (after the checks, before the peer sees
  // it); for pcap capture. Runs on the engine thread and must not keep the span.
  using TxCapture = std::function<void(ConstByteSpan frame)>;

  LoopbackPort(const LoopbackPort&) = delete;
  LoopbackPort& operator=(const LoopbackPort&) = delete;

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override;
  void free(Packet* p) override;

  std::uint32_t mtu() const override { return mtu_; }
  wire::MacAddr mac() const override { return mac_; }
  bool link_up() const override;
  std::uint32_t zero_copy_min() const override { return zero_copy_min_; }

  void set_tx_capture(TxCapture capture) { tx_capture_ = std::move(capture); }
  const Counters<LoopbackCounter>& counters() const { return counters_; }
  // Frames waiting in this end's receive ring.
  std::size_t rx_pending() const { return rx_count_; }

 private:
  friend class LoopbackWire;
  LoopbackPort(LoopbackWire& wire, std::uint32_t mtu, wire::MacAddr mac, std::size_t ring_size);

  bool rx_ring_full() const { return rx_count_ == rx_ring_.size(); }
  void rx_ring_push(Packet* p);
  Packet* rx_ring_pop();

  LoopbackWire& wire_;
  LoopbackPort* peer_ = nullptr;
  std::uint32_t mtu_;
  wire::MacAddr mac_;
  std::uint32_t zero_copy_min_ = 0;
  std::vector<Packet*> rx_ring_;  // fixed size, never grows
  std::size_t rx_head_ = 0;       // oldest frame
  std::size_t rx_count_ = 0;
  TxCapture tx_capture_;
  Counters<LoopbackCounter> counters_;
};

class LoopbackWire {
 public:
  // Fails when the configuration cannot work (empty pool or ring, a frame of the MTU larger than a
  // buffer). Returned by pointer: the two ends refer back to the wire, which therefore never moves.
  [[nodiscard]] static Result<std::unique_ptr<LoopbackWire>> create(const LoopbackConfig& config);

  LoopbackWire(const LoopbackWire&) = delete;
  LoopbackWire& operator=(const LoopbackWire&) = delete;
  // Frames still in either receive ring go back to the pool; buffers the caller still holds
  // must not be used after this.
  ~LoopbackWire();

  LoopbackPort& a() { return *a_; }
  LoopbackPort& b() { return *b_; }

  // Pulling the cable: while down, both ends report link_up() false and drop what they transmit.
  void set_link_up(bool up) { link_up_ = up; }
  bool link_up() const { return link_up_; }

  std::size_t pool_size() const { return descriptors_.size(); }
  std::size_t pool_available() const { return free_list_.size(); }
  std::uint32_t buffer_size() const { return buffer_size_; }

 private:
  friend class LoopbackPort;
  explicit LoopbackWire(const LoopbackConfig& config);

  Packet* pool_take();
  // False when p is not a busy packet of this pool.
  bool pool_return(Packet* p);

  std::uint32_t buffer_size_;
  std::vector<std::byte> storage_;     // pool_size * buffer_size_ bytes
  std::vector<Packet> descriptors_;    // one per buffer; never reallocated
  std::vector<std::uint8_t> is_free_;  // per descriptor, catches double frees
  std::vector<Packet*> free_list_;     // capacity pool_size, never grows
  std::unique_ptr<LoopbackPort> a_;
  std::unique_ptr<LoopbackPort> b_;
  bool link_up_ = true;
};

}  // namespace softrnic::transport
