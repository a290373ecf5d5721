// Error paths and less common operations of the NDK shim, over every transport and both async
// modes (instantiated in shim_test.cpp): CQ overflow, closing from inside a callback, pausing a
// listener, inline sends, fast-register with invalidation (local and remote), a peer that never
// answers, and the iWARP rule that the passive side may send as soon as NdkAccept has completed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim_fixture.hpp"

namespace softrnic::ndk::test {
namespace {

TEST_P(Shim, PassiveSideMaySendOnceAcceptHasCompleted) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  // b sends first: on iWARP the responder's FPDUs wait for the initiator's first one (the RTR),
  // which NdkAccept's completion already implies.
  NDK_SGE r = a.sge(0, 64);
  ASSERT_EQ(a.qp->Dispatch->NdkReceive(a.qp, &r, &r, 1), STATUS_SUCCESS);
  std::memcpy(b.buf.data(), "from the passive side", 22);
  NDK_SGE s = b.sge(0, 22);
  ASSERT_EQ(b.qp->Dispatch->NdkSend(b.qp, &s, &s, 1, 0), STATUS_SUCCESS);
  auto got = a.results(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(got[0].BytesTransferred, 22u);
  EXPECT_STREQ(reinterpret_cast<char*>(a.buf.data()), "from the passive side");
  EXPECT_EQ(b.results(1).size(), 1u);
  teardown(act, p, l);
}

TEST_P(Shim, CqOverflowIsReportedAsBufferOverflowThroughTheNotification) {
  std::atomic<int> calls{0};
  std::atomic<NTSTATUS> seen{STATUS_SUCCESS};
  struct Ctx {
    std::atomic<int>* calls;
    std::atomic<NTSTATUS>* seen;
  } ctx{&calls, &seen};
  Call c1;
  NDK_CQ* cq = nullptr;
  cq = created(c1,
               a.adapter->Dispatch->NdkCreateCq(
                   a.adapter, 2,
                   [](PVOID x, NTSTATUS st) {
                     auto* k = static_cast<Ctx*>(x);
                     *k->seen = st;
                     k->calls->fetch_add(1);
                   },
                   &ctx, nullptr, Call::create, &c1, &cq),
               &cq);
  ASSERT_NE(cq, nullptr);
  cq->Dispatch->NdkArmCq(cq, NDK_CQ_NOTIFY_ERRORS);
  Call c2;
  NDK_QP* qp = nullptr;
  qp = created(
      c2, a.pd->Dispatch->NdkCreateQp(a.pd, cq, cq, nullptr, 8, 8, 1, 1, 0, Call::create, &c2, &qp),
      &qp);
  ASSERT_NE(qp, nullptr);
  // Four receives flushed into a CQ of depth 2.
  NDK_SGE r = a.sge(0, 16);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(qp->Dispatch->NdkReceive(qp, &r, &r, 1), STATUS_SUCCESS);
  close(qp);
  EXPECT_TRUE(eventually([&] { return calls.load() >= 1; })) << "no notification of the overflow";
  EXPECT_EQ(seen.load(), STATUS_BUFFER_OVERFLOW);
  NDK_RESULT res[8];
  EXPECT_EQ(cq->Dispatch->NdkGetCqResults(cq, res, 8), 2u) << "only what fitted was kept";
  GUID guid = SOFTRNIC_NDK_EXTENSION_GUID_INIT;
  NDK_EXTENSION_INTERFACE ext{};
  ASSERT_EQ(a.adapter->Dispatch->NdkQueryExtension(&a.adapter->Header, &guid, {1, 0}, &ext),
            STATUS_SUCCESS);
  NDIS_NDK_PERFORMANCE_COUNTERS counters{};
  ASSERT_EQ(static_cast<const SOFTRNIC_NDK_EXTENSION_DISPATCH*>(ext.Dispatch)
                ->QueryCounters(a.adapter, &counters),
            STATUS_SUCCESS);
  EXPECT_GE(counters.CQError, 1u);
  close(cq);
}

TEST_P(Shim, ClosingTheConnectorAndListenerInsideTheConnectEventWorks) {
  Active act;
  Passive p;
  p.close_in_callback = true;
  NDK_LISTENER* l = listen(p, 447);
  p.listener = l;
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(447));
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_CONNECTION_REFUSED)
      << "closing a connector that was never accepted rejects the request";
  ASSERT_EQ(p.events.load(), 1);
  // The connector closes (the pending rule holds for calls made inside callbacks too); the
  // listener's close waits for it and then completes.
  EXPECT_EQ(p.closed_conn.outcome(p.close_conn_returned.load()), STATUS_SUCCESS);
  EXPECT_EQ(p.closed_listener.outcome(p.close_listener_returned.load()), STATUS_SUCCESS);
  close(act.conn);
  // The port is free again: a new listener gets it.
  Passive p2;
  NDK_LISTENER* l2 = listen(p2, 447);
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_SUCCESS);
  NDK_CONNECTOR* pc = p2.conn.load();
  ASSERT_TRUE(eventually([&] { return p2.accept.calls.load() == 1; }));
  close(act.conn);
  close(pc);
  close(l2);
}

