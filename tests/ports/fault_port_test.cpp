#include "fault/fault_port.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <vector>

#include "base/clock.hpp"
#include "loopback/loopback_port.hpp"
#include "test_frames.hpp"

namespace softrnic::transport {
namespace {

using test::frame_bytes;
using test::frame_is_intact;
using test::make_frame;
using test::seq_of;

std::uint32_t length_of(std::uint32_t seq) { return 64 + (seq * 37) % 1400; }

struct Delivered {
  std::uint32_t seq;
  std::vector<std::byte> bytes;
  bool operator==(const Delivered&) const = default;
};

// A loopback wire whose A end transmits through a FaultPort; B is where frames arrive.
struct Bench {
  VirtualClock clock;
  std::unique_ptr<LoopbackWire> wire;
  std::unique_ptr<FaultPort> fault;
  std::vector<Delivered> delivered;

  explicit Bench(FaultConfig config, LoopbackConfig wire_config = {}) {
    auto w = LoopbackWire::create(wire_config);
    EXPECT_TRUE(w.has_value());
    if (!w) return;
    wire = std::move(*w);
    if (config.clock == nullptr) config.clock = &clock;
    auto f = FaultPort::create(wire->a(), std::move(config));
    EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().to_string());
    if (f) fault = std::move(*f);
  }
  bool ready() const { return wire && fault; }

  // Everything B has received so far, recorded and freed.
  void collect() {
    std::array<Packet*, kBurst> burst{};
    while (std::size_t n = wire->b().rx_burst(burst)) {
      for (std::size_t i = 0; i < n; ++i) {
        const auto b = burst[i]->bytes();
        delivered.push_back({seq_of(*burst[i]), {b.begin(), b.end()}});
        wire->b().free(burst[i]);
      }
    }
  }

  // Sends frames first..last through the fault port, `burst` at a time, retrying what the
  // decorator leaves with the caller, collecting at B and advancing the clock after each burst.
  void send(std::uint32_t first, std::uint32_t last, std::size_t burst = 8,
            std::uint64_t ns_per_burst = 0) {
    std::vector<Packet*> frames;
    for (std::uint32_t seq = first; seq <= last;) {
      frames.clear();
      for (std::size_t i = 0; i < burst && seq <= last; ++i, ++seq) {
        frames.push_back(make_frame(*fault, seq, length_of(seq)));
        ASSERT_NE(frames.back(), nullptr) << "pool exhausted at frame " << seq;
      }
      std::span<Packet*> pending(frames);
      for (int tries = 0; !pending.empty(); ++tries) {
        ASSERT_LT(tries, 1000) << "the fault port stopped taking frames";
        pending = pending.subspan(fault->tx_burst(pending));
        collect();
      }
      clock.advance(ns_per_burst);
    }
  }

  // Lets every held frame out and collects it.
  void finish() {
    fault->flush();
    collect();
    EXPECT_EQ(fault->held(), 0u);
  }

