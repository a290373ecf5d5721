// LAMs with the privileged token and shared endpoints through the NDK shim, and what the adapter
// reports about its optional objects, over every transport and async mode of the fixture.
// RoCEv2 has all of them; iWARP has LAMs and windows and answers SRQs and shared endpoints with
// STATUS_NOT_SUPPORTED.
#include "shim_objects_fixture.hpp"

namespace softrnic::ndk::test {
namespace {

class ShimLamEndpoint : public ShimObjects {};

TEST_P(ShimLamEndpoint, AdapterReportsWhatTheDeviceOffers) {
  NDK_ADAPTER_INFO info{};
  ULONG size = sizeof info;
  ASSERT_EQ(a.adapter->Dispatch->NdkQueryAdapterInfo(a.adapter, &info, &size), STATUS_SUCCESS);
  GUID guid = SOFTRNIC_NDK_EXTENSION_GUID_INIT;
  NDK_EXTENSION_INTERFACE ext{};
  ASSERT_EQ(a.adapter->Dispatch->NdkQueryExtension(&a.adapter->Header, &guid, {1, 0}, &ext),
            STATUS_SUCCESS);
  NDIS_NDK_CAPABILITIES caps{};
  NDK_ADAPTER_INFO linked{};
  ASSERT_EQ(static_cast<const SOFTRNIC_NDK_EXTENSION_DISPATCH*>(ext.Dispatch)
                ->QueryCapabilities(a.adapter, &caps, &linked),
            STATUS_SUCCESS);
  EXPECT_EQ(caps.Header.Type, NDIS_OBJECT_TYPE_DEFAULT);
  EXPECT_EQ(caps.NdkInfo, &linked);
  EXPECT_EQ(linked.MaxSrqDepth, info.MaxSrqDepth);
  EXPECT_GT(caps.MaxQpCount, 0u);
  EXPECT_GT(info.MaxWindowSize, 0u) << "windows on both wires";
  EXPECT_GT(caps.MaxMwCount, 0u);
  if (roce()) {
    EXPECT_EQ(info.MaxSrqDepth, 16384u) << "the engine's SRQ depth";
    EXPECT_GT(caps.MaxSrqCount, 0u);
  } else {
    EXPECT_EQ(info.MaxSrqDepth, 0u) << "no SRQs on iWARP";
    EXPECT_EQ(caps.MaxSrqCount, 0u);
  }
}

TEST_P(ShimLamEndpoint, OptionalObjectsExistExactlyWhereTheAdapterInfoSays) {
  if (roce()) {
    // Each is made with its own header; the tests below use them.
    NDK_SRQ* srq = make_srq(a, 16, 0, nullptr);
    ASSERT_NE(srq, nullptr);
    EXPECT_EQ(srq->Header.ObjectType, NdkObjectTypeSrq);
    EXPECT_EQ(srq->Header.Version.Minor, a.adapter->Header.Version.Minor);
    Call cm, cs;
    NDK_MW* mw = nullptr;
    mw = created(cm, a.pd->Dispatch->NdkCreateMw(a.pd, Call::create, &cm, &mw), &mw);
    ASSERT_NE(mw, nullptr);
    EXPECT_EQ(mw->Header.ObjectType, NdkObjectTypeMw);
    SockAddr at = sockaddr_of(active_ip(), 0);
    NDK_SHARED_ENDPOINT* sep = nullptr;
    sep = created(cs,
                  a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, at.get(), at.len,
                                                               Call::create, &cs, &sep),
                  &sep);
    ASSERT_NE(sep, nullptr);
    EXPECT_EQ(sep->Header.ObjectType, NdkObjectTypeSharedEndpoint);
    close_sep(sep);
    close_mw(mw);
    close_srq(srq);
    return;
  }
  Call c;
  NDK_SRQ* srq = nullptr;
  EXPECT_EQ(a.pd->Dispatch->NdkCreateSrq(a.pd, 16, 1, 0, nullptr, nullptr, nullptr, Call::create,
                                         &c, &srq),
            STATUS_NOT_SUPPORTED);
  NDK_QP* qp = nullptr;
  NDK_SRQ* none = nullptr;
  EXPECT_EQ(a.pd->Dispatch->NdkCreateQpWithSrq(a.pd, a.cq, a.cq, none, nullptr, 16, 1, 0,
                                               Call::create, &c, &qp),
            STATUS_NOT_SUPPORTED);
  SockAddr at = sockaddr_of(transport().ipv6 ? "::1" : "127.0.0.1", 0);
  NDK_SHARED_ENDPOINT* sep = nullptr;
  EXPECT_EQ(a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, at.get(), at.len, Call::create,
                                                         &c, &sep),
            STATUS_NOT_SUPPORTED);
  Call c0;
  NDK_CONNECTOR* conn = nullptr;
  conn = created(c0, a.adapter->Dispatch->NdkCreateConnector(a.adapter, Call::create, &c0, &conn),
                 &conn);
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(445));
  EXPECT_EQ(conn->Dispatch->NdkConnectWithSharedEndpoint(conn, a.qp, sep, dst.get(), dst.len, 8, 8,
                                                         nullptr, 0, Call::request, &c),
            STATUS_NOT_SUPPORTED);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(c.calls.load(), 0) << "no completion after an inline failure";
  EXPECT_EQ(srq, nullptr);
  EXPECT_EQ(sep, nullptr);
  close(conn);
}

