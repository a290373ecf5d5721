// One verbs conformance matrix, the same test code on a RoCEv2 RC QP pair and on an iWARP QP pair:
// Send, Send with solicited event, Send with invalidate, RDMA Write, RDMA Read and fenced Reads,
// sizes 0 B to 16 MiB, and the error cases, each with the completion statuses the protocol gives.
// Where RoCEv2 and iWARP differ (RFC 5040 has no RNR: a Send with no receive ends the connection
// with a Terminate; a remote access error is a Terminate and a flush rather than a NAK), the rig
// says which outcome to expect; everything else is shared.
#include <gtest/gtest.h>

#include <random>

#include "../iwarp/iwarp_fixture.hpp"
#include "../roce/harness.hpp"

namespace softrnic::conformance {
namespace {

using verbs::WcOpcode;
using verbs::WcStatus;
constexpr std::uint32_t kAll = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;

// RoCEv2: two devices on a PipeWire, RC QPs brought up by the harness.
struct RoceRig {
  using DeviceT = roce::Device;
  using QpT = roce::Qp;
  static constexpr const char* kName = "RoCEv2";
  // A Send with no receive: RNR NAKs until rnr_retry runs out, then the requester's completion.
  static constexpr bool kNoReceiveTerminates = false;
  // A bad remote key: the requester's own WR completes with remote_access_error (a NAK).
  static constexpr bool kRemoteErrorIsNak = true;

  RoceRig() : t(wire.a, wire.b, clock) {
    roce::QpAttrs extra;
    extra.rnr_retry = 2;
    extra.min_rnr_timer = 1;
    t.connect(verbs::QpType::rc, 4096, {}, extra);
  }
  DeviceT& a() { return *t.a.dev; }
  DeviceT& b() { return *t.b.dev; }
  QpT& qa() { return *t.a.qp; }
  QpT& qb() { return *t.b.qp; }
  verbs::PdHandle pd_a() { return t.a.pd; }
  verbs::PdHandle pd_b() { return t.b.pd; }
  verbs::Cq* scq_a() { return t.a.scq; }
  verbs::Cq* scq_b() { return t.b.scq; }
  verbs::Cq* rcq_b() { return t.b.rcq; }
  bool run_until(const std::function<bool()>& p) { return t.run_until(p, 4'000'000); }

  roce::test::PipeWire wire{8192};
  VirtualClock clock;
  roce::test::TwoDevices t;
};

// iWARP: two devices on in-memory streams, connected through MPA.
struct IwarpRig {
  using DeviceT = iwarp::Device;
  using QpT = iwarp::Qp;
  static constexpr const char* kName = "iWARP";
  static constexpr bool kNoReceiveTerminates = true;
  static constexpr bool kRemoteErrorIsNak = false;

  IwarpRig() {
    qa_ = t.a.new_qp(1024);
    qb_ = t.connect_pair(qa_);
  }
  DeviceT& a() { return *t.a.dev; }
  DeviceT& b() { return *t.b.dev; }
  QpT& qa() { return *qa_; }
  QpT& qb() { return *qb_; }
  verbs::PdHandle pd_a() { return t.a.pd; }
  verbs::PdHandle pd_b() { return t.b.pd; }
  verbs::Cq* scq_a() { return t.a.scq; }
  verbs::Cq* scq_b() { return t.b.scq; }
  verbs::Cq* rcq_b() { return t.b.rcq; }
  bool run_until(const std::function<bool()>& p) { return t.run_until(p); }

