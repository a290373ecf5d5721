// Faults on both directions of a port (transport/fault/link_faults.hpp): the spec parser, receive
// faults, ECN marking that keeps the ICRC valid, filters by QP and opcode class, the rate cap,
// jitter, and replay from a seed.
#include "fault/link_faults.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "base/clock.hpp"
#include "loopback/loopback_port.hpp"
#include "test_frames.hpp"
#include "text_bytes.hpp"
#include "wire/build.hpp"
#include "wire/parse.hpp"

namespace softrnic::transport {
namespace {

// A RoCEv2 frame (IPv4 or IPv6, ECT(0)) to dest_qp with the given opcode and PSN.
Packet* roce_frame(Port& port, std::uint8_t opcode, std::uint32_t dest_qp, std::uint32_t psn,
                   wire::IpVersion v = wire::IpVersion::v4) {
  wire::RoceSpec s;
  s.ip.version = v;
  s.ip.tos = 0x02;  // ECT(0), as the engine sends
  EXPECT_TRUE(test::parse_ip(v == wire::IpVersion::v4 ? "198.18.0.1" : "fd00:5052::1", s.ip.src));
  EXPECT_TRUE(test::parse_ip(v == wire::IpVersion::v4 ? "198.18.0.2" : "fd00:5052::2", s.ip.dst));
  s.bth.opcode = opcode;
  s.bth.dest_qp = Qpn{dest_qp};
  s.bth.psn = Psn{psn};
  s.bth.pkey = Pkey{0xffff};
  std::array<std::byte, 64> payload{};
  s.payload = payload;
  Packet* p = port.alloc();
  if (p == nullptr) return nullptr;
  auto n = wire::build_roce(s, {p->data, p->capacity});
  EXPECT_TRUE(n.has_value());
  p->len = n ? static_cast<std::uint32_t>(*n) : 0;
  return p;
}

struct Rig {
  VirtualClock clock;
  std::unique_ptr<LoopbackWire> wire;
  std::unique_ptr<LinkFaultPort> a;  // faults on A's side of the wire

