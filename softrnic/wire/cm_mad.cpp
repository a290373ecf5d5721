#include "wire/cm_mad.hpp"

#include <string>

#include "base/bytes.hpp"

namespace softrnic::wire::cm {
namespace {

constexpr std::size_t H = kMadHeaderSize;  // CM data offsets below are relative to it

template <std::size_t N>
void load_pd(ConstByteSpan b, std::size_t off, std::array<std::byte, N>& out) {
  for (std::size_t i = 0; i < N; ++i) out[i] = b[off + i];
}
template <std::size_t N>
void store_pd(ByteSpan b, std::size_t off, const std::array<std::byte, N>& in) {
  store_bytes(b, off, in);
}
std::uint8_t bits(std::uint8_t byte, int shift, int width) {
  return static_cast<std::uint8_t>((byte >> shift) & ((1u << width) - 1));
}
std::uint8_t put(std::uint32_t v, int shift, int width) {
  return static_cast<std::uint8_t>((v & ((1u << width) - 1)) << shift);
}

CmPath load_path(ConstByteSpan b, std::size_t off) {
  CmPath p;
  p.local_lid = load_be16(b, off);
  p.remote_lid = load_be16(b, off + 2);
  p.local_gid = load_array<16>(b, off + 4);
  p.remote_gid = load_array<16>(b, off + 20);
  const std::uint32_t w = load_be32(b, off + 36);
  p.flow_label = w >> 12;
  p.reserved_a = static_cast<std::uint8_t>((w >> 6) & 0x3f);
  p.packet_rate = static_cast<std::uint8_t>(w & 0x3f);
  p.traffic_class = load_u8(b, off + 40);
  p.hop_limit = load_u8(b, off + 41);
  const std::uint8_t x = load_u8(b, off + 42);
  p.sl = bits(x, 4, 4);
  p.subnet_local = bits(x, 3, 1) != 0;
  p.reserved_b = bits(x, 0, 3);
  const std::uint8_t y = load_u8(b, off + 43);
  p.local_ack_timeout = bits(y, 3, 5);
  p.reserved_c = bits(y, 0, 3);
  return p;
}

void store_path(ByteSpan b, std::size_t off, const CmPath& p) {
  store_be16(b, off, p.local_lid);
  store_be16(b, off + 2, p.remote_lid);
  store_array(b, off + 4, p.local_gid);
  store_array(b, off + 20, p.remote_gid);
  store_be32(b, off + 36, (p.flow_label & 0xfffff) << 12 | std::uint32_t{p.reserved_a & 0x3fu} << 6 |
                              (p.packet_rate & 0x3fu));
  store_u8(b, off + 40, p.traffic_class);
  store_u8(b, off + 41, p.hop_limit);
  store_u8(b, off + 42, put(p.sl, 4, 4) | put(p.subnet_local, 3, 1) | put(p.reserved_b, 0, 3));
  store_u8(b, off + 43, put(p.local_ack_timeout, 3, 5) | put(p.reserved_c, 0, 3));
}

Req load_req(ConstByteSpan b) {
  Req r;
  r.local_comm_id = load_be32(b, H + 0);
  r.reserved0 = load_be32(b, H + 4);
  r.service_id = load_be64(b, H + 8);
  r.local_ca_guid = load_be64(b, H + 16);
  r.reserved1 = load_be32(b, H + 24);
  r.local_qkey = load_be32(b, H + 28);
  r.local_qpn = load_be24(b, H + 32);
  r.responder_resources = load_u8(b, H + 35);
  r.local_eecn = load_be24(b, H + 36);
  r.initiator_depth = load_u8(b, H + 39);
  r.remote_eecn = load_be24(b, H + 40);
  const std::uint8_t b43 = load_u8(b, H + 43);
  r.remote_cm_response_timeout = bits(b43, 3, 5);
  r.transport_type = bits(b43, 1, 2);
  r.e2e_flow_control = bits(b43, 0, 1) != 0;
  r.starting_psn = load_be24(b, H + 44);
  const std::uint8_t b47 = load_u8(b, H + 47);
  r.local_cm_response_timeout = bits(b47, 3, 5);
  r.retry_count = bits(b47, 0, 3);
  r.pkey = load_be16(b, H + 48);
  const std::uint8_t b50 = load_u8(b, H + 50);
  r.path_mtu = bits(b50, 4, 4);
  r.rdc_exists = bits(b50, 3, 1) != 0;
  r.rnr_retry_count = bits(b50, 0, 3);
  const std::uint8_t b51 = load_u8(b, H + 51);
  r.max_cm_retries = bits(b51, 4, 4);
  r.srq = bits(b51, 3, 1) != 0;
  r.ext_transport = bits(b51, 0, 3);
  r.primary = load_path(b, H + 52);
  r.alternate = load_path(b, H + 96);
  load_pd(b, H + 140, r.private_data);
  return r;
}

void store_req(ByteSpan b, const Req& r) {
  store_be32(b, H + 0, r.local_comm_id);
  store_be32(b, H + 4, r.reserved0);
  store_be64(b, H + 8, r.service_id);
  store_be64(b, H + 16, r.local_ca_guid);
  store_be32(b, H + 24, r.reserved1);
  store_be32(b, H + 28, r.local_qkey);
  store_be24(b, H + 32, r.local_qpn);
  store_u8(b, H + 35, r.responder_resources);
  store_be24(b, H + 36, r.local_eecn);
  store_u8(b, H + 39, r.initiator_depth);
  store_be24(b, H + 40, r.remote_eecn);
  store_u8(b, H + 43,
           put(r.remote_cm_response_timeout, 3, 5) | put(r.transport_type, 1, 2) | put(r.e2e_flow_control, 0, 1));
  store_be24(b, H + 44, r.starting_psn);
  store_u8(b, H + 47, put(r.local_cm_response_timeout, 3, 5) | put(r.retry_count, 0, 3));
  store_be16(b, H + 48, r.pkey);
  store_u8(b, H + 50, put(r.path_mtu, 4, 4) | put(r.rdc_exists, 3, 1) | put(r.rnr_retry_count, 0, 3));
  store_u8(b, H + 51, put(r.max_cm_retries, 4, 4) | put(r.srq, 3, 1) | put(r.ext_transport, 0, 3));
  store_path(b, H + 52, r.primary);
  store_path(b, H + 96, r.alternate);
  store_pd(b, H + 140, r.private_data);
}

Mra load_mra(ConstByteSpan b) {
  Mra m;
  m.local_comm_id = load_be32(b, H + 0);
  m.remote_comm_id = load_be32(b, H + 4);
  m.message_mraed = static_cast<MsgKind>(bits(load_u8(b, H + 8), 6, 2));
  m.reserved0 = bits(load_u8(b, H + 8), 0, 6);
  m.service_timeout = bits(load_u8(b, H + 9), 3, 5);
  m.reserved1 = bits(load_u8(b, H + 9), 0, 3);
  load_pd(b, H + 10, m.private_data);
  return m;
}

void store_mra(ByteSpan b, const Mra& m) {
  store_be32(b, H + 0, m.local_comm_id);
  store_be32(b, H + 4, m.remote_comm_id);
  store_u8(b, H + 8, put(static_cast<std::uint8_t>(m.message_mraed), 6, 2) | put(m.reserved0, 0, 6));
  store_u8(b, H + 9, put(m.service_timeout, 3, 5) | put(m.reserved1, 0, 3));
  store_pd(b, H + 10, m.private_data);
}

Rej load_rej(ConstByteSpan b) {
  Rej r;
  r.local_comm_id = load_be32(b, H + 0);
  r.remote_comm_id = load_be32(b, H + 4);
  r.message_rejected = static_cast<MsgKind>(bits(load_u8(b, H + 8), 6, 2));
  r.reserved0 = bits(load_u8(b, H + 8), 0, 6);
  r.reject_info_length = bits(load_u8(b, H + 9), 1, 7);
  r.reserved1 = bits(load_u8(b, H + 9), 0, 1);
  r.reason = load_be16(b, H + 10);
  load_pd(b, H + 12, r.ari);
  load_pd(b, H + 84, r.private_data);
  return r;
}

void store_rej(ByteSpan b, const Rej& r) {
  store_be32(b, H + 0, r.local_comm_id);
  store_be32(b, H + 4, r.remote_comm_id);
  store_u8(b, H + 8, put(static_cast<std::uint8_t>(r.message_rejected), 6, 2) | put(r.reserved0, 0, 6));
  store_u8(b, H + 9, put(r.reject_info_length, 1, 7) | put(r.reserved1, 0, 1));
  store_be16(b, H + 10, r.reason);
  store_pd(b, H + 12, r.ari);
  store_pd(b, H + 84, r.private_data);
}

Rep load_rep(ConstByteSpan b) {
  Rep r;
  r.local_comm_id = load_be32(b, H + 0);
  r.remote_comm_id = load_be32(b, H + 4);
  r.local_qkey = load_be32(b, H + 8);
  r.local_qpn = load_be24(b, H + 12);
  r.reserved0 = load_u8(b, H + 15);
  r.local_eecn = load_be24(b, H + 16);
  r.reserved1 = load_u8(b, H + 19);
  r.starting_psn = load_be24(b, H + 20);
  r.reserved2 = load_u8(b, H + 23);
  r.responder_resources = load_u8(b, H + 24);
  r.initiator_depth = load_u8(b, H + 25);
  const std::uint8_t b26 = load_u8(b, H + 26);
  r.target_ack_delay = bits(b26, 3, 5);
  r.failover_accepted = bits(b26, 1, 2);
  r.e2e_flow_control = bits(b26, 0, 1) != 0;
  const std::uint8_t b27 = load_u8(b, H + 27);
  r.rnr_retry_count = bits(b27, 5, 3);
  r.srq = bits(b27, 4, 1) != 0;
  r.reserved3 = bits(b27, 0, 4);
  r.local_ca_guid = load_be64(b, H + 28);
  load_pd(b, H + 36, r.private_data);
  return r;
}

void store_rep(ByteSpan b, const Rep& r) {
  store_be32(b, H + 0, r.local_comm_id);
  store_be32(b, H + 4, r.remote_comm_id);
  store_be32(b, H + 8, r.local_qkey);
  store_be24(b, H + 12, r.local_qpn);
  store_u8(b, H + 15, r.reserved0);
  store_be24(b, H + 16, r.local_eecn);
  store_u8(b, H + 19, r.reserved1);
  store_be24(b, H + 20, r.starting_psn);
  store_u8(b, H + 23, r.reserved2);
  store_u8(b, H + 24, r.responder_resources);
  store_u8(b, H + 25, r.initiator_depth);
  store_u8(b, H + 26, put(r.target_ack_delay, 3, 5) | put(r.failover_accepted, 1, 2) | put(r.e2e_flow_control, 0, 1));
  store_u8(b, H + 27, put(r.rnr_retry_count, 5, 3) | put(r.srq, 4, 1) | put(r.reserved3, 0, 4));
  store_be64(b, H + 28, r.local_ca_guid);
  store_pd(b, H + 36, r.private_data);
}

// RTU, DREQ and DREP: the two communication IDs, then (DREQ) the remote QPN, then private data.
template <class M>
M load_ids(ConstByteSpan b) {
  M m;
  m.local_comm_id = load_be32(b, H + 0);
  m.remote_comm_id = load_be32(b, H + 4);
  if constexpr (std::is_same_v<M, Dreq>) {
    m.remote_qpn = load_be24(b, H + 8);
    m.reserved0 = load_u8(b, H + 11);
    load_pd(b, H + 12, m.private_data);
  } else {
    load_pd(b, H + 8, m.private_data);
  }
  return m;
}
template <class M>
void store_ids(ByteSpan b, const M& m) {
  store_be32(b, H + 0, m.local_comm_id);
  store_be32(b, H + 4, m.remote_comm_id);
  if constexpr (std::is_same_v<M, Dreq>) {
    store_be24(b, H + 8, m.remote_qpn);
    store_u8(b, H + 11, m.reserved0);
    store_pd(b, H + 12, m.private_data);
  } else {
    store_pd(b, H + 8, m.private_data);
  }
}

std::string hex16(std::uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 12; i >= 0; i -= 4) s += kHex[(v >> i) & 0xf];
  return s;
}

}  // namespace

