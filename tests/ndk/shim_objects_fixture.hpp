// The fixture of the tests of the shim's optional objects (shared receive queues, memory
// windows, LAMs with the privileged token, shared endpoints): helpers to make them and to connect
// any QP of a to any QP of b.
#pragma once

#include <cstddef>

#include "shim_fixture.hpp"

namespace softrnic::ndk::test {

// Counts SRQ notifications.
struct SrqEvents {
  std::atomic<int> calls{0};
  std::atomic<NTSTATUS> status{STATUS_UNSUCCESSFUL};
  static void on_srq(PVOID ctx, NTSTATUS st) {
    auto* e = static_cast<SrqEvents*>(ctx);
    e->status = st;
    e->calls.fetch_add(1);
  }
};

// One connection between a QP of a and a QP of b, with its listener.
struct Link {
  Active act;
  Passive p;
  NDK_LISTENER* l = nullptr;
  Side accept_as;  // only its qp is used: the QP the passive side accepts with
};

class ShimObjects : public Shim {
 protected:
  bool roce() const { return !transport().iwarp; }
  // The active device's address (RoCE pair only).
  const char* active_ip() const { return transport().ipv6 ? "fd00:5052::1" : "198.18.0.1"; }

  // Connects active_qp (of a) to passive_qp (of b) on `port`, from a shared endpoint if given,
  // and completes both sides.
  void link(Link& k, NDK_QP* active_qp, NDK_QP* passive_qp, std::uint16_t port,
            NDK_SHARED_ENDPOINT* sep = nullptr) {
    k.l = listen(k.p, port);
    k.accept_as.qp = passive_qp;
    k.p.side = &k.accept_as;
    SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(port));
    Call c0, c1, c2;
    NDK_CONNECTOR* conn = nullptr;
    k.act.conn = created(
        c0, a.adapter->Dispatch->NdkCreateConnector(a.adapter, Call::create, &c0, &conn), &conn);
    ASSERT_NE(k.act.conn, nullptr);
    char hello[] = "hello";
    const NTSTATUS st = sep != nullptr ? k.act.conn->Dispatch->NdkConnectWithSharedEndpoint(
                                             k.act.conn, active_qp, sep, dst.get(), dst.len, 8, 8,
                                             hello, sizeof hello, Call::request, &c1)
                                       : k.act.conn->Dispatch->NdkConnect(
                                             k.act.conn, active_qp, nullptr, 0, dst.get(), dst.len,
                                             8, 8, hello, sizeof hello, Call::request, &c1);
    ASSERT_EQ(c1.outcome(st), STATUS_SUCCESS);
    ASSERT_EQ(c2.outcome(k.act.conn->Dispatch->NdkCompleteConnect(k.act.conn, Active::on_disconnect,
                                                                  &k.act, Call::request, &c2)),
              STATUS_SUCCESS);
    ASSERT_TRUE(eventually([&] { return k.p.accept.calls.load() == 1; }));
    ASSERT_EQ(k.p.accept.status.load(), STATUS_SUCCESS);
  }
  void unlink(Link& k) {
    NDK_CONNECTOR* pc = k.p.conn.load();
    close(k.act.conn);
    close(pc);
    close(k.l);
  }

  // Where the device has no SRQs (iWARP): creating one is refused inline, without a callback.
  void expect_no_srq() {
    Call c;
    NDK_SRQ* srq = nullptr;
    EXPECT_EQ(b.pd->Dispatch->NdkCreateSrq(b.pd, 16, 1, 4, SrqEvents::on_srq, nullptr, nullptr,
                                           Call::create, &c, &srq),
              STATUS_NOT_SUPPORTED);
    EXPECT_EQ(srq, nullptr);
    EXPECT_EQ(c.outcome(STATUS_NOT_SUPPORTED), STATUS_NOT_SUPPORTED);
  }

  NDK_SRQ* make_srq(Side& s, ULONG depth, ULONG threshold, SrqEvents* events) {
    Call c;
    NDK_SRQ* srq = nullptr;
    return created(c,
                   s.pd->Dispatch->NdkCreateSrq(s.pd, depth, 2, threshold,
                                                events ? SrqEvents::on_srq : nullptr, events,
                                                nullptr, Call::create, &c, &srq),
                   &srq);
  }
  NDK_QP* make_srq_qp(Side& s, NDK_SRQ* srq, PVOID context) {
    Call c;
    NDK_QP* qp = nullptr;
    return created(c,
                   s.pd->Dispatch->NdkCreateQpWithSrq(s.pd, s.cq, s.cq, srq, context, 16, 4, 64,
                                                      Call::create, &c, &qp),
                   &qp);
  }
  NDK_MR* make_mr(Side& s, std::size_t off, std::size_t len, ULONG flags, MDL*& mdl) {
    Call c1, c2;
    NDK_MR* mr = nullptr;
    mr = created(c1, s.pd->Dispatch->NdkCreateMr(s.pd, FALSE, Call::create, &c1, &mr), &mr);
    mdl = IoAllocateMdl(s.buf.data() + off, static_cast<ULONG>(len), FALSE, FALSE, nullptr);
    MmBuildMdlForNonPagedPool(mdl);
    EXPECT_EQ(c2.outcome(mr->Dispatch->NdkRegisterMr(mr, mdl, len, flags, Call::request, &c2)),
              STATUS_SUCCESS);
    return mr;
  }
  NTSTATUS post_srq(NDK_SRQ* srq, Side& s, std::size_t off, ULONG len, PVOID ctx) {
    NDK_SGE g = s.sge(off, len);
    return srq->Dispatch->NdkSrqReceive(srq, ctx, &g, 1);
  }
  // A send of `len` bytes from a.buf at `off`.
  NTSTATUS send(NDK_QP* qp, std::size_t off, ULONG len, PVOID ctx) {
    NDK_SGE g = a.sge(off, len);
    return qp->Dispatch->NdkSend(qp, ctx, &g, 1, 0);
  }

  // Closes an object with the pending rule checked; the outcome of the close.
  template <class T, class Fn>
  void close_with(T*& obj, Fn fn) {
    if (obj == nullptr) return;
    Call c;
    EXPECT_EQ(c.outcome(fn(obj, c)), STATUS_SUCCESS);
    obj = nullptr;
  }
  void close_srq(NDK_SRQ*& s) {
    close_with(s, [](NDK_SRQ* o, Call& c) {
      return o->Dispatch->NdkCloseSrq(&o->Header, Call::close, &c);
    });
  }
  void close_mw(NDK_MW*& m) {
    close_with(
        m, [](NDK_MW* o, Call& c) { return o->Dispatch->NdkCloseMw(&o->Header, Call::close, &c); });
  }
  void close_sep(NDK_SHARED_ENDPOINT*& e) {
    close_with(e, [](NDK_SHARED_ENDPOINT* o, Call& c) {
      return o->Dispatch->NdkCloseSharedEndpoint(&o->Header, Call::close, &c);
    });
  }
};

// The port of a SOCKADDR_IN or SOCKADDR_IN6.
inline std::uint16_t port_of(const SOCKADDR_IN6& s) {
  if (s.sin6_family == AF_INET) {
    SOCKADDR_IN v4;
    std::memcpy(&v4, &s, sizeof v4);
    return ntohs(v4.sin_port);
  }
  return ntohs(s.sin6_port);
}

}  // namespace softrnic::ndk::test
