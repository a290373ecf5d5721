// iWARP codecs: the RDMAP opcode table, DDP/RDMAP ULPDUs, MPA FPDU framing and CRC, MPA
// Request/Reply frames. Each malformed input must give its named error.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "iwarp_fixtures.hpp"
#include "wire/crc.hpp"

namespace softrnic::wire {
namespace {

using namespace iwarp_test;

constexpr std::array<RdmapOp, 8> kAllOps = {
    RdmapOp::rdma_write,
    RdmapOp::rdma_read_request,
    RdmapOp::rdma_read_response,
    RdmapOp::send,
    RdmapOp::send_with_invalidate,
    RdmapOp::send_with_solicited_event,
    RdmapOp::send_with_solicited_event_and_invalidate,
    RdmapOp::terminate,
};

TEST(RdmapOpcodeTable, SpeaksZeroToSevenRefusesRfc7306AndKnowsNothingAbove) {
  for (std::uint8_t op = 0; op < 16; ++op) {
    const auto& info = rdmap_opcode_info(op);
    EXPECT_EQ(info.supported, op <= 7) << int(op);
    EXPECT_EQ(info.rfc7306, op >= 8 && op <= 11) << int(op);
    EXPECT_EQ(info.name.empty(), op >= 12) << int(op);
  }
  EXPECT_TRUE(rdmap_opcode_info(RdmapOp::rdma_write).tagged);
  EXPECT_TRUE(rdmap_opcode_info(RdmapOp::rdma_read_response).tagged);
  EXPECT_EQ(rdmap_opcode_info(RdmapOp::rdma_read_request).queue, ddp_queue::kReadRequest);
  EXPECT_EQ(rdmap_opcode_info(RdmapOp::rdma_read_request).rdmap_header, 28);
  EXPECT_EQ(rdmap_opcode_info(RdmapOp::terminate).queue, ddp_queue::kTerminate);
  EXPECT_EQ(rdmap_opcode_info(RdmapOp::send_with_solicited_event).queue, ddp_queue::kSend);
  EXPECT_TRUE(rdmap_opcode_info(RdmapOp::send_with_solicited_event_and_invalidate).invalidate);
  EXPECT_TRUE(rdmap_opcode_info(RdmapOp::send_with_solicited_event_and_invalidate).solicited);
  EXPECT_FALSE(rdmap_opcode_info(RdmapOp::rdma_read_request).payload);
}

void expect_same_fields(const UlpduSpec& s, const ParsedUlpdu& p) {
  EXPECT_EQ(p.ddp.ctrl.tagged, s.ddp.ctrl.tagged);
  EXPECT_EQ(p.ddp.ctrl.last, s.ddp.ctrl.last);
  EXPECT_EQ(p.ddp.ctrl.opcode, s.ddp.ctrl.opcode);
  EXPECT_EQ(p.ddp.ctrl.dv, 1);
  EXPECT_EQ(p.ddp.ctrl.rv, 1);
  if (s.ddp.ctrl.tagged) {
    EXPECT_EQ(p.ddp.tagged.stag, s.ddp.tagged.stag);
    EXPECT_EQ(p.ddp.tagged.to, s.ddp.tagged.to);
  } else {
    EXPECT_EQ(p.ddp.untagged.rsvd_ulp, s.ddp.untagged.rsvd_ulp);
    EXPECT_EQ(p.ddp.untagged.qn, s.ddp.untagged.qn);
    EXPECT_EQ(p.ddp.untagged.msn, s.ddp.untagged.msn);
    EXPECT_EQ(p.ddp.untagged.mo, s.ddp.untagged.mo);
  }
  if (p.opcode() == RdmapOp::rdma_read_request) {
    EXPECT_EQ(p.read_request.sink_stag, s.read_request.sink_stag);
    EXPECT_EQ(p.read_request.sink_to, s.read_request.sink_to);
    EXPECT_EQ(p.read_request.size, s.read_request.size);
    EXPECT_EQ(p.read_request.source_stag, s.read_request.source_stag);
    EXPECT_EQ(p.read_request.source_to, s.read_request.source_to);
  }
  if (p.opcode() == RdmapOp::terminate) {
    EXPECT_EQ(p.terminate.layer, s.terminate.layer);
    EXPECT_EQ(p.terminate.etype, s.terminate.etype);
    EXPECT_EQ(p.terminate.code, s.terminate.code);
    EXPECT_EQ(p.terminate.m, s.terminate.m);
    EXPECT_EQ(p.terminate.d, s.terminate.d);
    EXPECT_EQ(p.terminate.r, s.terminate.r);
    EXPECT_TRUE(std::ranges::equal(p.terminate.options, s.terminate.options));
  }
  EXPECT_TRUE(std::ranges::equal(p.payload, s.payload));
}

TEST(IwarpFpdu, EveryOpcodeAndPayloadLengthRoundTripsWithAndWithoutCrc) {
  for (RdmapOp op : kAllOps) {
    for (std::size_t len : {0u, 1u, 255u, 256u, 4095u, 4096u}) {
      for (bool crc : {false, true}) {
        SCOPED_TRACE(std::string(rdmap_opcode_info(op).name) + " len " + std::to_string(len) +
                     (crc ? " crc" : " no crc"));
        const Bytes payload = pattern(len, static_cast<std::uint8_t>(len));
        const UlpduSpec s = spec_for(op, payload);
        if (!rdmap_opcode_info(op).payload && len > 0) {
          UlpduSpec with_payload = s;
          with_payload.payload = payload;
          Bytes out(kMaxFpduSize);
          EXPECT_FALSE(build_fpdu(with_payload, crc, out).has_value());
          continue;
        }
        const Bytes wire = fpdu_of(s, crc);
        EXPECT_EQ(wire.size() % 4, 0u);
        EXPECT_EQ(load_be16(wire, 0), ulpdu_size(s));
        auto p = parse_fpdu(wire, crc);
        ASSERT_TRUE(p.has_value()) << iwarp_error_name(p.error());
        EXPECT_EQ(p->crc, crc ? CrcVerdict::ok : CrcVerdict::off);
        EXPECT_EQ(p->bytes.size(), wire.size());
        if (!crc) {
          EXPECT_EQ(p->crc_field, 0u);
        }
        for (std::byte b : p->pad()) EXPECT_EQ(b, std::byte{0});
        expect_same_fields(s, p->ulpdu);
        EXPECT_EQ(fpdu_of(ulpdu_spec_of(p->ulpdu), crc), wire);
      }
    }
  }
}

TEST(IwarpFpdu, TerminateOptionsAreDecodedAndKeptAsBytes) {
  const Bytes wire = fpdu_of(spec_for(RdmapOp::terminate), true);
  auto p = parse_fpdu(wire, true);
  ASSERT_TRUE(p.has_value());
  const Terminate& t = p->ulpdu.terminate;
  EXPECT_EQ(t.ddp_segment_length, kDdpUntaggedHeaderSize + kRdmaReadRequestHeaderSize);
  ASSERT_EQ(t.terminated_ddp_header.size(), kDdpUntaggedHeaderSize);
  EXPECT_EQ(load_be32(t.terminated_ddp_header, 6), ddp_queue::kReadRequest);  // its QN
  ASSERT_EQ(t.terminated_rdmap_header.size(), kRdmaReadRequestHeaderSize);
  EXPECT_EQ(load_be32(t.terminated_rdmap_header, 12), 64u);  // the refused read size
  EXPECT_TRUE(p->ulpdu.payload.empty());
}

TEST(IwarpFpdu, MaximumUlpduFitsAndOneMoreIsRefused) {
  UlpduSpec s = spec_for(RdmapOp::rdma_write);
  const Bytes payload = pattern(kMaxUlpduLength - kDdpTaggedHeaderSize);
  s.payload = payload;
  Bytes out(kMaxFpduSize);
  auto n = build_fpdu(s, true, out);
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_EQ(*n, kMaxFpduSize);
  EXPECT_TRUE(parse_fpdu(out, true).has_value());
  const Bytes more = pattern(payload.size() + 1);
  s.payload = more;
  EXPECT_FALSE(build_fpdu(s, true, out).has_value());
  Bytes small(16);
  EXPECT_EQ(build_fpdu(spec_for(RdmapOp::send), false, small).error().code, Errc::buffer_too_small);
}

TEST(IwarpFpdu, PadIsZerosUnlessTheCallerReEmitsOtherBytes) {
  const Bytes payload = pattern(2);
  const UlpduSpec s = spec_for(RdmapOp::send, payload);  // 2 + 20: two pad bytes
  ASSERT_EQ(fpdu_pad_size(ulpdu_size(s)), 2u);
  const Bytes pad = hex("0040");
  Bytes out(fpdu_size(ulpdu_size(s)));
  ASSERT_TRUE(build_fpdu(s, true, out, pad).has_value());
  auto p = parse_fpdu(out, true);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->crc, CrcVerdict::ok);  // the CRC covers the pad as sent
  EXPECT_TRUE(std::ranges::equal(p->pad(), pad));
  EXPECT_FALSE(build_fpdu(s, true, out, hex("00")).has_value());
}

// RFC 3720 B.4: 32 zero bytes.
TEST(MpaCrc, ThirtyTwoZeroBytesGiveTheRfc3720ValueSentLeastSignificantByteFirst) {
  const std::array<std::byte, 32> zeros{};
  EXPECT_EQ(fpdu_crc(zeros), 0x8a9136aau);
  // The builder puts the value least significant byte first: check it on an FPDU whose CRC we
  // recompute here.
  const Bytes wire = fpdu_of(spec_for(RdmapOp::send, pattern(10)), true);
  const std::uint32_t v = fpdu_crc(ConstByteSpan(wire).first(wire.size() - 4));
  EXPECT_EQ(wire[wire.size() - 4], std::byte(v & 0xff));
  EXPECT_EQ(wire[wire.size() - 1], std::byte(v >> 24));
}

// The SEND FPDU of the crafted iWARP capture (tests/capture/crafted_captures.cpp), which tshark
// reports as "CRC check: 0x7c1144d5 (Good CRC32)", i.e. the value 0xd544117c.
TEST(MpaCrc, MatchesTheKnownAnswerOfACraftedSendFpdu) {
  const Bytes wire =
      hex("0020 4143 00000000 00000000 00000001 00000000"
          " 53454e44207061796c6f61642031 0000 7c1144d5");
  auto p = parse_fpdu(wire, true);
  ASSERT_TRUE(p.has_value()) << iwarp_error_name(p.error());
  EXPECT_EQ(p->crc, CrcVerdict::ok);
  EXPECT_EQ(p->crc_field, 0xd544117cu);
  EXPECT_EQ(p->ulpdu.opcode(), RdmapOp::send);
  EXPECT_EQ(p->ulpdu.ddp.untagged.msn, DdpMsn{1});
  EXPECT_EQ(p->ulpdu.payload.size(), 14u);
  // Built from the same fields, the FPDU is the same bytes.
  UlpduSpec s = spec_for(RdmapOp::send, p->ulpdu.payload);
  s.ddp.untagged.msn = DdpMsn{1};
  EXPECT_EQ(fpdu_of(s, true), wire);
}

TEST(MpaCrc, ABadCrcIsReportedAsAVerdictOrAsAnErrorWhenTheUlpduIsGarbageToo) {
  Bytes wire = fpdu_of(spec_for(RdmapOp::send, pattern(20)), true);
  wire[2 + kDdpUntaggedHeaderSize + 3] ^= std::byte{0x01};  // a payload byte
  auto p = parse_fpdu(wire, true);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->crc, CrcVerdict::bad);
  EXPECT_EQ(parse_fpdu(wire, false)->crc, CrcVerdict::off);
  wire[3] = std::byte{0x4c};  // opcode 0xC as well
  EXPECT_EQ(parse_fpdu(wire, true).error(), IwarpError::fpdu_bad_crc);
  EXPECT_EQ(parse_fpdu(wire, false).error(), IwarpError::rdmap_unknown_opcode);
}

