// DpdkPort over DPDK virtual devices: the EAL start rules, a net_ring pair (frames both ways, back
// pressure, pool exhaustion, bad lengths, counters, MTU changes, teardown with frames in flight)
// and a net_memif server/client pair inside this one process, with an RC exchange over it.
#include "dpdk/dpdk_port.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "dpdk/eal.hpp"
#include "dpdk_fixture.hpp"
#include "test_frames.hpp"

namespace softrnic::transport {
namespace {

using softrnic::test::frame_is_intact;
using softrnic::test::make_frame;
using softrnic::test::seq_of;
using test::DpdkTest;
using test::MemifPair;
using test::unique_ring_name;

DpdkRingPair make_pair(const DpdkPortConfig& a = {}, const DpdkPortConfig& b = {}) {
  auto pair = DpdkPort::create_ring_pair(unique_ring_name(), a, b);
  EXPECT_TRUE(pair.has_value()) << (pair ? "" : pair.error().to_string());
  return pair ? std::move(*pair) : DpdkRingPair{};
}

// Sends frames first..first+count-1 (lengths from len_of) from `from` in one tx_burst each of 32;
// by_reference: each frame's middle is given by reference (Packet::ext), as zero copy does.
void send_frames(Port& from, std::uint32_t first, std::uint32_t count,
                 std::uint32_t (*len_of)(std::uint32_t), bool by_reference = false) {
  for (std::uint32_t done = 0; done < count; done += kBurst) {
    std::array<Packet*, kBurst> burst{};
    std::array<std::vector<std::byte>, kBurst> backing;
    const std::uint32_t n = std::min<std::uint32_t>(kBurst, count - done);
    std::uint32_t made = 0;
    for (; made < n; ++made) {
      const std::uint32_t seq = first + done + made;
      burst[made] = by_reference
                        ? softrnic::test::make_frame_by_reference(from, seq, len_of(seq), backing[made])
                        : make_frame(from, seq, len_of(seq));
      if (burst[made] == nullptr) break;
    }
    ASSERT_EQ(made, n) << "pool empty";
    const std::size_t sent = from.tx_burst(std::span<Packet*>(burst.data(), made));
    for (std::size_t i = sent; i < made; ++i) from.free(burst[i]);
    ASSERT_EQ(sent, n) << "transmit queue full";
    // The port promised not to read the payloads after tx_burst: make any late read visible.
    for (auto& b : backing) std::fill(b.begin(), b.end(), std::byte{0xee});
  }
}

// Receives until `count` frames arrived or `patience` passed; checks each is the next one, intact.
void expect_frames(Port& to, std::uint32_t first, std::uint32_t count,
                   std::uint32_t (*len_of)(std::uint32_t),
                   std::chrono::milliseconds patience = std::chrono::milliseconds(0)) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  std::uint32_t next = first;
  std::array<Packet*, kBurst> burst{};
  while (next < first + count) {
    const std::size_t n = to.rx_burst(burst);
    if (n == 0) {
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(seq_of(*burst[i]), next);
      EXPECT_TRUE(frame_is_intact(*burst[i], next, len_of(next))) << "frame " << next;
      to.free(burst[i]);
      ++next;
    }
  }
  EXPECT_EQ(next, first + count) << "frames missing";
}

// Frames with a middle given by reference: 46 bytes up to a full 1518-byte frame.
std::uint32_t by_ref_len(std::uint32_t seq) {
  constexpr std::uint32_t kLens[] = {46, 47, 300, 1025, 1500, 1518};
  return kLens[seq % std::size(kLens)];
}

// 60 bytes to a whole 4218-byte frame of MTU 4200, varied.
std::uint32_t ring_len(std::uint32_t seq) {
  constexpr std::uint32_t kLens[] = {60, 64, 65, 1000, 1518, 2048, 4096, 4217, 4218};
  return kLens[seq % std::size(kLens)];
}

TEST_F(DpdkTest, EalStartsOnceAndRefusesToRestartWithOtherArguments) {
  EXPECT_TRUE(eal::running());
  const auto args = eal::active_args();
  ASSERT_FALSE(args.empty());
  EXPECT_TRUE(eal::init().has_value());      // "whatever runs" is fine
  EXPECT_TRUE(eal::init(args).has_value());  // the same arguments are fine
  const std::vector<std::string> other = {"--no-huge", "-m", "64"};
  auto again = eal::init(other);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Errc::busy);
  EXPECT_NE(again.error().message.find("already runs"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("-m 64"), std::string::npos) << again.error().message;
}

TEST_F(DpdkTest, DefaultArgumentsNeedNoHugepagesNoPciAndNameAFolderOfTheirOwn) {
  const auto d = eal::default_args();
  auto has = [&](const std::string& a) { return std::find(d.begin(), d.end(), a) != d.end(); };
  EXPECT_TRUE(has("--no-huge"));
  EXPECT_TRUE(has("--no-pci"));
  EXPECT_TRUE(has("--no-shconf"));
  EXPECT_TRUE(has("--no-telemetry"));
  EXPECT_TRUE(has("--file-prefix=softrnic-" + std::to_string(getpid())));
  EXPECT_TRUE(has("-l"));
}

TEST_F(DpdkTest, RingPairCarriesA4096BytePathMtuAndHasTwoAddresses) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  EXPECT_EQ(pair.a->mtu(), 4200u);
  EXPECT_EQ(pair.a->max_frame(), 4218u);
  EXPECT_EQ(pair.a->frame_room(), 4352u);
  EXPECT_EQ(pair.a->mac(), (wire::MacAddr{0x02, 0, 0, 0, 0, 0x0a}));
  EXPECT_EQ(pair.b->mac(), (wire::MacAddr{0x02, 0, 0, 0, 0, 0x0b}));
  EXPECT_TRUE(pair.a->link_up());
  EXPECT_TRUE(pair.b->link_up());
  ASSERT_TRUE(pair.a->set_link_up(false).has_value());
  EXPECT_FALSE(pair.a->link_up());
  ASSERT_TRUE(pair.a->set_link_up(true).has_value());
  EXPECT_TRUE(pair.a->link_up());
  Packet* p = pair.a->alloc();
  ASSERT_NE(p, nullptr);
  EXPECT_GE(p->capacity, pair.a->max_frame());
  EXPECT_EQ(p->len, 0u);
  pair.a->free(p);
}

