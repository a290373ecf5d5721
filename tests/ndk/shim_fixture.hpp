// Two NDK adapters over an in-process RoCEv2 pair (loopback wire) and helpers that apply the
// NDK pending rule: every asynchronous call is checked to call its completion exactly once when
// it returned STATUS_PENDING, and never otherwise.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "ndkpi.h"
#include "softrnic_ndk_ext.h"
#include "wskndk.h"

namespace softrnic::ndk::test {

inline constexpr NET_IFINDEX kIfA = 0x40000000;
inline constexpr NET_IFINDEX kIfB = 0x40000001;
inline constexpr const char* kDevices =
    "name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;"
    "name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64";

// Waits (bounded) for a condition the engine thread makes true.
template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return f();
}

// One asynchronous call's completion, counted.
struct Call {
  std::atomic<int> calls{0};
  std::atomic<NTSTATUS> status{STATUS_SUCCESS};
  std::atomic<NDK_OBJECT_HEADER*> object{nullptr};
  static void request(PVOID ctx, NTSTATUS st) {
    auto* c = static_cast<Call*>(ctx);
    c->status = st;
    c->calls.fetch_add(1);
  }
  static void create(PVOID ctx, NTSTATUS st, NDK_OBJECT_HEADER* obj) {
    auto* c = static_cast<Call*>(ctx);
    c->status = st;
    c->object = obj;
    c->calls.fetch_add(1);
  }
  static void close(PVOID ctx) { static_cast<Call*>(ctx)->calls.fetch_add(1); }

  // The final status of a call that returned `st`, checking the pending rule.
  NTSTATUS outcome(NTSTATUS st) {
    if (st != STATUS_PENDING) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      EXPECT_EQ(calls.load(), 0) << "a call that did not pend called its completion";
      return st;
    }
    EXPECT_TRUE(eventually([&] { return calls.load() >= 1; })) << "a pending call never completed";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(calls.load(), 1) << "completion called more than once";
    return status.load();
  }
};

// The object a create call made: from the completion when it pended, else from *direct (read
// after the call, which is why it is passed by address).
template <class T>
T* created(Call& c, NTSTATUS st, T* const* direct) {
  const NTSTATUS final = c.outcome(st);
  EXPECT_EQ(final, STATUS_SUCCESS);
  if (st == STATUS_PENDING) return reinterpret_cast<T*>(c.object.load());
  return *direct;
}