// ULPDU bytes with one control byte changed; CRC off so that the ULPDU error itself shows.
IwarpError error_of(const Bytes& wire) {
  auto p = parse_fpdu(wire, false);
  EXPECT_FALSE(p.has_value());
  return p ? IwarpError::count_ : p.error();
}

TEST(IwarpFpdu, TruncatedInputGivesNamedErrors) {
  const Bytes wire = fpdu_of(spec_for(RdmapOp::send, pattern(8)), false);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    auto p = parse_fpdu(ConstByteSpan(wire).first(n), false);
    ASSERT_FALSE(p.has_value()) << n;
    EXPECT_EQ(p.error(), IwarpError::fpdu_truncated) << n;
  }
  EXPECT_EQ(parse_ulpdu({}).error(), IwarpError::ddp_header_truncated);
}

TEST(IwarpFpdu, UlpduLengthTooShortForTheDdpHeaderIsRefused) {
  // Untagged (18) and tagged (14) headers cut short, each in a well-formed FPDU with a good CRC.
  for (std::size_t len : {0u, 1u, 2u, 13u, 17u}) {
    Bytes ulpdu = hex("4143 00000000 00000000 00000001 00000000");
    ulpdu.resize(len);
    Bytes wire(fpdu_size(len));
    store_be16(wire, 0, static_cast<std::uint16_t>(len));
    store_bytes(wire, 2, ulpdu);
    store_le32(wire, wire.size() - 4, fpdu_crc(ConstByteSpan(wire).first(wire.size() - 4)));
    auto p = parse_fpdu(wire, true);
    ASSERT_FALSE(p.has_value()) << len;
    EXPECT_EQ(p.error(), IwarpError::ddp_header_truncated) << len;
  }
  Bytes tagged = fpdu_of(spec_for(RdmapOp::rdma_write), false);
  store_be16(tagged, 0, 13);
  EXPECT_EQ(error_of(tagged), IwarpError::ddp_header_truncated);
}

