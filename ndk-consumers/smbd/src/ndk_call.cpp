#include "ndk_call.hpp"

#include <algorithm>

namespace smbd::detail {

struct AsyncCall::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  NTSTATUS status = STATUS_SUCCESS;
  NDK_OBJECT_HEADER* object = nullptr;
};

namespace {

// Takes the provider's reference back and records the outcome.
void complete(PVOID ctx, NTSTATUS status, NDK_OBJECT_HEADER* object) {
  std::unique_ptr<std::shared_ptr<AsyncCall::State>> ref(
      static_cast<std::shared_ptr<AsyncCall::State>*>(ctx));
  AsyncCall::State& s = **ref;
  std::lock_guard lock(s.mu);
  s.done = true;
  s.status = status;
  s.object = object;
  s.cv.notify_all();
}

}  // namespace

AsyncCall::AsyncCall()
    : state_(std::make_shared<State>()), state_ptr_(new std::shared_ptr<State>(state_)) {}

AsyncCall::~AsyncCall() {
  delete state_ptr_;  // only when finish() never ran, so the provider never had it
}

void AsyncCall::on_request(PVOID ctx, NTSTATUS status) { complete(ctx, status, nullptr); }
void AsyncCall::on_create(PVOID ctx, NTSTATUS status, NDK_OBJECT_HEADER* object) {
  complete(ctx, status, object);
}
void AsyncCall::on_close(PVOID ctx) { complete(ctx, STATUS_SUCCESS, nullptr); }

NTSTATUS AsyncCall::finish(NTSTATUS returned, std::chrono::milliseconds limit) {
  if (returned != STATUS_PENDING) {
    // The callback is never called: the provider's reference is ours to free.
    delete state_ptr_;
    state_ptr_ = nullptr;
    return returned;
  }
  state_ptr_ = nullptr;  // the callback frees it
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, limit, [&] { return state_->done; })) return STATUS_IO_TIMEOUT;
  return state_->status;
}

NDK_OBJECT_HEADER* AsyncCall::object() const {
  std::lock_guard lock(state_->mu);
  return state_->object;
}

void CloseBatch::start(NDK_OBJECT_HEADER* header, NDK_FN_CLOSE_OBJECT fn) {
  auto call = std::make_unique<AsyncCall>();
  const NTSTATUS returned = fn(header, AsyncCall::on_close, call->context());
  started_.push_back({std::move(call), returned});
}

bool CloseBatch::wait(std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  bool all = true;
  for (auto& s : started_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    // Close never fails (reference 3.2): SUCCESS now, or PENDING and the callback later.
    if (s.call->finish(s.returned, std::max(left, std::chrono::milliseconds(1))) == STATUS_SUCCESS)
      ledger_.closed();
    else
      all = false;
  }
  started_.clear();
  return all;
}

}  // namespace smbd::detail
