// iWARP memory protection against a hostile peer: Read Responses are bounded without wrapping
// and a Read completes only when every byte arrived; memory deregistered while a message is in
// progress is never touched. The passive side's outgoing stream can be silenced so the test
// speaks for it with FPDUs of its own making.
#include <gtest/gtest.h>

#include <algorithm>

#include "iwarp/terminate_codes.hpp"
#include "iwarp_fixture.hpp"

namespace softrnic::iwarp::test {
namespace {

using Type = cm::CmEvent::Type;
using verbs::WcStatus;

constexpr std::uint32_t kAll = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;

struct Mr {
  std::vector<std::byte> mem;
  verbs::MemKeyRaw key = 0;
  Mr(Side& s, std::size_t n, std::uint32_t access, std::byte fill = std::byte{0}) : mem(n, fill) {
    auto k = s.dev->memory().register_mr(s.pd, mem.data(), mem.size(), 0, access | verbs::kZeroBased);
    EXPECT_TRUE(k) << k.error().message;
    key = k ? *k : 0;
  }
};

// Passes everything through until muted; then what the device writes is swallowed, and the test
// writes to the peer itself through raw().
class Mutable final : public ForwardingStream {
 public:
  using ForwardingStream::ForwardingStream;
  std::size_t write(ConstByteSpan d) override { return muted ? d.size() : s_->write(d); }
  bool muted = false;
};

class IwProtection : public ::testing::Test {
 protected:
  void SetUp() override {
    t.net.wrap = [this](std::unique_ptr<Stream> s, bool active) -> std::unique_ptr<Stream> {
      if (active) return s;
      auto m = std::make_unique<Mutable>(std::move(s));
      passive = m.get();
      return m;
    };
    qa = t.a.new_qp();
    qb = t.connect_pair(qa);
    ASSERT_NE(qb, nullptr);
    ASSERT_NE(passive, nullptr);
  }
  // A Read of `len` bytes into sink, answered by nobody but the test.
  void post_read(const Mr& sink, std::uint32_t len, const Mr& source) {
    roce::SendWr s;
    s.wr_id = 7;
    s.flags = verbs::kSignaled;
    s.opcode = verbs::WrOpcode::rdma_read;
    s.num_sge = 1;
    s.sg[0] = {0, len, sink.key};
    s.rkey = source.key;
    passive->muted = true;
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
    wait_read_out();
  }
  // Until the Read Request is out (after the settle time that follows the RTR) and B has had it;
  // B's answer is swallowed.
  void wait_read_out() {
    ASSERT_TRUE(t.run_until([&] { return !qa->reads_outstanding.empty(); }));
    t.run_rounds(20);
  }
  // Sends one Read Response FPDU to A as B would.
  void respond(verbs::MemKeyRaw sink, std::uint64_t to, ConstByteSpan payload, bool last) {
    wire::UlpduSpec u;
    u.ddp.ctrl.tagged = true;
    u.ddp.ctrl.opcode = static_cast<std::uint8_t>(wire::RdmapOp::rdma_read_response);
    u.ddp.ctrl.last = last;
    u.ddp.tagged.stag = Stag{sink};
    u.ddp.tagged.to = to;
    u.payload = payload;
    std::array<std::byte, 512> fpdu{};
    const auto n = wire::build_fpdu(u, qb->crc, fpdu);
    ASSERT_TRUE(n);
    ASSERT_EQ(passive->inner().write(ConstByteSpan(fpdu).first(*n)), *n);
  }
  std::string disconnect_message() {
    EXPECT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) > 0; }, 200000));
    const auto* e = t.a.last(Type::disconnected);
    return e ? e->message : "";
  }

  IwPair t;
  Mutable* passive = nullptr;
  Qp* qa = nullptr;
  Qp* qb = nullptr;
};