TEST(IwarpUlpdu, WrongDdpOrRdmapVersionIsRefused) {
  const Bytes payload = pattern(4);
  for (std::uint8_t v : {0, 2, 3}) {
    UlpduSpec s = spec_for(RdmapOp::send, payload);
    s.ddp.ctrl.dv = v;
    EXPECT_EQ(error_of(fpdu_of(s, false)), IwarpError::ddp_bad_version);
    s = spec_for(RdmapOp::rdma_write, payload);
    s.ddp.ctrl.rv = v;
    EXPECT_EQ(error_of(fpdu_of(s, false)), IwarpError::rdmap_bad_version);
  }
}

TEST(IwarpUlpdu, UnknownAndRfc7306OpcodesAreRefusedByName) {
  const Bytes base = fpdu_of(spec_for(RdmapOp::send, pattern(40)), false);
  for (std::uint8_t op = 8; op < 16; ++op) {
    Bytes wire = base;
    wire[3] = std::byte(0x40 | op);
    EXPECT_EQ(error_of(wire),
              op <= 11 ? IwarpError::rdmap_rfc7306_unsupported : IwarpError::rdmap_unknown_opcode)
        << int(op);
  }
  // Nor does the builder make them.
  UlpduSpec s = spec_for(RdmapOp::send);
  s.ddp.ctrl.opcode = 0x0a;
  Bytes out(256);
  EXPECT_EQ(build_ulpdu(s, out).error().code, Errc::unsupported);
}