  explicit Rig(std::string_view faults) {
    auto w = LoopbackWire::create({});
    EXPECT_TRUE(w.has_value());
    wire = std::move(*w);
    auto f = parse_link_faults(faults);
    EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().message);
    auto p = LinkFaultPort::create(wire->a(), *f, clock, true);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
    a = std::move(*p);
  }
  // Frames B receives from A's transmissions.
  std::vector<Packet*> at_b() {
    std::vector<Packet*> got;
    std::array<Packet*, kBurst> burst{};
    (void)a->rx_burst(std::span(burst).first(0));  // lets held transmit frames leave
    while (std::size_t n = wire->b().rx_burst(burst)) got.insert(got.end(), burst.begin(), burst.begin() + n);
    return got;
  }
  // Frames A's device receives from B.
  std::vector<Packet*> at_a() {
    std::vector<Packet*> got;
    std::array<Packet*, kBurst> burst{};
    for (int i = 0; i < 4; ++i)
      while (std::size_t n = a->rx_burst(burst)) got.insert(got.end(), burst.begin(), burst.begin() + n);
    return got;
  }
  void free_all(std::vector<Packet*>& v, Port& port) {
    for (Packet* p : v) port.free(p);
    v.clear();
  }
};

TEST(LinkFaults, SpecRoundTripsAndRejectsWhatCannotWork) {
  auto f = parse_link_faults("loss=0.1:dup=0.01:reorder=0.05:window=8:corrupt=0.001:delay=0.5:delay_us=200:"
                             "jitter_us=50:rate=100m:ecn=0.2:dir=both:qp=0x12:ops=send+read:seed=7");
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->config.drop, 0.1);
  EXPECT_EQ(f->config.reorder_window, 8u);
  EXPECT_EQ(f->config.delay_ns, 200'000u);
  EXPECT_EQ(f->config.jitter_ns, 50'000u);
  EXPECT_EQ(f->config.rate_bps, 100'000'000u);
  EXPECT_EQ(f->config.only_qp, 0x12u);
  EXPECT_EQ(f->config.only_ops, kOpSend | kOpRead);
  EXPECT_EQ(f->direction, FaultDirection::both);
  auto again = parse_link_faults(format_link_faults(*f));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *f);
  struct Bad {
    const char* text;
    const char* names;
  };
  for (const Bad& b : {Bad{"loss=2", "loss=2"}, Bad{"lose=0.1", "accepted: loss"}, Bad{"dir=up", "tx, rx, both"},
                       Bad{"ops=send+bogus", "bogus"}, Bad{"delay=0.5", "delay_us"},
                       Bad{"delay=1:delay_us=10:jitter_us=20", "jitter_us"}, Bad{"rate=0", "rate"},
                       Bad{"loss", "KEY=VALUE"}}) {
    auto r = parse_link_faults(b.text);
    ASSERT_FALSE(r.has_value()) << b.text;
    EXPECT_NE(r.error().message.find(b.names), std::string::npos) << b.text << ": " << r.error().message;
  }
}

TEST(LinkFaults, ReceiveLossDropsWhatArrivesAndLeavesTransmitAlone) {
  Rig r("loss=1:dir=rx");
  for (std::uint32_t i = 1; i <= 10; ++i) {
    Packet* p = test::make_frame(r.wire->b(), i);
    std::array<Packet*, 1> one{p};
    ASSERT_EQ(r.wire->b().tx_burst(one), 1u);
  }
  auto got = r.at_a();
  EXPECT_TRUE(got.empty()) << "every received frame is dropped";
  EXPECT_EQ(r.a->rx()->counters().get(FaultCounter::dropped), 10u);
  ASSERT_EQ(r.a->tx(), nullptr) << "dir=rx: nothing on transmit";
  Packet* p = test::make_frame(*r.a, 99);
  std::array<Packet*, 1> one{p};
  ASSERT_EQ(r.a->tx_burst(one), 1u);
  auto out = r.at_b();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(test::seq_of(*out[0]), 99u);
  r.free_all(out, r.wire->b());
}

TEST(LinkFaults, EcnMarksCongestionExperiencedAndTheIcrcStillHolds) {
  for (auto v : {wire::IpVersion::v4, wire::IpVersion::v6}) {
    Rig r("ecn=1");
    Packet* p = roce_frame(*r.a, 0x04, 0x11, 5, v);
    std::array<Packet*, 1> one{p};
    ASSERT_EQ(r.a->tx_burst(one), 1u);
    auto got = r.at_b();
    ASSERT_EQ(got.size(), 1u);
    auto parsed = wire::parse_frame(got[0]->bytes());
    ASSERT_TRUE(parsed.has_value()) << "IPv" << int(v) << ": the IPv4 header checksum was updated";
    EXPECT_TRUE(parsed->roce.icrc_ok) << "the ICRC masks the ECN bits";
    const std::size_t ip = 14;
    const unsigned ecn = v == wire::IpVersion::v4 ? std::to_integer<unsigned>(got[0]->data[ip + 1]) & 3
                                                  : (std::to_integer<unsigned>(got[0]->data[ip + 1]) >> 4) & 3;
    EXPECT_EQ(ecn, 3u) << "CE";
    EXPECT_EQ(r.a->tx()->counters().get(FaultCounter::ecn_marked), 1u);
    r.free_all(got, r.wire->b());
  }
  Rig r("ecn=1");  // a frame that is not ECN-capable is left alone
  Packet* p = test::make_frame(*r.a, 1);
  std::array<Packet*, 1> one{p};
  ASSERT_EQ(r.a->tx_burst(one), 1u);
  auto got = r.at_b();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(test::frame_is_intact(*got[0], 1, 64));
  EXPECT_EQ(r.a->tx()->counters().get(FaultCounter::ecn_skipped), 1u);
  r.free_all(got, r.wire->b());
}

TEST(LinkFaults, FiltersLimitFaultsToOneQpAndOneOpcodeClass) {
  Rig r("loss=1:qp=0x11:ops=write");
  const std::uint8_t write_only = 0x0a, send_only = 0x04;
  std::vector<Packet*> frames = {roce_frame(*r.a, write_only, 0x11, 1), roce_frame(*r.a, send_only, 0x11, 2),
                                 roce_frame(*r.a, write_only, 0x12, 3), test::make_frame(*r.a, 4)};
  ASSERT_EQ(r.a->tx_burst(frames), frames.size());
  auto got = r.at_b();
  ASSERT_EQ(got.size(), 3u) << "only the WRITE to QP 0x11 is dropped";
  EXPECT_EQ(r.a->tx()->counters().get(FaultCounter::filtered_out), 3u);
  EXPECT_EQ(op_class_of(got[0]->bytes(), true), kOpSend);
  EXPECT_EQ(op_class_of(got[2]->bytes(), true), kOpOther);
  r.free_all(got, r.wire->b());
}

TEST(LinkFaults, RateCapSpacesFramesByTheirSizeOnTheClock) {
  Rig r("rate=8m");  // 1 byte per microsecond
  std::vector<Packet*> frames;
  for (std::uint32_t i = 1; i <= 4; ++i) frames.push_back(test::make_frame(*r.a, i, 1000));
  ASSERT_EQ(r.a->tx_burst(frames), 4u);
  auto first = r.at_b();
  EXPECT_EQ(first.size(), 1u) << "the first leaves at once, the rest wait for the link";
  r.clock.advance(1'000'000);
  auto second = r.at_b();
  EXPECT_EQ(second.size(), 1u) << "one more per 1000 us";
  r.clock.advance(2'000'000);
  auto rest = r.at_b();
  EXPECT_EQ(rest.size(), 2u);
  EXPECT_EQ(r.a->tx()->counters().get(FaultCounter::rate_limited), 3u);
  r.free_all(first, r.wire->b());
  r.free_all(second, r.wire->b());
  r.free_all(rest, r.wire->b());
}

TEST(LinkFaults, JitterSpreadsDelaysWithinTheBoundsAndTheSameSeedReplays) {
  auto due_times = [](std::string_view spec) {
    Rig r(spec);
    std::vector<Packet*> frames;
    for (std::uint32_t i = 1; i <= 50; ++i) frames.push_back(test::make_frame(*r.a, i));
    EXPECT_EQ(r.a->tx_burst(frames), 50u);
    std::vector<std::pair<std::uint32_t, std::uint64_t>> seen;  // (seq, arrival microsecond)
    for (std::uint64_t us = 0; us <= 400; ++us) {
      auto got = r.at_b();
      for (Packet* p : got) seen.emplace_back(test::seq_of(*p), us);
      r.free_all(got, r.wire->b());
      r.clock.advance(1000);
    }
    return seen;
  };
  const auto a = due_times("delay=1:delay_us=200:jitter_us=100:seed=3");
  ASSERT_EQ(a.size(), 50u);
  std::uint64_t lo = ~0ull, hi = 0;
  for (const auto& [seq, us] : a) lo = std::min(lo, us), hi = std::max(hi, us);
  EXPECT_GE(lo, 100u);
  EXPECT_LE(hi, 300u);
  EXPECT_GT(hi - lo, 50u) << "the delays are spread, not all the same";
  EXPECT_EQ(due_times("delay=1:delay_us=200:jitter_us=100:seed=3"), a) << "same seed, same schedule";
  EXPECT_NE(due_times("delay=1:delay_us=200:jitter_us=100:seed=4"), a);
}

TEST(LinkFaults, ScriptedDropsTakeExactlyTheNextMatchingFramesThenStop) {
  Rig r("");  // no seeded faults: a plain pass-through until a script arms one
  EXPECT_EQ(r.a->tx(), nullptr);
  r.a->drop_next(2, FaultDirection::tx, 0x11, kOpWrite);
  std::vector<Packet*> frames = {roce_frame(*r.a, 0x0a, 0x11, 1), roce_frame(*r.a, 0x04, 0x11, 2),
                                 roce_frame(*r.a, 0x0a, 0x12, 3), roce_frame(*r.a, 0x0a, 0x11, 4),
                                 roce_frame(*r.a, 0x0a, 0x11, 5)};
  ASSERT_EQ(r.a->tx_burst(frames), frames.size());
  auto got = r.at_b();
  ASSERT_EQ(got.size(), 3u) << "the WRITEs to QP 0x11 with PSN 1 and 4 are dropped, PSN 5 passes";
  EXPECT_EQ(r.a->scripted_dropped(), 2u);
  EXPECT_FALSE(r.a->scripted_armed());
  r.free_all(got, r.wire->b());
}

TEST(LinkFaults, ALinkFlapDropsBothWaysUntilItsTimeIsUp) {
  Rig r("");
  r.a->link_down_for(1'000'000);  // 1 ms
  std::array<Packet*, 1> out{test::make_frame(*r.a, 1)};
  ASSERT_EQ(r.a->tx_burst(out), 1u);
  std::array<Packet*, 1> in{test::make_frame(r.wire->b(), 2)};
  ASSERT_EQ(r.wire->b().tx_burst(in), 1u);
  EXPECT_TRUE(r.at_a().empty());
  EXPECT_TRUE(r.at_b().empty());
  EXPECT_EQ(r.a->scripted_dropped(), 2u);
  r.clock.advance(1'000'001);
  std::array<Packet*, 1> after{test::make_frame(*r.a, 3)};
  ASSERT_EQ(r.a->tx_burst(after), 1u);
  auto got = r.at_b();
  ASSERT_EQ(got.size(), 1u) << "the link is back";
  EXPECT_EQ(test::seq_of(*got[0]), 3u);
  r.free_all(got, r.wire->b());
}

}  // namespace
}  // namespace softrnic::transport
