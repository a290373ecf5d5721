// The NDK shim over two in-process RoCEv2 devices: adapters, objects, connections and the data
// path, each test run with every asynchronous call forced to pend and forced to complete inline.
#include "shim_fixture.hpp"

namespace softrnic::ndk::test {
namespace {

TEST_P(Shim, AdapterOpenNegotiatesTheVersionAndRefusesOthers) {
  NDK_ADAPTER* x = nullptr;
  EXPECT_EQ(NdkOpenAdapter({1, 3}, kIfA, &x), NDIS_STATUS_BAD_VERSION);
  EXPECT_EQ(NdkOpenAdapter({3, 0}, kIfA, &x), NDIS_STATUS_BAD_VERSION);
  EXPECT_EQ(NdkOpenAdapter({1, 0}, 12345, &x), STATUS_INVALID_ADDRESS);
  ASSERT_EQ(NdkOpenAdapter({2, 0}, transport().active, &x), STATUS_SUCCESS);
  EXPECT_EQ(x->Header.Version.Major, 2);
  EXPECT_EQ(x->Header.Version.Minor, 1);
  EXPECT_EQ(x->Header.ObjectType, NdkObjectTypeAdapter);
  NdkCloseAdapter(x);
  EXPECT_EQ(a.adapter->Header.Version.Minor, 2);
  EXPECT_EQ(a.qp->Header.Version.Major, 1);
  WSK_PROVIDER_NDK_DISPATCH wsk{};
  SoftrnicGetWskProviderNdkDispatch(&wsk);
  ASSERT_EQ(wsk.WskOpenNdkAdapter(nullptr, {1, 1}, transport().passive, &x), STATUS_SUCCESS);
  wsk.WskCloseNdkAdapter(nullptr, x);
}

TEST_P(Shim, AdapterInfoComesFromTheDeviceLimits) {
  NDK_ADAPTER_INFO info{};
  ULONG size = 4;
  EXPECT_EQ(a.adapter->Dispatch->NdkQueryAdapterInfo(a.adapter, &info, &size),
            STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(size, sizeof(NDK_ADAPTER_INFO));
  ASSERT_EQ(a.adapter->Dispatch->NdkQueryAdapterInfo(a.adapter, &info, &size), STATUS_SUCCESS);
  if (transport().iwarp) {
    EXPECT_EQ(info.RdmaTechnology, NdkiWarp);
    // MPA private data, the same limit both ways.
    EXPECT_EQ(info.MaxCallerData, info.MaxCalleeData);
    EXPECT_GT(info.MaxCallerData, 0u);
  } else {
    EXPECT_EQ(info.RdmaTechnology, NdkRoCEv2);
    EXPECT_EQ(info.MaxCallerData, 56u);
    EXPECT_EQ(info.MaxCalleeData, 148u);
    EXPECT_GE(info.FRMRPageCount, 16u);
    EXPECT_EQ(info.MaxInboundReadLimit, 128u);
  }
  // SRQs on RoCEv2 (the engine's depth); none on iWARP, reported as depth 0.
  EXPECT_EQ(info.MaxSrqDepth, transport().iwarp ? 0u : 16384u);
  EXPECT_TRUE(info.AdapterFlags & NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED);
  EXPECT_FALSE(info.AdapterFlags & NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED);
  EXPECT_FALSE(info.AdapterFlags & NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED);
  SOFTRNIC_NDK_ADAPTER_ENTRY list[4];
  ULONG n = 1;
  EXPECT_EQ(NdkListAdapters(list, &n), STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 4u);
  n = 4;
  ASSERT_EQ(NdkListAdapters(list, &n), STATUS_SUCCESS);
  EXPECT_STREQ(list[1].Name, "b");
  EXPECT_EQ(list[1].IfIndex, kIfB);
  EXPECT_EQ(list[1].AddressCount, 2u);
  EXPECT_EQ(list[1].RdmaTechnology, NdkRoCEv2);
  EXPECT_STREQ(list[3].Name, "d");
  EXPECT_EQ(list[3].IfIndex, kIfD);
  EXPECT_EQ(list[3].RdmaTechnology, NdkiWarp);
}

TEST_P(Shim, UnsupportedObjectsFailAsTheReferenceSays) {
  Call c;
  // SRQs, windows and shared endpoints: shim_srq_mw_test.cpp.
  EXPECT_EQ(a.cq->Dispatch->NdkResizeCq(a.cq, 512, Call::request, &c), STATUS_NOT_SUPPORTED);
  GUID other = {1, 2, 3, {4}};
  NDK_EXTENSION_INTERFACE ext{};
  EXPECT_EQ(a.qp->Dispatch->NdkQueryExtension(&a.qp->Header, &other, {1, 0}, &ext),
            STATUS_NOT_SUPPORTED);
  EXPECT_EQ(a.cq->Dispatch->NdkControlCqInterruptModeration(a.cq, MAXULONG, MAXULONG),
            STATUS_INVALID_PARAMETER_MIX);
  EXPECT_EQ(c.calls.load(), 0);
}

TEST_P(Shim, ClosingAPdBeforeItsQpPendsUntilTheQpCloses) {
  NDK_PD* pd = nullptr;
  Call c1, c2, c3, c4;
  pd = created(c1, a.adapter->Dispatch->NdkCreatePd(a.adapter, Call::create, &c1, &pd), &pd);
  NDK_QP* qp = nullptr;
  qp = created(
      c2, pd->Dispatch->NdkCreateQp(pd, a.cq, a.cq, nullptr, 4, 4, 1, 1, 0, Call::create, &c2, &qp),
      &qp);
  EXPECT_EQ(pd->Dispatch->NdkClosePd(&pd->Header, Call::close, &c3), STATUS_PENDING);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(c3.calls.load(), 0) << "the PD closed while its QP was open";
  EXPECT_EQ(c4.outcome(qp->Dispatch->NdkCloseQp(&qp->Header, Call::close, &c4)), STATUS_SUCCESS);
  EXPECT_TRUE(eventually([&] { return c3.calls.load() == 1; }));
}

TEST_P(Shim, ConnectAcceptCarriesPrivateDataAddressesAndData) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  ASSERT_GE(p.request_data.size(), 6u);
  EXPECT_STREQ(reinterpret_cast<char*>(p.request_data.data()), "hello");
  ULONG ird = 0, ord = 0, len = 0;
  EXPECT_EQ(act.conn->Dispatch->NdkGetConnectionData(act.conn, &ird, &ord, nullptr, &len),
            STATUS_CONNECTION_INVALID)
      << "no connection data after CompleteConnect";
  SOCKADDR_IN6 peer{};
  ULONG plen = 4;
  EXPECT_EQ(
      act.conn->Dispatch->NdkGetPeerAddress(act.conn, reinterpret_cast<SOCKADDR*>(&peer), &plen),
      STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(plen, transport().ipv6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN));
  plen = sizeof peer;
  ASSERT_EQ(
      act.conn->Dispatch->NdkGetPeerAddress(act.conn, reinterpret_cast<SOCKADDR*>(&peer), &plen),
      STATUS_SUCCESS);
  if (transport().ipv6) {
    EXPECT_EQ(plen, sizeof(SOCKADDR_IN6));
    EXPECT_EQ(peer.sin6_family, AF_INET6);
    EXPECT_EQ(ntohs(peer.sin6_port), transport().port(445));
    char text[64] = {};
    inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof text);
    EXPECT_STREQ(text, transport().passive_ip);
  } else {
    SOCKADDR_IN v4;
    std::memcpy(&v4, &peer, sizeof v4);
    EXPECT_EQ(v4.sin_family, AF_INET);
    EXPECT_EQ(ntohs(v4.sin_port), transport().port(445));
  }