TEST_P(ShimLamEndpoint, LamWithThePrivilegedTokenGivesLocalAccessOnly) {
  // 20 KiB not page aligned, so the first page starts before the buffer (FBO > 0).
  std::vector<unsigned char> mem_a(32768), mem_b(32768);
  auto align_up = [](unsigned char* p) {
    const auto v = reinterpret_cast<std::uintptr_t>(p);
    return reinterpret_cast<unsigned char*>((v + 4095) & ~std::uintptr_t{4095});
  };
  unsigned char* const la = align_up(mem_a.data()) + 100;
  unsigned char* const lb = align_up(mem_b.data()) + 300;
  const ULONG len = 20000;
  MDL* mdl_a = IoAllocateMdl(la, len, FALSE, FALSE, nullptr);
  MDL* mdl_b = IoAllocateMdl(lb, len, FALSE, FALSE, nullptr);
  MmBuildMdlForNonPagedPool(mdl_a);
  MmBuildMdlForNonPagedPool(mdl_b);
  const ULONG pages = (100 + len + 4095) / 4096;
  const ULONG need = offsetof(NDK_LOGICAL_ADDRESS_MAPPING, AdapterPageArray) + pages * 8;

  Call small;
  ULONG size = 8, fbo = 0;
  std::vector<std::byte> storage_a(need), storage_b(need);
  auto* lam_a = reinterpret_cast<NDK_LOGICAL_ADDRESS_MAPPING*>(storage_a.data());
  auto* lam_b = reinterpret_cast<NDK_LOGICAL_ADDRESS_MAPPING*>(storage_b.data());
  EXPECT_EQ(small.outcome(a.adapter->Dispatch->NdkBuildLAM(a.adapter, mdl_a, len, Call::request,
                                                           &small, lam_a, &size, &fbo)),
            STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(size, need) << "the size a LAM of this range needs";
  Call built_a, built_b;
  ULONG fbo_b = 0, size_b = need;
  ASSERT_EQ(built_a.outcome(a.adapter->Dispatch->NdkBuildLAM(a.adapter, mdl_a, len, Call::request,
                                                             &built_a, lam_a, &size, &fbo)),
            STATUS_SUCCESS);
  ASSERT_EQ(built_b.outcome(b.adapter->Dispatch->NdkBuildLAM(b.adapter, mdl_b, len, Call::request,
                                                             &built_b, lam_b, &size_b, &fbo_b)),
            STATUS_SUCCESS);
  EXPECT_EQ(fbo, 100u);
  EXPECT_EQ(fbo_b, 300u);
  ASSERT_EQ(lam_a->AdapterPageCount, pages);
  for (ULONG i = 0; i < pages; ++i)
    EXPECT_EQ(static_cast<std::uintptr_t>(lam_a->AdapterPageArray[i].QuadPart),
              reinterpret_cast<std::uintptr_t>(la) - 100 + i * 4096u);
  UINT32 priv_a = 0, priv_b = 0;
  a.pd->Dispatch->NdkGetPrivilegedMemoryRegionToken(a.pd, &priv_a);
  b.pd->Dispatch->NdkGetPrivilegedMemoryRegionToken(b.pd, &priv_b);
  EXPECT_NE(priv_a, a.token());
  auto logical = [](const NDK_LOGICAL_ADDRESS_MAPPING* m, ULONG f, std::uint64_t off) {
    return static_cast<std::uint64_t>(m->AdapterPageArray[0].QuadPart) + f + off;
  };
  auto sge = [](std::uint64_t at, ULONG n, UINT32 token) {
    NDK_SGE g{};
    g.LogicalAddress.QuadPart = static_cast<LONGLONG>(at);
    g.Length = n;
    g.MemoryRegionToken = token;
    return g;
  };

  Link k;
  ASSERT_NO_FATAL_FAILURE(link(k, a.qp, b.qp, 445));
  // A send from LAM memory into a receive in LAM memory, both named by the privileged token
  // (the send crosses a page boundary of the LAM).
  for (ULONG i = 0; i < 5000; ++i) la[3900 + i] = static_cast<unsigned char>(i * 13);
  NDK_SGE rx = sge(logical(lam_b, fbo_b, 10), 6000, priv_b);
  ASSERT_EQ(b.qp->Dispatch->NdkReceive(b.qp, &rx, &rx, 1), STATUS_SUCCESS);
  NDK_SGE tx = sge(logical(lam_a, fbo, 3900), 5000, priv_a);
  ASSERT_EQ(a.qp->Dispatch->NdkSend(a.qp, &tx, &tx, 1, 0), STATUS_SUCCESS);
  auto got = b.results(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(got[0].BytesTransferred, 5000u);
  EXPECT_EQ(std::memcmp(lb + 10, la + 3900, 5000), 0);
  auto sent = a.results(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].Status, STATUS_SUCCESS);
  // An RDMA read lands in LAM memory (a read sink named by the privileged token).
  for (std::size_t i = 0; i < 512; ++i) b.buf[i] = static_cast<unsigned char>(i ^ 0x5a);
  NDK_SGE sink = sge(logical(lam_a, fbo, 12000), 512, priv_a);
  ASSERT_EQ(
      a.qp->Dispatch->NdkRead(a.qp, &sink, &sink, 1, reinterpret_cast<std::uintptr_t>(b.buf.data()),
                              b.mr->Dispatch->NdkGetRemoteTokenFromMr(b.mr), 0),
      STATUS_SUCCESS);
  auto rr = a.results(1);
  ASSERT_EQ(rr.size(), 1u);
  EXPECT_EQ(rr[0].Status, STATUS_SUCCESS);
  EXPECT_EQ(std::memcmp(la + 12000, b.buf.data(), 512), 0);
  // Outside every LAM the token names nothing: refused inline, no completion.
  NDK_SGE outside = sge(reinterpret_cast<std::uintptr_t>(a.buf.data()), 64, priv_a);
  EXPECT_EQ(a.qp->Dispatch->NdkSend(a.qp, nullptr, &outside, 1, 0), STATUS_ACCESS_VIOLATION);
  NDK_SGE past = sge(logical(lam_a, fbo, len - 10), 64, priv_a);
  EXPECT_EQ(a.qp->Dispatch->NdkSend(a.qp, nullptr, &past, 1, 0), STATUS_ACCESS_VIOLATION)
      << "bounds come from the LAM";
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  NDK_RESULT_EX none[2];
  EXPECT_EQ(a.cq->Dispatch->NdkGetCqResultsEx(a.cq, none, 2), 0u);
  // Never remote: a peer reading b's LAM with b's privileged token fails remotely.
  NDK_SGE into = a.sge(20000, 64);
  ASSERT_EQ(a.qp->Dispatch->NdkRead(a.qp, &into, &into, 1, logical(lam_b, fbo_b, 0), priv_b, 0),
            STATUS_SUCCESS);
  auto bad = a.results(1);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].Status, STATUS_SUCCESS);
  if (roce()) {
    EXPECT_EQ(bad[0].Status, STATUS_REMOTE_RESOURCES);
  }
  unlink(k);
  // Released, the LAM is gone from the privileged token.
  a.adapter->Dispatch->NdkReleaseLAM(a.adapter, lam_a);
  b.adapter->Dispatch->NdkReleaseLAM(b.adapter, lam_b);
  NDK_SGE gone = sge(logical(lam_a, fbo, 0), 64, priv_a);
  EXPECT_EQ(a.qp->Dispatch->NdkReceive(a.qp, nullptr, &gone, 1), STATUS_ACCESS_VIOLATION);
  IoFreeMdl(mdl_a);
  IoFreeMdl(mdl_b);
}

