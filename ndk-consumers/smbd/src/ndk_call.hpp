// Waiting for asynchronous NDK calls from a consumer thread (never from a callback), under the
// pending rule (NDKPI reference 3.1): a call that returned STATUS_PENDING completes through its
// callback exactly once, possibly before it returned; any other return is final. The state a
// callback writes is heap-held and shared, so a wait that gives up (timeout) leaves nothing the
// late callback could touch after it is freed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ndkpi.h"

namespace smbd::detail {

class AsyncCall {
 public:
  AsyncCall();
  ~AsyncCall();
  AsyncCall(const AsyncCall&) = delete;
  AsyncCall& operator=(const AsyncCall&) = delete;

  // The callbacks and the context to pass with them.
  static void on_request(PVOID ctx, NTSTATUS status);
  static void on_create(PVOID ctx, NTSTATUS status, NDK_OBJECT_HEADER* object);
  static void on_close(PVOID ctx);
  PVOID context() const { return state_ptr_; }

  // The final status of the call that returned `returned`; STATUS_IO_TIMEOUT when a pending
  // call did not complete within `limit`.
  NTSTATUS finish(NTSTATUS returned, std::chrono::milliseconds limit);
  // The object a pending create delivered (nullptr otherwise).
  NDK_OBJECT_HEADER* object() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  // A heap-held reference handed to the provider; freed by the callback, or by finish() when
  // the call did not pend.
  std::shared_ptr<State>* state_ptr_ = nullptr;
};

// Counts the NDK objects a Client or Server has created and not yet seen closed.
class Ledger {
 public:
  void created() {
    open_.fetch_add(1, std::memory_order_relaxed);
    in_process().fetch_add(1, std::memory_order_relaxed);
  }
  void closed() {
    open_.fetch_sub(1, std::memory_order_relaxed);
    in_process().fetch_sub(1, std::memory_order_relaxed);
  }
  std::uint64_t open() const { return open_.load(std::memory_order_relaxed); }
  static std::atomic<std::uint64_t>& in_process() {
    static std::atomic<std::uint64_t> n{0};
    return n;
  }

 private:
  std::atomic<std::uint64_t> open_{0};
};

// Creates with the pending rule applied: *out is the object, or nullptr with the status.
template <class T, class Fn>
NTSTATUS create_object(Ledger& ledger, std::chrono::milliseconds limit, T** out, Fn&& call) {
  AsyncCall c;
  T* direct = nullptr;
  const NTSTATUS returned = call(AsyncCall::on_create, c.context(), &direct);
  const NTSTATUS st = c.finish(returned, limit);
  *out = nullptr;
  if (st != STATUS_SUCCESS) return st;
  *out = returned == STATUS_PENDING ? reinterpret_cast<T*>(c.object()) : direct;
  if (*out == nullptr) return STATUS_INTERNAL_ERROR;
  ledger.created();
  return STATUS_SUCCESS;
}

// A request-style call (register, connect, accept, disconnect, ...): its final status.
template <class Fn>
NTSTATUS request(std::chrono::milliseconds limit, Fn&& call) {
  AsyncCall c;
  return c.finish(call(AsyncCall::on_request, c.context()), limit);
}

// Closes several objects: every close is started first, then all are waited for, because an
// antecedent's close pends until its successors are closed (NDKPI reference 3.2).
class CloseBatch {
 public:
  explicit CloseBatch(Ledger& ledger) : ledger_(ledger) {}
  // Starts closing one object through its NdkCloseXxx slot; nullptr is ignored.
  template <class T>
  void close(T* object) {
    if (object != nullptr) start(&object->Header, object->Dispatch->*close_slot(object));
  }
  // Waits for every close; false when one did not complete within `limit`.
  bool wait(std::chrono::milliseconds limit);

 private:
  void start(NDK_OBJECT_HEADER* header, NDK_FN_CLOSE_OBJECT fn);
  static auto close_slot(NDK_PD*) { return &NDK_PD_DISPATCH::NdkClosePd; }
  static auto close_slot(NDK_CQ*) { return &NDK_CQ_DISPATCH::NdkCloseCq; }
  static auto close_slot(NDK_QP*) { return &NDK_QP_DISPATCH::NdkCloseQp; }
  static auto close_slot(NDK_MR*) { return &NDK_MR_DISPATCH::NdkCloseMr; }
  static auto close_slot(NDK_CONNECTOR*) { return &NDK_CONNECTOR_DISPATCH::NdkCloseConnector; }
  static auto close_slot(NDK_LISTENER*) { return &NDK_LISTENER_DISPATCH::NdkCloseListener; }

  struct Started {
    std::unique_ptr<AsyncCall> call;
    NTSTATUS returned;
  };
  Ledger& ledger_;
  std::vector<Started> started_;
};

}  // namespace smbd::detail
