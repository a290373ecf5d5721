// The attacker as a connected peer (attacker.cpp, before the spray): it opens RC connections to
// a device's CM listener from its own address, completes them (REQ, REP, RTU) and, on each, sends
// one request in sequence that reaches the responder's memory checks with a key that is not its
// own: the real rkey of the device's transfer region (as if leaked, say by a capture) or a guess,
// at the region's start, past its end, or wrapping around 2^64, as WRITE, READ, atomics and SEND
// with invalidate. The device keeps strangers' QPs in a protection domain of their own, so every
// one must be refused (NAK with the expected code) and nothing come back: no read data, no
// atomic result, no acknowledgement. The transfer that owns the region checks that nothing was
// written or invalidated.
#pragma once

#include <cstdint>
#include <string>

#include "spray.hpp"

namespace softrnic::hostile {

struct InsiderConfig {
  wire::MacAddr mac{};  // the attacker's own; its kernel answers ARP for ip4 with it
  wire::Ipv6Addr ip4{};
  Target target;
  std::uint16_t cm_port = 0;
  std::uint32_t leaked_rkey = 0;  // the region's real key
  std::uint64_t region_len = 0;
  double timeout_s = 10;  // for the whole phase (the device takes 2 s to accept a stranger)
  std::uint64_t seed = 1;
};

struct InsiderResult {
  int probes = 0;              // connections made and probes sent
  int refused = 0;             // answered with the expected NAK
  int breached = 0;            // answered with data, an atomic result or an acknowledgement
  int unexpected = 0;          // another NAK, or no answer in time
  int connections_failed = 0;  // no REP (rejected, or no answer)
  std::string detail;          // one line per probe
};

InsiderResult run_insider(const InsiderConfig& cfg, int send_fd, int ifindex);

}  // namespace softrnic::hostile