  iwarp::test::IwPair t;
  iwarp::Qp* qa_ = nullptr;
  iwarp::Qp* qb_ = nullptr;
};

template <class Rig>
class VerbsMatrix : public ::testing::Test {
 protected:
  struct Mr {
    std::vector<std::byte> mem;
    verbs::MemKeyRaw key = 0;
  };
  Mr reg(typename Rig::DeviceT& d, verbs::PdHandle pd, std::size_t n, std::uint32_t access = kAll) {
    Mr m;
    m.mem.resize(std::max<std::size_t>(n, 1));  // a zero-length message still names a region
    auto k = d.memory().register_mr(pd, m.mem.data(), m.mem.size(), 0, access | verbs::kZeroBased);
    EXPECT_TRUE(k) << k.error().message;
    m.key = k ? *k : 0;
    return m;
  }
  static bool same(const Mr& x, const Mr& y, std::size_t n) {
    return std::equal(x.mem.begin(), x.mem.begin() + static_cast<std::ptrdiff_t>(n), y.mem.begin());
  }
  static void fill(std::vector<std::byte>& v, std::uint32_t seed) {
    std::mt19937 r(seed);
    for (auto& b : v) b = std::byte(r());
  }
  std::vector<verbs::Cqe> wait(verbs::Cq* cq, std::size_t n) {
    std::vector<verbs::Cqe> got;
    EXPECT_TRUE(rig.run_until([&] {
      std::array<verbs::Cqe, 64> c;
      while (const auto k = cq->poll(c)) got.insert(got.end(), c.begin(), c.begin() + k);
      return got.size() >= n;
    })) << Rig::kName << ": waited for " << n << " completions, got " << got.size();
    return got;
  }
  roce::SendWr wr(verbs::WrOpcode op, const Mr& m, std::size_t len, std::uint64_t off = 0) {
    roce::SendWr w;
    w.opcode = op;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {off, static_cast<std::uint32_t>(len), m.key};
    return w;
  }
  void post_recv(const Mr& m, std::size_t len, std::uint64_t id = 0) {
    roce::RecvWr r;
    r.wr_id = id;
    r.num_sge = 1;
    r.sg[0] = {0, static_cast<std::uint32_t>(len), m.key};
    ASSERT_TRUE(rig.b().post_recv(rig.qb(), r));
  }
  Rig rig;
};

using Rigs = ::testing::Types<RoceRig, IwarpRig>;
TYPED_TEST_SUITE(VerbsMatrix, Rigs);

// verbs::check_new_cq / check_new_qp: both wires refuse the same shapes with the same words, and
// stop at the same counts.
TYPED_TEST(VerbsMatrix, CreationLimitsAreCheckedAlikeOnBothWires) {
  auto& d = this->rig.a();
  const auto& L = verbs::kDefaultLimits;
  EXPECT_FALSE(d.create_cq(0));
  const auto deep = d.create_cq(L.max_cqe + 1);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().message, "CQ depth must be 1.." + std::to_string(L.max_cqe));
  roce::QpInit i;
  i.pd = this->rig.pd_a();
  i.send_cq = i.recv_cq = this->rig.scq_a();
  i.sq_depth = i.rq_depth = 2;
  i.max_send_sge = i.max_recv_sge = 1;
  const auto refused = [&](roce::QpInit bad, const std::string& why) {
    const auto q = d.create_qp(bad);
    ASSERT_FALSE(q) << why;
    EXPECT_EQ(q.error().message, why);
  };
  auto bad = i;
  bad.max_send_sge = L.max_sge + 1;
  refused(bad, "max SGE is " + std::to_string(L.max_sge));
  bad = i;
  bad.max_inline = L.max_inline + 1;
  refused(bad, "max inline is " + std::to_string(L.max_inline));
  bad = i;
  bad.sq_depth = L.max_qp_wr + 1;
  refused(bad, "queue depth out of range (max " + std::to_string(L.max_qp_wr) + ")");
  // The counts: CQs and QPs up to the limit, then "too many".
  Result<verbs::Cq*> cq = d.create_cq(1);
  for (std::uint32_t n = 0; cq && n <= L.max_cq; ++n) cq = d.create_cq(1);
  ASSERT_FALSE(cq) << "no limit on CQs";
  EXPECT_EQ(cq.error().code, Errc::busy);
  EXPECT_EQ(cq.error().message, "too many CQs (max " + std::to_string(L.max_cq) + ")");
  auto qp = d.create_qp(i);
  for (std::uint32_t n = 0; qp && n <= L.max_qp; ++n) qp = d.create_qp(i);
  ASSERT_FALSE(qp) << "no limit on QPs";
  EXPECT_EQ(qp.error().code, Errc::busy);
  EXPECT_EQ(qp.error().message, "too many QPs (max " + std::to_string(L.max_qp) + ")");
}

TYPED_TEST(VerbsMatrix, SendWriteAndReadOfEverySizeArriveIntact) {
  auto& r = this->rig;
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{65537},
                                 std::size_t{1} << 20, std::size_t{16} << 20}) {
    SCOPED_TRACE(std::string(TypeParam::kName) + " size " + std::to_string(size));
    auto src = this->reg(r.a(), r.pd_a(), size), dst = this->reg(r.b(), r.pd_b(), size),
         back = this->reg(r.a(), r.pd_a(), size);
    this->fill(src.mem, static_cast<std::uint32_t>(size));
    this->post_recv(dst, size);
    ASSERT_TRUE(r.a().post_send(r.qa(), this->wr(verbs::WrOpcode::send, src, size)));
    auto rc = this->wait(r.rcq_b(), 1);
    ASSERT_EQ(rc.size(), 1u);
    EXPECT_EQ(rc[0].status, WcStatus::success);
    EXPECT_EQ(rc[0].opcode, WcOpcode::recv);
    EXPECT_EQ(rc[0].byte_len, size);
    EXPECT_TRUE(this->same(dst, src, size));
    this->fill(src.mem, static_cast<std::uint32_t>(size) + 1);
    auto w = this->wr(verbs::WrOpcode::rdma_write, src, size);
    w.rkey = dst.key;
    ASSERT_TRUE(r.a().post_send(r.qa(), w));
    auto rd = this->wr(verbs::WrOpcode::rdma_read, back, size);
    rd.rkey = dst.key;
    ASSERT_TRUE(r.a().post_send(r.qa(), rd));
    auto sc = this->wait(r.scq_a(), 3);  // the send, the write, the read
    ASSERT_EQ(sc.size(), 3u);
    EXPECT_EQ(sc[1].opcode, WcOpcode::rdma_write);
    EXPECT_EQ(sc[2].opcode, WcOpcode::rdma_read);
    for (const auto& c : sc) EXPECT_EQ(c.status, WcStatus::success);
    EXPECT_TRUE(this->same(dst, src, size));
    EXPECT_TRUE(this->same(back, src, size)) << "the read returns what the write put there";
  }
}

