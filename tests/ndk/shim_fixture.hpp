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
#include <tuple>
#include <vector>

#include "ndkpi.h"
#include "softrnic_ndk_ext.h"
#include "wskndk.h"

namespace softrnic::ndk::test {

// Four devices in one process: a RoCEv2 pair on the loopback wire (a, b) and an iWARP pair on
// loopback TCP (c, d). The iWARP devices share ::1; their IPv4 addresses differ.
inline constexpr const char* kDevices =
    "name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;"
    "name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64;"
    "name=c,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;"
    "name=d,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128";
inline constexpr NET_IFINDEX kIfA = 0x40000000;
inline constexpr NET_IFINDEX kIfB = 0x40000001;
inline constexpr NET_IFINDEX kIfC = 0x40000002;
inline constexpr NET_IFINDEX kIfD = 0x40000003;

// What a test runs over: the wire protocol, the two adapters and the passive side's address.
struct Transport {
  const char* name;
  bool iwarp;
  bool ipv6;
  NET_IFINDEX active, passive;
  const char* passive_ip;  // where the listener listens and the connector connects
  const char* other_ip;    // the passive device's address of the other family
  // iWARP listens on real TCP ports: kept clear of well-known ones.
  std::uint16_t port(std::uint16_t p) const {
    return iwarp ? static_cast<std::uint16_t>(47000 + p) : p;
  }
};
inline constexpr Transport kRoce4{"RoceV4", false, false, kIfA, kIfB, "198.18.0.2", "fd00:5052::2"};
inline constexpr Transport kRoce6{"RoceV6", false, true, kIfA, kIfB, "fd00:5052::2", "198.18.0.2"};
inline constexpr Transport kIwarp4{"IwarpV4", true, false, kIfC, kIfD, "127.0.0.2", "::1"};
inline constexpr Transport kIwarp6{"IwarpV6", true, true, kIfC, kIfD, "::1", "127.0.0.2"};

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
  NTSTATUS outcome(NTSTATUS st, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    if (st != STATUS_PENDING) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      EXPECT_EQ(calls.load(), 0) << "a call that did not pend called its completion";
      return st;
    }
    EXPECT_TRUE(eventually([&] { return calls.load() >= 1; }, limit))
        << "a pending call never completed";
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

// An IPv4 or IPv6 SOCKADDR for an address given as text, in Windows layout.
struct SockAddr {
  SOCKADDR_IN6 storage{};  // large enough for both
  ULONG len = 0;
  SOCKADDR* get() { return reinterpret_cast<SOCKADDR*>(&storage); }
};
inline SockAddr sockaddr_of(const char* ip, std::uint16_t port) {
  SockAddr s;
  if (std::strchr(ip, ':') != nullptr) {
    s.storage = ipv6(ip, port);
    s.len = sizeof(SOCKADDR_IN6);
  } else {
    const SOCKADDR_IN v4 = ipv4(ip, port);
    std::memcpy(&s.storage, &v4, sizeof v4);
    s.len = sizeof(SOCKADDR_IN);
  }
  return s;
}

// Every shim suite runs over each transport in forced-pending and forced-inline modes:
//   INSTANTIATE_TEST_SUITE_P(Transports, Suite, kEveryTransportAndMode, transport_and_mode_name);
inline const auto kEveryTransportAndMode =
    ::testing::Combine(::testing::Values(kRoce4, kRoce6, kIwarp4, kIwarp6),
                       ::testing::Values(SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING, SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE));
inline std::string transport_and_mode_name(
    const ::testing::TestParamInfo<std::tuple<Transport, ULONG>>& info) {
  return std::string(std::get<0>(info.param).name) +
         (std::get<1>(info.param) == SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING ? "Pending" : "Inline");
}

class ShimTest : public ::testing::TestWithParam<std::tuple<Transport, ULONG>> {
 protected:
  static void SetUpTestSuite() { setenv("SOFTRNIC_DEVICES", kDevices, 1); }

  const Transport& transport() const { return std::get<0>(GetParam()); }
  ULONG mode() const { return std::get<1>(GetParam()); }

  void SetUp() override {
    open(a, transport().active);
    open(b, transport().passive);
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
    ASSERT_EQ(d->SetAsyncMode(s.adapter, mode()), STATUS_SUCCESS);
    Call c1, c2, c3, c4;
    NDK_PD* pd = nullptr;
    s.pd = created(c1, s.adapter->Dispatch->NdkCreatePd(s.adapter, Call::create, &c1, &pd), &pd);
    NDK_CQ* cq = nullptr;
    s.cq = created(c2,
                   s.adapter->Dispatch->NdkCreateCq(s.adapter, 256, Side::on_cq, &s, nullptr,
                                                    Call::create, &c2, &cq),
                   &cq);
    NDK_MR* mr = nullptr;
    s.mr = created(c3, s.pd->Dispatch->NdkCreateMr(s.pd, FALSE, Call::create, &c3, &mr), &mr);
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
    return created(c,
                   s.pd->Dispatch->NdkCreateQp(s.pd, s.cq, s.cq, context ? context : &s, rq, sq, 4,
                                               4, 128, Call::create, &c, &qp),
                   &qp);
  }