  // A receive on b, a send from a with two SGEs.
  for (std::size_t i = 0; i < 100; ++i) a.buf[i] = static_cast<unsigned char>(i + 1);
  NDK_SGE r = b.sge(1000, 200);
  ASSERT_EQ(b.qp->Dispatch->NdkReceive(b.qp, &p, &r, 1), STATUS_SUCCESS);
  NDK_SGE s[2] = {a.sge(0, 60), a.sge(60, 40)};
  ASSERT_EQ(a.qp->Dispatch->NdkSend(a.qp, &act, s, 2, 0), STATUS_SUCCESS);
  auto rb = b.results(1);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(rb[0].Type, NdkOperationTypeReceive);
  EXPECT_EQ(rb[0].BytesTransferred, 100u);
  EXPECT_EQ(rb[0].RequestContext, &p);
  EXPECT_EQ(rb[0].QPContext, &b);
  EXPECT_EQ(std::memcmp(b.buf.data() + 1000, a.buf.data(), 100), 0);
  auto ra = a.results(1);
  ASSERT_EQ(ra.size(), 1u);
  EXPECT_EQ(ra[0].Type, NdkOperationTypeSend);
  EXPECT_EQ(ra[0].RequestContext, &act);
  teardown(act, p, l);
}

TEST_P(Shim, WriteAndReadUseRemoteTokensAndBadTokensFail) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  for (std::size_t i = 0; i < 4096; ++i) a.buf[i] = static_cast<unsigned char>(i * 7);
  const UINT32 rtoken = b.mr->Dispatch->NdkGetRemoteTokenFromMr(b.mr);
  const auto remote = reinterpret_cast<std::uintptr_t>(b.buf.data());
  NDK_SGE w = a.sge(0, 4096);
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, remote + 8192, rtoken, 0), STATUS_SUCCESS);
  auto r1 = a.results(1);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(r1[0].Type, NdkOperationTypeWrite);
  // An iWARP Write completes once TCP has taken it, which may be before the peer placed it.
  EXPECT_TRUE(
      eventually([&] { return std::memcmp(b.buf.data() + 8192, a.buf.data(), 4096) == 0; }));
  NDK_SGE rd = a.sge(20000, 4096);
  ASSERT_EQ(a.qp->Dispatch->NdkRead(a.qp, &rd, &rd, 1, remote + 8192, rtoken, 0), STATUS_SUCCESS);
  auto r2 = a.results(1);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(r2[0].Type, NdkOperationTypeRead);
  EXPECT_EQ(std::memcmp(a.buf.data() + 20000, a.buf.data(), 4096), 0);
  // A silent write completes without an entry; then a bad remote token fails remotely.
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &w, &w, 1, remote, rtoken, NDK_OP_FLAG_SILENT_SUCCESS),
            STATUS_SUCCESS);
  ASSERT_EQ(a.qp->Dispatch->NdkWrite(a.qp, &rd, &w, 1, remote, rtoken ^ 0x100u, 0), STATUS_SUCCESS);
  if (!transport().iwarp) {
    auto r3 = a.results(1);
    ASSERT_EQ(r3.size(), 1u);
    EXPECT_EQ(r3[0].RequestContext, &rd);
    EXPECT_EQ(r3[0].Status, STATUS_REMOTE_RESOURCES);
  } else {
    // iWARP Writes are not acknowledged: the write completes once TCP has it, and the peer's
    // Terminate then ends the connection, so a Read behind it fails.
    NDK_SGE rd2 = a.sge(30000, 64);
    ASSERT_EQ(a.qp->Dispatch->NdkRead(a.qp, &rd2, &rd2, 1, remote, rtoken, 0), STATUS_SUCCESS);
    auto r3 = a.results(2);
    ASSERT_EQ(r3.size(), 2u);
    EXPECT_EQ(r3[0].RequestContext, &rd);
    EXPECT_EQ(r3[1].RequestContext, &rd2);
    EXPECT_NE(r3[1].Status, STATUS_SUCCESS);
  }
  teardown(act, p, l);
}