TEST_F(DpdkTest, RingPairMovesFramesBothWaysIntactInBurstsOf32) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  std::uint64_t bytes = 0;
  for (std::uint32_t s = 0; s < 320; ++s) bytes += ring_len(s);
  for (int round = 0; round < 10; ++round) {
    const std::uint32_t first = 32u * static_cast<std::uint32_t>(round);
    send_frames(*pair.a, first, 32, ring_len);
    expect_frames(*pair.b, first, 32, ring_len);
    send_frames(*pair.b, first, 32, ring_len);
    expect_frames(*pair.a, first, 32, ring_len);
  }
  for (DpdkPort* port : {pair.a.get(), pair.b.get()}) {
    const auto& c = port->counters();
    EXPECT_EQ(c.get(DpdkCounter::tx_packets), 320u);
    EXPECT_EQ(c.get(DpdkCounter::rx_packets), 320u);
    EXPECT_EQ(c.get(DpdkCounter::tx_bytes), bytes);
    EXPECT_EQ(c.get(DpdkCounter::rx_bytes), bytes);
    EXPECT_EQ(c.get(DpdkCounter::tx_full) + c.get(DpdkCounter::alloc_fail) +
                  c.get(DpdkCounter::free_invalid) + c.get(DpdkCounter::rx_foreign_dropped),
              0u);
    EXPECT_EQ(port->pool_in_use(), 0u);
  }
}

