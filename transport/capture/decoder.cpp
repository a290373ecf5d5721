#include "capture/decoder.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "wire/parse.hpp"

namespace softrnic::capture {

namespace {

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

void describe_roce(const wire::ParsedFrame& p, DecodeRecord& r) {
  const auto& op = p.op();
  const auto bth = p.bth();
  r.proto = p.proto == wire::Proto::roce_v4 ? RecordProto::roce_v4 : RecordProto::roce_v6;
  r.opcode = std::string(wire::transport_prefix(op.transport)) + std::string(op.name);
  r.qpn = bth.dest_qp().raw();
  r.psn = bth.psn().raw();
  r.length = p.roce.payload_len;
  r.icrc = p.roce.icrc_ok ? CrcVerdict::ok : CrcVerdict::bad;
}

void describe_arp(const wire::ParsedFrame& p, DecodeRecord& r) {
  const auto a = p.arp();
  r.proto = RecordProto::arp;
  switch (a.oper()) {
    case wire::ArpView::kRequest:
      r.opcode = "ARP_REQUEST";
      r.note = "who has " + wire::to_string(a.tpa()) + "? tell " + wire::to_string(a.spa());
      break;
    case wire::ArpView::kReply:
      r.opcode = "ARP_REPLY";
      r.note = wire::to_string(a.spa()) + " is at " + wire::to_string(a.sha());
      break;
    default:
      r.opcode = "ARP_OP_" + std::to_string(a.oper());
      break;
  }
}

// The link-layer address option of an NS (source) or NA (target), RFC 4861 4.6.1.
std::optional<wire::MacAddr> nd_link_address(const wire::ParsedFrame& p) {
  const ConstByteSpan opts = p.nd_options();
  if (opts.size() < 8 || load_u8(opts, 1) != 1) return std::nullopt;
  const std::uint8_t type = load_u8(opts, 0);
  if (type != wire::icmpv6::kOptSourceLinkAddr && type != wire::icmpv6::kOptTargetLinkAddr)
    return std::nullopt;
  return wire::load_mac(opts, 2);
}

void describe_nd(const wire::ParsedFrame& p, DecodeRecord& r) {
  const auto nd = p.nd();
  const auto mac = nd_link_address(p);
  r.proto = RecordProto::nd;
  if (nd.type() == wire::icmpv6::kNeighbourSolicitation) {
    r.opcode = "ND_NS";
    r.note = "who has " + wire::to_string(nd.target()) + "?";
    if (mac) r.note += " tell " + wire::to_string(*mac);
  } else {
    r.opcode = "ND_NA";
    r.note = wire::to_string(nd.target()) + (mac ? " is at " + wire::to_string(*mac) : "");
  }
}

void describe_other(const wire::ParsedFrame& p, DecodeRecord& r) {
  r.proto = RecordProto::other;
  if (p.ip_version == 0) {
    r.opcode = "ethertype " + hex16(p.ethertype);
    return;
  }
  const std::uint8_t l4 = p.l4_proto;
  if (l4 == wire::ipproto::kUdp && p.ip_end - p.l4_off >= wire::UdpView::kSize) {
    r.opcode = "UDP";
    r.note = std::to_string(p.udp().src_port()) + " > " + std::to_string(p.udp().dst_port());
    r.length = p.ip_end - p.l4_off - wire::UdpView::kSize;
  } else if (l4 == wire::ipproto::kIcmpv6 && p.ip_version == 6 && p.ip_end > p.l4_off) {
    r.opcode = "ICMPv6";
    r.note = "type " + std::to_string(load_u8(p.frame, p.l4_off));
  } else {
    r.opcode = (p.ip_version == 4 ? "IPv4 protocol " : "IPv6 next header ") + std::to_string(l4);
  }
}

std::string tcp_flags_name(std::uint8_t flags) {
  // Wireshark's order, so the two listings read alike.
  static constexpr std::array<std::pair<std::uint8_t, const char*>, 8> kNames = {{
      {0x01, "FIN"},
      {0x02, "SYN"},
      {0x04, "RST"},
      {0x08, "PSH"},
      {0x10, "ACK"},
      {0x20, "URG"},
      {0x40, "ECE"},
      {0x80, "CWR"},
  }};
  std::string s;
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) == 0) continue;
    if (!s.empty()) s += ',';
    s += name;
  }
  return s.empty() ? "none" : s;
}

