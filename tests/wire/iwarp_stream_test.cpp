// MpaStream: one direction of an iWARP TCP stream, fed in arbitrary chunks. Synthetic streams
// prove the state machine at every split point; the TCP streams of real siw captures (extracted
// by tests/data/iwarp/extract_streams.py) prove that what siw sends parses and re-emits exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "iwarp_fixtures.hpp"

namespace softrnic::wire {
namespace {

using namespace iwarp_test;
using Kind = StreamEvent::Kind;

MpaFrame request_frame(bool crc) {
  MpaFrame f;
  f.crc = crc;
  f.ird_ord = MpaIrdOrd{false, false, 16, true, true, 16};
  return f;
}

// Request, then one FPDU of every opcode (several payload sizes), all with the given CRC mode.
Bytes request_stream(bool crc) {
  Bytes s = mpa_of(request_frame(crc));
  const std::array<RdmapOp, 8> ops = {RdmapOp::send,
                                      RdmapOp::rdma_write,
                                      RdmapOp::rdma_read_request,
                                      RdmapOp::rdma_read_response,
                                      RdmapOp::send_with_invalidate,
                                      RdmapOp::send_with_solicited_event,
                                      RdmapOp::send_with_solicited_event_and_invalidate,
                                      RdmapOp::terminate};
  std::size_t len = 0;
  for (RdmapOp op : ops) {
    const Bytes payload = pattern(len, static_cast<std::uint8_t>(len));
    const Bytes f = fpdu_of(spec_for(op, payload), crc);
    s.insert(s.end(), f.begin(), f.end());
    len = len * 3 + 1;
  }
  return s;
}

MpaStreamOptions request_direction() { return {MpaStreamStart::request, false, true}; }

TEST(MpaStream, RequestThenAnFpduOfEveryOpcodeIsReportedInPlace) {
  const Bytes data = request_stream(true);
  MpaStream s(request_direction());
  Recorder r(s, true);
  std::size_t in_place = 0;
  r.fpdu_check = [&](const ParsedFpdu& f) {
    in_place += f.bytes.data() >= data.data() && f.bytes.data() < data.data() + data.size();
  };
  EXPECT_EQ(s.feed(data, r), data.size());
  ASSERT_EQ(r.events.size(), 9u);
  EXPECT_EQ(r.events[0].kind, Kind::mpa_frame);
  EXPECT_EQ(r.events[0].offset, 0u);
  std::uint64_t off = r.events[0].bytes.size();
  for (std::size_t i = 1; i < r.events.size(); ++i) {
    EXPECT_EQ(r.events[i].kind, Kind::fpdu);
    EXPECT_EQ(r.events[i].crc, CrcVerdict::ok);
    EXPECT_EQ(r.events[i].offset, off);
    off += r.events[i].bytes.size();
  }
  EXPECT_EQ(off, data.size());
  EXPECT_EQ(in_place, 8u);
  EXPECT_EQ(s.counters().get(MpaStreamCounter::fpdus), 8u);
  EXPECT_EQ(s.counters().get(MpaStreamCounter::fpdus_reassembled), 0u);
  EXPECT_EQ(s.counters().get(MpaStreamCounter::bytes), data.size());
  EXPECT_EQ(s.counters().get(MpaStreamCounter::mpa_frames), 1u);
  EXPECT_EQ(s.phase(), MpaStreamPhase::fpdus);
  EXPECT_EQ(s.buffered(), 0u);
}

void expect_same_at_every_split(ConstByteSpan data, const MpaStreamOptions& opts,
                                std::optional<bool> crc_after_request = std::nullopt) {
  const auto whole = run_stream(data, opts, {}, crc_after_request);
  for (std::size_t cut = 1; cut < data.size(); ++cut) {
    ASSERT_EQ(run_stream(data, opts, {cut}, crc_after_request), whole) << "cut at " << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < data.size(); ++i) every.push_back(i);
  EXPECT_EQ(run_stream(data, opts, every, crc_after_request), whole) << "one byte at a time";
  // Pseudo-random chunkings, the same on every run.
  std::uint32_t x = 12345;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = 0;;) {
      x = x * 1103515245u + 12345u;
      at += 1 + (x >> 16) % 97;
      if (at >= data.size()) break;
      cuts.push_back(at);
    }
    EXPECT_EQ(run_stream(data, opts, cuts, crc_after_request), whole) << "round " << round;
  }
}

TEST(MpaStream, SplitAtEveryBytePositionGivesTheSameEvents) {
  for (bool crc : {false, true}) {
    SCOPED_TRACE(crc ? "crc" : "no crc");
    expect_same_at_every_split(request_stream(crc), request_direction(), crc);
  }
}