std::string_view attr_name(std::uint16_t attr_id) {
  switch (static_cast<AttrId>(attr_id)) {
    case AttrId::class_port_info: return "ClassPortInfo";
    case AttrId::req: return "REQ";
    case AttrId::mra: return "MRA";
    case AttrId::rej: return "REJ";
    case AttrId::rep: return "REP";
    case AttrId::rtu: return "RTU";
    case AttrId::dreq: return "DREQ";
    case AttrId::drep: return "DREP";
    case AttrId::sidr_req: return "SIDR_REQ";
    case AttrId::sidr_rep: return "SIDR_REP";
    case AttrId::lap: return "LAP";
    case AttrId::apr: return "APR";
  }
  return "unknown";
}

std::string_view reject_reason_name(std::uint16_t reason) {
  switch (static_cast<RejectReason>(reason)) {
    case RejectReason::no_qp: return "no QP";
    case RejectReason::no_resources: return "no resources";
    case RejectReason::timeout: return "timeout";
    case RejectReason::unsupported_request: return "unsupported request";
    case RejectReason::invalid_comm_id: return "invalid communication ID";
    case RejectReason::invalid_comm_instance: return "invalid communication instance";
    case RejectReason::invalid_service_id: return "invalid service ID (no listener)";
    case RejectReason::invalid_transport_type: return "invalid transport type";
    case RejectReason::stale_connection: return "stale connection";
    case RejectReason::invalid_gid: return "invalid GID";
    case RejectReason::invalid_path_mtu: return "invalid path MTU";
    case RejectReason::insufficient_resp_resources: return "insufficient responder resources";
    case RejectReason::consumer_reject: return "consumer reject";
    case RejectReason::rnr_retry_count_reject: return "RNR retry count reject";
    case RejectReason::duplicate_local_comm_id: return "duplicate local communication ID";
    case RejectReason::unsupported_class_version: return "unsupported class version";
  }
  return "other";
}

