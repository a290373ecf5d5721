// The in-memory stream pair engine tests run iWARP on: bytes cross intact and in order, buffers
// push back, reads split where told, and close, abort, destruction and injected faults give the
// states the kernel transport gives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <ostream>
#include <set>
#include <vector>

#include "loopback/stream_pair.hpp"
#include "stream/byte_ring.hpp"

namespace softrnic {
// Readable failure messages: "peer_closed", not "1-byte object <02>".
inline void PrintTo(Stream::State s, std::ostream* os) {
  constexpr const char* kNames[] = {"connecting", "open", "peer_closed", "closed", "failed"};
  *os << kNames[static_cast<int>(s)];
}
}  // namespace softrnic

namespace softrnic::transport::test {
namespace {

using ::testing::HasSubstr;
using State = Stream::State;

std::vector<std::byte> bytes(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((i * 31 + seed + i / 251) & 0xff);
  return v;
}

StreamPair pair_with(StreamPairConfig cfg) {
  auto p = make_stream_pair(cfg);
  EXPECT_TRUE(p) << p.error().to_string();
  return std::move(*p);
}

std::vector<std::byte> read_all(Stream& s) {
  std::vector<std::byte> out;
  std::byte buf[1000];
  for (std::size_t n; (n = s.read(buf)) > 0;) out.insert(out.end(), buf, buf + n);
  return out;
}

TEST(StreamPair, StartsOpenWithEndpointsAndMss) {
  StreamPairConfig cfg;
  cfg.mss = 1448;
  auto p = pair_with(cfg);
  EXPECT_EQ(p.a->state(), State::open);
  EXPECT_EQ(p.b->state(), State::open);
  EXPECT_EQ(p.a->local(), cfg.a_endpoint);
  EXPECT_EQ(p.a->peer(), cfg.b_endpoint);
  EXPECT_EQ(p.b->peer(), cfg.a_endpoint);
  EXPECT_EQ(p.a->mss(), 1448u);
  EXPECT_TRUE(p.a->error().empty());
  EXPECT_FALSE(make_stream_pair({.send_buffer_bytes = 0}));
}

TEST(StreamPair, CarriesBytesBothWaysInOrderThroughSmallBuffers) {
  auto p = pair_with({.send_buffer_bytes = 4096, .recv_buffer_bytes = 3000});
  const auto ab = bytes(1 << 20, 1), ba = bytes(700000, 2);
  std::size_t ab_sent = 0, ba_sent = 0;
  std::vector<std::byte> ab_got, ba_got;
  std::byte buf[5000];
  while (ab_got.size() < ab.size() || ba_got.size() < ba.size()) {
    ab_sent += p.a->write(
        std::span(ab).subspan(ab_sent, std::min<std::size_t>(7000, ab.size() - ab_sent)));
    ba_sent += p.b->write(
        std::span(ba).subspan(ba_sent, std::min<std::size_t>(5000, ba.size() - ba_sent)));
    std::size_t n = p.b->read(buf);
    ab_got.insert(ab_got.end(), buf, buf + n);
    n = p.a->read(buf);
    ba_got.insert(ba_got.end(), buf, buf + n);
  }
  EXPECT_TRUE(ab_got == ab);
  EXPECT_TRUE(ba_got == ba);
  EXPECT_EQ(p.moved(StreamSide::a), ab.size());
  EXPECT_EQ(p.moved(StreamSide::b), ba.size());
}

TEST(StreamPair, WriteTakesOnlyWhatBothBuffersHoldWithoutAReader) {
  auto p = pair_with({.send_buffer_bytes = 4096, .recv_buffer_bytes = 1000});
  const auto data = bytes(10000, 3);
  std::size_t sent = 0;
  for (int i = 0; i < 10; ++i) sent += p.a->write(std::span(data).subspan(sent));
  EXPECT_EQ(sent, 4096u + 1000u);
  EXPECT_EQ(p.a->write(data), 0u);
  EXPECT_EQ(p.a->unsent(), 4096u);
  EXPECT_EQ(p.b->readable(), 1000u);
  // Draining lets the rest through, intact.
  std::vector<std::byte> got;
  while (got.size() < data.size()) {
    sent += p.a->write(std::span(data).subspan(sent));
    auto chunk = read_all(*p.b);
    got.insert(got.end(), chunk.begin(), chunk.end());
  }
  EXPECT_TRUE(got == data);
  EXPECT_EQ(p.a->unsent(), 0u);
}

TEST(StreamPair, ReadReturnsAtMostMaxRead) {
  auto p = pair_with({.max_read = 7});
  const auto data = bytes(100, 4);
  ASSERT_EQ(p.a->write(data), data.size());
  std::byte buf[64];
  EXPECT_EQ(p.b->readable(), 100u);
  EXPECT_EQ(p.b->read(buf), 7u);
  EXPECT_EQ(p.b->read(std::span(buf, 3)), 3u);
  EXPECT_EQ(p.b->readable(), 90u);
}

std::vector<std::size_t> split_sizes(std::uint64_t seed) {
  auto p = pair_with({.max_read = 13, .seed = seed});
  const auto data = bytes(5000, 5);
  EXPECT_EQ(p.a->write(data), data.size());
  std::vector<std::size_t> sizes;
  std::vector<std::byte> got;
  std::byte buf[64];
  for (std::size_t n; (n = p.b->read(buf)) > 0;) {
    sizes.push_back(n);
    got.insert(got.end(), buf, buf + n);
  }
  EXPECT_TRUE(got == data);
  return sizes;
}

TEST(StreamPair, SeededReadsSplitAtRandomButRepeatablePoints) {
  const auto first = split_sizes(42);
  EXPECT_EQ(first, split_sizes(42));
  EXPECT_NE(first, split_sizes(43));
  const std::set<std::size_t> seen(first.begin(), first.end());
  EXPECT_EQ(*seen.begin(), 1u);
  EXPECT_EQ(*seen.rbegin(), 13u);
  EXPECT_GE(seen.size(), 10u);
}

TEST(StreamPair, CloseLetsQueuedBytesArriveThenThePeerSeesPeerClosed) {
  auto p = pair_with({.send_buffer_bytes = 4096, .recv_buffer_bytes = 2048});
  const auto data = bytes(6144, 6);
  ASSERT_EQ(p.a->write(data), data.size());
  p.a->close();
  EXPECT_EQ(p.a->state(), State::closed);
  EXPECT_EQ(p.a->write(data), 0u);
  EXPECT_EQ(p.b->state(), State::open) << "the FIN waits behind 4 KiB still queued";
  const auto got = read_all(*p.b);
  EXPECT_TRUE(got == data);
  EXPECT_EQ(p.b->state(), State::peer_closed);
  EXPECT_EQ(p.a->unsent(), 0u);
  EXPECT_EQ(p.b->write(data), 0u) << "a peer_closed stream takes nothing";
  p.b->close();
  EXPECT_EQ(p.b->state(), State::closed);
  EXPECT_TRUE(p.b->error().empty());
}

TEST(StreamPair, BytesSentToAnEndThatClosedAreDropped) {
  auto p = pair_with({.send_buffer_bytes = 100, .recv_buffer_bytes = 100});
  ASSERT_EQ(p.b->write(bytes(200, 14)), 200u);
  EXPECT_EQ(p.a->readable(), 100u);
  EXPECT_EQ(p.b->unsent(), 100u);
  p.a->close();
  EXPECT_EQ(p.b->unsent(), 0u) << "the closed end drains and discards";
  EXPECT_EQ(p.a->readable(), 0u);
  EXPECT_EQ(p.b->state(), State::peer_closed);
}

TEST(StreamPair, AbortFailsThePeerWhichKeepsWhatItReceived) {
  auto p = pair_with({.send_buffer_bytes = 1000, .recv_buffer_bytes = 1000});
  const auto data = bytes(2000, 7);
  ASSERT_EQ(p.a->write(data), 2000u);
  ASSERT_EQ(p.b->write(bytes(300, 8)), 300u);
  p.a->abort();
  EXPECT_EQ(p.a->state(), State::closed);
  EXPECT_EQ(p.a->unsent(), 0u);
  EXPECT_EQ(p.a->readable(), 0u);
  EXPECT_EQ(p.b->state(), State::failed);
  EXPECT_EQ(p.b->error(), "recv from 127.0.0.1:40001: Connection reset by peer");
  EXPECT_EQ(p.b->readable(), 1000u) << "what arrived before the reset stays readable";
  EXPECT_EQ(p.b->unsent(), 0u);
  EXPECT_EQ(p.b->write(data), 0u);
  const auto got = read_all(*p.b);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin()));
}

