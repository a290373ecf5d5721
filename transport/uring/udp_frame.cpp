#include "uring/udp_frame.hpp"

#include "wire/crc.hpp"
#include "wire/ib_headers.hpp"
#include "wire/l4.hpp"
#include "wire/view.hpp"

namespace softrnic::transport::udp_frame {

namespace {
constexpr std::size_t kEth = wire::EthView::kSize;
constexpr std::size_t kUdp = wire::UdpView::kSize;
constexpr std::size_t kMinRoce = wire::BthView::kSize + wire::kIcrcSize;
constexpr std::uint8_t kTtl = 64;
}  // namespace

std::optional<Layout> locate(ConstByteSpan frame) {
  if (frame.size() < kEth) return std::nullopt;
  Layout l;
  l.l3_off = kEth;
  std::uint16_t type = load_be16(frame, 12);
  if (type == wire::ethertype::kVlan || type == wire::ethertype::kQinQ) {
    // The tag cannot be carried by a socket; the frame goes out untagged.
    if (frame.size() < kEth + wire::VlanView::kSize) return std::nullopt;
    type = load_be16(frame, kEth + 2);
    l.l3_off += wire::VlanView::kSize;
  }
  if (type == wire::ethertype::kIpv4) {
    const auto ip = wire::view_at<wire::Ipv4View>(frame, l.l3_off);
    if (!ip || ip->version() != 4 || ip->ihl() != 5 || ip->protocol() != wire::ipproto::kUdp)
      return std::nullopt;
    if (ip->more_fragments() || ip->frag_offset() != 0) return std::nullopt;
    const std::size_t total = ip->total_length();
    if (total < wire::Ipv4View::kSize || total > frame.size() - l.l3_off) return std::nullopt;
    l.version = wire::IpVersion::v4;
    l.l4_off = l.l3_off + wire::Ipv4View::kSize;
    l.ip_end = l.l3_off + total;
  } else if (type == wire::ethertype::kIpv6) {
    const auto ip = wire::view_at<wire::Ipv6View>(frame, l.l3_off);
    // An extension header would show as a next header other than UDP: not carried.
    if (!ip || ip->version() != 6 || ip->next_header() != wire::ipproto::kUdp) return std::nullopt;
    const std::size_t plen = ip->payload_length();
    if (plen > frame.size() - l.l3_off - wire::Ipv6View::kSize) return std::nullopt;
    l.version = wire::IpVersion::v6;
    l.l4_off = l.l3_off + wire::Ipv6View::kSize;
    l.ip_end = l.l4_off + plen;
  } else {
    return std::nullopt;
  }
  if (l.ip_end - l.l4_off < kUdp + kMinRoce) return std::nullopt;
  if (load_be16(frame, l.l4_off + 4) != l.ip_end - l.l4_off) return std::nullopt;
  return l;
}

bool align_with_socket(ByteSpan frame, const Layout& l, const wire::Ipv6Addr& local,
                       std::uint16_t local_port) {
  bool changed = false;
  std::size_t ip_header = 0;
  if (l.version == wire::IpVersion::v4) {
    ip_header = wire::Ipv4View::kSize;
    wire::Ipv4Mut ip = wire::view_unchecked<wire::Ipv4Mut>(frame, l.l3_off);
    const wire::Ipv4Addr src = {local[12], local[13], local[14], local[15]};
    if (ip.src() != src) {
      ip.set_src(src);
      changed = true;
    }
    // An unconnected UDP socket with IP_PMTUDISC_DO sends DF with ID 0 (checked by capture).
    if (ip.id() != 0 || ip.flags_frag() != wire::Ipv4View::kDontFragment) {
      ip.set_id(0);
      ip.set_flags_frag(wire::Ipv4View::kDontFragment);
      changed = true;
    }
    if (changed) ip.update_checksum();
  } else {
    ip_header = wire::Ipv6View::kSize;
    wire::Ipv6Mut ip = wire::view_unchecked<wire::Ipv6Mut>(frame, l.l3_off);
    if (ip.src() != local) {
      ip.set_src(local);
      changed = true;
    }
  }
  wire::UdpMut udp = wire::view_unchecked<wire::UdpMut>(frame, l.l4_off);
  if (udp.src_port() != local_port) {
    udp.set_src_port(local_port);
    changed = true;
  }
  if (!changed) return false;
  // IBA A17.4.4 (RoCEv2 ICRC): the source address, IPv4 ID/flags and UDP source port are
  // invariant fields, covered by the CRC.
  const std::size_t icrc_off = l.ip_end - wire::kIcrcSize;
  const std::uint32_t icrc =
      wire::icrc_in_place(frame.subspan(l.l3_off, icrc_off - l.l3_off), ip_header);
  store_le32(frame, icrc_off, icrc);
  return true;
}

void write_headers(ByteSpan headers, const DatagramMeta& m, const wire::MacAddr& dst_mac,
                   const wire::MacAddr& src_mac, std::size_t payload_len) {
  const bool v4 = m.version == wire::IpVersion::v4;
  wire::EthMut eth = wire::view_unchecked<wire::EthMut>(headers, 0);
  eth.set_dst(dst_mac);
  eth.set_src(src_mac);
  eth.set_ethertype(v4 ? wire::ethertype::kIpv4 : wire::ethertype::kIpv6);
  const std::size_t udp_len = kUdp + payload_len;
  std::size_t l4 = kEth;
  if (v4) {
    wire::Ipv4Mut ip = wire::view_unchecked<wire::Ipv4Mut>(headers, kEth);
    ip.set_version_ihl(0x45);
    ip.set_tos(m.tclass);
    ip.set_total_length(static_cast<std::uint16_t>(wire::Ipv4View::kSize + udp_len));
    ip.set_id(0);
    ip.set_flags_frag(wire::Ipv4View::kDontFragment);
    ip.set_ttl(kTtl);
    ip.set_protocol(wire::ipproto::kUdp);
    ip.set_src({m.src[12], m.src[13], m.src[14], m.src[15]});
    ip.set_dst({m.dst[12], m.dst[13], m.dst[14], m.dst[15]});
    ip.update_checksum();
    l4 += wire::Ipv4View::kSize;
  } else {
    wire::Ipv6Mut ip = wire::view_unchecked<wire::Ipv6Mut>(headers, kEth);
    ip.set_first_word(m.tclass, 0);
    ip.set_payload_length(static_cast<std::uint16_t>(udp_len));
    ip.set_next_header(wire::ipproto::kUdp);
    ip.set_hop_limit(kTtl);
    ip.set_src(m.src);
    ip.set_dst(m.dst);
    l4 += wire::Ipv6View::kSize;
  }
  wire::UdpMut udp = wire::view_unchecked<wire::UdpMut>(headers, l4);
  udp.set_src_port(m.src_port);
  udp.set_dst_port(wire::kRoceV2Port);
  udp.set_length(static_cast<std::uint16_t>(udp_len));
  udp.set_checksum(0);
}

}  // namespace softrnic::transport::udp_frame