  std::vector<std::uint32_t> seqs() const {
    std::vector<std::uint32_t> s;
    for (const auto& d : delivered) s.push_back(d.seq);
    return s;
  }
  std::uint64_t count(FaultCounter c) const { return fault->counters().get(c); }
};

std::vector<std::uint32_t> iota(std::uint32_t first, std::uint32_t last) {
  std::vector<std::uint32_t> v;
  for (std::uint32_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

FaultConfig everything_on(std::uint64_t seed) {
  FaultConfig c;
  c.seed = seed;
  c.drop = 0.05;
  c.duplicate = 0.05;
  c.corrupt = 0.05;
  c.reorder = 0.1;
  c.reorder_window = 3;
  c.delay = 0.05;
  c.delay_ns = 250;
  return c;
}

std::vector<Delivered> run_everything_on(std::uint64_t seed) {
  Bench bench(everything_on(seed));
  if (!bench.ready()) return {};
  bench.send(1, 2000, 8, 100);
  bench.finish();
  for (auto c : {FaultCounter::dropped, FaultCounter::duplicated, FaultCounter::corrupted,
                 FaultCounter::reordered, FaultCounter::delayed}) {
    EXPECT_GT(bench.count(c), 0u) << counter_name(c) << " never happened";
  }
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
  return bench.delivered;
}

TEST(FaultPort, SameSeedReplaysTheSameDeliveredSequenceAndAnotherSeedDiffers) {
  const auto first = run_everything_on(42);
  const auto replay = run_everything_on(42);
  const auto other = run_everything_on(43);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.size(), replay.size());
  EXPECT_TRUE(first == replay) << "same seed, different delivery";
  EXPECT_FALSE(first == other) << "different seeds, same delivery";
}

TEST(FaultPort, RaisingOneFaultDoesNotReshuffleTheOthers) {
  FaultConfig drops_only;
  drops_only.seed = 7;
  drops_only.drop = 0.1;
  FaultConfig drops_and_more = drops_only;
  drops_and_more.duplicate = 0.3;
  drops_and_more.reorder = 0.3;

  Bench plain(drops_only);
  Bench busy(drops_and_more);
  ASSERT_TRUE(plain.ready() && busy.ready());
  plain.send(1, 1000);
  plain.finish();
  busy.send(1, 1000);
  busy.finish();
  const auto plain_seqs = plain.seqs();
  const auto busy_seqs = busy.seqs();
  EXPECT_NE(plain_seqs, busy_seqs);
  EXPECT_EQ(std::set<std::uint32_t>(plain_seqs.begin(), plain_seqs.end()),
            std::set<std::uint32_t>(busy_seqs.begin(), busy_seqs.end()));
}

TEST(FaultPort, DropRateOverTenThousandFramesIsNearTheConfiguredProbability) {
  FaultConfig config;
  config.seed = 2024;
  config.drop = 0.01;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 10000, kBurst);
  bench.finish();
  const auto seqs = bench.seqs();
  const std::uint64_t dropped = 10000 - seqs.size();
  // Binomial(10000, 0.01): mean 100, standard deviation ~10; 1% +- 0.5% is five deviations.
  EXPECT_GE(dropped, 50u);
  EXPECT_LE(dropped, 150u);
  EXPECT_EQ(bench.count(FaultCounter::dropped), dropped);
  EXPECT_EQ(bench.count(FaultCounter::frames_in), 10000u);
  EXPECT_EQ(bench.count(FaultCounter::frames_out), seqs.size());
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end()) << "a frame came twice";
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
}

TEST(FaultPort, DuplicateDeliversEveryFrameTwiceBackToBack) {
  FaultConfig config;
  config.duplicate = 1.0;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 20, 3);
  bench.finish();
  ASSERT_EQ(bench.delivered.size(), 40u);
  for (std::uint32_t seq = 1; seq <= 20; ++seq) {
    const auto& original = bench.delivered[2 * (seq - 1)];
    const auto& copy = bench.delivered[2 * (seq - 1) + 1];
    EXPECT_EQ(original.bytes, frame_bytes(seq, length_of(seq))) << "frame " << seq;
    EXPECT_EQ(copy.bytes, original.bytes) << "frame " << seq;
  }
  EXPECT_EQ(bench.count(FaultCounter::duplicated), 20u);
  EXPECT_EQ(bench.count(FaultCounter::frames_out), 40u);
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
}

TEST(FaultPort, DuplicateWithAnEmptyPoolSendsTheOriginalOnly) {
  FaultConfig config;
  config.duplicate = 1.0;
  LoopbackConfig small;
  small.pool_packets = 2;
  Bench bench(config, small);
  ASSERT_TRUE(bench.ready());
  std::array<Packet*, 1> frame{make_frame(*bench.fault, 1)};
  Packet* hog = bench.fault->alloc();  // the pool is now empty
  ASSERT_NE(hog, nullptr);
  EXPECT_EQ(bench.fault->tx_burst(frame), 1u);
  bench.collect();
  EXPECT_EQ(bench.seqs(), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(bench.count(FaultCounter::duplicate_no_buffer), 1u);
  EXPECT_EQ(bench.count(FaultCounter::duplicated), 0u);
  bench.fault->free(hog);
  EXPECT_EQ(bench.wire->pool_available(), 2u);
}

TEST(FaultPort, ReorderNeverPassesAFrameBeyondTheWindowAndNeverLosesOne) {
  constexpr std::uint32_t kWindow = 4;
  constexpr std::uint32_t kFrames = 3000;
  FaultConfig config;
  config.seed = 99;
  config.reorder = 0.3;
  config.reorder_window = kWindow;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, kFrames, 8);
  bench.finish();

  auto seqs = bench.seqs();
  ASSERT_EQ(seqs.size(), kFrames);
  // How many later frames arrived before each frame.
  std::uint32_t most_overtaken = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    std::uint32_t overtaken = 0;
    for (std::size_t j = 0; j < i; ++j) overtaken += seqs[j] > seqs[i] ? 1 : 0;
    EXPECT_LE(overtaken, kWindow) << "frame " << seqs[i];
    most_overtaken = std::max(most_overtaken, overtaken);
  }
  EXPECT_EQ(most_overtaken, kWindow) << "the window is never used in full";
  EXPECT_GT(bench.count(FaultCounter::reordered), 0u);
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, iota(1, kFrames)) << "a frame was lost or duplicated";
  for (const auto& d : bench.delivered) {
    EXPECT_EQ(d.bytes, frame_bytes(d.seq, length_of(d.seq)));
  }
}