TEST_F(DpdkTest, PoolExhaustionReturnsNullptrAndRecovers) {
  DpdkPortConfig small;
  small.rx_queue_depth = 64;
  small.tx_queue_depth = 64;
  small.caller_packets = 64;
  auto pair = make_pair(small, small);
  ASSERT_TRUE(pair.a && pair.b);
  DpdkPort& a = *pair.a;
  std::vector<Packet*> held;
  while (Packet* p = a.alloc()) held.push_back(p);
  EXPECT_EQ(held.size(), a.pool_size());
  EXPECT_GE(held.size(), 64u * 3);
  EXPECT_EQ(a.alloc(), nullptr);
  EXPECT_EQ(a.counters().get(DpdkCounter::alloc_fail), 2u);
  EXPECT_EQ(a.pool_available(), 0u);
  for (Packet* p : held) a.free(p);
  EXPECT_EQ(a.pool_in_use(), 0u);
  Packet* again = make_frame(a, 7, 100);
  ASSERT_NE(again, nullptr);
  std::array<Packet*, 1> one{again};
  ASSERT_EQ(a.tx_burst(one), 1u);
  expect_frames(*pair.b, 7, 1, [](std::uint32_t) { return 100u; });
}

TEST_F(DpdkTest, AFullRingLeavesTheRestWithTheCallerInOrder) {
  DpdkPortConfig b_small;
  b_small.rx_queue_depth = 48;  // the ring toward b holds 48 frames
  auto pair = make_pair({}, b_small);
  ASSERT_TRUE(pair.a && pair.b);
  DpdkPort& a = *pair.a;
  auto len64 = [](std::uint32_t) { return 64u; };
  std::array<Packet*, kBurst> burst{};
  for (std::uint32_t i = 0; i < kBurst; ++i) burst[i] = make_frame(a, i, 64);
  ASSERT_EQ(a.tx_burst(burst), kBurst);
  for (std::uint32_t i = 0; i < kBurst; ++i) burst[i] = make_frame(a, kBurst + i, 64);
  const std::size_t taken = a.tx_burst(burst);
  EXPECT_EQ(taken, 48u - kBurst);
  EXPECT_EQ(a.counters().get(DpdkCounter::tx_full), kBurst - taken);
  expect_frames(*pair.b, 0, 48, len64);
  // The frames refused are still the caller's: sent now, they follow in order.
  ASSERT_EQ(a.tx_burst(std::span<Packet*>(burst.data() + taken, kBurst - taken)), kBurst - taken);
  expect_frames(*pair.b, 48, kBurst - static_cast<std::uint32_t>(taken), len64);
  EXPECT_EQ(a.pool_in_use(), 0u);
}

TEST_F(DpdkTest, FramesOfBadLengthAreFreedAndCountedNotSent) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  DpdkPort& a = *pair.a;
  std::array<Packet*, 4> burst{make_frame(a, 1, 64), make_frame(a, 2, 64), make_frame(a, 3, 64),
                               make_frame(a, 4, 64)};
  burst[1]->len = a.max_frame() + 1;
  burst[2]->len = 13;
  EXPECT_EQ(a.tx_burst(burst), 4u);
  EXPECT_EQ(a.counters().get(DpdkCounter::tx_drop_oversize), 1u);
  EXPECT_EQ(a.counters().get(DpdkCounter::tx_drop_runt), 1u);
  EXPECT_EQ(a.counters().get(DpdkCounter::tx_packets), 2u);
  std::array<Packet*, kBurst> got{};
  ASSERT_EQ(pair.b->rx_burst(got), 2u);
  EXPECT_TRUE(frame_is_intact(*got[0], 1, 64));
  EXPECT_TRUE(frame_is_intact(*got[1], 4, 64));
  pair.b->free(got[0]);
  pair.b->free(got[1]);
  EXPECT_EQ(a.pool_in_use(), 0u);
}

TEST_F(DpdkTest, FreeingOrSendingAPacketThatIsNotTheCallersIsIgnoredAndCounted) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  Packet* p = pair.a->alloc();
  ASSERT_NE(p, nullptr);
  pair.a->free(p);
  pair.a->free(p);
  pair.a->free(nullptr);
  Packet stranger;
  pair.a->free(&stranger);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::free_invalid), 3u);
  // Sending a packet already freed, or one of no DpdkPort, sends nothing.
  std::array<Packet*, 2> bad{p, &stranger};
  EXPECT_EQ(pair.a->tx_burst(bad), 2u);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::free_invalid), 5u);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::tx_packets), 0u);
  std::array<Packet*, kBurst> got{};
  EXPECT_EQ(pair.b->rx_burst(got), 0u);
  EXPECT_EQ(pair.a->pool_in_use(), 0u);
}