TEST(IwarpUlpdu, DdpModelMustMatchTheOpcode) {
  const Bytes payload = pattern(16);
  UlpduSpec s = spec_for(RdmapOp::send, payload);
  s.ddp.ctrl.tagged = true;
  EXPECT_EQ(error_of(fpdu_of(s, false)), IwarpError::rdmap_tagged_mismatch);
  s = spec_for(RdmapOp::rdma_read_response, payload);
  s.ddp.ctrl.tagged = false;
  EXPECT_EQ(error_of(fpdu_of(s, false)), IwarpError::rdmap_tagged_mismatch);
}

TEST(IwarpUlpdu, QueueNumberMustMatchTheOpcode) {
  const std::array<std::pair<RdmapOp, std::uint32_t>, 5> wrong = {{
      {RdmapOp::send, 1},
      {RdmapOp::send_with_invalidate, 2},
      {RdmapOp::rdma_read_request, 0},
      {RdmapOp::terminate, 0},
      {RdmapOp::terminate, 3},
  }};
  for (auto [op, qn] : wrong) {
    UlpduSpec s = spec_for(op);
    s.ddp.untagged.qn = qn;
    EXPECT_EQ(error_of(fpdu_of(s, false)), IwarpError::ddp_bad_queue_number)
        << rdmap_opcode_info(op).name << " qn " << qn;
  }
}

