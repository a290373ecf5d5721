// libFuzzer target for the receive-side parsers (wire/parse.hpp) and their round trip through the
// builders (wire/build.hpp).
//
// Input layout:
//  - low bit of byte 0 clear: the whole input is an Ethernet frame for parse_frame. That bit is the
//    group bit of the destination MAC, which the parser never interprets, so raw frames taken from
//    captures are seeds as they are;
//  - low bit of byte 0 set: bytes 1..7 describe the SocketMeta (see meta_of), the rest is a UDP
//    payload (BTH .. ICRC) for parse_udp_payload.
//
// Oracles, besides AddressSanitizer and UBSan on every accessor of an accepted description:
//  - a frame rejected only for a checksum (IPv4 header, UDP, ICMPv6, ICRC) is accepted once that
//    checksum is repaired, so mutations explore the layers behind the checksums;
//  - the spec of an accepted frame builds into exactly the announced size (and not into one byte
//    less), re-parses with every check on, and describes the same packet; a frame that is already
//    in canonical form (pad count as the builder chooses it, zero pad bytes) re-emits byte for
//    byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "wire/build.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic::wire {
namespace {

using Buffer = std::vector<std::byte>;  // exact size, so ASan sees any read past the end

// The payload limit of the builders (no path MTU is larger); parse_frame has none.
constexpr std::size_t kMaxBuildPayload = 9216;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "parse_frame_fuzz: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

// Reads every byte of a span, so that a span reaching past the input is seen by ASan.
std::uint32_t touch(ConstByteSpan s) {
  std::uint32_t sum = 0;
  for (const std::byte b : s) sum += static_cast<std::uint8_t>(b);
  return sum;
}

bool equal_bytes(ConstByteSpan a, ConstByteSpan b) { return std::ranges::equal(a, b); }

volatile std::uint32_t g_sink;

template <class P>
std::uint32_t touch_transport(const P& p) {
  const OpcodeInfo& op = p.op();
  const auto bth = p.bth();
  std::uint32_t s = op.name.size() + bth.opcode() + bth.solicited() + bth.mig_req() +
                    bth.pad_count() + bth.tver() + bth.pkey().raw + bth.fecn() + bth.becn() +
                    bth.dest_qp().raw() + bth.ack_req() + bth.resv7() + bth.psn().raw();
  if (op.has(kRdeth)) s += rdeth_of(p).word;
  if (op.has(kDeth)) s += deth_of(p).qkey.raw + deth_of(p).src_qp.raw() + deth_of(p).reserved;
  if (op.has(kReth)) {
    const Reth r = reth_of(p);
    s += static_cast<std::uint32_t>(r.va) + r.rkey.raw() + r.dma_length;
  }
  if (op.has(kAtomicEth)) {
    const AtomicEth a = atomic_eth_of(p);
    s += static_cast<std::uint32_t>(a.va ^ a.swap_add ^ a.compare) + a.rkey.raw();
  }
  if (op.has(kAeth)) s += aeth_of(p).syndrome + aeth_of(p).msn.raw();
  if (op.has(kAtomicAckEth)) s += static_cast<std::uint32_t>(atomic_ack_eth_of(p).orig_data);
  if (op.has(kImmDt)) s += immdt_of(p).value;
  if (op.has(kIeth)) s += ieth_of(p).rkey.raw();
  if (op.has(kCnpPad)) s += touch(p.frame.subspan(p.ext_off(kCnpPad), kHdrSize[8]));
  s += touch(p.payload());
  s += touch(p.frame.subspan(p.roce.payload_off + p.roce.payload_len, p.roce.pad));
  return s + p.roce.icrc_wire + p.roce.icrc_ok;
}

void touch_frame(const ParsedFrame& p) {
  std::uint32_t s = touch(p.eth().bytes()) + p.eth().ethertype() + p.ethertype;
  if (const auto v = p.vlan()) s += v->tci() + v->inner_ethertype();
  if (p.ip_version == 4) {
    const auto ip = p.ipv4();
    s += ip.version() + ip.ihl() + ip.tos() + ip.total_length() + ip.id() + ip.flags_frag() +
         ip.ttl() + ip.protocol() + ip.checksum() + ip.src()[0] + ip.dst()[3];
  } else if (p.ip_version == 6) {
    const auto ip = p.ipv6();
    s += ip.traffic_class() + ip.flow_label() + ip.payload_length() + ip.next_header() +
         ip.hop_limit() + ip.src()[0] + ip.dst()[15];
  }
  switch (p.proto) {
    case Proto::roce_v4:
    case Proto::roce_v6: {
      const auto u = p.udp();
      s += u.src_port() + u.dst_port() + u.length() + u.checksum();
      s += touch_transport(p) + touch(p.pad_bytes());
      break;
    }
    case Proto::tcp_v4:
    case Proto::tcp_v6: {
      const auto t = p.tcp();
      s += t.src_port() + t.dst_port() + t.seq() + t.ack() + t.data_offset() + t.reserved_bits() +
           t.flags() + t.window() + t.checksum() + t.urgent();
      s += touch(p.tcp_options()) + touch(p.tcp_payload());
      break;
    }
    case Proto::arp: {
      const auto a = p.arp();
      s += a.oper() + a.sha()[5] + a.spa()[3] + a.tha()[5] + a.tpa()[3];
      break;
    }
    case Proto::nd: {
      const auto n = p.nd();
      s += n.type() + n.code() + n.checksum() + n.na_flags() + n.target()[15];
      s += touch(p.nd_options());
      break;
    }
    case Proto::other:
      break;
  }
  s += touch(p.trailer()) + static_cast<std::uint32_t>(proto_name(p.proto).size());
  g_sink = s;
}

// Where the network layer starts, for the checksum repairs below (the parser has accepted the
// Ethernet and VLAN headers before it can complain about a checksum).
std::size_t l3_offset(ConstByteSpan f) {
  const std::uint16_t t = load_be16(f, 12);
  return t == ethertype::kVlan || t == ethertype::kQinQ ? 18 : 14;
}

// Writes the right checksum for the layer the parser rejected; false when `why` is no checksum.
bool repair_checksum(Buffer& buf, DropReason why) {
  if (why != DropReason::ipv4_bad_checksum && why != DropReason::udp_bad_checksum &&
      why != DropReason::nd_bad_checksum)
    return false;
  const ByteSpan f(buf);
  const std::size_t l3 = l3_offset(f);
  if (why == DropReason::ipv4_bad_checksum) {
    Ipv4Mut(Ipv4Mut::Span(f.data() + l3, Ipv4View::kSize)).update_checksum();
    return true;
  }
  std::size_t l4 = 0;
  std::size_t l4_len = 0;
  std::uint32_t pseudo = 0;
  const std::uint8_t proto = why == DropReason::udp_bad_checksum ? ipproto::kUdp : ipproto::kIcmpv6;
  if (load_u8(f, l3) >> 4 == 4) {
    const Ipv4View ip(Ipv4View::Span(f.data() + l3, Ipv4View::kSize));
    l4 = l3 + Ipv4View::kSize;
    l4_len = ip.total_length() - Ipv4View::kSize;
    pseudo = pseudo_sum_v4(ip.src(), ip.dst(), proto, static_cast<std::uint16_t>(l4_len));
  } else {
    const Ipv6View ip(Ipv6View::Span(f.data() + l3, Ipv6View::kSize));
    const auto upper = ipv6_upper_layer(f, l3);  // behind any extension headers
    if (!upper) return false;
    l4 = upper->off;
    l4_len = upper->end - upper->off;
    pseudo = pseudo_sum_v6(ip.src(), ip.dst(), proto, static_cast<std::uint32_t>(l4_len));
  }
  const std::size_t field = l4 + (proto == ipproto::kUdp ? 6 : 2);
  store_be16(f, field, 0);
  const std::uint16_t sum = ones_fold(ones_sum(f.subspan(l4, l4_len), pseudo));
  store_be16(f, field, proto == ipproto::kUdp && sum == 0 ? 0xffff : sum);
  return true;
}

// BTH without the pad count (the builder chooses its own).
bool same_bth(ConstByteSpan a, std::size_t a_off, ConstByteSpan b, std::size_t b_off) {
  const auto x = a.subspan(a_off, BthView::kSize);
  const auto y = b.subspan(b_off, BthView::kSize);
  constexpr std::byte kAllButPad{0xcf};
  return x[0] == y[0] && (x[1] & kAllButPad) == (y[1] & kAllButPad) &&
         equal_bytes(x.subspan(2), y.subspan(2));
}

// The IP header without its length fields and checksum, which follow from the pad count.
bool same_ip_header(const ParsedFrame& a, const ParsedFrame& b) {
  if (a.ip_version != b.ip_version) return false;
  const auto ha = a.frame.subspan(a.l3_off, a.l4_off - a.l3_off);
  const auto hb = b.frame.subspan(b.l3_off, b.l4_off - b.l3_off);
  if (ha.size() != hb.size()) return false;
  if (a.ip_version == 4) {
    return equal_bytes(ha.first(2), hb.first(2)) &&
           equal_bytes(ha.subspan(4, 6), hb.subspan(4, 6)) &&
           equal_bytes(ha.subspan(12), hb.subspan(12));
  }
  return equal_bytes(ha.first(4), hb.first(4)) && equal_bytes(ha.subspan(6), hb.subspan(6));
}

template <class P>
bool same_roce_transport(const P& a, const P& b) {
  const std::size_t a_ext = a.roce.bth_off + BthView::kSize;
  const std::size_t b_ext = b.roce.bth_off + BthView::kSize;
  return same_bth(a.frame, a.roce.bth_off, b.frame, b.roce.bth_off) &&
         equal_bytes(a.frame.subspan(a_ext, a.roce.payload_off - a_ext),
                     b.frame.subspan(b_ext, b.roce.payload_off - b_ext)) &&
         equal_bytes(a.payload(), b.payload()) && b.roce.icrc_ok;
}

// True when the builder would write these very bytes: its pad count, zero pad bytes.
template <class P>
bool canonical_pad(const P& p) {
  const auto pad = p.frame.subspan(p.roce.payload_off + p.roce.payload_len, p.roce.pad);
  return p.roce.pad == (4 - p.roce.payload_len % 4) % 4 &&
         std::ranges::all_of(pad, [](std::byte b) { return b == std::byte{0}; });
}

// False for an IPv4 header checksum of 0xffff where 0x0000 is computed: both are zero in one's
// complement and both are accepted, but a builder writes what it computes.
bool canonical_ip_checksum(const ParsedFrame& p) {
  if (p.ip_version != 4) return true;
  const ConstByteSpan h = p.frame.subspan(p.l3_off, Ipv4View::kSize);
  return ones_fold(ones_sum(h.subspan(12), ones_sum(h.first(10)))) == p.ipv4().checksum();
}

// Builds s into a buffer of its exact size after checking that one byte less is refused.
template <class Spec, class Build>
Buffer build_exact(const Spec& s, std::size_t size, Build build) {
  if (size > 0) {
    Buffer short_buf(size - 1);
    const auto refused = build(s, ByteSpan(short_buf));
    check(!refused && refused.error().code == Errc::buffer_too_small,
          "builder accepted a buffer one byte too small");
  }
  Buffer out(size);
  const auto n = build(s, ByteSpan(out));
  check(n.has_value(), "builder refused the spec of an accepted frame");
  check(*n == size, "builder wrote a size other than the one announced");
  return out;
}

void round_trip_roce(const ParsedFrame& p) {
  const RoceSpec spec = roce_spec_of(p);
  if (spec.payload.size() > kMaxBuildPayload) {
    Buffer out(kMaxFrameSize + spec.payload.size());
    const auto n = build_roce(spec, out);
    check(!n && n.error().code == Errc::invalid_argument, "builder took an oversized payload");
    return;
  }
  const Buffer out = build_exact(spec, roce_frame_size(spec),
                                 [](const RoceSpec& s, ByteSpan b) { return build_roce(s, b); });
  const auto q = parse_frame(out);
  check(q.has_value(), "rebuilt RoCE frame does not re-parse");
  touch_frame(*q);
  check(q->proto == p.proto && q->vlan_count == p.vlan_count && q->ethertype == p.ethertype,
        "rebuilt RoCE frame changed its layers");
  check(equal_bytes(p.frame.first(12), ConstByteSpan(out).first(12)),
        "rebuilt RoCE frame changed its MACs");
  check(same_ip_header(p, *q), "rebuilt RoCE frame changed its IP header");
  check(p.udp().src_port() == q->udp().src_port(), "rebuilt RoCE frame changed its UDP port");
  check(same_roce_transport(p, *q), "rebuilt RoCE frame changed its transport headers or payload");
  check(equal_bytes(p.trailer(), q->trailer()), "rebuilt RoCE frame changed its trailer");
  if (canonical_pad(p) && canonical_ip_checksum(p))
    check(equal_bytes(p.frame, out), "canonical RoCE frame not re-emitted as is");
}

void round_trip_tcp(const ParsedFrame& p) {
  const TcpSpec spec = tcp_spec_of(p);
  const std::size_t size = p.frame.size();
  const Buffer out =
      build_exact(spec, size, [](const TcpSpec& s, ByteSpan b) { return build_tcp(s, b); });
  // Everything in a TCP segment is kept (options opaque, the captured checksum reproduced).
  if (canonical_ip_checksum(p)) check(equal_bytes(p.frame, out), "TCP frame not re-emitted as is");
  const auto q = parse_frame(out);
  check(q.has_value() && q->proto == p.proto, "rebuilt TCP frame does not re-parse");
  touch_frame(*q);
}

void round_trip_arp(const ParsedFrame& p) {
  const Buffer out = build_exact(arp_spec_of(p), p.frame.size(),
                                 [](const ArpSpec& s, ByteSpan b) { return build_arp(s, b); });
  check(equal_bytes(p.frame, out), "ARP frame not re-emitted as is");
}

void round_trip_nd(const ParsedFrame& p) {
  const NdSpec spec = nd_spec_of(p);
  const std::size_t size =
      p.l4_off + NdView::kSize + (spec.link_addr ? 8 : 0) + spec.trailer.size();
  const Buffer out =
      build_exact(spec, size, [](const NdSpec& s, ByteSpan b) { return build_nd(s, b); });
  // Options other than one link-layer address are not kept: compare what the spec holds.
  const auto q = parse_frame(out);
  check(q.has_value() && q->proto == Proto::nd, "rebuilt ND frame does not re-parse");
  touch_frame(*q);
  check(q->nd().type() == p.nd().type() && q->nd().target() == p.nd().target() &&
            q->nd().na_flags() == p.nd().na_flags() && same_ip_header(p, *q),
        "rebuilt ND frame changed its fields");
}

void fuzz_frame(ConstByteSpan input) {
  Buffer buf(input.begin(), input.end());
  const ParseOptions keep_bad_icrc{.roce_port = kRoceV2Port, .drop_bad_icrc = false};
  auto p = parse_frame(buf, keep_bad_icrc);
  if (p) touch_frame(*p);
  {
    // The engine's path masks the ICRC fields in place: same verdict, bytes restored.
    Buffer owned(input.begin(), input.end());
    const auto q = parse_owned_frame(owned, keep_bad_icrc);
    check(std::equal(owned.begin(), owned.end(), input.begin(), input.end()),
          "parse_owned_frame changed the frame");
    check(q.has_value() == p.has_value(), "owned and const parses disagree");
    check(q ? q->roce.icrc_ok == p->roce.icrc_ok : q.error() == p.error(),
          "owned and const parses disagree");
  }
  // Up to three layers carry a checksum before the ICRC; repair them one at a time.
  for (int i = 0; i < 3 && !p && repair_checksum(buf, p.error()); ++i) {
    p = parse_frame(buf, keep_bad_icrc);
    if (p) touch_frame(*p);
  }
  if (!p) return;
  check(p->frame.data() == buf.data() && p->frame.size() == buf.size(), "description lost frame");

  if (p->proto == Proto::roce_v4 || p->proto == Proto::roce_v6) {
    const std::size_t ip_hdr = p->ip_version == 4 ? Ipv4View::kSize : Ipv6View::kSize;
    const std::size_t icrc_at = p->ip_end - kIcrcSize;
    const std::uint32_t want = icrc(ConstByteSpan(buf).subspan(p->l3_off, ip_hdr),
                                    ConstByteSpan(buf).subspan(p->l4_off, icrc_at - p->l4_off));
    check(p->roce.icrc_ok == (want == p->roce.icrc_wire), "ICRC verdict disagrees with icrc()");
    if (!p->roce.icrc_ok) {
      check(!parse_frame(buf), "frame with a bad ICRC accepted");
      store_le32(buf, icrc_at, want);
      // A UDP checksum, when present, covers the ICRC (it is computed last, wire reference 1.4).
      if (p->udp().checksum() != 0) repair_checksum(buf, DropReason::udp_bad_checksum);
    }
    p = parse_frame(buf);
    check(p.has_value() && p->roce.icrc_ok, "frame with a repaired ICRC rejected");
  }
  // The builders write no IPv6 extension headers: frames that carry some are not round-tripped.
  if (p->ip_version == 6 && p->l4_off != p->l3_off + Ipv6View::kSize) return;
  if (p->proto == Proto::roce_v4 || p->proto == Proto::roce_v6) {
    round_trip_roce(*p);
  } else if (p->proto == Proto::tcp_v4 || p->proto == Proto::tcp_v6) {
    round_trip_tcp(*p);
  } else if (p->proto == Proto::arp) {
    round_trip_arp(*p);
  } else if (p->proto == Proto::nd) {
    round_trip_nd(*p);
  }
}

// Bytes 1..7 of the input: [1] bit 0 IPv6, bit 1 no DF; [2..3] source port; [4..5] IPv4 ID;
// [6], [7] last byte of the source and destination addresses.
constexpr std::size_t kMetaBytes = 8;

SocketMeta meta_of(ConstByteSpan in) {
  SocketMeta m;
  const std::uint8_t flags = load_u8(in, 1);
  m.version = (flags & 1) != 0 ? IpVersion::v6 : IpVersion::v4;
  if (m.version == IpVersion::v4) {
    m.src = ipv4_mapped({198, 18, 0, load_u8(in, 6)});
    m.dst = ipv4_mapped({198, 18, 0, load_u8(in, 7)});
  } else {
    m.src = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, load_u8(in, 6)};
    m.dst = {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, load_u8(in, 7)};
  }
  m.src_port = load_be16(in, 2);
  m.ip_id = load_be16(in, 4);
  m.ip_flags_frag = (flags & 2) != 0 ? 0 : Ipv4View::kDontFragment;
  return m;
}

