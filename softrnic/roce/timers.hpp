// IB timer encodings (IBA 9.7.6.1.3 local ACK timeout, 9.7.5.2.8 table 45 RNR NAK timer).
#pragma once

#include <array>
#include <cstdint>

namespace softrnic::roce {

// Local ACK timeout: 4.096 us * 2^t; t = 0 means infinite (returns 0).
constexpr std::uint64_t ack_timeout_ns(std::uint8_t t) {
  if (t == 0) return 0;
  return 4096ull << (t > 31 ? 31 : t);
}

// RNR NAK timer field (5 bits) -> delay in ns.
constexpr std::uint64_t rnr_delay_ns(std::uint8_t code) {
  constexpr std::array<std::uint32_t, 32> kMicros = {
      655360, 10,    20,    30,    40,    60,     80,     120,    160,    240,    320,
      480,    640,   960,   1280,  1920,  2560,   3840,   5120,   7680,   10240,  15360,
      20480,  30720, 40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520};
  return std::uint64_t{kMicros[code & 31]} * 1000;
}

}  // namespace softrnic::roce
