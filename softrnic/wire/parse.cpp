#include "wire/parse.hpp"

#include <array>

#include "wire/crc.hpp"

namespace softrnic::wire {

std::string_view proto_name(Proto p) {
  switch (p) {
    case Proto::roce_v4: return "RoCEv2/IPv4";
    case Proto::roce_v6: return "RoCEv2/IPv6";
    case Proto::tcp_v4: return "TCP/IPv4";
    case Proto::tcp_v6: return "TCP/IPv6";
    case Proto::arp: return "ARP";
    case Proto::nd: return "ND";
    case Proto::other: return "other";
  }
  return "other";
}

namespace {

using Unexpected = std::unexpected<DropReason>;

// RFC 8200 4 / IANA: next-header values that are IPv6 extension headers.
constexpr bool is_ipv6_extension(std::uint8_t nh) {
  switch (nh) {
    case 0: case 43: case 44: case 50: case 51: case 60: case 135: case 139: case 140: case 253:
    case 254:
      return true;
    default:
      return false;
  }
}

// Walks the extension headers a host meets in practice (RFC 8200 4.3-4.6: Hop-by-Hop, Routing,
// Fragment, Destination Options; RFC 4302: AH) from `off` to the upper-layer header, leaving off
// and nh on it. Returns false when the chain ends in a header that is not walked (ESP, mobility,
// HIP, experimental) or in a Routing header with segments left (the packet is not at its final
// destination): the frame is then "other". Errors: a header past the datagram or a chain longer
// than kMaxIpv6Extensions (ipv6_extension_header), a fragment (ipv6_fragment; an atomic fragment,
// offset 0 without M, RFC 6946, is a whole packet).
constexpr int kMaxIpv6Extensions = 8;
std::expected<bool, DropReason> walk_ipv6_extensions(ConstByteSpan frame, std::size_t end,
                                                     std::size_t& off, std::uint8_t& nh) {
  for (int i = 0; i <= kMaxIpv6Extensions; ++i) {
    if (nh != ipproto::kHopByHop && nh != ipproto::kRouting && nh != ipproto::kFragment &&
        nh != ipproto::kDestOptions && nh != ipproto::kAuthentication)
      return !is_ipv6_extension(nh);
    if (i == kMaxIpv6Extensions || end - off < 8) return Unexpected(DropReason::ipv6_extension_header);
    const std::uint8_t next = load_u8(frame, off);
    std::size_t len = (std::size_t{load_u8(frame, off + 1)} + 1) * 8;
    if (nh == ipproto::kFragment) {
      len = 8;
      if ((load_be16(frame, off + 2) & 0xfff9) != 0) return Unexpected(DropReason::ipv6_fragment);
    } else if (nh == ipproto::kAuthentication) {
      len = (std::size_t{load_u8(frame, off + 1)} + 2) * 4;
    }
    if (len > end - off) return Unexpected(DropReason::ipv6_extension_header);
    if (nh == ipproto::kRouting && load_u8(frame, off + 3) != 0) return false;
    off += len;
    nh = next;
  }
  return Unexpected(DropReason::ipv6_extension_header);
}

// Parses BTH .. ICRC inside `bytes` (starting at bth_off, ending at end, ICRC included).
// The ICRC verdict is filled in by the caller, who knows the IP header.
std::expected<RoceInfo, DropReason> parse_transport(ConstByteSpan bytes, std::size_t bth_off,
                                                    std::size_t end) {
  RoceInfo r;
  r.bth_off = bth_off;
  if (end - bth_off < BthView::kSize + kIcrcSize) return Unexpected(DropReason::bth_truncated);
  const auto bth = view_unchecked<BthView>(bytes, bth_off);
  if (bth.tver() != 0) return Unexpected(DropReason::bad_tver);
  const OpcodeInfo& op = opcode_info(bth.opcode());
  if (!op.valid()) return Unexpected(DropReason::bad_opcode);
  r.op = &op;
  const std::size_t hdrs = BthView::kSize + op.ext_size;
  const std::size_t body = end - bth_off - kIcrcSize;  // BTH .. last pad byte
  if (body < hdrs) return Unexpected(DropReason::ext_header_truncated);
  const std::size_t data = body - hdrs;  // payload + pad
  r.pad = bth.pad_count();
  if (r.pad > data) return Unexpected(DropReason::pad_exceeds_payload);
  if (!op.payload && data != 0) return Unexpected(DropReason::ext_header_truncated);
  r.payload_off = bth_off + hdrs;
  r.payload_len = data - r.pad;
  r.icrc_wire = load_le32(bytes, end - kIcrcSize);
  return r;
}

std::optional<DropReason> check_udp_checksum(std::uint32_t pseudo, ConstByteSpan udp) {
  if (load_be16(udp, 6) == 0) return std::nullopt;  // not computed (RoCEv2 senders do this)
  if (ones_fold(ones_sum(udp, pseudo)) != 0) return DropReason::udp_bad_checksum;
  return std::nullopt;
}

}  // namespace

namespace {
std::expected<ParsedFrame, DropReason> parse_impl(ConstByteSpan frame, std::byte* owned,
                                                  const ParseOptions& opts) {
  ParsedFrame p;
  p.frame = frame;
  if (frame.size() < EthView::kSize) return Unexpected(DropReason::eth_truncated);
  std::size_t off = EthView::kSize;
  std::uint16_t type = p.eth().ethertype();
  if (type == ethertype::kVlan || type == ethertype::kQinQ) {
    if (frame.size() < off + VlanView::kSize) return Unexpected(DropReason::vlan_truncated);
    p.vlan_count = 1;
    type = view_unchecked<VlanView>(frame, 14).inner_ethertype();
    off += VlanView::kSize;
    if (type == ethertype::kVlan || type == ethertype::kQinQ)
      return Unexpected(DropReason::vlan_in_vlan);
  }
  p.ethertype = type;
  p.l3_off = off;
  p.ip_end = frame.size();

  if (type == ethertype::kArp) {
    if (frame.size() < off + ArpView::kSize) return Unexpected(DropReason::arp_truncated);
    if (!p.arp().is_ethernet_ipv4()) return Unexpected(DropReason::arp_unsupported);
    p.proto = Proto::arp;
    p.ip_end = off + ArpView::kSize;
    return p;
  }

  std::uint8_t l4proto = 0;
  std::uint32_t pseudo = 0;
  if (type == ethertype::kIpv4) {
    const auto ip4 = view_at<Ipv4View>(frame, off);
    if (!ip4) return Unexpected(DropReason::ipv4_truncated);
    if (ip4->version() != 4) return Unexpected(DropReason::ipv4_bad_version);
    if (ip4->ihl() != 5) {
      return Unexpected(ip4->ihl() < 5 ? DropReason::ipv4_bad_length : DropReason::ipv4_options);
    }
    if (!ip4->checksum_ok()) return Unexpected(DropReason::ipv4_bad_checksum);
    const std::size_t total = ip4->total_length();
    if (total < Ipv4View::kSize || total > frame.size() - off)
      return Unexpected(DropReason::ipv4_bad_length);
    if (ip4->more_fragments() || ip4->frag_offset() != 0)
      return Unexpected(DropReason::ipv4_fragment);
    p.ip_version = 4;
    p.ip_end = off + total;
    p.l4_off = off + Ipv4View::kSize;
    l4proto = ip4->protocol();
    p.l4_proto = l4proto;
    pseudo = pseudo_sum_v4(ip4->src(), ip4->dst(), l4proto,
                           static_cast<std::uint16_t>(total - Ipv4View::kSize));
  } else if (type == ethertype::kIpv6) {
    const auto ip6 = view_at<Ipv6View>(frame, off);
    if (!ip6) return Unexpected(DropReason::ipv6_truncated);
    if (ip6->version() != 6) return Unexpected(DropReason::ipv6_bad_version);
    const std::size_t plen = ip6->payload_length();
    if (plen > frame.size() - off - Ipv6View::kSize) return Unexpected(DropReason::ipv6_bad_length);
    p.ip_version = 6;
    p.ip_end = off + Ipv6View::kSize + plen;
    p.l4_off = off + Ipv6View::kSize;
    l4proto = ip6->next_header();
    auto walked = walk_ipv6_extensions(frame, p.ip_end, p.l4_off, l4proto);
    if (!walked) return Unexpected(walked.error());
    p.l4_proto = l4proto;
    if (!*walked) {
      p.proto = Proto::other;
      return p;
    }
    pseudo = pseudo_sum_v6(ip6->src(), ip6->dst(), l4proto,
                           static_cast<std::uint32_t>(p.ip_end - p.l4_off));
  } else {
    p.proto = Proto::other;
    return p;
  }

  const ConstByteSpan l4 = frame.subspan(p.l4_off, p.ip_end - p.l4_off);
  if (l4proto == ipproto::kUdp) {
    if (l4.size() < UdpView::kSize) return Unexpected(DropReason::udp_truncated);
    const auto udp = p.udp();
    if (udp.dst_port() != opts.roce_port) {  // not ours: whatever it holds is not judged
      p.proto = Proto::other;
      return p;
    }
    if (udp.length() != l4.size()) return Unexpected(DropReason::udp_bad_length);
    if (auto bad = check_udp_checksum(pseudo, l4)) return Unexpected(*bad);
    auto roce = parse_transport(frame, p.l4_off + UdpView::kSize, p.ip_end);
    if (!roce) return Unexpected(roce.error());
    p.roce = *roce;
    p.proto = p.ip_version == 4 ? Proto::roce_v4 : Proto::roce_v6;
    const std::size_t ip_hdr = p.ip_version == 4 ? Ipv4View::kSize : Ipv6View::kSize;
    const auto icrc_end = p.ip_end - kIcrcSize;
    // IPv6 extension headers are not covered (they may be added or changed on the way, as the
    // ICRC's masked fields may); the IPv6 header is, as sent.
    const bool contiguous = p.l4_off == off + ip_hdr;
    const std::uint32_t want =
        owned && contiguous
            ? icrc_in_place(ByteSpan(owned + off, icrc_end - off), ip_hdr)
            : icrc(frame.subspan(off, ip_hdr), frame.subspan(p.l4_off, icrc_end - p.l4_off));
    p.roce.icrc_ok = want == p.roce.icrc_wire;
    if (!p.roce.icrc_ok && opts.drop_bad_icrc) return Unexpected(DropReason::bad_icrc);
    return p;
  }
  if (l4proto == ipproto::kTcp) {
    if (l4.size() < TcpView::kSize) return Unexpected(DropReason::tcp_truncated);
    const std::size_t hlen = std::size_t{p.tcp().data_offset()} * 4;
    if (hlen < TcpView::kSize || hlen > l4.size()) return Unexpected(DropReason::tcp_bad_offset);
    p.proto = p.ip_version == 4 ? Proto::tcp_v4 : Proto::tcp_v6;
    p.tcp_payload_off = p.l4_off + hlen;
    p.tcp_payload_len = l4.size() - hlen;
    return p;
  }
  if (l4proto == ipproto::kIcmpv6 && p.ip_version == 6) {
    if (l4.size() < 4) return Unexpected(DropReason::icmpv6_truncated);
    const std::uint8_t t = load_u8(l4, 0);
    if (t != icmpv6::kNeighbourSolicitation && t != icmpv6::kNeighbourAdvertisement) {
      p.proto = Proto::other;
      return p;
    }
    if (l4.size() < NdView::kSize) return Unexpected(DropReason::icmpv6_truncated);
    if (ones_fold(ones_sum(l4, pseudo)) != 0) return Unexpected(DropReason::nd_bad_checksum);
    p.proto = Proto::nd;
    return p;
  }
  p.proto = Proto::other;
  return p;
}

}  // namespace

std::optional<Ipv6UpperLayer> ipv6_upper_layer(ConstByteSpan frame, std::size_t l3_off) {
  const auto ip6 = view_at<Ipv6View>(frame, l3_off);
  if (!ip6 || ip6->version() != 6) return std::nullopt;
  const std::size_t plen = ip6->payload_length();
  if (plen > frame.size() - l3_off - Ipv6View::kSize) return std::nullopt;
  Ipv6UpperLayer u{l3_off + Ipv6View::kSize, ip6->next_header(), l3_off + Ipv6View::kSize + plen};
  const auto walked = walk_ipv6_extensions(frame, u.end, u.off, u.proto);
  if (!walked || !*walked) return std::nullopt;
  return u;
}

std::expected<ParsedFrame, DropReason> parse_frame(ConstByteSpan frame, const ParseOptions& opts) {
  return parse_impl(frame, nullptr, opts);
}

std::expected<ParsedFrame, DropReason> parse_owned_frame(ByteSpan frame, const ParseOptions& opts) {
  return parse_impl(frame, frame.data(), opts);
}

std::uint32_t socket_icrc(ConstByteSpan bth_to_pad, const SocketMeta& meta) {
  // Re-create the IP and UDP headers the socket stripped (or will add), as the sender builds them.
  const std::size_t udp_len = UdpView::kSize + bth_to_pad.size() + kIcrcSize;
  std::array<std::byte, 40> ip{};
  std::size_t ip_len;
  if (meta.version == IpVersion::v4) {
    ip_len = Ipv4View::kSize;
    Ipv4Mut v(Ipv4Mut::Span(ip.data(), Ipv4View::kSize));
    v.set_version_ihl(0x45);
    v.set_total_length(static_cast<std::uint16_t>(Ipv4View::kSize + udp_len));
    v.set_id(meta.ip_id);
    v.set_flags_frag(meta.ip_flags_frag);
    v.set_protocol(ipproto::kUdp);
    v.set_src({meta.src[12], meta.src[13], meta.src[14], meta.src[15]});
    v.set_dst({meta.dst[12], meta.dst[13], meta.dst[14], meta.dst[15]});
  } else {
    ip_len = Ipv6View::kSize;
    Ipv6Mut v(Ipv6Mut::Span(ip.data(), Ipv6View::kSize));
    v.set_first_word(0, 0);
    v.set_payload_length(static_cast<std::uint16_t>(udp_len));
    v.set_next_header(ipproto::kUdp);
    v.set_src(meta.src);
    v.set_dst(meta.dst);
  }
  std::array<std::byte, UdpView::kSize + BthView::kSize> head{};
  UdpMut u(UdpMut::Span(head.data(), UdpView::kSize));
  u.set_src_port(meta.src_port);
  u.set_dst_port(meta.dst_port);
  u.set_length(static_cast<std::uint16_t>(udp_len));
  store_bytes(head, UdpView::kSize, bth_to_pad.first(BthView::kSize));
  return icrc(ConstByteSpan(ip.data(), ip_len), head, bth_to_pad.subspan(BthView::kSize));
}

std::expected<ParsedPayload, DropReason> parse_udp_payload(ConstByteSpan udp_payload,
                                                           const SocketMeta& meta,
                                                           const ParseOptions& opts) {
  auto roce = parse_transport(udp_payload, 0, udp_payload.size());
  if (!roce) return Unexpected(roce.error());
  ParsedPayload p{udp_payload, *roce};

  const std::uint32_t want = socket_icrc(udp_payload.first(udp_payload.size() - kIcrcSize), meta);
  p.roce.icrc_ok = want == p.roce.icrc_wire;
  if (!p.roce.icrc_ok && opts.drop_bad_icrc) return Unexpected(DropReason::bad_icrc);
  return p;
}

}  // namespace softrnic::wire
