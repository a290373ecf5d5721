// The capture decoder: records for RoCEv2, ARP/ND, malformed and other frames, and the TCP plumbing
// that hands each connection's ordered bytes to a pluggable stream consumer.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "capture/decoder.hpp"
#include "capture/pcap_file.hpp"
#include "crafted_captures.hpp"
#include "test_support.hpp"
#include "wire/build.hpp"

namespace softrnic {
namespace {

using capture::CaptureDecoder;
using capture::CapturedFrame;
using capture::DecodeRecord;
using capture::RecordProto;
using capture::TcpDirection;
using Bytes = std::vector<std::byte>;

CapturedFrame captured(const Bytes& b, std::uint64_t number) {
  CapturedFrame f;
  f.number = number;
  f.bytes = b;
  f.original_length = static_cast<std::uint32_t>(b.size());
  return f;
}

Bytes roce_frame(std::uint8_t opcode, std::size_t payload_len, std::uint32_t qpn,
                 std::uint32_t psn) {
  const Bytes payload(payload_len, std::byte{7});
  wire::RoceSpec s;
  s.ip.src = wire::ipv4_mapped({198, 18, 0, 1});
  s.ip.dst = wire::ipv4_mapped({198, 18, 0, 2});
  s.bth.opcode = opcode;
  s.bth.dest_qp = Qpn(qpn);
  s.bth.psn = Psn(psn);
  s.payload = payload;
  Bytes f(wire::roce_frame_size(s));
  EXPECT_TRUE(wire::build_roce(s, f).has_value());
  return f;
}

struct TcpSide {
  wire::Ipv4Addr addr;
  std::uint16_t port;
};

Bytes tcp_frame(TcpSide from, TcpSide to, std::uint32_t seq, std::uint8_t flags,
                const std::string& data) {
  wire::TcpSpec s;
  s.ip.src = wire::ipv4_mapped(from.addr);
  s.ip.dst = wire::ipv4_mapped(to.addr);
  s.src_port = from.port;
  s.dst_port = to.port;
  s.seq = seq;
  s.flags = flags;
  s.payload = as_bytes_of(data.data(), data.size());
  Bytes f(14 + 20 + 20 + data.size());
  EXPECT_TRUE(wire::build_tcp(s, f).has_value());
  return f;
}

TEST(CaptureDecoder, RoceFrameBecomesARecordWithOpcodeQpnPsnLengthAndIcrc) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  d.decode(captured(roce_frame(0x0a, 13, 0x123456, 0xabcdef), 4), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].frame, 4u);
  EXPECT_EQ(out[0].proto, RecordProto::roce_v4);
  EXPECT_EQ(out[0].opcode, "RC_RDMA_WRITE_ONLY");
  EXPECT_EQ(out[0].qpn, 0x123456u);
  EXPECT_EQ(out[0].psn, 0xabcdefu);
  EXPECT_EQ(out[0].length, 13u);
  EXPECT_EQ(out[0].icrc, capture::CrcVerdict::ok);
  EXPECT_FALSE(out[0].is_malformed());
}

TEST(CaptureDecoder, BadIcrcIsShownAsBadNotAsMalformed) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  Bytes f = roce_frame(0x64, 8, 1, 0);
  f.back() ^= std::byte{1};
  d.decode(captured(f, 1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, "UD_SEND_ONLY");
  EXPECT_EQ(out[0].icrc, capture::CrcVerdict::bad);
  EXPECT_FALSE(out[0].is_malformed());
}

TEST(CaptureDecoder, MalformedFrameNamesItsDropReason) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  Bytes f = roce_frame(0x04, 8, 1, 0);
  f[14 + 20 + 8] = std::byte{0x15};  // RESYNC: not an opcode we speak
  d.decode(captured(f, 2), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].malformed, "bad_opcode");
}

TEST(CaptureDecoder, FrameCutBySnapLengthIsNotJudgedMalformed) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  const Bytes f = roce_frame(0x04, 64, 1, 0);
  const Bytes head(f.begin(), f.begin() + 50);
  CapturedFrame c = captured(head, 1);
  c.original_length = static_cast<std::uint32_t>(f.size());
  d.decode(c, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].snapped);
  EXPECT_FALSE(out[0].is_malformed());
  EXPECT_EQ(out[0].opcode, "snapped");
}