TEST(IwarpUlpdu, RdmapHeadersMustFitExactly) {
  // Read Request: 28 bytes after the DDP header, nothing more.
  Bytes rr = fpdu_of(spec_for(RdmapOp::rdma_read_request), false);
  Bytes ulpdu(rr.begin() + 2, rr.begin() + 2 + kDdpUntaggedHeaderSize + 27);
  EXPECT_EQ(parse_ulpdu(ulpdu).error(), IwarpError::rdmap_header_truncated);
  ulpdu.assign(rr.begin() + 2, rr.begin() + 2 + kDdpUntaggedHeaderSize + 28);
  EXPECT_TRUE(parse_ulpdu(ulpdu).has_value());
  ulpdu.push_back(std::byte{0});
  EXPECT_EQ(parse_ulpdu(ulpdu).error(), IwarpError::rdmap_unexpected_payload);
  // Terminate: the control word, then what D and R announce.
  const Bytes term = fpdu_of(spec_for(RdmapOp::terminate), false);
  const std::size_t full = load_be16(term, 0);
  for (std::size_t n = kDdpUntaggedHeaderSize; n < full; ++n) {
    auto p = parse_ulpdu(ConstByteSpan(term).subspan(2, n));
    ASSERT_FALSE(p.has_value()) << n;
    EXPECT_EQ(p.error(), IwarpError::rdmap_header_truncated) << n;
  }
  EXPECT_TRUE(parse_ulpdu(ConstByteSpan(term).subspan(2, full)).has_value());
}

TEST(IwarpUlpdu, ReservedBitsAndRsvdUlpAreKeptVerbatim) {
  const Bytes payload = pattern(3);
  UlpduSpec s = spec_for(RdmapOp::send, payload);
  s.ddp.ctrl.ddp_reserved = 0x0a;
  s.ddp.ctrl.rdmap_reserved = 0x02;
  s.ddp.ctrl.last = false;
  s.ddp.untagged.rsvd_ulp = 0xdeadbeef;
  s.ddp.untagged.mo = 4096;
  const Bytes wire = fpdu_of(s, true);
  EXPECT_EQ(wire[2], std::byte{0x29});  // T=0 L=0 rsvd=1010 DV=01
  EXPECT_EQ(wire[3], std::byte{0x63});  // RV=01 rsvd=10 opcode 3
  auto p = parse_fpdu(wire, true);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ulpdu.ddp.ctrl.ddp_reserved, 0x0a);
  EXPECT_EQ(p->ulpdu.ddp.ctrl.rdmap_reserved, 0x02);
  EXPECT_EQ(p->ulpdu.ddp.untagged.invalidate_stag(), Stag{0xdeadbeef});
  EXPECT_EQ(fpdu_of(ulpdu_spec_of(p->ulpdu), true), wire);
}

// --- MPA Request / Reply ---

TEST(MpaFrame, SiwRev2RequestParsesAndRebuildsByteForByte) {
  // From iwarp_rping.pcap: Rev 2, Enhanced, no CRC, IRD 1 ORD 1, no ULP private data.
  const Bytes wire = hex("4d504120494420526571204672616d65 10 02 0004 0001 0001");
  auto f = parse_mpa_frame(wire);
  ASSERT_TRUE(f.has_value()) << iwarp_error_name(f.error());
  EXPECT_EQ(f->kind, MpaKind::request);
  EXPECT_EQ(f->revision, 2);
  EXPECT_TRUE(f->enhanced);
  EXPECT_FALSE(f->crc || f->markers || f->reject);
  ASSERT_TRUE(f->ird_ord.has_value());
  EXPECT_EQ(f->ird_ord->ird, 1);
  EXPECT_EQ(f->ird_ord->ord, 1);
  EXPECT_TRUE(f->private_data.empty());
  EXPECT_EQ(mpa_of(*f), wire);
}

