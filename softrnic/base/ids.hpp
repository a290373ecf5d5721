// Typed protocol identifiers: queue pair numbers, memory keys, partition and queue keys.
#pragma once

#include <compare>
#include <cstdint>

namespace softrnic {

// QPN: 24 bits. 0 is invalid on RoCE, 1 is the GSI QP, 0xFFFFFF multicast.
class Qpn {
 public:
  static constexpr std::uint32_t kMask = 0xffffff;
  static constexpr std::uint32_t kGsi = 1;
  static constexpr std::uint32_t kMulticast = 0xffffff;

  constexpr Qpn() = default;
  constexpr explicit Qpn(std::uint32_t v) : v_(v & kMask) {}
  constexpr std::uint32_t raw() const { return v_; }
  constexpr auto operator<=>(const Qpn&) const = default;

 private:
  std::uint32_t v_ = 0;
};

// A 32-bit memory key: 24-bit index and an 8-bit key part that changes on re-registration.
// R_Key/L_Key (InfiniBand) and STag (iWARP) share the layout but never mix: distinct tags.
template <class Tag>
class MemKey {
 public:
  constexpr MemKey() = default;
  constexpr explicit MemKey(std::uint32_t v) : v_(v) {}
  static constexpr MemKey from_parts(std::uint32_t index, std::uint8_t key) {
    return MemKey((index << 8) | key);
  }
  constexpr std::uint32_t raw() const { return v_; }
  constexpr std::uint32_t index() const { return v_ >> 8; }
  constexpr std::uint8_t key() const { return static_cast<std::uint8_t>(v_); }
  constexpr auto operator<=>(const MemKey&) const = default;

 private:
  std::uint32_t v_ = 0;
};

struct RkeyTag {};
struct LkeyTag {};
struct StagTag {};
using Rkey = MemKey<RkeyTag>;
using Lkey = MemKey<LkeyTag>;
using Stag = MemKey<StagTag>;

struct Qkey {
  static constexpr std::uint32_t kGsi = 0x80010000;
  std::uint32_t raw = 0;
  constexpr auto operator<=>(const Qkey&) const = default;
};

struct Pkey {
  static constexpr std::uint16_t kDefault = 0xffff;
  std::uint16_t raw = kDefault;
  constexpr bool full_member() const { return (raw & 0x8000) != 0; }
  constexpr std::uint16_t partition() const { return raw & 0x7fff; }
  constexpr auto operator<=>(const Pkey&) const = default;
};

}  // namespace softrnic