TEST_P(Shim, InlineErrorsNeverProduceCompletions) {
  NDK_SGE s = a.sge(0, 16);
  EXPECT_EQ(a.qp->Dispatch->NdkSend(a.qp, nullptr, &s, 1, 0), STATUS_CONNECTION_INVALID)
      << "send-queue work on an unconnected QP";
  NDK_SGE many[5] = {s, s, s, s, s};
  EXPECT_EQ(a.qp->Dispatch->NdkReceive(a.qp, nullptr, many, 5), STATUS_DATA_OVERRUN);
  // Receives may be posted before the connection, up to the queue depth.
  NDK_QP* small = make_qp(a, 2, 2);
  EXPECT_EQ(small->Dispatch->NdkReceive(small, nullptr, &s, 1), STATUS_SUCCESS);
  EXPECT_EQ(small->Dispatch->NdkReceive(small, nullptr, &s, 1), STATUS_SUCCESS);
  EXPECT_EQ(small->Dispatch->NdkReceive(small, nullptr, &s, 1), STATUS_INSUFFICIENT_RESOURCES);
  close(small);
  auto r = a.results(2);
  EXPECT_EQ(r.size(), 2u) << "the two held receives complete flushed on close";
  for (const auto& e : r) EXPECT_EQ(e.Status, STATUS_CANCELLED);
}