TEST(MpaStream, ReplyDirectionTakesTheCrcModeFromTheReply) {
  for (bool crc : {false, true}) {
    MpaFrame reply = request_frame(crc);
    reply.kind = MpaKind::reply;
    const Bytes data = concat({mpa_of(reply), fpdu_of(spec_for(RdmapOp::send, pattern(9)), crc)});
    MpaStream s({MpaStreamStart::reply, !crc, true});
    Recorder r(s);
    EXPECT_EQ(s.feed(data, r), data.size());
    EXPECT_EQ(s.crc(), crc);
    ASSERT_EQ(r.events.size(), 2u);
    EXPECT_EQ(r.events[1].crc, crc ? CrcVerdict::ok : CrcVerdict::off);
  }
}

TEST(MpaStream, CrcModeIsFixedOnceTheFirstFpduByteIsTaken) {
  const Bytes data = request_stream(false);
  MpaStream s(request_direction());
  Recorder r(s);
  const std::size_t mpa = request_frame(false).wire_size();
  EXPECT_EQ(s.feed(ConstByteSpan(data).first(mpa), r), mpa);
  EXPECT_TRUE(s.set_crc(true));
  EXPECT_TRUE(s.set_crc(false));
  EXPECT_EQ(s.feed(ConstByteSpan(data).subspan(mpa, 1), r), 1u);
  EXPECT_FALSE(s.set_crc(true));
  EXPECT_TRUE(s.set_crc(false));  // no change
}

TEST(MpaStream, FpduPhaseStartsWithoutConnectionSetup) {
  const Bytes data = concat({fpdu_of(spec_for(RdmapOp::rdma_write, pattern(5)), true),
                             fpdu_of(spec_for(RdmapOp::send, pattern(6)), true)});
  const auto events = run_stream(data, {MpaStreamStart::fpdus, true, true}, {});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, Kind::fpdu);
  EXPECT_EQ(events[1].crc, CrcVerdict::ok);
  expect_same_at_every_split(data, {MpaStreamStart::fpdus, true, true});
}

TEST(MpaStream, LargestFpduIsGatheredInTheBufferAcrossChunks) {
  UlpduSpec s = spec_for(RdmapOp::rdma_write);
  const Bytes payload = pattern(kMaxUlpduLength - kDdpTaggedHeaderSize);
  s.payload = payload;
  const Bytes data = concat({fpdu_of(s, true), fpdu_of(spec_for(RdmapOp::send), true)});
  for (std::size_t chunk : {1u, 1000u, 65543u}) {
    MpaStream stream({MpaStreamStart::fpdus, true, true});
    Recorder r(stream);
    for (std::size_t at = 0; at < data.size(); at += chunk) {
      const ConstByteSpan piece =
          ConstByteSpan(data).subspan(at, std::min(chunk, data.size() - at));
      ASSERT_EQ(stream.feed(piece, r), piece.size());
    }
    ASSERT_EQ(r.events.size(), 2u) << chunk;
    EXPECT_EQ(r.events[0].bytes.size(), kMaxFpduSize);
    EXPECT_EQ(r.events[0].crc, CrcVerdict::ok);
    EXPECT_GE(stream.counters().get(MpaStreamCounter::fpdus_reassembled), 1u);
  }
}

// The events of a stream that ends in an error: the error comes last, at the offending message,
// is the same at every split point, and the stream then takes nothing more.
void expect_stops_with(ConstByteSpan data, const MpaStreamOptions& opts, IwarpError want,
                       std::size_t events_before) {
  const auto events = run_stream(data, opts, {});
  ASSERT_EQ(events.size(), events_before + 1);
  EXPECT_EQ(events.back().kind, Kind::error);
  EXPECT_EQ(events.back().error, want) << iwarp_error_name(events.back().error);
  expect_same_at_every_split(data, opts);
  MpaStream s(opts);
  Recorder r(s);
  const std::size_t taken = s.feed(data, r);
  EXPECT_EQ(s.phase(), MpaStreamPhase::stopped);
  EXPECT_EQ(s.error(), want);
  EXPECT_EQ(s.counters().get(MpaStreamCounter::errors), 1u);
  EXPECT_LE(taken, data.size());
  EXPECT_EQ(s.feed(data, r), 0u);
  EXPECT_EQ(r.events.size(), events_before + 1);
}

TEST(MpaStream, BadCrcStopsTheStreamAtThatFpdu) {
  Bytes data = request_stream(true);
  const std::size_t second =
      request_frame(true).wire_size() + fpdu_of(spec_for(RdmapOp::send), true).size();
  data[second + 5] ^= std::byte{0x80};  // inside the WRITE's STag
  const Bytes tail = fpdu_of(spec_for(RdmapOp::send), true);
  data.insert(data.end(), tail.begin(), tail.end());
  auto opts = request_direction();
  opts.crc = true;
  expect_stops_with(data, opts, IwarpError::fpdu_bad_crc, 2);
  // A capture decoder can ask to see it instead.
  opts.stop_on_bad_crc = false;
  const auto events = run_stream(data, opts, {});
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[2].crc, CrcVerdict::bad);
  EXPECT_EQ(events[3].crc, CrcVerdict::ok);
}

