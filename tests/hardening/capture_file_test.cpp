// Capture files as a less trusted client may ask for them: never through a symbolic link, never
// over an existing file unless asked, created 0600, held to a size limit with the frames left out
// counted; and written by the sink's writer thread, the engine side only copying frames into a
// bounded ring that drops (and counts) what does not fit.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "capture/capture_port.hpp"
#include "capture/capture_sink.hpp"
#include "capture/pcap_file.hpp"
#include "hardening_support.hpp"

namespace softrnic::hardening_test {
namespace {

using capture::CaptureFileOptions;
using capture::CaptureSink;
using capture::CaptureSinkOptions;
using capture::PcapReader;
using capture::PcapWriter;
using Bytes = std::vector<std::byte>;

Bytes frame_of(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(seed + i));
  return b;
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::uintmax_t size_of(const std::string& path) { return std::filesystem::file_size(path); }

// Every frame of a capture file, in order.
std::vector<Bytes> frames_in(const std::string& path) {
  std::vector<Bytes> out;
  auto r = PcapReader::open(path);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return out;
  }
  while (true) {
    auto f = r->next();
    if (!f) {
      ADD_FAILURE() << f.error().message;
      break;
    }
    if (!*f) break;
    out.emplace_back((*f)->bytes.begin(), (*f)->bytes.end());
  }
  return out;
}

TEST(CaptureFile, SymbolicLinkIsRefusedAndItsTargetIsUntouched) {
  TempDir dir;
  const std::string target = dir.file("precious");
  put(target, "keep me");
  const std::string link = dir.file("cap.pcap");
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  for (const bool overwrite : {false, true}) {
    auto w = PcapWriter::create(link, {.overwrite = overwrite});
    ASSERT_FALSE(w) << "overwrite=" << overwrite;
    EXPECT_NE(w.error().message.find("symbolic link"), std::string::npos) << w.error().message;
    EXPECT_EQ(contents(target), "keep me") << "overwrite=" << overwrite;
  }
  // Nor is a dangling link's target created.
  const std::string dangling = dir.file("dangling.pcapng");
  ASSERT_EQ(symlink(dir.file("made-through-the-link").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(PcapWriter::create(dangling));
  EXPECT_FALSE(PcapWriter::create(dangling, {.overwrite = true}));
  EXPECT_FALSE(exists(dir.file("made-through-the-link")));
}

TEST(CaptureFile, ExistingFileIsReplacedOnlyWhenAsked) {
  TempDir dir;
  const std::string path = dir.file("old.pcap");
  put(path, "an older file");
  auto refused = PcapWriter::create(path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("exists"), std::string::npos) << refused.error().message;
  EXPECT_EQ(contents(path), "an older file");

  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto w = PcapWriter::create(path, {.overwrite = true});
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->write(frame_of(60, 1), {}));
  ASSERT_TRUE(w->close());
  EXPECT_EQ(frames_in(path), std::vector<Bytes>{frame_of(60, 1)});
  EXPECT_EQ(mode_of(path), 0600u) << "a replaced file is made private too";
}

TEST(CaptureFile, NotARegularFileIsRefusedEvenWhenOverwriting) {
  auto w = PcapWriter::create("/dev/null", {.overwrite = true});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("not a regular file"), std::string::npos) << w.error().message;
}

TEST(CaptureFile, IsCreatedMode0600WhateverTheUmask) {
  TempDir dir;
  const ScopedUmask open_umask(0);
  for (const char* name : {"a.pcap", "b.pcapng"}) {
    auto w = PcapWriter::create(dir.file(name));
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE(w->close());
    EXPECT_EQ(mode_of(dir.file(name)), 0600u) << name;
  }
}

TEST(CaptureFile, SizeLimitHoldsAndTheFramesLeftOutAreCounted) {
  TempDir dir;
  // pcap: a 24-byte file header, then 16 bytes per record before the frame.
  const std::uint64_t limit = 24 + 3 * (16 + 100) + 50;
  for (const char* name : {"limited.pcap", "limited.pcapng"}) {
    const std::string path = dir.file(name);
    auto w = PcapWriter::create(path, {.max_bytes = limit});
    ASSERT_TRUE(w) << w.error().message;
    std::vector<Bytes> kept;
    for (std::uint8_t i = 0; i < 10; ++i) {
      ASSERT_TRUE(w->write(frame_of(100, i), {}));
      if (w->frames_over_limit() == 0) kept.push_back(frame_of(100, i));
    }
    // A small frame that would still fit is not written either: the capture stopped.
    ASSERT_TRUE(w->write(frame_of(1, 0), {}));
    EXPECT_EQ(w->frames_written() + w->frames_over_limit(), 11u) << name;
    EXPECT_GT(w->frames_over_limit(), 0u) << name;
    EXPECT_EQ(w->frames_written(), kept.size()) << name;
    ASSERT_TRUE(w->close());
    EXPECT_LE(size_of(path), limit) << name;
    EXPECT_EQ(size_of(path), w->bytes_written()) << name;
    EXPECT_EQ(frames_in(path), kept) << name;
  }
}

TEST(CaptureSink, AFullRingDropsTheFrameCountsItAndTheFileHoldsTheRest) {
  TempDir dir;
  const std::string path = dir.file("ring.pcap");
  auto w = PcapWriter::create(path);
  ASSERT_TRUE(w) << w.error().message;
  // Room for two 100-byte frames (32-byte header each, 32-byte alignment: 160 bytes apiece).
  auto sink = CaptureSink::create(std::move(*w), {.ring_bytes = 352, .writer_thread = false});
  ASSERT_TRUE(sink) << sink.error().message;
  auto& s = **sink;
  for (std::uint8_t i = 0; i < 5; ++i) EXPECT_EQ(s.offer(frame_of(100, i), {}), i < 2) << int(i);
  EXPECT_EQ(s.stats().queued, 2u);
  EXPECT_EQ(s.stats().ring_full, 3u);
  EXPECT_EQ(s.stats().written, 0u) << "nothing is written until the writer drains";
  EXPECT_EQ(s.drain(), 2u);
  EXPECT_TRUE(s.offer(frame_of(100, 7), {})) << "drained room is used again";
  ASSERT_TRUE(s.close());
  EXPECT_EQ(s.stats().written, 3u);
  EXPECT_EQ(frames_in(path),
            (std::vector<Bytes>{frame_of(100, 0), frame_of(100, 1), frame_of(100, 7)}));
}

TEST(CaptureSink, WriterThreadWritesEverythingQueuedAndReportsTheSizeLimit) {
  TempDir dir;
  const std::string path = dir.file("thread.pcapng");
  auto w = PcapWriter::create(path, {.max_bytes = 64 * 1024});
  ASSERT_TRUE(w) << w.error().message;
  auto sink = CaptureSink::create(std::move(*w));  // its own writer thread
  ASSERT_TRUE(sink) << sink.error().message;
  auto& s = **sink;
  std::uint64_t offered = 0;
  for (std::uint32_t i = 0; i < 200; ++i)
    offered += s.offer(frame_of(1000, static_cast<std::uint8_t>(i)), {}) ? 1 : 0;
  ASSERT_TRUE(s.close());
  const auto st = s.stats();
  EXPECT_EQ(st.queued, offered);
  EXPECT_EQ(st.queued + st.ring_full, 200u);
  EXPECT_EQ(st.written + st.over_limit, st.queued) << "every queued frame is written or counted";
  EXPECT_GT(st.over_limit, 0u);
  EXPECT_LE(size_of(path), 64u * 1024);
  EXPECT_EQ(frames_in(path).size(), st.written);
}

// A port whose transmit accepts up to `accept` frames per burst and whose receive hands out the
// frames queued in `incoming`.
class ScriptedPort final : public Port {
 public:
  std::size_t rx_burst(std::span<Packet*> out) override {
    std::size_t n = 0;
    while (n < out.size() && !incoming.empty()) {
      out[n++] = incoming.front();
      incoming.erase(incoming.begin());
    }
    return n;
  }
  std::size_t tx_burst(std::span<Packet*> pkts) override {
    const std::size_t n = std::min(pkts.size(), accept);
    for (std::size_t i = 0; i < n; ++i)
      sent.emplace_back(pkts[i]->bytes().begin(), pkts[i]->bytes().end());
    return n;
  }
  Packet* alloc() override { return nullptr; }
  void free(Packet*) override {}
  std::uint32_t mtu() const override { return 1500; }
  wire::MacAddr mac() const override { return {}; }