TEST(FaultPort, CorruptFlipsExactlyOneBitAfterTheEthernetHeader) {
  FaultConfig config;
  config.seed = 5;
  config.corrupt = 1.0;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 400, 8);
  bench.finish();
  ASSERT_EQ(bench.delivered.size(), 400u);
  std::set<std::size_t> offsets;
  std::set<int> bits;
  for (std::uint32_t seq = 1; seq <= 400; ++seq) {
    // No reordering: position tells the frame even when its sequence field was the one hit.
    const auto& got = bench.delivered[seq - 1].bytes;
    const auto sent = frame_bytes(seq, length_of(seq));
    ASSERT_EQ(got.size(), sent.size());
    int flipped = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const auto diff = static_cast<unsigned>(got[i] ^ sent[i]);
      if (diff == 0) continue;
      flipped += std::popcount(diff);
      EXPECT_GE(i, 14u) << "frame " << seq << " corrupted inside the Ethernet header";
      offsets.insert(i);
      bits.insert(std::countr_zero(diff));
    }
    EXPECT_EQ(flipped, 1) << "frame " << seq;
  }
  EXPECT_EQ(bench.count(FaultCounter::corrupted), 400u);
  EXPECT_EQ(bits.size(), 8u) << "every bit position should come up in 400 draws";
  EXPECT_GT(offsets.size(), 300u) << "positions should spread over the frame";
}

TEST(FaultPort, DelayHoldsFramesUntilTheClockReachesTheirDueTime) {
  FaultConfig config;
  config.delay = 1.0;
  config.delay_ns = 1000;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 3, 3);  // due at 1000
  bench.clock.set(500);
  bench.send(4, 5, 2);  // due at 1500
  EXPECT_EQ(bench.fault->held(), 5u);
  EXPECT_EQ(bench.count(FaultCounter::delayed), 5u);

  std::array<Packet*, kBurst> none{};
  bench.clock.set(999);
  EXPECT_EQ(bench.fault->rx_burst(none), 0u);  // receiving also releases what is due
  bench.collect();
  EXPECT_TRUE(bench.delivered.empty());

  bench.clock.set(1000);
  EXPECT_EQ(bench.fault->rx_burst(none), 0u);
  bench.collect();
  EXPECT_EQ(bench.seqs(), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(bench.fault->held(), 2u);

  bench.clock.set(1499);
  EXPECT_EQ(bench.fault->tx_burst({}), 0u);
  bench.collect();
  EXPECT_EQ(bench.delivered.size(), 3u);
  bench.clock.set(1500);
  EXPECT_EQ(bench.fault->tx_burst({}), 0u);
  bench.collect();
  EXPECT_EQ(bench.seqs(), (std::vector<std::uint32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(bench.fault->held(), 0u);
}

TEST(FaultPort, DropListDropsExactlyTheNamedFrames) {
  FaultConfig config;
  config.drop_nth = {20, 3, 7, 8, 7};  // any order, repeats allowed
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 5, 1);
  bench.send(6, 25, 8);
  bench.finish();
  std::vector<std::uint32_t> expected;
  for (std::uint32_t s = 1; s <= 25; ++s) {
    if (s != 3 && s != 7 && s != 8 && s != 20) expected.push_back(s);
  }
  EXPECT_EQ(bench.seqs(), expected);
  EXPECT_EQ(bench.count(FaultCounter::dropped_by_list), 4u);
  EXPECT_EQ(bench.count(FaultCounter::dropped), 0u);
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
}

TEST(FaultPort, FlushSendsEveryHeldFrameInTheOrderItWasHeld) {
  FaultConfig config;
  config.delay = 1.0;
  config.delay_ns = 1'000'000'000;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 5, 2);
  EXPECT_EQ(bench.fault->held(), 5u);
  EXPECT_TRUE(bench.delivered.empty());
  EXPECT_EQ(bench.fault->flush(), 5u);
  EXPECT_EQ(bench.fault->held(), 0u);
  bench.collect();
  EXPECT_EQ(bench.seqs(), iota(1, 5));
  EXPECT_EQ(bench.fault->flush(), 0u);
}

TEST(FaultPort, FramesHeldAtDestructionGoBackToThePool) {
  FaultConfig config;
  config.delay = 0.5;
  config.delay_ns = 1'000'000'000;
  config.reorder = 0.5;
  config.reorder_window = 8;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 40, 8);
  ASSERT_GT(bench.fault->held(), 0u);
  const std::size_t in_flight = bench.wire->pool_size() - bench.wire->pool_available();
  EXPECT_EQ(in_flight, bench.fault->held());
  bench.fault.reset();
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
}

