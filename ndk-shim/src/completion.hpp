// The NDK pending rule (NDKPI reference 3.1) in one place. A control call hands its work to the
// engine thread and either completes before returning (no callback) or returns STATUS_PENDING
// and its completion callback runs exactly once, possibly before the call has returned.
//
// Modes (per adapter, set through the softrnic extension, softrnic_ndk_ext.h):
//   natural  pend when called off the engine thread; complete inline inside callbacks whenever
//            the outcome is known at once
//   pending  every call pends, even when the outcome is known at once
//   inline   the caller waits for the engine to run the call and gets its outcome inline;
//            only what is still unknown then (a peer's answer, a close waiting for successors)
//            pends
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "ndkpi.h"
#include "runtime.hpp"
#include "softrnic_ndk_ext.h"

namespace softrnic::ndk {

enum class AsyncMode : ULONG {
  natural = SOFTRNIC_NDK_ASYNC_NATURAL,
  pending = SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING,
  inline_ = SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE,
};

// One asynchronous call: which callback it owes and whether it has been paid.
class Completion {
 public:
  // `call` names the NDK call in the consumer test mode's log (scenario_run.hpp).
  static std::shared_ptr<Completion> request(NDK_FN_REQUEST_COMPLETION cb, PVOID ctx,
                                             const char* call = nullptr);
  static std::shared_ptr<Completion> create(NDK_FN_CREATE_COMPLETION cb, PVOID ctx,
                                            const char* call = nullptr);
  static std::shared_ptr<Completion> close(NDK_FN_CLOSE_COMPLETION cb, PVOID ctx,
                                           const char* call = nullptr);

  // The outcome. Only the first call counts; later ones are ignored.
  void finish(NTSTATUS status, NDK_OBJECT_HEADER* object = nullptr);
  bool finished() const;

  enum class Delivery { capture, callback };

 private:
  friend NTSTATUS start(Runtime&, AsyncMode, const std::shared_ptr<Completion>&,
                        std::function<void(const std::shared_ptr<Completion>&)>,
                        NDK_OBJECT_HEADER**);
  Completion() = default;
  static NTSTATUS start_in(Runtime& rt, AsyncMode mode, const std::shared_ptr<Completion>& done,
                           std::function<void(const std::shared_ptr<Completion>&)> body,
                           NDK_OBJECT_HEADER** object);

  NDK_FN_REQUEST_COMPLETION request_cb_ = nullptr;
  NDK_FN_CREATE_COMPLETION create_cb_ = nullptr;
  NDK_FN_CLOSE_COMPLETION close_cb_ = nullptr;
  PVOID ctx_ = nullptr;
  const char* call_ = nullptr;
  std::uint64_t id_ = 0;  // the call's number in the scenario log; 0 when none is loaded
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Delivery delivery_ = Delivery::callback;
  bool finished_ = false;
  bool ran_ = false;
  NTSTATUS status_ = STATUS_SUCCESS;
  NDK_OBJECT_HEADER* object_ = nullptr;
};
using Done = std::shared_ptr<Completion>;

// Runs body(done) on the engine thread under the pending rule of `mode`; body (or an event
// later) calls done->finish exactly once. Returns the status to hand back to the consumer; when
// that is not STATUS_PENDING and `object` is given, *object is the created object.
[[nodiscard]] NTSTATUS start(Runtime& rt, AsyncMode mode, const Done& done,
                             std::function<void(const Done&)> body,
                             NDK_OBJECT_HEADER** object = nullptr);

}  // namespace softrnic::ndk
