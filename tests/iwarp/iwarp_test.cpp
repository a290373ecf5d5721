// iWARP between two devices over in-memory streams: MPA connection setup with private data, RTR
// and IRD/ORD negotiation; Send (with solicited event, with invalidate), RDMA Write and Read of
// 0 B to 16 MiB with and without CRC, with the stream split at random points; and the error cases
// that end a connection with a Terminate. With reads of one byte at a time every FPDU meets the
// receiver split at each of its byte boundaries.
#include <gtest/gtest.h>

#include <random>

#include "iwarp/terminate_codes.hpp"
#include "iwarp_fixture.hpp"

namespace softrnic::iwarp::test {
namespace {

using Type = cm::CmEvent::Type;
using verbs::WcOpcode;
using verbs::WcStatus;

struct Mr {
  std::vector<std::byte> mem;
  verbs::MemKeyRaw key = 0;
  // A zero-length message still names a region: at least one byte is registered.
  Mr(Side& s, std::size_t n, std::uint32_t access, std::uint8_t fill = 0)
      : mem(std::max<std::size_t>(n, 1), std::byte{fill}) {
    auto k = s.dev->memory().register_mr(s.pd, mem.data(), mem.size(), 0, access | verbs::kZeroBased);
    EXPECT_TRUE(k) << k.error().message;
    key = k ? *k : 0;
  }
};
constexpr std::uint32_t kAll = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;

bool same(const Mr& x, const Mr& y, std::size_t n) {
  return std::equal(x.mem.begin(), x.mem.begin() + static_cast<std::ptrdiff_t>(n), y.mem.begin());
}

void fill_pattern(std::vector<std::byte>& v, std::uint32_t seed) {
  std::mt19937 r(seed);
  for (auto& b : v) b = std::byte(r());
}

struct Params {
  bool crc;
  std::size_t max_read;  // 0: whole chunks; else random splits up to this
  std::size_t max_size;  // largest message (tiny splits of 16 MiB take a minute)
};

class IwData : public ::testing::TestWithParam<Params> {
 protected:
  static transport::StreamPairConfig net() {
    transport::StreamPairConfig c;
    c.max_read = GetParam().max_read;
    c.seed = GetParam().max_read ? 99 : 0;
    return c;
  }
  static IwarpConfig cfg() {
    IwarpConfig c;
    c.request_crc = GetParam().crc;
    return c;
  }
};

TEST_P(IwData, ConnectWithPrivateDataThenSendWriteReadOfEverySize) {
  IwPair t(net(), cfg(), cfg());
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  ASSERT_NE(qb, nullptr);
  EXPECT_EQ(text_of(t.b.last(Type::connect_request)->private_data), "hello");
  EXPECT_EQ(text_of(t.a.last(Type::established)->private_data), "welcome");
  EXPECT_EQ(qa->crc, GetParam().crc);
  EXPECT_EQ(qb->crc, GetParam().crc);

  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{65536},
                           std::size_t{1} << 20, std::size_t{16} << 20}) {
    if (size > GetParam().max_size) continue;
    SCOPED_TRACE("size " + std::to_string(size));
    Mr src(t.a, size, kAll), dst(t.b, size, kAll), back(t.a, size, kAll);
    fill_pattern(src.mem, static_cast<std::uint32_t>(size));
    // SEND a -> b
    roce::RecvWr r;
    r.wr_id = 7;
    r.num_sge = 1;
    r.sg[0] = {0, static_cast<std::uint32_t>(size), dst.key};
    ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
    roce::SendWr s;
    s.wr_id = 1;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {0, static_cast<std::uint32_t>(size), src.key};
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
    std::vector<verbs::Cqe> rc, sc;
    ASSERT_TRUE(t.run_until([&] {
      for (auto& c : t.b.drain(t.b.rcq)) rc.push_back(c);
      for (auto& c : t.a.drain(t.a.scq)) sc.push_back(c);
      return !rc.empty() && !sc.empty();
    }));
    EXPECT_EQ(rc[0].status, WcStatus::success);
    EXPECT_EQ(rc[0].byte_len, size);
    EXPECT_EQ(sc[0].status, WcStatus::success);
    EXPECT_TRUE(same(dst, src, size));
    // WRITE a -> b (over what the send put there, with other bytes)
    fill_pattern(src.mem, static_cast<std::uint32_t>(size) + 1);
    s.wr_id = 2;
    s.opcode = verbs::WrOpcode::rdma_write;
    s.rkey = dst.key;
    s.remote_addr = 0;
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
    sc.clear();
    ASSERT_TRUE(t.run_until([&] {
      for (auto& c : t.a.drain(t.a.scq)) sc.push_back(c);
      return !sc.empty() && same(dst, src, size);
    }));
    EXPECT_EQ(sc[0].opcode, WcOpcode::rdma_write);
    // READ it back b -> a
    s.wr_id = 3;
    s.opcode = verbs::WrOpcode::rdma_read;
    s.sg[0] = {0, static_cast<std::uint32_t>(size), back.key};
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
    sc.clear();
    ASSERT_TRUE(t.run_until([&] {
      for (auto& c : t.a.drain(t.a.scq)) sc.push_back(c);
      return !sc.empty();
    }));
    EXPECT_EQ(sc[0].status, WcStatus::success);
    EXPECT_EQ(sc[0].opcode, WcOpcode::rdma_read);
    EXPECT_TRUE(same(back, src, size));
  }
  EXPECT_EQ(t.a.dev->counters().get(IwarpCounter::terminates_tx), 0u);
  EXPECT_EQ(t.b.dev->counters().get(IwarpCounter::terminates_tx), 0u);
}