TEST(CaptureDecoder, ArpAndNonEthernetLinkTypes) {
  wire::ArpSpec s;
  s.oper = wire::ArpView::kReply;
  s.spa = {198, 18, 0, 1};
  s.sha = {2, 0, 0, 0, 0, 9};
  Bytes f(42);
  ASSERT_TRUE(wire::build_arp(s, f).has_value());
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  d.decode(captured(f, 1), out);
  CapturedFrame raw = captured(f, 2);
  raw.link_type = 101;  // LINKTYPE_RAW
  d.decode(raw, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].proto, RecordProto::arp);
  EXPECT_EQ(out[0].opcode, "ARP_REPLY");
  EXPECT_EQ(out[0].note, "198.18.0.1 is at 02:00:00:00:00:09");
  EXPECT_EQ(out[1].proto, RecordProto::other);
  EXPECT_EQ(out[1].opcode, "linktype 101");
}

constexpr TcpSide kClient{{198, 18, 1, 2}, 40001};
constexpr TcpSide kServer{{198, 18, 1, 3}, 7174};
constexpr std::uint8_t kSyn = wire::tcpflag::kSyn;
constexpr std::uint8_t kAck = wire::tcpflag::kAck;
constexpr std::uint8_t kFin = wire::tcpflag::kFin;

TEST(CaptureDecoder, TcpWithoutConsumersIsListedSegmentBySegment) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  d.decode(captured(tcp_frame(kClient, kServer, 100, kSyn, ""), 1), out);
  d.decode(captured(tcp_frame(kServer, kClient, 500, kSyn | kAck, ""), 2), out);
  d.decode(captured(tcp_frame(kClient, kServer, 101, kAck, "hello"), 3), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].proto, RecordProto::tcp);
  EXPECT_EQ(out[0].opcode, "SYN");
  EXPECT_EQ(out[1].opcode, "SYN,ACK");
  EXPECT_EQ(out[2].opcode, "ACK");
  EXPECT_EQ(out[2].length, 5u);
  EXPECT_EQ(out[2].note, "40001 > 7174");
}

// A consumer that turns every complete line ("...\n") of a direction into one record.
class LineConsumer final : public capture::TcpStreamConsumer {
 public:
  explicit LineConsumer(std::vector<std::string>& log) : log_(log) {}
  void on_bytes(TcpDirection dir, ConstByteSpan bytes, std::uint64_t frame,
                std::vector<DecodeRecord>& out) override {
    auto& line = partial_[dir == TcpDirection::from_initiator ? 0 : 1];
    for (const auto b : bytes) {
      if (b != std::byte{'\n'}) {
        line += static_cast<char>(b);
        continue;
      }
      DecodeRecord r;
      r.frame = frame;
      r.proto = RecordProto::iwarp;
      r.opcode = (dir == TcpDirection::from_initiator ? ">" : "<") + line;
      r.length = line.size();
      out.push_back(r);
      line.clear();
    }
  }
  void on_gap(TcpDirection, std::uint64_t frame, std::vector<DecodeRecord>&) override {
    log_.push_back("gap@" + std::to_string(frame));
  }
  void on_end(TcpDirection dir, std::uint64_t frame, std::vector<DecodeRecord>&) override {
    log_.push_back(std::string(dir == TcpDirection::from_initiator ? "end>" : "end<") + "@" +
                   std::to_string(frame));
  }

 private:
  std::vector<std::string>& log_;
  std::string partial_[2];
};

class LineConsumers final : public capture::TcpConsumerFactory {
 public:
  std::unique_ptr<capture::TcpStreamConsumer> make(const capture::TcpConnectionId& id) override {
    ids.push_back(id);
    return std::make_unique<LineConsumer>(log);
  }
  std::vector<capture::TcpConnectionId> ids;
  std::vector<std::string> log;
};