TEST_P(ShimLamEndpoint, SharedEndpointConnectsSeveralConnectorsFromItsPort) {
  Call c1, c2;
  NDK_SHARED_ENDPOINT* sep = nullptr;
  if (!roce()) {
    // The TCP transport cannot share a local port between connections (backend_iwarp.cpp).
    SockAddr at = sockaddr_of(transport().ipv6 ? "::1" : "127.0.0.1", 0);
    EXPECT_EQ(a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, at.get(), at.len,
                                                           Call::create, &c1, &sep),
              STATUS_NOT_SUPPORTED);
    EXPECT_EQ(c1.outcome(STATUS_NOT_SUPPORTED), STATUS_NOT_SUPPORTED);
    return;
  }
  SockAddr any_port = sockaddr_of(active_ip(), 0);
  sep = created(c1,
                a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, any_port.get(),
                                                             any_port.len, Call::create, &c1, &sep),
                &sep);
  ASSERT_NE(sep, nullptr);
  SOCKADDR_IN6 local{};
  ULONG llen = sizeof local;
  ASSERT_EQ(sep->Dispatch->NdkGetLocalAddress(sep, reinterpret_cast<SOCKADDR*>(&local), &llen),
            STATUS_SUCCESS);
  EXPECT_EQ(llen, transport().ipv6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN));
  const std::uint16_t port = port_of(local);
  EXPECT_GE(port, 49152) << "port 0 picks an ephemeral port";
  // The same address:port cannot be reserved twice.
  SockAddr same = sockaddr_of(active_ip(), port);
  NDK_SHARED_ENDPOINT* dup = nullptr;
  EXPECT_EQ(c2.outcome(a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, same.get(), same.len,
                                                                    Call::create, &c2, &dup)),
            STATUS_SHARING_VIOLATION);

  NDK_QP* a2 = make_qp(a, 16, 16);
  NDK_QP* b2 = make_qp(b, 16, 16);
  Link k1, k2;
  ASSERT_NO_FATAL_FAILURE(link(k1, a.qp, b.qp, 445, sep));
  ASSERT_NO_FATAL_FAILURE(link(k2, a2, b2, 446, sep));
  for (Link* k : {&k1, &k2}) {
    SOCKADDR_IN6 seen{};
    ULONG slen = sizeof seen;
    NDK_CONNECTOR* pc = k->p.conn.load();
    ASSERT_EQ(pc->Dispatch->NdkGetPeerAddress(pc, reinterpret_cast<SOCKADDR*>(&seen), &slen),
              STATUS_SUCCESS);
    EXPECT_EQ(port_of(seen), port) << "the peer sees the shared endpoint's port";
    slen = sizeof seen;
    ASSERT_EQ(k->act.conn->Dispatch->NdkGetLocalAddress(k->act.conn,
                                                        reinterpret_cast<SOCKADDR*>(&seen), &slen),
              STATUS_SUCCESS);
    EXPECT_EQ(port_of(seen), port);
  }
  // Data flows on both connections.
  NDK_SGE r = b.sge(0, 64);
  ASSERT_EQ(b2->Dispatch->NdkReceive(b2, &r, &r, 1), STATUS_SUCCESS);
  ASSERT_EQ(send(a2, 0, 32, nullptr), STATUS_SUCCESS);
  auto got = b.results(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Status, STATUS_SUCCESS);
  a.results(1);
  // One connection per 4-tuple: the same peer port again from the same endpoint is refused.
  NDK_QP* a3 = make_qp(a, 16, 16);
  Call c3, c4;
  NDK_CONNECTOR* conn3 = nullptr;
  conn3 = created(c3, a.adapter->Dispatch->NdkCreateConnector(a.adapter, Call::create, &c3, &conn3),
                  &conn3);
  SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(445));
  EXPECT_EQ(c4.outcome(conn3->Dispatch->NdkConnectWithSharedEndpoint(
                conn3, a3, sep, dst.get(), dst.len, 8, 8, nullptr, 0, Call::request, &c4)),
            STATUS_ADDRESS_ALREADY_EXISTS);
  close(conn3);
  close(a3);
  // Closed before its connectors, the endpoint stays (and keeps its port) until they close.
  Call sep_closed;
  ASSERT_EQ(sep->Dispatch->NdkCloseSharedEndpoint(&sep->Header, Call::close, &sep_closed),
            STATUS_PENDING);
  unlink(k1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sep_closed.calls.load(), 0) << "closed while a connector still used it";
  Call c5;
  EXPECT_EQ(c5.outcome(a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, same.get(), same.len,
                                                                    Call::create, &c5, &dup)),
            STATUS_SHARING_VIOLATION)
      << "still reserved";
  unlink(k2);
  EXPECT_TRUE(eventually([&] { return sep_closed.calls.load() == 1; }));
  Call c6;
  NDK_SHARED_ENDPOINT* again = nullptr;
  again = created(c6,
                  a.adapter->Dispatch->NdkCreateSharedEndpoint(a.adapter, same.get(), same.len,
                                                               Call::create, &c6, &again),
                  &again);
  EXPECT_NE(again, nullptr) << "the port is free once everything using it has closed";
  close_sep(again);
  close(a2);
  close(b2);
}

INSTANTIATE_TEST_SUITE_P(Transports, ShimLamEndpoint, kEveryTransportAndMode, transport_and_mode_name);

}  // namespace
}  // namespace softrnic::ndk::test