TEST(MpaFrame, Rev1AndRev2RequestsAndRepliesRoundTrip) {
  const Bytes pd = pattern(37);
  std::vector<MpaFrame> frames;
  MpaFrame rev1;
  rev1.revision = 1;
  rev1.enhanced = false;
  rev1.ird_ord.reset();
  rev1.crc = true;
  rev1.private_data = pd;
  frames.push_back(rev1);
  MpaFrame rev2;
  rev2.ird_ord = MpaIrdOrd{true, true, 0x3fff, true, true, 0x1234};
  rev2.low_flags = 0x09;  // siw's GSO bit and a reserved bit, kept
  rev2.private_data = pd;
  frames.push_back(rev2);
  MpaFrame reject = rev2;
  reject.kind = MpaKind::reply;
  reject.reject = true;
  reject.markers = true;
  reject.ird_ord = MpaIrdOrd{false, false, 0, false, true, 16};
  reject.private_data = {};
  frames.push_back(reject);
  MpaFrame rev1_reply = rev1;
  rev1_reply.kind = MpaKind::reply;
  rev1_reply.enhanced = true;  // meaningless in Rev 1: kept, but no IRD/ORD block
  frames.push_back(rev1_reply);
  for (const MpaFrame& f : frames) {
    const Bytes wire = mpa_of(f);
    auto size = mpa_frame_size(wire);
    ASSERT_TRUE(size.has_value());
    EXPECT_EQ(*size, wire.size());
    auto p = parse_mpa_frame(wire);
    ASSERT_TRUE(p.has_value()) << iwarp_error_name(p.error());
    EXPECT_EQ(p->kind, f.kind);
    EXPECT_EQ(p->markers, f.markers);
    EXPECT_EQ(p->crc, f.crc);
    EXPECT_EQ(p->reject, f.reject);
    EXPECT_EQ(p->enhanced, f.enhanced);
    EXPECT_EQ(p->low_flags, f.low_flags);
    EXPECT_EQ(p->revision, f.revision);
    EXPECT_EQ(p->ird_ord, f.ird_ord);
    EXPECT_TRUE(std::ranges::equal(p->private_data, f.private_data));
    EXPECT_EQ(mpa_of(*p), wire);
  }
}

TEST(MpaFrame, SizeNeedsTheHeaderThenTellsTheWholeFrame) {
  MpaFrame f;
  const Bytes pd = pattern(100);
  f.private_data = pd;
  const Bytes wire = mpa_of(f);
  for (std::size_t n = 0; n < kMpaHeaderSize; ++n)
    EXPECT_EQ(mpa_frame_size(ConstByteSpan(wire).first(n)).value(), kMpaHeaderSize) << n;
  for (std::size_t n = kMpaHeaderSize; n <= wire.size(); ++n) {
    EXPECT_EQ(mpa_frame_size(ConstByteSpan(wire).first(n)).value(), wire.size()) << n;
    if (n < wire.size()) {
      EXPECT_EQ(parse_mpa_frame(ConstByteSpan(wire).first(n)).error(), IwarpError::mpa_truncated);
    }
  }
}

TEST(MpaFrame, MalformedFramesGiveNamedErrors) {
  const Bytes good = hex("4d504120494420526571204672616d65 10 02 0004 0001 0001");
  Bytes b = good;
  b[7] = std::byte{'r'};  // "MPA ID req Frame"
  EXPECT_EQ(mpa_frame_size(b).error(), IwarpError::mpa_bad_key);
  EXPECT_EQ(parse_mpa_frame(b).error(), IwarpError::mpa_bad_key);
  for (std::uint8_t rev : {0, 3, 255}) {
    b = good;
    b[17] = std::byte{rev};
    EXPECT_EQ(parse_mpa_frame(b).error(), IwarpError::mpa_bad_revision) << int(rev);
  }
  b = good;
  store_be16(b, 18, 513);
  EXPECT_EQ(mpa_frame_size(b).error(), IwarpError::mpa_private_data_too_long);
  b = good;
  store_be16(b, 18, 2);
  b.resize(22);
  EXPECT_EQ(parse_mpa_frame(b).error(), IwarpError::mpa_ird_ord_missing);
  b[17] = std::byte{1};  // Rev 1: two bytes of plain private data
  EXPECT_EQ(parse_mpa_frame(b)->private_data.size(), 2u);
}

TEST(MpaFrame, BuilderRefusesPrivateDataOver512BytesByName) {
  MpaFrame f;
  const Bytes pd = pattern(kMpaMaxPrivateData - kMpaIrdOrdSize);
  f.private_data = pd;
  Bytes out(kMpaMaxFrameSize + 8);
  EXPECT_EQ(build_mpa_frame(f, out).value(), kMpaMaxFrameSize);
  const Bytes too_long = pattern(pd.size() + 1);
  f.private_data = too_long;
  auto r = build_mpa_frame(f, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("mpa_private_data_too_long"), std::string::npos);
  f.private_data = {};
  f.ird_ord.reset();
  EXPECT_FALSE(build_mpa_frame(f, out).has_value());  // Rev 2 + Enhanced without IRD/ORD
}

}  // namespace
}  // namespace softrnic::wire