TEST(CaptureDecoder, TcpConsumerGetsOrderedBytesOfBothDirectionsWithTheirFrames) {
  LineConsumers factory;
  CaptureDecoder d(&factory);
  std::vector<DecodeRecord> out;
  d.decode(captured(tcp_frame(kClient, kServer, 100, kSyn, ""), 1), out);
  d.decode(captured(tcp_frame(kServer, kClient, 500, kSyn | kAck, ""), 2), out);
  d.decode(captured(tcp_frame(kClient, kServer, 110, kAck, "ld\n"), 3), out);  // early
  d.decode(captured(tcp_frame(kClient, kServer, 101, kAck, "hel"), 4), out);
  d.decode(captured(tcp_frame(kClient, kServer, 104, kAck, "lo wor"), 5), out);
  d.decode(captured(tcp_frame(kServer, kClient, 501, kAck | kFin, "ok\n"), 6), out);
  d.decode(captured(tcp_frame(kClient, kServer, 113, kAck | kFin, ""), 7), out);

  ASSERT_EQ(factory.ids.size(), 1u);
  EXPECT_EQ(factory.ids[0].initiator.port, kClient.port);
  EXPECT_EQ(factory.ids[0].responder.port, kServer.port);
  std::vector<std::string> got;
  for (const auto& r : out) {
    got.push_back(std::to_string(r.frame) + ":" + std::string(record_proto_name(r.proto)) + ":" +
                  r.opcode);
  }
  // Frames where the consumer completed nothing are listed as plain TCP.
  EXPECT_EQ(got,
            (std::vector<std::string>{"1:TCP:SYN", "2:TCP:SYN,ACK", "3:TCP:ACK", "4:TCP:ACK",
                                      "3:iWARP:>hello world", "6:iWARP:<ok", "7:TCP:FIN,ACK"}));
  EXPECT_EQ(factory.log, (std::vector<std::string>{"end<@6", "end>@7"}));
  EXPECT_EQ(d.open_connections(), 0u);  // both directions ended: forgotten
}

TEST(CaptureDecoder, EndOfCaptureEndsOpenStreams) {
  LineConsumers factory;
  CaptureDecoder d(&factory);
  std::vector<DecodeRecord> out;
  d.decode(captured(tcp_frame(kClient, kServer, 900, kAck, "mid\n"), 1), out);  // no SYN seen
  EXPECT_EQ(factory.ids[0].initiator.port, kClient.port);
  d.finish(out);
  EXPECT_EQ(factory.log, (std::vector<std::string>{"gap@1", "end>@1"}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, ">mid");
}

TEST(CaptureDecoder, ConnectionsBeyondTheLimitAreListedAsPlainTcp) {
  LineConsumers factory;
  CaptureDecoder d(
      &factory,
      {.roce_port = wire::kRoceV2Port, .max_buffered_per_direction = 1024, .max_connections = 1});
  std::vector<DecodeRecord> out;
  d.decode(captured(tcp_frame(kClient, kServer, 1, kAck, "a\n"), 1), out);
  d.decode(captured(tcp_frame({{198, 18, 1, 9}, 5}, kServer, 1, kAck, "b\n"), 2), out);
  EXPECT_EQ(factory.ids.size(), 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].proto, RecordProto::iwarp);
  EXPECT_EQ(out[1].proto, RecordProto::tcp);
}

Bytes file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  Bytes b(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) b[i] = static_cast<std::byte>(chars[i]);
  return b;
}