TEST(MpaStream, MarkersRequestedAreReportedAfterTheFrameSoTheOwnerCanReject) {
  MpaFrame f = request_frame(false);
  f.markers = true;
  const Bytes data = concat({mpa_of(f), fpdu_of(spec_for(RdmapOp::send), false)});
  expect_stops_with(data, request_direction(), IwarpError::mpa_markers_requested, 1);
  EXPECT_EQ(run_stream(data, request_direction(), {})[0].kind, Kind::mpa_frame);
}

TEST(MpaStream, RejectingReplyEndsTheStream) {
  MpaFrame f = request_frame(false);
  f.kind = MpaKind::reply;
  f.reject = true;
  expect_stops_with(mpa_of(f), {MpaStreamStart::reply, false, true}, IwarpError::mpa_rejected, 1);
}

TEST(MpaStream, BadOrUnexpectedKeyIsRefused) {
  MpaFrame reply = request_frame(false);
  reply.kind = MpaKind::reply;
  expect_stops_with(mpa_of(reply), request_direction(), IwarpError::mpa_bad_key, 0);
  expect_stops_with(mpa_of(request_frame(false)), {MpaStreamStart::reply, false, true},
                    IwarpError::mpa_bad_key, 0);
  Bytes http(40, std::byte{'G'});
  expect_stops_with(http, request_direction(), IwarpError::mpa_bad_key, 0);
}

TEST(MpaStream, MalformedRequestGivesItsNamedError) {
  Bytes data = mpa_of(request_frame(false));
  store_be16(data, 18, 600);
  expect_stops_with(data, request_direction(), IwarpError::mpa_private_data_too_long, 0);
  data = mpa_of(request_frame(false));
  data[17] = std::byte{3};
  expect_stops_with(data, request_direction(), IwarpError::mpa_bad_revision, 0);
  data = mpa_of(request_frame(false));
  store_be16(data, 18, 3);
  data.resize(23);
  expect_stops_with(data, request_direction(), IwarpError::mpa_ird_ord_missing, 0);
}

TEST(MpaStream, BadUlpduStopsTheStream) {
  const Bytes good = fpdu_of(spec_for(RdmapOp::send, pattern(4)), false);
  Bytes rfc7306 = fpdu_of(spec_for(RdmapOp::send, pattern(4)), false);
  rfc7306[3] = std::byte{0x48};
  expect_stops_with(concat({good, rfc7306, good}), {}, IwarpError::rdmap_rfc7306_unsupported, 1);
  UlpduSpec qn = spec_for(RdmapOp::rdma_read_request);
  qn.ddp.untagged.qn = 0;
  expect_stops_with(concat({good, fpdu_of(qn, false)}), {}, IwarpError::ddp_bad_queue_number, 1);
  Bytes short_len = good;
  store_be16(short_len, 0, 2);  // 4-byte FPDU body; the rest is read as the next FPDU
  expect_stops_with(short_len, {}, IwarpError::ddp_header_truncated, 0);
}

TEST(MpaStream, CorruptedStreamsEndInANamedErrorAndSplitsAgree) {
  const Bytes good = request_stream(true);
  std::uint32_t x = 777;
  auto next = [&] { return x = x * 1103515245u + 12345u, x >> 8; };
  std::size_t errors = 0;
  for (int round = 0; round < 300; ++round) {
    Bytes data = good;
    for (int flips = 1 + next() % 3; flips > 0; --flips) {
      data[next() % data.size()] ^= std::byte(1 + next() % 255);
    }
    const MpaStreamOptions opts = request_direction();
    const auto whole = run_stream(data, opts, {}, true);
    std::vector<std::size_t> cuts;
    for (std::size_t at = 1 + next() % 40; at < data.size(); at += 1 + next() % 40)
      cuts.push_back(at);
    ASSERT_EQ(run_stream(data, opts, cuts, true), whole) << "round " << round;
    ASSERT_FALSE(whole.empty());
    const bool stopped = whole.back().kind == Kind::error;
    errors += stopped;
    if (stopped) {
      EXPECT_NE(whole.back().error, IwarpError::count_);
    }
  }
  EXPECT_GT(errors, 250u);  // a flipped bit is almost always caught (CRC on)
}

// --- Real siw traffic ---

struct CapturedStream {
  std::string file;
  bool starts_with_request = false;
  bool crc = false;
  std::size_t fpdus = 0;
  std::size_t bytes = 0;
};