TcpEndpoint source_of(const wire::ParsedFrame& p) {
  const auto addr = p.ip_version == 4 ? wire::ipv4_mapped(p.ipv4().src()) : p.ipv6().src();
  return {addr, p.tcp().src_port()};
}
TcpEndpoint destination_of(const wire::ParsedFrame& p) {
  const auto addr = p.ip_version == 4 ? wire::ipv4_mapped(p.ipv4().dst()) : p.ipv6().dst();
  return {addr, p.tcp().dst_port()};
}

// Binds a consumer and a direction to the reassembler's sink interface.
class ConsumerSink final : public TcpStreamSink {
 public:
  ConsumerSink(TcpStreamConsumer& c, TcpDirection dir, std::vector<DecodeRecord>& out)
      : c_(c), dir_(dir), out_(out) {}
  void on_bytes(ConstByteSpan bytes, std::uint64_t frame) override {
    c_.on_bytes(dir_, bytes, frame, out_);
  }
  void on_gap(std::uint64_t frame) override { c_.on_gap(dir_, frame, out_); }
  void on_end(std::uint64_t frame) override { c_.on_end(dir_, frame, out_); }

 private:
  TcpStreamConsumer& c_;
  TcpDirection dir_;
  std::vector<DecodeRecord>& out_;
};

constexpr std::size_t index_of(TcpDirection d) { return d == TcpDirection::from_initiator ? 0 : 1; }

}  // namespace

struct CaptureDecoder::Connection {
  TcpConnectionId id;
  std::unique_ptr<TcpStreamConsumer> consumer;  // null: shown as plain TCP
  std::array<TcpReassembler, 2> directions;     // by index_of(TcpDirection)

  Connection(TcpConnectionId i, std::unique_ptr<TcpStreamConsumer> c, std::size_t max_buffered)
      : id(i),
        consumer(std::move(c)),
        directions{TcpReassembler(max_buffered), TcpReassembler(max_buffered)} {}

  void finish(std::uint64_t frame, std::vector<DecodeRecord>& out) {
    if (!consumer) return;
    for (const auto dir : {TcpDirection::from_initiator, TcpDirection::from_responder}) {
      ConsumerSink sink(*consumer, dir, out);
      directions[index_of(dir)].finish(frame, sink);
    }
  }
};

CaptureDecoder::CaptureDecoder(TcpConsumerFactory* tcp_consumers, DecoderOptions opts)
    : tcp_consumers_(tcp_consumers), opts_(opts) {}

CaptureDecoder::~CaptureDecoder() = default;

void CaptureDecoder::decode(const CapturedFrame& f, std::vector<DecodeRecord>& out) {
  last_frame_ = f.number;
  DecodeRecord r;
  r.frame = f.number;
  r.snapped = f.bytes.size() < f.original_length;
  if (f.link_type != kLinkTypeEthernet) {
    r.opcode = "linktype " + std::to_string(f.link_type);
    r.note = "not Ethernet: not decoded";
    out.push_back(std::move(r));
    return;
  }
  const auto parsed =
      wire::parse_frame(f.bytes, {.roce_port = opts_.roce_port, .drop_bad_icrc = false});
  if (!parsed) {
    const auto reason = std::string(wire::drop_reason_name(parsed.error()));
    if (r.snapped) {
      // The capture cut the frame: what is missing was not seen, so it is not judged.
      r.opcode = "snapped";
      r.note = "captured " + std::to_string(f.bytes.size()) + " of " +
               std::to_string(f.original_length) + " bytes (" + reason + "): not checked";
    } else if (wire::is_roce_reason(parsed.error())) {
      r.malformed = reason;
    } else {
      // Not RoCEv2 (or not judged as such): somebody's traffic we do not speak.
      r.proto = RecordProto::other;
      r.opcode = "undecoded";
      r.note = reason;
    }
    out.push_back(std::move(r));
    return;
  }
  switch (parsed->proto) {
    case wire::Proto::roce_v4:
    case wire::Proto::roce_v6:
      describe_roce(*parsed, r);
      break;
    case wire::Proto::arp:
      describe_arp(*parsed, r);
      break;
    case wire::Proto::nd:
      describe_nd(*parsed, r);
      break;
    case wire::Proto::tcp_v4:
    case wire::Proto::tcp_v6:
      decode_tcp(*parsed, f.number, out);
      return;
    case wire::Proto::other:
      describe_other(*parsed, r);
      break;
  }
  out.push_back(std::move(r));
}

