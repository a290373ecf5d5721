// What the engine needs from a frame-moving port. transport/ implements it (DPDK, sockets,
// loopback, the fault-injecting decorator); the engine never sees how frames move.
//
// Ownership: packets come from the port's pool (alloc) and go back to it either by tx_burst (the
// port takes the ones it accepts) or by free. rx_burst hands packets to the caller, who frees them.
// All calls come from the one engine thread that owns the port: no locks.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

  // Zero-copy transmit, only to a port whose zero_copy_min() is not 0: the frame goes on after
  // data[0, len) with ext_len bytes at ext (registered memory, not copied), then tail[0, tail_len)
  // (pad and ICRC). The port reads ext only inside tx_burst and free, never after they return, so
  // the memory needs to stay valid only until then. alloc() hands out packets with ext_len 0.
  const std::byte* ext = nullptr;
  std::uint32_t ext_len = 0;
  std::uint8_t tail_len = 0;
  std::array<std::byte, 8> tail{};

  ByteSpan bytes() { return {data, len}; }
  ConstByteSpan bytes() const { return {data, len}; }
  ByteSpan room() { return {data, capacity}; }
  bool has_ext() const { return ext_len != 0; }
  std::uint32_t frame_len() const { return len + ext_len + tail_len; }
  void clear_ext() {
    ext = nullptr;
    ext_len = 0;
    tail_len = 0;
  }
};

// Copies up to out.size() bytes of p's whole frame (data, ext, tail) to out; returns how many.
inline std::size_t copy_frame(const Packet& p, ByteSpan out) {
  std::size_t at = 0;
  for (ConstByteSpan piece : {p.bytes(), ConstByteSpan(p.ext, p.ext_len),
                              ConstByteSpan(p.tail.data(), p.tail_len)}) {
    const std::size_t n = std::min(piece.size(), out.size() - at);
    if (n != 0) std::memcpy(out.data() + at, piece.data(), n);
    at += n;
  }
  return at;
}

// Makes p an ordinary packet again by copying ext and tail after data (the caller has checked
// that capacity holds frame_len()).
inline void flatten(Packet& p) {
  if (!p.has_ext() && p.tail_len == 0) return;
  std::memcpy(p.data + p.len, p.ext, p.ext_len);
  std::memcpy(p.data + p.len + p.ext_len, p.tail.data(), p.tail_len);
  p.len = p.frame_len();
  p.clear_ext();
}

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
  // Smallest payload the engine may hand over by reference (Packet::ext) instead of copying it
  // into the frame; 0: never (the default; decorators that hold frames past tx_burst keep it).
  virtual std::uint32_t zero_copy_min() const { return 0; }
  // A file descriptor that poll(2) reports readable (POLLIN) whenever rx_burst may have frames or
  // the port has completions to reap, so an idle engine thread can sleep on it instead of
  // spinning; -1: none (the thread falls back to short sleeps). Level-triggered, never read.
  virtual int wait_fd() const { return -1; }
};

}  // namespace softrnic