TEST_P(Shim, PausedListenerRefusesAndResumedListenerAccepts) {
  Active act;
  Passive p;
  NDK_LISTENER* l = listen(p, 448);
  l->Dispatch->NdkControlConnectEvents(l, TRUE);
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(448));
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_CONNECTION_REFUSED);
  EXPECT_EQ(p.events.load(), 0) << "no connect event while paused";
  close(act.conn);
  l->Dispatch->NdkControlConnectEvents(l, FALSE);
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_SUCCESS);
  EXPECT_EQ(p.events.load(), 1);
  ASSERT_TRUE(eventually([&] { return p.accept.calls.load() == 1; }));
  teardown(act, p, l);
}

TEST_P(Shim, InlineSendsCopyTheDataAndNeedNoToken) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  NDK_SGE r = b.sge(0, 256);
  ASSERT_EQ(b.qp->Dispatch->NdkReceive(b.qp, &r, &r, 1), STATUS_SUCCESS);
  char message[100];
  for (std::size_t i = 0; i < sizeof message; ++i) message[i] = static_cast<char>('a' + i % 26);
  NDK_SGE s[2] = {};
  s[0].VirtualAddress = message;
  s[0].Length = 60;
  s[1].VirtualAddress = message + 60;
  s[1].Length = 40;  // no tokens: inline data is copied at post time
  ASSERT_EQ(a.qp->Dispatch->NdkSend(a.qp, &s, s, 2, NDK_OP_FLAG_INLINE), STATUS_SUCCESS);
  const std::string sent(message, sizeof message);
  std::memset(message, 0, sizeof message);  // the buffer is the consumer's again at once
  auto got = b.results(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(got[0].BytesTransferred, 100u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b.buf.data()), 100), sent);
  EXPECT_EQ(a.results(1).size(), 1u);
  // More than the QP's inline size (128) fails inline, without a completion.
  char big[200] = {};
  NDK_SGE too_big{};
  too_big.VirtualAddress = big;
  too_big.Length = sizeof big;
  EXPECT_EQ(a.qp->Dispatch->NdkSend(a.qp, nullptr, &too_big, 1, NDK_OP_FLAG_INLINE),
            STATUS_INVALID_PARAMETER);
  teardown(act, p, l);
}

