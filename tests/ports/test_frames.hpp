// Test frames for the port tests: an Ethernet header, a 4-byte sequence number at offset 14 and
// a payload that is a function of (sequence number, offset), so a frame's every byte is known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/bytes.hpp"
#include "engine/port.hpp"
#include "wire/ethernet.hpp"

namespace softrnic::test {

inline constexpr std::size_t kSeqOffset = 14;
inline constexpr std::uint16_t kLocalExperimentalEthertype = 0x88b5;  // IEEE 802 local use

inline std::byte expected_byte(std::uint32_t seq, std::size_t offset) {
  return static_cast<std::byte>((seq * 131u + offset * 7u) & 0xff);
}

// The frame the sender means: header, sequence number, then the pattern.
inline std::vector<std::byte> frame_bytes(std::uint32_t seq, std::uint32_t len) {
  std::vector<std::byte> f(len);
  ByteSpan b(f);
  for (std::size_t i = 0; i < len; ++i) f[i] = expected_byte(seq, i);
  wire::store_mac(b, 0, {0x02, 0, 0, 0, 0, 0x0b});
  wire::store_mac(b, 6, {0x02, 0, 0, 0, 0, 0x0a});
  store_be16(b, 12, kLocalExperimentalEthertype);
  store_be32(b, kSeqOffset, seq);
  return f;
}

// A packet from port's pool holding frame_bytes(seq, len); nullptr when the pool is empty.
inline Packet* make_frame(Port& port, std::uint32_t seq, std::uint32_t len = 64) {
  Packet* p = port.alloc();
  if (p == nullptr) return nullptr;
  const auto f = frame_bytes(seq, len);
  for (std::size_t i = 0; i < len; ++i) p->data[i] = f[i];
  p->len = len;
  return p;
}

// A packet from port's pool whose frame is frame_bytes(seq, len) in three pieces, as the engine's
// zero-copy path makes them: the first 42 bytes in the packet, the next len - 46 by reference into
// `backing` (which must stay alive until tx_burst returns), the last 4 in the tail. len >= 46.
inline Packet* make_frame_by_reference(Port& port, std::uint32_t seq, std::uint32_t len,
                                       std::vector<std::byte>& backing) {
  constexpr std::uint32_t kHead = 42, kTail = 4;
  Packet* p = port.alloc();
  if (p == nullptr) return nullptr;
  backing = frame_bytes(seq, len);
  for (std::size_t i = 0; i < kHead; ++i) p->data[i] = backing[i];
  p->len = kHead;
  p->ext = backing.data() + kHead;
  p->ext_len = len - kHead - kTail;
  for (std::size_t i = 0; i < kTail; ++i) p->tail[i] = backing[len - kTail + i];
  p->tail_len = kTail;
  return p;
}

inline std::uint32_t seq_of(const Packet& p) { return load_be32(p.bytes(), kSeqOffset); }

inline bool frame_is_intact(const Packet& p, std::uint32_t seq, std::uint32_t len) {
  if (p.len != len) return false;
  const auto f = frame_bytes(seq, len);
  for (std::size_t i = 0; i < len; ++i) {
    if (p.data[i] != f[i]) return false;
  }
  return true;
}

}  // namespace softrnic::test