  template <class T>
  void close(T*& obj) {
    if (obj == nullptr) return;
    Call c;
    EXPECT_EQ(c.outcome(obj->Dispatch->NdkQueryExtension == nullptr ? STATUS_SUCCESS
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

// The passive side: answers connect events from the engine thread.
struct Passive {
  Side* side = nullptr;
  bool reject = false;
  const char* reply = "welcome";
  std::atomic<NDK_CONNECTOR*> conn{nullptr};
  Call accept;
  std::atomic<int> events{0};
  std::atomic<int> disconnects{0};
  std::vector<unsigned char> request_data;
  static void on_disconnect(PVOID ctx) { static_cast<Passive*>(ctx)->disconnects.fetch_add(1); }
  // Closes the connector (an implicit reject) and the listener from inside the connect event.
  bool close_in_callback = false;
  NDK_LISTENER* listener = nullptr;
  Call closed_conn, closed_listener;
  std::atomic<NTSTATUS> close_conn_returned{STATUS_SUCCESS},
      close_listener_returned{STATUS_SUCCESS};
  static void on_connect(PVOID ctx, NDK_CONNECTOR* c) {
    auto* p = static_cast<Passive*>(ctx);
    p->events.fetch_add(1);
    if (p->close_in_callback) {
      p->close_conn_returned =
          c->Dispatch->NdkCloseConnector(&c->Header, Call::close, &p->closed_conn);
      p->close_listener_returned = p->listener->Dispatch->NdkCloseListener(
          &p->listener->Header, Call::close, &p->closed_listener);
      return;
    }
    ULONG len = 0;
    EXPECT_EQ(c->Dispatch->NdkGetConnectionData(c, nullptr, nullptr, nullptr, &len),
              STATUS_SUCCESS);
    p->request_data.resize(len);
    EXPECT_EQ(c->Dispatch->NdkGetConnectionData(c, nullptr, nullptr, p->request_data.data(), &len),
              STATUS_SUCCESS);
    if (p->reject) {
      EXPECT_EQ(c->Dispatch->NdkReject(c, const_cast<char*>(p->reply),
                                       static_cast<ULONG>(std::strlen(p->reply) + 1)),
                STATUS_SUCCESS);
    } else {
      const NTSTATUS st = c->Dispatch->NdkAccept(c, p->side->qp, 8, 8, const_cast<char*>(p->reply),
                                                 static_cast<ULONG>(std::strlen(p->reply) + 1),
                                                 on_disconnect, p, Call::request, &p->accept);
      if (st != STATUS_PENDING) Call::request(&p->accept, st);
    }
    p->conn = c;
  }
};

struct Active {
  NDK_CONNECTOR* conn = nullptr;
  std::atomic<int> disconnects{0};
  static void on_disconnect(PVOID ctx) { static_cast<Active*>(ctx)->disconnects.fetch_add(1); }
};

class Shim : public ShimTest {
 protected:
  NDK_LISTENER* listen(Passive& p, std::uint16_t port) {
    p.side = &b;
    Call c1, c2;
    NDK_LISTENER* l = nullptr;
    l = created(c1,
                b.adapter->Dispatch->NdkCreateListener(b.adapter, Passive::on_connect, &p,
                                                       Call::create, &c1, &l),
                &l);
    SockAddr at = sockaddr_of(transport().passive_ip, transport().port(port));
    EXPECT_EQ(c2.outcome(l->Dispatch->NdkListen(l, at.get(), at.len, Call::request, &c2)),
              STATUS_SUCCESS);
    return l;
  }

  NTSTATUS connect(Active& act, const SOCKADDR* dst, ULONG dst_len, const char* hello = "hello",
                   std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    Call c0, c1;
    NDK_CONNECTOR* conn = nullptr;
    act.conn = created(
        c0, a.adapter->Dispatch->NdkCreateConnector(a.adapter, Call::create, &c0, &conn), &conn);
    return c1.outcome(act.conn->Dispatch->NdkConnect(
                          act.conn, a.qp, nullptr, 0, const_cast<SOCKADDR*>(dst), dst_len, 8, 8,
                          const_cast<char*>(hello), static_cast<ULONG>(std::strlen(hello) + 1),
                          Call::request, &c1),
                      limit);
  }

  // Connects a to b (port 445 on RoCE) and completes both sides.
  void establish(Active& act, Passive& p, NDK_LISTENER*& l) {
    l = listen(p, 445);
    SockAddr dst = sockaddr_of(transport().passive_ip, transport().port(445));
    ASSERT_EQ(connect(act, dst.get(), dst.len), STATUS_SUCCESS);
    Call c;
    ASSERT_EQ(c.outcome(act.conn->Dispatch->NdkCompleteConnect(act.conn, Active::on_disconnect,
                                                               &act, Call::request, &c)),
              STATUS_SUCCESS);
    ASSERT_TRUE(eventually([&] { return p.accept.calls.load() == 1; }));
    ASSERT_EQ(p.accept.status.load(), STATUS_SUCCESS);
  }

  void teardown(Active& act, Passive& p, NDK_LISTENER*& l) {
    NDK_CONNECTOR* pc = p.conn.load();
    close(act.conn);
    close(pc);
    close(l);
  }
};

}  // namespace softrnic::ndk::test