TEST_P(Shim, FastRegisterThenSendAndInvalidateThenLocalInvalidate) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  Call c1, c2;
  NDK_MR* fmr = nullptr;
  fmr = created(c1, b.pd->Dispatch->NdkCreateMr(b.pd, TRUE, Call::create, &c1, &fmr), &fmr);
  ASSERT_NE(fmr, nullptr);
  ASSERT_EQ(
      c2.outcome(fmr->Dispatch->NdkInitializeFastRegisterMr(fmr, 4, TRUE, Call::request, &c2)),
      STATUS_SUCCESS);
  // Two pages of b's buffer, page-aligned.
  constexpr std::uintptr_t kPage = 4096;
  const auto base = (reinterpret_cast<std::uintptr_t>(b.buf.data()) + kPage - 1) & ~(kPage - 1);
  NDK_LOGICAL_ADDRESS pages[2];
  pages[0].QuadPart = static_cast<LONGLONG>(base);
  pages[1].QuadPart = static_cast<LONGLONG>(base + kPage);
  const ULONG rights = NDK_OP_FLAG_ALLOW_REMOTE_WRITE | NDK_OP_FLAG_ALLOW_REMOTE_READ;
  auto fast_register = [&] {
    ASSERT_EQ(b.qp->Dispatch->NdkFastRegister(b.qp, &pages, fmr, 2, pages, 0, 2 * kPage,
                                              reinterpret_cast<PVOID>(base), rights),
              STATUS_SUCCESS);
    auto got = b.results(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].Status, STATUS_SUCCESS);
    EXPECT_EQ(got[0].Type, NdkOperationTypeFastRegister);
  };
  ASSERT_NO_FATAL_FAILURE(fast_register());
  UINT32 token = fmr->Dispatch->NdkGetRemoteTokenFromMr(fmr);
  // a writes into the fast-registered range, then sends and invalidates its token.
  for (std::size_t i = 0; i < 512; ++i) a.buf[i] = static_cast<unsigned char>(i ^ 0x5a);
  NDK_SGE w = a.sge(0, 512);
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, base + 100, token, 0), STATUS_SUCCESS);
  auto wr = a.results(1);
  ASSERT_EQ(wr.size(), 1u);
  EXPECT_EQ(wr[0].Status, STATUS_SUCCESS);
  // On iWARP a Write completes when TCP has taken it, which can be before the peer placed it.
  EXPECT_TRUE(eventually([&] { return std::memcmp(reinterpret_cast<void*>(base + 100), a.buf.data(), 512) == 0; }));
  NDK_SGE r = b.sge(b.buf.size() - 1024, 64);  // outside the fast-registered pages
  ASSERT_EQ(b.qp->Dispatch->NdkReceive(b.qp, &r, &r, 1), STATUS_SUCCESS);
  NDK_SGE s = a.sge(0, 8);
  ASSERT_EQ(a.qp->Dispatch->NdkSendAndInvalidate(a.qp, &s, &s, 1, 0, token), STATUS_SUCCESS);
  auto rb = b.results(1);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(rb[0].Type, NdkOperationTypeReceiveAndInvalidate);
  EXPECT_EQ(rb[0].TypeSpecificCompletionOutput, token);
  EXPECT_EQ(a.results(1).size(), 1u);
  // Registered again (a new key), then invalidated locally.
  ASSERT_NO_FATAL_FAILURE(fast_register());
  const UINT32 token2 = fmr->Dispatch->NdkGetRemoteTokenFromMr(fmr);
  EXPECT_NE(token2, token) << "each registration gets a new key";
  ASSERT_EQ(b.qp->Dispatch->NdkInvalidate(b.qp, &fmr, &fmr->Header, 0), STATUS_SUCCESS);
  auto inv = b.results(1);
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(inv[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(inv[0].Type, NdkOperationTypeInvalidate);
  // The invalidated token no longer grants access.
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, base, token2, 0), STATUS_SUCCESS);
  auto bad = a.results(1);
  ASSERT_EQ(bad.size(), 1u);
  if (!transport().iwarp) {
    EXPECT_EQ(bad[0].Status, STATUS_REMOTE_RESOURCES);
  } else {
    // An iWARP Write completes once TCP has taken it; the peer answers the invalid STag with a
    // Terminate, which ends the connection, so the writes after it do not succeed.
    EXPECT_EQ(bad[0].Status, STATUS_SUCCESS);
    bool refused = false;
    for (int i = 0; i < 200 && !refused; ++i) {
      if (a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, base, token2, 0) != STATUS_SUCCESS) {
        refused = true;
        break;
      }
      auto next = a.results(1);
      refused = next.size() == 1 && next[0].Status != STATUS_SUCCESS;
    }
    EXPECT_TRUE(refused) << "the Terminate ended the connection";
  }
  teardown(act, p, l);
  close(fmr);
}

TEST_P(Shim, ConnectToAPeerThatNeverAnswersFails) {
  Active act;
  if (!transport().iwarp) {
    // RoCE: nobody answers ARP/ND for the address (about 3 s of requests).
    SockAddr dst = sockaddr_of(transport().ipv6 ? "fd00:5052::9" : "198.18.0.9", 445);
    EXPECT_EQ(connect(act, dst.get(), dst.len, "hello", std::chrono::milliseconds(15000)),
              STATUS_HOST_UNREACHABLE);
    close(act.conn);
    return;
  }
  // iWARP: a TCP listener that takes the connection and never sends an MPA Reply (10 s).
  const int fd = ::socket(transport().ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  // Port 0: the kernel picks a free one (a fixed port can be held by an earlier case's socket).
  SockAddr at = sockaddr_of(transport().passive_ip, 0);
  // The Windows layout of these two is the Linux one but for the IPv6 family value.
  if (transport().ipv6) at.storage.sin6_family = AF_INET6;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(at.get()), at.len), 0) << std::strerror(errno);
  socklen_t len = at.len;
  // The port the kernel chose; the family stays Linux's, which the shim accepts too.
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(at.get()), &len), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_EQ(connect(act, at.get(), at.len, "hello", std::chrono::milliseconds(20000)),
            STATUS_IO_TIMEOUT);
  ::close(fd);
  close(act.conn);
}

}  // namespace
}  // namespace softrnic::ndk::test