TEST_F(DpdkTest, TheReceiverFreesThePeersBuffersBackToThePeersPool) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  send_frames(*pair.a, 0, 64, ring_len);
  EXPECT_EQ(pair.a->pool_in_use(), 64u);  // on the ring toward b
  EXPECT_EQ(pair.b->pool_in_use(), 0u);
  expect_frames(*pair.b, 0, 64, ring_len);
  EXPECT_EQ(pair.a->pool_in_use(), 0u);
}

TEST_F(DpdkTest, SetMtuChangesTheFrameSizeAndRefusesWhatTheBuffersCannotHold) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  send_frames(*pair.a, 0, 8, [](std::uint32_t) { return 1000u; });
  ASSERT_TRUE(pair.a->set_mtu(1500).has_value());
  EXPECT_EQ(pair.a->mtu(), 1500u);
  EXPECT_EQ(pair.a->max_frame(), 1518u);
  // Frames on the ring survive the restart of the sender.
  expect_frames(*pair.b, 0, 8, [](std::uint32_t) { return 1000u; });
  Packet* big = make_frame(*pair.a, 9, 2000);
  std::array<Packet*, 1> one{big};
  EXPECT_EQ(pair.a->tx_burst(one), 1u);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::tx_drop_oversize), 1u);

  auto r = pair.a->set_mtu(9000);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::buffer_too_small);
  EXPECT_EQ(pair.a->mtu(), 1500u);
  ASSERT_TRUE(pair.a->set_mtu(4200).has_value());
  send_frames(*pair.a, 10, 1, [](std::uint32_t) { return 4218u; });
  expect_frames(*pair.b, 10, 1, [](std::uint32_t) { return 4218u; });
}

TEST_F(DpdkTest, ConfigurationsThatCannotWorkAreRefusedWithAReason) {
  DpdkPortConfig jumbo;
  jumbo.mtu = 9000;  // 9018-byte frames in 4352-byte buffers
  auto r = DpdkPort::create_ring_pair(unique_ring_name(), jumbo, jumbo);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::buffer_too_small);
  EXPECT_NE(r.error().message.find("frame_room"), std::string::npos) << r.error().message;

  jumbo.frame_room = 9216;
  auto ok = DpdkPort::create_ring_pair(unique_ring_name(), jumbo, jumbo);
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(ok->a->max_frame(), 9018u);

  EXPECT_FALSE(DpdkPort::create_ring_pair("").has_value());
  EXPECT_FALSE(DpdkPort::create_ring_pair("a_name_far_too_long_for_dpdk").has_value());
  auto bad = DpdkPort::create_vdev("net_no_such_driver0,x=1");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("net_no_such_driver0"), std::string::npos);
  EXPECT_FALSE(DpdkPort::create_vdev("").has_value());
}

TEST_F(DpdkTest, DestroyingEitherEndWithFramesInFlightReturnsThemToTheirPools) {
  for (const bool a_first : {true, false}) {
    auto pair = make_pair();
    ASSERT_TRUE(pair.a && pair.b);
    send_frames(*pair.a, 0, 40, ring_len);
    send_frames(*pair.b, 0, 40, ring_len);
    if (a_first) {
      pair.a.reset();
      EXPECT_EQ(pair.b->pool_in_use(), 0u);  // a took b's frames off its ring and freed them
      pair.b.reset();
    } else {
      pair.b.reset();
      EXPECT_EQ(pair.a->pool_in_use(), 0u);
      pair.a.reset();
    }
  }
}

TEST_F(DpdkTest, TwoThreadsDriveTheTwoEndsOfARingPair) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  constexpr std::uint32_t kFrames = 20000;
  auto len = [](std::uint32_t s) { return 60u + s % 200u; };
  std::thread sender([&] {
    std::uint32_t next = 0;
    std::array<Packet*, kBurst> burst{};
    while (next < kFrames) {
      const std::uint32_t n = std::min<std::uint32_t>(kBurst, kFrames - next);
      std::uint32_t made = 0;
      while (made < n) {
        burst[made] = make_frame(*pair.a, next + made, len(next + made));
        if (burst[made] == nullptr) break;
        ++made;
      }
      const std::size_t sent = pair.a->tx_burst(std::span<Packet*>(burst.data(), made));
      for (std::size_t i = sent; i < made; ++i) pair.a->free(burst[i]);
      next += static_cast<std::uint32_t>(sent);
    }
  });
  expect_frames(*pair.b, 0, kFrames, len, std::chrono::milliseconds(20000));
  sender.join();
  EXPECT_EQ(pair.a->pool_in_use(), 0u);
}