std::string data_dir() {
  const char* root = std::getenv("SOFTRNIC_TEST_DATA");
  return root ? std::string(root) + "/iwarp/" : std::string();
}

std::vector<CapturedStream> captured_streams() {
  std::vector<CapturedStream> out;
  std::ifstream in(data_dir() + "streams.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CapturedStream c;
    std::string start, crc;
    fields >> c.file >> start >> crc >> c.fpdus >> c.bytes;
    c.starts_with_request = start == "request";
    c.crc = crc == "on";
    out.push_back(c);
  }
  return out;
}

Bytes read_file(const std::string& name) {
  std::ifstream in(data_dir() + name, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = std::byte(static_cast<unsigned char>(s[i]));
  return b;
}

MpaStreamOptions options_for(const CapturedStream& c) {
  return {c.starts_with_request ? MpaStreamStart::request : MpaStreamStart::reply, false, true};
}

TEST(SiwCapture, EveryDirectionParsesCompletelyAndEveryMessageRebuildsExactly) {
  ASSERT_NE(data_dir(), "") << "SOFTRNIC_TEST_DATA is not set";
  const auto streams = captured_streams();
  ASSERT_EQ(streams.size(), 16u) << "streams.tsv from tests/data/iwarp/extract_streams.py";
  std::array<std::size_t, 8> seen{};
  std::size_t crc_checked = 0;
  std::size_t nonzero_pad = 0;  // siw sends what its trailer buffer held; receivers ignore it
  for (const CapturedStream& c : streams) {
    SCOPED_TRACE(c.file);
    const Bytes data = read_file(c.file);
    ASSERT_EQ(data.size(), c.bytes);
    if (c.starts_with_request) {
      // The CRC mode comes from the Reply, in the other direction's file.
      std::string peer = c.file;
      peer.replace(peer.rfind("-ini."), 5, "-rsp.");
      auto reply = parse_mpa_frame(read_file(peer));
      ASSERT_TRUE(reply.has_value());
      ASSERT_EQ(reply->crc, c.crc);
    }
    MpaStream s(options_for(c));
    Recorder r(s, c.starts_with_request ? std::optional<bool>(c.crc) : std::nullopt);
    r.fpdu_check = [&](const ParsedFpdu& f) {
      EXPECT_EQ(f.crc, c.crc ? CrcVerdict::ok : CrcVerdict::off);
      crc_checked += f.crc == CrcVerdict::ok;
      ++seen[static_cast<std::size_t>(f.ulpdu.opcode())];
      nonzero_pad += std::ranges::any_of(f.pad(), [](std::byte x) { return x != std::byte{0}; });
      Bytes again(f.bytes.size());
      auto n = build_fpdu(ulpdu_spec_of(f.ulpdu), c.crc, again, f.pad());
      ASSERT_TRUE(n.has_value());
      EXPECT_TRUE(std::ranges::equal(again, f.bytes)) << "FPDU at " << s.message_offset();
    };
    EXPECT_EQ(s.feed(data, r), data.size());
    EXPECT_FALSE(s.error().has_value()) << iwarp_error_name(*s.error());
    EXPECT_EQ(s.phase(), MpaStreamPhase::fpdus);
    EXPECT_EQ(s.buffered(), 0u) << "stream ends inside a message";
    EXPECT_EQ(s.crc(), c.crc);
    EXPECT_EQ(s.counters().get(MpaStreamCounter::fpdus), c.fpdus);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0].kind, c.starts_with_request ? MpaKind::request : MpaKind::reply);
    // The Request/Reply rebuilds byte for byte.
    auto frame = parse_mpa_frame(data);
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(mpa_of(*frame), r.events[0].bytes);
  }
  // siw's rping, ib_send_bw and ib_write_bw plus the crafted captures cover every opcode.
  for (std::size_t op = 0; op < seen.size(); ++op) {
    if (op == static_cast<std::size_t>(RdmapOp::send_with_solicited_event_and_invalidate)) continue;
    EXPECT_GT(seen[op], 0u) << rdmap_opcode_info(static_cast<std::uint8_t>(op)).name;
  }
  EXPECT_EQ(crc_checked, 14u + 7u);  // iwarp_rping_crc and iwarp_v2crc
  EXPECT_GT(nonzero_pad, 0u);
}

TEST(SiwCapture, EveryDirectionGivesTheSameEventsAtEverySplit) {
  ASSERT_NE(data_dir(), "") << "SOFTRNIC_TEST_DATA is not set";
  const auto streams = captured_streams();
  ASSERT_FALSE(streams.empty());
  for (const CapturedStream& c : streams) {
    SCOPED_TRACE(c.file);
    expect_same_at_every_split(read_file(c.file), options_for(c),
                               c.starts_with_request ? std::optional<bool>(c.crc) : std::nullopt);
  }
}

}  // namespace
}  // namespace softrnic::wire
