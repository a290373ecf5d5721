#include "loopback/loopback_port.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "test_frames.hpp"

namespace softrnic::transport {
namespace {

using test::frame_is_intact;
using test::make_frame;
using test::seq_of;

std::unique_ptr<LoopbackWire> make_wire(LoopbackConfig config = {}) {
  auto wire = LoopbackWire::create(config);
  EXPECT_TRUE(wire.has_value()) << (wire ? "" : wire.error().to_string());
  return wire ? std::move(*wire) : nullptr;
}

// Receives everything pending on port and frees it; returns the sequence numbers in order.
std::vector<std::uint32_t> receive_all(Port& port) {
  std::vector<std::uint32_t> seqs;
  std::array<Packet*, kBurst> burst{};
  while (std::size_t n = port.rx_burst(burst)) {
    for (std::size_t i = 0; i < n; ++i) {
      seqs.push_back(seq_of(*burst[i]));
      port.free(burst[i]);
    }
  }
  return seqs;
}

TEST(LoopbackWire, DefaultsCarryA4096BytePayloadAndLeaveRoomForJumboFrames) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->a().mtu(), 4200u);
  EXPECT_EQ(wire->a().max_frame(), 4218u);
  EXPECT_EQ(wire->buffer_size(), 9216u + 64u);
  EXPECT_NE(wire->a().mac(), wire->b().mac());
  EXPECT_TRUE(wire->a().link_up());

  LoopbackConfig jumbo;
  jumbo.mtu = 9000;
  jumbo.mac_a = {0x02, 1, 2, 3, 4, 5};
  auto jumbo_wire = make_wire(jumbo);
  ASSERT_TRUE(jumbo_wire);
  EXPECT_EQ(jumbo_wire->b().mtu(), 9000u);
  EXPECT_EQ(jumbo_wire->a().mac(), (wire::MacAddr{0x02, 1, 2, 3, 4, 5}));
  Packet* p = make_frame(jumbo_wire->a(), 1, 9018);
  ASSERT_NE(p, nullptr);
  std::array<Packet*, 1> one{p};
  EXPECT_EQ(jumbo_wire->a().tx_burst(one), 1u);
  std::array<Packet*, 1> got{};
  ASSERT_EQ(jumbo_wire->b().rx_burst(got), 1u);
  EXPECT_TRUE(frame_is_intact(*got[0], 1, 9018));
  jumbo_wire->b().free(got[0]);
}

TEST(LoopbackWire, CreateRejectsConfigurationsThatCannotWork) {
  LoopbackConfig too_big_mtu;
  too_big_mtu.mtu = 9300;  // 9318-byte frames do not fit 9280-byte buffers
  auto r = LoopbackWire::create(too_big_mtu);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::buffer_too_small);

  LoopbackConfig no_pool;
  no_pool.pool_packets = 0;
  EXPECT_FALSE(LoopbackWire::create(no_pool).has_value());

  LoopbackConfig no_ring;
  no_ring.rx_ring_packets = 0;
  EXPECT_FALSE(LoopbackWire::create(no_ring).has_value());

  LoopbackConfig tiny_mtu;
  tiny_mtu.mtu = 60;
  EXPECT_FALSE(LoopbackWire::create(tiny_mtu).has_value());
}

