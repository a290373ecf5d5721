// Shared receive queues and memory windows through the NDK shim, over every transport and async
// mode of the fixture. RoCEv2 has both; iWARP has windows and answers SRQs with
// STATUS_NOT_SUPPORTED (adapter info MaxSrqDepth 0).
#include "shim_objects_fixture.hpp"

namespace softrnic::ndk::test {
namespace {

class ShimSrqMw : public ShimObjects {};

TEST_P(ShimSrqMw, SrqReceivesAreTakenByEveryQpOfIt) {
  if (!roce()) return expect_no_srq();
  NDK_SRQ* srq = make_srq(b, 8, 0, nullptr);
  ASSERT_NE(srq, nullptr);
  int ctx1 = 0, ctx2 = 0, r[12] = {};
  NDK_QP* q1 = make_srq_qp(b, srq, &ctx1);
  NDK_QP* q2 = make_srq_qp(b, srq, &ctx2);
  NDK_QP* a2 = make_qp(a, 16, 16);
  NDK_SGE g = b.sge(0, 16);
  EXPECT_EQ(q1->Dispatch->NdkReceive(q1, nullptr, &g, 1), STATUS_INVALID_DEVICE_STATE)
      << "a QP with an SRQ has no receive queue of its own";
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(post_srq(srq, b, 1000 * (i + 1), 500, &r[i]), STATUS_SUCCESS);
  Link k1, k2;
  ASSERT_NO_FATAL_FAILURE(link(k1, a.qp, q1, 445));
  ASSERT_NO_FATAL_FAILURE(link(k2, a2, q2, 446));
  for (std::size_t i = 0; i < 300; ++i) a.buf[i] = static_cast<unsigned char>(i * 3 + 1);
  ASSERT_EQ(send(a.qp, 0, 100, nullptr), STATUS_SUCCESS);
  auto got = b.results(1);
  ASSERT_EQ(send(a2, 100, 100, nullptr), STATUS_SUCCESS);
  auto more = b.results(1);
  got.insert(got.end(), more.begin(), more.end());
  ASSERT_EQ(send(a.qp, 200, 100, nullptr), STATUS_SUCCESS);
  more = b.results(1);
  got.insert(got.end(), more.begin(), more.end());
  ASSERT_EQ(got.size(), 3u);
  // Receives are taken in the order they were posted, whichever QP takes them.
  const void* qp_ctx[3] = {&ctx1, &ctx2, &ctx1};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].Status, STATUS_SUCCESS);
    EXPECT_EQ(got[i].Type, NdkOperationTypeReceive);
    EXPECT_EQ(got[i].BytesTransferred, 100u);
    EXPECT_EQ(got[i].RequestContext, &r[i]);
    EXPECT_EQ(got[i].QPContext, qp_ctx[i]);
    EXPECT_EQ(std::memcmp(b.buf.data() + 1000 * (i + 1), a.buf.data() + 100 * i, 100), 0);
  }
  a.results(3);
  // The depth bounds what is queued: 8 fit, the 9th does not.
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(post_srq(srq, b, 8000 + 64 * i, 64, &r[3]), STATUS_SUCCESS) << i;
  EXPECT_EQ(post_srq(srq, b, 8000, 64, &r[3]), STATUS_INSUFFICIENT_RESOURCES);
  // Closing the SRQ first pends until its QPs have closed (reference 3.2).
  Call closing;
  ASSERT_EQ(srq->Dispatch->NdkCloseSrq(&srq->Header, Call::close, &closing), STATUS_PENDING);
  unlink(k1);
  unlink(k2);
  close(q1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(closing.calls.load(), 0) << "the SRQ closed while a QP still used it";
  close(q2);
  EXPECT_TRUE(eventually([&] { return closing.calls.load() == 1; }));
  close(a2);
  // Only the flushed work of the closed QPs (none here) may follow: queued SRQ receives are
  // dropped with the SRQ, not completed.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  NDK_RESULT_EX rest[16];
  EXPECT_EQ(b.cq->Dispatch->NdkGetCqResultsEx(b.cq, rest, 16), 0u);
}