// Finding 4: with a zero-based sink, tagged offset + length wrapped in 64 bits past the bounds
// check and the response was placed outside the sink.
TEST_F(IwProtection, AReadResponseWhoseOffsetWrapsIsATerminateAndPlacesNothing) {
  Mr sink(t.a, 256, kAll), source(t.b, 256, kAll);
  post_read(sink, 256, source);
  const std::vector<std::byte> evil(64, std::byte{0xee});
  respond(sink.key, ~std::uint64_t{0} - 15, evil, true);  // offset 2^64 - 16, 64 bytes: wraps to 48
  const auto why = disconnect_message();
  EXPECT_NE(why.find("outside the sink buffer"), std::string::npos) << why;
  EXPECT_EQ(std::count(sink.mem.begin(), sink.mem.end(), std::byte{0xee}), 0);
  auto sc = t.a.drain(t.a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_NE(sc[0].status, WcStatus::success);
}

// Finding 4: a Read completed on the Last flag however many bytes had arrived.
TEST_F(IwProtection, AReadResponseThatEndsEarlyDoesNotCompleteTheRead) {
  Mr sink(t.a, 256, kAll), source(t.b, 256, kAll);
  post_read(sink, 256, source);
  const std::vector<std::byte> part(64, std::byte{0x5a});
  respond(sink.key, 0, part, true);  // 64 of 256 bytes, then Last
  const auto why = disconnect_message();
  EXPECT_NE(why.find("ended after 64 of 256 bytes"), std::string::npos) << why;
  auto sc = t.a.drain(t.a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_NE(sc[0].status, WcStatus::success) << "a Read of 256 bytes completed with 64";
}

// Finding 1 on iWARP: the sink deregistered between two Read Responses is not written by the second.
TEST_F(IwProtection, ASinkDeregisteredBetweenTwoResponsesIsNotWritten) {
  std::vector<std::byte> sink_mem(256, std::byte{0});
  Mr source(t.b, 256, kAll);
  auto k = t.a.dev->memory().register_mr(t.a.pd, sink_mem.data(), sink_mem.size(), 0, kAll | verbs::kZeroBased);
  ASSERT_TRUE(k);
  roce::SendWr s;
  s.wr_id = 7;
  s.flags = verbs::kSignaled;
  s.opcode = verbs::WrOpcode::rdma_read;
  s.num_sge = 1;
  s.sg[0] = {0, 256, *k};
  s.rkey = source.key;
  passive->muted = true;
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  wait_read_out();
  const std::vector<std::byte> first(128, std::byte{0x11}), second(128, std::byte{0x22});
  respond(*k, 0, first, false);
  t.run_rounds(5);
  ASSERT_EQ(sink_mem[0], std::byte{0x11});
  ASSERT_TRUE(t.a.dev->memory().deregister(*k));
  std::vector<std::byte> other(256, std::byte{0});
  ASSERT_TRUE(t.a.dev->memory().register_mr(t.a.pd, other.data(), other.size(), 0, kAll | verbs::kZeroBased));
  respond(*k, 128, second, true);
  disconnect_message();
  EXPECT_EQ(std::count(sink_mem.begin(), sink_mem.end(), std::byte{0x22}), 0);
  EXPECT_EQ(std::count(other.begin(), other.end(), std::byte{0x22}), 0);
  auto sc = t.a.drain(t.a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::local_protection_error);
}

// Finding 5: every accepted connection was kept (with its buffers) however many a peer opened,
// and could wait for the owner forever.
TEST(IwBounds, AConnectionFloodIsBoundedByTheBacklogAndTimesOut) {
  IwPair t;
  std::size_t requests = 0;
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 4000}, [&](const cm::CmEvent& e) {
    if (e.type == Type::connect_request) ++requests;
  }));
  // 1000 connections that never send an MPA Request.
  std::vector<std::unique_ptr<Stream>> flood;
  for (int i = 0; i < 1000; ++i) {
    auto s = t.ta.connect({ip4(2), 4000}, {});
    ASSERT_TRUE(s);
    flood.push_back(std::move(*s));
  }
  t.run_rounds(3);
  const auto& c = t.b.dev->counters();
  EXPECT_EQ(c.get(IwarpCounter::accept_backlog_drops), 1000u - IwarpConfig{}.accept_backlog);
  std::size_t closed = 0;
  for (auto& s : flood) closed += s->state() != Stream::State::open;
  EXPECT_EQ(closed, 1000u - IwarpConfig{}.accept_backlog) << "refused connections are closed at once";
  // Past the MPA Request deadline every waiting one is gone, and a real connection is accepted.
  t.clock.advance(11'000'000'000);
  t.run_rounds(2);
  EXPECT_EQ(c.get(IwarpCounter::mpa_request_timeouts), IwarpConfig{}.accept_backlog);
  flood.clear();
  t.b.dev->stop_listening(1).value();
  Qp* qa = t.a.new_qp();
  EXPECT_NE(t.connect_pair(qa, 4001), nullptr);
  EXPECT_EQ(requests, 0u);
}

TEST(IwBounds, AConnectRequestNobodyAnswersIsClosedAfterTheOwnersDeadline) {
  IwPair t;
  std::vector<cm::CmEvent> seen;
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 4000}, [&](const cm::CmEvent& e) { seen.push_back(e); }));
  Qp* qa = t.a.new_qp();
  cm::ConnectParams p;
  p.remote = {ip4(2), 4000};
  ASSERT_TRUE(t.a.dev->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return !seen.empty(); }, 100000));
  EXPECT_EQ(seen[0].type, Type::connect_request);
  t.clock.advance(IwarpConfig{}.owner_decision_ns + 1);
  t.run_rounds(3);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].type, Type::connect_error);
  EXPECT_EQ(t.b.dev->counters().get(IwarpCounter::owner_decision_timeouts), 1u);
  EXPECT_FALSE(t.b.dev->accept(seen[0].conn, *t.b.new_qp(), {}, t.b.log())) << "too late to accept";
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::connect_error) + t.a.count(Type::rejected) > 0; }));
}

}  // namespace
}  // namespace softrnic::iwarp::test