TEST(LoopbackWire, DeliversInOrderInBothDirectionsWithBytesIntact) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  std::vector<Packet*> a_to_b;
  for (std::uint32_t seq = 1; seq <= 40; ++seq)
    a_to_b.push_back(make_frame(wire->a(), seq, 60 + seq * 100));
  std::vector<Packet*> b_to_a;
  for (std::uint32_t seq = 1001; seq <= 1005; ++seq)
    b_to_a.push_back(make_frame(wire->b(), seq, 64));

  EXPECT_EQ(wire->a().tx_burst(a_to_b), a_to_b.size());
  EXPECT_EQ(wire->b().tx_burst(b_to_a), b_to_a.size());
  EXPECT_EQ(wire->b().rx_pending(), 40u);
  EXPECT_EQ(wire->a().rx_pending(), 5u);

  std::array<Packet*, kBurst> burst{};
  std::uint32_t next = 1;
  while (std::size_t n = wire->b().rx_burst(burst)) {
    EXPECT_LE(n, kBurst);
    for (std::size_t i = 0; i < n; ++i, ++next) {
      EXPECT_TRUE(frame_is_intact(*burst[i], next, 60 + next * 100)) << "frame " << next;
      wire->b().free(burst[i]);
    }
  }
  EXPECT_EQ(next, 41u);
  EXPECT_EQ(receive_all(wire->a()), (std::vector<std::uint32_t>{1001, 1002, 1003, 1004, 1005}));
  EXPECT_EQ(wire->pool_available(), wire->pool_size());
}

TEST(LoopbackWire, PoolIsSharedByBothEndsAndRecoversAfterExhaustion) {
  LoopbackConfig config;
  config.pool_packets = 8;
  auto wire = make_wire(config);
  ASSERT_TRUE(wire);
  std::vector<Packet*> taken;
  for (int i = 0; i < 4; ++i) taken.push_back(wire->a().alloc());
  for (int i = 0; i < 4; ++i) taken.push_back(wire->b().alloc());
  for (Packet* p : taken) {
    ASSERT_NE(p, nullptr);
    EXPECT_GE(p->capacity, wire->a().max_frame());
    EXPECT_EQ(p->len, 0u);
  }
  EXPECT_EQ(wire->pool_available(), 0u);
  EXPECT_EQ(wire->a().alloc(), nullptr);
  EXPECT_EQ(wire->b().alloc(), nullptr);
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::alloc_fail), 1u);
  EXPECT_EQ(wire->b().counters().get(LoopbackCounter::alloc_fail), 1u);

  wire->b().free(taken[0]);  // allocated by A, freed through B: one pool
  Packet* again = wire->a().alloc();
  EXPECT_EQ(again, taken[0]);
  taken[0] = again;
  for (Packet* p : taken) wire->a().free(p);
  EXPECT_EQ(wire->pool_available(), 8u);
}

TEST(LoopbackWire, FullReceiveRingLeavesTheFramesItCannotTakeWithTheCaller) {
  LoopbackConfig config;
  config.rx_ring_packets = 4;
  auto wire = make_wire(config);
  ASSERT_TRUE(wire);
  std::vector<Packet*> frames;
  for (std::uint32_t seq = 1; seq <= 6; ++seq) frames.push_back(make_frame(wire->a(), seq));

  ASSERT_EQ(wire->a().tx_burst(frames), 4u);
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::tx_ring_full), 2u);
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::tx_packets), 4u);
  // The refused frames are still the caller's, untouched: nothing was dropped.
  EXPECT_EQ(seq_of(*frames[4]), 5u);
  EXPECT_EQ(wire->pool_available(), wire->pool_size() - 6);

  EXPECT_EQ(receive_all(wire->b()), (std::vector<std::uint32_t>{1, 2, 3, 4}));
  std::span<Packet*> rest(frames.data() + 4, 2);
  ASSERT_EQ(wire->a().tx_burst(rest), 2u);
  EXPECT_EQ(receive_all(wire->b()), (std::vector<std::uint32_t>{5, 6}));
  EXPECT_EQ(wire->pool_available(), wire->pool_size());
}