  std::size_t accept = kBurst;
  std::vector<Packet*> incoming;
  std::vector<Bytes> sent;
};

// Packets that own their bytes.
struct Frames {
  explicit Frames(std::size_t n, std::size_t len) {
    for (std::size_t i = 0; i < n; ++i)
      data.push_back(frame_of(len, static_cast<std::uint8_t>(10 * i)));
    for (auto& d : data) {
      Packet p;
      p.data = d.data();
      p.len = p.capacity = static_cast<std::uint32_t>(d.size());
      packets.push_back(p);
    }
    for (auto& p : packets) pointers.push_back(&p);
  }
  std::vector<Bytes> data;
  std::vector<Packet> packets;
  std::vector<Packet*> pointers;
};

TEST(CapturePort, TheEngineSideQueuesOnlyAcceptedFramesAndDropsWhatTheRingCannotHold) {
  TempDir dir;
  const std::string path = dir.file("port.pcap");
  auto w = PcapWriter::create(path);
  ASSERT_TRUE(w) << w.error().message;
  auto sink = CaptureSink::create(std::move(*w), {.ring_bytes = 4096, .writer_thread = false});
  ASSERT_TRUE(sink) << sink.error().message;
  ScriptedPort inner;
  capture::CapturePort port(inner);
  ASSERT_TRUE(port.start(*sink, path));

  Frames tx(4, 100);
  inner.accept = 3;  // the fourth stays with the caller: not captured
  EXPECT_EQ(port.tx_burst(tx.pointers), 3u);
  Frames rx(2, 200);
  inner.incoming = rx.pointers;
  std::array<Packet*, kBurst> got{};
  EXPECT_EQ(port.rx_burst(got), 2u);
  EXPECT_EQ(port.counters().get(capture::CaptureCounter::tx_frames), 3u);
  EXPECT_EQ(port.counters().get(capture::CaptureCounter::rx_frames), 2u);
  EXPECT_EQ((*sink)->stats().queued, 5u);
  EXPECT_EQ((*sink)->stats().written, 0u) << "the engine side never writes the file";

  EXPECT_EQ((*sink)->drain(), 5u);
  auto sink2 = port.stop();
  ASSERT_TRUE(sink2->close());
  EXPECT_EQ(frames_in(path),
            (std::vector<Bytes>{tx.data[0], tx.data[1], tx.data[2], rx.data[0], rx.data[1]}));

  // Then a ring with room for two 100-byte frames only: the other two are counted, not waited for.
  const std::string small_path = dir.file("small.pcap");
  auto w2 = PcapWriter::create(small_path);
  ASSERT_TRUE(w2) << w2.error().message;
  auto small = CaptureSink::create(std::move(*w2), {.ring_bytes = 352, .writer_thread = false});
  ASSERT_TRUE(small) << small.error().message;
  ASSERT_TRUE(port.start(*small, small_path));
  inner.accept = kBurst;
  EXPECT_EQ(port.tx_burst(tx.pointers), 4u) << "the port's traffic goes on regardless";
  EXPECT_EQ(port.counters().get(capture::CaptureCounter::frames_dropped), 2u);
  EXPECT_EQ((*small)->stats().ring_full, 2u);
  (void)port.stop();
  ASSERT_TRUE((*small)->close());
  EXPECT_EQ(frames_in(small_path), (std::vector<Bytes>{tx.data[0], tx.data[1]}));
}

}  // namespace
}  // namespace softrnic::hardening_test
