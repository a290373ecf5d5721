// The receive-side entry points. Both take untrusted bytes and never read out of bounds:
//  - parse_frame: a whole Ethernet frame (ports that own the wire: DPDK, loopback, captures);
//  - parse_udp_payload: BTH..ICRC plus what a UDP socket reports (io_uring socket ports).
// They return a description made of offsets into the caller's bytes (no copies) or a DropReason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>

#include "wire/drop_reason.hpp"
#include "wire/ethernet.hpp"
#include "wire/ib_headers.hpp"
#include "wire/ip.hpp"
#include "wire/l4.hpp"
#include "wire/neighbour.hpp"
#include "wire/opcode.hpp"

namespace softrnic::wire {

enum class Proto : std::uint8_t {
  roce_v4,
  roce_v6,
  tcp_v4,  // TCP segment: iWARP when a stream's MPA handshake says so (see mpa_stream.hpp)
  tcp_v6,
  arp,
  nd,     // ICMPv6 neighbour solicitation or advertisement
  other,  // anything else we do not speak: counted, not an error
};

std::string_view proto_name(Proto p);

struct ParseOptions {
  std::uint16_t roce_port = kRoceV2Port;
  // When false, a bad ICRC is reported in the description (icrc_ok == false) instead of as a drop:
  // capture decoding wants to show the frame.
  bool drop_bad_icrc = true;
};

// Everything from the BTH to the ICRC, shared by both entry points. Offsets are from `bytes`.
struct RoceInfo {
  std::size_t bth_off = 0;
  const OpcodeInfo* op = nullptr;
  std::size_t payload_off = 0;
  std::size_t payload_len = 0;
  std::uint8_t pad = 0;
  std::uint32_t icrc_wire = 0;  // as read from the trailer (least significant byte first)
  bool icrc_ok = false;
};

struct ParsedFrame {
  Proto proto = Proto::other;
  ConstByteSpan frame;
  std::uint8_t vlan_count = 0;
  std::uint16_t ethertype = 0;  // after any VLAN tag
  std::size_t l3_off = 0;
  std::size_t l4_off = 0;
  std::size_t ip_end = 0;  // end of the IP datagram; frame bytes after it are Ethernet trailer
  RoceInfo roce;           // proto == roce_*
  std::size_t tcp_payload_off = 0;  // proto == tcp_*
  std::size_t tcp_payload_len = 0;

  EthView eth() const { return view_unchecked<EthView>(frame, 0); }
  std::optional<VlanView> vlan() const {
    if (vlan_count == 0) return std::nullopt;
    return view_unchecked<VlanView>(frame, 14);
  }
  std::uint8_t ip_version = 0;  // 4 or 6 when an IP header was parsed, else 0
  // The upper-layer protocol at l4_off: IPv4's protocol, or IPv6's last next header after the
  // extension headers walked (parse.cpp); on an "other" IPv6 frame, the header the walk stopped at.
  std::uint8_t l4_proto = 0;
  Ipv4View ipv4() const { return view_unchecked<Ipv4View>(frame, l3_off); }
  Ipv6View ipv6() const { return view_unchecked<Ipv6View>(frame, l3_off); }
  UdpView udp() const { return view_unchecked<UdpView>(frame, l4_off); }
  TcpView tcp() const { return view_unchecked<TcpView>(frame, l4_off); }
  ConstByteSpan tcp_options() const {
    return frame.subspan(l4_off + TcpView::kSize, tcp_payload_off - l4_off - TcpView::kSize);
  }
  ConstByteSpan tcp_payload() const { return frame.subspan(tcp_payload_off, tcp_payload_len); }
  ArpView arp() const { return view_unchecked<ArpView>(frame, l3_off); }
  NdView nd() const { return view_unchecked<NdView>(frame, l4_off); }
  ConstByteSpan nd_options() const {
    return frame.subspan(l4_off + NdView::kSize, ip_end - l4_off - NdView::kSize);
  }
  ConstByteSpan trailer() const { return frame.subspan(ip_end); }