TEST(LoopbackWire, CountsPacketsAndBytesOnEachEnd) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  std::vector<Packet*> frames{make_frame(wire->a(), 1, 100), make_frame(wire->a(), 2, 200),
                              make_frame(wire->a(), 3, 300)};
  ASSERT_EQ(wire->a().tx_burst(frames), 3u);
  std::array<Packet*, 2> two{};
  ASSERT_EQ(wire->b().rx_burst(two), 2u);
  for (Packet* p : two) wire->b().free(p);

  const auto& a = wire->a().counters();
  const auto& b = wire->b().counters();
  EXPECT_EQ(a.get(LoopbackCounter::tx_packets), 3u);
  EXPECT_EQ(a.get(LoopbackCounter::tx_bytes), 600u);
  EXPECT_EQ(a.get(LoopbackCounter::rx_packets), 0u);
  EXPECT_EQ(b.get(LoopbackCounter::rx_packets), 2u);
  EXPECT_EQ(b.get(LoopbackCounter::rx_bytes), 300u);
  EXPECT_EQ(b.get(LoopbackCounter::tx_packets), 0u);
  EXPECT_EQ(receive_all(wire->b()), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(b.get(LoopbackCounter::rx_bytes), 600u);

  std::vector<std::string_view> names;
  a.for_each([&](std::string_view name, std::uint64_t) { names.push_back(name); });
  EXPECT_EQ(names.front(), "tx_packets");
  EXPECT_EQ(names.size(), Counters<LoopbackCounter>::kSize);
}

TEST(LoopbackWire, OversizeRuntAndLinkDownFramesAreAcceptedFreedAndCounted) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  Packet* oversize = make_frame(wire->a(), 1, 64);
  oversize->len = wire->a().max_frame() + 1;
  Packet* runt = make_frame(wire->a(), 2, 64);
  runt->len = 13;
  Packet* good = make_frame(wire->a(), 3, 64);
  std::vector<Packet*> frames{oversize, runt, good};
  EXPECT_EQ(wire->a().tx_burst(frames), 3u);
  EXPECT_EQ(receive_all(wire->b()), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::tx_drop_oversize), 1u);
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::tx_drop_runt), 1u);

  wire->set_link_up(false);
  EXPECT_FALSE(wire->a().link_up());
  EXPECT_FALSE(wire->b().link_up());
  std::vector<Packet*> while_down{make_frame(wire->b(), 4), make_frame(wire->b(), 5)};
  EXPECT_EQ(wire->b().tx_burst(while_down), 2u);
  EXPECT_EQ(wire->b().counters().get(LoopbackCounter::tx_drop_link_down), 2u);
  wire->set_link_up(true);
  EXPECT_TRUE(receive_all(wire->a()).empty());
  EXPECT_EQ(wire->pool_available(), wire->pool_size());
}

TEST(LoopbackWire, FreeOfAForeignOrAlreadyFreedPacketIsIgnoredAndCounted) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  Packet* p = wire->a().alloc();
  ASSERT_NE(p, nullptr);
  wire->a().free(p);
  wire->a().free(p);
  Packet foreign;
  wire->a().free(&foreign);
  wire->a().free(nullptr);
  EXPECT_EQ(wire->a().counters().get(LoopbackCounter::free_invalid), 3u);
  EXPECT_EQ(wire->pool_available(), wire->pool_size());
}

TEST(LoopbackWire, CaptureHookSeesEveryFrameAnEndPutsOnTheWire) {
  auto wire = make_wire();
  ASSERT_TRUE(wire);
  std::vector<std::vector<std::byte>> captured;
  wire->a().set_tx_capture(
      [&](ConstByteSpan frame) { captured.emplace_back(frame.begin(), frame.end()); });
  std::vector<Packet*> frames{make_frame(wire->a(), 7, 80), make_frame(wire->a(), 8, 90)};
  Packet* runt = make_frame(wire->a(), 9, 64);
  runt->len = 10;
  frames.push_back(runt);
  ASSERT_EQ(wire->a().tx_burst(frames), 3u);
  std::vector<Packet*> reverse{make_frame(wire->b(), 100)};
  ASSERT_EQ(wire->b().tx_burst(reverse), 1u);  // the other end has no hook

  ASSERT_EQ(captured.size(), 2u);
  EXPECT_EQ(captured[0], test::frame_bytes(7, 80));
  EXPECT_EQ(captured[1], test::frame_bytes(8, 90));
  receive_all(wire->a());
  receive_all(wire->b());
}

}  // namespace
}  // namespace softrnic::transport