TYPED_TEST(VerbsMatrix, SolicitedAndInvalidatingSendsAreFlaggedInTheReceiveCompletion) {
  auto& r = this->rig;
  auto src = this->reg(r.a(), r.pd_a(), 32), dst = this->reg(r.b(), r.pd_b(), 32);
  auto frmr = r.b().memory().alloc_frmr(r.pd_b(), 1);
  ASSERT_TRUE(frmr);
  std::vector<std::byte> page(4096);
  std::byte* pages[] = {page.data()};
  auto key = r.b().memory().fast_register(*frmr, 9, pages, 4096, 0, 0, 4096, verbs::kLocalWrite | verbs::kRemoteWrite);
  ASSERT_TRUE(key);
  this->post_recv(dst, 32, 1);
  this->post_recv(dst, 32, 2);
  auto s = this->wr(verbs::WrOpcode::send, src, 32);
  s.flags |= verbs::kSolicited;
  ASSERT_TRUE(r.a().post_send(r.qa(), s));
  auto inv = this->wr(verbs::WrOpcode::send_with_inv, src, 32);
  inv.imm = *key;
  ASSERT_TRUE(r.a().post_send(r.qa(), inv));
  auto rc = this->wait(r.rcq_b(), 2);
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_TRUE(rc[0].flags & verbs::Cqe::kSolicited);
  EXPECT_TRUE(rc[1].flags & verbs::Cqe::kWithInv);
  EXPECT_EQ(rc[1].invalidated, *key);
  EXPECT_FALSE(r.b().memory().check(*key, r.pd_b(), 0, 16, verbs::kRemoteWrite)) << "the key was invalidated";
}