inline SOCKADDR_IN ipv4(const char* ip, std::uint16_t port) {
  SOCKADDR_IN a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

inline SOCKADDR_IN6 ipv6(const char* ip, std::uint16_t port, ADDRESS_FAMILY family = AF_INET6) {
  SOCKADDR_IN6 a{};
  a.sin6_family = family;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

// One side: adapter, PD, CQ, QP and a registered buffer.
struct Side {
  NDK_ADAPTER* adapter = nullptr;
  NDK_PD* pd = nullptr;
  NDK_CQ* cq = nullptr;
  NDK_QP* qp = nullptr;
  NDK_MR* mr = nullptr;
  MDL* mdl = nullptr;
  std::vector<unsigned char> buf = std::vector<unsigned char>(65536);
  std::atomic<int> notifications{0};
  static void on_cq(PVOID ctx, NTSTATUS) { static_cast<Side*>(ctx)->notifications.fetch_add(1); }

  UINT32 token() const { return mr->Dispatch->NdkGetLocalTokenFromMr(mr); }
  NDK_SGE sge(std::size_t off, ULONG len) const {
    NDK_SGE s{};
    s.VirtualAddress = const_cast<unsigned char*>(buf.data() + off);
    s.Length = len;
    s.MemoryRegionToken = token();
    return s;
  }
  // Polls the CQ until n results arrived (or the time runs out).
  std::vector<NDK_RESULT_EX> results(std::size_t n) {
    std::vector<NDK_RESULT_EX> got;
    eventually([&] {
      NDK_RESULT_EX r[16];
      const ULONG k = cq->Dispatch->NdkGetCqResultsEx(cq, r, 16);
      got.insert(got.end(), r, r + k);
      return got.size() >= n;
    });
    return got;
  }
};

class ShimTest : public ::testing::TestWithParam<ULONG> {
 protected:
  static void SetUpTestSuite() { setenv("SOFTRNIC_DEVICES", kDevices, 1); }

  void SetUp() override {
    open(a, kIfA);
    open(b, kIfB);
  }
  void TearDown() override {
    close_side(a);
    close_side(b);
  }

  void open(Side& s, NET_IFINDEX ifindex) {
    NDK_VERSION v = {1, 0};
    ASSERT_EQ(NdkOpenAdapter(v, ifindex, &s.adapter), STATUS_SUCCESS);
    GUID guid = SOFTRNIC_NDK_EXTENSION_GUID_INIT;
    NDK_EXTENSION_INTERFACE ext{};
    ASSERT_EQ(s.adapter->Dispatch->NdkQueryExtension(&s.adapter->Header, &guid, {1, 0}, &ext),
              STATUS_SUCCESS);
    auto* d = static_cast<const SOFTRNIC_NDK_EXTENSION_DISPATCH*>(ext.Dispatch);
    ASSERT_EQ(d->SetAsyncMode(s.adapter, GetParam()), STATUS_SUCCESS);
    Call c1, c2, c3, c4;
    NDK_PD* pd = nullptr;
    s.pd = created(c1, s.adapter->Dispatch->NdkCreatePd(s.adapter, Call::create, &c1, &pd),
 &pd);
    NDK_CQ* cq = nullptr;
    s.cq = created(c2, s.adapter->Dispatch->NdkCreateCq(s.adapter, 256, Side::on_cq, &s, nullptr,
                                                        Call::create, &c2, &cq),
                   &cq);
    NDK_MR* mr = nullptr;
    s.mr = created(c3, s.pd->Dispatch->NdkCreateMr(s.pd, FALSE, Call::create, &c3, &mr),
 &mr);
    s.mdl = IoAllocateMdl(s.buf.data(), static_cast<ULONG>(s.buf.size()), FALSE, FALSE, nullptr);
    MmBuildMdlForNonPagedPool(s.mdl);
    const ULONG flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_READ |
                        NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
    ASSERT_EQ(c4.outcome(s.mr->Dispatch->NdkRegisterMr(s.mr, s.mdl, s.buf.size(), flags,
                                                        Call::request, &c4)),
              STATUS_SUCCESS);
    s.qp = make_qp(s, 64, 64);
  }

  NDK_QP* make_qp(Side& s, ULONG rq, ULONG sq, PVOID context = nullptr) {
    Call c;
    NDK_QP* qp = nullptr;
    return created(c, s.pd->Dispatch->NdkCreateQp(s.pd, s.cq, s.cq, context ? context : &s, rq,
                                                  sq, 4, 4, 128, Call::create, &c, &qp),
                   &qp);
  }

  template <class T>
  void close(T*& obj) {
    if (obj == nullptr) return;
    Call c;
    EXPECT_EQ(c.outcome(obj->Dispatch->NdkQueryExtension == nullptr
                            ? STATUS_SUCCESS
                            : close_call(obj, c)),
              STATUS_SUCCESS);
    obj = nullptr;
  }
  static NTSTATUS close_call(NDK_QP* o, Call& c) {
    return o->Dispatch->NdkCloseQp(&o->Header, Call::close, &c);
  }
  static NTSTATUS close_call(NDK_MR* o, Call& c) {
    return o->Dispatch->NdkCloseMr(&o->Header, Call::close, &c);
  }
  static NTSTATUS close_call(NDK_CQ* o, Call& c) {
    return o->Dispatch->NdkCloseCq(&o->Header, Call::close, &c);
  }
  static NTSTATUS close_call(NDK_PD* o, Call& c) {
    return o->Dispatch->NdkClosePd(&o->Header, Call::close, &c);
  }
  static NTSTATUS close_call(NDK_CONNECTOR* o, Call& c) {
    return o->Dispatch->NdkCloseConnector(&o->Header, Call::close, &c);
  }
  static NTSTATUS close_call(NDK_LISTENER* o, Call& c) {
    return o->Dispatch->NdkCloseListener(&o->Header, Call::close, &c);
  }

  void close_side(Side& s) {
    close(s.qp);
    close(s.mr);
    close(s.cq);
    close(s.pd);
    if (s.mdl) IoFreeMdl(s.mdl);
    if (s.adapter) NdkCloseAdapter(s.adapter);
  }

  Side a, b;
};

}  // namespace softrnic::ndk::test
