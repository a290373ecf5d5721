#include "wire/build.hpp"

#include "wire/crc.hpp"

namespace softrnic::wire {

namespace {

std::size_t l2_size(const EthSpec& e) { return EthView::kSize + (e.vlan_tci ? VlanView::kSize : 0); }
std::size_t l3_size(const IpSpec& ip) {
  return ip.version == IpVersion::v4 ? Ipv4View::kSize : Ipv6View::kSize;
}
Ipv4Addr v4_of(const Ipv6Addr& a) { return {a[12], a[13], a[14], a[15]}; }
Ipv6Addr mapped_of(const Ipv4Addr& a) { return ipv4_mapped(a); }

std::unexpected<Error> too_small(std::size_t need, std::size_t have) {
  return make_error(Errc::buffer_too_small, "frame needs " + std::to_string(need) +
                                                " bytes, buffer has " + std::to_string(have));
}

// Writes Ethernet [+ VLAN] and the IP header for an l4 payload of l4_len bytes. Returns the
// offset of the L4 header.
std::size_t write_l2_l3(const EthSpec& e, const IpSpec& ip, std::uint8_t proto, std::size_t l4_len,
                        ByteSpan out) {
  EthMut eth(EthMut::Span(out.data(), EthView::kSize));
  eth.set_dst(e.dst);
  eth.set_src(e.src);
  const std::uint16_t l3type = ip.version == IpVersion::v4 ? ethertype::kIpv4 : ethertype::kIpv6;
  std::size_t off = EthView::kSize;
  if (e.vlan_tci) {
    eth.set_ethertype(e.vlan_tpid);
    VlanMut v(VlanMut::Span(out.data() + off, VlanView::kSize));
    v.set_tci(*e.vlan_tci);
    v.set_inner_ethertype(l3type);
    off += VlanView::kSize;
  } else {
    eth.set_ethertype(l3type);
  }
  if (ip.version == IpVersion::v4) {
    Ipv4Mut v(Ipv4Mut::Span(out.data() + off, Ipv4View::kSize));
    v.set_version_ihl(0x45);
    v.set_tos(ip.tos);
    v.set_total_length(static_cast<std::uint16_t>(Ipv4View::kSize + l4_len));
    v.set_id(ip.id);
    v.set_flags_frag(ip.flags_frag);
    v.set_ttl(ip.ttl);
    v.set_protocol(proto);
    v.set_src(v4_of(ip.src));
    v.set_dst(v4_of(ip.dst));
    v.update_checksum();
    return off + Ipv4View::kSize;
  }
  Ipv6Mut v(Ipv6Mut::Span(out.data() + off, Ipv6View::kSize));
  v.set_first_word(ip.tos, ip.flow_label);
  v.set_payload_length(static_cast<std::uint16_t>(l4_len));
  v.set_next_header(proto);
  v.set_hop_limit(ip.ttl);
  v.set_src(ip.src);
  v.set_dst(ip.dst);
  return off + Ipv6View::kSize;
}

std::uint32_t pseudo_of(const IpSpec& ip, std::uint8_t proto, std::size_t l4_len) {
  if (ip.version == IpVersion::v4)
    return pseudo_sum_v4(v4_of(ip.src), v4_of(ip.dst), proto, static_cast<std::uint16_t>(l4_len));
  return pseudo_sum_v6(ip.src, ip.dst, proto, static_cast<std::uint32_t>(l4_len));
}

// BTH .. pad (no ICRC) size for a spec.
std::size_t transport_size(const RoceSpec& s, std::size_t payload_len, std::uint8_t pad) {
  const auto& op = opcode_info(s.bth.opcode);
  return BthView::kSize + op.ext_size + payload_len + pad;
}

// Writes BTH and the extended headers at out[0..). Returns their size (the payload offset).
std::size_t write_transport_headers(const RoceSpec& s, std::uint8_t pad, ByteSpan out) {
  const auto& op = opcode_info(s.bth.opcode);
  Bth bth = s.bth;
  bth.pad_count = pad;
  write(BthMut(BthMut::Span(out.data(), BthView::kSize)), bth);
  std::size_t o = BthView::kSize;
  const auto at = [&](Hdr h) { return o + op.offset_of(h); };
  if (op.has(kRdeth)) write(out, at(kRdeth), s.ext.rdeth);
  if (op.has(kDeth)) write(out, at(kDeth), s.ext.deth);
  if (op.has(kReth)) write(out, at(kReth), s.ext.reth);
  if (op.has(kAtomicEth)) write(out, at(kAtomicEth), s.ext.atomic_eth);
  if (op.has(kAeth)) write(out, at(kAeth), s.ext.aeth);
  if (op.has(kAtomicAckEth)) write(out, at(kAtomicAckEth), s.ext.atomic_ack_eth);
  if (op.has(kImmDt)) write(out, at(kImmDt), s.ext.immdt);
  if (op.has(kIeth)) write(out, at(kIeth), s.ext.ieth);
  if (op.has(kCnpPad)) {
    for (std::size_t i = 0; i < 16; ++i) store_u8(out, at(kCnpPad) + i, s.ext.cnp_reserved[i]);
  }
  return o + op.ext_size;
}

std::optional<Error> check_roce_spec(const RoceSpec& s, std::size_t payload_len) {
  const auto& op = opcode_info(s.bth.opcode);
  if (!op.valid())
    return Error{Errc::invalid_argument, "opcode " + std::to_string(s.bth.opcode) + " is not one we send"};
  if (!op.payload && payload_len != 0)
    return Error{Errc::invalid_argument, std::string(op.name) + " carries no payload"};
  if (payload_len > 9216)
    return Error{Errc::invalid_argument, "payload larger than any path MTU"};
  return std::nullopt;
}

std::uint8_t pad_for(std::size_t len) { return static_cast<std::uint8_t>((4 - len % 4) % 4); }

}  // namespace

std::size_t roce_frame_size(const RoceSpec& s) {
  return l2_size(s.eth) + l3_size(s.ip) + UdpView::kSize +
         transport_size(s, s.payload.size(), pad_for(s.payload.size())) + kIcrcSize +
         s.trailer.size();
}

Result<RoceLayout> build_roce_headers(const RoceSpec& s, std::size_t payload_len, ByteSpan out) {
  if (auto e = check_roce_spec(s, payload_len)) return std::unexpected(*e);
  const std::uint8_t pad = pad_for(payload_len);
  const std::size_t udp_len = UdpView::kSize + transport_size(s, payload_len, pad) + kIcrcSize;
  RoceLayout l;
  l.l3_off = l2_size(s.eth);
  l.size = l.l3_off + l3_size(s.ip) + udp_len + s.trailer.size();
  if (l.size > out.size()) return too_small(l.size, out.size());
  l.l4_off = write_l2_l3(s.eth, s.ip, ipproto::kUdp, udp_len, out);
  UdpMut udp(UdpMut::Span(out.data() + l.l4_off, UdpView::kSize));
  udp.set_src_port(s.src_port);
  udp.set_dst_port(s.dst_port);
  udp.set_length(static_cast<std::uint16_t>(udp_len));
  udp.set_checksum(0);
  const std::size_t bth = l.l4_off + UdpView::kSize;
  l.payload_off = bth + write_transport_headers(s, pad, out.subspan(bth));
  l.payload_len = payload_len;
  l.pad = pad;
  return l;
}

void finish_roce(const RoceSpec& s, const RoceLayout& l, ByteSpan out) {
  std::size_t end = l.payload_off + l.payload_len;
  for (std::uint8_t i = 0; i < l.pad; ++i) store_u8(out, end++, 0);
  store_le32(out, end, icrc_in_place(out.subspan(l.l3_off, end - l.l3_off), l.l4_off - l.l3_off));
  if (s.udp_checksum == UdpChecksum::compute) {
    // After the ICRC, which masks this field (wire reference 1.4).
    const std::size_t udp_len = end + kIcrcSize - l.l4_off;
    UdpMut udp(UdpMut::Span(out.data() + l.l4_off, UdpView::kSize));
    const std::uint16_t sum =
        ones_fold(ones_sum(out.subspan(l.l4_off, udp_len), pseudo_of(s.ip, ipproto::kUdp, udp_len)));
    udp.set_checksum(sum == 0 ? 0xffff : sum);
  }
  store_bytes(out, end + kIcrcSize, s.trailer);
}

std::size_t finish_roce_external(const RoceSpec& s, const RoceLayout& l, ByteSpan out,
                                 ConstByteSpan payload, std::span<std::byte, 8> tail) {
  if (s.udp_checksum != UdpChecksum::zero || !s.trailer.empty() || payload.size() != l.payload_len)
    return 0;
  std::uint32_t c =
      icrc_in_place(out.subspan(l.l3_off, l.payload_off - l.l3_off), l.l4_off - l.l3_off);
  c = crc32_ieee(c, payload);
  ByteSpan t(tail);
  for (std::uint8_t i = 0; i < l.pad; ++i) store_u8(t, i, 0);
  c = crc32_ieee(c, t.first(l.pad));
  store_le32(t, l.pad, c);
  return l.pad + kIcrcSize;
}

Result<std::size_t> build_roce(const RoceSpec& s, ByteSpan out) {
  auto l = build_roce_headers(s, s.payload.size(), out);
  if (!l) return std::unexpected(l.error());
  store_bytes(out, l->payload_off, s.payload);
  finish_roce(s, *l, out);
  return l->size;
}

Result<std::size_t> build_udp_payload(const RoceSpec& s, const SocketMeta& meta, ByteSpan out) {
  if (auto e = check_roce_spec(s, s.payload.size())) return std::unexpected(*e);
  const std::uint8_t pad = pad_for(s.payload.size());
  const std::size_t need = transport_size(s, s.payload.size(), pad) + kIcrcSize;
  if (need > out.size()) return too_small(need, out.size());
  std::size_t end = write_transport_headers(s, pad, out);
  store_bytes(out, end, s.payload);
  end += s.payload.size();
  for (std::uint8_t i = 0; i < pad; ++i) store_u8(out, end++, 0);
  store_le32(out, end, socket_icrc(out.first(end), meta));
  return need;
}

Result<std::size_t> build_tcp(const TcpSpec& s, ByteSpan out) {
  if (s.options.size() % 4 != 0 || s.options.size() > 40)
    return make_error(Errc::invalid_argument, "TCP options must be a multiple of 4, at most 40 bytes");
  const std::size_t hlen = TcpView::kSize + s.options.size();
  const std::size_t l4_len = hlen + s.payload.size();
  const std::size_t need = l2_size(s.eth) + l3_size(s.ip) + l4_len + s.trailer.size();
  if (need > out.size()) return too_small(need, out.size());
  if (l3_size(s.ip) + l4_len > 0xffff) return make_error(Errc::invalid_argument, "TCP segment too long");
  const std::size_t l4 = write_l2_l3(s.eth, s.ip, ipproto::kTcp, l4_len, out);
  TcpMut t(TcpMut::Span(out.data() + l4, TcpView::kSize));
  t.set_src_port(s.src_port);
  t.set_dst_port(s.dst_port);
  t.set_seq(s.seq);
  t.set_ack(s.ack);
  t.set_offset_byte(static_cast<std::uint8_t>((hlen / 4) << 4 | (s.reserved_bits & 0x0f)));
  t.set_flags(s.flags);
  t.set_window(s.window);
  t.set_checksum(0);
  t.set_urgent(s.urgent);
  store_bytes(out, l4 + TcpView::kSize, s.options);
  store_bytes(out, l4 + hlen, s.payload);
  t.set_checksum(s.checksum_override
                     ? *s.checksum_override
                     : ones_fold(ones_sum(out.subspan(l4, l4_len), pseudo_of(s.ip, ipproto::kTcp, l4_len))));
  store_bytes(out, l4 + l4_len, s.trailer);
  return need;
}

Result<std::size_t> build_arp(const ArpSpec& s, ByteSpan out) {
  const std::size_t l3 = l2_size(s.eth);
  const std::size_t need = l3 + ArpView::kSize + s.trailer.size();
  if (need > out.size()) return too_small(need, out.size());
  EthMut eth(EthMut::Span(out.data(), EthView::kSize));
  eth.set_dst(s.eth.dst);
  eth.set_src(s.eth.src);
  if (s.eth.vlan_tci) {
    eth.set_ethertype(s.eth.vlan_tpid);
    VlanMut v(VlanMut::Span(out.data() + EthView::kSize, VlanView::kSize));
    v.set_tci(*s.eth.vlan_tci);
    v.set_inner_ethertype(ethertype::kArp);
  } else {
    eth.set_ethertype(ethertype::kArp);
  }
  ArpMut a(ArpMut::Span(out.data() + l3, ArpView::kSize));
  a.set_ethernet_ipv4(s.oper);
  a.set_sha(s.sha);
  a.set_spa(s.spa);
  a.set_tha(s.tha);
  a.set_tpa(s.tpa);
  store_bytes(out, l3 + ArpView::kSize, s.trailer);
  return need;
}

Result<std::size_t> build_nd(const NdSpec& s, ByteSpan out) {
  if (s.ip.version != IpVersion::v6) return make_error(Errc::invalid_argument, "ND needs IPv6");
  const std::size_t l4_len = NdView::kSize + (s.link_addr ? 8 : 0);
  const std::size_t need = l2_size(s.eth) + Ipv6View::kSize + l4_len + s.trailer.size();
  if (need > out.size()) return too_small(need, out.size());
  const std::size_t l4 = write_l2_l3(s.eth, s.ip, ipproto::kIcmpv6, l4_len, out);
  NdMut nd(NdMut::Span(out.data() + l4, NdView::kSize));
  nd.set_type(s.type);
  nd.set_code(0);
  nd.set_checksum(0);
  nd.set_flags_word(std::uint32_t{s.na_flags} << 24);
  nd.set_target(s.target);
  if (s.link_addr) {
    const std::size_t o = l4 + NdView::kSize;
    store_u8(out, o, s.type == icmpv6::kNeighbourSolicitation ? icmpv6::kOptSourceLinkAddr
                                                              : icmpv6::kOptTargetLinkAddr);
    store_u8(out, o + 1, 1);
    store_mac(out, o + 2, *s.link_addr);
  }
  nd.set_checksum(ones_fold(ones_sum(out.subspan(l4, l4_len), pseudo_of(s.ip, ipproto::kIcmpv6, l4_len))));
  store_bytes(out, l4 + l4_len, s.trailer);
  return need;
}

namespace {
EthSpec eth_spec_of(const ParsedFrame& p) {
  EthSpec e;
  e.dst = p.eth().dst();
  e.src = p.eth().src();
  if (auto v = p.vlan()) {
    e.vlan_tci = v->tci();
    e.vlan_tpid = p.eth().ethertype();
  }
  return e;
}
IpSpec ip_spec_of(const ParsedFrame& p) {
  IpSpec ip;
  if (p.ip_version == 4) {
    const auto v = p.ipv4();
    ip.version = IpVersion::v4;
    ip.src = mapped_of(v.src());
    ip.dst = mapped_of(v.dst());
    ip.tos = v.tos();
    ip.ttl = v.ttl();
    ip.id = v.id();
    ip.flags_frag = v.flags_frag();
  } else {
    const auto v = p.ipv6();
    ip.version = IpVersion::v6;
    ip.src = v.src();
    ip.dst = v.dst();
    ip.tos = v.traffic_class();
    ip.flow_label = v.flow_label();
    ip.ttl = v.hop_limit();
  }
  return ip;
}
}  // namespace

RoceSpec roce_spec_of(const ParsedFrame& p) {
  RoceSpec s;
  s.eth = eth_spec_of(p);
  s.ip = ip_spec_of(p);
  s.src_port = p.udp().src_port();
  s.dst_port = p.udp().dst_port();
  s.udp_checksum = p.udp().checksum() == 0 ? UdpChecksum::zero : UdpChecksum::compute;
  s.bth = read_bth(p.bth());
  s.ext = ext_headers_of(p);
  s.payload = p.payload();
  s.trailer = p.trailer();
  return s;
}

TcpSpec tcp_spec_of(const ParsedFrame& p) {
  TcpSpec s;
  s.eth = eth_spec_of(p);
  s.ip = ip_spec_of(p);
  const auto t = p.tcp();
  s.src_port = t.src_port();
  s.dst_port = t.dst_port();
  s.seq = t.seq();
  s.ack = t.ack();
  s.flags = t.flags();
  s.reserved_bits = t.reserved_bits();
  s.window = t.window();
  s.urgent = t.urgent();
  s.options = p.tcp_options();
  s.payload = p.tcp_payload();
  s.trailer = p.trailer();
  // Keep the captured checksum whenever build_tcp would write another: a wrong one (offload), but
  // also 0xffff where 0x0000 is computed, both being zero in one's complement (RFC 1071).
  const std::size_t l4_len = p.ip_end - p.l4_off;
  const ConstByteSpan segment = p.frame.subspan(p.l4_off, l4_len);
  const std::uint32_t without_checksum = ones_sum(
      segment.subspan(18), ones_sum(segment.first(16), pseudo_of(s.ip, ipproto::kTcp, l4_len)));
  if (ones_fold(without_checksum) != t.checksum()) s.checksum_override = t.checksum();
  return s;
}

ArpSpec arp_spec_of(const ParsedFrame& p) {
  ArpSpec s;
  s.eth = eth_spec_of(p);
  const auto a = p.arp();
  s.oper = a.oper();
  s.sha = a.sha();
  s.spa = a.spa();
  s.tha = a.tha();
  s.tpa = a.tpa();
  s.trailer = p.trailer();
  return s;
}

NdSpec nd_spec_of(const ParsedFrame& p) {
  NdSpec s;
  s.eth = eth_spec_of(p);
  s.ip = ip_spec_of(p);
  const auto n = p.nd();
  s.type = n.type();
  s.na_flags = n.na_flags();
  s.target = n.target();
  const auto opts = p.nd_options();
  if (opts.size() >= 8 && load_u8(opts, 1) == 1) s.link_addr = load_mac(opts, 2);
  s.trailer = p.trailer();
  return s;
}

}  // namespace softrnic::wire