INSTANTIATE_TEST_SUITE_P(CrcAndSplits, IwData,
                         ::testing::Values(Params{true, 0, 16 << 20}, Params{false, 0, 16 << 20},
                                           Params{true, 1, 4096}, Params{false, 1, 4096},
                                           Params{true, 7, 65536}, Params{false, 1500, 16 << 20}),
                         [](const auto& i) {
                           return std::string(i.param.crc ? "Crc" : "NoCrc") +
                                  (i.param.max_read ? "SplitUpTo" + std::to_string(i.param.max_read) : "Whole");
                         });

TEST(IwConnect, RejectCarriesPrivateData) {
  IwPair t;
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 5}, [&](const cm::CmEvent& e) {
    if (e.type == Type::connect_request) {
      EXPECT_TRUE(t.b.dev->reject(e.conn, bytes_of("busy")));
    }
  }));
  Qp* qa = t.a.new_qp();
  cm::ConnectParams p;
  p.remote = {ip4(2), 5};
  ASSERT_TRUE(t.a.dev->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  EXPECT_EQ(text_of(t.a.last(Type::rejected)->private_data), "busy");
  EXPECT_EQ(qa->state, verbs::QpState::reset) << "the QP can connect again";
}

TEST(IwVerbs, ACqOverflowIsAnErrorOfTheCqAndOfItsQps) {
  // As on RoCEv2 (IBA 11.4.2.1): a full CQ takes no completion; it goes to error and so does
  // every QP that uses it.
  IwPair t;
  auto small = t.a.dev->create_cq(2);
  ASSERT_TRUE(small);
  t.a.scq = *small;
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  ASSERT_NE(qb, nullptr);
  Mr src(t.a, 16, kAll), dst(t.b, 64, kAll);
  for (int i = 0; i < 4; ++i) {
    roce::RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {static_cast<std::uint64_t>(i) * 16, 16, dst.key};
    ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
  }
  for (int i = 0; i < 3; ++i) {
    roce::SendWr w;
    w.opcode = verbs::WrOpcode::send;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, 16, src.key};
    ASSERT_TRUE(t.a.dev->post_send(*qa, w));
  }
  ASSERT_TRUE(t.run_until([&] { return qa->state == verbs::QpState::err; }));
  EXPECT_TRUE((*small)->in_error());
  EXPECT_EQ(t.a.dev->counters().get(IwarpCounter::cq_overflows), 1u);
  EXPECT_EQ(t.a.drain(*small).size(), 2u) << "what fitted is still there";
}

