// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", 2014): a
// tiny generator whose output depends only on its 64-bit state, so a fault schedule replays
// bit-for-bit from its seed on every compiler and standard library (std:: distributions are not
// specified exactly and differ between libstdc++ and libc++).
#pragma once

#include <cstdint>

namespace softrnic::transport {

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(std::uint64_t seed) : state_(seed) {}

  constexpr std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1): the top 53 bits as a double's mantissa.
  constexpr double next_unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // True with probability p (p <= 0 never, p >= 1 always). Always consumes one draw, so the
  // draws that follow do not depend on p.
  constexpr bool chance(double p) { return next_unit() < p; }

  // Uniform in [0, n) for n >= 1 (multiply-shift of the top 32 bits: no division, bias below
  // n / 2^32, irrelevant for fault positions).
  constexpr std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }

 private:
  std::uint64_t state_;
};

}  // namespace softrnic::transport
