// Capture files: pcap written and read back, pcapng, captures held in memory, and the errors a user
// sees for files that are not captures or are damaged.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "capture/pcap_file.hpp"
#include "test_support.hpp"

namespace softrnic {
namespace {

using capture::PcapReader;
using capture::PcapWriter;
using Bytes = std::vector<std::byte>;

Bytes frame_of(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte{static_cast<std::uint8_t>(seed + i)};
  return b;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  Bytes b(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) b[i] = static_cast<std::byte>(chars[i]);
  return b;
}

void write_file(const std::string& path, ConstByteSpan bytes) {
  std::ofstream out(path, std::ios::binary);
  for (const auto b : bytes) out.put(static_cast<char>(b));
}

void put_le32(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(std::byte{static_cast<std::uint8_t>(v >> (8 * i))});
}
void put_le16(Bytes& b, std::uint16_t v) {
  b.push_back(std::byte{static_cast<std::uint8_t>(v)});
  b.push_back(std::byte{static_cast<std::uint8_t>(v >> 8)});
}

// A little-endian pcapng file: section header, one Ethernet interface (microsecond timestamps),
// and one enhanced packet block per frame (pcapng draft, sections 4.1, 4.2, 4.3).
Bytes make_pcapng(const std::vector<Bytes>& frames, std::uint64_t first_ts_us) {
  Bytes b;
  put_le32(b, 0x0a0d0d0a);  // SHB
  put_le32(b, 28);
  put_le32(b, 0x1a2b3c4d);
  put_le16(b, 1);
  put_le16(b, 0);
  put_le32(b, 0xffffffff);  // section length unknown
  put_le32(b, 0xffffffff);
  put_le32(b, 28);
  put_le32(b, 1);  // IDB
  put_le32(b, 20);
  put_le16(b, 1);  // LINKTYPE_ETHERNET
  put_le16(b, 0);
  put_le32(b, 0);  // no snap length limit
  put_le32(b, 20);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    const std::size_t padded = (f.size() + 3) / 4 * 4;
    const auto total = static_cast<std::uint32_t>(32 + padded);
    const std::uint64_t ts = first_ts_us + i * 1000;
    put_le32(b, 6);  // EPB
    put_le32(b, total);
    put_le32(b, 0);  // interface 0
    put_le32(b, static_cast<std::uint32_t>(ts >> 32));
    put_le32(b, static_cast<std::uint32_t>(ts));
    put_le32(b, static_cast<std::uint32_t>(f.size()));
    put_le32(b, static_cast<std::uint32_t>(f.size()));
    b.insert(b.end(), f.begin(), f.end());
    b.resize(b.size() + padded - f.size());
    put_le32(b, total);
  }
  return b;
}

std::vector<capture::CapturedFrame> read_frames(PcapReader& r, std::vector<Bytes>& storage) {
  std::vector<capture::CapturedFrame> out;
  for (;;) {
    auto f = r.next();
    EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().to_string());
    if (!f || !*f) break;
    storage.emplace_back((*f)->bytes.begin(), (*f)->bytes.end());
    out.push_back(**f);
    out.back().bytes = storage.back();
  }
  return out;
}

TEST(PcapFile, WrittenFramesReadBackWithNumbersTimestampsAndLengths) {
  test::TempDir dir;
  const std::string path = dir.file("out.pcap");
  const std::vector<Bytes> frames = {frame_of(60, 1), frame_of(1514, 2), frame_of(4200, 3)};
  {
    auto w = PcapWriter::create(path);
    ASSERT_TRUE(w.has_value()) << w.error().to_string();
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const capture::Timestamp ts{.seconds = 1700000000 + static_cast<std::int64_t>(i),
                                  .nanoseconds = 123456000};
      ASSERT_TRUE(w->write(frames[i], ts).has_value());
    }
    EXPECT_EQ(w->frames_written(), 3u);
    ASSERT_TRUE(w->close().has_value());
  }
  auto r = PcapReader::open(path);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  std::vector<Bytes> storage;
  const auto got = read_frames(*r, storage);
  ASSERT_EQ(got.size(), frames.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].number, i + 1);
    EXPECT_EQ(got[i].link_type, capture::kLinkTypeEthernet);
    EXPECT_EQ(got[i].timestamp.seconds, 1700000000 + static_cast<std::int64_t>(i));
    EXPECT_EQ(got[i].timestamp.nanoseconds, 123456000u);
    EXPECT_EQ(got[i].original_length, frames[i].size());
    EXPECT_EQ(Bytes(got[i].bytes.begin(), got[i].bytes.end()), frames[i]);
  }
}

