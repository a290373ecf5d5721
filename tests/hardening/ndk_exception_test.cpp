// No C++ exception leaves the NDK shim: an allocation that fails inside an exported function, a
// dispatch table's function, or a call's body on the shim's engine thread becomes the call's
// STATUS_INSUFFICIENT_RESOURCES; the process goes on and later calls work. Allocation failures
// are injected by replacing the global operator new (the shim's allocations come here too).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

#include "ndkpi.h"
#include "wskndk.h"

namespace {

enum Arm : int { kNone = 0, kThisThread = 1, kOtherThread = 2 };
std::atomic<int> g_armed{kNone};
thread_local bool t_armer = false;

// True for the one allocation that is to fail.
bool fail_this_allocation() {
  const int armed = g_armed.load(std::memory_order_relaxed);
  if (armed == kNone || (armed == kThisThread) != t_armer) return false;
  int expected = armed;
  return g_armed.compare_exchange_strong(expected, kNone);
}

void arm(Arm which) {
  t_armer = true;
  g_armed.store(which);
}

}  // namespace

void* operator new(std::size_t n) {
  if (fail_this_allocation()) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace softrnic::hardening_test {
namespace {

constexpr NET_IFINDEX kIfA = 0x40000000;

struct Created {
  std::atomic<int> calls{0};
  std::atomic<NTSTATUS> status{STATUS_SUCCESS};
  std::atomic<NDK_OBJECT_HEADER*> object{nullptr};
  static void done(PVOID ctx, NTSTATUS st, NDK_OBJECT_HEADER* obj) {
    auto* c = static_cast<Created*>(ctx);
    c->status = st;
    c->object = obj;
    c->calls.fetch_add(1);
  }
  // Bounded wait for the engine thread's callback (a guard against hanging, not a measurement).
  bool wait() const {
    for (int i = 0; i < 50000 && calls.load() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    return calls.load() == 1;
  }
};

class NdkExceptions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("SOFTRNIC_DEVICES",
           "name=a,port=loopback:peer=b,ip4=198.18.0.1/"
           "24;name=b,port=loopback:peer=a,ip4=198.18.0.2/24",
           1);
  }
  void SetUp() override { ASSERT_EQ(NdkOpenAdapter({1, 0}, kIfA, &adapter_), STATUS_SUCCESS); }
  void TearDown() override {
    g_armed.store(kNone);
    if (adapter_ != nullptr) NdkCloseAdapter(adapter_);
  }
  NTSTATUS create_pd(Created& c, NDK_PD** pd) {
    return adapter_->Dispatch->NdkCreatePd(adapter_, Created::done, &c, pd);
  }
  NDK_ADAPTER* adapter_ = nullptr;
};

TEST_F(NdkExceptions, AnExportedFunctionReturnsAStatusInsteadOfThrowing) {
  SOFTRNIC_NDK_ADAPTER_ENTRY entries[4];
  ULONG count = 4;
  arm(kThisThread);  // the list of devices it copies
  EXPECT_EQ(NdkListAdapters(entries, &count), STATUS_INSUFFICIENT_RESOURCES);
  count = 4;
  EXPECT_EQ(NdkListAdapters(entries, &count), STATUS_SUCCESS);
  EXPECT_EQ(count, 2u);
}

TEST_F(NdkExceptions, ADispatchFunctionReturnsAStatusInsteadOfThrowing) {
  Created c;
  NDK_PD* pd = nullptr;
  arm(kThisThread);  // the call's completion record, made before anything else
  EXPECT_EQ(create_pd(c, &pd), STATUS_INSUFFICIENT_RESOURCES);
  EXPECT_EQ(c.calls.load(), 0) << "a call that did not pend calls nothing back";
}

TEST_F(NdkExceptions, AFailureOnTheEngineThreadFailsTheCallNotTheProcess) {
  Created c;
  NDK_PD* pd = nullptr;
  arm(kOtherThread);  // the first allocation of the call's body, on the engine thread
  ASSERT_EQ(create_pd(c, &pd), STATUS_PENDING);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.status.load(), STATUS_INSUFFICIENT_RESOURCES);
  EXPECT_EQ(c.object.load(), nullptr);

  Created again;
  ASSERT_EQ(create_pd(again, &pd), STATUS_PENDING);
  ASSERT_TRUE(again.wait());
  EXPECT_EQ(again.status.load(), STATUS_SUCCESS) << "the engine thread goes on";
}

}  // namespace
}  // namespace softrnic::hardening_test
