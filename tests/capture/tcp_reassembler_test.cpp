// TCP stream reassembly for capture decoding: order, retransmissions, overlaps, SYN/FIN sequence
// space, wrap-around, joining mid-stream and bounded memory.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/tcp_reassembler.hpp"

namespace softrnic {
namespace {

using capture::TcpReassembler;
using capture::TcpSegment;

// Records what the reassembler delivers: bytes as text with the frame that carried them.
class RecordingSink final : public capture::TcpStreamSink {
 public:
  void on_bytes(ConstByteSpan bytes, std::uint64_t frame) override {
    std::string s;
    for (auto b : bytes) s += static_cast<char>(b);
    stream += s;
    events.push_back("bytes:" + s + "@" + std::to_string(frame));
  }
  void on_gap(std::uint64_t frame) override { events.push_back("gap@" + std::to_string(frame)); }
  void on_end(std::uint64_t frame) override { events.push_back("end@" + std::to_string(frame)); }

  std::string stream;
  std::vector<std::string> events;
};

ConstByteSpan text(const std::string& s) { return as_bytes_of(s.data(), s.size()); }

TcpSegment seg(std::uint32_t seq, const std::string& data, std::uint64_t frame) {
  return {
      .seq = seq, .syn = false, .fin = false, .rst = false, .payload = text(data), .frame = frame};
}
TcpSegment syn(std::uint32_t seq, std::uint64_t frame) {
  return {.seq = seq, .syn = true, .fin = false, .rst = false, .payload = {}, .frame = frame};
}
TcpSegment fin(std::uint32_t seq, const std::string& data, std::uint64_t frame) {
  return {
      .seq = seq, .syn = false, .fin = true, .rst = false, .payload = text(data), .frame = frame};
}

TEST(TcpReassembler, SynTakesOneSequenceNumberAndDataFollowsInOrder) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "hello ";
  const std::string b = "world";
  r.add(syn(1000, 1), s);
  r.add(seg(1001, a, 2), s);
  r.add(seg(1007, b, 3), s);
  EXPECT_EQ(s.stream, "hello world");
  EXPECT_EQ(s.events, (std::vector<std::string>{"bytes:hello @2", "bytes:world@3"}));
}

TEST(TcpReassembler, OutOfOrderSegmentsAreHeldUntilTheHoleFills) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "AAAA", b = "BBBB", c = "CCCC";
  r.add(syn(0, 1), s);
  r.add(seg(9, c, 2), s);
  r.add(seg(5, b, 3), s);
  EXPECT_EQ(s.stream, "");
  EXPECT_EQ(r.buffered_bytes(), 8u);
  r.add(seg(1, a, 4), s);
  EXPECT_EQ(s.stream, "AAAABBBBCCCC");
  EXPECT_EQ(s.events, (std::vector<std::string>{"bytes:AAAA@4", "bytes:BBBB@3", "bytes:CCCC@2"}));
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(TcpReassembler, RetransmissionsAndOverlapsDeliverEachByteOnce) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "0123456789", again = "0123456789", overlap = "789ABC", ahead = "DEFG",
                    wide = "ABCDEFGHIJ";
  r.add(syn(99, 1), s);
  r.add(seg(100, a, 2), s);
  r.add(seg(100, again, 3), s);    // full retransmission
  r.add(seg(114, ahead, 4), s);    // held: 110..113 missing
  r.add(seg(107, overlap, 5), s);  // 107..112: 3 old bytes, 3 new
  r.add(seg(110, wide, 6), s);     // covers the rest and more
  EXPECT_EQ(s.stream, "0123456789ABCDEFGHIJ");
  EXPECT_EQ(r.delivered_bytes(), 20u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(TcpReassembler, SequenceNumbersWrapAround) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "abcd", b = "efgh", c = "ijkl";
  r.add(syn(0xfffffffau, 1), s);  // data starts at 0xfffffffb
  r.add(seg(0xffffffffu, b, 2), s);
  r.add(seg(3, c, 3), s);
  r.add(seg(0xfffffffbu, a, 4), s);
  EXPECT_EQ(s.stream, "abcdefghijkl");
}

TEST(TcpReassembler, JoiningMidStreamReportsAGapFirst) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "tail";
  r.add(seg(5000, a, 7), s);
  EXPECT_EQ(s.events, (std::vector<std::string>{"gap@7", "bytes:tail@7"}));
}

TEST(TcpReassembler, FinEndsTheStreamAfterItsLastByteEvenWhenItComesEarly) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "ab", b = "cd", late = "zz";
  r.add(syn(0, 1), s);
  r.add(fin(3, b, 2), s);  // FIN after "cd", before "ab" arrived
  EXPECT_FALSE(r.ended());
  r.add(seg(1, a, 3), s);
  EXPECT_TRUE(r.ended());
  r.add(seg(5, late, 4), s);  // nothing follows a FIN
  EXPECT_EQ(s.stream, "abcd");
  EXPECT_EQ(s.events.back(), "end@3");
}

TEST(TcpReassembler, RstEndsTheStream) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "ab";
  r.add(syn(0, 1), s);
  r.add(seg(1, a, 2), s);
  r.add({.seq = 3, .syn = false, .fin = false, .rst = true, .payload = {}, .frame = 3}, s);
  EXPECT_TRUE(r.ended());
  EXPECT_EQ(s.events.back(), "end@3");
}

TEST(TcpReassembler, HoleIsGivenUpWhenTheBufferBudgetIsSpent) {
  TcpReassembler r(8);  // at most 8 bytes wait behind a hole
  RecordingSink s;
  const std::string a = "AAAA", b = "BBBB", c = "CCCC";
  r.add(syn(0, 1), s);
  r.add(seg(5, a, 2), s);  // 1..4 never arrive
  r.add(seg(9, b, 3), s);
  EXPECT_EQ(r.buffered_bytes(), 8u);
  r.add(seg(13, c, 4), s);  // would make 12: the hole is given up
  EXPECT_LE(r.buffered_bytes(), 8u);
  EXPECT_EQ(s.stream, "AAAABBBBCCCC");
  EXPECT_EQ(s.events.front(), "gap@4");
}

TEST(TcpReassembler, SegmentLargerThanTheBudgetSkipsTheHoleWithoutBuffering) {
  TcpReassembler r(4);
  RecordingSink s;
  const std::string big = "0123456789";
  r.add(syn(0, 1), s);
  r.add(seg(100, big, 2), s);
  EXPECT_EQ(r.buffered_bytes(), 0u);
  EXPECT_EQ(s.events, (std::vector<std::string>{"gap@2", "bytes:0123456789@2"}));
}

TEST(TcpReassembler, EndOfCaptureDeliversWhatWaitsBehindHolesThenEnds) {
  TcpReassembler r;
  RecordingSink s;
  const std::string a = "aa", c = "cc";
  r.add(syn(0, 1), s);
  r.add(seg(1, a, 2), s);
  r.add(seg(5, c, 3), s);  // 3..4 lost
  r.finish(9, s);
  EXPECT_EQ(s.events, (std::vector<std::string>{"bytes:aa@2", "gap@9", "bytes:cc@3", "end@9"}));
  EXPECT_TRUE(r.ended());
}

}  // namespace
}  // namespace softrnic