TEST(IwConnect, NobodyListeningIsAConnectErrorNamingTheAddress) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  cm::ConnectParams p;
  p.remote = {ip4(2), 6};
  ASSERT_TRUE(t.a.dev->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::connect_error) > 0; }));
  EXPECT_NE(t.a.last(Type::connect_error)->message.find("198.18.1.2:6: Connection refused"), std::string::npos)
      << t.a.last(Type::connect_error)->message;
  EXPECT_EQ(t.a.last(Type::connect_error)->cause, cm::CmEvent::Cause::refused);
}

TEST(IwConnect, BadArgumentsAreRefused) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  cm::ConnectParams p;
  p.remote = {ip4(2), 6};
  std::vector<std::byte> big(253);
  p.private_data = big;
  auto r = t.a.dev->connect(*qa, p, t.a.log());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("at most 252"), std::string::npos) << r.error().message;
  roce::QpInit ud;
  ud.type = verbs::QpType::ud;
  ud.send_cq = ud.recv_cq = t.a.scq;
  EXPECT_FALSE(t.a.dev->create_qp(ud));
  roce::SendWr atomic;
  atomic.opcode = verbs::WrOpcode::atomic_fetch_add;
  EXPECT_FALSE(t.a.dev->post_send(*qa, atomic));
  roce::SendWr send;
  EXPECT_FALSE(t.a.dev->post_send(*qa, send)) << "not connected";
  EXPECT_FALSE(t.a.dev->accept(77, *qa, {}, {}));
  EXPECT_FALSE(t.a.dev->disconnect(77));
}

TEST(IwErrors, SendWithoutPostedReceiveTerminatesBothSidesAndFlushes) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  Mr src(t.a, 64, kAll);
  Mr spare(t.a, 64, kAll);
  roce::RecvWr r;
  r.wr_id = 55;
  r.num_sge = 1;
  r.sg[0] = {0, 64, spare.key};
  ASSERT_TRUE(t.a.dev->post_recv(*qa, r));  // A's own receive: flushed when the connection dies
  roce::SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 64, src.key};
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) && t.b.count(Type::disconnected); }));
  EXPECT_NE(t.b.last(Type::disconnected)->message.find("no posted receive"), std::string::npos);
  EXPECT_NE(t.a.last(Type::disconnected)->message.find("layer 1 type 2 code 2"), std::string::npos)
      << t.a.last(Type::disconnected)->message;
  EXPECT_EQ(t.b.dev->counters().get(IwarpCounter::terminates_tx), 1u);
  EXPECT_EQ(t.a.dev->counters().get(IwarpCounter::terminates_rx), 1u);
  auto rc = t.a.drain(t.a.rcq);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, WcStatus::wr_flush_error);
  EXPECT_EQ(qa->state, verbs::QpState::err);
  EXPECT_EQ(qb->state, verbs::QpState::err);
  EXPECT_FALSE(t.a.dev->post_recv(*qa, r)) << "posting to a dead QP is an error";
}

TEST(IwErrors, WriteToAnInvalidStagOrOutOfBoundsTerminates) {
  for (const bool bounds : {false, true}) {
    IwPair t;
    Qp* qa = t.a.new_qp();
    t.connect_pair(qa);
    Mr src(t.a, 128, kAll), dst(t.b, 64, kAll);
    roce::SendWr s;
    s.opcode = verbs::WrOpcode::rdma_write;
    s.num_sge = 1;
    s.sg[0] = {0, bounds ? 128u : 64u, src.key};
    s.rkey = bounds ? dst.key : dst.key + 0x100;
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
    ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) > 0; }));
    const std::string want = bounds ? "layer 1 type 1 code 1" : "layer 1 type 1 code 0";
    EXPECT_NE(t.a.last(Type::disconnected)->message.find(want), std::string::npos) << t.a.last(Type::disconnected)->message;
    EXPECT_TRUE(std::all_of(dst.mem.begin(), dst.mem.end(), [](std::byte b) { return b == std::byte{0}; }))
        << "nothing placed outside a registration";
  }
}