// Fast register, type 2 bind and local invalidate are posted to the send queue and run in its
// order (IBA chapter 10's memory operations; RFC 5040 section 6): the new keys work remotely once
// their completions are in, and not after the invalidate.
TYPED_TEST(VerbsMatrix, MemoryOperationsPostedToTheSendQueueGrantAndRevokeRemoteAccess) {
  auto& r = this->rig;
  constexpr std::uint32_t kAccess = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;
  auto src = this->reg(r.a(), r.pd_a(), 8192);
  this->fill(src.mem, 11);
  auto frmr = r.b().memory().alloc_frmr(r.pd_b(), 2);
  ASSERT_TRUE(frmr);
  std::vector<std::byte> p0(4096), p1(4096);
  std::byte* pages[] = {p0.data(), p1.data()};
  roce::SendWr fr;
  fr.wr_id = 1;
  fr.opcode = verbs::WrOpcode::fast_reg_mr;
  fr.flags = verbs::kSignaled;
  fr.local_key = *frmr;
  fr.mem.new_key = 7;
  fr.mem.pages = pages;
  fr.mem.npages = 2;
  fr.mem.va = 0x10000;
  fr.mem.length = 8192;
  fr.mem.access = kAccess;
  ASSERT_TRUE(r.b().post_send(r.qb(), fr));
  // A window over a plain region, bound by the same queue.
  std::vector<std::byte> window_mem(256);
  auto mr = r.b().memory().register_mr(r.pd_b(), window_mem.data(), window_mem.size(),
                                       reinterpret_cast<std::uintptr_t>(window_mem.data()),
                                       kAll | verbs::kMwBind);
  auto mw = r.b().memory().alloc_mw(r.pd_b());
  ASSERT_TRUE(mr && mw);
  roce::SendWr bind;
  bind.wr_id = 2;
  bind.opcode = verbs::WrOpcode::bind_mw;
  bind.flags = verbs::kSignaled;
  bind.local_key = *mw;
  bind.mem.new_key = 3;
  bind.mem.mr_key = *mr;
  bind.mem.va = reinterpret_cast<std::uintptr_t>(window_mem.data()) + 64;
  bind.mem.length = 64;
  bind.mem.access = verbs::kRemoteWrite | verbs::kRemoteRead;
  ASSERT_TRUE(r.b().post_send(r.qb(), bind));
  auto local = this->wait(r.scq_b(), 2);
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(local[0].opcode, WcOpcode::fast_reg_mr);
  EXPECT_EQ(local[0].status, WcStatus::success);
  EXPECT_EQ(local[1].opcode, WcOpcode::bind_mw);
  EXPECT_EQ(local[1].status, WcStatus::success);
  const verbs::MemKeyRaw fkey = (*frmr & ~0xffu) | 7, wkey = (*mw & ~0xffu) | 3;

  auto w = this->wr(verbs::WrOpcode::rdma_write, src, 8192);
  w.rkey = fkey;
  w.remote_addr = 0x10000;
  auto ww = this->wr(verbs::WrOpcode::rdma_write, src, 64);
  ww.rkey = wkey;
  ww.remote_addr = bind.mem.va;
  ASSERT_TRUE(r.a().post_send(r.qa(), w));
  ASSERT_TRUE(r.a().post_send(r.qa(), ww));
  auto sc = this->wait(r.scq_a(), 2);
  ASSERT_EQ(sc.size(), 2u);
  for (const auto& c : sc) EXPECT_EQ(c.status, WcStatus::success);
  EXPECT_TRUE(std::equal(p0.begin(), p0.end(), src.mem.begin()));
  EXPECT_TRUE(std::equal(p1.begin(), p1.end(), src.mem.begin() + 4096)) << "the second page follows the first";
  EXPECT_TRUE(std::equal(window_mem.begin() + 64, window_mem.begin() + 128, src.mem.begin()));
  EXPECT_EQ(window_mem[0], std::byte{0}) << "nothing lands outside the window";

  for (auto key : {fkey, wkey}) {
    roce::SendWr inv;
    inv.opcode = verbs::WrOpcode::local_inv;
    inv.flags = verbs::kSignaled;
    inv.local_key = key;
    ASSERT_TRUE(r.b().post_send(r.qb(), inv));
  }
  auto invs = this->wait(r.scq_b(), 2);
  ASSERT_EQ(invs.size(), 2u);
  for (const auto& c : invs) {
    EXPECT_EQ(c.opcode, WcOpcode::local_inv);
    EXPECT_EQ(c.status, WcStatus::success);
  }
  EXPECT_FALSE(r.b().memory().check(fkey, r.pd_b(), 0x10000, 16, verbs::kRemoteWrite, r.qb().qpn));
  EXPECT_FALSE(r.b().memory().check(wkey, r.pd_b(), bind.mem.va, 16, verbs::kRemoteWrite, r.qb().qpn));
  roce::SendWr again = fr;  // invalidating a key twice is a local protection error
  again.opcode = verbs::WrOpcode::local_inv;
  again.local_key = fkey;
  ASSERT_TRUE(r.b().post_send(r.qb(), again));
  auto bad = this->wait(r.scq_b(), 1);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].status, WcStatus::success);
}