RoceSpec spec_of(const ParsedPayload& p) {
  RoceSpec s;
  s.bth = read_bth(p.bth());
  s.ext = ext_headers_of(p);
  s.payload = p.payload();
  return s;
}

void fuzz_udp_payload(ConstByteSpan input) {
  if (input.size() < kMetaBytes) return;
  const SocketMeta meta = meta_of(input);
  Buffer buf(input.begin() + kMetaBytes, input.end());
  const ParseOptions keep_bad_icrc{.roce_port = kRoceV2Port, .drop_bad_icrc = false};
  auto p = parse_udp_payload(buf, meta, keep_bad_icrc);
  if (!p) return;
  g_sink = touch_transport(*p);
  const std::size_t icrc_at = buf.size() - kIcrcSize;
  const std::uint32_t want = socket_icrc(ConstByteSpan(buf).first(icrc_at), meta);
  check(p->roce.icrc_ok == (want == p->roce.icrc_wire), "socket ICRC verdict disagrees");
  if (!p->roce.icrc_ok) {
    check(!parse_udp_payload(buf, meta), "payload with a bad ICRC accepted");
    store_le32(buf, icrc_at, want);
  }
  p = parse_udp_payload(buf, meta);
  check(p.has_value() && p->roce.icrc_ok, "payload with a repaired ICRC rejected");

  const RoceSpec spec = spec_of(*p);
  if (spec.payload.size() > kMaxBuildPayload) return;
  const std::size_t size = buf.size() - p->roce.pad + (4 - p->roce.payload_len % 4) % 4;
  const Buffer out = build_exact(
      spec, size, [&meta](const RoceSpec& s, ByteSpan b) { return build_udp_payload(s, meta, b); });
  const auto q = parse_udp_payload(out, meta);
  check(q.has_value(), "rebuilt UDP payload does not re-parse");
  g_sink = touch_transport(*q);
  check(same_roce_transport(*p, *q), "rebuilt UDP payload changed its headers or payload");
  if (canonical_pad(*p)) check(equal_bytes(p->frame, out), "canonical payload not re-emitted");
}

}  // namespace
}  // namespace softrnic::wire

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const softrnic::ConstByteSpan input = softrnic::as_bytes_of(data, size);
  if (size > 0 && (data[0] & 1) != 0) {
    softrnic::wire::fuzz_udp_payload(input);
  } else {
    softrnic::wire::fuzz_frame(input);
  }
  return 0;
}