TEST(IwErrors, ReadBeyondTheSourceRegionIsARemoteProtectionTerminate) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  t.connect_pair(qa);
  Mr sink(t.a, 256, kAll), source(t.b, 100, kAll);
  roce::SendWr s;
  s.wr_id = 9;
  s.flags = verbs::kSignaled;
  s.opcode = verbs::WrOpcode::rdma_read;
  s.num_sge = 1;
  s.sg[0] = {0, 256, sink.key};
  s.rkey = source.key;
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) > 0; }));
  EXPECT_NE(t.a.last(Type::disconnected)->message.find("layer 0 type 1 code 1"), std::string::npos)
      << t.a.last(Type::disconnected)->message;
  auto sc = t.a.drain(t.a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, WcStatus::wr_flush_error);
}

// Flips one byte the active side writes, once the stream is past `after` bytes.
class Corrupting final : public ForwardingStream {
 public:
  Corrupting(std::unique_ptr<Stream> s, std::uint64_t after) : ForwardingStream(std::move(s)), after_(after) {}
  std::size_t write(ConstByteSpan d) override {
    if (!done_ && written_ + d.size() > after_) {
      std::vector<std::byte> copy(d.begin(), d.end());
      copy[after_ - written_] ^= std::byte{0x40};
      done_ = true;
      const auto n = s_->write(copy);
      written_ += n;
      if (n <= after_ - (written_ - n)) done_ = false;  // the flipped byte did not go: flip it next time
      return n;
    }
    const auto n = s_->write(d);
    written_ += n;
    return n;
  }

 private:
  std::uint64_t after_;
  std::uint64_t written_ = 0;
  bool done_ = false;
};

TEST(IwErrors, CorruptedFpduIsACrcTerminate) {
  IwPair t;
  t.net.wrap = [](std::unique_ptr<Stream> s, bool active) -> std::unique_ptr<Stream> {
    if (!active) return s;
    return std::make_unique<Corrupting>(std::move(s), 300);  // past the MPA Request and the RTR
  };
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  ASSERT_NE(qb, nullptr);
  Mr src(t.a, 4096, kAll), dst(t.b, 4096, kAll);
  roce::SendWr s;
  s.opcode = verbs::WrOpcode::rdma_write;
  s.num_sge = 1;
  s.sg[0] = {0, 4096, src.key};
  s.rkey = dst.key;
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::disconnected) > 0; }));
  EXPECT_NE(t.b.last(Type::disconnected)->message.find("CRC"), std::string::npos) << t.b.last(Type::disconnected)->message;
  EXPECT_EQ(t.b.dev->counters().get(IwarpCounter::terminates_tx), 1u);
}

TEST(IwSemantics, SolicitedAndInvalidatingSendsShowInTheCompletion) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  Mr src(t.a, 16, kAll), dst(t.b, 16, kAll);
  auto frmr = t.b.dev->memory().alloc_frmr(t.b.pd, 1);
  ASSERT_TRUE(frmr);
  std::vector<std::byte> page(4096);
  std::byte* pages[] = {page.data()};
  auto fkey_r = t.b.dev->memory().fast_register(*frmr, 1, pages, 4096, 0, 0, 4096,
                                                verbs::kLocalWrite | verbs::kRemoteWrite);
  ASSERT_TRUE(fkey_r) << fkey_r.error().message;
  for (int i = 0; i < 2; ++i) {
    roce::RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {0, 16, dst.key};
    ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
  }
  const std::uint32_t fkey = *fkey_r;
  roce::SendWr s;
  s.num_sge = 1;
  s.sg[0] = {0, 16, src.key};
  s.flags = verbs::kSolicited;
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  s.flags = 0;
  s.opcode = verbs::WrOpcode::send_with_inv;
  s.imm = fkey;
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  std::vector<verbs::Cqe> rc;
  ASSERT_TRUE(t.run_until([&] {
    for (auto& c : t.b.drain(t.b.rcq)) rc.push_back(c);
    return rc.size() == 2;
  }));
  EXPECT_TRUE(rc[0].flags & verbs::Cqe::kSolicited);
  EXPECT_TRUE(rc[1].flags & verbs::Cqe::kWithInv);
  EXPECT_EQ(rc[1].invalidated, fkey);
  EXPECT_FALSE(t.b.dev->memory().check(fkey, t.b.pd, 0, 16, verbs::kRemoteWrite)) << "invalidated";
}

