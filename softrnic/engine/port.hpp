// What the engine needs from a frame-moving port. transport/ implements it (DPDK, sockets,
// loopback, the fault-injecting decorator); the engine never sees how frames move.
//
// Ownership: packets come from the port's pool (alloc) and go back to it either by tx_burst (the
// port takes the ones it accepts) or by free. rx_burst hands packets to the caller, who frees them.
// All calls come from the one engine thread that owns the port: no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.hpp"
#include "wire/ethernet.hpp"

namespace softrnic {

inline constexpr std::size_t kBurst = 32;

struct Packet {
  // Set by a port on received frames whose ICRC cannot be checked: a UDP socket port re-creates
  // the IP header for IPv4 without the identification field the ICRC covers (the socket never
  // reports it). The engine counts such packets as unverified instead of dropping them.
  static constexpr std::uint32_t kIcrcUnverifiable = 1u << 0;

  std::byte* data = nullptr;
  std::uint32_t len = 0;       // bytes of frame in data
  std::uint32_t capacity = 0;  // bytes available at data
  std::uint32_t flags = 0;     // k* bits above, set by the port on receive
  std::uint64_t port_private = 0;

  ByteSpan bytes() { return {data, len}; }
  ConstByteSpan bytes() const { return {data, len}; }
  ByteSpan room() { return {data, capacity}; }
};

class Port {
 public:
  virtual ~Port() = default;

  // Receives up to out.size() frames; returns how many were written to out.
  virtual std::size_t rx_burst(std::span<Packet*> out) = 0;
  // Transmits the first n of pkts it can; returns n. The caller still owns pkts[n..].
  virtual std::size_t tx_burst(std::span<Packet*> pkts) = 0;
  // A free buffer of at least max_frame() bytes, or nullptr when the pool is exhausted.
  virtual Packet* alloc() = 0;
  virtual void free(Packet* p) = 0;

  // Largest IP packet (Ethernet MTU) and the whole frame size the port carries.
  virtual std::uint32_t mtu() const = 0;
  virtual std::uint32_t max_frame() const { return mtu() + 14 + 4; }
  virtual wire::MacAddr mac() const = 0;
  virtual bool link_up() const { return true; }
  // False for ports without an Ethernet of their own (UDP sockets): the kernel resolves
  // neighbours there, so the engine sends no ARP/ND and needs no peer MAC.
  virtual bool has_link_layer() const { return true; }
};

}  // namespace softrnic