TYPED_TEST(VerbsMatrix, FencedSendWaitsForEarlierReadsAndCompletionsStayInOrder) {
  auto& r = this->rig;
  auto source = this->reg(r.b(), r.pd_b(), 64 * 1024), sink = this->reg(r.a(), r.pd_a(), 64 * 1024);
  auto msg = this->reg(r.a(), r.pd_a(), 64), dst = this->reg(r.b(), r.pd_b(), 64);
  this->fill(source.mem, 3);
  this->post_recv(dst, 64);
  for (int i = 0; i < 16; ++i) {
    auto rd = this->wr(verbs::WrOpcode::rdma_read, sink, 4096, static_cast<std::uint64_t>(i) * 4096);
    rd.wr_id = static_cast<std::uint64_t>(i);
    rd.rkey = source.key;
    rd.remote_addr = static_cast<std::uint64_t>(i) * 4096;
    ASSERT_TRUE(r.a().post_send(r.qa(), rd));
  }
  auto s = this->wr(verbs::WrOpcode::send, msg, 64);
  s.wr_id = 100;
  s.flags |= verbs::kFence;
  ASSERT_TRUE(r.a().post_send(r.qa(), s));
  auto sc = this->wait(r.scq_a(), 17);
  ASSERT_EQ(sc.size(), 17u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(sc[i].wr_id, static_cast<std::uint64_t>(i));
  EXPECT_EQ(sc[16].wr_id, 100u);
  EXPECT_TRUE(sink.mem == source.mem);
}

TYPED_TEST(VerbsMatrix, WriteToABadKeyIsARemoteAccessErrorAndNothingIsPlaced) {
  auto& r = this->rig;
  auto src = this->reg(r.a(), r.pd_a(), 64), dst = this->reg(r.b(), r.pd_b(), 64);
  auto w = this->wr(verbs::WrOpcode::rdma_write, src, 64);
  w.rkey = dst.key ^ 0x100;
  ASSERT_TRUE(r.a().post_send(r.qa(), w));
  if constexpr (TypeParam::kRemoteErrorIsNak) {
    auto after = this->wr(verbs::WrOpcode::rdma_write, src, 64);
    after.rkey = dst.key;
    ASSERT_TRUE(r.a().post_send(r.qa(), after));
    auto sc = this->wait(r.scq_a(), 2);
    ASSERT_EQ(sc.size(), 2u);
    EXPECT_EQ(sc[0].status, WcStatus::remote_access_error);
    EXPECT_EQ(sc[1].status, WcStatus::wr_flush_error) << "the QP is in error after it";
  } else {
    // iWARP: the Write left (it completes once the stream took it); the peer's Terminate ends the
    // connection and the QP takes no more work.
    auto sc = this->wait(r.scq_a(), 1);
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0].status, WcStatus::success);
    ASSERT_TRUE(r.run_until([&] { return r.qa().state == verbs::QpState::err; }));
    EXPECT_FALSE(r.a().post_send(r.qa(), w)) << "the QP is in error after it";
  }
  EXPECT_TRUE(std::all_of(dst.mem.begin(), dst.mem.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TYPED_TEST(VerbsMatrix, ReadBeyondTheRegionFailsTheRead) {
  auto& r = this->rig;
  auto sink = this->reg(r.a(), r.pd_a(), 256), source = this->reg(r.b(), r.pd_b(), 100);
  auto rd = this->wr(verbs::WrOpcode::rdma_read, sink, 256);
  rd.rkey = source.key;
  ASSERT_TRUE(r.a().post_send(r.qa(), rd));
  auto sc = this->wait(r.scq_a(), 1);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, TypeParam::kRemoteErrorIsNak ? WcStatus::remote_access_error : WcStatus::wr_flush_error);
}

TYPED_TEST(VerbsMatrix, SendWithNoPostedReceive) {
  auto& r = this->rig;
  auto src = this->reg(r.a(), r.pd_a(), 64);
  ASSERT_TRUE(r.a().post_send(r.qa(), this->wr(verbs::WrOpcode::send, src, 64)));
  if constexpr (TypeParam::kNoReceiveTerminates) {
    // RFC 5040/5041: no RNR in iWARP; the responder terminates and the connection is gone.
    ASSERT_TRUE(r.run_until([&] { return r.qb().state == verbs::QpState::err && r.qa().state == verbs::QpState::err; }));
  } else {
    auto sc = this->wait(r.scq_a(), 1);
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0].status, WcStatus::rnr_retry_exceeded_error);
  }
}

}  // namespace
}  // namespace softrnic::conformance