TEST(StreamPair, InjectedResetFailsBothEnds) {
  auto p = pair_with({});
  ASSERT_EQ(p.a->write(bytes(10, 9)), 10u);
  p.inject_reset(StreamSide::b);
  EXPECT_EQ(p.b->state(), State::failed);
  EXPECT_THAT(p.b->error(), HasSubstr("reset injected"));
  EXPECT_EQ(p.a->state(), State::failed);
  EXPECT_EQ(p.a->error(), "recv from 127.0.0.1:40002: Connection reset by peer");
  EXPECT_EQ(p.b->readable(), 10u);
}

TEST(StreamPair, InjectedFinHalfClosesOneDirection) {
  auto p = pair_with({});
  ASSERT_EQ(p.a->write(bytes(10, 10)), 10u);
  ASSERT_EQ(p.b->write(bytes(20, 11)), 20u);
  p.inject_fin(StreamSide::a);
  EXPECT_EQ(p.a->state(), State::open);
  EXPECT_EQ(p.a->write(bytes(10, 10)), 0u);
  EXPECT_EQ(p.b->state(), State::peer_closed);
  EXPECT_EQ(p.b->readable(), 10u);
  // Writing needs `open` (a peer_closed stream takes nothing); a still reads what b sent.
  EXPECT_EQ(p.b->write(bytes(20, 11)), 0u);
  EXPECT_EQ(p.a->readable(), 20u);
}

