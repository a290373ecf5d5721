// Frame builders: the transmit-side counterparts of parse.hpp. Each writes a whole Ethernet frame
// into a caller-provided buffer (no allocation) and computes every length, checksum and CRC.
// The *_spec_of functions turn a parsed frame back into a spec, so that a frame can be re-emitted
// byte for byte (this is how captures from other stacks prove the codecs).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/result.hpp"
#include "wire/parse.hpp"

namespace softrnic::wire {

struct EthSpec {
  MacAddr dst{};
  MacAddr src{};
  std::optional<std::uint16_t> vlan_tci;  // 802.1Q tag when set
  std::uint16_t vlan_tpid = ethertype::kVlan;
};

struct IpSpec {
  IpVersion version = IpVersion::v4;
  Ipv6Addr src{};  // IPv4: the last 4 bytes (IPv4-mapped form, the GID)
  Ipv6Addr dst{};
  std::uint8_t tos = 0;  // IPv4 TOS / IPv6 traffic class: DSCP << 2 | ECN
  std::uint32_t flow_label = 0;
  std::uint8_t ttl = 64;  // hop limit on IPv6
  std::uint16_t id = 0;
  std::uint16_t flags_frag = Ipv4View::kDontFragment;
};

enum class UdpChecksum : std::uint8_t {
  zero,     // what rxe and hardware RNICs send; accepted by their receivers
  compute,  // real checksum, computed after the ICRC (kernel UDP sockets on IPv6 need it)
};

// Extended header values; the builder writes those the opcode's table entry lists.
struct ExtHeaders {
  Rdeth rdeth{};
  Deth deth{};
  Reth reth{};
  AtomicEth atomic_eth{};
  Aeth aeth{};
  AtomicAckEth atomic_ack_eth{};
  ImmDt immdt{};
  Ieth ieth{};
  std::array<std::uint8_t, 16> cnp_reserved{};
};

struct RoceSpec {
  EthSpec eth;
  IpSpec ip;
  std::uint16_t src_port = 0xc000;
  std::uint16_t dst_port = kRoceV2Port;
  UdpChecksum udp_checksum = UdpChecksum::zero;
  Bth bth;  // pad_count is computed from the payload length
  ExtHeaders ext;
  ConstByteSpan payload;
  ConstByteSpan trailer;  // bytes after the IP datagram (Ethernet padding), usually empty
};

struct TcpSpec {
  EthSpec eth;
  IpSpec ip;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = tcpflag::kAck;
  std::uint8_t reserved_bits = 0;
  std::uint16_t window = 0xffff;
  std::uint16_t urgent = 0;
  ConstByteSpan options;  // opaque, length a multiple of 4, at most 40
  ConstByteSpan payload;
  ConstByteSpan trailer;
  // A captured checksum to reproduce as is (captures taken with checksum offload carry junk).
  std::optional<std::uint16_t> checksum_override;
};

struct ArpSpec {
  EthSpec eth;
  std::uint16_t oper = ArpView::kRequest;
  MacAddr sha{};
  Ipv4Addr spa{};
  MacAddr tha{};
  Ipv4Addr tpa{};
  ConstByteSpan trailer;
};

struct NdSpec {
  EthSpec eth;
  IpSpec ip;  // hop limit must be 255 (RFC 4861 7.1.1)
  std::uint8_t type = icmpv6::kNeighbourSolicitation;
  std::uint8_t na_flags = 0;
  Ipv6Addr target{};
  std::optional<MacAddr> link_addr;  // source (NS) or target (NA) link-layer address option
  ConstByteSpan trailer;
};

// Sizes, for callers that size buffers.
std::size_t roce_frame_size(const RoceSpec& s);
constexpr std::size_t kMaxFrameSize = 14 + 4 + 40 + 8 + 12 + 28 + 8 + 4 + 9216 + 4;

[[nodiscard]] Result<std::size_t> build_roce(const RoceSpec& s, ByteSpan out);

// Two-phase form for senders that gather the payload themselves (scatter/gather lists, registered
// memory): build_roce_headers writes everything before the payload for payload_len bytes (s.payload
// is ignored), the caller fills out[payload_off, payload_off + payload_len), then finish_roce
// writes the pad, the ICRC, the UDP checksum when asked for, and the trailer.
struct RoceLayout {
  std::size_t l3_off = 0;
  std::size_t l4_off = 0;
  std::size_t payload_off = 0;
  std::size_t payload_len = 0;
  std::uint8_t pad = 0;
  std::size_t size = 0;  // whole frame
};
[[nodiscard]] Result<RoceLayout> build_roce_headers(const RoceSpec& s, std::size_t payload_len,
                                                    ByteSpan out);
void finish_roce(const RoceSpec& s, const RoceLayout& l, ByteSpan out);
// Zero-copy form of finish_roce: the payload stays where it is (registered memory) and is only
// read, for the ICRC. out holds the headers (out[0, l.payload_off)); the pad and the ICRC go to
// tail, and the return is their length. Needs UdpChecksum::zero and no trailer (the checksum would
// have to be written before the payload's sum is known; Ethernet padding after the ICRC has no
// place in a three-piece frame); returns 0 and writes nothing otherwise.
std::size_t finish_roce_external(const RoceSpec& s, const RoceLayout& l, ByteSpan out,
                                 ConstByteSpan payload, std::span<std::byte, 8> tail);
[[nodiscard]] Result<std::size_t> build_tcp(const TcpSpec& s, ByteSpan out);
[[nodiscard]] Result<std::size_t> build_arp(const ArpSpec& s, ByteSpan out);
[[nodiscard]] Result<std::size_t> build_nd(const NdSpec& s, ByteSpan out);

// Builds BTH .. ICRC only (what a UDP socket port sends), with the ICRC the peer will check
// given the IP fields in meta.
[[nodiscard]] Result<std::size_t> build_udp_payload(const RoceSpec& s, const SocketMeta& meta,
                                                    ByteSpan out);

// The extended headers of a parsed packet (ParsedFrame or ParsedPayload), those its opcode has.
template <class P>
ExtHeaders ext_headers_of(const P& p) {
  ExtHeaders e;
  const OpcodeInfo& op = p.op();
  if (op.has(kRdeth)) e.rdeth = rdeth_of(p);
  if (op.has(kDeth)) e.deth = deth_of(p);
  if (op.has(kReth)) e.reth = reth_of(p);
  if (op.has(kAtomicEth)) e.atomic_eth = atomic_eth_of(p);
  if (op.has(kAeth)) e.aeth = aeth_of(p);
  if (op.has(kAtomicAckEth)) e.atomic_ack_eth = atomic_ack_eth_of(p);
  if (op.has(kImmDt)) e.immdt = immdt_of(p);
  if (op.has(kIeth)) e.ieth = ieth_of(p);
  if (op.has(kCnpPad)) {
    for (std::size_t i = 0; i < e.cnp_reserved.size(); ++i)
      e.cnp_reserved[i] = load_u8(p.frame, p.ext_off(kCnpPad) + i);
  }
  return e;
}

// Parsed frame -> spec that rebuilds it. The spans in the result point into p.frame.
RoceSpec roce_spec_of(const ParsedFrame& p);
TcpSpec tcp_spec_of(const ParsedFrame& p);
ArpSpec arp_spec_of(const ParsedFrame& p);
NdSpec nd_spec_of(const ParsedFrame& p);

}  // namespace softrnic::wire