TEST(FaultPort, AFullHoldBufferSendsTheFrameUnheldInsteadOfStalling) {
  FaultConfig config;
  config.delay = 1.0;
  config.delay_ns = 1'000'000'000;
  config.max_held = 2;
  Bench bench(config);
  ASSERT_TRUE(bench.ready());
  bench.send(1, 5, 5);
  EXPECT_EQ(bench.fault->held(), 2u);
  EXPECT_EQ(bench.seqs(), (std::vector<std::uint32_t>{3, 4, 5}));
  EXPECT_EQ(bench.count(FaultCounter::delayed), 2u);
  EXPECT_EQ(bench.count(FaultCounter::hold_full), 3u);
  bench.finish();
  EXPECT_EQ(bench.seqs(), (std::vector<std::uint32_t>{3, 4, 5, 1, 2}));
}

TEST(FaultPort, BackPressureFromTheWrappedPortKeepsOrderAndLosesNothing) {
  FaultConfig config;
  config.max_held = 0;  // smallest backlog: the decorator must refuse frames itself
  LoopbackConfig narrow;
  narrow.rx_ring_packets = 8;
  Bench bench(config, narrow);
  ASSERT_TRUE(bench.ready());
  std::vector<Packet*> frames;
  for (std::uint32_t seq = 1; seq <= 200; ++seq) frames.push_back(make_frame(*bench.fault, seq));
  const std::size_t taken = bench.fault->tx_burst(frames);
  EXPECT_LT(taken, frames.size()) << "a full backlog must push back on the caller";
  EXPECT_EQ(bench.fault->held(), taken - 8) << "8 went on the wire, the rest wait in order";

  std::span<Packet*> pending = std::span<Packet*>(frames).subspan(taken);
  for (int tries = 0; tries < 1000 && (!pending.empty() || bench.fault->held() > 0); ++tries) {
    bench.collect();
    pending = pending.subspan(bench.fault->tx_burst(pending));
  }
  bench.collect();
  EXPECT_EQ(bench.seqs(), iota(1, 200));
  EXPECT_EQ(bench.count(FaultCounter::frames_in), 200u);
  EXPECT_EQ(bench.wire->pool_available(), bench.wire->pool_size());
}

TEST(FaultPort, CreateRejectsConfigurationsThatCannotWork) {
  LoopbackConfig wire_config;
  auto wire = LoopbackWire::create(wire_config);
  ASSERT_TRUE(wire.has_value());
  Port& inner = (*wire)->a();

  FaultConfig above_one;
  above_one.drop = 1.5;
  EXPECT_EQ(FaultPort::create(inner, above_one).error().code, Errc::out_of_range);
  FaultConfig not_a_number;
  not_a_number.corrupt = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(FaultPort::create(inner, not_a_number).has_value());
  FaultConfig delay_without_clock;
  delay_without_clock.delay = 0.1;
  EXPECT_EQ(FaultPort::create(inner, delay_without_clock).error().code, Errc::invalid_argument);
  FaultConfig no_window;
  no_window.reorder = 0.1;
  no_window.reorder_window = 0;
  EXPECT_FALSE(FaultPort::create(inner, no_window).has_value());
  FaultConfig frame_zero;
  frame_zero.drop_nth = {0};
  EXPECT_FALSE(FaultPort::create(inner, frame_zero).has_value());

  auto plain = FaultPort::create(inner, FaultConfig{});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ((*plain)->mtu(), inner.mtu());
  EXPECT_EQ((*plain)->max_frame(), inner.max_frame());
  EXPECT_EQ((*plain)->mac(), inner.mac());
  EXPECT_TRUE((*plain)->link_up());
}

}  // namespace
}  // namespace softrnic::transport