CaptureDecoder::Connection* CaptureDecoder::connection_for(const ConnectionKey& key,
                                                           const TcpEndpoint& src,
                                                           const TcpEndpoint& dst,
                                                           std::uint8_t flags) {
  if (tcp_consumers_ == nullptr) return nullptr;
  if (auto it = connections_.find(key); it != connections_.end()) return it->second.get();
  if (connections_.size() >= opts_.max_connections) return nullptr;
  const bool syn = (flags & wire::tcpflag::kSyn) != 0;
  const bool ack = (flags & wire::tcpflag::kAck) != 0;
  TcpConnectionId id{key.ipv6, src, dst};
  if (syn && ack) std::swap(id.initiator, id.responder);  // the SYN-ACK answers the initiator
  auto conn =
      std::make_unique<Connection>(id, tcp_consumers_->make(id), opts_.max_buffered_per_direction);
  return connections_.emplace(key, std::move(conn)).first->second.get();
}

void CaptureDecoder::decode_tcp(const wire::ParsedFrame& p, std::uint64_t frame,
                                std::vector<DecodeRecord>& out) {
  const std::size_t before = out.size();
  const auto tcp = p.tcp();
  const TcpEndpoint src = source_of(p);
  const TcpEndpoint dst = destination_of(p);
  ConnectionKey key{p.ip_version == 6, src, dst};
  if (dst < src) std::swap(key.low, key.high);

  if (Connection* c = connection_for(key, src, dst, tcp.flags()); c && c->consumer) {
    const TcpDirection dir =
        src == c->id.initiator ? TcpDirection::from_initiator : TcpDirection::from_responder;
    ConsumerSink sink(*c->consumer, dir, out);
    c->directions[index_of(dir)].add(TcpSegment{.seq = tcp.seq(),
                                                .syn = (tcp.flags() & wire::tcpflag::kSyn) != 0,
                                                .fin = (tcp.flags() & wire::tcpflag::kFin) != 0,
                                                .rst = (tcp.flags() & wire::tcpflag::kRst) != 0,
                                                .payload = p.tcp_payload(),
                                                .frame = frame},
                                     sink);
    // A connection whose two directions ended is forgotten: a later SYN on the same ports is a
    // new connection.
    if (c->directions[0].ended() && c->directions[1].ended()) connections_.erase(key);
  }
  if (out.size() != before) return;
  DecodeRecord r;
  r.frame = frame;
  r.proto = RecordProto::tcp;
  r.opcode = tcp_flags_name(tcp.flags());
  r.length = p.tcp_payload_len;
  r.note = std::to_string(src.port) + " > " + std::to_string(dst.port);
  out.push_back(std::move(r));
}

void CaptureDecoder::finish(std::vector<DecodeRecord>& out) {
  for (auto& [key, conn] : connections_) conn->finish(last_frame_, out);
  connections_.clear();
}

Result<DecodeSummary> decode_capture(PcapReader& reader, TcpConsumerFactory* tcp_consumers,
                                     const std::function<void(const DecodeRecord&)>& on_record,
                                     DecoderOptions opts) {
  CaptureDecoder decoder(tcp_consumers, opts);
  DecodeSummary summary;
  std::vector<DecodeRecord> records;
  const auto emit = [&] {
    for (const auto& r : records) {
      summary.add(r);
      on_record(r);
    }
    records.clear();
  };
  for (;;) {
    auto frame = reader.next();
    if (!frame) return std::unexpected(frame.error());
    if (!*frame) break;
    ++summary.frames;
    decoder.decode(**frame, records);
    emit();
  }
  decoder.finish(records);
  emit();
  return summary;
}

}  // namespace softrnic::capture