TEST(IwSemantics, ManyReadsWithOrdOneCompleteInOrder) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  Qp* qb = nullptr;
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 9}, [&](const cm::CmEvent& e) {
    if (e.type != Type::connect_request) return;
    qb = t.b.new_qp();
    cm::AcceptParams ap;
    ap.responder_resources = 1;
    EXPECT_TRUE(t.b.dev->accept(e.conn, *qb, ap, t.b.log()));
  }));
  cm::ConnectParams p;
  p.remote = {ip4(2), 9};
  ASSERT_TRUE(t.a.dev->connect(*qa, p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) > 0; }));
  EXPECT_EQ(qa->ord, 1);
  Mr source(t.b, 64 * 1024, kAll), sink(t.a, 64 * 1024, kAll);
  fill_pattern(source.mem, 5);
  for (int i = 0; i < 64; ++i) {
    roce::SendWr s;
    s.wr_id = static_cast<std::uint64_t>(i);
    s.flags = verbs::kSignaled;
    s.opcode = verbs::WrOpcode::rdma_read;
    s.num_sge = 1;
    s.sg[0] = {static_cast<std::uint64_t>(i) * 1024, 1024, sink.key};
    s.rkey = source.key;
    s.remote_addr = static_cast<std::uint64_t>(i) * 1024;
    ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  }
  std::vector<verbs::Cqe> sc;
  ASSERT_TRUE(t.run_until([&] {
    for (auto& c : t.a.drain(t.a.scq)) sc.push_back(c);
    return sc.size() == 64;
  }));
  for (int i = 0; i < 64; ++i) EXPECT_EQ(sc[i].wr_id, static_cast<std::uint64_t>(i));
  EXPECT_TRUE(sink.mem == source.mem);
}

TEST(IwConnect, DisconnectReachesThePeerAndFlushesReceives) {
  IwPair t;
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  Mr buf(t.b, 64, kAll);
  roce::RecvWr r;
  r.wr_id = 3;
  r.num_sge = 1;
  r.sg[0] = {0, 64, buf.key};
  ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
  const cm::ConnId id = t.a.last(Type::established)->conn;
  ASSERT_TRUE(t.a.dev->disconnect(id));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) && t.b.count(Type::disconnected); }));
  EXPECT_FALSE(t.a.last(Type::disconnected)->peer_initiated);
  EXPECT_TRUE(t.b.last(Type::disconnected)->peer_initiated);
  auto rc = t.b.drain(t.b.rcq);
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, WcStatus::wr_flush_error);
}

}  // namespace
}  // namespace softrnic::iwarp::test