TEST_P(Shim, SendQueueOverflowIsInsufficientResources) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  NTSTATUS st = STATUS_SUCCESS;
  int posted = 0;
  if (!transport().iwarp) {
    // No receives on b: sends wait for RNR retries, so the send queue fills up.
    NDK_SGE s = a.sge(0, 8);
    for (; posted < 1000 && st == STATUS_SUCCESS; ++posted)
      st = a.qp->Dispatch->NdkSend(a.qp, nullptr, &s, 1, 0);
  } else {
    // iWARP has no RNR wait (a send without a receive ends the connection): 64 KiB writes are
    // posted faster than TCP carries them.
    NDK_SGE w = a.sge(0, 65536);
    const UINT32 rtoken = b.mr->Dispatch->NdkGetRemoteTokenFromMr(b.mr);
    const auto remote = reinterpret_cast<std::uintptr_t>(b.buf.data());
    for (; posted < 1000 && st == STATUS_SUCCESS; ++posted)
      st = a.qp->Dispatch->NdkWrite(a.qp, nullptr, &w, 1, remote, rtoken,
                                    NDK_OP_FLAG_SILENT_SUCCESS);
  }
  EXPECT_EQ(st, STATUS_INSUFFICIENT_RESOURCES);
  // Every WR not yet retired counts against the depth (64), wherever the engine keeps it: the
  // 65th post is the first refused.
  EXPECT_LE(posted, 65);
  if (!transport().iwarp) {
    EXPECT_EQ(posted, 65) << "RNR-blocked sends all stay outstanding";
    // Still full once the engine has taken them off its posting ring into its send queue.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    NDK_SGE s = a.sge(0, 8);
    EXPECT_EQ(a.qp->Dispatch->NdkSend(a.qp, nullptr, &s, 1, 0), STATUS_INSUFFICIENT_RESOURCES);
  }
  teardown(act, p, l);
}

TEST_P(Shim, ConnectWithoutListenerIsRefused) {
  Active act;
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(999));
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_CONNECTION_REFUSED);
  close(act.conn);
}

TEST_P(Shim, RejectWithPrivateDataRefusesAndTheDataIsReadable) {
  Active act;
  Passive p;
  p.reject = true;
  p.reply = "go away";
  NDK_LISTENER* l = listen(p, 446);
  SockAddr other = sockaddr_of(transport().other_ip, transport().port(446));
  // Windows' AF_INET6 value is accepted as well as Linux's.
  if (other.len == sizeof(SOCKADDR_IN6)) other.storage.sin6_family = SOFTRNIC_AF_INET6_WINDOWS;
  EXPECT_EQ(connect(act, other.get(), other.len), STATUS_CONNECTION_REFUSED)
      << "the listener listens on one address only, of the other family";
  close(act.conn);
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(446));
  EXPECT_EQ(connect(act, dst.get(), dst.len), STATUS_CONNECTION_REFUSED);
  EXPECT_EQ(p.events.load(), 1);
  char data[200] = {};
  ULONG len = sizeof data;
  ASSERT_EQ(act.conn->Dispatch->NdkGetConnectionData(act.conn, nullptr, nullptr, data, &len),
            STATUS_SUCCESS);
  EXPECT_STREQ(data, "go away");
  if (!transport().iwarp)
    EXPECT_EQ(len, 148u) << "the size is the transport's buffer, not what the peer sent";
  else
    EXPECT_EQ(len, 8u) << "MPA carries exactly what the peer sent";
  NDK_CONNECTOR* pc = p.conn.load();
  close(act.conn);
  close(pc);
  close(l);
}

TEST_P(Shim, DisconnectFlushesPendingWorkAndThePeerHearsOnce) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  NDK_SGE r = a.sge(0, 64);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(a.qp->Dispatch->NdkReceive(a.qp, &r, &r, 1), STATUS_SUCCESS);
  Call c;
  ASSERT_EQ(c.outcome(act.conn->Dispatch->NdkDisconnect(act.conn, Call::request, &c)),
            STATUS_SUCCESS);
  auto got = a.results(3);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& e : got) {
    EXPECT_EQ(e.Status, STATUS_CANCELLED);
    EXPECT_EQ(e.Type, NdkOperationTypeReceive);
  }
  EXPECT_TRUE(eventually([&] { return p.disconnects.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(p.disconnects.load(), 1);
  EXPECT_EQ(act.disconnects.load(), 0) << "our own disconnect is not an event";
  teardown(act, p, l);
}

TEST_P(Shim, ArmedCqNotifiesOncePerArm) {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  ASSERT_NO_FATAL_FAILURE(establish(act, p, l));
  const int before = b.notifications.load();
  b.cq->Dispatch->NdkArmCq(b.cq, NDK_CQ_NOTIFY_ANY);
  NDK_SGE r = b.sge(0, 64);
  NDK_SGE s = a.sge(0, 8);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(b.qp->Dispatch->NdkReceive(b.qp, &r, &r, 1), STATUS_SUCCESS);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(a.qp->Dispatch->NdkSend(a.qp, &s, &s, 1, 0), STATUS_SUCCESS);
  EXPECT_EQ(b.results(2).size(), 2u);
  EXPECT_TRUE(eventually([&] { return b.notifications.load() == before + 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(b.notifications.load(), before + 1) << "one notification per arm";
  a.results(2);
  teardown(act, p, l);
}

INSTANTIATE_TEST_SUITE_P(Transports, Shim, kEveryTransportAndMode, transport_and_mode_name);

}  // namespace
}  // namespace softrnic::ndk::test
