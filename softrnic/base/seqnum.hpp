// Modular sequence numbers. The comparison rule lives here and nowhere else:
// IBA 9.7.1 / rxe psn_compare: a precedes b when the signed Bits-wide difference a - b is negative.
#pragma once

#include <compare>
#include <cstdint>

namespace softrnic {

template <unsigned Bits, class Tag>
class SeqNum {
  static_assert(Bits >= 8 && Bits <= 32);

 public:
  static constexpr std::uint32_t kMask =
      Bits == 32 ? 0xffffffffu : static_cast<std::uint32_t>((std::uint64_t{1} << Bits) - 1);

  constexpr SeqNum() = default;
  constexpr explicit SeqNum(std::uint32_t v) : v_(v & kMask) {}

  constexpr std::uint32_t raw() const { return v_; }

  // Signed distance from `from` to this, in (-2^(Bits-1), 2^(Bits-1)].
  constexpr std::int32_t distance_from(SeqNum from) const {
    const std::uint32_t d = (v_ - from.v_) << (32 - Bits);
    return static_cast<std::int32_t>(d) >> (32 - Bits);
  }

  constexpr SeqNum operator+(std::uint32_t n) const { return SeqNum(v_ + n); }
  constexpr SeqNum operator-(std::uint32_t n) const { return SeqNum(v_ - n); }
  constexpr SeqNum& operator+=(std::uint32_t n) { return *this = *this + n; }
  constexpr SeqNum& operator++() { return *this += 1; }

  constexpr bool operator==(const SeqNum&) const = default;
  // Modular ordering: valid while the two are within half the space of each other.
  constexpr std::strong_ordering operator<=>(const SeqNum& o) const {
    return distance_from(o) <=> 0;
  }

 private:
  std::uint32_t v_ = 0;
};

struct PsnTag {};
struct IbMsnTag {};
struct DdpMsnTag {};

using Psn = SeqNum<24, PsnTag>;       // BTH PSN
using Msn = SeqNum<24, IbMsnTag>;     // AETH MSN
using DdpMsn = SeqNum<32, DdpMsnTag>; // DDP untagged MSN (RFC 5041), starts at 1 per queue

}  // namespace softrnic