// Damaged captures (bytes flipped anywhere: file header, record headers, frames) end in an error
// or in records; never in a crash or a read outside the buffer (run under ASan/valgrind).
TEST(CaptureDecoder, DamagedCapturesEndInRecordsOrAnErrorNeverACrash) {
  std::size_t decoded = 0;
  std::size_t refused = 0;
  for (const char* name : {"iwarp_rping_crc.pcap", "roce_cm_rping.pcap"}) {
    const Bytes original = file_bytes(test::golden_pcaps_dir() + "/" + name);
    ASSERT_FALSE(original.empty()) << name;
    std::mt19937 rng(2024);
    for (int round = 0; round < 300; ++round) {
      Bytes b = original;
      const int flips = 1 + round % 4;
      for (int i = 0; i < flips; ++i) {
        const std::size_t at = round < 40 ? rng() % 64 : rng() % b.size();  // headers first
        b[at] ^= std::byte{static_cast<std::uint8_t>(1 + rng() % 255)};
      }
      auto reader = capture::PcapReader::from_bytes(b, name);
      if (!reader) {
        ++refused;
        continue;
      }
      LineConsumers factory;
      std::size_t records = 0;
      const auto summary =
          capture::decode_capture(*reader, &factory, [&](const DecodeRecord&) { ++records; });
      if (summary) {
        ++decoded;
        EXPECT_EQ(summary->records, records);
      } else {
        ++refused;
      }
    }
  }
  EXPECT_GT(decoded, 0u);
  EXPECT_GT(refused, 0u);
}

// A capture an ordinary host takes: MLDv2 behind a Hop-by-Hop header, a router solicitation, ARP,
// ND, a DNS query, and RoCEv2 over IPv6 behind extension headers. Only RDMA frames are judged.
TEST(CaptureDecoder, HostChatterIsOtherAndRoceIsDecodedThroughIpv6ExtensionHeaders) {
  test::TempDir dir;
  const std::string path = dir.file("chatter.pcap");
  ASSERT_TRUE(test::write_host_chatter(path));
  auto reader = capture::PcapReader::open(path);
  ASSERT_TRUE(reader.has_value());
  std::vector<DecodeRecord> out;
  const auto summary =
      capture::decode_capture(*reader, nullptr, [&](const DecodeRecord& r) { out.push_back(r); });
  ASSERT_TRUE(summary.has_value());
  EXPECT_TRUE(summary->clean());
  EXPECT_EQ(summary->frames, 7u);
  EXPECT_EQ(summary->roce, 2u);
  EXPECT_EQ(summary->icrc_ok, 2u);
  EXPECT_EQ(summary->arp, 1u);
  EXPECT_EQ(summary->nd, 1u);
  EXPECT_EQ(summary->other, 3u);
  EXPECT_EQ(summary->malformed, 0u);
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0].proto, RecordProto::other);
  EXPECT_EQ(out[0].opcode, "ICMPv6");
  EXPECT_EQ(out[0].note, "type 143");
  EXPECT_EQ(out[1].note, "type 133");
  EXPECT_EQ(out[4].proto, RecordProto::roce_v6);
  EXPECT_EQ(out[4].opcode, "RC_SEND_ONLY");
  EXPECT_EQ(out[4].length, 64u);
  EXPECT_EQ(out[5].opcode, "UDP");
  EXPECT_EQ(out[6].proto, RecordProto::roce_v6);
  EXPECT_EQ(out[6].psn, 0x2001u);
}

TEST(CaptureDecoder, BadIcrcBehindIpv6ExtensionHeadersIsStillCaught) {
  test::TempDir dir;
  const std::string path = dir.file("chatter_bad.pcap");
  ASSERT_TRUE(test::write_host_chatter(path, true));
  auto reader = capture::PcapReader::open(path);
  ASSERT_TRUE(reader.has_value());
  const auto summary = capture::decode_capture(*reader, nullptr, [](const DecodeRecord&) {});
  ASSERT_TRUE(summary.has_value());
  EXPECT_FALSE(summary->clean());
  EXPECT_EQ(summary->icrc_bad, 1u);
}

// Broken frames of protocols that are not RDMA are somebody's traffic: listed, not judged.
TEST(CaptureDecoder, BrokenNonRdmaFramesAreOtherNotMalformed) {
  CaptureDecoder d;
  std::vector<DecodeRecord> out;
  Bytes f = roce_frame(0x04, 8, 1, 0);
  f[14 + 10] ^= std::byte{1};  // IPv4 header checksum
  d.decode(captured(f, 1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_malformed());
  EXPECT_EQ(out[0].proto, RecordProto::other);
  EXPECT_EQ(out[0].note, "ipv4_bad_checksum");
}

}  // namespace
}  // namespace softrnic