TEST(StreamPair, DestroyingAnOpenEndClosesItAndEitherEndMayOutliveThePair) {
  auto p = pair_with({});
  std::unique_ptr<Stream> b = std::move(p.b);
  {
    StreamPair gone = std::move(p);
    ASSERT_EQ(gone.a->write(bytes(100, 12)), 100u);
  }  // the pair object and end a go; a was open, so it closed
  EXPECT_EQ(b->state(), State::peer_closed);
  EXPECT_EQ(read_all(*b).size(), 100u);
  b->close();
  EXPECT_EQ(b->state(), State::closed);
}

// A stream's ring starts small and grows towards its limit as data needs it, keeping the bytes
// waiting in order across the move, wrapped or not; it never passes its limit.
TEST(ByteRing, GrowsOnDemandUpToItsLimitKeepingOrder) {
  ByteRing r(16, 100);
  EXPECT_EQ(r.capacity(), 16u);
  const auto data = bytes(200, 3);
  std::size_t in = 0, out = 0;
  std::vector<std::byte> got;
  // Wrap the small ring first, then make it grow with bytes waiting across the wrap.
  in += r.push(std::span(data).subspan(in, 12));
  std::array<std::byte, 10> tmp{};
  out += r.pop(tmp);
  got.insert(got.end(), tmp.begin(), tmp.end());
  in += r.push(std::span(data).subspan(in, 10));
  EXPECT_EQ(in, 22u) << "the ring wrapped";
  r.grow_for(40, /*held=*/true);
  EXPECT_EQ(r.capacity(), 64u);
  in += r.push(std::span(data).subspan(in, 40));
  r.release_held();
  r.grow_for(1000);
  EXPECT_EQ(r.capacity(), 100u) << "never past the limit";
  in += r.push(std::span(data).subspan(in, 200 - in));
  EXPECT_EQ(r.size(), 100u);
  std::vector<std::byte> rest(r.size());
  out += r.pop(rest);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(out, 110u);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin()));
}

}  // namespace
}  // namespace softrnic::transport::test