  // RoCE accessors (proto == roce_*).
  const OpcodeInfo& op() const { return *roce.op; }
  BthView bth() const { return view_unchecked<BthView>(frame, roce.bth_off); }
  std::size_t ext_off(Hdr h) const {
    return roce.bth_off + BthView::kSize + roce.op->offset_of(h);
  }
  ConstByteSpan payload() const { return frame.subspan(roce.payload_off, roce.payload_len); }
  ConstByteSpan pad_bytes() const { return frame.subspan(roce.payload_off + roce.payload_len, roce.pad); }
};

// Extended-header readers over a parsed packet; the opcode must carry the header (checked by assert).
template <class P>
Reth reth_of(const P& p) { return read_reth(p.frame, p.ext_off(kReth)); }
template <class P>
Deth deth_of(const P& p) { return read_deth(p.frame, p.ext_off(kDeth)); }
template <class P>
Aeth aeth_of(const P& p) { return read_aeth(p.frame, p.ext_off(kAeth)); }
template <class P>
AtomicEth atomic_eth_of(const P& p) { return read_atomic_eth(p.frame, p.ext_off(kAtomicEth)); }
template <class P>
AtomicAckEth atomic_ack_eth_of(const P& p) { return read_atomic_ack_eth(p.frame, p.ext_off(kAtomicAckEth)); }
template <class P>
ImmDt immdt_of(const P& p) { return read_immdt(p.frame, p.ext_off(kImmDt)); }
template <class P>
Ieth ieth_of(const P& p) { return read_ieth(p.frame, p.ext_off(kIeth)); }
template <class P>
Rdeth rdeth_of(const P& p) { return read_rdeth(p.frame, p.ext_off(kRdeth)); }

// The upper-layer header of the IPv6 packet at l3_off, found by walking its extension headers as
// parse_frame does; nothing when the header, the chain or the payload length is broken, or the
// chain ends in a header that is not walked (ESP, a Routing header with segments left, ...).
struct Ipv6UpperLayer {
  std::size_t off = 0;     // in the frame
  std::uint8_t proto = 0;  // its next-header value
  std::size_t end = 0;     // the end of the IPv6 payload
};
[[nodiscard]] std::optional<Ipv6UpperLayer> ipv6_upper_layer(ConstByteSpan frame, std::size_t l3_off);

[[nodiscard]] std::expected<ParsedFrame, DropReason> parse_frame(ConstByteSpan frame,
                                                                 const ParseOptions& opts = {});
// The same, for a frame the caller owns (the engine's receive path): the ICRC is verified in
// place (icrc_in_place), which is faster. The frame's bytes are unchanged on return.
[[nodiscard]] std::expected<ParsedFrame, DropReason> parse_owned_frame(
    ByteSpan frame, const ParseOptions& opts = {});

enum class IpVersion : std::uint8_t { v4 = 4, v6 = 6 };

// What a UDP socket tells about a datagram (recvmsg with IP_PKTINFO / IPV6_RECVPKTINFO).
// IPv4 ICRC covers the IP identification, which a socket does not report: the sender and the
// receiver must agree on it (the socket port documents its choice); ip_id carries that value.
struct SocketMeta {
  IpVersion version = IpVersion::v4;
  Ipv6Addr src{};  // IPv4 addresses in the last 4 bytes (IPv4-mapped form)
  Ipv6Addr dst{};
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = kRoceV2Port;
  std::uint16_t ip_id = 0;
  std::uint16_t ip_flags_frag = Ipv4View::kDontFragment;
};

struct ParsedPayload {
  ConstByteSpan frame;  // the UDP payload: BTH .. ICRC (named frame so the *_of readers apply)
  RoceInfo roce;

  const OpcodeInfo& op() const { return *roce.op; }
  BthView bth() const { return view_unchecked<BthView>(frame, 0); }
  std::size_t ext_off(Hdr h) const {
    return BthView::kSize + roce.op->offset_of(h);
  }
  ConstByteSpan payload() const { return frame.subspan(roce.payload_off, roce.payload_len); }
};

// ICRC of a socket-carried packet (BTH .. last pad byte) as a frame-level peer computes it.
std::uint32_t socket_icrc(ConstByteSpan bth_to_pad, const SocketMeta& meta);

[[nodiscard]] std::expected<ParsedPayload, DropReason> parse_udp_payload(
    ConstByteSpan udp_payload, const SocketMeta& meta, const ParseOptions& opts = {});

}  // namespace softrnic::wire
