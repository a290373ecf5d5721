// The attacker's frames (attacker.cpp), sent through an AF_PACKET socket at a bounded rate:
//   opcodes    every BTH opcode 0x00-0xff with random headers and payloads, valid ICRCs
//   rkeys      well-formed WRITE / READ / atomics / SEND with invalidate / UC and UD sends with
//              guessed rkeys, addresses and lengths
//   icrc       the same with a wrong ICRC
//   malformed  truncated and oversized frames, every layer's broken lengths, versions, checksums,
//              options, fragments, VLAN tags, other ethertypes and ports, addresses not theirs
//   cm         garbage MADs to QP1: random bytes, wrong versions/classes/methods, every attribute
//              with random comm IDs, REQs for no listener or too large an MTU, a wrong Q_Key
//   neighbour  ARP requests and neighbour solicitations for the devices' addresses from random
//              senders, malformed ARP and ND
//   reqs       CM REQs to the listener from spoofed addresses (random in 198.18.0.0/15) with random
//              comm IDs
// Every kind runs once per target (reqs only toward cm_target), then a random mix until `seconds`
// have passed. The report says what was sent per kind and what the project's own parser
// (wire::parse_frame) makes of those frames: the drop reasons the devices should count.
//
// What the attacker may know: the devices' MACs and addresses (public), the listener's port, and
// each device's connected QPN (an attacker that saw it on the wire). It never spoofs a device's
// peer toward that peer's own QPN: with the QPN and the peer's address only the PSN stands between
// a blind injector and the connection, which RoCEv2 does not authenticate. Toward the known QPN it
// comes from other addresses (rx_drop_wrong_peer); from the peer's address it guesses QPNs
// (rx_drop_unknown_qp). It never spoofs the devices' MACs or announces their addresses (ARP/ND
// spoofing is outside what a device can tell apart).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::hostile {

struct Target {
  std::string name;
  wire::MacAddr mac{};
  wire::Ipv6Addr ip4{}, ip6{};      // its addresses (IPv4 as ::ffff:a.b.c.d)
  wire::Ipv6Addr peer4{}, peer6{};  // its peer's
  std::uint32_t known_qpn = 0;      // its connected QP, as seen on the wire
};

struct SprayConfig {
  wire::MacAddr mac{};  // the attacker's own
  wire::Ipv6Addr ip4{}, ip6{};
  std::vector<Target> targets;
  std::string cm_target;  // the target whose CM listener gets the REQs
  std::uint16_t cm_port = 0;
  std::uint64_t reqs = 100000;
  double seconds = 25;
  std::uint64_t pps = 20000;  // 0: as fast as the socket takes them
  std::uint64_t seed = 1;
};

// Sends everything through fd (an AF_PACKET socket) on ifindex and prints the report. Returns
// the number of frames the socket refused.
std::uint64_t run_spray(const SprayConfig& cfg, int fd, int ifindex);

}  // namespace softrnic::hostile