namespace softrnic::iwarp::test {
namespace {

// Reads one MPA frame from a raw stream, polling the device meanwhile.
std::vector<std::byte> read_mpa_frame(IwPair& t, Stream& s) {
  std::vector<std::byte> in;
  for (int i = 0; i < 100000; ++i) {
    t.run_rounds(1);
    std::array<std::byte, 600> buf;
    const auto n = s.read(buf);
    in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    auto want = wire::mpa_frame_size(in);
    if (want && in.size() >= *want) return in;
  }
  return in;
}

// B listens on port 77; a raw initiator speaking MPA rev 1 (RFC 5044: no IRD/ORD block, so no
// RTR), CRC requested, connects and reads the Reply. Returns B's accepted QP and the raw stream.
struct RawRev1 {
  Qp* qb = nullptr;
  std::unique_ptr<Stream> raw;
  std::vector<std::byte> private_data;
  std::optional<wire::MpaFrame> reply;
  std::vector<std::byte> reply_bytes;
};
void connect_raw_rev1(IwPair& t, RawRev1& r) {
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 77}, [&t, &r](const cm::CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type != Type::connect_request) return;
    r.private_data = e.private_data;
    r.qb = t.b.new_qp();
    EXPECT_TRUE(t.b.dev->accept(e.conn, *r.qb, {}, t.b.log()));
  }));
  auto s = t.ta.connect({ip4(2), 77}, {});
  ASSERT_TRUE(s);
  r.raw = std::move(*s);
  wire::MpaFrame req;
  req.kind = wire::MpaKind::request;
  req.revision = 1;
  req.enhanced = false;
  req.ird_ord.reset();
  req.crc = true;
  const auto pd = bytes_of("rev1");
  req.private_data = pd;
  std::array<std::byte, wire::kMpaMaxFrameSize> out{};
  const auto n = wire::build_mpa_frame(req, out);
  ASSERT_TRUE(n);
  ASSERT_EQ(r.raw->write(ConstByteSpan(out).first(*n)), *n);
  r.reply_bytes = read_mpa_frame(t, *r.raw);
  auto reply = wire::parse_mpa_frame(r.reply_bytes);
  ASSERT_TRUE(reply);
  r.reply = *reply;
  ASSERT_NE(r.qb, nullptr);
  t.run_rounds(2);  // events are delivered at the end of a poll
}

TEST(IwConnect, AnMpaRevision1RequestIsAnsweredInRevision1AndItsSendsLand) {
  IwarpConfig strict;
  strict.strict_responder = true;
  IwPair t({}, {}, strict);
  RawRev1 c;
  connect_raw_rev1(t, c);
  ASSERT_NE(c.qb, nullptr);
  Qp* qb = c.qb;
  Stream& raw = *c.raw;
  EXPECT_EQ(c.reply->kind, wire::MpaKind::reply);
  EXPECT_EQ(c.reply->revision, 1);
  EXPECT_FALSE(c.reply->ird_ord.has_value());
  EXPECT_TRUE(c.reply->crc) << "a requested CRC is echoed";
  EXPECT_EQ(text_of(c.private_data), "rev1");
  EXPECT_EQ(t.b.count(Type::established), 1u) << "no RTR in rev 1: accepted once the Reply is out";
  EXPECT_TRUE(qb->hold_tx) << "a strict responder may not speak first";
  // The initiator's first FPDU: a Send into B's posted receive.
  Mr dst(t.b, 16, kAll);
  roce::RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 16, dst.key};
  ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
  wire::UlpduSpec u;
  u.ddp.ctrl.opcode = static_cast<std::uint8_t>(wire::RdmapOp::send);
  u.ddp.untagged.qn = wire::ddp_queue::kSend;
  const auto msg = bytes_of("hello rev1");
  u.payload = msg;
  std::array<std::byte, 128> fpdu{};
  const auto fn = wire::build_fpdu(u, true, fpdu);
  ASSERT_TRUE(fn);
  ASSERT_EQ(raw.write(ConstByteSpan(fpdu).first(*fn)), *fn);
  std::vector<verbs::Cqe> rc;
  ASSERT_TRUE(t.run_until([&] {
    for (auto& c : t.b.drain(t.b.rcq)) rc.push_back(c);
    return !rc.empty();
  }));
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_EQ(rc[0].byte_len, msg.size());
  EXPECT_FALSE(qb->hold_tx) << "after the initiator's first FPDU the responder may send";
}

