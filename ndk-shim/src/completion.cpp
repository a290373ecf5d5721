#include "completion.hpp"

namespace softrnic::ndk {

std::shared_ptr<Completion> Completion::request(NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  std::shared_ptr<Completion> c(new Completion());
  c->request_cb_ = cb;
  c->ctx_ = ctx;
  return c;
}

std::shared_ptr<Completion> Completion::create(NDK_FN_CREATE_COMPLETION cb, PVOID ctx) {
  std::shared_ptr<Completion> c(new Completion());
  c->create_cb_ = cb;
  c->ctx_ = ctx;
  return c;
}

std::shared_ptr<Completion> Completion::close(NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  std::shared_ptr<Completion> c(new Completion());
  c->close_cb_ = cb;
  c->ctx_ = ctx;
  return c;
}

bool Completion::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void Completion::finish(NTSTATUS status, NDK_OBJECT_HEADER* object) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    status_ = status;
    object_ = object;
    if (delivery_ != Delivery::callback) {
      cv_.notify_all();
      return;
    }
  }
  // The call returned STATUS_PENDING (or will): the callback is owed, exactly once.
  if (request_cb_) request_cb_(ctx_, status);
  if (create_cb_) create_cb_(ctx_, status, NT_SUCCESS(status) ? object : nullptr);
  if (close_cb_) close_cb_(ctx_);
}

NTSTATUS start(Runtime& rt, AsyncMode mode, const Done& done,
               std::function<void(const Done&)> body, NDK_OBJECT_HEADER** object) {
  const bool engine = rt.on_engine_thread();
  if (mode == AsyncMode::pending || (!engine && mode == AsyncMode::natural)) {
    done->delivery_ = Completion::Delivery::callback;
    rt.post([done, body = std::move(body)] { body(done); });
    return STATUS_PENDING;
  }
  // Inline: the engine runs the call while the outcome is captured; whatever is not known by
  // the time it returns (a peer's answer, successors still open) pends after all.
  done->delivery_ = Completion::Delivery::capture;
  auto run = [done, body = std::move(body)] {
    body(done);
    std::lock_guard lock(done->mu_);
    if (!done->finished_) done->delivery_ = Completion::Delivery::callback;
    done->ran_ = true;
    done->cv_.notify_all();
  };
  if (engine)
    run();
  else
    rt.post(std::move(run));
  std::unique_lock lock(done->mu_);
  done->cv_.wait(lock, [&] { return done->ran_; });
  if (!done->finished_ || done->delivery_ == Completion::Delivery::callback) return STATUS_PENDING;
  if (object) *object = done->object_;
  return done->status_;
}

}  // namespace softrnic::ndk