// A *.pcapng name writes pcapng: read back by libpcap byte for byte with nanosecond timestamps,
// and per-frame comments that tshark shows as frame.comment.
TEST(PcapFile, PcapngIsWrittenForAPcapngNameWithFrameComments) {
  test::TempDir dir;
  const std::string path = dir.file("out.pcapng");
  const std::vector<Bytes> frames = {frame_of(60, 1), frame_of(1514, 2), frame_of(4201, 3)};
  {
    auto w = PcapWriter::create(path);
    ASSERT_TRUE(w.has_value()) << w.error().to_string();
    EXPECT_TRUE(w->pcapng());
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const capture::Timestamp ts{.seconds = 1700000000 + static_cast<std::int64_t>(i),
                                  .nanoseconds = 123456789};
      ASSERT_TRUE(w->write(frames[i], ts, i == 1 ? "synthesised headers" : "").has_value());
    }
    ASSERT_TRUE(w->close().has_value());
  }
  auto r = PcapReader::open(path);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  std::vector<Bytes> storage;
  const auto got = read_frames(*r, storage);
  ASSERT_EQ(got.size(), frames.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].timestamp.seconds, 1700000000 + static_cast<std::int64_t>(i));
    EXPECT_EQ(Bytes(got[i].bytes.begin(), got[i].bytes.end()), frames[i]);
  }
  if (!test::tool_installed("tshark")) GTEST_SKIP() << "SKIPPED: tshark is not installed (the frames were checked)";
  const auto t = test::run_command("tshark -r " + test::shell_quote(path) + " -T fields -e frame.number -e frame.comment 2>/dev/null");
  EXPECT_EQ(t.output, "1\t\n2\tsynthesised headers\n3\t\n");
}

TEST(PcapFile, CaptureHeldInMemoryReadsLikeTheFile) {
  test::TempDir dir;
  const std::string path = dir.file("mem.pcap");
  {
    auto w = PcapWriter::create(path);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(w->write(frame_of(64, 9), {}).has_value());
    ASSERT_TRUE(w->write(frame_of(100, 7), {}).has_value());
    ASSERT_TRUE(w->close().has_value());
  }
  auto r = PcapReader::from_bytes(read_file(path), "fuzz input");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->name(), "fuzz input");
  std::vector<Bytes> storage;
  const auto got = read_frames(*r, storage);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(storage[1], frame_of(100, 7));
}

TEST(PcapFile, PcapngFramesAreRead) {
  const std::vector<Bytes> frames = {frame_of(60, 0x10), frame_of(99, 0x20)};
  auto r = PcapReader::from_bytes(make_pcapng(frames, 1'700'000'000'250'000ull));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  std::vector<Bytes> storage;
  const auto got = read_frames(*r, storage);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(storage[0], frames[0]);
  EXPECT_EQ(storage[1], frames[1]);
  EXPECT_EQ(got[1].number, 2u);
  EXPECT_EQ(got[0].timestamp.seconds, 1'700'000'000);
  EXPECT_EQ(got[0].timestamp.nanoseconds, 250'000'000u);
  EXPECT_EQ(got[1].timestamp.nanoseconds, 251'000'000u);
}

TEST(PcapFile, TextFileIsNotACaptureAndTheMessageSaysSo) {
  test::TempDir dir;
  const std::string path = dir.file("notes.txt");
  const std::string text = "this is not a capture, just some words that are long enough\n";
  write_file(path, as_bytes_of(text.data(), text.size()));
  auto r = PcapReader::open(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(path + ": not a pcap or pcapng capture"), std::string::npos)
      << r.error().message;
}

TEST(PcapFile, MissingFileSaysItCannotBeOpened) {
  auto r = PcapReader::open("/nonexistent/dir/x.pcap");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/x.pcap: cannot open"), std::string::npos);
}

TEST(PcapFile, EmptyOrTinyBuffersAreNotCaptures) {
  EXPECT_FALSE(PcapReader::from_bytes({}).has_value());
  const Bytes three = frame_of(3, 0);
  auto r = PcapReader::from_bytes(three);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not a pcap or pcapng capture"), std::string::npos);
}

TEST(PcapFile, RecordCutShortIsADamagedCaptureAfterTheLastGoodFrame) {
  test::TempDir dir;
  const std::string path = dir.file("cut.pcap");
  {
    auto w = PcapWriter::create(path);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(w->write(frame_of(80, 1), {}).has_value());
    ASSERT_TRUE(w->write(frame_of(80, 2), {}).has_value());
    ASSERT_TRUE(w->close().has_value());
  }
  Bytes b = read_file(path);
  b.resize(b.size() - 30);  // the second record loses its tail
  auto r = PcapReader::from_bytes(b, "cut.pcap");
  ASSERT_TRUE(r.has_value());
  auto first = r->next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  auto second = r->next();
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("cut.pcap: damaged capture after frame 1"),
            std::string::npos)
      << second.error().message;
}

TEST(PcapFile, WriterRefusesAPathItCannotCreate) {
  auto w = PcapWriter::create("/nonexistent/dir/out.pcap");
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message.find("/nonexistent/dir/out.pcap: cannot create"), std::string::npos);
}

}  // namespace
}  // namespace softrnic