AttrId attr_of(const CmMessage& m) {
  static constexpr AttrId kIds[] = {AttrId::req, AttrId::mra,  AttrId::rej, AttrId::rep,
                                    AttrId::rtu, AttrId::dreq, AttrId::drep};
  return kIds[m.index()];
}

Result<CmMad> decode_cm_mad(ConstByteSpan b) {
  if (b.size() < kMadSize)
    return make_error(Errc::truncated, "CM MAD of " + std::to_string(b.size()) + " bytes, need 256");
  MadHeader h;
  h.base_version = load_u8(b, 0);
  h.mgmt_class = load_u8(b, 1);
  h.class_version = load_u8(b, 2);
  h.method = load_u8(b, 3);
  h.status = load_be16(b, 4);
  h.class_specific = load_be16(b, 6);
  h.tid = load_be64(b, 8);
  h.attr_id = load_be16(b, 16);
  h.reserved = load_be16(b, 18);
  h.attr_mod = load_be32(b, 20);
  if (h.base_version != kBaseVersion)
    return make_error(Errc::unsupported, "MAD base version " + std::to_string(h.base_version) + ", expected 1");
  if (h.mgmt_class != kMgmtClassCm)
    return make_error(Errc::unsupported,
                      "MAD management class " + std::to_string(h.mgmt_class) + " is not CM (7)");
  if (h.class_version != kCmClassVersion)
    return make_error(Errc::unsupported,
                      "CM class version " + std::to_string(h.class_version) + ", expected 2");
  if (h.method != kMethodSend)
    return make_error(Errc::unsupported, "CM method " + std::to_string(h.method) + " is not Send (3)");
  CmMad mad{h, Rtu{}};
  switch (static_cast<AttrId>(h.attr_id)) {
    case AttrId::req: mad.msg = load_req(b); break;
    case AttrId::mra: mad.msg = load_mra(b); break;
    case AttrId::rej: mad.msg = load_rej(b); break;
    case AttrId::rep: mad.msg = load_rep(b); break;
    case AttrId::rtu: mad.msg = load_ids<Rtu>(b); break;
    case AttrId::dreq: mad.msg = load_ids<Dreq>(b); break;
    case AttrId::drep: mad.msg = load_ids<Drep>(b); break;
    default:
      return make_error(Errc::unsupported, "CM attribute " + hex16(h.attr_id) + " (" +
                                               std::string(attr_name(h.attr_id)) + ") is not handled");
  }
  return mad;
}