// A ring's peer would read a payload by reference after tx_burst returned: the ring pair offers
// no zero copy, and frames given by reference anyway are copied into their mbuf.
TEST_F(DpdkTest, RingPairOffersNoZeroCopyAndCopiesFramesGivenByReference) {
  auto pair = make_pair();
  ASSERT_TRUE(pair.a && pair.b);
  EXPECT_EQ(pair.a->zero_copy_min(), 0u);
  send_frames(*pair.a, 0, 64, by_ref_len, true);
  expect_frames(*pair.b, 0, 64, by_ref_len);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::tx_zero_copy_copied), 64u);
  EXPECT_EQ(pair.a->counters().get(DpdkCounter::tx_zero_copy), 0u);
}

// ---- memif: server and client in this one process ----

std::uint32_t memif_len(std::uint32_t seq) {
  constexpr std::uint32_t kLens[] = {60, 64, 65, 1000, 1500, 1518};
  return kLens[seq % std::size(kLens)];
}

TEST_F(DpdkTest, MemifServerAndClientInOneProcessMoveFramesBothWays) {
  MemifPair m;
  ASSERT_TRUE(m.server && m.client) << m.error();
  ASSERT_TRUE(m.wait_connected()) << "memif ends did not connect within 5 s";
  EXPECT_EQ(m.server->mtu(), 1500u);
  for (int round = 0; round < 8; ++round) {
    const std::uint32_t first = 32u * static_cast<std::uint32_t>(round);
    send_frames(*m.server, first, 32, memif_len);
    expect_frames(*m.client, first, 32, memif_len, std::chrono::milliseconds(2000));
    send_frames(*m.client, first, 32, memif_len);
    expect_frames(*m.server, first, 32, memif_len, std::chrono::milliseconds(2000));
  }
  EXPECT_EQ(m.server->counters().get(DpdkCounter::rx_packets), 256u);
  EXPECT_EQ(m.client->counters().get(DpdkCounter::rx_packets), 256u);
  EXPECT_EQ(m.server->pool_in_use(), 0u);
  EXPECT_EQ(m.client->pool_in_use(), 0u);
}

// memif copies a chain into its shared ring inside tx_burst: payloads go by reference, as a chain
// of three mbufs, and every external buffer is let go before tx_burst returns.
TEST_F(DpdkTest, MemifSendsPayloadsByReferenceAndReleasesThemInsideTxBurst) {
  MemifPair m;
  ASSERT_TRUE(m.server && m.client) << m.error();
  ASSERT_TRUE(m.wait_connected()) << "memif ends did not connect within 5 s";
  EXPECT_EQ(m.server->zero_copy_min(), DpdkPortConfig{}.zero_copy_min);
  for (int round = 0; round < 4; ++round) {
    const std::uint32_t first = 32u * static_cast<std::uint32_t>(round);
    send_frames(*m.server, first, 32, by_ref_len, true);
    expect_frames(*m.client, first, 32, by_ref_len, std::chrono::milliseconds(2000));
    send_frames(*m.client, first, 32, by_ref_len, true);
    expect_frames(*m.server, first, 32, by_ref_len, std::chrono::milliseconds(2000));
  }
  for (DpdkPort* p : {m.server.get(), m.client.get()}) {
    EXPECT_EQ(p->counters().get(DpdkCounter::tx_zero_copy), 128u);
    EXPECT_EQ(p->counters().get(DpdkCounter::tx_ext_held), 0u);
    EXPECT_EQ(p->zero_copy_min(), DpdkPortConfig{}.zero_copy_min) << "still on";
    EXPECT_EQ(p->pool_in_use(), 0u);
  }
}

}  // namespace
}  // namespace softrnic::transport