TEST_P(ShimSrqMw, SrqLimitNotifiesOnceWhenTheQueueRunsLow) {
  if (!roce()) return expect_no_srq();
  // Armed at creation while empty: the threshold is already undercut, so it fires at once.
  SrqEvents at_once;
  NDK_SRQ* early = make_srq(b, 4, 1, &at_once);
  EXPECT_TRUE(eventually([&] { return at_once.calls.load() == 1; }));
  EXPECT_EQ(at_once.status.load(), STATUS_SUCCESS);
  close_srq(early);

  SrqEvents ev;
  NDK_SRQ* srq = make_srq(b, 16, 0, &ev);
  int ctx = 0, r = 0;
  for (int i = 0; i < 6; ++i) ASSERT_EQ(post_srq(srq, b, 64 * i, 64, &r), STATUS_SUCCESS);
  Call m1, m2, m3, m4, m5;
  ASSERT_EQ(m1.outcome(srq->Dispatch->NdkModifySrq(srq, 0, 4, Call::request, &m1)), STATUS_SUCCESS);
  EXPECT_EQ(m2.outcome(srq->Dispatch->NdkModifySrq(srq, 5, 0, Call::request, &m2)),
            STATUS_INVALID_PARAMETER)
      << "a depth below what is queued";
  EXPECT_EQ(m3.outcome(srq->Dispatch->NdkModifySrq(srq, 4096, 0, Call::request, &m3)),
            STATUS_INSUFFICIENT_RESOURCES)
      << "beyond the engine ring of this SRQ";
  EXPECT_EQ(srq->Dispatch->NdkModifySrq(srq, 1u << 30, 0, Call::request, &m4),
            STATUS_INVALID_PARAMETER)
      << "beyond MaxSrqDepth, inline";
  NDK_QP* q = make_srq_qp(b, srq, &ctx);
  Link k;
  ASSERT_NO_FATAL_FAILURE(link(k, a.qp, q, 445));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ev.calls.load(), 0) << "6 queued, threshold 4";
  for (int i = 0; i < 2; ++i) ASSERT_EQ(send(a.qp, 0, 8, nullptr), STATUS_SUCCESS);
  EXPECT_EQ(b.results(2).size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ev.calls.load(), 0) << "4 queued is not below 4";
  ASSERT_EQ(send(a.qp, 0, 8, nullptr), STATUS_SUCCESS);
  EXPECT_EQ(b.results(1).size(), 1u);
  EXPECT_TRUE(eventually([&] { return ev.calls.load() == 1; }));
  EXPECT_EQ(ev.status.load(), STATUS_SUCCESS);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(send(a.qp, 0, 8, nullptr), STATUS_SUCCESS);
  EXPECT_EQ(b.results(2).size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ev.calls.load(), 1) << "one-shot: disarmed once it has fired";
  // Re-armed below what is queued (1 < 2): it fires once more, at once.
  ASSERT_EQ(m5.outcome(srq->Dispatch->NdkModifySrq(srq, 0, 2, Call::request, &m5)), STATUS_SUCCESS);
  EXPECT_TRUE(eventually([&] { return ev.calls.load() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ev.calls.load(), 2);
  a.results(5);
  unlink(k);
  close(q);
  close_srq(srq);
}

TEST_P(ShimSrqMw, QpWithSrqFlushesItsOwnWorkOnDisconnectAndLeavesTheSrqAlone) {
  if (!roce()) return expect_no_srq();
  // The active side's QP takes receives from an SRQ; b posts no receives, so a's sends wait.
  NDK_SRQ* srq = make_srq(a, 8, 0, nullptr);
  int ctx = 0, r[2] = {}, s[2] = {};
  NDK_QP* q = make_srq_qp(a, srq, &ctx);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(post_srq(srq, a, 4096 * (i + 1), 256, &r[i]), STATUS_SUCCESS);
  Link k;
  ASSERT_NO_FATAL_FAILURE(link(k, q, b.qp, 445));
  for (int i = 0; i < 2; ++i) ASSERT_EQ(send(q, 0, 32, &s[i]), STATUS_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Call d;
  ASSERT_EQ(d.outcome(k.act.conn->Dispatch->NdkDisconnect(k.act.conn, Call::request, &d)),
            STATUS_SUCCESS);
  auto got = a.results(2);
  ASSERT_EQ(got.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].Status, STATUS_CANCELLED);
    EXPECT_EQ(got[i].Type, NdkOperationTypeSend);
    EXPECT_EQ(got[i].RequestContext, &s[i]);
    EXPECT_EQ(got[i].QPContext, &ctx);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  NDK_RESULT_EX extra[4];
  EXPECT_EQ(a.cq->Dispatch->NdkGetCqResultsEx(a.cq, extra, 4), 0u)
      << "the SRQ's receives are not the QP's to flush";
  unlink(k);
  close(q);
  // Another QP of the SRQ still finds them.
  NDK_QP* q2 = make_srq_qp(a, srq, &ctx);
  NDK_QP* b2 = make_qp(b, 16, 16);
  Link k2;
  ASSERT_NO_FATAL_FAILURE(link(k2, q2, b2, 446));
  NDK_SGE g = b.sge(0, 16);
  ASSERT_EQ(b2->Dispatch->NdkSend(b2, &g, &g, 1, 0), STATUS_SUCCESS);
  auto rx = a.results(1);
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(rx[0].Type, NdkOperationTypeReceive);
  EXPECT_EQ(rx[0].RequestContext, &r[0]);
  b.results(1);
  unlink(k2);
  close(q2);
  close(b2);
  close_srq(srq);
}

TEST_P(ShimSrqMw, MemoryWindowGrantsRemoteAccessUntilInvalidated) {
  NDK_MW* mw = nullptr;
  Call cm;
  mw = created(cm, b.pd->Dispatch->NdkCreateMw(b.pd, Call::create, &cm, &mw), &mw);
  ASSERT_NE(mw, nullptr);
  Link k;
  ASSERT_NO_FATAL_FAILURE(link(k, a.qp, b.qp, 445));
  unsigned char* const window = b.buf.data() + 8192;
  int bind_ctx = 0, inv_ctx = 0;
  ASSERT_EQ(b.qp->Dispatch->NdkBind(b.qp, &bind_ctx, b.mr, mw, window, 4096,
                                    NDK_OP_FLAG_ALLOW_REMOTE_READ | NDK_OP_FLAG_ALLOW_REMOTE_WRITE),
            STATUS_SUCCESS);
  auto bound = b.results(1);
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(bound[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(bound[0].Type, NdkOperationTypeBind);
  EXPECT_EQ(bound[0].RequestContext, &bind_ctx);
  const UINT32 token = mw->Dispatch->NdkGetRemoteTokenFromMw(mw);
  EXPECT_NE(token, 0u);
  EXPECT_NE(token, b.mr->Dispatch->NdkGetRemoteTokenFromMr(b.mr));
  const auto va = reinterpret_cast<std::uintptr_t>(window);

  // Remote write and read through the window.
  for (std::size_t i = 0; i < 256; ++i) a.buf[i] = static_cast<unsigned char>(0xa0 ^ i);
  NDK_SGE w = a.sge(0, 256);
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, va + 100, token, 0), STATUS_SUCCESS);
  auto r1 = a.results(1);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].Status, STATUS_SUCCESS);
  // An iWARP Write completes once TCP has taken it, which may be before the peer placed it.
  EXPECT_TRUE(eventually([&] { return std::memcmp(window + 100, a.buf.data(), 256) == 0; }));
  NDK_SGE rd = a.sge(30000, 256);
  ASSERT_EQ(a.qp->Dispatch->NdkRead(a.qp, &rd, &rd, 1, va + 100, token, 0), STATUS_SUCCESS);
  auto r2 = a.results(1);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(std::memcmp(a.buf.data() + 30000, a.buf.data(), 256), 0);

  // Remote write through a window needs a region the consumer may write locally (inline).
  MDL* ro_mdl = nullptr;
  NDK_MR* ro = make_mr(b, 40000, 4096, NDK_MR_FLAG_ALLOW_REMOTE_READ, ro_mdl);
  Call cm2;
  NDK_MW* mw2 = nullptr;
  mw2 = created(cm2, b.pd->Dispatch->NdkCreateMw(b.pd, Call::create, &cm2, &mw2), &mw2);
  EXPECT_EQ(b.qp->Dispatch->NdkBind(b.qp, nullptr, ro, mw2, b.buf.data() + 40000, 1024,
                                    NDK_OP_FLAG_ALLOW_REMOTE_WRITE),
            STATUS_ACCESS_VIOLATION);
  // A read-only window on it is fine, and keeps the region from closing until it goes.
  ASSERT_EQ(b.qp->Dispatch->NdkBind(b.qp, nullptr, ro, mw2, b.buf.data() + 40000, 1024,
                                    NDK_OP_FLAG_ALLOW_REMOTE_READ),
            STATUS_SUCCESS);
  EXPECT_EQ(b.results(1).size(), 1u);
  Call ro_closed;
  EXPECT_EQ(ro->Dispatch->NdkCloseMr(&ro->Header, Call::close, &ro_closed), STATUS_PENDING);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ro_closed.calls.load(), 0) << "a region closed under a bound window";
  close_mw(mw2);
  EXPECT_TRUE(eventually([&] { return ro_closed.calls.load() == 1; }));
  IoFreeMdl(ro_mdl);

  // Invalidated, the window's token no longer reaches memory.
  ASSERT_EQ(b.qp->Dispatch->NdkInvalidate(b.qp, &inv_ctx, &mw->Header, 0), STATUS_SUCCESS);
  auto inv = b.results(1);
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(inv[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(inv[0].Type, NdkOperationTypeInvalidate);
  EXPECT_EQ(inv[0].RequestContext, &inv_ctx);
  std::memset(window + 100, 0, 256);
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, va + 100, token, 0), STATUS_SUCCESS);
  if (roce()) {
    auto r3 = a.results(1);
    ASSERT_EQ(r3.size(), 1u);
    EXPECT_EQ(r3[0].Status, STATUS_REMOTE_RESOURCES);
  } else {
    // iWARP Writes are not acknowledged: the peer's Terminate ends the connection, so a Read
    // through the same window behind it fails.
    NDK_SGE rd2 = a.sge(31000, 64);
    ASSERT_EQ(a.qp->Dispatch->NdkRead(a.qp, &rd2, &rd2, 1, va + 100, token, 0), STATUS_SUCCESS);
    auto r3 = a.results(2);
    ASSERT_EQ(r3.size(), 2u);
    EXPECT_EQ(r3[1].RequestContext, &rd2);
    EXPECT_NE(r3[1].Status, STATUS_SUCCESS);
  }
  EXPECT_EQ(window[100], 0) << "nothing was written through the invalidated window";
  unlink(k);
  close_mw(mw);
}

INSTANTIATE_TEST_SUITE_P(Transports, ShimSrqMw, kEveryTransportAndMode, transport_and_mode_name);

}  // namespace
}  // namespace softrnic::ndk::test