std::array<std::byte, kMadSize> encode_cm_mad(const CmMad& mad) {
  std::array<std::byte, kMadSize> out{};
  const ByteSpan b(out);
  const MadHeader& h = mad.hdr;
  store_u8(b, 0, h.base_version);
  store_u8(b, 1, h.mgmt_class);
  store_u8(b, 2, h.class_version);
  store_u8(b, 3, h.method);
  store_be16(b, 4, h.status);
  store_be16(b, 6, h.class_specific);
  store_be64(b, 8, h.tid);
  store_be16(b, 16, static_cast<std::uint16_t>(attr_of(mad.msg)));
  store_be16(b, 18, h.reserved);
  store_be32(b, 20, h.attr_mod);
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, Req>) store_req(b, m);
        else if constexpr (std::is_same_v<M, Mra>) store_mra(b, m);
        else if constexpr (std::is_same_v<M, Rej>) store_rej(b, m);
        else if constexpr (std::is_same_v<M, Rep>) store_rep(b, m);
        else store_ids(b, m);
      },
      mad.msg);
  return out;
}

void write_ip_cm_header(std::span<std::byte, kReqPrivateData> pd, const IpCmHeader& h) {
  const ByteSpan b(pd);
  store_u8(b, 0, put(h.major, 4, 4) | put(h.minor, 0, 4));
  store_u8(b, 1, h.ip_version == IpVersion::v4 ? 0x40 : 0x60);
  store_be16(b, 2, h.src_port);
  for (std::size_t i = 4; i < kIpCmHeaderSize; ++i) store_u8(b, i, 0);
  if (h.ip_version == IpVersion::v4) {
    for (std::size_t i = 0; i < 4; ++i) {
      store_u8(b, 4 + 12 + i, h.src[12 + i]);
      store_u8(b, 20 + 12 + i, h.dst[12 + i]);
    }
  } else {
    store_array(b, 4, h.src);
    store_array(b, 20, h.dst);
  }
}

Result<IpCmHeader> read_ip_cm_header(std::span<const std::byte, kReqPrivateData> pd) {
  const ConstByteSpan b(pd);
  IpCmHeader h;
  h.major = bits(load_u8(b, 0), 4, 4);
  h.minor = bits(load_u8(b, 0), 0, 4);
  if (h.major != 0 || h.minor != 0)
    return make_error(Errc::unsupported, "IP CM header version " + std::to_string(h.major) + "." +
                                             std::to_string(h.minor) + ", expected 0.0");
  const std::uint8_t v = bits(load_u8(b, 1), 4, 4);
  if (v != 4 && v != 6)
    return make_error(Errc::malformed, "IP CM header IP version " + std::to_string(v) + ", expected 4 or 6");
  h.ip_version = v == 4 ? IpVersion::v4 : IpVersion::v6;
  h.src_port = load_be16(b, 2);
  if (h.ip_version == IpVersion::v4) {
    h.src = ipv4_mapped(load_array<4>(b, 16));
    h.dst = ipv4_mapped(load_array<4>(b, 32));
  } else {
    h.src = load_array<16>(b, 4);
    h.dst = load_array<16>(b, 20);
  }
  return h;
}

}  // namespace softrnic::wire::cm