TEST(IwConnect, WithoutAnRtrTheResponderSpeaksFirstAfterTheSettleTime) {
  // siw's initiator negotiates no RTR and its ULPs may have the passive side send first
  // (perftest's write_lat): the default responder sends once rtr_settle_ns has passed.
  IwarpConfig cfg;
  cfg.rtr_settle_ns = 5'000'000;
  IwPair t({}, {}, cfg);
  RawRev1 c;
  connect_raw_rev1(t, c);
  ASSERT_NE(c.qb, nullptr);
  EXPECT_FALSE(c.qb->hold_tx);
  EXPECT_NE(c.qb->tx_hold_until_ns, 0u) << "the settle time after the Reply";
  Mr src(t.b, 16, kAll);
  const auto msg = bytes_of("server first");
  std::memcpy(src.mem.data(), msg.data(), msg.size());
  roce::SendWr w;
  w.opcode = verbs::WrOpcode::send;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, static_cast<std::uint32_t>(msg.size()), src.key};
  const std::uint64_t until = c.qb->tx_hold_until_ns;
  ASSERT_TRUE(t.b.dev->post_send(*c.qb, w));
  std::vector<std::byte> in;
  ASSERT_TRUE(t.run_until([&] {
    std::array<std::byte, 256> buf;
    const auto n = c.raw->read(buf);
    in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    return in.size() >= 2 + 18 + msg.size();
  }));
  EXPECT_GE(t.clock.now_ns(), until) << "not before the settle time (virtual clock)";
  // The FPDU carries the Send: its payload follows the MPA length and the 18-byte untagged header.
  EXPECT_EQ(text_of(std::vector<std::byte>(in.begin() + 20, in.begin() + 20 + static_cast<std::ptrdiff_t>(msg.size()))),
            "server first");
}

TEST(IwConnect, AfterAWriteRtrTheInitiatorHoldsItsFirstSendForTheSettleTime) {
  // siw's responder misses bytes that reach it between its MPA Reply and its RTR hook, so the
  // initiator's consumer FPDUs wait rtr_settle_ns after the zero-length Write RTR.
  IwarpConfig cfg;
  cfg.rtr_settle_ns = 5'000'000;
  IwPair t({}, cfg, cfg);
  Qp* qa = t.a.new_qp();
  Qp* qb = t.connect_pair(qa);
  ASSERT_NE(qb, nullptr);
  ASSERT_NE(qa->tx_hold_until_ns, 0u) << "a Write RTR was negotiated (both sides prefer it)";
  Mr src(t.a, 64, kAll), dst(t.b, 64, kAll);
  roce::RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 64, dst.key};
  ASSERT_TRUE(t.b.dev->post_recv(*qb, r));
  roce::SendWr s;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 64, src.key};
  ASSERT_TRUE(t.a.dev->post_send(*qa, s));
  const std::uint64_t until = qa->tx_hold_until_ns;
  t.run_rounds(1000);  // the virtual clock stands still
  EXPECT_TRUE(t.b.drain(t.b.rcq).empty()) << "the Send left inside the settle time";
  t.clock.advance(until - t.clock.now_ns());
  std::vector<verbs::Cqe> rc;
  ASSERT_TRUE(t.run_until([&] {
    for (auto& c : t.b.drain(t.b.rcq)) rc.push_back(c);
    return !rc.empty();
  }));
  EXPECT_EQ(rc[0].status, WcStatus::success);
  EXPECT_EQ(qa->tx_hold_until_ns, 0u);
}

TEST(IwConnect, APeerAskingForMarkersIsRefusedWithARejectingReply) {
  IwPair t;
  ASSERT_TRUE(t.b.dev->listen({ip4(2), 78}, t.b.log()));
  auto s = t.ta.connect({ip4(2), 78}, {});
  ASSERT_TRUE(s);
  wire::MpaFrame req;
  req.kind = wire::MpaKind::request;
  req.markers = true;
  std::array<std::byte, wire::kMpaMaxFrameSize> out{};
  const auto n = wire::build_mpa_frame(req, out);
  ASSERT_TRUE(n);
  ASSERT_EQ((*s)->write(ConstByteSpan(out).first(*n)), *n);
  const auto reply_bytes = read_mpa_frame(t, **s);
  auto reply = wire::parse_mpa_frame(reply_bytes);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->reject);
  EXPECT_EQ(t.b.count(Type::connect_request), 0u);
  EXPECT_EQ(t.b.dev->counters().get(IwarpCounter::mpa_rejects_tx), 1u);
}

}  // namespace
}  // namespace softrnic::iwarp::test
