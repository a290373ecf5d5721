// Between the engine's Ethernet frames and a UDP socket's datagrams (see uring_udp_port.hpp for
// the rules): where a frame's UDP payload lies, how a frame is made to agree with what the socket
// will send (ICRC included), and the synthetic headers put in front of a received payload.
// Pure functions over bytes, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"
#include "wire/parse.hpp"

namespace softrnic::transport::udp_frame {

struct Layout {
  wire::IpVersion version = wire::IpVersion::v4;
  std::size_t l3_off = 0;
  std::size_t l4_off = 0;
  std::size_t ip_end = 0;  // end of the IP datagram (Ethernet padding may follow)

  std::size_t payload_off() const { return l4_off + 8; }
  std::size_t payload_len() const { return ip_end - payload_off(); }
};

// The UDP datagram inside an Ethernet frame (optionally one 802.1Q tag; IPv4 without options and
// not a fragment, or IPv6 without extension headers), with room for at least BTH + ICRC and a
// consistent UDP length; nothing otherwise.
std::optional<Layout> locate(ConstByteSpan frame);

// Sets the frame's IP source to `local`, the IPv4 ID to 0 with DF, and the UDP source port to
// `local_port` (what the kernel will put on the wire), and when any of them changed recomputes the
// ICRC over the new headers. Returns whether the frame was changed.
bool align_with_socket(ByteSpan frame, const Layout& l, const wire::Ipv6Addr& local,
                       std::uint16_t local_port);

// What the socket told about a received datagram.
struct DatagramMeta {
  wire::IpVersion version = wire::IpVersion::v4;
  wire::Ipv6Addr src{};  // IPv4 in the IPv4-mapped form
  wire::Ipv6Addr dst{};
  std::uint16_t src_port = 0;
  std::uint8_t tclass = 0;  // IPv4 TOS or IPv6 traffic class
};

constexpr std::size_t header_size(wire::IpVersion v) {
  return 14 + (v == wire::IpVersion::v4 ? 20 : 40) + 8;
}

// Writes Ethernet + IP + UDP (header_size(m.version) bytes at the start of `headers`) for a payload
// of payload_len bytes that follows them: MACs dst_mac and src_mac, IPv4
// ID 0 with DF, TTL / hop limit 64, UDP destination port 4791, UDP checksum 0.
void write_headers(ByteSpan headers, const DatagramMeta& m, const wire::MacAddr& dst_mac,
                   const wire::MacAddr& src_mac, std::size_t payload_len);

}  // namespace softrnic::transport::udp_frame
