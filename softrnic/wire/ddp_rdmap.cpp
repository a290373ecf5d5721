#include "wire/ddp_rdmap.hpp"

#include <string>

#include "wire/mpa_fpdu.hpp"

namespace softrnic::wire {

namespace {

constexpr std::uint8_t kTaggedBit = 0x80;
constexpr std::uint8_t kLastBit = 0x40;
constexpr std::uint16_t kTermM = 0x8000;
constexpr std::uint16_t kTermD = 0x4000;
constexpr std::uint16_t kTermR = 0x2000;
constexpr std::uint16_t kTermReserved = 0x1fff;

DdpControl read_control(ConstByteSpan b) {
  const std::uint8_t b0 = load_u8(b, 0);
  const std::uint8_t b1 = load_u8(b, 1);
  return {(b0 & kTaggedBit) != 0,
          (b0 & kLastBit) != 0,
          static_cast<std::uint8_t>((b0 >> 2) & 0x0f),
          static_cast<std::uint8_t>(b0 & 0x03),
          static_cast<std::uint8_t>(b1 >> 6),
          static_cast<std::uint8_t>((b1 >> 4) & 0x03),
          static_cast<std::uint8_t>(b1 & kRdmapOpcodeMask)};
}

void write_control(ByteSpan b, const DdpControl& c) {
  store_u8(b, 0,
           static_cast<std::uint8_t>((c.tagged ? kTaggedBit : 0) | (c.last ? kLastBit : 0) |
                                     (c.ddp_reserved & 0x0f) << 2 | (c.dv & 0x03)));
  store_u8(b, 1,
           static_cast<std::uint8_t>((c.rv & 0x03) << 6 | (c.rdmap_reserved & 0x03) << 4 |
                                     (c.opcode & kRdmapOpcodeMask)));
}

RdmaReadRequest read_read_request(ConstByteSpan b, std::size_t o) {
  return {Stag{load_be32(b, o)}, load_be64(b, o + 4), load_be32(b, o + 12),
          Stag{load_be32(b, o + 16)}, load_be64(b, o + 20)};
}

void write_read_request(ByteSpan b, std::size_t o, const RdmaReadRequest& r) {
  store_be32(b, o, r.sink_stag.raw());
  store_be64(b, o + 4, r.sink_to);
  store_be32(b, o + 12, r.size);
  store_be32(b, o + 16, r.source_stag.raw());
  store_be64(b, o + 20, r.source_to);
}

// RFC 5040 Terminate header: control word, then the optional pieces the D and R bits announce.
std::expected<Terminate, IwarpError> read_terminate(ConstByteSpan b) {
  if (b.size() < kTerminateControlSize) return std::unexpected(IwarpError::rdmap_header_truncated);
  Terminate t;
  const std::uint8_t b0 = load_u8(b, 0);
  t.layer = b0 >> 4;
  t.etype = b0 & 0x0f;
  t.code = load_u8(b, 1);
  const std::uint16_t ctl = load_be16(b, 2);
  t.m = (ctl & kTermM) != 0;
  t.d = (ctl & kTermD) != 0;
  t.r = (ctl & kTermR) != 0;
  t.reserved = ctl & kTermReserved;
  t.options = b.subspan(kTerminateControlSize);
  ConstByteSpan rest = t.options;
  if (t.d) {
    // DDP Segment Length, then the DDP header whose own T bit gives its size.
    if (rest.size() < kDdpSegmentLengthSize + 1)
      return std::unexpected(IwarpError::rdmap_header_truncated);
    t.ddp_segment_length = load_be16(rest, 0);
    const bool tagged = (load_u8(rest, kDdpSegmentLengthSize) & kTaggedBit) != 0;
    const std::size_t n = ddp_header_size(tagged);
    if (rest.size() < kDdpSegmentLengthSize + n)
      return std::unexpected(IwarpError::rdmap_header_truncated);
    t.terminated_ddp_header = rest.subspan(kDdpSegmentLengthSize, n);
    rest = rest.subspan(kDdpSegmentLengthSize + n);
  }
  if (t.r) {
    if (rest.size() < kRdmaReadRequestHeaderSize)
      return std::unexpected(IwarpError::rdmap_header_truncated);
    t.terminated_rdmap_header = rest.first(kRdmaReadRequestHeaderSize);
  }
  return t;
}

void write_terminate(ByteSpan b, std::size_t o, const Terminate& t) {
  store_u8(b, o, static_cast<std::uint8_t>((t.layer & 0x0f) << 4 | (t.etype & 0x0f)));
  store_u8(b, o + 1, t.code);
  store_be16(b, o + 2,
             static_cast<std::uint16_t>((t.m ? kTermM : 0) | (t.d ? kTermD : 0) |
                                        (t.r ? kTermR : 0) | (t.reserved & kTermReserved)));
  store_bytes(b, o + kTerminateControlSize, t.options);
}

std::size_t rdmap_header_size(const UlpduSpec& s) {
  switch (s.ddp.ctrl.opcode) {
    case static_cast<std::uint8_t>(RdmapOp::rdma_read_request):
      return kRdmaReadRequestHeaderSize;
    case static_cast<std::uint8_t>(RdmapOp::terminate):
      return kTerminateControlSize + s.terminate.options.size();
    default:
      return 0;
  }
}

}  // namespace

std::expected<ParsedUlpdu, IwarpError> parse_ulpdu(ConstByteSpan b) {
  if (b.size() < 2) return std::unexpected(IwarpError::ddp_header_truncated);
  ParsedUlpdu p;
  p.bytes = b;
  p.ddp.ctrl = read_control(b);
  const DdpControl& c = p.ddp.ctrl;
  // DDP first: its version says how the rest is laid out, RDMAP's fields come after.
  if (c.dv != kDdpVersion) return std::unexpected(IwarpError::ddp_bad_version);
  const std::size_t hdr = ddp_header_size(c.tagged);
  if (b.size() < hdr) return std::unexpected(IwarpError::ddp_header_truncated);
  if (c.tagged) {
    p.ddp.tagged = {Stag{load_be32(b, 2)}, load_be64(b, 6)};
  } else {
    p.ddp.untagged = {load_be32(b, 2), load_be32(b, 6), DdpMsn{load_be32(b, 10)}, load_be32(b, 14)};
  }
  if (c.rv != kRdmapVersion) return std::unexpected(IwarpError::rdmap_bad_version);
  const RdmapOpcodeInfo& op = c.op();
  if (op.rfc7306) return std::unexpected(IwarpError::rdmap_rfc7306_unsupported);
  if (!op.supported) return std::unexpected(IwarpError::rdmap_unknown_opcode);
  // RFC 5040: each opcode travels on one DDP model and, untagged, on one queue.
  if (op.tagged != c.tagged) return std::unexpected(IwarpError::rdmap_tagged_mismatch);
  if (!c.tagged && p.ddp.untagged.qn != op.queue)
    return std::unexpected(IwarpError::ddp_bad_queue_number);
  ConstByteSpan rest = b.subspan(hdr);
  switch (p.opcode()) {
    case RdmapOp::rdma_read_request:
      if (rest.size() < kRdmaReadRequestHeaderSize)
        return std::unexpected(IwarpError::rdmap_header_truncated);
      if (rest.size() > kRdmaReadRequestHeaderSize)
        return std::unexpected(IwarpError::rdmap_unexpected_payload);
      p.read_request = read_read_request(rest, 0);
      rest = rest.subspan(kRdmaReadRequestHeaderSize);
      break;
    case RdmapOp::terminate: {
      auto t = read_terminate(rest);
      if (!t) return std::unexpected(t.error());
      p.terminate = *t;
      rest = rest.subspan(rest.size());  // the options belong to the Terminate header
      break;
    }
    default:
      break;
  }
  p.payload = rest;
  return p;
}

std::size_t ulpdu_size(const UlpduSpec& s) {
  return s.ddp.size() + rdmap_header_size(s) + s.payload.size();
}

Result<std::size_t> build_ulpdu(const UlpduSpec& s, ByteSpan out) {
  const RdmapOpcodeInfo& op = s.ddp.ctrl.op();
  if (!op.supported || s.ddp.ctrl.opcode > kRdmapOpcodeMask) {
    return make_error(Errc::unsupported, "RDMAP opcode " + std::to_string(s.ddp.ctrl.opcode) +
                                             " is not one we send (0x0..0x7)");
  }
  if (!op.payload && !s.payload.empty())
    return make_error(Errc::invalid_argument, std::string(op.name) + " carries no payload");
  const std::size_t size = ulpdu_size(s);
  if (size > kMaxUlpduLength) {
    return make_error(Errc::invalid_argument, "ULPDU of " + std::to_string(size) +
                                                  " bytes does not fit MPA's 16-bit ULPDU_LENGTH");
  }
  if (out.size() < size) {
    return make_error(
        Errc::buffer_too_small,
        "ULPDU needs " + std::to_string(size) + " bytes, buffer has " + std::to_string(out.size()));
  }
  write_control(out, s.ddp.ctrl);
  if (s.ddp.ctrl.tagged) {
    store_be32(out, 2, s.ddp.tagged.stag.raw());
    store_be64(out, 6, s.ddp.tagged.to);
  } else {
    store_be32(out, 2, s.ddp.untagged.rsvd_ulp);
    store_be32(out, 6, s.ddp.untagged.qn);
    store_be32(out, 10, s.ddp.untagged.msn.raw());
    store_be32(out, 14, s.ddp.untagged.mo);
  }
  std::size_t off = s.ddp.size();
  if (s.ddp.ctrl.opcode == static_cast<std::uint8_t>(RdmapOp::rdma_read_request))
    write_read_request(out, off, s.read_request);
  if (s.ddp.ctrl.opcode == static_cast<std::uint8_t>(RdmapOp::terminate))
    write_terminate(out, off, s.terminate);
  off += rdmap_header_size(s);
  store_bytes(out, off, s.payload);
  return size;
}

UlpduSpec ulpdu_spec_of(const ParsedUlpdu& p) {
  return UlpduSpec{p.ddp, p.read_request, p.terminate, p.payload};
}

}  // namespace softrnic::wire
